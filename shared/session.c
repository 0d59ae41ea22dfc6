/*
 * session.c - see session.h. The 16-byte DATA header is the AEAD's
 * associated data, so type, receiver index and counter are authenticated
 * along with the packet.
 */
#include "session.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "wire.h"

void session_init(struct session *s, uint32_t local_index, uint32_t remote_index,
		  const struct noise_cipher *send, const struct noise_cipher *recv,
		  bool initiator, uint64_t now_ms)
{
	memset(s, 0, sizeof(*s));
	s->local_index = local_index;
	s->remote_index = remote_index;
	s->send = *send;
	s->send.n = 0;
	memcpy(s->recv_key, recv->k, NOISE_KEY_LEN);
	replay_init(&s->replay);
	s->created_ms = now_ms;
	s->initiator = initiator;
	s->confirmed = initiator;
}

void session_wipe(struct session *s)
{
	sodium_memzero(s, sizeof(*s));
}

int session_encrypt(struct session *s, const uint8_t *pkt, size_t len, uint8_t *out, size_t cap)
{
	return session_seal(s, WIRE_TYPE_DATA, pkt, len, out, cap);
}

int session_seal(struct session *s, uint8_t type, const uint8_t *pkt, size_t len, uint8_t *out, size_t cap)
{
	if (cap < WIRE_DATA_MIN_LEN || cap - WIRE_DATA_MIN_LEN < len)
		return -ENOSPC;
	if (s->send.n >= SESSION_REJECT_AFTER_MESSAGES)
		return -ESTALE;
	struct wire_data_hdr h = { .type = type, .receiver = s->remote_index, .counter = s->send.n };
	int rc = wire_encode_data_hdr(out, cap, &h);
	if (rc < 0)
		return rc;
	rc = noise_aead_encrypt(s->send.k, h.counter, out, WIRE_DATA_HDR_LEN, pkt, len,
				    out + WIRE_DATA_HDR_LEN);
	if (rc)
		return rc;
	s->send.n++;
	return (int)(WIRE_DATA_MIN_LEN + len);
}

int session_decrypt(struct session *s, uint8_t *frame, size_t len, uint64_t counter,
		    uint8_t **pt, size_t *pt_len)
{
	if (len < WIRE_DATA_MIN_LEN)
		return -EBADMSG;
	if (!replay_check(&s->replay, counter))
		return -EALREADY;
	size_t ct_len = len - WIRE_DATA_HDR_LEN;
	uint8_t *ct = frame + WIRE_DATA_HDR_LEN;
	if (noise_aead_decrypt(s->recv_key, counter, frame, WIRE_DATA_HDR_LEN, ct, ct_len, ct))
		return -EBADMSG;
	if (!replay_update(&s->replay, counter))
		return -EALREADY;
	*pt = ct;
	*pt_len = ct_len - WIRE_TAG_LEN;
	return 0;
}

bool session_needs_rekey_by_count(const struct session *s)
{
	return s->send.n >= SESSION_REKEY_AFTER_MESSAGES;
}
