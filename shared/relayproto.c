/*
 * relayproto.c - the Tund-* request authentication of relayproto.h: the
 * shared key, the MAC, the header lines a tund sends and the relay's
 * check of them. All cryptography is libsodium's (X25519, keyed BLAKE2b).
 *
 * The check parses and validates every field before any cryptography and
 * looks at the clock before the X25519, so a flood of junk or stale
 * requests costs the relay no scalar multiplications. Tund-Time must be
 * the canonical decimal the sender formats (no sign, no leading zeros):
 * the MAC covers the digits, and the relay re-formats the number it
 * parsed. Key material (the DH result, k) is wiped on every path out.
 */
#include "relayproto.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

static const char KEY_LABEL[] = "tund relay key v1";
static const char AUTH_LABEL[] = "tund relay auth v1";

#define TIME_STR_MAX 24     /* an int64 in decimal, sign and NUL included */
#define NONCE_B64_LEN sodium_base64_ENCODED_LEN(RELAYPROTO_NONCE_LEN, sodium_base64_VARIANT_ORIGINAL)
#define AUTH_B64_LEN sodium_base64_ENCODED_LEN(RELAYPROTO_AUTH_LEN, sodium_base64_VARIANT_ORIGINAL)

_Static_assert(RELAYPROTO_AUTH_LEN >= crypto_generichash_BYTES_MIN, "BLAKE2b-128 is allowed");
_Static_assert(crypto_scalarmult_BYTES == KEY_LEN, "X25519 sizes");
_Static_assert(RELAYPROTO_SKEW_S == 120, "the skew message says 120 s");

int relayproto_key(uint8_t k[32], const uint8_t own_priv[KEY_LEN], const uint8_t other_pub[KEY_LEN],
		   const uint8_t tund_pub[KEY_LEN], const uint8_t relay_pub[KEY_LEN])
{
	uint8_t dh[crypto_scalarmult_BYTES];
	crypto_generichash_state st;
	int rc = 0;
	/* libsodium refuses an all-zero result (a low-order public key). */
	if (crypto_scalarmult(dh, own_priv, other_pub) != 0) {
		rc = -EINVAL;
		goto out;
	}
	crypto_generichash_init(&st, dh, sizeof(dh), 32);
	crypto_generichash_update(&st, (const uint8_t *)KEY_LABEL, sizeof(KEY_LABEL) - 1);
	crypto_generichash_update(&st, tund_pub, KEY_LEN);
	crypto_generichash_update(&st, relay_pub, KEY_LEN);
	crypto_generichash_final(&st, k, 32);
out:
	sodium_memzero(dh, sizeof(dh));
	sodium_memzero(&st, sizeof(st));
	return rc;
}

void relayproto_auth(uint8_t mac[RELAYPROTO_AUTH_LEN], const uint8_t k[32], const char *target,
		     int64_t unix_time, const uint8_t nonce[RELAYPROTO_NONCE_LEN])
{
	static const uint8_t zero = 0;
	char t[TIME_STR_MAX];
	int tlen = snprintf(t, sizeof(t), "%" PRId64, unix_time);
	crypto_generichash_state st;
	crypto_generichash_init(&st, k, 32, RELAYPROTO_AUTH_LEN);
	crypto_generichash_update(&st, (const uint8_t *)AUTH_LABEL, sizeof(AUTH_LABEL) - 1);
	crypto_generichash_update(&st, &zero, 1);
	crypto_generichash_update(&st, (const uint8_t *)target, strlen(target));
	crypto_generichash_update(&st, &zero, 1);
	crypto_generichash_update(&st, (const uint8_t *)t, (size_t)tlen);
	crypto_generichash_update(&st, &zero, 1);
	crypto_generichash_update(&st, nonce, RELAYPROTO_NONCE_LEN);
	crypto_generichash_final(&st, mac, RELAYPROTO_AUTH_LEN);
	sodium_memzero(&st, sizeof(st));
}

int relayproto_auth_headers(char *out, size_t cap, const uint8_t priv[KEY_LEN], const uint8_t pub[KEY_LEN],
			    const uint8_t relay_pub[KEY_LEN], const char *target, int64_t unix_time)
{
	uint8_t k[32], nonce[RELAYPROTO_NONCE_LEN], mac[RELAYPROTO_AUTH_LEN];
	char key_b64[KEY_B64_LEN + 1], nonce_b64[NONCE_B64_LEN], mac_b64[AUTH_B64_LEN];
	int rc = relayproto_key(k, priv, relay_pub, pub, relay_pub);
	if (rc == 0) {
		randombytes_buf(nonce, sizeof(nonce));
		relayproto_auth(mac, k, target, unix_time, nonce);
		key_to_base64(key_b64, pub);
		sodium_bin2base64(nonce_b64, sizeof(nonce_b64), nonce, sizeof(nonce),
				  sodium_base64_VARIANT_ORIGINAL);
		sodium_bin2base64(mac_b64, sizeof(mac_b64), mac, sizeof(mac), sodium_base64_VARIANT_ORIGINAL);
		int n = snprintf(out, cap,
				 "Tund-Key: %s\r\nTund-Time: %" PRId64 "\r\nTund-Nonce: %s\r\nTund-Auth: %s\r\n",
				 key_b64, unix_time, nonce_b64, mac_b64);
		rc = n < 0 || (size_t)n >= cap ? -ENOSPC : n;
	}
	sodium_memzero(k, sizeof(k));
	return rc;
}

/* Exactly n bytes of padded standard base64, nothing around them. */
static bool b64_exact(uint8_t *out, size_t n, const char *s)
{
	size_t len = strlen(s), bin_len = 0;
	const char *end = NULL;
	return sodium_base642bin(out, n, s, len, NULL, &bin_len, &end, sodium_base64_VARIANT_ORIGINAL) == 0 &&
	       bin_len == n && end == s + len;
}

/* Canonical non-negative decimal ("0" or no leading zero) within int64. */
static bool parse_time(const char *s, int64_t *out)
{
	uint64_t v = 0;
	size_t len = strlen(s);
	if (len == 0 || len > 19 || (s[0] == '0' && len > 1))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > INT64_MAX)
		return false;
	*out = (int64_t)v;
	return true;
}

static int refuse(const char **why, const char *reason, int err)
{
	*why = reason;
	return err;
}

/* Parses the four fields: -EBADMSG with *why, or 0. */
static int parse_fields(const char *key_b64, const char *time_s, const char *nonce_b64, const char *auth_b64,
			uint8_t key[KEY_LEN], int64_t *t, uint8_t nonce[RELAYPROTO_NONCE_LEN],
			uint8_t mac[RELAYPROTO_AUTH_LEN], const char **why)
{
	if (!key_b64)
		return refuse(why, "Tund-Key missing", -EBADMSG);
	if (!time_s)
		return refuse(why, "Tund-Time missing", -EBADMSG);
	if (!nonce_b64)
		return refuse(why, "Tund-Nonce missing", -EBADMSG);
	if (!auth_b64)
		return refuse(why, "Tund-Auth missing", -EBADMSG);
	if (key_from_base64(key, key_b64) < 0)
		return refuse(why, "Tund-Key is not a base64 X25519 public key", -EBADMSG);
	if (!parse_time(time_s, t))
		return refuse(why, "Tund-Time is not decimal Unix seconds", -EBADMSG);
	if (!b64_exact(nonce, RELAYPROTO_NONCE_LEN, nonce_b64))
		return refuse(why, "Tund-Nonce is not 16 bytes of base64", -EBADMSG);
	if (!b64_exact(mac, RELAYPROTO_AUTH_LEN, auth_b64))
		return refuse(why, "Tund-Auth is not 16 bytes of base64", -EBADMSG);
	return 0;
}

int relayproto_auth_check(const uint8_t relay_priv[KEY_LEN], const uint8_t relay_pub[KEY_LEN],
			  const char *target, const char *key_b64, const char *time_s, const char *nonce_b64,
			  const char *auth_b64, int64_t now_unix, uint8_t key_out[KEY_LEN],
			  uint8_t nonce_out[RELAYPROTO_NONCE_LEN], const char **why)
{
	uint8_t key[KEY_LEN], nonce[RELAYPROTO_NONCE_LEN], mac[RELAYPROTO_AUTH_LEN];
	uint8_t want[RELAYPROTO_AUTH_LEN], k[32];
	int64_t t = 0;
	int rc = parse_fields(key_b64, time_s, nonce_b64, auth_b64, key, &t, nonce, mac, why);
	if (rc < 0)
		return rc;
	/* Unsigned difference: exact for any pair of int64 values. */
	uint64_t skew = t >= now_unix ? (uint64_t)t - (uint64_t)now_unix : (uint64_t)now_unix - (uint64_t)t;
	if (skew > RELAYPROTO_SKEW_S)
		return refuse(why, "Tund-Time is more than 120 s away from the relay's clock", -ETIME);
	if (relayproto_key(k, relay_priv, key, key, relay_pub) < 0) {
		rc = refuse(why, "Tund-Key is a low-order X25519 point", -EBADMSG);
		goto out;
	}
	relayproto_auth(want, k, target, t, nonce);
	if (sodium_memcmp(want, mac, sizeof(mac)) != 0) {
		rc = refuse(why, "Tund-Auth does not match (wrong key pair or relay key)", -EACCES);
		goto out;
	}
	memcpy(key_out, key, KEY_LEN);
	memcpy(nonce_out, nonce, RELAYPROTO_NONCE_LEN);
out:
	sodium_memzero(k, sizeof(k));
	return rc;
}
