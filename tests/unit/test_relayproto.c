/*
 * test_relayproto.c - the relay authentication of relayproto.h: both ends
 * derive the same k, k and the MAC are the documented BLAKE2b
 * constructions (recomputed here in one shot from the spec text), the
 * header lines a tund sends parse as HTTP and pass the relay's check, and
 * every way of getting it wrong gives its documented error: wrong key
 * pair or relay key, another target, clock skew, tampered nonce, time or
 * MAC (-EACCES / -ETIME), missing or malformed fields (-EBADMSG).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "httpmsg.h"
#include "keys.h"
#include "relayproto.h"

#define TARGET "/tund/v1/connect/3f2a1c9e-0b1d-8e4f-9a6b-0c1d2e3f4a5b"
#define NOW 1700000000

struct pair {
	uint8_t priv[KEY_LEN], pub[KEY_LEN];
};

static struct pair tund, relay, other;

static void make_pair(struct pair *p)
{
	key_generate(p->priv);
	assert_int_equal(key_public(p->pub, p->priv), 0);
}

static int setup(void **state)
{
	if (sodium_init() < 0)
		return -1;
	make_pair(&tund);
	make_pair(&relay);
	make_pair(&other);
	return 0;
}

static void key_agreement(void **state)
{
	uint8_t k1[32], k2[32], k3[32], dh[32], want[32], msg[17 + 64];
	assert_int_equal(relayproto_key(k1, tund.priv, relay.pub, tund.pub, relay.pub), 0);
	assert_int_equal(relayproto_key(k2, relay.priv, tund.pub, tund.pub, relay.pub), 0);
	assert_memory_equal(k1, k2, 32);

	/* k = BLAKE2b-256(key = X25519(t, R), "tund relay key v1" || T || R) */
	assert_int_equal(crypto_scalarmult(dh, tund.priv, relay.pub), 0);
	memcpy(msg, "tund relay key v1", 17);
	memcpy(msg + 17, tund.pub, 32);
	memcpy(msg + 49, relay.pub, 32);
	crypto_generichash(want, 32, msg, sizeof(msg), dh, 32);
	assert_memory_equal(k1, want, 32);

	/* The order of the public keys matters; so does who is talking. */
	assert_int_equal(relayproto_key(k3, tund.priv, relay.pub, relay.pub, tund.pub), 0);
	assert_memory_not_equal(k1, k3, 32);
	assert_int_equal(relayproto_key(k3, other.priv, relay.pub, other.pub, relay.pub), 0);
	assert_memory_not_equal(k1, k3, 32);

	/* Low-order points give an all-zero DH result. */
	static const uint8_t zero[KEY_LEN];
	uint8_t one[KEY_LEN] = { 1 };
	assert_int_equal(relayproto_key(k3, tund.priv, zero, tund.pub, zero), -EINVAL);
	assert_int_equal(relayproto_key(k3, tund.priv, one, tund.pub, one), -EINVAL);
}

static void mac_construction(void **state)
{
	uint8_t k[32], nonce[RELAYPROTO_NONCE_LEN], mac[RELAYPROTO_AUTH_LEN], want[RELAYPROTO_AUTH_LEN];
	uint8_t msg[256];
	memset(k, 0x5a, sizeof(k));
	for (int i = 0; i < RELAYPROTO_NONCE_LEN; i++)
		nonce[i] = (uint8_t)i;
	relayproto_auth(mac, k, "/tund/v1/listen", 1700000123, nonce);

	static const char text[] = "tund relay auth v1\0/tund/v1/listen\0001700000123";
	size_t n = sizeof(text);   /* the terminating NUL is the separator before the nonce */
	memcpy(msg, text, n);
	memcpy(msg + n, nonce, sizeof(nonce));
	crypto_generichash(want, sizeof(want), msg, n + sizeof(nonce), k, sizeof(k));
	assert_memory_equal(mac, want, sizeof(mac));

	uint8_t mac2[RELAYPROTO_AUTH_LEN];
	relayproto_auth(mac2, k, "/tund/v1/listen", 1700000124, nonce);
	assert_memory_not_equal(mac, mac2, sizeof(mac));
	relayproto_auth(mac2, k, "/tund/v1/listen/", 1700000123, nonce);
	assert_memory_not_equal(mac, mac2, sizeof(mac));
}

/* The header lines as the relay sees them: through the HTTP parser. */
struct fields {
	char key[64], time[32], nonce[64], auth[64];
};

static struct http_head head;

static void headers_to_fields(const char *hdrs, struct fields *f)
{
	char req[1024];
	const char *why = NULL;
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: relay\r\n%s\r\n", TARGET, hdrs);
	assert_int_equal(http_parse_head((const uint8_t *)req, strlen(req), true, &head, &why), 1);
	assert_int_equal(head.n_fields, 5);
	snprintf(f->key, sizeof(f->key), "%s", http_field(&head, "tund-key"));
	snprintf(f->time, sizeof(f->time), "%s", http_field(&head, "tund-time"));
	snprintf(f->nonce, sizeof(f->nonce), "%s", http_field(&head, "tund-nonce"));
	snprintf(f->auth, sizeof(f->auth), "%s", http_field(&head, "tund-auth"));
}

static int check(const struct fields *f, const uint8_t *relay_priv, const char *target, int64_t now,
		 const char **why)
{
	uint8_t key[KEY_LEN], nonce[RELAYPROTO_NONCE_LEN];
	return relayproto_auth_check(relay_priv, relay.pub, target, f->key, f->time, f->nonce, f->auth, now, key,
				     nonce, why);
}

static void make_fields(struct fields *f, const struct pair *p, const char *target, int64_t t)
{
	char hdrs[512];
	int n = relayproto_auth_headers(hdrs, sizeof(hdrs), p->priv, p->pub, relay.pub, target, t);
	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(hdrs));
	headers_to_fields(hdrs, f);
}

static void headers_verify(void **state)
{
	char hdrs[512];
	int n = relayproto_auth_headers(hdrs, sizeof(hdrs), tund.priv, tund.pub, relay.pub, TARGET, NOW);
	assert_true(n > 0);
	assert_memory_equal(hdrs, "Tund-Key: ", 10);
	assert_non_null(strstr(hdrs, "\r\nTund-Time: 1700000000\r\nTund-Nonce: "));
	assert_memory_equal(hdrs + n - 2, "\r\n", 2);

	struct fields f;
	headers_to_fields(hdrs, &f);
	uint8_t key[KEY_LEN], nonce[RELAYPROTO_NONCE_LEN], raw[RELAYPROTO_NONCE_LEN];
	const char *why = NULL;
	assert_int_equal(relayproto_auth_check(relay.priv, relay.pub, TARGET, f.key, f.time, f.nonce, f.auth, NOW,
					       key, nonce, &why), 0);
	assert_memory_equal(key, tund.pub, KEY_LEN);
	size_t raw_len = 0;
	assert_int_equal(sodium_base642bin(raw, sizeof(raw), f.nonce, strlen(f.nonce), NULL, &raw_len, NULL,
					   sodium_base64_VARIANT_ORIGINAL), 0);
	assert_int_equal(raw_len, RELAYPROTO_NONCE_LEN);
	assert_memory_equal(nonce, raw, RELAYPROTO_NONCE_LEN);

	/* A fresh nonce every time. */
	struct fields g;
	make_fields(&g, &tund, TARGET, NOW);
	assert_string_not_equal(f.nonce, g.nonce);
	assert_string_not_equal(f.auth, g.auth);

	/* Exactly the right room, or -ENOSPC. */
	assert_int_equal(relayproto_auth_headers(hdrs, (size_t)n + 1, tund.priv, tund.pub, relay.pub, TARGET, NOW), n);
	assert_int_equal(relayproto_auth_headers(hdrs, (size_t)n, tund.priv, tund.pub, relay.pub, TARGET, NOW),
			 -ENOSPC);
	assert_int_equal(relayproto_auth_headers(hdrs, 0, tund.priv, tund.pub, relay.pub, TARGET, NOW), -ENOSPC);
	static const uint8_t zero[KEY_LEN];
	assert_int_equal(relayproto_auth_headers(hdrs, sizeof(hdrs), tund.priv, tund.pub, zero, TARGET, NOW),
			 -EINVAL);

	/* Time 0 and a far future time format and check too. */
	make_fields(&g, &tund, TARGET, 0);
	assert_string_equal(g.time, "0");
	assert_int_equal(check(&g, relay.priv, TARGET, 0, &why), 0);
	make_fields(&g, &tund, TARGET, INT64_MAX);
	assert_int_equal(check(&g, relay.priv, TARGET, INT64_MAX - RELAYPROTO_SKEW_S, &why), 0);
	assert_int_equal(check(&g, relay.priv, TARGET, INT64_MIN, &why), -ETIME);
}

/* why by reference: it is read only after the call in rc has set it. */
static void expect(int rc, const char *const *whyp, int want_rc, const char *want_why)
{
	const char *why = *whyp;
	if (rc != want_rc || !why || strstr(why, want_why) == NULL)
		fail_msg("got %d \"%s\", want %d \"%s\"", rc, why ? why : "(null)", want_rc, want_why);
}

/* Re-encodes 16 bytes as base64 with one bit flipped. */
static void flip_b64(char *b64, size_t cap, int bit)
{
	uint8_t raw[RELAYPROTO_NONCE_LEN];
	size_t len = 0;
	assert_int_equal(sodium_base642bin(raw, sizeof(raw), b64, strlen(b64), NULL, &len, NULL,
					   sodium_base64_VARIANT_ORIGINAL), 0);
	assert_int_equal(len, sizeof(raw));
	raw[bit / 8] ^= (uint8_t)(1 << (bit % 8));
	sodium_bin2base64(b64, cap, raw, sizeof(raw), sodium_base64_VARIANT_ORIGINAL);
}

static void wrong_things(void **state)
{
	struct fields f, g;
	const char *why = NULL;
	make_fields(&f, &tund, TARGET, NOW);
	assert_int_equal(check(&f, relay.priv, TARGET, NOW, &why), 0);

	/* Another relay's private key (same claimed relay_pub). */
	expect(check(&f, other.priv, TARGET, NOW, &why), &why, -EACCES, "Tund-Auth does not match");
	/* Made for another relay. */
	char hdrs[512];
	assert_true(relayproto_auth_headers(hdrs, sizeof(hdrs), tund.priv, tund.pub, other.pub, TARGET, NOW) > 0);
	headers_to_fields(hdrs, &g);
	expect(check(&g, relay.priv, TARGET, NOW, &why), &why, -EACCES, "Tund-Auth does not match");
	/* Another target, including the absolute form of the same one. */
	expect(check(&f, relay.priv, "/tund/v1/listen", NOW, &why), &why, -EACCES, "Tund-Auth does not match");
	expect(check(&f, relay.priv, "http://relay:443" TARGET, NOW, &why), &why, -EACCES, "does not match");
	/* Someone else's key with this MAC. */
	g = f;
	key_to_base64(g.key, other.pub);
	expect(check(&g, relay.priv, TARGET, NOW, &why), &why, -EACCES, "Tund-Auth does not match");
	/* A key pair that does not belong together. */
	assert_true(relayproto_auth_headers(hdrs, sizeof(hdrs), other.priv, tund.pub, relay.pub, TARGET, NOW) > 0);
	headers_to_fields(hdrs, &g);
	expect(check(&g, relay.priv, TARGET, NOW, &why), &why, -EACCES, "Tund-Auth does not match");

	/* Clock skew: 120 s either way is fine, 121 is not. */
	assert_int_equal(check(&f, relay.priv, TARGET, NOW + RELAYPROTO_SKEW_S, &why), 0);
	assert_int_equal(check(&f, relay.priv, TARGET, NOW - RELAYPROTO_SKEW_S, &why), 0);
	expect(check(&f, relay.priv, TARGET, NOW + RELAYPROTO_SKEW_S + 1, &why), &why, -ETIME, "Tund-Time");
	expect(check(&f, relay.priv, TARGET, NOW - RELAYPROTO_SKEW_S - 1, &why), &why, -ETIME, "Tund-Time");
	/* A changed time inside the window is caught by the MAC. */
	g = f;
	snprintf(g.time, sizeof(g.time), "%d", NOW + 1);
	expect(check(&g, relay.priv, TARGET, NOW, &why), &why, -EACCES, "Tund-Auth does not match");

	/* Every bit of the nonce and of the MAC matters. */
	for (int bit = 0; bit < 128; bit++) {
		g = f;
		flip_b64(g.nonce, sizeof(g.nonce), bit);
		expect(check(&g, relay.priv, TARGET, NOW, &why), &why, -EACCES, "Tund-Auth does not match");
		g = f;
		flip_b64(g.auth, sizeof(g.auth), bit);
		expect(check(&g, relay.priv, TARGET, NOW, &why), &why, -EACCES, "Tund-Auth does not match");
	}
}

static void bad_fields(void **state)
{
	struct fields f;
	uint8_t key[KEY_LEN], nonce[RELAYPROTO_NONCE_LEN];
	const char *why = NULL;
	make_fields(&f, &tund, TARGET, NOW);

	expect(relayproto_auth_check(relay.priv, relay.pub, TARGET, NULL, f.time, f.nonce, f.auth, NOW, key, nonce,
				     &why), &why, -EBADMSG, "Tund-Key missing");
	expect(relayproto_auth_check(relay.priv, relay.pub, TARGET, f.key, NULL, f.nonce, f.auth, NOW, key, nonce,
				     &why), &why, -EBADMSG, "Tund-Time missing");
	expect(relayproto_auth_check(relay.priv, relay.pub, TARGET, f.key, f.time, NULL, f.auth, NOW, key, nonce,
				     &why), &why, -EBADMSG, "Tund-Nonce missing");
	expect(relayproto_auth_check(relay.priv, relay.pub, TARGET, f.key, f.time, f.nonce, NULL, NOW, key, nonce,
				     &why), &why, -EBADMSG, "Tund-Auth missing");

	static const char *bad_keys[] = { "", "abc", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
					  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", "not base64 at all!!" };
	static const char *bad_times[] = { "", "-5", "+5", "0170", "17e8", "1700000000 1", "0x10",
					   "99999999999999999999", "9223372036854775808" };
	static const char *bad_16[] = { "", "AAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAA=",
					"AAAAAAAAAAAAAAAAAAAAAA===", "AAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAB==",
					"AAAAAAAAAAAAAAAAAAAAAAA=", "AAAAAAAAAAAAAAAAAAAA-_==",
					"AAAAAAAAAAAAAAAAAAAAAA== ", "AAAAAAAAAAAAAAAAAAAAAA==AA" };
	for (size_t i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++) {
		struct fields g = f;
		snprintf(g.key, sizeof(g.key), "%s", bad_keys[i]);
		expect(check(&g, relay.priv, TARGET, NOW, &why), &why, -EBADMSG, "Tund-Key is not");
	}
	for (size_t i = 0; i < sizeof(bad_times) / sizeof(bad_times[0]); i++) {
		struct fields g = f;
		snprintf(g.time, sizeof(g.time), "%s", bad_times[i]);
		expect(check(&g, relay.priv, TARGET, NOW, &why), &why, -EBADMSG, "Tund-Time is not decimal");
	}
	for (size_t i = 0; i < sizeof(bad_16) / sizeof(bad_16[0]); i++) {
		struct fields g = f;
		snprintf(g.nonce, sizeof(g.nonce), "%s", bad_16[i]);
		expect(check(&g, relay.priv, TARGET, NOW, &why), &why, -EBADMSG, "Tund-Nonce is not 16 bytes");
		g = f;
		snprintf(g.auth, sizeof(g.auth), "%s", bad_16[i]);
		expect(check(&g, relay.priv, TARGET, NOW, &why), &why, -EBADMSG, "Tund-Auth is not 16 bytes");
	}
	/* A low-order Tund-Key is refused before any MAC is compared. */
	struct fields g = f;
	static const uint8_t zero[KEY_LEN];
	key_to_base64(g.key, zero);
	expect(check(&g, relay.priv, TARGET, NOW, &why), &why, -EBADMSG, "low-order");
	/* Format errors win over a stale time: the relay answers 400, not 401. */
	g = f;
	snprintf(g.nonce, sizeof(g.nonce), "x");
	expect(check(&g, relay.priv, TARGET, NOW + 1000, &why), &why, -EBADMSG, "Tund-Nonce");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(key_agreement),
		cmocka_unit_test(mac_construction),
		cmocka_unit_test(headers_verify),
		cmocka_unit_test(wrong_things),
		cmocka_unit_test(bad_fields),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
