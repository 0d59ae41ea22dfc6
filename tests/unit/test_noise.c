/*
 * test_noise.c - the Noise engine (shared/noise.c) against the public
 * cacophony vectors in tests/vectors/, then against everything a peer or a
 * careless caller can do wrong: tampered and truncated handshake messages
 * (which must fail and leave the state untouched), the wrong responder key,
 * the wrong psk, tampered transport messages, calls out of turn, short
 * buffers, and an all-zero DH result.
 *
 * The vector file is read with a small JSON reader of our own: it builds a
 * tree of objects, arrays and (unescaped) strings in a fixed node pool,
 * walking the text through the bounds-checked reader of shared/reader.h.
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
#include <sodium.h>

#include "noise.h"
#include "reader.h"

#ifndef TUND_SOURCE_DIR
#define TUND_SOURCE_DIR "."
#endif
#define VECTOR_FILE TUND_SOURCE_DIR "/tests/vectors/noise-25519-chachapoly-blake2b.json"

#define JSON_MAX_NODES 8192
#define JSON_MAX_DEPTH 16
#define JSON_MAX_FILE  (4u << 20)
#define BUF 2048

/* ---- a minimal JSON tree ------------------------------------------------- */

enum jtype { J_STR, J_ARR, J_OBJ, J_SCALAR };

struct jnode {
	enum jtype type;
	const char *key, *str; /* spans into the text, not NUL-terminated */
	size_t key_len, str_len;
	int child, next;       /* node indices, -1 for none */
};

struct jdoc {
	char *text;
	size_t len;
	struct jnode *nodes;
	int n;
};

static int peek(const struct rd *r)
{
	return rd_left(r) ? r->p[r->off] : -1;
}

static void skip_ws(struct rd *r)
{
	while (peek(r) == ' ' || peek(r) == '\n' || peek(r) == '\r' || peek(r) == '\t')
		rd_skip(r, 1);
}

/* A string's raw span; escapes are stepped over, never interpreted. */
static bool parse_string(struct rd *r, const char **s, size_t *len)
{
	if (rd_u8(r) != '"')
		return false;
	size_t start = r->off;
	for (;;) {
		int c = peek(r);
		if (c < 0x20) /* end of input (-1) or a raw control character */
			return false;
		rd_skip(r, 1);
		if (c == '"')
			break;
		if (c == '\\' && !rd_take(r, 1))
			return false;
	}
	*s = (const char *)r->p + start;
	*len = r->off - 1 - start;
	return rd_ok(r);
}

static int new_node(struct jdoc *d, enum jtype t)
{
	if (d->n >= JSON_MAX_NODES)
		return -1;
	d->nodes[d->n] = (struct jnode){ .type = t, .child = -1, .next = -1 };
	return d->n++;
}

static int parse_value(struct jdoc *d, struct rd *r, int depth);

/* Arrays and objects: members chained through .next in file order. */
static int parse_container(struct jdoc *d, struct rd *r, int depth, bool obj)
{
	int self = new_node(d, obj ? J_OBJ : J_ARR), last = -1;
	char close = obj ? '}' : ']';

	rd_skip(r, 1);
	skip_ws(r);
	if (self < 0)
		return -1;
	if (peek(r) == close) {
		rd_skip(r, 1);
		return self;
	}
	for (;;) {
		const char *key = NULL;
		size_t key_len = 0;
		skip_ws(r);
		if (obj) {
			if (!parse_string(r, &key, &key_len))
				return -1;
			skip_ws(r);
			if (rd_u8(r) != ':')
				return -1;
		}
		int v = parse_value(d, r, depth + 1);
		if (v < 0)
			return -1;
		d->nodes[v].key = key;
		d->nodes[v].key_len = key_len;
		if (last < 0)
			d->nodes[self].child = v;
		else
			d->nodes[last].next = v;
		last = v;
		skip_ws(r);
		int c = rd_u8(r);
		if (c == close)
			return rd_ok(r) ? self : -1;
		if (c != ',')
			return -1;
	}
}

static int parse_value(struct jdoc *d, struct rd *r, int depth)
{
	int c, self;

	if (depth > JSON_MAX_DEPTH)
		return -1;
	skip_ws(r);
	c = peek(r);
	if (c == '{' || c == '[')
		return parse_container(d, r, depth, c == '{');
	if (c == '"') {
		const char *s;
		size_t len;
		if (!parse_string(r, &s, &len) || (self = new_node(d, J_STR)) < 0)
			return -1;
		d->nodes[self].str = s;
		d->nodes[self].str_len = len;
		return self;
	}
	/* numbers, true, false, null: kept as an opaque span */
	size_t start = r->off;
	while ((c = peek(r)) >= 0 && (c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9') ||
				      (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
		rd_skip(r, 1);
	if (r->off == start || (self = new_node(d, J_SCALAR)) < 0)
		return -1;
	d->nodes[self].str = (const char *)r->p + start;
	d->nodes[self].str_len = r->off - start;
	return self;
}

static void jdoc_free(struct jdoc *d)
{
	free(d->text);
	free(d->nodes);
	free(d);
}

/* Returns NULL if the file is missing, too big or not valid JSON. */
static struct jdoc *jdoc_load(const char *path)
{
	struct jdoc *d = calloc(1, sizeof(*d));
	FILE *f = fopen(path, "rb");

	if (!d || !f)
		goto fail;
	d->text = malloc(JSON_MAX_FILE);
	d->nodes = calloc(JSON_MAX_NODES, sizeof(*d->nodes));
	if (!d->text || !d->nodes)
		goto fail;
	d->len = fread(d->text, 1, JSON_MAX_FILE, f);
	if (ferror(f) || d->len == JSON_MAX_FILE)
		goto fail;
	fclose(f);
	f = NULL;

	struct rd r = rd_init(d->text, d->len);
	if (parse_value(d, &r, 0) != 0)
		goto fail;
	skip_ws(&r);
	if (!rd_ok(&r) || rd_left(&r) != 0)
		goto fail;
	return d;
fail:
	if (f)
		fclose(f);
	if (d)
		jdoc_free(d);
	return NULL;
}

static int jget(const struct jdoc *d, int obj, const char *key)
{
	if (obj < 0 || d->nodes[obj].type != J_OBJ)
		return -1;
	for (int i = d->nodes[obj].child; i >= 0; i = d->nodes[i].next)
		if (d->nodes[i].key_len == strlen(key) && !memcmp(d->nodes[i].key, key, strlen(key)))
			return i;
	return -1;
}

static bool jstr_is(const struct jdoc *d, int node, const char *s)
{
	return node >= 0 && d->nodes[node].type == J_STR && d->nodes[node].str_len == strlen(s) &&
	       !memcmp(d->nodes[node].str, s, strlen(s));
}

/* Decodes a hex string node; fails the test on anything but clean hex. */
static size_t jhex(const struct jdoc *d, int node, uint8_t *out, size_t cap)
{
	size_t bin_len = 0;
	const char *end = NULL;

	assert_true(node >= 0);
	assert_int_equal(d->nodes[node].type, J_STR);
	assert_true(d->nodes[node].str_len % 2 == 0 && d->nodes[node].str_len / 2 <= cap);
	assert_int_equal(sodium_hex2bin(out, cap, d->nodes[node].str, d->nodes[node].str_len, NULL,
					&bin_len, &end), 0);
	assert_ptr_equal(end, d->nodes[node].str + d->nodes[node].str_len);
	return bin_len;
}

/* A 32-byte key, given directly or (psks) as an array of exactly one;
 * NULL when the vector does not have the field. */
static const uint8_t *jkey(const struct jdoc *d, int obj, const char *key, uint8_t out[32])
{
	int n = jget(d, obj, key);
	if (n >= 0 && d->nodes[n].type == J_ARR) {
		n = d->nodes[n].child;
		assert_true(n >= 0 && d->nodes[n].next < 0);
	}
	if (n < 0)
		return NULL;
	assert_int_equal(jhex(d, n, out, 32), 32);
	return out;
}

/* ---- the vectors -------------------------------------------------------- */

struct side {
	uint8_t prologue[256], s[32], e[32], rs[32], psk[32];
	size_t prologue_len;
	const uint8_t *s_p, *rs_p, *psk_p;
};

static void load_side(const struct jdoc *d, int v, const char *pfx, struct side *sd)
{
	char key[64];

	snprintf(key, sizeof(key), "%s_prologue", pfx);
	sd->prologue_len = jhex(d, jget(d, v, key), sd->prologue, sizeof(sd->prologue));
	snprintf(key, sizeof(key), "%s_ephemeral", pfx);
	assert_non_null(jkey(d, v, key, sd->e));
	snprintf(key, sizeof(key), "%s_static", pfx);
	assert_non_null(sd->s_p = jkey(d, v, key, sd->s));
	snprintf(key, sizeof(key), "%s_remote_static", pfx);
	sd->rs_p = jkey(d, v, key, sd->rs);
	snprintf(key, sizeof(key), "%s_psks", pfx);
	sd->psk_p = jkey(d, v, key, sd->psk);
}

/* One message: the sender writes, the bytes must equal the vector's, and
 * the receiver must recover the payload. */
static void vector_handshake_msg(const struct jdoc *d, int msg, struct noise_handshake *tx,
				 struct noise_handshake *rx)
{
	uint8_t payload[BUF], ct[BUF], out[BUF], got[BUF];
	size_t plen = jhex(d, jget(d, msg, "payload"), payload, sizeof(payload));
	size_t clen = jhex(d, jget(d, msg, "ciphertext"), ct, sizeof(ct));
	size_t out_len = 0, got_len = 0;

	assert_int_equal(noise_write_message(tx, payload, plen, out, sizeof(out), &out_len), 0);
	assert_int_equal(out_len, clen);
	assert_memory_equal(out, ct, clen);
	assert_int_equal(noise_read_message(rx, ct, clen, got, sizeof(got), &got_len), 0);
	assert_int_equal(got_len, plen);
	assert_memory_equal(got, payload, plen);
}

static void vector_transport_msg(const struct jdoc *d, int msg, struct noise_cipher *tx,
				 struct noise_cipher *rx)
{
	uint8_t payload[BUF], ct[BUF], out[BUF], got[BUF];
	size_t plen = jhex(d, jget(d, msg, "payload"), payload, sizeof(payload));
	size_t clen = jhex(d, jget(d, msg, "ciphertext"), ct, sizeof(ct));

	assert_int_equal(clen, plen + NOISE_TAG_LEN);
	assert_int_equal(noise_cipher_encrypt(tx, NULL, 0, payload, plen, out), 0);
	assert_memory_equal(out, ct, clen);
	assert_int_equal(noise_cipher_decrypt(rx, NULL, 0, ct, clen, got), 0);
	assert_memory_equal(got, payload, plen);
}

static void run_vector(const struct jdoc *d, int v, enum noise_pattern pat)
{
	struct side is = { 0 }, rs = { 0 };
	struct noise_handshake ini, res;
	struct noise_cipher i_tx, i_rx, r_tx, r_rx;
	uint8_t want_h[NOISE_HASH_LEN], h[NOISE_HASH_LEN], ipub[32];

	load_side(d, v, "init", &is);
	load_side(d, v, "resp", &rs);
	assert_non_null(is.rs_p);
	assert_true(pat == NOISE_IK || (is.psk_p && rs.psk_p));
	assert_int_equal(noise_handshake_init(&ini, pat, true, is.prologue, is.prologue_len, is.s,
					      is.rs, is.psk_p), 0);
	assert_int_equal(noise_handshake_init(&res, pat, false, rs.prologue, rs.prologue_len, rs.s,
					      NULL, rs.psk_p), 0);
	noise_handshake_set_ephemeral(&ini, is.e);
	noise_handshake_set_ephemeral(&res, rs.e);

	int msgs = jget(d, v, "messages");
	assert_true(msgs >= 0 && d->nodes[msgs].type == J_ARR);
	int msg = d->nodes[msgs].child;
	assert_true(msg >= 0);
	vector_handshake_msg(d, msg, &ini, &res);
	msg = d->nodes[msg].next;
	assert_true(msg >= 0);
	vector_handshake_msg(d, msg, &res, &ini);
	assert_true(noise_handshake_done(&ini) && noise_handshake_done(&res));

	/* The responder learned the initiator's static key. */
	crypto_scalarmult_curve25519_base(ipub, is.s);
	assert_memory_equal(res.rs, ipub, 32);

	assert_int_equal(jhex(d, jget(d, v, "handshake_hash"), want_h, sizeof(want_h)), NOISE_HASH_LEN);
	noise_handshake_hash(&ini, h);
	assert_memory_equal(h, want_h, NOISE_HASH_LEN);
	noise_handshake_hash(&res, h);
	assert_memory_equal(h, want_h, NOISE_HASH_LEN);

	assert_int_equal(noise_handshake_split(&ini, &i_tx, &i_rx), 0);
	assert_int_equal(noise_handshake_split(&res, &r_tx, &r_rx), 0);
	/* Transport: index 2 goes initiator -> responder, then they alternate. */
	int index = 2;
	for (msg = d->nodes[msg].next; msg >= 0; msg = d->nodes[msg].next, index++) {
		if (index % 2 == 0)
			vector_transport_msg(d, msg, &i_tx, &r_rx);
		else
			vector_transport_msg(d, msg, &r_tx, &i_rx);
	}
	assert_true(index > 2);
	noise_handshake_wipe(&ini);
	noise_handshake_wipe(&res);
}

static void test_vectors(void **state)
{
	struct jdoc *d = *state;
	int seen[2] = { 0, 0 }, total = 0;

	if (!d)
		fail_msg("cannot read or parse %s", VECTOR_FILE);
	int vecs = jget(d, 0, "vectors");
	assert_true(vecs >= 0 && d->nodes[vecs].type == J_ARR);
	for (int v = d->nodes[vecs].child; v >= 0; v = d->nodes[v].next) {
		int name = jget(d, v, "protocol_name");
		enum noise_pattern pat;
		if (jstr_is(d, name, "Noise_IK_25519_ChaChaPoly_BLAKE2b"))
			pat = NOISE_IK;
		else if (jstr_is(d, name, "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2b"))
			pat = NOISE_IKPSK2;
		else
			continue;
		run_vector(d, v, pat);
		seen[pat]++;
		total++;
	}
	printf("noise vectors verified: %d (IK %d, IKpsk2 %d)\n", total, seen[NOISE_IK],
	       seen[NOISE_IKPSK2]);
	assert_true(total > 0);
	assert_true(seen[NOISE_IK] > 0 && seen[NOISE_IKPSK2] > 0);
}

/* The reader itself must refuse broken input rather than read past it. */
static void test_json_reader_rejects(void **state)
{
	(void)state;
	static const char *const bad[] = { "", "{", "{\"a\"", "{\"a\":", "{\"a\":\"x", "[1,",
					   "{\"a\" \"b\"}", "\"abc\\", "[1 2]", "{}x", "[\"\x01\"]" };
	struct jdoc d = { .nodes = calloc(JSON_MAX_NODES, sizeof(struct jnode)) };

	assert_non_null(d.nodes);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rd r = rd_init(bad[i], strlen(bad[i]));
		d.n = 0;
		int root = parse_value(&d, &r, 0);
		skip_ws(&r);
		assert_false(root == 0 && rd_ok(&r) && rd_left(&r) == 0);
	}
	static const char good[] = "{\"k\": [\"v\", {}], \"n\": 12}";
	struct rd r = rd_init(good, strlen(good));
	d.n = 0;
	assert_int_equal(parse_value(&d, &r, 0), 0);
	assert_true(jget(&d, 0, "n") >= 0 && jget(&d, 0, "missing") < 0);
	free(d.nodes);
}

/* ---- fixed keys for the negative tests ---------------------------------- */

struct pair {
	enum noise_pattern pat;
	struct noise_handshake ini, res;
	uint8_t m1[BUF], m2[BUF];
	size_t m1_len, m2_len;
};

static void label_key(uint8_t out[32], const char *label)
{
	noise_hash(out, 32, (const uint8_t *)label, strlen(label), NULL, 0);
}

static const uint8_t payload1[] = "first payload";
static const uint8_t payload2[] = "second";

/* Fresh initiator and responder with deterministic keys; rs_label and
 * rpsk_label let a test give the initiator a wrong idea of the responder. */
static void pair_init(struct pair *p, enum noise_pattern pat, const char *rs_label,
		      const char *rpsk_label)
{
	uint8_t is[32], rsk[32], rpub[32], ie[32], re[32], ipsk[32], rpsk[32];

	label_key(is, "initiator static");
	label_key(rsk, "responder static");
	label_key(ie, "initiator ephemeral");
	label_key(re, "responder ephemeral");
	label_key(ipsk, "psk");
	label_key(rpsk, rpsk_label ? rpsk_label : "psk");
	if (rs_label) {
		uint8_t other[32];
		label_key(other, rs_label);
		crypto_scalarmult_curve25519_base(rpub, other);
	} else {
		crypto_scalarmult_curve25519_base(rpub, rsk);
	}
	memset(p, 0, sizeof(*p));
	p->pat = pat;
	assert_int_equal(noise_handshake_init(&p->ini, pat, true, (const uint8_t *)"pro", 3, is,
					      rpub, ipsk), 0);
	assert_int_equal(noise_handshake_init(&p->res, pat, false, (const uint8_t *)"pro", 3, rsk,
					      NULL, rpsk), 0);
	noise_handshake_set_ephemeral(&p->ini, ie);
	noise_handshake_set_ephemeral(&p->res, re);
}

static void pair_msg1(struct pair *p)
{
	assert_int_equal(noise_write_message(&p->ini, payload1, sizeof(payload1), p->m1,
					     sizeof(p->m1), &p->m1_len), 0);
	assert_int_equal(p->m1_len, 32 + 48 + sizeof(payload1) + 16);
}

static void pair_msg2(struct pair *p)
{
	uint8_t got[BUF];
	size_t got_len;

	assert_int_equal(noise_read_message(&p->res, p->m1, p->m1_len, got, sizeof(got), &got_len), 0);
	assert_int_equal(got_len, sizeof(payload1));
	assert_int_equal(noise_write_message(&p->res, payload2, sizeof(payload2), p->m2,
					     sizeof(p->m2), &p->m2_len), 0);
	assert_int_equal(p->m2_len, 32 + sizeof(payload2) + 16);
}

/* Every damaged form of msg must fail with -EBADMSG and leave rx exactly as
 * it was; then the genuine message must still be accepted. */
static void expect_rejected_then_ok(struct noise_handshake *rx, const uint8_t *msg, size_t len,
				    size_t want_payload)
{
	struct noise_handshake saved = *rx;
	uint8_t bad[BUF], got[BUF];
	size_t got_len;

	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit += 7) {
			memcpy(bad, msg, len);
			bad[i] ^= (uint8_t)(1u << bit);
			assert_int_equal(noise_read_message(rx, bad, len, got, sizeof(got), &got_len),
					 -EBADMSG);
			assert_memory_equal(rx, &saved, sizeof(saved));
		}
	}
	for (size_t cut = 0; cut < len; cut++) {
		assert_int_equal(noise_read_message(rx, msg, cut, got, sizeof(got), &got_len), -EBADMSG);
		assert_memory_equal(rx, &saved, sizeof(saved));
	}
	memcpy(bad, msg, len);
	bad[len] = 0;
	assert_int_equal(noise_read_message(rx, bad, len + 1, got, sizeof(got), &got_len), -EBADMSG);
	assert_memory_equal(rx, &saved, sizeof(saved));

	assert_int_equal(noise_read_message(rx, msg, len, got, sizeof(got), &got_len), 0);
	assert_int_equal(got_len, want_payload);
}

static void test_tampered_handshake(void **state)
{
	(void)state;
	for (int pat = NOISE_IK; pat <= NOISE_IKPSK2; pat++) {
		struct pair p;
		pair_init(&p, pat, NULL, NULL);
		pair_msg1(&p);
		expect_rejected_then_ok(&p.res, p.m1, p.m1_len, sizeof(payload1));
		assert_int_equal(noise_write_message(&p.res, payload2, sizeof(payload2), p.m2,
						     sizeof(p.m2), &p.m2_len), 0);
		expect_rejected_then_ok(&p.ini, p.m2, p.m2_len, sizeof(payload2));
		assert_true(noise_handshake_done(&p.ini) && noise_handshake_done(&p.res));
	}
}

static void test_wrong_responder_static(void **state)
{
	(void)state;
	for (int pat = NOISE_IK; pat <= NOISE_IKPSK2; pat++) {
		struct pair p;
		uint8_t got[BUF];
		size_t got_len;
		pair_init(&p, pat, "somebody else", NULL);
		pair_msg1(&p);
		assert_int_equal(noise_read_message(&p.res, p.m1, p.m1_len, got, sizeof(got), &got_len),
				 -EBADMSG);
		assert_int_equal(p.res.msg_index, 0);
	}
}

static void test_wrong_psk(void **state)
{
	(void)state;
	struct pair p;
	uint8_t got[BUF];
	size_t got_len;

	pair_init(&p, NOISE_IKPSK2, NULL, "not the psk");
	pair_msg1(&p);
	pair_msg2(&p); /* psk2 is mixed only at the end of message 2 */
	assert_int_equal(noise_read_message(&p.ini, p.m2, p.m2_len, got, sizeof(got), &got_len),
			 -EBADMSG);
	assert_false(noise_handshake_done(&p.ini));
}

static void finish(struct pair *p, struct noise_cipher *i_tx, struct noise_cipher *i_rx,
		   struct noise_cipher *r_tx, struct noise_cipher *r_rx)
{
	uint8_t got[BUF];
	size_t got_len;

	pair_msg1(p);
	pair_msg2(p);
	assert_int_equal(noise_read_message(&p->ini, p->m2, p->m2_len, got, sizeof(got), &got_len), 0);
	assert_int_equal(noise_handshake_split(&p->ini, i_tx, i_rx), 0);
	assert_int_equal(noise_handshake_split(&p->res, r_tx, r_rx), 0);
}

static void test_tampered_transport(void **state)
{
	(void)state;
	struct pair p;
	struct noise_cipher i_tx, i_rx, r_tx, r_rx;
	static const uint8_t msg[] = "transport data";
	static const uint8_t ad[] = "header";
	uint8_t ct[BUF], bad[BUF], got[BUF];
	size_t len = sizeof(msg) + NOISE_TAG_LEN;

	pair_init(&p, NOISE_IKPSK2, NULL, NULL);
	finish(&p, &i_tx, &i_rx, &r_tx, &r_rx);
	assert_memory_equal(i_tx.k, r_rx.k, NOISE_KEY_LEN);
	assert_memory_equal(i_rx.k, r_tx.k, NOISE_KEY_LEN);
	assert_memory_not_equal(i_tx.k, i_rx.k, NOISE_KEY_LEN);

	assert_int_equal(noise_cipher_encrypt(&i_tx, ad, sizeof(ad), msg, sizeof(msg), ct), 0);
	assert_int_equal(i_tx.n, 1);
	for (size_t bit = 0; bit < len * 8; bit++) {
		memcpy(bad, ct, len);
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(noise_cipher_decrypt(&r_rx, ad, sizeof(ad), bad, len, got), -EBADMSG);
		assert_int_equal(r_rx.n, 0); /* a failure does not use up the nonce */
	}
	assert_int_equal(noise_cipher_decrypt(&r_rx, (const uint8_t *)"HEADER", 7, ct, len, got),
			 -EBADMSG);
	assert_int_equal(noise_cipher_decrypt(&r_rx, ad, sizeof(ad), ct, NOISE_TAG_LEN - 1, got),
			 -EBADMSG);
	assert_int_equal(noise_cipher_decrypt(&r_rx, ad, sizeof(ad), ct, len, got), 0);
	assert_memory_equal(got, msg, sizeof(msg));
	assert_int_equal(r_rx.n, 1);
	/* The same ciphertext again is under the wrong nonce now. */
	assert_int_equal(noise_cipher_decrypt(&r_rx, ad, sizeof(ad), ct, len, got), -EBADMSG);
	/* The reverse direction works with its own key. */
	assert_int_equal(noise_cipher_encrypt(&r_tx, NULL, 0, msg, sizeof(msg), ct), 0);
	assert_int_equal(noise_cipher_decrypt(&i_rx, NULL, 0, ct, len, got), 0);
	assert_memory_equal(got, msg, sizeof(msg));
	/* Nonce 2^64-1 is reserved. */
	i_tx.n = NOISE_MAX_NONCE;
	assert_int_equal(noise_cipher_encrypt(&i_tx, NULL, 0, msg, sizeof(msg), ct), -EINVAL);
	assert_int_equal(i_tx.n, NOISE_MAX_NONCE);
	r_rx.n = NOISE_MAX_NONCE;
	assert_int_equal(noise_cipher_decrypt(&r_rx, NULL, 0, ct, len, got), -EBADMSG);
}

static void test_wrong_turn(void **state)
{
	(void)state;
	struct pair p;
	struct noise_cipher a, b;
	uint8_t buf[BUF] = { 0 }, got[BUF];
	size_t n;

	pair_init(&p, NOISE_IK, NULL, NULL);
	assert_int_equal(noise_handshake_split(&p.ini, &a, &b), -EINVAL);
	assert_int_equal(noise_read_message(&p.ini, buf, 200, got, sizeof(got), &n), -EINVAL);
	assert_int_equal(noise_write_message(&p.res, NULL, 0, buf, sizeof(buf), &n), -EINVAL);
	pair_msg1(&p);
	assert_int_equal(noise_write_message(&p.ini, NULL, 0, buf, sizeof(buf), &n), -EINVAL);
	pair_msg2(&p);
	assert_int_equal(noise_read_message(&p.res, p.m1, p.m1_len, got, sizeof(got), &n), -EINVAL);
	assert_int_equal(noise_write_message(&p.res, NULL, 0, buf, sizeof(buf), &n), -EINVAL);
	assert_int_equal(noise_handshake_split(&p.res, &a, &b), 0);
	assert_int_equal(noise_read_message(&p.ini, p.m2, p.m2_len, got, sizeof(got), &n), 0);
	assert_int_equal(noise_read_message(&p.ini, p.m2, p.m2_len, got, sizeof(got), &n), -EINVAL);
	assert_int_equal(noise_write_message(&p.ini, NULL, 0, buf, sizeof(buf), &n), -EINVAL);

	/* A wiped handshake is dead. */
	noise_handshake_wipe(&p.ini);
	assert_false(noise_handshake_done(&p.ini));
	assert_int_equal(noise_handshake_split(&p.ini, &a, &b), -EINVAL);
	pair_init(&p, NOISE_IK, NULL, NULL);
	pair_msg1(&p);
	noise_handshake_wipe(&p.ini);
	noise_handshake_wipe(&p.res);
	assert_int_equal(noise_write_message(&p.ini, NULL, 0, buf, sizeof(buf), &n), -EINVAL);
	assert_int_equal(noise_read_message(&p.res, p.m1, p.m1_len, got, sizeof(got), &n), -EINVAL);

	/* Missing inputs at init leave an unusable handshake. */
	uint8_t k[32] = { 1 };
	assert_int_equal(noise_handshake_init(&p.ini, NOISE_IK, true, NULL, 0, k, NULL, NULL), -EINVAL);
	assert_int_equal(noise_write_message(&p.ini, NULL, 0, buf, sizeof(buf), &n), -EINVAL);
	assert_int_equal(noise_handshake_init(&p.res, NOISE_IKPSK2, false, NULL, 0, k, NULL, NULL),
			 -EINVAL);
	assert_int_equal(noise_read_message(&p.res, p.m1, p.m1_len, got, sizeof(got), &n), -EINVAL);
	assert_int_equal(noise_handshake_init(&p.res, (enum noise_pattern)7, false, NULL, 0, k, NULL,
					      NULL), -EINVAL);
}

/* Short buffers: -ENOSPC, no state change, and a retry gives the same bytes. */
static void test_short_buffers(void **state)
{
	(void)state;
	struct pair p, q;
	uint8_t buf[BUF], got[BUF];
	size_t n;

	pair_init(&p, NOISE_IKPSK2, NULL, NULL);
	q = p;
	for (size_t cap = 0; cap < 32 + 48 + sizeof(payload1) + 16; cap += 7) {
		assert_int_equal(noise_write_message(&p.ini, payload1, sizeof(payload1), buf, cap, &n),
				 -ENOSPC);
		assert_memory_equal(&p.ini, &q.ini, sizeof(q.ini));
	}
	pair_msg1(&p);
	pair_msg1(&q);
	assert_memory_equal(p.m1, q.m1, p.m1_len);

	assert_int_equal(noise_read_message(&p.res, p.m1, p.m1_len, got, sizeof(payload1) - 1, &n),
			 -ENOSPC);
	assert_int_equal(noise_read_message(&p.res, p.m1, p.m1_len, NULL, 0, &n), -ENOSPC);
	assert_memory_equal(&p.res, &q.res, sizeof(q.res));
	assert_int_equal(noise_read_message(&p.res, p.m1, p.m1_len, got, sizeof(payload1), &n), 0);
	assert_int_equal(n, sizeof(payload1));
	assert_memory_equal(got, payload1, sizeof(payload1));
}

/* An all-zero DH output (here: the peer "key" 0) must be refused. */
static void test_zero_dh(void **state)
{
	(void)state;
	struct noise_handshake hs;
	uint8_t s[32], zero[32] = { 0 }, buf[BUF], got[BUF];
	size_t n;

	label_key(s, "initiator static");
	assert_int_equal(noise_handshake_init(&hs, NOISE_IK, true, NULL, 0, s, zero, NULL), 0);
	assert_int_equal(noise_write_message(&hs, NULL, 0, buf, sizeof(buf), &n), -EBADMSG);
	assert_int_equal(hs.msg_index, 0);

	/* A responder reading an all-zero ephemeral fails before any decryption. */
	assert_int_equal(noise_handshake_init(&hs, NOISE_IK, false, NULL, 0, s, NULL, NULL), 0);
	memset(buf, 0, 32 + 48 + 16);
	assert_int_equal(noise_read_message(&hs, buf, 32 + 48 + 16, got, sizeof(got), &n), -EBADMSG);
	noise_handshake_wipe(&hs);
}

/* Without a preset ephemeral each handshake draws a fresh one. */
static void test_random_ephemeral(void **state)
{
	(void)state;
	uint8_t first[BUF];
	size_t first_len = 0;

	for (int round = 0; round < 2; round++) {
		struct noise_handshake ini, res;
		struct noise_cipher i_tx, i_rx, r_tx, r_rx;
		uint8_t is[32], rsk[32], rpub[32], m[BUF], got[BUF];
		size_t m_len, got_len;
		label_key(is, "i");
		label_key(rsk, "r");
		crypto_scalarmult_curve25519_base(rpub, rsk);
		assert_int_equal(noise_handshake_init(&ini, NOISE_IK, true, NULL, 0, is, rpub, NULL), 0);
		assert_int_equal(noise_handshake_init(&res, NOISE_IK, false, NULL, 0, rsk, NULL, NULL), 0);
		assert_int_equal(noise_write_message(&ini, NULL, 0, m, sizeof(m), &m_len), 0);
		assert_int_equal(m_len, 32 + 48 + 16);
		if (round == 0) {
			memcpy(first, m, m_len);
			first_len = m_len;
		} else {
			assert_memory_not_equal(first, m, first_len);
		}
		assert_int_equal(noise_read_message(&res, m, m_len, got, 0, &got_len), 0);
		assert_int_equal(got_len, 0);
		assert_int_equal(noise_write_message(&res, NULL, 0, m, sizeof(m), &m_len), 0);
		assert_int_equal(noise_read_message(&ini, m, m_len, NULL, 0, &got_len), 0);
		assert_int_equal(noise_handshake_split(&ini, &i_tx, &i_rx), 0);
		assert_int_equal(noise_handshake_split(&res, &r_tx, &r_rx), 0);
		assert_memory_equal(i_tx.k, r_rx.k, NOISE_KEY_LEN);
		assert_memory_equal(i_rx.k, r_tx.k, NOISE_KEY_LEN);
	}
}

static void test_aead_in_place(void **state)
{
	(void)state;
	uint8_t key[NOISE_KEY_LEN], buf[64 + NOISE_TAG_LEN], ref[64 + NOISE_TAG_LEN], plain[64];
	uint8_t scratch[64];

	label_key(key, "aead");
	for (size_t i = 0; i < sizeof(plain); i++)
		plain[i] = (uint8_t)(i * 7);
	memcpy(buf, plain, sizeof(plain));
	assert_int_equal(noise_aead_encrypt(key, 5, plain, 4, plain, sizeof(plain), ref), 0);
	assert_int_equal(noise_aead_encrypt(key, 5, plain, 4, buf, sizeof(plain), buf), 0);
	assert_memory_equal(buf, ref, sizeof(ref));
	assert_memory_not_equal(buf, plain, sizeof(plain));
	assert_int_equal(noise_aead_decrypt(key, 6, plain, 4, buf, sizeof(buf), scratch), -EBADMSG);
	assert_int_equal(noise_aead_decrypt(key, 5, plain, 3, buf, sizeof(buf), buf), -EBADMSG);
	memcpy(buf, ref, sizeof(ref)); /* libsodium clears the output of a failed decryption */
	assert_int_equal(noise_aead_decrypt(key, 5, plain, 4, buf, sizeof(buf), buf), 0);
	assert_memory_equal(buf, plain, sizeof(plain));
	/* An empty message is just a tag. */
	assert_int_equal(noise_aead_encrypt(key, 0, NULL, 0, NULL, 0, buf), 0);
	assert_int_equal(noise_aead_decrypt(key, 0, NULL, 0, buf, NOISE_TAG_LEN, NULL), 0);
	assert_int_equal(noise_aead_encrypt(key, NOISE_MAX_NONCE, NULL, 0, NULL, 0, buf), -EINVAL);
}

static void hex_eq(const uint8_t *got, size_t len, const char *hex)
{
	char s[2 * NOISE_HASH_LEN + 1];
	assert_true(len <= NOISE_HASH_LEN);
	sodium_bin2hex(s, sizeof(s), got, len);
	assert_string_equal(s, hex);
}

/* Known answers: RFC 7693 Appendix A, the BLAKE2 keyed KAT, and two more
 * computed with Python's hashlib (an independent BLAKE2b). */
static void test_hash_and_mac(void **state)
{
	(void)state;
	uint8_t out[NOISE_HASH_LEN], key[64], in[3] = { 0, 1, 2 };

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;
	noise_hash(out, 64, (const uint8_t *)"ab", 2, (const uint8_t *)"c", 1);
	hex_eq(out, 64, "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
			"7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923");
	noise_hash(out, 32, (const uint8_t *)"abc", 3, NULL, 0);
	hex_eq(out, 32, "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
	noise_mac(out, 64, key, 64, NULL, 0);
	hex_eq(out, 64, "10ebb67700b1868efb4417987acf4690ae9d972fb7a590c2f02871799aaa4786"
			"b5e996e8f0f4eb981fc214b005f42d2ff4233499391653df7aefcbc13fc51568");
	noise_mac(out, 16, key, 32, in, sizeof(in));
	hex_eq(out, 16, "194701a386811588a35d83be1f36769c");
}

static int load_group(void **state)
{
	*state = jdoc_load(VECTOR_FILE); /* NULL makes test_vectors fail, not skip */
	return 0;
}

static int free_group(void **state)
{
	if (*state)
		jdoc_free(*state);
	return 0;
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_json_reader_rejects),
		cmocka_unit_test(test_tampered_handshake),
		cmocka_unit_test(test_wrong_responder_static),
		cmocka_unit_test(test_wrong_psk),
		cmocka_unit_test(test_tampered_transport),
		cmocka_unit_test(test_wrong_turn),
		cmocka_unit_test(test_short_buffers),
		cmocka_unit_test(test_zero_dh),
		cmocka_unit_test(test_random_ephemeral),
		cmocka_unit_test(test_aead_in_place),
		cmocka_unit_test(test_hash_and_mac),
	};
	return cmocka_run_group_tests(tests, load_group, free_group);
}
