/*
 * test_wire.c - the frame codecs of wire.h: round trips, exact lengths,
 * reserved bytes, and every truncation and over-length of each frame; the
 * DATA header shared by DATA and PROBE, and no other type through it.
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
	assert_int_equal(out.type, WIRE_TYPE_DATA);
	assert_int_equal(out.receiver, h.receiver);
	assert_true(out.counter == h.counter);
	assert_int_equal(wire_decode_data_hdr(buf, WIRE_MAX_DATAGRAM + 1, &out), -EBADMSG);
	buf[3] = 0x80;
	assert_int_equal(wire_decode_data_hdr(buf, sizeof(buf), &out), -EBADMSG);
}

static void probe_header(void **state)
{
	struct wire_data_hdr h = { .type = WIRE_TYPE_PROBE, .receiver = 0x01020304, .counter = 77 }, out;
	uint8_t buf[WIRE_DATA_MIN_LEN + WIRE_PROBE_BODY_LEN] = { 0 };
	assert_int_equal(wire_encode_data_hdr(buf, sizeof(buf), &h), WIRE_DATA_HDR_LEN);
	assert_int_equal(buf[0], WIRE_TYPE_PROBE);
	assert_int_equal(buf[1] | buf[2] | buf[3], 0);
	assert_int_equal(buf[4], 0x04);   /* receiver little-endian, as in DATA */
	assert_int_equal(buf[8], 77);
	assert_int_equal(wire_type(buf, sizeof(buf)), WIRE_TYPE_PROBE);
	memset(&out, 0xff, sizeof(out));
	assert_int_equal(wire_decode_data_hdr(buf, sizeof(buf), &out), 0);
	assert_int_equal(out.type, WIRE_TYPE_PROBE);
	assert_int_equal(out.receiver, h.receiver);
	assert_true(out.counter == 77);
	/* the same length rules as DATA */
	for (size_t len = 0; len < WIRE_DATA_MIN_LEN; len++)
		assert_int_equal(wire_decode_data_hdr(buf, len, &out), -EBADMSG);
	buf[1] = 1;
	assert_int_equal(wire_decode_data_hdr(buf, sizeof(buf), &out), -EBADMSG);
	assert_int_equal(wire_encode_data_hdr(buf, WIRE_DATA_HDR_LEN - 1, &h), -ENOSPC);
}

/* Only DATA and PROBE have this layout: other types are neither written
 * nor read through it, and a refused encode writes nothing. */
static void data_header_types(void **state)
{
	static const uint8_t others[] = { 0x00, 0x01, 0x3f, WIRE_TYPE_HANDSHAKE_INIT,
					  WIRE_TYPE_HANDSHAKE_RESP, 0xc3, 0xc6, 0xff };
	uint8_t buf[WIRE_DATA_MIN_LEN] = { 0 }, zero[WIRE_DATA_MIN_LEN] = { 0 };
	struct wire_data_hdr h = { .receiver = 1, .counter = 2 }, out;
	for (size_t i = 0; i < sizeof(others); i++) {
		h.type = others[i];
		assert_int_equal(wire_encode_data_hdr(buf, sizeof(buf), &h), -EINVAL);
		assert_int_equal(wire_encode_data_hdr(buf, 0, &h), -EINVAL);   /* before the space check */
		assert_memory_equal(buf, zero, sizeof(buf));
		buf[0] = others[i];
		assert_int_equal(wire_decode_data_hdr(buf, sizeof(buf), &out), -EBADMSG);
		buf[0] = 0;
	}
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
	assert_true(WIRE_TYPE_PROBE > WIRE_STUN_FIRST_MAX);
	b = WIRE_TYPE_PROBE;
	assert_int_equal(wire_type(&b, 1), WIRE_TYPE_PROBE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(init_round_trip),
		cmocka_unit_test(resp_round_trip),
		cmocka_unit_test(data_header),
		cmocka_unit_test(probe_header),
		cmocka_unit_test(data_header_types),
		cmocka_unit_test(types),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
