/*
 * tcpserver.c - see tcpserver.h.
 *
 * Each struct tcpconn embeds its uv_tcp_t and is on exactly one of three
 * lists while open (fresh, auth, draining), ordered so that the oldest
 * deadline is at the head: sweeps and eviction only look at heads. A
 * connection leaves its list when uv_close() is called and is freed in
 * the close callback, after libuv has cancelled its pending writes (whose
 * callbacks run first and free their buffers). Callbacks into the owner
 * may ask to close any connection, including the one being read: nothing
 * is freed until the loop runs close callbacks, so the reader only checks
 * the phase after each message.
 */
#include "tcpserver.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "stun.h"

enum phase { ACCEPTING, FRESH, AUTH, DRAINING, CLOSING };   /* ACCEPTING: on no list yet */

struct connlist {
	struct tcpconn *head, *tail;
	size_t n;
};

struct tcpconn {
	struct tcpserver *s;
	uv_tcp_t tcp;
	void *state;                     /* from ops.open, NULL until then */
	enum phase phase;
	struct tcpconn *prev, *next;     /* in the list of its phase */
	uint64_t since_ms;               /* FRESH: accepted; AUTH: last message; DRAINING: asked to close */
	unsigned writes;                 /* uv_write requests in flight */
	size_t len;                      /* bytes in buf */
	uint8_t buf[STUN_MAX_MSG];
};

struct tcpserver {
	uv_loop_t *loop;
	uv_tcp_t listener;
	bool listener_open;
	bool closing;
	struct tcpserver_limits lim;
	struct tcpserver_ops ops;
	struct connlist fresh, auth, draining;
	size_t handles;                  /* tcpconns not yet freed */
	struct tcpserver_stats st;
	void (*done)(void *arg);
	void *done_arg;
};

struct wreq {
	uv_write_t req;                  /* first: the callback gets &req */
	struct tcpconn *c;
	uint8_t data[];
};

static struct connlist *list_of(struct tcpserver *s, enum phase ph)
{
	return ph == FRESH ? &s->fresh : ph == AUTH ? &s->auth : ph == DRAINING ? &s->draining : NULL;
}

static void unlink_conn(struct tcpconn *c)
{
	struct connlist *l = list_of(c->s, c->phase);

	if (!l)
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
}

/* Moves c to the tail of the list of phase ph. */
static void move_to(struct tcpconn *c, enum phase ph, uint64_t now_ms)
{
	unlink_conn(c);
	c->phase = ph;
	c->since_ms = now_ms;
	struct connlist *l = list_of(c->s, ph);
	c->prev = l->tail;
	if (l->tail)
		l->tail->next = c;
	else
		l->head = c;
	l->tail = c;
	l->n++;
}

static void maybe_finish(struct tcpserver *s)
{
	if (!s->closing || s->listener_open || s->handles)
		return;
	void (*done)(void *) = s->done;
	void *arg = s->done_arg;
	free(s);
	if (done)
		done(arg);
}

static void conn_close_cb(uv_handle_t *h)
{
	struct tcpconn *c = h->data;
	struct tcpserver *s = c->s;

	if (c->state)
		s->ops.closed(s->ops.ctx, c->state);
	free(c);
	s->handles--;
	maybe_finish(s);
}

static void hard_close(struct tcpconn *c)
{
	if (c->phase == CLOSING)
		return;
	unlink_conn(c);
	c->phase = CLOSING;
	uv_close((uv_handle_t *)&c->tcp, conn_close_cb);
}

void tcpserver_close_conn(struct tcpconn *c)
{
	if (c->phase == CLOSING || c->phase == DRAINING)
		return;
	uv_read_stop((uv_stream_t *)&c->tcp);
	if (c->writes == 0)
		hard_close(c);
	else
		move_to(c, DRAINING, uv_now(c->s->loop));
}

static void write_cb(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct tcpconn *c = w->c;

	free(w);
	c->writes--;
	if (status < 0 || (c->phase == DRAINING && c->writes == 0))
		hard_close(c);
}

void tcpserver_send(struct tcpconn *c, const uint8_t *buf, size_t len)
{
	if (c->phase == CLOSING || c->phase == DRAINING || len == 0)
		return;
	if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) + len > TCPSERVER_MAX_QUEUED) {
		c->s->st.overflows++;
		hard_close(c);
		return;
	}
	struct wreq *w = malloc(sizeof(*w) + len);
	if (!w) {
		hard_close(c);
		return;
	}
	w->c = c;
	memcpy(w->data, buf, len);
	uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)len);
	int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_cb);
	if (rc < 0) {
		free(w);
		hard_close(c);
		return;
	}
	c->writes++;
}

/* Hands every whole message in c->buf to the owner, in order. */
static void drain_input(struct tcpconn *c)
{
	struct tcpserver *s = c->s;

	while (c->phase == FRESH || c->phase == AUTH) {
		int n = stun_frame_len(c->buf, c->len);
		if (n < 0) {
			s->st.framing_errors++;
			hard_close(c);
			return;
		}
		if (n == 0 || (size_t)n > c->len)
			return;
		int rc = s->ops.message(s->ops.ctx, c->state, c->buf, (size_t)n);
		memmove(c->buf, c->buf + n, c->len - (size_t)n);
		c->len -= (size_t)n;
		if (rc < 0)
			tcpserver_close_conn(c);
		else if (c->phase == AUTH || (c->phase == FRESH && rc > 0))
			move_to(c, AUTH, uv_now(s->loop));
	}
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct tcpconn *c = h->data;

	*buf = uv_buf_init((char *)c->buf + c->len, (unsigned)(sizeof(c->buf) - c->len));
}

static void read_cb(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf)
{
	struct tcpconn *c = stream->data;

	if (c->phase != FRESH && c->phase != AUTH)
		return;
	if (n < 0) {
		hard_close(c);   /* EOF, reset, or UV_ENOBUFS (cannot happen: see drain_input) */
		return;
	}
	c->len += (size_t)n;
	drain_input(c);
}

/* Room for one more connection: closes the oldest unauthenticated (or
 * draining) one. False when every connection is authenticated. */
static bool make_room(struct tcpserver *s)
{
	struct tcpconn *victim = s->fresh.head ? s->fresh.head : s->draining.head;

	if (s->fresh.n + s->auth.n + s->draining.n < s->lim.max_conns)
		return true;
	if (!victim)
		return false;
	s->st.evicted++;
	hard_close(victim);
	return true;
}

static void start_conn(struct tcpserver *s, struct tcpconn *c)
{
	struct sockaddr_storage ss;
	int salen = sizeof(ss);
	struct endpoint from;

	if (!make_room(s)) {
		s->st.refused++;
		hard_close(c);
		return;
	}
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &salen) < 0 || ss.ss_family != AF_INET) {
		hard_close(c);
		return;
	}
	endpoint_from_sockaddr(&from, (const struct sockaddr_in *)&ss);
	uv_tcp_nodelay(&c->tcp, 1);
	move_to(c, FRESH, uv_now(s->loop));
	c->state = s->ops.open(s->ops.ctx, c, &from);
	if (!c->state || uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) < 0)
		hard_close(c);
}

static void connection_cb(uv_stream_t *server, int status)
{
	struct tcpserver *s = server->data;

	if (status < 0) {
		log_warn("TCP listener: %s", uv_strerror(status));
		return;
	}
	struct tcpconn *c = calloc(1, sizeof(*c));
	if (!c) {
		log_error("TCP listener: no memory for a connection");
		return;
	}
	c->s = s;
	c->phase = ACCEPTING;
	uv_tcp_init(s->loop, &c->tcp);
	c->tcp.data = c;
	s->handles++;
	int rc = uv_accept(server, (uv_stream_t *)&c->tcp);
	if (rc < 0) {
		log_debug("TCP listener: accept: %s", uv_strerror(rc));
		hard_close(c);
		return;
	}
	s->st.accepted++;
	start_conn(s, c);
}

static void sweep_list(struct connlist *l, uint64_t now_ms, uint64_t limit_ms, uint64_t *count)
{
	while (l->head && now_ms - l->head->since_ms >= limit_ms) {
		(*count)++;
		hard_close(l->head);
	}
}

void tcpserver_sweep(struct tcpserver *s, uint64_t now_ms)
{
	uint64_t drained = 0;

	sweep_list(&s->fresh, now_ms, s->lim.hello_ms, &s->st.hello_timeouts);
	sweep_list(&s->auth, now_ms, s->lim.idle_ms, &s->st.idle_timeouts);
	sweep_list(&s->draining, now_ms, s->lim.drain_ms, &drained);
}

void tcpserver_get_stats(const struct tcpserver *s, struct tcpserver_stats *out)
{
	*out = s->st;
	out->open = s->fresh.n + s->auth.n + s->draining.n;
	out->authenticated = s->auth.n;
}

static void free_server_cb(uv_handle_t *h)
{
	free(h->data);
}

int tcpserver_new(struct tcpserver **out, uv_loop_t *loop, const struct endpoint *bind,
		  const struct tcpserver_limits *lim, const struct tcpserver_ops *ops, char *err,
		  size_t errlen)
{
	struct tcpserver *s = calloc(1, sizeof(*s));
	struct sockaddr_in sa;
	char name[ENDPOINT_STR_LEN];

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return UV_ENOMEM;
	}
	s->loop = loop;
	s->lim = *lim;
	s->ops = *ops;
	endpoint_to_sockaddr(&sa, bind);
	endpoint_format(name, bind);
	int rc = uv_tcp_init(loop, &s->listener);
	if (rc < 0) {
		snprintf(err, errlen, "TCP %s: %s", name, uv_strerror(rc));
		free(s);
		return rc;
	}
	s->listener.data = s;
	rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&sa, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&s->listener, TCPSERVER_BACKLOG, connection_cb);
	if (rc < 0) {
		snprintf(err, errlen, "cannot listen on TCP %s: %s", name, uv_strerror(rc));
		uv_close((uv_handle_t *)&s->listener, free_server_cb);
		return rc;
	}
	s->listener_open = true;
	*out = s;
	return 0;
}

static void listener_close_cb(uv_handle_t *h)
{
	struct tcpserver *s = h->data;

	s->listener_open = false;
	maybe_finish(s);
}

void tcpserver_close(struct tcpserver *s, void (*done)(void *arg), void *arg)
{
	if (s->closing)
		return;
	s->closing = true;
	s->done = done;
	s->done_arg = arg;
	uv_close((uv_handle_t *)&s->listener, listener_close_cb);
	struct connlist *lists[] = { &s->fresh, &s->auth, &s->draining };
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		while (lists[i]->head)
			hard_close(lists[i]->head);
}
