/*
 * test_aead.c - shared/aead.h (OpenSSL's ChaCha20-Poly1305) produces the
 * same bytes as libsodium's crypto_aead_chacha20poly1305_ietf with the
 * Noise nonce (noise.h), for every length class the data path uses, and
 * refuses what it must: a flipped bit anywhere (AD, ciphertext, tag), the
 * wrong counter or key, input shorter than a tag. Also from threads at
 * once, since cryptpool's workers call it concurrently, and with an
 * OpenSSL that has no ChaCha20-Poly1305 at all (libsodium takes over).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "aead.h"

#define MAXLEN 65536

static void sodium_seal(const uint8_t *key, uint64_t counter, const uint8_t *ad, size_t ad_len,
			const uint8_t *pt, size_t len, uint8_t *out)
{
	uint8_t nonce[12] = { 0 };
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(counter >> (8 * i));
	crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, pt, len, ad, ad_len, NULL, nonce, key);
}

static void one_length(size_t len)
{
	uint8_t key[AEAD_KEY_LEN], ad[16];
	uint8_t *pt = malloc(MAXLEN), *ours = malloc(MAXLEN + AEAD_TAG_LEN), *ref = malloc(MAXLEN + AEAD_TAG_LEN);
	assert_non_null(pt);
	assert_non_null(ours);
	assert_non_null(ref);
	randombytes_buf(key, sizeof(key));
	randombytes_buf(ad, sizeof(ad));
	randombytes_buf(pt, len);
	uint64_t counter = ((uint64_t)randombytes_random() << 32) | randombytes_random();

	memcpy(ours, pt, len);
	assert_int_equal(aead_seal(key, counter, ad, sizeof(ad), ours, len), 0);
	sodium_seal(key, counter, ad, sizeof(ad), pt, len, ref);
	assert_memory_equal(ours, ref, len + AEAD_TAG_LEN);

	assert_int_equal(aead_open(key, counter, ad, sizeof(ad), ours, len + AEAD_TAG_LEN), 0);
	if (len)
		assert_memory_equal(ours, pt, len);
	free(pt);
	free(ours);
	free(ref);
}

static void test_same_bytes_as_libsodium(void **state)
{
	(void)state;
	static const size_t lens[] = { 0, 1, 15, 16, 17, 63, 64, 65, 255, 576, 1340, 1380, 1400, 1500, 9000, 65535 };
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		one_length(lens[i]);
	for (int i = 0; i < 200; i++)
		one_length(randombytes_uniform(3000));
}

static void test_refusals(void **state)
{
	(void)state;
	uint8_t key[AEAD_KEY_LEN], other[AEAD_KEY_LEN], ad[16], buf[1400 + AEAD_TAG_LEN], copy[sizeof(buf)];
	randombytes_buf(key, sizeof(key));
	memcpy(other, key, sizeof(key));
	other[31] ^= 1;
	randombytes_buf(ad, sizeof(ad));
	randombytes_buf(buf, 1400);
	assert_int_equal(aead_seal(key, 7, ad, sizeof(ad), buf, 1400), 0);
	/* every bit of ciphertext and tag, one at a time (sampled: every 7th byte) */
	for (size_t i = 0; i < sizeof(buf); i += 7) {
		memcpy(copy, buf, sizeof(buf));
		copy[i] ^= (uint8_t)(1u << (i % 8));
		assert_int_equal(aead_open(key, 7, ad, sizeof(ad), copy, sizeof(copy)), -EBADMSG);
	}
	for (size_t i = 0; i < sizeof(ad); i++) {
		uint8_t bad[16];
		memcpy(bad, ad, sizeof(ad));
		bad[i] ^= 0x80;
		memcpy(copy, buf, sizeof(buf));
		assert_int_equal(aead_open(key, 7, bad, sizeof(bad), copy, sizeof(copy)), -EBADMSG);
	}
	memcpy(copy, buf, sizeof(buf));
	assert_int_equal(aead_open(key, 8, ad, sizeof(ad), copy, sizeof(copy)), -EBADMSG);
	memcpy(copy, buf, sizeof(buf));
	assert_int_equal(aead_open(other, 7, ad, sizeof(ad), copy, sizeof(copy)), -EBADMSG);
	assert_int_equal(aead_open(key, 7, ad, sizeof(ad), copy, AEAD_TAG_LEN - 1), -EBADMSG);
	assert_int_equal(aead_open(key, 7, ad, sizeof(ad), copy, 0), -EBADMSG);
	/* and the good one still opens after all those failures on the same context */
	memcpy(copy, buf, sizeof(buf));
	assert_int_equal(aead_open(key, 7, ad, sizeof(ad), copy, sizeof(copy)), 0);
}

static void *thread_main(void *arg)
{
	(void)arg;
	for (int i = 0; i < 300; i++)
		one_length(randombytes_uniform(2000));
	aead_thread_exit();
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, thread_main, NULL), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
}

/* The same checks in a child whose OpenSSL loads only its "base"
 * provider, which has no ChaCha20-Poly1305 (as a FIPS-only setup): every
 * packet must then go to libsodium, and still seal and open correctly,
 * never leaving plaintext behind as a failed seal would. */
static const char *self_path;

static void test_without_libcrypto_cipher(void **state)
{
	(void)state;
	char conf[] = "/tmp/test_aead-XXXXXX";
	int fd = mkstemp(conf);
	assert_true(fd >= 0);
	static const char text[] = "openssl_conf = openssl_init\n[openssl_init]\nproviders = provider_sect\n"
				   "[provider_sect]\nbase = base_sect\n[base_sect]\nactivate = 1\n";
	assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("OPENSSL_CONF", conf, 1);
		execl(self_path, self_path, "--child", (char *)NULL);
		_exit(127);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	unlink(conf);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static int teardown(void **state)
{
	(void)state;
	aead_thread_exit();
	return 0;
}

int main(int argc, char **argv)
{
	if (sodium_init() < 0)
		return 1;
	self_path = argv[0];
	const struct CMUnitTest child[] = {
		cmocka_unit_test(test_same_bytes_as_libsodium),
		cmocka_unit_test(test_refusals),
	};
	if (argc == 2 && strcmp(argv[1], "--child") == 0)
		return cmocka_run_group_tests_name("without libcrypto's cipher", child, NULL, teardown);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_bytes_as_libsodium),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_without_libcrypto_cipher),
	};
	return cmocka_run_group_tests(tests, NULL, teardown);
}
