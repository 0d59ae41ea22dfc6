/*
 * test_medconf.c - mediator.conf: defaults, a full file, the relay pair,
 * and one case per kind of error, each checking the whole message (file, line, section,
 * key) so that a regression in what the user reads fails here.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "medconf.h"

#define KR "JTA7RlFcZ3J9iJOeqbS/ytXg6/YBDBciLThDTllkb3o="   /* nobody's real key */
#define KZERO "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

static void defaults(void **state)
{
	struct medconf c;
	char err[MEDCONF_ERR_MAX];
	assert_int_equal(medconf_parse_string(&c, "m.conf", "[mediator]\n", err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_string_equal(c.private_key_file, "/etc/tund/mediator.key");
	assert_int_equal(c.listen.addr, 0);
	assert_int_equal(c.listen.port, 3478);
	assert_int_equal(c.alt_port, 3479);
	assert_int_equal(c.max_connections, 4096);
	assert_int_equal(c.log_level, LOG_LVL_INFO);
	assert_false(c.has_relay);
	assert_false(c.has_relay_key);
	/* an empty file is all defaults too */
	assert_int_equal(medconf_parse_string(&c, "m.conf", "", err, sizeof(err)), 0);
}

static void full(void **state)
{
	static const char text[] =
		"\xef\xbb\xbf; example\n"
		"[mediator]\r\n"
		"  private_key_file = /srv/med.key   ; the key\n"
		"listen = 198.51.100.2:3478\n"
		"alt_port = 0\n"
		"\n"
		"# comment\n"
		"max_connections = 100\n"
		"log_level = debug\n";
	struct medconf c;
	char err[MEDCONF_ERR_MAX];
	assert_int_equal(medconf_parse_string(&c, "m.conf", text, err, sizeof(err)), 0);
	assert_string_equal(c.private_key_file, "/srv/med.key");
	assert_int_equal(c.listen.addr, 0xc6336402);
	assert_int_equal(c.listen.port, 3478);
	assert_int_equal(c.alt_port, 0);
	assert_int_equal(c.max_connections, 100);
	assert_int_equal(c.log_level, LOG_LVL_DEBUG);
	assert_false(c.has_relay);
}

static void relay(void **state)
{
	struct medconf c;
	char err[MEDCONF_ERR_MAX];
	uint8_t key[KEY_LEN];
	assert_int_equal(key_from_base64(key, KR), 0);
	assert_int_equal(medconf_parse_string(&c, "m.conf", "[mediator]\nrelay = 198.51.100.20:443\n"
					      "relay_key = " KR "\n", err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_true(c.has_relay);
	assert_true(c.has_relay_key);
	assert_int_equal(c.relay.addr, 0xc6336414);
	assert_int_equal(c.relay.port, 443);
	assert_memory_equal(c.relay_key, key, KEY_LEN);
	/* either order */
	assert_int_equal(medconf_parse_string(&c, "m.conf", "[mediator]\nrelay_key = " KR "\n"
					      "relay = 203.0.113.9:8443\n", err, sizeof(err)), 0);
	assert_int_equal(c.relay.addr, 0xcb007109);
	assert_int_equal(c.relay.port, 8443);
}

struct bad {
	const char *text;
	const char *msg;
};

static void errors(void **state)
{
	static const struct bad cases[] = {
		{ "[mediator]\nport = 1\n", "m.conf:2: [mediator] port: unknown key" },
		{ "[relay]\n", "m.conf:1: unknown section \"[relay]\" (the only section is [mediator])" },
		{ "listen = 1.2.3.4:5\n",
		  "m.conf:1: key \"listen\" outside a section (start with [mediator])" },
		{ "[mediator]\n[mediator]\n", "m.conf:2: duplicate section [mediator] (first at line 1)" },
		{ "[mediator]\nalt_port = 1\nalt_port = 2\n",
		  "m.conf:3: [mediator] alt_port: duplicate key (first set at line 2)" },
		{ "[mediator]\nalt_port = 70000\n",
		  "m.conf:2: [mediator] alt_port: \"70000\" is out of range (0..65535)" },
		{ "[mediator]\nalt_port = x\n", "m.conf:2: [mediator] alt_port: \"x\" is not a number" },
		{ "[mediator]\nmax_connections = 0\n",
		  "m.conf:2: [mediator] max_connections: \"0\" is out of range (1..1000000)" },
		{ "[mediator]\nlisten = 1.2.3.4\n",
		  "m.conf:2: [mediator] listen: \"1.2.3.4\" is not an IPv4 address and port "
		  "(a.b.c.d:port, 0.0.0.0:port for every address)" },
		{ "[mediator]\nlisten = 224.0.0.1:3478\n",
		  "m.conf:2: [mediator] listen: \"224.0.0.1:3478\" is a multicast or reserved address" },
		{ "[mediator]\nprivate_key_file = key\n",
		  "m.conf:2: [mediator] private_key_file: \"key\" is not an absolute path" },
		{ "[mediator]\nlog_level = loud\n",
		  "m.conf:2: [mediator] log_level: \"loud\" is not a log level (error, warn, info, debug)" },
		{ "[mediator]\nalt_port =\n", "m.conf:2: [mediator] alt_port: empty value" },
		{ "[mediator]\nlisten = 0.0.0.0:4000\nalt_port = 4000\n",
		  "m.conf:3: [mediator] alt_port: 4000 is the listen port; it must differ (or be 0 for off)" },
		{ "[mediator]\nlisten = 0.0.0.0:3479\n",
		  "m.conf:2: [mediator] alt_port: 3479 is the listen port; it must differ (or be 0 for off)" },
		{ "[mediator]\nnonsense\n",
		  "m.conf:2: syntax error (expected \"key = value\", a [section] header or a comment)" },
		{ "[mediator]\nalt_port = 1\x01\n", "m.conf:2: control character 0x01 (not a text file?)" },
		/* relay and relay_key: both or neither, at the line of the one given */
		{ "[mediator]\nrelay = 198.51.100.20:443\n",
		  "m.conf:2: [mediator] relay_key: missing (relay and relay_key go together)" },
		{ "[mediator]\nlog_level = info\nrelay_key = " KR "\n",
		  "m.conf:3: [mediator] relay: missing (relay and relay_key go together)" },
		{ "[mediator]\nrelay = 198.51.100.20\nrelay_key = " KR "\n",
		  "m.conf:2: [mediator] relay: \"198.51.100.20\" is not the relay's IPv4 address and port "
		  "(a.b.c.d:port)" },
		{ "[mediator]\nrelay = relay.example.net:443\n",
		  "m.conf:2: [mediator] relay: \"relay.example.net:443\" is not the relay's IPv4 address "
		  "and port (a.b.c.d:port)" },
		{ "[mediator]\nrelay = 0.0.0.0:443\n",
		  "m.conf:2: [mediator] relay: \"0.0.0.0:443\" is not the relay's IPv4 address and port "
		  "(a.b.c.d:port)" },
		{ "[mediator]\nrelay = 198.51.100.20:0\n",
		  "m.conf:2: [mediator] relay: \"198.51.100.20:0\" is not the relay's IPv4 address and port "
		  "(a.b.c.d:port)" },
		{ "[mediator]\nrelay = 198.51.100.20:65536\n",
		  "m.conf:2: [mediator] relay: \"198.51.100.20:65536\" is not the relay's IPv4 address and "
		  "port (a.b.c.d:port)" },
		{ "[mediator]\nrelay_key = abc\n",
		  "m.conf:2: [mediator] relay_key: not a valid base64 public key (44 characters expected)" },
		{ "[mediator]\nrelay_key = " KZERO "\n",
		  "m.conf:2: [mediator] relay_key: not a valid base64 public key (44 characters expected)" },
		{ "[mediator]\nrelay = 198.51.100.20:443\nrelay_key = " KR "\nrelay = 198.51.100.21:443\n",
		  "m.conf:4: [mediator] relay: duplicate key (first set at line 2)" },
		{ "[mediator]\nrelay =\n", "m.conf:2: [mediator] relay: empty value" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct medconf c;
		char err[MEDCONF_ERR_MAX] = "";
		int rc = medconf_parse_string(&c, "m.conf", cases[i].text, err, sizeof(err));
		if (rc != -EINVAL || strcmp(err, cases[i].msg) != 0)
			fail_msg("case %zu: rc %d, message\n  got:  %s\n  want: %s", i, rc, err, cases[i].msg);
	}
}

static void long_line(void **state)
{
	char text[1024];
	struct medconf c;
	char err[MEDCONF_ERR_MAX];
	snprintf(text, sizeof(text), "[mediator]\nprivate_key_file = /%0600d\n", 0);
	assert_int_equal(medconf_parse_string(&c, "m.conf", text, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "m.conf:2: line too long"));
}

static void files(void **state)
{
	char path[] = "/tmp/test_medconf.XXXXXX";
	struct medconf c;
	char err[MEDCONF_ERR_MAX], want[MEDCONF_ERR_MAX];
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "[mediator]\nmax_connections = 7\n", 31), 31);
	close(fd);
	assert_int_equal(medconf_parse_file(&c, path, err, sizeof(err)), 0);
	assert_int_equal(c.max_connections, 7);
	unlink(path);
	assert_int_equal(medconf_parse_file(&c, path, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", path);
	assert_string_equal(err, want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults),
		cmocka_unit_test(full),
		cmocka_unit_test(relay),
		cmocka_unit_test(errors),
		cmocka_unit_test(long_line),
		cmocka_unit_test(files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
