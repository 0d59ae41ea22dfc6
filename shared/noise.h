/*
 * noise.h - the Noise Protocol Framework (revision 34) for the patterns tund
 * uses, IK and IKpsk2, with DH 25519, cipher ChaChaPoly and hash BLAKE2b,
 * all primitives from libsodium. Verified against the public cacophony test
 * vectors (tests/vectors/).
 *
 * A handshake object is a plain value embedded by its owner; secrets live
 * in its fixed arrays and noise_handshake_wipe() clears them. Functions
 * return 0 or a negative errno: -EBADMSG for a message that fails to
 * authenticate or has the wrong length, -EINVAL for misuse (wrong turn),
 * -ENOSPC when the output buffer is too small.
 */
#ifndef TUND_NOISE_H
#define TUND_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NOISE_DH_LEN   32
#define NOISE_KEY_LEN  32
#define NOISE_HASH_LEN 64 /* BLAKE2b */
#define NOISE_TAG_LEN  16
#define NOISE_PSK_LEN  32
#define NOISE_MAX_NONCE UINT64_MAX /* 2^64-1 is reserved by the spec */

enum noise_pattern {
	NOISE_IK,     /* <- s ... -> e, es, s, ss  <- e, ee, se */
	NOISE_IKPSK2, /* as IK, with "psk" at the end of message 2 */
};

struct noise_symmetric {
	uint8_t ck[NOISE_HASH_LEN];
	uint8_t h[NOISE_HASH_LEN];
	uint8_t k[NOISE_KEY_LEN];
	bool has_k;
	uint64_t n;
};

struct noise_handshake {
	enum noise_pattern pattern;
	bool initiator;
	int msg_index; /* next message to write or read: 0, 1, then 2 = done */
	struct noise_symmetric ss;
	uint8_t s_priv[NOISE_DH_LEN], s_pub[NOISE_DH_LEN];
	uint8_t e_priv[NOISE_DH_LEN], e_pub[NOISE_DH_LEN];
	bool has_e;
	uint8_t rs[NOISE_DH_LEN]; /* remote static: given to an initiator, learned by a responder */
	uint8_t re[NOISE_DH_LEN];
	uint8_t psk[NOISE_PSK_LEN];
};

/* Transport cipher state after Split(): key and next nonce. */
struct noise_cipher {
	uint8_t k[NOISE_KEY_LEN];
	uint64_t n;
};

/* rs is required for an initiator and ignored for a responder; psk is
 * required for NOISE_IKPSK2 and ignored for NOISE_IK. */
int noise_handshake_init(struct noise_handshake *hs, enum noise_pattern pattern, bool initiator,
			 const uint8_t *prologue, size_t prologue_len,
			 const uint8_t s_priv[NOISE_DH_LEN], const uint8_t rs[NOISE_DH_LEN],
			 const uint8_t psk[NOISE_PSK_LEN]);

/* Test vectors fix the ephemeral key; otherwise one is generated when the
 * first "e" token is written. */
void noise_handshake_set_ephemeral(struct noise_handshake *hs, const uint8_t e_priv[NOISE_DH_LEN]);

int noise_write_message(struct noise_handshake *hs, const uint8_t *payload, size_t payload_len,
			uint8_t *out, size_t cap, size_t *out_len);
int noise_read_message(struct noise_handshake *hs, const uint8_t *msg, size_t msg_len,
		       uint8_t *payload, size_t cap, size_t *payload_len);

bool noise_handshake_done(const struct noise_handshake *hs);

/* After both messages: the transport keys for this side (send, recv) and the
 * handshake hash (channel binding). Wipe the handshake afterwards. */
int noise_handshake_split(const struct noise_handshake *hs, struct noise_cipher *send,
			  struct noise_cipher *recv);
void noise_handshake_hash(const struct noise_handshake *hs, uint8_t out[NOISE_HASH_LEN]);
void noise_handshake_wipe(struct noise_handshake *hs);

/* Transport: ChaCha20-Poly1305 (IETF) with nonce = 4 zero bytes || le64(n).
 * out must hold len + NOISE_TAG_LEN (encrypt) or len - NOISE_TAG_LEN
 * (decrypt); in-place operation (out == in) is allowed. */
int noise_aead_encrypt(const uint8_t key[NOISE_KEY_LEN], uint64_t n, const uint8_t *ad, size_t ad_len,
		       const uint8_t *in, size_t len, uint8_t *out);
int noise_aead_decrypt(const uint8_t key[NOISE_KEY_LEN], uint64_t n, const uint8_t *ad, size_t ad_len,
		       const uint8_t *in, size_t len, uint8_t *out);

/* Counter-driven helpers used by the vector tests: use c->n, then advance. */
int noise_cipher_encrypt(struct noise_cipher *c, const uint8_t *ad, size_t ad_len,
			 const uint8_t *in, size_t len, uint8_t *out);
int noise_cipher_decrypt(struct noise_cipher *c, const uint8_t *ad, size_t ad_len,
			 const uint8_t *in, size_t len, uint8_t *out);

/* BLAKE2b helpers shared with handshake.c (mac1, ids). */
void noise_hash(uint8_t *out, size_t out_len, const uint8_t *a, size_t a_len,
		const uint8_t *b, size_t b_len);
void noise_mac(uint8_t *out, size_t out_len, const uint8_t *key, size_t key_len,
	       const uint8_t *msg, size_t msg_len);

#endif
