/*
 * test_config_mediator.c - the keys of tund.conf that find systems
 * through the mediator: [tund] mediator, mediator_key, nat_keepalive,
 * [publish], and [peer] system. Every error message is compared in full;
 * the rest of the parser is covered by test_config.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define CFGTEST_FILE "m.conf"
#include "cfgtest.h"
#include "config.h"
#include "keys.h"

#define K1 "JTA7RlFcZ3J9iJOeqbS/ytXg6/YBDBciLThDTllkb3o="
#define KM "8ZdPr8dz7NOSBfqTSKo7W2tnqZ0xMcbQ6LX+1Dt3cHM="
#define UUID "7ff00398-651e-8808-bf75-b48804cd7522"
#define T "[tund]\naddress = 100.100.0.1/16\n"                     /* lines 1-2 */
#define TM T "mediator = 198.51.100.5\nmediator_key = " KM "\n"   /* lines 1-4 */

static void test_mediated_peer(void **state)
{
	struct cfg c;
	char err[CFG_ERR_MAX];
	uint8_t id[UUID_LEN];
	(void)state;
	assert_int_equal(parse(&c, TM "nat_keepalive = 10\n[publish]\nserver_id = nvr-1\n"
			       "[peer \"hq\"]\nsystem = nvr2." UUID "\naddress = 100.100.0.10\n", err), 0);
	assert_true(c.has_mediator);
	assert_string_equal(c.mediator_host, "198.51.100.5");
	assert_int_equal(c.mediator_port, 3478);
	assert_int_equal(c.nat_keepalive, 10);
	assert_true(c.publish);
	assert_string_equal(c.server_id, "nvr-1");
	assert_int_equal(c.n_peers, 1);
	assert_true(c.peers[0].has_system);
	assert_false(c.peers[0].has_key);
	assert_false(c.peers[0].has_endpoint);
	assert_string_equal(c.peers[0].server_id, "nvr2");
	assert_int_equal(uuid_parse(id, UUID), 0);
	assert_memory_equal(c.peers[0].system_id, id, UUID_LEN);
	cfg_free(&c);

	/* Defaults: no mediator, keepalive 25, port 3478 with a name. */
	assert_int_equal(parse(&c, T "mediator = med.example.net:5000\nmediator_key = " KM "\n", err), 0);
	assert_string_equal(c.mediator_host, "med.example.net");
	assert_int_equal(c.mediator_port, 5000);
	assert_int_equal(c.nat_keepalive, 25);
	assert_false(c.publish);
	cfg_free(&c);
}

static void test_key_must_match_system(void **state)
{
	struct cfg c;
	char err[CFG_ERR_MAX], want[CFG_ERR_MAX], id[UUID_STR_LEN + 1];
	uint8_t key[KEY_LEN], raw[UUID_LEN];
	(void)state;
	assert_int_equal(key_from_base64(key, K1), 0);
	key_system_id(raw, key);
	uuid_format(id, raw);
	snprintf(want, sizeof(want), "m.conf:6: [peer \"hq\"] key: belongs to system %s, not to "
		 "system " UUID, id);
	expect_error(TM "[peer \"hq\"]\nkey = " K1 "\nsystem = " UUID "\naddress = 100.100.0.10\n", want);

	/* ...and with its own id it parses. */
	char text[512];
	snprintf(text, sizeof(text), TM "[peer \"hq\"]\nkey = " K1 "\nsystem = %s\naddress = 100.100.0.10\n", id);
	assert_int_equal(parse(&c, text, err), 0);
	assert_true(c.peers[0].has_key && c.peers[0].has_system);
	cfg_free(&c);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error(T "mediator = 198.51.100.5\n",
		     "m.conf:3: [tund] mediator_key: missing (required with mediator)");
	expect_error(T "mediator = 198.51.100.5:0\n", "m.conf:3: [tund] mediator: "
		     "\"198.51.100.5:0\": the port must be 1..65535");
	expect_error(T "mediator = 198.51.100.5:70000\n", "m.conf:3: [tund] mediator: "
		     "\"198.51.100.5:70000\": the port must be 1..65535");
	expect_error(T "mediator = med_1:3478\n", "m.conf:3: [tund] mediator: "
		     "\"med_1:3478\" is not host[:port] (a host name or IPv4 address)");
	expect_error(T "mediator_key = abc\n", "m.conf:3: [tund] mediator_key: "
		     "not a valid base64 key (44 characters expected)");
	expect_error(T "nat_keepalive = 3601\n", "m.conf:3: [tund] nat_keepalive: "
		     "\"3601\" is out of range (0..3600)");
	expect_error(T "lan_discovery = off\n[publish]\nserver_id = a\n",
		     "m.conf:4: [publish]: needs mediator and mediator_key in [tund], or lan_discovery = on "
		     "(the LAN only)");
	expect_error(TM "[publish]\nserver_id = NVR\n", "m.conf:6: [publish] server_id: "
		     "\"NVR\" is not a server id (1..63 characters of a-z 0-9 -, not starting with -)");
	expect_error(TM "[publish]\nserver_id = -x\n", "m.conf:6: [publish] server_id: "
		     "\"-x\" is not a server id (1..63 characters of a-z 0-9 -, not starting with -)");
	expect_error(TM "[publish]\n[publish]\n",
		     "m.conf:6: [publish]: duplicate section (first at line 5)");
	expect_error(TM "[publish \"x\"]\n", "m.conf:5: [publish \"x\"]: [publish] takes no name");
	expect_error(TM "[publish]\nkey = " K1 "\n", "m.conf:6: [publish] key: unknown key");
	expect_error(TM "[peer \"hq\"]\nsystem = not-a-uuid\naddress = 100.100.0.10\n",
		     "m.conf:6: [peer \"hq\"] system: \"not-a-uuid\" is not a system id (UUID) or "
		     "server_id.UUID");
	expect_error(TM "[peer \"hq\"]\nsystem = Srv." UUID "\naddress = 100.100.0.10\n",
		     "m.conf:6: [peer \"hq\"] system: \"Srv." UUID "\" is not a system id (UUID) or "
		     "server_id.UUID");
	expect_error(T "lan_discovery = off\n[peer \"hq\"]\nsystem = " UUID "\naddress = 100.100.0.10\n",
		     "m.conf:5: [peer \"hq\"] system: finding a system without endpoint needs "
		     "mediator in [tund] or lan_discovery = on");
	expect_error(TM "[peer \"hq\"]\nsystem = " UUID "\n",
		     "m.conf:5: [peer \"hq\"] address: missing (required)");
	expect_error(TM "[peer \"hq\"]\nsystem = " UUID "\nendpoint = 192.0.2.1:1\naddress = 100.100.0.10\n",
		     "m.conf:5: [peer \"hq\"] key: missing (required with endpoint)");
	expect_error(TM "[peer \"a\"]\nsystem = n1." UUID "\naddress = 100.100.0.10\n"
		     "[peer \"b\"]\nsystem = n2." UUID "\naddress = 100.100.0.11\n",
		     "m.conf:8: [peer \"b\"]: reaches system " UUID ", as [peer \"a\"] (line 5) does: "
		     "one [peer] per system");
	expect_error(TM "client_pool = 100.127.0.0/16\n[client \"c\"]\nkey = " K1 "\nsystem = " UUID "\n",
		     "m.conf:8: [client \"c\"] system: not allowed in a [client] section (only in [peer])");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mediated_peer),
		cmocka_unit_test(test_key_must_match_system),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
