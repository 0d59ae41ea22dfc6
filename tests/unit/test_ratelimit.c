/*
 * test_ratelimit.c - the handshake token buckets: a source gets its burst,
 * then its rate; one noisy source does not lock out another; the global
 * bucket bounds the total across many sources.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sodium.h>

#include "ratelimit.h"

static struct ratelimit rl;

static void per_source(void **state)
{
	ratelimit_init(&rl);
	uint64_t t = 1000;
	int ok = 0;
	for (int i = 0; i < 100; i++)
		ok += ratelimit_allow(&rl, 0xc6336401, t);
	assert_int_equal(ok, RATELIMIT_PER_SOURCE_BURST);
	/* one second later: RATE more */
	ok = 0;
	for (int i = 0; i < 100; i++)
		ok += ratelimit_allow(&rl, 0xc6336401, t + 1000);
	assert_int_equal(ok, RATELIMIT_PER_SOURCE_RATE);
	/* another source is unaffected */
	assert_true(ratelimit_allow(&rl, 0xc6336402, t + 1000));
}

static void global_bound(void **state)
{
	ratelimit_init(&rl);
	int ok = 0;
	for (uint32_t a = 0; a < 10000; a++)
		ok += ratelimit_allow(&rl, 0xcb007100 + a, 5000);
	assert_int_equal(ok, RATELIMIT_GLOBAL_BURST);
	/* over the next second, fresh sources every millisecond: the global
	 * rate, not more */
	ok = 0;
	uint32_t a = 0;
	for (uint64_t t = 5001; t <= 6000; t++)
		for (int i = 0; i < 3; i++)
			ok += ratelimit_allow(&rl, 0x0a000000 + a++, t);
	assert_int_equal(ok, RATELIMIT_GLOBAL_RATE);
}

int main(void)
{
	assert_true(sodium_init() >= 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(per_source),
		cmocka_unit_test(global_bound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
