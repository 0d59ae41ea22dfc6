/*
 * session.h - one set of transport keys between two endpoints, as produced
 * by a completed handshake: the send key and its counter, the receive key
 * and its replay window, and the two session indices that label DATA frames.
 *
 * Invariants: a counter value is used at most once under a send key; the
 * replay window moves only after a frame authenticated. Age limits (rekey,
 * reject) are policy and live in tund's timers; this module only refuses to
 * encrypt when the counter would pass SESSION_REJECT_AFTER_MESSAGES.
 */
#ifndef TUND_SESSION_H
#define TUND_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cryptpool.h"
#include "noise.h"
#include "replay.h"

#define SESSION_REKEY_AFTER_MESSAGES (1ULL << 60)
#define SESSION_REJECT_AFTER_MESSAGES REPLAY_REJECT_AFTER

struct session {
	uint32_t local_index;     /* receivers put this in DATA frames to us */
	uint32_t remote_index;    /* we put this in DATA frames to the peer */
	struct noise_cipher send; /* key and next counter */
	uint8_t recv_key[NOISE_KEY_LEN];
	struct replay replay;
	uint64_t created_ms;      /* loop time when the keys were derived */
	bool initiator;           /* we sent message 1 */
	bool confirmed;           /* the peer proved it has the keys (initiator: always) */
};

void session_init(struct session *s, uint32_t local_index, uint32_t remote_index,
		  const struct noise_cipher *send, const struct noise_cipher *recv,
		  bool initiator, uint64_t now_ms);
void session_wipe(struct session *s);

/* Encrypts an inner packet (len may be 0: a keepalive) into a DATA frame.
 * Returns the frame length, -ENOSPC if cap is too small, -ESTALE when the
 * counter is exhausted. */
int session_encrypt(struct session *s, const uint8_t *pkt, size_t len, uint8_t *out, size_t cap);
/* The same for a frame of another sealed type (WIRE_TYPE_PROBE). */
int session_seal(struct session *s, uint8_t type, const uint8_t *pkt, size_t len, uint8_t *out, size_t cap);

/* Decrypts a DATA frame in place, given its decoded counter. On success
 * *pt points at the plaintext inside frame and the replay window has moved.
 * -EALREADY: a replay (or too old); -EBADMSG: failed authentication. */
int session_decrypt(struct session *s, uint8_t *frame, size_t len, uint64_t counter,
		    uint8_t **pt, size_t *pt_len);

/* Split forms of session_seal and session_decrypt for cryptpool.h: the
 * state changes (counter taken, replay window moved) happen here, on the
 * event loop, and only the AEAD work is left in the job.
 *
 * session_seal_prepare: the plaintext (len bytes) must already sit at
 * out + WIRE_DATA_HDR_LEN. Writes the header, takes the next counter and
 * fills job (a copy of the key; op SEAL). Returns the frame length the
 * job will produce, or -ENOSPC / -ESTALE / -EINVAL (a type that is not
 * sealed) as session_seal, taking no counter then. */
int session_seal_prepare(struct session *s, uint8_t type, size_t len, uint8_t *out, size_t cap,
			 struct crypt_job *job);
/* session_open_prepare: -EBADMSG for a frame shorter than
 * WIRE_DATA_MIN_LEN, -EALREADY when the replay window already refuses the
 * counter; else fills job (op OPEN) and returns 0. */
int session_open_prepare(struct session *s, uint8_t *frame, size_t len, uint64_t counter,
			 struct crypt_job *job);
/* session_open_finish, after the job ran: -EBADMSG when it failed
 * authentication (or never ran), -EALREADY when the counter was taken
 * meanwhile (the same counter twice in one batch, or the window moved past
 * it), -EINVAL for a job that is not an OPEN job; else moves the window and
 * sets *pt, *pt_len as session_decrypt. Finished in batch order, a batch
 * gets the decisions session_decrypt would give frame by frame, except
 * that a forgery repeating a counter earlier in its own batch is reported
 * as -EBADMSG rather than -EALREADY (rejected either way). */
int session_open_finish(struct session *s, const struct crypt_job *job, uint8_t **pt, size_t *pt_len);

bool session_needs_rekey_by_count(const struct session *s);

#endif
