/*
 * aead.h - ChaCha20-Poly1305 (RFC 8439, the "IETF" variant: 96-bit nonce)
 * for the data path, through OpenSSL's libcrypto.
 *
 * Why not libsodium, which does everything else: on the x86-64 machines we
 * measure on, libcrypto's assembly (AVX2 and AVX-512 code paths) seals a
 * 1400-byte packet about 2.4 times faster than libsodium's, and the AEAD
 * is most of tund's own CPU time under load (kernel-notes/offload.md).
 * Packets of up to 256 bytes still go to libsodium, whose per-call cost
 * is lower, and so does anything libcrypto refuses. The two produce the same bytes:
 * tests/unit/test_aead.c checks this module against libsodium and the RFC
 * 8439 vector.
 *
 * Nonce: 4 zero bytes || le64(counter), as Noise's ChaChaPoly (noise.h).
 * Work is in place; the tag follows the ciphertext. Each thread keeps its
 * own two OpenSSL contexts (one per direction), created on first use and
 * released by aead_thread_exit(): safe to call from cryptpool's workers and
 * the event loop at once.
 */
#ifndef TUND_AEAD_H
#define TUND_AEAD_H

#include <stddef.h>
#include <stdint.h>

#define AEAD_KEY_LEN 32
#define AEAD_TAG_LEN 16

/* Encrypts buf[0..len) in place and writes the tag at buf + len: 0.
 * Packets of up to 256 bytes, and any that libcrypto cannot take (no
 * context, a provider set without ChaCha20-Poly1305 such as a FIPS-only
 * one), are done by libsodium (noise_aead_encrypt), which produces the
 * same bytes. -EINVAL only for the counter 2^64-1 (Noise reserves it),
 * and then buf is wiped: no plaintext is ever left behind. */
int aead_seal(const uint8_t key[AEAD_KEY_LEN], uint64_t counter, const uint8_t *ad, size_t ad_len,
	      uint8_t *buf, size_t len);

/* Checks and decrypts buf[0..len) (ciphertext and tag) in place: 0, or
 * -EBADMSG (wrong tag, or len shorter than the tag). On failure the
 * bytes of buf are unspecified. Small packets as aead_seal. */
int aead_open(const uint8_t key[AEAD_KEY_LEN], uint64_t counter, const uint8_t *ad, size_t ad_len,
	      uint8_t *buf, size_t len);

/* Frees the calling thread's contexts (they also go when the thread ends). */
void aead_thread_exit(void);

#endif
