/*
 * conn.h - the relay's TCP connections: accepted ones (the HTTP front's)
 * and outgoing ones (the gateway's), all in one table that owns the
 * limits and the deadlines.
 *
 * A connection has one owner at a time (the front while it speaks HTTP,
 * then a Poll session, the gateway, or the Upgrade stream adapter below),
 * which gets its events through struct conn_ops. Memory per connection is
 * the struct (a few hundred bytes); reads go through one buffer shared by
 * the whole table (libuv reads and calls back one connection at a time),
 * and output is sent at once when the socket takes it, copied into a
 * right-sized write request only when it does not.
 *
 * Output: bytes queued count against STREAM_HIGH / STREAM_LOW / STREAM_MAX
 * (stream.h): over STREAM_MAX the connection is aborted; above STREAM_HIGH
 * it is "blocked", and blocked for longer than blocked_ms it is closed
 * (a peer that stopped reading); falling to STREAM_LOW raises drain.
 *
 * Deadlines: each connection is on at most one timer list, whose members
 * all have the same limit, in the order they joined, so a sweep looks at
 * heads only: HEAD (a request head is due: head_ms), IDLE (keep-alive
 * between requests: idle_ms), DRAIN (closing: drain_ms), BLOCKED.
 *
 * Closing: conn_close() flushes the queue, shuts the write side down and
 * waits (bounded) for the peer's end, discarding what it still sends, so
 * a final response is not lost to a reset; conn_abort() closes at once.
 * The struct is freed in libuv's close callback, after ops->freed. The
 * owner's ops->closed is raised only for closes it did not ask for, from
 * libuv callbacks only (stream.h's rules).
 *
 * Full table: a new connection makes the oldest one still in HEAD or
 * IDLE close (half-open floods cannot lock pool connections out); when
 * there is none, it gets a canned 503 and is closed.
 */
#ifndef TUND_RELAY_CONN_H
#define TUND_RELAY_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "stream.h"

#define CONN_READ_BUF (64u * 1024)   /* the shared read buffer */

struct conn;
struct conn_table;

struct conn_ops {
	/* Bytes arrived (not raised while paused or closing). */
	void (*read)(void *owner, struct conn *c, const uint8_t *buf, size_t len);
	/* The queue fell to STREAM_LOW after passing STREAM_HIGH. Optional. */
	void (*drain)(void *owner, struct conn *c);
	/* The connection is going away, not by the owner's doing (peer closed,
	 * error, deadline, table closing); why is for logs. The owner must not
	 * use c afterwards. */
	void (*closed)(void *owner, struct conn *c, const char *why);
	/* An outgoing connection is up (status 0) or failed (a libuv error;
	 * it is closed then and no other event follows). Optional. */
	void (*connected)(void *owner, struct conn *c, int status);
	/* The struct is about to be freed. Optional. */
	void (*freed)(void *owner, struct conn *c);
};

enum conn_timer { CONN_T_NONE, CONN_T_HEAD, CONN_T_IDLE, CONN_T_DRAIN, CONN_T_BLOCKED, CONN_T_N };

struct conn_limits {
	unsigned max_conns;
	uint64_t head_ms, idle_ms, drain_ms, blocked_ms;
};

struct conn_stats {
	uint64_t accepted, refused_full, evicted;
	uint64_t head_timeouts, idle_timeouts, blocked_timeouts, overflows;
	uint64_t bytes_in, bytes_out;
	size_t open;
};

int conn_table_new(struct conn_table **out, uv_loop_t *loop, const struct conn_limits *lim);
/* Aborts every connection; frees the table once all are freed, then
 * calls done(arg) (may be NULL). */
void conn_table_close(struct conn_table *t, void (*done)(void *arg), void *arg);
void conn_table_stats(const struct conn_table *t, struct conn_stats *out);
/* Closes connections whose deadline has passed. */
void conn_sweep(struct conn_table *t, uint64_t now_ms);

/* Accepts one connection from listener, owned by (ops, owner), on the
 * HEAD list and reading. NULL when refused (table full: a canned 503 was
 * sent) or on error. */
struct conn *conn_accept(struct conn_table *t, uv_stream_t *listener, const struct conn_ops *ops,
			 void *owner);
/* Starts an outgoing connection; ops->connected reports. 0 or a libuv
 * error (nothing to clean up then). */
int conn_connect(struct conn_table *t, const struct sockaddr_in *to, const struct conn_ops *ops,
		 void *owner, struct conn **out);

void conn_set_owner(struct conn *c, const struct conn_ops *ops, void *owner);
void conn_set_timer(struct conn *c, enum conn_timer which);
enum conn_timer conn_timer(const struct conn *c);
uint32_t conn_peer_addr(const struct conn *c);
uint16_t conn_peer_port(const struct conn *c);

/* Queues the bytes of n buffers (sent at once when possible). */
void conn_writev(struct conn *c, const uv_buf_t *bufs, unsigned n);
void conn_write(struct conn *c, const void *buf, size_t len);
size_t conn_queued(const struct conn *c);
void conn_pause(struct conn *c, bool pause);
bool conn_closing(const struct conn *c);
void conn_close(struct conn *c);
void conn_abort(struct conn *c);

/* The front's head buffer: bytes of a request head that came in pieces
 * (allocated and grown when needed, at most cap; freed with the
 * connection or by conn_head_clear). 0, -ENOSPC or -ENOMEM. */
int conn_head_append(struct conn *c, const uint8_t *buf, size_t len, size_t cap);
const uint8_t *conn_head(const struct conn *c, size_t *len);
void conn_head_clear(struct conn *c);

/* The connection as a stream (stream.h), for Upgrade mode and the
 * gateway: the caller hands ownership to the stream adapter, whose user
 * is set with stream_set_cb. */
struct stream *conn_stream(struct conn *c, const char *kind);

#endif
