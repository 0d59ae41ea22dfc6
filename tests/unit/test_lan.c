/*
 * test_lan.c - LAN discovery (tund/lan.c) against the real kernel: two
 * daemons in one process, a publisher A and a client B whose only [peer]
 * names A's system (no key, no endpoint, no mediator), on one veth
 * interface (and a second one with multicast off, not announced on, that
 * holds the addresses the test sends from). Checks:
 *   - B's QUERY at start is answered by A; B learns A's key and the
 *     candidate A-address:A-port (kind local) and sends a handshake
 *     initiation there, which A's tunnel socket receives, with the
 *     LAN-first hold (punch_lan_first) set;
 *   - a forged ANNOUNCE (A's system id, another key) is counted
 *     (lan_bad_key) and changes nothing; garbage on the group is counted
 *     (lan_malformed); an ANNOUNCE with A's real key from an address
 *     outside B's subnets is counted (lan_not_local);
 *   - one source announcing new ports gets LAN_SRC_BURST of them taken,
 *     the rest counted (lan_ratelimited);
 *   - A answers queries at most once per LAN_ANSWER_MIN_MS per interface;
 *   - lan_discovery = off: no LAN object.
 *
 * Needs root: main() moves into a private network namespace (nothing
 * touches the host's interfaces, and no datagram can leave) and creates
 * the interface with ip(8). Without root or ip it prints SKIP and exits 77.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "daemon.h"
#include "lan.h"
#include "lanproto.h"
#include "peer.h"
#include "wire.h"

#define SKIP_EXIT 77
#define IF_NAME "lant0"
#define IF_QUIET "lant1"       /* multicast off: not announced on, but its addresses are ours */
#define A_ADDR 0x0a4d0001u      /* 10.77.0.1/24 on lant0: both daemons' LAN address */
#define SRC2 0x0a4d0103u        /* 10.77.1.3/24 on lant1: the test's own sender */
#define OFFLINK 0xc0000209u     /* 192.0.2.9/32 on lant1: ours, but on no subnet */

struct node {
	struct daemon d;
	unsigned udp_inits;         /* handshake initiations on its tunnel socket */
};

static uv_loop_t loop;
static struct node a, b;
static int rx = -1;             /* the test's listener on the group */

static void udp_cb(uv_poll_t *h, int status, int events)
{
	struct node *n = h->data;
	uint8_t buf[2048];
	(void)status;
	(void)events;
	for (int i = 0; i < 64; i++) {
		ssize_t r = recv(n->d.udp.fd, buf, sizeof(buf), 0);
		if (r <= 0)
			return;
		if (buf[0] == WIRE_TYPE_HANDSHAKE_INIT)
			n->udp_inits++;
	}
}

static void node_init(struct node *n, bool publish)
{
	uint8_t priv[KEY_LEN];
	char err[256];
	memset(n, 0, sizeof(*n));
	n->d.loop = &loop;
	n->d.time_scale = 1;
	n->d.cfg.lan_discovery = true;
	n->d.cfg.publish = publish;
	snprintf(n->d.cfg.server_id, sizeof(n->d.cfg.server_id), "%s", publish ? "nvr1" : "cli");
	key_generate(priv);
	assert_int_equal(handshake_self_init(&n->d.self, priv), 0);
	sodium_memzero(priv, sizeof(priv));
	assert_int_equal(peers_new(&n->d.peers, &n->d), 0);
	assert_int_equal(udp_open(&n->d.udp, &loop, 0, false, udp_cb, n, err, sizeof(err)), 0);
}

static void node_free(struct node *n)
{
	n->d.stopping = true;
	lan_close(n->d.lan);
	udp_close(&n->d.udp, NULL, NULL);
	peers_free(n->d.peers, NULL, NULL);
}

/* Runs the loop for ms, or until done() says so. */
static void spin(unsigned ms, bool (*done)(void))
{
	struct timespec ts = { 0, 2 * 1000 * 1000 };
	for (unsigned i = 0; i < ms / 2; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		if (done && done())
			return;
		nanosleep(&ts, NULL);
	}
}

static struct peer *b_peer(void)
{
	return peers_at(b.d.peers, 0);
}

static bool b_learned(void)
{
	return b_peer()->has_key && a.udp_inits > 0;
}

static int group_socket(uint32_t bind_addr)
{
	int one = 1, zero = 0, fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(LANPROTO_PORT),
				  .sin_addr.s_addr = htonl(bind_addr) };
	struct ip_mreqn mr = { .imr_multiaddr.s_addr = htonl(LANPROTO_GROUP),
			       .imr_ifindex = (int)if_nametoindex(IF_NAME) };
	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	assert_int_equal(setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof(zero)), 0);
	assert_int_equal(setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mr, sizeof(mr)), 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (bind_addr == LANPROTO_GROUP)
		assert_int_equal(setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)), 0);
	return fd;
}

/* Sends buf to the group out of IF_NAME from src (an address of ours). */
static void send_from(uint32_t src, const void *buf, size_t len)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in from = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(src) };
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(LANPROTO_PORT),
				  .sin_addr.s_addr = htonl(LANPROTO_GROUP) };
	struct ip_mreqn mr = { .imr_ifindex = (int)if_nametoindex(IF_NAME) };
	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mr, sizeof(mr)), 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&from, sizeof(from)), 0);
	assert_int_equal(sendto(fd, buf, len, 0, (struct sockaddr *)&to, sizeof(to)), (ssize_t)len);
	close(fd);
}

static int announce_bytes(uint8_t *buf, const uint8_t key[KEY_LEN], uint16_t port)
{
	struct lanmsg m = { .type = LANPROTO_ANNOUNCE, .port = port };
	memcpy(m.key, key, KEY_LEN);
	key_system_id(m.system_id, key);
	snprintf(m.server_id, sizeof(m.server_id), "nvr1");
	int n = lanproto_encode(buf, LANPROTO_MAX_LEN, &m);
	assert_true(n > 0);
	return n;
}

/* Announcements of A's key that reached the test's listener. */
static unsigned drain_listener(void)
{
	uint8_t buf[LANPROTO_MAX_LEN + 1];
	struct lanmsg m;
	unsigned n = 0;
	ssize_t r;
	while ((r = recv(rx, buf, sizeof(buf), 0)) > 0)
		n += lanproto_decode(buf, (size_t)r, &m) == 0 && m.type == LANPROTO_ANNOUNCE &&
		     memcmp(m.key, a.d.self.pub, KEY_LEN) == 0;
	return n;
}

static int setup(void **state)
{
	(void)state;
	uv_loop_init(&loop);
	rx = group_socket(LANPROTO_GROUP);
	node_init(&a, true);
	node_init(&b, false);
	struct cfg_peer cp = { .role = CFG_ROLE_PEER, .has_system = true, .address = 0x64640010 };
	struct peer *p;
	snprintf(cp.name, sizeof(cp.name), "nvr");
	key_system_id(cp.system_id, a.d.self.pub);
	assert_int_equal(peers_add(b.d.peers, &cp, cp.address, &p), 0);
	/* A first: what B learns comes from A's answer to B's query. */
	assert_int_equal(lan_new(&a.d.lan, &a.d), 0);
	assert_non_null(a.d.lan);
	spin(50, NULL);
	(void)drain_listener();
	assert_int_equal(lan_new(&b.d.lan, &b.d), 0);
	assert_non_null(b.d.lan);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	node_free(&a);
	node_free(&b);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	close(rx);
	return 0;
}

static void query_answered_and_learned(void **state)
{
	(void)state;
	spin(2000, b_learned);
	struct peer *p = b_peer();
	assert_true(p->has_key);
	assert_memory_equal(p->cfg.key, a.d.self.pub, KEY_LEN);
	bool found = false;
	for (unsigned i = 0; i < p->n_cands; i++)
		found = found || (p->cands[i].kind == CAND_LOCAL && p->cands[i].ep.addr == A_ADDR &&
				  p->cands[i].ep.port == a.d.udp.port);
	assert_true(found);
	assert_true(p->hs_active);
	assert_true(p->punching);
	assert_true(p->lan_first_until_ms != 0);          /* local candidates first (punch.h) */
	assert_true(p->relay_retry_ms >= p->lan_first_until_ms); /* and no relay dial before */
	assert_true(a.udp_inits >= 1);       /* the handshake went to A's tunnel socket */
	assert_true(drain_listener() >= 1);   /* A's answer, by multicast */
	assert_int_equal(b.d.cnt.lan_malformed + b.d.cnt.lan_bad_key + b.d.cnt.lan_not_local, 0);
	assert_int_equal(a.d.cnt.lan_malformed + a.d.cnt.lan_bad_key, 0); /* its own came back: ignored */
}

static void forged_malformed_offlink(void **state)
{
	(void)state;
	struct peer *p = b_peer();
	uint8_t buf[LANPROTO_MAX_LEN], other[KEY_LEN];
	unsigned cands = p->n_cands;
	struct tund_counters before = b.d.cnt;

	/* A's system id with another key: the id pins the key. */
	int n = announce_bytes(buf, a.d.self.pub, 41000);
	memset(other, 0x42, sizeof(other));
	memcpy(buf + LANPROTO_HDR_LEN + UUID_LEN, other, KEY_LEN);
	send_from(SRC2, buf, (size_t)n);
	/* Not ours at all, and a truncated one. */
	send_from(SRC2, "hello, group", 12);
	n = announce_bytes(buf, a.d.self.pub, 41001);
	send_from(SRC2, buf, (size_t)n - 1);
	/* A's real key, from an address on no subnet of ours. */
	send_from(OFFLINK, buf, (size_t)n);
	spin(200, NULL);

	assert_int_equal(b.d.cnt.lan_bad_key - before.lan_bad_key, 1);
	assert_int_equal(b.d.cnt.lan_malformed - before.lan_malformed, 2);
	assert_int_equal(b.d.cnt.lan_not_local - before.lan_not_local, 1);
	assert_int_equal(p->n_cands, cands);
	assert_memory_equal(p->cfg.key, a.d.self.pub, KEY_LEN);
}

static void one_source_rate_limited(void **state)
{
	(void)state;
	struct peer *p = b_peer();
	uint8_t buf[LANPROTO_MAX_LEN];
	unsigned cands = p->n_cands;
	uint64_t limited = b.d.cnt.lan_ratelimited;
	for (uint16_t port = 42001; port <= 42006; port++) {
		int n = announce_bytes(buf, a.d.self.pub, port);
		send_from(SRC2, buf, (size_t)n);
	}
	spin(200, NULL);
	assert_int_equal(p->n_cands - cands, LAN_SRC_BURST);
	assert_int_equal(b.d.cnt.lan_ratelimited - limited, 6 - LAN_SRC_BURST);
	/* The same candidate again is nothing new: no token, no count. */
	int n = announce_bytes(buf, a.d.self.pub, 42001);
	send_from(SRC2, buf, (size_t)n);
	spin(100, NULL);
	assert_int_equal(b.d.cnt.lan_ratelimited - limited, 6 - LAN_SRC_BURST);
}

static void answers_rate_limited(void **state)
{
	(void)state;
	struct lanmsg q = { .type = LANPROTO_QUERY };
	uint8_t buf[LANPROTO_QUERY_LEN];
	int n = lanproto_encode(buf, sizeof(buf), &q);
	spin(LAN_ANSWER_MIN_MS + 100, NULL); /* past the answer to B's query */
	(void)drain_listener();
	uint64_t limited = a.d.cnt.lan_ratelimited;
	send_from(SRC2, buf, (size_t)n);
	spin(100, NULL);
	assert_true(drain_listener() >= 1);
	send_from(SRC2, buf, (size_t)n);
	spin(100, NULL);
	assert_int_equal(drain_listener(), 0);
	assert_int_equal(a.d.cnt.lan_ratelimited - limited, 1);
	/* A query for another system is not for A. */
	memset(q.system_id, 0x77, UUID_LEN);
	n = lanproto_encode(buf, sizeof(buf), &q);
	spin(LAN_ANSWER_MIN_MS + 50, NULL);
	send_from(SRC2, buf, (size_t)n);
	spin(100, NULL);
	assert_int_equal(drain_listener(), 0);
}

static void off_means_off(void **state)
{
	(void)state;
	int sentinel;
	struct lan *l = (struct lan *)(void *)&sentinel;
	struct daemon d = { .loop = &loop };
	d.cfg.lan_discovery = false;
	assert_int_equal(lan_new(&l, &d), 0);
	assert_null(l);
	lan_close(NULL);
}

static bool enter_lab(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: test_lan needs root (a private network namespace)\n");
		return false;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "SKIP: test_lan: unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return false;
	}
	/* veth pairs (this kernel has no dummy driver); the far ends stay
	 * without addresses, so nothing listens there. */
	if (system("ip link set lo up && ip link add " IF_NAME " type veth peer name " IF_NAME "p && "
		   "ip link set " IF_NAME "p up && ip link set " IF_NAME " up && "
		   "ip addr add 10.77.0.1/24 dev " IF_NAME " && "
		   "ip link add " IF_QUIET " type veth peer name " IF_QUIET "p && ip link set " IF_QUIET "p up && "
		   "ip link set " IF_QUIET " multicast off up && "
		   "ip addr add 10.77.1.3/24 dev " IF_QUIET " && ip addr add 192.0.2.9/32 dev " IF_QUIET) != 0) {
		fprintf(stderr, "SKIP: test_lan: cannot set up " IF_NAME " with ip(8)\n");
		return false;
	}
	return true;
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	if (!enter_lab())
		return SKIP_EXIT;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(query_answered_and_learned),
		cmocka_unit_test(forged_malformed_offlink),
		cmocka_unit_test(one_source_rate_limited),
		cmocka_unit_test(answers_rate_limited),
		cmocka_unit_test(off_means_off),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
