/*
 * stun.c - STUN message framing (RFC 8489 §5, §14): the strict decoder,
 * the attribute value readers and the encoder.
 *
 * Decoding reads the header and every attribute through the bounds-checked
 * reader and records where each attribute sits; nothing is trusted before
 * the whole message has been walked. Invariants a decoded stun_msg keeps:
 * every attribute (with its padding) lies inside the message, there are at
 * most STUN_MAX_ATTRS of them, FINGERPRINT (if any) is last and correct,
 * and after MESSAGE-INTEGRITY only MESSAGE-INTEGRITY-SHA256 or FINGERPRINT
 * follow (after MESSAGE-INTEGRITY-SHA256 only FINGERPRINT).
 *
 * The encoder keeps its buffer a valid message after every call: the
 * header's length field always covers the attributes written so far, so a
 * MAC computed over a reserved attribute's prefix sees the right length
 * (RFC 8489 §14.5). It refuses to write what the decoder would refuse:
 * more than STUN_MAX_ATTRS attributes, more than STUN_MAX_MSG bytes, or
 * anything after FINGERPRINT.
 */
#include "stun.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "reader.h"

static size_t pad4(size_t n) { return (n + 3) & ~(size_t)3; }

/* Message type bits (§5): M11..M7 C1 M6..M4 C0 M3..M0. */
static uint16_t type_encode(uint16_t method, enum stun_class cls)
{
	unsigned c = (unsigned)cls;
	return (uint16_t)((method & 0x000F) | (method & 0x0070) << 1 | (method & 0x0F80) << 2 |
			  (c & 1) << 4 | (c & 2) << 7);
}

static void type_decode(uint16_t t, uint16_t *method, enum stun_class *cls)
{
	*method = (uint16_t)((t & 0x000F) | (t >> 1 & 0x0070) | (t >> 2 & 0x0F80));
	*cls = (enum stun_class)((t >> 4 & 1) | (t >> 7 & 2));
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reflected CRC-32, polynomial 0xEDB88320, four bits per step: a 16-entry
 * table is enough for messages of at most 1500 bytes. */
uint32_t stun_crc32(const uint8_t *buf, size_t len)
{
	static const uint32_t nibble[16] = {
		0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4,
		0x4db26158, 0x5005713c, 0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
		0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
	};
	uint32_t c = 0xFFFFFFFFu;
	for (size_t i = 0; i < len; i++) {
		c ^= buf[i];
		c = (c >> 4) ^ nibble[c & 0xF];
		c = (c >> 4) ^ nibble[c & 0xF];
	}
	return c ^ 0xFFFFFFFFu;
}

bool stun_is_stun(const uint8_t *buf, size_t len)
{
	return len >= STUN_HDR_LEN && (buf[0] & 0xC0) == 0 && get_be32(buf + 4) == STUN_MAGIC;
}

int stun_frame_len(const uint8_t *buf, size_t len)
{
	if (len < STUN_HDR_LEN)
		return 0;
	if (!stun_is_stun(buf, len))
		return -EBADMSG;
	size_t body = (size_t)buf[2] << 8 | buf[3];
	if (body % 4 != 0 || STUN_HDR_LEN + body > STUN_MAX_MSG)
		return -EBADMSG;
	return (int)(STUN_HDR_LEN + body);
}

/* Ordering rules for what follows MESSAGE-INTEGRITY(-SHA256) and
 * FINGERPRINT (§14.5-§14.7); prev is the strictest seen so far. */
enum tail { TAIL_NONE, TAIL_MI, TAIL_MI256, TAIL_FP };

static int tail_next(enum tail *t, uint16_t type)
{
	switch (*t) {
	case TAIL_FP:
		return -EBADMSG;
	case TAIL_MI256:
		if (type != STUN_ATTR_FINGERPRINT)
			return -EBADMSG;
		break;
	case TAIL_MI:
		if (type != STUN_ATTR_FINGERPRINT && type != STUN_ATTR_MESSAGE_INTEGRITY_SHA256)
			return -EBADMSG;
		break;
	case TAIL_NONE:
		break;
	}
	if (type == STUN_ATTR_FINGERPRINT)
		*t = TAIL_FP;
	else if (type == STUN_ATTR_MESSAGE_INTEGRITY_SHA256)
		*t = TAIL_MI256;
	else if (type == STUN_ATTR_MESSAGE_INTEGRITY)
		*t = TAIL_MI;
	return 0;
}

/* FINGERPRINT covers everything before it, header length included. */
static bool fingerprint_ok(const uint8_t *buf, const struct stun_attr *a)
{
	return a->len == 4 && get_be32(a->val) == (stun_crc32(buf, a->off) ^ STUN_FP_XOR);
}

int stun_decode(const uint8_t *buf, size_t len, struct stun_msg *m)
{
	if (len < STUN_HDR_LEN || len > STUN_MAX_MSG)
		return -EBADMSG;
	struct rd r = rd_init(buf, len);
	uint16_t type = rd_be16(&r);
	uint16_t body = rd_be16(&r);
	uint32_t magic = rd_be32(&r);
	memset(m, 0, sizeof(*m));
	rd_copy(&r, m->txid, STUN_TXID_LEN);
	if ((type & 0xC000) || magic != STUN_MAGIC || body % 4 != 0 || body != len - STUN_HDR_LEN)
		return -EBADMSG;
	type_decode(type, &m->method, &m->cls);

	enum tail tail = TAIL_NONE;
	while (rd_ok(&r) && rd_left(&r) > 0) {
		struct stun_attr a;
		a.off = r.off;
		a.type = rd_be16(&r);
		a.len = rd_be16(&r);
		a.val = rd_take(&r, a.len);
		rd_skip(&r, pad4(a.len) - a.len); /* padding value ignored (§14) */
		if (!rd_ok(&r) || m->n_attrs == STUN_MAX_ATTRS || tail_next(&tail, a.type) < 0)
			return -EBADMSG;
		if (a.type == STUN_ATTR_FINGERPRINT) {
			if (!fingerprint_ok(buf, &a))
				return -EBADMSG;
			m->has_fingerprint = true;
		}
		m->attrs[m->n_attrs++] = a;
	}
	if (!rd_ok(&r))
		return -EBADMSG;
	m->buf = buf;
	m->len = len;
	return 0;
}

const struct stun_attr *stun_find(const struct stun_msg *m, uint16_t type)
{
	for (unsigned i = 0; i < m->n_attrs; i++)
		if (m->attrs[i].type == type)
			return &m->attrs[i];
	return NULL;
}

/* §14.1: a reserved byte (ignored on receive), family 1 (IPv4) or 2
 * (IPv6), port, and 4 or 16 address bytes. */
int stun_attr_addr(const struct stun_attr *a, struct stun_addr *out)
{
	struct rd r = rd_init(a->val, a->len);
	rd_skip(&r, 1);
	uint8_t family = rd_u8(&r);
	uint16_t port = rd_be16(&r);
	size_t alen = family == 1 ? 4 : family == 2 ? 16 : 0;
	if (!rd_ok(&r) || alen == 0 || rd_left(&r) != alen)
		return -EBADMSG;
	memset(out, 0, sizeof(*out));
	out->family = family == 1 ? 4 : 6;
	out->port = port;
	rd_copy(&r, out->addr, alen);
	return 0;
}

/* §14.2: the port XOR the top of the cookie, the address XOR the cookie
 * (IPv4) or the cookie and transaction id (IPv6). */
static void xor_addr(const uint8_t txid[STUN_TXID_LEN], struct stun_addr *a)
{
	uint8_t pad[16];
	put_be32(pad, STUN_MAGIC);
	memcpy(pad + 4, txid, STUN_TXID_LEN);
	a->port ^= (uint16_t)(STUN_MAGIC >> 16);
	for (size_t i = 0; i < (a->family == 4 ? 4u : 16u); i++)
		a->addr[i] ^= pad[i];
}

int stun_attr_xor_addr(const struct stun_msg *m, const struct stun_attr *a, struct stun_addr *out)
{
	int err = stun_attr_addr(a, out);
	if (err < 0)
		return err;
	xor_addr(m->txid, out);
	return 0;
}

/* §14.8: 21 reserved bits, a 3-bit class (3..6), a number 0..99, then
 * the reason phrase. */
int stun_attr_error(const struct stun_attr *a, unsigned *code, const char **reason, size_t *reason_len)
{
	struct rd r = rd_init(a->val, a->len);
	rd_skip(&r, 2);
	unsigned cls = rd_u8(&r) & 0x07;
	unsigned num = rd_u8(&r);
	if (!rd_ok(&r) || cls < 3 || cls > 6 || num > 99)
		return -EBADMSG;
	*code = cls * 100 + num;
	*reason = (const char *)a->val + 4;
	*reason_len = a->len - 4u;
	return 0;
}

int stun_attr_u32(const struct stun_attr *a, uint32_t *out)
{
	if (a->len != 4)
		return -EBADMSG;
	*out = get_be32(a->val);
	return 0;
}

void stun_addr_from_endpoint(struct stun_addr *out, const struct endpoint *ep)
{
	memset(out, 0, sizeof(*out));
	out->family = 4;
	out->port = ep->port;
	put_be32(out->addr, ep->addr);
}

int stun_addr_to_endpoint(const struct stun_addr *a, struct endpoint *out)
{
	if (a->family != 4)
		return -EAFNOSUPPORT;
	out->addr = get_be32(a->addr);
	out->port = a->port;
	return 0;
}

/* ---- encoder ---- */

static void set_length(struct stun_writer *w)
{
	put_be16(w->buf + 2, (uint16_t)(w->len - STUN_HDR_LEN));
}

void stun_begin(struct stun_writer *w, uint8_t *buf, size_t cap, uint16_t method,
		enum stun_class cls, const uint8_t txid[STUN_TXID_LEN])
{
	w->buf = buf;
	w->cap = cap < STUN_MAX_MSG ? cap : STUN_MAX_MSG;
	w->len = 0;
	w->err = 0;
	if (method > 0x0FFF || (unsigned)cls > STUN_ERROR) {
		w->err = -EINVAL;
		return;
	}
	if (w->cap < STUN_HDR_LEN) {
		w->err = -ENOSPC;
		return;
	}
	put_be16(buf, type_encode(method, cls));
	put_be32(buf + 4, STUN_MAGIC);
	memcpy(buf + 8, txid, STUN_TXID_LEN);
	w->len = STUN_HDR_LEN;
	set_length(w);
}

/* Walks what has been written (a valid message by construction): the
 * number of attributes and whether the last one is FINGERPRINT. */
static unsigned written_attrs(const struct stun_writer *w, bool *fp_last)
{
	unsigned n = 0;
	*fp_last = false;
	for (size_t off = STUN_HDR_LEN; off + 4 <= w->len; n++) {
		uint16_t type = (uint16_t)(w->buf[off] << 8 | w->buf[off + 1]);
		size_t alen = (size_t)w->buf[off + 2] << 8 | w->buf[off + 3];
		*fp_last = type == STUN_ATTR_FINGERPRINT;
		off += 4 + pad4(alen);
	}
	return n;
}

uint8_t *stun_reserve(struct stun_writer *w, uint16_t type, size_t len)
{
	bool fp_last;
	if (w->err)
		return NULL;
	if (len > 0xFFFF || written_attrs(w, &fp_last) >= STUN_MAX_ATTRS || fp_last) {
		w->err = -EINVAL;
		return NULL;
	}
	if (w->cap - w->len < 4 + pad4(len)) {
		w->err = -ENOSPC;
		return NULL;
	}
	uint8_t *p = w->buf + w->len;
	put_be16(p, type);
	put_be16(p + 2, (uint16_t)len);
	memset(p + 4, 0, pad4(len));
	w->len += 4 + pad4(len);
	set_length(w);
	return p + 4;
}

void stun_put(struct stun_writer *w, uint16_t type, const void *val, size_t len)
{
	uint8_t *p = stun_reserve(w, type, len);
	if (p && len)
		memcpy(p, val, len);
}

void stun_put_u32(struct stun_writer *w, uint16_t type, uint32_t v)
{
	uint8_t *p = stun_reserve(w, type, 4);
	if (p)
		put_be32(p, v);
}

static void put_addr(struct stun_writer *w, uint16_t type, const struct stun_addr *a)
{
	if (!w->err && a->family != 4 && a->family != 6) {
		w->err = -EINVAL;
		return;
	}
	size_t alen = a->family == 4 ? 4 : 16;
	uint8_t *p = stun_reserve(w, type, 4 + alen);
	if (!p)
		return;
	p[1] = a->family == 4 ? 1 : 2;
	put_be16(p + 2, a->port);
	memcpy(p + 4, a->addr, alen);
}

void stun_put_addr(struct stun_writer *w, uint16_t type, const struct stun_addr *a)
{
	put_addr(w, type, a);
}

void stun_put_xor_addr(struct stun_writer *w, uint16_t type, const struct stun_addr *a)
{
	struct stun_addr x = *a;
	if (w->err)
		return;
	xor_addr(w->buf + 8, &x);
	put_addr(w, type, &x);
}

void stun_put_error(struct stun_writer *w, unsigned code, const char *reason)
{
	size_t rlen = reason ? strlen(reason) : 0;
	if (!w->err && (code < 300 || code > 699 || rlen > 763)) {
		w->err = -EINVAL;
		return;
	}
	uint8_t *p = stun_reserve(w, STUN_ATTR_ERROR_CODE, 4 + rlen);
	if (!p)
		return;
	p[2] = (uint8_t)(code / 100);
	p[3] = (uint8_t)(code % 100);
	if (rlen)
		memcpy(p + 4, reason, rlen);
}

void stun_put_fingerprint(struct stun_writer *w)
{
	uint8_t *p = stun_reserve(w, STUN_ATTR_FINGERPRINT, 4);
	if (p)
		put_be32(p, stun_crc32(w->buf, w->len - 8) ^ STUN_FP_XOR);
}

int stun_end(struct stun_writer *w)
{
	return w->err ? w->err : (int)w->len;
}

void stun_new_txid(uint8_t txid[STUN_TXID_LEN])
{
	randombytes_buf(txid, STUN_TXID_LEN);
}
