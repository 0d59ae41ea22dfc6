/*
 * test_config_relay.c - the keys of tund.conf's [tund] section that reach
 * the relay and the world behind a proxy: relay, relay_key, relay_pool,
 * http_proxy and state_directory. Defaults, every accepted form, and every
 * error message compared in full (file, line, section, key, value); the
 * rest of the parser is covered by test_config.c and
 * test_config_mediator.c.
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

#define KR "JTA7RlFcZ3J9iJOeqbS/ytXg6/YBDBciLThDTllkb3o="   /* nobody's real key */
#define KM "8ZdPr8dz7NOSBfqTSKo7W2tnqZ0xMcbQ6LX+1Dt3cHM="
#define KZERO "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
#define T "[tund]\naddress = 100.100.0.1/16\n"                     /* lines 1-2 */
#define TR(relay) T "relay = " relay "\nrelay_key = " KR "\n"      /* lines 1-4 */
#define P "m.conf:3: [tund] "                                      /* the key at line 3 */

/* Parses text, which must be valid; the caller frees c. */
static void test_defaults(void **state)
{
	struct cfg c;
	(void)state;
	parse_ok(&c, T);
	assert_false(c.has_relay);
	assert_string_equal(c.relay_host, "");
	assert_int_equal(c.relay_port, 0);
	assert_int_equal(c.relay_pool, CFG_DEFAULT_RELAY_POOL);
	assert_int_equal(c.relay_pool, 7);
	assert_false(c.has_http_proxy);
	assert_string_equal(c.http_proxy_host, "");
	assert_string_equal(c.state_directory, "/var/lib/tund");
	cfg_free(&c);
}

static void test_relay_forms(void **state)
{
	struct cfg c;
	uint8_t key[KEY_LEN];
	(void)state;
	assert_int_equal(key_from_base64(key, KR), 0);

	/* a dotted quad, default port 443 */
	parse_ok(&c, TR("198.51.100.20"));
	assert_true(c.has_relay);
	assert_string_equal(c.relay_host, "198.51.100.20");
	assert_int_equal(c.relay_port, CFG_DEFAULT_RELAY_PORT);
	assert_int_equal(c.relay_port, 443);
	assert_memory_equal(c.relay_key, key, KEY_LEN);
	assert_int_equal(c.relay_pool, 7);
	cfg_free(&c);

	/* a name with a port, the key first, and the mediator beside it */
	parse_ok(&c, T "relay_key = " KR "\nmediator = med.example.net\nmediator_key = " KM "\n"
		 "relay = Relay-1.example.NET:8443\n");
	assert_true(c.has_relay);
	assert_string_equal(c.relay_host, "Relay-1.example.NET");
	assert_int_equal(c.relay_port, 8443);
	assert_memory_equal(c.relay_key, key, KEY_LEN);
	assert_true(c.has_mediator);
	cfg_free(&c);

	/* the ends of the port range */
	parse_ok(&c, TR("relay:1"));
	assert_int_equal(c.relay_port, 1);
	cfg_free(&c);
	parse_ok(&c, TR("relay:65535"));
	assert_int_equal(c.relay_port, 65535);
	cfg_free(&c);

	/* relay_pool: both ends, and without relay (a relay the mediator
	 * names is pooled the same way) */
	parse_ok(&c, T "relay_pool = 0\n");
	assert_int_equal(c.relay_pool, 0);
	assert_false(c.has_relay);
	cfg_free(&c);
	parse_ok(&c, TR("198.51.100.20") "relay_pool = 64\n");
	assert_int_equal(c.relay_pool, CFG_RELAY_POOL_MAX);
	cfg_free(&c);
}

static void test_proxy_and_state_forms(void **state)
{
	struct cfg c;
	(void)state;
	parse_ok(&c, T "http_proxy = http://10.0.0.1:3128\n");
	assert_true(c.has_http_proxy);
	assert_string_equal(c.http_proxy_host, "10.0.0.1");
	assert_int_equal(c.http_proxy_port, 3128);
	assert_false(c.has_relay);
	cfg_free(&c);

	/* no port: 80; a trailing '/' or a path is fine; the scheme in any case */
	parse_ok(&c, T "http_proxy = http://proxy.example.net\n");
	assert_string_equal(c.http_proxy_host, "proxy.example.net");
	assert_int_equal(c.http_proxy_port, 80);
	cfg_free(&c);
	parse_ok(&c, T "http_proxy = http://proxy-2.example.net:8080/\n");
	assert_string_equal(c.http_proxy_host, "proxy-2.example.net");
	assert_int_equal(c.http_proxy_port, 8080);
	cfg_free(&c);
	parse_ok(&c, T "http_proxy = HTTP://Proxy:65535/some/path\n");
	assert_string_equal(c.http_proxy_host, "Proxy");
	assert_int_equal(c.http_proxy_port, 65535);
	cfg_free(&c);

	parse_ok(&c, T "state_directory = /srv/tund-state\n");
	assert_string_equal(c.state_directory, "/srv/tund-state");
	cfg_free(&c);
	parse_ok(&c, T "state_directory = /\n");
	assert_string_equal(c.state_directory, "/");
	cfg_free(&c);

	/* all five at once */
	parse_ok(&c, TR("relay.example.net:443") "relay_pool = 3\n"
		 "http_proxy = http://192.0.2.8:8080\nstate_directory = /var/lib/tund-2\n");
	assert_true(c.has_relay && c.has_http_proxy);
	assert_string_equal(c.relay_host, "relay.example.net");
	assert_int_equal(c.relay_port, 443);
	assert_int_equal(c.relay_pool, 3);
	assert_string_equal(c.http_proxy_host, "192.0.2.8");
	assert_int_equal(c.http_proxy_port, 8080);
	assert_string_equal(c.state_directory, "/var/lib/tund-2");
	cfg_free(&c);
}

static void test_relay_errors(void **state)
{
	(void)state;
	/* the pair: each without the other, at the line of the one given */
	expect_error(T "relay = 198.51.100.20\n",
		     P "relay_key: missing (required with relay)");
	expect_error(T "log_level = debug\nrelay = 198.51.100.20:443\n",
		     "m.conf:4: [tund] relay_key: missing (required with relay)");
	expect_error(T "relay_key = " KR "\n",
		     P "relay: missing (relay_key names the key of a relay, which needs its address)");

	/* host */
	expect_error(T "relay = relay_1:443\n",
		     P "relay: \"relay_1:443\" is not host[:port] (a host name or IPv4 address)");
	expect_error(T "relay = :443\n",
		     P "relay: \":443\" is not host[:port] (a host name or IPv4 address)");
	expect_error(T "relay = [2001:db8::1]:443\n",
		     P "relay: \"[2001:db8::1]:443\" is not host[:port] (a host name or IPv4 address)");
	/* a URL: "https" reads as the host, so the port is what is wrong */
	expect_error(T "relay = https://relay.example.net\n",
		     P "relay: \"https://relay.example.net\": the port must be 1..65535");
	expect_error(T "relay = relay example\n",
		     P "relay: \"relay example\" is not host[:port] (a host name or IPv4 address)");

	/* port */
	expect_error(T "relay = 198.51.100.20:0\n",
		     P "relay: \"198.51.100.20:0\": the port must be 1..65535");
	expect_error(T "relay = 198.51.100.20:65536\n",
		     P "relay: \"198.51.100.20:65536\": the port must be 1..65535");
	expect_error(T "relay = 198.51.100.20:\n",
		     P "relay: \"198.51.100.20:\": the port must be 1..65535");
	expect_error(T "relay = 198.51.100.20:https\n",
		     P "relay: \"198.51.100.20:https\": the port must be 1..65535");
	expect_error(T "relay = 198.51.100.20:-1\n",
		     P "relay: \"198.51.100.20:-1\": the port must be 1..65535");

	/* key: never echoed */
	expect_error(T "relay_key = " KZERO "\n", P "relay_key: the all-zero key is not a public key");
	expect_error(T "relay_key = abc\n",
		     P "relay_key: not a valid base64 key (44 characters expected)");
	expect_error(T "relay_key = " KR "x\n",
		     P "relay_key: not a valid base64 key (44 characters expected)");

	/* relay_pool */
	expect_error(T "relay_pool = 65\n", P "relay_pool: \"65\" is out of range (0..64)");
	expect_error(T "relay_pool = 4294967296\n",
		     P "relay_pool: \"4294967296\" is out of range (0..64)");
	expect_error(T "relay_pool = -1\n", P "relay_pool: \"-1\" is not a number");
	expect_error(T "relay_pool = 7 idle\n", P "relay_pool: \"7 idle\" is not a number");

	/* the general rules apply to the new keys too */
	expect_error(TR("198.51.100.20") "relay = 198.51.100.21\n",
		     "m.conf:5: [tund] relay: duplicate key (first set at line 3)");
	expect_error(T "relay_pool =\n", P "relay_pool: empty value");
	expect_error(T "[peer \"hq\"]\nrelay = 198.51.100.20\n",
		     "m.conf:4: [peer \"hq\"] relay: unknown key");
	expect_error(T "[publish]\nrelay_key = " KR "\n", "m.conf:4: [publish] relay_key: unknown key");
}

static void test_proxy_and_state_errors(void **state)
{
	(void)state;
#define PX P "http_proxy: "
	expect_error(T "http_proxy = https://10.0.0.1:3128\n",
		     PX "\"https://10.0.0.1:3128\" is not a proxy URL http://host[:port]: https:// proxies "
		     "are not supported (use http://; tund's traffic is already encrypted)");
	expect_error(T "http_proxy = socks5://10.0.0.1:1080\n",
		     PX "\"socks5://10.0.0.1:1080\" is not a proxy URL http://host[:port]: only http:// "
		     "proxies are supported");
	expect_error(T "http_proxy = 10.0.0.1:3128\n",
		     PX "\"10.0.0.1:3128\" is not a proxy URL http://host[:port]: the URL does not start "
		     "with http://");
	expect_error(T "http_proxy = http://\n",
		     PX "\"http://\" is not a proxy URL http://host[:port]: the host is missing");
	expect_error(T "http_proxy = http://:3128\n",
		     PX "\"http://:3128\" is not a proxy URL http://host[:port]: the host is missing");
	expect_error(T "http_proxy = http:///\n",
		     PX "\"http:///\" is not a proxy URL http://host[:port]: the host is missing");
	expect_error(T "http_proxy = http://user:pw@10.0.0.1:3128\n",
		     PX "\"http://user:pw@10.0.0.1:3128\" is not a proxy URL http://host[:port]: user names "
		     "and passwords in proxy URLs are not supported");
	expect_error(T "http_proxy = http://[2001:db8::1]:3128\n",
		     PX "\"http://[2001:db8::1]:3128\" is not a proxy URL http://host[:port]: IPv6 proxy "
		     "addresses are not supported");
	expect_error(T "http_proxy = http://proxy_1:3128\n",
		     PX "\"http://proxy_1:3128\" is not a proxy URL http://host[:port]: the host has an "
		     "invalid character");
	expect_error(T "http_proxy = http://10.0.0.1:0\n",
		     PX "\"http://10.0.0.1:0\" is not a proxy URL http://host[:port]: the port must be "
		     "1..65535");
	expect_error(T "http_proxy = http://10.0.0.1:65536\n",
		     PX "\"http://10.0.0.1:65536\" is not a proxy URL http://host[:port]: the port must be "
		     "1..65535");
	expect_error(T "http_proxy = http://10.0.0.1:\n",
		     PX "\"http://10.0.0.1:\" is not a proxy URL http://host[:port]: the port must be "
		     "1..65535");
	expect_error(T "http_proxy = http://10.0.0.1:31x8\n",
		     PX "\"http://10.0.0.1:31x8\" is not a proxy URL http://host[:port]: the port must be "
		     "1..65535");
	expect_error(T "http_proxy = http://10.0.0.1?x=1\n",
		     PX "\"http://10.0.0.1?x=1\" is not a proxy URL http://host[:port]: unexpected query "
		     "or fragment after the host");
	expect_error(T "http_proxy = http://10.0.0.1/a b\n",
		     PX "\"http://10.0.0.1/a b\" is not a proxy URL http://host[:port]: the path has an "
		     "invalid character");
	expect_error(T "http_proxy = http://10.0.0.1:3128\nhttp_proxy = http://10.0.0.2:3128\n",
		     "m.conf:4: [tund] http_proxy: duplicate key (first set at line 3)");
#undef PX

	expect_error(T "state_directory = var/lib/tund\n",
		     P "state_directory: \"var/lib/tund\" is not an absolute path");
	expect_error(T "state_directory = ~/tund\n",
		     P "state_directory: \"~/tund\" is not an absolute path");
	expect_error(T "state_directory =\n", P "state_directory: empty value");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_relay_forms),
		cmocka_unit_test(test_proxy_and_state_forms),
		cmocka_unit_test(test_relay_errors),
		cmocka_unit_test(test_proxy_and_state_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
