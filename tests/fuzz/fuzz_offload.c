/*
 * fuzz_offload.c - libFuzzer target for shared/offload.c.
 *
 * The first input byte picks a side.
 *
 * Sending side (even): 10 bytes of raw virtio_net_hdr, 2 bytes of output
 * capacity, then the packet, in a buffer of its exact length. When
 * offload_seg_init accepts a GSO packet, every segment must fit the
 * capacity it was given (or be refused with -ENOSPC), carry valid IP and
 * L4 checksums and lengths by the harness's own RFC 1071 arithmetic, and
 * together carry exactly the super-packet's payload; the source bytes stay
 * unchanged. A completed partial checksum must verify over its range
 * together with the pseudo-header sum the field held.
 * offload_whole must agree with offload_seg_init and leave a packet whose
 * checksums verify.
 *
 * Receiving side (odd): byte 1 sets GRO on/off and the MTU (65535 or
 * 1280), then packets follow as [len16][ctl][bytes]. ctl bit 0 asks the
 * harness to fix lengths and checksums, bit 1 to make the packet the next
 * segment of the previous one (its headers, seq + payload, id + 1, with
 * PSH, FIN and CWR from ctl bits 2-4 and the same id if bit 5), so the
 * fuzzer reaches real merges and their edge cases. Every write must be a well-formed iovec; a
 * plain write must equal an offered packet; a GSO write must resegment
 * into packets with valid checksums. With the 65535 MTU those segments
 * must be offered packets (IPv4 id aside, for fixed-id merges), every
 * offered packet must come out exactly once, and packets of one TCP flow
 * must come out in the order they went in. Offered bytes must be unchanged.
 * __builtin_trap() is right here: this is a test harness, not peer input.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "offload.h"
#include "../unit/pktref.h"

#define CHECK(c) \
	do { \
		if (!(c)) \
			__builtin_trap(); \
	} while (0)

#define MAXPKT 64
#define MAXOUT 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);



/* A segment: lengths and every checksum valid. */
static void check_packet(const uint8_t *p, size_t n, size_t l3, uint8_t proto)
{
	CHECK(n >= l3 && l3 >= 20);
	if (p[0] >> 4 == 4) {
		CHECK(get16(p + 2) == n);
		CHECK(ref_fold(ref_add(0, p, (size_t)(p[0] & 15) * 4)) == 0xffff);
	} else {
		CHECK(p[0] >> 4 == 6 && get16(p + 4) == n - 40);
	}
	if (proto == 17) {
		CHECK(get16(p + l3 + 4) == n - l3);
		CHECK(get16(p + l3 + 6) != 0);
	}
	CHECK(ref_fold(ref_add(ref_pseudo(p, proto, n - l3), p + l3, n - l3)) == 0xffff);
}

/* ---- sending side ---- */

static void send_side(const uint8_t *data, size_t size)
{
	if (size < 12)
		return;
	struct offload_hdr h;
	offload_hdr_decode(&h, data);
	size_t cap = get16(data + 10), len = size - 12;
	uint8_t *orig = malloc(len + 1), *pkt = malloc(len + 1), *whole = malloc(len + 1);
	uint8_t *out = malloc(cap + 1), *big = malloc(OFFLOAD_MAX_PACKET + 1);
	CHECK(orig && pkt && whole && out && big);
	memcpy(orig, data + 12, len);
	memcpy(pkt, orig, len);
	memcpy(whole, orig, len);

	struct offload_seg it;
	int rc = offload_seg_init(&it, &h, pkt, len);
	CHECK(rc == 0 || rc == -EBADMSG || rc == -EPROTONOSUPPORT);
	int rw = offload_whole(&h, whole, len);
	if (rc == 0 && h.gso_type == VIRTIO_NET_HDR_GSO_NONE) {
		CHECK(rw == 0 && memcmp(whole, pkt, len) == 0);
		/* the field held the pseudo-header sum: with it, the range verifies */
		if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
			CHECK(ref_fold(ref_add(get16(orig + h.csum_start + h.csum_offset), pkt + h.csum_start,
				       len - h.csum_start)) == 0xffff);
		else
			CHECK(memcmp(pkt, orig, len) == 0);
		ssize_t k = offload_seg_next(&it, out, cap);
		CHECK(cap < len ? k == -ENOSPC : k == (ssize_t)len && memcmp(out, pkt, len) == 0);
		CHECK(offload_seg_next(&it, big, OFFLOAD_MAX_PACKET + 1) == (cap < len ? (ssize_t)len : 0));
	} else if (rc == 0) {
		CHECK(memcmp(pkt, orig, len) == 0);
		CHECK(it.count >= 1 && len <= OFFLOAD_MAX_PACKET + 40);
		CHECK(rw == 0 || (rw == -EMSGSIZE && it.proto == 17 && it.count > 1));
		if (rw == 0)
			check_packet(whole, len, it.l3_len, it.proto);
		size_t hl = (size_t)it.l3_len + it.l4_len, pay = 0;
		unsigned n = 0;
		for (;;) {
			ssize_t k = offload_seg_next(&it, out, cap);
			uint8_t *seg = out;
			if (k == -ENOSPC) {
				k = offload_seg_next(&it, big, OFFLOAD_MAX_PACKET + 1);
				seg = big;
			} else {
				CHECK(k >= 0 && (size_t)k <= cap);
			}
			CHECK(k >= 0);
			if (k == 0)
				break;
			n++;
			CHECK((size_t)k >= hl && (size_t)k <= len);
			CHECK((size_t)k - hl <= h.gso_size || it.count == 1);
			CHECK(memcmp(seg + hl, orig + hl + pay, (size_t)k - hl) == 0);
			pay += (size_t)k - hl;
			check_packet(seg, (size_t)k, it.l3_len, it.proto);
		}
		CHECK(n == it.count && pay == len - hl);
	} else {
		CHECK(rw == rc && memcmp(pkt, orig, len) == 0 && memcmp(whole, orig, len) == 0);
	}
	free(orig);
	free(pkt);
	free(whole);
	free(out);
	free(big);
}

/* ---- receiving side ---- */

struct pkt {
	uint8_t *b;
	size_t len;
	bool used;
	int out_at;     /* write index it came out in */
	int out_seg;    /* and its place there */
};

struct outs {
	struct pkt *in;
	unsigned n_in;
	unsigned writes;
	bool exact;     /* MTU 65535: writes must be the offered packets */
};

/* IP and TCP header lengths of a TCP packet whose flow can be told, as
 * offload.c decides it; false otherwise. */
static bool tcp_flow(const uint8_t *p, size_t len, size_t *l3)
{
	if (len >= 20 && p[0] >> 4 == 4) {
		*l3 = (size_t)(p[0] & 15) * 4;
		return *l3 >= 20 && *l3 <= len && p[9] == 6 && (get16(p + 6) & 0x1fff) == 0 &&
		       len - *l3 >= 4;
	}
	*l3 = 40;
	return len >= 44 && p[0] >> 4 == 6 && p[6] == 6;
}

static bool same_flow(const struct pkt *a, const struct pkt *b)
{
	size_t la, lb;
	if (!tcp_flow(a->b, a->len, &la) || !tcp_flow(b->b, b->len, &lb) || a->b[0] >> 4 != b->b[0] >> 4)
		return false;
	size_t off = a->b[0] >> 4 == 4 ? 12 : 8, n = a->b[0] >> 4 == 4 ? 8 : 32;
	return memcmp(a->b + off, b->b + off, n) == 0 && memcmp(a->b + la, b->b + lb, 4) == 0;
}

/* fixed_id < 0: p equals q. Otherwise p is a segment of a fixed-id merge
 * (IPv4 with DF and every id the head's): resegmented, its id counts up
 * where the offered one stayed fixed_id, and so does the header checksum. */
static bool equal(const struct pkt *q, const uint8_t *p, size_t n, int fixed_id)
{
	if (q->len != n)
		return false;
	if (fixed_id < 0)
		return memcmp(q->b, p, n) == 0;
	return n >= 20 && get16(q->b + 4) == fixed_id && (q->b[6] & 0x40) && memcmp(q->b, p, 4) == 0 &&
	       memcmp(q->b + 6, p + 6, 4) == 0 && memcmp(q->b + 12, p + 12, n - 12) == 0;
}

/* Marks the first unused offered packet that equals p as having come out
 * at (w, s); false if there is none. */
static bool claim(struct outs *o, const uint8_t *p, size_t n, int fixed_id, int w, int s)
{
	for (unsigned i = 0; i < o->n_in; i++) {
		struct pkt *q = &o->in[i];
		if (!q->used && equal(q, p, n, fixed_id)) {
			q->used = true;
			q->out_at = w;
			q->out_seg = s;
			return true;
		}
	}
	return false;
}

static int write_cb(void *arg, const struct iovec *iov, int iovcnt)
{
	struct outs *o = arg;
	CHECK(iovcnt >= 2 && iovcnt <= OFFLOAD_GRO_MAX_IOV && iov[0].iov_len == OFFLOAD_HDR_LEN);
	size_t len = 0;
	for (int i = 1; i < iovcnt; i++)
		len += iov[i].iov_len;
	CHECK(len <= 65535 + 40);
	uint8_t *b = malloc(len + 1), *seg = malloc(65535 + 41);
	CHECK(b && seg);
	for (int i = 1, off = 0; i < iovcnt; off += (int)iov[i].iov_len, i++)
		memcpy(b + off, iov[i].iov_base, iov[i].iov_len);
	struct offload_hdr h;
	offload_hdr_decode(&h, iov[0].iov_base);
	int w = (int)o->writes++;
	if (h.gso_type == VIRTIO_NET_HDR_GSO_NONE) {
		static const uint8_t zero[OFFLOAD_HDR_LEN];
		CHECK(memcmp(iov[0].iov_base, zero, OFFLOAD_HDR_LEN) == 0 && iovcnt == 2);
		CHECK(claim(o, b, len, -1, w, 0));
	} else {
		CHECK(h.gso_type == VIRTIO_NET_HDR_GSO_TCPV4 || h.gso_type == VIRTIO_NET_HDR_GSO_TCPV6);
		CHECK(h.flags == VIRTIO_NET_HDR_F_NEEDS_CSUM && h.csum_offset == 16);
		CHECK(h.csum_start == (h.gso_type == VIRTIO_NET_HDR_GSO_TCPV4 ? 20 : 40));
		struct offload_seg it;
		CHECK(offload_seg_init(&it, &h, b, len) == 0);
		CHECK(it.l3_len + it.l4_len == h.hdr_len);
		CHECK(!o->exact || (int)it.count == iovcnt - 2);
		ssize_t k;
		int s = 0, fixed_id = -1; /* ids count up, unless the second segment says fixed */
		while ((k = offload_seg_next(&it, seg, 65535 + 40)) > 0) {
			check_packet(seg, (size_t)k, it.l3_len, 6);
			if (!o->exact)
				continue;
			bool ok = claim(o, seg, (size_t)k, fixed_id, w, s);
			if (!ok && s == 1 && b[0] >> 4 == 4) {
				fixed_id = get16(b + 4);
				ok = claim(o, seg, (size_t)k, fixed_id, w, s);
			}
			CHECK(ok);
			s++;
		}
		CHECK(k == 0);
	}
	free(b);
	free(seg);
	return 0;
}

/* Fixes lengths and checksums of an IPv4/IPv6 TCP or UDP packet. */
static void fixup(uint8_t *p, size_t len)
{
	size_t l3;
	uint8_t proto;
	if (len >= 20 && p[0] >> 4 == 4) {
		l3 = (size_t)(p[0] & 15) * 4;
		if (l3 < 20 || l3 > len)
			return;
		put16(p + 2, (uint16_t)len);
		put16(p + 10, 0);
		put16(p + 10, (uint16_t)~ref_fold(ref_add(0, p, l3)));
		proto = p[9];
	} else if (len >= 40 && p[0] >> 4 == 6) {
		l3 = 40;
		put16(p + 4, (uint16_t)(len - 40));
		proto = p[6];
	} else {
		return;
	}
	size_t coff = proto == 6 ? 16 : proto == 17 ? 6 : 0;
	if (!coff || len - l3 < coff + 2)
		return;
	if (proto == 17 && len - l3 >= 8)
		put16(p + l3 + 4, (uint16_t)(len - l3));
	put16(p + l3 + coff, 0);
	put16(p + l3 + coff, (uint16_t)~ref_fold(ref_add(ref_pseudo(p, proto, len - l3), p + l3, len - l3)));
}

/* The next segment after prev: its headers, then body as payload. */
static size_t follow(const struct pkt *prev, const uint8_t *body, size_t n, uint8_t ctl, uint8_t *out)
{
	size_t l3;
	if (!prev || !tcp_flow(prev->b, prev->len, &l3) || prev->len - l3 < 20)
		return 0;
	size_t thl = (size_t)(prev->b[l3 + 12] >> 4) * 4;
	if (thl < 20 || thl > prev->len - l3 || l3 + thl + n > 65535)
		return 0;
	memcpy(out, prev->b, l3 + thl);
	memcpy(out + l3 + thl, body, n);
	put32(out + l3 + 4, get32(prev->b + l3 + 4) + (uint32_t)(prev->len - l3 - thl));
	out[l3 + 13] = (uint8_t)((out[l3 + 13] & 0x76) | (ctl & 4 ? 0x08 : 0) | (ctl & 8 ? 0x01 : 0) |
				 (ctl & 16 ? 0x80 : 0)); /* PSH, FIN, CWR */
	if (out[0] >> 4 == 4 && !(ctl & 32))
		put16(out + 4, (uint16_t)(get16(prev->b + 4) + 1));
	return l3 + thl + n;
}

static void recv_side(const uint8_t *data, size_t size)
{
	if (size < 1)
		return;
	struct pkt in[MAXPKT];
	unsigned n = 0;
	size_t off = 1;
	static uint8_t tmp[65535 + 64];
	while (n < MAXPKT && size - off >= 3) {
		size_t len = get16(data + off);
		uint8_t ctl = data[off + 2];
		off += 3;
		if (len > size - off)
			len = size - off;
		size_t m = (ctl & 2) ? follow(n ? &in[n - 1] : NULL, data + off, len, ctl, tmp) : 0;
		if (!m) {
			memcpy(tmp, data + off, len);
			m = len;
		}
		off += len;
		if (ctl & 1)
			fixup(tmp, m);
		in[n].b = malloc(m + 1);
		CHECK(in[n].b);
		memcpy(in[n].b, tmp, m);
		in[n].len = m;
		in[n].used = false;
		n++;
	}
	struct pkt copy[MAXPKT];
	for (unsigned i = 0; i < n; i++) {
		copy[i] = in[i];
		copy[i].b = malloc(in[i].len + 1);
		CHECK(copy[i].b);
		memcpy(copy[i].b, in[i].b, in[i].len);
	}
	static struct offload_gro g;
	bool enabled = data[0] & 1;
	offload_gro_init(&g, enabled, data[0] & 2 ? 1280 : 65535);
	struct outs o = { .in = copy, .n_in = n, .exact = !(data[0] & 2) };
	for (unsigned i = 0; i < n; i++)
		offload_gro_add(&g, in[i].b, in[i].len, write_cb, &o);
	CHECK(offload_gro_flush(&g, write_cb, &o) == 0);
	CHECK(g.packets_in == n && g.packets_out == o.writes && g.packets_in - g.merged == o.writes);
	CHECK(enabled || g.merged == 0);
	for (unsigned i = 0; i < n; i++) {
		CHECK(memcmp(in[i].b, copy[i].b, in[i].len) == 0);
		CHECK(!o.exact || copy[i].used);
	}
	for (unsigned i = 0; o.exact && i < n; i++)
		for (unsigned j = i + 1; j < n; j++)
			if (same_flow(&copy[i], &copy[j]))
				CHECK(copy[i].out_at < copy[j].out_at ||
				      (copy[i].out_at == copy[j].out_at && copy[i].out_seg < copy[j].out_seg));
	for (unsigned i = 0; i < n; i++) {
		free(in[i].b);
		free(copy[i].b);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		recv_side(data + 1, size - 1);
	else
		send_side(data + 1, size - 1);
	return 0;
}
