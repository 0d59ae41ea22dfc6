/*
 * relaytool.c - a small client of tund-relay for tests and benchmarks
 * (not installed). It speaks shared/relayproto.h (requests, Upgrade and
 * Poll modes), shared/tcpframe.h (frames) and shared/httpmsg.h (heads,
 * chunked bodies) on one libuv loop, and prints what happens as
 * "name value" lines for shell tests to grep.
 *
 *   relaytool listen  -r ADDR:PORT -R RELAY_PUB -k KEYFILE [-s SERVER_ID] [-n N]
 *                     [--poll] [--stdout] [--sessions K] [--seconds S]
 *   relaytool connect -r ADDR:PORT -R RELAY_PUB -k KEYFILE -t TARGET [--poll]
 *                     [--send FILE] [--frame BYTES] [--no-echo]
 *                     [--time-offset S] [--bad-mac] [--replay]
 *   relaytool hold    -r ADDR:PORT -R RELAY_PUB -k SERVER_KEYFILE -K CLIENT_KEYFILE -n N
 *                     [--poll] [--seconds S]
 *   relaytool gateway -r ADDR:PORT --send FILE [--poll]
 *
 * listen: keeps N (default 1) idle pool connections for the key's system
 * (with Tund-Server-Id when -s is given) and PINGs them every 20 s;
 * prints "pool-ready N" each time N are idle. On SPLICED it prints
 * "spliced CLIENT_KEY" and opens a replacement at once (as tund does);
 * then every PACKET frame is echoed back (or, with --stdout, its body is
 * written to stdout, and the report lines go to stderr instead) and when
 * the session ends it prints "session-end BYTES sha256 HEX" over the
 * PACKET bodies received. Exits after K ended sessions (--sessions),
 * after S seconds, or on SIGINT/SIGTERM (0).
 *
 * connect: one session to TARGET ("SYSTEM-UUID" or "SERVER.SYSTEM-UUID");
 * prints "status 101" or "status 200 session TOKEN", sends FILE as PACKET
 * frames of --frame bytes (default 16384) and prints "sent BYTES sha256
 * HEX"; expects it all echoed back and prints "received BYTES sha256 HEX"
 * and "match" (exit 0) or "mismatch" (exit 1). --no-echo: exits once all
 * of it is out (Upgrade: the write side shut down after the last byte;
 * Poll: the last POST answered).
 * A refusal prints "status CODE", "reason BODY" and, for 401, "tund-time
 * T" (exit 3). --time-offset and --bad-mac make requests the relay must
 * refuse; --replay sends the identical request (same nonce) a second time
 * after the first was answered, and reports both.
 *
 * hold: N sessions between SERVER_KEYFILE's system and CLIENT_KEYFILE,
 * made in waves of 100 (pool connections, then as many connects; the
 * relay keeps at most 256 idle per system); prints "established N ms MS"
 * once every client has its answer and every pool connection its SPLICED,
 * then holds them (S seconds, or until a signal) and prints "held N lost
 * L". 429 and 503 answers are retried after a second.
 *
 * gateway: GET /tund/v1/mediator (no auth) and raw bytes: sends FILE,
 * expects it echoed (an echo listener in place of the mediator), prints
 * "received BYTES sha256 HEX" and "match".
 *
 * Exit: 0 success, 1 failure or timeout (--timeout S, default 60 for
 * connect and gateway), 2 usage, 3 the relay refused. connect and
 * gateway are bounded by --timeout; listen and hold run for --seconds S
 * or until a signal.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include "addr.h"
#include "httpmsg.h"
#include "keys.h"
#include "relayproto.h"
#include "tcpframe.h"

#define PING_MS 20000
#define RETRY_MS 1000
#define POST_MAX (256u * 1024)
#define REQ_MAX 2048
#define HOLD_WAVE 100                /* hold: pool connections at a time (the relay caps a system's pool) */

enum mode { M_LISTEN, M_CONNECT, M_HOLD, M_GATEWAY };
enum role { ROLE_POOL, ROLE_CLIENT, ROLE_GATEWAY };
enum tstate { T_CONNECTING, T_HEAD, T_BODY, T_OPEN, T_CLOSED };

struct opts {
	enum mode mode;
	struct endpoint relay;
	const char *relay_pub, *keyfile, *keyfile2, *send_file, *server_id, *target;
	unsigned n, sessions, seconds, timeout, frame;
	int time_offset;
	bool poll, to_stdout, no_echo, bad_mac, replay;
};

struct ident {
	uint8_t priv[KEY_LEN], pub[KEY_LEN];
};

struct tool;
struct up;

struct tunnel {
	struct tool *tool;
	uv_tcp_t tcp;
	enum role role;
	enum tstate state;
	const struct ident *id;
	char path[256];
	char *request;                   /* kept for a retry or --replay */
	size_t request_len;
	uint8_t *head;                   /* response head so far */
	size_t head_len;
	unsigned status;
	char reason[256];                /* an error answer's body */
	size_t reason_len;
	uint64_t body_left;
	struct http_chunked ch;
	struct tcpframe_rx rx;
	struct up *up;
	char token[RELAYPROTO_TOKEN_STR + 1];
	bool spliced, counted;
	uint64_t rx_bytes;
	crypto_hash_sha256_state sha;
	struct tunnel *next;
};

/* A Poll-mode upstream: POSTs of what is pending, one at a time. */
struct up {
	struct tunnel *t;                /* NULL once the tunnel is gone */
	uv_tcp_t tcp;
	bool connected, in_flight;
	uint8_t *pend;
	size_t pend_len, pend_cap, flight;
	uint8_t resp[HTTP_HEAD_MAX];
	size_t resp_len;
};

struct tool {
	uv_loop_t *loop;
	struct opts o;
	struct ident key, key2;
	uint8_t relay_pub[KEY_LEN];
	struct sockaddr_in relay;
	char host[ENDPOINT_STR_LEN];
	uv_timer_t ping, deadline;
	uv_signal_t sigint, sigterm;
	struct tunnel *all;
	struct retry *retries;
	FILE *data_out;                  /* --stdout: the real stdout (lines go to stderr then) */
	uint8_t *data;                   /* --send FILE */
	size_t data_len;
	char data_sha[65];
	unsigned pool_idle, ended, established, lost, replays_left;
	unsigned wave, launched;         /* hold: pool connections asked for, in this wave and all */
	uint64_t t0;
	bool stopping, announced;
	bool drain_exit;                 /* --no-echo, Poll: stop once the upstream is empty */
	int exit_code;
};

/* A tunnel to open again later: what its request needs. */
struct retry {
	uv_timer_t timer;
	struct tool *tl;
	enum role role;
	const struct ident *id;
	char path[256];
	struct retry *next;
};

struct wr {
	uv_write_t req;
	uint8_t data[];
};

static void tunnel_open(struct tool *tl, enum role role, const struct ident *id, const char *path,
			const char *request);
static void on_bytes(struct tunnel *t, const uint8_t *buf, size_t len);
static void up_kick(struct up *u);
static void up_append(struct tunnel *t, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

/* ------------------------------------------------------------ basics */

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

static void sha_hex(char hex[65], crypto_hash_sha256_state *st)
{
	uint8_t d[crypto_hash_sha256_BYTES];

	crypto_hash_sha256_final(st, d);
	sodium_bin2hex(hex, 65, d, sizeof(d));
}

static void stop(struct tool *tl, int code)
{
	if (tl->stopping)
		return;
	tl->stopping = true;
	tl->exit_code = code;
	uv_stop(tl->loop);
}

static void free_wr(uv_write_t *req, int status)
{
	free(req);
}

static void write_copy(uv_stream_t *s, const void *a, size_t alen, const void *b, size_t blen)
{
	struct wr *w = malloc(sizeof(*w) + alen + blen);

	if (!w)
		return;
	memcpy(w->data, a, alen);
	if (blen)
		memcpy(w->data + alen, b, blen);
	uv_buf_t buf = uv_buf_init((char *)w->data, (unsigned)(alen + blen));
	if (uv_write(&w->req, s, &buf, 1, free_wr) < 0)
		free(w);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	buf->base = malloc(65536);
	buf->len = buf->base ? 65536 : 0;
}

/* ------------------------------------------------------------ up */

static void up_free_cb(uv_handle_t *h)
{
	struct up *u = h->data;

	free(u->pend);
	free(u);
}

static void up_close(struct up *u)
{
	if (u->t)
		u->t->up = NULL;
	u->t = NULL;
	uv_close((uv_handle_t *)&u->tcp, up_free_cb);
}

static void tunnel_end(struct tunnel *t, const char *why);

static void up_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct up *u = s->data;
	struct http_head *h = NULL;
	const char *why = NULL;

	if (n < 0 || !u->t) {
		free(buf->base);
		if (u->t && u->in_flight)
			tunnel_end(u->t, "POST connection closed mid-request");
		else if (!uv_is_closing((uv_handle_t *)&u->tcp))
			up_close(u);
		return;
	}
	size_t take = (size_t)n < sizeof(u->resp) - u->resp_len ? (size_t)n : sizeof(u->resp) - u->resp_len;
	memcpy(u->resp + u->resp_len, buf->base, take);
	u->resp_len += take;
	free(buf->base);
	h = malloc(sizeof(*h));
	int r = h ? http_parse_head(u->resp, u->resp_len, false, h, &why) : -ENOMEM;
	if (r == 1 && h->status == 204) {
		u->resp_len = 0;
		u->in_flight = false;
		memmove(u->pend, u->pend + u->flight, u->pend_len - u->flight);
		u->pend_len -= u->flight;
		bool closing = http_field_has_token(h, "Connection", "close");
		free(h);
		if (closing) {
			struct tunnel *t = u->t;
			uint8_t *rest = u->pend;
			size_t rest_len = u->pend_len;
			/* the next connection takes over what is still pending */
			u->pend = NULL;
			u->pend_len = 0;
			up_close(u);
			if (rest_len)
				up_append(t, rest, rest_len, NULL, 0);
			free(rest);
			return;
		}
		if (u->pend_len == 0 && u->t->tool->drain_exit)
			stop(u->t->tool, 0);
		up_kick(u);
		return;
	}
	if (r == 1 || r < 0) {
		char msg[128];
		snprintf(msg, sizeof(msg), "POST answered %u %s", r == 1 ? h->status : 0,
			 r == 1 ? h->reason : why ? why : "");
		free(h);
		tunnel_end(u->t, msg);
		return;
	}
	free(h);
}

static void up_connect_cb(uv_connect_t *req, int status)
{
	struct up *u = req->data;

	free(req);
	if (!u->t) {
		if (!uv_is_closing((uv_handle_t *)&u->tcp))
			up_close(u);
		return;
	}
	if (status < 0) {
		tunnel_end(u->t, "POST connection failed");
		return;
	}
	u->connected = true;
	uv_read_start((uv_stream_t *)&u->tcp, alloc_cb, up_read_cb);
	up_kick(u);
}

static struct up *up_open(struct tunnel *t)
{
	struct up *u = calloc(1, sizeof(*u));
	uv_connect_t *req = malloc(sizeof(*req));

	if (!u || !req) {
		free(u);
		free(req);
		return NULL;
	}
	u->t = t;
	uv_tcp_init(t->tool->loop, &u->tcp);
	u->tcp.data = u;
	req->data = u;
	if (uv_tcp_connect(req, &u->tcp, (const struct sockaddr *)&t->tool->relay, up_connect_cb) < 0) {
		free(req);
		uv_close((uv_handle_t *)&u->tcp, up_free_cb);
		return NULL;
	}
	t->up = u;
	return u;
}

static void up_kick(struct up *u)
{
	char hdr[256];

	if (!u->t || !u->connected || u->in_flight || u->pend_len == 0)
		return;
	u->flight = u->pend_len < POST_MAX ? u->pend_len : POST_MAX;
	int n = snprintf(hdr, sizeof(hdr), "POST " RELAYPROTO_PATH_UP "%s HTTP/1.1\r\nHost: %s\r\n"
			 "Content-Length: %zu\r\n\r\n", u->t->token, u->t->tool->host, u->flight);
	write_copy((uv_stream_t *)&u->tcp, hdr, (size_t)n, u->pend, u->flight);
	u->in_flight = true;
}

static void up_append(struct tunnel *t, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	struct up *u = t->up ? t->up : up_open(t);
	size_t len = alen + blen;

	if (!u)
		return;
	if (u->pend_len + len > u->pend_cap) {
		size_t cap = (u->pend_len + len) * 2;
		uint8_t *p = realloc(u->pend, cap);
		if (!p)
			return;
		u->pend = p;
		u->pend_cap = cap;
	}
	memcpy(u->pend + u->pend_len, a, alen);
	if (blen)
		memcpy(u->pend + u->pend_len + alen, b, blen);
	u->pend_len += len;
	up_kick(u);
}

/* ---------------------------------------------------------- tunnel */

static void send_bytes(struct tunnel *t, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	if (t->state != T_OPEN)
		return;
	if (!t->token[0]) {
		write_copy((uv_stream_t *)&t->tcp, a, alen, b, blen);
		return;
	}
	up_append(t, a, alen, b, blen);
}

static void send_frame(struct tunnel *t, uint8_t type, const uint8_t *body, size_t len)
{
	uint8_t hdr[TCPFRAME_HDR_LEN];

	tcpframe_header(hdr, type, len);
	send_bytes(t, hdr, sizeof(hdr), body, len);
}

static void tunnel_free_cb(uv_handle_t *h)
{
	struct tunnel *t = h->data;
	struct tool *tl = t->tool;

	for (struct tunnel **p = &tl->all; *p; p = &(*p)->next) {
		if (*p == t) {
			*p = t->next;
			break;
		}
	}
	tcpframe_rx_free(&t->rx);
	free(t->head);
	free(t->request);
	free(t);
}

static void retry_free_cb(uv_handle_t *h)
{
	struct retry *r = h->data;

	for (struct retry **p = &r->tl->retries; *p; p = &(*p)->next) {
		if (*p == r) {
			*p = r->next;
			break;
		}
	}
	free(r);
}

static void retry_cb(uv_timer_t *timer)
{
	struct retry *r = timer->data;

	if (!r->tl->stopping)
		tunnel_open(r->tl, r->role, r->id, r->path, NULL);
	uv_close((uv_handle_t *)timer, retry_free_cb);
}

static void retry_later(struct tunnel *t)
{
	struct retry *r = calloc(1, sizeof(*r));

	if (!r)
		return;
	r->tl = t->tool;
	r->role = t->role;
	r->id = t->id;
	memcpy(r->path, t->path, sizeof(r->path));
	r->next = t->tool->retries;
	t->tool->retries = r;
	uv_timer_init(t->tool->loop, &r->timer);
	r->timer.data = r;
	uv_timer_start(&r->timer, retry_cb, RETRY_MS + randombytes_uniform(500), 0);
}

static void open_wave(struct tool *tl);

static void check_established(struct tool *tl)
{
	if (tl->o.mode != M_HOLD || tl->announced || tl->established < 2 * tl->launched)
		return;
	if (tl->launched < tl->o.n) {
		open_wave(tl);
		return;
	}
	tl->announced = true;
	out("established %u ms %" PRIu64 "\n", tl->o.n, uv_now(tl->loop) - tl->t0);
}

static void launch_clients(struct tool *tl);

static void pool_ready_check(struct tool *tl)
{
	if (tl->o.mode == M_HOLD) {
		if (tl->pool_idle == tl->wave)
			launch_clients(tl);
		return;
	}
	if (tl->pool_idle == tl->o.n)
		out("pool-ready %u\n", tl->pool_idle);
}

/* The tunnel is over: reports what it was, then closes it. */
static void tunnel_end(struct tunnel *t, const char *why)
{
	struct tool *tl = t->tool;
	char hex[65];

	if (t->state == T_CLOSED)
		return;
	bool was_open = t->state == T_OPEN;
	t->state = T_CLOSED;
	if (t->up)
		up_close(t->up);
	uv_close((uv_handle_t *)&t->tcp, tunnel_free_cb);
	if (tl->stopping)
		return;
	if (t->role == ROLE_POOL && t->spliced) {
		sha_hex(hex, &t->sha);
		out("session-end %" PRIu64 " sha256 %s\n", t->rx_bytes, hex);
		if (tl->o.mode == M_HOLD)
			tl->lost++;
		if (++tl->ended == tl->o.sessions && tl->o.mode == M_LISTEN)
			stop(tl, 0);
		return;
	}
	if (t->role == ROLE_POOL) {
		if (was_open) {
			tl->pool_idle--;
			out("pool-closed %s\n", why);
		}
		if (tl->o.mode == M_LISTEN)
			retry_later(t);
		return;
	}
	if (tl->o.mode == M_HOLD) {
		if (was_open)
			tl->lost++;
		return;
	}
	if (t->counted)
		return;
	if (t->status >= 300) {
		stop(tl, 3);
		return;
	}
	out("closed %s\n", why);
	stop(tl, 1);
}

static void report_refusal(struct tunnel *t, const struct http_head *h)
{
	const char *tt = http_field(h, "Tund-Time");

	out("status %u %s\n", h->status, h->reason);
	if (tt)
		out("tund-time %s\n", tt);
}

static void finish_refusal(struct tunnel *t)
{
	struct tool *tl = t->tool;

	while (t->reason_len && (t->reason[t->reason_len - 1] == '\n' || t->reason[t->reason_len - 1] == '\r'))
		t->reason_len--;
	t->reason[t->reason_len] = '\0';
	out("reason %s\n", t->reason);
	if (t->role == ROLE_CLIENT && tl->o.mode == M_CONNECT && tl->replays_left && t->request) {
		tl->replays_left--;
		out("replaying\n");
		tunnel_open(tl, t->role, t->id, t->path, t->request);
		t->counted = true;
		tunnel_end(t, "answered");
		return;
	}
	bool retry = tl->o.mode == M_HOLD && (t->status == 429 || t->status == 503);
	tunnel_end(t, "refused");
	if (retry)
		retry_later(t);
}

/* ------------------------------------------------------------ frames */

static int frame_cb(void *arg, uint8_t type, const uint8_t *body, size_t len)
{
	struct tunnel *t = arg;
	struct tool *tl = t->tool;
	char k64[KEY_B64_LEN + 1];

	switch (type) {
	case TCPFRAME_PING:
		send_frame(t, TCPFRAME_PONG, body, len);
		return 0;
	case TCPFRAME_PONG:
		return 0;
	case TCPFRAME_CLOSE:
		out("close-frame %.*s\n", (int)len, (const char *)body);
		return 1;
	case TCPFRAME_SPLICED:
		if (t->role != ROLE_POOL || t->spliced)
			return -EPROTO;
		t->spliced = true;
		tl->pool_idle--;
		key_to_base64(k64, body);
		if (tl->o.mode != M_HOLD)
			out("spliced %s\n", k64);
		if (tl->o.mode == M_LISTEN)
			tunnel_open(tl, ROLE_POOL, t->id, t->path, NULL);
		tl->established++;
		check_established(tl);
		return 0;
	default:   /* PACKET */
		t->rx_bytes += len;
		crypto_hash_sha256_update(&t->sha, body, len);
		if (t->role == ROLE_POOL) {
			if (tl->data_out)
				fwrite(body, 1, len, tl->data_out);
			else
				send_frame(t, TCPFRAME_PACKET, body, len);
			return 0;
		}
		if (t->rx_bytes >= tl->data_len && tl->o.mode == M_CONNECT) {
			char hex[65];
			sha_hex(hex, &t->sha);
			out("received %" PRIu64 " sha256 %s\n%s\n", t->rx_bytes, hex,
			    strcmp(hex, tl->data_sha) == 0 && t->rx_bytes == tl->data_len ? "match" : "mismatch");
			stop(tl, strcmp(hex, tl->data_sha) == 0 ? 0 : 1);
			return 1;
		}
		return 0;
	}
}

static void on_bytes(struct tunnel *t, const uint8_t *buf, size_t len)
{
	struct tool *tl = t->tool;
	const char *why = NULL;

	if (t->role == ROLE_GATEWAY) {
		t->rx_bytes += len;
		crypto_hash_sha256_update(&t->sha, buf, len);
		if (t->rx_bytes >= tl->data_len) {
			char hex[65];
			sha_hex(hex, &t->sha);
			out("received %" PRIu64 " sha256 %s\n%s\n", t->rx_bytes, hex,
			    strcmp(hex, tl->data_sha) == 0 ? "match" : "mismatch");
			stop(tl, strcmp(hex, tl->data_sha) == 0 ? 0 : 1);
		}
		return;
	}
	int rc = tcpframe_rx_feed(&t->rx, buf, len, frame_cb, t, &why);
	if (rc < 0 && t->state == T_OPEN)
		tunnel_end(t, why ? why : "bad frame");
	else if (rc == 1 && !tl->stopping)
		tunnel_end(t, "closed by a frame");
}

/* Downstream bytes of an open tunnel: raw, or a chunked body (Poll). */
static void on_stream(struct tunnel *t, uint8_t *buf, size_t len)
{
	if (!t->token[0]) {
		on_bytes(t, buf, len);
		return;
	}
	while (len && t->state == T_OPEN) {
		size_t outlen = 0, used = 0;
		if (http_chunked_decode(&t->ch, buf, len, &outlen, &used) < 0) {
			tunnel_end(t, "bad chunked body");
			return;
		}
		if (outlen)
			on_bytes(t, buf, outlen);
		if (t->ch.done) {
			tunnel_end(t, "downstream ended");
			return;
		}
		buf += used;
		len -= used;
	}
}

/* ---------------------------------------------------------- answers */

static void sent_cb(uv_shutdown_t *req, int status)
{
	struct tunnel *t = req->data;

	free(req);
	stop(t->tool, status < 0 ? 1 : 0);
}

/* --no-echo: done once everything is out (a Poll upstream: once its last
 * POST was answered, see up_read_cb). */
static void finish_sending(struct tunnel *t)
{
	uv_shutdown_t *req = malloc(sizeof(*req));

	if (t->token[0]) {
		free(req);
		t->tool->drain_exit = true;
		return;
	}
	if (!req) {
		stop(t->tool, 1);
		return;
	}
	req->data = t;
	if (uv_shutdown(req, (uv_stream_t *)&t->tcp, sent_cb) < 0) {
		free(req);
		stop(t->tool, 1);
	}
}

static void start_sending(struct tunnel *t)
{
	struct tool *tl = t->tool;
	size_t frame = tl->o.frame, nframes = (tl->data_len + frame - 1) / frame;
	uint8_t *all = malloc(tl->data_len + nframes * TCPFRAME_HDR_LEN + 1);
	size_t off = 0;

	if (!all) {
		stop(tl, 1);
		return;
	}
	for (size_t pos = 0; pos < tl->data_len; pos += frame) {
		size_t n = tl->data_len - pos < frame ? tl->data_len - pos : frame;
		if (t->role == ROLE_CLIENT) {
			tcpframe_header(all + off, TCPFRAME_PACKET, n);
			off += TCPFRAME_HDR_LEN;
		}
		memcpy(all + off, tl->data + pos, n);
		off += n;
	}
	send_bytes(t, all, off, NULL, 0);
	free(all);
	out("sent %zu sha256 %s\n", tl->data_len, tl->data_sha);
	if (tl->data_len == 0)
		stop(tl, 0);
	else if (tl->o.no_echo)
		finish_sending(t);
}

static void opened(struct tunnel *t, const struct http_head *h)
{
	struct tool *tl = t->tool;

	t->state = T_OPEN;
	if (h->status == 200) {
		const char *tok = http_field(h, "Tund-Session");
		snprintf(t->token, sizeof(t->token), "%s", tok ? tok : "");
		if (strlen(t->token) != RELAYPROTO_TOKEN_STR) {
			tunnel_end(t, "200 without a usable Tund-Session");
			return;
		}
		http_chunked_init(&t->ch);   /* the upstream connects with the first write */
	}
	if (t->role == ROLE_POOL) {
		tl->pool_idle++;
		pool_ready_check(tl);
		return;
	}
	if (tl->o.mode == M_CONNECT || tl->o.mode == M_GATEWAY) {
		if (h->status == 200)
			out("status 200 session %s\n", t->token);
		else
			out("status 101\n");
		start_sending(t);
		return;
	}
	tl->established++;
	check_established(tl);
}

/* Response head bytes: parses, then opens, or collects a refusal. */
static void on_head(struct tunnel *t, const uint8_t *buf, size_t len)
{
	struct http_head *h = malloc(sizeof(*h));
	const char *why = NULL;
	size_t take = len < HTTP_HEAD_MAX - t->head_len ? len : HTTP_HEAD_MAX - t->head_len;

	if (!h || (!t->head && !(t->head = malloc(HTTP_HEAD_MAX)))) {
		free(h);
		tunnel_end(t, "out of memory");
		return;
	}
	memcpy(t->head + t->head_len, buf, take);
	t->head_len += take;
	int r = http_parse_head(t->head, t->head_len, false, h, &why);
	if (r <= 0) {
		if (r < 0)
			tunnel_end(t, why);
		free(h);
		return;
	}
	size_t rest = h->head_len - (t->head_len - take);
	t->status = h->status;
	if (h->status == 101 || h->status == 200) {
		opened(t, h);
		free(h);
		if (t->state == T_OPEN && rest < len)
			on_stream(t, (uint8_t *)buf + rest, len - rest);
		return;
	}
	report_refusal(t, h);
	uint64_t cl = 0;
	http_content_length(h, 4096, &cl);
	free(h);
	t->state = T_BODY;
	t->body_left = cl;
	len -= rest;
	buf += rest;
	size_t n = len < t->body_left ? len : (size_t)t->body_left;
	n = n < sizeof(t->reason) - 1 - t->reason_len ? n : sizeof(t->reason) - 1 - t->reason_len;
	memcpy(t->reason + t->reason_len, buf, n);
	t->reason_len += n;
	t->body_left -= n;
	if (t->body_left == 0)
		finish_refusal(t);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct tunnel *t = s->data;

	if (n < 0) {
		free(buf->base);
		if (t->state == T_BODY)
			finish_refusal(t);
		else
			tunnel_end(t, n == UV_EOF ? "closed by the relay" : uv_strerror((int)n));
		return;
	}
	if (t->state == T_HEAD)
		on_head(t, (const uint8_t *)buf->base, (size_t)n);
	else if (t->state == T_OPEN)
		on_stream(t, (uint8_t *)buf->base, (size_t)n);
	else if (t->state == T_BODY) {
		size_t k = (size_t)n < t->body_left ? (size_t)n : (size_t)t->body_left;
		size_t room = sizeof(t->reason) - 1 - t->reason_len;
		memcpy(t->reason + t->reason_len, buf->base, k < room ? k : room);
		t->reason_len += k < room ? k : room;
		t->body_left -= k;
		if (t->body_left == 0)
			finish_refusal(t);
	}
	free(buf->base);
}

/* ----------------------------------------------------------- opening */

/* The request for path, authenticated with id unless it is the gateway. */
static char *build_request(struct tool *tl, const struct ident *id, const char *path, size_t *len)
{
	char auth[512] = "", *req = malloc(REQ_MAX);
	int64_t now = (int64_t)time(NULL) + tl->o.time_offset;

	if (!req)
		return NULL;
	if (id && relayproto_auth_headers(auth, sizeof(auth), id->priv, id->pub, tl->relay_pub, path, now) < 0) {
		free(req);
		return NULL;
	}
	if (tl->o.bad_mac) {
		char *a = strstr(auth, "Tund-Auth: ");
		if (a)
			a[11] = a[11] == 'A' ? 'B' : 'A';
	}
	int n = snprintf(req, REQ_MAX, "GET %s HTTP/1.1\r\nHost: %s\r\n%s%s%s%s%s\r\n", path, tl->host,
			 tl->o.poll ? RELAYPROTO_POLL_FIELD ": 1\r\n" : "Connection: Upgrade\r\nUpgrade: " RELAYPROTO_UPGRADE "\r\n", auth,
			 tl->o.server_id && strcmp(path, RELAYPROTO_PATH_LISTEN) == 0 ? "Tund-Server-Id: " : "",
			 tl->o.server_id && strcmp(path, RELAYPROTO_PATH_LISTEN) == 0 ? tl->o.server_id : "",
			 tl->o.server_id && strcmp(path, RELAYPROTO_PATH_LISTEN) == 0 ? "\r\n" : "");
	*len = (size_t)n;
	return req;
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct tunnel *t = req->data;

	free(req);
	if (t->state != T_CONNECTING)
		return;
	if (status < 0) {
		tunnel_end(t, uv_strerror(status));
		return;
	}
	uv_tcp_nodelay(&t->tcp, 1);
	t->state = T_HEAD;
	write_copy((uv_stream_t *)&t->tcp, t->request, t->request_len, NULL, 0);
	uv_read_start((uv_stream_t *)&t->tcp, alloc_cb, read_cb);
}

static void tunnel_open(struct tool *tl, enum role role, const struct ident *id, const char *path,
			const char *request)
{
	struct tunnel *t = calloc(1, sizeof(*t));
	uv_connect_t *req = malloc(sizeof(*req));

	if (!t || !req) {
		free(t);
		free(req);
		stop(tl, 1);
		return;
	}
	t->tool = tl;
	t->role = role;
	t->id = id;
	snprintf(t->path, sizeof(t->path), "%s", path);
	t->request = request ? strdup(request) : build_request(tl, role == ROLE_GATEWAY ? NULL : id, path,
								 &t->request_len);
	if (request && t->request)
		t->request_len = strlen(request);
	if (!t->request) {
		free(t);
		free(req);
		stop(tl, 1);
		return;
	}
	tcpframe_rx_init(&t->rx, TCPFRAME_RX_MAX);
	crypto_hash_sha256_init(&t->sha);
	uv_tcp_init(tl->loop, &t->tcp);
	t->tcp.data = t;
	t->next = tl->all;
	tl->all = t;
	req->data = t;
	if (uv_tcp_connect(req, &t->tcp, (const struct sockaddr *)&tl->relay, connect_cb) < 0) {
		free(req);
		tunnel_end(t, "cannot connect");
	}
}

/* ------------------------------------------------------------ timers */

static void ping_cb(uv_timer_t *timer)
{
	struct tool *tl = timer->data;
	uint8_t body[TCPFRAME_PING_LEN];

	randombytes_buf(body, sizeof(body));
	for (struct tunnel *t = tl->all; t; t = t->next)
		if (t->role == ROLE_POOL && t->state == T_OPEN && !t->spliced)
			send_frame(t, TCPFRAME_PING, body, sizeof(body));
}

static void deadline_cb(uv_timer_t *timer)
{
	struct tool *tl = timer->data;

	if (tl->o.mode == M_HOLD && tl->announced) {
		out("held %u lost %u\n", tl->o.n, tl->lost);
		stop(tl, tl->lost ? 1 : 0);
	} else if (tl->o.mode == M_LISTEN && !tl->o.timeout) {
		stop(tl, 0);
	} else {
		out("timeout\n");
		stop(tl, 1);
	}
}

static void signal_cb(uv_signal_t *s, int signum)
{
	struct tool *tl = s->data;

	if (tl->o.mode == M_HOLD)
		out("held %u lost %u\n", tl->established / 2, tl->lost);
	stop(tl, 0);
}

/* Closes everything still open and runs the loop until it is all
 * freed (so a sanitizer build sees no leaks). */
static void close_all(struct tool *tl)
{
	for (struct tunnel *t = tl->all; t; t = t->next) {
		if (t->state == T_CLOSED)
			continue;
		t->state = T_CLOSED;
		if (t->up)
			up_close(t->up);
		uv_close((uv_handle_t *)&t->tcp, tunnel_free_cb);
	}
	for (struct retry *r = tl->retries; r; r = r->next)
		if (!uv_is_closing((uv_handle_t *)&r->timer))
			uv_close((uv_handle_t *)&r->timer, retry_free_cb);
	uv_close((uv_handle_t *)&tl->ping, NULL);
	uv_close((uv_handle_t *)&tl->deadline, NULL);
	uv_close((uv_handle_t *)&tl->sigint, NULL);
	uv_close((uv_handle_t *)&tl->sigterm, NULL);
	uv_run(tl->loop, UV_RUN_DEFAULT);
	uv_loop_close(tl->loop);
}

/* ------------------------------------------------------------ setup */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: relaytool listen  -r ADDR:PORT -R RELAY_PUB -k KEYFILE [-s SERVER_ID] [-n N]\n"
		"                         [--poll] [--stdout] [--sessions K] [--seconds S]\n"
		"       relaytool connect -r ADDR:PORT -R RELAY_PUB -k KEYFILE -t TARGET [--poll]\n"
		"                         [--send FILE] [--frame BYTES] [--no-echo]\n"
		"                         [--time-offset S] [--bad-mac] [--replay]\n"
		"       relaytool hold    -r ADDR:PORT -R RELAY_PUB -k SERVER_KEYFILE -K CLIENT_KEYFILE\n"
		"                         -n N [--poll] [--seconds S]\n"
		"       relaytool gateway -r ADDR:PORT --send FILE [--poll]\n"
		"  --timeout S   give up after S seconds (default 60 for connect and gateway)\n");
}

static int parse_args(struct opts *o, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "poll", no_argument, NULL, 'P' }, { "stdout", no_argument, NULL, 'O' },
		{ "sessions", required_argument, NULL, 'S' }, { "seconds", required_argument, NULL, 'T' },
		{ "send", required_argument, NULL, 'f' }, { "frame", required_argument, NULL, 'F' },
		{ "no-echo", no_argument, NULL, 'E' }, { "time-offset", required_argument, NULL, 'o' },
		{ "bad-mac", no_argument, NULL, 'B' }, { "replay", no_argument, NULL, 'Y' },
		{ "timeout", required_argument, NULL, 'W' }, { "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	if (argc < 2)
		return -1;
	if (strcmp(argv[1], "listen") == 0) o->mode = M_LISTEN;
	else if (strcmp(argv[1], "connect") == 0) o->mode = M_CONNECT;
	else if (strcmp(argv[1], "hold") == 0) o->mode = M_HOLD;
	else if (strcmp(argv[1], "gateway") == 0) o->mode = M_GATEWAY;
	else return -1;
	o->frame = 16384;
	o->timeout = o->mode == M_CONNECT || o->mode == M_GATEWAY ? 60 : 0;
	optind = 2;
	while ((c = getopt_long(argc, argv, "r:R:k:K:s:t:n:h", lo, NULL)) != -1) {
		switch (c) {
		case 'r': if (endpoint_parse(&o->relay, optarg) < 0) return -1; break;
		case 'R': o->relay_pub = optarg; break;
		case 'k': o->keyfile = optarg; break;
		case 'K': o->keyfile2 = optarg; break;
		case 's': o->server_id = optarg; break;
		case 't': o->target = optarg; break;
		case 'n': o->n = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'P': o->poll = true; break;
		case 'O': o->to_stdout = true; break;
		case 'S': o->sessions = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'T': o->seconds = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'f': o->send_file = optarg; break;
		case 'F': o->frame = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'E': o->no_echo = true; break;
		case 'o': o->time_offset = (int)strtol(optarg, NULL, 10); break;
		case 'B': o->bad_mac = true; break;
		case 'Y': o->replay = true; break;
		case 'W': o->timeout = (unsigned)strtoul(optarg, NULL, 10); break;
		default: return -1;
		}
	}
	if (!o->relay.port || o->frame == 0 || o->frame > TCPFRAME_RX_MAX)
		return -1;
	if (o->mode != M_GATEWAY && (!o->relay_pub || !o->keyfile))
		return -1;
	if ((o->mode == M_CONNECT && !o->target) || (o->mode == M_HOLD && (!o->keyfile2 || !o->n)))
		return -1;
	if (o->mode == M_GATEWAY && !o->send_file)
		return -1;
	if (o->n == 0)
		o->n = 1;
	return 0;
}

static int load_key(struct ident *id, const char *path)
{
	char err[256];

	if (key_read_file(id->priv, path, err, sizeof(err)) < 0 || key_public(id->pub, id->priv) < 0) {
		fprintf(stderr, "relaytool: %s\n", err);
		return -1;
	}
	return 0;
}

static int load_file(struct tool *tl, const char *path)
{
	FILE *f = fopen(path, "rb");
	crypto_hash_sha256_state st;
	long n;

	if (!f || fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
		fprintf(stderr, "relaytool: %s: %s\n", path, strerror(errno));
		if (f)
			fclose(f);
		return -1;
	}
	tl->data = malloc((size_t)n + 1);
	tl->data_len = (size_t)n;
	if (!tl->data || fread(tl->data, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		return -1;
	}
	fclose(f);
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, tl->data, tl->data_len);
	sha_hex(tl->data_sha, &st);
	return 0;
}

static int setup(struct tool *tl)
{
	const struct opts *o = &tl->o;

	if (o->mode != M_GATEWAY &&
	    (key_from_base64(tl->relay_pub, o->relay_pub) < 0 || load_key(&tl->key, o->keyfile) < 0)) {
		fprintf(stderr, "relaytool: bad relay key or key file\n");
		return -1;
	}
	if (o->mode == M_HOLD && load_key(&tl->key2, o->keyfile2) < 0)
		return -1;
	if (o->send_file && load_file(tl, o->send_file) < 0)
		return -1;
	endpoint_to_sockaddr(&tl->relay, &o->relay);
	endpoint_format(tl->host, &o->relay);
	tl->replays_left = o->replay ? 1 : 0;
	if (o->to_stdout) {
		/* data keeps stdout; the report lines move to stderr */
		int fd = dup(STDOUT_FILENO);
		if (fd < 0 || !(tl->data_out = fdopen(fd, "wb")) || dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
			return -1;
	}
	return 0;
}

static void start(struct tool *tl)
{
	const struct opts *o = &tl->o;
	char path[256];

	switch (o->mode) {
	case M_LISTEN:
		for (unsigned i = 0; i < o->n; i++)
			tunnel_open(tl, ROLE_POOL, &tl->key, RELAYPROTO_PATH_LISTEN, NULL);
		break;
	case M_HOLD:
		tl->t0 = uv_now(tl->loop);
		open_wave(tl);
		break;
	case M_CONNECT:
		snprintf(path, sizeof(path), RELAYPROTO_PATH_CONNECT "%s", o->target);
		tunnel_open(tl, ROLE_CLIENT, &tl->key, path, NULL);
		break;
	case M_GATEWAY:
		tunnel_open(tl, ROLE_GATEWAY, NULL, RELAYPROTO_PATH_MEDIATOR, NULL);
		break;
	}
}

/* hold: a wave of pool connections; its clients follow once all are
 * idle, and the next wave once all of those are established. */
static void open_wave(struct tool *tl)
{
	unsigned left = tl->o.n - tl->launched;

	tl->wave = left < HOLD_WAVE ? left : HOLD_WAVE;
	for (unsigned i = 0; i < tl->wave && !tl->stopping; i++)
		tunnel_open(tl, ROLE_POOL, &tl->key, RELAYPROTO_PATH_LISTEN, NULL);
}

static void launch_clients(struct tool *tl)
{
	char path[256], id[UUID_STR_LEN + 1];
	uint8_t sys[UUID_LEN];

	key_system_id(sys, tl->key.pub);
	uuid_format(id, sys);
	snprintf(path, sizeof(path), RELAYPROTO_PATH_CONNECT "%s", id);
	tl->launched += tl->wave;
	for (unsigned i = 0; i < tl->wave && !tl->stopping; i++)
		tunnel_open(tl, ROLE_CLIENT, &tl->key2, path, NULL);
}

int main(int argc, char **argv)
{
	struct tool tl = { 0 };
	uv_loop_t loop;

	if (parse_args(&tl.o, argc, argv) < 0) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0 || setup(&tl) < 0)
		return 1;
	uv_loop_init(&loop);
	tl.loop = &loop;
	uv_timer_init(&loop, &tl.ping);
	uv_timer_init(&loop, &tl.deadline);
	uv_signal_init(&loop, &tl.sigint);
	uv_signal_init(&loop, &tl.sigterm);
	tl.ping.data = tl.deadline.data = tl.sigint.data = tl.sigterm.data = &tl;
	uv_timer_start(&tl.ping, ping_cb, PING_MS, PING_MS);
	unsigned secs = tl.o.seconds ? tl.o.seconds : tl.o.timeout;
	if (secs)
		uv_timer_start(&tl.deadline, deadline_cb, (uint64_t)secs * 1000, 0);
	uv_signal_start(&tl.sigint, signal_cb, SIGINT);
	uv_signal_start(&tl.sigterm, signal_cb, SIGTERM);
	start(&tl);
	if (!tl.stopping)
		uv_run(&loop, UV_RUN_DEFAULT);
	tl.stopping = true;
	close_all(&tl);
	if (tl.data_out)
		fclose(tl.data_out);
	free(tl.data);
	sodium_memzero(&tl.key, sizeof(tl.key));
	sodium_memzero(&tl.key2, sizeof(tl.key2));
	return tl.exit_code;
}
