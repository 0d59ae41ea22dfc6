/*
 * peer.h - the remote endpoints this daemon talks to and the table that
 * finds them: by public key (handshakes), by the overlay address at which
 * they appear (packets read from the TUN), and by session index (DATA and
 * RESP frames).
 *
 * A peer is keyed by identity, not by path: its endpoint may change (it is
 * updated from every authenticated packet) without touching its sessions.
 * Each peer holds up to three sessions:
 *   cur   the one we send on;
 *   prev  the one it replaced, still accepted on receive until it ages out,
 *         so packets in flight across a rekey are not lost;
 *   next  a session we answered as responder, promoted to cur when the
 *         initiator first uses it (key confirmation).
 * and at most one handshake it initiated and waits on.
 */
#ifndef TUND_PEER_H
#define TUND_PEER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "addr.h"
#include "config.h"
#include "keys.h"
#include "noise.h"
#include "path.h"
#include "session.h"
#include "wire.h"

#define PEER_QUEUE_LEN 64  /* packets held while a handshake completes */
#define PEER_MAX_CANDS 14  /* candidate paths kept per peer (punch.h, path.h) */

/* Where a candidate came from. */
enum cand_kind {
	CAND_CONFIG,     /* the endpoint in the peer's config */
	CAND_LOCAL,      /* a local address the peer reported (LAN) */
	CAND_PUBLIC,     /* its UDP mapping as the mediator saw it */
	CAND_REFLEXIVE,  /* the source of an authenticated packet from it */
	CAND_STREAM,     /* a stream path (relay session, TCP): conn below */
};

/* A way to reach the peer and what the path manager (path.h) knows of it. */
struct cand {
	struct endpoint ep;               /* UDP: the peer's address */
	enum cand_kind kind;
	enum path_kind path;              /* PATH_NONE until classified */
	struct tconn *conn;               /* CAND_STREAM only */
	uint64_t last_rx_ms;              /* an authenticated packet arrived on it */
	uint64_t last_ok_ms;              /* a probe or handshake round trip completed on it */
	uint64_t probe_sent_ms;           /* the outstanding probe, 0 = none */
	uint64_t last_probe_ms;           /* the last probe sent */
	uint32_t probe_id;
	unsigned streak;                  /* probes answered in a row */
	unsigned misses;                  /* probes unanswered in a row */
	uint64_t failed_ms;               /* it last failed as the current path */
	int64_t rtt_us;                   /* last probe round trip, -1 unknown */
};

struct daemon;
struct peers;

struct peer_queue {
	uint8_t *pkt[PEER_QUEUE_LEN];
	uint16_t len[PEER_QUEUE_LEN];
	unsigned head, count;
};

struct peer {
	struct daemon *d;
	struct peers *table;              /* the table that owns it */
	struct cfg_peer cfg;              /* name, role, key, psk, configured endpoint */
	bool from_clients_file;           /* a [client] from <state_directory>/clients
					     (tunctl allow, clients.h), not from tund.conf */
	bool has_key;                     /* false until the mediator names it (system only) */
	uint8_t psk[NOISE_PSK_LEN];       /* zeros without a preshared key */
	char system_id[UUID_STR_LEN + 1];
	uint32_t addr;                    /* where it appears locally (host order) */
	/* The current path (path.h): a stream (conn) or a UDP endpoint. */
	bool has_endpoint;                /* a current path exists */
	struct endpoint endpoint;         /* UDP kinds: where its packets go now */
	struct tconn *conn;               /* stream kinds: the stream they go on */
	enum path_kind path;              /* kind of the current path, PATH_NONE without */
	uint64_t path_since_ms;
	uint64_t switches;
	int64_t last_switch_unix;
	char last_switch[128];            /* "direct -> relay: reason", "" never */
	uint32_t next_probe_id;
	uint64_t upgrade_ask_ms;          /* next resolve_upgrade (path.h), 0 = now */
	/* Client side: relay sessions (relaylink.h). */
	bool relay_dialing;
	unsigned relay_failures;
	uint64_t relay_retry_ms;          /* no new dial before this loop time */
	char relay_error[128];

	struct session *cur, *prev, *next;

	/* Handshake we initiated and are waiting on. */
	struct noise_handshake hs;
	bool hs_active;
	uint32_t hs_index;
	uint64_t hs_started_ms;           /* first attempt of this round */
	uint64_t hs_sent_ms;              /* last retransmission */
	uint64_t hs_sent_ns;              /* uv_hrtime of it, for the round-trip time */
	unsigned hs_tries;

	uint8_t hs_msg[WIRE_INIT_LEN];    /* its initiation, resent to candidates found later */

	uint8_t last_ts[WIRE_TAI64N_LEN]; /* greatest initiation timestamp accepted */

	/* Hole punching (punch.h): candidate addresses, tried all at once. */
	struct cand cands[PEER_MAX_CANDS];
	unsigned n_cands;
	bool punching;                    /* handshakes go to every candidate */
	uint64_t punch_started_ms;
	bool via_mediator;                /* found through the mediator: NAT keepalives */
	uint64_t yield_until_ms;          /* server side: the client initiates until then */
	uint64_t initiator_until_ms;      /* client side: we initiate, they yield, until then */
	uint64_t lan_first_until_ms;      /* handshakes go to local candidates only until then (punch.h) */

	/* Client side: asking the mediator for this peer (resolve.h). */
	struct resolve *rs;

	struct peer_queue queue;

	/* Loop times (ms) that drive the timers; 0 = never. */
	uint64_t last_rx_ms;              /* any authenticated frame */
	uint64_t last_tx_ms;              /* any frame sent */
	uint64_t last_data_rx_ms;         /* authenticated non-empty DATA */
	uint64_t last_data_tx_ms;         /* non-empty DATA sent */
	uint64_t unanswered_since_ms;     /* first DATA sent since the last authenticated receive */

	int64_t last_handshake_unix;
	int64_t rtt_us;
	uint64_t rx_bytes, tx_bytes, rx_packets, tx_packets;
	uint64_t rx_replayed, rx_auth_failed;

	uv_timer_t timer;                 /* see timers.c */
	uint64_t timer_due;               /* loop ms it is armed for; 0 = idle */

	/* tunctl (control.c): a ping waiting for its answer (path.h), and a
	 * disconnect: we start nothing towards the peer until tunctl connect
	 * or until the peer connects to us (path_heard clears it). */
	struct path_ping ping;
	bool disconnected;
};

/* We can start a handshake only once we know the peer's key and at least
 * one address to try, and not while it is disconnected. */
static inline bool peer_can_initiate(const struct peer *p)
{
	return !p->disconnected && p->has_key && (p->has_endpoint || p->n_cands > 0);
}

/* Whether candidate c is the peer's current path (path.h). */
static inline bool peer_cand_is_current(const struct peer *p, const struct cand *c)
{
	return p->has_endpoint &&
	       (c->conn ? c->conn == p->conn : !p->conn && endpoint_equal(&c->ep, &p->endpoint));
}

/* Seconds between keepalives that hold NAT mappings open, 0 = none. */
unsigned peer_keepalive_interval(const struct peer *p);
/* Learns the key of a peer configured by system only. */
void peer_set_key(struct peer *p, const uint8_t key[KEY_LEN]);

int peers_new(struct peers **out, struct daemon *d);
/* Closes every peer's timer and frees everything in close callbacks;
 * done(arg) runs when the last peer is gone. */
void peers_free(struct peers *t, void (*done)(void *arg), void *arg);

/* Adds a peer from its config; addr is where it appears locally. */
int peers_add(struct peers *t, const struct cfg_peer *cfg, uint32_t addr, struct peer **out);
/* Takes a peer out of the table at once and tears it down (reload,
 * revoke): its sessions, pending handshake and their indices, queued
 * packets, resolver, a pending tunctl ping (ended with -ECANCELED) and
 * any relay dial for it end now; stream paths attached to it are
 * detached and closed (path.c hears nothing of them); the peer itself is
 * freed in its timer's close callback. Anything else that keeps a
 * struct peer * across loop iterations must drop it here too. Never call
 * it from one of the peer's own callbacks. */
void peers_remove(struct peers *t, struct peer *p);
size_t peers_count(const struct peers *t);
struct peer *peers_at(const struct peers *t, size_t i);

struct peer *peers_by_key(const struct peers *t, const uint8_t key[KEY_LEN]);
/* A peer configured by system only whose system id is the hash of key. */
struct peer *peers_by_system_key(const struct peers *t, const uint8_t key[KEY_LEN]);
struct peer *peers_by_addr(const struct peers *t, uint32_t addr);

/* Session indices: random, nonzero, unique among live ones. */
uint32_t peers_index_alloc(struct peers *t, struct peer *p, struct session *s);
void peers_index_free(struct peers *t, uint32_t index);
/* Hands a pending handshake's index to the session it produced. */
void peers_index_bind(struct peers *t, uint32_t index, struct session *s);
/* The peer (and session; NULL for a pending handshake) an index belongs to. */
struct peer *peers_by_index(const struct peers *t, uint32_t index, struct session **s);

/* Session slots: install a new session, retire/free old ones, drop all. */
void peer_install_session(struct peer *p, struct session *s);  /* cur := s, prev := old cur */
void peer_set_next(struct peer *p, struct session *s);         /* replaces a waiting next */
void peer_confirm_next(struct peer *p);                        /* next becomes cur */
void peer_free_session(struct peer *p, struct session **slot);
void peer_clear_sessions(struct peer *p);
void peer_end_handshake(struct peer *p);

/* Queue of packets waiting for a session (drops the oldest when full). */
bool peer_queue_push(struct peer *p, const uint8_t *pkt, size_t len);
/* Pops into buf; returns the length or 0 when empty. */
size_t peer_queue_pop(struct peer *p, uint8_t *buf, size_t cap);
void peer_queue_clear(struct peer *p);

/* Stable address for a client inside the pool: the configured one, or one
 * derived from a hash of its key, probing past collisions and the own address. */
int peers_pool_address(const struct peers *t, const uint8_t key[KEY_LEN], uint32_t pool,
		       unsigned pool_len, uint32_t own, uint32_t *out);

#endif
