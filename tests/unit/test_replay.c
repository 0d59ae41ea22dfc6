/*
 * test_replay.c - the anti-replay window (shared/replay.c) at its edges:
 * the first counter, duplicates, the exact window boundary at every offset
 * inside a bitmap word, jumps that clear part or all of the ring, counters
 * near REPLAY_REJECT_AFTER, and long randomly reordered streams checked
 * against a plain reference model that remembers every counter it saw.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "replay.h"

#define BITMAP_BITS ((uint64_t)REPLAY_BITMAP_WORDS * 64)

static void test_first_counter_zero(void **state)
{
	(void)state;
	struct replay r;
	replay_init(&r);
	assert_true(replay_check(&r, 0));
	assert_true(replay_update(&r, 0));
	assert_false(replay_check(&r, 0));
	assert_false(replay_update(&r, 0));
	assert_true(replay_update(&r, 1));
	assert_false(replay_update(&r, 0));
	assert_false(replay_update(&r, 1));
}

/* The first counter seen need not be 0; what came before it is still open. */
static void test_first_counter_late(void **state)
{
	(void)state;
	struct replay r;
	replay_init(&r);
	assert_true(replay_update(&r, 10000));
	assert_true(replay_update(&r, 10000 - REPLAY_WINDOW));
	assert_false(replay_update(&r, 10000 - REPLAY_WINDOW - 1));
	assert_true(replay_update(&r, 9999));
	assert_false(replay_update(&r, 9999));
	assert_false(replay_update(&r, 10000));
}

static void test_in_order_and_duplicates(void **state)
{
	(void)state;
	struct replay r;
	replay_init(&r);
	for (uint64_t c = 0; c < 5 * BITMAP_BITS; c++) {
		assert_true(replay_check(&r, c));
		assert_true(replay_update(&r, c));
		assert_false(replay_update(&r, c));
		if (c > 0)
			assert_false(replay_update(&r, c - 1));
		if (c >= REPLAY_WINDOW)
			assert_false(replay_check(&r, c - REPLAY_WINDOW));
	}
}

/* The oldest acceptable counter is exactly REPLAY_WINDOW behind the highest;
 * try it for every position of the highest counter within its word. */
static void test_window_edge(void **state)
{
	(void)state;
	for (uint64_t off = 0; off < 2 * 64; off++) {
		struct replay r;
		uint64_t top = 100000 + off;
		replay_init(&r);
		assert_true(replay_update(&r, top));
		assert_true(replay_check(&r, top - REPLAY_WINDOW));
		assert_false(replay_check(&r, top - REPLAY_WINDOW - 1));
		assert_false(replay_update(&r, top - REPLAY_WINDOW - 1));
		assert_true(replay_update(&r, top - REPLAY_WINDOW));
		assert_false(replay_update(&r, top - REPLAY_WINDOW));
		/* One step forward pushes that counter out, seen or not. */
		assert_true(replay_update(&r, top + 1));
		assert_false(replay_check(&r, top - REPLAY_WINDOW));
		assert_true(replay_check(&r, top + 1 - REPLAY_WINDOW));
	}
}

static void test_out_of_order_within_window(void **state)
{
	(void)state;
	struct replay r;
	replay_init(&r);
	assert_true(replay_update(&r, 500));
	assert_true(replay_update(&r, 300));
	assert_true(replay_update(&r, 499));
	assert_true(replay_update(&r, 0));
	assert_true(replay_update(&r, 501));
	assert_false(replay_update(&r, 300));
	assert_false(replay_update(&r, 499));
	assert_true(replay_update(&r, 301));
	assert_true(replay_check(&r, 1));
	assert_false(replay_check(&r, 0));
}

/* A jump of the whole ring or more must forget every old bit, even bits
 * that share a ring slot with the new block. */
static void test_far_jump_clears_all(void **state)
{
	(void)state;
	struct replay r;
	replay_init(&r);
	for (uint64_t c = 320; c <= 323; c++)
		assert_true(replay_update(&r, c));
	uint64_t top = 323 + BITMAP_BITS; /* same word and bit as 323 */
	assert_true(replay_update(&r, top));
	for (uint64_t c = top - 3; c < top; c++)
		assert_true(replay_update(&r, c));
	assert_false(replay_update(&r, 323));
	assert_false(replay_update(&r, 100));
	assert_false(replay_update(&r, top - REPLAY_WINDOW - 1));

	uint64_t far = top + 1000000;
	assert_true(replay_update(&r, far));
	assert_false(replay_update(&r, top));
	assert_false(replay_update(&r, top - 1));
	assert_true(replay_update(&r, far - 1));
	assert_true(replay_update(&r, far - REPLAY_WINDOW));
}

/* A short jump clears only the words slid onto, and exactly those. */
static void test_short_jump_clears_new_words(void **state)
{
	(void)state;
	struct replay r;
	replay_init(&r);
	for (uint64_t c = 0; c < BITMAP_BITS; c++)
		assert_true(replay_update(&r, c)); /* every bit of the ring set */
	assert_true(replay_update(&r, BITMAP_BITS + 10));
	for (uint64_t c = BITMAP_BITS; c < BITMAP_BITS + 10; c++)
		assert_true(replay_check(&r, c));
	assert_false(replay_check(&r, BITMAP_BITS - 1));
	assert_false(replay_check(&r, BITMAP_BITS + 10 - REPLAY_WINDOW));
	assert_false(replay_check(&r, BITMAP_BITS + 10 - REPLAY_WINDOW - 1));

	/* Three words ahead: the two in between are fresh too. */
	assert_true(replay_update(&r, BITMAP_BITS + 3 * 64 + 5));
	for (uint64_t c = BITMAP_BITS + 64; c < BITMAP_BITS + 3 * 64 + 5; c++)
		assert_true(replay_check(&r, c));
	assert_false(replay_check(&r, BITMAP_BITS + 10));
	assert_true(replay_check(&r, BITMAP_BITS + 11));
}

static void test_reject_after(void **state)
{
	(void)state;
	struct replay r;
	replay_init(&r);
	assert_false(replay_check(&r, UINT64_MAX));
	assert_false(replay_update(&r, UINT64_MAX));
	assert_false(replay_update(&r, REPLAY_REJECT_AFTER));
	assert_false(replay_update(&r, REPLAY_REJECT_AFTER + 1));
	assert_true(replay_update(&r, REPLAY_REJECT_AFTER - 1));
	assert_false(replay_update(&r, REPLAY_REJECT_AFTER - 1));
	assert_true(replay_update(&r, REPLAY_REJECT_AFTER - 2));
	assert_true(replay_update(&r, REPLAY_REJECT_AFTER - 1 - REPLAY_WINDOW));
	assert_false(replay_update(&r, REPLAY_REJECT_AFTER - 2 - REPLAY_WINDOW));
	assert_false(replay_update(&r, REPLAY_REJECT_AFTER));
	assert_false(replay_update(&r, UINT64_MAX));
	assert_false(replay_update(&r, 0));
}

static void test_check_does_not_mutate(void **state)
{
	(void)state;
	struct replay r, before;
	replay_init(&r);
	for (uint64_t c = 0; c < 3000; c += 3)
		assert_true(replay_update(&r, c));
	memcpy(&before, &r, sizeof(r));
	const uint64_t probes[] = { 0, 1, 2999, 2998, 3000, 3001, 100000, BITMAP_BITS * 4,
				    REPLAY_REJECT_AFTER - 1, REPLAY_REJECT_AFTER, UINT64_MAX };
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		(void)replay_check(&r, probes[i]);
	assert_memory_equal(&before, &r, sizeof(r));
	assert_true(replay_check(&r, 100000));
	assert_true(replay_update(&r, 100000)); /* check() said yes but did not commit */
}

/* ---- randomised comparison with a reference model ----------------------- */

struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *g)
{
	/* xorshift64*: deterministic, so a failure reproduces */
	g->s ^= g->s >> 12;
	g->s ^= g->s << 25;
	g->s ^= g->s >> 27;
	return g->s * 2685821657736338717ULL;
}

static uint64_t rng_below(struct rng *g, uint64_t n)
{
	return rng_next(g) % n;
}

/* The obvious definition: remember every counter ever accepted. */
struct model {
	uint8_t *seen; /* one byte per counter offset from base */
	uint64_t span, base;
	bool any;
	uint64_t high;
};

static bool model_update(struct model *m, uint64_t c)
{
	uint64_t i = c - m->base;
	assert_true(i < m->span);
	bool ok = c < REPLAY_REJECT_AFTER &&
		  (!m->any || c > m->high || (m->high - c <= REPLAY_WINDOW && !m->seen[i]));
	if (ok) {
		m->seen[i] = 1;
		if (!m->any || c > m->high)
			m->high = c;
		m->any = true;
	}
	return ok;
}

/* Counters mostly move forward in shuffled bursts, with duplicates, stale
 * counters near and beyond the edge, and occasional jumps. */
static uint64_t next_counter(struct rng *g, uint64_t cursor, uint64_t base)
{
	uint64_t roll = rng_below(g, 1000);
	uint64_t back;

	if (roll < 700)
		back = rng_below(g, 256); /* reordering just behind */
	else if (roll < 850)
		back = rng_below(g, REPLAY_WINDOW + 1);
	else if (roll < 920)
		back = REPLAY_WINDOW - 8 + rng_below(g, 17); /* around the edge */
	else if (roll < 997)
		return cursor + rng_below(g, 256); /* a little ahead */
	else
		return cursor + 64 * rng_below(g, 3 * REPLAY_BITMAP_WORDS); /* jumps */
	return cursor - base > back ? cursor - back : base;
}

#define MODEL_SPAN (32u << 20)

static void run_random(uint64_t base, uint64_t seed, size_t steps)
{
	struct model m = { .seen = calloc(MODEL_SPAN, 1), .span = MODEL_SPAN, .base = base };
	struct rng g = { .s = seed };
	struct replay r;
	uint64_t cursor = base;
	size_t accepted = 0, refused = 0, i;

	assert_non_null(m.seen);
	replay_init(&r);
	for (i = 0; i < steps && cursor - base < MODEL_SPAN - 4 * BITMAP_BITS; i++) {
		uint64_t c = next_counter(&g, cursor, base);
		bool pre = replay_check(&r, c);
		bool got = replay_update(&r, c);
		bool want = model_update(&m, c);
		if (got != want || pre != want)
			fail_msg("step %zu counter base+%llu (base %llu): check %d update %d model %d",
				 i, (unsigned long long)(c - base), (unsigned long long)base, pre, got,
				 want);
		assert_false(replay_check(&r, c));
		if (got)
			accepted++;
		else
			refused++;
		if (c >= cursor)
			cursor = c + 1;
		else if (rng_below(&g, 4) == 0)
			cursor++;
	}
	/* The stream must really have exercised both outcomes and wrapped the
	 * ring many times. */
	assert_int_equal(i, steps);
	assert_true(accepted > steps / 4);
	assert_true(refused > steps / 20);
	assert_true(cursor - base > 100 * BITMAP_BITS);
	free(m.seen);
}

static void test_random_against_model(void **state)
{
	(void)state;
	run_random(0, 0x9e3779b97f4a7c15ULL, 300000);
	run_random(1ULL << 40, 0x1234567887654321ULL, 300000);
	/* ends past REPLAY_REJECT_AFTER, so the model checks refusals there too */
	run_random(REPLAY_REJECT_AFTER - (12u << 20), 0xdeadbeefcafef00dULL, 300000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_counter_zero),
		cmocka_unit_test(test_first_counter_late),
		cmocka_unit_test(test_in_order_and_duplicates),
		cmocka_unit_test(test_window_edge),
		cmocka_unit_test(test_out_of_order_within_window),
		cmocka_unit_test(test_far_jump_clears_all),
		cmocka_unit_test(test_short_jump_clears_new_words),
		cmocka_unit_test(test_reject_after),
		cmocka_unit_test(test_check_does_not_mutate),
		cmocka_unit_test(test_random_against_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
