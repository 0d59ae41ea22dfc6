/*
 * tlink.c - see tlink.h. A link is one state machine over at most two TCP
 * connections (the second only for POLL's upstream):
 *
 *   RESOLVE -> CONNECT -> UP                              DIRECT to a raw service
 *                      -> PROXY (CONNECT sent) -> UP      CONNECT to a raw service
 *                      -> [PROXY ->] UPGRADE -> UP        HTTP service: waits for 101
 *                      -> GET -> PROVE -> UP              POLL: 200, then an empty
 *                                                         POST answered 204
 *
 * Invariants: the link is freed only when every handle it embeds has run
 * its close callback and no name lookup is pending (refs == 0), so code in
 * any libuv callback may call into the owner and then check l->closing.
 * ops.down is called only from fail(), which marks the link closing first:
 * at most once, never after tlink_close, never from inside tlink_write
 * (a failure found there is reported from a zero timer instead).
 *
 * Draining (tlink_close_after_flush): the owner's ops are cleared, so no
 * callback reaches it; the link stays up, reading and dropping what comes,
 * until its queue is out and (stream) the far end answered the FIN with
 * its own or (POLL) the last POST was answered, or the timer fires. Waiting
 * for the far end's FIN, rather than closing as soon as the queue reached
 * the kernel, matters: closing a socket with unread input makes the kernel
 * reset the connection and drop its unsent data.
 */
#include "tlink.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "httpmsg.h"
#include "log.h"
#include "relayproto.h"

#define MAIN_IN_LEN  (64 * 1024)
#define AUTH_HDR_MAX 512
#define REQ_MAX      (HTTP_TARGET_MAX + 2 * CFG_HOST_MAX + AUTH_HDR_MAX + 256)
#define WHY_MAX      320

enum phase { PH_RESOLVE, PH_CONNECT, PH_PROXY, PH_UPGRADE, PH_GET, PH_PROVE, PH_UP };

struct conn {
	struct tlink *l;
	uv_tcp_t tcp;
	uv_connect_t creq;
	bool open;                   /* initialized; close callback not yet run */
	bool closing;
	bool connected;
	uint8_t *in;                 /* received, not yet consumed: in[0..len) */
	size_t cap, len;
};

struct tlink {
	uv_loop_t *loop;
	struct tlink_target t;
	struct tlink_proxy proxy;
	enum tlink_method m;
	struct tlink_ops ops;
	void *arg;
	enum phase phase;
	bool closing;
	bool draining;               /* tlink_close_after_flush: closing once flushed */
	bool in_write;               /* inside tlink_write: failures are deferred */
	int pending_err;             /* deferred failure, reported by the timer */
	char pending_why[WHY_MAX];
	unsigned refs;               /* open handles + pending name lookup; freed at 0 */
	uv_getaddrinfo_t gai;
	bool gai_running;
	uv_timer_t timer;            /* TLINK_SETUP_MS and TLINK_FLUSH_MS deadlines;
					deferred failures */
	uv_shutdown_t sreq;          /* draining a stream: FIN behind the queue */
	bool to_proxy;               /* TCP goes to the proxy */
	bool absolute;               /* requests in absolute form (the proxy reads them) */
	struct sockaddr_in dest;
	struct conn main, post;
	size_t queued;               /* bytes given to uv_write, callback not yet run */
	/* POLL */
	char token[RELAYPROTO_TOKEN_STR + 1];
	bool chunked;                /* else the body runs to the connection's end */
	struct http_chunked ch;
	uint8_t *up;                 /* upstream not yet acknowledged: up[up_off..up_len) */
	size_t up_off, up_len, up_cap;
	size_t post_inflight;        /* bytes of the POST awaiting its answer */
	bool post_busy;
	bool post_close;             /* the answer said the connection ends */
	uint64_t post_skip;          /* body bytes of a POST answer still to skip */
	uint8_t main_in[MAIN_IN_LEN];
	uint8_t post_in[HTTP_HEAD_MAX];
};

static void post_kick(struct tlink *l);
static void main_input(struct tlink *l);

static const char *const method_names[TLINK_N_METHODS] = {
	[TLINK_DIRECT] = "direct", [TLINK_CONNECT] = "connect",
	[TLINK_UPGRADE] = "upgrade", [TLINK_POLL] = "poll",
};

const char *tlink_method_name(enum tlink_method m)
{
	return (unsigned)m < TLINK_N_METHODS ? method_names[m] : "?";
}

enum tlink_method tlink_method(const struct tlink *l) { return l->m; }

void tlink_describe(const struct tlink *l, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s:%u via %s", l->t.host, l->t.port, tlink_method_name(l->m));
}

/* Who answers on the main connection: "proxy 10.5.0.1:3128" or the service. */
static const char *who(const struct tlink *l, char *out, size_t n)
{
	if (l->to_proxy)
		snprintf(out, n, "proxy %s:%u", l->proxy.host, l->proxy.port);
	else
		snprintf(out, n, "%s:%u", l->t.host, l->t.port);
	return out;
}

/* ---------------------------------------------------------- closing */

static void maybe_free(struct tlink *l)
{
	if (l->closing && l->refs == 0) {
		free(l->up);
		sodium_memzero(&l->t, sizeof(l->t)); /* our private key */
		free(l);
	}
}

static void conn_closed_cb(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct tlink *l = c->l;
	c->open = c->closing = c->connected = false;
	c->len = 0;
	l->refs--;
	if (l->closing)
		maybe_free(l);
	else if (c == &l->post)
		post_kick(l); /* reopens it when upstream bytes are waiting */
}

static void timer_closed_cb(uv_handle_t *h)
{
	struct tlink *l = h->data;
	l->refs--;
	maybe_free(l);
}

static void conn_close(struct conn *c)
{
	if (c->open && !c->closing) {
		c->closing = true;
		uv_close((uv_handle_t *)&c->tcp, conn_closed_cb);
	}
}

static void teardown(struct tlink *l)
{
	l->closing = true;
	uv_close((uv_handle_t *)&l->timer, timer_closed_cb);
	if (l->gai_running)
		uv_cancel((uv_req_t *)&l->gai);
	conn_close(&l->main);
	conn_close(&l->post);
}

static void timer_cb(uv_timer_t *h);

static void fail(struct tlink *l, int err, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void fail(struct tlink *l, int err, unsigned status, const char *fmt, ...)
{
	char why[WHY_MAX];
	va_list ap;
	if (l->closing)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (l->in_write) {
		/* The owner is inside tlink_write: tell it from the loop. */
		if (!l->pending_err) {
			l->pending_err = err;
			snprintf(l->pending_why, sizeof(l->pending_why), "%s", why);
			uv_timer_start(&l->timer, timer_cb, 0, 0);
		}
		return;
	}
	teardown(l);
	log_debug("link %s:%u via %s: %s", l->t.host, l->t.port, tlink_method_name(l->m), why);
	if (l->ops.down)
		l->ops.down(l->arg, l, err, status, why);
}

void tlink_close(struct tlink *l)
{
	if (l && !l->closing)
		teardown(l);
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
	struct tlink *l = req->data;
	/* Done: the queue is in the kernel and our FIN behind it; the far
	 * end's FIN (main_read_cb) or the timer ends the link. */
	if (status < 0 && !l->closing)
		teardown(l);
}

void tlink_close_after_flush(struct tlink *l)
{
	if (!l || l->closing || l->draining)
		return;
	bool empty = l->m == TLINK_POLL ? !l->post_busy && l->up_len == l->up_off : l->queued == 0;
	if (l->phase != PH_UP || l->pending_err || empty) {
		teardown(l);
		return;
	}
	l->draining = true;
	memset(&l->ops, 0, sizeof(l->ops)); /* no callback follows */
	l->arg = NULL;
	uv_timer_start(&l->timer, timer_cb, TLINK_FLUSH_MS, 0);
	if (l->m == TLINK_POLL)
		return; /* post_done closes after the last answer */
	l->sreq.data = l;
	if (uv_shutdown(&l->sreq, (uv_stream_t *)&l->main.tcp, shutdown_cb) < 0)
		teardown(l);
}

static void timer_cb(uv_timer_t *h)
{
	struct tlink *l = h->data;
	char w[CFG_HOST_MAX + 16];
	unsigned s = TLINK_SETUP_MS / 1000;
	if (l->pending_err) {
		fail(l, l->pending_err, 0, "%s", l->pending_why);
		return;
	}
	if (l->draining) {
		log_debug("link %s:%u via %s: closed after %u ms with %zu bytes unsent", l->t.host, l->t.port,
			  tlink_method_name(l->m), TLINK_FLUSH_MS, tlink_queued(l));
		teardown(l);
		return;
	}
	switch (l->phase) {
	case PH_RESOLVE:
		fail(l, -ETIMEDOUT, 0, "cannot resolve %s within %u s",
		     l->to_proxy ? l->proxy.host : l->t.host, s);
		break;
	case PH_CONNECT:
		fail(l, -ETIMEDOUT, 0, "no TCP connection to %s within %u s", who(l, w, sizeof(w)), s);
		break;
	case PH_PROXY:
		fail(l, -ETIMEDOUT, 0, "%s did not answer CONNECT %s:%u within %u s",
		     who(l, w, sizeof(w)), l->t.host, l->t.port, s);
		break;
	case PH_UPGRADE:
	case PH_GET:
		fail(l, -ETIMEDOUT, 0, "%s did not answer %sGET %s within %u s", who(l, w, sizeof(w)),
		     l->phase == PH_UPGRADE ? "the Upgrade " : "", l->t.path, s);
		break;
	case PH_PROVE:
		fail(l, -ETIMEDOUT, 0, "%s did not answer the first POST within %u s",
		     who(l, w, sizeof(w)), s);
		break;
	case PH_UP:
		break;
	}
}

/* ---------------------------------------------------------- writing */

struct wreq {
	uv_write_t req;
	struct tlink *l;
	size_t counted;              /* toward l->queued */
	uint8_t data[];
};

static void write_cb(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct tlink *l = w->l;
	char b[CFG_HOST_MAX + 16];
	l->queued -= w->counted;
	free(w);
	if (status < 0 && status != UV_ECANCELED)
		fail(l, status, 0, "cannot send to %s: %s", who(l, b, sizeof(b)), uv_strerror(status));
}

/* Copies a and b into one request; count says whether they are owner data. */
static int conn_write(struct conn *c, const void *a, size_t alen, const void *b, size_t blen, bool count)
{
	struct wreq *w = malloc(sizeof(*w) + alen + blen);
	if (!w)
		return -ENOMEM;
	if (alen)
		memcpy(w->data, a, alen);
	if (blen)
		memcpy(w->data + alen, b, blen);
	w->l = c->l;
	w->counted = count ? alen + blen : 0;
	uv_buf_t buf = uv_buf_init((char *)w->data, (unsigned)(alen + blen));
	int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, write_cb);
	if (rc < 0) {
		free(w);
		return rc;
	}
	c->l->queued += w->counted;
	return 0;
}

static void send_or_fail(struct tlink *l, const char *req, size_t len)
{
	int rc = conn_write(&l->main, req, len, NULL, 0, false);
	if (rc < 0)
		fail(l, rc, 0, "cannot send the request: %s", uv_strerror(rc));
}

/* Origin form, or absolute form when a proxy reads the request. */
static void request_target(const struct tlink *l, const char *path, char *out, size_t n)
{
	if (l->absolute)
		snprintf(out, n, "http://%s:%u%s", l->t.host, l->t.port, path);
	else
		snprintf(out, n, "%s", path);
}

/* RFC 9110 §9.3.6: the authority form, and Host naming the same. */
static void send_connect(struct tlink *l)
{
	char req[REQ_MAX];
	int n = snprintf(req, sizeof(req), "CONNECT %s:%u HTTP/1.1\r\nHost: %s:%u\r\n"
			 "User-Agent: tund/%s\r\n\r\n", l->t.host, l->t.port, l->t.host, l->t.port,
			 TUND_VERSION);
	l->phase = PH_PROXY;
	send_or_fail(l, req, (size_t)n);
}

/* The relay request (relayproto.h), with Upgrade or as a poll GET. */
static void send_request(struct tlink *l, bool upgrade)
{
	char target[HTTP_TARGET_MAX], auth[AUTH_HDR_MAX] = "", req[REQ_MAX];
	request_target(l, l->t.path, target, sizeof(target));
	if (l->t.auth) {
		int rc = relayproto_auth_headers(auth, sizeof(auth), l->t.priv, l->t.pub, l->t.relay_pub,
						 l->t.path, (int64_t)time(NULL) + l->t.clock_offset_s);
		if (rc < 0) {
			fail(l, rc, 0, "cannot build the Tund-Auth headers: %s", strerror(-rc));
			return;
		}
	}
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s:%u\r\nUser-Agent: tund/%s\r\n%s%s%s\r\n",
			 target, l->t.host, l->t.port, TUND_VERSION,
			 upgrade ? "Connection: Upgrade\r\nUpgrade: " RELAYPROTO_UPGRADE "\r\n"
				 : "Cache-Control: no-store\r\n" RELAYPROTO_POLL_FIELD ": 1\r\n",
			 auth, l->t.extra_headers);
	if (n < 0 || (size_t)n >= sizeof(req)) {
		fail(l, -ENAMETOOLONG, 0, "the request for %s is too long", l->t.path);
		return;
	}
	l->phase = upgrade ? PH_UPGRADE : PH_GET;
	send_or_fail(l, req, (size_t)n);
}

int tlink_write2(struct tlink *l, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	if (!l || l->closing || l->draining || l->phase != PH_UP)
		return -ENOTCONN;
	size_t len = alen + blen;
	if (tlink_queued(l) + len > TLINK_MAX_QUEUED)
		return -ENOBUFS;
	if (l->m != TLINK_POLL)
		return conn_write(&l->main, a, alen, b, blen, true);
	if (l->up_off && l->up_len + len > l->up_cap) {
		/* The POST in flight has its own copy: the front can go. */
		memmove(l->up, l->up + l->up_off, l->up_len - l->up_off);
		l->up_len -= l->up_off;
		l->up_off = 0;
	}
	if (l->up_len + len > l->up_cap) {
		size_t cap = l->up_cap ? 2 * l->up_cap : 64 * 1024;
		while (cap < l->up_len + len)
			cap *= 2;
		uint8_t *p = realloc(l->up, cap);
		if (!p)
			return -ENOMEM;
		l->up = p;
		l->up_cap = cap;
	}
	if (alen)
		memcpy(l->up + l->up_len, a, alen);
	if (blen)
		memcpy(l->up + l->up_len + alen, b, blen);
	l->up_len += len;
	l->in_write = true;
	post_kick(l);
	l->in_write = false;
	return 0;
}

int tlink_write(struct tlink *l, const uint8_t *buf, size_t len)
{
	return tlink_write2(l, buf, len, NULL, 0);
}

size_t tlink_queued(const struct tlink *l)
{
	return l->m == TLINK_POLL ? l->up_len - l->up_off : l->queued;
}

void tlink_set_ops(struct tlink *l, const struct tlink_ops *ops, void *arg)
{
	l->ops = *ops;
	l->arg = arg;
}

/* ------------------------------------------------------- connecting */

static void main_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void post_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;
	*buf = uv_buf_init((char *)c->in + c->len, (unsigned)(c->cap - c->len));
}

static void go_up(struct tlink *l)
{
	l->phase = PH_UP;
	uv_timer_stop(&l->timer);
	if (l->ops.up)
		l->ops.up(l->arg, l);
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct conn *c = req->data;
	struct tlink *l = c->l;
	char w[CFG_HOST_MAX + 16];
	if (l->closing || c->closing)
		return;
	if (status < 0) {
		fail(l, status, 0, "cannot connect to %s: %s", who(l, w, sizeof(w)), uv_strerror(status));
		return;
	}
	c->connected = true;
	uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, c == &l->main ? main_read_cb : post_read_cb);
	if (c == &l->post) {
		post_kick(l);
		return;
	}
	switch (l->m) {
	case TLINK_DIRECT:
		if (l->t.http)
			send_request(l, true);
		else
			go_up(l);
		break;
	case TLINK_CONNECT:
		send_connect(l);
		break;
	case TLINK_UPGRADE:
		send_request(l, true);
		break;
	case TLINK_POLL:
		send_request(l, false);
		break;
	}
}

static int conn_open(struct tlink *l, struct conn *c)
{
	int rc = uv_tcp_init(l->loop, &c->tcp);
	if (rc < 0)
		return rc;
	c->tcp.data = c;
	c->open = true;
	c->closing = c->connected = false;
	c->len = 0;
	l->refs++;
	uv_tcp_nodelay(&c->tcp, 1);
	c->creq.data = c;
	rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&l->dest, connect_cb);
	if (rc < 0)
		conn_close(c);
	return rc;
}

static void gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct tlink *l = req->data;
	const char *name = l->to_proxy ? l->proxy.host : l->t.host;
	l->gai_running = false;
	l->refs--;
	if (l->closing) {
		uv_freeaddrinfo(res);
		maybe_free(l);
		return;
	}
	if (status < 0 || !res) {
		uv_freeaddrinfo(res);
		fail(l, status < 0 ? status : -ENOENT, 0, "cannot resolve %s: %s", name,
		     status < 0 ? uv_strerror(status) : "no address");
		return;
	}
	memcpy(&l->dest, res->ai_addr, sizeof(l->dest));
	l->dest.sin_port = htons(l->to_proxy ? l->proxy.port : l->t.port);
	uv_freeaddrinfo(res);
	l->phase = PH_CONNECT;
	int rc = conn_open(l, &l->main);
	if (rc < 0) {
		char w[CFG_HOST_MAX + 16];
		fail(l, rc, 0, "cannot connect to %s: %s", who(l, w, sizeof(w)), uv_strerror(rc));
	}
}

int tlink_open(struct tlink **out, uv_loop_t *loop, const struct tlink_target *t,
	       const struct tlink_proxy *proxy, enum tlink_method m, const struct tlink_ops *ops,
	       void *arg)
{
	bool via = proxy && proxy->set;
	*out = NULL;
	if ((unsigned)m >= TLINK_N_METHODS || ((m == TLINK_UPGRADE || m == TLINK_POLL) && !t->http) ||
	    ((m == TLINK_CONNECT || m == TLINK_UPGRADE) && !via))
		return -EINVAL;
	struct tlink *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->loop = loop;
	l->t = *t;
	l->t.host[sizeof(l->t.host) - 1] = l->t.path[sizeof(l->t.path) - 1] = '\0';
	l->t.extra_headers[sizeof(l->t.extra_headers) - 1] = '\0';
	if (via)
		l->proxy = *proxy;
	l->m = m;
	l->ops = *ops;
	l->arg = arg;
	l->to_proxy = m == TLINK_CONNECT || m == TLINK_UPGRADE || (m == TLINK_POLL && via);
	l->absolute = m == TLINK_UPGRADE || (m == TLINK_POLL && via);
	l->main = (struct conn){ .l = l, .in = l->main_in, .cap = sizeof(l->main_in) };
	l->post = (struct conn){ .l = l, .in = l->post_in, .cap = sizeof(l->post_in) };
	uv_timer_init(loop, &l->timer);
	l->timer.data = l;
	l->refs = 1;
	uv_timer_start(&l->timer, timer_cb, TLINK_SETUP_MS, 0);
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM };
	l->gai.data = l;
	int rc = uv_getaddrinfo(loop, &l->gai, gai_cb, l->to_proxy ? l->proxy.host : l->t.host, NULL, &hints);
	if (rc == 0) {
		l->gai_running = true;
		l->refs++;
	} else {
		l->pending_err = rc;
		snprintf(l->pending_why, sizeof(l->pending_why), "cannot start resolving %s: %s",
			 l->to_proxy ? l->proxy.host : l->t.host, uv_strerror(rc));
		uv_timer_start(&l->timer, timer_cb, 0, 0);
	}
	*out = l;
	return 0;
}

/* --------------------------------------------------------- answers */

static void consume(struct conn *c, size_t n)
{
	memmove(c->in, c->in + n, c->len - n);
	c->len -= n;
}

static void on_connect_answer(struct tlink *l, const struct http_head *h)
{
	char w[CFG_HOST_MAX + 16];
	/* RFC 9110 §9.3.6: any 2xx means the tunnel is open. */
	if (h->status / 100 != 2) {
		fail(l, -ECONNREFUSED, h->status, "%s answered %u %s to CONNECT %s:%u",
		     who(l, w, sizeof(w)), h->status, h->reason, l->t.host, l->t.port);
		return;
	}
	if (l->t.http)
		send_request(l, true);
	else
		go_up(l);
}

/* A relay's 401 carries its clock (relayproto.h): the owner learns it
 * before the down that follows. Only plain decimal seconds are taken. */
static void report_clock(struct tlink *l, const struct http_head *h)
{
	const char *v = http_field(h, "Tund-Time");
	size_t n = v ? strspn(v, "0123456789") : 0;
	if (h->status != 401 || !l->ops.clock || n == 0 || n > 18 || v[n])
		return;
	l->ops.clock(l->arg, l, (int64_t)strtoll(v, NULL, 10));
}

static void on_upgrade_answer(struct tlink *l, const struct http_head *h)
{
	char w[CFG_HOST_MAX + 16], target[HTTP_TARGET_MAX];
	who(l, w, sizeof(w));
	request_target(l, l->t.path, target, sizeof(target));
	if (h->status == 101 && http_field_has_token(h, "Upgrade", RELAYPROTO_UPGRADE))
		go_up(l);
	else if (h->status == 101)
		fail(l, -EPROTO, h->status, "%s switched GET %s to another protocol", w, target);
	else if (h->status / 100 == 2)
		/* Something on the way dropped the hop-by-hop Upgrade header and
		 * the relay took the request for a poll. */
		fail(l, -EPROTONOSUPPORT, h->status, "%s answered %u %s to GET %s: the Upgrade did not pass",
		     w, h->status, h->reason, target);
	else {
		report_clock(l, h);
		fail(l, -ECONNREFUSED, h->status, "%s answered %u %s to GET %s", w, h->status, h->reason,
		     target);
	}
}

static bool token_ok(const char *s)
{
	if (!s || strlen(s) != RELAYPROTO_TOKEN_STR)
		return false;
	return strspn(s, "0123456789abcdefABCDEF") == RELAYPROTO_TOKEN_STR;
}

static void on_get_answer(struct tlink *l, const struct http_head *h)
{
	char w[CFG_HOST_MAX + 16], target[HTTP_TARGET_MAX];
	uint64_t cl;
	const char *te = http_field(h, "Transfer-Encoding");
	who(l, w, sizeof(w));
	request_target(l, l->t.path, target, sizeof(target));
	if (h->status != 200) {
		report_clock(l, h);
		fail(l, -ECONNREFUSED, h->status, "%s answered %u %s to GET %s", w, h->status, h->reason,
		     target);
		return;
	}
	if (!token_ok(http_field(h, "Tund-Session"))) {
		fail(l, -EPROTO, h->status, "%s answered GET %s without a Tund-Session token", w, target);
		return;
	}
	/* Chunked, or (HTTP/1.0 proxies) a body that runs to the end of the
	 * connection; a sized body means something buffers the stream. */
	if ((te && strcasecmp(te, "chunked") != 0) || (!te && http_content_length(h, UINT64_MAX, &cl) != -ENOENT)) {
		fail(l, -EPROTO, h->status, "%s does not stream the answer to GET %s", w, target);
		return;
	}
	l->chunked = te != NULL;
	http_chunked_init(&l->ch);
	snprintf(l->token, sizeof(l->token), "%s", http_field(h, "Tund-Session"));
	/* Body bytes wait in main.in until the upstream is proven too. */
	l->phase = PH_PROVE;
	uv_read_stop((uv_stream_t *)&l->main.tcp);
	post_kick(l);
}

/* Service bytes for the owner: raw, or the decoded poll body. */
static void deliver(struct tlink *l)
{
	struct conn *c = &l->main;
	size_t n = c->len, used;
	if (l->m == TLINK_POLL && l->chunked &&
	    http_chunked_decode(&l->ch, c->in, c->len, &n, &used) < 0) {
		fail(l, -EPROTO, 0, "%s:%u sent a malformed chunked body", l->t.host, l->t.port);
		return;
	}
	c->len = 0;
	if (n && l->ops.data)
		l->ops.data(l->arg, l, c->in, n);
	if (!l->closing && l->m == TLINK_POLL && l->chunked && l->ch.done)
		fail(l, UV_EOF, 0, "%s:%u ended the poll stream", l->t.host, l->t.port);
}

static void main_input(struct tlink *l)
{
	struct conn *c = &l->main;
	char w[CFG_HOST_MAX + 16];
	while (!l->closing && c->len > 0 && l->phase != PH_PROVE) {
		if (l->phase == PH_UP) {
			deliver(l);
			return;
		}
		struct http_head h;
		const char *why = "";
		int rc = http_parse_head(c->in, c->len, false, &h, &why);
		if (rc == 0)
			return;
		if (rc < 0) {
			fail(l, -EPROTO, 0, "%s sent a malformed answer: %s", who(l, w, sizeof(w)), why);
			return;
		}
		consume(c, h.head_len);
		if (l->phase == PH_PROXY)
			on_connect_answer(l, &h);
		else if (l->phase == PH_UPGRADE)
			on_upgrade_answer(l, &h);
		else
			on_get_answer(l, &h);
	}
}

static void main_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	struct tlink *l = c->l;
	char w[CFG_HOST_MAX + 16];
	if (l->closing || nread == 0)
		return;
	if (nread < 0) {
		who(l, w, sizeof(w));
		if (nread == UV_EOF)
			fail(l, UV_EOF, 0, "%s closed the connection%s", w,
			     l->phase == PH_UP ? "" : " before the link was up");
		else
			fail(l, (int)nread, 0, "connection to %s: %s", w, uv_strerror((int)nread));
		return;
	}
	c->len += (size_t)nread;
	main_input(l);
}

/* ------------------------------------------------------ POLL upstream */

/* Sends the next POST when none is in flight: everything queued (up to
 * TLINK_POST_MAX), or the empty one that proves the upstream. */
static void post_kick(struct tlink *l)
{
	struct conn *c = &l->post;
	char path[sizeof(RELAYPROTO_PATH_UP) + RELAYPROTO_TOKEN_STR], target[HTTP_TARGET_MAX], head[REQ_MAX];
	size_t n = l->up_len - l->up_off;
	if (l->closing || l->post_busy || l->phase < PH_PROVE || (l->phase == PH_UP && n == 0))
		return;
	if (!c->open) {
		int rc = conn_open(l, c);
		if (rc < 0)
			fail(l, rc, 0, "cannot open the upstream connection: %s", uv_strerror(rc));
		return;
	}
	if (c->closing || !c->connected)
		return; /* the close or connect callback comes back here */
	if (n > TLINK_POST_MAX)
		n = TLINK_POST_MAX;
	snprintf(path, sizeof(path), "%s%s", RELAYPROTO_PATH_UP, l->token);
	request_target(l, path, target, sizeof(target));
	int hl = snprintf(head, sizeof(head), "POST %s HTTP/1.1\r\nHost: %s:%u\r\nUser-Agent: tund/%s\r\n"
			  "Content-Type: application/octet-stream\r\nContent-Length: %zu\r\n\r\n",
			  target, l->t.host, l->t.port, TUND_VERSION, n);
	int rc = conn_write(c, head, (size_t)hl, n ? l->up + l->up_off : NULL, n, false);
	if (rc < 0) {
		fail(l, rc, 0, "cannot send a POST: %s", uv_strerror(rc));
		return;
	}
	l->post_busy = true;
	l->post_inflight = n;
}

static void post_done(struct tlink *l)
{
	l->post_busy = false;
	l->up_off += l->post_inflight;
	l->post_inflight = 0;
	if (l->up_off == l->up_len)
		l->up_off = l->up_len = 0;
	if (l->post_close) {
		l->post_close = false;
		conn_close(&l->post);
	}
	if (l->draining && l->up_len == l->up_off) {
		teardown(l); /* the last word was taken */
		return;
	}
	if (l->phase == PH_PROVE) {
		go_up(l);
		if (l->closing)
			return;
		uv_read_start((uv_stream_t *)&l->main.tcp, alloc_cb, main_read_cb);
		main_input(l); /* what came right behind the GET's 200 */
		if (l->closing)
			return;
	}
	post_kick(l);
}

/* One POST answer's head: 2xx (204 from the relay; a proxy may say 200
 * with an empty body) lets the next POST go. */
static int post_answer(struct tlink *l, const struct http_head *h)
{
	char w[CFG_HOST_MAX + 16];
	uint64_t cl = 0;
	who(l, w, sizeof(w));
	if (h->status / 100 == 1)
		return 0; /* 100 Continue: the real answer follows */
	if (h->status / 100 != 2) {
		fail(l, -ECONNREFUSED, h->status, "%s answered %u %s to POST %s%s", w, h->status,
		     h->reason, RELAYPROTO_PATH_UP, l->token);
		return -1;
	}
	if (h->status != 204 && (http_field(h, "Transfer-Encoding") || http_content_length(h, UINT32_MAX, &cl) < 0)) {
		fail(l, -EPROTO, h->status, "%s answered a POST with a body of unknown length", w);
		return -1;
	}
	if (http_field_has_token(h, "Connection", "close") ||
	    (h->version_minor == 0 && !http_field_has_token(h, "Connection", "keep-alive")))
		l->post_close = true;
	l->post_skip = cl;
	if (cl == 0)
		post_done(l);
	return 0;
}

static void post_input(struct tlink *l)
{
	struct conn *c = &l->post;
	char w[CFG_HOST_MAX + 16];
	while (!l->closing && !c->closing && c->len > 0) {
		if (l->post_skip) {
			size_t k = c->len < l->post_skip ? c->len : (size_t)l->post_skip;
			consume(c, k);
			l->post_skip -= k;
			if (!l->post_skip)
				post_done(l);
			continue;
		}
		if (!l->post_busy) {
			fail(l, -EPROTO, 0, "%s sent an answer to no POST", who(l, w, sizeof(w)));
			return;
		}
		struct http_head h;
		const char *why = "";
		int rc = http_parse_head(c->in, c->len, false, &h, &why);
		if (rc == 0)
			return;
		if (rc < 0) {
			fail(l, -EPROTO, 0, "%s sent a malformed answer to a POST: %s", who(l, w, sizeof(w)), why);
			return;
		}
		consume(c, h.head_len);
		if (post_answer(l, &h) < 0)
			return;
	}
}

static void post_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	struct tlink *l = c->l;
	char w[CFG_HOST_MAX + 16];
	if (l->closing || c->closing || nread == 0)
		return;
	if (nread < 0) {
		/* An idle keep-alive connection may end at any time (proxies
		 * time them out); the next POST opens a new one. One that ends
		 * with a POST unanswered may or may not have delivered it. */
		if (l->post_busy)
			fail(l, (int)nread, 0, "%s closed the upstream connection during a POST: %s",
			     who(l, w, sizeof(w)), uv_strerror((int)nread));
		else
			conn_close(c);
		return;
	}
	c->len += (size_t)nread;
	post_input(l);
}
