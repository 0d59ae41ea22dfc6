/*
 * resolve.h - the client side of a mediated connect: for a [peer] named
 * by system (and without a fixed endpoint), ask the mediator where it is.
 *
 * A CONNECT request goes out on the tunnel socket, so the mediator sees
 * the UDP mapping the tunnel will use. If no answer has come after about
 * one round trip (RESOLVE_TCP_AFTER: twice the mediator round trip, at
 * least RESOLVE_TCP_MIN_MS), or the UDP send fails at once, the same
 * request (same transaction id) goes over the mediator TCP connection as
 * well; the mediator answers on every channel it heard the request on.
 * UDP is retransmitted after RESOLVE_RETRY_MS, doubling, until
 * RESOLVE_TIMEOUT_MS. The answer carries the server's key (checked
 * against the system id), its public UDP mapping and its local addresses:
 * these become punch candidates and the handshake starts at once.
 * Errors (offline, not authorized, no answer) are kept for `tunctl
 * status` and retried after RESOLVE_BACKOFF_MIN_MS, doubling to _MAX_MS.
 */
#ifndef TUND_RESOLVE_H
#define TUND_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>

#define RESOLVE_RETRY_MS        250
#define RESOLVE_TCP_MIN_MS       30
#define RESOLVE_TIMEOUT_MS     5000
#define RESOLVE_BACKOFF_MIN_MS 1000
#define RESOLVE_BACKOFF_MAX_MS 60000
#define RESOLVE_FRESH_MS      30000  /* an answer younger than this is reused */

struct daemon;
struct peer;
struct medmsg;

/* Gives the peer its resolver when it is found through the mediator. */
int resolve_attach(struct daemon *d, struct peer *p);
/* Closes its timer; the resolver is freed in the close callback. */
void resolve_free(struct peer *p);
/* Asks the mediator now, unless a request is running or an answer is
 * fresh (then it only restarts punching with what is known). */
void resolve_start(struct daemon *d, struct peer *p);
/* Asks the mediator now even with a fresh answer: the peer stopped
 * answering where it was, so its addresses may have changed. */
void resolve_again(struct daemon *d, struct peer *p);
/* While the peer is reached only through the relay: one CONNECT request
 * over UDP and nothing else (no TCP copy, no retransmission, no state
 * change). When UDP gets through again, the mediator learns our mapping
 * and the server punches towards it; when it does not, it costs one
 * datagram. */
void resolve_upgrade(struct daemon *d, struct peer *p);
/* A CONNECT success or error from the mediator, already authenticated or
 * (for errors without TUND-AUTH) matched by transaction id only. */
void resolve_reply(struct daemon *d, const struct medmsg *mm, bool authenticated);
/* The mediator's address became known or its TCP connection came up:
 * requests waiting for either go out now. */
void resolve_link_changed(struct daemon *d);
/* For status: "resolving", "resolved", "offline", "not authorized", ... */
void resolve_describe(const struct peer *p, char *state, size_t statelen, char *err, size_t errlen);

#endif
