/*
 * cfgtest.h - the helpers the tund.conf unit tests (test_config*.c) share:
 * parse a config from a string, expect one exact error, expect success.
 * Define CFGTEST_FILE (the file name error messages carry) before
 * including it.
 */
#ifndef TUND_TESTS_CFGTEST_H
#define TUND_TESTS_CFGTEST_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

#ifndef CFGTEST_FILE
#error "define CFGTEST_FILE before including cfgtest.h"
#endif

static inline int parse(struct cfg *c, const char *text, char err[CFG_ERR_MAX])
{
	return cfg_parse_string(c, CFGTEST_FILE, text, err, CFG_ERR_MAX);
}

/* Parses text, expects -EINVAL with exactly this message and a freed struct. */
static inline void expect_error(const char *text, const char *want)
{
	struct cfg c;
	char err[CFG_ERR_MAX];
	int rc = parse(&c, text, err);

	if (rc != -EINVAL || strcmp(err, want) != 0)
		print_error("input:\n%s\nwant: %s\ngot:  %d %s\n", text, want, rc, err);
	assert_int_equal(rc, -EINVAL);
	assert_string_equal(err, want);
	assert_null(c.peers);
	assert_int_equal(c.n_peers, 0);
}

/* Parses text and expects success with no message; the caller frees c. */
static inline void parse_ok(struct cfg *c, const char *text)
{
	char err[CFG_ERR_MAX];
	int rc = parse(c, text, err);

	if (rc != 0)
		print_error("input:\n%s\ngot:  %d %s\n", text, rc, err);
	assert_int_equal(rc, 0);
	assert_string_equal(err, "");
}

#endif
