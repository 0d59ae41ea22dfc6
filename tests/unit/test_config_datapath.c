/*
 * test_config_datapath.c - [tund] offload and crypto_threads
 * (docs/tund.conf.md, kernel-notes/offload.md): defaults, every value, and
 * every error message in full.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define CFGTEST_FILE "d.conf"
#include "cfgtest.h"
#include "config.h"

#define T "[tund]\naddress = 100.100.0.1/16\n" /* lines 1-2 */

static void test_values(void **state)
{
	(void)state;
	struct cfg c;
	parse_ok(&c, T);
	assert_true(c.offload);
	assert_int_equal(c.crypto_threads, 0);
	cfg_free(&c);
	parse_ok(&c, T "offload = off\ncrypto_threads = 1\n");
	assert_false(c.offload);
	assert_int_equal(c.crypto_threads, 1);
	cfg_free(&c);
	parse_ok(&c, T "offload = auto\ncrypto_threads = auto\n");
	assert_true(c.offload);
	assert_int_equal(c.crypto_threads, 0);
	cfg_free(&c);
	parse_ok(&c, T "crypto_threads = 8\n");
	assert_int_equal(c.crypto_threads, 8);
	cfg_free(&c);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error(T "offload = on\n", "d.conf:3: [tund] offload: \"on\" is neither auto nor off");
	expect_error(T "offload = Auto\n", "d.conf:3: [tund] offload: \"Auto\" is neither auto nor off");
	expect_error(T "offload =\n", "d.conf:3: [tund] offload: empty value");
	expect_error(T "offload = off\noffload = auto\n",
		     "d.conf:4: [tund] offload: duplicate key (first set at line 3)");
	expect_error(T "crypto_threads = 0\n", "d.conf:3: [tund] crypto_threads: \"0\" is out of range (1..8)");
	expect_error(T "crypto_threads = 9\n", "d.conf:3: [tund] crypto_threads: \"9\" is out of range (1..8)");
	expect_error(T "crypto_threads = two\n", "d.conf:3: [tund] crypto_threads: \"two\" is not a number");
	expect_error(T "[peer \"hq\"]\noffload = off\n", "d.conf:4: [peer \"hq\"] offload: unknown key");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
