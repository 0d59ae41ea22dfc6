/*
 * offload.c - segmentation and coalescing for a TUN device with offloads
 * (offload.h).
 *
 * Sending side. The model is the kernel's own software GSO, which is what
 * the packets would have looked like on a device without offloads:
 * inet_gso_segment (IPv4 id + i in segment i, total length, header
 * checksum), ipv6_gso_segment (payload length), tcp_gso_segment (sequence
 * number advanced by gso_size, CWR cleared after the first segment, FIN
 * and PSH cleared before the last) and __udp_gso_segment (each datagram
 * its own length and checksum, a computed 0 sent as 0xffff). Unlike the
 * kernel, which patches the partial checksum the stack left in the packet,
 * every checksum here is computed from scratch over the segment, so a
 * wrong pseudo-header sum or a misleading hdr_len hint in the input can
 * never reach the wire: header lengths come from the packet itself.
 *
 * Receiving side. The rules are those of tcp_gro_receive, inet_gro_receive,
 * ipv6_gro_receive and gro_receive_network_flush (listed in offload.h).
 * Every offered packet becomes one item, in arrival order, except a
 * segment that is merged into an earlier item. An item is "open" while a
 * later segment may still be appended; there is at most one open item per
 * flow, and any packet of that flow which is not merged closes it, so
 * coalescing never moves data of a flow past another packet of the same
 * flow. Checksums are verified before bytes are vouched for with
 * NEEDS_CSUM: the kernel trusts a CHECKSUM_PARTIAL packet, so a merged
 * packet made of a corrupt segment would otherwise be accepted. A
 * segment's checksum is checked when it is merged and a head's at its
 * first merge, so packets that are never merged cost no extra pass (the
 * kernel verifies those itself).
 *
 * Checksum arithmetic is RFC 1071: a one's complement sum is independent
 * of byte order up to one final swap, so the hot loop adds native 64-bit
 * words into a 128-bit accumulator (an add/adc pair per 8 bytes) and only
 * the folded result is turned into the big-endian view the API uses.
 */
#include "offload.h"

#include <errno.h>
#include <string.h>

#include "reader.h"

_Static_assert(sizeof(struct virtio_net_hdr) == 10, "virtio_net_hdr is 10 bytes");

#define IP4_HLEN 20
#define IP6_HLEN 40
#define TCP_HLEN 20
#define UDP_HLEN 8
#define TCP_CSUM_OFF 16
#define UDP_CSUM_OFF 6
#define PROTO_TCP 6
#define PROTO_UDP 17
#define IP4_DF 0x4000
#define IP4_FRAG 0x3fff      /* MF and fragment offset */
#define IP4_FRAG_OFF 0x1fff  /* fragment offset alone */
#define IP6_HOPOPTS 0
#define IP6_DSTOPTS 60
#define IP6_EXT_MAX 8        /* extension headers walked before giving up */

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_URG 0x20
#define TCP_CWR 0x80
#define TCP_FLAGS_OFF 13

#define GRO_MAX_PAY (OFFLOAD_GRO_MAX_IOV - 2)

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p) { return (uint32_t)be16(p) << 16 | be16(p + 2); }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }

/* ---------------------------------------------------------------- checksum */

static uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

/* One's complement sum of p[0..len) as native-order words, as if p began at
 * an even offset (an odd last byte is padded with a zero after it). */
static uint64_t sum_native(const uint8_t *p, size_t len)
{
	unsigned __int128 acc = 0;
	while (len >= 32) {
		acc += load64(p);
		acc += load64(p + 8);
		acc += load64(p + 16);
		acc += load64(p + 24);
		p += 32;
		len -= 32;
	}
	while (len >= 8) {
		acc += load64(p);
		p += 8;
		len -= 8;
	}
	uint64_t tail = 0;
	memcpy(&tail, p, len);
	acc += tail;
	uint64_t lo = (uint64_t)acc, hi = (uint64_t)(acc >> 64);
	lo += hi;
	return lo + (lo < hi);
}

static uint16_t fold16(uint64_t s)
{
	s = (s & 0xffffffffu) + (s >> 32);
	s = (s & 0xffffffffu) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* Converts a 16-bit sum between the native and the big-endian view (the
 * same swap both ways; none on a big-endian host). */
static uint16_t swap_view(uint16_t v)
{
	uint8_t b[2];
	memcpy(b, &v, sizeof(b));
	return (uint16_t)(b[0] << 8 | b[1]);
}

uint32_t offload_csum_add(const void *data, size_t len, uint32_t initial)
{
	/* The native sum may use all 64 bits: add initial with its carry. */
	uint64_t a = sum_native(data, len), b = swap_view(fold16(initial));
	uint64_t s = a + b;
	return swap_view(fold16(s + (s < b)));
}

uint16_t offload_csum_fold(uint32_t sum) { return (uint16_t)~fold16(sum); }

/* Sum of the source and destination addresses of the IP header at ip. */
static uint32_t addr_sum(const uint8_t *ip)
{
	return ip[0] >> 4 == 4 ? offload_csum_add(ip + 12, 8, 0) : offload_csum_add(ip + 8, 32, 0);
}

/* Internet checksum of an L4 header and payload with its pseudo-header
 * (RFC 793 / RFC 768 for IPv4, RFC 8200 section 8.1 for IPv6). */
static uint16_t l4_csum(const uint8_t *ip, const uint8_t *l4, size_t n, uint8_t proto)
{
	return offload_csum_fold(offload_csum_add(l4, n, addr_sum(ip) + proto + (uint32_t)n));
}

static void ip4_set_csum(uint8_t *ip, size_t hlen)
{
	put16(ip + 10, 0);
	put16(ip + 10, offload_csum_fold(offload_csum_add(ip, hlen, 0)));
}

/* ---------------------------------------------------------------- header */

static uint16_t get_ne16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static void put_ne16(uint8_t *p, uint16_t v) { memcpy(p, &v, sizeof(v)); }

void offload_hdr_decode(struct offload_hdr *h, const uint8_t raw[OFFLOAD_HDR_LEN])
{
	h->flags = raw[offsetof(struct virtio_net_hdr, flags)];
	uint8_t t = raw[offsetof(struct virtio_net_hdr, gso_type)];
	h->gso_type = t & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	h->ecn = t & VIRTIO_NET_HDR_GSO_ECN;
	h->hdr_len = get_ne16(raw + offsetof(struct virtio_net_hdr, hdr_len));
	h->gso_size = get_ne16(raw + offsetof(struct virtio_net_hdr, gso_size));
	h->csum_start = get_ne16(raw + offsetof(struct virtio_net_hdr, csum_start));
	h->csum_offset = get_ne16(raw + offsetof(struct virtio_net_hdr, csum_offset));
}

void offload_hdr_encode(uint8_t raw[OFFLOAD_HDR_LEN], const struct offload_hdr *h)
{
	raw[offsetof(struct virtio_net_hdr, flags)] = h->flags;
	raw[offsetof(struct virtio_net_hdr, gso_type)] =
		(uint8_t)(h->gso_type | (h->ecn ? VIRTIO_NET_HDR_GSO_ECN : 0));
	put_ne16(raw + offsetof(struct virtio_net_hdr, hdr_len), h->hdr_len);
	put_ne16(raw + offsetof(struct virtio_net_hdr, gso_size), h->gso_size);
	put_ne16(raw + offsetof(struct virtio_net_hdr, csum_start), h->csum_start);
	put_ne16(raw + offsetof(struct virtio_net_hdr, csum_offset), h->csum_offset);
}

/* ---------------------------------------------------------------- IP */

struct l3 {
	uint8_t ver;
	uint8_t proto;  /* IPv6: the header after the walked extension headers */
	uint16_t hlen;  /* IPv4 options and walked IPv6 extension headers included */
	uint16_t frag;  /* IPv4 flags and fragment offset; 0 for IPv6 */
	size_t tot;     /* packet length the IP header claims */
};

/* Reads the IP header at the front of pkt. ext: walk IPv6 hop-by-hop and
 * destination options headers, the two that leave the pseudo-header alone
 * (a routing header would change its destination). -EBADMSG if the header
 * does not fit in len. */
static int l3_parse(const uint8_t *pkt, size_t len, bool ext, struct l3 *ip)
{
	struct rd r = rd_init(pkt, len);
	uint8_t vihl = rd_u8(&r);
	ip->ver = vihl >> 4;
	if (ip->ver == 4) {
		ip->hlen = (uint16_t)((vihl & 15) * 4);
		rd_skip(&r, 1);
		ip->tot = rd_be16(&r);
		rd_skip(&r, 2);
		ip->frag = rd_be16(&r);
		rd_skip(&r, 1);
		ip->proto = rd_u8(&r);
		rd_skip(&r, 10); /* checksum, addresses */
		return rd_ok(&r) && ip->hlen >= IP4_HLEN && ip->hlen <= len ? 0 : -EBADMSG;
	}
	if (ip->ver != 6)
		return -EBADMSG;
	rd_skip(&r, 3);
	ip->tot = IP6_HLEN + (size_t)rd_be16(&r);
	uint8_t nh = rd_u8(&r);
	rd_skip(&r, 33); /* hop limit, addresses */
	for (unsigned i = 0; ext && i < IP6_EXT_MAX && (nh == IP6_HOPOPTS || nh == IP6_DSTOPTS); i++) {
		uint8_t next = rd_u8(&r);
		size_t words = rd_u8(&r);
		rd_skip(&r, words * 8 + 6);
		nh = next;
	}
	ip->proto = nh;
	ip->frag = 0;
	ip->hlen = (uint16_t)r.off;
	return rd_ok(&r) ? 0 : -EBADMSG;
}

/* TCP header length at l4 (n bytes there), 0 if it does not fit. */
static size_t tcp_hlen(const uint8_t *l4, size_t n)
{
	if (n < TCP_HLEN)
		return 0;
	size_t thl = (size_t)(l4[12] >> 4) * 4;
	return thl >= TCP_HLEN && thl <= n ? thl : 0;
}

/* ---------------------------------------------------------------- sending */

/* Completes a partial checksum the way skb_checksum_help does: the field
 * already holds the pseudo-header sum, everything from csum_start to the
 * end is summed, and a result of 0 is sent as 0xffff. The field must sit
 * at an even distance from csum_start (it does for every protocol the
 * kernel offloads): anywhere else no value could make the sum verify. */
static int csum_complete(uint8_t *pkt, size_t len, const struct offload_hdr *h)
{
	size_t start = h->csum_start, at = start + h->csum_offset;
	if (len < 2 || at > len - 2 || (h->csum_offset & 1))
		return -EBADMSG;
	uint16_t c = offload_csum_fold(offload_csum_add(pkt + start, len - start, 0));
	put16(pkt + at, c ? c : 0xffff);
	return 0;
}

static int gso_parse(struct offload_seg *it)
{
	const struct offload_hdr *h = &it->h;
	const uint8_t *pkt = it->pkt;
	struct l3 ip;
	if (h->gso_size == 0 || l3_parse(pkt, it->len, true, &ip) < 0 || ip.tot != it->len ||
	    (ip.frag & IP4_FRAG))
		return -EBADMSG;
	bool tcp = h->gso_type != VIRTIO_NET_HDR_GSO_UDP_L4;
	if (ip.proto != (tcp ? PROTO_TCP : PROTO_UDP) ||
	    (h->gso_type == VIRTIO_NET_HDR_GSO_TCPV4 && ip.ver != 4) ||
	    (h->gso_type == VIRTIO_NET_HDR_GSO_TCPV6 && ip.ver != 6) || (!tcp && h->ecn))
		return -EBADMSG;
	size_t room = it->len - ip.hlen;
	size_t l4 = tcp ? tcp_hlen(pkt + ip.hlen, room) : room >= UDP_HLEN ? UDP_HLEN : 0;
	if (l4 == 0 || (!tcp && be16(pkt + ip.hlen + 4) != room))
		return -EBADMSG;
	if ((h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
	    (h->csum_start != ip.hlen || h->csum_offset != (tcp ? TCP_CSUM_OFF : UDP_CSUM_OFF)))
		return -EBADMSG;
	it->ipver = ip.ver;
	it->proto = ip.proto;
	it->l3_len = ip.hlen;
	it->l4_len = (uint16_t)l4;
	it->payload_off = ip.hlen + l4;
	size_t pay = it->len - it->payload_off;
	it->count = pay > h->gso_size ? (unsigned)((pay + h->gso_size - 1) / h->gso_size) : 1;
	return 0;
}

int offload_seg_init(struct offload_seg *it, const struct offload_hdr *h, uint8_t *pkt, size_t len)
{
	memset(it, 0, sizeof(*it));
	it->pkt = pkt;
	it->len = len;
	it->h = *h;
	it->count = 1;
	switch (h->gso_type) {
	case VIRTIO_NET_HDR_GSO_NONE:
		if (h->ecn)
			return -EBADMSG;
		return (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) ? csum_complete(pkt, len, h) : 0;
	case VIRTIO_NET_HDR_GSO_TCPV4:
	case VIRTIO_NET_HDR_GSO_TCPV6:
	case VIRTIO_NET_HDR_GSO_UDP_L4:
		return gso_parse(it);
	default:
		return -EPROTONOSUPPORT;
	}
}

/* Turns out[0..n), a copy of the super-packet's headers followed by the
 * payload of segment index, into that segment (last: the final one). out
 * may be it->pkt itself (offload_whole): every original field is read
 * before it is written. */
static void seg_fix(const struct offload_seg *it, uint8_t *out, size_t n, unsigned index, bool last)
{
	uint8_t *l4 = out + it->l3_len;
	size_t l4n = n - it->l3_len;
	if (it->ipver == 4) {
		put16(out + 2, (uint16_t)n);
		put16(out + 4, (uint16_t)(be16(it->pkt + 4) + index));
		ip4_set_csum(out, it->l3_len);
	} else {
		put16(out + 4, (uint16_t)(n - IP6_HLEN));
	}
	if (it->proto == PROTO_TCP) {
		uint32_t seq = be32(it->pkt + it->l3_len + 4) + (uint32_t)index * it->h.gso_size;
		put32(l4 + 4, seq);
		if (index > 0)
			l4[TCP_FLAGS_OFF] &= (uint8_t)~TCP_CWR;
		if (!last)
			l4[TCP_FLAGS_OFF] &= (uint8_t)~(TCP_FIN | TCP_PSH);
		put16(l4 + TCP_CSUM_OFF, 0);
		put16(l4 + TCP_CSUM_OFF, l4_csum(out, l4, l4n, PROTO_TCP));
	} else {
		put16(l4 + 4, (uint16_t)l4n);
		put16(l4 + UDP_CSUM_OFF, 0);
		uint16_t c = l4_csum(out, l4, l4n, PROTO_UDP);
		put16(l4 + UDP_CSUM_OFF, c ? c : 0xffff);
	}
}

ssize_t offload_seg_next(struct offload_seg *it, uint8_t *out, size_t cap)
{
	if (it->index >= it->count)
		return 0;
	if (it->h.gso_type == VIRTIO_NET_HDR_GSO_NONE) {
		if (cap < it->len)
			return -ENOSPC;
		memcpy(out, it->pkt, it->len);
		it->index++;
		return (ssize_t)it->len;
	}
	size_t hl = (size_t)it->l3_len + it->l4_len;
	size_t left = it->len - it->payload_off;
	size_t pay = it->count == 1 || left < it->h.gso_size ? left : it->h.gso_size;
	if (cap < hl + pay)
		return -ENOSPC;
	memcpy(out, it->pkt, hl);
	memcpy(out + hl, it->pkt + it->payload_off, pay);
	seg_fix(it, out, hl + pay, it->index, it->index + 1 == it->count);
	it->payload_off += pay;
	it->index++;
	return (ssize_t)(hl + pay);
}

int offload_whole(const struct offload_hdr *h, uint8_t *pkt, size_t len)
{
	struct offload_seg it;
	int err = offload_seg_init(&it, h, pkt, len);
	if (err || h->gso_type == VIRTIO_NET_HDR_GSO_NONE)
		return err;
	if (it.proto == PROTO_UDP && it.count > 1)
		return -EMSGSIZE;
	seg_fix(&it, pkt, len, 0, true);
	return 0;
}

/* ---------------------------------------------------------------- receiving */

/* A TCP packet as the coalescer sees it. */
struct tcpv {
	const uint8_t *pkt;
	size_t len;
	uint8_t ver;
	bool eligible;  /* every GRO precondition holds: it may start or join a merge */
	uint8_t flags;
	uint16_t l3, l4; /* header lengths */
	uint32_t seq;
	size_t pay;     /* payload bytes */
};

/* True for a TCP packet whose flow can be told (addresses and ports are
 * there); v->eligible then says whether it may take part in a merge:
 * inet_gro_receive wants IPv4 without options, without fragmentation, a
 * valid header checksum and a total length equal to the packet's; IPv6
 * here comes without extension headers and with a matching payload
 * length. */
static bool tcp_view(const uint8_t *pkt, size_t len, struct tcpv *v)
{
	struct l3 ip;
	if (l3_parse(pkt, len, false, &ip) < 0 || ip.proto != PROTO_TCP ||
	    (ip.frag & IP4_FRAG_OFF) || len - ip.hlen < 4)
		return false;
	size_t thl = tcp_hlen(pkt + ip.hlen, len - ip.hlen);
	v->pkt = pkt;
	v->len = len;
	v->ver = ip.ver;
	v->l3 = ip.hlen;
	v->eligible = thl && ip.tot == len && len <= OFFLOAD_MAX_PACKET &&
		      (ip.ver == 6 || (ip.hlen == IP4_HLEN && !(ip.frag & ~IP4_DF) &&
				       offload_csum_fold(offload_csum_add(pkt, IP4_HLEN, 0)) == 0));
	if (!v->eligible)
		return true;
	v->l4 = (uint16_t)thl;
	v->flags = pkt[ip.hlen + TCP_FLAGS_OFF];
	v->seq = be32(pkt + ip.hlen + 4);
	v->pay = len - ip.hlen - thl;
	return true;
}

static bool tcp_csum_ok(const uint8_t *pkt, size_t len, size_t l3)
{
	return l4_csum(pkt, pkt + l3, len - l3, PROTO_TCP) == 0;
}

static size_t item_l3(const struct offload_gro_item *it) { return it->ipver == 4 ? IP4_HLEN : IP6_HLEN; }

static bool same_flow(const struct offload_gro_item *it, const struct tcpv *v)
{
	if (it->ipver != v->ver)
		return false;
	size_t a = v->ver == 4 ? 12 : 8, alen = v->ver == 4 ? 8 : 32;
	return memcmp(it->hdr + a, v->pkt + a, alen) == 0 &&
	       memcmp(it->hdr + item_l3(it), v->pkt + v->l3, 4) == 0;
}

static struct offload_gro_item *find_open(struct offload_gro *g, const struct tcpv *v)
{
	for (unsigned i = g->n; i-- > 0;) {
		struct offload_gro_item *it = &g->items[i];
		if (it->tcp && !it->closed && same_flow(it, v))
			return it;
	}
	return NULL;
}

/* The IP part of the rules: IPv4 TOS, TTL and DF equal, and the id either
 * one more per segment or, with DF, the same in every segment (decided at
 * the second segment, like the kernel's ip_fixedid); IPv6 version, traffic
 * class, flow label and hop limit equal. */
static bool ip_can_merge(const struct offload_gro_item *it, const uint8_t *b, bool *fixed_id)
{
	const uint8_t *a = it->hdr;
	if (it->ipver == 6)
		return memcmp(a, b, 4) == 0 && a[7] == b[7];
	if (a[1] != b[1] || a[8] != b[8] || ((a[6] ^ b[6]) & (IP4_DF >> 8)))
		return false;
	uint16_t step = (uint16_t)(be16(b + 4) - be16(a + 4));
	bool fixed = it->fixed_id || (it->n_pay == 1 && (b[6] & (IP4_DF >> 8)) && step == 0);
	*fixed_id = fixed;
	return step == (fixed ? 0 : it->n_pay);
}

/* tcp_gro_receive: same header length, options, ack number, window and
 * flags but CWR/FIN/PSH; no CWR on a later segment; contiguous sequence;
 * 1..mss payload bytes; the merged packet no longer than 65535. */
static bool tcp_can_merge(const struct offload_gro_item *it, const struct tcpv *v)
{
	size_t l3 = item_l3(it), thl = it->hdr_len - l3;
	const uint8_t *ta = it->hdr + l3, *tb = v->pkt + v->l3;
	return v->l3 == l3 && v->l4 == thl && !(v->flags & TCP_CWR) &&
	       ((ta[TCP_FLAGS_OFF] ^ v->flags) & (uint8_t)~(TCP_CWR | TCP_FIN | TCP_PSH)) == 0 &&
	       memcmp(ta + 8, tb + 8, 5) == 0 && memcmp(ta + 14, tb + 14, 2) == 0 &&
	       memcmp(ta + TCP_HLEN, tb + TCP_HLEN, thl - TCP_HLEN) == 0 && v->seq == it->next_seq &&
	       v->pay >= 1 && v->pay <= it->mss && it->total + v->pay <= OFFLOAD_MAX_PACKET &&
	       it->n_pay < GRO_MAX_PAY;
}

static void item_start(struct offload_gro_item *it, const uint8_t *pkt, size_t len,
		       const struct tcpv *v, bool enabled)
{
	memset(it->vnet, 0, sizeof(it->vnet));
	it->whole = pkt;
	it->whole_len = len;
	it->total = len;
	it->n_pay = 0;
	it->hdr_len = 0;
	it->tcp = false;
	it->closed = true;
	it->fixed_id = false;
	/* SYN, RST and URG segments are neither merged nor resegmented: GSO
	 * would copy those flags and the urgent pointer into every segment. */
	if (!v || !v->eligible || v->pay == 0 || (v->flags & (TCP_SYN | TCP_RST | TCP_URG)))
		return;
	it->hdr_len = (uint16_t)(v->l3 + v->l4);
	memcpy(it->hdr, pkt, it->hdr_len);
	it->pay[0].iov_base = (void *)(pkt + it->hdr_len);
	it->pay[0].iov_len = v->pay;
	it->n_pay = 1;
	it->next_seq = v->seq + (uint32_t)v->pay;
	it->mss = (uint16_t)v->pay;
	it->tcp = true;
	it->ipver = v->ver;
	it->closed = !enabled || (v->flags & (TCP_PSH | TCP_FIN));
}

void offload_gro_init(struct offload_gro *g, bool enabled, unsigned mtu)
{
	memset(g, 0, sizeof(*g));
	g->enabled = enabled;
	g->mtu = mtu;
}

/* Tries to append v to the flow's open item; false leaves it closed (and
 * unchanged but for that) or, if its head failed the checksum, demoted to
 * a packet written as it came. */
static bool try_merge(struct offload_gro_item *it, struct tcpv *v)
{
	bool fixed_id = false;
	it->closed = true;
	if (!v->eligible || !ip_can_merge(it, v->pkt, &fixed_id) || !tcp_can_merge(it, v))
		return false;
	if (it->n_pay == 1 && !tcp_csum_ok(it->whole, it->whole_len, item_l3(it))) {
		it->tcp = false;
		return false;
	}
	if (!tcp_csum_ok(v->pkt, v->len, v->l3)) {
		v->eligible = false;
		return false;
	}
	it->pay[it->n_pay].iov_base = (void *)(v->pkt + v->l3 + v->l4);
	it->pay[it->n_pay].iov_len = v->pay;
	it->n_pay++;
	it->total += v->pay;
	it->next_seq += (uint32_t)v->pay;
	it->fixed_id = fixed_id;
	it->hdr[item_l3(it) + TCP_FLAGS_OFF] |= v->flags & (TCP_FIN | TCP_PSH);
	it->closed = (v->flags & (TCP_FIN | TCP_PSH)) || v->pay < it->mss;
	return true;
}

void offload_gro_add(struct offload_gro *g, const uint8_t *pkt, size_t len,
		     offload_write_fn write_fn, void *arg)
{
	if (g->n == OFFLOAD_GRO_MAX_HELD)
		offload_gro_flush(g, write_fn, arg);
	g->packets_in++;
	struct tcpv v;
	bool tcp = tcp_view(pkt, len, &v);
	if (tcp && g->enabled) {
		struct offload_gro_item *open = find_open(g, &v);
		if (open && try_merge(open, &v)) {
			g->merged++;
			return;
		}
	}
	item_start(&g->items[g->n++], pkt, len, tcp ? &v : NULL, g->enabled);
}

/* gso_size for an item written as a GSO packet, or 0 to write it as it
 * came: a single segment unless it is longer than the MTU and its
 * checksum holds. Segments are cut to the MTU if they came larger. */
static uint16_t item_gso_size(const struct offload_gro *g, const struct offload_gro_item *it)
{
	if (!it->tcp)
		return 0;
	size_t room = g->mtu > it->hdr_len ? g->mtu - it->hdr_len : 0;
	if (it->n_pay == 1) {
		if (it->total <= g->mtu || room == 0 ||
		    !tcp_csum_ok(it->whole, it->whole_len, item_l3(it)))
			return 0;
		return (uint16_t)(room < OFFLOAD_MAX_PACKET ? room : OFFLOAD_MAX_PACKET);
	}
	return room && room < it->mss ? (uint16_t)room : it->mss;
}

/* Rewrites the header copy for the merged packet (tcp4_gro_complete,
 * inet_gro_complete): lengths, IPv4 header checksum, and in the TCP
 * checksum field the folded, not inverted, pseudo-header sum over the
 * whole length, which NEEDS_CSUM tells the kernel to complete. */
static void item_finish(struct offload_gro_item *it, uint16_t gso_size)
{
	size_t l3 = item_l3(it);
	uint8_t *th = it->hdr + l3;
	if (it->ipver == 4) {
		put16(it->hdr + 2, (uint16_t)it->total);
		ip4_set_csum(it->hdr, l3);
	} else {
		put16(it->hdr + 4, (uint16_t)(it->total - l3));
	}
	uint32_t tcp_len = (uint32_t)(it->total - l3);
	put16(th + TCP_CSUM_OFF, fold16(addr_sum(it->hdr) + PROTO_TCP + tcp_len));
	struct offload_hdr h = {
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		.gso_type = it->ipver == 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6,
		.ecn = th[TCP_FLAGS_OFF] & TCP_CWR, /* tcp_gro_complete: SKB_GSO_TCP_ECN */
		.hdr_len = it->hdr_len,
		.gso_size = gso_size,
		.csum_start = (uint16_t)l3,
		.csum_offset = TCP_CSUM_OFF,
	};
	offload_hdr_encode(it->vnet, &h);
}

unsigned offload_gro_flush(struct offload_gro *g, offload_write_fn write_fn, void *arg)
{
	unsigned failed = 0;
	for (unsigned i = 0; i < g->n; i++) {
		struct offload_gro_item *it = &g->items[i];
		struct iovec iov[OFFLOAD_GRO_MAX_IOV];
		int n = 2;
		iov[0].iov_base = it->vnet;
		iov[0].iov_len = OFFLOAD_HDR_LEN;
		uint16_t gso_size = item_gso_size(g, it);
		if (gso_size) {
			item_finish(it, gso_size);
			iov[1].iov_base = it->hdr;
			iov[1].iov_len = it->hdr_len;
			memcpy(&iov[2], it->pay, it->n_pay * sizeof(iov[0]));
			n += (int)it->n_pay;
		} else {
			memset(it->vnet, 0, sizeof(it->vnet));
			iov[1].iov_base = (void *)it->whole;
			iov[1].iov_len = it->whole_len;
		}
		g->packets_out++;
		if (write_fn(arg, iov, n) < 0)
			failed++;
	}
	g->n = 0;
	return failed;
}
