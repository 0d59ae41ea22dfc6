/*
 * test_config.c - tund.conf parsing: a full config into struct cfg, the
 * defaults, the shipped example (etc/tund.conf), comments, CRLF, files,
 * and every error the parser reports, each compared as the whole message
 * so that the file, line, section and key in it are all checked. Also
 * hostile input: 1 MB of garbage, every truncation of a valid file,
 * overlong lines, control characters.
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
#include <ini.h>
#include <sodium.h>

#define CFGTEST_FILE "t.conf"
#include "cfgtest.h"
#include "config.h"

/* Syntactically valid public keys; none is anybody's real key. */
#define K1 "JTA7RlFcZ3J9iJOeqbS/ytXg6/YBDBciLThDTllkb3o="
#define K2 "SlVga3aBjJeirbjDztnk7/oFEBsmMTxHUl1oc36JlJ8="
#define K3 "b3qFkJumsbzH0t3o8/4JFB8qNUBLVmFsd4KNmKOuucQ="
#define K4 "lJ+qtcDL1uHs9wINGCMuOURPWmVwe4aRnKeyvcjT3uk="
#define K5 "ucTP2uXw+wYRHCcyPUhTXml0f4qVoKu2wczX4u34Aw4="

#define T "[tund]\naddress = 100.100.0.1/16\n"                  /* lines 1-2 */
#define TP T "client_pool = 100.127.0.0/16\n"                   /* lines 1-3 */
#define HQ "[peer \"hq\"]\nkey = " K1 "\naddress = 100.100.0.10\n" \
	   "endpoint = 198.51.100.7:41641\n"                     /* 4 lines */

static const char full_conf[] =
	"; every key set\n"                                  /* 1 */
	"[tund]\n"
	"private_key_file = /etc/tund/other.key\n"
	"interface = tun-x.1\n"
	"address = 100.100.0.1/16\n"                         /* 5 */
	"listen_port = 0\n"
	"mtu = 1420\n"
	"control_socket = /tmp/t.sock\n"
	"client_pool = 100.127.0.0/16\n"
	"log_level = debug\n"                                /* 10 */
	"\n"
	"[peer \"hq\"]\n"
	"key = " K1 "\n"
	"address = 100.100.0.10\n"
	"endpoint = 198.51.100.7:41641\n"                    /* 15 */
	"preshared_key = " K5 "\n"
	"persistent_keepalive = 25\n"
	"[peer \"site-2\"]\n"
	"key = " K2 "\n"
	"address = 100.100.0.11\n"                           /* 20 */
	"endpoint = 203.0.113.9:5000\n"
	"[client \"laptop\"]\n"
	"key = " K3 "\n"
	"address = 100.127.0.5\n"
	"preshared_key = " K5 "\n"                           /* 25 */
	"[client \"phone\"]\n"
	"key = " K4 "\n";

static void decode(uint8_t out[KEY_LEN], const char *b64)
{
	assert_int_equal(key_from_base64(out, b64), 0);
}

static void check_full(const struct cfg *c)
{
	uint8_t k[KEY_LEN];

	assert_string_equal(c->private_key_file, "/etc/tund/other.key");
	assert_string_equal(c->interface, "tun-x.1");
	assert_int_equal(c->address, 0x64640001);
	assert_int_equal(c->prefix_len, 16);
	assert_int_equal(c->listen_port, 0);
	assert_int_equal(c->mtu, 1420);
	assert_string_equal(c->control_socket, "/tmp/t.sock");
	assert_true(c->has_client_pool);
	assert_int_equal(c->client_pool, 0x647f0000);
	assert_int_equal(c->client_pool_len, 16);
	assert_int_equal(c->log_level, CFG_LOG_DEBUG);
	assert_int_equal(c->n_peers, 4);

	const struct cfg_peer *p = c->peers;
	assert_string_equal(p[0].name, "hq");
	assert_int_equal(p[0].role, CFG_ROLE_PEER);
	assert_int_equal(p[0].line, 12);
	decode(k, K1);
	assert_memory_equal(p[0].key, k, KEY_LEN);
	assert_int_equal(p[0].address, 0x6464000a);
	assert_true(p[0].has_endpoint);
	assert_int_equal(p[0].endpoint.addr, 0xc6336407);
	assert_int_equal(p[0].endpoint.port, 41641);
	assert_true(p[0].has_psk);
	decode(k, K5);
	assert_memory_equal(p[0].psk, k, KEY_LEN);
	assert_int_equal(p[0].persistent_keepalive, 25);

	assert_string_equal(p[1].name, "site-2");
	assert_int_equal(p[1].line, 18);
	decode(k, K2);
	assert_memory_equal(p[1].key, k, KEY_LEN);
	assert_int_equal(p[1].endpoint.addr, 0xcb007109);
	assert_int_equal(p[1].endpoint.port, 5000);
	assert_false(p[1].has_psk);
	assert_int_equal(p[1].persistent_keepalive, 0);

	assert_string_equal(p[2].name, "laptop");
	assert_int_equal(p[2].role, CFG_ROLE_CLIENT);
	assert_int_equal(p[2].line, 22);
	decode(k, K3);
	assert_memory_equal(p[2].key, k, KEY_LEN);
	assert_int_equal(p[2].address, 0x647f0005);
	assert_false(p[2].has_endpoint);
	assert_true(p[2].has_psk);

	assert_string_equal(p[3].name, "phone");
	assert_int_equal(p[3].role, CFG_ROLE_CLIENT);
	assert_int_equal(p[3].address, 0);
	assert_false(p[3].has_psk);
}

static void test_full(void **state)
{
	struct cfg c;
	char err[CFG_ERR_MAX];

	(void)state;
	assert_int_equal(parse(&c, full_conf, err), 0);
	assert_string_equal(err, "");
	assert_string_equal(c.path, "t.conf");
	check_full(&c);
	cfg_free(&c);
	assert_null(c.peers);
	assert_int_equal(c.n_peers, 0);
	assert_true(sodium_is_zero((const unsigned char *)&c, sizeof(c)));
}

static void test_defaults(void **state)
{
	struct cfg c;
	char err[CFG_ERR_MAX];

	(void)state;
	assert_int_equal(parse(&c, T, err), 0);
	assert_string_equal(c.private_key_file, "/etc/tund/private.key");
	assert_string_equal(c.interface, "tund0");
	assert_int_equal(c.listen_port, 41641);
	assert_int_equal(c.mtu, 1380);
	assert_string_equal(c.control_socket, "/run/tund/tund.sock");
	assert_false(c.has_client_pool);
	assert_int_equal(c.log_level, CFG_LOG_INFO);
	assert_int_equal(c.n_peers, 0);
	assert_null(c.peers);
	cfg_free(&c);
}

static void test_example_file(void **state)
{
	struct cfg c;
	char err[CFG_ERR_MAX];
	int rc = cfg_parse_file(&c, TUND_SOURCE_DIR "/etc/tund.conf", err, sizeof(err));

	(void)state;
	if (rc)
		print_error("%s\n", err);
	assert_int_equal(rc, 0);
	assert_int_equal(c.address, 0x64640001);
	assert_true(c.has_client_pool);
	assert_true(c.n_peers >= 2);
	assert_int_equal(c.peers[0].role, CFG_ROLE_PEER);
	assert_true(c.peers[0].has_psk);
	assert_int_equal(c.peers[c.n_peers - 1].role, CFG_ROLE_CLIENT);
	cfg_free(&c);
}

/* The same text with CRLF line ends (and a BOM) gives the same struct. */
static void test_crlf(void **state)
{
	struct cfg c;
	char err[CFG_ERR_MAX];
	char *crlf = malloc(2 * sizeof(full_conf) + 3);
	size_t o = 0;

	(void)state;
	assert_non_null(crlf);
	memcpy(crlf, "\xef\xbb\xbf", 3);
	o = 3;
	for (const char *p = full_conf; *p; p++) {
		if (*p == '\n')
			crlf[o++] = '\r';
		crlf[o++] = *p;
	}
	crlf[o] = '\0';
	assert_int_equal(parse(&c, crlf, err), 0);
	check_full(&c);
	cfg_free(&c);
	free(crlf);
	/* A carriage return anywhere else is not a line end. */
	expect_error(T "mtu = 1400\rlog_level = info\n",
		     "t.conf:3: control character 0x0d (not a text file?)");
}

static void test_comments(void **state)
{
	struct cfg c;
	char err[CFG_ERR_MAX];
	static const char text[] =
		"# hash comment\n"
		"; semicolon comment\n"
		"   \t\n"
		"  [tund]   ; inline after a header\n"
		"\taddress = 100.100.0.1/16 # inline hash\n"
		"    mtu = 1400;not a comment without blank before\n"
		"  private_key_file = /etc/tund/a;b#c\n"
		"  ; indented comment\n"
		"    interface = tun9\t; tab before\n"
		"[ peer  \"p\" ]\n"
		"    key = " K2 "  ; indented keys are not continuations\n"
		"    address = 100.100.0.10\n"
		"    endpoint = 198.51.100.7:1\n";

	(void)state;
	/* "1400;not..." shows that ';' without a blank before is part of the value. */
	assert_int_equal(parse(&c, text, err), -EINVAL);
	assert_string_equal(err, "t.conf:6: [tund] mtu: \"1400;not a comment without blank "
			    "before\" is not a number");

	char *fixed = strdup(text);
	assert_non_null(fixed);
	memcpy(strstr(fixed, "1400;"), "1400 ;", 6);
	assert_int_equal(parse(&c, fixed, err), 0);
	assert_int_equal(c.mtu, 1400);
	assert_string_equal(c.private_key_file, "/etc/tund/a;b#c");
	assert_string_equal(c.interface, "tun9");
	assert_int_equal(c.n_peers, 1);
	assert_int_equal(c.peers[0].line, 10);
	assert_int_equal(c.peers[0].address, 0x6464000a);
	cfg_free(&c);
	free(fixed);
}

struct err_case {
	const char *text;
	const char *want;
};

static void run_cases(const struct err_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++)
		expect_error(cases[i].text, cases[i].want);
}

static void test_section_errors(void **state)
{
	static const struct err_case cases[] = {
		{ T "[foo]\n", "t.conf:3: unknown section [foo] (expected [tund], [publish], "
		  "[peer \"NAME\"] or [client \"NAME\"])" },
		{ T "[]\n", "t.conf:3: unknown section [] (expected [tund], [publish], "
		  "[peer \"NAME\"] or [client \"NAME\"])" },
		{ T "[peer hq]\n", "t.conf:3: [peer hq]: the name must be in double quotes: "
		  "[peer \"NAME\"]" },
		{ T "[client]\n", "t.conf:3: [client]: the name must be in double quotes: "
		  "[client \"NAME\"]" },
		{ T "[client \"\"]\n", "t.conf:3: [client \"\"]: the name is empty" },
		{ T "[peer \"a b\"]\n", "t.conf:3: [peer \"a b\"]: a name may only contain "
		  "A-Z a-z 0-9 . _ -" },
		{ T "[peer \"a/b\"]\n", "t.conf:3: [peer \"a/b\"]: a name may only contain "
		  "A-Z a-z 0-9 . _ -" },
		{ T HQ "[client \"hq\"]\n", "t.conf:7: [client \"hq\"]: the name is taken by "
		  "[peer \"hq\"] at line 3" },
		{ T "\n[tund]\n", "t.conf:4: [tund]: duplicate section (first at line 1)" },
		{ "[tund \"x\"]\n", "t.conf:1: [tund \"x\"]: [tund] takes no name" },
		{ "[tund] junk\n", "t.conf:1: [tund] junk: unexpected text after ']'" },
		{ T "[peer \"hq\"\n", "t.conf:3: [peer \"hq\": expected ']'" },
		{ T "[peer \"hq]\n", "t.conf:3: [peer \"hq]: missing closing quote" },
		{ T "[tund\n", "t.conf:3: [tund: expected ']'" },
		{ "address = 100.100.0.1/16\n[tund]\n",
		  "t.conf:1: address: key outside a section (start with [tund])" },
		{ "", "t.conf: no [tund] section (it must set address)" },
		{ "; only a comment\n" HQ, "t.conf: no [tund] section (it must set address)" },
	};

	(void)state;
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_name_length(void **state)
{
	struct cfg c;
	char err[CFG_ERR_MAX], text[512], name[CFG_NAME_MAX + 1];

	(void)state;
	memset(name, 'n', CFG_NAME_MAX - 1);
	name[CFG_NAME_MAX - 1] = '\0';
	snprintf(text, sizeof(text), T "[peer \"%s\"]\nkey = " K1 "\naddress = 100.100.0.9\n"
		 "endpoint = 192.0.2.1:9\n", name);
	assert_int_equal(parse(&c, text, err), 0);
	assert_string_equal(c.peers[0].name, name);
	cfg_free(&c);

	strcat(name, "n");   /* 64 characters */
	snprintf(text, sizeof(text), T "[peer \"%s\"]\n", name);
	assert_int_equal(parse(&c, text, err), -EINVAL);
	assert_true(strncmp(err, "t.conf:3: [peer \"nnnn", 21) == 0);
	assert_non_null(strstr(err, "...: the name is longer than 63 characters"));
}

static void test_key_errors(void **state)
{
	static const struct err_case cases[] = {
		{ T "foo = 1\n", "t.conf:3: [tund] foo: unknown key" },
		{ T "key = " K1 "\n", "t.conf:3: [tund] key: unknown key" },
		{ T HQ "port = 1\n", "t.conf:7: [peer \"hq\"] port: unknown key" },
		{ T "mtu = 1400\nmtu = 1400\n", "t.conf:4: [tund] mtu: duplicate key "
		  "(first set at line 3)" },
		{ T HQ "address = 100.100.0.11\n", "t.conf:7: [peer \"hq\"] address: duplicate "
		  "key (first set at line 5)" },
		{ TP "[client \"c\"]\nkey = " K3 "\nendpoint = 192.0.2.1:5\n",
		  "t.conf:6: [client \"c\"] endpoint: not allowed in a [client] section "
		  "(only in [peer])" },
		{ TP "[client \"c\"]\nkey = " K3 "\npersistent_keepalive = 5\n",
		  "t.conf:6: [client \"c\"] persistent_keepalive: not allowed in a [client] "
		  "section (only in [peer])" },
		{ T "garbage\n", "t.conf:3: syntax error (expected \"key = value\", "
		  "a [section] header or a comment)" },
		/* inih goes on after a syntax error; the earlier line is still reported. */
		{ T "garbage\nmtu = 5\n", "t.conf:3: syntax error (expected \"key = value\", "
		  "a [section] header or a comment)" },
		{ T "= 5\n", "t.conf:3: syntax error: '=' without a key name" },
		{ T "mtu =\n", "t.conf:3: [tund] mtu: empty value" },
		{ T "mtu = 1380x\n", "t.conf:3: [tund] mtu: \"1380x\" is not a number" },
		{ T "mtu = -1\n", "t.conf:3: [tund] mtu: \"-1\" is not a number" },
		{ T "mtu = +1380\n", "t.conf:3: [tund] mtu: \"+1380\" is not a number" },
		{ T "mtu = 0x500\n", "t.conf:3: [tund] mtu: \"0x500\" is not a number" },
		{ T "mtu = 13 80\n", "t.conf:3: [tund] mtu: \"13 80\" is not a number" },
		{ T "mtu = 575\n", "t.conf:3: [tund] mtu: \"575\" is out of range (576..9000)" },
		{ T "mtu = 9001\n", "t.conf:3: [tund] mtu: \"9001\" is out of range (576..9000)" },
		{ T "mtu = 99999999999999999999999\n", "t.conf:3: [tund] mtu: "
		  "\"99999999999999999999999\" is out of range (576..9000)" },
		{ T "mtu = a\"b\\c\xc3\xa9\n", "t.conf:3: [tund] mtu: \"a\\\"b\\\\c\\xc3\\xa9\" "
		  "is not a number" },
		{ T "listen_port = 65536\n", "t.conf:3: [tund] listen_port: \"65536\" is out of "
		  "range (0..65535)" },
		{ T HQ "persistent_keepalive = 3601\n", "t.conf:7: [peer \"hq\"] "
		  "persistent_keepalive: \"3601\" is out of range (0..3600)" },
		{ T "interface = abcdefghijklmnop\n", "t.conf:3: [tund] interface: "
		  "\"abcdefghijklmnop\" is not a valid interface name (1..15 characters of "
		  "A-Z a-z 0-9 . _ -)" },
		{ T "interface = tun/0\n", "t.conf:3: [tund] interface: \"tun/0\" is not a valid "
		  "interface name (1..15 characters of A-Z a-z 0-9 . _ -)" },
		{ T "interface = ..\n", "t.conf:3: [tund] interface: \"..\" is not a valid "
		  "interface name (1..15 characters of A-Z a-z 0-9 . _ -)" },
		{ T "log_level = verbose\n", "t.conf:3: [tund] log_level: \"verbose\" is not a "
		  "log level (error, warn, info, debug)" },
		{ T "control_socket = tund.sock\n", "t.conf:3: [tund] control_socket: "
		  "\"tund.sock\" is not an absolute path" },
		{ T "private_key_file = private.key\n", "t.conf:3: [tund] private_key_file: "
		  "\"private.key\" is not an absolute path" },
	};

	(void)state;
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_address_errors(void **state)
{
	static const struct err_case cases[] = {
		{ "[tund]\nmtu = 1400\n", "t.conf:1: [tund] address: missing (required)" },
		{ "[tund]\naddress = 100.100.0.1\n", "t.conf:2: [tund] address: "
		  "\"100.100.0.1\" has no prefix length (a.b.c.d/len)" },
		{ "[tund]\naddress = 100.100.0/16\n", "t.conf:2: [tund] address: "
		  "\"100.100.0/16\" is not an IPv4 prefix (a.b.c.d/len)" },
		{ "[tund]\naddress = 100.100.0.1/7\n", "t.conf:2: [tund] address: "
		  "\"100.100.0.1/7\": the prefix length must be 8..32" },
		{ "[tund]\naddress = 100.100.0.0/16\n", "t.conf:2: [tund] address: "
		  "\"100.100.0.0/16\" is the network address of its prefix, not a host address" },
		{ "[tund]\naddress = 100.100.255.255/16\n", "t.conf:2: [tund] address: "
		  "\"100.100.255.255/16\" is the broadcast address of its prefix" },
		{ "[tund]\naddress = 127.0.0.1/8\n", "t.conf:2: [tund] address: "
		  "\"127.0.0.1/8\" is not a unicast address range" },
		{ T "client_pool = 100.127.0.1/16\n", "t.conf:3: [tund] client_pool: "
		  "\"100.127.0.1/16\" has host bits set (did you mean 100.127.0.0/16?)" },
		{ T "client_pool = 100.100.0.0/24\n", "t.conf:3: [tund] client_pool: contains "
		  "this host's own address 100.100.0.1" },
		{ T "client_pool = 224.0.0.0/8\n", "t.conf:3: [tund] client_pool: "
		  "\"224.0.0.0/8\" is not a unicast address range" },
		{ T "[peer \"hq\"]\naddress = 100.100.0.10\nendpoint = 192.0.2.1:1\n",
		  "t.conf:3: [peer \"hq\"]: needs key or system (or both)" },
		{ T "[peer \"hq\"]\nkey = " K1 "\nendpoint = 192.0.2.1:1\n",
		  "t.conf:3: [peer \"hq\"] address: missing (required)" },
		{ T "[peer \"hq\"]\nkey = " K1 "\naddress = 100.100.0.10\n",
		  "t.conf:3: [peer \"hq\"] endpoint: missing (required without system)" },
		{ TP "[client \"c\"]\npreshared_key = " K5 "\n",
		  "t.conf:4: [client \"c\"] key: missing (required)" },
		{ T "[client \"c\"]\nkey = " K3 "\n",
		  "t.conf:3: [client \"c\"]: a [client] needs client_pool in [tund]" },
		{ TP "[client \"c\"]\nkey = " K3 "\naddress = 100.126.0.5\n",
		  "t.conf:6: [client \"c\"] address: \"100.126.0.5\" is outside client_pool "
		  "100.127.0.0/16" },
		{ T "[peer \"hq\"]\nkey = " K1 "\naddress = 100.100.0\n",
		  "t.conf:5: [peer \"hq\"] address: \"100.100.0\" is not an IPv4 address" },
		{ T "[peer \"hq\"]\nkey = " K1 "\naddress = 0.1.2.3\n",
		  "t.conf:5: [peer \"hq\"] address: \"0.1.2.3\" is not a usable unicast address" },
		{ T "[peer \"hq\"]\nkey = " K1 "\naddress = 100.100.0.1\nendpoint = 192.0.2.1:1\n",
		  "t.conf:5: [peer \"hq\"] address: \"100.100.0.1\" is this host's own address" },
		{ T "[peer \"hq\"]\nkey = " K1 "\naddress = 100.100.255.255\n"
		  "endpoint = 192.0.2.1:1\n", "t.conf:5: [peer \"hq\"] address: "
		  "\"100.100.255.255\" is the network or broadcast address of [tund] address" },
		{ TP "[peer \"hq\"]\nkey = " K1 "\naddress = 100.127.0.9\nendpoint = 192.0.2.1:1\n",
		  "t.conf:6: [peer \"hq\"] address: \"100.127.0.9\" is inside client_pool "
		  "100.127.0.0/16" },
		{ T HQ "[peer \"b\"]\nkey = " K2 "\naddress = 100.100.0.10\n"
		  "endpoint = 192.0.2.1:1\n",
		  "t.conf:9: [peer \"b\"] address: \"100.100.0.10\" is already used by "
		  "[peer \"hq\"] (line 5)" },
		{ TP "[client \"a\"]\nkey = " K2 "\naddress = 100.127.0.5\n"
		  "[client \"b\"]\nkey = " K3 "\naddress = 100.127.0.5\n",
		  "t.conf:9: [client \"b\"] address: \"100.127.0.5\" is already used by "
		  "[client \"a\"] (line 6)" },
		{ T HQ "endpoint = 198.51.100.7\n", "t.conf:7: [peer \"hq\"] endpoint: duplicate "
		  "key (first set at line 6)" },
		{ T "[peer \"hq\"]\nendpoint = 198.51.100.7\n", "t.conf:4: [peer \"hq\"] "
		  "endpoint: \"198.51.100.7\" is not an IPv4 endpoint (a.b.c.d:port)" },
		{ T "[peer \"hq\"]\nendpoint = 198.51.100.7:0\n", "t.conf:4: [peer \"hq\"] "
		  "endpoint: \"198.51.100.7:0\" is not an IPv4 endpoint (a.b.c.d:port)" },
		{ T "[peer \"hq\"]\nendpoint = 224.0.0.1:5\n", "t.conf:4: [peer \"hq\"] "
		  "endpoint: \"224.0.0.1:5\" is not a unicast address" },
	};

	(void)state;
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* Key errors never echo the value: it may be a secret. */
static void test_base64_errors(void **state)
{
	static const char *const bad[] = {
		"notbase64secret",
		"JTA7RlFcZ3J9iJOeqbS/ytXg6/YBDBciLThDTllkb3o",     /* 43 characters */
		"JTA7RlFcZ3J9iJOeqbS/ytXg6/YBDBciLThDTllkb3o==",   /* 45 */
		"JTA7RlFcZ3J9iJOeqbS/ytXg6/YBDBciLThDTllkb3!=",    /* 44, bad character */
		("JTA7RlFcZ3J9iJOeqbS/ytXg6/YBDBciLThDTllkb3o=" K1),   /* two keys */
	};
	char text[512];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), T HQ "preshared_key = %s\n", bad[i]);
		expect_error(text, "t.conf:7: [peer \"hq\"] preshared_key: not a valid base64 key "
			     "(44 characters expected)");
		snprintf(text, sizeof(text), T "[peer \"hq\"]\nkey = %s\n", bad[i]);
		expect_error(text, "t.conf:4: [peer \"hq\"] key: not a valid base64 key "
			     "(44 characters expected)");
	}
	expect_error(T "[peer \"z\"]\nkey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
		     "t.conf:4: [peer \"z\"] key: the all-zero key is not a public key");
	expect_error(TP HQ "[client \"c\"]\nkey = " K1 "\n",
		     "t.conf:9: [client \"c\"] key: the same public key as [peer \"hq\"] (line 5)");
}

/* The message from config.h's comment, byte for byte. */
static void test_documented_message(void **state)
{
	struct cfg c;
	char err[CFG_ERR_MAX];
	static const char text[] =
		"[tund]\n"
		"address = 100.100.0.1/16\n\n\n\n\n\n\n\n"
		"[peer \"hq\"]\n"
		"key = " K1 "\n"
		"address = 100.100.0\n";

	(void)state;
	assert_int_equal(cfg_parse_string(&c, "/etc/tund/tund.conf", text, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "/etc/tund/tund.conf:12: [peer \"hq\"] address: \"100.100.0\" "
			    "is not an IPv4 address");
}

static char *write_temp(const char *data, size_t len)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/test_config.XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	return path;
}

static void test_files(void **state)
{
	struct cfg c;
	char err[CFG_ERR_MAX], want[CFG_ERR_MAX];

	(void)state;
	char *path = write_temp(full_conf, strlen(full_conf));
	assert_int_equal(cfg_parse_file(&c, path, err, sizeof(err)), 0);
	assert_string_equal(c.path, path);
	check_full(&c);
	cfg_free(&c);
	unlink(path);

	assert_int_equal(cfg_parse_file(&c, "/nonexistent/tund.conf", err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "/nonexistent/tund.conf: cannot open: No such file or directory");
	assert_null(c.peers);

	assert_int_equal(cfg_parse_file(&c, "/tmp", err, sizeof(err)), -EISDIR);
	assert_string_equal(err, "/tmp: read error: Is a directory");

	static const char nul[] = "[tund]\naddress = 100.100.0.1/16\nmtu = 14\0" "00\n";
	path = write_temp(nul, sizeof(nul) - 1);
	assert_int_equal(cfg_parse_file(&c, path, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:3: control character 0x00 (not a text file?)", path);
	assert_string_equal(err, want);
	unlink(path);

	/* A file cut off in the middle of a key. */
	path = write_temp(full_conf, strstr(full_conf, K1) - full_conf + 20);
	assert_int_equal(cfg_parse_file(&c, path, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:13: [peer \"hq\"] key: not a valid base64 key "
		 "(44 characters expected)", path);
	assert_string_equal(err, want);
	unlink(path);
}

/* Every prefix of a valid file parses or fails cleanly, never crashes. */
static void test_truncated(void **state)
{
	struct cfg c;
	char err[CFG_ERR_MAX];
	size_t n = strlen(full_conf);
	char *buf = malloc(n + 1);

	(void)state;
	assert_non_null(buf);
	for (size_t i = 0; i <= n; i++) {
		memcpy(buf, full_conf, i);
		buf[i] = '\0';
		int rc = parse(&c, buf, err);
		if (rc == 0) {
			cfg_free(&c);
			continue;
		}
		assert_int_equal(rc, -EINVAL);
		assert_true(strncmp(err, "t.conf", 6) == 0);
		assert_null(c.peers);
	}
	expect_error(T "[peer \"h", "t.conf:3: [peer \"h: missing closing quote");
	free(buf);
}

static void test_long_lines(void **state)
{
	struct cfg c;
	char err[CFG_ERR_MAX];
	size_t max = INI_MAX_LINE - 1;   /* what fits in inih's line buffer */
	size_t big = 100000;
	char *text = malloc(2 * big + 256);
	char want[CFG_ERR_MAX];

	(void)state;
	assert_non_null(text);
	/* A key line of exactly max characters is accepted... */
	int n = sprintf(text, T "private_key_file = /");
	size_t fill = max - (strlen("private_key_file = /"));
	memset(text + n, 'k', fill);
	strcpy(text + n + fill, "\n");
	assert_int_equal(parse(&c, text, err), 0);
	assert_int_equal(strlen(c.private_key_file), fill + 1);
	cfg_free(&c);

	/* ...one more is not, */
	strcpy(text + n + fill, "k\n");
	snprintf(want, sizeof(want), "t.conf:3: line too long (more than %zu characters "
		 "without comments)", max);
	expect_error(text, want);

	/* but blanks and comments do not count. */
	n = sprintf(text, T "mtu = 1400");
	memset(text + n, ' ', big);
	n += (int)big;
	text[n++] = '#';
	memset(text + n, 'x', big);
	strcpy(text + n + big, "\n; short\n");
	assert_int_equal(parse(&c, text, err), 0);
	assert_int_equal(c.mtu, 1400);
	cfg_free(&c);

	/* A value of 100000 characters is refused, not split into lines. */
	n = sprintf(text, T "control_socket = /");
	memset(text + n, 's', big);
	strcpy(text + n + big, "\n");
	expect_error(text, want);
	free(text);

	/* sun_path holds 107 characters and a NUL; 108 is one too many. */
	char path[109], text2[256];
	memcpy(path, "/run/tund/", 10);
	memset(path + 10, 'p', 98);
	path[108] = '\0';
	snprintf(text2, sizeof(text2), T "control_socket = %s\n", path);
	snprintf(want, sizeof(want), "t.conf:3: [tund] control_socket: \"%.64s...\" is too long "
		 "(at most 107 characters)", path);
	expect_error(text2, want);
	path[107] = '\0';
	snprintf(text2, sizeof(text2), T "control_socket = %s\n", path);
	assert_int_equal(parse(&c, text2, err), 0);
	assert_string_equal(c.control_socket, path);
	cfg_free(&c);
}

static uint32_t xorshift(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void test_garbage(void **state)
{
	struct cfg c;
	char err[CFG_ERR_MAX];
	size_t len = 1 << 20;
	char *g = malloc(len + 1);
	uint32_t seed = 0x12345678;

	(void)state;
	assert_non_null(g);
	for (size_t i = 0; i < len; i++) {
		g[i] = (char)(xorshift(&seed) & 0xff);
		if (!g[i])
			g[i] = 'x';
	}
	g[len] = '\0';
	assert_int_equal(cfg_parse_string(&c, "garbage", g, err, sizeof(err)), -EINVAL);
	assert_true(strncmp(err, "garbage:", 8) == 0);
	assert_null(c.peers);

	/* Printable garbage in lines gets past the control-character check. */
	static const char alphabet[] = "ab=[]\" ;#.:/\n";
	for (size_t i = 0; i < len; i++)
		g[i] = alphabet[xorshift(&seed) % (sizeof(alphabet) - 1)];
	assert_int_equal(cfg_parse_string(&c, "garbage", g, err, sizeof(err)), -EINVAL);
	assert_true(strncmp(err, "garbage:", 8) == 0);

	/* 1 MB of comments, then an error: the line count is still exact. */
	size_t o = 0, lines = 0;
	while (o + 128 < len) {   /* room for the last line and T */
		o += (size_t)sprintf(g + o, "# comment line %zu\n", lines);
		lines++;
	}
	sprintf(g + o, T "mtu = 1\n");
	char want[CFG_ERR_MAX];
	snprintf(want, sizeof(want), "t.conf:%zu: [tund] mtu: \"1\" is out of range (576..9000)",
		 lines + 3);
	expect_error(g, want);
	free(g);
}

static void test_limits_and_err_buffer(void **state)
{
	struct cfg c;
	char err[16];
	size_t per = 32, max = 4096;
	char *text = malloc((max + 1) * per + 64);

	(void)state;
	assert_int_equal(cfg_parse_string(&c, "t.conf", "[nope]\n", NULL, 0), -EINVAL);
	assert_int_equal(cfg_parse_string(&c, "t.conf", "[nope]\n", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.conf:1: unkno");

	assert_non_null(text);
	size_t o = (size_t)sprintf(text, T);
	for (size_t i = 0; i <= max; i++)
		o += (size_t)sprintf(text + o, "[client \"c%zu\"]\n", i);
	char want[CFG_ERR_MAX];
	snprintf(want, sizeof(want), "t.conf:%zu: [client \"c4096\"]: more than 4096 [peer] "
		 "and [client] sections", max + 3);
	expect_error(text, want);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_example_file),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_comments),
		cmocka_unit_test(test_section_errors),
		cmocka_unit_test(test_name_length),
		cmocka_unit_test(test_key_errors),
		cmocka_unit_test(test_address_errors),
		cmocka_unit_test(test_base64_errors),
		cmocka_unit_test(test_documented_message),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_limits_and_err_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
