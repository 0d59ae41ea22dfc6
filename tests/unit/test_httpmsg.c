/*
 * test_httpmsg.c - HTTP/1.1 heads, chunked bodies and proxy URLs
 * (httpmsg.h): the three request-target forms and the answers the relay
 * and proxies give, "need more" at every prefix of a valid head, one case
 * per error class with its reason, field lookup and Content-Length rules,
 * the chunked decoder fed whole, a byte at a time and in random splits
 * (same output every way), and http_parse_proxy_url.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "httpmsg.h"

static struct http_head head;   /* 10 KiB: too big for comfort on the stack */

static int parse(const char *s, bool is_request, const char **why)
{
	return http_parse_head((const uint8_t *)s, strlen(s), is_request, &head, why);
}

static void request_origin_form(void **state)
{
	const char *why = NULL;
	const char *req = "GET /tund/v1/listen HTTP/1.1\r\nHost: relay.example\r\n"
			  "Connection: keep-alive, Upgrade\r\nupgrade:tund-relay/1  \r\n"
			  "X-Empty:\r\nX-Spaces: \t a  b \t\r\n\r\nFRAMES";
	assert_int_equal(parse(req, true, &why), 1);
	assert_true(head.is_request);
	assert_string_equal(head.method, "GET");
	assert_string_equal(head.target, "/tund/v1/listen");
	assert_int_equal(head.version_minor, 1);
	assert_int_equal(head.n_fields, 5);
	assert_int_equal(head.head_len, strlen(req) - strlen("FRAMES"));
	assert_string_equal(head.fields[0].name, "Host");
	assert_string_equal(http_field(&head, "HOST"), "relay.example");
	assert_string_equal(http_field(&head, "Upgrade"), "tund-relay/1");
	assert_string_equal(http_field(&head, "x-empty"), "");
	assert_string_equal(http_field(&head, "X-Spaces"), "a  b");
	assert_null(http_field(&head, "Content-Length"));
	assert_null(http_field(&head, "Hos"));
	assert_true(http_field_has_token(&head, "connection", "upgrade"));
	assert_true(http_field_has_token(&head, "Connection", "KEEP-ALIVE"));
	assert_false(http_field_has_token(&head, "Connection", "close"));
	assert_true(http_field_has_token(&head, "Upgrade", "tund-relay/1"));
	assert_string_equal(http_origin_form(head.target), "/tund/v1/listen");
}

static void request_absolute_form(void **state)
{
	const char *why = NULL;
	assert_int_equal(parse("GET http://198.51.100.20:443/tund/v1/connect/abc HTTP/1.0\r\n\r\n", true, &why), 1);
	assert_string_equal(head.target, "http://198.51.100.20:443/tund/v1/connect/abc");
	assert_int_equal(head.version_minor, 0);
	assert_int_equal(head.n_fields, 0);
	assert_string_equal(http_origin_form(head.target), "/tund/v1/connect/abc");
	assert_string_equal(http_origin_form("http://relay:443"), "/");
	assert_string_equal(http_origin_form("http://relay:443/?q"), "/?q");
	assert_null(http_origin_form("http://relay:443?q"));
	assert_null(http_origin_form("relay:443"));
	assert_null(http_origin_form("*"));

	assert_int_equal(parse("OPTIONS * HTTP/1.1\r\n\r\n", true, &why), 1);
	assert_int_equal(parse("GET * HTTP/1.1\r\n\r\n", true, &why), -EBADMSG);
	assert_int_equal(parse("GET relay:443 HTTP/1.1\r\n\r\n", true, &why), 1);   /* scheme "relay" */
	assert_int_equal(parse("GET 1relay:443 HTTP/1.1\r\n\r\n", true, &why), -EBADMSG);
	assert_string_equal(why, "request target is not origin-form or absolute-form");
}

static void request_authority_form(void **state)
{
	const char *why = NULL;
	assert_int_equal(parse("CONNECT relay.example:443 HTTP/1.1\r\nHost: relay.example:443\r\n\r\n", true,
			       &why), 1);
	assert_string_equal(head.method, "CONNECT");
	assert_string_equal(head.target, "relay.example:443");
	assert_int_equal(parse("CONNECT [2001:db8::1]:443 HTTP/1.1\r\n\r\n", true, &why), 1);
	const char *bad[] = {
		"CONNECT /tund HTTP/1.1\r\n\r\n",      "CONNECT relay HTTP/1.1\r\n\r\n",
		"CONNECT relay: HTTP/1.1\r\n\r\n",     "CONNECT :443 HTTP/1.1\r\n\r\n",
		"CONNECT relay:44x HTTP/1.1\r\n\r\n",  "CONNECT u@relay:443 HTTP/1.1\r\n\r\n",
		"CONNECT http://r:1/ HTTP/1.1\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		assert_int_equal(parse(bad[i], true, &why), -EBADMSG);
		assert_string_equal(why, "CONNECT target is not host:port");
	}
}

static void responses(void **state)
{
	static const struct {
		const char *text;
		unsigned status;
		const char *reason;
		unsigned minor;
	} cases[] = {
		{ "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: tund-relay/1\r\n\r\n", 101,
		  "Switching Protocols", 1 },
		{ "HTTP/1.1 200 OK\r\nTund-Session: 00112233445566778899aabbccddeeff\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n", 200, "OK", 1 },
		{ "HTTP/1.0 200 Connection established\r\n\r\n", 200, "Connection established", 0 },
		{ "HTTP/1.1 204 No Content\r\n\r\n", 204, "No Content", 1 },
		{ "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", 403, "Forbidden", 1 },
		{ "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"x\"\r\n\r\n",
		  407, "Proxy Authentication Required", 1 },
		{ "HTTP/1.1 200\r\n\r\n", 200, "", 1 },
		{ "HTTP/1.1 404 \r\n\r\n", 404, "", 1 },
		{ "HTTP/1.1 999 \xc3\xa9t\xc3\xa9\r\n\r\n", 999, "\xc3\xa9t\xc3\xa9", 1 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *why = NULL;
		assert_int_equal(parse(cases[i].text, false, &why), 1);
		assert_false(head.is_request);
		assert_int_equal(head.status, cases[i].status);
		assert_string_equal(head.reason, cases[i].reason);
		assert_int_equal(head.version_minor, cases[i].minor);
		assert_int_equal(head.head_len, strlen(cases[i].text));
	}
	const char *why = NULL;
	assert_int_equal(parse(cases[0].text, false, &why), 1);
	assert_true(http_field_has_token(&head, "Upgrade", "TUND-RELAY/1"));

	/* A long reason is cut, not refused. */
	char longr[200];
	snprintf(longr, sizeof(longr), "HTTP/1.1 500 %0100d\r\n\r\n", 0);
	assert_int_equal(parse(longr, false, &why), 1);
	assert_int_equal(strlen(head.reason), HTTP_REASON_MAX - 1);

	/* A request is not a response and the other way round. */
	assert_int_equal(parse(cases[0].text, true, &why), -EBADMSG);
	assert_int_equal(parse("GET / HTTP/1.1\r\n\r\n", false, &why), -EBADMSG);
}

/* Every prefix of a valid head is "need more", the whole one parses. */
static void incomplete_prefixes(void **state)
{
	static const struct {
		const char *text;
		bool is_request;
	} heads[] = {
		{ "GET /tund/v1/listen HTTP/1.1\r\nHost: r\r\nConnection: Upgrade\r\n\r\n", true },
		{ "CONNECT r:443 HTTP/1.1\r\n\r\n", true },
		{ "POST /tund/v1/up/00 HTTP/1.1\r\nContent-Length: 3\r\n\r\n", true },
		{ "HTTP/1.1 101 Switching Protocols\r\nUpgrade: tund-relay/1\r\n\r\n", false },
		{ "HTTP/1.1 200\r\n\r\n", false },
	};
	for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
		size_t len = strlen(heads[i].text);
		for (size_t n = 0; n < len; n++) {
			const char *why = NULL;
			int rc = http_parse_head((const uint8_t *)heads[i].text, n, heads[i].is_request, &head,
						 &why);
			if (rc != 0)
				fail_msg("head %zu prefix %zu: %d (%s)", i, n, rc, why ? why : "");
		}
		const char *why = NULL;
		assert_int_equal(http_parse_head((const uint8_t *)heads[i].text, len, heads[i].is_request, &head,
						 &why), 1);
		assert_int_equal(head.head_len, len);
	}
}

static void expect_error(const char *text, size_t len, bool is_request, const char *reason)
{
	const char *why = NULL;
	int rc = http_parse_head((const uint8_t *)text, len, is_request, &head, &why);
	if (rc != -EBADMSG || !why || strcmp(why, reason) != 0)
		fail_msg("\"%.60s\": got %d \"%s\", want \"%s\"", text, rc, why ? why : "(null)", reason);
}

static void errors(void **state)
{
	static const struct {
		const char *text;
		bool is_request;
		const char *reason;
	} cases[] = {
		{ "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", true, "bare CR in the head" },
		{ "GET / HTTP/1.1\r\nHost: a\n\r\n", true, "line ends in a bare LF" },
		{ "GET / HTTP/1.1\n", true, "line ends in a bare LF" },
		{ "GET / HTTP/1.1\r\nHost: a\r\n continued\r\n\r\n", true,
		  "obsolete line folding in a header field" },
		{ "GET / HTTP/1.1\r\n\tHost: a\r\n\r\n", true, "obsolete line folding in a header field" },
		{ "GET / HTTP/1.1\r\nHo(st: a\r\n\r\n", true, "header field name has an invalid character" },
		{ "GET / HTTP/1.1\r\nH\xc3\xb6st: a\r\n\r\n", true, "header field name has an invalid character" },
		{ "GET / HTTP/1.1\r\nHost : a\r\n\r\n", true, "white space before the colon of a header field" },
		{ "GET / HTTP/1.1\r\nHost a\r\n\r\n", true, "header field without a colon" },
		{ "GET / HTTP/1.1\r\n: a\r\n\r\n", true, "header field name is empty" },
		{ "GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n", true, "header field value has a control character" },
		{ "GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n", true, "header field value has a control character" },
		{ "\r\nGET / HTTP/1.1\r\n\r\n", true, "request line is empty" },
		{ "\r\n", false, "status line is empty" },
		{ "GET /\r\n\r\n", true, "malformed request line" },
		{ "GET  / HTTP/1.1\r\n\r\n", true, "malformed request line" },
		{ " GET / HTTP/1.1\r\n\r\n", true, "malformed request line" },
		{ "G(T / HTTP/1.1\r\n\r\n", true, "method has an invalid character" },
		{ "ABCDEFGHIJKLMNOPQ / HTTP/1.1\r\n\r\n", true, "method too long" },
		{ "GET /a\x01 HTTP/1.1\r\n\r\n", true, "request target has an invalid character" },
		{ "GET /\xc3\xa9 HTTP/1.1\r\n\r\n", true, "request target has an invalid character" },
		{ "GET / HTTP/1.1 \r\n\r\n", true, "malformed HTTP version" },
		{ "GET / HTTP/2.0\r\n\r\n", true, "unsupported HTTP version (not 1.0 or 1.1)" },
		{ "GET / HTTP/1.2\r\n\r\n", true, "unsupported HTTP version (not 1.0 or 1.1)" },
		{ "GET / http/1.1\r\n\r\n", true, "malformed HTTP version" },
		{ "HTTP/1.1 20 OK\r\n\r\n", false, "status code is not three digits 100..999" },
		{ "HTTP/1.1 20\r\n\r\n", false, "malformed status line" },
		{ "HTTP/1.1  200 OK\r\n\r\n", false, "status code is not three digits 100..999" },
		{ "HTTP/1.1 099 Low\r\n\r\n", false, "status code is not three digits 100..999" },
		{ "HTTP/1.1 2x0 OK\r\n\r\n", false, "status code is not three digits 100..999" },
		{ "HTTP/1.1 2000 OK\r\n\r\n", false, "malformed status line" },
		{ "HTTP/1.1 200 O\x01K\r\n\r\n", false, "reason phrase has a control character" },
		{ "HTTP/1.1200 OK\r\n\r\n", false, "malformed status line" },
		{ "HTTP/3.0 200 OK\r\n\r\n", false, "unsupported HTTP version (not 1.0 or 1.1)" },
		{ "\x16\x03\x01\x02\x05\x01\x01\x01\xfc\x03\x03\r\n", false, "malformed status line" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_error(cases[i].text, strlen(cases[i].text), cases[i].is_request, cases[i].reason);
	/* A NUL in a value is a control character, not the end of the input. */
	static const char nul[] = "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n";
	expect_error(nul, sizeof(nul) - 1, true, "header field value has a control character");
	/* Errors show on the first bad line even before the head is whole. */
	expect_error("SSH-2.0-OpenSSH_9.2\r\n", 21, false, "malformed status line");
}

static void too_long_and_too_many(void **state)
{
	static char big[HTTP_HEAD_MAX + 64];
	const char *why = NULL;
	/* 32 fields are fine, 33 are not. */
	size_t n = (size_t)snprintf(big, sizeof(big), "GET / HTTP/1.1\r\n");
	for (int i = 0; i < HTTP_MAX_FIELDS; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "X-%d: %d\r\n", i, i);
	memcpy(big + n, "\r\n", 3);
	assert_int_equal(http_parse_head((uint8_t *)big, n + 2, true, &head, &why), 1);
	assert_int_equal(head.n_fields, HTTP_MAX_FIELDS);
	assert_string_equal(http_field(&head, "x-31"), "31");
	n += (size_t)snprintf(big + n, sizeof(big) - n, "X-last: 1\r\n\r\n");
	expect_error(big, n, true, "more than 32 header fields");

	/* A head of exactly HTTP_HEAD_MAX bytes parses; one more byte does not. */
	n = (size_t)snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\nX: ");
	size_t pad = HTTP_HEAD_MAX - n - 4;
	memset(big + n, 'a', pad);
	memcpy(big + n + pad, "\r\n\r\n", 4);
	assert_int_equal(http_parse_head((uint8_t *)big, HTTP_HEAD_MAX, false, &head, &why), 1);
	assert_int_equal(head.head_len, HTTP_HEAD_MAX);
	assert_int_equal(strlen(http_field(&head, "X")), pad);
	/* The same bytes without the end: need more up to the limit, then an error. */
	assert_int_equal(http_parse_head((uint8_t *)big, HTTP_HEAD_MAX - 1, false, &head, &why), 0);
	big[HTTP_HEAD_MAX - 2] = 'a';
	big[HTTP_HEAD_MAX - 1] = 'a';
	expect_error(big, HTTP_HEAD_MAX, false, "head longer than 8192 bytes");
	expect_error(big, sizeof(big), false, "head longer than 8192 bytes");
	memset(big + n, 'a', sizeof(big) - n);
	memcpy(big + HTTP_HEAD_MAX - 3, "\r\n\r\n", 4);   /* ends one byte too late */
	expect_error(big, HTTP_HEAD_MAX + 1, false, "head longer than 8192 bytes");

	/* Start line fields at their limits. */
	char target[HTTP_TARGET_MAX + 1];
	memset(target, 'a', sizeof(target));
	target[0] = '/';
	target[HTTP_TARGET_MAX - 1] = '\0';
	snprintf(big, sizeof(big), "GET %s HTTP/1.1\r\n\r\n", target);
	assert_int_equal(parse(big, true, &why), 1);
	target[HTTP_TARGET_MAX - 1] = 'a';
	target[HTTP_TARGET_MAX] = '\0';
	snprintf(big, sizeof(big), "GET %s HTTP/1.1\r\n\r\n", target);
	expect_error(big, strlen(big), true, "request target too long");
	assert_int_equal(parse("ABCDEFGHIJKLMNO / HTTP/1.1\r\n\r\n", true, &why), 1);
}

static int content_length(const char *fields, uint64_t limit, uint64_t *v)
{
	char buf[512];
	const char *why = NULL;
	snprintf(buf, sizeof(buf), "POST /tund/v1/up/x HTTP/1.1\r\n%s\r\n", fields);
	assert_int_equal(parse(buf, true, &why), 1);
	return http_content_length(&head, limit, v);
}

static void content_length_rules(void **state)
{
	uint64_t v = 7;
	assert_int_equal(content_length("Host: a\r\n", 100, &v), -ENOENT);
	assert_int_equal(v, 7);
	assert_int_equal(content_length("Content-Length: 42\r\n", 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(content_length("content-length: 0\r\n", 0, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(content_length("Content-Length: 007\r\n", 100, &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(content_length("Content-Length: 100\r\n", 100, &v), 0);
	assert_int_equal(content_length("Content-Length: 101\r\n", 100, &v), -EBADMSG);
	assert_int_equal(content_length("Content-Length: 5\r\nCONTENT-LENGTH: 5\r\n", 100, &v), 0);
	assert_int_equal(v, 5);
	assert_int_equal(content_length("Content-Length: 5\r\nContent-Length: 6\r\n", 100, &v), -EBADMSG);
	assert_int_equal(content_length("Content-Length: 6\r\nContent-Length: 5\r\n", 100, &v), -EBADMSG);
	const char *bad[] = { "", "+5", "-1", "5, 5", "0x10", "5 5", "1e3", "18446744073709551616",
			      "99999999999999999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char f[128];
		snprintf(f, sizeof(f), "Content-Length: %s\r\n", bad[i]);
		if (content_length(f, UINT64_MAX, &v) != -EBADMSG)
			fail_msg("Content-Length \"%s\" accepted", bad[i]);
	}
	assert_int_equal(content_length("Content-Length: 18446744073709551615\r\n", UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);
}

static void token_rules(void **state)
{
	const char *why = NULL;
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nConnection: ,,close ,\r\n"
			       "transfer-encoding:  Chunked \r\nX: chunkedx, xchunked, chun ked\r\n\r\n", false, &why),
			 1);
	assert_true(http_field_has_token(&head, "Transfer-Encoding", "chunked"));
	assert_true(http_field_has_token(&head, "Transfer-Encoding", "gzip"));
	assert_true(http_field_has_token(&head, "Connection", "close"));
	assert_false(http_field_has_token(&head, "Connection", ""));
	assert_false(http_field_has_token(&head, "X", "chunked"));
	assert_false(http_field_has_token(&head, "Missing", "chunked"));
	assert_string_equal(http_field(&head, "transfer-encoding"), "gzip");
}

/* The chunked body used below: three data chunks (one with extensions),
 * the last chunk with an extension, two trailers, then bytes that follow. */
static const char chunked_body[] = "5\r\nhello\r\n"
				   "18;name=value;x=\"quoted \\\" ;\"\r\n, this is the second one\r\n"
				   "0000001 ;  ext\r\n!\r\n"
				   "0;last\r\nTrailer-One: 1\r\nTrailer-Two:2\r\n\r\n"
				   "NEXT";
static const char chunked_data[] = "hello, this is the second one!";

static int decode_split(const uint8_t *body, size_t len, const size_t *cuts, size_t ncuts, uint8_t *out,
			size_t *out_len, size_t *total_used, bool *done)
{
	struct http_chunked c;
	uint8_t piece[256];
	size_t start = 0;
	http_chunked_init(&c);
	*out_len = 0;
	*total_used = 0;
	for (size_t i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;
		size_t n = end - start, got, used;
		memcpy(piece, body + start, n);
		int rc = http_chunked_decode(&c, piece, n, &got, &used);
		memcpy(out + *out_len, piece, got);
		*out_len += got;
		*total_used += used;
		if (rc < 0)
			return rc;
		if (used != n && !c.done)
			fail_msg("used %zu of %zu before the end", used, n);
		start = end;
	}
	*done = c.done;
	return 0;
}

static void chunked_splits(void **state)
{
	const uint8_t *body = (const uint8_t *)chunked_body;
	size_t len = strlen(chunked_body), body_len = len - 4;
	uint8_t out[256];
	size_t out_len, used, cuts[256];
	bool done;

	assert_int_equal(decode_split(body, len, NULL, 0, out, &out_len, &used, &done), 0);
	assert_true(done);
	assert_int_equal(used, body_len);
	assert_int_equal(out_len, strlen(chunked_data));
	assert_memory_equal(out, chunked_data, out_len);

	for (size_t i = 0; i < len - 1; i++)
		cuts[i] = i + 1;
	assert_int_equal(decode_split(body, len, cuts, len - 1, out, &out_len, &used, &done), 0);
	assert_true(done);
	assert_int_equal(used, body_len);
	assert_memory_equal(out, chunked_data, strlen(chunked_data));

	/* Random splits, a fixed seed so a failure repeats. */
	uint32_t seed = 12345;
	for (int round = 0; round < 2000; round++) {
		size_t n = 0;
		for (size_t pos = 0; pos < len;) {
			seed = seed * 1103515245u + 12345u;
			pos += 1 + (seed >> 16) % 12;
			if (pos < len)
				cuts[n++] = pos;
		}
		assert_int_equal(decode_split(body, len, cuts, n, out, &out_len, &used, &done), 0);
		assert_true(done);
		assert_int_equal(used, body_len);
		assert_int_equal(out_len, strlen(chunked_data));
		assert_memory_equal(out, chunked_data, out_len);
	}

	/* Once done, more input is left alone. */
	struct http_chunked c;
	uint8_t buf[8] = "0\r\n\r\nxy";
	size_t got;
	http_chunked_init(&c);
	assert_int_equal(http_chunked_decode(&c, buf, 7, &got, &used), 0);
	assert_true(c.done);
	assert_int_equal(used, 5);
	assert_int_equal(got, 0);
	assert_int_equal(http_chunked_decode(&c, buf + 5, 2, &got, &used), 0);
	assert_int_equal(used, 0);
	assert_int_equal(got, 0);
}

static int chunked_once(const char *s, size_t len, bool *done)
{
	struct http_chunked c;
	uint8_t buf[4096];
	size_t got, used;
	memcpy(buf, s, len);
	http_chunked_init(&c);
	int rc = http_chunked_decode(&c, buf, len, &got, &used);
	*done = c.done;
	return rc;
}

static void chunked_errors(void **state)
{
	static const char *bad[] = {
		"\r\n",                   /* no size */
		";ext\r\n",               /* no size */
		"x\r\n",                  /* not hex */
		"-1\r\n",
		"0x5\r\nhello\r\n",
		"5\nhello\r\n",           /* bare LF */
		"5\r\rhello\r\n",
		"5 \r\nhello\r\n",        /* BWS without an extension */
		"5\r\nhelloX\r\n",        /* data not followed by CRLF */
		"5\r\nhello\rX",
		"5\r\nhello\n",
		"1000001\r\n",            /* over HTTP_CHUNK_MAX */
		"ffffffffffffffffffff\r\n",
		"1;a\x01\r\n",            /* control character in an extension */
		"0\r\n trailer: folded\r\n\r\n",
		"0\r\nTrailer: a\x01\r\n\r\n",
		"0\r\nTrailer: a\n\r\n",
		"0\r\n\rX",
		"0\r\n(bad: 1\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bool done;
		if (chunked_once(bad[i], strlen(bad[i]), &done) != -EBADMSG)
			fail_msg("chunked body %zu accepted", i);
	}
	bool done;
	assert_int_equal(chunked_once("1000000\r\n", 9, &done), 0);   /* exactly HTTP_CHUNK_MAX */
	assert_int_equal(chunked_once("00000000000000000000001\r\nx\r\n0\r\n\r\n", 33, &done), 0);
	assert_true(done);

	/* Size and trailer lines of 1024 bytes pass, 1025 do not. */
	static char line[2048];
	for (int over = 0; over <= 1; over++) {
		size_t n = 1024 + (size_t)over;
		memset(line, 'a', sizeof(line));
		memcpy(line, "1;", 2);
		memcpy(line + n, "\r\nx\r\n0\r\n\r\n", 10);
		assert_int_equal(chunked_once(line, n + 10, &done), over ? -EBADMSG : 0);
		memcpy(line, "0\r\nT:", 5);
		memset(line + 5, 'b', sizeof(line) - 5);
		memcpy(line + 3 + n, "\r\n\r\n", 4);
		assert_int_equal(chunked_once(line, n + 7, &done), over ? -EBADMSG : 0);
		assert_int_equal(done, !over);
	}
}

static void chunk_headers(void **state)
{
	char h[HTTP_CHUNK_HDR_MAX];
	assert_int_equal(http_chunk_header(h, 0), 3);
	assert_memory_equal(h, "0\r\n", 3);
	assert_int_equal(http_chunk_header(h, 0x1a), 4);
	assert_memory_equal(h, "1a\r\n", 4);
	assert_int_equal(http_chunk_header(h, HTTP_CHUNK_MAX), 9);
	assert_memory_equal(h, "1000000\r\n", 9);
	assert_int_equal(http_chunk_header(h, SIZE_MAX), 2 * sizeof(size_t) + 2);

	/* What the writer makes, the decoder reads. */
	uint8_t body[64];
	size_t n = http_chunk_header((char *)body, 3);
	memcpy(body + n, "abc\r\n0\r\n\r\n", 10);
	struct http_chunked c;
	size_t got, used;
	http_chunked_init(&c);
	assert_int_equal(http_chunked_decode(&c, body, n + 10, &got, &used), 0);
	assert_true(c.done);
	assert_int_equal(got, 3);
	assert_memory_equal(body, "abc", 3);
}

static void proxy_urls(void **state)
{
	static const struct {
		const char *url;
		const char *host;
		uint16_t port;
	} good[] = {
		{ "http://proxy:3128", "proxy", 3128 },
		{ "http://10.0.0.1", "10.0.0.1", 80 },
		{ "http://10.0.0.1/", "10.0.0.1", 80 },
		{ "HTTP://Proxy.Example-1.net:8080/", "Proxy.Example-1.net", 8080 },
		{ "http://p:65535/some/path", "p", 65535 },
		{ "http://p:00080", "p", 80 },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char host[64];
		uint16_t port = 0;
		const char *why = "unset";
		assert_int_equal(http_parse_proxy_url(good[i].url, host, sizeof(host), &port, &why), 0);
		assert_string_equal(host, good[i].host);
		assert_int_equal(port, good[i].port);
		assert_null(why);
	}
	static const struct {
		const char *url;
		const char *why;
	} bad[] = {
		{ "https://proxy:3128", "https:// proxies are not supported (use http://; tund's traffic is "
					"already encrypted)" },
		{ "HTTPS://proxy", "https:// proxies are not supported (use http://; tund's traffic is "
				   "already encrypted)" },
		{ "socks5://proxy:1080", "only http:// proxies are supported" },
		{ "proxy:3128", "the URL does not start with http://" },
		{ "", "the URL does not start with http://" },
		{ "http://", "the host is missing" },
		{ "http:///", "the host is missing" },
		{ "http://:3128", "the host is missing" },
		{ "http://p:", "the port must be 1..65535" },
		{ "http://p:0", "the port must be 1..65535" },
		{ "http://p:65536", "the port must be 1..65535" },
		{ "http://p:123456", "the port must be 1..65535" },
		{ "http://p:80a", "the port must be 1..65535" },
		{ "http://p:-1", "the port must be 1..65535" },
		{ "http://p:1:2", "the port must be 1..65535" },
		{ "http://user:pw@p:3128", "user names and passwords in proxy URLs are not supported" },
		{ "http://[2001:db8::1]:3128", "IPv6 proxy addresses are not supported" },
		{ "http://pro_xy:3128", "the host has an invalid character" },
		{ "http://p q:3128", "the host has an invalid character" },
		{ "http://p:3128?x=1", "unexpected query or fragment after the host" },
		{ "http://p#frag", "unexpected query or fragment after the host" },
		{ "http://p:3128/a b", "the path has an invalid character" },
		{ "http://p:3128/\n", "the path has an invalid character" },
		{ "http://a-very-long-host-name.example", "the host name is too long" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char host[16] = "untouched";
		uint16_t port = 7;
		const char *why = NULL;
		int rc = http_parse_proxy_url(bad[i].url, host, sizeof(host), &port, &why);
		if (rc != -EINVAL || !why || strcmp(why, bad[i].why) != 0)
			fail_msg("\"%s\": %d \"%s\"", bad[i].url, rc, why ? why : "(null)");
		assert_string_equal(host, "untouched");
		assert_int_equal(port, 7);
	}
	char host[16];
	uint16_t port;
	const char *why;
	assert_int_equal(http_parse_proxy_url("http://abcdefghijklmnop:1", host, sizeof(host), &port, &why),
			 -EINVAL);
	assert_int_equal(http_parse_proxy_url("http://abcdefghijklmno:1", host, sizeof(host), &port, &why), 0);
	assert_string_equal(host, "abcdefghijklmno");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(request_origin_form),
		cmocka_unit_test(request_absolute_form),
		cmocka_unit_test(request_authority_form),
		cmocka_unit_test(responses),
		cmocka_unit_test(incomplete_prefixes),
		cmocka_unit_test(errors),
		cmocka_unit_test(too_long_and_too_many),
		cmocka_unit_test(content_length_rules),
		cmocka_unit_test(token_rules),
		cmocka_unit_test(chunked_splits),
		cmocka_unit_test(chunked_errors),
		cmocka_unit_test(chunk_headers),
		cmocka_unit_test(proxy_urls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
