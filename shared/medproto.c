/*
 * medproto.c - tund's mediator protocol over STUN framing: the one
 * encoder and parser of struct medmsg, TUND-AUTH, and the shared key it
 * is computed under (the protocol itself is described in medproto.h).
 *
 * Invariants: medproto_parse only fills its output from a message that
 * stun_decode accepted, checks every attribute it knows before copying it,
 * and refuses duplicates of single-valued attributes, so a parsed medmsg
 * never holds half of two messages. medproto_encode refuses (-EINVAL) any
 * field medproto_parse would refuse or alter, so encode -> decode -> parse
 * gives back the same medmsg. TUND-AUTH is checked over a copy of the
 * header; the caller's buffer is never written.
 */
#include "medproto.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#define AUTH_KEY_LABEL "tund mediator auth v1"

int medproto_auth_key(uint8_t k[32], const uint8_t own_priv[KEY_LEN], const uint8_t other_pub[KEY_LEN],
		      const uint8_t tund_pub[KEY_LEN], const uint8_t mediator_pub[KEY_LEN])
{
	uint8_t dh[crypto_scalarmult_BYTES];
	crypto_generichash_state st;
	int err = 0;
	/* libsodium already refuses an all-zero result; the explicit check
	 * keeps the rule visible here whatever the library version does. */
	if (crypto_scalarmult(dh, own_priv, other_pub) != 0 || sodium_is_zero(dh, sizeof(dh))) {
		err = -EINVAL;
		goto out;
	}
	crypto_generichash_init(&st, dh, sizeof(dh), 32);
	crypto_generichash_update(&st, (const uint8_t *)AUTH_KEY_LABEL, strlen(AUTH_KEY_LABEL));
	crypto_generichash_update(&st, tund_pub, KEY_LEN);
	crypto_generichash_update(&st, mediator_pub, KEY_LEN);
	crypto_generichash_final(&st, k, 32);
out:
	sodium_memzero(dh, sizeof(dh));
	sodium_memzero(&st, sizeof(st));
	return err;
}

/* BLAKE2b-128(k, dir || header || attributes before TUND-AUTH), with
 * the header's length field counting up to the end of TUND-AUTH. */
static void auth_mac(uint8_t mac[MEDPROTO_AUTH_LEN], const uint8_t k[32], uint8_t dir, const uint8_t *msg,
		     size_t auth_off)
{
	crypto_generichash_state st;
	uint8_t hdr[STUN_HDR_LEN];
	size_t body = auth_off + 4 + MEDPROTO_AUTH_LEN - STUN_HDR_LEN;
	memcpy(hdr, msg, STUN_HDR_LEN);
	hdr[2] = (uint8_t)(body >> 8);
	hdr[3] = (uint8_t)body;
	crypto_generichash_init(&st, k, 32, MEDPROTO_AUTH_LEN);
	crypto_generichash_update(&st, &dir, 1);
	crypto_generichash_update(&st, hdr, STUN_HDR_LEN);
	crypto_generichash_update(&st, msg + STUN_HDR_LEN, auth_off - STUN_HDR_LEN);
	crypto_generichash_final(&st, mac, MEDPROTO_AUTH_LEN);
	sodium_memzero(&st, sizeof(st));
}

bool medproto_auth_ok(const struct stun_msg *m, const uint8_t k[32], uint8_t dir)
{
	const struct stun_attr *a = stun_find(m, MEDPROTO_ATTR_AUTH);
	if (!a || a->len != MEDPROTO_AUTH_LEN)
		return false;
	/* Last, or followed only by FINGERPRINT (which stun_decode keeps last). */
	unsigned idx = (unsigned)(a - m->attrs);
	if (idx + 1 != m->n_attrs &&
	    !(idx + 2 == m->n_attrs && m->attrs[idx + 1].type == STUN_ATTR_FINGERPRINT))
		return false;
	uint8_t mac[MEDPROTO_AUTH_LEN];
	auth_mac(mac, k, dir, m->buf, a->off);
	bool ok = sodium_memcmp(mac, a->val, MEDPROTO_AUTH_LEN) == 0;
	sodium_memzero(mac, sizeof(mac));
	return ok;
}

bool medproto_server_id_ok(const char *s)
{
	size_t n = strnlen(s, MEDPROTO_SERVER_ID_MAX);
	if (n == 0 || n >= MEDPROTO_SERVER_ID_MAX || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

/* The system id part must be the canonical lower-case form, so one
 * system has exactly one TARGET spelling on the wire. */
static int system_part(const char *s, uint8_t id[UUID_LEN])
{
	char canon[UUID_STR_LEN + 1];
	if (uuid_parse(id, s) < 0)
		return -EINVAL;
	uuid_format(canon, id);
	return strcmp(canon, s) == 0 ? 0 : -EINVAL;
}

int medproto_target_parse(const char *target, char server_id[MEDPROTO_SERVER_ID_MAX],
			  uint8_t system_id[UUID_LEN])
{
	char sid[MEDPROTO_SERVER_ID_MAX];
	uint8_t id[UUID_LEN];
	size_t n = strnlen(target, MEDPROTO_TARGET_MAX);
	if (n >= MEDPROTO_TARGET_MAX)
		return -EINVAL;
	const char *dot = strchr(target, '.');
	const char *uuid = target;
	sid[0] = '\0';
	if (dot) {
		size_t slen = (size_t)(dot - target);
		if (slen >= MEDPROTO_SERVER_ID_MAX)
			return -EINVAL;
		memcpy(sid, target, slen);
		sid[slen] = '\0';
		if (!medproto_server_id_ok(sid))
			return -EINVAL;
		uuid = dot + 1;
	}
	if (system_part(uuid, id) < 0)
		return -EINVAL;
	memcpy(server_id, sid, sizeof(sid));
	memcpy(system_id, id, UUID_LEN);
	return 0;
}

const char *medproto_method_name(uint16_t method)
{
	switch (method) {
	case STUN_METHOD_BINDING:
		return "Binding";
	case MEDPROTO_METHOD_NONCE:
		return "NONCE";
	case MEDPROTO_METHOD_REGISTER:
		return "REGISTER";
	case MEDPROTO_METHOD_CONNECT:
		return "CONNECT";
	case MEDPROTO_METHOD_ANSWER:
		return "ANSWER";
	default:
		return "unknown method";
	}
}

static bool our_method(uint16_t method)
{
	return method >= MEDPROTO_METHOD_NONCE && method <= MEDPROTO_METHOD_ANSWER;
}

/* ---- parser ---- */

static int ipv4_xor(const struct stun_msg *m, const struct stun_attr *a, struct endpoint *out)
{
	struct stun_addr sa;
	if (stun_attr_xor_addr(m, a, &sa) < 0 || stun_addr_to_endpoint(&sa, out) < 0)
		return -EBADMSG;
	return 0;
}

/* A text attribute into a NUL-terminated field: no embedded NUL. */
static int text(const struct stun_attr *a, char *out, size_t cap)
{
	if (a->len == 0 || a->len >= cap || memchr(a->val, '\0', a->len))
		return -EBADMSG;
	memcpy(out, a->val, a->len);
	out[a->len] = '\0';
	return 0;
}

static bool printable(char c) { return c >= 0x20 && c <= 0x7e; }

static int error_code(const struct stun_attr *a, struct medmsg *out)
{
	const char *reason;
	size_t rlen;
	if (stun_attr_error(a, &out->error_code, &reason, &rlen) < 0)
		return -EBADMSG;
	if (rlen > sizeof(out->error_reason) - 1)
		rlen = sizeof(out->error_reason) - 1;
	for (size_t i = 0; i < rlen; i++)
		out->error_reason[i] = printable(reason[i]) ? reason[i] : '?';
	out->error_reason[rlen] = '\0';
	return 0;
}

/* Fixed-length opaque value. */
static int fixed(const struct stun_attr *a, void *out, size_t len, bool *has)
{
	if (a->len != len)
		return -EBADMSG;
	memcpy(out, a->val, len);
	if (has)
		*has = true;
	return 0;
}

/* One attribute of one of our methods (duplicates are refused by the
 * caller before this is reached). */
static int our_attr(const struct stun_msg *m, const struct stun_attr *a, struct medmsg *out)
{
	char sid[MEDPROTO_SERVER_ID_MAX];
	uint8_t id[UUID_LEN];
	switch (a->type) {
	case MEDPROTO_ATTR_KEY:
		return fixed(a, out->key, KEY_LEN, &out->has_key);
	case MEDPROTO_ATTR_PEER_KEY:
		return fixed(a, out->peer_key, KEY_LEN, &out->has_peer_key);
	case MEDPROTO_ATTR_NONCE:
		return fixed(a, out->nonce, MEDPROTO_NONCE_LEN, &out->has_nonce);
	case MEDPROTO_ATTR_CONNECT_ID:
		return fixed(a, out->connect_id, STUN_TXID_LEN, &out->has_connect_id);
	case MEDPROTO_ATTR_AUTH:
		if (a->len != MEDPROTO_AUTH_LEN)
			return -EBADMSG;
		out->has_auth = true;
		return 0;
	case MEDPROTO_ATTR_DECISION:
		if (stun_attr_u32(a, &out->decision) < 0 || out->decision > MEDPROTO_DECISION_REFUSE)
			return -EBADMSG;
		out->has_decision = true;
		return 0;
	case MEDPROTO_ATTR_SERVER_ID:
		if (text(a, out->server_id, sizeof(out->server_id)) < 0 || !medproto_server_id_ok(out->server_id))
			return -EBADMSG;
		return 0;
	case MEDPROTO_ATTR_TARGET:
		if (text(a, out->target, sizeof(out->target)) < 0 || medproto_target_parse(out->target, sid, id) < 0)
			return -EBADMSG;
		return 0;
	case MEDPROTO_ATTR_PUBLIC_ADDR:
		out->has_public = true;
		return ipv4_xor(m, a, &out->public_addr);
	case MEDPROTO_ATTR_RELAY_ADDR:
		out->has_relay = true;
		return ipv4_xor(m, a, &out->relay_addr);
	case MEDPROTO_ATTR_RELAY_KEY:
		return fixed(a, out->relay_key, KEY_LEN, &out->has_relay_key);
	case MEDPROTO_ATTR_LOCAL_ADDR:
		if (out->n_local == MEDPROTO_MAX_ADDRS)
			return -EBADMSG;
		return ipv4_xor(m, a, &out->local[out->n_local++]);
	case STUN_ATTR_XOR_MAPPED_ADDRESS:
		out->has_mapped = true;
		return ipv4_xor(m, a, &out->mapped);
	case STUN_ATTR_ERROR_CODE:
		return error_code(a, out);
	default:
		/* §7.3: unknown comprehension-required attributes fail the message. */
		return a->type < 0x8000 ? -EBADMSG : 0;
	}
}

/* Index of a single-valued attribute for duplicate detection, or -1. */
static int single_index(uint16_t type)
{
	static const uint16_t single[] = {
		MEDPROTO_ATTR_KEY,        MEDPROTO_ATTR_PEER_KEY,    MEDPROTO_ATTR_NONCE,
		MEDPROTO_ATTR_CONNECT_ID, MEDPROTO_ATTR_AUTH,        MEDPROTO_ATTR_DECISION,
		MEDPROTO_ATTR_SERVER_ID,  MEDPROTO_ATTR_TARGET,      MEDPROTO_ATTR_PUBLIC_ADDR,
		MEDPROTO_ATTR_RELAY_ADDR, MEDPROTO_ATTR_RELAY_KEY,
		STUN_ATTR_XOR_MAPPED_ADDRESS, STUN_ATTR_ERROR_CODE,
	};
	for (unsigned i = 0; i < sizeof(single) / sizeof(single[0]); i++)
		if (single[i] == type)
			return (int)i;
	return -1;
}

/* Binding is plain STUN: only the first of each attribute counts
 * (RFC 8489 §14), unknown ones and IPv6 mappings are ignored. */
static int binding_attrs(const struct stun_msg *m, struct medmsg *out)
{
	const struct stun_attr *a = stun_find(m, STUN_ATTR_XOR_MAPPED_ADDRESS);
	if (a) {
		struct stun_addr sa;
		if (stun_attr_xor_addr(m, a, &sa) < 0)
			return -EBADMSG;
		if (stun_addr_to_endpoint(&sa, &out->mapped) == 0)
			out->has_mapped = true;
	}
	a = stun_find(m, STUN_ATTR_ERROR_CODE);
	if (a && error_code(a, out) < 0)
		return -EBADMSG;
	out->has_auth = stun_find(m, MEDPROTO_ATTR_AUTH) != NULL;
	return 0;
}

int medproto_parse(const struct stun_msg *m, struct medmsg *out)
{
	memset(out, 0, sizeof(*out));
	out->method = m->method;
	out->cls = m->cls;
	memcpy(out->txid, m->txid, STUN_TXID_LEN);
	int err = 0;
	if (m->method == STUN_METHOD_BINDING) {
		err = binding_attrs(m, out);
	} else if (!our_method(m->method)) {
		err = -EBADMSG;
	} else {
		uint32_t seen = 0;
		for (unsigned i = 0; i < m->n_attrs && err == 0; i++) {
			int s = single_index(m->attrs[i].type);
			if (s >= 0 && (seen & 1u << s))
				err = -EBADMSG;
			else if (s >= 0)
				seen |= 1u << s;
			if (err == 0)
				err = our_attr(m, &m->attrs[i], out);
		}
	}
	if (err < 0) {
		memset(out, 0, sizeof(*out));
		return -EBADMSG;
	}
	return 0;
}

/* ---- encoder ---- */

static bool reason_ok(const char *r, size_t cap)
{
	size_t n = strnlen(r, cap);
	if (n == cap)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!printable(r[i]))
			return false;
	return true;
}

/* What medproto_parse would refuse or change is refused here. */
static bool encodable(const struct medmsg *msg)
{
	char sid[MEDPROTO_SERVER_ID_MAX];
	uint8_t id[UUID_LEN];
	if (msg->method != STUN_METHOD_BINDING && !our_method(msg->method))
		return false;
	if (msg->n_local > MEDPROTO_MAX_ADDRS)
		return false;
	if (msg->server_id[0] && !medproto_server_id_ok(msg->server_id))
		return false;
	if (msg->target[0] && medproto_target_parse(msg->target, sid, id) < 0)
		return false;
	if (msg->has_decision && msg->decision > MEDPROTO_DECISION_REFUSE)
		return false;
	if (msg->error_code && (msg->error_code < 300 || msg->error_code > 699 ||
				!reason_ok(msg->error_reason, sizeof(msg->error_reason))))
		return false;
	/* Binding parses back only its mapping and error. */
	if (msg->method == STUN_METHOD_BINDING &&
	    (msg->has_key || msg->has_peer_key || msg->has_nonce || msg->server_id[0] || msg->target[0] ||
	     msg->has_connect_id || msg->has_decision || msg->has_public || msg->n_local ||
	     msg->has_relay || msg->has_relay_key))
		return false;
	return true;
}

static void put_endpoint(struct stun_writer *w, uint16_t type, const struct endpoint *ep)
{
	struct stun_addr sa;
	stun_addr_from_endpoint(&sa, ep);
	stun_put_xor_addr(w, type, &sa);
}

int medproto_encode(uint8_t *buf, size_t cap, const struct medmsg *msg, const uint8_t *k, uint8_t dir,
		    bool fingerprint)
{
	struct stun_writer w;
	if (!encodable(msg))
		return -EINVAL;
	stun_begin(&w, buf, cap, msg->method, msg->cls, msg->txid);
	if (msg->has_key)
		stun_put(&w, MEDPROTO_ATTR_KEY, msg->key, KEY_LEN);
	if (msg->has_peer_key)
		stun_put(&w, MEDPROTO_ATTR_PEER_KEY, msg->peer_key, KEY_LEN);
	if (msg->has_nonce)
		stun_put(&w, MEDPROTO_ATTR_NONCE, msg->nonce, MEDPROTO_NONCE_LEN);
	if (msg->server_id[0])
		stun_put(&w, MEDPROTO_ATTR_SERVER_ID, msg->server_id, strlen(msg->server_id));
	if (msg->target[0])
		stun_put(&w, MEDPROTO_ATTR_TARGET, msg->target, strlen(msg->target));
	if (msg->has_connect_id)
		stun_put(&w, MEDPROTO_ATTR_CONNECT_ID, msg->connect_id, STUN_TXID_LEN);
	if (msg->has_decision)
		stun_put_u32(&w, MEDPROTO_ATTR_DECISION, msg->decision);
	if (msg->error_code)
		stun_put_error(&w, msg->error_code, msg->error_reason);
	if (msg->has_mapped)
		put_endpoint(&w, STUN_ATTR_XOR_MAPPED_ADDRESS, &msg->mapped);
	if (msg->has_public)
		put_endpoint(&w, MEDPROTO_ATTR_PUBLIC_ADDR, &msg->public_addr);
	for (unsigned i = 0; i < msg->n_local; i++)
		put_endpoint(&w, MEDPROTO_ATTR_LOCAL_ADDR, &msg->local[i]);
	if (msg->has_relay)
		put_endpoint(&w, MEDPROTO_ATTR_RELAY_ADDR, &msg->relay_addr);
	if (msg->has_relay_key)
		stun_put(&w, MEDPROTO_ATTR_RELAY_KEY, msg->relay_key, KEY_LEN);
	if (k) {
		uint8_t *mac = stun_reserve(&w, MEDPROTO_ATTR_AUTH, MEDPROTO_AUTH_LEN);
		if (mac)
			auth_mac(mac, k, dir, buf, (size_t)(mac - buf) - 4);
	}
	if (fingerprint)
		stun_put_fingerprint(&w);
	return stun_end(&w);
}
