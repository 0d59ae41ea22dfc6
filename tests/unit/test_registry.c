/*
 * test_registry.c - the mediator's table of registered servers: exact and
 * newest-of-system lookups, replacement of a (system, server id) pair
 * reporting the old connection, removal, and many systems at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "registry.h"

static int conn_a, conn_b, conn_c;   /* their addresses stand for connections */

static struct registration entry(uint8_t sys_byte, const char *sid, void *conn)
{
	struct registration r = { .conn = conn, .n_local = 1 };

	memset(r.system_id, sys_byte, UUID_LEN);
	memset(r.key, sys_byte, KEY_LEN);
	snprintf(r.server_id, sizeof(r.server_id), "%s", sid);
	r.local[0] = (struct endpoint){ 0xc0a80101, 41641 };
	return r;
}

static void find_exact_and_newest(void **state)
{
	struct registry *r;
	void *replaced;
	assert_int_equal(registry_new(&r), 0);

	struct registration v1 = entry(1, "nvr-a", &conn_a), v2 = entry(1, "nvr-b", &conn_b);
	struct registration *a = registry_add(r, &v1, &replaced);
	assert_non_null(a);
	assert_null(replaced);
	struct registration *b = registry_add(r, &v2, &replaced);
	assert_non_null(b);
	assert_null(replaced);
	assert_int_equal(registry_count(r), 2);
	assert_true(b->seq > a->seq);

	uint8_t sys[UUID_LEN];
	memset(sys, 1, sizeof(sys));
	assert_ptr_equal(registry_find(r, sys, "nvr-a"), a);
	assert_ptr_equal(registry_find(r, sys, "nvr-b"), b);
	assert_ptr_equal(registry_find(r, sys, ""), b);   /* newest */
	assert_null(registry_find(r, sys, "nvr-c"));
	memset(sys, 2, sizeof(sys));
	assert_null(registry_find(r, sys, ""));

	/* the newest goes: the other one is found for the system */
	memset(sys, 1, sizeof(sys));
	registry_remove(r, b);
	assert_ptr_equal(registry_find(r, sys, ""), a);
	assert_int_equal(registry_count(r), 1);
	registry_free(r);
}

static void same_server_replaces(void **state)
{
	struct registry *r;
	void *replaced;
	uint8_t sys[UUID_LEN];
	assert_int_equal(registry_new(&r), 0);

	struct registration v1 = entry(7, "nvr", &conn_a), v2 = entry(7, "nvr", &conn_b);
	v2.local[0].port = 5000;
	assert_non_null(registry_add(r, &v1, &replaced));
	struct registration *b = registry_add(r, &v2, &replaced);
	assert_ptr_equal(replaced, &conn_a);
	assert_int_equal(registry_count(r), 1);
	memset(sys, 7, sizeof(sys));
	assert_ptr_equal(registry_find(r, sys, "nvr"), b);
	assert_int_equal(b->local[0].port, 5000);
	assert_ptr_equal(b->conn, &conn_b);

	/* another system with the same server id is a different server */
	struct registration v3 = entry(8, "nvr", &conn_c);
	assert_non_null(registry_add(r, &v3, &replaced));
	assert_null(replaced);
	assert_int_equal(registry_count(r), 2);
	registry_free(r);
}

static void many_systems(void **state)
{
	struct registry *r;
	void *replaced;
	uint8_t sys[UUID_LEN];
	assert_int_equal(registry_new(&r), 0);

	for (unsigned i = 0; i < 3000; i++) {
		struct registration v = entry(0, "s", &conn_a);
		memcpy(v.system_id, &i, sizeof(i));
		assert_non_null(registry_add(r, &v, &replaced));
		assert_null(replaced);
	}
	assert_int_equal(registry_count(r), 3000);
	for (unsigned i = 0; i < 3000; i += 7) {
		memset(sys, 0, sizeof(sys));
		memcpy(sys, &i, sizeof(i));
		struct registration *e = registry_find(r, sys, "");
		assert_non_null(e);
		assert_memory_equal(e->system_id, sys, UUID_LEN);
		registry_remove(r, e);
		assert_null(registry_find(r, sys, "s"));
	}
	assert_int_equal(registry_count(r), 3000 - 429);
	registry_free(r);   /* frees the rest (ASan checks) */
}

int main(void)
{
	assert_true(sodium_init() >= 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(find_exact_and_newest),
		cmocka_unit_test(same_server_replaces),
		cmocka_unit_test(many_systems),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
