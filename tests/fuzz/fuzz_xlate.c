/*
 * fuzz_xlate.c - libFuzzer target for shared/xlate.c.
 *
 * Input: 4 bytes new source, 4 bytes new destination (big-endian), then
 * the packet, copied into a buffer of its exact length so ASan sees any
 * access past it. After the call the harness re-derives, on its own, what
 * xlate.h allows to change and traps on any other difference:
 *  - a refused packet is byte-for-byte unchanged;
 *  - a translated one has the new addresses, and nothing outside the
 *    address and checksum words changed (nothing at all past the total
 *    length or, in later fragments, past the IP header);
 *  - every checksum the translation touched still sums to what it summed
 *    to before, modulo 0xffff: a valid checksum stays valid and a broken
 *    one stays broken. This holds even for cut-off data (fragments, ICMP
 *    quotes), since an incremental update only moves the sum by the
 *    pseudo-header change;
 *  - a zero UDP checksum stays zero and a non-zero one never becomes zero.
 * __builtin_trap() is right here: this is a test harness, not peer input.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xlate.h"

#define CHECK(c) \
	do { \
		if (!(c)) \
			__builtin_trap(); \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p) { return (uint32_t)be16(p) << 16 | be16(p + 2); }

static uint32_t sum(uint32_t acc, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		acc += (i & 1) ? p[i] : (uint32_t)p[i] << 8;
	return acc;
}

static uint32_t mod(uint32_t acc) { return acc % 0xffff; } /* one's complement value */

static uint32_t pseudo(uint32_t s, uint32_t d, uint8_t proto, size_t len)
{
	return (s >> 16) + (s & 0xffff) + (d >> 16) + (d & 0xffff) + proto + (uint32_t)len;
}

/* Bytes [a, b) and [c, d) of the two buffers may differ, nothing else in [0, n). */
static void same_except(const uint8_t *x, const uint8_t *y, size_t n, size_t a, size_t b,
			size_t c, size_t d)
{
	for (size_t i = 0; i < n; i++)
		if (!((i >= a && i < b) || (i >= c && i < d)))
			CHECK(x[i] == y[i]);
}

/* TCP/UDP at l4 (n bytes, checksum at coff inside the first n bytes):
 * only the checksum may change, and the sum with the pseudo-header is kept. */
static void check_pseudo_l4(const uint8_t *o, const uint8_t *t, size_t n, uint8_t proto,
			    size_t coff, uint32_t os, uint32_t od, uint32_t ns, uint32_t nd)
{
	same_except(o, t, n, coff, coff + 2, 0, 0);
	if (proto == 17 && be16(o + coff) == 0) {
		CHECK(be16(t + coff) == 0);
		return;
	}
	if (proto == 17)
		CHECK(be16(t + coff) != 0);
	CHECK(mod(sum(pseudo(os, od, proto, n), o, n)) == mod(sum(pseudo(ns, nd, proto, n), t, n)));
}

static size_t csum_off(uint8_t proto) { return proto == 6 ? 16 : proto == 17 ? 6 : 0; }

static void check_icmp(const uint8_t *o, const uint8_t *t, size_t n, uint32_t ns, uint32_t nd)
{
	uint8_t type = o[0];
	bool err = type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
	const uint8_t *oq = o + 8, *tq = t + 8;
	size_t ql = n - 8, ih = ql ? (size_t)(oq[0] & 15) * 4 : 0;
	if (!err || ql < 20 || oq[0] >> 4 != 4 || ih < 20 || ih > ql) {
		same_except(o, t, n, 0, 0, 0, 0);
		return;
	}
	CHECK(mod(sum(0, o, n)) == mod(sum(0, t, n)));
	CHECK(be32(tq + 12) == nd && be32(tq + 16) == ns);
	CHECK(mod(sum(0, oq, ih)) == mod(sum(0, tq, ih)));
	same_except(oq, tq, ih, 10, 20, 0, 0);
	size_t end = be16(oq + 2) < ql ? be16(oq + 2) : ql;
	size_t c = csum_off(oq[9]);
	bool l4 = (be16(oq + 6) & 0x1fff) == 0 && c && end >= ih && end - ih >= c + 2;
	if (l4)
		check_pseudo_l4(oq + ih, tq + ih, end - ih, oq[9], c, be32(oq + 12), be32(oq + 16),
				nd, ns);
	same_except(oq + ih, tq + ih, ql - ih, l4 ? c : 0, l4 ? c + 2 : 0, 0, 0);
	same_except(o, t, 8, 2, 4, 0, 0);
}

static void check_translated(const uint8_t *o, const uint8_t *t, size_t len, uint32_t ns,
			     uint32_t nd)
{
	size_t hl = (size_t)(o[0] & 15) * 4, tot = be16(o + 2);
	CHECK(len >= 20 && o[0] >> 4 == 4 && hl >= 20 && hl <= tot && tot <= len);
	CHECK(be32(t + 12) == ns && be32(t + 16) == nd);
	CHECK(mod(sum(0, o, hl)) == mod(sum(0, t, hl)));
	same_except(o, t, hl, 10, 20, 0, 0);
	same_except(o + tot, t + tot, len - tot, 0, 0, 0, 0);

	const uint8_t *ol = o + hl, *tl = t + hl;
	size_t n = tot - hl;
	uint8_t proto = o[9];
	if ((be16(o + 6) & 0x1fff) != 0) {
		same_except(ol, tl, n, 0, 0, 0, 0);
	} else if (proto == 6 || proto == 17) {
		CHECK(n >= (proto == 6 ? 20u : 8u));
		check_pseudo_l4(ol, tl, n, proto, csum_off(proto), be32(o + 12), be32(o + 16), ns, nd);
	} else if (proto == 1) {
		CHECK(n >= 8);
		check_icmp(ol, tl, n, ns, nd);
	} else {
		same_except(ol, tl, n, 0, 0, 0, 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 8)
		return 0;
	uint32_t ns = be32(data), nd = be32(data + 4);
	size_t len = size - 8;
	uint8_t *orig = malloc(len ? len : 1);
	uint8_t *pkt = malloc(len ? len : 1);
	if (!orig || !pkt)
		abort();
	memcpy(orig, data + 8, len);
	memcpy(pkt, data + 8, len);

	uint32_t s = 0, d = 0;
	int ra = xlate_ipv4_addrs(pkt, len, &s, &d);
	CHECK(ra == 0 || ra == -EBADMSG);
	if (ra == 0)
		CHECK(s == be32(orig + 12) && d == be32(orig + 16));

	int rc = xlate_ipv4(pkt, len, ns, nd);
	if (rc == 0) {
		CHECK(ra == 0);
		check_translated(orig, pkt, len, ns, nd);
	} else {
		CHECK(rc == -EBADMSG);
		CHECK(memcmp(orig, pkt, len) == 0);
	}

	/* the checksum helpers on the same bytes: must stay in bounds */
	uint16_t c = xlate_csum(data + 8, len, ns);
	(void)xlate_csum_update32(c, ns, nd);
	(void)xlate_csum_update16(c, (uint16_t)ns, (uint16_t)nd);
	free(orig);
	free(pkt);
	return 0;
}
