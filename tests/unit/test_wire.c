/*
 * test_wire.c - the frame codecs of wire.h: round trips, exact lengths,
 * reserved bytes, and every truncation and over-length of each frame.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "wire.h"

static void init_round_trip(void **state)
{
	struct wire_init m = { .sender = 0x01020304 }, out;
	uint8_t buf[WIRE_INIT_LEN + 8];
	for (size_t i = 0; i < sizeof(m.noise); i++)
		m.noise[i] = (uint8_t)i;
	memset(m.mac1, 0xab, sizeof(m.mac1));
	assert_int_equal(wire_encode_init(buf, sizeof(buf), &m), WIRE_INIT_LEN);
	assert_int_equal(buf[0], WIRE_TYPE_HANDSHAKE_INIT);
	assert_int_equal(buf[4], 0x04); /* little-endian sender index */
	assert_int_equal(wire_decode_init(buf, WIRE_INIT_LEN, &out), 0);
	assert_int_equal(out.sender, m.sender);
	assert_memory_equal(out.noise, m.noise, sizeof(m.noise));
	assert_memory_equal(out.mac1, m.mac1, sizeof(m.mac1));
	for (size_t len = 0; len < sizeof(buf); len++)
		if (len != WIRE_INIT_LEN)
			assert_int_equal(wire_decode_init(buf, len, &out), -EBADMSG);
	buf[2] = 1; /* reserved byte */
	assert_int_equal(wire_decode_init(buf, WIRE_INIT_LEN, &out), -EBADMSG);
	assert_int_equal(wire_encode_init(buf, WIRE_INIT_LEN - 1, &m), -ENOSPC);
}

static void resp_round_trip(void **state)
{
	struct wire_resp m = { .sender = 7, .receiver = 0xfffffffe }, out;
	uint8_t buf[WIRE_RESP_LEN + 8];
	memset(m.noise, 0x5a, sizeof(m.noise));
	memset(m.mac1, 0xa5, sizeof(m.mac1));
	assert_int_equal(wire_encode_resp(buf, sizeof(buf), &m), WIRE_RESP_LEN);
	assert_int_equal(wire_decode_resp(buf, WIRE_RESP_LEN, &out), 0);
	assert_int_equal(out.sender, 7);
	assert_int_equal(out.receiver, 0xfffffffe);
	for (size_t len = 0; len < sizeof(buf); len++)
		if (len != WIRE_RESP_LEN)
			assert_int_equal(wire_decode_resp(buf, len, &out), -EBADMSG);
	buf[0] = WIRE_TYPE_HANDSHAKE_INIT;
	assert_int_equal(wire_decode_resp(buf, WIRE_RESP_LEN, &out), -EBADMSG);
}

static void data_header(void **state)
{
	struct wire_data_hdr h = { .type = WIRE_TYPE_DATA, .receiver = 0xdeadbeef, .counter = 0x0102030405060708ULL }, out;
	uint8_t buf[WIRE_DATA_MIN_LEN + 100] = { 0 };
	assert_int_equal(wire_encode_data_hdr(buf, sizeof(buf), &h), WIRE_DATA_HDR_LEN);
	assert_int_equal(buf[8], 0x08); /* counter little-endian */
	for (size_t len = 0; len < WIRE_DATA_MIN_LEN; len++)
		assert_int_equal(wire_decode_data_hdr(buf, len, &out), -EBADMSG);
	assert_int_equal(wire_decode_data_hdr(buf, WIRE_DATA_MIN_LEN, &out), 0);
	assert_int_equal(out.receiver, h.receiver);
	assert_true(out.counter == h.counter);
	assert_int_equal(wire_decode_data_hdr(buf, WIRE_MAX_DATAGRAM + 1, &out), -EBADMSG);
	buf[3] = 0x80;
	assert_int_equal(wire_decode_data_hdr(buf, sizeof(buf), &out), -EBADMSG);
}

static void types(void **state)
{
	uint8_t b = WIRE_TYPE_DATA;
	assert_int_equal(wire_type(&b, 1), WIRE_TYPE_DATA);
	assert_int_equal(wire_type(&b, 0), 0);
	/* Our types can never be mistaken for STUN (RFC 7983: 0..3 first byte). */
	assert_true(WIRE_TYPE_HANDSHAKE_INIT > WIRE_STUN_FIRST_MAX);
	assert_true(WIRE_TYPE_HANDSHAKE_RESP > WIRE_STUN_FIRST_MAX);
	assert_true(WIRE_TYPE_DATA > WIRE_STUN_FIRST_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(init_round_trip),
		cmocka_unit_test(resp_round_trip),
		cmocka_unit_test(data_header),
		cmocka_unit_test(types),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
