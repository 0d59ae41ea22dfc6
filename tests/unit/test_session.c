/*
 * test_session.c - DATA frames under one session: round trip, keepalives,
 * the header is authenticated, replays and tampering are refused without
 * moving the replay window, reordering within the window is accepted,
 * and the counter limit stops encryption. PROBE frames (session_seal) share
 * the keys, counter and replay window, and their type is authenticated: a
 * DATA frame relabelled as a PROBE, or the reverse, fails.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "session.h"
#include "wire.h"

static void make_pair(struct session *a, struct session *b)
{
	struct noise_cipher k1, k2;
	randombytes_buf(k1.k, sizeof(k1.k));
	randombytes_buf(k2.k, sizeof(k2.k));
	k1.n = k2.n = 0;
	session_init(a, 100, 200, &k1, &k2, true, 0);
	session_init(b, 200, 100, &k2, &k1, false, 0);
}

static int deliver(struct session *rx, uint8_t *frame, size_t len, uint8_t **pt, size_t *pt_len)
{
	struct wire_data_hdr h;
	if (wire_decode_data_hdr(frame, len, &h))
		return -EBADMSG;
	return session_decrypt(rx, frame, len, h.counter, pt, pt_len);
}

static void round_trip(void **state)
{
	struct session a, b;
	uint8_t frame[2048], msg[1400], *pt;
	size_t pt_len;
	make_pair(&a, &b);
	assert_false(b.confirmed);
	assert_true(a.confirmed);
	randombytes_buf(msg, sizeof(msg));
	int n = session_encrypt(&a, msg, sizeof(msg), frame, sizeof(frame));
	assert_int_equal(n, WIRE_DATA_MIN_LEN + sizeof(msg));
	assert_int_equal(frame[0], WIRE_TYPE_DATA);
	assert_memory_not_equal(frame + WIRE_DATA_HDR_LEN, msg, 64); /* not in the clear */
	assert_int_equal(deliver(&b, frame, (size_t)n, &pt, &pt_len), 0);
	assert_int_equal(pt_len, sizeof(msg));
	assert_memory_equal(pt, msg, sizeof(msg));
	/* keepalive */
	n = session_encrypt(&a, NULL, 0, frame, sizeof(frame));
	assert_int_equal(n, WIRE_DATA_MIN_LEN);
	assert_int_equal(deliver(&b, frame, (size_t)n, &pt, &pt_len), 0);
	assert_int_equal(pt_len, 0);
}

static void replay_and_tamper(void **state)
{
	struct session a, b;
	uint8_t frame[256], copy[256], msg[100] = { 1, 2, 3 }, *pt;
	size_t pt_len;
	make_pair(&a, &b);
	int n = session_encrypt(&a, msg, sizeof(msg), frame, sizeof(frame));
	memcpy(copy, frame, (size_t)n);
	assert_int_equal(deliver(&b, frame, (size_t)n, &pt, &pt_len), 0);
	memcpy(frame, copy, (size_t)n);
	assert_int_equal(deliver(&b, frame, (size_t)n, &pt, &pt_len), -EALREADY);

	/* a forged frame with a far-future counter must not move the window */
	n = session_encrypt(&a, msg, sizeof(msg), frame, sizeof(frame));
	memcpy(copy, frame, (size_t)n);
	frame[8 + 3] ^= 0x10; /* counter byte: header is AD, so this fails */
	assert_int_equal(deliver(&b, frame, (size_t)n, &pt, &pt_len), -EBADMSG);
	memcpy(frame, copy, (size_t)n);
	assert_int_equal(deliver(&b, frame, (size_t)n, &pt, &pt_len), 0);

	for (int i = WIRE_DATA_HDR_LEN; i < n; i += 7) {
		n = session_encrypt(&a, msg, sizeof(msg), frame, sizeof(frame));
		frame[i] ^= 0x80;
		assert_int_equal(deliver(&b, frame, (size_t)n, &pt, &pt_len), -EBADMSG);
	}
	/* the wrong direction's key fails too */
	n = session_encrypt(&a, msg, sizeof(msg), frame, sizeof(frame));
	assert_int_equal(deliver(&a, frame, (size_t)n, &pt, &pt_len), -EBADMSG);
}

static void reordering(void **state)
{
	struct session a, b;
	static uint8_t frames[64][128];
	int lens[64];
	uint8_t msg[32] = { 9 }, *pt;
	size_t pt_len;
	make_pair(&a, &b);
	for (int i = 0; i < 64; i++)
		lens[i] = session_encrypt(&a, msg, sizeof(msg), frames[i], sizeof(frames[i]));
	for (int i = 63; i >= 0; i--)
		assert_int_equal(deliver(&b, frames[i], (size_t)lens[i], &pt, &pt_len), 0);
}

static void counter_limit(void **state)
{
	struct session a, b;
	uint8_t frame[128];
	make_pair(&a, &b);
	a.send.n = SESSION_REJECT_AFTER_MESSAGES - 1;
	assert_int_equal(session_encrypt(&a, NULL, 0, frame, sizeof(frame)), WIRE_DATA_MIN_LEN);
	assert_int_equal(session_encrypt(&a, NULL, 0, frame, sizeof(frame)), -ESTALE);
	assert_true(session_needs_rekey_by_count(&a));
	assert_int_equal(session_encrypt(&b, NULL, 0, frame, WIRE_DATA_MIN_LEN - 1), -ENOSPC);
}

static void probe_round_trip(void **state)
{
	struct session a, b;
	uint8_t frame[128], *pt;
	uint8_t body[WIRE_PROBE_BODY_LEN] = { WIRE_PROBE_REQUEST, 0, 0, 0, 0x2a, 0, 0, 0 };
	size_t pt_len;
	struct wire_data_hdr h;
	make_pair(&a, &b);
	assert_int_equal(session_encrypt(&a, NULL, 0, frame, sizeof(frame)), WIRE_DATA_MIN_LEN);
	int n = session_seal(&a, WIRE_TYPE_PROBE, body, sizeof(body), frame, sizeof(frame));
	assert_int_equal(n, WIRE_DATA_MIN_LEN + WIRE_PROBE_BODY_LEN);
	assert_int_equal(frame[0], WIRE_TYPE_PROBE);
	assert_int_equal(wire_decode_data_hdr(frame, (size_t)n, &h), 0);
	assert_int_equal(h.type, WIRE_TYPE_PROBE);
	assert_int_equal(h.receiver, 200);
	assert_true(h.counter == 1);   /* the counter DATA uses */
	assert_int_equal(deliver(&b, frame, (size_t)n, &pt, &pt_len), 0);
	assert_int_equal(pt_len, sizeof(body));
	assert_memory_equal(pt, body, sizeof(body));
	/* one replay window for both types: a probe claiming counter 1 again is a replay */
	n = session_seal(&a, WIRE_TYPE_PROBE, body, sizeof(body), frame, sizeof(frame));
	frame[8] = 1;
	assert_int_equal(deliver(&b, frame, (size_t)n, &pt, &pt_len), -EALREADY);
}

/* The type byte is in the AD: relabelling fails authentication and leaves
 * the replay window where it was, so the genuine frame still passes. */
static void probe_type_authenticated(void **state)
{
	struct session a, b;
	uint8_t frame[128], copy[128], *pt;
	uint8_t msg[WIRE_PROBE_BODY_LEN] = { WIRE_PROBE_RESPONSE };
	size_t pt_len;
	struct wire_data_hdr h;
	make_pair(&a, &b);

	int n = session_encrypt(&a, msg, sizeof(msg), frame, sizeof(frame));
	memcpy(copy, frame, (size_t)n);
	frame[0] = WIRE_TYPE_PROBE;
	assert_int_equal(wire_decode_data_hdr(frame, (size_t)n, &h), 0);   /* a well-formed probe... */
	assert_int_equal(h.type, WIRE_TYPE_PROBE);
	assert_int_equal(deliver(&b, frame, (size_t)n, &pt, &pt_len), -EBADMSG);   /* ...that fails */
	assert_int_equal(deliver(&b, copy, (size_t)n, &pt, &pt_len), 0);

	n = session_seal(&a, WIRE_TYPE_PROBE, msg, sizeof(msg), frame, sizeof(frame));
	memcpy(copy, frame, (size_t)n);
	frame[0] = WIRE_TYPE_DATA;
	assert_int_equal(deliver(&b, frame, (size_t)n, &pt, &pt_len), -EBADMSG);
	assert_int_equal(deliver(&b, copy, (size_t)n, &pt, &pt_len), 0);
}

/* session_seal takes only the sealed types; a refusal uses no counter. */
static void seal_refuses_other_types(void **state)
{
	static const uint8_t others[] = { 0, WIRE_TYPE_HANDSHAKE_INIT, WIRE_TYPE_HANDSHAKE_RESP, 0xff };
	struct session a, b;
	uint8_t frame[128];
	make_pair(&a, &b);
	for (size_t i = 0; i < sizeof(others); i++)
		assert_true(session_seal(&a, others[i], NULL, 0, frame, sizeof(frame)) < 0);
	assert_true(a.send.n == 0);
	assert_int_equal(session_seal(&a, WIRE_TYPE_DATA, NULL, 0, frame, sizeof(frame)), WIRE_DATA_MIN_LEN);
	assert_true(a.send.n == 1);
}

int main(void)
{
	assert_true(sodium_init() >= 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(replay_and_tamper),
		cmocka_unit_test(reordering),
		cmocka_unit_test(counter_limit),
		cmocka_unit_test(probe_round_trip),
		cmocka_unit_test(probe_type_authenticated),
		cmocka_unit_test(seal_refuses_other_types),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
