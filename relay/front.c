/*
 * front.c - see front.h.
 *
 * The front keeps no state per connection: a connection it owns is
 * either reading a request head (the bytes so far in the connection's
 * head buffer when the head came in pieces) or idle between keep-alive
 * requests. Each read is worked through in a loop: a head, its handling,
 * and what the handling left of the input (a POST body's successor) as
 * the next head. A handler either leaves the connection with the front
 * and says how much input it used, or gives it away (answered and
 * closed, spliced, pooled, a Poll session's, the gateway's) and the loop
 * ends. The parsed head lives in the front (one at a time: nothing runs
 * between parsing a head and handling it).
 */
#include "front.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "gateway.h"
#include "httpmsg.h"
#include "log.h"
#include "medproto.h"
#include "noncecache.h"
#include "pollsess.h"
#include "relay.h"
#include "relayproto.h"
#include "srclimit.h"

struct front {
	struct front_config cfg;
	uv_tcp_t listener;
	bool listening;
	struct gateway *gateway;
	struct pollsess_ops pops;
	struct http_head head;           /* the head being handled */
};

enum route { R_NONE, R_LISTEN, R_CONNECT, R_MEDIATOR, R_UP };

/* A request, once its head is parsed. */
struct req {
	struct conn *c;
	const struct http_head *h;
	const char *target;              /* origin form: what Tund-Auth covers */
	const char *arg;                 /* after the route's prefix */
	bool upgrade;
	const uint8_t *rest;             /* input after the head */
	size_t rest_len;
};

static void feed(struct front *f, struct conn *c, const uint8_t *buf, size_t len);

static const char *phrase(unsigned status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 502: return "Bad Gateway";
	default:  return "Service Unavailable";
	}
}

static void log_refusal(struct conn *c, unsigned status, const char *why)
{
	uint32_t a = conn_peer_addr(c);

	log_debug("%u.%u.%u.%u:%u: %u %s", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255,
		  conn_peer_port(c), status, why);
}

/* An error answer (reason as a text/plain body), then the close. */
static void refuse(struct front *f, struct conn *c, unsigned status, const char *why)
{
	static const struct conn_ops none;
	char extra[64] = "", buf[512];

	if (status == 401)
		snprintf(extra, sizeof(extra), "Tund-Time: %" PRId64 "\r\n", (int64_t)time(NULL));
	else if (status == 405)
		snprintf(extra, sizeof(extra), "Allow: GET, POST\r\n");
	int n = snprintf(buf, sizeof(buf),
			 "HTTP/1.1 %u %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
			 "Content-Length: %zu\r\nCache-Control: no-store\r\nConnection: close\r\n%s\r\n%s\n",
			 status, phrase(status), strlen(why) + 1, extra, why);
	log_refusal(c, status, why);
	conn_set_owner(c, &none, NULL);
	conn_head_clear(c);
	conn_write(c, buf, n < (int)sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
	conn_close(c);
}

/* A refusal for a request that is wrong in itself (counted). */
static void bad(struct front *f, struct conn *c, unsigned status, const char *why)
{
	f->cfg.st->bad_requests++;
	refuse(f, c, status, why);
}

void front_refuse(void *front, struct conn *c, unsigned status, const char *why)
{
	refuse(front, c, status, why);
}

/* The answer that makes c a tunnel: 101, or 200 and a Poll session. */
struct stream *front_answer(void *front, struct conn *c, bool upgrade)
{
	static const char r101[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
				   "Upgrade: " RELAYPROTO_UPGRADE "\r\n\r\n";
	struct front *f = front;

	if (upgrade) {
		conn_head_clear(c);
		conn_write(c, r101, sizeof(r101) - 1);
		return conn_stream(c, "upgrade");
	}
	struct stream *s = pollsess_open(f->cfg.polls, &f->pops, c);
	if (s)
		f->cfg.st->poll_sessions++;
	else
		refuse(f, c, 503, "relay out of memory");
	return s;
}

/* Bytes that came with the head, for a stream just made: raised as its
 * data event (we are in the connection's read callback). */
static void deliver(struct stream *s, const uint8_t *buf, size_t len)
{
	if (len && s->cb && s->cb->data)
		s->cb->data(s->arg, s, buf, len);
}

static void fmt_peer(char out[ENDPOINT_STR_LEN], struct conn *c)
{
	struct endpoint ep = { conn_peer_addr(c), conn_peer_port(c) };

	endpoint_format(out, &ep);
}

/* ------------------------------------------------------------ checks */

/* Tund-* headers and the nonce: 0 and the tund's key, or -1 (refused). */
static int authenticate(struct front *f, const struct req *r, uint8_t key[KEY_LEN])
{
	const struct http_head *h = r->h;
	int64_t now = (int64_t)time(NULL);
	uint8_t nonce[RELAYPROTO_NONCE_LEN];
	const char *why = "authentication failed";
	int rc = relayproto_auth_check(f->cfg.priv, f->cfg.pub, r->target, http_field(h, "Tund-Key"),
				       http_field(h, "Tund-Time"), http_field(h, "Tund-Nonce"),
				       http_field(h, "Tund-Auth"), now, key, nonce, &why);
	if (rc == 0) {
		int64_t t = strtoll(http_field(h, "Tund-Time"), NULL, 10);
		rc = noncecache_check(f->cfg.nonces, nonce, t, now);
		if (rc == -EALREADY)
			why = "nonce already used (a replayed request)";
		else if (rc == -ESTALE)
			why = "Tund-Time too old for the relay's nonce cache; retry with the current time";
		if (rc < 0)
			f->cfg.st->replays++;
	} else if (rc == -ETIME) {
		f->cfg.st->clock_refused++;
	}
	if (rc < 0) {
		f->cfg.st->auth_failures++;
		refuse(f, r->c, 401, why);
		return -1;
	}
	return 0;
}

/* Rate, body, version: what every listen, connect and gateway request
 * must pass first. 0 or -1 (refused). */
static int tunnel_checks(struct front *f, const struct req *r)
{
	const struct http_head *h = r->h;
	uint64_t cl = 0;

	if (f->cfg.limit && !srclimit_allow(f->cfg.limit, conn_peer_addr(r->c), uv_now(f->cfg.loop))) {
		f->cfg.st->rate_limited++;
		refuse(f, r->c, 429, "too many requests from this address");
		return -1;
	}
	if (http_field(h, "Transfer-Encoding") ||
	    (http_content_length(h, UINT64_MAX, &cl) != -ENOENT && cl != 0)) {
		bad(f, r->c, 400, "this request must not have a body");
		return -1;
	}
	if (h->version_minor < 1) {
		bad(f, r->c, 400, "HTTP/1.1 is required");
		return -1;
	}
	if (http_field(h, "Upgrade") && !http_field_has_token(h, "Upgrade", RELAYPROTO_UPGRADE)) {
		bad(f, r->c, 400, "unsupported Upgrade (only " RELAYPROTO_UPGRADE ")");
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------- handlers */

static void do_listen(struct front *f, const struct req *r)
{
	uint8_t key[KEY_LEN], system[UUID_LEN];
	const char *sid = http_field(r->h, "Tund-Server-Id");

	if (tunnel_checks(f, r) < 0 || authenticate(f, r, key) < 0)
		return;
	if (sid && !medproto_server_id_ok(sid)) {
		bad(f, r->c, 400, "Tund-Server-Id is not a server id (1..63 of a-z, 0-9, '-')");
		return;
	}
	key_system_id(system, key);
	if (log_get_level() >= LOG_LVL_DEBUG) {
		char id[UUID_STR_LEN + 1], peer[ENDPOINT_STR_LEN];
		uuid_format(id, system);
		fmt_peer(peer, r->c);
		log_debug("pool: %s%s%s from %s (%s)", sid ? sid : "", sid ? "." : "", id, peer,
			  r->upgrade ? "upgrade" : "poll");
	}
	struct stream *s = front_answer(f, r->c, r->upgrade);
	if (!s)
		return;
	if (relay_listen(f->cfg.relay, s, system, sid) < 0) {
		stream_close(s);
		return;
	}
	if (r->upgrade)
		deliver(s, r->rest, r->rest_len);
}

struct answer_ctx {
	struct front *f;
	struct conn *c;
	bool upgrade;
	struct stream *s;
};

static struct stream *answer_cb(void *arg)
{
	struct answer_ctx *a = arg;

	a->s = front_answer(a->f, a->c, a->upgrade);
	return a->s;
}

static void do_connect(struct front *f, const struct req *r)
{
	uint8_t key[KEY_LEN], system[UUID_LEN];
	char sid[MEDPROTO_SERVER_ID_MAX];
	struct answer_ctx a = { .f = f, .c = r->c, .upgrade = r->upgrade };

	if (tunnel_checks(f, r) < 0 || authenticate(f, r, key) < 0)
		return;
	if (medproto_target_parse(r->arg, sid, system) < 0) {
		bad(f, r->c, 400, "the target is not SYSTEM-UUID or SERVER-ID.SYSTEM-UUID");
		return;
	}
	char peer[ENDPOINT_STR_LEN], k64[KEY_B64_LEN + 1];
	fmt_peer(peer, r->c);
	key_to_base64(k64, key);
	int rc = relay_connect(f->cfg.relay, system, sid, key, answer_cb, &a);
	if (rc == -ENOENT) {
		log_info("connect to %s from %s (key %s): offline", r->arg, peer, k64);
		refuse(f, r->c, 404, "offline: no idle connection of the target at this relay");
		return;
	}
	if (rc < 0)
		return;
	log_info("session: %s (key %s, %s) to %s", peer, k64, r->upgrade ? "upgrade" : "poll", r->arg);
	if (r->upgrade)
		deliver(a.s, r->rest, r->rest_len);
}

static void do_mediator(struct front *f, const struct req *r)
{
	if (!f->gateway) {
		refuse(f, r->c, 404, "this relay has no mediator gateway");
		return;
	}
	if (tunnel_checks(f, r) < 0)
		return;
	if (gateway_open(f->gateway, r->c, r->upgrade, r->rest, r->rest_len) < 0)
		refuse(f, r->c, 503, "relay out of memory");
}

static bool keep_alive(const struct http_head *h)
{
	if (http_field_has_token(h, "Connection", "close"))
		return false;
	return h->version_minor >= 1 || http_field_has_token(h, "Connection", "keep-alive");
}

/* 204 for a finished POST; false when the connection closes after it. */
static bool answer_upload(struct front *f, struct conn *c, bool keep)
{
	static const char keep204[] = "HTTP/1.1 204 No Content\r\n\r\n";
	static const char close204[] = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";

	f->cfg.st->uploads++;
	if (!keep) {
		conn_write(c, close204, sizeof(close204) - 1);
		conn_close(c);
		return false;
	}
	conn_write(c, keep204, sizeof(keep204) - 1);
	conn_set_timer(c, CONN_T_IDLE);
	return true;
}

/* Input used while the connection stays the front's, or -1. */
static ssize_t do_upload(struct front *f, const struct req *r)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	const struct http_head *h = r->h;
	struct pollsess *ps = pollsess_find(f->cfg.polls, r->arg);
	bool keep = keep_alive(h);
	uint64_t len;
	size_t used = 0;

	if (!ps) {
		refuse(f, r->c, 404, "no such poll session");
		return -1;
	}
	if (http_field(h, "Transfer-Encoding") || http_content_length(h, UINT64_MAX, &len) < 0) {
		bad(f, r->c, 400, "a POST needs a Content-Length (and no Transfer-Encoding)");
		return -1;
	}
	if (len > RELAY_POST_MAX) {
		bad(f, r->c, 413, "POST body over 16 MiB");
		return -1;
	}
	if (len > r->rest_len && http_field_has_token(h, "Expect", "100-continue"))
		conn_write(r->c, cont, sizeof(cont) - 1);
	int rc = pollsess_upload(ps, r->c, len, keep, r->rest, r->rest_len, &used);
	if (rc == -EBUSY) {
		bad(f, r->c, 400, "another POST for this session is still being received");
		return -1;
	}
	if (rc == -ENOENT) {
		refuse(f, r->c, 404, "no such poll session");
		return -1;
	}
	if (rc == 0)
		return -1;   /* the session has the connection until the body is in */
	return answer_upload(f, r->c, keep) ? (ssize_t)used : -1;
}

static void upload_done(void *ctx, struct conn *c, const uint8_t *rest, size_t len, bool keep);

/* The origin form of target (what Tund-Auth covers), or NULL. */
static const char *origin_form(const char *target)
{
	if (target[0] == '/')
		return target;
	if (strncasecmp(target, "http://", 7) == 0) {
		const char *p = strchr(target + 7, '/');
		return p ? p : "/";
	}
	return NULL;
}

static enum route route_of(const char *path, const char **arg)
{
	static const size_t lc = sizeof(RELAYPROTO_PATH_CONNECT) - 1, lu = sizeof(RELAYPROTO_PATH_UP) - 1;

	*arg = "";
	if (strcmp(path, RELAYPROTO_PATH_LISTEN) == 0)
		return R_LISTEN;
	if (strcmp(path, RELAYPROTO_PATH_MEDIATOR) == 0)
		return R_MEDIATOR;
	if (strncmp(path, RELAYPROTO_PATH_CONNECT, lc) == 0) {
		*arg = path + lc;
		return R_CONNECT;
	}
	if (strncmp(path, RELAYPROTO_PATH_UP, lu) == 0) {
		*arg = path + lu;
		return R_UP;
	}
	return R_NONE;
}

/* One parsed request: input used while c stays the front's, or -1. */
static ssize_t handle(struct front *f, struct conn *c, const uint8_t *rest, size_t rest_len)
{
	const struct http_head *h = &f->head;
	struct req r = { .c = c, .h = h, .rest = rest, .rest_len = rest_len };

	f->cfg.st->requests++;
	r.target = origin_form(h->target);
	if (!r.target) {
		bad(f, c, 400, "the request target is not a path");
		return -1;
	}
	enum route rt = route_of(r.target, &r.arg);
	bool post = strcmp(h->method, "POST") == 0;
	if (rt == R_NONE) {
		bad(f, c, 404, "no such resource");
		return -1;
	}
	if (post != (rt == R_UP) || (!post && strcmp(h->method, "GET") != 0)) {
		bad(f, c, 405, rt == R_UP ? "use POST for the upstream" : "use GET");
		return -1;
	}
	r.upgrade = http_field_has_token(h, "Connection", "upgrade") &&
		    http_field_has_token(h, "Upgrade", RELAYPROTO_UPGRADE);
	/* A GET that asked for neither lost its Upgrade on the way (proxies
	 * drop the hop-by-hop header): refuse it rather than hand it a poll
	 * session, which for a connect would use up a server's pool
	 * connection for nobody. */
	if (rt != R_UP && !r.upgrade && !http_field(h, RELAYPROTO_POLL_FIELD)) {
		bad(f, c, 426, "ask for Upgrade: " RELAYPROTO_UPGRADE ", or send " RELAYPROTO_POLL_FIELD
		    ": 1 for poll mode");
		return -1;
	}
	switch (rt) {
	case R_LISTEN: do_listen(f, &r); return -1;
	case R_CONNECT: do_connect(f, &r); return -1;
	case R_MEDIATOR: do_mediator(f, &r); return -1;
	default: return do_upload(f, &r);
	}
}

/* ------------------------------------------------------------- input */

/* Whether an incomplete head can still become a request: the parser
 * judges a line once it is whole, but a TLS hello or other binary has no
 * line end to wait for, so its first bytes are judged here. */
static bool plausible(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n && i < HTTP_METHOD_MAX; i++) {
		uint8_t ch = p[i];
		if (ch == ' ')
			return i > 0;
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		      ch == '-' || ch == '_'))
			return false;
	}
	return n < HTTP_METHOD_MAX;
}

/* Works a request head out of the input: 1 (f->head parsed; *used bytes
 * of buf were its end), 0 (all of buf kept for later), -1 (refused). */
static int take_head(struct front *f, struct conn *c, const uint8_t *buf, size_t len, size_t *used)
{
	const char *why = NULL;
	size_t have;
	int r;

	conn_head(c, &have);
	if (have == 0) {
		if (conn_timer(c) == CONN_T_IDLE)
			conn_set_timer(c, CONN_T_HEAD);
		r = http_parse_head(buf, len < HTTP_HEAD_MAX ? len : HTTP_HEAD_MAX, true, &f->head, &why);
		if (r == 1) {
			*used = f->head.head_len;
			return 1;
		}
		if (r == 0 && conn_head_append(c, buf, len, HTTP_HEAD_MAX) < 0) {
			refuse(f, c, 503, "relay out of memory");
			return -1;
		}
	} else {
		size_t take = len < HTTP_HEAD_MAX - have ? len : HTTP_HEAD_MAX - have;
		const uint8_t *all;
		if (conn_head_append(c, buf, take, HTTP_HEAD_MAX) < 0) {
			refuse(f, c, 503, "relay out of memory");
			return -1;
		}
		all = conn_head(c, &have);
		r = http_parse_head(all, have, true, &f->head, &why);
		if (r == 1) {
			*used = f->head.head_len - (have - take);
			conn_head_clear(c);
			return 1;
		}
		if (r == 0 && have >= HTTP_HEAD_MAX) {
			bad(f, c, 400, "request head too long");
			return -1;
		}
	}
	const uint8_t *sofar = conn_head(c, &have);
	if (r == 0 && !plausible(sofar, have)) {
		bad(f, c, 400, "not an HTTP request (this relay speaks plain HTTP/1.1)");
		return -1;
	}
	if (r == 0)
		return 0;
	bad(f, c, 400, why ? why : "malformed request head");
	return -1;
}

static void feed(struct front *f, struct conn *c, const uint8_t *buf, size_t len)
{
	/* bounded: every round uses at least the head's bytes */
	while (len > 0) {
		size_t used = 0;
		if (take_head(f, c, buf, len, &used) <= 0)
			return;
		ssize_t n = handle(f, c, buf + used, len - used);
		if (n < 0)
			return;
		buf += used + (size_t)n;
		len -= used + (size_t)n;
	}
}

static void front_read(void *owner, struct conn *c, const uint8_t *buf, size_t len)
{
	feed(owner, c, buf, len);
}

static void front_closed(void *owner, struct conn *c, const char *why)
{
	if (log_get_level() >= LOG_LVL_DEBUG) {
		char peer[ENDPOINT_STR_LEN];
		fmt_peer(peer, c);
		log_debug("%s: %s", peer, why);
	}
}

static const struct conn_ops front_ops = { .read = front_read, .closed = front_closed };

static void upload_done(void *ctx, struct conn *c, const uint8_t *rest, size_t len, bool keep)
{
	struct front *f = ctx;

	conn_set_owner(c, &front_ops, f);
	if (answer_upload(f, c, keep) && len)
		feed(f, c, rest, len);
}

/* ------------------------------------------------------------- setup */

static void connection_cb(uv_stream_t *server, int status)
{
	struct front *f = server->data;

	if (status < 0) {
		log_warn("listener: %s", uv_strerror(status));
		return;
	}
	conn_accept(f->cfg.conns, server, &front_ops, f);
}

static void free_cb(uv_handle_t *h)
{
	struct front *f = h->data;

	sodium_memzero(f->cfg.priv, sizeof(f->cfg.priv));
	free(f);
}

int front_new(struct front **out, const struct front_config *cfg, char *err, size_t errlen)
{
	struct front *f = calloc(1, sizeof(*f));
	struct sockaddr_in sa;
	char name[ENDPOINT_STR_LEN];
	int rc;

	if (!f) {
		snprintf(err, errlen, "out of memory");
		return UV_ENOMEM;
	}
	f->cfg = *cfg;
	f->pops.ctx = f;
	f->pops.upload_done = upload_done;
	endpoint_to_sockaddr(&sa, &cfg->listen);
	endpoint_format(name, &cfg->listen);
	uv_tcp_init(cfg->loop, &f->listener);
	f->listener.data = f;
	rc = uv_tcp_bind(&f->listener, (const struct sockaddr *)&sa, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&f->listener, FRONT_BACKLOG, connection_cb);
	if (rc < 0) {
		snprintf(err, errlen, "cannot listen on TCP %s: %s", name, uv_strerror(rc));
		uv_close((uv_handle_t *)&f->listener, free_cb);
		return rc;
	}
	f->listening = true;
	*out = f;
	return 0;
}

void front_set_gateway(struct front *f, struct gateway *g)
{
	f->gateway = g;
}

void front_stop(struct front *f)
{
	if (!f->listening)
		return;
	f->listening = false;
	uv_close((uv_handle_t *)&f->listener, NULL);
}

void front_free(struct front *f)
{
	if (!f)
		return;
	sodium_memzero(f->cfg.priv, sizeof(f->cfg.priv));
	free(f);
}
