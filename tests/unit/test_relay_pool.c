/*
 * test_relay_pool.c - the relay's pool index: newest first, by system
 * and by server id, counts, removal, and growth past the first table.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "pool.h"

static void entry(struct pool_entry *e, uint8_t sys, const char *sid)
{
	memset(e, 0, sizeof(*e));
	memset(e->system, sys, UUID_LEN);
	snprintf(e->server_id, sizeof(e->server_id), "%s", sid);
}

static void newest_first(void **state)
{
	struct pool *p;
	struct pool_entry e[4];
	uint8_t s1[UUID_LEN], s2[UUID_LEN];

	memset(s1, 1, sizeof(s1));
	memset(s2, 2, sizeof(s2));
	assert_int_equal(pool_new(&p), 0);
	entry(&e[0], 1, "nvr1");
	entry(&e[1], 1, "nvr2");
	entry(&e[2], 1, "nvr1");
	entry(&e[3], 2, "");
	for (int i = 0; i < 4; i++)
		assert_int_equal(pool_add(p, &e[i]), 0);
	assert_int_equal(pool_total(p), 4);
	assert_int_equal(pool_systems(p), 2);
	assert_int_equal(pool_count(p, s1), 3);
	assert_ptr_equal(pool_oldest(p, s1), &e[0]);

	/* plain system: the newest of any server */
	assert_ptr_equal(pool_take(p, s1, ""), &e[2]);
	/* server.system: only that server's, newest first */
	assert_ptr_equal(pool_take(p, s1, "nvr1"), &e[0]);
	assert_null(pool_take(p, s1, "nvr1"));
	assert_null(pool_take(p, s1, "nvr9"));
	assert_ptr_equal(pool_take(p, s1, NULL), &e[1]);
	assert_null(pool_take(p, s1, ""));
	assert_int_equal(pool_count(p, s1), 0);
	assert_int_equal(pool_systems(p), 1);   /* an empty system is dropped */
	assert_null(e[0].sys);
	pool_free(p);
}

static void remove_any(void **state)
{
	struct pool *p;
	struct pool_entry e[3];
	uint8_t s1[UUID_LEN];

	memset(s1, 7, sizeof(s1));
	assert_int_equal(pool_new(&p), 0);
	for (int i = 0; i < 3; i++) {
		entry(&e[i], 7, "");
		assert_int_equal(pool_add(p, &e[i]), 0);
	}
	pool_remove(p, &e[1]);          /* middle */
	pool_remove(p, &e[1]);          /* twice: nothing */
	assert_int_equal(pool_count(p, s1), 2);
	assert_ptr_equal(pool_oldest(p, s1), &e[0]);
	pool_remove(p, &e[0]);          /* head */
	assert_ptr_equal(pool_oldest(p, s1), &e[2]);
	pool_remove(p, &e[2]);          /* last */
	assert_int_equal(pool_total(p), 0);
	assert_int_equal(pool_systems(p), 0);
	assert_null(pool_oldest(p, s1));
	pool_free(p);
}

static size_t seen;
static void count_cb(void *arg, const uint8_t system[UUID_LEN], size_t n)
{
	seen += n;
}

static void many_systems(void **state)
{
	enum { N = 5000 };
	struct pool *p;
	struct pool_entry *e = calloc(N, sizeof(*e));

	assert_non_null(e);
	assert_int_equal(pool_new(&p), 0);
	for (uint32_t i = 0; i < N; i++) {
		memset(&e[i], 0, sizeof(e[i]));
		memcpy(e[i].system, &i, sizeof(i));
		assert_int_equal(pool_add(p, &e[i]), 0);
	}
	assert_int_equal(pool_systems(p), N);
	seen = 0;
	pool_each_system(p, count_cb, NULL);
	assert_int_equal(seen, N);
	for (uint32_t i = 0; i < N; i += 2) {
		uint8_t sys[UUID_LEN] = { 0 };
		memcpy(sys, &i, sizeof(i));
		assert_ptr_equal(pool_take(p, sys, ""), &e[i]);
	}
	assert_int_equal(pool_total(p), N / 2);
	pool_free(p);   /* with entries still linked: they are just forgotten */
	assert_null(e[1].sys);
	free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(newest_first),
		cmocka_unit_test(remove_any),
		cmocka_unit_test(many_systems),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
