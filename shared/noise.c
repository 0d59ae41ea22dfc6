/*
 * noise.c - the Noise Protocol Framework, revision 34, for exactly the two
 * patterns tund speaks (IK and IKpsk2) over 25519 / ChaChaPoly / BLAKE2b.
 * Every primitive comes from libsodium; what libsodium lacks (HMAC-BLAKE2b,
 * which is not the same thing as keyed BLAKE2b, and Noise's HKDF) is built
 * here from crypto_generichash_blake2b, following RFC 2104 and Noise §4.3.
 *
 * Invariants:
 *  - A message is processed on a private copy of the handshake and copied
 *    back only when every token and the payload succeeded, so a forged,
 *    truncated or misdirected message leaves the caller's state exactly as
 *    it was (Noise §5.3 leaves failure handling to the application; we pick
 *    "unchanged", which lets a real message still arrive after a forgery).
 *  - Every buffer that held key material, DH output, an HKDF or HMAC
 *    intermediate or a hash state is wiped with sodium_memzero before the
 *    function that owns it returns, on success and failure alike.
 *  - Nonce 2^64-1 is never used (Noise §5.1 reserves it).
 */
#include "noise.h"
#include "reader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define NOISE_BLOCK_LEN 128   /* BLAKE2b block size, the HMAC pad length */
#define NOISE_MSG_MAX   65535 /* Noise §3: no handshake message is longer */

_Static_assert(NOISE_DH_LEN == crypto_scalarmult_curve25519_BYTES, "X25519 sizes");
_Static_assert(NOISE_KEY_LEN == crypto_aead_chacha20poly1305_ietf_KEYBYTES, "key size");
_Static_assert(NOISE_TAG_LEN == crypto_aead_chacha20poly1305_ietf_ABYTES, "tag size");
_Static_assert(NOISE_HASH_LEN == crypto_generichash_blake2b_BYTES_MAX, "BLAKE2b-512");

static const char *const protocol_names[] = {
	[NOISE_IK] = "Noise_IK_25519_ChaChaPoly_BLAKE2b",
	[NOISE_IKPSK2] = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2b",
};

/* Message patterns (Noise §7.5 IK, §9.4 psk2 modifier). */
enum token { TOK_END, TOK_E, TOK_S, TOK_EE, TOK_ES, TOK_SE, TOK_SS, TOK_PSK };

static const enum token ik_msgs[2][5] = {
	{ TOK_E, TOK_ES, TOK_S, TOK_SS, TOK_END },
	{ TOK_E, TOK_EE, TOK_SE, TOK_END },
};
static const enum token ikpsk2_msgs[2][5] = {
	{ TOK_E, TOK_ES, TOK_S, TOK_SS, TOK_END },
	{ TOK_E, TOK_EE, TOK_SE, TOK_PSK, TOK_END },
};

/* libsodium wants real pointers even for zero-length inputs and outputs. */
static const uint8_t empty_in[1];

/* ---- BLAKE2b, HMAC, HKDF ------------------------------------------------ */

/* A wrong length here is a bug in the caller, never peer input: stop. */
static void blake2b_or_die(int rc)
{
	if (rc != 0)
		abort();
}

/* BLAKE2b over up to three concatenated parts, without a join buffer. */
static void hash3(uint8_t *out, size_t out_len, const uint8_t *a, size_t a_len,
		  const uint8_t *b, size_t b_len, const uint8_t *c, size_t c_len)
{
	crypto_generichash_blake2b_state st;

	blake2b_or_die(crypto_generichash_blake2b_init(&st, NULL, 0, out_len));
	if (a_len)
		crypto_generichash_blake2b_update(&st, a, a_len);
	if (b_len)
		crypto_generichash_blake2b_update(&st, b, b_len);
	if (c_len)
		crypto_generichash_blake2b_update(&st, c, c_len);
	crypto_generichash_blake2b_final(&st, out, out_len);
	sodium_memzero(&st, sizeof(st));
}

void noise_hash(uint8_t *out, size_t out_len, const uint8_t *a, size_t a_len,
		const uint8_t *b, size_t b_len)
{
	hash3(out, out_len, a, a_len, b, b_len, NULL, 0);
}

void noise_mac(uint8_t *out, size_t out_len, const uint8_t *key, size_t key_len,
	       const uint8_t *msg, size_t msg_len)
{
	blake2b_or_die(crypto_generichash_blake2b(out, out_len, msg_len ? msg : empty_in, msg_len,
						  key, key_len));
}

/* RFC 2104 over BLAKE2b: H((K ^ opad) || H((K ^ ipad) || a || b)). The
 * message comes in two parts so HKDF can append its counter byte without
 * a concatenation buffer. */
static void hmac(uint8_t out[NOISE_HASH_LEN], const uint8_t *key, size_t key_len,
		 const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
	uint8_t kb[NOISE_BLOCK_LEN] = { 0 };
	uint8_t pad[NOISE_BLOCK_LEN];
	uint8_t inner[NOISE_HASH_LEN];

	if (key_len > NOISE_BLOCK_LEN)
		noise_hash(kb, NOISE_HASH_LEN, key, key_len, NULL, 0);
	else
		memcpy(kb, key, key_len);

	for (size_t i = 0; i < sizeof(pad); i++)
		pad[i] = kb[i] ^ 0x36;
	hash3(inner, sizeof(inner), pad, sizeof(pad), a, a_len, b, b_len);

	for (size_t i = 0; i < sizeof(pad); i++)
		pad[i] = kb[i] ^ 0x5c;
	noise_hash(out, NOISE_HASH_LEN, pad, sizeof(pad), inner, sizeof(inner));

	sodium_memzero(kb, sizeof(kb));
	sodium_memzero(pad, sizeof(pad));
	sodium_memzero(inner, sizeof(inner));
}

/* Noise §4.3 HKDF with two or three outputs (o3 may be NULL). Outputs are
 * written only after the chaining key has been consumed, so o1 may alias ck. */
static void hkdf(uint8_t o1[NOISE_HASH_LEN], uint8_t o2[NOISE_HASH_LEN], uint8_t *o3,
		 const uint8_t ck[NOISE_HASH_LEN], const uint8_t *ikm, size_t ikm_len)
{
	static const uint8_t one = 1, two = 2, three = 3;
	uint8_t prk[NOISE_HASH_LEN], t1[NOISE_HASH_LEN], t2[NOISE_HASH_LEN];

	hmac(prk, ck, NOISE_HASH_LEN, ikm, ikm_len, NULL, 0);
	hmac(t1, prk, sizeof(prk), &one, 1, NULL, 0);
	hmac(t2, prk, sizeof(prk), t1, sizeof(t1), &two, 1);
	if (o3)
		hmac(o3, prk, sizeof(prk), t2, sizeof(t2), &three, 1);
	memcpy(o1, t1, sizeof(t1));
	memcpy(o2, t2, sizeof(t2));

	sodium_memzero(prk, sizeof(prk));
	sodium_memzero(t1, sizeof(t1));
	sodium_memzero(t2, sizeof(t2));
}

/* ---- AEAD (Noise §12.3 ChaChaPoly) --------------------------------------- */

static void make_nonce(uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES], uint64_t n)
{
	struct wr w = wr_init(nonce, crypto_aead_chacha20poly1305_ietf_NPUBBYTES);
	wr_zero(&w, 4);
	wr_le64(&w, n);
}

int noise_aead_encrypt(const uint8_t key[NOISE_KEY_LEN], uint64_t n, const uint8_t *ad, size_t ad_len,
		       const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];

	if (n == NOISE_MAX_NONCE || len > crypto_aead_chacha20poly1305_ietf_MESSAGEBYTES_MAX)
		return -EINVAL;
	make_nonce(nonce, n);
	crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, len ? in : empty_in, len,
						  ad_len ? ad : empty_in, ad_len, NULL, nonce, key);
	return 0;
}

int noise_aead_decrypt(const uint8_t key[NOISE_KEY_LEN], uint64_t n, const uint8_t *ad, size_t ad_len,
		       const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
	uint8_t scratch[1];

	/* A peer claiming the reserved nonce is sending garbage, not misusing us. */
	if (n == NOISE_MAX_NONCE || len < NOISE_TAG_LEN)
		return -EBADMSG;
	make_nonce(nonce, n);
	if (crypto_aead_chacha20poly1305_ietf_decrypt(len > NOISE_TAG_LEN ? out : scratch, NULL, NULL,
						      in, len, ad_len ? ad : empty_in, ad_len,
						      nonce, key) != 0)
		return -EBADMSG;
	return 0;
}

int noise_cipher_encrypt(struct noise_cipher *c, const uint8_t *ad, size_t ad_len,
			 const uint8_t *in, size_t len, uint8_t *out)
{
	int rc = noise_aead_encrypt(c->k, c->n, ad, ad_len, in, len, out);
	if (rc == 0)
		c->n++;
	return rc;
}

/* Noise §5.1: a failed decryption does not consume the nonce. */
int noise_cipher_decrypt(struct noise_cipher *c, const uint8_t *ad, size_t ad_len,
			 const uint8_t *in, size_t len, uint8_t *out)
{
	int rc = noise_aead_decrypt(c->k, c->n, ad, ad_len, in, len, out);
	if (rc == 0)
		c->n++;
	return rc;
}

/* ---- SymmetricState (Noise §5.2) ---------------------------------------- */

static void mix_hash(struct noise_symmetric *ss, const uint8_t *data, size_t len)
{
	noise_hash(ss->h, NOISE_HASH_LEN, ss->h, NOISE_HASH_LEN, data, len);
}

static void symmetric_init(struct noise_symmetric *ss, const char *name)
{
	size_t len = strlen(name);

	memset(ss, 0, sizeof(*ss));
	if (len <= NOISE_HASH_LEN)
		memcpy(ss->h, name, len); /* zero-padded to HASHLEN */
	else
		noise_hash(ss->h, NOISE_HASH_LEN, (const uint8_t *)name, len, NULL, 0);
	memcpy(ss->ck, ss->h, NOISE_HASH_LEN); /* no key yet: has_k false, n 0 */
}

/* HASHLEN is 64, so the cipher key is the first 32 bytes (Noise §5.2). */
static void mix_key(struct noise_symmetric *ss, const uint8_t *ikm, size_t ikm_len)
{
	uint8_t tk[NOISE_HASH_LEN];

	hkdf(ss->ck, tk, NULL, ss->ck, ikm, ikm_len);
	memcpy(ss->k, tk, NOISE_KEY_LEN);
	ss->has_k = true;
	ss->n = 0;
	sodium_memzero(tk, sizeof(tk));
}

static void mix_key_and_hash(struct noise_symmetric *ss, const uint8_t *ikm, size_t ikm_len)
{
	uint8_t th[NOISE_HASH_LEN], tk[NOISE_HASH_LEN];

	hkdf(ss->ck, th, tk, ss->ck, ikm, ikm_len);
	mix_hash(ss, th, sizeof(th));
	memcpy(ss->k, tk, NOISE_KEY_LEN);
	ss->has_k = true;
	ss->n = 0;
	sodium_memzero(th, sizeof(th));
	sodium_memzero(tk, sizeof(tk));
}

/* Writes len (+ tag once a key exists) bytes through w, then hashes them. */
static int encrypt_and_hash(struct noise_symmetric *ss, struct wr *w, const uint8_t *in, size_t len)
{
	size_t out_len = len + (ss->has_k ? NOISE_TAG_LEN : 0);
	uint8_t *out = wr_take(w, out_len);

	if (!out)
		return -ENOSPC;
	if (!ss->has_k) {
		if (len)
			memcpy(out, in, len);
	} else {
		int rc = noise_aead_encrypt(ss->k, ss->n, ss->h, NOISE_HASH_LEN, in, len, out);
		if (rc)
			return rc;
		ss->n++;
	}
	mix_hash(ss, out, out_len);
	return 0;
}

/* The next h is computed from the ciphertext before decrypting, so the
 * result is right even if out overlaps the message. */
static int decrypt_and_hash(struct noise_symmetric *ss, const uint8_t *in, size_t in_len, uint8_t *out)
{
	uint8_t h_next[NOISE_HASH_LEN];
	int rc = 0;

	noise_hash(h_next, sizeof(h_next), ss->h, NOISE_HASH_LEN, in, in_len);
	if (!ss->has_k) {
		if (in_len)
			memmove(out, in, in_len);
	} else {
		rc = noise_aead_decrypt(ss->k, ss->n, ss->h, NOISE_HASH_LEN, in, in_len, out);
		if (rc == 0)
			ss->n++;
	}
	if (rc == 0)
		memcpy(ss->h, h_next, sizeof(h_next));
	sodium_memzero(h_next, sizeof(h_next));
	return rc;
}

/* ---- HandshakeState (Noise §5.3) ---------------------------------------- */

static bool valid_state(const struct noise_handshake *hs)
{
	return (hs->pattern == NOISE_IK || hs->pattern == NOISE_IKPSK2) && hs->msg_index >= 0 &&
	       hs->msg_index <= 2;
}

int noise_handshake_init(struct noise_handshake *hs, enum noise_pattern pattern, bool initiator,
			 const uint8_t *prologue, size_t prologue_len,
			 const uint8_t s_priv[NOISE_DH_LEN], const uint8_t rs[NOISE_DH_LEN],
			 const uint8_t psk[NOISE_PSK_LEN])
{
	sodium_memzero(hs, sizeof(*hs));
	hs->msg_index = -1; /* unusable until every check below has passed */
	if ((pattern != NOISE_IK && pattern != NOISE_IKPSK2) || !s_priv ||
	    (initiator && !rs) || (pattern == NOISE_IKPSK2 && !psk) || (prologue_len && !prologue))
		return -EINVAL;
	if (sodium_init() < 0)
		return -EIO;

	hs->pattern = pattern;
	hs->initiator = initiator;
	memcpy(hs->s_priv, s_priv, NOISE_DH_LEN);
	if (crypto_scalarmult_curve25519_base(hs->s_pub, hs->s_priv) != 0) {
		noise_handshake_wipe(hs);
		return -EINVAL;
	}
	if (initiator)
		memcpy(hs->rs, rs, NOISE_DH_LEN);
	if (pattern == NOISE_IKPSK2)
		memcpy(hs->psk, psk, NOISE_PSK_LEN);

	symmetric_init(&hs->ss, protocol_names[pattern]);
	mix_hash(&hs->ss, prologue, prologue_len);
	/* Pre-message "<- s": both sides hash the responder's static key. */
	mix_hash(&hs->ss, initiator ? hs->rs : hs->s_pub, NOISE_DH_LEN);
	hs->msg_index = 0;
	return 0;
}

void noise_handshake_set_ephemeral(struct noise_handshake *hs, const uint8_t e_priv[NOISE_DH_LEN])
{
	memcpy(hs->e_priv, e_priv, NOISE_DH_LEN);
	hs->has_e = crypto_scalarmult_curve25519_base(hs->e_pub, hs->e_priv) == 0;
}

bool noise_handshake_done(const struct noise_handshake *hs)
{
	return hs->msg_index == 2;
}

void noise_handshake_wipe(struct noise_handshake *hs)
{
	sodium_memzero(hs, sizeof(*hs));
	hs->msg_index = -1; /* a wiped handshake refuses every further call */
}

void noise_handshake_hash(const struct noise_handshake *hs, uint8_t out[NOISE_HASH_LEN])
{
	memcpy(out, hs->ss.h, NOISE_HASH_LEN);
}

int noise_handshake_split(const struct noise_handshake *hs, struct noise_cipher *send,
			  struct noise_cipher *recv)
{
	uint8_t k1[NOISE_HASH_LEN], k2[NOISE_HASH_LEN];

	if (!noise_handshake_done(hs))
		return -EINVAL;
	hkdf(k1, k2, NULL, hs->ss.ck, NULL, 0);
	memcpy(send->k, hs->initiator ? k1 : k2, NOISE_KEY_LEN);
	memcpy(recv->k, hs->initiator ? k2 : k1, NOISE_KEY_LEN);
	send->n = 0;
	recv->n = 0;
	sodium_memzero(k1, sizeof(k1));
	sodium_memzero(k2, sizeof(k2));
	return 0;
}

/* One DH token. An all-zero result (a low-order point) is refused, as
 * Noise §12.1 allows and as a contributory exchange requires; libsodium's
 * crypto_scalarmult reports it as failure. */
static int mix_dh(struct noise_handshake *hs, enum token t)
{
	const uint8_t *priv, *pub;
	uint8_t dh[NOISE_DH_LEN];
	bool ini = hs->initiator;

	switch (t) {
	case TOK_EE: priv = hs->e_priv; pub = hs->re; break;
	case TOK_SS: priv = hs->s_priv; pub = hs->rs; break;
	case TOK_ES: priv = ini ? hs->e_priv : hs->s_priv; pub = ini ? hs->rs : hs->re; break;
	case TOK_SE: priv = ini ? hs->s_priv : hs->e_priv; pub = ini ? hs->re : hs->rs; break;
	default: return -EINVAL;
	}
	if (crypto_scalarmult_curve25519(dh, priv, pub) != 0) {
		sodium_memzero(dh, sizeof(dh));
		return -EBADMSG;
	}
	mix_key(&hs->ss, dh, sizeof(dh));
	sodium_memzero(dh, sizeof(dh));
	return 0;
}

static const enum token *tokens_for(const struct noise_handshake *hs)
{
	return hs->pattern == NOISE_IKPSK2 ? ikpsk2_msgs[hs->msg_index] : ik_msgs[hs->msg_index];
}

static int write_token(struct noise_handshake *hs, enum token t, struct wr *w)
{
	switch (t) {
	case TOK_E:
		if (!hs->has_e) {
			randombytes_buf(hs->e_priv, NOISE_DH_LEN);
			if (crypto_scalarmult_curve25519_base(hs->e_pub, hs->e_priv) != 0)
				return -EIO;
			hs->has_e = true;
		}
		wr_bytes(w, hs->e_pub, NOISE_DH_LEN);
		if (!wr_ok(w))
			return -ENOSPC;
		mix_hash(&hs->ss, hs->e_pub, NOISE_DH_LEN);
		if (hs->pattern == NOISE_IKPSK2) /* Noise §9.2 */
			mix_key(&hs->ss, hs->e_pub, NOISE_DH_LEN);
		return 0;
	case TOK_S:
		return encrypt_and_hash(&hs->ss, w, hs->s_pub, NOISE_DH_LEN);
	case TOK_PSK:
		mix_key_and_hash(&hs->ss, hs->psk, NOISE_PSK_LEN);
		return 0;
	default:
		return mix_dh(hs, t);
	}
}

static int read_token(struct noise_handshake *hs, enum token t, struct rd *r)
{
	const uint8_t *p;

	switch (t) {
	case TOK_E:
		if (!(p = rd_take(r, NOISE_DH_LEN)))
			return -EBADMSG;
		memcpy(hs->re, p, NOISE_DH_LEN);
		mix_hash(&hs->ss, hs->re, NOISE_DH_LEN);
		if (hs->pattern == NOISE_IKPSK2)
			mix_key(&hs->ss, hs->re, NOISE_DH_LEN);
		return 0;
	case TOK_S: {
		size_t n = NOISE_DH_LEN + (hs->ss.has_k ? NOISE_TAG_LEN : 0);
		if (!(p = rd_take(r, n)))
			return -EBADMSG;
		return decrypt_and_hash(&hs->ss, p, n, hs->rs);
	}
	case TOK_PSK:
		mix_key_and_hash(&hs->ss, hs->psk, NOISE_PSK_LEN);
		return 0;
	default:
		return mix_dh(hs, t);
	}
}

/* Our turn to write: initiator on message 0, responder on message 1. */
static bool my_turn_to_write(const struct noise_handshake *hs)
{
	return valid_state(hs) && hs->msg_index < 2 && hs->initiator == (hs->msg_index == 0);
}

int noise_write_message(struct noise_handshake *hs, const uint8_t *payload, size_t payload_len,
			uint8_t *out, size_t cap, size_t *out_len)
{
	struct noise_handshake tmp;
	struct wr w = wr_init(out, cap);
	int rc = 0;

	if (!my_turn_to_write(hs) || (payload_len && !payload))
		return -EINVAL;
	if (payload_len > NOISE_MSG_MAX)
		return -EMSGSIZE;
	tmp = *hs;
	for (const enum token *t = tokens_for(&tmp); *t != TOK_END && rc == 0; t++)
		rc = write_token(&tmp, *t, &w);
	if (rc == 0)
		rc = encrypt_and_hash(&tmp.ss, &w, payload, payload_len);
	if (rc == 0 && w.off > NOISE_MSG_MAX)
		rc = -EMSGSIZE;
	if (rc == 0) {
		tmp.msg_index++;
		*hs = tmp;
		*out_len = w.off;
	} else if (cap) {
		sodium_memzero(out, cap); /* no half-written message escapes */
	}
	sodium_memzero(&tmp, sizeof(tmp));
	return rc;
}

int noise_read_message(struct noise_handshake *hs, const uint8_t *msg, size_t msg_len,
		       uint8_t *payload, size_t cap, size_t *payload_len)
{
	struct noise_handshake tmp;
	struct rd r = rd_init(msg, msg_len);
	uint8_t scratch[1];
	size_t plain_len = 0;
	int rc = 0;

	if (!valid_state(hs) || hs->msg_index >= 2 || hs->initiator != (hs->msg_index == 1) ||
	    (msg_len && !msg))
		return -EINVAL;
	if (msg_len > NOISE_MSG_MAX)
		return -EBADMSG;
	tmp = *hs;
	for (const enum token *t = tokens_for(&tmp); *t != TOK_END && rc == 0; t++)
		rc = read_token(&tmp, *t, &r);
	if (rc == 0) {
		/* The payload is whatever remains: ciphertext plus tag. */
		size_t left = rd_left(&r);
		size_t tag = tmp.ss.has_k ? NOISE_TAG_LEN : 0;
		if (left < tag)
			rc = -EBADMSG;
		else if ((plain_len = left - tag) > cap || (plain_len && !payload))
			rc = -ENOSPC;
		else
			rc = decrypt_and_hash(&tmp.ss, rd_take(&r, left),
					      left, plain_len ? payload : scratch);
	}
	if (rc == 0) {
		tmp.msg_index++;
		*hs = tmp;
		*payload_len = plain_len;
	}
	sodium_memzero(&tmp, sizeof(tmp));
	return rc;
}
