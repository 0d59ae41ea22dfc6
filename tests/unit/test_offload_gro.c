/*
 * test_offload_gro.c - unit tests for the receiving side of shared/offload.c:
 * the coalescer (GRO) that merges consecutive segments of a flow into one
 * super-packet for the TUN device, by the kernel's own rules.
 *
 * Method (offload_lab.h): segments of a known super-packet are fed in and
 * must come back as that partial super-packet, byte for byte, with the
 * vnet header the kernel expects; flush rules are tested by mutating one
 * segment (and recomputing its checksums with the reference) and checking
 * where merges stop: TCP flags and options, IP fields, flows, limits,
 * oversize input, the MTU cut and GRO disabled.
 */
#include <errno.h>
#include <sys/uio.h>

#include "offload_lab.h"

/* ---- receiving side ---- */

struct written {
	struct offload_hdr h;
	uint8_t *b;
	size_t len;
	int iovcnt;
};

struct sink {
	struct written w[600];
	unsigned n;
	unsigned fail_every; /* 0: never fail */
};

static int sink_write(void *arg, const struct iovec *iov, int iovcnt)
{
	struct sink *k = arg;
	assert_true(k->n < 600);
	assert_true(iovcnt >= 2 && iovcnt <= OFFLOAD_GRO_MAX_IOV);
	assert_int_equal(iov[0].iov_len, OFFLOAD_HDR_LEN);
	struct written *w = &k->w[k->n++];
	offload_hdr_decode(&w->h, iov[0].iov_base);
	w->len = 0;
	for (int i = 1; i < iovcnt; i++)
		w->len += iov[i].iov_len;
	assert_true(w->len <= OFFLOAD_MAX_PACKET);
	w->b = malloc(w->len);
	assert_non_null(w->b);
	size_t off = 0;
	for (int i = 1; i < iovcnt; i++) {
		memcpy(w->b + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	w->iovcnt = iovcnt;
	return k->fail_every && k->n % k->fail_every == 0 ? -EIO : 0;
}

static void sink_free(struct sink *k)
{
	for (unsigned i = 0; i < k->n; i++)
		free(k->w[i].b);
	k->n = 0;
}

static bool is_plain(const struct written *w)
{
	return w->h.flags == 0 && w->h.gso_type == 0 && !w->h.ecn && w->h.gso_size == 0 &&
	       w->h.hdr_len == 0 && w->h.csum_start == 0 && w->h.csum_offset == 0;
}

/* Offers the packets of l in order and flushes; the input bytes must be
 * unchanged afterwards. */
static void gro_run(struct offload_gro *g, const struct pkts *l, struct sink *k)
{
	struct pkts copy = { 0 };
	for (unsigned i = 0; i < l->n; i++)
		pkts_add(&copy, l->p[i], l->len[i]);
	for (unsigned i = 0; i < l->n; i++)
		offload_gro_add(g, l->p[i], l->len[i], sink_write, k);
	offload_gro_flush(g, sink_write, k);
	for (unsigned i = 0; i < l->n; i++)
		assert_memory_equal(l->p[i], copy.p[i], l->len[i]);
	pkts_free(&copy);
}

/* Resegments a merged write and compares with the segments first..first+n. */
static void reseg_equals(const struct written *w, const struct pkts *l, unsigned first, unsigned n)
{
	static uint8_t out[BIG];
	uint8_t *pkt = dup_buf(w->b, w->len);
	struct offload_seg it;
	assert_int_equal(offload_seg_init(&it, &w->h, pkt, w->len), 0);
	assert_int_equal(offload_seg_count(&it), n);
	for (unsigned i = 0; i < n; i++) {
		ssize_t k = offload_seg_next(&it, out, sizeof(out));
		assert_int_equal(k, l->len[first + i]);
		assert_memory_equal(out, l->p[first + i], (size_t)k);
	}
	free(pkt);
}

/* Checks the write is the merge of segments first..first+n of l. */
static void merged_equals(const struct written *w, const struct pkts *l, unsigned first, unsigned n)
{
	if (n == 1) {
		assert_true(is_plain(w));
		assert_int_equal(w->len, l->len[first]);
		assert_memory_equal(w->b, l->p[first], w->len);
		return;
	}
	int ver = w->b[0] >> 4;
	size_t l3 = ver == 4 ? 20 : 40, thl = (size_t)(w->b[l3 + 12] >> 4) * 4;
	assert_int_equal(w->h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(w->h.gso_type, ver == 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6);
	assert_int_equal(w->h.csum_start, l3);
	assert_int_equal(w->h.csum_offset, 16);
	assert_int_equal(w->h.hdr_len, l3 + thl);
	assert_int_equal(w->h.gso_size, l->len[first] - l3 - thl);
	assert_int_equal(w->h.ecn, !!(w->b[l3 + 13] & F_CWR));
	assert_int_equal(w->iovcnt, 2 + n);
	reseg_equals(w, l, first, n);
}

static void gro_roundtrip(const struct spec *s, uint16_t mss)
{
	static uint8_t sup[BIG];
	struct spec p = *s;
	p.partial = true;
	size_t n = build(&p, sup);
	struct pkts l = { 0 };
	unsigned count = segment(s, mss, &l);
	struct offload_gro g;
	offload_gro_init(&g, true, 9000); /* no segment is cut to the MTU here */
	struct sink k = { .n = 0 };
	gro_run(&g, &l, &k);
	assert_int_equal(k.n, 1);
	/* exactly the super-packet TUN gave, checksum field convention included */
	assert_int_equal(k.w[0].len, n);
	assert_memory_equal(k.w[0].b, sup, n);
	merged_equals(&k.w[0], &l, 0, count);
	assert_int_equal(g.packets_in, count);
	assert_int_equal(g.packets_out, 1);
	assert_int_equal(g.merged, count - 1);
	sink_free(&k);
	pkts_free(&l);
}

static void test_gro_roundtrip(void **state)
{
	(void)state;
	struct spec s = base_spec(4, P_TCP, 20000);
	s.flags = F_ACK | F_PSH;
	gro_roundtrip(&s, 1448);
	s.flags = F_ACK | F_PSH | F_FIN | F_CWR;
	gro_roundtrip(&s, 1448);
	s = base_spec(6, P_TCP, 30000);
	s.flags = F_ACK | F_PSH;
	s.flow = 0xabcde;
	s.tos = 0x28;
	gro_roundtrip(&s, 1428);
	s.tcp_opt = 0;
	s.paylen = 1428 * 10;
	gro_roundtrip(&s, 1428);
	for (unsigned k = 0; k < 100; k++) {
		s = base_spec(rnd() & 1 ? 4 : 6, P_TCP, 0);
		s.tcp_opt = 12 * rnd_below(4);
		s.seq = (uint32_t)rnd();
		s.id = (uint16_t)rnd();
		s.flags = (uint8_t)(F_ACK | (rnd() & (F_PSH | F_FIN | F_CWR)));
		uint16_t mss = (uint16_t)(200 + rnd_below(1300));
		size_t segs = 2 + rnd_below(40);
		s.paylen = mss * (segs - 1) + 1 + rnd_below(mss);
		if (s.paylen + 100 > 65535)
			continue;
		gro_roundtrip(&s, mss);
	}
}

/* Segments of a 10-segment stream (mss 1000, IPv4 unless ver says 6) with
 * segment `which` replaced by what edit() makes of it; the checksums of
 * the edited segment are recomputed. */
static void refix(uint8_t *p, size_t len)
{
	size_t l3 = p[0] >> 4 == 4 ? (size_t)(p[0] & 15) * 4 : 40;
	uint8_t proto = p[0] >> 4 == 4 ? p[9] : p[6];
	if (p[0] >> 4 == 4) {
		put16(p + 10, 0);
		put16(p + 10, (uint16_t)~ref_fold(ref_add(0, p, l3)));
	}
	size_t coff = proto == P_TCP ? 16 : 6;
	put16(p + l3 + coff, 0);
	put16(p + l3 + coff, (uint16_t)~ref_fold(ref_add(ref_pseudo(p, proto, len - l3), p + l3, len - l3)));
}

static struct pkts stream(int ver)
{
	struct spec s = base_spec(ver, P_TCP, 10000);
	s.flags = F_ACK;
	struct pkts l = { 0 };
	segment(&s, 1000, &l);
	return l;
}

/* Runs l through GRO and checks the writes merge exactly the runs given
 * by sizes (0-terminated): sizes {2, 1, 7} = segments 0-1 merged, 2 alone,
 * 3-9 merged. */
static void expect_runs(struct pkts *l, const unsigned *sizes)
{
	struct offload_gro g;
	offload_gro_init(&g, true, 1500);
	struct sink k = { .n = 0 };
	gro_run(&g, l, &k);
	unsigned at = 0, i = 0;
	for (; sizes[i]; i++) {
		assert_true(i < k.n);
		merged_equals(&k.w[i], l, at, sizes[i]);
		at += sizes[i];
	}
	assert_int_equal(k.n, i);
	assert_int_equal(at, l->n);
	sink_free(&k);
	pkts_free(l);
}

#define RUNS(...) ((const unsigned[]){ __VA_ARGS__, 0 })

static void test_gro_tcp_rules(void **state)
{
	(void)state;
	struct pkts l = stream(4);
	expect_runs(&l, RUNS(10));

	l = stream(4); /* seq gap: segment 4 missing */
	free(l.p[4]);
	memmove(&l.p[4], &l.p[5], 5 * sizeof(l.p[0]));
	memmove(&l.len[4], &l.len[5], 5 * sizeof(l.len[0]));
	l.n = 9;
	for (unsigned i = 4; i < 9; i++) { /* keep the ids contiguous: only seq breaks */
		put16(l.p[i] + 4, (uint16_t)(get16(l.p[i] + 4) - 1));
		refix(l.p[i], l.len[i]);
	}
	expect_runs(&l, RUNS(4, 5));

	l = stream(4); /* a different ack from segment 3 on */
	for (unsigned i = 3; i < 10; i++) {
		put32(l.p[i] + 28, 0x99);
		refix(l.p[i], l.len[i]);
	}
	expect_runs(&l, RUNS(3, 7));

	l = stream(4); /* a different window on segment 3 only */
	put16(l.p[3] + 34, 1);
	refix(l.p[3], l.len[3]);
	expect_runs(&l, RUNS(3, 1, 6));

	l = stream(4); /* different options (timestamp) on segment 5 only */
	l.p[5][20 + 24] ^= 1;
	refix(l.p[5], l.len[5]);
	expect_runs(&l, RUNS(5, 1, 4));

	l = stream(4); /* a reserved (AccECN AE) bit set on segment 3 only */
	l.p[3][32] |= 0x01;
	refix(l.p[3], l.len[3]);
	expect_runs(&l, RUNS(3, 1, 6));
}

static void test_gro_tcp_flags(void **state)
{
	(void)state;
	struct pkts l;
	const uint8_t never[] = { F_SYN, F_RST, F_URG };
	for (unsigned f = 0; f < 3; f++) {
		l = stream(4); /* SYN, RST, URG: written alone, never merged */
		l.p[2][33] |= never[f];
		refix(l.p[2], l.len[2]);
		expect_runs(&l, RUNS(2, 1, 7));
	}

	l = stream(4); /* CWR ends the merge before it and may start one */
	l.p[4][33] |= F_CWR;
	refix(l.p[4], l.len[4]);
	expect_runs(&l, RUNS(4, 6));

	for (unsigned f = 0; f < 2; f++) {
		l = stream(4); /* PSH or FIN: merged, then ends the merge */
		l.p[3][33] |= f ? F_FIN : F_PSH;
		refix(l.p[3], l.len[3]);
		expect_runs(&l, RUNS(4, 6));
	}

	l = stream(4); /* a short segment is merged and ends the merge */
	l.len[2] -= 100;
	put16(l.p[2] + 2, (uint16_t)l.len[2]);
	refix(l.p[2], l.len[2]);
	for (unsigned i = 3; i < 10; i++) {
		put32(l.p[i] + 24, get32(l.p[i] + 24) - 100);
		refix(l.p[i], l.len[i]);
	}
	expect_runs(&l, RUNS(3, 7));

	l = stream(4); /* a bad checksum is never merged; a bad head is written as is */
	l.p[3][60] ^= 0x40;
	l.p[6][60] ^= 0x40;
	expect_runs(&l, RUNS(3, 1, 2, 1, 3));
	l = stream(4);
	l.p[0][10] ^= 1; /* IPv4 header checksum */
	expect_runs(&l, RUNS(1, 9));

	l = stream(4); /* a PSH head is written alone */
	l.p[0][33] |= F_PSH;
	refix(l.p[0], l.len[0]);
	expect_runs(&l, RUNS(1, 9));

	l = stream(4); /* two SYN segments in a row are not merged either */
	for (unsigned i = 2; i < 4; i++) {
		l.p[i][33] |= F_SYN;
		refix(l.p[i], l.len[i]);
	}
	expect_runs(&l, RUNS(2, 1, 1, 6));
}

static void test_gro_tcp_odd_segments(void **state)
{
	(void)state;
	struct pkts l;
	l = stream(4); /* a segment larger than the first is not appended */
	{
		static uint8_t big[1200];
		memcpy(big, l.p[1], l.len[1]);
		size_t bl = l.len[1] + 100;
		put16(big + 2, (uint16_t)bl);
		refix(big, bl);
		free(l.p[1]);
		l.p[1] = dup_buf(big, bl);
		l.len[1] = bl;
		for (unsigned i = 2; i < 10; i++) {
			put32(l.p[i] + 24, get32(l.p[i] + 24) + 100);
			refix(l.p[i], l.len[i]);
		}
	}
	expect_runs(&l, RUNS(1, 2, 7));

	l = stream(4); /* a head with a bad TCP checksum is written as it came */
	l.p[0][60] ^= 0x40;
	expect_runs(&l, RUNS(1, 9));

	l = stream(4); /* a total length that disagrees, checksums valid */
	put16(l.p[4] + 2, (uint16_t)(l.len[4] + 2));
	refix(l.p[4], l.len[4]);
	expect_runs(&l, RUNS(4, 1, 5));

	l = stream(4); /* a pure ACK of the same flow ends the merge */
	static uint8_t ack[64];
	memcpy(ack, l.p[3], 52);
	put16(ack + 2, 52);
	refix(ack, 52);
	free(l.p[3]);
	l.p[3] = dup_buf(ack, 52);
	l.len[3] = 52;
	expect_runs(&l, RUNS(3, 1, 6));
}

static void test_gro_ip_rules(void **state)
{
	(void)state;
	struct { size_t off; uint8_t x; } v4[] = {
		{ 1, 0x04 }, /* TOS */
		{ 8, 0x01 }, /* TTL */
		{ 6, 0x40 }, /* DF */
	};
	struct pkts l;
	for (unsigned k = 0; k < 3; k++) {
		l = stream(4);
		for (unsigned i = 5; i < 10; i++) {
			l.p[i][v4[k].off] ^= v4[k].x;
			refix(l.p[i], l.len[i]);
		}
		expect_runs(&l, RUNS(5, 5));
	}
	l = stream(4); /* ids out of step from segment 5 on */
	for (unsigned i = 5; i < 10; i++) {
		put16(l.p[i] + 4, (uint16_t)(1000 - i));
		refix(l.p[i], l.len[i]);
	}
	expect_runs(&l, RUNS(5, 1, 1, 1, 1, 1));
	struct { size_t off; uint8_t x; } v6[] = {
		{ 1, 0x40 }, /* traffic class */
		{ 3, 0x01 }, /* flow label */
		{ 7, 0x01 }, /* hop limit */
	};
	for (unsigned k = 0; k < 3; k++) {
		l = stream(6);
		for (unsigned i = 5; i < 10; i++) {
			l.p[i][v6[k].off] ^= v6[k].x;
			refix(l.p[i], l.len[i]);
		}
		expect_runs(&l, RUNS(5, 5));
	}

	/* A fixed IPv4 id merges only with DF; the kernel would resegment it
	 * with incrementing ids, so the written packet keeps the first id. */
	l = stream(4);
	for (unsigned i = 0; i < 10; i++) {
		put16(l.p[i] + 4, 7);
		refix(l.p[i], l.len[i]);
	}
	struct offload_gro g;
	offload_gro_init(&g, true, 1500);
	struct sink k = { .n = 0 };
	gro_run(&g, &l, &k);
	assert_int_equal(k.n, 1);
	assert_int_equal(k.w[0].h.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(get16(k.w[0].b + 4), 7);
	assert_int_equal(k.w[0].len, 10000 + 52);
	sink_free(&k);
	for (unsigned i = 0; i < 10; i++) {
		l.p[i][6] &= (uint8_t)~0x40;
		refix(l.p[i], l.len[i]);
	}
	expect_runs(&l, RUNS(1, 1, 1, 1, 1, 1, 1, 1, 1, 1));
}

static void test_gro_ip_passthrough(void **state)
{
	(void)state;
	struct pkts l;
	struct offload_gro g;
	struct sink k = { .n = 0 };
	l = stream(4); /* IPv4 options: passed through as they are */
	for (unsigned i = 2; i < 4; i++) {
		static uint8_t opt[1200];
		memcpy(opt, l.p[i], 20);
		memset(opt + 20, 1, 4);
		memcpy(opt + 24, l.p[i] + 20, l.len[i] - 20);
		opt[0] = 0x46;
		put16(opt + 2, (uint16_t)(l.len[i] + 4));
		refix(opt, l.len[i] + 4);
		free(l.p[i]);
		l.len[i] += 4;
		l.p[i] = dup_buf(opt, l.len[i]);
	}
	expect_runs(&l, RUNS(2, 1, 1, 6));

	l = stream(4); /* fragments: MF, and a later fragment without ports */
	l.p[3][6] |= 0x20;
	refix(l.p[3], l.len[3]);
	l.p[6][7] = 0x10;
	put16(l.p[6] + 10, 0);
	put16(l.p[6] + 10, (uint16_t)~ref_fold(ref_add(0, l.p[6], 20)));
	expect_runs(&l, RUNS(3, 1, 2, 1, 3));

	/* A later fragment carries no ports: it cannot be told to belong to
	 * the flow, so it does not end the merge (the kernel delivers it
	 * apart too). */
	l = stream(4);
	static uint8_t frag[100];
	memcpy(frag, l.p[0], 100);
	put16(frag + 2, 100);
	frag[7] = 0x10;
	refix(frag, 100);
	struct pkts m = { 0 };
	for (unsigned i = 0; i < 10; i++) {
		pkts_add(&m, l.p[i], l.len[i]);
		if (i == 4)
			pkts_add(&m, frag, 100);
	}
	offload_gro_init(&g, true, 1500);
	gro_run(&g, &m, &k);
	assert_int_equal(k.n, 2);
	merged_equals(&k.w[0], &l, 0, 10);
	assert_true(is_plain(&k.w[1]) && k.w[1].len == 100 && memcmp(k.w[1].b, frag, 100) == 0);
	sink_free(&k);
	pkts_free(&m);

	/* Nor does an IPv6 packet with extension headers, which the kernel
	 * does not count as the same flow either. */
	struct pkts s6 = stream(6);
	static uint8_t ext[200];
	memcpy(ext, s6.p[1], 40);
	memset(ext + 40, 0, 8);
	ext[40] = P_TCP;
	memcpy(ext + 48, s6.p[1] + 40, 100);
	ext[6] = 60;
	put16(ext + 4, 108);
	for (unsigned i = 0; i < 10; i++) {
		pkts_add(&m, s6.p[i], s6.len[i]);
		if (i == 1)
			pkts_add(&m, ext, 148);
	}
	gro_run(&g, &m, &k);
	assert_int_equal(k.n, 2);
	merged_equals(&k.w[0], &s6, 0, 10);
	assert_true(is_plain(&k.w[1]) && k.w[1].len == 148);
	sink_free(&k);
	pkts_free(&m);
	pkts_free(&s6);
	pkts_free(&l);
}

static void test_gro_flows_and_passthrough(void **state)
{
	(void)state;
	/* two flows interleaved with a UDP packet and garbage */
	struct pkts a = stream(4), b = stream(6), l = { 0 };
	static uint8_t udp[600];
	struct spec u = base_spec(4, P_UDP, 500);
	size_t un = build(&u, udp);
	const uint8_t junk[] = { 0x45, 0, 0, 40, 0, 0 };
	for (unsigned i = 0; i < 10; i++) {
		pkts_add(&l, a.p[i], a.len[i]);
		pkts_add(&l, b.p[i], b.len[i]);
		if (i == 4) {
			pkts_add(&l, udp, un);
			pkts_add(&l, junk, sizeof(junk));
			pkts_add(&l, junk, 0);
		}
	}
	struct offload_gro g;
	offload_gro_init(&g, true, 1500);
	struct sink k = { .n = 0 };
	gro_run(&g, &l, &k);
	assert_int_equal(k.n, 5); /* in order of first arrival */
	merged_equals(&k.w[0], &a, 0, 10);
	merged_equals(&k.w[1], &b, 0, 10);
	assert_true(is_plain(&k.w[2]) && k.w[2].len == un && memcmp(k.w[2].b, udp, un) == 0);
	assert_true(is_plain(&k.w[3]) && k.w[3].len == sizeof(junk));
	assert_true(is_plain(&k.w[4]) && k.w[4].len == 0);
	assert_int_equal(g.packets_in, 23);
	assert_int_equal(g.packets_out, 5);
	assert_int_equal(g.merged, 18);
	sink_free(&k);
	pkts_free(&a);
	pkts_free(&b);
	pkts_free(&l);

	/* flows that differ only in the destination port or in the last byte
	 * of an address, same sequence numbers and ids: never mixed */
	struct pkts c = stream(4);
	a = stream(4);
	b = stream(4);
	for (unsigned i = 0; i < 10; i++) {
		put16(b.p[i] + 22, 5002);
		refix(b.p[i], b.len[i]);
		c.p[i][19] ^= 1;
		refix(c.p[i], c.len[i]);
		pkts_add(&l, a.p[i], a.len[i]);
		pkts_add(&l, b.p[i], b.len[i]);
		pkts_add(&l, c.p[i], c.len[i]);
	}
	gro_run(&g, &l, &k);
	assert_int_equal(k.n, 3);
	merged_equals(&k.w[0], &a, 0, 10);
	merged_equals(&k.w[1], &b, 0, 10);
	merged_equals(&k.w[2], &c, 0, 10);
	sink_free(&k);
	pkts_free(&a);
	pkts_free(&b);
	pkts_free(&c);
	pkts_free(&l);

	/* truncated or lengthened copies of a segment: passed through */
	l = stream(4);
	for (size_t cut = 0; cut < l.len[1]; cut += 37) {
		struct pkts m = { 0 };
		pkts_add(&m, l.p[0], l.len[0]);
		pkts_add(&m, l.p[1], cut);
		pkts_add(&m, l.p[2], l.len[2]);
		expect_runs(&m, RUNS(1, 1, 1)); /* with ports seen or not */
	}
	static uint8_t longer[1100];
	memcpy(longer, l.p[1], l.len[1]);
	struct pkts m = { 0 };
	pkts_add(&m, l.p[0], l.len[0]);
	pkts_add(&m, longer, l.len[1] + 1);
	expect_runs(&m, RUNS(1, 1));
	pkts_free(&l);
}

static void test_gro_limits(void **state)
{
	(void)state;
	/* never over 65535: 60 segments of 1448 make 45 + 15 */
	struct spec s = base_spec(4, P_TCP, 1448 * 30);
	struct pkts l = { 0 };
	segment(&s, 1448, &l);
	s.seq += 1448 * 30;
	s.id = (uint16_t)(s.id + 30);
	segment(&s, 1448, &l);
	expect_runs(&l, RUNS(45, 15));

	/* at most 64 payload pieces per write */
	s = base_spec(6, P_TCP, 100 * 70);
	segment(&s, 100, &l);
	expect_runs(&l, RUNS(64, 6));

	/* more packets than can be held: flushed on the way */
	l = stream(4);
	struct offload_gro g;
	offload_gro_init(&g, true, 1500);
	struct sink k = { .n = 0 };
	for (unsigned i = 0; i < OFFLOAD_GRO_MAX_HELD + 5; i++)
		offload_gro_add(&g, l.p[0], l.len[0], sink_write, &k); /* same seq: never merged */
	assert_int_equal(k.n, OFFLOAD_GRO_MAX_HELD);
	assert_int_equal(g.n, 5);
	k.fail_every = 2;
	assert_int_equal(offload_gro_flush(&g, sink_write, &k), 2);
	assert_int_equal(k.n, OFFLOAD_GRO_MAX_HELD + 5);
	assert_int_equal(g.packets_out, OFFLOAD_GRO_MAX_HELD + 5);
	assert_int_equal(offload_gro_flush(&g, sink_write, &k), 0);
	assert_int_equal(k.n, OFFLOAD_GRO_MAX_HELD + 5);
	sink_free(&k);
	pkts_free(&l);
}

static void test_gro_oversize(void **state)
{
	(void)state;
	static uint8_t sup[BIG], want[BIG];
	struct spec s = base_spec(4, P_TCP, 20000);
	s.flags = F_ACK | F_PSH;
	s.partial = true;
	size_t n = build(&s, want);
	s.partial = false;
	build(&s, sup); /* a super-packet that came whole over a stream path */
	for (int enabled = 0; enabled < 2; enabled++) {
		struct pkts l = { 0 };
		pkts_add(&l, sup, n);
		struct offload_gro g;
		offload_gro_init(&g, enabled, 1400);
		struct sink k = { .n = 0 };
		gro_run(&g, &l, &k);
		assert_int_equal(k.n, 1);
		struct written *w = &k.w[0];
		assert_int_equal(w->h.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
		assert_int_equal(w->h.gso_size, 1400 - 52);
		assert_int_equal(w->len, n);
		assert_memory_equal(w->b, want, n);
		struct offload_seg it;
		uint8_t *pkt = dup_buf(w->b, w->len);
		assert_int_equal(offload_seg_init(&it, &w->h, pkt, w->len), 0);
		assert_int_equal(offload_seg_count(&it), (20000 + 1347) / 1348);
		static uint8_t out[2000];
		ssize_t m;
		while ((m = offload_seg_next(&it, out, sizeof(out))) > 0) {
			assert_true(m <= 1400);
			check_csums(out, (size_t)m);
		}
		free(pkt);
		sink_free(&k);
		/* with a bad checksum it goes as it came, for the kernel to drop */
		l.p[0][5000] ^= 1;
		gro_run(&g, &l, &k);
		assert_true(k.n == 1 && is_plain(&k.w[0]));
		sink_free(&k);
		pkts_free(&l);
	}
}

static void test_gro_mtu_cut_and_disabled(void **state)
{
	(void)state;
	static uint8_t sup[BIG];
	size_t n;
	struct spec s = base_spec(4, P_TCP, 20000);
	/* segments larger than this device's MTU allows: the merge is cut to it */
	struct spec t = base_spec(4, P_TCP, 1448 * 8);
	struct pkts l = { 0 };
	segment(&t, 1448, &l);
	struct offload_gro g;
	offload_gro_init(&g, true, 1400);
	struct sink k = { .n = 0 };
	gro_run(&g, &l, &k);
	assert_int_equal(k.n, 1);
	assert_int_equal(k.w[0].h.gso_size, 1400 - 52);
	assert_int_equal(k.w[0].len, 1448 * 8 + 52);
	sink_free(&k);
	pkts_free(&l);

	/* IPv4 options: a lone packet over the MTU goes as it came */
	struct spec o = base_spec(4, P_TCP, 5000);
	o.ip_opt = 8;
	n = build(&o, sup);
	pkts_add(&l, sup, n);
	gro_run(&g, &l, &k);
	assert_true(k.n == 1 && is_plain(&k.w[0]) && k.w[0].len == n);
	sink_free(&k);
	pkts_free(&l);

	/* SYN or URG: GSO would copy them into every segment, so even a
	 * lone packet over the MTU goes as it came */
	s.flags = F_ACK | F_URG;
	s.partial = false;
	n = build(&s, sup);
	pkts_add(&l, sup, n);
	gro_run(&g, &l, &k);
	assert_true(k.n == 1 && is_plain(&k.w[0]) && k.w[0].len == n);
	sink_free(&k);
	pkts_free(&l);

	/* IP version 7 is not IPv6: nothing merged */
	l = stream(6);
	for (unsigned i = 0; i < 10; i++)
		l.p[i][0] = 0x70;
	expect_runs(&l, RUNS(1, 1, 1, 1, 1, 1, 1, 1, 1, 1));

	/* disabled: nothing merged */
	l = stream(6);
	offload_gro_init(&g, false, 1500);
	gro_run(&g, &l, &k);
	assert_int_equal(k.n, 10);
	for (unsigned i = 0; i < 10; i++)
		merged_equals(&k.w[i], &l, i, 1);
	assert_int_equal(g.merged, 0);
	sink_free(&k);
	pkts_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gro_roundtrip),
		cmocka_unit_test(test_gro_tcp_rules),
		cmocka_unit_test(test_gro_tcp_flags),
		cmocka_unit_test(test_gro_tcp_odd_segments),
		cmocka_unit_test(test_gro_ip_rules),
		cmocka_unit_test(test_gro_ip_passthrough),
		cmocka_unit_test(test_gro_flows_and_passthrough),
		cmocka_unit_test(test_gro_limits),
		cmocka_unit_test(test_gro_oversize),
		cmocka_unit_test(test_gro_mtu_cut_and_disabled),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
