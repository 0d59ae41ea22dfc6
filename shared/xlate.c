/*
 * xlate.c - IPv4 address translation at the tunnel edge (xlate.h).
 *
 * Owns the in-place rewrite of one IPv4 packet's source and destination
 * and of every checksum that covers them: the IPv4 header checksum, the
 * TCP and UDP checksums (their pseudo-header holds both addresses) and,
 * for ICMP errors, the quoted original header, its checksums and the outer
 * ICMP checksum over the quote. Every checksum is updated incrementally
 * (RFC 1624 eqn. 3), never recomputed, so a checksum that was wrong on
 * input stays wrong: the receiver still drops a corrupted packet.
 *
 * Invariant: nothing is written until the whole packet has been checked.
 * Translation first plans a list of 16-bit edits, each at an offset the
 * bounds-checked reader has proven to lie inside the packet's total
 * length, and applies them only once planning has succeeded. A refused
 * packet is left untouched.
 *
 * Only the bytes up to the IPv4 total length belong to the packet; any
 * bytes after it (link padding) are neither read nor written. L4 headers
 * are looked at only in first fragments (offset 0): elsewhere the bytes
 * after the IP header are payload. A first fragment must carry its whole
 * fixed L4 header (TCP 20, UDP 8, ICMP 8 bytes), as RFC 1858 advises for
 * filters; a tinier one is refused rather than half translated.
 *
 * Byte order of the exported checksum helpers: every 16- and 32-bit value
 * they take or return is "as stored", ie the field's bytes copied into the
 * integer (network byte order, as xlate.h states for old/new), so a result
 * goes back with memcpy(). xlate_csum() returns the Internet checksum, the
 * complement of the folded sum (RFC 1071): it is 0 over a region that
 * includes a correct checksum field. Its `initial` is an unfolded partial
 * sum of as-stored 16-bit words, such as a pseudo-header. Internally all
 * arithmetic is on host-order numbers read big-endian.
 */
#include "xlate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>

#include "reader.h"

#define XLATE_IP_HLEN_MIN 20
#define XLATE_IP_CSUM_OFF 10
#define XLATE_IP_SRC_OFF 12
#define XLATE_IP_DST_OFF 16
#define XLATE_IP_FRAG_MASK 0x1fff /* fragment offset bits of flags+offset */

#define XLATE_PROTO_ICMP 1
#define XLATE_PROTO_TCP 6
#define XLATE_PROTO_UDP 17

#define XLATE_TCP_HLEN 20
#define XLATE_TCP_CSUM_OFF 16
#define XLATE_UDP_HLEN 8
#define XLATE_UDP_CSUM_OFF 6
#define XLATE_ICMP_HLEN 8 /* type, code, checksum, 4 type-specific bytes */
#define XLATE_ICMP_CSUM_OFF 2

/* Worst case: outer src, dst (2 words each) and checksum, then for an ICMP
 * error the quoted src, dst and checksum, the quoted L4 checksum and the
 * ICMP checksum: 5 + 5 + 1 + 1 = 12. */
#define XLATE_MAX_EDITS 16

struct iph {
	size_t hlen;       /* IHL * 4, bytes */
	size_t tot_len;    /* total length field, bytes */
	uint16_t frag_off; /* in 8-byte units; 0 for a first fragment */
	uint8_t proto;
	uint16_t check;
	uint32_t src, dst; /* host order */
};

struct edit {
	size_t off;        /* from the start of the packet; off + 2 <= len */
	uint16_t from, to; /* host order values of the big-endian word */
};

struct edits {
	const uint8_t *pkt;
	size_t len; /* bytes that belong to the packet: its total length */
	size_t n;
	bool err;   /* sticky, like the reader's: checked once before applying */
	struct edit e[XLATE_MAX_EDITS];
};

static uint16_t fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* RFC 1624 eqn. 3 generalised to several words: HC' = ~(~HC + sum(~m + m')),
 * where delta already holds sum(~m + m'). Unlike eqn. 2 it never turns a
 * correct non-zero sum into the wrong zero. */
static uint16_t adjust(uint16_t check, uint64_t delta)
{
	return (uint16_t)~fold((uint64_t)(uint16_t)~check + delta);
}

static uint64_t delta16(uint16_t from, uint16_t to)
{
	return (uint64_t)(uint16_t)~from + to;
}

static uint64_t delta32(uint32_t from, uint32_t to)
{
	return delta16((uint16_t)(from >> 16), (uint16_t)(to >> 16)) +
	       delta16((uint16_t)from, (uint16_t)to);
}

/* Reads through the bounds-checked reader; an offset outside the packet
 * marks the plan as failed instead of reading. */
static uint16_t peek16(struct edits *ed, size_t off)
{
	struct rd r = rd_init(ed->pkt, ed->len);
	rd_skip(&r, off);
	uint16_t v = rd_be16(&r);
	if (!rd_ok(&r))
		ed->err = true;
	return v;
}

static uint8_t peek8(struct edits *ed, size_t off)
{
	struct rd r = rd_init(ed->pkt, ed->len);
	rd_skip(&r, off);
	uint8_t v = rd_u8(&r);
	if (!rd_ok(&r))
		ed->err = true;
	return v;
}

static void edit16(struct edits *ed, size_t off, uint16_t to)
{
	uint16_t from = peek16(ed, off);
	if (ed->err || ed->n == XLATE_MAX_EDITS) {
		ed->err = true;
		return;
	}
	ed->e[ed->n++] = (struct edit){ .off = off, .from = from, .to = to };
}

static void edit32(struct edits *ed, size_t off, uint32_t to)
{
	edit16(ed, off, (uint16_t)(to >> 16));
	edit16(ed, off + 2, (uint16_t)to);
}

/* What the words edited since edit number `first` changed by, for eqn. 3. */
static uint64_t delta_since(const struct edits *ed, size_t first)
{
	uint64_t d = 0;
	for (size_t i = first; i < ed->n; i++)
		d += delta16(ed->e[i].from, ed->e[i].to);
	return d;
}

/* Every offset was proven in bounds by peek16() when the edit was planned. */
static void apply(uint8_t *pkt, const struct edits *ed)
{
	for (size_t i = 0; i < ed->n; i++) {
		pkt[ed->e[i].off] = (uint8_t)(ed->e[i].to >> 8);
		pkt[ed->e[i].off + 1] = (uint8_t)ed->e[i].to;
	}
}

/* Decodes the fixed part of an IPv4 header at p; checks only what makes it
 * a header at all (version, IHL, header inside len). */
static int parse_ip(const uint8_t *p, size_t len, struct iph *h)
{
	struct rd r = rd_init(p, len);
	uint8_t ver_ihl = rd_u8(&r);
	rd_skip(&r, 1); /* TOS */
	h->tot_len = rd_be16(&r);
	rd_skip(&r, 2); /* identification */
	h->frag_off = rd_be16(&r) & XLATE_IP_FRAG_MASK;
	rd_skip(&r, 1); /* TTL */
	h->proto = rd_u8(&r);
	h->check = rd_be16(&r);
	h->src = rd_be32(&r);
	h->dst = rd_be32(&r);
	h->hlen = (size_t)(ver_ihl & 0x0f) * 4;
	if (!rd_ok(&r) || ver_ihl >> 4 != 4 || h->hlen < XLATE_IP_HLEN_MIN || h->hlen > len)
		return -EBADMSG;
	return 0;
}

/* Plans new addresses for the header at base and the matching header
 * checksum; returns the eqn. 3 delta of the address words, which is also
 * what the TCP/UDP pseudo-header changed by. */
static uint64_t plan_ip(struct edits *ed, size_t base, const struct iph *h,
			uint32_t src, uint32_t dst)
{
	size_t first = ed->n;
	edit32(ed, base + XLATE_IP_SRC_OFF, src);
	edit32(ed, base + XLATE_IP_DST_OFF, dst);
	uint64_t d = delta_since(ed, first);
	edit16(ed, base + XLATE_IP_CSUM_OFF, adjust(h->check, d));
	return d;
}

/* Bytes of an L4 header needed to reach the end of a checksum that covers
 * the pseudo-header, or 0 for protocols whose checksum does not. */
static size_t pseudo_csum_end(uint8_t proto)
{
	switch (proto) {
	case XLATE_PROTO_TCP:
		return XLATE_TCP_CSUM_OFF + 2;
	case XLATE_PROTO_UDP:
		return XLATE_UDP_CSUM_OFF + 2;
	default:
		return 0;
	}
}

/* The caller has checked that the checksum field lies in the packet. */
static void plan_pseudo_csum(struct edits *ed, uint8_t proto, size_t l4, uint64_t d)
{
	if (proto == XLATE_PROTO_TCP) {
		size_t off = l4 + XLATE_TCP_CSUM_OFF;
		edit16(ed, off, adjust(peek16(ed, off), d));
	} else if (proto == XLATE_PROTO_UDP) {
		size_t off = l4 + XLATE_UDP_CSUM_OFF;
		uint16_t c = peek16(ed, off);
		if (c == 0)
			return; /* RFC 768: zero means no checksum, and stays so */
		c = adjust(c, d);
		edit16(ed, off, c ? c : 0xffff); /* RFC 768: computed 0 goes out as ones */
	}
}

static bool icmp_is_error(uint8_t type)
{
	/* destination unreachable, source quench, redirect, time exceeded,
	 * parameter problem: the ones that quote the offending datagram */
	return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

/* An ICMP error at icmp (icmp_len bytes, at least the 8-byte header) quotes
 * a datagram that went the other way: its source becomes new_dst and its
 * destination new_src. The quote starts at ICMP offset 8, so every word
 * changed in it is at an even offset from the ICMP start (IHL is a multiple
 * of 4, the L4 checksums sit at even offsets) and adds straight into the
 * ICMP checksum, which has no pseudo-header. A quote that holds no whole
 * IPv4 header is left alone: the outer translation still stands. RFC 4884
 * extensions need no special case: the quoted L4 checksum is only touched
 * inside the quoted datagram's own total length, which they never reach. */
static void plan_icmp_error(struct edits *ed, size_t icmp, size_t icmp_len,
			    uint32_t new_src, uint32_t new_dst)
{
	size_t q = icmp + XLATE_ICMP_HLEN;
	size_t qlen = icmp_len - XLATE_ICMP_HLEN;
	struct iph in;
	if (parse_ip(ed->pkt + q, qlen, &in) < 0)
		return;
	size_t first = ed->n;
	uint64_t d = plan_ip(ed, q, &in, new_dst, new_src);
	size_t end = in.tot_len < qlen ? in.tot_len : qlen;
	size_t need = pseudo_csum_end(in.proto);
	if (in.frag_off == 0 && need && end >= in.hlen && end - in.hlen >= need)
		plan_pseudo_csum(ed, in.proto, q + in.hlen, d);
	size_t csum = icmp + XLATE_ICMP_CSUM_OFF;
	edit16(ed, csum, adjust(peek16(ed, csum), delta_since(ed, first)));
}

static size_t l4_min(uint8_t proto)
{
	switch (proto) {
	case XLATE_PROTO_TCP:
		return XLATE_TCP_HLEN;
	case XLATE_PROTO_UDP:
		return XLATE_UDP_HLEN;
	case XLATE_PROTO_ICMP:
		return XLATE_ICMP_HLEN;
	default:
		return 0;
	}
}

int xlate_ipv4(uint8_t *pkt, size_t len, uint32_t new_src, uint32_t new_dst)
{
	struct iph h;
	if (parse_ip(pkt, len, &h) < 0 || h.tot_len < h.hlen || h.tot_len > len)
		return -EBADMSG;
	struct edits ed = { .pkt = pkt, .len = h.tot_len };
	uint64_t d = plan_ip(&ed, 0, &h, new_src, new_dst);
	size_t l4_len = h.tot_len - h.hlen;
	if (h.frag_off == 0) {
		if (l4_len < l4_min(h.proto))
			return -EBADMSG;
		if (h.proto != XLATE_PROTO_ICMP)
			plan_pseudo_csum(&ed, h.proto, h.hlen, d);
		else if (icmp_is_error(peek8(&ed, h.hlen)))
			plan_icmp_error(&ed, h.hlen, l4_len, new_src, new_dst);
	}
	if (ed.err)
		return -EBADMSG;
	apply(pkt, &ed);
	return 0;
}

int xlate_ipv4_addrs(const uint8_t *pkt, size_t len, uint32_t *src, uint32_t *dst)
{
	struct iph h;
	if (parse_ip(pkt, len, &h) < 0)
		return -EBADMSG;
	*src = h.src;
	*dst = h.dst;
	return 0;
}

uint16_t xlate_csum(const void *data, size_t len, uint32_t initial)
{
	const uint8_t *p = data;
	uint64_t sum = ntohs(fold(initial));
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8; /* RFC 1071: pad the odd byte with zero */
	return htons((uint16_t)~fold(sum));
}

uint16_t xlate_csum_update32(uint16_t check, uint32_t old_be, uint32_t new_be)
{
	return htons(adjust(ntohs(check), delta32(ntohl(old_be), ntohl(new_be))));
}

uint16_t xlate_csum_update16(uint16_t check, uint16_t old_be, uint16_t new_be)
{
	return htons(adjust(ntohs(check), delta16(ntohs(old_be), ntohs(new_be))));
}
