/*
 * relaylink.h - tund's side of tund-relay (relayproto.h).
 *
 * Server ([publish]): keeps relay_pool idle pool connections open, each a
 * "listen" request proving our key; when the relay splices a client onto
 * one (SPLICED frame), that connection becomes an unattached tconn (the
 * client's handshake names the peer) and a replacement is dialled at once.
 * Failed dials back off (RELAYLINK_BACKOFF_MIN_MS doubling to _MAX_MS,
 * jittered; capped at RELAYLINK_QUICK_MAX_MS during the first
 * RELAYLINK_QUICK_MS of failures, so a restarted relay gets its pools
 * back within about a second); once one succeeds the pool refills at once.
 *
 * Client: relaylink_connect() asks the relay for a session to a peer's
 * target ("connect" request); the result is a tconn attached to the peer,
 * announced with path_conn_up(). The caller (path.c) decides when to ask;
 * errors (offline at the relay, refused, unreachable) are reported through
 * path_relay_failed() with a reason for status.
 *
 * The relay's address and key come from [tund] relay / relay_key, or from
 * the mediator's answers (relaylink_learn); config wins.
 */
#ifndef TUND_RELAYLINK_H
#define TUND_RELAYLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"

#define RELAYLINK_BACKOFF_MIN_MS   500
#define RELAYLINK_BACKOFF_MAX_MS 30000
#define RELAYLINK_QUICK_MS       60000   /* failing this long: back off to _MAX_MS */
#define RELAYLINK_QUICK_MAX_MS    1000   /* until then, pool dials at most this far apart */

struct daemon;
struct peer;
struct relaylink;

int relaylink_new(struct relaylink **out, struct daemon *d);
void relaylink_close(struct relaylink *r);

/* The relay a mediator named (host "a.b.c.d", port, key). Ignored when
 * the config names one; otherwise a change restarts the pool. */
void relaylink_learn(struct relaylink *r, const char *host, uint16_t port, const uint8_t key[KEY_LEN]);
bool relaylink_known(const struct relaylink *r);

/* Client: opens a session to p (target: its system, "server.system" when
 * the config names a server). 0 when a dial started or one is running,
 * -ENOENT when no relay is known. */
int relaylink_connect(struct relaylink *r, struct peer *p);
/* Client: stops a dial for p that has not finished (the peer went away). */
void relaylink_cancel(struct relaylink *r, struct peer *p);

/* Server: idle pool connections open now, and the pool size wanted. */
unsigned relaylink_pool_idle(const struct relaylink *r);
/* One line for status: relay address, pool idle/wanted, method, last error. */
void relaylink_describe(const struct relaylink *r, char *out, size_t outlen);

#endif
