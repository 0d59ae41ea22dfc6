/*
 * test_config_lan.c - [tund] lan_discovery (docs/tund.conf.md, docs/lan.md):
 * on by default, both values, every error message in full; with it on, a
 * [peer] by system alone and a [publish] section need no mediator (LAN
 * only), and with it off they do, as before.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define CFGTEST_FILE "l.conf"
#include "cfgtest.h"
#include "config.h"
#include "keys.h"

#define UUID "7ff00398-651e-8808-bf75-b48804cd7522"
#define T "[tund]\naddress = 100.100.0.1/16\n"                     /* lines 1-2 */
#define PEER "[peer \"hq\"]\nsystem = " UUID "\naddress = 100.100.0.10\n"

static void test_values(void **state)
{
	struct cfg c;
	(void)state;
	parse_ok(&c, T);
	assert_true(c.lan_discovery);
	cfg_free(&c);
	parse_ok(&c, T "lan_discovery = off\n");
	assert_false(c.lan_discovery);
	cfg_free(&c);
	parse_ok(&c, T "lan_discovery = on\n");
	assert_true(c.lan_discovery);
	cfg_free(&c);
}

/* With LAN discovery, neither finding a system nor publishing one needs a mediator. */
static void test_lan_only(void **state)
{
	struct cfg c;
	(void)state;
	parse_ok(&c, T PEER);
	assert_false(c.has_mediator);
	assert_int_equal(c.n_peers, 1);
	assert_true(c.peers[0].has_system);
	assert_false(c.peers[0].has_key);
	cfg_free(&c);
	parse_ok(&c, T "lan_discovery = on\n[publish]\nserver_id = nvr1\n");
	assert_true(c.publish);
	assert_false(c.has_mediator);
	assert_string_equal(c.server_id, "nvr1");
	cfg_free(&c);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error(T "lan_discovery = yes\n",
		     "l.conf:3: [tund] lan_discovery: \"yes\" is neither on nor off");
	expect_error(T "lan_discovery = On\n",
		     "l.conf:3: [tund] lan_discovery: \"On\" is neither on nor off");
	expect_error(T "lan_discovery =\n", "l.conf:3: [tund] lan_discovery: empty value");
	expect_error(T "lan_discovery = on\nlan_discovery = off\n",
		     "l.conf:4: [tund] lan_discovery: duplicate key (first set at line 3)");
	expect_error(T "lan_discovery = off\n" PEER,
		     "l.conf:5: [peer \"hq\"] system: finding a system without endpoint needs "
		     "mediator in [tund] or lan_discovery = on");
	expect_error(T "lan_discovery = off\n[publish]\n",
		     "l.conf:4: [publish]: needs mediator and mediator_key in [tund], or lan_discovery = on "
		     "(the LAN only)");
	expect_error(T "[publish]\nlan_discovery = on\n", "l.conf:4: [publish] lan_discovery: unknown key");
	expect_error(T PEER "lan_discovery = on\n", "l.conf:6: [peer \"hq\"] lan_discovery: unknown key");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_lan_only),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
