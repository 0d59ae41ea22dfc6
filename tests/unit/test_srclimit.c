/*
 * test_srclimit.c - per-source token buckets: the burst, then the rate,
 * per address and capped at the burst; the relay's parameters (10/s,
 * burst 20 in the test) and the mediator's (20/s, burst 40); a clock that
 * goes back refills nothing; a new or displaced source starts full.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sodium.h>

#include "srclimit.h"

static int take(struct srclimit *l, uint32_t addr, uint64_t now_ms, int n)
{
	int ok = 0;

	for (int i = 0; i < n; i++)
		ok += srclimit_allow(l, addr, now_ms);
	return ok;
}

static void burst_then_rate(void **state)
{
	struct srclimit *l;

	assert_int_equal(srclimit_new(&l, 10, 20), 0);
	assert_int_equal(take(l, 0xc0000201, 1000, 30), 20);   /* the burst */
	assert_true(srclimit_allow(l, 0xc0000202, 1000));       /* another source is untouched */
	assert_false(srclimit_allow(l, 0xc0000201, 1050));      /* half a token */
	assert_true(srclimit_allow(l, 0xc0000201, 1100));       /* 10/s: one per 100 ms */
	assert_false(srclimit_allow(l, 0xc0000201, 1100));
	assert_int_equal(take(l, 0xc0000201, 100000, 30), 20);  /* refilled, capped at the burst */
	srclimit_free(l);
}

static void mediator_rate(void **state)
{
	struct srclimit *l;

	assert_int_equal(srclimit_new(&l, 20, 40), 0);
	assert_int_equal(take(l, 0xcb007101, 5000, 100), 40);
	assert_int_equal(take(l, 0xcb007101, 6000, 100), 20);   /* a second later */
	assert_int_equal(take(l, 0xcb007101, 6049, 1), 0);      /* 0.98 of a token */
	assert_int_equal(take(l, 0xcb007101, 6050, 1), 1);
	srclimit_free(l);
}

static void clock_backwards(void **state)
{
	struct srclimit *l;

	assert_int_equal(srclimit_new(&l, 10, 2), 0);
	assert_int_equal(take(l, 0xc6336401, 10000, 5), 2);
	assert_int_equal(take(l, 0xc6336401, 1000, 5), 0);      /* no refill from going back */
	assert_int_equal(take(l, 0xc6336401, 1100, 1), 1);      /* counts from the new time */
	srclimit_free(l);
}

static void many_sources(void **state)
{
	struct srclimit *l;
	int ok = 0;

	/* More sources than slots: every first request passes. */
	assert_int_equal(srclimit_new(&l, 1, 1), 0);
	for (uint32_t a = 0; a < 3 * SRCLIMIT_SLOTS; a++)
		ok += srclimit_allow(l, 0x0a000000 + a, 1000);
	assert_int_equal(ok, 3 * SRCLIMIT_SLOTS);
	srclimit_free(l);

	/* A displaced source starts from a full bucket. The slots are picked
	 * by a keyed hash, so which source displaces which is found by trying
	 * (whether the first one was displaced above is chance: about 1 in 20
	 * it was not). Source A empties its bucket; newcomers come until one
	 * takes A's slot, which the next request of A shows by passing.
	 * Missing one in 200000 tries has odds of about e^-24. */
	const uint32_t a = 0xc0000201;
	bool displaced = false;
	assert_int_equal(srclimit_new(&l, 1, 1), 0);
	assert_true(srclimit_allow(l, a, 1000));
	assert_false(srclimit_allow(l, a, 1000));
	for (uint32_t b = 1; b <= 200000 && !displaced; b++) {
		assert_true(srclimit_allow(l, 0x0a000000 + b, 1000));
		displaced = srclimit_allow(l, a, 1000);
	}
	assert_true(displaced);
	assert_false(srclimit_allow(l, a, 1000)); /* and its new bucket holds one */
	srclimit_free(l);
	srclimit_free(NULL);
}

static void zero_burst(void **state)
{
	struct srclimit *l;

	assert_int_equal(srclimit_new(&l, 1000, 0), 0);
	assert_int_equal(take(l, 0xc0000201, 1000, 3), 0);
	assert_int_equal(take(l, 0xc0000201, 90000, 3), 0);
	srclimit_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(burst_then_rate),
		cmocka_unit_test(mediator_rate),
		cmocka_unit_test(clock_backwards),
		cmocka_unit_test(many_sources),
		cmocka_unit_test(zero_burst),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
