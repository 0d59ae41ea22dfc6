/*
 * test_udp.c - the tunnel socket (tund/udp.c) against the real kernel,
 * over loopback in a private network namespace:
 *   - GSO: runs of equal frames to one destination leave as one
 *     UDP_SEGMENT send each (a shorter last frame included, another
 *     destination in between ends a run); a plain receiver gets every
 *     datagram with its length and bytes, in order per destination;
 *     before_flush runs before anything is sent;
 *   - the per-send caps (UDP_GSO_MAX_SEGS frames, UDP_GSO_MAX_BYTES);
 *   - udp_tx_slot flushes a full batch of UDP_TX_BATCH frames;
 *   - GRO: a receiving socket with UDP_GRO gets a GSO send as one message
 *     (loopback hands the unsegmented packet to a socket that accepts it)
 *     and udp_rx_next splits it back into the datagrams;
 *   - fallback, with two real refusals by the kernel: a loopback MTU
 *     smaller than the segment size (EMSGSIZE) and SO_NO_CHECK (EINVAL).
 *     GSO turns off once, and every frame still arrives;
 *   - offload = false: no offload asked, none used;
 *   - MSG_TRUNC is still reported with GRO on, and a truncated message
 *     yields no datagram.
 *
 * Topology: one namespace, lo up (127.0.0.0/8). Senders and receivers
 * are sockets on 127.0.0.1; a "plain" receiver is a socket without GRO,
 * so the kernel segments GSO packets before they reach it.
 *
 * Needs root (CAP_SYS_ADMIN for unshare, CAP_NET_ADMIN for the loopback
 * MTU); otherwise it prints SKIP and exits 77.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "udp.h"

#define SKIP_EXIT 77
#define LOCALHOST 0x7f000001u
#define WAIT_MS 2000
#define LO_MTU 65536
#define SMALL_MTU 1280            /* < 1400 + 28: a 1400-byte segment does not fit */
#define MAX_FRAMES 256            /* per destination in one test */

static uv_loop_t loop;
static int plain_fds[4];          /* the test's plain receivers, closed by teardown */
static unsigned n_plain;

/* ------------------------------------------------------------ helpers */

static int lo_ioctl(unsigned long req, struct ifreq *ifr)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return -errno;
	snprintf(ifr->ifr_name, IFNAMSIZ, "lo");
	int rc = ioctl(fd, req, ifr) ? -errno : 0;
	close(fd);
	return rc;
}

static int lo_set_mtu(int mtu)
{
	struct ifreq ifr = { .ifr_mtu = mtu };
	return lo_ioctl(SIOCSIFMTU, &ifr);
}

static int lo_up(void)
{
	struct ifreq ifr = { 0 };
	int rc = lo_ioctl(SIOCGIFFLAGS, &ifr);
	if (rc)
		return rc;
	ifr.ifr_flags |= IFF_UP;
	return lo_ioctl(SIOCSIFFLAGS, &ifr);
}

static void noop_cb(uv_poll_t *h, int status, int events)
{
	(void)h;
	(void)status;
	(void)events;
}

static void udp_up(struct udp *u, bool offload)
{
	char err[256];
	assert_int_equal(udp_open(u, &loop, 0, offload, noop_cb, NULL, err, sizeof(err)), 0);
}

static void set_flag_cb(void *arg)
{
	*(bool *)arg = true;
}

static void udp_down(struct udp *u)
{
	bool closed = false;
	udp_close(u, set_flag_cb, &closed);
	for (int i = 0; i < 1000 && !closed; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	assert_true(closed);
}

/* A socket without GRO on 127.0.0.1; *port gets its port. */
static int plain_rx(uint16_t *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(LOCALHOST) };
	socklen_t salen = sizeof(sa);
	int size = 8 << 20;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)), 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &salen), 0);
	*port = ntohs(sa.sin_port);
	assert_true(n_plain < sizeof(plain_fds) / sizeof(plain_fds[0]));
	plain_fds[n_plain++] = fd;
	return fd;
}

static struct endpoint ep(uint16_t port)
{
	return (struct endpoint){ .addr = LOCALHOST, .port = port };
}

/* Frame seq to destination dest: byte 0 dest, bytes 1-2 seq (big
 * endian), then a pattern both depend on. */
static void fill(uint8_t *p, size_t len, unsigned dest, unsigned seq)
{
	p[0] = (uint8_t)dest;
	p[1] = (uint8_t)(seq >> 8);
	p[2] = (uint8_t)seq;
	for (size_t j = 3; j < len; j++)
		p[j] = (uint8_t)(seq * 13 + j + dest * 101);
}

static void check(const uint8_t *p, size_t len, size_t want_len, unsigned dest, unsigned seq)
{
	static uint8_t want[UDP_SLOT_LEN];
	assert_int_equal(len, want_len);
	fill(want, want_len, dest, seq);
	assert_memory_equal(p, want, want_len);
}

/* What one destination should receive: frame lengths in order. */
struct expect {
	unsigned dest;
	uint16_t port;
	unsigned n;
	size_t len[MAX_FRAMES];
};

/* Starts a new expectation for the same destination. */
static void restart(struct expect *e, uint16_t port)
{
	e->port = port;
	e->n = 0;
}

static void put(struct udp *u, struct expect *e, size_t len)
{
	assert_true(e->n < MAX_FRAMES);
	uint8_t *slot = udp_tx_slot(u);
	fill(slot, len, e->dest, e->n);
	const struct endpoint to = ep(e->port);
	udp_tx_commit(u, len, &to);
	e->len[e->n++] = len;
}

static void put_many(struct udp *u, struct expect *e, unsigned count, size_t len)
{
	for (unsigned i = 0; i < count; i++)
		put(u, e, len);
}

static bool wait_readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, ms) == 1;
}

/* Reads everything e expects from a plain socket, then checks that
 * nothing more is queued. */
static void recv_plain(int fd, const struct expect *e)
{
	static uint8_t buf[UDP_SLOT_LEN];
	for (unsigned k = 0; k < e->n; k++) {
		assert_true(wait_readable(fd, WAIT_MS));
		ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		assert_true(r >= 0);
		check(buf, (size_t)r, e->len[k], e->dest, k);
	}
	assert_false(wait_readable(fd, 20));
}

/* What recv_udp saw. */
struct rxstats {
	unsigned msgs;
	unsigned multi;           /* messages holding more than one datagram */
	uint16_t max_seg;         /* largest rx_seg seen */
	bool any_control;         /* some message came with control bytes */
};

/* Reads everything e expects through udp_recv_batch and udp_rx_next. */
static void recv_udp(struct udp *r, const struct expect *e, struct rxstats *st)
{
	unsigned k = 0;
	memset(st, 0, sizeof(*st));
	for (int round = 0; round < 1000 && k < e->n; round++) {
		assert_true(wait_readable(r->fd, WAIT_MS));
		int n = udp_recv_batch(r);
		assert_true(n > 0);
		for (int i = 0; i < n; i++) {
			size_t off = 0, len;
			uint8_t *p;
			unsigned in_msg = 0;
			assert_false(r->rx_msgs[i].msg_hdr.msg_flags & MSG_TRUNC);
			assert_int_equal(r->rx_addr[i].sin_addr.s_addr, htonl(LOCALHOST));
			while ((p = udp_rx_next(r, i, &off, &len))) {
				assert_true(k < e->n);
				check(p, len, e->len[k], e->dest, k);
				k++;
				in_msg++;
			}
			assert_int_equal(off, r->rx_msgs[i].msg_len);
			st->msgs++;
			st->multi += in_msg > 1;
			if (r->rx_seg[i] > st->max_seg)
				st->max_seg = r->rx_seg[i];
			st->any_control |= r->rx_msgs[i].msg_hdr.msg_controllen > 0;
		}
	}
	assert_int_equal(k, e->n);
	assert_false(wait_readable(r->fd, 20));
}

/* ------------------------------------------------------------ tests */

static struct udp tx, rx;          /* static: each is ~25 KiB of headers */
static struct expect e1, e2;

/* Stands in for tund's encryption: the frames are committed with a blank
 * payload and get their bytes only here, so the receivers can tell
 * whether this ran before the send. */
static unsigned hook_calls, hook_frames;
static void fill_in_hook(void *arg)
{
	struct udp *u = arg;
	hook_calls++;
	hook_frames = u->tx_n;
	for (unsigned i = 0; i < u->tx_n; i++) {
		uint8_t *p = u->tx_iov[i].iov_base;
		fill(p, u->tx_iov[i].iov_len, p[0], (unsigned)p[1] << 8 | p[2]);
	}
}

static void put_blank(struct udp *u, struct expect *e, size_t len)
{
	uint8_t *slot = udp_tx_slot(u);
	memset(slot, 0, len);
	slot[0] = (uint8_t)e->dest;
	slot[1] = (uint8_t)(e->n >> 8);
	slot[2] = (uint8_t)e->n;
	const struct endpoint to = ep(e->port);
	udp_tx_commit(u, len, &to);
	e->len[e->n++] = len;
}

static void gso_runs_reach_plain_receiver(void **state)
{
	(void)state;
	int fd1 = plain_rx(&e1.port), fd2 = plain_rx(&e2.port);
	udp_up(&tx, true);
	assert_true(tx.gso);                     /* Linux >= 4.18 */
	tx.before_flush = fill_in_hook;
	tx.before_flush_arg = &tx;
	hook_calls = 0;

	for (int i = 0; i < 25; i++)
		put_blank(&tx, &e1, 1400);       /* run 1: 25 x 1400 -> e1 */
	put_blank(&tx, &e2, 1400);               /* run 2: 1400 1400 700 -> e2 */
	put_blank(&tx, &e2, 1400);
	put_blank(&tx, &e2, 700);
	for (int i = 0; i < 15; i++)
		put_blank(&tx, &e1, 1400);       /* run 3: 15 x 1400 + 300 -> e1 */
	put_blank(&tx, &e1, 300);
	put_blank(&tx, &e2, 100);                /* run 4: 100 100 -> e2 */
	put_blank(&tx, &e2, 100);
	put_blank(&tx, &e1, 1400);               /* alone: the next goes elsewhere */
	put_blank(&tx, &e2, 100);                /* alone */
	put_blank(&tx, &e1, 200);                /* a longer frame cannot follow a */
	put_blank(&tx, &e1, 900);                /* shorter one: each alone */
	assert_int_equal(tx.tx_n, 50);
	udp_flush(&tx);

	assert_int_equal(hook_calls, 1);
	assert_int_equal(hook_frames, 50);
	assert_int_equal(tx.tx_n, 0);
	assert_int_equal(tx.send_errors, 0);
	assert_int_equal(tx.gso_sends, 4);
	assert_int_equal(tx.gso_frames, 25 + 3 + 16 + 2);
	assert_int_equal(tx.gso_fallbacks, 0);
	recv_plain(fd1, &e1);
	recv_plain(fd2, &e2);
	assert_int_equal(e1.n, 44);
	assert_int_equal(e2.n, 6);
	udp_down(&tx);
}

static void gso_caps_split_runs(void **state)
{
	(void)state;
	int fd = plain_rx(&e1.port);
	udp_up(&tx, true);

	/* 100 x 600: the segment cap splits it, 64 + 36. */
	put_many(&tx, &e1, 100, 600);
	udp_flush(&tx);
	assert_int_equal(tx.gso_sends, 2);
	assert_int_equal(tx.gso_frames, 100);
	/* 60 x 1400: the byte cap splits it, 46 (64400 bytes) + 14. */
	put_many(&tx, &e1, 60, 1400);
	udp_flush(&tx);
	assert_int_equal(tx.gso_sends, 4);
	assert_int_equal(tx.gso_frames, 160);
	assert_int_equal(tx.send_errors, 0);
	recv_plain(fd, &e1);
	udp_down(&tx);
}

static void tx_slot_flushes_full_batch(void **state)
{
	(void)state;
	int fd = plain_rx(&e1.port);
	udp_up(&tx, true);
	put_many(&tx, &e1, UDP_TX_BATCH, 1000);
	assert_int_equal(tx.tx_n, UDP_TX_BATCH);
	put_many(&tx, &e1, 5, 1000);             /* the first of these flushed the batch */
	assert_int_equal(tx.tx_n, 5);
	assert_int_equal(tx.gso_frames, UDP_TX_BATCH);
	udp_flush(&tx);
	assert_int_equal(tx.gso_frames, UDP_TX_BATCH + 5);
	recv_plain(fd, &e1);
	udp_down(&tx);
}

static void gro_receives_gso_sends_whole(void **state)
{
	(void)state;
	struct rxstats st;
	udp_up(&rx, true);
	udp_up(&tx, true);
	assert_true(rx.gro);                     /* Linux >= 5.0 */
	e1.port = rx.port;

	put_many(&tx, &e1, 40, 1400);
	put(&tx, &e1, 300);
	udp_flush(&tx);
	assert_int_equal(tx.gso_sends, 1);
	recv_udp(&rx, &e1, &st);
	/* One message held all 41: loopback did not segment it. */
	assert_int_equal(st.msgs, 1);
	assert_int_equal(st.multi, 1);
	assert_int_equal(st.max_seg, 1400);
	assert_int_equal(rx.gro_msgs, 1);

	/* Datagrams sent one by one stay one per message, without rx_seg. */
	restart(&e1, rx.port);
	tx.gso = false;
	put_many(&tx, &e1, 5, 1400);
	udp_flush(&tx);
	recv_udp(&rx, &e1, &st);
	assert_int_equal(st.msgs, 5);
	assert_int_equal(st.multi, 0);
	assert_int_equal(st.max_seg, 0);
	assert_int_equal(rx.gro_msgs, 1);
	udp_down(&tx);
	udp_down(&rx);
}

static void fallback_on_small_mtu(void **state)
{
	(void)state;
	int fd1 = plain_rx(&e1.port), fd2 = plain_rx(&e2.port);
	udp_up(&tx, true);
	assert_int_equal(lo_set_mtu(SMALL_MTU), 0);

	put_many(&tx, &e2, 2, 200);              /* fits the MTU: GSO works */
	put_many(&tx, &e1, 10, 1400);            /* does not: EMSGSIZE */
	put(&tx, &e1, 300);
	put_many(&tx, &e2, 2, 200);              /* after the fallback: one by one */
	udp_flush(&tx);
	assert_int_equal(tx.gso_sends, 1);
	assert_int_equal(tx.gso_frames, 2);
	assert_int_equal(tx.gso_fallbacks, 1);
	assert_false(tx.gso);
	assert_int_equal(tx.send_errors, 0);
	/* Once off, it stays off: no second refusal. */
	put_many(&tx, &e1, 3, 1400);
	udp_flush(&tx);
	assert_int_equal(tx.gso_sends, 1);
	assert_int_equal(tx.gso_fallbacks, 1);
	/* The 1400-byte datagrams arrived as fragments, reassembled. */
	recv_plain(fd1, &e1);
	recv_plain(fd2, &e2);
	assert_int_equal(e1.n, 14);
	udp_down(&tx);
}

static void fallback_on_no_check(void **state)
{
	(void)state;
	int one = 1;
	int fd = plain_rx(&e1.port);
	udp_up(&tx, true);
	/* No GSO without UDP checksums: the kernel says EINVAL. */
	assert_int_equal(setsockopt(tx.fd, SOL_SOCKET, SO_NO_CHECK, &one, sizeof(one)), 0);
	put(&tx, &e1, 1000);                     /* alone: sent before the refusal */
	put_many(&tx, &e1, 20, 1400);            /* refused, then sent one by one */
	put(&tx, &e1, 50);
	udp_flush(&tx);
	assert_int_equal(tx.gso_fallbacks, 1);
	assert_int_equal(tx.gso_sends, 0);
	assert_false(tx.gso);
	assert_int_equal(tx.send_errors, 0);
	recv_plain(fd, &e1);
	udp_down(&tx);
}

static void offload_off_uses_none(void **state)
{
	(void)state;
	struct rxstats st;
	udp_up(&rx, false);
	udp_up(&tx, false);
	assert_false(tx.gso);
	assert_false(tx.gro);
	assert_false(rx.gro);
	e1.port = rx.port;
	put_many(&tx, &e1, 20, 1400);
	put(&tx, &e1, 10);
	udp_flush(&tx);
	assert_int_equal(tx.gso_sends, 0);
	assert_int_equal(tx.send_errors, 0);
	recv_udp(&rx, &e1, &st);
	assert_int_equal(st.msgs, 21);
	assert_false(st.any_control);
	assert_int_equal(rx.gro_msgs, 0);
	udp_down(&rx);

	/* A GRO socket receiving from it sees no GSO packet either: no
	 * UDP_SEGMENT went out. */
	udp_up(&rx, true);
	restart(&e1, rx.port);
	put_many(&tx, &e1, 20, 1400);
	udp_flush(&tx);
	recv_udp(&rx, &e1, &st);
	assert_int_equal(st.msgs, 20);
	assert_int_equal(st.max_seg, 0);
	udp_down(&tx);
	udp_down(&rx);
}

/* Receives exactly one message into rx with slot 0 shortened to cap. */
static int recv_one_short(size_t cap)
{
	rx.rx_iov[0].iov_len = cap;
	assert_true(wait_readable(rx.fd, WAIT_MS));
	int n = udp_recv_batch(&rx);
	rx.rx_iov[0].iov_len = UDP_SLOT_LEN;
	return n;
}

static void trunc_reported_with_gro(void **state)
{
	(void)state;
	size_t off = 0, len;
	struct rxstats st;
	udp_up(&rx, true);
	udp_up(&tx, true);
	assert_true(rx.gro);
	e1.port = rx.port;

	/* One datagram longer than the buffer. */
	put(&tx, &e1, 1400);
	udp_flush(&tx);
	assert_int_equal(recv_one_short(1000), 1);
	assert_true(rx.rx_msgs[0].msg_hdr.msg_flags & MSG_TRUNC);
	assert_int_equal(rx.rx_msgs[0].msg_len, 1000);
	assert_null(udp_rx_next(&rx, 0, &off, &len));

	/* A GRO message cut in its second datagram. */
	put_many(&tx, &e1, 3, 1400);
	udp_flush(&tx);
	assert_int_equal(tx.gso_sends, 1);
	assert_int_equal(recv_one_short(2000), 1);
	assert_true(rx.rx_msgs[0].msg_hdr.msg_flags & MSG_TRUNC);
	assert_int_equal(rx.rx_seg[0], 1400);
	off = 0;
	assert_null(udp_rx_next(&rx, 0, &off, &len));

	/* With the full slot again, nothing is cut. */
	restart(&e1, rx.port);
	put_many(&tx, &e1, 3, 1400);
	udp_flush(&tx);
	recv_udp(&rx, &e1, &st);
	assert_int_equal(st.msgs, 1);
	udp_down(&tx);
	udp_down(&rx);
}

static int setup(void **state)
{
	(void)state;
	memset(&e1, 0, sizeof(e1));
	memset(&e2, 0, sizeof(e2));
	e1.dest = 1;
	e2.dest = 2;
	return 0;
}

/* Also runs after a failed assertion: whatever the test left open is
 * closed here, so that the next test's udp_open does not reuse a struct
 * whose poll handle is still in the loop. */
static int teardown(void **state)
{
	(void)state;
	if (tx.poll_open)
		udp_down(&tx);
	if (rx.poll_open)
		udp_down(&rx);
	while (n_plain)
		close(plain_fds[--n_plain]);
	return lo_set_mtu(LO_MTU);
}

static bool enter_lab(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: test_udp needs root (a private network namespace)\n");
		return false;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "SKIP: test_udp: unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return false;
	}
	int rc = lo_up();
	if (rc) {
		fprintf(stderr, "SKIP: test_udp: cannot bring lo up: %s\n", strerror(-rc));
		return false;
	}
	return true;
}

int main(void)
{
	if (!enter_lab())
		return SKIP_EXIT;
	if (uv_loop_init(&loop))
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(gso_runs_reach_plain_receiver, setup, teardown),
		cmocka_unit_test_setup_teardown(gso_caps_split_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(tx_slot_flushes_full_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(gro_receives_gso_sends_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(fallback_on_small_mtu, setup, teardown),
		cmocka_unit_test_setup_teardown(fallback_on_no_check, setup, teardown),
		cmocka_unit_test_setup_teardown(offload_off_uses_none, setup, teardown),
		cmocka_unit_test_setup_teardown(trunc_reported_with_gro, setup, teardown),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	uv_loop_close(&loop);
	return failed;
}
