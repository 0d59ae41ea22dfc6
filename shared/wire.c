/*
 * wire.c - encoders and decoders for the frames described in wire.h.
 * Decoders go through the bounds-checked reader and demand exact lengths
 * for handshake frames and zero reserved bytes everywhere, so a frame that
 * decodes has exactly the shape the header documents.
 */
#include "wire.h"

#include <errno.h>

#include "reader.h"

int wire_type(const uint8_t *buf, size_t len)
{
	return len ? buf[0] : 0;
}

static bool reserved_zero(struct rd *r)
{
	const uint8_t *z = rd_take(r, 3);
	return z && !z[0] && !z[1] && !z[2];
}

int wire_decode_init(const uint8_t *buf, size_t len, struct wire_init *out)
{
	struct rd r = rd_init(buf, len);
	if (len != WIRE_INIT_LEN || rd_u8(&r) != WIRE_TYPE_HANDSHAKE_INIT || !reserved_zero(&r))
		return -EBADMSG;
	out->sender = rd_le32(&r);
	rd_copy(&r, out->noise, sizeof(out->noise));
	rd_copy(&r, out->mac1, sizeof(out->mac1));
	return rd_ok(&r) && rd_left(&r) == 0 ? 0 : -EBADMSG;
}

int wire_decode_resp(const uint8_t *buf, size_t len, struct wire_resp *out)
{
	struct rd r = rd_init(buf, len);
	if (len != WIRE_RESP_LEN || rd_u8(&r) != WIRE_TYPE_HANDSHAKE_RESP || !reserved_zero(&r))
		return -EBADMSG;
	out->sender = rd_le32(&r);
	out->receiver = rd_le32(&r);
	rd_copy(&r, out->noise, sizeof(out->noise));
	rd_copy(&r, out->mac1, sizeof(out->mac1));
	return rd_ok(&r) && rd_left(&r) == 0 ? 0 : -EBADMSG;
}

int wire_decode_data_hdr(const uint8_t *buf, size_t len, struct wire_data_hdr *out)
{
	struct rd r = rd_init(buf, len);
	if (len < WIRE_DATA_MIN_LEN || len > WIRE_MAX_DATAGRAM)
		return -EBADMSG;
	out->type = rd_u8(&r);
	if ((out->type != WIRE_TYPE_DATA && out->type != WIRE_TYPE_PROBE) || !reserved_zero(&r))
		return -EBADMSG;
	out->receiver = rd_le32(&r);
	out->counter = rd_le64(&r);
	return rd_ok(&r) ? 0 : -EBADMSG;
}

static void put_type(struct wr *w, uint8_t type)
{
	wr_u8(w, type);
	wr_zero(w, 3);
}

int wire_encode_init(uint8_t *buf, size_t cap, const struct wire_init *m)
{
	struct wr w = wr_init(buf, cap);
	put_type(&w, WIRE_TYPE_HANDSHAKE_INIT);
	wr_le32(&w, m->sender);
	wr_bytes(&w, m->noise, sizeof(m->noise));
	wr_bytes(&w, m->mac1, sizeof(m->mac1));
	return wr_ok(&w) ? (int)w.off : -ENOSPC;
}

int wire_encode_resp(uint8_t *buf, size_t cap, const struct wire_resp *m)
{
	struct wr w = wr_init(buf, cap);
	put_type(&w, WIRE_TYPE_HANDSHAKE_RESP);
	wr_le32(&w, m->sender);
	wr_le32(&w, m->receiver);
	wr_bytes(&w, m->noise, sizeof(m->noise));
	wr_bytes(&w, m->mac1, sizeof(m->mac1));
	return wr_ok(&w) ? (int)w.off : -ENOSPC;
}

int wire_encode_data_hdr(uint8_t *buf, size_t cap, const struct wire_data_hdr *h)
{
	struct wr w = wr_init(buf, cap);
	if (h->type != WIRE_TYPE_DATA && h->type != WIRE_TYPE_PROBE)
		return -EINVAL;
	put_type(&w, h->type);
	wr_le32(&w, h->receiver);
	wr_le64(&w, h->counter);
	return wr_ok(&w) ? (int)w.off : -ENOSPC;
}
