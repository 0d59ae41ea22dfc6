/*
 * path.h - the path manager. A peer's session is keyed by identity; the
 * ways its packets can travel are its paths:
 *
 *   lan     UDP to an address on one of our own subnets
 *   direct  UDP through the internet (hole punched or open)
 *   tcp     a direct TCP connection (framed, tcpframe.h)
 *   relay   a session through tund-relay (framed)
 *
 * in that order of preference. UDP paths are the peer's candidates
 * (punch.h); stream paths are tconns. Packets are sent on the current
 * path only; they are accepted from any path.
 *
 * Proof: a path is proven both ways when a PROBE request sent on it is
 * answered on it (or a handshake round trip completed on it). PROBEs are
 * wire messages sealed under the current session (wire.h), answered on
 * the path they came in on.
 *
 * Policy (every value in the PATH_* constants):
 *   - the first path that completes a handshake carries traffic at once,
 *     and a handshake round trip completed on a better path moves traffic
 *     there at once (a round trip is the proof probes would give);
 *   - while a session exists and data flows, or the session or the path
 *     is new (all three within PATH_ACTIVE_MS), every path
 *     other than the current one is probed each PATH_PROBE_MS
 *     (PATH_PROBE_SLOW_MS after PATH_SLOW_AFTER misses in a row), and
 *     each PATH_PROBE_IDLE_MS while the tunnel is idle; the current path
 *     is probed only when data sent on it got nothing back on it for
 *     PATH_PROBE_MS (answered traffic is proof enough);
 *   - upgrade: a better path answered PATH_UPGRADE_STREAK probes in a row
 *     (hysteresis: one lucky packet does not move traffic);
 *   - downgrade: the current path missed PATH_DEAD_MISSES probes in a row
 *     (or its stream closed): traffic moves at once to the best path that
 *     answered within PATH_FRESH_MS, else to an open stream path, else the
 *     peer has no path and handshakes go out on everything again;
 *   - follow: data arriving on a working path other than the current
 *     one, while the current one brought nothing for PATH_FOLLOW_MS, moves
 *     us there too (the peer found the current path dead first);
 *   - a path that just failed cannot come back for PATH_HOLDDOWN_MS;
 *   - a client keeps a relay session as standby, except for a peer whose
 *     current path is lan; LAN smart forwarding (punch_lan_first) holds
 *     the relay dial back for PUNCH_LAN_FIRST_MS;
 *   - a peer found through the mediator and without a direct path asks
 *     the mediator again over UDP each PATH_UPGRADE_ASK_MS while data flows
 *     (resolve.h: resolve_upgrade), so NATs that closed while UDP was
 *     blocked are punched again when it comes back.
 * Every switch is logged and kept (time, from, to, reason) for status.
 */
#ifndef TUND_PATH_H
#define TUND_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define PATH_PROBE_MS          500
#define PATH_PROBE_SLOW_MS    1000
#define PATH_SLOW_AFTER         20
#define PATH_PROBE_IDLE_MS   10000   /* standby probes while no data flows */
#define PATH_ACTIVE_MS       15000   /* data within this long: the peer is active */
#define PATH_PROBE_TIMEOUT_MS  800   /* a probe unanswered this long is a miss */
#define PATH_UPGRADE_STREAK      3
#define PATH_DEAD_MISSES         3
#define PATH_FRESH_MS         3000
#define PATH_HOLDDOWN_MS      2000
#define PATH_FOLLOW_MS        1000
#define PATH_UPGRADE_ASK_MS   2000   /* resolve_upgrade while only a stream path works */

/* Ordered by preference after PATH_NONE (unknown / no path). */
enum path_kind { PATH_NONE, PATH_LAN, PATH_DIRECT, PATH_TCP, PATH_RELAY };

struct daemon;
struct peer;
struct tconn;

/* Where a packet came from, or goes. */
struct pathref {
	enum path_kind kind;
	struct endpoint ep;          /* UDP kinds: the peer's address */
	struct tconn *conn;          /* stream kinds */
};

const char *path_kind_name(enum path_kind k);

/* What an authenticated packet from the peer says about the path it came on. */
enum path_evidence {
	PATH_HEARD,            /* it works towards us */
	PATH_HEARD_DATA,       /* ... and the peer sends its traffic on it */
	PATH_HEARD_HANDSHAKE,  /* a handshake round trip completed on it: proven */
};
/* An authenticated packet from p arrived on from: marks the path alive
 * (adding it as a candidate when new); a peer without a current path
 * takes it. */
void path_heard(struct daemon *d, struct peer *p, const struct pathref *from, enum path_evidence ev);
/* A PROBE request or response (already decrypted) arrived on from. */
void path_probe_input(struct daemon *d, struct peer *p, const struct pathref *from, bool response,
		      uint32_t id);

/* Sends an already sealed datagram on the current path (false: none). */
bool path_send(struct daemon *d, struct peer *p, const uint8_t *buf, size_t len);
/* Sends on one given path: 0 or -errno. */
int path_send_to(struct daemon *d, const struct pathref *to, const uint8_t *buf, size_t len);
/* Sends a handshake message on every path and candidate (racing). */
void path_send_all(struct daemon *d, struct peer *p, const uint8_t *buf, size_t len);

/* Stream paths, from relaylink.c / tconn.c. */
void path_conn_up(struct daemon *d, struct peer *p, struct tconn *c);
void path_conn_down(struct daemon *d, struct tconn *c);
/* Client side: open a relay session to p now if one is wanted (p is
 * being connected or has a session) and none is open or being dialled. */
void path_want_relay(struct daemon *d, struct peer *p);
/* The relay could not give a session to p (why: for status). */
void path_relay_failed(struct daemon *d, struct peer *p, const char *why);

/* Timers (timers.c): the next moment the path manager needs p's timer,
 * 0 for none, and the work due then. */
uint64_t path_next_due(const struct peer *p);
void path_tick(struct daemon *d, struct peer *p, uint64_t now);

/* For status: current path and the standby ones. */
void path_describe(const struct peer *p, char *cur, size_t curlen, char *standby, size_t sblen,
		   char *last_switch, size_t lslen);

/* ---- tunctl ping and disconnect (control.c) ----
 *
 * A ping is one PROBE request sealed under the current session and sent
 * on the current path; the peer answers it on the path it came in on
 * (path_probe_input), so its round trip is the tunnel's over that path.
 * Its id comes from the same counter as the path manager's probes, so the
 * two never answer each other. Its timeout runs on the peer's timer
 * (path_next_due / path_tick). */
#define PATH_PING_TIMEOUT_MS 2000
#define PATH_PING_VIA_LEN     128

/* err 0 and the round trip in microseconds, or -ETIMEDOUT (no answer in
 * PATH_PING_TIMEOUT_MS), or the err given to path_ping_cancel; kind and
 * via name the path the probe went out on: "direct 203.0.113.9:41641",
 * "relay 198.51.100.20:443 via connect". */
typedef void (*path_ping_cb)(void *arg, int err, int64_t rtt_us, enum path_kind kind, const char *via);

/* A peer's pending ping (struct peer holds one). */
struct path_ping {
	path_ping_cb done;                   /* NULL: none pending */
	void *arg;
	uint32_t id;                         /* of the PROBE request */
	uint64_t sent_ms;                    /* loop time, for the timeout */
	uint64_t sent_ns;                    /* uv_hrtime(), for the round trip */
	enum path_kind kind;
	char via[PATH_PING_VIA_LEN];
};

/* Sends a ping to p on its current path. done runs once, later, never from
 * inside this call, and not at all once the daemon is stopping (the
 * control socket then closes its connections itself). 0, -ENOTCONN (no
 * live session or no current path), -EBUSY (a ping to p is pending) or
 * -EIO (the probe could not be sent). */
int path_ping(struct daemon *d, struct peer *p, path_ping_cb done, void *arg);
/* Ends p's pending ping, if any, calling its done with err. Whoever
 * removes a peer calls this first. */
void path_ping_cancel(struct daemon *d, struct peer *p, int err);
/* tunctl disconnect: closes p's stream paths, forgets every candidate
 * except a configured endpoint, leaves p without a current path and ends
 * a pending ping (-ENOTCONN). Sessions are the caller's (peer.h). */
void path_forget(struct daemon *d, struct peer *p, const char *reason);

#endif
