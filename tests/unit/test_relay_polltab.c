/*
 * test_relay_polltab.c - Poll-mode session bookkeeping: tokens are fresh
 * 32-digit hex and found in either case, unknown or malformed tokens are
 * not, removal forgets them, and the upstream takes one POST at a time
 * and exactly its Content-Length.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

#include <cmocka.h>
#include <sodium.h>

#include "polltab.h"

static void tokens(void **state)
{
	struct polltab *t;
	struct polltab_entry a = { 0 }, b = { 0 };
	char upper[RELAYPROTO_TOKEN_STR + 1];

	assert_int_equal(polltab_new(&t), 0);
	assert_int_equal(polltab_add(t, &a), 0);
	assert_int_equal(polltab_add(t, &b), 0);
	assert_int_equal(strlen(a.hex), RELAYPROTO_TOKEN_STR);
	for (size_t i = 0; i < RELAYPROTO_TOKEN_STR; i++)
		assert_true(isxdigit((unsigned char)a.hex[i]) && !isupper((unsigned char)a.hex[i]));
	assert_string_not_equal(a.hex, b.hex);
	assert_ptr_equal(polltab_find(t, a.hex), &a);
	assert_ptr_equal(polltab_find(t, b.hex), &b);
	for (size_t i = 0; i <= RELAYPROTO_TOKEN_STR; i++)
		upper[i] = (char)toupper((unsigned char)a.hex[i]);
	assert_ptr_equal(polltab_find(t, upper), &a);
	assert_int_equal(polltab_count(t), 2);

	/* unknown, short, long, not hex */
	assert_null(polltab_find(t, "0123456789abcdef0123456789abcdef"));
	assert_null(polltab_find(t, "0123"));
	assert_null(polltab_find(t, ""));
	char longer[RELAYPROTO_TOKEN_STR + 2];
	memcpy(longer, a.hex, RELAYPROTO_TOKEN_STR);
	longer[RELAYPROTO_TOKEN_STR] = '0';
	longer[RELAYPROTO_TOKEN_STR + 1] = '\0';
	assert_null(polltab_find(t, longer));
	char nothex[RELAYPROTO_TOKEN_STR + 1];
	memcpy(nothex, a.hex, sizeof(nothex));
	nothex[5] = 'g';
	assert_null(polltab_find(t, nothex));

	/* a session that is gone: its token finds nothing */
	polltab_remove(t, &a);
	polltab_remove(t, &a);
	assert_null(polltab_find(t, a.hex));
	assert_ptr_equal(polltab_find(t, b.hex), &b);
	assert_int_equal(polltab_count(t), 1);
	polltab_free(t);
}

static void many(void **state)
{
	enum { N = 3000 };
	struct polltab *t;
	struct polltab_entry *e = calloc(N, sizeof(*e));

	assert_non_null(e);
	assert_int_equal(polltab_new(&t), 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(polltab_add(t, &e[i]), 0);
	for (int i = 0; i < N; i++)
		assert_ptr_equal(polltab_find(t, e[i].hex), &e[i]);
	for (int i = 0; i < N; i += 3)
		polltab_remove(t, &e[i]);
	for (int i = 0; i < N; i++)
		assert_ptr_equal(polltab_find(t, e[i].hex), i % 3 ? &e[i] : NULL);
	polltab_free(t);
	free(e);
}

static void uploads(void **state)
{
	struct polltab_entry e = { 0 };

	/* an empty POST (the upstream check) is complete at once */
	assert_int_equal(polltab_upload_begin(&e, 0, true), 0);
	assert_false(e.uploading);
	/* a body in three pieces, the last followed by the next request */
	assert_int_equal(polltab_upload_begin(&e, 10, false), 0);
	assert_true(e.uploading);
	assert_false(e.up_keep);
	assert_int_equal(polltab_upload_begin(&e, 5, true), -EBUSY);   /* one at a time */
	assert_int_equal(polltab_upload_take(&e, 4), 4);
	assert_int_equal(polltab_upload_take(&e, 0), 0);
	assert_int_equal(polltab_upload_take(&e, 5), 5);
	assert_true(e.uploading);
	assert_int_equal(polltab_upload_take(&e, 100), 1);
	assert_false(e.uploading);
	assert_int_equal(e.up_left, 0);
	/* the next may begin */
	assert_int_equal(polltab_upload_begin(&e, 3, true), 0);
	assert_int_equal(polltab_upload_take(&e, 3), 3);
	assert_false(e.uploading);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tokens),
		cmocka_unit_test(many),
		cmocka_unit_test(uploads),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
