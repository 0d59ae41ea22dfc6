/*
 * test_handshake.c - tund's handshake over Noise IKpsk2, end to end in
 * memory: both sides derive matching transport keys; mac1 rejects frames
 * for another key; tampering anywhere fails; a wrong psk or wrong
 * responder key never completes; timestamps increase.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <sodium.h>

#include "handshake.h"
#include "keys.h"

struct pair {
	struct handshake_self a, b;
	uint8_t psk[32];
};

static int setup(void **state)
{
	static struct pair p;
	uint8_t k[32];
	assert_true(sodium_init() >= 0);
	key_generate(k);
	assert_int_equal(handshake_self_init(&p.a, k), 0);
	key_generate(k);
	assert_int_equal(handshake_self_init(&p.b, k), 0);
	memset(p.psk, 0x42, sizeof(p.psk));
	*state = &p;
	return 0;
}

/* Runs a handshake a -> b; returns 0 when both sides derived keys. */
static int run(const struct pair *p, const uint8_t *resp_psk, uint8_t *flip_init, uint8_t *flip_resp,
	       struct noise_cipher ks[4])
{
	struct noise_handshake hi, hr;
	uint8_t m1[WIRE_INIT_LEN], m2[WIRE_RESP_LEN], who[32], ts[12];
	struct wire_init wi;
	struct wire_resp wr;
	assert_int_equal(handshake_init_create(&hi, &p->a, p->b.pub, p->psk, 11, m1), 0);
	if (flip_init)
		m1[*flip_init] ^= 1;
	if (!handshake_mac1_ok(m1, sizeof(m1), p->b.mac1_key))
		return -EACCES;
	if (wire_decode_init(m1, sizeof(m1), &wi))
		return -EBADMSG;
	int rc = handshake_init_consume(&hr, &p->b, &wi, who, ts);
	if (rc)
		return rc;
	assert_memory_equal(who, p->a.pub, 32);
	assert_int_equal(wi.sender, 11);
	assert_int_equal(handshake_resp_create(&hr, resp_psk, 22, wi.sender, m2, &ks[2], &ks[3]), 0);
	if (flip_resp)
		m2[*flip_resp] ^= 1;
	if (!handshake_mac1_ok(m2, sizeof(m2), p->a.mac1_key))
		return -EACCES;
	if (wire_decode_resp(m2, sizeof(m2), &wr))
		return -EBADMSG;
	assert_int_equal(wr.receiver, 11);
	return handshake_resp_consume(&hi, &wr, &ks[0], &ks[1]);
}

static void completes_with_matching_keys(void **state)
{
	struct pair *p = *state;
	struct noise_cipher ks[4];
	assert_int_equal(run(p, p->psk, NULL, NULL, ks), 0);
	assert_memory_equal(ks[0].k, ks[3].k, 32); /* initiator send == responder recv */
	assert_memory_equal(ks[1].k, ks[2].k, 32);
	assert_memory_not_equal(ks[0].k, ks[1].k, 32);
}

static void wrong_psk_fails(void **state)
{
	struct pair *p = *state;
	struct noise_cipher ks[4];
	uint8_t other[32] = { 0 };
	assert_int_equal(run(p, other, NULL, NULL, ks), -EBADMSG);
}

static void tampering_fails(void **state)
{
	struct pair *p = *state;
	struct noise_cipher ks[4];
	/* every byte of message 1 and message 2: mac1 or the AEAD catches it */
	for (unsigned i = 0; i < WIRE_INIT_LEN; i++) {
		uint8_t f = (uint8_t)i;
		assert_int_not_equal(run(p, p->psk, &f, NULL, ks), 0);
	}
	for (unsigned i = 0; i < WIRE_RESP_LEN; i++) {
		uint8_t f = (uint8_t)i;
		assert_int_not_equal(run(p, p->psk, NULL, &f, ks), 0);
	}
}

static void mac1_binds_the_receiver(void **state)
{
	struct pair *p = *state;
	struct noise_handshake h;
	uint8_t m1[WIRE_INIT_LEN];
	assert_int_equal(handshake_init_create(&h, &p->a, p->b.pub, p->psk, 1, m1), 0);
	assert_true(handshake_mac1_ok(m1, sizeof(m1), p->b.mac1_key));
	assert_false(handshake_mac1_ok(m1, sizeof(m1), p->a.mac1_key));
	assert_false(handshake_mac1_ok(m1, sizeof(m1) - 1, p->b.mac1_key));
	assert_false(handshake_mac1_ok(m1, 0, p->b.mac1_key));
	noise_handshake_wipe(&h);
}

static void wrong_responder_cannot_read(void **state)
{
	struct pair *p = *state;
	struct noise_handshake hi, hr;
	uint8_t m1[WIRE_INIT_LEN], who[32], ts[12];
	struct wire_init wi;
	/* a -> b, but a third party c tries to read it */
	struct handshake_self c;
	uint8_t k[32];
	key_generate(k);
	assert_int_equal(handshake_self_init(&c, k), 0);
	assert_int_equal(handshake_init_create(&hi, &p->a, p->b.pub, p->psk, 1, m1), 0);
	assert_int_equal(wire_decode_init(m1, sizeof(m1), &wi), 0);
	assert_int_equal(handshake_init_consume(&hr, &c, &wi, who, ts), -EBADMSG);
	noise_handshake_wipe(&hi);
}

static void timestamps_increase(void **state)
{
	uint8_t a[12], b[12];
	handshake_tai64n(a);
	struct timespec ts = { 0, 2000000 };
	nanosleep(&ts, NULL);
	handshake_tai64n(b);
	assert_true(memcmp(a, b, 12) < 0);
	assert_int_equal(a[0], 0x40); /* 2^62 label */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(completes_with_matching_keys),
		cmocka_unit_test(wrong_psk_fails),
		cmocka_unit_test(tampering_fails),
		cmocka_unit_test(mac1_binds_the_receiver),
		cmocka_unit_test(wrong_responder_cannot_read),
		cmocka_unit_test(timestamps_increase),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
