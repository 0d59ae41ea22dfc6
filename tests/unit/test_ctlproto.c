/*
 * test_ctlproto.c - ctlproto.c: splitting request lines and replies,
 * including every rejection the header promises.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctlproto.h"

/* Parses a copy of s (the parser writes into its input). */
static int parse(const char *s, size_t len, char *copy, char *argv[CTLPROTO_MAX_ARGS])
{
	memcpy(copy, s, len);
	copy[len] = 'X';   /* the parser may overwrite this byte, nothing past it */
	return ctlproto_parse_request(copy, len, argv);
}

static void test_request_split(void **state)
{
	char buf[64];
	char *argv[CTLPROTO_MAX_ARGS];
	assert_int_equal(parse("status\n", 7, buf, argv), 1);
	assert_string_equal(argv[0], "status");

	assert_int_equal(parse("status", 6, buf, argv), 1);   /* newline optional */
	assert_string_equal(argv[0], "status");

	assert_int_equal(parse("ping hq --json\n", 15, buf, argv), 3);
	assert_string_equal(argv[0], "ping");
	assert_string_equal(argv[1], "hq");
	assert_string_equal(argv[2], "--json");
	assert_ptr_equal(argv[1], buf + 5);   /* in place */
}

static void test_request_max_args(void **state)
{
	char buf[64];
	char *argv[CTLPROTO_MAX_ARGS];
	static const char eight[] = "a b c d e f g h\n";
	static const char nine[] = "a b c d e f g h i\n";
	assert_int_equal(parse(eight, strlen(eight), buf, argv), CTLPROTO_MAX_ARGS);
	assert_string_equal(argv[7], "h");
	assert_int_equal(parse(nine, strlen(nine), buf, argv), -EINVAL);
}

static void test_request_bad(void **state)
{
	static const struct { const char *s; size_t len; } bad[] = {
		{ "", 0 },
		{ "\n", 1 },
		{ " status\n", 8 },
		{ "status \n", 8 },
		{ "ping  hq\n", 9 },
		{ "status\r\n", 8 },
		{ "sta\ttus\n", 8 },
		{ "sta\0tus\n", 8 },
		{ "status\n\n", 8 },          /* the newline ends the line */
		{ "st\xc3\xa4tus\n", 8 },     /* not ASCII */
		{ "del\x7f\n", 5 },
	};
	char buf[64];
	char *argv[CTLPROTO_MAX_ARGS];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse(bad[i].s, bad[i].len, buf, argv) != -EINVAL)
			fail_msg("accepted bad request %zu", i);
}

static void test_request_length_limit(void **state)
{
	char *line = malloc(CTLPROTO_MAX_REQUEST + 2);
	char *copy = malloc(CTLPROTO_MAX_REQUEST + 2);
	char *argv[CTLPROTO_MAX_ARGS];
	assert_non_null(line);
	assert_non_null(copy);
	/* Exactly the limit, newline included: accepted. */
	memset(line, 'a', CTLPROTO_MAX_REQUEST);
	line[CTLPROTO_MAX_REQUEST - 1] = '\n';
	assert_int_equal(parse(line, CTLPROTO_MAX_REQUEST, copy, argv), 1);
	assert_int_equal(strlen(argv[0]), CTLPROTO_MAX_REQUEST - 1);
	/* One byte more: refused. */
	memset(line, 'a', CTLPROTO_MAX_REQUEST + 1);
	line[CTLPROTO_MAX_REQUEST] = '\n';
	assert_int_equal(parse(line, CTLPROTO_MAX_REQUEST + 1, copy, argv), -EINVAL);
	free(line);
	free(copy);
}

static void test_reply_ok(void **state)
{
	static const char r[] = "ok\ninterface tund0\n";
	bool ok = false;
	const char *body = NULL;
	size_t blen = 99;
	assert_int_equal(ctlproto_parse_reply(r, strlen(r), &ok, &body, &blen), 0);
	assert_true(ok);
	assert_ptr_equal(body, r + 3);
	assert_int_equal(blen, strlen("interface tund0\n"));

	assert_int_equal(ctlproto_parse_reply("ok\n", 3, &ok, &body, &blen), 0);
	assert_true(ok);
	assert_int_equal(blen, 0);
}

static void test_reply_error(void **state)
{
	static const char r[] = "error no such peer \"x\"\ntrailing";
	bool ok = true;
	const char *body = NULL;
	size_t blen = 0;
	assert_int_equal(ctlproto_parse_reply(r, strlen(r), &ok, &body, &blen), 0);
	assert_false(ok);
	assert_int_equal(blen, strlen("no such peer \"x\""));
	assert_memory_equal(body, "no such peer \"x\"", blen);
}

static void test_reply_bad(void **state)
{
	static const struct { const char *s; size_t len; } bad[] = {
		{ "", 0 },
		{ "ok", 2 },             /* no newline: truncated */
		{ "okay\n", 5 },
		{ "OK\n", 3 },
		{ "ok \n", 4 },
		{ "error\n", 6 },
		{ "error \n", 7 },       /* an error carries a message */
		{ "error message", 13 },
		{ "o\0\n", 3 },
		{ "\nok\n", 4 },
	};
	bool ok;
	const char *body;
	size_t blen;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ctlproto_parse_reply(bad[i].s, bad[i].len, &ok, &body, &blen) != -EBADMSG)
			fail_msg("accepted bad reply %zu", i);
}

static void test_reply_bounded(void **state)
{
	/* The newline sits just past len: the parser must not see it. */
	static const char r[] = "ok\n";
	bool ok;
	const char *body;
	size_t blen;
	assert_int_equal(ctlproto_parse_reply(r, 2, &ok, &body, &blen), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_split),
		cmocka_unit_test(test_request_max_args),
		cmocka_unit_test(test_request_bad),
		cmocka_unit_test(test_request_length_limit),
		cmocka_unit_test(test_reply_ok),
		cmocka_unit_test(test_reply_error),
		cmocka_unit_test(test_reply_bad),
		cmocka_unit_test(test_reply_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
