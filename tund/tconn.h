/*
 * tconn.h - a stream path to a peer: tund datagrams in tcpframe.h PACKET
 * frames over a tlink (a relay session or pool connection). It splits the
 * incoming stream into frames, hands each PACKET to receive.c with itself
 * as the path it came on, answers PING, and sends a PING every
 * TCONN_PING_MS so NATs and proxies keep the connection and a dead one is
 * noticed (nothing received for TCONN_DEAD_MS closes it).
 *
 * A tconn starts attached to a peer (a client's relay session) or not (a
 * server's spliced pool connection: the first handshake on it names the
 * peer, path.c attaches it); one that stays unattached TCONN_ATTACH_MS is
 * closed. On close (either end, errors, dead) path.c hears of it through
 * path_conn_down() before the tconn is freed.
 */
#ifndef TUND_TCONN_H
#define TUND_TCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "addr.h"
#include "tcpframe.h"

#define TCONN_PING_MS    10000
#define TCONN_DEAD_MS    30000
#define TCONN_ATTACH_MS  10000
#define TCONN_HS_PER_S       5   /* handshake initiations accepted per second */

struct daemon;
struct peer;
struct tlink;

enum tconn_kind { TCONN_RELAY, TCONN_TCP };

struct tconn {
	struct daemon *d;
	struct tlink *link;
	enum tconn_kind kind;
	struct peer *peer;              /* NULL until attached */
	char desc[96];                  /* "relay 198.51.100.20:443 via poll", for status */
	struct tcpframe_rx rx;
	uv_timer_t timer;               /* ping, dead and attach deadlines */
	uint64_t created_ms, last_rx_ms, last_tx_ms;
	uint64_t rx_frames, tx_frames, tx_dropped;  /* dropped: link queue full */
	uint64_t hs_window_ms;          /* handshake rate limit (receive.c) */
	unsigned hs_in_window;
	bool closing;
	struct tconn *next;             /* in the daemon's list of tconns */
};

/* Takes over an up link (its ops are replaced). peer may be NULL. */
int tconn_new(struct tconn **out, struct daemon *d, struct tlink *link, enum tconn_kind kind,
	      struct peer *peer);
/* Sends one tund datagram as a PACKET frame. 0, -ENOBUFS (dropped: the
 * stream is backed up) or -ENOTCONN. */
int tconn_send(struct tconn *c, const uint8_t *pkt, size_t len);
void tconn_attach(struct tconn *c, struct peer *p);
/* Stream bytes that arrived on the link before the tconn took it over
 * (relaylink.c: the rest of the read that carried SPLICED), handled as if
 * the link had delivered them now. */
void tconn_input(struct tconn *c, const uint8_t *buf, size_t len);
/* Sends a CLOSE frame with why, lets what is queued go out (at most
 * TLINK_FLUSH_MS, tlink_close_after_flush), calls path_conn_down and frees
 * in close callbacks. */
void tconn_close(struct tconn *c, const char *why);
/* Closes every tconn of the daemon (shutdown); done(arg) when all are freed. */
void tconn_close_all(struct daemon *d, void (*done)(void *arg), void *arg);

#endif
