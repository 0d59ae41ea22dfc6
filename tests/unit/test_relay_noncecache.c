/*
 * test_relay_noncecache.c - the relay's nonce cache: a replay within the
 * window is caught, entries leave after twice the window, and a full
 * cache evicts early but never lets an evicted nonce back in (the floor).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "noncecache.h"

static void nonce_n(uint8_t out[NONCECACHE_NONCE_LEN], uint32_t n)
{
	memset(out, 0, NONCECACHE_NONCE_LEN);
	memcpy(out, &n, sizeof(n));
	out[15] = 0x5a;
}

static void replay_caught(void **state)
{
	struct noncecache *nc;
	uint8_t a[NONCECACHE_NONCE_LEN], b[NONCECACHE_NONCE_LEN];

	assert_int_equal(noncecache_new(&nc, 16, 120), 0);
	nonce_n(a, 1);
	nonce_n(b, 2);
	assert_int_equal(noncecache_check(nc, a, 1000, 1000), 0);
	assert_int_equal(noncecache_check(nc, a, 1000, 1000), -EALREADY);
	assert_int_equal(noncecache_check(nc, a, 1100, 1200), -EALREADY);   /* other time, same nonce */
	assert_int_equal(noncecache_check(nc, b, 1000, 1001), 0);
	assert_int_equal(noncecache_count(nc), 2);
	noncecache_free(nc);
}

static void expiry(void **state)
{
	struct noncecache *nc;
	uint8_t a[NONCECACHE_NONCE_LEN], b[NONCECACHE_NONCE_LEN];

	assert_int_equal(noncecache_new(&nc, 16, 120), 0);
	nonce_n(a, 1);
	nonce_n(b, 2);
	assert_int_equal(noncecache_check(nc, a, 1120, 1000), 0);   /* stamped 120 s ahead */
	/* still kept at seen + 2 * window: the stamp was usable until then */
	assert_int_equal(noncecache_check(nc, a, 1120, 1240), -EALREADY);
	/* one second later it is gone, and the clock check would refuse it anyway */
	assert_int_equal(noncecache_check(nc, b, 1241, 1241), 0);
	assert_int_equal(noncecache_count(nc), 1);
	assert_int_equal(noncecache_check(nc, a, 1241, 1241), 0);
	assert_int_equal(noncecache_evicted(nc), 0);
	noncecache_free(nc);
}

static void full_cache_floor(void **state)
{
	struct noncecache *nc;
	uint8_t n[NONCECACHE_NONCE_LEN];

	assert_int_equal(noncecache_new(&nc, 4, 120), 0);
	for (uint32_t i = 0; i < 4; i++) {
		nonce_n(n, i);
		assert_int_equal(noncecache_check(nc, n, 1000 + i, 1000), 0);
	}
	/* a fifth evicts the oldest (stamped 1000): the floor becomes 1000 */
	nonce_n(n, 4);
	assert_int_equal(noncecache_check(nc, n, 1010, 1001), 0);
	assert_int_equal(noncecache_evicted(nc), 1);
	assert_int_equal(noncecache_count(nc), 4);
	/* the evicted nonce replayed: refused by the floor, not accepted */
	nonce_n(n, 0);
	assert_int_equal(noncecache_check(nc, n, 1000, 1002), -ESTALE);
	/* a fresh request stamped after the floor still works */
	nonce_n(n, 99);
	assert_int_equal(noncecache_check(nc, n, 1011, 1002), 0);
	/* the ones still cached are still caught */
	nonce_n(n, 3);
	assert_int_equal(noncecache_check(nc, n, 1003, 1003), -EALREADY);
	noncecache_free(nc);
}

static void many(void **state)
{
	struct noncecache *nc;
	uint8_t n[NONCECACHE_NONCE_LEN];

	/* bounded memory under a long run: the window keeps it small */
	assert_int_equal(noncecache_new(&nc, 1000, 10), 0);
	for (uint32_t i = 0; i < 20000; i++) {
		randombytes_buf(n, sizeof(n));
		int64_t now = 1000 + i / 40;
		assert_int_equal(noncecache_check(nc, n, now, now), 0);
		assert_true(noncecache_count(nc) <= 1000);
	}
	assert_int_equal(noncecache_evicted(nc), 0);   /* 40/s, kept 21 s: never full */
	noncecache_free(nc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(replay_caught),
		cmocka_unit_test(expiry),
		cmocka_unit_test(full_cache_floor),
		cmocka_unit_test(many),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
