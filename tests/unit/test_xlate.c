/*
 * test_xlate.c - unit tests for shared/xlate.c.
 *
 * Method: a packet is described once (struct dgram) and built twice from
 * scratch by the code below, with its own straightforward checksum: once
 * with the old addresses (the input) and once with the addresses the
 * contract promises (the expected output, every checksum computed anew).
 * xlate_ipv4() must turn the first into the second byte for byte, which
 * checks the addresses and every checksum at once. For ICMP errors the
 * expected quote follows xlate.h: the quoted header is rewritten only when
 * whole, the quoted TCP/UDP checksum only when both its bytes are quoted.
 * Packets live in malloc'd buffers of their exact length so ASan catches
 * any read or write past the end. Random loops use a fixed seed.
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

#include "xlate.h"

#define MAXPKT 2048
#define P_ICMP 1
#define P_TCP 6
#define P_UDP 17
#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))
#define MF 0x2000

static const uint32_t OLD_SRC = IP(192, 168, 1, 10), OLD_DST = IP(10, 99, 0, 1);
static const uint32_t NEW_SRC = IP(100, 64, 7, 3), NEW_DST = IP(172, 31, 255, 254);

/* ---- helpers: byte order, PRNG, reference checksum ---- */

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }

struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r) /* splitmix64 */
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static size_t rnd_below(struct rng *r, size_t n) { return n ? (size_t)(rnd(r) % n) : 0; }

static void rnd_bytes(struct rng *r, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd(r);
}

/* Textbook RFC 1071: even bytes are high halves, odd bytes low halves. */
static uint32_t ref_add(uint32_t acc, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		acc += (i % 2 == 0) ? (uint32_t)p[i] * 256 : p[i];
	return acc;
}

static uint16_t ref_fold(uint32_t acc)
{
	while (acc > 0xffff)
		acc = (acc >> 16) + (acc & 0xffff);
	return (uint16_t)acc;
}

static uint16_t ref_csum(uint32_t acc) { return (uint16_t)~ref_fold(acc); }

static uint32_t ref_pseudo(uint32_t src, uint32_t dst, uint8_t proto, size_t l4len)
{
	return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto + (uint32_t)l4len;
}

/* A checksummed region is valid when its sum folds to -0 (or +0 for all zeros). */
static bool ref_valid(uint32_t acc) { return ref_fold(acc) % 0xffff == 0; }

static void assert_bytes_equal(const uint8_t *got, const uint8_t *want, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (got[i] != want[i])
			fail_msg("byte %zu of %zu: got 0x%02x, want 0x%02x", i, n, got[i], want[i]);
}

/* ---- packet builder ---- */

struct dgram {
	uint16_t id;
	uint16_t frag; /* flags + fragment offset field as on the wire */
	uint8_t proto;
	size_t optlen; /* IPv4 options, multiple of 4, <= 40 */
	uint8_t opt[40];
	uint8_t l4[MAXPKT]; /* the whole L4 datagram; checksum filled in by build */
	size_t l4len;
	size_t cut;     /* if non-zero, only the first cut L4 bytes are carried */
	bool udp_nocsum;
	/* ICMP errors: l4[0..8) is the ICMP header, then inner cut to qlen */
	const struct dgram *inner;
	size_t qlen;
	uint32_t in_src, in_dst; /* quoted addresses in the untranslated packet */
};

static size_t hlen_of(const struct dgram *d) { return 20 + d->optlen; }

static bool first_frag(const struct dgram *d) { return (d->frag & 0x1fff) == 0; }

static void fill_l4_csum(uint8_t *l4, size_t n, uint8_t proto, uint32_t s, uint32_t d, bool nocsum)
{
	uint16_t c;
	switch (proto) {
	case P_TCP:
		put16(l4 + 16, 0);
		put16(l4 + 16, ref_csum(ref_add(ref_pseudo(s, d, P_TCP, n), l4, n)));
		break;
	case P_UDP:
		put16(l4 + 6, 0);
		c = ref_csum(ref_add(ref_pseudo(s, d, P_UDP, n), l4, n));
		put16(l4 + 6, nocsum ? 0 : c ? c : 0xffff);
		break;
	case P_ICMP:
		put16(l4 + 2, 0);
		put16(l4 + 2, ref_csum(ref_add(0, l4, n)));
		break;
	}
}

static size_t build_ip(uint8_t *out, const struct dgram *d, uint32_t s, uint32_t dst,
		       const uint8_t *l4, size_t l4len)
{
	size_t hlen = hlen_of(d);
	memset(out, 0, 20);
	out[0] = (uint8_t)(0x40 | hlen / 4);
	put16(out + 2, (uint16_t)(hlen + l4len));
	put16(out + 4, d->id);
	put16(out + 6, d->frag);
	out[8] = 64;
	out[9] = d->proto;
	put32(out + 12, s);
	put32(out + 16, dst);
	memcpy(out + 20, d->opt, d->optlen);
	put16(out + 10, ref_csum(ref_add(0, out, hlen)));
	memcpy(out + hlen, l4, l4len);
	return hlen + l4len;
}

static size_t build_plain(const struct dgram *d, uint32_t s, uint32_t dst, uint8_t *out)
{
	uint8_t l4[MAXPKT];
	memcpy(l4, d->l4, d->l4len);
	if (first_frag(d))
		fill_l4_csum(l4, d->l4len, d->proto, s, dst, d->udp_nocsum);
	return build_ip(out, d, s, dst, l4, d->cut ? d->cut : d->l4len);
}

static size_t build_with_quote(const struct dgram *d, uint32_t s, uint32_t dst,
			       const uint8_t *quote, uint8_t *out)
{
	uint8_t l4[MAXPKT];
	memcpy(l4, d->l4, 8);
	memcpy(l4 + 8, quote, d->qlen);
	fill_l4_csum(l4, 8 + d->qlen, P_ICMP, s, dst, false);
	return build_ip(out, d, s, dst, l4, 8 + d->qlen);
}

/* The untranslated packet. */
static size_t build(const struct dgram *d, uint32_t s, uint32_t dst, uint8_t *out)
{
	if (!d->inner)
		return build_plain(d, s, dst, out);
	uint8_t q[MAXPKT];
	build_plain(d->inner, d->in_src, d->in_dst, q);
	return build_with_quote(d, s, dst, q, out);
}

/* What xlate.h promises for it: every checksum again from scratch. */
static size_t build_expected(const struct dgram *d, uint32_t s, uint32_t dst, uint8_t *out)
{
	if (!d->inner)
		return build_plain(d, s, dst, out);
	const struct dgram *in = d->inner;
	uint8_t oldq[MAXPKT], q[MAXPKT];
	build_plain(in, d->in_src, d->in_dst, oldq);
	build_plain(in, dst, s, q); /* the quoted packet went the other way */
	size_t ih = hlen_of(in);
	if (d->qlen < ih) {
		memcpy(q, oldq, d->qlen); /* no whole header quoted: left alone */
	} else if (in->proto == P_TCP || in->proto == P_UDP) {
		size_t c = ih + (in->proto == P_TCP ? 16 : 6);
		for (size_t i = c; i < c + 2 && d->qlen < c + 2; i++)
			q[i] = oldq[i]; /* checksum not wholly quoted: left alone */
	}
	return build_with_quote(d, s, dst, q, out);
}

/* ---- L4 templates ---- */

static void dgram_init(struct dgram *d, uint8_t proto, struct rng *r)
{
	memset(d, 0, sizeof(*d));
	d->proto = proto;
	d->id = (uint16_t)rnd(r);
}

static void make_tcp(struct dgram *d, struct rng *r, size_t optlen, size_t plen)
{
	dgram_init(d, P_TCP, r);
	rnd_bytes(r, d->l4, 20 + optlen + plen);
	d->l4[12] = (uint8_t)((20 + optlen) / 4 << 4);
	d->l4len = 20 + optlen + plen;
}

static void make_udp(struct dgram *d, struct rng *r, size_t plen, bool nocsum)
{
	dgram_init(d, P_UDP, r);
	rnd_bytes(r, d->l4, 8 + plen);
	put16(d->l4 + 4, (uint16_t)(8 + plen));
	d->l4len = 8 + plen;
	d->udp_nocsum = nocsum;
}

static void make_echo(struct dgram *d, struct rng *r, size_t plen)
{
	dgram_init(d, P_ICMP, r);
	rnd_bytes(r, d->l4, 8 + plen);
	d->l4[0] = 8;
	d->l4[1] = 0;
	d->l4len = 8 + plen;
}

static void make_error(struct dgram *d, struct rng *r, uint8_t type, uint8_t code,
		       const struct dgram *inner, size_t qlen)
{
	dgram_init(d, P_ICMP, r);
	rnd_bytes(r, d->l4, 8);
	d->l4[0] = type;
	d->l4[1] = code;
	d->inner = inner;
	d->qlen = qlen;
	d->in_src = NEW_DST ^ 0x0f0f0f0f; /* router-made errors quote other addresses */
	d->in_dst = OLD_SRC;
}

static size_t inner_len(const struct dgram *in) { return hlen_of(in) + (in->cut ? in->cut : in->l4len); }

static void add_ip_options(struct dgram *d, struct rng *r, size_t optlen)
{
	d->optlen = optlen;
	rnd_bytes(r, d->opt, optlen);
}

/* ---- running xlate ---- */

/* Builds d with the OLD addresses plus `trail` bytes of link padding,
 * translates it in an exact-size buffer and compares with the expected. */
static void check_translation(const struct dgram *d, uint32_t os, uint32_t od, uint32_t ns,
			      uint32_t nd, size_t trail, uint8_t *got_out)
{
	uint8_t in[MAXPKT + 16], want[MAXPKT + 16];
	size_t n = build(d, os, od, in);
	size_t m = build_expected(d, ns, nd, want);
	assert_int_equal(n, m);
	for (size_t i = 0; i < trail; i++)
		in[n + i] = want[n + i] = (uint8_t)(0xa5 + i);
	uint8_t *buf = malloc(n + trail);
	assert_non_null(buf);
	memcpy(buf, in, n + trail);
	assert_int_equal(xlate_ipv4(buf, n + trail, ns, nd), 0);
	assert_bytes_equal(buf, want, n + trail);
	/* the contract, stated directly */
	assert_int_equal(get32(buf + 12), ns);
	assert_int_equal(get32(buf + 16), nd);
	assert_true(ref_valid(ref_add(0, buf, hlen_of(d))));
	if (d->inner && d->qlen >= hlen_of(d->inner)) {
		const uint8_t *q = buf + hlen_of(d) + 8;
		assert_int_equal(get32(q + 12), nd);
		assert_int_equal(get32(q + 16), ns);
		assert_true(ref_valid(ref_add(0, q, hlen_of(d->inner))));
	}
	if (got_out)
		memcpy(got_out, buf, n + trail);
	free(buf);
}

static void check_simple(const struct dgram *d)
{
	check_translation(d, OLD_SRC, OLD_DST, NEW_SRC, NEW_DST, 0, NULL);
}

/* Sets the even-offset L4 word at off so that the from-scratch checksum
 * with addresses s, dst comes out as 0 (UDP then sends 0xffff). */
static void force_zero_csum(struct dgram *d, size_t off, uint32_t s, uint32_t dst)
{
	uint8_t tmp[MAXPKT];
	put16(d->l4 + off, 0);
	memcpy(tmp, d->l4, d->l4len);
	put16(tmp + (d->proto == P_TCP ? 16 : 6), 0);
	uint16_t s0 = ref_fold(ref_add(ref_pseudo(s, dst, d->proto, d->l4len), tmp, d->l4len));
	put16(d->l4 + off, (uint16_t)~s0);
}

/* ---- tests ---- */

static void test_csum_helpers(void **state)
{
	/* RFC 1071 section 3 example: sum ddf2, checksum 220d */
	const uint8_t ex[8] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };
	uint16_t c = xlate_csum(ex, sizeof(ex), 0);
	const uint8_t *cb = (const uint8_t *)&c;
	assert_int_equal(cb[0], 0x22);
	assert_int_equal(cb[1], 0x0d);

	struct rng r = { 1 };
	uint8_t buf[300];
	for (int it = 0; it < 2000; it++) {
		size_t n = rnd_below(&r, sizeof(buf));
		rnd_bytes(&r, buf, n);
		/* plain sum, odd lengths included */
		c = xlate_csum(buf, n, 0);
		assert_int_equal(get16((const uint8_t *)&c), ref_csum(ref_add(0, buf, n)));
		/* initial holds as-stored words, eg a pseudo-header */
		uint8_t ph[12];
		rnd_bytes(&r, ph, sizeof(ph));
		uint32_t init = 0;
		for (int i = 0; i < 12; i += 2) {
			uint16_t w;
			memcpy(&w, ph + i, 2);
			init += w;
		}
		c = xlate_csum(buf, n, init);
		assert_int_equal(get16((const uint8_t *)&c), ref_csum(ref_add(ref_add(0, ph, 12), buf, n)));
		/* store with memcpy, the region then sums to 0 */
		if (n >= 20) {
			put16(buf + 10, 0);
			c = xlate_csum(buf, n, 0);
			memcpy(buf + 10, &c, 2);
			assert_true(ref_valid(ref_add(0, buf, n)));
			assert_int_equal(xlate_csum(buf, n, 0), 0);
			/* update32 and update16 agree with a recomputation */
			uint32_t o32, n32 = (uint32_t)rnd(&r);
			uint16_t chk, n16 = (uint16_t)rnd(&r), o16;
			memcpy(&o32, buf + 12, 4);
			memcpy(&chk, buf + 10, 2);
			memcpy(buf + 12, &n32, 4);
			chk = xlate_csum_update32(chk, o32, n32);
			memcpy(buf + 10, &chk, 2);
			assert_true(ref_valid(ref_add(0, buf, n)));
			memcpy(&o16, buf + 4, 2);
			memcpy(buf + 4, &n16, 2);
			chk = xlate_csum_update16(chk, o16, n16);
			memcpy(buf + 10, &chk, 2);
			assert_true(ref_valid(ref_add(0, buf, n)));
		}
	}
}

static void test_tcp_options_payload(void **state)
{
	struct rng r = { 2 };
	struct dgram d;
	for (size_t plen = 331; plen <= 334; plen++) { /* odd and even payloads */
		make_tcp(&d, &r, 12, plen);
		add_ip_options(&d, &r, 8);
		uint8_t got[MAXPKT];
		check_translation(&d, OLD_SRC, OLD_DST, NEW_SRC, NEW_DST, 0, got);
		assert_true(ref_valid(ref_add(ref_pseudo(NEW_SRC, NEW_DST, P_TCP, d.l4len), got + 28, d.l4len)));
		/* payload and options untouched */
		assert_bytes_equal(got + 28 + 20, d.l4 + 20, 12 + plen);
		assert_bytes_equal(got + 20, d.opt, 8);
	}
}

static void test_udp(void **state)
{
	struct rng r = { 3 };
	struct dgram d;
	for (size_t plen = 0; plen < 6; plen++) {
		make_udp(&d, &r, plen, false);
		check_simple(&d);
		make_udp(&d, &r, plen, true);
		uint8_t got[MAXPKT];
		check_translation(&d, OLD_SRC, OLD_DST, NEW_SRC, NEW_DST, 0, got);
		assert_int_equal(get16(got + 20 + 6), 0); /* no checksum stays none */
	}
}

/* From-scratch UDP checksum 0 must go out as 0xffff (RFC 768), as the
 * result of the update and as its input; TCP and IPv4 keep a plain 0. */
static void test_csum_corners(void **state)
{
	struct rng r = { 4 };
	struct dgram d, e;
	uint8_t got[MAXPKT];

	make_udp(&d, &r, 21, false);
	force_zero_csum(&d, 12, NEW_SRC, NEW_DST);
	check_translation(&d, OLD_SRC, OLD_DST, NEW_SRC, NEW_DST, 0, got);
	assert_int_equal(get16(got + 26), 0xffff);

	force_zero_csum(&d, 12, OLD_SRC, OLD_DST); /* input carries 0xffff */
	uint8_t in[MAXPKT];
	build(&d, OLD_SRC, OLD_DST, in);
	assert_int_equal(get16(in + 26), 0xffff);
	check_translation(&d, OLD_SRC, OLD_DST, NEW_SRC, NEW_DST, 0, got);
	assert_int_not_equal(get16(got + 26), 0);

	make_tcp(&d, &r, 0, 40);
	force_zero_csum(&d, 20, NEW_SRC, NEW_DST);
	check_translation(&d, OLD_SRC, OLD_DST, NEW_SRC, NEW_DST, 0, got);
	assert_int_equal(get16(got + 36), 0x0000);

	/* IPv4 header checksum that becomes 0: choose the id for it */
	make_udp(&d, &r, 4, true);
	d.id = 0;
	build(&d, NEW_SRC, NEW_DST, got);
	put16(got + 10, 0);
	d.id = (uint16_t)~ref_fold(ref_add(0, got, 20));
	check_translation(&d, OLD_SRC, OLD_DST, NEW_SRC, NEW_DST, 0, got);
	assert_int_equal(get16(got + 10), 0x0000);

	/* the same corner inside an ICMP error's quote */
	make_udp(&e, &r, 30, false);
	force_zero_csum(&e, 8, NEW_DST, NEW_SRC);
	make_error(&d, &r, 3, 3, &e, inner_len(&e));
	check_translation(&d, OLD_SRC, OLD_DST, NEW_SRC, NEW_DST, 0, got);
	assert_int_equal(get16(got + 28 + 20 + 6), 0xffff);
}

static void test_icmp_echo(void **state)
{
	struct rng r = { 5 };
	struct dgram d;
	uint8_t in[MAXPKT], got[MAXPKT];
	for (size_t plen = 55; plen < 58; plen++) {
		make_echo(&d, &r, plen);
		build(&d, OLD_SRC, OLD_DST, in);
		check_translation(&d, OLD_SRC, OLD_DST, NEW_SRC, NEW_DST, 0, got);
		assert_bytes_equal(got + 20, in + 20, d.l4len); /* no pseudo-header: all kept */
		d.l4[0] = 0; /* echo reply */
		check_simple(&d);
	}
}

static void test_icmp_errors_quoting_udp(void **state)
{
	struct rng r = { 6 };
	struct dgram in, d;
	uint8_t got[MAXPKT];

	/* frag needed: whole UDP datagram quoted, MTU field kept */
	make_udp(&in, &r, 101, false);
	make_error(&d, &r, 3, 4, &in, inner_len(&in));
	put16(d.l4 + 6, 1400);
	check_translation(&d, OLD_SRC, OLD_DST, NEW_SRC, NEW_DST, 0, got);
	assert_int_equal(get16(got + 26), 1400);
	const uint8_t *q = got + 28;
	assert_true(ref_valid(ref_add(ref_pseudo(NEW_DST, NEW_SRC, P_UDP, in.l4len), q + 20, in.l4len)));

	/* port unreachable quoting the RFC 792 minimum (header + 8) */
	make_error(&d, &r, 3, 3, &in, 28);
	check_simple(&d);
	/* quoted UDP without a checksum */
	make_udp(&in, &r, 10, true);
	make_error(&d, &r, 3, 3, &in, inner_len(&in));
	check_translation(&d, OLD_SRC, OLD_DST, NEW_SRC, NEW_DST, 0, got);
	assert_int_equal(get16(got + 28 + 26), 0);

	/* time exceeded quoting a header with options, odd quote length */
	make_udp(&in, &r, 33, false);
	add_ip_options(&in, &r, 12);
	for (uint8_t type = 3; type <= 12; type++) {
		if (type == 3 || type == 4 || type == 5 || type == 11 || type == 12) {
			make_error(&d, &r, type, 0, &in, inner_len(&in) - 4);
			check_simple(&d);
		}
	}
}

static void test_icmp_errors_quoting_tcp(void **state)
{
	struct rng r = { 7 };
	struct dgram in, d;
	uint8_t got[MAXPKT];
	make_tcp(&in, &r, 20, 77);
	/* 8 bytes of TCP: the checksum is not quoted, so it is left as is;
	 * 17 bytes: half of it is; 18 and more: it is fixed */
	const size_t qlens[] = { 28, 36, 37, 38, 39, 60, inner_len(&in) };
	for (size_t i = 0; i < sizeof(qlens) / sizeof(qlens[0]); i++) {
		make_error(&d, &r, 3, 4, &in, qlens[i]);
		check_translation(&d, OLD_SRC, OLD_DST, NEW_SRC, NEW_DST, 0, got);
	}
	assert_true(ref_valid(ref_add(ref_pseudo(NEW_DST, NEW_SRC, P_TCP, in.l4len), got + 48, in.l4len)));
	/* quoting an ICMP echo: only the quoted IPv4 header changes */
	make_echo(&in, &r, 16);
	make_error(&d, &r, 11, 0, &in, inner_len(&in));
	check_simple(&d);
}

/* The quoted header's own total length bounds its datagram: quoted bytes
 * past it (padding some routers quote) are not that datagram's TCP header. */
static void test_icmp_quote_past_inner_length(void **state)
{
	struct rng r = { 15 };
	struct dgram in, d;
	uint8_t p[MAXPKT], before[MAXPKT];
	make_tcp(&in, &r, 0, 30);
	make_error(&d, &r, 3, 4, &in, inner_len(&in));
	for (uint16_t claim = 36; claim <= 38; claim++) {
		size_t n = build(&d, OLD_SRC, OLD_DST, p);
		uint8_t *q = p + 28;
		put16(q + 2, claim); /* 16, 17, 18 bytes of TCP */
		put16(q + 10, 0);
		put16(q + 10, ref_csum(ref_add(0, q, 20)));
		fill_l4_csum(p + 20, n - 20, P_ICMP, 0, 0, false);
		memcpy(before, p, n);
		uint8_t *buf = malloc(n);
		memcpy(buf, p, n);
		assert_int_equal(xlate_ipv4(buf, n, NEW_SRC, NEW_DST), 0);
		q = buf + 28;
		assert_int_equal(get32(q + 12), NEW_DST);
		assert_int_equal(get32(q + 16), NEW_SRC);
		assert_true(ref_valid(ref_add(0, q, 20)));
		assert_true(ref_valid(ref_add(0, buf + 20, n - 20)));
		if (claim < 38)
			assert_bytes_equal(q + 20, before + 48, n - 48);
		else
			assert_true(ref_valid(ref_add(ref_pseudo(NEW_DST, NEW_SRC, P_TCP, in.l4len),
						      q + 20, in.l4len)));
		free(buf);
	}
}

/* A quote that holds no whole IPv4 header, or no IPv4 at all, leaves the
 * ICMP message alone and still translates the outer header. */
static void test_icmp_bad_quotes(void **state)
{
	struct rng r = { 8 };
	struct dgram in, d;
	uint8_t before[MAXPKT], got[MAXPKT];
	make_udp(&in, &r, 20, false);
	add_ip_options(&in, &r, 4);
	const size_t qlens[] = { 0, 1, 10, 19, 20, 23 };
	for (size_t i = 0; i < sizeof(qlens) / sizeof(qlens[0]); i++) {
		make_error(&d, &r, 12, 0, &in, qlens[i]);
		size_t n = build(&d, OLD_SRC, OLD_DST, before);
		check_translation(&d, OLD_SRC, OLD_DST, NEW_SRC, NEW_DST, 0, got);
		assert_bytes_equal(got + 20, before + 20, n - 20);
	}
	/* version 6 in the quote, IHL 4, IHL past the quote */
	const uint8_t vihl[] = { 0x65, 0x44, 0x4f };
	for (size_t i = 0; i < sizeof(vihl); i++) {
		make_error(&d, &r, 3, 1, &in, inner_len(&in));
		size_t n = build(&d, OLD_SRC, OLD_DST, before);
		before[28] = vihl[i];
		fill_l4_csum(before + 20, n - 20, P_ICMP, 0, 0, false);
		uint8_t *buf = malloc(n);
		memcpy(buf, before, n);
		assert_int_equal(xlate_ipv4(buf, n, NEW_SRC, NEW_DST), 0);
		assert_int_equal(get32(buf + 12), NEW_SRC);
		assert_bytes_equal(buf + 20, before + 20, n - 20);
		free(buf);
	}
	/* a 4-byte ICMP message is refused (test_refused has 7 bytes) */
	make_echo(&d, &r, 0);
	d.cut = 4;
	size_t n = build(&d, OLD_SRC, OLD_DST, before);
	assert_int_equal(xlate_ipv4(before, n, NEW_SRC, NEW_DST), -EBADMSG);
}

static void test_fragments(void **state)
{
	struct rng r = { 9 };
	struct dgram d, in, e;
	uint8_t before[MAXPKT], got[MAXPKT];

	/* first fragment (MF, offset 0): the L4 checksum over the whole
	 * datagram is still fixed from the part we carry */
	make_tcp(&d, &r, 4, 500);
	d.frag = MF;
	d.cut = 200;
	check_simple(&d);
	make_udp(&d, &r, 300, false);
	d.frag = MF;
	d.cut = 8;
	check_simple(&d);

	/* later fragments: L4-looking bytes are payload and stay */
	for (size_t len = 0; len < 40; len += 7) {
		make_tcp(&d, &r, 0, 20);
		d.frag = 185; /* offset 1480 */
		d.l4len = len;
		size_t n = build(&d, OLD_SRC, OLD_DST, before);
		check_translation(&d, OLD_SRC, OLD_DST, NEW_SRC, NEW_DST, 0, got);
		assert_bytes_equal(got + 20, before + 20, n - 20);
		d.proto = P_ICMP;
		d.l4[0] = 3; /* looks like an ICMP error, is not one */
		check_simple(&d);
	}

	/* an ICMP error quoting a later fragment: header only, no L4 */
	make_udp(&in, &r, 40, false);
	in.frag = MF | 3;
	make_error(&d, &r, 11, 1, &in, inner_len(&in));
	check_simple(&d);
	/* ... and quoting a first fragment */
	make_udp(&e, &r, 400, false);
	e.frag = MF;
	e.cut = 16;
	make_error(&d, &r, 11, 1, &e, inner_len(&e));
	check_simple(&d);
}

static void test_trailing_bytes(void **state)
{
	struct rng r = { 10 };
	struct dgram d, in;
	make_udp(&d, &r, 17, false);
	check_translation(&d, OLD_SRC, OLD_DST, NEW_SRC, NEW_DST, 13, NULL);
	make_tcp(&d, &r, 0, 1);
	check_translation(&d, OLD_SRC, OLD_DST, NEW_SRC, NEW_DST, 1, NULL);
	make_udp(&in, &r, 9, false);
	make_error(&d, &r, 3, 3, &in, inner_len(&in));
	check_translation(&d, OLD_SRC, OLD_DST, NEW_SRC, NEW_DST, 6, NULL);
}

/* Refused packets are left exactly as they were. */
static void expect_refused(uint8_t *pkt, size_t len)
{
	uint8_t *buf = malloc(len ? len : 1);
	memcpy(buf, pkt, len);
	assert_int_equal(xlate_ipv4(buf, len, NEW_SRC, NEW_DST), -EBADMSG);
	assert_bytes_equal(buf, pkt, len);
	free(buf);
}

static void test_refused(void **state)
{
	struct rng r = { 11 };
	struct dgram d;
	uint8_t p[MAXPKT];
	make_udp(&d, &r, 12, false);
	size_t n = build(&d, OLD_SRC, OLD_DST, p);

	p[0] = 0x65; /* IPv6 */
	expect_refused(p, n);
	p[0] = 0x44; /* IHL 4 */
	expect_refused(p, n);
	p[0] = 0x4f; /* IHL 15 = 60 bytes > 40 */
	expect_refused(p, n);
	p[0] = 0x45;
	put16(p + 2, 19); /* total length inside the header */
	expect_refused(p, n);
	put16(p + 2, (uint16_t)(n + 1)); /* total length past the buffer */
	expect_refused(p, n);
	put16(p + 2, (uint16_t)n);
	expect_refused(p, n - 1);
	expect_refused(p, 0);

	/* first fragments without their whole fixed L4 header */
	const struct { uint8_t proto; size_t l4; } tiny[] = {
		{ P_TCP, 19 }, { P_TCP, 8 }, { P_TCP, 0 }, { P_UDP, 7 }, { P_UDP, 0 }, { P_ICMP, 7 },
	};
	for (size_t i = 0; i < sizeof(tiny) / sizeof(tiny[0]); i++) {
		make_tcp(&d, &r, 0, 40);
		d.proto = tiny[i].proto;
		d.frag = MF;
		d.cut = tiny[i].l4; /* cut 0 would mean "not cut" */
		if (d.cut == 0)
			d.l4len = 0;
		d.l4[0] = 3;
		n = build(&d, OLD_SRC, OLD_DST, p);
		expect_refused(p, n);
		d.frag = MF | 1; /* as a later fragment it is fine */
		check_simple(&d);
	}
	/* other protocols need no L4 bytes at all */
	make_tcp(&d, &r, 0, 0);
	d.proto = 47;
	d.l4len = 0;
	check_simple(&d);
}

static void random_inner(struct dgram *in, struct rng *r)
{
	switch (rnd_below(r, 5)) {
	case 0:
		make_tcp(in, r, 4 * rnd_below(r, 11), rnd_below(r, 300));
		break;
	case 1:
	case 2:
		make_udp(in, r, rnd_below(r, 300), rnd_below(r, 4) == 0);
		break;
	case 3:
		make_echo(in, r, rnd_below(r, 100));
		break;
	default:
		make_udp(in, r, 100 + rnd_below(r, 300), false);
		in->frag = (uint16_t)(MF | (1 + rnd_below(r, 100)));
	}
	if (rnd_below(r, 4) == 0)
		add_ip_options(in, r, 4 * rnd_below(r, 11));
}

static void random_dgram(struct dgram *d, struct dgram *in, struct rng *r)
{
	static const uint8_t types[] = { 3, 4, 5, 11, 12 };
	size_t il;
	switch (rnd_below(r, 7)) {
	case 0:
		make_tcp(d, r, 4 * rnd_below(r, 11), rnd_below(r, 1200));
		break;
	case 1:
		make_udp(d, r, rnd_below(r, 1200), rnd_below(r, 4) == 0);
		break;
	case 2:
		make_echo(d, r, rnd_below(r, 600));
		break;
	case 3:
	case 4:
		random_inner(in, r);
		il = inner_len(in);
		make_error(d, r, types[rnd_below(r, 5)], (uint8_t)rnd(r), in, rnd_below(r, il + 1));
		d->in_src = (uint32_t)rnd(r);
		d->in_dst = (uint32_t)rnd(r);
		break;
	case 5: /* a first fragment, cut on an 8-byte boundary */
		make_udp(d, r, 100 + rnd_below(r, 500), false);
		if (rnd_below(r, 2))
			make_tcp(d, r, 4 * rnd_below(r, 11), 100 + rnd_below(r, 500));
		d->frag = MF;
		d->cut = 8 * (3 + rnd_below(r, 10));
		break;
	default: /* another protocol or a later fragment */
		make_tcp(d, r, 0, rnd_below(r, 300));
		d->proto = (uint8_t[]){ 1, 6, 17, 47 }[rnd_below(r, 4)];
		d->frag = (uint16_t)(rnd_below(r, 2) ? 1 + rnd_below(r, 0x1fff) : rnd(r) | 1);
		if (d->proto == 47 && rnd_below(r, 2))
			d->frag = 0;
	}
	if (rnd_below(r, 4) == 0)
		add_ip_options(d, r, 4 * rnd_below(r, 11));
}

static void test_random(void **state)
{
	struct rng r = { 0x5eed };
	static struct dgram d, in;
	for (int it = 0; it < 4000; it++) {
		random_dgram(&d, &in, &r);
		uint32_t os = (uint32_t)rnd(&r), od = (uint32_t)rnd(&r);
		uint32_t ns = (uint32_t)rnd(&r), nd = (uint32_t)rnd(&r);
		if (it % 10 == 0)
			ns = os; /* no change at all must also be exact */
		check_translation(&d, os, od, ns, nd, rnd_below(&r, 4) ? 0 : rnd_below(&r, 9), NULL);
	}
}

/* Every length of a valid packet in an exact-size buffer: with its real
 * total length everything shorter is refused untouched; with the total
 * length cut to match, it is translated or refused, and when translated
 * the L4 sum is preserved exactly (an incremental update changes a sum by
 * what the pseudo-header changed, nothing else). */
static void truncations_of(const struct dgram *d)
{
	uint8_t full[MAXPKT], p[MAXPKT];
	size_t n = build(d, OLD_SRC, OLD_DST, full);
	size_t hl = hlen_of(d);
	for (size_t len = 0; len <= n; len++) {
		memcpy(p, full, len);
		if (len < n)
			expect_refused(p, len);
		if (len < hl)
			continue;
		put16(p + 2, (uint16_t)len);
		put16(p + 10, 0);
		put16(p + 10, ref_csum(ref_add(0, p, hl)));
		uint8_t *buf = malloc(len);
		memcpy(buf, p, len);
		int rc = xlate_ipv4(buf, len, NEW_SRC, NEW_DST);
		size_t l4 = len - hl;
		size_t need = d->proto == P_TCP ? 20 : d->proto == P_UDP || d->proto == P_ICMP ? 8 : 0;
		if (first_frag(d) && l4 < need) {
			assert_int_equal(rc, -EBADMSG);
			assert_bytes_equal(buf, p, len);
			free(buf);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(get32(buf + 12), NEW_SRC);
		assert_true(ref_valid(ref_add(0, buf, hl)));
		if (first_frag(d) && (d->proto == P_TCP || d->proto == P_UDP)) {
			uint16_t a = ref_fold(ref_add(ref_pseudo(OLD_SRC, OLD_DST, d->proto, l4), p + hl, l4));
			uint16_t b = ref_fold(ref_add(ref_pseudo(NEW_SRC, NEW_DST, d->proto, l4), buf + hl, l4));
			if (!(d->proto == P_UDP && get16(p + hl + 6) == 0))
				assert_int_equal(a % 0xffff, b % 0xffff);
		} else if (first_frag(d) && d->proto == P_ICMP) {
			assert_int_equal(ref_fold(ref_add(0, p + hl, l4)) % 0xffff,
					 ref_fold(ref_add(0, buf + hl, l4)) % 0xffff);
		} else {
			assert_bytes_equal(buf + hl, p + hl, l4);
		}
		free(buf);
	}
}

static void test_truncations(void **state)
{
	struct rng r = { 12 };
	static struct dgram d, in;
	make_tcp(&d, &r, 8, 31);
	add_ip_options(&d, &r, 4);
	truncations_of(&d);
	make_udp(&d, &r, 21, false);
	truncations_of(&d);
	make_echo(&d, &r, 9);
	truncations_of(&d);
	make_tcp(&in, &r, 12, 5);
	add_ip_options(&in, &r, 8);
	make_error(&d, &r, 3, 4, &in, inner_len(&in));
	truncations_of(&d);
	d.frag = 7;
	truncations_of(&d);

	/* ICMP errors cut at every quote length, checked byte for byte */
	for (size_t q = 0; q <= inner_len(&in); q++) {
		make_error(&d, &r, 11, 0, &in, q);
		check_simple(&d);
	}
	make_udp(&in, &r, 7, false);
	for (size_t q = 0; q <= inner_len(&in); q++) {
		make_error(&d, &r, 3, 3, &in, q);
		check_simple(&d);
	}
}

/* Random bytes that mostly look like IPv4: never out of bounds (ASan), a
 * refusal leaves the buffer alone, an acceptance sets the addresses and
 * keeps the bytes past the total length. */
static void test_garbage(void **state)
{
	struct rng r = { 13 };
	uint8_t p[200];
	for (int it = 0; it < 50000; it++) {
		size_t len = rnd_below(&r, sizeof(p) + 1);
		rnd_bytes(&r, p, len);
		if (len > 0 && rnd_below(&r, 4))
			p[0] = (uint8_t)(0x45 + rnd_below(&r, 11));
		if (len >= 4 && rnd_below(&r, 2))
			put16(p + 2, (uint16_t)(len - rnd_below(&r, 8)));
		if (len >= 10 && rnd_below(&r, 2))
			p[9] = (uint8_t[]){ 1, 6, 17 }[rnd_below(&r, 3)];
		if (len >= 8 && rnd_below(&r, 2))
			p[6] &= 0xe0;
		uint8_t *buf = malloc(len ? len : 1);
		memcpy(buf, p, len);
		int rc = xlate_ipv4(buf, len, NEW_SRC, NEW_DST);
		if (rc == 0) {
			size_t tot = get16(p + 2);
			assert_true(tot <= len && tot >= (size_t)(p[0] & 15) * 4);
			assert_int_equal(get32(buf + 12), NEW_SRC);
			assert_int_equal(get32(buf + 16), NEW_DST);
			assert_bytes_equal(buf + tot, p + tot, len - tot);
		} else {
			assert_int_equal(rc, -EBADMSG);
			assert_bytes_equal(buf, p, len);
		}
		free(buf);
	}
}

static void test_addrs(void **state)
{
	struct rng r = { 14 };
	struct dgram d;
	uint8_t p[MAXPKT];
	uint32_t s = 1, t = 2;
	make_udp(&d, &r, 3, false);
	add_ip_options(&d, &r, 8);
	size_t n = build(&d, OLD_SRC, OLD_DST, p);
	assert_int_equal(xlate_ipv4_addrs(p, n, &s, &t), 0);
	assert_int_equal(s, OLD_SRC);
	assert_int_equal(t, OLD_DST);
	assert_int_equal(xlate_ipv4_addrs(p, 28, &s, &t), 0); /* header only is enough */
	s = t = 7;
	assert_int_equal(xlate_ipv4_addrs(p, 27, &s, &t), -EBADMSG); /* options cut */
	assert_int_equal(xlate_ipv4_addrs(p, 19, &s, &t), -EBADMSG);
	assert_int_equal(xlate_ipv4_addrs(p, 0, &s, &t), -EBADMSG);
	p[0] = 0x60;
	assert_int_equal(xlate_ipv4_addrs(p, n, &s, &t), -EBADMSG);
	p[0] = 0x44;
	assert_int_equal(xlate_ipv4_addrs(p, n, &s, &t), -EBADMSG);
	assert_int_equal(s, 7);
	assert_int_equal(t, 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csum_helpers),
		cmocka_unit_test(test_tcp_options_payload),
		cmocka_unit_test(test_udp),
		cmocka_unit_test(test_csum_corners),
		cmocka_unit_test(test_icmp_echo),
		cmocka_unit_test(test_icmp_errors_quoting_udp),
		cmocka_unit_test(test_icmp_errors_quoting_tcp),
		cmocka_unit_test(test_icmp_quote_past_inner_length),
		cmocka_unit_test(test_icmp_bad_quotes),
		cmocka_unit_test(test_fragments),
		cmocka_unit_test(test_trailing_bytes),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_addrs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
