/*
 * test_addr.c - unit tests for shared/addr.c: every parser against good
 * and bad text (leading zeros, signs, spaces, out-of-range numbers and
 * trailing garbage are all refused, and a refused parse leaves its outputs
 * untouched), formatting and its round trip through the parsers, prefix
 * masks and containment at the /0 and /32 edges, and sockaddr conversion.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "addr.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))
#define SENTINEL 0xdeadbeefu

static void test_addr_parse_good(void **state)
{
	static const struct {
		const char *s;
		uint32_t want;
	} good[] = {
		{ "0.0.0.0", 0 },
		{ "1.2.3.4", IP(1, 2, 3, 4) },
		{ "255.255.255.255", UINT32_MAX },
		{ "10.0.0.1", IP(10, 0, 0, 1) },
		{ "192.168.100.200", IP(192, 168, 100, 200) },
		{ "100.64.0.0", IP(100, 64, 0, 0) },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint32_t a = SENTINEL;
		assert_int_equal(addr_parse(&a, good[i].s), 0);
		assert_int_equal(a, good[i].want);
	}
}

static void test_addr_parse_bad(void **state)
{
	static const char *const bad[] = {
		"", "1", "1.2.3", "1.2.3.4.5", "1.2.3.", ".1.2.3", "1..2.3", "1.2.3.4.",
		"256.1.1.1", "1.256.1.1", "1.1.1.256", "999.1.1.1", "1000.1.1.1",
		"4294967296.0.0.0", "99999999999999999999.1.1.1",
		" 1.2.3.4", "1.2.3.4 ", "1.2. 3.4", "1.2.3.4\n", "\t1.2.3.4",
		"+1.2.3.4", "-1.2.3.4", "1.-2.3.4", "1.+2.3.4",
		"01.2.3.4", "1.02.3.4", "1.2.3.04", "00.0.0.0", "1.2.3.00",
		"0x1.2.3.4", "0x01020304", "16909060", "a.b.c.d", "1.2.3.4a",
		"1.2.3.4/24", "1.2.3.4:80", "localhost", "::1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint32_t a = SENTINEL;
		int rc = addr_parse(&a, bad[i]);
		if (rc != -EINVAL)
			fail_msg("addr_parse(\"%s\") = %d, want -EINVAL", bad[i], rc);
		assert_int_equal(a, SENTINEL);
	}
	uint32_t a = SENTINEL;
	assert_int_equal(addr_parse(&a, NULL), -EINVAL);
	assert_int_equal(a, SENTINEL);
}

static void test_prefix_parse(void **state)
{
	uint32_t a;
	unsigned len;

	assert_int_equal(prefix_parse(&a, &len, "10.1.2.0/24", true), 0);
	assert_int_equal(a, IP(10, 1, 2, 0));
	assert_int_equal(len, 24);
	assert_int_equal(prefix_parse(&a, &len, "0.0.0.0/0", true), 0);
	assert_int_equal(a, 0);
	assert_int_equal(len, 0);
	assert_int_equal(prefix_parse(&a, &len, "1.2.3.4/32", true), 0);
	assert_int_equal(len, 32);
	/* host bits are kept as written */
	assert_int_equal(prefix_parse(&a, &len, "10.0.0.1/8", true), 0);
	assert_int_equal(a, IP(10, 0, 0, 1));
	assert_int_equal(len, 8);
	/* without a length: an error when required, else a host route */
	len = 7;
	a = SENTINEL;
	assert_int_equal(prefix_parse(&a, &len, "1.2.3.4", true), -EINVAL);
	assert_int_equal(a, SENTINEL);
	assert_int_equal(len, 7);
	assert_int_equal(prefix_parse(&a, &len, "1.2.3.4", false), 0);
	assert_int_equal(a, IP(1, 2, 3, 4));
	assert_int_equal(len, 32);
	assert_int_equal(prefix_parse(&a, &len, "1.2.3.4/5", false), 0);
	assert_int_equal(len, 5);

	static const char *const bad[] = {
		"1.2.3.4/33", "1.2.3.4/", "1.2.3.4/-1", "1.2.3.4/+8", "1.2.3.4/08", "1.2.3.4/00",
		"1.2.3.4/ 8", "1.2.3.4/8 ", "1.2.3.4 /8", "1.2.3.4/8/8", "1.2.3.4/8x", "1.2.3.4/100",
		"1.2.3.4/4294967328", "1.2.3/8", "256.0.0.0/8", "01.2.3.4/8", "/8", "", "1.2.3.4:8",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (int req = 0; req < 2; req++) {
			a = SENTINEL;
			len = 99;
			int rc = prefix_parse(&a, &len, bad[i], req);
			if (rc != -EINVAL)
				fail_msg("prefix_parse(\"%s\", %d) = %d, want -EINVAL", bad[i], req, rc);
			assert_int_equal(a, SENTINEL);
			assert_int_equal(len, 99);
		}
	}
	assert_int_equal(prefix_parse(&a, &len, NULL, false), -EINVAL);
}

static void test_endpoint_parse(void **state)
{
	struct endpoint ep;
	assert_int_equal(endpoint_parse(&ep, "203.0.113.7:51820"), 0);
	assert_int_equal(ep.addr, IP(203, 0, 113, 7));
	assert_int_equal(ep.port, 51820);
	assert_int_equal(endpoint_parse(&ep, "0.0.0.0:1"), 0);
	assert_int_equal(ep.addr, 0);
	assert_int_equal(ep.port, 1);
	assert_int_equal(endpoint_parse(&ep, "255.255.255.255:65535"), 0);
	assert_int_equal(ep.addr, UINT32_MAX);
	assert_int_equal(ep.port, 65535);

	static const char *const bad[] = {
		"1.2.3.4:0", "1.2.3.4:65536", "1.2.3.4:99999", "1.2.3.4:4294967297", "1.2.3.4:",
		"1.2.3.4", "1.2.3.4:-1", "1.2.3.4:+80", "1.2.3.4:080", "1.2.3.4: 80", "1.2.3.4:80 ",
		"1.2.3.4 :80", "1.2.3.4:80:80", "1.2.3.4:0x50", "1.2.3:80", "1.2.3.4.5:80",
		"256.1.1.1:80", " 1.2.3.4:80", "01.2.3.4:80", ":80", "", "host:80", "1.2.3.4/24",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ep.addr = SENTINEL;
		ep.port = 4242;
		int rc = endpoint_parse(&ep, bad[i]);
		if (rc != -EINVAL)
			fail_msg("endpoint_parse(\"%s\") = %d, want -EINVAL", bad[i], rc);
		assert_int_equal(ep.addr, SENTINEL);
		assert_int_equal(ep.port, 4242);
	}
	assert_int_equal(endpoint_parse(&ep, NULL), -EINVAL);
}

static void test_format(void **state)
{
	char a[ADDR_STR_LEN];
	char e[ENDPOINT_STR_LEN];

	addr_format(a, 0);
	assert_string_equal(a, "0.0.0.0");
	addr_format(a, UINT32_MAX);
	assert_string_equal(a, "255.255.255.255");
	addr_format(a, IP(10, 20, 30, 40));
	assert_string_equal(a, "10.20.30.40");

	struct endpoint ep = { .addr = UINT32_MAX, .port = 65535 };
	endpoint_format(e, &ep);
	assert_string_equal(e, "255.255.255.255:65535");
	assert_int_equal(strlen(e) + 1, ENDPOINT_STR_LEN);
	ep = (struct endpoint){ .addr = IP(192, 0, 2, 1), .port = 1 };
	endpoint_format(e, &ep);
	assert_string_equal(e, "192.0.2.1:1");
}

/* Format then parse gives back the value, for a spread of addresses. */
static void test_round_trip(void **state)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < 20000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uint32_t addr = (uint32_t)x;
		if (i < 256)
			addr = (uint32_t)i * 0x01010101u; /* every octet value, incl. 0 */
		char s[ADDR_STR_LEN];
		uint32_t back = ~addr;
		addr_format(s, addr);
		assert_int_equal(addr_parse(&back, s), 0);
		assert_int_equal(back, addr);

		struct endpoint ep = { .addr = addr, .port = (uint16_t)(x >> 40) | 1 }, ep2;
		char es[ENDPOINT_STR_LEN];
		endpoint_format(es, &ep);
		assert_int_equal(endpoint_parse(&ep2, es), 0);
		assert_true(endpoint_equal(&ep, &ep2));
	}
}

static void test_prefix_mask(void **state)
{
	assert_int_equal(prefix_mask(0), 0);
	assert_int_equal(prefix_mask(1), 0x80000000u);
	assert_int_equal(prefix_mask(8), 0xff000000u);
	assert_int_equal(prefix_mask(24), 0xffffff00u);
	assert_int_equal(prefix_mask(31), 0xfffffffeu);
	assert_int_equal(prefix_mask(32), 0xffffffffu);
	assert_int_equal(prefix_mask(33), 0xffffffffu);
	for (unsigned l = 0; l <= 32; l++) {
		uint32_t m = prefix_mask(l);
		assert_int_equal(__builtin_popcount(m), l);
		uint32_t host = ~m;
		assert_int_equal(host & (host + 1), 0); /* ones from the top, zeros below */
	}
}

static void test_prefix_contains(void **state)
{
	/* /0 holds everything */
	assert_true(prefix_contains(0, 0, 0));
	assert_true(prefix_contains(0, 0, UINT32_MAX));
	assert_true(prefix_contains(IP(10, 0, 0, 0), 0, IP(192, 168, 1, 1)));
	/* /32 holds exactly one address */
	assert_true(prefix_contains(IP(1, 2, 3, 4), 32, IP(1, 2, 3, 4)));
	assert_false(prefix_contains(IP(1, 2, 3, 4), 32, IP(1, 2, 3, 5)));
	assert_false(prefix_contains(IP(1, 2, 3, 4), 32, IP(129, 2, 3, 4)));
	/* edges of a /24 and a /31, host bits in net ignored */
	assert_true(prefix_contains(IP(10, 1, 2, 99), 24, IP(10, 1, 2, 0)));
	assert_true(prefix_contains(IP(10, 1, 2, 0), 24, IP(10, 1, 2, 255)));
	assert_false(prefix_contains(IP(10, 1, 2, 0), 24, IP(10, 1, 3, 0)));
	assert_false(prefix_contains(IP(10, 1, 2, 0), 24, IP(10, 1, 1, 255)));
	assert_true(prefix_contains(IP(10, 0, 0, 2), 31, IP(10, 0, 0, 3)));
	assert_false(prefix_contains(IP(10, 0, 0, 2), 31, IP(10, 0, 0, 4)));
	/* /1 splits on the top bit */
	assert_true(prefix_contains(0, 1, 0x7fffffffu));
	assert_false(prefix_contains(0, 1, 0x80000000u));
}

static void test_sockaddr(void **state)
{
	struct endpoint ep = { .addr = IP(198, 51, 100, 9), .port = 0x1234 }, back;
	struct sockaddr_in sa;
	memset(&sa, 0xaa, sizeof(sa));
	endpoint_to_sockaddr(&sa, &ep);
	assert_int_equal(sa.sin_family, AF_INET);
	const uint8_t *port = (const uint8_t *)&sa.sin_port;
	const uint8_t *addr = (const uint8_t *)&sa.sin_addr.s_addr;
	assert_int_equal(port[0], 0x12);
	assert_int_equal(port[1], 0x34);
	assert_int_equal(addr[0], 198);
	assert_int_equal(addr[3], 9);
	for (size_t i = 0; i < sizeof(sa.sin_zero); i++)
		assert_int_equal(sa.sin_zero[i], 0);
	endpoint_from_sockaddr(&back, &sa);
	assert_true(endpoint_equal(&ep, &back));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr_parse_good),
		cmocka_unit_test(test_addr_parse_bad),
		cmocka_unit_test(test_prefix_parse),
		cmocka_unit_test(test_endpoint_parse),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_prefix_mask),
		cmocka_unit_test(test_prefix_contains),
		cmocka_unit_test(test_sockaddr),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
