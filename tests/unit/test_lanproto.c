/*
 * test_lanproto.c - the LAN discovery datagrams (shared/lanproto.h): the
 * layout byte by byte, encode/decode round trips, every rejection the
 * decoder makes (foreign magic or version, unknown type, each wrong
 * length, reserved bits, port 0, bad server ids, a key that is not the
 * system's), and what a QUERY asks for.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "lanproto.h"

static struct lanmsg announce_msg(uint8_t keybyte, const char *server_id)
{
	struct lanmsg m = { .type = LANPROTO_ANNOUNCE, .port = 41641 };
	memset(m.key, keybyte, KEY_LEN);
	key_system_id(m.system_id, m.key);
	snprintf(m.server_id, sizeof(m.server_id), "%s", server_id);
	return m;
}

static void announce_layout(void **state)
{
	(void)state;
	struct lanmsg m = announce_msg(7, "nvr1"), got;
	uint8_t buf[LANPROTO_MAX_LEN];
	int n = lanproto_encode(buf, sizeof(buf), &m);
	assert_int_equal(n, LANPROTO_ANNOUNCE_MIN + 4);
	assert_memory_equal(buf, "tLAN\x01\x01\x00\x00", 8);
	assert_memory_equal(buf + 8, m.system_id, UUID_LEN);
	assert_memory_equal(buf + 24, m.key, KEY_LEN);
	assert_int_equal(buf[56], 41641 >> 8);
	assert_int_equal(buf[57], 41641 & 0xff);
	assert_int_equal(buf[58], 4);
	assert_memory_equal(buf + 59, "nvr1", 4);
	assert_int_equal(lanproto_decode(buf, (size_t)n, &got), 0);
	assert_memory_equal(&got, &m, sizeof(m));
}

static void query_layout(void **state)
{
	(void)state;
	struct lanmsg q = { .type = LANPROTO_QUERY }, got;
	uint8_t buf[LANPROTO_MAX_LEN], id[UUID_LEN], other[UUID_LEN];
	memset(q.system_id, 0x5a, UUID_LEN);
	int n = lanproto_encode(buf, sizeof(buf), &q);
	assert_int_equal(n, LANPROTO_QUERY_LEN);
	assert_memory_equal(buf, "tLAN\x01\x02\x00\x00", 8);
	assert_int_equal(lanproto_decode(buf, (size_t)n, &got), 0);
	assert_int_equal(got.type, LANPROTO_QUERY);
	memset(id, 0x5a, UUID_LEN);
	memset(other, 0x5b, UUID_LEN);
	assert_true(lanproto_query_wants(&got, id));
	assert_false(lanproto_query_wants(&got, other));
	memset(got.system_id, 0, UUID_LEN); /* every system */
	assert_true(lanproto_query_wants(&got, other));
}

static void longest_server_id(void **state)
{
	(void)state;
	char sid[LANPROTO_SERVER_ID_MAX];
	memset(sid, 'a', sizeof(sid) - 1);
	sid[sizeof(sid) - 1] = '\0';
	struct lanmsg m = announce_msg(9, sid), got;
	uint8_t buf[LANPROTO_MAX_LEN];
	assert_int_equal(lanproto_encode(buf, sizeof(buf), &m), LANPROTO_MAX_LEN);
	assert_int_equal(lanproto_decode(buf, sizeof(buf), &got), 0);
	assert_string_equal(got.server_id, sid);
	assert_int_equal(lanproto_encode(buf, LANPROTO_MAX_LEN - 1, &m), -ENOSPC);
}

static void encoder_refuses(void **state)
{
	(void)state;
	uint8_t buf[LANPROTO_MAX_LEN];
	struct lanmsg m = announce_msg(1, "nvr1");
	m.port = 0;
	assert_int_equal(lanproto_encode(buf, sizeof(buf), &m), -EINVAL);
	m = announce_msg(1, "NVR");
	assert_int_equal(lanproto_encode(buf, sizeof(buf), &m), -EINVAL);
	m = announce_msg(1, "");
	assert_int_equal(lanproto_encode(buf, sizeof(buf), &m), -EINVAL);
	m.type = 3;
	assert_int_equal(lanproto_encode(buf, sizeof(buf), &m), -EINVAL);
	struct lanmsg q = { .type = LANPROTO_QUERY };
	assert_int_equal(lanproto_encode(buf, LANPROTO_QUERY_LEN - 1, &q), -ENOSPC);
}

/* buf is a valid datagram of n bytes; with byte i set to value it must
 * be refused with want. */
static void expect_refused(const uint8_t *buf, size_t n, size_t i, uint8_t value, int want)
{
	uint8_t copy[LANPROTO_MAX_LEN + 1];
	struct lanmsg got;
	memcpy(copy, buf, n);
	copy[i] = value;
	int rc = lanproto_decode(copy, n, &got);
	if (rc != want)
		print_error("byte %zu = 0x%02x: got %d, want %d\n", i, value, rc, want);
	assert_int_equal(rc, want);
	uint8_t zero[sizeof(got)];
	memset(zero, 0, sizeof(zero));
	assert_memory_equal(&got, zero, sizeof(got)); /* nothing half-filled */
}

static void decoder_refuses(void **state)
{
	(void)state;
	struct lanmsg m = announce_msg(3, "nvr1"), got;
	uint8_t buf[LANPROTO_MAX_LEN + 1];
	int n = lanproto_encode(buf, sizeof(buf), &m);
	assert_true(n > 0);
	expect_refused(buf, (size_t)n, 0, 'T', -EBADMSG);       /* magic */
	expect_refused(buf, (size_t)n, 4, 2, -EBADMSG);         /* version */
	expect_refused(buf, (size_t)n, 5, 3, -EBADMSG);         /* type */
	expect_refused(buf, (size_t)n, 5, LANPROTO_QUERY, -EBADMSG); /* a query of announce length */
	expect_refused(buf, (size_t)n, 7, 1, -EBADMSG);         /* reserved */
	expect_refused(buf, (size_t)n, 8, buf[8] ^ 1, -EKEYREJECTED);  /* id not the key's */
	expect_refused(buf, (size_t)n, 30, buf[30] ^ 1, -EKEYREJECTED); /* key not the id's */
	buf[57] = 0;
	expect_refused(buf, (size_t)n, 56, 0, -EBADMSG);        /* port 0 */
	buf[57] = 41641 & 0xff;
	expect_refused(buf, (size_t)n, 58, 0, -EBADMSG);        /* empty server id */
	expect_refused(buf, (size_t)n, 58, 5, -EBADMSG);        /* longer than the datagram */
	expect_refused(buf, (size_t)n, 58, 3, -EBADMSG);        /* shorter: a byte left over */
	expect_refused(buf, (size_t)n, 58, 64, -EBADMSG);       /* over the limit */
	expect_refused(buf, (size_t)n, 59, '-', -EBADMSG);      /* leading '-' */
	expect_refused(buf, (size_t)n, 60, 'V', -EBADMSG);      /* upper case */
	expect_refused(buf, (size_t)n, 60, 0, -EBADMSG);        /* NUL inside */
	/* every truncation, and one byte too many */
	for (int len = 0; len < n; len++)
		assert_int_equal(lanproto_decode(buf, (size_t)len, &got), -EBADMSG);
	buf[n] = 0;
	assert_int_equal(lanproto_decode(buf, (size_t)n + 1, &got), -EBADMSG);
	assert_int_equal(lanproto_decode(buf, (size_t)n, &got), 0);

	struct lanmsg q = { .type = LANPROTO_QUERY };
	n = lanproto_encode(buf, sizeof(buf), &q);
	buf[n] = 0;
	assert_int_equal(lanproto_decode(buf, (size_t)n + 1, &got), -EBADMSG);
	assert_int_equal(lanproto_decode(buf, (size_t)n - 1, &got), -EBADMSG);
	assert_int_equal(lanproto_decode(NULL, 0, &got), -EBADMSG);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(announce_layout),
		cmocka_unit_test(query_layout),
		cmocka_unit_test(longest_server_id),
		cmocka_unit_test(encoder_refuses),
		cmocka_unit_test(decoder_refuses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
