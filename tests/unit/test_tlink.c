/*
 * test_tlink.c - tlink (every method carries a few hundred KB both ways
 * byte-exact; refusals, timeouts, the queue limit, closing from inside
 * callbacks) and the dialer (picks what works, ranks it, keeps the
 * ranking in the methods file), against fake servers on one libuv loop:
 *
 *   relay   Upgrade GET -> 101 and echo; plain GET -> 200 chunked with a
 *           Tund-Session token; POST /tund/v1/up/<token> -> the body as a
 *           chunk on that session's GET, then 204; optional bytes right
 *           behind the 101/200; checks Tund-Auth when told, and then
 *           may refuse a bad one with 401 and its clock (its own clock
 *           may be skewed); records the stream bytes it receives
 *   echo    raw echo (the mediator's stand-in)
 *   silent  accepts and never answers (records what it reads, or does
 *           not even read)
 *   proxy   CONNECT -> 200 and splice, or 403; absolute-form GET/POST
 *           forwarded in origin form (streaming, keep-alive), Upgrade
 *           passed, stripped or refused; can close the client connection
 *           after each POST answer
 *
 * Last, relaylink.c's pool against the fake relay, through the real dialer
 * and links (its clock retry end to end).
 *
 * Everything listens on 127.0.0.1 ephemeral ports. The proxy maps one
 * port (a closed one, so DIRECT fails there) to the relay's.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <sodium.h>
#include <uv.h>

#include "daemon.h"
#include "dialer.h"
#include "httpmsg.h"
#include "relaylink.h"
#include "relayproto.h"
#include "tcpframe.h"
#include "tlink.h"

#define PAYLOAD_LEN (300 * 1024 + 77)

enum kind { K_RELAY, K_ECHO, K_SILENT, K_PROXY };
enum upg { UPG_PASS, UPG_STRIP, UPG_REFUSE };
enum cstate { S_HEAD, S_BODY, S_ECHO, S_DOWN, S_SPLICE };

struct env;

struct srv {
	struct env *env;
	enum kind kind;
	uv_tcp_t listen;
	uint16_t port;
	const char *behind;          /* relay: sent right behind 101/200 */
	bool check_auth;             /* relay */
	bool refuse_auth;            /* relay: a bad Tund-Auth gets 401 */
	int64_t skew_s;              /* relay: its clock minus ours */
	const char *time_hdr;        /* relay: the 401's Tund-Time value ("" = none) */
	bool no_read;                /* silent: never reads */
	uint8_t *got;                /* relay stream and POST bodies; silent: all */
	size_t got_len;
	uint8_t priv[KEY_LEN], pub[KEY_LEN];
	bool allow_connect;          /* proxy */
	enum upg upg;
	bool refuse_get, close_after_post;
	uint16_t map_from, map_to;
	unsigned n_connect, n_upgrade, n_get, n_post, auth_ok, auth_bad, n_tokens;
};

struct fconn {
	struct srv *srv;
	uv_tcp_t tcp;
	uv_connect_t creq;
	uv_shutdown_t sreq;
	struct fconn *peer;          /* proxy: the other side */
	struct fconn *next;
	bool upstream, ready, closing;
	bool tunnel;                 /* proxy: CONNECT, answered 200 once upstream is up */
	bool close_on_answer;        /* proxy: close after the next answer */
	enum cstate st;
	uint64_t body_left;
	char token[RELAYPROTO_TOKEN_STR + 1];
	uint8_t *in, *pend;
	size_t len, cap, pend_len;
};

struct env {
	uv_loop_t loop;
	uv_timer_t tick;
	struct srv srv[4];
	unsigned n_srv;
	struct fconn *conns;
	struct daemon *d;
	char dir[64];
};

#define RUN_UNTIL(e, cond, ms) do { \
	uint64_t end_ = uv_now(&(e)->loop) + (ms); \
	while (!(cond) && uv_now(&(e)->loop) < end_) \
		uv_run(&(e)->loop, UV_RUN_ONCE); \
} while (0)

/* ------------------------------------------------------ fake plumbing */

static void fconn_closed_cb(uv_handle_t *h)
{
	struct fconn *c = h->data;
	struct fconn **pp = &c->srv->env->conns;
	while (*pp != c)
		pp = &(*pp)->next;
	*pp = c->next;
	free(c->in);
	free(c->pend);
	free(c);
}

static void fconn_close(struct fconn *c)
{
	if (!c || c->closing)
		return;
	c->closing = true;
	if (c->peer) {
		c->peer->peer = NULL;
		fconn_close(c->peer);
		c->peer = NULL;
	}
	uv_close((uv_handle_t *)&c->tcp, fconn_closed_cb);
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
	fconn_close(req->data);
}

/* Ends after what was written so far has gone out. */
static void fconn_finish(struct fconn *c)
{
	c->sreq.data = c;
	if (c->closing || uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, shutdown_cb) < 0)
		fconn_close(c);
}

static void fwrite_cb(uv_write_t *req, int status)
{
	free(req);
}

static void fsend(struct fconn *c, const void *p, size_t n)
{
	if (c->closing || !n)
		return;
	if (c->upstream && !c->ready) {
		c->pend = realloc(c->pend, c->pend_len + n);
		memcpy(c->pend + c->pend_len, p, n);
		c->pend_len += n;
		return;
	}
	uv_write_t *w = malloc(sizeof(*w) + n);
	memcpy(w + 1, p, n);
	uv_buf_t b = uv_buf_init((char *)(w + 1), (unsigned)n);
	if (uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, fwrite_cb) < 0)
		free(w);
}

static void fsendf(struct fconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fsendf(struct fconn *c, const char *fmt, ...)
{
	char b[2048];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b, sizeof(b), fmt, ap);
	va_end(ap);
	fsend(c, b, (size_t)n);
}

static void consume(struct fconn *c, size_t n)
{
	memmove(c->in, c->in + n, c->len - n);
	c->len -= n;
}

static void falloc_cb(uv_handle_t *h, size_t s, uv_buf_t *b)
{
	struct fconn *c = h->data;
	if (c->cap - c->len < 65536) {
		c->cap = c->len + 65536;
		c->in = realloc(c->in, c->cap);
	}
	*b = uv_buf_init((char *)c->in + c->len, (unsigned)(c->cap - c->len));
}

static void relay_input(struct fconn *c);
static void proxy_input(struct fconn *c);

static void record(struct srv *s, const uint8_t *p, size_t n)
{
	s->got = realloc(s->got, s->got_len + n + 1);
	memcpy(s->got + s->got_len, p, n);
	s->got_len += n;
}

static void fread_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct fconn *c = s->data;
	if (c->closing)
		return;
	if (n < 0) {
		fconn_close(c);
		return;
	}
	c->len += (size_t)n;
	if (c->upstream) { /* proxy: the service's answer goes back raw */
		const uint8_t *end = c->peer && c->peer->close_on_answer ? memmem(c->in, c->len, "\r\n\r\n", 4) : NULL;
		if (end) { /* says so, as proxies do, and closes */
			size_t h = (size_t)(end - c->in) + 2;
			fsend(c->peer, c->in, h);
			fsendf(c->peer, "Connection: close\r\n");
			fsend(c->peer, c->in + h, c->len - h);
			c->peer->close_on_answer = false;
			fconn_finish(c->peer);
		} else if (c->peer) {
			fsend(c->peer, c->in, c->len);
		}
		c->len = 0;
		return;
	}
	switch (c->srv->kind) {
	case K_RELAY: relay_input(c); break;
	case K_ECHO: fsend(c, c->in, c->len); c->len = 0; break;
	case K_SILENT: record(c->srv, c->in, c->len); c->len = 0; break;
	case K_PROXY: proxy_input(c); break;
	}
}

static struct fconn *fconn_new(struct srv *s)
{
	struct fconn *c = calloc(1, sizeof(*c));
	c->srv = s;
	uv_tcp_init(&s->env->loop, &c->tcp);
	c->tcp.data = c;
	c->next = s->env->conns;
	s->env->conns = c;
	return c;
}

static void accept_cb(uv_stream_t *ls, int status)
{
	struct srv *s = ls->data;
	struct fconn *c = fconn_new(s);
	if (uv_accept(ls, (uv_stream_t *)&c->tcp) < 0)
		fconn_close(c);
	else if (!s->no_read)
		uv_read_start((uv_stream_t *)&c->tcp, falloc_cb, fread_cb);
}

static struct srv *srv_new(struct env *e, enum kind k)
{
	struct srv *s = &e->srv[e->n_srv++];
	struct sockaddr_in sa;
	int len = sizeof(sa);
	memset(s, 0, sizeof(*s));
	s->env = e;
	s->kind = k;
	uv_tcp_init(&e->loop, &s->listen);
	s->listen.data = s;
	uv_ip4_addr("127.0.0.1", 0, &sa);
	assert_int_equal(uv_tcp_bind(&s->listen, (const struct sockaddr *)&sa, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&s->listen, 64, accept_cb), 0);
	uv_tcp_getsockname(&s->listen, (struct sockaddr *)&sa, &len);
	s->port = ntohs(sa.sin_port);
	return s;
}

/* A port nothing listens on: DIRECT to it is refused at once. */
static uint16_t closed_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	getsockname(fd, (struct sockaddr *)&sa, &len);
	close(fd);
	return ntohs(sa.sin_port);
}

/* ------------------------------------------------------------ relay */

/* False when the request was refused (401, as tund-relay answers). */
static bool relay_auth(struct fconn *c, const struct http_head *h)
{
	struct srv *s = c->srv;
	uint8_t key[KEY_LEN], nonce[RELAYPROTO_NONCE_LEN];
	const char *why = NULL;
	int64_t now = (int64_t)time(NULL) + s->skew_s;
	char tt[64];
	if (!s->check_auth)
		return true;
	if (relayproto_auth_check(s->priv, s->pub, h->target, http_field(h, "Tund-Key"),
				  http_field(h, "Tund-Time"), http_field(h, "Tund-Nonce"),
				  http_field(h, "Tund-Auth"), now, key, nonce, &why) == 0) {
		s->auth_ok++;
		return true;
	}
	s->auth_bad++;
	if (!s->refuse_auth)
		return true;
	if (s->time_hdr && !*s->time_hdr)
		tt[0] = '\0';
	else if (s->time_hdr)
		snprintf(tt, sizeof(tt), "Tund-Time: %s\r\n", s->time_hdr);
	else
		snprintf(tt, sizeof(tt), "Tund-Time: %lld\r\n", (long long)now);
	fsendf(c, "HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
	       "Connection: close\r\n%s\r\n%s\n", strlen(why) + 1, tt, why);
	fconn_finish(c);
	return false;
}

static struct fconn *relay_session(struct env *e, const char *token)
{
	for (struct fconn *c = e->conns; c; c = c->next)
		if (!c->closing && c->st == S_DOWN && !strcmp(c->token, token))
			return c;
	return NULL;
}

static void relay_chunk(struct fconn *down, const uint8_t *p, size_t n)
{
	char hdr[HTTP_CHUNK_HDR_MAX];
	if (!down || !n)
		return;
	fsend(down, hdr, http_chunk_header(hdr, n));
	fsend(down, p, n);
	fsend(down, "\r\n", 2);
}

static void relay_head(struct fconn *c, const struct http_head *h)
{
	struct srv *s = c->srv;
	uint64_t cl = 0;
	if (!strcmp(h->method, "GET") && http_field_has_token(h, "Upgrade", RELAYPROTO_UPGRADE)) {
		s->n_upgrade++;
		if (!relay_auth(c, h))
			return;
		fsendf(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n%s",
		       RELAYPROTO_UPGRADE, s->behind ? s->behind : "");
		c->st = S_ECHO;
	} else if (!strcmp(h->method, "GET")) {
		s->n_get++;
		if (!relay_auth(c, h))
			return;
		snprintf(c->token, sizeof(c->token), "%032x", ++s->n_tokens);
		fsendf(c, "HTTP/1.1 200 OK\r\nTund-Session: %s\r\nTransfer-Encoding: chunked\r\n"
		       "Cache-Control: no-store\r\nContent-Type: application/octet-stream\r\n\r\n", c->token);
		if (s->behind)
			relay_chunk(c, (const uint8_t *)s->behind, strlen(s->behind));
		c->st = S_DOWN;
	} else if (!strcmp(h->method, "POST") && !strncmp(h->target, RELAYPROTO_PATH_UP, strlen(RELAYPROTO_PATH_UP))) {
		s->n_post++;
		snprintf(c->token, sizeof(c->token), "%s", h->target + strlen(RELAYPROTO_PATH_UP));
		if (!relay_session(s->env, c->token) || http_content_length(h, 1 << 30, &cl) < 0) {
			fsendf(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
			fconn_finish(c);
			return;
		}
		c->body_left = cl;
		c->st = S_BODY;
		if (!cl) {
			fsendf(c, "HTTP/1.1 204 No Content\r\n\r\n");
			c->st = S_HEAD;
		}
	} else {
		fsendf(c, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n");
		fconn_finish(c);
	}
}

static void relay_input(struct fconn *c)
{
	while (!c->closing && c->len) {
		if (c->st == S_ECHO) {
			record(c->srv, c->in, c->len);
			fsend(c, c->in, c->len);
			c->len = 0;
		} else if (c->st == S_DOWN) {
			c->len = 0;
		} else if (c->st == S_BODY) {
			size_t k = c->len < c->body_left ? c->len : (size_t)c->body_left;
			record(c->srv, c->in, k);
			relay_chunk(relay_session(c->srv->env, c->token), c->in, k);
			consume(c, k);
			if ((c->body_left -= k) == 0) {
				fsendf(c, "HTTP/1.1 204 No Content\r\n\r\n");
				c->st = S_HEAD;
			}
		} else {
			struct http_head h;
			const char *why;
			int rc = http_parse_head(c->in, c->len, true, &h, &why);
			if (rc <= 0) {
				if (rc < 0)
					fconn_close(c);
				return;
			}
			consume(c, h.head_len);
			relay_head(c, &h);
		}
	}
}

/* ------------------------------------------------------------ proxy */

static void up_connect_cb(uv_connect_t *req, int status)
{
	struct fconn *u = req->data;
	if (u->closing)
		return;
	if (status < 0 || !u->peer) {
		if (u->peer) {
			fsendf(u->peer, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
			u->peer->peer = NULL;
			fconn_finish(u->peer);
			u->peer = NULL;
		}
		fconn_close(u);
		return;
	}
	u->ready = true;
	uv_read_start((uv_stream_t *)&u->tcp, falloc_cb, fread_cb);
	if (u->peer->tunnel)
		fsendf(u->peer, "HTTP/1.1 200 Connection established\r\n\r\n");
	fsend(u, u->pend, u->pend_len);
	u->pend_len = 0;
}

/* The client's upstream connection, opened on first use. */
static struct fconn *upstream(struct fconn *c, uint16_t port)
{
	struct srv *s = c->srv;
	struct sockaddr_in sa;
	if (c->peer)
		return c->peer;
	struct fconn *u = fconn_new(s);
	u->upstream = true;
	u->peer = c;
	c->peer = u;
	uv_ip4_addr("127.0.0.1", port == s->map_from ? s->map_to : port, &sa);
	u->creq.data = u;
	if (uv_tcp_connect(&u->creq, &u->tcp, (const struct sockaddr *)&sa, up_connect_cb) < 0)
		fconn_close(u);
	return u;
}

static void proxy_refuse(struct fconn *c)
{
	fsendf(c, "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n\r\ndenied\n");
	fconn_finish(c);
}

static void proxy_request(struct fconn *c, const struct http_head *h)
{
	struct srv *s = c->srv;
	char head[4096];
	uint64_t cl = 0;
	bool upg = http_field(h, "Upgrade") != NULL;
	const char *colon = strrchr(h->target, ':');
	const char *path = http_origin_form(h->target);
	if (!colon || !path) {
		fconn_close(c);
		return;
	}
	uint16_t port = (uint16_t)atoi(colon + 1);
	s->n_get += !strcmp(h->method, "GET") && !upg;
	s->n_post += !strcmp(h->method, "POST");
	s->n_upgrade += upg;
	if ((upg && s->upg == UPG_REFUSE) || (!upg && s->refuse_get && !strcmp(h->method, "GET"))) {
		proxy_refuse(c);
		return;
	}
	bool pass = upg && s->upg == UPG_PASS;
	int o = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\n", h->method, path);
	for (unsigned i = 0; i < h->n_fields; i++) {
		const char *n = h->fields[i].name;
		if (!pass && (!strcasecmp(n, "Connection") || !strcasecmp(n, "Upgrade")))
			continue;
		o += snprintf(head + o, sizeof(head) - (size_t)o, "%s: %s\r\n", n, h->fields[i].value);
	}
	o += snprintf(head + o, sizeof(head) - (size_t)o, "Via: 1.1 fakeproxy\r\n\r\n");
	fsend(upstream(c, port), head, (size_t)o);
	if (pass) {
		c->st = S_SPLICE;
		return;
	}
	http_content_length(h, 1 << 30, &cl);
	c->body_left = cl;
	c->st = cl ? S_BODY : S_HEAD;
	if (!strcmp(h->method, "POST") && s->close_after_post)
		c->close_on_answer = true;
}

static void proxy_input(struct fconn *c)
{
	while (!c->closing && c->len) {
		if (c->st == S_SPLICE) {
			if (c->peer)
				fsend(c->peer, c->in, c->len);
			c->len = 0;
		} else if (c->st == S_BODY) {
			size_t k = c->len < c->body_left ? c->len : (size_t)c->body_left;
			fsend(c->peer, c->in, k);
			consume(c, k);
			if ((c->body_left -= k) == 0)
				c->st = S_HEAD;
		} else {
			struct http_head h;
			const char *why;
			int rc = http_parse_head(c->in, c->len, true, &h, &why);
			if (rc <= 0) {
				if (rc < 0)
					fconn_close(c);
				return;
			}
			consume(c, h.head_len);
			if (strcmp(h.method, "CONNECT")) {
				proxy_request(c, &h);
				continue;
			}
			c->srv->n_connect++;
			if (!c->srv->allow_connect) {
				proxy_refuse(c);
				return;
			}
			const char *colon = strrchr(h.target, ':');
			c->st = S_SPLICE;
			c->tunnel = true;
			upstream(c, colon ? (uint16_t)atoi(colon + 1) : 0);
		}
	}
}

/* -------------------------------------------------------- the client */

struct tc {
	struct env *e;
	struct tlink *l;
	unsigned ups, downs;
	int err;
	unsigned status;
	char why[400];
	uint8_t *rx;
	size_t rx_len;
	bool close_in_up, close_in_data;
	unsigned clocks, downs_at_clock;
	int64_t relay_unix;
	bool clock_link_null;
};

static void tc_up(void *arg, struct tlink *l)
{
	struct tc *t = arg;
	t->ups++;
	t->l = l;
	if (t->close_in_up) {
		tlink_close(l);
		t->l = NULL;
	}
}

static void tc_data(void *arg, struct tlink *l, const uint8_t *buf, size_t len)
{
	struct tc *t = arg;
	t->rx = realloc(t->rx, t->rx_len + len);
	memcpy(t->rx + t->rx_len, buf, len);
	t->rx_len += len;
	if (t->close_in_data) {
		tlink_close(l);
		t->l = NULL;
	}
}

static void tc_down(void *arg, struct tlink *l, int err, unsigned status, const char *why)
{
	struct tc *t = arg;
	t->downs++;
	t->err = err;
	t->status = status;
	snprintf(t->why, sizeof(t->why), "%s", why);
	t->l = NULL;
}

static void tc_clock(void *arg, struct tlink *l, int64_t relay_unix)
{
	struct tc *t = arg;
	t->clocks++;
	t->downs_at_clock = t->downs;
	t->relay_unix = relay_unix;
	t->clock_link_null = l == NULL;
}

static const struct tlink_ops tc_ops = { .up = tc_up, .data = tc_data, .down = tc_down, .clock = tc_clock };

/* ------------------------------------------------------------ setup */

static void tick_cb(uv_timer_t *h) {}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	uv_loop_init(&e->loop);
	uv_timer_init(&e->loop, &e->tick);
	e->d = calloc(1, sizeof(*e->d));
	e->d->loop = &e->loop;
	snprintf(e->d->tun.name, sizeof(e->d->tun.name), "tundtest0");
	snprintf(e->dir, sizeof(e->dir), "/tmp/test_tlink.XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	char path[128];
	for (unsigned i = 0; i < e->n_srv; i++) {
		uv_close((uv_handle_t *)&e->srv[i].listen, NULL);
		free(e->srv[i].got);
	}
	for (struct fconn *c = e->conns; c; c = c->next)
		fconn_close(c);
	uv_close((uv_handle_t *)&e->tick, NULL);
	for (int i = 0; i < 2000 && uv_run(&e->loop, UV_RUN_NOWAIT); i++)
		usleep(1000);
	assert_int_equal(uv_loop_close(&e->loop), 0); /* every handle closed */
	snprintf(path, sizeof(path), "%s/methods", e->dir);
	unlink(path);
	rmdir(e->dir);
	free(e->d);
	free(e);
	return 0;
}

static void start_tick(struct env *e)
{
	uv_timer_start(&e->tick, tick_cb, 10, 10);
}

static struct tlink_target target(const char *path, uint16_t port)
{
	struct tlink_target t;
	memset(&t, 0, sizeof(t));
	snprintf(t.host, sizeof(t.host), "127.0.0.1");
	t.port = port;
	if (path) {
		t.http = true;
		snprintf(t.path, sizeof(t.path), "%s", path);
	}
	return t;
}

static struct tlink_proxy proxy_at(uint16_t port)
{
	struct tlink_proxy p = { .set = true, .port = port };
	snprintf(p.host, sizeof(p.host), "127.0.0.1");
	return p;
}

static uint8_t *payload(void)
{
	uint8_t *p = malloc(PAYLOAD_LEN);
	uint32_t x = 2463534242u;
	for (size_t i = 0; i < PAYLOAD_LEN; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		p[i] = (uint8_t)x;
	}
	return p;
}

/* Opens a link, waits for up, sends the payload (in pieces, some as two
 * halves), expects prefix + payload back. */
static void echo_through(struct env *e, const struct tlink_target *t, const struct tlink_proxy *p,
			 enum tlink_method m, const char *prefix)
{
	struct tc c = { .e = e };
	struct tlink *l;
	uint8_t *pl = payload();
	size_t plen = strlen(prefix);
	start_tick(e);
	assert_int_equal(tlink_open(&l, &e->loop, t, p, m, &tc_ops, &c), 0);
	assert_int_equal(tlink_write(l, pl, 10), -ENOTCONN);
	RUN_UNTIL(e, c.ups || c.downs, 3000);
	if (c.downs)
		fail_msg("down: %s", c.why);
	assert_int_equal(c.ups, 1);
	assert_ptr_equal(c.l, l);
	assert_int_equal(tlink_method(l), m);
	for (size_t off = 0; off < PAYLOAD_LEN;) {
		size_t n = PAYLOAD_LEN - off < 16000 ? PAYLOAD_LEN - off : 16000;
		if (off % 32000)
			assert_int_equal(tlink_write(l, pl + off, n), 0);
		else
			assert_int_equal(tlink_write2(l, pl + off, n / 3, pl + off + n / 3, n - n / 3), 0);
		off += n;
	}
	RUN_UNTIL(e, c.rx_len >= plen + PAYLOAD_LEN || c.downs, 10000);
	assert_int_equal(c.downs, 0);
	assert_int_equal(c.rx_len, plen + PAYLOAD_LEN);
	assert_memory_equal(c.rx, prefix, plen);
	assert_memory_equal(c.rx + plen, pl, PAYLOAD_LEN);
	RUN_UNTIL(e, tlink_queued(l) == 0, 2000);
	assert_int_equal(tlink_queued(l), 0);
	tlink_close(l);
	RUN_UNTIL(e, false, 50);
	assert_int_equal(c.downs, 0); /* tlink_close calls nothing */
	free(c.rx);
	free(pl);
}

/* ------------------------------------------------------------ tests */

static void test_direct_raw(void **state)
{
	struct env *e = *state;
	struct srv *echo = srv_new(e, K_ECHO);
	struct tlink_target t = target(NULL, echo->port);
	echo_through(e, &t, NULL, TLINK_DIRECT, "");
}

static void test_direct_upgrade_auth_behind(void **state)
{
	struct env *e = *state;
	struct srv *r = srv_new(e, K_RELAY);
	struct tlink_target t = target(RELAYPROTO_PATH_LISTEN, r->port);
	r->behind = "FIRST-FRAME";
	r->check_auth = true;
	randombytes_buf(r->priv, KEY_LEN);
	crypto_scalarmult_base(r->pub, r->priv);
	randombytes_buf(t.priv, KEY_LEN);
	crypto_scalarmult_base(t.pub, t.priv);
	memcpy(t.relay_pub, r->pub, KEY_LEN);
	t.auth = true;
	echo_through(e, &t, NULL, TLINK_DIRECT, "FIRST-FRAME");
	assert_int_equal(r->n_upgrade, 1);
	assert_int_equal(r->auth_ok, 1);
	assert_int_equal(r->auth_bad, 0);
}

static void test_connect_raw_and_http(void **state)
{
	struct env *e = *state;
	struct srv *echo = srv_new(e, K_ECHO), *r = srv_new(e, K_RELAY), *px = srv_new(e, K_PROXY);
	struct tlink_proxy p = proxy_at(px->port);
	struct tlink_target raw = target(NULL, echo->port), http = target(RELAYPROTO_PATH_MEDIATOR, r->port);
	px->allow_connect = true;
	r->behind = "B";
	echo_through(e, &raw, &p, TLINK_CONNECT, "");
	echo_through(e, &http, &p, TLINK_CONNECT, "B");
	assert_int_equal(px->n_connect, 2);
	assert_int_equal(r->n_upgrade, 1);
}

static void test_upgrade_through_proxy(void **state)
{
	struct env *e = *state;
	struct srv *r = srv_new(e, K_RELAY), *px = srv_new(e, K_PROXY);
	struct tlink_proxy p = proxy_at(px->port);
	struct tlink_target t = target(RELAYPROTO_PATH_CONNECT "sys", r->port);
	px->upg = UPG_PASS;
	r->behind = "xyz";
	echo_through(e, &t, &p, TLINK_UPGRADE, "xyz");
	assert_int_equal(px->n_upgrade, 1);
	assert_int_equal(px->n_connect, 0);
	assert_int_equal(r->n_upgrade, 1);
}

static void test_poll_direct(void **state)
{
	struct env *e = *state;
	struct srv *r = srv_new(e, K_RELAY);
	struct tlink_target t = target(RELAYPROTO_PATH_LISTEN, r->port);
	r->behind = "behind-the-200";
	echo_through(e, &t, NULL, TLINK_POLL, "behind-the-200");
	assert_int_equal(r->n_get, 1);
	assert_true(r->n_post >= 3); /* the empty one, then > TLINK_POST_MAX in at least two */
}

/* The proxy refuses CONNECT and Upgrade and closes the upstream
 * connection after every POST answer: POLL still carries everything. */
static void test_poll_through_refusing_proxy(void **state)
{
	struct env *e = *state;
	struct srv *r = srv_new(e, K_RELAY), *px = srv_new(e, K_PROXY);
	struct tlink_proxy p = proxy_at(px->port);
	struct tlink_target t = target(RELAYPROTO_PATH_LISTEN, r->port);
	px->upg = UPG_REFUSE;
	px->close_after_post = true;
	echo_through(e, &t, &p, TLINK_POLL, "");
	assert_int_equal(px->n_get, 1);
	assert_true(px->n_post >= 3);
	assert_int_equal(px->n_post, r->n_post);
}

static void expect_down(struct env *e, const struct tlink_target *t, const struct tlink_proxy *p,
			enum tlink_method m, unsigned status, const char *why_part, unsigned within_ms)
{
	struct tc c = { .e = e };
	struct tlink *l;
	start_tick(e);
	assert_int_equal(tlink_open(&l, &e->loop, t, p, m, &tc_ops, &c), 0);
	RUN_UNTIL(e, c.ups || c.downs, within_ms);
	assert_int_equal(c.ups, 0);
	assert_int_equal(c.downs, 1);
	assert_int_equal(c.status, status);
	assert_true(c.err < 0);
	if (!strstr(c.why, why_part))
		fail_msg("why \"%s\" lacks \"%s\"", c.why, why_part);
	RUN_UNTIL(e, false, 50);
	assert_int_equal(c.downs, 1); /* once */
}

static void test_refusals(void **state)
{
	struct env *e = *state;
	struct srv *r = srv_new(e, K_RELAY), *px = srv_new(e, K_PROXY);
	struct tlink_proxy p = proxy_at(px->port);
	struct tlink_target t = target(RELAYPROTO_PATH_LISTEN, r->port);
	char want[128];
	snprintf(want, sizeof(want), "proxy 127.0.0.1:%u answered 403 Forbidden to CONNECT 127.0.0.1:%u",
		 px->port, r->port);
	expect_down(e, &t, &p, TLINK_CONNECT, 403, want, 2000);
	px->upg = UPG_REFUSE;
	expect_down(e, &t, &p, TLINK_UPGRADE, 403, "403 Forbidden to GET http://", 2000);
	px->upg = UPG_STRIP; /* the relay then sees a poll request */
	expect_down(e, &t, &p, TLINK_UPGRADE, 200, "the Upgrade did not pass", 2000);
	px->refuse_get = true;
	expect_down(e, &t, &p, TLINK_POLL, 403, "403", 2000);
	struct tlink_target closed = target(NULL, closed_port());
	expect_down(e, &closed, NULL, TLINK_DIRECT, 0, "cannot connect to 127.0.0.1", 2000);
	struct tlink *l;
	struct tlink_target raw = target(NULL, 1);
	assert_int_equal(tlink_open(&l, &e->loop, &raw, &p, TLINK_UPGRADE, &tc_ops, NULL), -EINVAL);
	assert_int_equal(tlink_open(&l, &e->loop, &raw, &p, TLINK_POLL, &tc_ops, NULL), -EINVAL);
	assert_int_equal(tlink_open(&l, &e->loop, &t, NULL, TLINK_CONNECT, &tc_ops, NULL), -EINVAL);
	assert_int_equal(tlink_open(&l, &e->loop, &t, NULL, TLINK_UPGRADE, &tc_ops, NULL), -EINVAL);
}

static void test_setup_timeout(void **state)
{
	struct env *e = *state;
	struct srv *s = srv_new(e, K_SILENT);
	struct tlink_target t = target(RELAYPROTO_PATH_LISTEN, s->port);
	uint64_t t0 = uv_hrtime();
	expect_down(e, &t, NULL, TLINK_DIRECT, 0, "did not answer the Upgrade GET", TLINK_SETUP_MS + 1000);
	uint64_t ms = (uv_hrtime() - t0) / 1000000;
	assert_true(ms >= TLINK_SETUP_MS - 50 && ms < TLINK_SETUP_MS + 1000);
}

static void fill_until_full(struct env *e, const struct tlink_target *t, enum tlink_method m)
{
	struct tc c = { .e = e };
	struct tlink *l;
	static uint8_t chunk[64 * 1024];
	size_t total = 0;
	start_tick(e);
	assert_int_equal(tlink_open(&l, &e->loop, t, NULL, m, &tc_ops, &c), 0);
	RUN_UNTIL(e, c.ups || c.downs, 3000);
	assert_int_equal(c.ups, 1);
	for (int i = 0; i < 100; i++) { /* no loop turn: nothing is acknowledged */
		int rc = tlink_write(l, chunk, sizeof(chunk));
		if (rc == -ENOBUFS)
			break;
		assert_int_equal(rc, 0);
		total += sizeof(chunk);
	}
	assert_int_equal(total, TLINK_MAX_QUEUED);
	assert_int_equal(tlink_queued(l), TLINK_MAX_QUEUED);
	assert_int_equal(tlink_write(l, chunk, 1), -ENOBUFS);
	tlink_close(l);
	assert_int_equal(tlink_write(l, chunk, 1), -ENOTCONN);
	RUN_UNTIL(e, false, 50);
	assert_int_equal(c.downs, 0);
}

static void test_enobufs(void **state)
{
	struct env *e = *state;
	struct srv *s = srv_new(e, K_SILENT), *r = srv_new(e, K_RELAY);
	struct tlink_target raw = target(NULL, s->port), http = target(RELAYPROTO_PATH_LISTEN, r->port);
	fill_until_full(e, &raw, TLINK_DIRECT);
	fill_until_full(e, &http, TLINK_POLL);
}

static void test_close_inside_callbacks(void **state)
{
	struct env *e = *state;
	struct srv *r = srv_new(e, K_RELAY);
	struct tlink_target t = target(RELAYPROTO_PATH_LISTEN, r->port);
	struct tlink *l;
	r->behind = "data-right-away";
	for (int m = 0; m < 2; m++) {
		enum tlink_method meth = m ? TLINK_POLL : TLINK_DIRECT;
		struct tc up = { .e = e, .close_in_up = true }, data = { .e = e, .close_in_data = true };
		start_tick(e);
		assert_int_equal(tlink_open(&l, &e->loop, &t, NULL, meth, &tc_ops, &up), 0);
		assert_int_equal(tlink_open(&l, &e->loop, &t, NULL, meth, &tc_ops, &data), 0);
		RUN_UNTIL(e, up.ups && data.rx_len, 3000);
		RUN_UNTIL(e, false, 50);
		assert_int_equal(up.ups, 1);
		assert_int_equal(up.rx_len, 0); /* closed in up: nothing more */
		assert_int_equal(data.rx_len, strlen(r->behind));
		assert_int_equal(up.downs + data.downs, 0);
		free(data.rx);
	}
	/* Closed before the name lookup even finished. */
	struct tc c = { .e = e };
	assert_int_equal(tlink_open(&l, &e->loop, &t, NULL, TLINK_DIRECT, &tc_ops, &c), 0);
	tlink_close(l);
	RUN_UNTIL(e, false, 50);
	assert_int_equal(c.ups + c.downs, 0);
}

/* ------------------------------------------------------------ clock */

static void relay_keys(struct srv *r, struct tlink_target *t)
{
	randombytes_buf(r->priv, KEY_LEN);
	crypto_scalarmult_base(r->pub, r->priv);
	randombytes_buf(t->priv, KEY_LEN);
	crypto_scalarmult_base(t->pub, t->priv);
	memcpy(t->relay_pub, r->pub, KEY_LEN);
	t->auth = true;
}

/* Opens a link to a relay that refuses it; returns the client's record. */
static struct tc refused(struct env *e, const struct tlink_target *t, enum tlink_method m)
{
	struct tc c = { .e = e };
	struct tlink *l;
	start_tick(e);
	assert_int_equal(tlink_open(&l, &e->loop, t, NULL, m, &tc_ops, &c), 0);
	RUN_UNTIL(e, c.ups || c.downs, 3000);
	RUN_UNTIL(e, false, 30);
	assert_int_equal(c.ups, 0);
	assert_int_equal(c.downs, 1);
	assert_int_equal(c.status, 401);
	return c;
}

/* A relay 300 s ahead refuses our time with 401 and its clock, which
 * comes before down; signed with that offset, the link comes up. */
static void test_clock_skew(void **state)
{
	struct env *e = *state;
	struct srv *r = srv_new(e, K_RELAY);
	struct tlink_target t = target(RELAYPROTO_PATH_LISTEN, r->port);
	relay_keys(r, &t);
	r->check_auth = r->refuse_auth = true;
	r->skew_s = 300;
	for (int m = 0; m < 2; m++) {
		enum tlink_method meth = m ? TLINK_POLL : TLINK_DIRECT;
		t.clock_offset_s = 0;
		int64_t before = (int64_t)time(NULL);
		struct tc c = refused(e, &t, meth);
		assert_int_equal(c.clocks, 1);
		assert_int_equal(c.downs_at_clock, 0); /* before down */
		assert_false(c.clock_link_null);
		assert_true(c.relay_unix >= before + 300 && c.relay_unix <= (int64_t)time(NULL) + 300);
		t.clock_offset_s = c.relay_unix - (int64_t)time(NULL);
		unsigned ok = r->auth_ok;
		echo_through(e, &t, NULL, meth, "");
		assert_int_equal(r->auth_ok, ok + 1);
	}
	assert_int_equal(r->auth_bad, 2);
	/* The same relay 300 s behind. */
	r->skew_s = -300;
	t.clock_offset_s = 0;
	struct tc c = refused(e, &t, TLINK_DIRECT);
	assert_int_equal(c.clocks, 1);
	assert_true(c.relay_unix <= (int64_t)time(NULL) - 299);
}

/* Only a plain decimal Tund-Time is passed on; a 401 without one is just
 * a refusal. */
static void test_clock_bad_header(void **state)
{
	struct env *e = *state;
	struct srv *r = srv_new(e, K_RELAY);
	struct tlink_target t = target(RELAYPROTO_PATH_LISTEN, r->port);
	static const char *const bad[] = { "", "12x", "-5", "+1700000000", "1700000000000000000000", "0x10" };
	relay_keys(r, &t);
	r->check_auth = r->refuse_auth = true;
	r->skew_s = 1000;
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r->time_hdr = bad[i];
		struct tc c = refused(e, &t, TLINK_DIRECT);
		if (c.clocks)
			fail_msg("Tund-Time \"%s\" was taken", bad[i]);
	}
	/* A wrong key with a right clock: 401 and the clock (the owner sees
	 * that the clock does not explain it). */
	r->time_hdr = NULL;
	r->skew_s = 0;
	t.relay_pub[0] ^= 1;
	struct tc c = refused(e, &t, TLINK_POLL);
	assert_int_equal(c.clocks, 1);
	assert_true(c.relay_unix >= (int64_t)time(NULL) - 1 && c.relay_unix <= (int64_t)time(NULL));
}

/* ------------------------------------------------------- close + flush */

/* Handles on the loop that are not the fakes' nor closing: the links'. */
struct walk {
	struct env *e;
	unsigned n;
};

static void walk_cb(uv_handle_t *h, void *arg)
{
	struct walk *w = arg;
	struct env *e = w->e;
	if (uv_is_closing(h) || h == (uv_handle_t *)&e->tick)
		return;
	for (unsigned i = 0; i < e->n_srv; i++)
		if (h == (uv_handle_t *)&e->srv[i].listen)
			return;
	for (struct fconn *c = e->conns; c; c = c->next)
		if (h == (uv_handle_t *)&c->tcp)
			return;
	w->n++;
}

static unsigned link_handles(struct env *e)
{
	struct walk w = { .e = e };
	uv_walk(&e->loop, walk_cb, &w);
	return w.n;
}

/* A big write and a last word right behind it, then close-after-flush:
 * the far end gets all of it, the owner hears nothing more, and the link
 * is gone well within TLINK_FLUSH_MS (the fake relay closes on our FIN or
 * when the POLL session's GET goes). */
static void flush_through(struct env *e, struct srv *r, const struct tlink_target *t, enum tlink_method m)
{
	struct tc c = { .e = e };
	struct tlink *l;
	uint8_t *pl = payload(), last[TCPFRAME_HDR_LEN + 32];
	const char *why = "tund is shutting down";
	size_t n = strlen(why), big = 300 * 1024; /* <= PAYLOAD_LEN */
	tcpframe_header(last, TCPFRAME_CLOSE, n);
	memcpy(last + TCPFRAME_HDR_LEN, why, n);
	n += TCPFRAME_HDR_LEN;
	free(r->got);
	r->got = NULL;
	r->got_len = 0;
	start_tick(e);
	assert_int_equal(tlink_open(&l, &e->loop, t, NULL, m, &tc_ops, &c), 0);
	RUN_UNTIL(e, c.ups || c.downs, 3000);
	assert_int_equal(c.ups, 1);
	for (size_t off = 0; off < big; off += 60 * 1024)
		assert_int_equal(tlink_write(l, pl + off, 60 * 1024), 0);
	assert_int_equal(tlink_write(l, last, n), 0);
	assert_true(tlink_queued(l) > 0);
	size_t rx_before = c.rx_len;
	uint64_t t0 = uv_now(&e->loop);
	tlink_close_after_flush(l);
	RUN_UNTIL(e, link_handles(e) == 0, 3000);
	uint64_t ms = uv_now(&e->loop) - t0;
	assert_int_equal(link_handles(e), 0);
	if (ms >= TLINK_FLUSH_MS)
		fail_msg("%s: took the whole deadline (%llu ms)", tlink_method_name(m), (unsigned long long)ms);
	RUN_UNTIL(e, r->got_len >= big + n, 1000);
	assert_int_equal(r->got_len, big + n);
	assert_memory_equal(r->got, pl, big);
	assert_memory_equal(r->got + big, last, n);
	assert_int_equal(c.downs, 0);
	assert_int_equal(c.rx_len, rx_before); /* the echo was dropped, not delivered */
	free(c.rx);
	free(pl);
}

static void test_close_after_flush(void **state)
{
	struct env *e = *state;
	struct srv *r = srv_new(e, K_RELAY), *px = srv_new(e, K_PROXY);
	struct tlink_target t = target(RELAYPROTO_PATH_LISTEN, r->port);
	struct tlink_proxy p = proxy_at(px->port);
	flush_through(e, r, &t, TLINK_DIRECT);
	flush_through(e, r, &t, TLINK_POLL);
	/* POLL through a proxy that closes after every POST answer. */
	px->close_after_post = true;
	struct tc c = { .e = e };
	struct tlink *l;
	const char *word = "last word";
	r->got_len = 0;
	start_tick(e);
	assert_int_equal(tlink_open(&l, &e->loop, &t, &p, TLINK_POLL, &tc_ops, &c), 0);
	RUN_UNTIL(e, c.ups || c.downs, 3000);
	assert_int_equal(c.ups, 1);
	assert_int_equal(tlink_write(l, (const uint8_t *)word, strlen(word)), 0);
	tlink_close_after_flush(l);
	RUN_UNTIL(e, link_handles(e) == 0, 3000);
	assert_int_equal(link_handles(e), 0);
	assert_int_equal(r->got_len, strlen(word));
	assert_memory_equal(r->got, word, strlen(word));
	assert_int_equal(c.downs, 0);
}

/* A far end that neither reads nor closes: the link goes at the deadline. */
static void test_close_after_flush_deadline(void **state)
{
	struct env *e = *state;
	struct srv *s = srv_new(e, K_SILENT);
	struct tlink_target t = target(NULL, s->port);
	struct tc c = { .e = e };
	struct tlink *l;
	static uint8_t chunk[64 * 1024];
	s->no_read = true;
	start_tick(e);
	assert_int_equal(tlink_open(&l, &e->loop, &t, NULL, TLINK_DIRECT, &tc_ops, &c), 0);
	RUN_UNTIL(e, c.ups || c.downs, 3000);
	assert_int_equal(c.ups, 1);
	for (int i = 0; i < 16; i++)
		assert_int_equal(tlink_write(l, chunk, sizeof(chunk)), 0);
	uint64_t t0 = uv_now(&e->loop);
	tlink_close_after_flush(l);
	RUN_UNTIL(e, link_handles(e) == 0, 3000);
	uint64_t ms = uv_now(&e->loop) - t0;
	assert_int_equal(link_handles(e), 0);
	assert_true(ms >= TLINK_FLUSH_MS - 20 && ms < TLINK_FLUSH_MS + 500);
	assert_int_equal(c.downs, 0);

	/* Not up yet, or nothing queued: closes at once. */
	struct srv *r = srv_new(e, K_RELAY);
	struct tlink_target http = target(RELAYPROTO_PATH_LISTEN, r->port);
	assert_int_equal(tlink_open(&l, &e->loop, &http, NULL, TLINK_DIRECT, &tc_ops, &c), 0);
	tlink_close_after_flush(l);
	RUN_UNTIL(e, false, 20);
	assert_int_equal(link_handles(e), 0);
	assert_int_equal(tlink_open(&l, &e->loop, &http, NULL, TLINK_POLL, &tc_ops, &c), 0);
	RUN_UNTIL(e, c.ups == 2 || c.downs, 3000);
	assert_int_equal(c.ups, 2);
	t0 = uv_now(&e->loop);
	tlink_close_after_flush(l);
	RUN_UNTIL(e, link_handles(e) == 0, 1000);
	assert_true(uv_now(&e->loop) - t0 < 100);
	assert_int_equal(c.downs, 0);
}

/* ----------------------------------------------------------- dialer */

static struct dialer *new_dialer(struct env *e, uint16_t proxy_port)
{
	struct dialer *dl;
	char err[256] = "";
	e->d->cfg.has_http_proxy = proxy_port != 0;
	snprintf(e->d->cfg.http_proxy_host, sizeof(e->d->cfg.http_proxy_host), "127.0.0.1");
	e->d->cfg.http_proxy_port = proxy_port;
	snprintf(e->d->cfg.state_directory, sizeof(e->d->cfg.state_directory), "%s", e->dir);
	assert_int_equal(dialer_new(&dl, e->d, err, sizeof(err)), 0);
	return dl;
}

/* Dials, expects the winner to be m, checks it carries data, closes it. */
static void dial_expect(struct env *e, struct dialer *dl, const struct tlink_target *ts, unsigned n,
			enum tlink_method m)
{
	struct tc c = { .e = e };
	struct dial *dial;
	start_tick(e);
	assert_int_equal(dialer_dial(dl, ts, n, &tc_ops, &c, &dial), 0);
	RUN_UNTIL(e, c.ups || c.downs, 3000);
	if (c.downs)
		fail_msg("dial failed: %s", c.why);
	assert_int_equal(c.ups, 1);
	assert_int_equal(tlink_method(c.l), m);
	assert_int_equal(tlink_write(c.l, (const uint8_t *)"ping", 4), 0);
	RUN_UNTIL(e, c.rx_len >= 4, 2000);
	assert_int_equal(c.rx_len, 4);
	assert_memory_equal(c.rx, "ping", 4);
	tlink_close(c.l);
	RUN_UNTIL(e, false, 50);
	assert_int_equal(c.downs, 0);
	free(c.rx);
}

static void test_dialer_picks_ranks_persists(void **state)
{
	struct env *e = *state;
	struct srv *r = srv_new(e, K_RELAY), *px = srv_new(e, K_PROXY);
	uint16_t closed = closed_port();
	struct tlink_target t = target(RELAYPROTO_PATH_LISTEN, closed); /* direct: refused */
	char path[128], line[512], desc[512];
	px->map_from = closed;
	px->map_to = r->port;
	px->upg = UPG_REFUSE;
	struct dialer *dl = new_dialer(e, px->port);
	assert_true(dialer_proxy(dl)->set);
	dial_expect(e, dl, &t, 1, TLINK_POLL);
	assert_int_equal(px->n_connect, 1);
	assert_int_equal(px->n_upgrade, 1);
	/* Ranked: poll starts alone and wins before the others would start. */
	dial_expect(e, dl, &t, 1, TLINK_POLL);
	assert_int_equal(px->n_connect, 1);
	assert_int_equal(px->n_upgrade, 1);
	assert_int_equal(px->n_get, 2);
	dialer_describe(dl, desc, sizeof(desc));
	snprintf(line, sizeof(line), "127.0.0.1:%u: poll", closed);
	if (!strstr(desc, line))
		fail_msg("describe: %s", desc);
	dialer_free(dl);

	snprintf(path, sizeof(path), "%s/methods", e->dir);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	bool found = false;
	snprintf(desc, sizeof(desc), " http://127.0.0.1:%u poll\n", closed);
	while (fgets(line, sizeof(line), f))
		found |= line[0] != '#' && strstr(line, desc) != NULL;
	fclose(f);
	assert_true(found);
	f = fopen(path, "a");
	fprintf(f, "garbage line\nx|y http://1.2.3.4:5 warp\n");
	fclose(f);

	/* A new dialer reads the file (and skips the bad lines). */
	dl = new_dialer(e, px->port);
	dial_expect(e, dl, &t, 1, TLINK_POLL);
	assert_int_equal(px->n_connect, 1);
	assert_int_equal(px->n_upgrade, 1);
	/* CONNECT allowed now, but the ranking still says poll first. */
	px->allow_connect = true;
	dial_expect(e, dl, &t, 1, TLINK_POLL);
	assert_int_equal(px->n_connect, 1);
	dialer_free(dl);
}

static void test_dialer_direct_and_all_fail(void **state)
{
	struct env *e = *state;
	struct srv *echo = srv_new(e, K_ECHO), *px = srv_new(e, K_PROXY);
	struct tlink_target ts[2] = { target(RELAYPROTO_PATH_MEDIATOR, closed_port()), target(NULL, echo->port) };
	struct dialer *dl = new_dialer(e, 0);
	assert_false(dialer_proxy(dl)->set);
	dial_expect(e, dl, ts, 2, TLINK_DIRECT);
	dialer_free(dl);

	/* Everything refused: one down with no link and the proxy's answer. */
	struct tlink_target t = target(RELAYPROTO_PATH_MEDIATOR, closed_port());
	struct tc c = { .e = e };
	struct dial *dial;
	px->upg = UPG_REFUSE;
	px->refuse_get = true;
	dl = new_dialer(e, px->port);
	start_tick(e);
	assert_int_equal(dialer_dial(dl, &t, 1, &tc_ops, &c, &dial), 0);
	RUN_UNTIL(e, c.ups || c.downs, 3000);
	assert_int_equal(c.ups, 0);
	assert_int_equal(c.downs, 1);
	assert_int_equal(c.status, 403);
	assert_non_null(strstr(c.why, "403"));

	/* Cancelled dials and a freed dialer leave nothing running. */
	assert_int_equal(dialer_dial(dl, &t, 1, &tc_ops, &c, &dial), 0);
	dial_cancel(dial);
	assert_int_equal(dialer_dial(dl, &t, 1, &tc_ops, &c, &dial), 0);
	dialer_free(dl);
	RUN_UNTIL(e, false, 100);
	assert_int_equal(c.downs, 1);
}

static void test_dialer_proxy_from_env(void **state)
{
	struct env *e = *state;
	struct dialer *dl;
	char err[256] = "";
	setenv("HTTP_PROXY", "http://192.0.2.1:8080", 1);
	setenv("https_proxy", "http://198.51.100.9:3128/", 1);
	assert_int_equal(dialer_new(&dl, e->d, err, sizeof(err)), 0);
	assert_true(dialer_proxy(dl)->set);
	assert_string_equal(dialer_proxy(dl)->host, "198.51.100.9");
	assert_int_equal(dialer_proxy(dl)->port, 3128);
	dialer_free(dl);
	/* An unusable value is skipped with a warning (the next variable
	 * wins); a value without a scheme is read as http, as curl does. */
	setenv("https_proxy", "socks5://198.51.100.9:1080", 1);
	assert_int_equal(dialer_new(&dl, e->d, err, sizeof(err)), 0);
	assert_string_equal(dialer_proxy(dl)->host, "192.0.2.1");
	assert_int_equal(dialer_proxy(dl)->port, 8080);
	dialer_free(dl);
	setenv("https_proxy", "198.51.100.9:3129", 1);
	assert_int_equal(dialer_new(&dl, e->d, err, sizeof(err)), 0);
	assert_string_equal(dialer_proxy(dl)->host, "198.51.100.9");
	assert_int_equal(dialer_proxy(dl)->port, 3129);
	dialer_free(dl);
	unsetenv("https_proxy");
	unsetenv("HTTP_PROXY");
}

/* The dialer passes each contender's clock on (link NULL) before its
 * one down for the dial. */
static void test_dialer_clock(void **state)
{
	struct env *e = *state;
	struct srv *r = srv_new(e, K_RELAY);
	struct tlink_target t = target(RELAYPROTO_PATH_CONNECT "sys", r->port);
	struct tc c = { .e = e };
	struct dial *dial;
	relay_keys(r, &t);
	r->check_auth = r->refuse_auth = true;
	r->skew_s = 500;
	struct dialer *dl = new_dialer(e, 0);
	start_tick(e);
	assert_int_equal(dialer_dial(dl, &t, 1, &tc_ops, &c, &dial), 0);
	RUN_UNTIL(e, c.downs, 3000);
	RUN_UNTIL(e, false, 30);
	assert_int_equal(c.downs, 1);
	assert_int_equal(c.status, 401);
	assert_true(c.clocks >= 1); /* DIRECT's, and POLL's once it started */
	assert_int_equal(c.downs_at_clock, 0);
	assert_true(c.clock_link_null);
	assert_true(c.relay_unix >= (int64_t)time(NULL) + 498);
	t.clock_offset_s = c.relay_unix - (int64_t)time(NULL);
	dial_expect(e, dl, &t, 1, TLINK_DIRECT);
	dialer_free(dl);
}

/* relaylink.c, the dialer and tlink together against a relay 300 s
 * ahead: the pool's dial is refused, repeated at once with the relay's
 * time, and comes up. With a wrong relay key as well, the repeat is
 * refused too and nothing more is tried before the backoff. */
static void test_relaylink_clock(void **state)
{
	struct env *e = *state;
	struct srv *r = srv_new(e, K_RELAY);
	struct daemon *d = e->d;
	struct tlink_target keys = target(NULL, 0);
	char desc[400];
	relay_keys(r, &keys);
	memcpy(d->self.priv, keys.priv, KEY_LEN);
	memcpy(d->self.pub, keys.pub, KEY_LEN);
	d->cfg.publish = d->cfg.has_relay = true;
	d->cfg.relay_pool = 1;
	snprintf(d->cfg.relay_host, sizeof(d->cfg.relay_host), "127.0.0.1");
	d->cfg.relay_port = r->port;
	memcpy(d->cfg.relay_key, r->pub, KEY_LEN);
	r->check_auth = r->refuse_auth = true;
	r->skew_s = 300;
	d->dialer = new_dialer(e, 0);
	start_tick(e);
	assert_int_equal(relaylink_new(&d->relay, d), 0);
	RUN_UNTIL(e, relaylink_pool_idle(d->relay) == 1, 3000);
	assert_int_equal(relaylink_pool_idle(d->relay), 1);
	assert_int_equal(r->auth_ok, 1);
	assert_int_equal(r->auth_bad, 2); /* DIRECT, then POLL at once */
	relaylink_describe(d->relay, desc, sizeof(desc));
	if (!strstr(desc, "; its clock +30") || strstr(desc, "last error"))
		fail_msg("describe: %s", desc);
	relaylink_close(d->relay);

	r->auth_bad = r->auth_ok = 0;
	d->cfg.relay_key[0] ^= 1; /* another key: every MAC is wrong */
	assert_int_equal(relaylink_new(&d->relay, d), 0);
	RUN_UNTIL(e, r->auth_bad >= 4, 3000);
	RUN_UNTIL(e, false, 250); /* the backoff is at least 375 ms */
	assert_int_equal(r->auth_bad, 4); /* two dials of two methods */
	assert_int_equal(r->auth_ok, 0);
	assert_int_equal(relaylink_pool_idle(d->relay), 0);
	relaylink_describe(d->relay, desc, sizeof(desc));
	if (!strstr(desc, "last error: relay: the relay refused our key (401) though we signed with its time (+30"))
		fail_msg("describe: %s", desc);
	relaylink_close(d->relay);
	d->relay = NULL;
	dialer_free(d->dialer);
	d->dialer = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_direct_raw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_direct_upgrade_auth_behind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_raw_and_http, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upgrade_through_proxy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_poll_direct, setup, teardown),
		cmocka_unit_test_setup_teardown(test_poll_through_refusing_proxy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_setup_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enobufs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_inside_callbacks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clock_skew, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clock_bad_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_after_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_after_flush_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dialer_picks_ranks_persists, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dialer_direct_and_all_fail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dialer_proxy_from_env, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dialer_clock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relaylink_clock, setup, teardown),
	};
	if (sodium_init() < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN); /* as tund does: a write to a closed peer fails */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
