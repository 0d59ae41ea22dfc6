/*
 * keys.c - X25519 keys as base64 text, key files, and the system id
 * (keys.h). All encoding and cryptography is libsodium's.
 *
 * Invariants: a private key never sits in a buffer that is not wiped
 * with sodium_memzero before the function returns, whatever the path out;
 * decoders write their output only after every check has passed.
 *
 * Generated private keys are clamped the way wg(8) clamps them (RFC 7748
 * section 5: clear the low three bits, clear bit 255, set bit 254).
 * X25519 clamps again inside the scalar multiplication, so this changes no
 * public key; it only makes the stored key the scalar actually used, so a
 * key written by `tunctl genkey` reads back identical in other tools.
 */
#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#define KEY_FILE_MAX 4096   /* a key file is 45 bytes; anything bigger is not one */

static const char SYSTEM_ID_LABEL[] = "tund system id v1";
_Static_assert(sizeof(SYSTEM_ID_LABEL) - 1 == 17, "label is the 17 bytes keys.h documents");

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int key_from_base64(uint8_t out[KEY_LEN], const char *s)
{
	size_t len = strlen(s);
	while (len > 0 && is_space(s[len - 1]))
		len--;
	while (len > 0 && is_space(*s)) {
		s++;
		len--;
	}
	if (len != KEY_B64_LEN)
		return -EINVAL;

	uint8_t tmp[KEY_LEN];
	size_t bin_len = 0;
	const char *end = NULL;
	int rc = sodium_base642bin(tmp, sizeof(tmp), s, len, NULL, &bin_len, &end,
				   sodium_base64_VARIANT_ORIGINAL);
	if (rc == 0 && bin_len == KEY_LEN && end == s + len)
		memcpy(out, tmp, KEY_LEN);
	else
		rc = -EINVAL;
	sodium_memzero(tmp, sizeof(tmp));
	return rc;
}

void key_to_base64(char out[KEY_B64_LEN + 1], const uint8_t key[KEY_LEN])
{
	_Static_assert(sodium_base64_ENCODED_LEN(KEY_LEN, sodium_base64_VARIANT_ORIGINAL) ==
		       KEY_B64_LEN + 1, "base64 of a key is 44 characters");
	sodium_bin2base64(out, KEY_B64_LEN + 1, key, KEY_LEN, sodium_base64_VARIANT_ORIGINAL);
}

void key_generate(uint8_t priv[KEY_LEN])
{
	randombytes_buf(priv, KEY_LEN);
	priv[0] &= 248;
	priv[31] = (uint8_t)((priv[31] & 127) | 64);
}

int key_public(uint8_t pub[KEY_LEN], const uint8_t priv[KEY_LEN])
{
	uint8_t tmp[KEY_LEN];
	int rc = 0;
	/* libsodium's base-point multiplication does not report an all-zero
	 * result on every version, so check it here as well. */
	if (crypto_scalarmult_curve25519_base(tmp, priv) != 0 || sodium_is_zero(tmp, KEY_LEN))
		rc = -EINVAL;
	else
		memcpy(pub, tmp, KEY_LEN);
	sodium_memzero(tmp, sizeof(tmp));
	return rc;
}

/* Reads everything from fd into buf (at most cap - 1 bytes, then
 * NUL-terminated). 0, -errno, or -EFBIG when there is more. */
static int read_small(int fd, char *buf, size_t cap, size_t *lenp)
{
	size_t len = 0;
	int rc = 0;
	for (;;) {
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == cap - 1) {
			char extra;
			if (read(fd, &extra, 1) > 0)
				rc = -EFBIG;
			break;
		}
	}
	buf[len] = '\0';
	*lenp = len;
	return rc;
}

int key_read_fd(uint8_t out[KEY_LEN], int fd)
{
	char buf[KEY_FILE_MAX + 1];
	size_t len = 0;
	int rc = read_small(fd, buf, sizeof(buf), &len);
	/* Input over the limit, or with bytes hidden behind a NUL, is no key. */
	if (rc == 0 && (strlen(buf) != len || key_from_base64(out, buf) < 0))
		rc = -EINVAL;
	sodium_memzero(buf, sizeof(buf));
	return rc;
}

int key_read_file(uint8_t out[KEY_LEN], const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	int rc = fd < 0 ? -errno : key_read_fd(out, fd);
	if (fd >= 0)
		close(fd);
	if (rc == -EFBIG) {
		snprintf(err, errlen, "%s: not a base64 private key (file is larger than %d bytes)",
			 path, KEY_FILE_MAX);
		rc = -EINVAL;
	} else if (rc == -EINVAL) {
		snprintf(err, errlen, "%s: not a base64 private key", path);
	} else if (rc < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
	}
	return rc;
}

void key_system_id(uint8_t id[UUID_LEN], const uint8_t pub[KEY_LEN])
{
	uint8_t digest[crypto_generichash_BYTES];
	crypto_generichash_state st;
	_Static_assert(crypto_generichash_BYTES == 32, "BLAKE2b-256");

	crypto_generichash_init(&st, NULL, 0, sizeof(digest));
	crypto_generichash_update(&st, (const uint8_t *)SYSTEM_ID_LABEL, sizeof(SYSTEM_ID_LABEL) - 1);
	crypto_generichash_update(&st, pub, KEY_LEN);
	crypto_generichash_final(&st, digest, sizeof(digest));

	memcpy(id, digest, UUID_LEN);
	id[6] = (uint8_t)((id[6] & 0x0f) | 0x80);  /* version 8: RFC 9562 section 5.8 */
	id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);  /* variant 10: RFC 4122 section 4.1.1 */
}

/* Byte offsets after which the textual form has a dash: 8-4-4-4-12 digits. */
static bool dash_after(unsigned byte)
{
	return byte == 3 || byte == 5 || byte == 7 || byte == 9;
}

void uuid_format(char out[UUID_STR_LEN + 1], const uint8_t id[UUID_LEN])
{
	static const char hex[] = "0123456789abcdef";
	char *p = out;
	for (unsigned i = 0; i < UUID_LEN; i++) {
		*p++ = hex[id[i] >> 4];
		*p++ = hex[id[i] & 15];
		if (dash_after(i))
			*p++ = '-';
	}
	*p = '\0';
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int uuid_parse(uint8_t id[UUID_LEN], const char *s)
{
	uint8_t tmp[UUID_LEN];
	if (strlen(s) != UUID_STR_LEN)
		return -EINVAL;
	for (unsigned i = 0; i < UUID_LEN; i++) {
		int hi = hex_value(s[0]);
		int lo = hex_value(s[1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		tmp[i] = (uint8_t)(hi << 4 | lo);
		s += 2;
		if (dash_after(i) && *s++ != '-')
			return -EINVAL;
	}
	memcpy(id, tmp, UUID_LEN);
	return 0;
}
