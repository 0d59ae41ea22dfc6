/*
 * lanproto.c - encoder and decoder of the LAN discovery datagrams
 * (layout in lanproto.h). The decoder demands the exact length of its
 * type and zero reserved bytes, so whatever decodes encodes back to the
 * same bytes; the fuzz target (tests/fuzz/fuzz_lan.c) holds it to that.
 */
#include "lanproto.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "reader.h"

int lanproto_encode(uint8_t *buf, size_t cap, const struct lanmsg *msg)
{
	struct wr w = wr_init(buf, cap);
	size_t n = 0;

	if (msg->type == LANPROTO_ANNOUNCE) {
		if (msg->port == 0 || !medproto_server_id_ok(msg->server_id))
			return -EINVAL;
		n = strlen(msg->server_id);
	} else if (msg->type != LANPROTO_QUERY) {
		return -EINVAL;
	}
	wr_be32(&w, LANPROTO_MAGIC);
	wr_u8(&w, LANPROTO_VERSION);
	wr_u8(&w, msg->type);
	wr_be16(&w, 0);
	wr_bytes(&w, msg->system_id, UUID_LEN);
	if (msg->type == LANPROTO_ANNOUNCE) {
		wr_bytes(&w, msg->key, KEY_LEN);
		wr_be16(&w, msg->port);
		wr_u8(&w, (uint8_t)n);
		wr_bytes(&w, msg->server_id, n);
	}
	return wr_ok(&w) ? (int)w.off : -ENOSPC;
}

/* The ANNOUNCE body after the system id, into out. */
static int decode_announce(struct rd *r, struct lanmsg *out)
{
	rd_copy(r, out->key, KEY_LEN);
	out->port = rd_be16(r);
	uint8_t n = rd_u8(r);
	/* n < LANPROTO_SERVER_ID_MAX keeps the NUL; the reader bounds the copy. */
	if (n == 0 || n >= LANPROTO_SERVER_ID_MAX)
		return -EBADMSG;
	rd_copy(r, out->server_id, n);
	/* strlen catches a NUL inside the n bytes, which would hide the rest */
	if (!rd_ok(r) || rd_left(r) != 0 || out->port == 0 || strlen(out->server_id) != n ||
	    !medproto_server_id_ok(out->server_id))
		return -EBADMSG;
	uint8_t id[UUID_LEN];
	key_system_id(id, out->key);
	/* Public values: a plain comparison leaks nothing. */
	if (memcmp(id, out->system_id, UUID_LEN) != 0)
		return -EKEYREJECTED;
	return 0;
}

static int decode(const uint8_t *buf, size_t len, struct lanmsg *out)
{
	struct rd r = rd_init(buf, len);
	uint32_t magic = rd_be32(&r);
	uint8_t version = rd_u8(&r);
	out->type = rd_u8(&r);
	uint16_t reserved = rd_be16(&r);
	rd_copy(&r, out->system_id, UUID_LEN);
	if (!rd_ok(&r) || magic != LANPROTO_MAGIC || version != LANPROTO_VERSION || reserved != 0)
		return -EBADMSG;
	if (out->type == LANPROTO_QUERY)
		return rd_left(&r) == 0 ? 0 : -EBADMSG;
	if (out->type == LANPROTO_ANNOUNCE)
		return decode_announce(&r, out);
	return -EBADMSG;
}

int lanproto_decode(const uint8_t *buf, size_t len, struct lanmsg *out)
{
	memset(out, 0, sizeof(*out));
	int rc = decode(buf, len, out);
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}

bool lanproto_query_wants(const struct lanmsg *q, const uint8_t system_id[UUID_LEN])
{
	return sodium_is_zero(q->system_id, UUID_LEN) || memcmp(q->system_id, system_id, UUID_LEN) == 0;
}
