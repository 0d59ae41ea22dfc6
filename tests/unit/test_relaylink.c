/*
 * test_relaylink.c - relaylink.c's pool and client logic against a fake
 * dialer and fake links: dialer_dial records each request (the test then
 * plays the dialer: up, data, down), the tlink_* functions relaylink.c
 * and tconn.c call write into byte buffers, and path.c / receive.c are
 * recorders. tconn.c is the real one, so the splice hand-over is tested
 * end to end. A relay refusing our clock is played as the dialer reports
 * it: ops.clock with the relay's time, then down with 401. timers_backoff_ms is replaced by a deterministic 5 ms so the
 * backoff runs in a bounded, real libuv loop.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <uv.h>

#include "daemon.h"
#include "dialer.h"
#include "path.h"
#include "peer.h"
#include "relaylink.h"
#include "relayproto.h"
#include "tconn.h"
#include "tcpframe.h"
#include "timers.h"
#include "tlink.h"

#define MAX_DIALS 32

struct tlink {
	const struct tlink_ops *ops;
	void *arg;
	uint8_t out[1024];
	size_t out_len;
	int closed;
};

struct dial {
	struct tlink_target t;
	const struct tlink_ops *ops;
	void *arg;
	bool cancelled, ended;
	struct tlink link;        /* what it yields when the test says up */
};

struct dialer {
	int unused;
};

struct fx {
	uv_loop_t loop;
	struct daemon d;
	struct dialer dialer;
	struct dial dials[MAX_DIALS];
	unsigned n_dials;
	struct peer peer;
	int n_up, n_failed, n_down, n_rx;
	char failed_why[200];
	struct tconn *up_conn;
	uint8_t rx[64];
	size_t rx_len;
};

static struct fx *g_fx;

/* ---------------------------------------------------------------- fakes */

int dialer_dial(struct dialer *dl, const struct tlink_target *targets, unsigned n,
		const struct tlink_ops *ops, void *arg, struct dial **out)
{
	struct fx *fx = g_fx;
	assert_ptr_equal(dl, &fx->dialer);
	assert_int_equal(n, 1);
	assert_true(fx->n_dials < MAX_DIALS);
	struct dial *dp = &fx->dials[fx->n_dials++];
	dp->t = targets[0];
	dp->ops = ops;
	dp->arg = arg;
	*out = dp;
	return 0;
}

void dial_cancel(struct dial *dial)
{
	assert_false(dial->ended);
	dial->cancelled = true;
	dial->ended = true;
}

void tlink_set_ops(struct tlink *l, const struct tlink_ops *ops, void *arg)
{
	l->ops = ops;
	l->arg = arg;
}

int tlink_write2(struct tlink *l, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	if (l->closed)
		return -ENOTCONN;
	assert_true(l->out_len + alen + blen <= sizeof(l->out));
	memcpy(l->out + l->out_len, a, alen);
	if (blen)
		memcpy(l->out + l->out_len + alen, b, blen);
	l->out_len += alen + blen;
	return 0;
}

int tlink_write(struct tlink *l, const uint8_t *buf, size_t len) { return tlink_write2(l, buf, len, NULL, 0); }
void tlink_close(struct tlink *l) { l->closed++; }
void tlink_close_after_flush(struct tlink *l) { l->closed++; }
enum tlink_method tlink_method(const struct tlink *l) { (void)l; return TLINK_POLL; }
const char *tlink_method_name(enum tlink_method m) { return m == TLINK_POLL ? "poll" : "other"; }

void tlink_describe(const struct tlink *l, char *out, size_t outlen)
{
	(void)l;
	snprintf(out, outlen, "198.51.100.20:443 via poll");
}

uint64_t timers_backoff_ms(uint64_t min_ms, uint64_t max_ms, unsigned failures)
{
	(void)min_ms;
	(void)max_ms;
	(void)failures;
	return 5;
}

void path_conn_up(struct daemon *d, struct peer *p, struct tconn *c)
{
	struct fx *fx = g_fx;
	assert_ptr_equal(p, &fx->peer);
	assert_ptr_equal(c->peer, p);
	fx->n_up++;
	fx->up_conn = c;
}

void path_conn_down(struct daemon *d, struct tconn *c) { g_fx->n_down++; }

void path_relay_failed(struct daemon *d, struct peer *p, const char *why)
{
	struct fx *fx = g_fx;
	assert_ptr_equal(p, &fx->peer);
	fx->n_failed++;
	snprintf(fx->failed_why, sizeof(fx->failed_why), "%s", why);
}

void receive_packet(struct daemon *d, uint8_t *buf, size_t len, const struct pathref *from)
{
	struct fx *fx = g_fx;
	assert_int_equal(from->kind, PATH_RELAY);
	assert_null(from->conn->peer);
	assert_true(len <= sizeof(fx->rx));
	memcpy(fx->rx, buf, len);
	fx->rx_len = len;
	fx->n_rx++;
}

/* -------------------------------------------------------------- helpers */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	if (!fx || uv_loop_init(&fx->loop) != 0)
		return -1;
	struct daemon *d = &fx->d;
	d->loop = &fx->loop;
	d->time_scale = 1;
	d->dialer = &fx->dialer;
	memset(d->self.priv, 1, KEY_LEN);
	memset(d->self.pub, 2, KEY_LEN);
	snprintf(d->cfg.server_id, sizeof(d->cfg.server_id), "nvr1");
	d->cfg.relay_pool = 3;
	snprintf(fx->peer.cfg.name, sizeof(fx->peer.cfg.name), "hq");
	snprintf(fx->peer.system_id, sizeof(fx->peer.system_id), "11111111-2222-4333-8444-555555555555");
	g_fx = fx;
	*state = fx;
	return 0;
}

static void configure_relay(struct daemon *d)
{
	d->cfg.has_relay = true;
	snprintf(d->cfg.relay_host, sizeof(d->cfg.relay_host), "198.51.100.20");
	d->cfg.relay_port = 443;
	memset(d->cfg.relay_key, 3, KEY_LEN);
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	relaylink_close(fx->d.relay);
	tconn_close_all(&fx->d, NULL, NULL);
	for (double deadline = now_s() + 2; fx->d.tconns && now_s() < deadline;)
		uv_run(&fx->loop, UV_RUN_NOWAIT);
	uv_run(&fx->loop, UV_RUN_NOWAIT);
	int rc = uv_loop_close(&fx->loop);
	free(fx);
	g_fx = NULL;
	return rc == 0 ? 0 : -1;
}

static unsigned live_dials(const struct fx *fx)
{
	unsigned n = 0;
	for (unsigned i = 0; i < fx->n_dials; i++)
		n += !fx->dials[i].ended;
	return n;
}

static void dial_up(struct dial *dp)
{
	dp->ended = true;
	/* the winner reports to the dial's ops from now on (dialer.h) */
	tlink_set_ops(&dp->link, dp->ops, dp->arg);
	dp->ops->up(dp->arg, &dp->link);
}

static void dial_fail(struct dial *dp, unsigned status, const char *why)
{
	dp->ended = true;
	dp->ops->down(dp->arg, NULL, -ECONNREFUSED, status, why);
}

/* The relay refused the dial with 401 and its clock, skew_s from ours
 * (what tlink.c and the dialer report: the clock, then down). */
static void dial_refuse_clock(struct dial *dp, int64_t skew_s)
{
	assert_non_null(dp->ops->clock);
	dp->ops->clock(dp->arg, NULL, (int64_t)time(NULL) + skew_s);
	dial_fail(dp, 401, "relay answered 401 Unauthorized to GET ...");
}

static bool offset_near(const struct dial *dp, int64_t skew_s)
{
	return dp->t.clock_offset_s >= skew_s - 1 && dp->t.clock_offset_s <= skew_s + 1;
}

static void feed(struct tlink *l, const uint8_t *buf, size_t len) { l->ops->data(l->arg, l, buf, len); }

static size_t frame(uint8_t *out, uint8_t type, const void *body, size_t len)
{
	tcpframe_header(out, type, len);
	memcpy(out + TCPFRAME_HDR_LEN, body, len);
	return TCPFRAME_HDR_LEN + len;
}

static void run_for(struct fx *fx, double s)
{
	for (double deadline = now_s() + s; now_s() < deadline;)
		uv_run(&fx->loop, UV_RUN_NOWAIT);
}

/* ---------------------------------------------------------------- tests */

static void test_pool_fills_and_splices(void **state)
{
	struct fx *fx = *state;
	uint8_t buf[128], key[KEY_LEN] = { 9 };
	fx->d.cfg.publish = true;
	configure_relay(&fx->d);
	assert_int_equal(relaylink_new(&fx->d.relay, &fx->d), 0);
	assert_true(relaylink_known(fx->d.relay));
	assert_int_equal(fx->n_dials, 3);
	const struct tlink_target *t = &fx->dials[0].t;
	assert_string_equal(t->host, "198.51.100.20");
	assert_int_equal(t->port, 443);
	assert_true(t->http && t->auth);
	assert_string_equal(t->path, RELAYPROTO_PATH_LISTEN);
	assert_string_equal(t->extra_headers, "Tund-Server-Id: nvr1\r\n");
	assert_memory_equal(t->relay_pub, fx->d.cfg.relay_key, KEY_LEN);
	assert_memory_equal(t->pub, fx->d.self.pub, KEY_LEN);

	for (unsigned i = 0; i < 3; i++)
		dial_up(&fx->dials[i]);
	assert_int_equal(relaylink_pool_idle(fx->d.relay), 3);
	assert_int_equal(fx->n_dials, 3);

	/* PONG, then SPLICED and the client's first PACKET in one read */
	struct tlink *l = &fx->dials[1].link;
	size_t n = frame(buf, TCPFRAME_PONG, "pingpong", 8);
	n += frame(buf + n, TCPFRAME_SPLICED, key, sizeof(key));
	n += frame(buf + n, TCPFRAME_PACKET, "hello", 5);
	feed(l, buf, n);
	assert_non_null(fx->d.tconns);
	assert_null(fx->d.tconns->peer);
	assert_ptr_equal(fx->d.tconns->link, l);
	assert_int_equal(fx->n_rx, 1);
	assert_memory_equal(fx->rx, "hello", 5);
	assert_int_equal(l->closed, 0);
	/* a replacement at once */
	assert_int_equal(relaylink_pool_idle(fx->d.relay), 2);
	assert_int_equal(fx->n_dials, 4);
	assert_int_equal(live_dials(fx), 1);

	/* later bytes go to the tconn */
	n = frame(buf, TCPFRAME_PACKET, "again", 5);
	feed(l, buf, n);
	assert_int_equal(fx->n_rx, 2);

	char desc[256];
	relaylink_describe(fx->d.relay, desc, sizeof(desc));
	assert_non_null(strstr(desc, "198.51.100.20:443 (configured); pool 2/3 idle, 1 spliced; via poll"));
}

static void test_pool_backoff_and_refill(void **state)
{
	struct fx *fx = *state;
	fx->d.cfg.publish = true;
	configure_relay(&fx->d);
	assert_int_equal(relaylink_new(&fx->d.relay, &fx->d), 0);
	assert_int_equal(fx->n_dials, 3);
	for (unsigned i = 0; i < 3; i++)
		dial_fail(&fx->dials[i], 503, "relay answered 503");
	assert_int_equal(live_dials(fx), 0);
	char desc[256];
	relaylink_describe(fx->d.relay, desc, sizeof(desc));
	assert_non_null(strstr(desc, "last error: relay: the relay is full (503)"));

	/* after the backoff: one probe dial only */
	run_for(fx, 0.05);
	assert_int_equal(fx->n_dials, 4);
	assert_int_equal(live_dials(fx), 1);
	dial_fail(&fx->dials[3], 0, "connection refused");
	run_for(fx, 0.05);
	assert_int_equal(fx->n_dials, 5);
	assert_int_equal(live_dials(fx), 1);

	/* the probe works: the pool fills at once */
	dial_up(&fx->dials[4]);
	assert_int_equal(fx->n_dials, 7);
	assert_int_equal(relaylink_pool_idle(fx->d.relay), 1);
	relaylink_describe(fx->d.relay, desc, sizeof(desc));
	assert_null(strstr(desc, "last error"));
}

static void test_pool_close_frame_and_bad_input(void **state)
{
	struct fx *fx = *state;
	uint8_t buf[64];
	fx->d.cfg.publish = true;
	fx->d.cfg.relay_pool = 1;
	configure_relay(&fx->d);
	assert_int_equal(relaylink_new(&fx->d.relay, &fx->d), 0);
	dial_up(&fx->dials[0]);
	size_t n = frame(buf, TCPFRAME_CLOSE, "going away", 10);
	feed(&fx->dials[0].link, buf, n);
	assert_int_equal(fx->dials[0].link.closed, 1);
	assert_int_equal(relaylink_pool_idle(fx->d.relay), 0);
	run_for(fx, 0.05);
	assert_int_equal(fx->n_dials, 2);
	dial_up(&fx->dials[1]);
	/* a PACKET before any SPLICED is a protocol error */
	n = frame(buf, TCPFRAME_PACKET, "x", 1);
	feed(&fx->dials[1].link, buf, n);
	assert_int_equal(fx->dials[1].link.closed, 1);
	assert_null(fx->d.tconns);
}

static void test_no_pool_without_publish(void **state)
{
	struct fx *fx = *state;
	configure_relay(&fx->d);
	assert_int_equal(relaylink_new(&fx->d.relay, &fx->d), 0);
	assert_int_equal(fx->n_dials, 0);
	assert_int_equal(relaylink_pool_idle(fx->d.relay), 0);
}

static void test_learn(void **state)
{
	struct fx *fx = *state;
	uint8_t key[KEY_LEN];
	memset(key, 7, sizeof(key));
	fx->d.cfg.publish = true;
	assert_int_equal(relaylink_new(&fx->d.relay, &fx->d), 0);
	assert_false(relaylink_known(fx->d.relay));
	assert_int_equal(relaylink_connect(fx->d.relay, &fx->peer), -ENOENT);
	assert_int_equal(fx->n_dials, 0);
	relaylink_learn(fx->d.relay, "192.0.2.9", 8443, key);
	assert_true(relaylink_known(fx->d.relay));
	assert_int_equal(fx->n_dials, 3);
	assert_string_equal(fx->dials[0].t.host, "192.0.2.9");
	assert_memory_equal(fx->dials[0].t.relay_pub, key, KEY_LEN);
	/* the same again: nothing; another relay: the pool restarts */
	relaylink_learn(fx->d.relay, "192.0.2.9", 8443, key);
	assert_int_equal(fx->n_dials, 3);
	relaylink_learn(fx->d.relay, "192.0.2.10", 8443, key);
	assert_int_equal(fx->n_dials, 6);
	assert_true(fx->dials[0].cancelled && fx->dials[1].cancelled && fx->dials[2].cancelled);
	char desc[256];
	relaylink_describe(fx->d.relay, desc, sizeof(desc));
	assert_non_null(strstr(desc, "192.0.2.10:8443 (from the mediator)"));
}

static void test_learn_ignored_when_configured(void **state)
{
	struct fx *fx = *state;
	uint8_t key[KEY_LEN] = { 0 };
	configure_relay(&fx->d);
	assert_int_equal(relaylink_new(&fx->d.relay, &fx->d), 0);
	relaylink_learn(fx->d.relay, "192.0.2.9", 443, key);
	assert_int_equal(relaylink_connect(fx->d.relay, &fx->peer), 0);
	assert_string_equal(fx->dials[0].t.host, "198.51.100.20");
}

static void test_client_session(void **state)
{
	struct fx *fx = *state;
	uint8_t buf[32];
	configure_relay(&fx->d);
	snprintf(fx->peer.cfg.server_id, sizeof(fx->peer.cfg.server_id), "nvr1");
	assert_int_equal(relaylink_new(&fx->d.relay, &fx->d), 0);
	assert_int_equal(relaylink_connect(fx->d.relay, &fx->peer), 0);
	assert_int_equal(relaylink_connect(fx->d.relay, &fx->peer), 0); /* one at a time */
	assert_int_equal(fx->n_dials, 1);
	assert_string_equal(fx->dials[0].t.path,
			    RELAYPROTO_PATH_CONNECT "nvr1.11111111-2222-4333-8444-555555555555");
	assert_string_equal(fx->dials[0].t.extra_headers, "");
	dial_up(&fx->dials[0]);
	assert_int_equal(fx->n_up, 1);
	assert_ptr_equal(fx->d.tconns, fx->up_conn);
	assert_ptr_equal(fx->up_conn->link, &fx->dials[0].link);
	/* the session is the tconn's now: a PING is answered */
	size_t n = frame(buf, TCPFRAME_PING, "12345678", 8);
	feed(&fx->dials[0].link, buf, n);
	assert_int_equal(fx->dials[0].link.out[0], TCPFRAME_PONG);
	/* a new dial may start while the session lives */
	assert_int_equal(relaylink_connect(fx->d.relay, &fx->peer), 0);
	assert_int_equal(fx->n_dials, 2);
}

static void test_client_offline_and_cancel(void **state)
{
	struct fx *fx = *state;
	configure_relay(&fx->d);
	assert_int_equal(relaylink_new(&fx->d.relay, &fx->d), 0);
	assert_int_equal(relaylink_connect(fx->d.relay, &fx->peer), 0);
	assert_string_equal(fx->dials[0].t.path, RELAYPROTO_PATH_CONNECT "11111111-2222-4333-8444-555555555555");
	dial_fail(&fx->dials[0], 404, "relay answered 404 Not Found to GET ...");
	assert_int_equal(fx->n_failed, 1);
	assert_string_equal(fx->failed_why, "relay: the server has no idle connection at the relay (offline)");
	char desc[256];
	relaylink_describe(fx->d.relay, desc, sizeof(desc));
	assert_null(strstr(desc, "last error")); /* offline is the peer's state */

	assert_int_equal(relaylink_connect(fx->d.relay, &fx->peer), 0);
	relaylink_cancel(fx->d.relay, &fx->peer);
	assert_true(fx->dials[1].cancelled);
	assert_int_equal(fx->n_failed, 1);
	relaylink_cancel(fx->d.relay, &fx->peer); /* nothing left: no-op */

	assert_int_equal(relaylink_connect(fx->d.relay, &fx->peer), 0);
	dial_fail(&fx->dials[2], 0, "cannot connect to 198.51.100.20:443: connection refused");
	assert_string_equal(fx->failed_why, "relay: cannot connect to 198.51.100.20:443: connection refused");
}

static void test_close_cancels(void **state)
{
	struct fx *fx = *state;
	fx->d.cfg.publish = true;
	configure_relay(&fx->d);
	assert_int_equal(relaylink_new(&fx->d.relay, &fx->d), 0);
	dial_up(&fx->dials[0]);
	assert_int_equal(relaylink_connect(fx->d.relay, &fx->peer), 0);
	relaylink_close(fx->d.relay);
	fx->d.relay = NULL;
	assert_true(fx->dials[1].cancelled && fx->dials[2].cancelled && fx->dials[3].cancelled);
	assert_int_equal(fx->dials[0].link.closed, 1);
	assert_int_equal(fx->n_failed, 0);
	/* NULL-safe */
	assert_false(relaylink_known(NULL));
	assert_int_equal(relaylink_pool_idle(NULL), 0);
	assert_int_equal(relaylink_connect(NULL, &fx->peer), -ENOENT);
}

/* A pool dial refused for the clock is repeated at once with the relay's
 * time, and every later dial signs with it; a repeat refused again goes
 * to the backoff (no loop), with a status that says what is left. */
static void test_pool_clock_retry(void **state)
{
	struct fx *fx = *state;
	char desc[400];
	fx->d.cfg.publish = true;
	fx->d.cfg.relay_pool = 1;
	configure_relay(&fx->d);
	assert_int_equal(relaylink_new(&fx->d.relay, &fx->d), 0);
	assert_int_equal(fx->dials[0].t.clock_offset_s, 0);
	dial_refuse_clock(&fx->dials[0], 300);
	assert_int_equal(fx->n_dials, 2); /* at once, not after a backoff */
	assert_int_equal(live_dials(fx), 1);
	assert_true(offset_near(&fx->dials[1], 300));
	relaylink_describe(fx->d.relay, desc, sizeof(desc));
	assert_null(strstr(desc, "last error"));
	dial_up(&fx->dials[1]);
	assert_int_equal(relaylink_pool_idle(fx->d.relay), 1);
	relaylink_describe(fx->d.relay, desc, sizeof(desc));
	assert_non_null(strstr(desc, "; its clock +3"));

	/* The relay goes; the next dial signs with the offset, and is refused
	 * for the key: no repeat, the backoff, a clear status. */
	fx->dials[1].link.ops->down(fx->dials[1].link.arg, &fx->dials[1].link, UV_EOF, 0, "closed");
	run_for(fx, 0.05);
	assert_int_equal(fx->n_dials, 3);
	assert_true(offset_near(&fx->dials[2], 300));
	dial_refuse_clock(&fx->dials[2], 300);
	assert_int_equal(fx->n_dials, 3);
	relaylink_describe(fx->d.relay, desc, sizeof(desc));
	if (!strstr(desc, "last error: relay: the relay refused our key (401) though we signed with its time (+3"))
		fail_msg("describe: %s", desc);

	/* A relay whose clock keeps jumping: one repeat per dial, then the
	 * backoff. */
	run_for(fx, 0.05);
	assert_int_equal(fx->n_dials, 4);
	dial_refuse_clock(&fx->dials[3], 900);
	assert_int_equal(fx->n_dials, 5);
	assert_true(offset_near(&fx->dials[4], 900));
	dial_refuse_clock(&fx->dials[4], 1500);
	assert_int_equal(fx->n_dials, 5);
	assert_int_equal(live_dials(fx), 0);
	relaylink_describe(fx->d.relay, desc, sizeof(desc));
	if (!strstr(desc, "last error: relay: the relay refused our clock again (401)"))
		fail_msg("describe: %s", desc);
	run_for(fx, 0.05);
	assert_int_equal(fx->n_dials, 6);
	assert_true(offset_near(&fx->dials[5], 1500));
	dial_up(&fx->dials[5]);
	assert_int_equal(relaylink_pool_idle(fx->d.relay), 1);
}

static void test_client_clock_retry(void **state)
{
	struct fx *fx = *state;
	configure_relay(&fx->d);
	assert_int_equal(relaylink_new(&fx->d.relay, &fx->d), 0);
	assert_int_equal(relaylink_connect(fx->d.relay, &fx->peer), 0);
	dial_refuse_clock(&fx->dials[0], -400);
	assert_int_equal(fx->n_failed, 0);
	assert_int_equal(fx->n_dials, 2);
	assert_true(offset_near(&fx->dials[1], -400));
	assert_string_equal(fx->dials[1].t.path, fx->dials[0].t.path);
	assert_int_equal(relaylink_connect(fx->d.relay, &fx->peer), 0); /* still one at a time */
	assert_int_equal(fx->n_dials, 2);
	dial_up(&fx->dials[1]);
	assert_int_equal(fx->n_up, 1);

	/* Signed with the relay's time and still refused: the key's fault,
	 * reported, not repeated. */
	assert_int_equal(relaylink_connect(fx->d.relay, &fx->peer), 0);
	assert_true(offset_near(&fx->dials[2], -400));
	dial_refuse_clock(&fx->dials[2], -400);
	assert_int_equal(fx->n_dials, 3);
	assert_int_equal(fx->n_failed, 1);
	assert_non_null(strstr(fx->failed_why, "refused our key (401) though we signed with its time (-4"));

	/* The relay's clock moved: one repeat; refused again for the key. */
	assert_int_equal(relaylink_connect(fx->d.relay, &fx->peer), 0);
	dial_refuse_clock(&fx->dials[3], 400);
	assert_int_equal(fx->n_dials, 5);
	assert_true(offset_near(&fx->dials[4], 400));
	dial_refuse_clock(&fx->dials[4], 400);
	assert_int_equal(fx->n_dials, 5);
	assert_int_equal(fx->n_failed, 2);
	assert_non_null(strstr(fx->failed_why, "refused our key (401) though we signed with its time (+4"));

	/* A cancelled repeat stays cancelled. */
	assert_int_equal(relaylink_connect(fx->d.relay, &fx->peer), 0);
	dial_refuse_clock(&fx->dials[5], 2000);
	assert_int_equal(fx->n_dials, 7);
	relaylink_cancel(fx->d.relay, &fx->peer);
	assert_true(fx->dials[6].cancelled);
	assert_int_equal(fx->n_failed, 2);
}

/* Another relay, another clock: the offset starts again at 0. */
static void test_clock_reset_on_learn(void **state)
{
	struct fx *fx = *state;
	uint8_t key[KEY_LEN];
	memset(key, 7, sizeof(key));
	fx->d.cfg.publish = true;
	fx->d.cfg.relay_pool = 1;
	assert_int_equal(relaylink_new(&fx->d.relay, &fx->d), 0);
	relaylink_learn(fx->d.relay, "192.0.2.9", 443, key);
	dial_refuse_clock(&fx->dials[0], 200);
	assert_true(offset_near(&fx->dials[1], 200));
	relaylink_learn(fx->d.relay, "192.0.2.10", 443, key);
	assert_true(fx->dials[1].cancelled);
	assert_int_equal(fx->n_dials, 3);
	assert_int_equal(fx->dials[2].t.clock_offset_s, 0);
	/* A 401 whose clock agrees with ours is the key's: no repeat. */
	dial_refuse_clock(&fx->dials[2], 0);
	assert_int_equal(fx->n_dials, 3);
	char desc[400];
	relaylink_describe(fx->d.relay, desc, sizeof(desc));
	assert_non_null(strstr(desc, "last error: relay: the relay refused our key (401): is relay_key right, and the clock?"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pool_fills_and_splices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_backoff_and_refill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_close_frame_and_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_pool_without_publish, setup, teardown),
		cmocka_unit_test_setup_teardown(test_learn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_learn_ignored_when_configured, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_offline_and_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_cancels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_clock_retry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_clock_retry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clock_reset_on_learn, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
