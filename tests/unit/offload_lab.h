/*
 * offload_lab.h - the packet lab of the offload unit tests
 * (test_offload_seg.c, test_offload_gro.c): packets described once
 * (struct spec) and built from scratch with a textbook RFC 1071 checksum,
 * as TUN hands a super-packet over or complete; the segments a
 * super-packet must become, by the rules offload.h states; packet lists in
 * buffers of their exact length (so ASan sees any access past them); a
 * fixed-seed PRNG. Header-only: each test program has its own copy.
 */
#ifndef TUND_TESTS_OFFLOAD_LAB_H
#define TUND_TESTS_OFFLOAD_LAB_H

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
static inline uint64_t rnd(void) /* splitmix64 */
{
	uint64_t z = (rng_s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}
static inline size_t rnd_below(size_t n) { return (size_t)(rnd() % n); }


/* Independent check of a complete packet: IPv4 header checksum, lengths,
 * and the TCP/UDP checksum with the pseudo-header. */
static inline void check_csums(const uint8_t *p, size_t len)
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

static inline size_t spec_l3(const struct spec *s) { return s->ver == 4 ? 20 + s->ip_opt : 40; }
static inline size_t spec_l4(const struct spec *s) { return s->proto == P_TCP ? 20 + s->tcp_opt : 8; }

static inline size_t build(const struct spec *s, uint8_t *out)
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

static inline struct spec base_spec(int ver, uint8_t proto, size_t paylen)
{
	struct spec s = {
		.ver = ver, .proto = proto, .sport = 40000, .dport = 5001, .seq = 0xfffff000u,
		.ack = 0x11223344, .flags = F_ACK, .win = 502, .id = 0xfffe, .df = true, .ttl = 64,
		.tcp_opt = proto == P_TCP ? 12 : 0, .tsval = 777, .payload = payload, .paylen = paylen,
	};
	return s;
}

/* The virtio header TUN gives with a super-packet built from s. */
static inline struct offload_hdr gso_hdr(const struct spec *s, uint16_t mss)
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
static inline size_t expect_seg(const struct spec *s, size_t mss, unsigned i, unsigned count, uint8_t *out)
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

static inline uint8_t *dup_buf(const uint8_t *p, size_t n)
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

static inline void pkts_add(struct pkts *l, const uint8_t *p, size_t n)
{
	assert_true(l->n < MAXSEG);
	l->p[l->n] = dup_buf(p, n);
	l->len[l->n++] = n;
}

static inline void pkts_free(struct pkts *l)
{
	for (unsigned i = 0; i < l->n; i++)
		free(l->p[i]);
	l->n = 0;
}

/* Segments the super-packet s with offload_seg, checking every segment
 * against expect_seg; the segments are appended to l. Returns the count. */
static inline unsigned segment(const struct spec *s, uint16_t mss, struct pkts *l)
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

#endif
