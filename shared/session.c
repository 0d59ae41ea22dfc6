/*
 * session.c - see session.h. The 16-byte DATA header is the AEAD's
 * associated data, so type, receiver index and counter are authenticated
 * along with the packet.
 *
 * The split forms (session_seal_prepare, session_open_prepare/_finish)
 * share every check with session_seal and session_decrypt through the
 * static helpers below, so the two paths cannot drift apart: the same
 * bytes, the same counters, the same replay decisions.
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

/* Checks room and counter and writes the header of the next sealed frame;
 * the counter is not taken yet. Returns 0 or -errno. */
static int seal_header(const struct session *s, uint8_t type, size_t len, uint8_t *out, size_t cap)
{
	if (cap < WIRE_DATA_MIN_LEN || cap - WIRE_DATA_MIN_LEN < len)
		return -ENOSPC;
	if (s->send.n >= SESSION_REJECT_AFTER_MESSAGES)
		return -ESTALE;
	struct wire_data_hdr h = { .type = type, .receiver = s->remote_index, .counter = s->send.n };
	int rc = wire_encode_data_hdr(out, cap, &h);
	return rc < 0 ? rc : 0;
}

int session_seal(struct session *s, uint8_t type, const uint8_t *pkt, size_t len, uint8_t *out, size_t cap)
{
	int rc = seal_header(s, type, len, out, cap);
	if (rc)
		return rc;
	rc = noise_aead_encrypt(s->send.k, s->send.n, out, WIRE_DATA_HDR_LEN, pkt, len,
				out + WIRE_DATA_HDR_LEN);
	if (rc)
		return rc;
	s->send.n++;
	return (int)(WIRE_DATA_MIN_LEN + len);
}

/* The encryption itself cannot fail once seal_header passed (the counter
 * is below the reserved nonce, len far below the cipher's limit), so
 * taking the counter here matches session_seal exactly. */
int session_seal_prepare(struct session *s, uint8_t type, size_t len, uint8_t *out, size_t cap,
			 struct crypt_job *job)
{
	int rc = seal_header(s, type, len, out, cap);
	if (rc)
		return rc;
	memcpy(job->key, s->send.k, NOISE_KEY_LEN);
	job->counter = s->send.n;
	job->frame = out;
	job->len = len;
	job->result = -EINPROGRESS;
	job->op = CRYPT_SEAL;
	s->send.n++;
	return (int)(WIRE_DATA_MIN_LEN + len);
}

/* The cheap checks before any decryption; the window is not touched. */
static int open_check(const struct session *s, size_t len, uint64_t counter)
{
	if (len < WIRE_DATA_MIN_LEN)
		return -EBADMSG;
	if (!replay_check(&s->replay, counter))
		return -EALREADY;
	return 0;
}

/* After the tag verified: the counter may still have been taken since
 * open_check (the same counter twice in one batch, or the window moved
 * past it), so replay_update has the last word. */
static int open_commit(struct session *s, uint8_t *frame, size_t len, uint64_t counter,
		       uint8_t **pt, size_t *pt_len)
{
	if (!replay_update(&s->replay, counter))
		return -EALREADY;
	*pt = frame + WIRE_DATA_HDR_LEN;
	*pt_len = len - WIRE_DATA_MIN_LEN;
	return 0;
}

int session_decrypt(struct session *s, uint8_t *frame, size_t len, uint64_t counter,
		    uint8_t **pt, size_t *pt_len)
{
	int rc = open_check(s, len, counter);
	if (rc)
		return rc;
	uint8_t *ct = frame + WIRE_DATA_HDR_LEN;
	if (noise_aead_decrypt(s->recv_key, counter, frame, WIRE_DATA_HDR_LEN, ct,
			       len - WIRE_DATA_HDR_LEN, ct))
		return -EBADMSG;
	return open_commit(s, frame, len, counter, pt, pt_len);
}

int session_open_prepare(struct session *s, uint8_t *frame, size_t len, uint64_t counter,
			 struct crypt_job *job)
{
	int rc = open_check(s, len, counter);
	if (rc)
		return rc;
	memcpy(job->key, s->recv_key, NOISE_KEY_LEN);
	job->counter = counter;
	job->frame = frame;
	job->len = len - WIRE_DATA_HDR_LEN;
	job->result = -EINPROGRESS;
	job->op = CRYPT_OPEN;
	return 0;
}

/* A job that never ran still holds -EINPROGRESS, so it is refused like a
 * forgery: unauthenticated bytes never reach the caller as plaintext. */
int session_open_finish(struct session *s, const struct crypt_job *job, uint8_t **pt, size_t *pt_len)
{
	if (job->op != CRYPT_OPEN)
		return -EINVAL;
	if (job->result != 0)
		return -EBADMSG;
	return open_commit(s, job->frame, job->len + WIRE_DATA_HDR_LEN, job->counter, pt, pt_len);
}

bool session_needs_rekey_by_count(const struct session *s)
{
	return s->send.n >= SESSION_REKEY_AFTER_MESSAGES;
}
