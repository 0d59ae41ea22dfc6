/*
 * test_status.c - status.c: the line format (exact encoding, round trip,
 * decode errors naming the line, unknown keys), and the text and JSON
 * printers (exact JSON including string escapes).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "status.h"

static void fill_peer(struct status_peer *p, const char *name, int n)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->role, sizeof(p->role), "%s", n % 2 ? "client" : "peer");
	snprintf(p->public_key, sizeof(p->public_key), "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=");
	snprintf(p->system_id, sizeof(p->system_id), "4c55b4df-a1ae-8165-9f71-80a9c36bcac9");
	snprintf(p->address, sizeof(p->address), "100.100.0.%u", (uint8_t)(10 + n));
	if (n != 1)
		snprintf(p->endpoint, sizeof(p->endpoint), "198.51.100.%u:41641", (uint8_t)(7 + n));
	snprintf(p->path, sizeof(p->path), "%s", n == 1 ? "none" : n == 2 ? "relay" : "direct");
	if (n == 0) {
		snprintf(p->path_detail, sizeof(p->path_detail), "198.51.100.7:41641 rtt 12.3 ms");
		snprintf(p->standby, sizeof(p->standby), "relay 198.51.100.20:443 (rtt 31 ms), "
			 "direct 203.0.113.9:41641 (unproven)");
		snprintf(p->last_switch, sizeof(p->last_switch),
			 "2026-11-21T14:09:41Z relay -> direct: the direct path answered");
		p->switches = 2;
	} else if (n == 2) {
		snprintf(p->path_detail, sizeof(p->path_detail),
			 "relay 198.51.100.20:443 via poll rtt 30.1 ms");
		snprintf(p->last_switch, sizeof(p->last_switch),
			 "2026-11-21T14:03:05Z direct -> relay: the direct path stopped answering");
		p->switches = UINT64_MAX;
	}
	p->last_handshake = n == 1 ? 0 : 1700000000 + n;
	p->rx_bytes = 1289748u * (uint64_t)(n + 1);
	p->tx_bytes = n == 2 ? UINT64_MAX : 4781506;
	p->rx_packets = 1000 + (uint64_t)n;
	p->tx_packets = 2000 + (uint64_t)n;
	p->rx_replayed = (uint64_t)n;
	p->rx_auth_failed = n == 2 ? 7 : 0;
	p->rtt_us = n == 1 ? -1 : (n == 2 ? INT64_MAX : 12345);
}

/* A status with three peers and two counters; the caller frees it. */
static void fill_status(struct status *st)
{
	memset(st, 0, sizeof(*st));
	snprintf(st->interface, sizeof(st->interface), "tund0");
	snprintf(st->public_key, sizeof(st->public_key), "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=");
	snprintf(st->system_id, sizeof(st->system_id), "00000000-0000-8000-8000-000000000001");
	snprintf(st->address, sizeof(st->address), "100.100.0.1/16");
	st->listen_port = 65535;
	snprintf(st->relay_state, sizeof(st->relay_state), "pool 7/7");
	snprintf(st->relay, sizeof(st->relay), "7 connections to 198.51.100.20:443 via poll");
	snprintf(st->proxy, sizeof(st->proxy), "10.5.0.1:3128 (from http_proxy); relay: poll > connect");
	snprintf(st->datapath, sizeof(st->datapath), "tun offloads: csum tso4; udp gso on, gro off; crypto threads 2");
	snprintf(st->counters[0].name, STATUS_COUNTER_NAME, "rx_bad_packet");
	st->counters[0].value = 3;
	snprintf(st->counters[1].name, STATUS_COUNTER_NAME, "rx_no_session");
	st->counters[1].value = 0;
	st->n_counters = 2;
	st->n_peers = 3;
	st->peers = calloc(st->n_peers, sizeof(*st->peers));
	assert_non_null(st->peers);
	fill_peer(&st->peers[0], "hq", 0);
	fill_peer(&st->peers[1], "laptop of Ann", 1);
	fill_peer(&st->peers[2], "nvr-2", 2);
}

static int decode(struct status *st, const char *text, char *err, size_t errlen)
{
	return status_decode(st, text, strlen(text), err, errlen);
}

static char *print_to_string(void (*print)(FILE *, const struct status *), const struct status *st)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	print(f, st);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void test_encode_exact(void **state)
{
	struct status st;
	fill_status(&st);
	st.n_peers = 2;   /* keep the expected text short */
	char *text = NULL;
	assert_int_equal(status_encode(&st, &text), 0);
	assert_string_equal(text,
		"interface tund0\n"
		"public_key dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=\n"
		"system_id 00000000-0000-8000-8000-000000000001\n"
		"address 100.100.0.1/16\n"
		"listen_port 65535\n"
		"mediator_state\n"
		"mediator\n"
		"relay_state pool 7/7\n"
		"relay 7 connections to 198.51.100.20:443 via poll\n"
		"proxy 10.5.0.1:3128 (from http_proxy); relay: poll > connect\n"
		"datapath tun offloads: csum tso4; udp gso on, gro off; crypto threads 2\n"
		"counter rx_bad_packet 3\n"
		"counter rx_no_session 0\n"
		"peer hq\n"
		"role peer\n"
		"public_key hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=\n"
		"system_id 4c55b4df-a1ae-8165-9f71-80a9c36bcac9\n"
		"address 100.100.0.10\n"
		"endpoint 198.51.100.7:41641\n"
		"path direct\n"
		"path_detail 198.51.100.7:41641 rtt 12.3 ms\n"
		"standby relay 198.51.100.20:443 (rtt 31 ms), direct 203.0.113.9:41641 (unproven)\n"
		"last_switch 2026-11-21T14:09:41Z relay -> direct: the direct path answered\n"
		"switches 2\n"
		"state\n"
		"error\n"
		"candidates\n"
		"last_handshake 1700000000\n"
		"rx_bytes 1289748\n"
		"tx_bytes 4781506\n"
		"rx_packets 1000\n"
		"tx_packets 2000\n"
		"rx_replayed 0\n"
		"rx_auth_failed 0\n"
		"rtt_us 12345\n"
		"peer laptop of Ann\n"
		"role client\n"
		"public_key hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=\n"
		"system_id 4c55b4df-a1ae-8165-9f71-80a9c36bcac9\n"
		"address 100.100.0.11\n"
		"endpoint\n"
		"path none\n"
		"path_detail\n"
		"standby\n"
		"last_switch\n"
		"switches 0\n"
		"state\n"
		"error\n"
		"candidates\n"
		"last_handshake 0\n"
		"rx_bytes 2579496\n"
		"tx_bytes 4781506\n"
		"rx_packets 1001\n"
		"tx_packets 2001\n"
		"rx_replayed 1\n"
		"rx_auth_failed 0\n"
		"rtt_us -1\n");
	free(text);
	st.n_peers = 3;
	status_free(&st);
}

static void test_round_trip(void **state)
{
	struct status st, back;
	char err[256] = "";
	char *text = NULL;
	fill_status(&st);
	assert_int_equal(status_encode(&st, &text), 0);
	assert_int_equal(decode(&back, text, err, sizeof(err)), 0);

	assert_string_equal(back.interface, st.interface);
	assert_string_equal(back.public_key, st.public_key);
	assert_string_equal(back.system_id, st.system_id);
	assert_string_equal(back.address, st.address);
	assert_int_equal(back.listen_port, 65535);
	assert_string_equal(back.relay_state, "pool 7/7");
	assert_string_equal(back.relay, st.relay);
	assert_string_equal(back.proxy, "10.5.0.1:3128 (from http_proxy); relay: poll > connect");
	assert_string_equal(back.datapath, st.datapath);
	assert_int_equal(back.n_counters, 2);
	assert_memory_equal(back.counters, st.counters, 2 * sizeof(st.counters[0]));
	assert_int_equal(back.n_peers, 3);
	for (size_t i = 0; i < 3; i++)
		assert_memory_equal(&back.peers[i], &st.peers[i], sizeof(st.peers[i]));
	assert_int_equal(back.peers[2].tx_bytes, UINT64_MAX);
	assert_int_equal(back.peers[2].rtt_us, INT64_MAX);
	assert_int_equal(back.peers[1].rtt_us, -1);
	assert_int_equal(back.peers[2].switches, UINT64_MAX);
	assert_string_equal(back.peers[2].path, "relay");
	assert_string_equal(back.peers[2].standby, "");

	/* Encoding what was decoded gives the same text. */
	char *again = NULL;
	assert_int_equal(status_encode(&back, &again), 0);
	assert_string_equal(again, text);
	free(again);
	free(text);
	status_free(&back);
	status_free(&st);
	assert_null(st.peers);
	assert_int_equal(st.n_peers, 0);
}

static void test_encode_replaces_control_chars(void **state)
{
	struct status st;
	memset(&st, 0, sizeof(st));
	snprintf(st.interface, sizeof(st.interface), "tu\nnd\r0");
	st.n_peers = 1;
	st.peers = calloc(1, sizeof(*st.peers));
	assert_non_null(st.peers);
	snprintf(st.peers[0].name, sizeof(st.peers[0].name), "a\nrx_bytes 5\x1b[2J\x7f");
	st.counters[0].value = 1;                                      /* no name: not sent */
	memset(st.counters[1].name, 'x', STATUS_COUNTER_NAME);         /* unterminated */
	st.counters[1].value = 2;
	st.n_counters = 2;
	char *text = NULL;
	assert_int_equal(status_encode(&st, &text), 0);
	assert_null(strstr(text, "counter  1"));
	assert_non_null(strstr(text, "\ncounter xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx 2\n"));  /* 31 x */
	assert_non_null(strstr(text, "interface tu?nd?0\n"));
	assert_non_null(strstr(text, "peer a?rx_bytes 5?[2J?\n"));

	struct status back;
	char err[128];
	assert_int_equal(decode(&back, text, err, sizeof(err)), 0);
	assert_int_equal(back.n_peers, 1);
	assert_int_equal(back.peers[0].rx_bytes, 0);   /* the name did not inject a line */
	assert_int_equal(back.n_counters, 1);
	assert_string_equal(back.peers[0].name, "a?rx_bytes 5?[2J?");
	status_free(&back);
	free(text);
	status_free(&st);
}

static void test_decode_defaults_and_unknown(void **state)
{
	struct status st;
	char err[128];
	static const char text[] =
		"future_key some value\n"
		"interface tund0\n"
		"listen_port 41641\n"
		"peer hq\n"
		"interface ignored-in-a-peer\n"
		"rx_bytes 42\n"
		"future_peer_key 1 2 3\n"
		"peer\n"
		"tx_bytes 7";   /* no final newline */
	assert_int_equal(decode(&st, text, err, sizeof(err)), 0);
	assert_string_equal(st.interface, "tund0");
	assert_int_equal(st.listen_port, 41641);
	assert_int_equal(st.n_peers, 2);
	assert_string_equal(st.peers[0].name, "hq");
	assert_int_equal(st.peers[0].rx_bytes, 42);
	assert_int_equal(st.peers[0].rtt_us, -1);      /* missing: unknown */
	assert_string_equal(st.peers[0].endpoint, "");
	assert_string_equal(st.peers[1].name, "");
	assert_int_equal(st.peers[1].tx_bytes, 7);
	status_free(&st);

	assert_int_equal(decode(&st, "", err, sizeof(err)), 0);
	assert_int_equal(st.n_peers, 0);
	assert_null(st.peers);
}

static void test_decode_counters(void **state)
{
	struct status st;
	char err[128];
	char text[4096] = "counter dup 1\ncounter with space 5\ncounter dup 2\n";
	for (int i = 0; i < 40; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "counter c%d %d\n", i, i);
	assert_int_equal(decode(&st, text, err, sizeof(err)), 0);
	assert_int_equal(st.n_counters, STATUS_MAX_COUNTERS);   /* extras ignored */
	assert_string_equal(st.counters[0].name, "dup");
	assert_int_equal(st.counters[0].value, 2);              /* last wins */
	assert_string_equal(st.counters[1].name, "with space");
	assert_int_equal(st.counters[1].value, 5);
	assert_string_equal(st.counters[2].name, "c0");
	status_free(&st);
}

static void test_decode_errors(void **state)
{
	static const struct { const char *text; const char *err; } cases[] = {
		{ "interface tund0\nlisten_port 70000\n", "line 2: listen_port: \"70000\" is out of range" },
		{ "peer a\nrx_bytes 12x\n", "line 2: rx_bytes: \"12x\" is not a decimal number" },
		{ "peer a\nrx_bytes -1\n", "line 2: rx_bytes: \"-1\" is not a decimal number" },
		{ "peer a\nrx_bytes\n", "line 2: rx_bytes: \"\" is not a decimal number" },
		{ "peer a\nrx_bytes  1\n", "line 2: rx_bytes: \" 1\" is not a decimal number" },
		{ "peer a\nrx_bytes 18446744073709551616\n",
		  "line 2: rx_bytes: \"18446744073709551616\" is out of range" },
		{ "peer a\nrtt_us 9223372036854775808\n",
		  "line 2: rtt_us: \"9223372036854775808\" is out of range" },
		{ "peer a\nlast_handshake --1\n", "line 2: last_handshake: \"--1\" is not a decimal number" },
		{ "interface tund0\n\nlisten_port 1\n",
		  "line 2: expected \"key value\" with a key of a-z, 0-9 and _" },
		{ "Interface tund0\n", "line 1: expected \"key value\" with a key of a-z, 0-9 and _" },
		{ " interface tund0\n", "line 1: expected \"key value\" with a key of a-z, 0-9 and _" },
		{ "interface tund0\r\n", "line 1: control character in line" },
		{ "interface a\x01" "b\n", "line 1: control character in line" },
		{ "interface 0123456789abcdef\n", "line 1: interface: value longer than 15 bytes" },
		{ "counter 5\n", "line 1: counter: expected \"counter NAME VALUE\"" },
		{ "counter\n", "line 1: counter: expected \"counter NAME VALUE\"" },
		{ "counter x y\n", "line 1: counter x: value is not a decimal number" },
		{ "counter 0123456789012345678901234567890123 1\n",
		  "line 1: counter: name longer than 31 bytes" },
		{ "peer 0123456789012345678901234567890123456789012345678901234567890123\n",
		  "line 1: peer: name longer than 63 bytes" },
		{ "relay_state 0123456789abcdef\n", "line 1: relay_state: value longer than 15 bytes" },
		{ "relay a\x1b[2Jb\n", "line 1: control character in line" },
		{ "peer a\nlast_switch x\ty\n", "line 2: control character in line" },
		{ "peer a\nswitches -1\n", "line 2: switches: \"-1\" is not a decimal number" },
		{ "peer a\nswitches\n", "line 2: switches: \"\" is not a decimal number" },
		{ "peer a\nswitches 1 \n", "line 2: switches: \"1 \" is not a decimal number" },
		{ "peer a\nswitches 18446744073709551616\n",
		  "line 2: switches: \"18446744073709551616\" is out of range" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct status st;
		char err[256] = "";
		int rc = decode(&st, cases[i].text, err, sizeof(err));
		if (rc != -EBADMSG)
			fail_msg("case %zu: rc %d", i, rc);
		if (strcmp(err, cases[i].err) != 0)
			fail_msg("case %zu: error \"%s\", want \"%s\"", i, err, cases[i].err);
		assert_null(st.peers);
		assert_int_equal(st.n_peers, 0);
	}
}

/* The free-text fields hold up to STATUS_TEXT_LEN - 1 bytes: that many
 * round-trip, one more is an error naming the field. */
static void test_text_fields_length(void **state)
{
	static const struct { const char *key; bool peer; } keys[] = {
		{ "relay", false }, { "proxy", false },
		{ "path_detail", true }, { "standby", true }, { "last_switch", true },
	};
	char val[STATUS_TEXT_LEN + 1];
	memset(val, 'x', sizeof(val) - 1);
	val[sizeof(val) - 1] = '\0';
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char text[STATUS_TEXT_LEN + 64], err[128] = "", want[128];
		struct status st;
		const char *prefix = keys[i].peer ? "peer p\n" : "";
		snprintf(text, sizeof(text), "%s%s %.*s\n", prefix, keys[i].key,
			 STATUS_TEXT_LEN - 1, val);
		assert_int_equal(decode(&st, text, err, sizeof(err)), 0);
		const char *got = !keys[i].peer ? (i == 0 ? st.relay : st.proxy) :
				  i == 2 ? st.peers[0].path_detail :
				  i == 3 ? st.peers[0].standby : st.peers[0].last_switch;
		assert_int_equal(strlen(got), STATUS_TEXT_LEN - 1);
		char *again = NULL;
		assert_int_equal(status_encode(&st, &again), 0);
		assert_non_null(strstr(again, text + strlen(prefix)));
		free(again);
		status_free(&st);

		snprintf(text, sizeof(text), "%s%s %s\n", prefix, keys[i].key, val);
		assert_int_equal(decode(&st, text, err, sizeof(err)), -EBADMSG);
		snprintf(want, sizeof(want), "line %d: %s: value longer than %d bytes",
			 keys[i].peer ? 2 : 1, keys[i].key, STATUS_TEXT_LEN - 1);
		assert_string_equal(err, want);
		assert_null(st.peers);
	}
}

static void test_decode_error_frees_peers(void **state)
{
	/* Many peers, then a bad line: nothing leaks (ASan) and st is empty. */
	char text[8192] = "";
	for (int i = 0; i < 100; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "peer p%d\n", i);
	strcat(text, "rx_bytes x\n");
	struct status st;
	char err[128];
	assert_int_equal(decode(&st, text, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "line 101: rx_bytes: \"x\" is not a decimal number");
	assert_null(st.peers);
}

static void test_decode_embedded_nul(void **state)
{
	static const char text[] = "interface tu\0nd0\n";
	struct status st;
	char err[128];
	assert_int_equal(status_decode(&st, text, sizeof(text) - 1, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "line 1: control character in line");
}

static void test_json_exact(void **state)
{
	struct status st;
	memset(&st, 0, sizeof(st));
	snprintf(st.interface, sizeof(st.interface), "tund0");
	snprintf(st.address, sizeof(st.address), "100.100.0.1/16");
	st.listen_port = 41641;
	snprintf(st.counters[0].name, STATUS_COUNTER_NAME, "rx_bad\"packet");
	st.counters[0].value = 18446744073709551615u;
	st.n_counters = 1;
	st.n_peers = 2;
	st.peers = calloc(2, sizeof(*st.peers));
	assert_non_null(st.peers);
	snprintf(st.peers[0].name, CFG_NAME_MAX, "q\"b\\n\nt\tc\x01" "d\x7f" "\xc3\xa4" "\xff" "\xed\xa0\x80");
	snprintf(st.peers[0].role, sizeof(st.peers[0].role), "peer");
	snprintf(st.peers[0].endpoint, ENDPOINT_STR_LEN, "198.51.100.7:41641");
	snprintf(st.peers[0].path, STATUS_PATH_LEN, "tcp");
	snprintf(st.peers[0].path_detail, STATUS_TEXT_LEN, "tcp 203.0.113.9:443 rtt 4.0 ms");
	snprintf(st.peers[0].standby, STATUS_TEXT_LEN, "relay \"r1\" (rtt 31 ms)");
	snprintf(st.peers[0].last_switch, STATUS_TEXT_LEN, "2026-11-21T14:03:05Z direct -> tcp: lost");
	st.peers[0].switches = 18446744073709551615u;
	snprintf(st.proxy, STATUS_TEXT_LEN, "none");
	st.peers[0].last_handshake = 1700000000;
	st.peers[0].rx_bytes = 1;
	st.peers[0].tx_bytes = 2;
	st.peers[0].rx_packets = 3;
	st.peers[0].tx_packets = 4;
	st.peers[0].rx_replayed = 5;
	st.peers[0].rx_auth_failed = 6;
	st.peers[0].rtt_us = 1500;
	st.peers[1].rtt_us = -1;

	char *json = print_to_string(status_print_json, &st);
	assert_string_equal(json,
		"{\n"
		"  \"interface\": \"tund0\",\n"
		"  \"public_key\": \"\",\n"
		"  \"system_id\": \"\",\n"
		"  \"address\": \"100.100.0.1/16\",\n"
		"  \"listen_port\": 41641,\n"
		"  \"mediator_state\": \"off\",\n"
		"  \"mediator\": \"\",\n"
		"  \"relay_state\": \"off\",\n"
		"  \"relay\": \"\",\n"
		"  \"proxy\": \"none\",\n"
		"  \"datapath\": \"\",\n"
		"  \"counters\": {\n"
		"    \"rx_bad\\\"packet\": 18446744073709551615\n"
		"  },\n"
		"  \"peers\": [\n"
		"    {\n"
		"      \"name\": \"q\\\"b\\\\n\\nt\\tc\\u0001d\\u007f\xc3\xa4\\ufffd\\ufffd\\ufffd\\ufffd\",\n"
		"      \"role\": \"peer\",\n"
		"      \"public_key\": \"\",\n"
		"      \"system_id\": \"\",\n"
		"      \"address\": \"\",\n"
		"      \"endpoint\": \"198.51.100.7:41641\",\n"
		"      \"path\": \"tcp\",\n"
		"      \"path_detail\": \"tcp 203.0.113.9:443 rtt 4.0 ms\",\n"
		"      \"standby\": \"relay \\\"r1\\\" (rtt 31 ms)\",\n"
		"      \"last_switch\": \"2026-11-21T14:03:05Z direct -> tcp: lost\",\n"
		"      \"switches\": 18446744073709551615,\n"
		"      \"state\": \"\",\n"
		"      \"error\": \"\",\n"
		"      \"candidates\": \"\",\n"
		"      \"last_handshake\": 1700000000,\n"
		"      \"rx_bytes\": 1,\n"
		"      \"tx_bytes\": 2,\n"
		"      \"rx_packets\": 3,\n"
		"      \"tx_packets\": 4,\n"
		"      \"rx_replayed\": 5,\n"
		"      \"rx_auth_failed\": 6,\n"
		"      \"rtt_us\": 1500\n"
		"    },\n"
		"    {\n"
		"      \"name\": \"\",\n"
		"      \"role\": \"\",\n"
		"      \"public_key\": \"\",\n"
		"      \"system_id\": \"\",\n"
		"      \"address\": \"\",\n"
		"      \"endpoint\": null,\n"
		"      \"path\": \"\",\n"
		"      \"path_detail\": \"\",\n"
		"      \"standby\": \"\",\n"
		"      \"last_switch\": \"\",\n"
		"      \"switches\": 0,\n"
		"      \"state\": \"\",\n"
		"      \"error\": \"\",\n"
		"      \"candidates\": \"\",\n"
		"      \"last_handshake\": null,\n"
		"      \"rx_bytes\": 0,\n"
		"      \"tx_bytes\": 0,\n"
		"      \"rx_packets\": 0,\n"
		"      \"tx_packets\": 0,\n"
		"      \"rx_replayed\": 0,\n"
		"      \"rx_auth_failed\": 0,\n"
		"      \"rtt_us\": null\n"
		"    }\n"
		"  ]\n"
		"}\n");
	free(json);
	status_free(&st);
}

static void test_json_empty(void **state)
{
	struct status st;
	memset(&st, 0, sizeof(st));
	char *json = print_to_string(status_print_json, &st);
	assert_string_equal(json,
		"{\n"
		"  \"interface\": \"\",\n"
		"  \"public_key\": \"\",\n"
		"  \"system_id\": \"\",\n"
		"  \"address\": \"\",\n"
		"  \"listen_port\": 0,\n"
		"  \"mediator_state\": \"off\",\n"
		"  \"mediator\": \"\",\n"
		"  \"relay_state\": \"off\",\n"
		"  \"relay\": \"\",\n"
		"  \"proxy\": \"\",\n"
		"  \"datapath\": \"\",\n"
		"  \"counters\": {},\n"
		"  \"peers\": []\n"
		"}\n");
	free(json);
}

static void test_text(void **state)
{
	struct status st;
	fill_status(&st);
	st.peers[0].last_handshake = (int64_t)time(NULL) - 3630;
	char *text = print_to_string(status_print_text, &st);

	assert_non_null(strstr(text, "interface: tund0\n  public key: dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=\n"));
	assert_non_null(strstr(text, "  listening port: 65535\n"
				     "  relay: 7 connections to 198.51.100.20:443 via poll\n"
				     "  proxy: 10.5.0.1:3128 (from http_proxy); relay: poll > connect\n"
				     "  data path: tun offloads: csum tso4; udp gso on, gro off; crypto threads 2\n"));
	assert_non_null(strstr(text, "  path: direct\n"
				     "  path detail: 198.51.100.7:41641 rtt 12.3 ms\n"
				     "  standby: relay 198.51.100.20:443 (rtt 31 ms), "
				     "direct 203.0.113.9:41641 (unproven)\n"
				     "  last switch: 2026-11-21T14:09:41Z relay -> direct: "
				     "the direct path answered\n"
				     "  path switches: 2\n"));
	assert_non_null(strstr(text, "  counters: rx_bad_packet 3\n"));  /* zero counters omitted */
	assert_non_null(strstr(text, "\npeer: hq\n  role: peer\n"));
	assert_non_null(strstr(text, "  endpoint: 198.51.100.7:41641\n"));
	/* 3630 s, give or take the second that may tick during the test. */
	assert_true(strstr(text, "  latest handshake: 1 hour, 30 seconds ago\n") ||
		    strstr(text, "  latest handshake: 1 hour, 31 seconds ago\n"));
	assert_non_null(strstr(text, "  transfer: 1.23 MiB received, 4.56 MiB sent\n"));
	assert_non_null(strstr(text, "  packets: 1000 received, 2000 sent\n"));
	assert_non_null(strstr(text, "  rtt: 12.345 ms\n"));

	/* Peer 1: never, no endpoint line, no rtt, replayed drop shown. */
	const char *p1 = strstr(text, "\npeer: laptop of Ann\n");
	assert_non_null(p1);
	const char *p2 = strstr(text, "\npeer: nvr-2\n");
	assert_non_null(p2);
	assert_true(p1 < p2);
	assert_non_null(strstr(p1, "  latest handshake: never\n"));
	assert_non_null(strstr(p1, "  dropped: 1 replayed, 0 failed authentication\n"));
	char *p1_copy = strndup(p1, (size_t)(p2 - p1));
	assert_null(strstr(p1_copy, "endpoint"));
	assert_null(strstr(p1_copy, "rtt"));
	assert_non_null(strstr(p1_copy, "  path: none\n  latest handshake"));   /* no empty path lines */
	free(p1_copy);
	/* Peer 0 had no drops: no "dropped" line before peer 1. */
	char *p0 = strndup(text, (size_t)(p1 - text));
	assert_null(strstr(strstr(p0, "peer: hq"), "dropped"));
	free(p0);
	assert_non_null(strstr(p2, "  transfer: 3.69 MiB received, 16.00 EiB sent\n"));
	assert_non_null(strstr(p2, "  path: relay\n"
				   "  path detail: relay 198.51.100.20:443 via poll rtt 30.1 ms\n"
				   "  last switch: 2026-11-21T14:03:05Z direct -> relay: "
				   "the direct path stopped answering\n"
				   "  path switches: 18446744073709551615\n"));
	free(text);
	status_free(&st);
}

static void test_text_sanitizes(void **state)
{
	struct status st;
	memset(&st, 0, sizeof(st));
	snprintf(st.interface, sizeof(st.interface), "t\x1b[31m\xc2\x9b" "\xc3\xa4");
	char *text = print_to_string(status_print_text, &st);
	assert_non_null(strstr(text, "interface: t?[31m??\xc3\xa4\n"));
	assert_non_null(strstr(text, "  public key: (none)\n"));
	free(text);
}

static void test_text_relay_and_proxy(void **state)
{
	struct status st;
	memset(&st, 0, sizeof(st));
	char *text = print_to_string(status_print_text, &st);
	assert_null(strstr(text, "relay"));     /* nothing reported: no lines */
	assert_null(strstr(text, "proxy"));
	free(text);

	snprintf(st.relay_state, sizeof(st.relay_state), "off");
	text = print_to_string(status_print_text, &st);
	assert_null(strstr(text, "relay"));
	free(text);

	/* Only the state: it stands in for the summary line. */
	snprintf(st.relay_state, sizeof(st.relay_state), "backoff");
	snprintf(st.proxy, sizeof(st.proxy), "none");
	text = print_to_string(status_print_text, &st);
	assert_non_null(strstr(text, "  relay: backoff\n  proxy: none\n"));
	free(text);

	/* The new per-peer texts are sanitized like every other field. */
	st.n_peers = 1;
	st.peers = calloc(1, sizeof(*st.peers));
	assert_non_null(st.peers);
	snprintf(st.peers[0].standby, STATUS_TEXT_LEN, "relay \x1b[2J\xff");
	text = print_to_string(status_print_text, &st);
	assert_non_null(strstr(text, "  standby: relay ?[2J?\n"));
	assert_null(strstr(text, "path detail"));
	assert_null(strstr(text, "switch"));
	free(text);
	status_free(&st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_exact),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_encode_replaces_control_chars),
		cmocka_unit_test(test_decode_defaults_and_unknown),
		cmocka_unit_test(test_decode_counters),
		cmocka_unit_test(test_decode_errors),
		cmocka_unit_test(test_text_fields_length),
		cmocka_unit_test(test_decode_error_frees_peers),
		cmocka_unit_test(test_decode_embedded_nul),
		cmocka_unit_test(test_json_exact),
		cmocka_unit_test(test_json_empty),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_text_sanitizes),
		cmocka_unit_test(test_text_relay_and_proxy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
