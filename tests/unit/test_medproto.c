/*
 * test_medproto.c - the mediator protocol (medproto.h): every message of
 * the table round-trips encode -> stun_decode -> parse; TUND-AUTH holds
 * only under the right key and direction and only as the last attribute;
 * a registration MAC'd without the private key is refused; the shared key
 * is the same on both sides and refuses low-order points; the parser's
 * length, duplicate, count and unknown-attribute rules; server id and
 * target validation; RELAY-ADDR and RELAY-KEY in REGISTER and CONNECT
 * successes, and nowhere in a Binding.
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

#include "medproto.h"

#define SYSTEM "0f1e2d3c-4b5a-8978-8796-a5b4c3d2e1f0"

struct keys {
	uint8_t tund_priv[KEY_LEN], tund_pub[KEY_LEN];
	uint8_t med_priv[KEY_LEN], med_pub[KEY_LEN];
	uint8_t k[32];
};

static void make_keys(struct keys *ks, uint8_t seed)
{
	memset(ks->tund_priv, seed, KEY_LEN);
	memset(ks->med_priv, (uint8_t)(seed + 100), KEY_LEN);
	assert_int_equal(crypto_scalarmult_base(ks->tund_pub, ks->tund_priv), 0);
	assert_int_equal(crypto_scalarmult_base(ks->med_pub, ks->med_priv), 0);
	assert_int_equal(medproto_auth_key(ks->k, ks->tund_priv, ks->med_pub, ks->tund_pub, ks->med_pub), 0);
}

static void init_msg(struct medmsg *m, uint16_t method, enum stun_class cls)
{
	memset(m, 0, sizeof(*m));
	m->method = method;
	m->cls = cls;
	for (unsigned i = 0; i < STUN_TXID_LEN; i++)
		m->txid[i] = (uint8_t)(0x40 + i + method);
}

static void set_ep(struct endpoint *ep, uint32_t addr, uint16_t port)
{
	ep->addr = addr;
	ep->port = port;
}

static void assert_ep_equal(const struct endpoint *a, const struct endpoint *b)
{
	assert_int_equal(a->addr, b->addr);
	assert_int_equal(a->port, b->port);
}

static void assert_medmsg_equal(const struct medmsg *a, const struct medmsg *b)
{
	assert_int_equal(a->method, b->method);
	assert_int_equal(a->cls, b->cls);
	assert_memory_equal(a->txid, b->txid, STUN_TXID_LEN);
	assert_int_equal(a->has_key, b->has_key);
	assert_memory_equal(a->key, b->key, KEY_LEN);
	assert_int_equal(a->has_peer_key, b->has_peer_key);
	assert_memory_equal(a->peer_key, b->peer_key, KEY_LEN);
	assert_int_equal(a->has_nonce, b->has_nonce);
	assert_memory_equal(a->nonce, b->nonce, MEDPROTO_NONCE_LEN);
	assert_string_equal(a->server_id, b->server_id);
	assert_string_equal(a->target, b->target);
	assert_int_equal(a->has_connect_id, b->has_connect_id);
	assert_memory_equal(a->connect_id, b->connect_id, STUN_TXID_LEN);
	assert_int_equal(a->has_decision, b->has_decision);
	assert_int_equal(a->decision, b->decision);
	assert_int_equal(a->has_public, b->has_public);
	assert_ep_equal(&a->public_addr, &b->public_addr);
	assert_int_equal(a->n_local, b->n_local);
	for (unsigned i = 0; i < a->n_local; i++)
		assert_ep_equal(&a->local[i], &b->local[i]);
	assert_int_equal(a->has_mapped, b->has_mapped);
	assert_ep_equal(&a->mapped, &b->mapped);
	assert_int_equal(a->has_relay, b->has_relay);
	assert_ep_equal(&a->relay_addr, &b->relay_addr);
	assert_int_equal(a->has_relay_key, b->has_relay_key);
	assert_memory_equal(a->relay_key, b->relay_key, KEY_LEN);
	assert_int_equal(a->error_code, b->error_code);
	assert_string_equal(a->error_reason, b->error_reason);
	assert_int_equal(a->has_auth, b->has_auth);
}

/* One row per line of the table in medproto.h. */
enum kind {
	NONCE_REQ, NONCE_OK, REGISTER_REQ, REGISTER_OK, REGISTER_ERR, CONNECT_REQ, CONNECT_OK,
	CONNECT_ERR, CONNECT_IND, ANSWER_REQ, ANSWER_OK, BINDING_REQ, BINDING_OK, N_KINDS
};

struct row {
	uint16_t method;
	enum stun_class cls;
	bool auth;
	uint8_t dir;
	bool fingerprint;
};

static const struct row rows[N_KINDS] = {
	[NONCE_REQ] = { MEDPROTO_METHOD_NONCE, STUN_REQUEST, false, 0, false },
	[NONCE_OK] = { MEDPROTO_METHOD_NONCE, STUN_SUCCESS, false, 0, false },
	[REGISTER_REQ] = { MEDPROTO_METHOD_REGISTER, STUN_REQUEST, true, MEDPROTO_DIR_TO_MEDIATOR, false },
	[REGISTER_OK] = { MEDPROTO_METHOD_REGISTER, STUN_SUCCESS, true, MEDPROTO_DIR_FROM_MEDIATOR, false },
	[REGISTER_ERR] = { MEDPROTO_METHOD_REGISTER, STUN_ERROR, false, 0, false },
	[CONNECT_REQ] = { MEDPROTO_METHOD_CONNECT, STUN_REQUEST, true, MEDPROTO_DIR_TO_MEDIATOR, true },
	[CONNECT_OK] = { MEDPROTO_METHOD_CONNECT, STUN_SUCCESS, true, MEDPROTO_DIR_FROM_MEDIATOR, true },
	[CONNECT_ERR] = { MEDPROTO_METHOD_CONNECT, STUN_ERROR, true, MEDPROTO_DIR_FROM_MEDIATOR, true },
	[CONNECT_IND] = { MEDPROTO_METHOD_CONNECT, STUN_INDICATION, true, MEDPROTO_DIR_FROM_MEDIATOR, false },
	[ANSWER_REQ] = { MEDPROTO_METHOD_ANSWER, STUN_REQUEST, true, MEDPROTO_DIR_TO_MEDIATOR, true },
	[ANSWER_OK] = { MEDPROTO_METHOD_ANSWER, STUN_SUCCESS, true, MEDPROTO_DIR_FROM_MEDIATOR, true },
	[BINDING_REQ] = { STUN_METHOD_BINDING, STUN_REQUEST, false, 0, true },
	[BINDING_OK] = { STUN_METHOD_BINDING, STUN_SUCCESS, false, 0, true },
};

/* The relay a mediator announces (198.51.100.20:443). */
static void set_relay(struct medmsg *m)
{
	m->has_relay = true;
	set_ep(&m->relay_addr, 0xC6336414, 443);
	m->has_relay_key = true;
	for (unsigned i = 0; i < KEY_LEN; i++)
		m->relay_key[i] = (uint8_t)(0xa0 + i);
}

static void build(struct medmsg *m, enum kind kind, const struct keys *ks)
{
	init_msg(m, rows[kind].method, rows[kind].cls);
	switch (kind) {
	case NONCE_OK:
		m->has_nonce = true;
		memset(m->nonce, 0x77, sizeof(m->nonce));
		break;
	case REGISTER_REQ:
		m->has_key = true;
		memcpy(m->key, ks->tund_pub, KEY_LEN);
		m->has_nonce = true;
		memset(m->nonce, 0x77, sizeof(m->nonce));
		strcpy(m->server_id, "nvr-01");
		m->n_local = MEDPROTO_MAX_ADDRS;
		for (unsigned i = 0; i < m->n_local; i++)
			set_ep(&m->local[i], 0xC0A80100 + i, (uint16_t)(51820 + i));
		break;
	case REGISTER_OK:
		m->has_mapped = true;
		set_ep(&m->mapped, 0xCB007107, 40000);
		set_relay(m);
		break;
	case BINDING_OK:
		m->has_mapped = true;
		set_ep(&m->mapped, 0xCB007107, 40000);
		break;
	case REGISTER_ERR:
		m->error_code = MEDPROTO_ERR_UNAUTHENTICATED;
		strcpy(m->error_reason, "no proof of key");
		break;
	case CONNECT_REQ:
		m->has_key = true;
		memcpy(m->key, ks->tund_pub, KEY_LEN);
		strcpy(m->target, "nvr-01." SYSTEM);
		m->n_local = 2;
		set_ep(&m->local[0], 0x0A000002, 51820);
		set_ep(&m->local[1], 0xAC100005, 1);
		break;
	case CONNECT_OK:
		m->has_peer_key = true;
		memset(m->peer_key, 0x33, KEY_LEN);
		strcpy(m->server_id, "nvr-01");
		m->has_public = true;
		set_ep(&m->public_addr, 0xC6336401, 3478);
		m->n_local = 1;
		set_ep(&m->local[0], 0xC0A80105, 65535);
		m->has_mapped = true;
		set_ep(&m->mapped, 0xCB007107, 40001);
		set_relay(m);
		break;
	case CONNECT_ERR:
		m->error_code = MEDPROTO_ERR_OFFLINE;
		strcpy(m->error_reason, "system " SYSTEM " is offline");
		break;
	case CONNECT_IND:
		m->has_connect_id = true;
		memset(m->connect_id, 0x5c, STUN_TXID_LEN);
		m->has_peer_key = true;
		memset(m->peer_key, 0x44, KEY_LEN);
		m->has_public = true;
		set_ep(&m->public_addr, 0xCB007108, 60000);
		m->n_local = 3;
		for (unsigned i = 0; i < 3; i++)
			set_ep(&m->local[i], 0x0A000100 + i, 51820);
		break;
	case ANSWER_REQ:
		m->has_key = true;
		memcpy(m->key, ks->tund_pub, KEY_LEN);
		m->has_connect_id = true;
		memset(m->connect_id, 0x5c, STUN_TXID_LEN);
		m->has_decision = true;
		m->decision = MEDPROTO_DECISION_REFUSE;
		break;
	case NONCE_REQ:
	case ANSWER_OK:
	case BINDING_REQ:
	case N_KINDS:
		break;
	}
	m->has_auth = rows[kind].auth;
}

static int encode_kind(uint8_t *buf, size_t cap, const struct medmsg *m, enum kind kind, const struct keys *ks)
{
	return medproto_encode(buf, cap, m, rows[kind].auth ? ks->k : NULL, rows[kind].dir, rows[kind].fingerprint);
}

static void round_trip_all(void **state)
{
	struct keys ks;
	make_keys(&ks, 1);
	for (int kind = 0; kind < N_KINDS; kind++) {
		struct medmsg m, out;
		struct stun_msg sm;
		uint8_t buf[STUN_MAX_MSG];
		build(&m, (enum kind)kind, &ks);
		int len = encode_kind(buf, sizeof(buf), &m, (enum kind)kind, &ks);
		assert_true(len > 0);
		assert_true(buf[0] <= 3); /* RFC 7983: first byte in STUN's range */
		assert_int_equal(stun_decode(buf, (size_t)len, &sm), 0);
		assert_int_equal(sm.has_fingerprint, rows[kind].fingerprint);
		assert_int_equal(medproto_parse(&sm, &out), 0);
		assert_medmsg_equal(&m, &out);
		if (rows[kind].auth) {
			assert_true(medproto_auth_ok(&sm, ks.k, rows[kind].dir));
			assert_false(medproto_auth_ok(&sm, ks.k, (uint8_t)(3 - rows[kind].dir)));
		} else {
			assert_false(medproto_auth_ok(&sm, ks.k, MEDPROTO_DIR_TO_MEDIATOR));
			assert_false(medproto_auth_ok(&sm, ks.k, MEDPROTO_DIR_FROM_MEDIATOR));
		}
		/* every smaller buffer: -ENOSPC, never a partial message */
		for (size_t cap = 0; cap < (size_t)len; cap++)
			assert_int_equal(encode_kind(buf, cap, &m, (enum kind)kind, &ks), -ENOSPC);
	}
}

static void attribute_order(void **state)
{
	struct keys ks;
	struct medmsg m;
	struct stun_msg sm;
	uint8_t buf[STUN_MAX_MSG];
	make_keys(&ks, 2);
	build(&m, CONNECT_REQ, &ks);
	int len = medproto_encode(buf, sizeof(buf), &m, ks.k, MEDPROTO_DIR_TO_MEDIATOR, true);
	assert_int_equal(stun_decode(buf, (size_t)len, &sm), 0);
	static const uint16_t want[] = { MEDPROTO_ATTR_KEY, MEDPROTO_ATTR_TARGET, MEDPROTO_ATTR_LOCAL_ADDR,
					 MEDPROTO_ATTR_LOCAL_ADDR, MEDPROTO_ATTR_AUTH, STUN_ATTR_FINGERPRINT };
	assert_int_equal(sm.n_attrs, 6);
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(sm.attrs[i].type, want[i]);

	/* a CONNECT success: the relay pair last, just before TUND-AUTH */
	build(&m, CONNECT_OK, &ks);
	len = medproto_encode(buf, sizeof(buf), &m, ks.k, MEDPROTO_DIR_FROM_MEDIATOR, true);
	assert_int_equal(stun_decode(buf, (size_t)len, &sm), 0);
	static const uint16_t want_ok[] = {
		MEDPROTO_ATTR_PEER_KEY, MEDPROTO_ATTR_SERVER_ID, STUN_ATTR_XOR_MAPPED_ADDRESS,
		MEDPROTO_ATTR_PUBLIC_ADDR, MEDPROTO_ATTR_LOCAL_ADDR, MEDPROTO_ATTR_RELAY_ADDR,
		MEDPROTO_ATTR_RELAY_KEY, MEDPROTO_ATTR_AUTH, STUN_ATTR_FINGERPRINT,
	};
	assert_int_equal(sm.n_attrs, 9);
	for (unsigned i = 0; i < 9; i++)
		assert_int_equal(sm.attrs[i].type, want_ok[i]);
	/* RELAY-ADDR in the XOR form: the address is not in the clear */
	const struct stun_attr *ra = stun_find(&sm, MEDPROTO_ATTR_RELAY_ADDR);
	static const uint8_t plain[4] = { 198, 51, 100, 20 };
	assert_non_null(ra);
	assert_int_equal(ra->len, 8);
	assert_memory_not_equal(ra->val + 4, plain, 4);
}

static void auth_key_symmetric(void **state)
{
	struct keys ks;
	uint8_t k_med[32], k_other[32];
	make_keys(&ks, 3);
	assert_int_equal(medproto_auth_key(k_med, ks.med_priv, ks.tund_pub, ks.tund_pub, ks.med_pub), 0);
	assert_memory_equal(ks.k, k_med, 32);
	/* the order of the public keys is part of the key */
	assert_int_equal(medproto_auth_key(k_other, ks.med_priv, ks.tund_pub, ks.med_pub, ks.tund_pub), 0);
	assert_memory_not_equal(k_med, k_other, 32);

	/* low-order points give an all-zero DH result: refused */
	static const uint8_t zero[KEY_LEN];
	uint8_t one[KEY_LEN] = { 1 };
	memset(k_other, 0xee, sizeof(k_other));
	assert_int_equal(medproto_auth_key(k_other, ks.med_priv, zero, zero, ks.med_pub), -EINVAL);
	assert_int_equal(medproto_auth_key(k_other, ks.tund_priv, one, ks.tund_pub, one), -EINVAL);
}

static void auth_failures(void **state)
{
	struct keys ks, other;
	struct medmsg m;
	struct stun_msg sm;
	uint8_t buf[STUN_MAX_MSG], wrong[32];
	make_keys(&ks, 4);
	make_keys(&other, 5);
	build(&m, REGISTER_REQ, &ks);
	int len = medproto_encode(buf, sizeof(buf), &m, ks.k, MEDPROTO_DIR_TO_MEDIATOR, false);
	assert_int_equal(stun_decode(buf, (size_t)len, &sm), 0);
	assert_true(medproto_auth_ok(&sm, ks.k, MEDPROTO_DIR_TO_MEDIATOR));
	assert_false(medproto_auth_ok(&sm, other.k, MEDPROTO_DIR_TO_MEDIATOR));
	assert_false(medproto_auth_ok(&sm, ks.k, MEDPROTO_DIR_FROM_MEDIATOR));
	memcpy(wrong, ks.k, 32);
	wrong[31] ^= 0x80;
	assert_false(medproto_auth_ok(&sm, wrong, MEDPROTO_DIR_TO_MEDIATOR));

	/* every byte flipped (no FINGERPRINT here, so only TUND-AUTH guards it) */
	uint8_t copy[STUN_MAX_MSG];
	for (int i = 0; i < len; i++) {
		memcpy(copy, buf, (size_t)len);
		copy[i] ^= 0x01;
		if (stun_decode(copy, (size_t)len, &sm) == 0)
			assert_false(medproto_auth_ok(&sm, ks.k, MEDPROTO_DIR_TO_MEDIATOR));
	}
	/* auth_ok never writes the caller's buffer */
	memcpy(copy, buf, (size_t)len);
	assert_int_equal(stun_decode(buf, (size_t)len, &sm), 0);
	assert_true(medproto_auth_ok(&sm, ks.k, MEDPROTO_DIR_TO_MEDIATOR));
	assert_memory_equal(copy, buf, (size_t)len);

	/* TUND-AUTH not last: the MAC itself is still right (the length field
	 * is recomputed), only the position makes it fail */
	struct stun_writer w = { .buf = buf, .cap = sizeof(buf), .len = (size_t)len, .err = 0 };
	stun_put(&w, STUN_ATTR_SOFTWARE, "tail", 4);
	assert_int_equal(stun_decode(buf, (size_t)stun_end(&w), &sm), 0);
	assert_false(medproto_auth_ok(&sm, ks.k, MEDPROTO_DIR_TO_MEDIATOR));
	/* followed by FINGERPRINT only: fine */
	len = medproto_encode(buf, sizeof(buf), &m, ks.k, MEDPROTO_DIR_TO_MEDIATOR, true);
	assert_int_equal(stun_decode(buf, (size_t)len, &sm), 0);
	assert_true(medproto_auth_ok(&sm, ks.k, MEDPROTO_DIR_TO_MEDIATOR));

	/* TUND-AUTH missing */
	len = medproto_encode(buf, sizeof(buf), &m, NULL, 0, true);
	assert_int_equal(stun_decode(buf, (size_t)len, &sm), 0);
	assert_false(medproto_auth_ok(&sm, ks.k, MEDPROTO_DIR_TO_MEDIATOR));

	/* TUND-AUTH of the wrong length */
	struct stun_writer w2;
	stun_begin(&w2, buf, sizeof(buf), MEDPROTO_METHOD_REGISTER, STUN_REQUEST, m.txid);
	stun_put(&w2, MEDPROTO_ATTR_AUTH, wrong, 15);
	assert_int_equal(stun_decode(buf, (size_t)stun_end(&w2), &sm), 0);
	assert_false(medproto_auth_ok(&sm, ks.k, MEDPROTO_DIR_TO_MEDIATOR));
}

/* A registration claiming tund_pub but MAC'd by someone who does not hold
 * its private key: whatever key the forger derives, the mediator's k
 * (from its private key and the claimed public key) does not match. */
static void register_without_key_proof(void **state)
{
	struct keys ks;
	struct medmsg m, out;
	struct stun_msg sm;
	uint8_t buf[STUN_MAX_MSG], forger_priv[KEY_LEN], k_forged[32], k_med[32];
	make_keys(&ks, 6);
	memset(forger_priv, 0x99, sizeof(forger_priv));
	assert_int_equal(medproto_auth_key(k_forged, forger_priv, ks.med_pub, ks.tund_pub, ks.med_pub), 0);
	build(&m, REGISTER_REQ, &ks);
	int len = medproto_encode(buf, sizeof(buf), &m, k_forged, MEDPROTO_DIR_TO_MEDIATOR, false);
	assert_true(len > 0);
	/* the mediator's view */
	assert_int_equal(stun_decode(buf, (size_t)len, &sm), 0);
	assert_int_equal(medproto_parse(&sm, &out), 0);
	assert_true(out.has_auth);
	assert_int_equal(medproto_auth_key(k_med, ks.med_priv, out.key, out.key, ks.med_pub), 0);
	assert_false(medproto_auth_ok(&sm, k_med, MEDPROTO_DIR_TO_MEDIATOR));
	/* and the genuine one passes the same check */
	len = medproto_encode(buf, sizeof(buf), &m, ks.k, MEDPROTO_DIR_TO_MEDIATOR, false);
	assert_int_equal(stun_decode(buf, (size_t)len, &sm), 0);
	assert_true(medproto_auth_ok(&sm, k_med, MEDPROTO_DIR_TO_MEDIATOR));
}

/* Truncations and single bit flips of an authenticated CONNECT with
 * FINGERPRINT: nothing that survives decoding is still authentic. */
static void connect_sweep(void **state)
{
	struct keys ks;
	struct medmsg m, out;
	struct stun_msg sm;
	uint8_t buf[STUN_MAX_MSG], copy[STUN_MAX_MSG];
	make_keys(&ks, 7);
	build(&m, CONNECT_REQ, &ks);
	int len = medproto_encode(buf, sizeof(buf), &m, ks.k, MEDPROTO_DIR_TO_MEDIATOR, true);
	assert_true(len > 0);
	for (int n = 0; n < len; n++)
		assert_int_equal(stun_decode(buf, (size_t)n, &sm), -EBADMSG);
	for (int bit = 0; bit < len * 8; bit++) {
		memcpy(copy, buf, (size_t)len);
		copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		if (stun_decode(copy, (size_t)len, &sm) == 0) {
			assert_false(sm.has_fingerprint);
			assert_false(medproto_auth_ok(&sm, ks.k, MEDPROTO_DIR_TO_MEDIATOR));
			(void)medproto_parse(&sm, &out);
		}
	}
}

static void server_ids_and_targets(void **state)
{
	char id63[64], id64[65], sid[MEDPROTO_SERVER_ID_MAX], target[MEDPROTO_TARGET_MAX + 8];
	uint8_t sys[UUID_LEN], want[UUID_LEN];
	memset(id63, 'a', 63);
	id63[63] = '\0';
	memset(id64, 'a', 64);
	id64[64] = '\0';
	assert_true(medproto_server_id_ok(id63));
	assert_false(medproto_server_id_ok(id64));
	assert_true(medproto_server_id_ok("a"));
	assert_true(medproto_server_id_ok("0-9-z-"));
	assert_false(medproto_server_id_ok(""));
	assert_false(medproto_server_id_ok("-nvr"));
	assert_false(medproto_server_id_ok("Nvr"));
	assert_false(medproto_server_id_ok("nvr_1"));
	assert_false(medproto_server_id_ok("nvr.1"));
	assert_false(medproto_server_id_ok("nvr 1"));

	assert_int_equal(uuid_parse(want, SYSTEM), 0);
	memset(sid, 'x', sizeof(sid));
	assert_int_equal(medproto_target_parse(SYSTEM, sid, sys), 0);
	assert_string_equal(sid, "");
	assert_memory_equal(sys, want, UUID_LEN);
	assert_int_equal(medproto_target_parse("srv." SYSTEM, sid, sys), 0);
	assert_string_equal(sid, "srv");
	assert_memory_equal(sys, want, UUID_LEN);
	snprintf(target, sizeof(target), "%s.%s", id63, SYSTEM);
	assert_int_equal(strlen(target), MEDPROTO_TARGET_MAX - 1);
	assert_int_equal(medproto_target_parse(target, sid, sys), 0);
	assert_string_equal(sid, id63);
	snprintf(target, sizeof(target), "%s.%s", id64, SYSTEM);
	assert_int_equal(medproto_target_parse(target, sid, sys), -EINVAL);
	assert_int_equal(medproto_target_parse("srv.0F1E2D3C-4B5A-8978-8796-A5B4C3D2E1F0", sid, sys), -EINVAL);
	assert_int_equal(medproto_target_parse("0F1E2D3C-4B5A-8978-8796-A5B4C3D2E1F0", sid, sys), -EINVAL);
	assert_int_equal(medproto_target_parse("SRV." SYSTEM, sid, sys), -EINVAL);
	assert_int_equal(medproto_target_parse("-srv." SYSTEM, sid, sys), -EINVAL);
	assert_int_equal(medproto_target_parse("." SYSTEM, sid, sys), -EINVAL);
	assert_int_equal(medproto_target_parse("srv.", sid, sys), -EINVAL);
	assert_int_equal(medproto_target_parse("a.b." SYSTEM, sid, sys), -EINVAL);
	assert_int_equal(medproto_target_parse(SYSTEM ".srv", sid, sys), -EINVAL);
	assert_int_equal(medproto_target_parse("srv.0f1e2d3c-4b5a-8978-8796-a5b4c3d2e1f", sid, sys), -EINVAL);
	assert_int_equal(medproto_target_parse("srv.0f1e2d3c-4b5a-8978-8796-a5b4c3d2e1fg", sid, sys), -EINVAL);
	assert_int_equal(medproto_target_parse("srv.0f1e2d3c4b5a-8978-8796-a5b4c3d2e1f0a", sid, sys), -EINVAL);
	assert_int_equal(medproto_target_parse("", sid, sys), -EINVAL);
}

static void encode_refuses(void **state)
{
	struct keys ks;
	struct medmsg m;
	uint8_t buf[STUN_MAX_MSG];
	make_keys(&ks, 8);

	build(&m, REGISTER_REQ, &ks);
	strcpy(m.server_id, "Nvr");
	assert_int_equal(medproto_encode(buf, sizeof(buf), &m, ks.k, 1, false), -EINVAL);
	memset(m.server_id, 'a', sizeof(m.server_id)); /* not terminated */
	assert_int_equal(medproto_encode(buf, sizeof(buf), &m, ks.k, 1, false), -EINVAL);
	build(&m, REGISTER_REQ, &ks);
	m.n_local = MEDPROTO_MAX_ADDRS + 1;
	assert_int_equal(medproto_encode(buf, sizeof(buf), &m, ks.k, 1, false), -EINVAL);

	build(&m, CONNECT_REQ, &ks);
	strcpy(m.target, "srv.not-a-uuid");
	assert_int_equal(medproto_encode(buf, sizeof(buf), &m, ks.k, 1, false), -EINVAL);

	build(&m, ANSWER_REQ, &ks);
	m.decision = 2;
	assert_int_equal(medproto_encode(buf, sizeof(buf), &m, ks.k, 1, false), -EINVAL);

	build(&m, CONNECT_ERR, &ks);
	m.error_code = 200;
	assert_int_equal(medproto_encode(buf, sizeof(buf), &m, NULL, 0, false), -EINVAL);
	m.error_code = 700;
	assert_int_equal(medproto_encode(buf, sizeof(buf), &m, NULL, 0, false), -EINVAL);
	m.error_code = 404;
	strcpy(m.error_reason, "line\nbreak");
	assert_int_equal(medproto_encode(buf, sizeof(buf), &m, NULL, 0, false), -EINVAL);

	init_msg(&m, 0x0D5, STUN_REQUEST);
	assert_int_equal(medproto_encode(buf, sizeof(buf), &m, NULL, 0, false), -EINVAL);
	build(&m, BINDING_OK, &ks);
	m.has_key = true; /* a Binding would not parse it back */
	assert_int_equal(medproto_encode(buf, sizeof(buf), &m, NULL, 0, false), -EINVAL);
	/* nor the relay, as a pair or either half */
	for (int half = 0; half < 3; half++) {
		build(&m, BINDING_OK, &ks);
		set_relay(&m);
		m.has_relay = half != 1;
		m.has_relay_key = half != 2;
		assert_int_equal(medproto_encode(buf, sizeof(buf), &m, NULL, 0, false), -EINVAL);
		m.method = MEDPROTO_METHOD_REGISTER;   /* the same fields in a REGISTER success: fine */
		assert_true(medproto_encode(buf, sizeof(buf), &m, ks.k, 2, false) > 0);
	}
}

/* Messages the encoder will not build, written attribute by attribute. */
static int parse_built(struct stun_writer *w, struct medmsg *out)
{
	struct stun_msg sm;
	int len = stun_end(w);
	assert_true(len > 0);
	assert_int_equal(stun_decode(w->buf, (size_t)len, &sm), 0);
	return medproto_parse(&sm, out);
}

static void parse_rules(void **state)
{
	static const uint8_t txid[STUN_TXID_LEN] = { 7 };
	static const uint8_t bytes[64];
	uint8_t buf[STUN_MAX_MSG];
	struct stun_writer w;
	struct medmsg out;
	struct stun_addr sa = { .family = 4, .port = 5, .addr = { 10, 0, 0, 1 } };
	struct stun_addr six = { .family = 6, .port = 5, .addr = { 0x20, 0x01, 0x0d, 0xb8 } };

	/* lengths of fixed attributes */
	static const struct { uint16_t type; size_t len; } fixed[] = {
		{ MEDPROTO_ATTR_KEY, KEY_LEN },         { MEDPROTO_ATTR_PEER_KEY, KEY_LEN },
		{ MEDPROTO_ATTR_NONCE, MEDPROTO_NONCE_LEN }, { MEDPROTO_ATTR_CONNECT_ID, STUN_TXID_LEN },
		{ MEDPROTO_ATTR_DECISION, 4 },          { MEDPROTO_ATTR_AUTH, MEDPROTO_AUTH_LEN },
		{ MEDPROTO_ATTR_RELAY_KEY, KEY_LEN },
	};
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		for (size_t len = 0; len <= fixed[i].len + 1; len++) {
			stun_begin(&w, buf, sizeof(buf), MEDPROTO_METHOD_CONNECT, STUN_REQUEST, txid);
			stun_put(&w, fixed[i].type, bytes, len);
			assert_int_equal(parse_built(&w, &out), len == fixed[i].len ? 0 : -EBADMSG);
		}
	}

	/* duplicates of single-valued attributes */
	static const uint16_t single[] = { MEDPROTO_ATTR_KEY, MEDPROTO_ATTR_NONCE, MEDPROTO_ATTR_AUTH };
	for (size_t i = 0; i < sizeof(single) / sizeof(single[0]); i++) {
		size_t len = single[i] == MEDPROTO_ATTR_NONCE ? 16 : single[i] == MEDPROTO_ATTR_AUTH ? 16 : 32;
		stun_begin(&w, buf, sizeof(buf), MEDPROTO_METHOD_REGISTER, STUN_REQUEST, txid);
		stun_put(&w, single[i], bytes, len);
		stun_put(&w, single[i], bytes, len);
		assert_int_equal(parse_built(&w, &out), -EBADMSG);
	}
	stun_begin(&w, buf, sizeof(buf), MEDPROTO_METHOD_REGISTER, STUN_REQUEST, txid);
	stun_put(&w, MEDPROTO_ATTR_SERVER_ID, "a", 1);
	stun_put(&w, MEDPROTO_ATTR_SERVER_ID, "b", 1);
	assert_int_equal(parse_built(&w, &out), -EBADMSG);
	stun_begin(&w, buf, sizeof(buf), MEDPROTO_METHOD_CONNECT, STUN_SUCCESS, txid);
	stun_put_xor_addr(&w, MEDPROTO_ATTR_PUBLIC_ADDR, &sa);
	stun_put_xor_addr(&w, MEDPROTO_ATTR_PUBLIC_ADDR, &sa);
	assert_int_equal(parse_built(&w, &out), -EBADMSG);
	stun_begin(&w, buf, sizeof(buf), MEDPROTO_METHOD_CONNECT, STUN_ERROR, txid);
	stun_put_error(&w, 404, "a");
	stun_put_error(&w, 404, "b");
	assert_int_equal(parse_built(&w, &out), -EBADMSG);

	/* LOCAL-ADDR: up to MEDPROTO_MAX_ADDRS, IPv4 XOR form only */
	stun_begin(&w, buf, sizeof(buf), MEDPROTO_METHOD_REGISTER, STUN_REQUEST, txid);
	for (unsigned i = 0; i < MEDPROTO_MAX_ADDRS; i++)
		stun_put_xor_addr(&w, MEDPROTO_ATTR_LOCAL_ADDR, &sa);
	assert_int_equal(parse_built(&w, &out), 0);
	assert_int_equal(out.n_local, MEDPROTO_MAX_ADDRS);
	assert_int_equal(out.local[0].addr, 0x0A000001);
	stun_put_xor_addr(&w, MEDPROTO_ATTR_LOCAL_ADDR, &sa);
	assert_int_equal(parse_built(&w, &out), -EBADMSG);
	stun_begin(&w, buf, sizeof(buf), MEDPROTO_METHOD_REGISTER, STUN_REQUEST, txid);
	stun_put_xor_addr(&w, MEDPROTO_ATTR_LOCAL_ADDR, &six);
	assert_int_equal(parse_built(&w, &out), -EBADMSG);
	stun_begin(&w, buf, sizeof(buf), MEDPROTO_METHOD_REGISTER, STUN_REQUEST, txid);
	stun_put(&w, MEDPROTO_ATTR_LOCAL_ADDR, bytes, 8); /* family 0 */
	assert_int_equal(parse_built(&w, &out), -EBADMSG);

	/* DECISION values */
	stun_begin(&w, buf, sizeof(buf), MEDPROTO_METHOD_ANSWER, STUN_REQUEST, txid);
	stun_put_u32(&w, MEDPROTO_ATTR_DECISION, 2);
	assert_int_equal(parse_built(&w, &out), -EBADMSG);

	/* SERVER-ID and TARGET as text: valid, embedded NUL, too long */
	stun_begin(&w, buf, sizeof(buf), MEDPROTO_METHOD_REGISTER, STUN_REQUEST, txid);
	stun_put(&w, MEDPROTO_ATTR_SERVER_ID, "ab\0c", 4);
	assert_int_equal(parse_built(&w, &out), -EBADMSG);
	stun_begin(&w, buf, sizeof(buf), MEDPROTO_METHOD_REGISTER, STUN_REQUEST, txid);
	stun_put(&w, MEDPROTO_ATTR_SERVER_ID, "", 0);
	assert_int_equal(parse_built(&w, &out), -EBADMSG);
	char longid[80];
	memset(longid, 'a', sizeof(longid));
	stun_begin(&w, buf, sizeof(buf), MEDPROTO_METHOD_REGISTER, STUN_REQUEST, txid);
	stun_put(&w, MEDPROTO_ATTR_SERVER_ID, longid, 64);
	assert_int_equal(parse_built(&w, &out), -EBADMSG);
	stun_begin(&w, buf, sizeof(buf), MEDPROTO_METHOD_REGISTER, STUN_REQUEST, txid);
	stun_put(&w, MEDPROTO_ATTR_SERVER_ID, longid, 63);
	assert_int_equal(parse_built(&w, &out), 0);
	assert_int_equal(strlen(out.server_id), 63);
	stun_begin(&w, buf, sizeof(buf), MEDPROTO_METHOD_CONNECT, STUN_REQUEST, txid);
	stun_put(&w, MEDPROTO_ATTR_TARGET, SYSTEM, UUID_STR_LEN);
	assert_int_equal(parse_built(&w, &out), 0);
	assert_string_equal(out.target, SYSTEM);
	stun_begin(&w, buf, sizeof(buf), MEDPROTO_METHOD_CONNECT, STUN_REQUEST, txid);
	stun_put(&w, MEDPROTO_ATTR_TARGET, SYSTEM, UUID_STR_LEN - 1);
	assert_int_equal(parse_built(&w, &out), -EBADMSG);

	/* ERROR-CODE: reason truncated to the field and sanitized */
	char reason[300];
	memset(reason, 'r', sizeof(reason));
	reason[0] = '\n';
	reason[1] = (char)0xc3;
	stun_begin(&w, buf, sizeof(buf), MEDPROTO_METHOD_CONNECT, STUN_ERROR, txid);
	uint8_t *p = stun_reserve(&w, STUN_ATTR_ERROR_CODE, 4 + sizeof(reason));
	p[2] = 5;
	p[3] = 4;
	memcpy(p + 4, reason, sizeof(reason));
	assert_int_equal(parse_built(&w, &out), 0);
	assert_int_equal(out.error_code, 504);
	assert_int_equal(strlen(out.error_reason), sizeof(out.error_reason) - 1);
	assert_memory_equal(out.error_reason, "??rrr", 5);
	stun_begin(&w, buf, sizeof(buf), MEDPROTO_METHOD_CONNECT, STUN_ERROR, txid);
	stun_put(&w, STUN_ATTR_ERROR_CODE, "\0\0\x02\x00", 4); /* class 2 */
	assert_int_equal(parse_built(&w, &out), -EBADMSG);

	/* unknown attributes: comprehension-required refused, optional ignored */
	stun_begin(&w, buf, sizeof(buf), MEDPROTO_METHOD_CONNECT, STUN_REQUEST, txid);
	stun_put(&w, 0xC0DE, "x", 1);
	stun_put(&w, STUN_ATTR_SOFTWARE, "tund", 4);
	assert_int_equal(parse_built(&w, &out), 0);
	stun_put(&w, 0x400F, "x", 1);
	assert_int_equal(parse_built(&w, &out), -EBADMSG);
	stun_begin(&w, buf, sizeof(buf), MEDPROTO_METHOD_CONNECT, STUN_REQUEST, txid);
	stun_put(&w, STUN_ATTR_USERNAME, "x", 1);
	assert_int_equal(parse_built(&w, &out), -EBADMSG);
	/* our methods: an IPv6 XOR-MAPPED-ADDRESS is refused too */
	stun_begin(&w, buf, sizeof(buf), MEDPROTO_METHOD_REGISTER, STUN_SUCCESS, txid);
	stun_put_xor_addr(&w, STUN_ATTR_XOR_MAPPED_ADDRESS, &six);
	assert_int_equal(parse_built(&w, &out), -EBADMSG);

	/* Binding: lenient, first of each counts, IPv6 mapping ignored */
	stun_begin(&w, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_SUCCESS, txid);
	stun_put(&w, 0x400F, "x", 1);
	stun_put(&w, STUN_ATTR_USERNAME, "x", 1);
	stun_put_xor_addr(&w, STUN_ATTR_XOR_MAPPED_ADDRESS, &sa);
	stun_put_xor_addr(&w, STUN_ATTR_XOR_MAPPED_ADDRESS, &six);
	assert_int_equal(parse_built(&w, &out), 0);
	assert_true(out.has_mapped);
	assert_int_equal(out.mapped.addr, 0x0A000001);
	assert_int_equal(out.mapped.port, 5);
	stun_begin(&w, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_SUCCESS, txid);
	stun_put_xor_addr(&w, STUN_ATTR_XOR_MAPPED_ADDRESS, &six);
	assert_int_equal(parse_built(&w, &out), 0);
	assert_false(out.has_mapped);
	stun_begin(&w, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_ERROR, txid);
	stun_put_error(&w, 400, "Bad Request");
	assert_int_equal(parse_built(&w, &out), 0);
	assert_int_equal(out.error_code, 400);
	assert_string_equal(out.error_reason, "Bad Request");

	/* methods that are neither Binding nor ours */
	stun_begin(&w, buf, sizeof(buf), 0x003, STUN_REQUEST, txid);
	assert_int_equal(parse_built(&w, &out), -EBADMSG);
}

/* RELAY-ADDR and RELAY-KEY as the parser sees them. */
static void relay_attrs(void **state)
{
	static const uint8_t txid[STUN_TXID_LEN] = { 9 };
	static const uint8_t bytes[64] = { 0, 1 };   /* family 1 (IPv4) when taken as an address */
	uint8_t buf[STUN_MAX_MSG];
	struct stun_writer w;
	struct medmsg out;
	struct stun_addr sa = { .family = 4, .port = 443, .addr = { 198, 51, 100, 20 } };
	struct stun_addr six = { .family = 6, .port = 443, .addr = { 0x20, 0x01, 0x0d, 0xb8 } };
	uint8_t key[KEY_LEN];
	memset(key, 0x5e, sizeof(key));

	/* the pair in a CONNECT success */
	stun_begin(&w, buf, sizeof(buf), MEDPROTO_METHOD_CONNECT, STUN_SUCCESS, txid);
	stun_put_xor_addr(&w, MEDPROTO_ATTR_RELAY_ADDR, &sa);
	stun_put(&w, MEDPROTO_ATTR_RELAY_KEY, key, KEY_LEN);
	assert_int_equal(parse_built(&w, &out), 0);
	assert_true(out.has_relay && out.has_relay_key);
	assert_int_equal(out.relay_addr.addr, 0xC6336414);
	assert_int_equal(out.relay_addr.port, 443);
	assert_memory_equal(out.relay_key, key, KEY_LEN);

	/* RELAY-ADDR: an IPv4 XOR address of exactly 8 bytes */
	for (size_t len = 0; len <= 20; len++) {
		stun_begin(&w, buf, sizeof(buf), MEDPROTO_METHOD_REGISTER, STUN_SUCCESS, txid);
		stun_put(&w, MEDPROTO_ATTR_RELAY_ADDR, bytes, len);
		assert_int_equal(parse_built(&w, &out), len == 8 ? 0 : -EBADMSG);
		assert_int_equal(out.has_relay, len == 8);
	}
	stun_begin(&w, buf, sizeof(buf), MEDPROTO_METHOD_REGISTER, STUN_SUCCESS, txid);
	stun_put_xor_addr(&w, MEDPROTO_ATTR_RELAY_ADDR, &six);
	assert_int_equal(parse_built(&w, &out), -EBADMSG);
	assert_false(out.has_relay);   /* a refused message leaves nothing behind */
	stun_begin(&w, buf, sizeof(buf), MEDPROTO_METHOD_REGISTER, STUN_SUCCESS, txid);
	stun_put(&w, MEDPROTO_ATTR_RELAY_ADDR, bytes + 2, 8);   /* family 0 */
	assert_int_equal(parse_built(&w, &out), -EBADMSG);

	/* duplicates: refused, even when equal */
	stun_begin(&w, buf, sizeof(buf), MEDPROTO_METHOD_REGISTER, STUN_SUCCESS, txid);
	stun_put_xor_addr(&w, MEDPROTO_ATTR_RELAY_ADDR, &sa);
	stun_put(&w, MEDPROTO_ATTR_RELAY_KEY, key, KEY_LEN);
	stun_put_xor_addr(&w, MEDPROTO_ATTR_RELAY_ADDR, &sa);
	assert_int_equal(parse_built(&w, &out), -EBADMSG);
	assert_false(out.has_relay || out.has_relay_key);
	stun_begin(&w, buf, sizeof(buf), MEDPROTO_METHOD_CONNECT, STUN_SUCCESS, txid);
	stun_put(&w, MEDPROTO_ATTR_RELAY_KEY, key, KEY_LEN);
	stun_put_xor_addr(&w, MEDPROTO_ATTR_RELAY_ADDR, &sa);
	stun_put(&w, MEDPROTO_ATTR_RELAY_KEY, key, KEY_LEN);
	assert_int_equal(parse_built(&w, &out), -EBADMSG);

	/* half a pair parses; using the relay needs both (tund/resolve.c) */
	stun_begin(&w, buf, sizeof(buf), MEDPROTO_METHOD_CONNECT, STUN_SUCCESS, txid);
	stun_put_xor_addr(&w, MEDPROTO_ATTR_RELAY_ADDR, &sa);
	assert_int_equal(parse_built(&w, &out), 0);
	assert_true(out.has_relay);
	assert_false(out.has_relay_key);

	/* in a Binding both are unknown attributes, ignored like any other */
	stun_begin(&w, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_SUCCESS, txid);
	stun_put_xor_addr(&w, STUN_ATTR_XOR_MAPPED_ADDRESS, &sa);
	stun_put_xor_addr(&w, MEDPROTO_ATTR_RELAY_ADDR, &sa);
	stun_put(&w, MEDPROTO_ATTR_RELAY_KEY, key, KEY_LEN);
	assert_int_equal(parse_built(&w, &out), 0);
	assert_true(out.has_mapped);
	assert_false(out.has_relay);
	assert_false(out.has_relay_key);
}

static void method_names(void **state)
{
	assert_string_equal(medproto_method_name(MEDPROTO_METHOD_CONNECT), "CONNECT");
	assert_string_equal(medproto_method_name(MEDPROTO_METHOD_REGISTER), "REGISTER");
	assert_string_equal(medproto_method_name(MEDPROTO_METHOD_NONCE), "NONCE");
	assert_string_equal(medproto_method_name(MEDPROTO_METHOD_ANSWER), "ANSWER");
	assert_string_equal(medproto_method_name(STUN_METHOD_BINDING), "Binding");
	assert_string_equal(medproto_method_name(0x0FFF), "unknown method");
}

static int setup(void **state)
{
	return sodium_init() < 0 ? -1 : 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip_all),
		cmocka_unit_test(attribute_order),
		cmocka_unit_test(auth_key_symmetric),
		cmocka_unit_test(auth_failures),
		cmocka_unit_test(register_without_key_proof),
		cmocka_unit_test(connect_sweep),
		cmocka_unit_test(server_ids_and_targets),
		cmocka_unit_test(encode_refuses),
		cmocka_unit_test(parse_rules),
		cmocka_unit_test(relay_attrs),
		cmocka_unit_test(method_names),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
