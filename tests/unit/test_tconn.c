/*
 * test_tconn.c - tconn.c's frame handling and deadlines against a fake
 * tlink: the tlink_* functions tconn.c calls are defined here (so the
 * real tlink.c is never linked in), writes land in a byte buffer, and the
 * test delivers stream bytes through the ops tconn_new installed. The
 * daemon is a zeroed struct with a real libuv loop; receive_packet and
 * path_conn_down are recorders. Deadlines run with time_scale 1000
 * (10 s -> 10 ms) and every loop turn is bounded by a wall-clock deadline.
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
#include "path.h"
#include "peer.h"
#include "tconn.h"
#include "tcpframe.h"
#include "tlink.h"

/* ------------------------------------------------------- the fake link */

struct tlink {
	const struct tlink_ops *ops;
	void *arg;
	uint8_t out[4096];        /* everything written */
	size_t out_len;
	int write_rc;             /* what writes return (0 = accept) */
	int closed;               /* tlink_close and tlink_close_after_flush calls */
	int flushed;              /* tlink_close_after_flush calls */
};

void tlink_set_ops(struct tlink *l, const struct tlink_ops *ops, void *arg)
{
	l->ops = ops;
	l->arg = arg;
}

int tlink_write2(struct tlink *l, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	if (l->closed)
		return -ENOTCONN;
	if (l->write_rc)
		return l->write_rc;
	assert_true(l->out_len + alen + blen <= sizeof(l->out));
	memcpy(l->out + l->out_len, a, alen);
	if (blen)
		memcpy(l->out + l->out_len + alen, b, blen);
	l->out_len += alen + blen;
	return 0;
}

int tlink_write(struct tlink *l, const uint8_t *buf, size_t len)
{
	return tlink_write2(l, buf, len, NULL, 0);
}

void tlink_close(struct tlink *l) { l->closed++; }
/* Counted as a close too; flushed says which kind. */
void tlink_close_after_flush(struct tlink *l)
{
	l->closed++;
	l->flushed++;
}

void tlink_describe(const struct tlink *l, char *out, size_t outlen)
{
	(void)l;
	snprintf(out, outlen, "198.51.100.20:443 via direct");
}

/* ------------------------------------------------------------ recorders */

struct fx {
	uv_loop_t loop;
	struct daemon d;
	struct tlink link, link2;
	struct peer peer;
	struct tconn *c;
	int n_rx, n_down, n_done;
	uint8_t rx[512];
	size_t rx_len;
	struct pathref rx_from;
	bool close_in_receive;    /* receive_packet closes the tconn */
	struct tconn *down_conn;
	uint64_t down_ms, down_created_ms, down_last_rx_ms;  /* the tconn is freed soon after */
};

static struct fx *g_fx; /* the recorders' way back to the fixture */

void receive_packet(struct daemon *d, uint8_t *buf, size_t len, const struct pathref *from)
{
	struct fx *fx = g_fx;
	assert_ptr_equal(d, &fx->d);
	assert_true(len <= sizeof(fx->rx));
	memcpy(fx->rx, buf, len);
	fx->rx_len = len;
	fx->rx_from = *from;
	if (len)
		buf[0] ^= 0xff; /* decryption works in place: the buffer must be ours */
	fx->n_rx++;
	if (fx->close_in_receive)
		tconn_close(from->conn, "test closes in receive");
}

void path_conn_down(struct daemon *d, struct tconn *c)
{
	struct fx *fx = g_fx;
	assert_ptr_equal(d, &fx->d);
	assert_true(c->closing);
	fx->n_down++;
	fx->down_conn = c;
	fx->down_ms = uv_now(d->loop);
	fx->down_created_ms = c->created_ms;
	fx->down_last_rx_ms = c->last_rx_ms;
}

static void done_cb(void *arg)
{
	struct fx *fx = arg;
	fx->n_done++;
}

/* --------------------------------------------------------------- helpers */

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
	fx->d.loop = &fx->loop;
	fx->d.time_scale = 1;
	snprintf(fx->peer.cfg.name, sizeof(fx->peer.cfg.name), "hq");
	g_fx = fx;
	*state = fx;
	return 0;
}

/* Every tconn is closed and freed (the loop holds no handle) at the end. */
static int teardown(void **state)
{
	struct fx *fx = *state;
	tconn_close_all(&fx->d, NULL, NULL);
	for (double deadline = now_s() + 2; fx->d.tconns && now_s() < deadline;)
		uv_run(&fx->loop, UV_RUN_NOWAIT);
	uv_run(&fx->loop, UV_RUN_NOWAIT);
	int rc = uv_loop_close(&fx->loop);
	bool empty = fx->d.tconns == NULL;
	free(fx);
	g_fx = NULL;
	return rc == 0 && empty ? 0 : -1;
}

static void feed(struct tlink *l, const uint8_t *buf, size_t len)
{
	l->ops->data(l->arg, l, buf, len);
}

static size_t frame(uint8_t *out, uint8_t type, const void *body, size_t len)
{
	tcpframe_header(out, type, len);
	memcpy(out + TCPFRAME_HDR_LEN, body, len);
	return TCPFRAME_HDR_LEN + len;
}

/* Turns the loop until cond() or limit_s passed. */
static void run_until(struct fx *fx, bool (*cond)(struct fx *), double limit_s)
{
	for (double deadline = now_s() + limit_s; !cond(fx) && now_s() < deadline;)
		uv_run(&fx->loop, UV_RUN_ONCE);
}

static bool is_down(struct fx *fx) { return fx->n_down > 0; }
static bool all_freed(struct fx *fx) { return fx->d.tconns == NULL; }
static bool wrote_something(struct fx *fx) { return fx->link.out_len > 0; }

/* ----------------------------------------------------------------- tests */

static void test_packets_split_and_batched(void **state)
{
	struct fx *fx = *state;
	uint8_t buf[256];
	assert_int_equal(tconn_new(&fx->c, &fx->d, &fx->link, TCONN_RELAY, &fx->peer), 0);
	assert_ptr_equal(fx->d.tconns, fx->c);
	assert_string_equal(fx->c->desc, "relay 198.51.100.20:443 via direct");

	/* one frame cut in three reads */
	size_t n = frame(buf, TCPFRAME_PACKET, "hello world", 11);
	feed(&fx->link, buf, 2);
	feed(&fx->link, buf + 2, 5);
	assert_int_equal(fx->n_rx, 0);
	feed(&fx->link, buf + 7, n - 7);
	assert_int_equal(fx->n_rx, 1);
	assert_int_equal(fx->rx_len, 11);
	assert_memory_equal(fx->rx, "hello world", 11);
	assert_int_equal(fx->rx_from.kind, PATH_RELAY);
	assert_ptr_equal(fx->rx_from.conn, fx->c);

	/* two whole frames in one read: each handed over in a writable copy */
	n = frame(buf, TCPFRAME_PACKET, "abc", 3);
	n += frame(buf + n, TCPFRAME_PACKET, "defg", 4);
	feed(&fx->link, buf, n);
	assert_int_equal(fx->n_rx, 3);
	assert_memory_equal(fx->rx, "defg", 4);
	assert_int_equal(buf[TCPFRAME_HDR_LEN], 'a'); /* the link's buffer untouched */
	assert_int_equal(fx->c->rx_frames, 3);
	assert_int_equal(fx->n_down, 0);
}

static void test_tcp_kind(void **state)
{
	struct fx *fx = *state;
	uint8_t buf[32];
	assert_int_equal(tconn_new(&fx->c, &fx->d, &fx->link, TCONN_TCP, &fx->peer), 0);
	assert_memory_equal(fx->c->desc, "tcp ", 4);
	size_t n = frame(buf, TCPFRAME_PACKET, "x", 1);
	feed(&fx->link, buf, n);
	assert_int_equal(fx->rx_from.kind, PATH_TCP);
}

static void test_ping_answered(void **state)
{
	struct fx *fx = *state;
	uint8_t buf[32], want[32];
	assert_int_equal(tconn_new(&fx->c, &fx->d, &fx->link, TCONN_RELAY, &fx->peer), 0);
	size_t n = frame(buf, TCPFRAME_PING, "12345678", 8);
	feed(&fx->link, buf, n);
	size_t w = frame(want, TCPFRAME_PONG, "12345678", 8);
	assert_int_equal(fx->link.out_len, w);
	assert_memory_equal(fx->link.out, want, w);
	/* a PONG is just life */
	n = frame(buf, TCPFRAME_PONG, "abcdefgh", 8);
	feed(&fx->link, buf, n);
	assert_int_equal(fx->link.out_len, w);
	assert_int_equal(fx->n_down, 0);
}

static void test_send(void **state)
{
	struct fx *fx = *state;
	uint8_t want[16];
	assert_int_equal(tconn_new(&fx->c, &fx->d, &fx->link, TCONN_RELAY, &fx->peer), 0);
	assert_int_equal(tconn_send(fx->c, (const uint8_t *)"data", 4), 0);
	size_t w = frame(want, TCPFRAME_PACKET, "data", 4);
	assert_int_equal(fx->link.out_len, w);
	assert_memory_equal(fx->link.out, want, w);
	assert_int_equal(fx->c->tx_frames, 1);

	fx->link.write_rc = -ENOBUFS;
	assert_int_equal(tconn_send(fx->c, (const uint8_t *)"data", 4), -ENOBUFS);
	assert_int_equal(fx->c->tx_dropped, 1);
	fx->link.write_rc = 0;

	static uint8_t big[TCPFRAME_RX_MAX + 1];
	assert_int_equal(tconn_send(fx->c, big, sizeof(big)), -EMSGSIZE);

	tconn_close(fx->c, "done");
	assert_int_equal(tconn_send(fx->c, (const uint8_t *)"data", 4), -ENOTCONN);
}

static void test_close_frame(void **state)
{
	struct fx *fx = *state;
	uint8_t buf[64];
	assert_int_equal(tconn_new(&fx->c, &fx->d, &fx->link, TCONN_RELAY, &fx->peer), 0);
	/* CLOSE then a PACKET in the same read: the PACKET is not handled */
	size_t n = frame(buf, TCPFRAME_CLOSE, "bye\n\x01", 5);
	n += frame(buf + n, TCPFRAME_PACKET, "late", 4);
	feed(&fx->link, buf, n);
	assert_int_equal(fx->n_rx, 0);
	assert_int_equal(fx->n_down, 1);
	assert_ptr_equal(fx->down_conn, fx->c);
	assert_int_equal(fx->link.closed, 1);
	assert_int_equal(fx->link.flushed, 0); /* nothing to flush: closed at once */
	assert_int_equal(fx->link.out_len, 0); /* no CLOSE sent back */
	run_until(fx, all_freed, 2);
	assert_null(fx->d.tconns);
}

static void test_bad_stream(void **state)
{
	struct fx *fx = *state;
	uint8_t buf[16];
	assert_int_equal(tconn_new(&fx->c, &fx->d, &fx->link, TCONN_RELAY, &fx->peer), 0);
	tcpframe_header(buf, 0x7e, 0); /* unknown type */
	feed(&fx->link, buf, TCPFRAME_HDR_LEN);
	assert_int_equal(fx->n_down, 1);
	assert_int_equal(fx->link.closed, 1);
	/* we said why before closing, and the link closes once that is out */
	assert_true(fx->link.out_len > TCPFRAME_HDR_LEN);
	assert_int_equal(fx->link.out[0], TCPFRAME_CLOSE);
	assert_int_equal(fx->link.flushed, 1);
	/* nothing more after closing */
	feed(&fx->link, buf, TCPFRAME_HDR_LEN);
	tconn_close(fx->c, "again");
	assert_int_equal(fx->n_down, 1);
}

/* Our CLOSE and its reason go out before the link closes; a CLOSE that
 * could not be queued leaves nothing to wait for. */
static void test_close_says_why_then_flushes(void **state)
{
	struct fx *fx = *state;
	uint8_t want[64];
	assert_int_equal(tconn_new(&fx->c, &fx->d, &fx->link, TCONN_RELAY, &fx->peer), 0);
	tconn_close(fx->c, "peer removed from the config");
	size_t w = frame(want, TCPFRAME_CLOSE, "peer removed from the config", 28);
	assert_int_equal(fx->link.out_len, w);
	assert_memory_equal(fx->link.out, want, w);
	assert_int_equal(fx->link.flushed, 1);
	assert_int_equal(fx->link.closed, 1);
	assert_int_equal(fx->n_down, 1);

	assert_int_equal(tconn_new(&fx->c, &fx->d, &fx->link2, TCONN_RELAY, &fx->peer), 0);
	fx->link2.write_rc = -ENOBUFS;
	tconn_close(fx->c, "queue full");
	assert_int_equal(fx->link2.flushed, 0);
	assert_int_equal(fx->link2.closed, 1);
	run_until(fx, all_freed, 2);
	assert_null(fx->d.tconns);
}

static void test_spliced_refused(void **state)
{
	struct fx *fx = *state;
	uint8_t buf[64], key[32] = { 0 };
	assert_int_equal(tconn_new(&fx->c, &fx->d, &fx->link, TCONN_RELAY, &fx->peer), 0);
	size_t n = frame(buf, TCPFRAME_SPLICED, key, sizeof(key));
	feed(&fx->link, buf, n);
	assert_int_equal(fx->n_down, 1);
}

static void test_link_down(void **state)
{
	struct fx *fx = *state;
	assert_int_equal(tconn_new(&fx->c, &fx->d, &fx->link, TCONN_RELAY, &fx->peer), 0);
	fx->link.ops->down(fx->link.arg, &fx->link, -ECONNRESET, 0, "connection reset");
	assert_int_equal(fx->n_down, 1);
	assert_int_equal(fx->link.closed, 0); /* a link that reported down closes itself */
	assert_null(fx->c->link);
	tconn_close(fx->c, "later");
	assert_int_equal(fx->n_down, 1);
}

static void test_close_inside_receive(void **state)
{
	struct fx *fx = *state;
	uint8_t buf[64];
	assert_int_equal(tconn_new(&fx->c, &fx->d, &fx->link, TCONN_RELAY, &fx->peer), 0);
	fx->close_in_receive = true;
	size_t n = frame(buf, TCPFRAME_PACKET, "one", 3);
	n += frame(buf + n, TCPFRAME_PACKET, "two", 3);
	feed(&fx->link, buf, n);
	assert_int_equal(fx->n_rx, 1);
	assert_int_equal(fx->n_down, 1);
	assert_int_equal(fx->link.closed, 1);
}

static void test_input_before_takeover(void **state)
{
	struct fx *fx = *state;
	uint8_t buf[64];
	assert_int_equal(tconn_new(&fx->c, &fx->d, &fx->link, TCONN_RELAY, NULL), 0);
	size_t n = frame(buf, TCPFRAME_PACKET, "first", 5);
	tconn_input(fx->c, buf, 3);
	feed(&fx->link, buf + 3, n - 3);
	assert_int_equal(fx->n_rx, 1);
	assert_memory_equal(fx->rx, "first", 5);
}

static void test_close_all(void **state)
{
	struct fx *fx = *state;
	struct tconn *a, *b;
	assert_int_equal(tconn_new(&a, &fx->d, &fx->link, TCONN_RELAY, &fx->peer), 0);
	assert_int_equal(tconn_new(&b, &fx->d, &fx->link2, TCONN_RELAY, NULL), 0);
	tconn_close(a, "first"); /* already closing: waited for too */
	tconn_close_all(&fx->d, done_cb, fx);
	assert_int_equal(fx->n_down, 2);
	assert_int_equal(fx->n_done, 0);
	run_until(fx, all_freed, 2);
	assert_int_equal(fx->n_done, 1);
	/* nothing to close: done at once */
	tconn_close_all(&fx->d, done_cb, fx);
	assert_int_equal(fx->n_done, 2);
	/* a stopping daemon takes no new ones */
	fx->d.stopping = true;
	assert_int_equal(tconn_new(&a, &fx->d, &fx->link, TCONN_RELAY, NULL), -ESHUTDOWN);
}

static void test_unattached_deadline(void **state)
{
	struct fx *fx = *state;
	fx->d.time_scale = 1000;
	assert_int_equal(tconn_new(&fx->c, &fx->d, &fx->link, TCONN_RELAY, NULL), 0);
	run_until(fx, is_down, 2);
	assert_int_equal(fx->n_down, 1);
	assert_true(fx->down_ms - fx->down_created_ms >= TCONN_ATTACH_MS / 1000);
}

static void test_ping_then_dead(void **state)
{
	struct fx *fx = *state;
	fx->d.time_scale = 1000;
	assert_int_equal(tconn_new(&fx->c, &fx->d, &fx->link, TCONN_RELAY, NULL), 0);
	tconn_attach(fx->c, &fx->peer);
	assert_ptr_equal(fx->c->peer, &fx->peer);
	run_until(fx, wrote_something, 2);
	assert_int_equal(fx->n_down, 0); /* attached: the attach deadline is gone */
	assert_int_equal(fx->link.out_len, TCPFRAME_HDR_LEN + TCPFRAME_PING_LEN);
	assert_int_equal(fx->link.out[0], TCPFRAME_PING);
	run_until(fx, is_down, 2);
	assert_int_equal(fx->n_down, 1);
	assert_true(fx->down_ms - fx->down_last_rx_ms >= TCONN_DEAD_MS / 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_packets_split_and_batched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_kind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ping_answered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_says_why_then_flushes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spliced_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_inside_receive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_input_before_takeover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unattached_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ping_then_dead, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
