/*
 * conn.c - see conn.h.
 *
 * States: CONNECTING (outgoing, not up yet), OPEN, DRAIN (conn_close or
 * the peer's EOF: flushing, then shut down, then waiting for the peer's
 * end while discarding input), CLOSING (uv_close called; the struct is
 * freed in close_cb). Every connection is on the table's list of all
 * connections until freed, and on at most one timer list.
 *
 * Events the owner did not cause are raised either at once, when we are
 * in a libuv callback (read, write, connect, sweep), or from close_cb
 * (c->notify), when the cause was a call the owner made (an overflowing
 * write, an eviction during accept).
 */
#include "conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "log.h"

#define TCP_KEEPALIVE_S 30   /* dead peers of long-lived tunnels are found by TCP */
#define CONN_HEAD_MIN 512    /* first size of a head buffer */

enum state { S_CONNECTING, S_OPEN, S_DRAIN, S_CLOSING };

struct connlist {
	struct conn *head, *tail;
	size_t n;
};

struct conn {
	uv_tcp_t tcp;
	struct conn_table *t;
	const struct conn_ops *ops;
	void *owner;
	struct conn *prev, *next;        /* on the timer list c->timer */
	struct conn *aprev, *anext;      /* on the table's list of all */
	uint64_t since_ms;               /* joined its timer list */
	size_t queued;                   /* bytes in write requests */
	uint8_t *head;                   /* the front's head buffer */
	uint32_t head_len, head_cap;
	uint32_t addr;                   /* peer, host order */
	uint16_t port;
	uint8_t timer;                   /* enum conn_timer */
	uint8_t state;                   /* enum state */
	bool paused, blocked, eof, notify;
	const char *why;                 /* with notify: for ops->closed */
	struct stream stream;            /* conn_stream() */
};

struct conn_table {
	uv_loop_t *loop;
	struct conn_limits lim;
	struct connlist timers[CONN_T_N];
	struct conn *all;
	size_t n;                        /* structs not freed yet */
	struct conn_stats st;
	bool closing;
	void (*done)(void *arg);
	void *done_arg;
	uint8_t rbuf[CONN_READ_BUF];
};

struct wreq {
	uv_write_t req;                  /* first: callbacks get &req */
	struct conn *c;
	size_t len;
	uint8_t data[];
};

/* ------------------------------------------------------------ lists */

static void timer_unlink(struct conn *c)
{
	struct connlist *l = &c->t->timers[c->timer];

	if (c->timer == CONN_T_NONE)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		l->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		l->tail = c->prev;
	c->prev = c->next = NULL;
	l->n--;
	c->timer = CONN_T_NONE;
}

void conn_set_timer(struct conn *c, enum conn_timer which)
{
	timer_unlink(c);
	if (which == CONN_T_NONE || c->state == S_CLOSING)
		return;
	struct connlist *l = &c->t->timers[which];
	c->timer = (uint8_t)which;
	c->since_ms = uv_now(c->t->loop);
	c->prev = l->tail;
	if (l->tail)
		l->tail->next = c;
	else
		l->head = c;
	l->tail = c;
	l->n++;
}

enum conn_timer conn_timer(const struct conn *c)
{
	return (enum conn_timer)c->timer;
}

/* ---------------------------------------------------------- closing */

static void maybe_finish(struct conn_table *t)
{
	if (!t->closing || t->n)
		return;
	void (*done)(void *) = t->done;
	void *arg = t->done_arg;
	free(t);
	if (done)
		done(arg);
}

static void close_cb(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct conn_table *t = c->t;

	if (c->notify && c->ops->closed)
		c->ops->closed(c->owner, c, c->why);
	if (c->ops->freed)
		c->ops->freed(c->owner, c);
	if (c->aprev)
		c->aprev->anext = c->anext;
	else
		t->all = c->anext;
	if (c->anext)
		c->anext->aprev = c->aprev;
	free(c->head);
	free(c);
	t->n--;
	maybe_finish(t);
}

static void hard_close(struct conn *c)
{
	if (c->state == S_CLOSING)
		return;
	timer_unlink(c);
	if (c->state != S_DRAIN)
		c->t->st.open--;
	c->state = S_CLOSING;
	uv_close((uv_handle_t *)&c->tcp, close_cb);
}

void conn_abort(struct conn *c)
{
	hard_close(c);
}

/* Closes c for a reason the owner did not cause, telling it from
 * close_cb: for causes found inside a call the owner made. */
static void fail(struct conn *c, const char *why)
{
	if (c->state == S_CLOSING || c->state == S_DRAIN)
		return;
	c->notify = true;
	c->why = why;
	hard_close(c);
}

/* Closes c and tells the owner now: only from libuv callbacks. */
static void lost(struct conn *c, const char *why)
{
	if (c->state == S_CLOSING || c->state == S_DRAIN)
		return;
	hard_close(c);
	if (c->ops->closed)
		c->ops->closed(c->owner, c, why);
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
	struct conn *c = req->data;

	free(req);
	if (c->state != S_DRAIN)
		return;
	if (status < 0 || c->eof)
		hard_close(c);
	/* else: the peer's EOF (read_cb) or the DRAIN deadline ends it */
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

/* Flush, shut down, linger: the start of S_DRAIN. */
static void start_drain(struct conn *c)
{
	uv_shutdown_t *req = malloc(sizeof(*req));

	c->t->st.open--;
	c->state = S_DRAIN;
	conn_set_timer(c, CONN_T_DRAIN);
	if (!c->eof)
		uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
	if (!req) {
		hard_close(c);
		return;
	}
	req->data = c;
	if (uv_shutdown(req, (uv_stream_t *)&c->tcp, shutdown_cb) < 0) {
		free(req);
		hard_close(c);
	}
}

void conn_close(struct conn *c)
{
	if (c->state == S_CONNECTING)
		hard_close(c);
	else if (c->state == S_OPEN)
		start_drain(c);
}

bool conn_closing(const struct conn *c)
{
	return c->state == S_DRAIN || c->state == S_CLOSING;
}

/* ------------------------------------------------------------ input */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;

	*buf = uv_buf_init((char *)c->t->rbuf, sizeof(c->t->rbuf));
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct conn *c = s->data;

	if (n == 0 || c->state == S_CLOSING)
		return;
	if (c->state == S_DRAIN) {
		if (n < 0)
			hard_close(c);   /* the peer's end: done lingering */
		return;
	}
	if (n > 0) {
		c->t->st.bytes_in += (uint64_t)n;
		c->ops->read(c->owner, c, (const uint8_t *)buf->base, (size_t)n);
		return;
	}
	uv_read_stop(s);
	if (n == UV_EOF && c->queued) {
		/* the peer may still read what we owe it: flush first */
		c->eof = true;
		start_drain(c);
		if (c->ops->closed)
			c->ops->closed(c->owner, c, "closed by peer");
		return;
	}
	lost(c, n == UV_EOF ? "closed by peer" : uv_strerror((int)n));
}

void conn_pause(struct conn *c, bool pause)
{
	if (c->paused == pause)
		return;
	c->paused = pause;
	if (c->state != S_OPEN)
		return;
	if (pause)
		uv_read_stop((uv_stream_t *)&c->tcp);
	else if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) < 0)
		fail(c, "cannot read");
}

/* ----------------------------------------------------------- output */

static void write_cb(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct conn *c = w->c;

	c->queued -= w->len;
	free(w);
	if (c->state == S_CLOSING)
		return;
	if (status < 0) {
		if (c->state == S_DRAIN)
			hard_close(c);
		else
			lost(c, uv_strerror(status));
		return;
	}
	if (c->blocked && c->queued <= STREAM_LOW) {
		c->blocked = false;
		if (c->timer == CONN_T_BLOCKED)
			conn_set_timer(c, CONN_T_NONE);
		if (c->state == S_OPEN && c->ops->drain)
			c->ops->drain(c->owner, c);
	}
}

/* Queues what uv_try_write did not take (skip bytes of bufs). */
static void queue_rest(struct conn *c, const uv_buf_t *bufs, unsigned n, size_t total, size_t skip)
{
	size_t rest = total - skip;

	if (c->queued + rest > STREAM_MAX) {
		c->t->st.overflows++;
		fail(c, "output queue over its limit (peer not reading)");
		return;
	}
	struct wreq *w = malloc(sizeof(*w) + rest);
	if (!w) {
		fail(c, "out of memory");
		return;
	}
	size_t off = 0;
	for (unsigned i = 0; i < n; i++) {
		size_t len = bufs[i].len;
		if (skip >= len) {
			skip -= len;
			continue;
		}
		memcpy(w->data + off, bufs[i].base + skip, len - skip);
		off += len - skip;
		skip = 0;
	}
	w->c = c;
	w->len = rest;
	uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)rest);
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_cb) < 0) {
		free(w);
		fail(c, "write failed");
		return;
	}
	c->queued += rest;
	if (!c->blocked && c->queued > STREAM_HIGH) {
		c->blocked = true;
		if (c->timer == CONN_T_NONE)
			conn_set_timer(c, CONN_T_BLOCKED);
	}
}

void conn_writev(struct conn *c, const uv_buf_t *bufs, unsigned n)
{
	size_t total = 0, sent = 0;

	if (c->state != S_OPEN)
		return;
	for (unsigned i = 0; i < n; i++)
		total += bufs[i].len;
	if (total == 0)
		return;
	if (c->queued == 0) {
		int r = uv_try_write((uv_stream_t *)&c->tcp, bufs, n);
		if (r < 0 && r != UV_EAGAIN) {
			fail(c, uv_strerror(r));
			return;
		}
		sent = r > 0 ? (size_t)r : 0;
	}
	c->t->st.bytes_out += total;
	if (sent < total)
		queue_rest(c, bufs, n, total, sent);
}

void conn_write(struct conn *c, const void *buf, size_t len)
{
	uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);

	conn_writev(c, &b, 1);
}

size_t conn_queued(const struct conn *c)
{
	return c->queued;
}

/* ------------------------------------------------------------- setup */

static struct conn *conn_alloc(struct conn_table *t, const struct conn_ops *ops, void *owner)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->t = t;
	c->ops = ops;
	c->owner = owner;
	uv_tcp_init(t->loop, &c->tcp);
	c->tcp.data = c;
	c->anext = t->all;
	if (t->all)
		t->all->aprev = c;
	t->all = c;
	t->n++;
	t->st.open++;
	return c;
}

/* At the limit: the oldest connection still without a request (HEAD or
 * IDLE) closes. False when there is none. */
static bool make_room(struct conn_table *t)
{
	struct conn *h = t->timers[CONN_T_HEAD].head, *i = t->timers[CONN_T_IDLE].head;
	struct conn *victim = !h ? i : !i ? h : h->since_ms <= i->since_ms ? h : i;

	if (t->st.open < t->lim.max_conns)
		return true;
	if (!victim)
		return false;
	t->st.evicted++;
	fail(victim, "closed to make room (relay full)");
	return true;
}

static void peer_of(struct conn *c)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0 && ss.ss_family == AF_INET) {
		struct endpoint ep;
		endpoint_from_sockaddr(&ep, (const struct sockaddr_in *)&ss);
		c->addr = ep.addr;
		c->port = ep.port;
	}
}

struct conn *conn_accept(struct conn_table *t, uv_stream_t *listener, const struct conn_ops *ops,
			 void *owner)
{
	static const char full[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
				   "Content-Length: 11\r\nConnection: close\r\n\r\nrelay full\n";
	bool room = make_room(t);
	struct conn *c = conn_alloc(t, ops, owner);

	if (!c)
		return NULL;
	if (uv_accept(listener, (uv_stream_t *)&c->tcp) < 0) {
		hard_close(c);
		return NULL;
	}
	c->state = S_OPEN;
	if (!room) {
		uv_buf_t b = uv_buf_init((char *)full, sizeof(full) - 1);
		t->st.refused_full++;
		uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
		hard_close(c);
		return NULL;
	}
	t->st.accepted++;
	peer_of(c);
	uv_tcp_nodelay(&c->tcp, 1);
	uv_tcp_keepalive(&c->tcp, 1, TCP_KEEPALIVE_S);
	conn_set_timer(c, CONN_T_HEAD);
	if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) < 0) {
		hard_close(c);
		return NULL;
	}
	return c;
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct conn *c = req->data;

	free(req);
	if (c->state != S_CONNECTING)
		return;
	if (status < 0) {
		hard_close(c);
		if (c->ops->connected)
			c->ops->connected(c->owner, c, status);
		return;
	}
	c->state = S_OPEN;
	peer_of(c);
	uv_tcp_nodelay(&c->tcp, 1);
	uv_tcp_keepalive(&c->tcp, 1, TCP_KEEPALIVE_S);
	if (!c->paused && uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) < 0) {
		hard_close(c);
		if (c->ops->connected)
			c->ops->connected(c->owner, c, UV_EIO);
		return;
	}
	if (c->ops->connected)
		c->ops->connected(c->owner, c, 0);
}

static const struct conn_ops no_ops;

int conn_connect(struct conn_table *t, const struct sockaddr_in *to, const struct conn_ops *ops,
		 void *owner, struct conn **out)
{
	uv_connect_t *req;
	struct conn *c;
	int rc;

	if (!make_room(t))
		return UV_EMFILE;
	req = malloc(sizeof(*req));
	c = req ? conn_alloc(t, ops, owner) : NULL;
	if (!c) {
		free(req);
		return UV_ENOMEM;
	}
	c->state = S_CONNECTING;
	req->data = c;
	rc = uv_tcp_connect(req, &c->tcp, (const struct sockaddr *)to, connect_cb);
	if (rc < 0) {
		free(req);
		c->ops = &no_ops;
		hard_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

void conn_set_owner(struct conn *c, const struct conn_ops *ops, void *owner)
{
	c->ops = ops;
	c->owner = owner;
}

uint32_t conn_peer_addr(const struct conn *c)
{
	return c->addr;
}

uint16_t conn_peer_port(const struct conn *c)
{
	return c->port;
}

/* ------------------------------------------------------- head buffer */

/* Grown as needed (a connection trickling a head costs what it sent,
 * not the maximum). */
int conn_head_append(struct conn *c, const uint8_t *buf, size_t len, size_t cap)
{
	size_t need = c->head_len + len, ncap = c->head_cap ? c->head_cap : CONN_HEAD_MIN;

	if (need > cap)
		return -ENOSPC;
	if (need > c->head_cap) {
		while (ncap < need)
			ncap *= 2;
		ncap = ncap < cap ? ncap : cap;
		uint8_t *p = realloc(c->head, ncap);
		if (!p)
			return -ENOMEM;
		c->head = p;
		c->head_cap = (uint32_t)ncap;
	}
	memcpy(c->head + c->head_len, buf, len);
	c->head_len += (uint32_t)len;
	return 0;
}

const uint8_t *conn_head(const struct conn *c, size_t *len)
{
	*len = c->head_len;
	return c->head;
}

void conn_head_clear(struct conn *c)
{
	free(c->head);
	c->head = NULL;
	c->head_len = c->head_cap = 0;
}

/* ------------------------------------------------------------ table */

int conn_table_new(struct conn_table **out, uv_loop_t *loop, const struct conn_limits *lim)
{
	struct conn_table *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->loop = loop;
	t->lim = *lim;
	*out = t;
	return 0;
}

void conn_table_close(struct conn_table *t, void (*done)(void *arg), void *arg)
{
	if (t->closing)
		return;
	t->closing = true;
	t->done = done;
	t->done_arg = arg;
	/* Owners told here may close other connections; that only changes
	 * states (the list changes in close_cb, later), so one walk does. */
	for (struct conn *c = t->all; c; c = c->anext) {
		enum state was = c->state;
		if (was == S_OPEN) {
			lost(c, "relay shutting down");
		} else {
			hard_close(c);
			if (was == S_CONNECTING && c->ops->connected)
				c->ops->connected(c->owner, c, UV_ECANCELED);
		}
	}
	maybe_finish(t);
}

void conn_table_stats(const struct conn_table *t, struct conn_stats *out)
{
	*out = t->st;
}

static void sweep_list(struct conn_table *t, enum conn_timer which, uint64_t limit_ms,
		       uint64_t now_ms, uint64_t *count, const char *why)
{
	struct connlist *l = &t->timers[which];

	while (l->head && now_ms - l->head->since_ms >= limit_ms) {
		struct conn *c = l->head;
		if (count)
			(*count)++;
		if (which == CONN_T_DRAIN)
			hard_close(c);
		else
			lost(c, why);
		if (l->head == c)   /* cannot happen: closing unlinks; keeps the loop finite */
			timer_unlink(c);
	}
}

void conn_sweep(struct conn_table *t, uint64_t now_ms)
{
	sweep_list(t, CONN_T_HEAD, t->lim.head_ms, now_ms, &t->st.head_timeouts,
		   "no complete request head in time");
	sweep_list(t, CONN_T_IDLE, t->lim.idle_ms, now_ms, &t->st.idle_timeouts,
		   "idle keep-alive connection");
	sweep_list(t, CONN_T_BLOCKED, t->lim.blocked_ms, now_ms, &t->st.blocked_timeouts,
		   "peer stopped reading");
	sweep_list(t, CONN_T_DRAIN, t->lim.drain_ms, now_ms, NULL, NULL);
}

/* ---------------------------------------------------- stream adapter */

static void sa_write(struct stream *s, const uint8_t *buf, size_t len)
{
	conn_write((struct conn *)((char *)s - offsetof(struct conn, stream)), buf, len);
}

static void sa_pause(struct stream *s, bool pause)
{
	conn_pause((struct conn *)((char *)s - offsetof(struct conn, stream)), pause);
}

static size_t sa_queued(const struct stream *s)
{
	return ((const struct conn *)((const char *)s - offsetof(struct conn, stream)))->queued;
}

static void sa_close(struct stream *s)
{
	conn_close((struct conn *)((char *)s - offsetof(struct conn, stream)));
}

static void sa_read(void *owner, struct conn *c, const uint8_t *buf, size_t len)
{
	if (c->stream.cb && c->stream.cb->data)
		c->stream.cb->data(c->stream.arg, &c->stream, buf, len);
}

static void sa_drain(void *owner, struct conn *c)
{
	if (c->stream.cb && c->stream.cb->drain)
		c->stream.cb->drain(c->stream.arg, &c->stream);
}

static void sa_closed(void *owner, struct conn *c, const char *why)
{
	log_debug("%s stream from %u.%u.%u.%u:%u: %s", c->stream.kind, c->addr >> 24,
		  (c->addr >> 16) & 255, (c->addr >> 8) & 255, c->addr & 255, c->port, why);
	if (c->stream.cb && c->stream.cb->closed)
		c->stream.cb->closed(c->stream.arg, &c->stream);
}

struct stream *conn_stream(struct conn *c, const char *kind)
{
	static const struct stream_ops ops = {
		.write = sa_write, .pause = sa_pause, .queued = sa_queued, .close = sa_close,
	};
	static const struct conn_ops cops = {
		.read = sa_read, .drain = sa_drain, .closed = sa_closed,
	};

	conn_set_owner(c, &cops, c);
	conn_set_timer(c, CONN_T_NONE);
	c->stream.ops = &ops;
	c->stream.cb = NULL;
	c->stream.arg = NULL;
	c->stream.peer_addr = c->addr;
	c->stream.kind = kind;
	return &c->stream;
}
