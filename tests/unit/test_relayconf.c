/*
 * test_relayconf.c - relay.conf: defaults, a full file, and one test per
 * kind of error, each checking the whole message (file, line, section,
 * key), so a regression in what the user reads fails here.
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

#include "relayconf.h"

static void defaults(void **state)
{
	struct relayconf c;
	char err[RELAYCONF_ERR_MAX];

	assert_int_equal(relayconf_parse_string(&c, "r.conf", "[relay]\n", err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_string_equal(c.private_key_file, "/etc/tund/relay.key");
	assert_int_equal(c.listen.addr, 0);
	assert_int_equal(c.listen.port, 443);
	assert_string_equal(c.mediator_host, "");
	assert_int_equal(c.max_connections, 20000);
	assert_int_equal(c.source_rate, 50);
	assert_int_equal(c.log_level, LOG_LVL_INFO);
	assert_int_equal(relayconf_parse_string(&c, "r.conf", "", err, sizeof(err)), 0);
}

static void full(void **state)
{
	static const char text[] =
		"\xef\xbb\xbf; example\n"
		"[relay]\r\n"
		"  private_key_file = /srv/relay.key   ; the key\n"
		"listen = 198.51.100.20:443\n"
		"mediator = mediator.example.net:3478\n"
		"\n"
		"# comment\n"
		"max_connections = 100\n"
		"source_rate = 0\n"
		"log_level = debug\n";
	struct relayconf c;
	char err[RELAYCONF_ERR_MAX];

	assert_int_equal(relayconf_parse_string(&c, "r.conf", text, err, sizeof(err)), 0);
	assert_string_equal(c.private_key_file, "/srv/relay.key");
	assert_int_equal(c.listen.addr, 0xc6336414);
	assert_int_equal(c.listen.port, 443);
	assert_string_equal(c.mediator_host, "mediator.example.net");
	assert_int_equal(c.mediator_port, 3478);
	assert_int_equal(c.max_connections, 100);
	assert_int_equal(c.source_rate, 0);
	assert_int_equal(c.log_level, LOG_LVL_DEBUG);

	assert_int_equal(relayconf_parse_string(&c, "r.conf", "[relay]\nmediator = 198.51.100.2:3478\n",
						err, sizeof(err)), 0);
	assert_string_equal(c.mediator_host, "198.51.100.2");
	assert_int_equal(c.mediator_port, 3478);
}

struct bad {
	const char *text;
	const char *msg;
};

static void errors(void **state)
{
	static const struct bad cases[] = {
		{ "[relay]\nport = 1\n", "r.conf:2: [relay] port: unknown key" },
		{ "[mediator]\n", "r.conf:1: unknown section \"[mediator]\" (the only section is [relay])" },
		{ "listen = 1.2.3.4:5\n", "r.conf:1: key \"listen\" outside a section (start with [relay])" },
		{ "[relay]\n[relay]\n", "r.conf:2: duplicate section [relay] (first at line 1)" },
		{ "[relay]\nlog_level = info\nlog_level = debug\n",
		  "r.conf:3: [relay] log_level: duplicate key (first set at line 2)" },
		{ "[relay]\nmax_connections = 0\n",
		  "r.conf:2: [relay] max_connections: \"0\" is out of range (1..1000000)" },
		{ "[relay]\nmax_connections = many\n",
		  "r.conf:2: [relay] max_connections: \"many\" is not a number" },
		{ "[relay]\nsource_rate = 2000000\n",
		  "r.conf:2: [relay] source_rate: \"2000000\" is out of range (0..1000000)" },
		{ "[relay]\nlisten = 1.2.3.4\n",
		  "r.conf:2: [relay] listen: \"1.2.3.4\" is not an IPv4 address and port "
		  "(a.b.c.d:port, 0.0.0.0:port for every address)" },
		{ "[relay]\nlisten = 239.1.1.1:443\n",
		  "r.conf:2: [relay] listen: \"239.1.1.1:443\" is a multicast or reserved address" },
		{ "[relay]\nprivate_key_file = relay.key\n",
		  "r.conf:2: [relay] private_key_file: \"relay.key\" is not an absolute path" },
		{ "[relay]\nmediator = 198.51.100.2\n",
		  "r.conf:2: [relay] mediator: \"198.51.100.2\" is not host:port (a host name or a.b.c.d, "
		  "then the TCP port)" },
		{ "[relay]\nmediator = bad_name:3478\n",
		  "r.conf:2: [relay] mediator: \"bad_name:3478\" is not host:port (a host name or a.b.c.d, "
		  "then the TCP port)" },
		{ "[relay]\nmediator = -x.example:3478\n",
		  "r.conf:2: [relay] mediator: \"-x.example:3478\" is not host:port (a host name or a.b.c.d, "
		  "then the TCP port)" },
		{ "[relay]\nmediator = a..b:3478\n",
		  "r.conf:2: [relay] mediator: \"a..b:3478\" is not host:port (a host name or a.b.c.d, "
		  "then the TCP port)" },
		{ "[relay]\nmediator = m.example:0\n",
		  "r.conf:2: [relay] mediator: \"m.example:0\": the port is not a number in 1..65535" },
		{ "[relay]\nmediator = m.example:65536\n",
		  "r.conf:2: [relay] mediator: \"m.example:65536\": the port is not a number in 1..65535" },
		{ "[relay]\nlog_level = loud\n",
		  "r.conf:2: [relay] log_level: \"loud\" is not a log level (error, warn, info, debug)" },
		{ "[relay]\nmediator =\n", "r.conf:2: [relay] mediator: empty value" },
		{ "[relay]\nnonsense\n",
		  "r.conf:2: syntax error (expected \"key = value\", a [section] header or a comment)" },
		{ "[relay]\nlisten = 1\x01\n", "r.conf:2: control character 0x01 (not a text file?)" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct relayconf c;
		char err[RELAYCONF_ERR_MAX] = "";
		int rc = relayconf_parse_string(&c, "r.conf", cases[i].text, err, sizeof(err));
		if (rc != -EINVAL || strcmp(err, cases[i].msg) != 0)
			fail_msg("case %zu: rc %d, message\n  got:  %s\n  want: %s", i, rc, err, cases[i].msg);
	}
}

static void long_line(void **state)
{
	char text[1024];
	struct relayconf c;
	char err[RELAYCONF_ERR_MAX];

	snprintf(text, sizeof(text), "[relay]\nprivate_key_file = /%0600d\n", 0);
	assert_int_equal(relayconf_parse_string(&c, "r.conf", text, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "r.conf:2: line too long"));
}

static void files(void **state)
{
	char path[] = "/tmp/test_relayconf.XXXXXX";
	struct relayconf c;
	char err[RELAYCONF_ERR_MAX], want[RELAYCONF_ERR_MAX];
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "[relay]\nmax_connections = 7\n", 28), 28);
	close(fd);
	assert_int_equal(relayconf_parse_file(&c, path, err, sizeof(err)), 0);
	assert_int_equal(c.max_connections, 7);
	assert_string_equal(c.path, path);
	unlink(path);
	assert_int_equal(relayconf_parse_file(&c, path, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", path);
	assert_string_equal(err, want);
}

static void example_file(void **state)
{
	struct relayconf c;
	char err[RELAYCONF_ERR_MAX];

	if (relayconf_parse_file(&c, TUND_SOURCE_DIR "/etc/relay.conf", err, sizeof(err)) != 0)
		fail_msg("etc/relay.conf: %s", err);
	assert_int_equal(c.listen.port, 443);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults),
		cmocka_unit_test(full),
		cmocka_unit_test(errors),
		cmocka_unit_test(long_line),
		cmocka_unit_test(files),
		cmocka_unit_test(example_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
