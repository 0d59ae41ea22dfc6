/*
 * test_offload.c - unit tests for shared/offload.c.
 *
 * Method: packets are described once (struct spec) and built from scratch
 * by build() below, with its own textbook RFC 1071 checksum, either as the
 * TUN device hands a super-packet over (L4 checksum field = folded
 * pseudo-header sum over the whole length, "partial") or complete. The
 * segmenter's output must equal, byte for byte, the segments built
 * directly from the same description with the rules offload.h states
 * (seq + i * mss, IPv4 id + i, CWR only first, FIN/PSH only last), which
 * checks lengths, flags and every checksum at once. The coalescer is fed
 * such segments and must give back the partial super-packet they came
 * from, byte for byte, with the vnet header the kernel expects; flush
 * rules are tested by mutating one segment (and recomputing its checksums
 * with the reference) and checking where merges stop. Packets live in
 * malloc'd buffers of their exact length so ASan sees any access past
 * them. Random loops use a fixed seed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "offload.h"
#include "pktref.h"

#define P_TCP 6
#define P_UDP 17
#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10
#define F_URG 0x20
#define F_CWR 0x80
#define BIG 65536
#define MAXSEG 256

/* ---- helpers: byte order, PRNG, reference checksum ---- */


static uint64_t rng_s = 0x1234567;
static uint64_t rnd(void) /* splitmix64 */
{
	uint64_t z = (rng_s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}
static size_t rnd_below(size_t n) { return (size_t)(rnd() % n); }


/* Independent check of a complete packet: IPv4 header checksum, lengths,
 * and the TCP/UDP checksum with the pseudo-header. */
static void check_csums(const uint8_t *p, size_t len)
{
	size_t l3;
	uint8_t proto;
	if (p[0] >> 4 == 4) {
		l3 = (size_t)(p[0] & 15) * 4;
		assert_int_equal(get16(p + 2), len);
		assert_int_equal(ref_fold(ref_add(0, p, l3)), 0xffff);
		proto = p[9];
	} else {
		l3 = 40;
		assert_int_equal(get16(p + 4), len - 40);
		proto = p[6];
	}
	if (proto == P_UDP)
		assert_int_equal(get16(p + l3 + 4), len - l3);
	assert_int_equal(ref_fold(ref_add(ref_pseudo(p, proto, len - l3), p + l3, len - l3)), 0xffff);
}

/* ---- packet builder ---- */

struct spec {
	int ver;           /* 4 or 6 */
	uint8_t proto;     /* P_TCP or P_UDP */
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	uint16_t id;
	bool df;
	uint16_t frag;     /* IPv4 MF and offset bits */
	uint8_t tos, ttl;  /* IPv6: traffic class, hop limit */
	uint32_t flow;     /* IPv6 flow label */
	size_t ip_opt;     /* IPv4 option bytes (NOPs) */
	size_t tcp_opt;    /* TCP option bytes: NOP NOP timestamp, repeated */
	uint32_t tsval;
	const uint8_t *payload;
	size_t paylen;
	bool partial;      /* checksum field as TUN gives a super-packet */
};

static size_t spec_l3(const struct spec *s) { return s->ver == 4 ? 20 + s->ip_opt : 40; }
static size_t spec_l4(const struct spec *s) { return s->proto == P_TCP ? 20 + s->tcp_opt : 8; }

static size_t build(const struct spec *s, uint8_t *out)
{
	size_t l3 = spec_l3(s), l4 = spec_l4(s), n = l3 + l4 + s->paylen;
	memset(out, 0, l3 + l4);
	if (s->ver == 4) {
		out[0] = (uint8_t)(0x40 | l3 / 4);
		out[1] = s->tos;
		put16(out + 2, (uint16_t)n);
		put16(out + 4, s->id);
		put16(out + 6, (uint16_t)((s->df ? 0x4000 : 0) | s->frag));
		out[8] = s->ttl;
		out[9] = s->proto;
		put32(out + 12, 0xc0000201);   /* 192.0.2.1 */
		put32(out + 16, 0xc6336402);   /* 198.51.100.2 */
		memset(out + 20, 1, s->ip_opt); /* NOP options */
		put16(out + 10, (uint16_t)~ref_fold(ref_add(0, out, l3)));
	} else {
		put32(out, 0x60000000u | (uint32_t)s->tos << 20 | s->flow);
		put16(out + 4, (uint16_t)(n - 40));
		out[6] = s->proto;
		out[7] = s->ttl;
		const uint8_t a[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
		memcpy(out + 8, a, 16);
		memcpy(out + 24, a, 16);
		out[39] = 2;
	}
	uint8_t *t = out + l3;
	put16(t, s->sport);
	put16(t + 2, s->dport);
	if (s->proto == P_TCP) {
		put32(t + 4, s->seq);
		put32(t + 8, s->ack);
		t[12] = (uint8_t)(l4 / 4 << 4);
		t[13] = s->flags;
		put16(t + 14, s->win);
		for (size_t o = 20; o + 12 <= l4; o += 12) {
			t[o] = t[o + 1] = 1;
			t[o + 2] = 8;
			t[o + 3] = 10;
			put32(t + o + 4, s->tsval);
			put32(t + o + 8, 0x01020304);
		}
	} else {
		put16(t + 4, (uint16_t)(n - l3));
	}
	memcpy(out + l3 + l4, s->payload, s->paylen);
	size_t coff = s->proto == P_TCP ? 16 : 6;
	uint32_t ps = ref_pseudo(out, s->proto, n - l3);
	uint16_t c = s->partial ? ref_fold(ps) : (uint16_t)~ref_fold(ref_add(ps, t, n - l3));
	if (!s->partial && s->proto == P_UDP && c == 0)
		c = 0xffff;
	put16(t + coff, c);
	return n;
}

static uint8_t payload[BIG];

static struct spec base_spec(int ver, uint8_t proto, size_t paylen)
{
	struct spec s = {
		.ver = ver, .proto = proto, .sport = 40000, .dport = 5001, .seq = 0xfffff000u,
		.ack = 0x11223344, .flags = F_ACK, .win = 502, .id = 0xfffe, .df = true, .ttl = 64,
		.tcp_opt = proto == P_TCP ? 12 : 0, .tsval = 777, .payload = payload, .paylen = paylen,
	};
	return s;
}

/* The virtio header TUN gives with a super-packet built from s. */
static struct offload_hdr gso_hdr(const struct spec *s, uint16_t mss)
{
	struct offload_hdr h = {
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		.gso_type = s->proto == P_UDP ? VIRTIO_NET_HDR_GSO_UDP_L4
			    : s->ver == 4  ? VIRTIO_NET_HDR_GSO_TCPV4
					   : VIRTIO_NET_HDR_GSO_TCPV6,
		.hdr_len = (uint16_t)(spec_l3(s) + spec_l4(s)),
		.gso_size = mss,
		.csum_start = (uint16_t)spec_l3(s),
		.csum_offset = s->proto == P_TCP ? 16 : 6,
	};
	return h;
}

/* Segment i of count of a super-packet, built directly by the rules. */
static size_t expect_seg(const struct spec *s, size_t mss, unsigned i, unsigned count, uint8_t *out)
{
	struct spec t = *s;
	t.partial = false;
	t.payload = s->payload + i * mss;
	t.paylen = s->paylen - i * mss < mss ? s->paylen - i * mss : mss;
	if (count == 1)
		t.paylen = s->paylen;
	t.seq = s->seq + (uint32_t)(i * mss);
	t.id = (uint16_t)(s->id + i);
	if (i > 0)
		t.flags &= (uint8_t)~F_CWR;
	if (i + 1 < count)
		t.flags &= (uint8_t)~(F_FIN | F_PSH);
	return build(&t, out);
}

static uint8_t *dup_buf(const uint8_t *p, size_t n)
{
	uint8_t *q = malloc(n ? n : 1);
	assert_non_null(q);
	memcpy(q, p, n);
	return q;
}

/* A list of packets, each in a buffer of its exact length. */
struct pkts {
	uint8_t *p[MAXSEG];
	size_t len[MAXSEG];
	unsigned n;
};

static void pkts_add(struct pkts *l, const uint8_t *p, size_t n)
{
	assert_true(l->n < MAXSEG);
	l->p[l->n] = dup_buf(p, n);
	l->len[l->n++] = n;
}

static void pkts_free(struct pkts *l)
{
	for (unsigned i = 0; i < l->n; i++)
		free(l->p[i]);
	l->n = 0;
}

/* Segments the super-packet s with offload_seg, checking every segment
 * against expect_seg; the segments are appended to l. Returns the count. */
static unsigned segment(const struct spec *s, uint16_t mss, struct pkts *l)
{
	static uint8_t sup[BIG + 64], out[BIG], want[BIG];
	struct spec p = *s;
	p.partial = true;
	size_t n = build(&p, sup);
	uint8_t *pkt = dup_buf(sup, n);
	struct offload_hdr h = gso_hdr(s, mss);
	struct offload_seg it;
	assert_int_equal(offload_seg_init(&it, &h, pkt, n), 0);
	unsigned count = offload_seg_count(&it);
	size_t pay = s->paylen;
	assert_int_equal(count, pay > mss ? (pay + mss - 1) / mss : 1);
	for (unsigned i = 0; i < count; i++) {
		ssize_t k = offload_seg_next(&it, out, sizeof(out));
		size_t w = expect_seg(s, mss, i, count, want);
		assert_int_equal(k, w);
		assert_memory_equal(out, want, w);
		check_csums(out, w);
		pkts_add(l, out, w);
	}
	assert_int_equal(offload_seg_next(&it, out, sizeof(out)), 0);
	assert_memory_equal(pkt, sup, n); /* the source is only read */
	free(pkt);
	return count;
}

/* ---- sending side ---- */

static void test_csum_helpers(void **state)
{
	(void)state;
	static uint8_t buf[BIG + 16];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rnd();
	for (unsigned k = 0; k < 3000; k++) {
		size_t off = rnd_below(16), len = k < 300 ? k : rnd_below(BIG);
		uint32_t init = (uint32_t)rnd() & 0x3ffffff;
		uint32_t got = offload_csum_add(buf + off, len, init);
		assert_true(got <= 0xffff);
		assert_int_equal(ref_fold(got), ref_fold(ref_add(init, buf + off, len)));
		assert_int_equal(offload_csum_fold(got), (uint16_t)~ref_fold(ref_add(init, buf + off, len)));
	}
	/* chaining over even-length pieces equals one pass */
	uint32_t a = offload_csum_add(buf, 1000, 0);
	a = offload_csum_add(buf + 1000, 3001, a);
	assert_int_equal(ref_fold(a), ref_fold(offload_csum_add(buf, 4001, 0)));
	/* corner values */
	memset(buf, 0xff, 64);
	assert_int_equal(ref_fold(offload_csum_add(buf, 64, 0xffff)), 0xffff);
	assert_int_equal(offload_csum_fold(0), 0xffff);
	assert_int_equal(offload_csum_fold(0xffff), 0);
	assert_int_equal(offload_csum_fold(0x1fffe), 0);
	const uint8_t odd[3] = { 0x12, 0x34, 0x56 };
	assert_int_equal(offload_csum_add(odd, 3, 0), 0x1234 + 0x5600);
}

static void test_hdr_roundtrip(void **state)
{
	(void)state;
	struct virtio_net_hdr v = {
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .gso_type = VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN,
		.hdr_len = 66, .gso_size = 1448, .csum_start = 20, .csum_offset = 16,
	};
	uint8_t raw[OFFLOAD_HDR_LEN], back[OFFLOAD_HDR_LEN];
	memcpy(raw, &v, sizeof(raw)); /* native order, as TUN reads and writes it */
	struct offload_hdr h;
	offload_hdr_decode(&h, raw);
	assert_int_equal(h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(h.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_true(h.ecn);
	assert_int_equal(h.hdr_len, 66);
	assert_int_equal(h.gso_size, 1448);
	assert_int_equal(h.csum_start, 20);
	assert_int_equal(h.csum_offset, 16);
	offload_hdr_encode(back, &h);
	assert_memory_equal(back, raw, sizeof(raw));
}

static void run_tso(int ver, size_t paylen, uint16_t mss, uint8_t flags, size_t tcp_opt)
{
	struct spec s = base_spec(ver, P_TCP, paylen);
	s.flags = flags;
	s.tcp_opt = tcp_opt;
	struct pkts l = { 0 };
	unsigned n = segment(&s, mss, &l);
	size_t hl = spec_l3(&s) + spec_l4(&s);
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *t = l.p[i] + spec_l3(&s);
		size_t want = i + 1 < n ? mss : paylen - (size_t)(n - 1) * mss;
		assert_int_equal(l.len[i], hl + want);
		assert_int_equal(get32(t + 4), s.seq + i * mss);
		if (ver == 4)
			assert_int_equal(get16(l.p[i] + 4), (uint16_t)(s.id + i));
		assert_int_equal(!!(t[13] & F_CWR), i == 0 && (flags & F_CWR));
		assert_int_equal(!!(t[13] & F_PSH), i + 1 == n && (flags & F_PSH));
		assert_int_equal(!!(t[13] & F_FIN), i + 1 == n && (flags & F_FIN));
		assert_true(t[13] & F_ACK);
		if (tcp_opt)
			assert_int_equal(get32(t + 24), s.tsval); /* timestamp in every segment */
	}
	pkts_free(&l);
}

static void test_tso4(void **state)
{
	(void)state;
	run_tso(4, 10000, 1448, F_ACK | F_PSH | F_FIN | F_CWR, 12); /* 7 segments, last 1312 */
	run_tso(4, 1448 * 5, 1448, F_ACK | F_PSH, 12);              /* exact multiple */
	run_tso(4, 60000, 536, F_ACK, 0);
	run_tso(4, 1000, 1448, F_ACK | F_PSH | F_CWR, 12);          /* fits: one segment */
	run_tso(4, 65535 - 20 - 60, 300, F_ACK, 40);                 /* max size and header */
	run_tso(4, 200, 1, F_ACK | F_PSH | F_FIN | F_CWR, 40);       /* mss 1 */
}

static void test_tso6(void **state)
{
	(void)state;
	run_tso(6, 10000, 1428, F_ACK | F_PSH | F_FIN | F_CWR, 12);
	run_tso(6, 1428 * 3 + 1, 1428, F_ACK, 12);
	run_tso(6, 65535 - 40 - 20, 1220, F_ACK | F_PSH, 0);
}

static void test_uso(void **state)
{
	(void)state;
	for (int ver = 4; ver <= 6; ver += 2) {
		struct spec s = base_spec(ver, P_UDP, 5000);
		struct pkts l = { 0 };
		assert_int_equal(segment(&s, 1200, &l), 5);
		for (unsigned i = 0; i < l.n; i++) /* each its own datagram */
			assert_int_equal(get16(l.p[i] + spec_l3(&s) + 4), l.len[i] - spec_l3(&s));
		pkts_free(&l);
	}
	/* A datagram whose checksum computes to 0 is sent as 0xffff (RFC 768). */
	static uint8_t pay[100], sup[256], out[256];
	struct spec s = base_spec(4, P_UDP, 40); /* the second datagram alone */
	s.payload = pay + 60;
	build(&s, sup);
	put16(pay + 98, get16(sup + 26)); /* adding ~fold(sum) makes the sum 0xffff */
	s.payload = pay;
	s.paylen = 100;
	s.partial = true;
	size_t n = build(&s, sup);
	struct offload_hdr h = gso_hdr(&s, 60);
	struct offload_seg it;
	assert_int_equal(offload_seg_init(&it, &h, sup, n), 0);
	assert_int_equal(offload_seg_next(&it, out, sizeof(out)), 28 + 60);
	assert_int_equal(offload_seg_next(&it, out, sizeof(out)), 28 + 40);
	assert_int_equal(get16(out + 26), 0xffff);
	check_csums(out, 68);
}

static void test_ip_options_and_ext_headers(void **state)
{
	(void)state;
	struct spec s = base_spec(4, P_TCP, 4000);
	s.ip_opt = 8; /* copied into every segment, as skb_segment does */
	struct pkts l = { 0 };
	assert_int_equal(segment(&s, 1000, &l), 4);
	for (unsigned i = 0; i < l.n; i++)
		assert_int_equal(l.p[i][0], 0x47);
	pkts_free(&l);

	/* IPv6 with a destination options header between IP and TCP */
	static uint8_t sup[8000], out[2000];
	struct spec t = base_spec(6, P_TCP, 3000);
	t.partial = true;
	size_t n = build(&t, sup);
	memmove(sup + 48, sup + 40, n - 40);
	memset(sup + 40, 0, 8);
	sup[40] = P_TCP; /* next header; length 0 = 8 bytes; PadN follows */
	sup[42] = 1;
	sup[43] = 4;
	sup[6] = 60;
	put16(sup + 4, (uint16_t)(n + 8 - 40));
	n += 8;
	put16(sup + 48 + 16, ref_fold(ref_pseudo(sup, P_TCP, n - 48)));
	struct offload_hdr h = gso_hdr(&t, 1000);
	h.csum_start = 48;
	struct offload_seg it;
	assert_int_equal(offload_seg_init(&it, &h, sup, n), 0);
	assert_int_equal(offload_seg_count(&it), 3);
	ssize_t k;
	while ((k = offload_seg_next(&it, out, sizeof(out))) > 0) {
		assert_int_equal(get16(out + 4), k - 40);
		assert_int_equal(ref_fold(ref_add(ref_pseudo(out, P_TCP, (size_t)k - 48), out + 48,
						  (size_t)k - 48)), 0xffff);
	}
	assert_int_equal(k, 0);
	sup[6] = 43; /* a routing header would change the pseudo-header: refused */
	assert_int_equal(offload_seg_init(&it, &h, sup, n), -EBADMSG);
}

static void test_needs_csum_single(void **state)
{
	(void)state;
	static uint8_t sup[2000], want[2000], out[2000];
	for (int k = 0; k < 4; k++) {
		struct spec s = base_spec(k < 2 ? 4 : 6, k % 2 ? P_UDP : P_TCP, 777);
		s.partial = false;
		size_t n = build(&s, want);
		s.partial = true;
		build(&s, sup);
		uint8_t *pkt = dup_buf(sup, n);
		struct offload_hdr h = gso_hdr(&s, 0);
		h.gso_type = VIRTIO_NET_HDR_GSO_NONE;
		struct offload_seg it;
		assert_int_equal(offload_seg_init(&it, &h, pkt, n), 0);
		assert_int_equal(offload_seg_count(&it), 1);
		assert_memory_equal(pkt, want, n); /* completed in place */
		assert_int_equal(offload_seg_next(&it, out, n - 1), -ENOSPC);
		assert_int_equal(offload_seg_next(&it, out, n), n);
		assert_memory_equal(out, want, n);
		assert_int_equal(offload_seg_next(&it, out, n), 0);
		/* offload_whole does the same */
		memcpy(pkt, sup, n);
		assert_int_equal(offload_whole(&h, pkt, n), 0);
		assert_memory_equal(pkt, want, n);
		/* the field must sit at an even distance from csum_start */
		h.csum_offset = (uint16_t)(h.csum_offset + 1);
		assert_int_equal(offload_seg_init(&it, &h, pkt, n), -EBADMSG);
		/* the checksum field must lie inside the packet */
		h.csum_offset = (uint16_t)(n - h.csum_start - 1);
		assert_int_equal(offload_seg_init(&it, &h, pkt, n), -EBADMSG);
		h.csum_start = 0xffff;
		h.csum_offset = 0xffff;
		assert_int_equal(offload_seg_init(&it, &h, pkt, n), -EBADMSG);
		free(pkt);
	}
	/* a completed UDP checksum of 0 is sent as 0xffff, as skb_checksum_help does */
	static uint8_t pay[64];
	struct spec u = base_spec(6, P_UDP, 64);
	u.payload = pay;
	build(&u, sup);
	put16(pay + 62, get16(sup + 46));
	u.partial = true;
	size_t un = build(&u, sup);
	struct offload_hdr uh = gso_hdr(&u, 0);
	uh.gso_type = VIRTIO_NET_HDR_GSO_NONE;
	struct offload_seg ut;
	assert_int_equal(offload_seg_init(&ut, &uh, sup, un), 0);
	assert_int_equal(get16(sup + 46), 0xffff);
	check_csums(sup, un);

	/* no GSO, no checksum to complete: left alone */
	const struct offload_hdr none = { 0 };
	uint8_t junk[5] = { 1, 2, 3, 4, 5 };
	struct offload_seg it;
	assert_int_equal(offload_seg_init(&it, &none, junk, sizeof(junk)), 0);
	assert_int_equal(offload_seg_next(&it, out, sizeof(out)), 5);
	assert_memory_equal(out, junk, 5);
}

static int try_init(const struct offload_hdr *h, const uint8_t *p, size_t n)
{
	uint8_t *q = dup_buf(p, n);
	struct offload_seg it;
	int err = offload_seg_init(&it, h, q, n);
	assert_memory_equal(q, p, n); /* a refused packet is untouched */
	free(q);
	return err;
}

static void test_bad_headers(void **state)
{
	(void)state;
	static uint8_t p[8000];
	struct spec s = base_spec(4, P_TCP, 3000);
	s.partial = true;
	size_t n = build(&s, p);
	struct offload_hdr h = gso_hdr(&s, 1448), b;
	assert_int_equal(try_init(&h, p, n), 0);

	b = h, b.gso_size = 0;
	assert_int_equal(try_init(&b, p, n), -EBADMSG);
	b = h, b.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
	assert_int_equal(try_init(&b, p, n), -EBADMSG);
	b = h, b.gso_type = VIRTIO_NET_HDR_GSO_UDP_L4;
	assert_int_equal(try_init(&b, p, n), -EBADMSG);
	b = h, b.csum_start = 21;
	assert_int_equal(try_init(&b, p, n), -EBADMSG);
	b = h, b.csum_offset = 6;
	assert_int_equal(try_init(&b, p, n), -EBADMSG);
	b = h, b.gso_type = 3; /* UFO: we never ask for it */
	assert_int_equal(try_init(&b, p, n), -EPROTONOSUPPORT);
	b = h, b.gso_type = 0x42;
	assert_int_equal(try_init(&b, p, n), -EPROTONOSUPPORT);
	b = h, b.gso_type = VIRTIO_NET_HDR_GSO_NONE, b.ecn = true;
	assert_int_equal(try_init(&b, p, n), -EBADMSG);
	b = h, b.flags = 0; /* no NEEDS_CSUM: offsets unused, checksums recomputed */
	b.csum_start = b.csum_offset = 0xffff;
	assert_int_equal(try_init(&b, p, n), 0);
	b = h, b.hdr_len = 0; /* only a hint */
	assert_int_equal(try_init(&b, p, n), 0);

	assert_int_equal(try_init(&h, p, n - 1), -EBADMSG); /* total length disagrees */
	assert_int_equal(try_init(&h, p, 19), -EBADMSG);
	assert_int_equal(try_init(&h, p, 0), -EBADMSG);
	uint8_t *q = dup_buf(p, n);
	q[0] = 0x44; /* IHL 4 */
	assert_int_equal(try_init(&h, q, n), -EBADMSG);
	b = h, b.flags = 0;
	assert_int_equal(try_init(&b, q, n), -EBADMSG);
	q[28] = 0x50; /* even with a plausible TCP header 16 bytes in */
	assert_int_equal(try_init(&b, q, n), -EBADMSG);
	memcpy(q, p, n);
	put16(q + 2, 32); /* 12 bytes of TCP: the data offset lies beyond */
	assert_int_equal(try_init(&b, q, 32), -EBADMSG);
	q[0] = 0x4f; /* 60-byte IP header: csum_start no longer agrees */
	assert_int_equal(try_init(&h, q, n), -EBADMSG);
	memcpy(q, p, n);
	q[20 + 12] = 0x40; /* data offset 4 */
	assert_int_equal(try_init(&h, q, n), -EBADMSG);
	memcpy(q, p, n);
	q[9] = P_UDP;
	assert_int_equal(try_init(&h, q, n), -EBADMSG);
	memcpy(q, p, n);
	q[6] |= 0x20; /* MF: a fragment is never a super-packet */
	assert_int_equal(try_init(&h, q, n), -EBADMSG);
	memcpy(q, p, n);
	q[0] = 0x65;
	assert_int_equal(try_init(&h, q, n), -EBADMSG);
	free(q);
}

static void test_bad_lengths_and_versions(void **state)
{
	(void)state;
	static uint8_t p[8000];
	struct offload_hdr h, b;
	size_t n;

	/* a header that claims more than there is */
	struct spec t = base_spec(4, P_TCP, 0);
	t.tcp_opt = 40;
	t.partial = true;
	size_t m = build(&t, p);
	struct offload_hdr ht = gso_hdr(&t, 100);
	assert_int_equal(try_init(&ht, p, m), 0); /* headers only: one segment */
	put16(p + 2, (uint16_t)(m - 4));
	assert_int_equal(try_init(&ht, p, m - 4), -EBADMSG);

	/* UDP: length field, ECN */
	struct spec u = base_spec(6, P_UDP, 3000);
	u.partial = true;
	n = build(&u, p);
	h = gso_hdr(&u, 1000);
	assert_int_equal(try_init(&h, p, n), 0);
	b = h, b.ecn = true;
	assert_int_equal(try_init(&b, p, n), -EBADMSG);
	b = h, b.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
	assert_int_equal(try_init(&b, p, n), -EBADMSG);
	put16(p + 44, 9);
	assert_int_equal(try_init(&h, p, n), -EBADMSG);

	struct spec v = base_spec(6, P_TCP, 3000); /* IP version 7 */
	v.partial = true;
	n = build(&v, p);
	h = gso_hdr(&v, 1000);
	assert_int_equal(try_init(&h, p, n), 0);
	p[0] = 0x70;
	assert_int_equal(try_init(&h, p, n), -EBADMSG);
	u.partial = true; /* USO takes either IP version, but not 7 */
	n = build(&u, p);
	h = gso_hdr(&u, 1000);
	p[0] = 0x70;
	assert_int_equal(try_init(&h, p, n), -EBADMSG);
}

static void test_enospc(void **state)
{
	(void)state;
	static uint8_t out[2000], want[2000];
	struct spec s = base_spec(4, P_TCP, 3000);
	struct pkts l = { 0 };
	segment(&s, 1448, &l);
	s.partial = true;
	static uint8_t sup[4000];
	size_t n = build(&s, sup);
	struct offload_hdr h = gso_hdr(&s, 1448);
	struct offload_seg it;
	assert_int_equal(offload_seg_init(&it, &h, sup, n), 0);
	assert_int_equal(offload_seg_next(&it, out, 1448 + 52 - 1), -ENOSPC);
	assert_int_equal(offload_seg_next(&it, out, 0), -ENOSPC);
	assert_int_equal(offload_seg_next(&it, out, 1448 + 52), 1500); /* did not advance */
	assert_memory_equal(out, l.p[0], 1500);
	assert_int_equal(offload_seg_next(&it, out, 1500), 1500);
	assert_int_equal(offload_seg_next(&it, out, 50), -ENOSPC);
	assert_int_equal(offload_seg_next(&it, out, 156), 156);
	assert_memory_equal(out, l.p[2], 156);
	assert_int_equal(expect_seg(&s, 1448, 2, 3, want), 156);
	pkts_free(&l);
}

static void test_whole(void **state)
{
	(void)state;
	static uint8_t sup[BIG], want[BIG];
	for (int ver = 4; ver <= 6; ver += 2) {
		struct spec s = base_spec(ver, P_TCP, 30000);
		s.flags = F_ACK | F_PSH | F_CWR;
		s.partial = false;
		size_t n = build(&s, want);
		s.partial = true;
		build(&s, sup);
		struct offload_hdr h = gso_hdr(&s, 1448);
		uint8_t *pkt = dup_buf(sup, n);
		assert_int_equal(offload_whole(&h, pkt, n), 0);
		assert_memory_equal(pkt, want, n); /* one valid packet, flags as they were */
		check_csums(pkt, n);
		free(pkt);
	}
	struct spec u = base_spec(4, P_UDP, 3000);
	u.partial = true;
	size_t n = build(&u, sup);
	struct offload_hdr h = gso_hdr(&u, 1000);
	assert_int_equal(offload_whole(&h, sup, n), -EMSGSIZE); /* 3 datagrams stay 3 */
	h.gso_size = 3000;
	assert_int_equal(offload_whole(&h, sup, n), 0);
	check_csums(sup, n);
	h.gso_size = 0;
	assert_int_equal(offload_whole(&h, sup, n), -EBADMSG);
}

static void test_seg_random(void **state)
{
	(void)state;
	for (unsigned k = 0; k < 300; k++) {
		int ver = rnd() & 1 ? 4 : 6;
		uint8_t proto = rnd() % 4 ? P_TCP : P_UDP;
		struct spec s = base_spec(ver, proto, 0);
		size_t hl = spec_l3(&s) + (proto == P_TCP ? 60 : 8) + (ver == 4 ? 40 : 0);
		s.paylen = rnd_below(65535 - hl + 1);
		s.tcp_opt = proto == P_TCP ? 12 * rnd_below(4) : 0;
		s.ip_opt = ver == 4 ? 4 * rnd_below(11) : 0;
		s.seq = (uint32_t)rnd();
		s.id = (uint16_t)rnd();
		s.flags = (uint8_t)(F_ACK | (rnd() & (F_PSH | F_FIN | F_CWR)));
		s.tos = (uint8_t)rnd();
		uint16_t mss = (uint16_t)(1 + rnd_below(rnd() & 1 ? 1500 : 65535));
		for (size_t i = 0; i < s.paylen; i += 97)
			payload[i] = (uint8_t)rnd();
		struct pkts l = { 0 };
		if (s.paylen / mss < MAXSEG - 1)
			segment(&s, mss, &l);
		pkts_free(&l);
	}
}

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
		cmocka_unit_test(test_csum_helpers),
		cmocka_unit_test(test_hdr_roundtrip),
		cmocka_unit_test(test_tso4),
		cmocka_unit_test(test_tso6),
		cmocka_unit_test(test_uso),
		cmocka_unit_test(test_ip_options_and_ext_headers),
		cmocka_unit_test(test_needs_csum_single),
		cmocka_unit_test(test_bad_headers),
		cmocka_unit_test(test_bad_lengths_and_versions),
		cmocka_unit_test(test_enospc),
		cmocka_unit_test(test_whole),
		cmocka_unit_test(test_seg_random),
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
