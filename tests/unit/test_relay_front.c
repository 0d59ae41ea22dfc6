/*
 * test_relay_front.c - the relay's front, connections, pool and splice
 * working together in one process, with plain sockets as tunds: the
 * behaviour the end-to-end test cannot pin down. Backpressure (a reader
 * that stops: the sender is paused, nothing is dropped, nothing grows
 * past the queue limit), a peer that never reads (closed after the
 * blocked deadline), the pool's PING/PONG, bad frames and silence,
 * Poll-mode POSTs (pipelined, 100-continue, 413, one at a time, a body
 * cut short), the request-head deadline and a full table.
 *
 * It runs in a private network namespace (unshare), on 127.0.0.1 there;
 * without root it exits 77 (skipped). Every wait is bounded: the loop is
 * pumped between non-blocking socket calls until a deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <sodium.h>
#include <uv.h>

#include "conn.h"
#include "front.h"
#include "keys.h"
#include "noncecache.h"
#include "polltab.h"
#include "relay.h"
#include "relayproto.h"
#include "tcpframe.h"

#define SKIP_EXIT 77
#define PORT_BASE 8443             /* each rig its own: a failed test leaves its socket */

struct rig {
	uv_loop_t loop;
	struct stats st;
	struct conn_table *ct;
	struct relay *r;
	struct polltab *pt;
	struct noncecache *nc;
	struct front *f;
	uint8_t rpriv[KEY_LEN], rpub[KEY_LEN];
	uint8_t spriv[KEY_LEN], spub[KEY_LEN], cpriv[KEY_LEN], cpub[KEY_LEN];
	char sys[UUID_STR_LEN + 1];
	uint16_t port;
};

static uint16_t next_port = PORT_BASE;

static struct rig *rig_new(unsigned max_conns, uint64_t blocked_ms)
{
	struct rig *g = calloc(1, sizeof(*g));
	const struct conn_limits lim = {
		.max_conns = max_conns, .head_ms = 1000, .idle_ms = 2000, .drain_ms = 500, .blocked_ms = blocked_ms,
	};
	struct front_config fc = { .listen = { 0x7f000001, next_port } };
	char err[256];
	uint8_t id[UUID_LEN];

	assert_non_null(g);
	g->port = next_port++;
	assert_int_equal(uv_loop_init(&g->loop), 0);
	key_generate(g->rpriv);
	key_generate(g->spriv);
	key_generate(g->cpriv);
	assert_int_equal(key_public(g->rpub, g->rpriv), 0);
	assert_int_equal(key_public(g->spub, g->spriv), 0);
	assert_int_equal(key_public(g->cpub, g->cpriv), 0);
	key_system_id(id, g->spub);
	uuid_format(g->sys, id);
	assert_int_equal(conn_table_new(&g->ct, &g->loop, &lim), 0);
	assert_int_equal(relay_new(&g->r, &g->loop, &g->st), 0);
	assert_int_equal(polltab_new(&g->pt), 0);
	assert_int_equal(noncecache_new(&g->nc, 1024, RELAYPROTO_SKEW_S), 0);
	fc.loop = &g->loop;
	fc.conns = g->ct;
	fc.relay = g->r;
	fc.polls = g->pt;
	fc.nonces = g->nc;
	fc.st = &g->st;
	memcpy(fc.priv, g->rpriv, KEY_LEN);
	memcpy(fc.pub, g->rpub, KEY_LEN);
	if (front_new(&g->f, &fc, err, sizeof(err)) != 0)
		fail_msg("front_new: %s", err);
	return g;
}

static void rig_free(struct rig *g)
{
	front_stop(g->f);
	conn_table_close(g->ct, NULL, NULL);
	uv_run(&g->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&g->loop), 0);
	front_free(g->f);
	relay_free(g->r);
	polltab_free(g->pt);
	noncecache_free(g->nc);
	free(g);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Runs the relay's loop (and its deadlines) without waiting. */
static void spin(struct rig *g)
{
	for (int i = 0; i < 4; i++)
		uv_run(&g->loop, UV_RUN_NOWAIT);
	uv_update_time(&g->loop);
	conn_sweep(g->ct, uv_now(&g->loop));
}

/* The same, then a millisecond for the kernel to move bytes. */
static void pump(struct rig *g)
{
	spin(g);
	poll(NULL, 0, 1);
}

static void pump_ms(struct rig *g, unsigned ms)
{
	for (uint64_t end = mono_ms() + ms; mono_ms() < end;)
		pump(g);
}

/* ------------------------------------------------------------ clients */

static int cl_connect(struct rig *g)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(g->port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	/* as tund does; with Nagle, small sends wait for delayed ACKs */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	sa.sin_addr.s_addr = htonl(0x7f000001);
	int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	assert_true(rc == 0 || errno == EINPROGRESS);
	pump(g);
	return fd;
}

static void cl_send(struct rig *g, int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t end = mono_ms() + 5000;

	while (len && mono_ms() < end) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else {
			assert_true(n < 0 && errno == EAGAIN);
		}
		pump(g);
	}
	assert_int_equal(len, 0);
}

/* Reads until want bytes, EOF (*eof) or timeout_ms; the count read. */
static size_t cl_recv(struct rig *g, int fd, void *buf, size_t want, unsigned timeout_ms, bool *eof)
{
	uint8_t *p = buf;
	size_t got = 0;
	uint64_t end = mono_ms() + timeout_ms;

	if (eof)
		*eof = false;
	while (got < want && mono_ms() < end) {
		ssize_t n = recv(fd, p + got, want - got, 0);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			if (eof)
				*eof = true;
			break;
		}
		pump(g);
	}
	return got;
}

static bool cl_closed(struct rig *g, int fd, unsigned timeout_ms)
{
	uint8_t junk[4096];
	bool eof = false;

	for (uint64_t end = mono_ms() + timeout_ms; !eof && mono_ms() < end;)
		cl_recv(g, fd, junk, sizeof(junk), 50, &eof);
	return eof;
}

/* A response head (up to the empty line) into out; its status. */
static unsigned cl_head(struct rig *g, int fd, char *out, size_t cap)
{
	size_t len = 0;

	while (len + 1 < cap && cl_recv(g, fd, out + len, 1, 3000, NULL) == 1) {
		len++;
		out[len] = '\0';
		if (len >= 4 && memcmp(out + len - 4, "\r\n\r\n", 4) == 0)
			return (unsigned)strtoul(out + 9, NULL, 10);
	}
	fail_msg("no response head (got %zu bytes)", len);
	return 0;
}

/* An authenticated GET; poll: without Upgrade. */
static int cl_request(struct rig *g, const char *path, bool server, bool poll_mode, char *head, size_t cap,
		      unsigned *status)
{
	char auth[512], req[1024];
	int fd = cl_connect(g);

	assert_true(relayproto_auth_headers(auth, sizeof(auth), server ? g->spriv : g->cpriv,
					    server ? g->spub : g->cpub, g->rpub, path, (int64_t)time(NULL)) > 0);
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: relay\r\n%s%s\r\n", path,
			 poll_mode ? RELAYPROTO_POLL_FIELD ": 1\r\n" : "Connection: Upgrade\r\nUpgrade: " RELAYPROTO_UPGRADE "\r\n",
			 auth);
	cl_send(g, fd, req, (size_t)n);
	*status = cl_head(g, fd, head, cap);
	return fd;
}

/* A server's pool connection and a client spliced to it (Upgrade both);
 * the server has read SPLICED. */
static void spliced_pair(struct rig *g, int *srv, int *cli)
{
	char head[1024], path[128];
	uint8_t frame[TCPFRAME_HDR_LEN + KEY_LEN];
	unsigned st;

	*srv = cl_request(g, RELAYPROTO_PATH_LISTEN, true, false, head, sizeof(head), &st);
	assert_int_equal(st, 101);
	snprintf(path, sizeof(path), RELAYPROTO_PATH_CONNECT "%s", g->sys);
	*cli = cl_request(g, path, false, false, head, sizeof(head), &st);
	assert_int_equal(st, 101);
	assert_int_equal(cl_recv(g, *srv, frame, sizeof(frame), 3000, NULL), sizeof(frame));
	assert_int_equal(frame[0], TCPFRAME_SPLICED);
	assert_memory_equal(frame + TCPFRAME_HDR_LEN, g->cpub, KEY_LEN);
}

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 131 + (i >> 13));
}

/* ------------------------------------------------------------- tests */

static void backpressure(void **state)
{
	/* more than the kernel buffers on loopback can hold (a few MiB per
	 * socket, four sockets) plus the relay's queue limit */
	enum { TOTAL = 64 << 20 };
	struct rig *g = rig_new(100, 10000);   /* the stall below is no stuck peer */
	int srv, cli;
	uint8_t chunk[65536];
	size_t sent = 0, got = 0;
	struct conn_stats cs;

	spliced_pair(g, &srv, &cli);
	/* the server does not read: the client can only get so far (the
	 * relay's queue, and the kernel's buffers on its two sockets) */
	for (uint64_t end = mono_ms() + 1500; mono_ms() < end && sent < TOTAL;) {
		for (size_t i = 0; i < sizeof(chunk); i++)
			chunk[i] = pattern(sent + i);
		ssize_t n = send(cli, chunk, TOTAL - sent < sizeof(chunk) ? TOTAL - sent : sizeof(chunk),
				 MSG_NOSIGNAL);
		if (n > 0)
			sent += (size_t)n;
		pump(g);
	}
	print_message("client got %zu bytes out before the stall\n", sent);
	assert_true(sent < TOTAL);
	conn_table_stats(g->ct, &cs);
	assert_int_equal(cs.overflows, 0);
	/* the server reads again: everything arrives, in order */
	for (uint64_t end = mono_ms() + 30000; got < TOTAL && mono_ms() < end;) {
		uint8_t in[65536];
		bool moved = false;
		ssize_t n = recv(srv, in, sizeof(in), 0);
		if (n > 0) {
			moved = true;
			for (ssize_t i = 0; i < n; i++)
				if (in[i] != pattern(got + (size_t)i))
					fail_msg("byte %zu differs", got + (size_t)i);
			got += (size_t)n;
		} else {
			assert_true(n < 0 && errno == EAGAIN);
		}
		if (sent < TOTAL) {
			for (size_t i = 0; i < sizeof(chunk); i++)
				chunk[i] = pattern(sent + i);
			n = send(cli, chunk, TOTAL - sent < sizeof(chunk) ? TOTAL - sent : sizeof(chunk), MSG_NOSIGNAL);
			if (n > 0) {
				sent += (size_t)n;
				moved = true;
			}
		}
		if (moved)
			spin(g);
		else
			pump(g);
	}
	assert_int_equal(got, TOTAL);
	conn_table_stats(g->ct, &cs);
	assert_int_equal(cs.overflows, 0);
	assert_int_equal(cs.blocked_timeouts, 0);
	assert_int_equal(g->st.bytes_relayed, TOTAL);
	/* either side closing closes the other */
	close(cli);
	assert_true(cl_closed(g, srv, 3000));
	close(srv);
	rig_free(g);
}

static void stuck_reader(void **state)
{
	struct rig *g = rig_new(100, 500);
	int srv, cli;
	uint8_t chunk[65536] = { 0 };
	struct conn_stats cs;
	bool eof = false;

	spliced_pair(g, &srv, &cli);
	/* the server never reads: after the blocked deadline both ends close */
	for (uint64_t end = mono_ms() + 4000; mono_ms() < end && !eof;) {
		ssize_t n = send(cli, chunk, sizeof(chunk), MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN)
			eof = true;
		uint8_t b;
		if (recv(cli, &b, 1, 0) == 0)
			eof = true;
		pump(g);
	}
	assert_true(eof);
	conn_table_stats(g->ct, &cs);
	assert_int_equal(cs.blocked_timeouts, 1);
	assert_int_equal(cs.overflows, 0);
	close(cli);
	close(srv);
	rig_free(g);
}

static void pool_frames(void **state)
{
	struct rig *g = rig_new(100, 500);
	char head[1024];
	unsigned st;
	uint8_t ping[12], pong[12], buf[256];
	bool eof;

	int s1 = cl_request(g, RELAYPROTO_PATH_LISTEN, true, false, head, sizeof(head), &st);
	assert_int_equal(st, 101);
	tcpframe_header(ping, TCPFRAME_PING, 8);
	memcpy(ping + 4, "12345678", 8);
	cl_send(g, s1, ping, sizeof(ping));
	assert_int_equal(cl_recv(g, s1, pong, sizeof(pong), 3000, NULL), sizeof(pong));
	assert_int_equal(pong[0], TCPFRAME_PONG);
	assert_memory_equal(pong + 4, "12345678", 8);
	/* a PACKET before any splice: CLOSE with a reason, then the end */
	uint8_t pkt[6];
	tcpframe_header(pkt, TCPFRAME_PACKET, 2);
	cl_send(g, s1, pkt, sizeof(pkt));
	size_t n = cl_recv(g, s1, buf, sizeof(buf), 3000, &eof);
	assert_true(n > 4 && buf[0] == TCPFRAME_CLOSE);
	assert_true(eof || cl_closed(g, s1, 3000));
	close(s1);

	/* silence: the sweep closes a pool connection after RELAYPROTO_IDLE_S */
	int s2 = cl_request(g, RELAYPROTO_PATH_LISTEN, true, false, head, sizeof(head), &st);
	assert_int_equal(st, 101);
	assert_int_equal(pool_total(relay_pool(g->r)), 1);
	relay_sweep(g->r, uv_now(&g->loop) + RELAYPROTO_IDLE_S * 1000 - 1000);
	assert_int_equal(pool_total(relay_pool(g->r)), 1);
	relay_sweep(g->r, uv_now(&g->loop) + RELAYPROTO_IDLE_S * 1000 + 1000);
	assert_int_equal(pool_total(relay_pool(g->r)), 0);
	n = cl_recv(g, s2, buf, sizeof(buf), 3000, &eof);
	assert_true(n > 4 && buf[0] == TCPFRAME_CLOSE);
	assert_int_equal(g->st.pool_timeouts, 1);
	close(s2);
	rig_free(g);
}

/* A POST of body to token on fd (one write with what follows). */
static int post(char *out, size_t cap, const char *token, const char *body, const char *extra)
{
	return snprintf(out, cap, "POST " RELAYPROTO_PATH_UP "%s HTTP/1.1\r\nHost: relay\r\n%s"
			"Content-Length: %zu\r\n\r\n%s", token, extra, strlen(body), body);
}

static void poll_posts(void **state)
{
	struct rig *g = rig_new(100, 500);
	char head[1024], path[128], token[RELAYPROTO_TOKEN_STR + 1], req[2048];
	unsigned st;
	uint8_t frame[TCPFRAME_HDR_LEN + KEY_LEN], buf[256];
	bool eof;

	int srv = cl_request(g, RELAYPROTO_PATH_LISTEN, true, false, head, sizeof(head), &st);
	assert_int_equal(st, 101);
	snprintf(path, sizeof(path), RELAYPROTO_PATH_CONNECT "%s", g->sys);
	int get = cl_request(g, path, false, true, head, sizeof(head), &st);
	assert_int_equal(st, 200);
	const char *t = strstr(head, "Tund-Session: ");
	assert_non_null(t);
	memcpy(token, t + 14, RELAYPROTO_TOKEN_STR);
	token[RELAYPROTO_TOKEN_STR] = '\0';
	assert_non_null(strstr(head, "Transfer-Encoding: chunked"));
	assert_int_equal(cl_recv(g, srv, frame, sizeof(frame), 3000, NULL), sizeof(frame));

	/* three POSTs pipelined in one write, one of them empty */
	int up = cl_connect(g);
	int n = post(req, sizeof(req), token, "hello", "");
	n += post(req + n, sizeof(req) - (size_t)n, token, "", "");
	n += post(req + n, sizeof(req) - (size_t)n, token, "world!", "");
	cl_send(g, up, req, (size_t)n);
	for (int i = 0; i < 3; i++)
		assert_int_equal(cl_head(g, up, head, sizeof(head)), 204);
	assert_int_equal(cl_recv(g, srv, buf, 11, 3000, NULL), 11);
	assert_memory_equal(buf, "helloworld!", 11);

	/* 100-continue: the interim answer, then the body is taken */
	n = snprintf(req, sizeof(req), "POST " RELAYPROTO_PATH_UP "%s HTTP/1.1\r\nHost: relay\r\n"
		     "Expect: 100-continue\r\nContent-Length: 3\r\n\r\n", token);
	cl_send(g, up, req, (size_t)n);
	assert_int_equal(cl_head(g, up, head, sizeof(head)), 100);
	cl_send(g, up, "xyz", 3);
	assert_int_equal(cl_head(g, up, head, sizeof(head)), 204);
	assert_int_equal(cl_recv(g, srv, buf, 3, 3000, NULL), 3);

	/* downstream: one chunk per write */
	cl_send(g, srv, "abc", 3);
	assert_int_equal(cl_recv(g, get, buf, 8, 3000, NULL), 8);
	assert_memory_equal(buf, "3\r\nabc\r\n", 8);

	/* too big: 413 and the connection closes */
	n = snprintf(req, sizeof(req), "POST " RELAYPROTO_PATH_UP "%s HTTP/1.1\r\nHost: relay\r\n"
		     "Content-Length: 999999999\r\n\r\n", token);
	cl_send(g, up, req, (size_t)n);
	assert_int_equal(cl_head(g, up, head, sizeof(head)), 413);
	assert_true(cl_closed(g, up, 3000));
	close(up);

	/* one at a time: a second POST while a body is arriving gets 400 */
	int p1 = cl_connect(g), p2 = cl_connect(g);
	n = snprintf(req, sizeof(req), "POST " RELAYPROTO_PATH_UP "%s HTTP/1.1\r\nHost: relay\r\n"
		     "Content-Length: 10\r\n\r\nabc", token);
	cl_send(g, p1, req, (size_t)n);
	pump_ms(g, 50);
	n = post(req, sizeof(req), token, "zz", "");
	cl_send(g, p2, req, (size_t)n);
	assert_int_equal(cl_head(g, p2, head, sizeof(head)), 400);
	close(p2);
	/* the first one is cut short: the session is over at both ends */
	close(p1);
	assert_true(cl_closed(g, get, 3000));
	assert_true(cl_closed(g, srv, 3000));
	int p3 = cl_connect(g);
	n = post(req, sizeof(req), token, "late", "");
	cl_send(g, p3, req, (size_t)n);
	assert_int_equal(cl_head(g, p3, head, sizeof(head)), 404);
	assert_int_equal(polltab_count(g->pt), 0);
	(void)eof;
	close(p3);
	close(get);
	close(srv);
	rig_free(g);
}

static void head_deadline(void **state)
{
	struct rig *g = rig_new(100, 500);
	int fd = cl_connect(g);
	struct conn_stats cs;

	cl_send(g, fd, "GET /tund/v1/li", 15);
	pump_ms(g, 300);
	assert_false(cl_closed(g, fd, 100));
	assert_true(cl_closed(g, fd, 3000));
	conn_table_stats(g->ct, &cs);
	assert_int_equal(cs.head_timeouts, 1);
	close(fd);
	rig_free(g);
}

static void full_table(void **state)
{
	struct rig *g = rig_new(3, 500);
	char head[1024];
	unsigned st;
	int fds[3];
	struct conn_stats cs;

	/* three that never send a request: a fourth evicts the oldest */
	for (int i = 0; i < 3; i++) {
		fds[i] = cl_connect(g);
		pump_ms(g, 20);
	}
	int late = cl_connect(g);
	pump_ms(g, 50);
	assert_true(cl_closed(g, fds[0], 3000));
	conn_table_stats(g->ct, &cs);
	assert_int_equal(cs.evicted, 1);
	for (int i = 0; i < 3; i++)
		close(i == 0 ? late : fds[i]);
	close(fds[0]);
	pump_ms(g, 100);

	/* three pool connections (past their request): a fourth gets 503 */
	for (int i = 0; i < 3; i++) {
		fds[i] = cl_request(g, RELAYPROTO_PATH_LISTEN, true, false, head, sizeof(head), &st);
		assert_int_equal(st, 101);
	}
	int fd = cl_connect(g);
	assert_int_equal(cl_head(g, fd, head, sizeof(head)), 503);
	conn_table_stats(g->ct, &cs);
	assert_int_equal(cs.refused_full, 1);
	close(fd);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	rig_free(g);
}

static int enter_private_netns(void)
{
	struct ifreq ifr = { 0 };
	int fd;

	if (unshare(CLONE_NEWNET) < 0)
		return -errno;
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0 || (ifr.ifr_flags |= IFF_UP, ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)) {
		close(fd);
		return -errno;
	}
	close(fd);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(backpressure),
		cmocka_unit_test(stuck_reader),
		cmocka_unit_test(pool_frames),
		cmocka_unit_test(poll_posts),
		cmocka_unit_test(head_deadline),
		cmocka_unit_test(full_table),
	};
	if (geteuid() != 0) {
		fprintf(stderr, "\n*** SKIP: test_relay_front needs root (a private network namespace) ***\n\n");
		return SKIP_EXIT;
	}
	int err = enter_private_netns();
	if (err) {
		fprintf(stderr, "\n*** SKIP: test_relay_front cannot make a private network namespace: %s ***\n\n",
			strerror(-err));
		return SKIP_EXIT;
	}
	if (sodium_init() < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
