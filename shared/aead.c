/*
 * aead.c - see aead.h. A context is set up with the cipher once per thread
 * and direction; each operation then only loads key and nonce, which for
 * ChaCha20-Poly1305 is a copy, not a key schedule. Contexts hold key
 * material between calls: aead_thread_exit() and the thread-exit
 * destructor free them (EVP_CIPHER_CTX_free cleanses). Small packets, and
 * any packet libcrypto cannot take, go to libsodium instead: the same
 * algorithm, the same bytes.
 */
#include "aead.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <pthread.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "noise.h"

_Static_assert(AEAD_KEY_LEN == NOISE_KEY_LEN && AEAD_TAG_LEN == NOISE_TAG_LEN,
	       "aead.c hands its keys and tags to noise_aead_*");

/* Up to this many bytes libsodium does the work: for small packets (TCP
 * ACKs, pings, keepalives, probes) what counts is the per-call cost with
 * cold caches, and there libcrypto's provider dispatch costs more than the
 * cipher (bench/throughput's ping RTT: 1.28 x fastd's with libcrypto for
 * every packet, 1.11-1.14 with libsodium's). */
#define SMALL_MAX 256

struct ctxs {
	EVP_CIPHER_CTX *enc;
	EVP_CIPHER_CTX *dec;
};

static _Thread_local struct ctxs tls;
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static void free_ctxs(void *unused)
{
	(void)unused;
	EVP_CIPHER_CTX_free(tls.enc);
	EVP_CIPHER_CTX_free(tls.dec);
	tls.enc = tls.dec = NULL;
}

static void make_exit_key(void)
{
	(void)pthread_key_create(&exit_key, free_ctxs);
}

static EVP_CIPHER_CTX *ctx_for(int enc)
{
	EVP_CIPHER_CTX **slot = enc ? &tls.enc : &tls.dec;
	if (*slot)
		return *slot;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	if (!c || EVP_CipherInit_ex(c, EVP_chacha20_poly1305(), NULL, NULL, NULL, enc) != 1) {
		EVP_CIPHER_CTX_free(c);
		return NULL;
	}
	pthread_once(&exit_once, make_exit_key);
	(void)pthread_setspecific(exit_key, &tls); /* any non-NULL value arms the destructor */
	*slot = c;
	return c;
}

static void make_nonce(uint8_t nonce[12], uint64_t counter)
{
	for (int i = 0; i < 4; i++)
		nonce[i] = 0;
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(counter >> (8 * i));
}

/* Loads key and nonce and feeds the associated data. */
static int start(EVP_CIPHER_CTX *c, const uint8_t *key, uint64_t counter, const uint8_t *ad, size_t ad_len)
{
	uint8_t nonce[12];
	int outl;
	make_nonce(nonce, counter);
	if (EVP_CipherInit_ex(c, NULL, NULL, key, nonce, -1) != 1)
		return -ENOMEM;
	if (ad_len && (ad_len > INT_MAX || EVP_CipherUpdate(c, NULL, &outl, ad, (int)ad_len) != 1))
		return -ENOMEM;
	return 0;
}

/* libcrypto, or false when it could not do the work (no context, no
 * ChaCha20-Poly1305 in its providers): the caller then uses libsodium,
 * so sealing never fails and never leaves plaintext behind. */
static bool evp_seal(const uint8_t *key, uint64_t counter, const uint8_t *ad, size_t ad_len,
		     uint8_t *buf, size_t len)
{
	EVP_CIPHER_CTX *c = ctx_for(1);
	int outl, fin;
	return c && len <= INT_MAX && !start(c, key, counter, ad, ad_len) &&
	       (!len || EVP_CipherUpdate(c, buf, &outl, buf, (int)len) == 1) &&
	       EVP_CipherFinal_ex(c, buf + len, &fin) == 1 &&
	       EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, AEAD_TAG_LEN, buf + len) == 1;
}

int aead_seal(const uint8_t key[AEAD_KEY_LEN], uint64_t counter, const uint8_t *ad, size_t ad_len,
	      uint8_t *buf, size_t len)
{
	if (len > SMALL_MAX && evp_seal(key, counter, ad, ad_len, buf, len))
		return 0;
	/* libsodium, through the Noise layer's transport AEAD (same nonce
	 * layout, in place). It refuses only the reserved counter 2^64-1,
	 * which session.c never hands out; were it ever, no plaintext stays. */
	int rc = noise_aead_encrypt(key, counter, ad, ad_len, buf, len, buf);
	if (rc)
		sodium_memzero(buf, len + AEAD_TAG_LEN);
	return rc;
}

int aead_open(const uint8_t key[AEAD_KEY_LEN], uint64_t counter, const uint8_t *ad, size_t ad_len,
	      uint8_t *buf, size_t len)
{
	if (len < AEAD_TAG_LEN)
		return -EBADMSG;
	size_t ct = len - AEAD_TAG_LEN;
	EVP_CIPHER_CTX *c = ct > SMALL_MAX ? ctx_for(0) : NULL;
	int outl, fin;
	/* Until the tag is checked nothing is written, so a setup failure can
	 * still go to libsodium; after it, the tag decides. */
	if (!c || ct > INT_MAX || start(c, key, counter, ad, ad_len) ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, AEAD_TAG_LEN, buf + ct) != 1)
		return noise_aead_decrypt(key, counter, ad, ad_len, buf, len, buf);
	if (ct && EVP_CipherUpdate(c, buf, &outl, buf, (int)ct) != 1)
		return -EBADMSG;
	return EVP_CipherFinal_ex(c, buf + ct, &fin) == 1 ? 0 : -EBADMSG;
}

void aead_thread_exit(void)
{
	free_ctxs(NULL);
}
