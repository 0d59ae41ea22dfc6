/*
 * test_offload_seg.c - unit tests for the sending side of shared/offload.c:
 * a TUN super-packet split into segments (TSO over IPv4 and IPv6, USO, IP
 * options and extension headers, a final short segment), checksums
 * completed for single packets, and the headers and lengths it refuses.
 *
 * Method (offload_lab.h): the segmenter's output must equal, byte for
 * byte, the segments built directly from the same packet description by
 * the rules offload.h states (seq + i * mss, IPv4 id + i, CWR only first,
 * FIN/PSH only last), which checks lengths, flags and every checksum at
 * once against a full recomputation. Random loops use a fixed seed.
 */
#include <errno.h>
#include <sys/uio.h>

#include "offload_lab.h"

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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
