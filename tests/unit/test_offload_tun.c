/*
 * test_offload_tun.c - shared/offload.c against the real kernel, through a
 * TUN device opened with IFF_VNET_HDR and TUNSETOFFLOAD.
 *
 *   peer 192.0.2.2 (this test, raw TCP over the TUN fd)
 *        |  tundo0, MTU 1500, 192.0.2.1/24, IFF_VNET_HDR + offloads
 *   kernel: TCP socket on 192.0.2.1:5001, forwarding on
 *        |  tundo1, MTU 1500, 198.51.100.1/24, no offloads at all
 *   198.51.100.2 (this test, reading that TUN fd)
 *
 * Receiving side: segments the coalescer merged, and a lone super-packet
 * that came whole, are written to the TUN as GSO packets; the kernel must
 * take each as one packet (rx_packets + 1, no rx error, no TCP checksum
 * error), hand the exact bytes to the socket and acknowledge all of them.
 * Sending side: the kernel's own TSO reads (whatever it puts in the virtio
 * header) go through offload_seg; every segment must carry valid
 * checksums by an independent RFC 1071 sum, continue the byte stream,
 * fit the MTU, and the stream must equal what the socket sent.
 * Forwarding: local delivery trusts a NEEDS_CSUM packet, so the checksum
 * field convention is proven by routing merged packets out of a TUN
 * without offloads: the kernel's own software GSO then cuts them and
 * completes every checksum from the field we wrote, and each segment
 * must verify.
 *
 * Needs root: main() moves into a private network namespace first, so no
 * host interface is touched and no packet can leave (the namespace has no
 * link but the TUN and a down lo). Without root it exits 77 (SKIP). Every
 * wait is bounded and a watchdog alarm ends a hung run.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
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
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "nl.h"
#include "offload.h"
#include "pktref.h"

#define SKIP_EXIT 77
#define IFNAME "tundo0"
#define MTU 1500
#define HOST 0xc0000201u /* 192.0.2.1, the kernel's side */
#define PEER 0xc0000202u /* 192.0.2.2, this test */
#define IFNAME2 "tundo1"
#define FWD_HOST 0xc6336401u /* 198.51.100.1 */
#define FWD_DST 0xc6336402u  /* 198.51.100.2, beyond tundo1 */
#define PORT 5001
#define WAIT_MS 2000
#define WATCHDOG_S 60
#define BUF (OFFLOAD_HDR_LEN + 65536)
#define F_FIN 0x01
#define F_SYN 0x02
#define F_PSH 0x08
#define F_ACK 0x10

struct fx {
	int fd;       /* TUN, with virtio_net_hdr */
	int fd2;      /* second TUN, plain, for forwarding */
	uint32_t dst; /* destination of built packets */
	int listener;
	int conn;     /* accepted socket */
	uint16_t sport;
	uint32_t snd_nxt; /* our next sequence number */
	uint32_t rcv_nxt; /* the kernel's next sequence number */
	uint16_t id;
};



static uint32_t pseudo4(const uint8_t *ip, size_t l4len) { return ref_pseudo(ip, 6, l4len); }

static bool ipv4_tcp_valid(const uint8_t *p, size_t n)
{
	size_t l3 = (size_t)(p[0] & 15) * 4;
	return n >= 40 && p[0] >> 4 == 4 && get16(p + 2) == n && ref_fold(ref_add(0, p, l3)) == 0xffff &&
	       p[9] == 6 && ref_fold(ref_add(pseudo4(p, n - l3), p + l3, n - l3)) == 0xffff;
}

/* An IPv4/TCP packet from PEER:sport to HOST:PORT, complete checksums
 * (partial: the TCP field holds the pseudo-header sum, as TUN gives a
 * super-packet). opt: TCP options, a multiple of 4 bytes. */
static size_t build(uint8_t *out, const struct fx *f, uint32_t seq, uint8_t flags, const uint8_t *opt,
		    size_t optlen, const uint8_t *pay, size_t paylen, bool partial)
{
	size_t thl = 20 + optlen, n = 20 + thl + paylen;
	memset(out, 0, 20 + thl);
	out[0] = 0x45;
	put16(out + 2, (uint16_t)n);
	put16(out + 4, f->id);
	out[6] = 0x40; /* DF */
	out[8] = 64;
	out[9] = 6;
	put32(out + 12, PEER);
	put32(out + 16, f->dst);
	put16(out + 10, (uint16_t)~ref_fold(ref_add(0, out, 20)));
	uint8_t *t = out + 20;
	put16(t, f->sport);
	put16(t + 2, PORT);
	put32(t + 4, seq);
	put32(t + 8, flags & F_ACK ? f->rcv_nxt : 0);
	t[12] = (uint8_t)(thl / 4 << 4);
	t[13] = flags;
	put16(t + 14, 65535);
	if (optlen)
		memcpy(t + 20, opt, optlen);
	if (paylen)
		memcpy(t + thl, pay, paylen);
	uint32_t ps = pseudo4(out, n - 20);
	put16(t + 16, partial ? ref_fold(ps) : (uint16_t)~ref_fold(ref_add(ps, t, n - 20)));
	return n;
}

static void tun_write_plain(struct fx *f, const uint8_t *pkt, size_t n)
{
	static const uint8_t none[OFFLOAD_HDR_LEN];
	struct iovec iov[2] = { { (void *)none, sizeof(none) }, { (void *)pkt, n } };
	assert_int_equal(writev(f->fd, iov, 2), (ssize_t)(sizeof(none) + n));
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* The next IPv4 TCP read from the kernel to our port, its vnet header in
 * h; 0 on timeout. Other packets (none expected) are skipped. */
static ssize_t tun_read_tcp(struct fx *f, uint8_t *buf, struct offload_hdr *h, int timeout_ms)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		long left = timeout_ms - ms_since(&t0);
		struct pollfd p = { .fd = f->fd, .events = POLLIN };
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return 0;
		ssize_t n = read(f->fd, buf, BUF);
		if (n < 0 && errno == EAGAIN)
			continue;
		assert_true(n >= (ssize_t)OFFLOAD_HDR_LEN);
		const uint8_t *ip = buf + OFFLOAD_HDR_LEN;
		n -= (ssize_t)OFFLOAD_HDR_LEN;
		if (n >= 40 && ip[0] == 0x45 && ip[9] == 6 && get16(ip + 22) == f->sport) {
			offload_hdr_decode(h, buf);
			return n;
		}
	}
}

/* /proc/net/dev receive counters of the TUN: packets, errs, drop. */
static void rx_counters(long c[3])
{
	FILE *fp = fopen("/proc/net/dev", "r");
	assert_non_null(fp);
	char line[512];
	c[0] = c[1] = c[2] = -1;
	while (fgets(line, sizeof(line), fp)) {
		char *s = strstr(line, IFNAME ":");
		long bytes;
		if (s && sscanf(s + strlen(IFNAME) + 1, "%ld %ld %ld %ld", &bytes, &c[0], &c[1], &c[2]) == 4)
			break;
	}
	fclose(fp);
	assert_true(c[0] >= 0);
}

/* A counter from /proc/net/snmp, e.g. ("Tcp:", "InCsumErrs"). */
static long snmp(const char *proto, const char *field)
{
	FILE *fp = fopen("/proc/net/snmp", "r");
	assert_non_null(fp);
	char head[2048], vals[2048];
	long v = -1;
	while (v < 0 && fgets(head, sizeof(head), fp) && fgets(vals, sizeof(vals), fp)) {
		if (strncmp(head, proto, strlen(proto)) != 0)
			continue;
		char *sh, *sv;
		for (char *h = strtok_r(head, " \n", &sh), *x = strtok_r(vals, " \n", &sv); h && x;
		     h = strtok_r(NULL, " \n", &sh), x = strtok_r(NULL, " \n", &sv))
			if (strcmp(h, field) == 0)
				v = strtol(x, NULL, 10);
	}
	fclose(fp);
	assert_true(v >= 0);
	return v;
}

/* Three-way handshake from PEER:sport, MSS 1460, no window scaling and
 * no timestamps; f->conn is the accepted socket. */
static void handshake(struct fx *f, uint16_t sport)
{
	static uint8_t buf[BUF];
	uint8_t pkt[128];
	const uint8_t mss[4] = { 2, 4, 0x05, 0xb4 };
	f->sport = sport;
	f->snd_nxt = 0x10000000u + sport;
	f->id = 1;
	tun_write_plain(f, pkt, build(pkt, f, f->snd_nxt, F_SYN, mss, 4, NULL, 0, false));
	struct offload_hdr h;
	ssize_t n = tun_read_tcp(f, buf, &h, WAIT_MS);
	assert_true(n > 0);
	uint8_t *ip = buf + OFFLOAD_HDR_LEN;
	struct offload_seg it; /* completes the SYN-ACK's checksum if partial */
	assert_int_equal(offload_seg_init(&it, &h, ip, (size_t)n), 0);
	assert_true(ipv4_tcp_valid(ip, (size_t)n));
	assert_int_equal(ip[33], F_SYN | F_ACK);
	assert_int_equal(get32(ip + 28), f->snd_nxt + 1);
	f->snd_nxt++;
	f->rcv_nxt = get32(ip + 24) + 1;
	f->id++;
	tun_write_plain(f, pkt, build(pkt, f, f->snd_nxt, F_ACK, NULL, 0, NULL, 0, false));
	f->id++;
	struct pollfd p = { .fd = f->listener, .events = POLLIN };
	assert_int_equal(poll(&p, 1, WAIT_MS), 1);
	f->conn = accept(f->listener, NULL, NULL);
	assert_true(f->conn >= 0);
}

/* Reads exactly n bytes from the socket within the time limit. */
static void sock_read_all(int fd, uint8_t *out, size_t n)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	size_t got = 0;
	while (got < n) {
		long left = WAIT_MS - ms_since(&t0);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		assert_true(left > 0 && poll(&p, 1, (int)left) == 1);
		ssize_t k = recv(fd, out + got, n - got, MSG_DONTWAIT);
		assert_true(k > 0);
		got += (size_t)k;
	}
}

/* Waits for the kernel's ACK of everything up to seq. */
static void wait_acked(struct fx *f, uint32_t seq)
{
	static uint8_t buf[BUF];
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct offload_hdr h;
		long left = WAIT_MS - ms_since(&t0);
		assert_true(left > 0);
		ssize_t n = tun_read_tcp(f, buf, &h, (int)left);
		assert_true(n > 0);
		const uint8_t *ip = buf + OFFLOAD_HDR_LEN;
		if ((ip[33] & F_ACK) && get32(ip + 28) == seq)
			return;
	}
}

struct tun_sink {
	struct fx *f;
	unsigned writes, gso;
	struct offload_hdr last;
};

static int tun_write_cb(void *arg, const struct iovec *iov, int iovcnt)
{
	struct tun_sink *s = arg;
	size_t len = 0;
	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	offload_hdr_decode(&s->last, iov[0].iov_base);
	s->writes++;
	s->gso += s->last.gso_type != VIRTIO_NET_HDR_GSO_NONE;
	ssize_t w = writev(s->f->fd, iov, iovcnt);
	return w == (ssize_t)len ? 0 : -EIO;
}

/* ---- fixture ---- */

/* Opens (creates) the TUN named name with IFF_TUN | IFF_NO_PI | extra. */
static int tun_open(const char *name, int extra)
{
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = (short)(IFF_TUN | IFF_NO_PI | extra);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* 0, -ENOENT if the file is absent (no IPv6), -EIO otherwise. */
static int proc_write(const char *path, const char *v)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : -EIO;
	int err = write(fd, v, strlen(v)) == (ssize_t)strlen(v) ? 0 : -EIO;
	close(fd);
	return err;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	*state = f;
	f->fd = f->fd2 = f->listener = f->conn = -1;
	f->dst = HOST;
	f->fd = tun_open(IFNAME, IFF_VNET_HDR);
	f->fd2 = tun_open(IFNAME2, 0);
	if (f->fd < 0 || f->fd2 < 0)
		return -1;
	unsigned off = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_USO4 | TUN_F_USO6;
	if (ioctl(f->fd, TUNSETOFFLOAD, (unsigned long)off) < 0 && /* USO: Linux 6.2 */
	    ioctl(f->fd, TUNSETOFFLOAD, (unsigned long)(off & ~(TUN_F_USO4 | TUN_F_USO6))) < 0)
		return -1;
	struct nl *nl;
	int ifindex = (int)if_nametoindex(IFNAME), ifindex2 = (int)if_nametoindex(IFNAME2);
	if (ifindex <= 0 || ifindex2 <= 0 || nl_new(&nl) != 0)
		return -1;
	/* only our packets on the TUNs; forwarding for the third test */
	if (proc_write("/proc/sys/net/ipv6/conf/" IFNAME "/disable_ipv6", "1") == -EIO ||
	    proc_write("/proc/sys/net/ipv6/conf/" IFNAME2 "/disable_ipv6", "1") == -EIO ||
	    proc_write("/proc/sys/net/ipv4/ip_forward", "1") != 0)
		return -1;
	int err = nl_link_set(nl, ifindex, MTU, true);
	err = err ? err : nl_addr_add(nl, ifindex, HOST, 24);
	err = err ? err : nl_link_set(nl, ifindex2, MTU, true);
	err = err ? err : nl_addr_add(nl, ifindex2, FWD_HOST, 24);
	nl_free(nl);
	if (err)
		return -1;
	f->listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT), .sin_addr.s_addr = htonl(HOST) };
	int one = 1;
	setsockopt(f->listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (f->listener < 0 || bind(f->listener, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(f->listener, 4) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	if (!f)
		return 0;
	if (f->conn >= 0)
		close(f->conn);
	if (f->listener >= 0)
		close(f->listener);
	if (f->fd >= 0)
		close(f->fd);
	if (f->fd2 >= 0)
		close(f->fd2);
	free(f);
	return 0;
}

/* ---- tests ---- */

/* Segments offload_seg cut from one super-packet, merged back by GRO and
 * written as one GSO packet: one rx packet, all bytes to the socket. Then
 * a super-packet that came whole (complete checksum, longer than the MTU):
 * the lone-packet rule writes it as GSO too. */
static void test_gro_writes_accepted(void **state)
{
	struct fx *f = *state;
	handshake(f, 40001);
	static uint8_t pay[60000], sup[65536], got[60000];
	for (size_t i = 0; i < sizeof(pay); i++)
		pay[i] = (uint8_t)(i * 7 + i / 251);

	/* 20 segments of 1460 = 29200 bytes, the last one with PSH */
	size_t total = 20 * 1460;
	size_t n = build(sup, f, f->snd_nxt, F_ACK | F_PSH, NULL, 0, pay, total, true);
	struct offload_hdr h = {
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
		.hdr_len = 40, .gso_size = 1460, .csum_start = 20, .csum_offset = 16,
	};
	struct offload_seg it;
	assert_int_equal(offload_seg_init(&it, &h, sup, n), 0);
	static uint8_t segs[20][1500];
	size_t seg_len[20];
	for (unsigned i = 0; i < 20; i++) {
		ssize_t k = offload_seg_next(&it, segs[i], sizeof(segs[i]));
		assert_int_equal(k, 1500);
		seg_len[i] = (size_t)k;
	}
	struct offload_gro g;
	offload_gro_init(&g, true, MTU);
	struct tun_sink s = { .f = f };
	long before[3], after[3];
	long csum_err = snmp("Tcp:", "InCsumErrors"), in_err = snmp("Tcp:", "InErrs");
	rx_counters(before);
	for (unsigned i = 0; i < 20; i++)
		offload_gro_add(&g, segs[i], seg_len[i], tun_write_cb, &s);
	assert_int_equal(offload_gro_flush(&g, tun_write_cb, &s), 0);
	assert_int_equal(s.writes, 1);
	assert_int_equal(s.last.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(s.last.gso_size, 1460);
	sock_read_all(f->conn, got, total);
	assert_memory_equal(got, pay, total);
	f->snd_nxt += (uint32_t)total;
	f->id = (uint16_t)(f->id + 20);
	wait_acked(f, f->snd_nxt);
	rx_counters(after);
	assert_int_equal(after[0] - before[0], 1); /* one packet, not 20 */
	assert_int_equal(after[1] - before[1], 0);
	assert_int_equal(after[2] - before[2], 0);

	/* the whole super-packet, complete checksum, as a stream path brings it */
	size_t total2 = 30000;
	n = build(sup, f, f->snd_nxt, F_ACK | F_PSH, NULL, 0, pay + total, total2, false);
	rx_counters(before);
	s.writes = s.gso = 0;
	offload_gro_add(&g, sup, n, tun_write_cb, &s);
	assert_int_equal(offload_gro_flush(&g, tun_write_cb, &s), 0);
	assert_int_equal(s.writes, 1);
	assert_int_equal(s.gso, 1);
	assert_int_equal(s.last.gso_size, MTU - 40);
	sock_read_all(f->conn, got, total2);
	assert_memory_equal(got, pay + total, total2);
	f->snd_nxt += (uint32_t)total2;
	wait_acked(f, f->snd_nxt);
	rx_counters(after);
	assert_int_equal(after[0] - before[0], 1);
	assert_int_equal(after[1] - before[1], 0);
	assert_int_equal(after[2] - before[2], 0);
	assert_int_equal(snmp("Tcp:", "InCsumErrors"), csum_err);
	assert_int_equal(snmp("Tcp:", "InErrs"), in_err);
}

/* The kernel sends 200000 bytes; its TSO reads are segmented here and
 * acknowledged segment by segment. */
static void test_kernel_tso_segmented(void **state)
{
	struct fx *f = *state;
	handshake(f, 40002);
	static uint8_t data[200000], got[200000], buf[BUF], seg[2048];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + i / 509);
	size_t sent = 0, have = 0;
	unsigned gso_reads = 0, segments = 0;
	struct offload_hdr first_gso = { 0 };
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (have < sizeof(data)) {
		assert_true(ms_since(&t0) < 10 * WAIT_MS);
		if (sent < sizeof(data)) {
			ssize_t k = send(f->conn, data + sent, sizeof(data) - sent, MSG_DONTWAIT);
			if (k > 0)
				sent += (size_t)k;
		}
		struct offload_hdr h;
		ssize_t n = tun_read_tcp(f, buf, &h, 200);
		if (n <= 0)
			continue;
		uint8_t *ip = buf + OFFLOAD_HDR_LEN;
		struct offload_seg it;
		assert_int_equal(offload_seg_init(&it, &h, ip, (size_t)n), 0);
		if (h.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
			assert_int_equal(h.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
			if (!gso_reads++)
				first_gso = h;
			/* the convention offload_gro writes too: the folded
			 * pseudo-header sum over the whole TCP length */
			assert_int_equal(get16(ip + 36), ref_fold(pseudo4(ip, (size_t)n - 20)));
			/* offload_whole turns the same read into one valid packet */
			static uint8_t whole[65536];
			memcpy(whole, ip, (size_t)n);
			assert_int_equal(offload_whole(&h, whole, (size_t)n), 0);
			assert_true(ipv4_tcp_valid(whole, (size_t)n));
		}
		ssize_t k;
		while ((k = offload_seg_next(&it, seg, sizeof(seg))) > 0) {
			segments++;
			assert_true(k <= MTU);
			assert_true(ipv4_tcp_valid(seg, (size_t)k));
			size_t thl = (size_t)(seg[32] >> 4) * 4, len = (size_t)k - 20 - thl;
			assert_int_equal(get32(seg + 24), f->rcv_nxt); /* in order, nothing lost */
			assert_true(have + len <= sizeof(got));
			memcpy(got + have, seg + 20 + thl, len);
			have += len;
			f->rcv_nxt += (uint32_t)len;
		}
		assert_int_equal(k, 0);
		uint8_t ack[64];
		tun_write_plain(f, ack, build(ack, f, f->snd_nxt, F_ACK, NULL, 0, NULL, 0, false));
		f->id++;
	}
	assert_memory_equal(got, data, sizeof(data));
	assert_true(gso_reads > 0); /* the kernel did use TSO */
	assert_true(segments > gso_reads);
	fprintf(stderr, "kernel TSO read: flags %u gso_type %u gso_size %u hdr_len %u csum_start %u csum_offset %u; "
			"%u GSO reads, %u segments\n",
		first_gso.flags, first_gso.gso_type, first_gso.gso_size, first_gso.hdr_len, first_gso.csum_start,
		first_gso.csum_offset, gso_reads, segments);
}

/* What the kernel forwards out of the plain TUN: segments of one flow,
 * each a valid packet, seq from seq0 on, payload equal to pay. Returns the
 * number of segments once n bytes arrived. */
static unsigned read_forwarded(struct fx *f, uint32_t seq0, uint16_t id0, const uint8_t *pay, size_t n)
{
	static uint8_t buf[65536];
	size_t have = 0;
	unsigned segs = 0;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (have < n) {
		long left = WAIT_MS - ms_since(&t0);
		struct pollfd p = { .fd = f->fd2, .events = POLLIN };
		assert_true(left > 0 && poll(&p, 1, (int)left) == 1);
		ssize_t k = read(f->fd2, buf, sizeof(buf));
		if (k < 0 && errno == EAGAIN)
			continue;
		if (k < 40 || buf[0] != 0x45 || buf[9] != 6)
			continue; /* not ours */
		assert_true(k <= MTU);
		assert_true(ipv4_tcp_valid(buf, (size_t)k));
		assert_int_equal(get32(buf + 16), FWD_DST);
		assert_int_equal(buf[8], 63); /* one hop */
		assert_int_equal(get16(buf + 4), (uint16_t)(id0 + segs));
		size_t thl = (size_t)(buf[32] >> 4) * 4, len = (size_t)k - 20 - thl;
		assert_int_equal(get32(buf + 24), seq0 + (uint32_t)have);
		assert_true(have + len <= n);
		assert_memory_equal(buf + 20 + thl, pay + have, len);
		have += len;
		segs++;
	}
	return segs;
}

/* Merged and lone super-packets, forwarded out of a TUN without offloads:
 * the kernel resegments them from our header and checksum field. */
static void test_gro_forwarded_resegmented(void **state)
{
	struct fx *f = *state;
	static uint8_t pay[40000], sup[65536], segs[30][1500];
	for (size_t i = 0; i < sizeof(pay); i++)
		pay[i] = (uint8_t)(i * 5 + i / 257);
	f->dst = FWD_DST;
	f->sport = 40003;
	f->rcv_nxt = 1;
	f->id = 100;
	uint32_t seq = 7777;
	size_t total = 25 * 1400 + 321; /* 26 segments, the last short */
	size_t n = build(sup, f, seq, F_ACK | F_PSH, NULL, 0, pay, total, true);
	struct offload_hdr h = {
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
		.hdr_len = 40, .gso_size = 1400, .csum_start = 20, .csum_offset = 16,
	};
	struct offload_seg it;
	assert_int_equal(offload_seg_init(&it, &h, sup, n), 0);
	assert_int_equal(offload_seg_count(&it), 26);
	struct offload_gro g;
	offload_gro_init(&g, true, MTU);
	struct tun_sink s = { .f = f };
	for (unsigned i = 0; i < 26; i++) {
		ssize_t k = offload_seg_next(&it, segs[i], sizeof(segs[i]));
		assert_true(k > 0);
		offload_gro_add(&g, segs[i], (size_t)k, tun_write_cb, &s);
	}
	assert_int_equal(offload_gro_flush(&g, tun_write_cb, &s), 0);
	assert_int_equal(s.writes, 1);
	assert_int_equal(s.gso, 1);
	assert_int_equal(read_forwarded(f, seq, 100, pay, total), 26);

	/* a lone one that came whole: cut to mtu - 40 = 1460 by the kernel */
	f->id = 300;
	seq += (uint32_t)total;
	n = build(sup, f, seq, F_ACK | F_PSH, NULL, 0, pay, 30000, false);
	s.writes = s.gso = 0;
	offload_gro_add(&g, sup, n, tun_write_cb, &s);
	assert_int_equal(offload_gro_flush(&g, tun_write_cb, &s), 0);
	assert_int_equal(s.gso, 1);
	assert_int_equal(read_forwarded(f, seq, 300, pay, 30000), (30000 + 1459) / 1460);
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "\n*** SKIP: test_offload_tun needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) ***\n\n");
		return SKIP_EXIT;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "\n*** SKIP: test_offload_tun cannot make a network namespace: %s ***\n\n",
			strerror(errno));
		return SKIP_EXIT;
	}
	if (access("/dev/net/tun", R_OK | W_OK) != 0) {
		fprintf(stderr, "\n*** SKIP: test_offload_tun: no /dev/net/tun ***\n\n");
		return SKIP_EXIT;
	}
	alarm(WATCHDOG_S);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_gro_writes_accepted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kernel_tso_segmented, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gro_forwarded_resegmented, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
