/*
 * test_keys.c - keys.c: base64 keys, public key derivation (RFC 7748
 * section 6.1 vector), key files, the system id (a known answer computed
 * once with an independent BLAKE2b implementation, Python's hashlib) and
 * UUID text.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "keys.h"

/* RFC 7748 section 6.1: Alice's key pair. */
static const char ALICE_PRIV_HEX[] = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
static const char ALICE_PUB_HEX[] = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
static const char ALICE_PRIV_B64[] = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=";
static const char ALICE_PUB_B64[] = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=";
/* BLAKE2b-256("tund system id v1" || Alice's public key), first 16 bytes,
 * version 8 and variant 10 applied; computed with Python hashlib/uuid. */
static const char ALICE_SYSTEM_ID[] = "4c55b4df-a1ae-8165-9f71-80a9c36bcac9";

static void hex(uint8_t *out, const char *s, size_t n)
{
	assert_int_equal(sodium_hex2bin(out, n, s, strlen(s), NULL, NULL, NULL), 0);
}

static void test_base64_round_trip(void **state)
{
	uint8_t key[KEY_LEN], back[KEY_LEN];
	char b64[KEY_B64_LEN + 1];
	hex(key, ALICE_PUB_HEX, KEY_LEN);
	key_to_base64(b64, key);
	assert_string_equal(b64, ALICE_PUB_B64);
	assert_int_equal(key_from_base64(back, b64), 0);
	assert_memory_equal(back, key, KEY_LEN);

	for (int i = 0; i < 64; i++) {
		randombytes_buf(key, KEY_LEN);
		key_to_base64(b64, key);
		assert_int_equal(strlen(b64), KEY_B64_LEN);
		assert_int_equal(key_from_base64(back, b64), 0);
		assert_memory_equal(back, key, KEY_LEN);
	}
}

static void test_base64_whitespace(void **state)
{
	uint8_t key[KEY_LEN], want[KEY_LEN];
	char buf[128];
	hex(want, ALICE_PUB_HEX, KEY_LEN);
	snprintf(buf, sizeof(buf), "  \t%s\r\n\n", ALICE_PUB_B64);
	assert_int_equal(key_from_base64(key, buf), 0);
	assert_memory_equal(key, want, KEY_LEN);
}

static void test_base64_bad(void **state)
{
	static const char *const bad[] = {
		"",
		"   \n",
		"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo",     /* 43: no padding */
		"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo==",   /* 45 */
		"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTm==",    /* 31 bytes */
		"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=AAAA",
		"hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo=",    /* URL-safe alphabet */
		"hSDwCYkwp1R0i33ctD73Wg2!Og0mOBr066SpjqqbTmo=",    /* not base64 */
		"hSDwCYkwp1R0i33c D73Wg2/Og0mOBr066SpjqqbTmo=",    /* space inside */
		"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmp=",    /* non-canonical last bits */
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", /* 43 bytes */
	};
	uint8_t key[KEY_LEN], orig[KEY_LEN];
	memset(orig, 0xa5, sizeof(orig));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(key, orig, KEY_LEN);
		if (key_from_base64(key, bad[i]) != -EINVAL)
			fail_msg("accepted bad key %zu: \"%s\"", i, bad[i]);
		assert_memory_equal(key, orig, KEY_LEN);   /* untouched on error */
	}
}

static void test_public_rfc7748(void **state)
{
	uint8_t priv[KEY_LEN], pub[KEY_LEN], want[KEY_LEN];
	hex(priv, ALICE_PRIV_HEX, KEY_LEN);
	hex(want, ALICE_PUB_HEX, KEY_LEN);
	assert_int_equal(key_public(pub, priv), 0);
	assert_memory_equal(pub, want, KEY_LEN);

	uint8_t from_b64[KEY_LEN];
	assert_int_equal(key_from_base64(from_b64, ALICE_PRIV_B64), 0);
	assert_memory_equal(from_b64, priv, KEY_LEN);
}

static void test_generate(void **state)
{
	uint8_t a[KEY_LEN], b[KEY_LEN], pa[KEY_LEN], pb[KEY_LEN];
	key_generate(a);
	key_generate(b);
	assert_memory_not_equal(a, b, KEY_LEN);
	assert_int_equal(a[0] & 7, 0);          /* clamped as wg does */
	assert_int_equal(a[31] & 0x80, 0);
	assert_int_equal(a[31] & 0x40, 0x40);
	assert_int_equal(key_public(pa, a), 0);
	assert_int_equal(key_public(pb, b), 0);
	assert_memory_not_equal(pa, pb, KEY_LEN);
}

static void test_system_id_known_answer(void **state)
{
	uint8_t pub[KEY_LEN], id[UUID_LEN], id2[UUID_LEN];
	char s[UUID_STR_LEN + 1];
	hex(pub, ALICE_PUB_HEX, KEY_LEN);
	key_system_id(id, pub);
	uuid_format(s, id);
	assert_string_equal(s, ALICE_SYSTEM_ID);
	key_system_id(id2, pub);
	assert_memory_equal(id, id2, UUID_LEN);  /* deterministic */
}

static void test_system_id_bits(void **state)
{
	uint8_t pub[KEY_LEN], id[UUID_LEN], other[UUID_LEN];
	for (int i = 0; i < 256; i++) {
		randombytes_buf(pub, KEY_LEN);
		key_system_id(id, pub);
		assert_int_equal(id[6] >> 4, 8);        /* version 8 */
		assert_int_equal(id[8] >> 6, 2);        /* variant 10 */
		pub[i % KEY_LEN] ^= 1;                   /* any key bit changes the id */
		key_system_id(other, pub);
		assert_memory_not_equal(id, other, UUID_LEN);
	}
}

static void test_uuid_round_trip(void **state)
{
	uint8_t id[UUID_LEN], back[UUID_LEN];
	char s[UUID_STR_LEN + 1];
	for (int i = 0; i < 64; i++) {
		randombytes_buf(id, UUID_LEN);
		uuid_format(s, id);
		assert_int_equal(strlen(s), UUID_STR_LEN);
		assert_int_equal(uuid_parse(back, s), 0);
		assert_memory_equal(back, id, UUID_LEN);
	}
	assert_int_equal(uuid_parse(back, "4C55B4DF-A1AE-8165-9F71-80A9C36BCAC9"), 0);
	uuid_format(s, back);
	assert_string_equal(s, ALICE_SYSTEM_ID);
	static const uint8_t zero_one[UUID_LEN] = { [15] = 1 };
	uuid_format(s, zero_one);
	assert_string_equal(s, "00000000-0000-0000-0000-000000000001");
}

static void test_uuid_bad(void **state)
{
	static const char *const bad[] = {
		"",
		"4c55b4df-a1ae-8165-9f71-80a9c36bcac",     /* short */
		"4c55b4df-a1ae-8165-9f71-80a9c36bcac99",   /* long */
		"4c55b4dfa-1ae-8165-9f71-80a9c36bcac9",    /* dash moved */
		"4c55b4df_a1ae-8165-9f71-80a9c36bcac9",
		"4c55b4df-a1ae-8165-9f71-80a9c36bcacg",
		"{c55b4df-a1ae-8165-9f71-80a9c36bcac9",
		" 4c55b4df-a1ae-8165-9f71-80a9c36bcac9",
		"4c55b4dfa1ae81659f7180a9c36bcac9",        /* no dashes */
		"4c55b4df-a1ae-8165-9f71-80a9c36bca c",
	};
	uint8_t id[UUID_LEN];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (uuid_parse(id, bad[i]) != -EINVAL)
			fail_msg("accepted bad uuid \"%s\"", bad[i]);
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void test_read_file(void **state)
{
	char dir[] = "/tmp/test_keys.XXXXXX";
	char path[128], err[256], want[256];
	uint8_t key[KEY_LEN], priv[KEY_LEN];
	assert_non_null(mkdtemp(dir));
	hex(priv, ALICE_PRIV_HEX, KEY_LEN);

	snprintf(path, sizeof(path), "%s/good.key", dir);
	write_file(path, "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=\n", 45);
	assert_int_equal(key_read_file(key, path, err, sizeof(err)), 0);
	assert_memory_equal(key, priv, KEY_LEN);

	snprintf(path, sizeof(path), "%s/missing.key", dir);
	assert_int_equal(key_read_file(key, path, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	assert_string_equal(err, want);

	snprintf(path, sizeof(path), "%s/bad.key", dir);
	write_file(path, "not a key\n", 10);
	assert_int_equal(key_read_file(key, path, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s: not a base64 private key", path);
	assert_string_equal(err, want);
	unlink(path);

	/* A NUL after a valid key must not hide trailing junk. */
	snprintf(path, sizeof(path), "%s/nul.key", dir);
	write_file(path, "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=\0junk", 49);
	assert_int_equal(key_read_file(key, path, err, sizeof(err)), -EINVAL);
	unlink(path);

	/* A large file whose first bytes are a valid key is still refused. */
	static char big[8192];
	memset(big, '\n', sizeof(big));
	memcpy(big, ALICE_PRIV_B64, KEY_B64_LEN);
	snprintf(path, sizeof(path), "%s/big.key", dir);
	write_file(path, big, sizeof(big));
	assert_int_equal(key_read_file(key, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a base64 private key"));
	unlink(path);

	assert_int_equal(key_read_file(key, dir, err, sizeof(err)), -EISDIR);
	snprintf(path, sizeof(path), "%s/good.key", dir);
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64_round_trip),
		cmocka_unit_test(test_base64_whitespace),
		cmocka_unit_test(test_base64_bad),
		cmocka_unit_test(test_public_rfc7748),
		cmocka_unit_test(test_generate),
		cmocka_unit_test(test_system_id_known_answer),
		cmocka_unit_test(test_system_id_bits),
		cmocka_unit_test(test_uuid_round_trip),
		cmocka_unit_test(test_uuid_bad),
		cmocka_unit_test(test_read_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
