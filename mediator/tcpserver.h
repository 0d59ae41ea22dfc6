/*
 * tcpserver.h - the mediator's TCP side: a libuv listener and its
 * connections, each a stream of STUN messages back to back (RFC 8489
 * §6.2.2) split with stun_frame_len() into whole messages for a callback.
 * It knows nothing of the protocol beyond framing; what it owns is the
 * connection limits:
 *
 *   - input is bounded: one message of at most STUN_MAX_MSG is buffered;
 *     a header that cannot be STUN closes the connection;
 *   - output is bounded: a connection with more than TCPSERVER_MAX_QUEUED
 *     bytes unsent (a peer that does not read) is closed;
 *   - a connection has hello_ms after accept to send a message the
 *     callback calls authenticated, and once authenticated may stay silent
 *     at most idle_ms;
 *   - at max_conns open connections, a new one makes the oldest
 *     unauthenticated connection close (so half-open floods cannot lock
 *     registered servers out); when all are authenticated, the new one is
 *     refused (accepted and closed at once).
 *
 * Connection phases: FRESH (in accept order), AUTH (in order of last
 * message), DRAINING (closing once queued replies are written, at most
 * drain_ms), CLOSING (uv_close called; freed in its close callback, which
 * first calls ops.closed). Deadlines are checked by tcpserver_sweep(),
 * which the owner calls periodically.
 */
#ifndef TUND_MEDIATOR_TCPSERVER_H
#define TUND_MEDIATOR_TCPSERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "addr.h"

#define TCPSERVER_BACKLOG 511
#define TCPSERVER_MAX_QUEUED (64 * 1024)   /* unsent bytes per connection */

struct tcpserver;
struct tcpconn;

struct tcpserver_ops {
	void *ctx;
	/* A new connection: the state passed to the other two; NULL refuses it. */
	void *(*open)(void *ctx, struct tcpconn *c, const struct endpoint *from);
	/* One whole message: 0, 1 (it authenticated the connection), or
	 * negative (close the connection after what is queued). */
	int (*message)(void *ctx, void *state, const uint8_t *buf, size_t len);
	/* The connection is gone; state is not used again. */
	void (*closed)(void *ctx, void *state);
};

struct tcpserver_limits {
	unsigned max_conns;
	uint64_t hello_ms;
	uint64_t idle_ms;
	uint64_t drain_ms;
};

struct tcpserver_stats {
	uint64_t accepted;
	uint64_t evicted;          /* unauthenticated, closed to make room */
	uint64_t refused;          /* full of authenticated connections */
	uint64_t hello_timeouts, idle_timeouts;
	uint64_t framing_errors;   /* not STUN, or longer than STUN_MAX_MSG */
	uint64_t overflows;        /* output queue over TCPSERVER_MAX_QUEUED */
	size_t open;               /* connections in FRESH, AUTH or DRAINING */
	size_t authenticated;
};

/* Listens on bind (address 0 = every address). 0, or a libuv error with
 * err saying what failed; on error nothing is left open. */
int tcpserver_new(struct tcpserver **out, uv_loop_t *loop, const struct endpoint *bind,
		  const struct tcpserver_limits *lim, const struct tcpserver_ops *ops, char *err,
		  size_t errlen);
/* Queues bytes on c (copied); nothing happens once c is closing. */
void tcpserver_send(struct tcpconn *c, const uint8_t *buf, size_t len);
/* Closes c after the bytes already queued (bounded by drain_ms). */
void tcpserver_close_conn(struct tcpconn *c);
/* Closes connections whose deadlines have passed. */
void tcpserver_sweep(struct tcpserver *s, uint64_t now_ms);
void tcpserver_get_stats(const struct tcpserver *s, struct tcpserver_stats *out);
/* Stops listening and closes every connection; frees everything in close
 * callbacks and then calls done(arg). */
void tcpserver_close(struct tcpserver *s, void (*done)(void *arg), void *arg);

#endif
