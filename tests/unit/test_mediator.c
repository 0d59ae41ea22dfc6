/*
 * test_mediator.c - the mediator's protocol engine without sockets: fake
 * io callbacks record every datagram, TCP write and close request, and
 * the tests play servers and clients with real keys, checking every reply
 * the way a tund would (decode, parse, TUND-AUTH under its own key).
 * Time is a number the tests move.
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

#include "log.h"
#include "mediator.h"
#include "medproto.h"
#include "stun.h"

#define MAX_OUT 64

struct sent {
	bool tcp;
	unsigned port;
	struct endpoint to;
	void *conn;
	size_t len;
	uint8_t buf[STUN_MAX_MSG];
};

struct party {
	uint8_t priv[KEY_LEN], pub[KEY_LEN], k[32];
	uint8_t sys[UUID_LEN];
	char uuid[UUID_STR_LEN + 1];
};

struct fx {
	struct mediator *m;
	uint8_t mpriv[KEY_LEN], mpub[KEY_LEN];
	struct sent out[MAX_OUT];
	int n_out;
	void *closed[16];
	int n_closed;
	uint64_t now;
	struct party srv, cli;
};

/* Tokens whose addresses stand for the transport's connections. */
static int conn_s1, conn_s2, conn_c;

static const struct endpoint SRV_TCP = { 0xcb00710a, 40000 };
static const struct endpoint SRV_UDP = { 0xcb00710a, 41641 };
static const struct endpoint CLI_UDP = { 0xcb007114, 51000 };
static const struct endpoint CLI_TCP = { 0xcb007114, 52000 };
static const struct endpoint SRV_LOCAL = { 0xc0a8010a, 41641 };
static const struct endpoint CLI_LOCAL = { 0xc0a80714, 51000 };

static void io_udp(void *ctx, unsigned port, const struct endpoint *to, const uint8_t *buf, size_t len)
{
	struct fx *fx = ctx;
	assert_true(fx->n_out < MAX_OUT);
	struct sent *s = &fx->out[fx->n_out++];
	*s = (struct sent){ .port = port, .to = *to, .len = len };
	memcpy(s->buf, buf, len);
}

static void io_tcp(void *ctx, void *conn, const uint8_t *buf, size_t len)
{
	struct fx *fx = ctx;
	assert_true(fx->n_out < MAX_OUT);
	struct sent *s = &fx->out[fx->n_out++];
	*s = (struct sent){ .tcp = true, .conn = conn, .len = len };
	memcpy(s->buf, buf, len);
}

static void io_close(void *ctx, void *conn)
{
	struct fx *fx = ctx;
	assert_true(fx->n_closed < 16);
	fx->closed[fx->n_closed++] = conn;
}

static void make_party(struct fx *fx, struct party *p)
{
	key_generate(p->priv);
	assert_int_equal(key_public(p->pub, p->priv), 0);
	assert_int_equal(medproto_auth_key(p->k, p->priv, fx->mpub, p->pub, fx->mpub), 0);
	key_system_id(p->sys, p->pub);
	uuid_format(p->uuid, p->sys);
}

static struct fx *fx_new(bool has_alt)
{
	static struct fx fx;
	const struct mediator_io io = { .ctx = &fx, .udp_send = io_udp, .tcp_send = io_tcp,
					.tcp_close = io_close };
	memset(&fx, 0, sizeof(fx));
	key_generate(fx.mpriv);
	assert_int_equal(key_public(fx.mpub, fx.mpriv), 0);
	assert_int_equal(mediator_new(&fx.m, fx.mpriv, has_alt, &io), 0);
	make_party(&fx, &fx.srv);
	make_party(&fx, &fx.cli);
	fx.now = 1000000;
	return &fx;
}

static int setup(void **state)
{
	*state = fx_new(true);
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	mediator_free(fx->m);
	return 0;
}

static size_t encode(const struct medmsg *mm, const uint8_t *k, uint8_t *buf)
{
	int n = medproto_encode(buf, STUN_MAX_MSG, mm, k, MEDPROTO_DIR_TO_MEDIATOR, false);
	assert_true(n > 0);
	return (size_t)n;
}

static void udp_in(struct fx *fx, const struct endpoint *from, const struct medmsg *mm, const uint8_t *k)
{
	uint8_t buf[STUN_MAX_MSG];
	size_t n = encode(mm, k, buf);
	mediator_udp_input(fx->m, MEDIATOR_PORT_MAIN, from, buf, n, fx->now);
}

static int tcp_in(struct fx *fx, struct med_peer *p, const struct medmsg *mm, const uint8_t *k)
{
	uint8_t buf[STUN_MAX_MSG];
	size_t n = encode(mm, k, buf);
	return mediator_peer_input(fx->m, p, buf, n, fx->now);
}

/* Decodes output i; *auth says whether TUND-AUTH verified under k. */
static void take(struct fx *fx, int i, struct medmsg *mm, const uint8_t *k, bool *auth)
{
	struct stun_msg sm;
	assert_true(i < fx->n_out);
	assert_int_equal(stun_decode(fx->out[i].buf, fx->out[i].len, &sm), 0);
	assert_int_equal(medproto_parse(&sm, mm), 0);
	*auth = k && medproto_auth_ok(&sm, k, MEDPROTO_DIR_FROM_MEDIATOR);
}

/* Forgets what was sent (close requests stay recorded). */
static void clear(struct fx *fx)
{
	fx->n_out = 0;
}

static struct medmsg request(uint16_t method, const struct party *p)
{
	struct medmsg mm = { .method = method, .cls = STUN_REQUEST, .has_key = true };
	stun_new_txid(mm.txid);
	memcpy(mm.key, p->pub, KEY_LEN);
	return mm;
}

/* NONCE and REGISTER on a new peer; asserts success and hands back the
 * mediator's REGISTER success in *reply. */
static struct med_peer *register_server_reply(struct fx *fx, const char *sid, void *conn,
					      struct medmsg *reply)
{
	struct med_peer *p = mediator_peer_open(fx->m, conn, &SRV_TCP);
	struct medmsg mm = { .method = MEDPROTO_METHOD_NONCE, .cls = STUN_REQUEST }, r;
	bool auth;

	assert_non_null(p);
	stun_new_txid(mm.txid);
	clear(fx);
	assert_int_equal(tcp_in(fx, p, &mm, NULL), 0);
	take(fx, 0, &r, NULL, &auth);
	assert_true(r.has_nonce);
	mm = request(MEDPROTO_METHOD_REGISTER, &fx->srv);
	mm.has_nonce = true;
	memcpy(mm.nonce, r.nonce, MEDPROTO_NONCE_LEN);
	snprintf(mm.server_id, sizeof(mm.server_id), "%s", sid);
	mm.local[mm.n_local++] = SRV_LOCAL;
	assert_int_equal(tcp_in(fx, p, &mm, fx->srv.k), MEDIATOR_AUTHENTICATED);
	take(fx, 1, &r, fx->srv.k, &auth);
	assert_int_equal(r.cls, STUN_SUCCESS);
	assert_true(auth);
	assert_true(r.has_mapped);
	assert_true(endpoint_equal(&r.mapped, &SRV_TCP));
	assert_ptr_equal(fx->out[1].conn, conn);
	clear(fx);
	*reply = r;
	return p;
}

static struct med_peer *register_server(struct fx *fx, const char *sid, void *conn)
{
	struct medmsg r;
	return register_server_reply(fx, sid, conn, &r);
}

static struct medmsg connect_req(struct fx *fx, const char *server_id)
{
	struct medmsg mm = request(MEDPROTO_METHOD_CONNECT, &fx->cli);
	if (server_id)
		snprintf(mm.target, sizeof(mm.target), "%s.%s", server_id, fx->srv.uuid);
	else
		snprintf(mm.target, sizeof(mm.target), "%s", fx->srv.uuid);
	mm.local[mm.n_local++] = CLI_LOCAL;
	return mm;
}

static struct medmsg answer_req(struct fx *fx, const struct medmsg *connect, uint32_t decision)
{
	struct medmsg a = request(MEDPROTO_METHOD_ANSWER, &fx->srv);
	a.has_connect_id = a.has_decision = true;
	a.decision = decision;
	memcpy(a.connect_id, connect->txid, STUN_TXID_LEN);
	return a;
}

/* ------------------------------------------------------------ Binding */

static void binding(void **state)
{
	struct fx *fx = *state;
	uint8_t buf[64], txid[STUN_TXID_LEN];
	struct stun_writer w;
	struct stun_msg sm;
	struct medmsg r;

	stun_new_txid(txid);
	stun_begin(&w, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_REQUEST, txid);
	int n = stun_end(&w);
	mediator_udp_input(fx->m, MEDIATOR_PORT_ALT, &CLI_UDP, buf, (size_t)n, fx->now);
	assert_int_equal(fx->n_out, 1);
	assert_int_equal(fx->out[0].port, MEDIATOR_PORT_ALT);   /* answered where it came in */
	assert_true(endpoint_equal(&fx->out[0].to, &CLI_UDP));
	assert_int_equal(stun_decode(fx->out[0].buf, fx->out[0].len, &sm), 0);
	assert_int_equal(medproto_parse(&sm, &r), 0);
	assert_int_equal(r.cls, STUN_SUCCESS);
	assert_memory_equal(r.txid, txid, STUN_TXID_LEN);
	assert_true(endpoint_equal(&r.mapped, &CLI_UDP));
	assert_non_null(stun_find(&sm, STUN_ATTR_SOFTWARE));

	/* change port: from the other one */
	stun_begin(&w, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_REQUEST, txid);
	stun_put_u32(&w, STUN_ATTR_CHANGE_REQUEST, STUN_CHANGE_PORT);
	stun_put_fingerprint(&w);
	n = stun_end(&w);
	mediator_udp_input(fx->m, MEDIATOR_PORT_MAIN, &CLI_UDP, buf, (size_t)n, fx->now);
	assert_int_equal(fx->n_out, 2);
	assert_int_equal(fx->out[1].port, MEDIATOR_PORT_ALT);
	assert_int_equal(stun_decode(fx->out[1].buf, fx->out[1].len, &sm), 0);
	assert_true(sm.has_fingerprint);   /* the request had one */

	/* over TCP a port change means nothing: 420 */
	struct med_peer *p = mediator_peer_open(fx->m, &conn_c, &CLI_TCP);
	assert_int_equal(mediator_peer_input(fx->m, p, buf, (size_t)n, fx->now), 0);
	assert_int_equal(fx->n_out, 3);
	assert_int_equal(stun_decode(fx->out[2].buf, fx->out[2].len, &sm), 0);
	assert_int_equal(medproto_parse(&sm, &r), 0);
	assert_int_equal(r.error_code, 420);
	assert_int_equal(mediator_stats(fx->m)->binding_changed, 1);

	/* indications (keepalives) and garbage get nothing */
	stun_begin(&w, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_INDICATION, txid);
	n = stun_end(&w);
	mediator_udp_input(fx->m, MEDIATOR_PORT_MAIN, &CLI_UDP, buf, (size_t)n, fx->now);
	memset(buf, 0x55, sizeof(buf));
	mediator_udp_input(fx->m, MEDIATOR_PORT_MAIN, &CLI_UDP, buf, sizeof(buf), fx->now);
	assert_int_equal(fx->n_out, 3);
	assert_int_equal(mediator_stats(fx->m)->udp_dropped, 1);
	/* garbage on TCP closes */
	assert_int_equal(mediator_peer_input(fx->m, p, buf, sizeof(buf), fx->now), MEDIATOR_CLOSE);
	assert_int_equal(fx->n_closed, 1);
	mediator_peer_closed(fx->m, p);
}

static void binding_without_alt(void **state)
{
	struct fx *fx = fx_new(false);
	uint8_t buf[64], txid[STUN_TXID_LEN];
	struct stun_writer w;
	struct medmsg r;
	bool auth;

	stun_new_txid(txid);
	stun_begin(&w, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_REQUEST, txid);
	stun_put_u32(&w, STUN_ATTR_CHANGE_REQUEST, STUN_CHANGE_PORT);
	int n = stun_end(&w);
	mediator_udp_input(fx->m, MEDIATOR_PORT_MAIN, &CLI_UDP, buf, (size_t)n, fx->now);
	take(fx, 0, &r, NULL, &auth);
	assert_int_equal(r.cls, STUN_ERROR);
	assert_int_equal(r.error_code, 420);
	assert_int_equal(fx->out[0].port, MEDIATOR_PORT_MAIN);
	mediator_free(fx->m);
}

/* ----------------------------------------------------------- REGISTER */

static void register_refusals(void **state)
{
	struct fx *fx = *state;
	struct med_peer *p = mediator_peer_open(fx->m, &conn_s1, &SRV_TCP);
	struct medmsg mm = request(MEDPROTO_METHOD_REGISTER, &fx->srv), r;
	bool auth;

	/* no nonce was handed out */
	snprintf(mm.server_id, sizeof(mm.server_id), "nvr");
	mm.has_nonce = true;
	assert_int_equal(tcp_in(fx, p, &mm, fx->srv.k), MEDIATOR_CLOSE);
	take(fx, 0, &r, fx->srv.k, &auth);
	assert_int_equal(r.error_code, 401);
	assert_false(r.has_auth);
	assert_ptr_equal(fx->closed[0], &conn_s1);
	mediator_peer_closed(fx->m, p);

	/* a fresh nonce, but a wrong MAC */
	clear(fx);
	p = mediator_peer_open(fx->m, &conn_s1, &SRV_TCP);
	struct medmsg nonce = { .method = MEDPROTO_METHOD_NONCE, .cls = STUN_REQUEST };
	stun_new_txid(nonce.txid);
	tcp_in(fx, p, &nonce, NULL);
	take(fx, 0, &r, NULL, &auth);
	memcpy(mm.nonce, r.nonce, MEDPROTO_NONCE_LEN);
	uint8_t wrong[32];
	memcpy(wrong, fx->srv.k, 32);
	wrong[0] ^= 1;
	assert_int_equal(tcp_in(fx, p, &mm, wrong), MEDIATOR_CLOSE);
	take(fx, 1, &r, NULL, &auth);
	assert_int_equal(r.error_code, 401);
	mediator_peer_closed(fx->m, p);

	/* the right MAC over a nonce that was used already */
	clear(fx);
	p = mediator_peer_open(fx->m, &conn_s1, &SRV_TCP);
	tcp_in(fx, p, &nonce, NULL);
	take(fx, 0, &r, NULL, &auth);
	memcpy(mm.nonce, r.nonce, MEDPROTO_NONCE_LEN);
	assert_int_equal(tcp_in(fx, p, &mm, fx->srv.k), MEDIATOR_AUTHENTICATED);
	stun_new_txid(mm.txid);
	assert_int_equal(tcp_in(fx, p, &mm, fx->srv.k), MEDIATOR_CLOSE);
	take(fx, 2, &r, NULL, &auth);
	assert_int_equal(r.error_code, 401);
	mediator_peer_closed(fx->m, p);   /* takes the registration with it */
	assert_int_equal(mediator_registered(fx->m), 0);

	/* malformed: no SERVER-ID */
	clear(fx);
	p = mediator_peer_open(fx->m, &conn_s1, &SRV_TCP);
	mm.server_id[0] = '\0';
	assert_int_equal(tcp_in(fx, p, &mm, fx->srv.k), MEDIATOR_CLOSE);
	take(fx, 0, &r, NULL, &auth);
	assert_int_equal(r.error_code, 400);
	mediator_peer_closed(fx->m, p);

	/* REGISTER over UDP means nothing */
	clear(fx);
	udp_in(fx, &SRV_UDP, &mm, fx->srv.k);
	assert_int_equal(fx->n_out, 0);
	assert_int_equal(mediator_stats(fx->m)->register_refused, 3);   /* 400 is not counted here */
}

static void register_replaces(void **state)
{
	struct fx *fx = *state;
	struct med_peer *a = register_server(fx, "nvr", &conn_s1);
	struct med_peer *b = register_server(fx, "nvr", &conn_s2);

	/* the same server id again: the old connection is asked to close */
	assert_int_equal(fx->n_closed, 1);
	assert_ptr_equal(fx->closed[0], &conn_s1);
	assert_int_equal(mediator_registered(fx->m), 1);
	/* the transport closes it: the new registration stays */
	mediator_peer_closed(fx->m, a);
	assert_int_equal(mediator_registered(fx->m), 1);
	/* another server id of the same system adds a server */
	struct med_peer *e = register_server(fx, "nvr-2", &conn_s1);
	assert_int_equal(mediator_registered(fx->m), 2);
	assert_int_equal(fx->n_closed, 1);
	mediator_peer_closed(fx->m, b);
	assert_int_equal(mediator_registered(fx->m), 1);
	mediator_peer_closed(fx->m, e);
	assert_int_equal(mediator_registered(fx->m), 0);
	assert_int_equal(mediator_stats(fx->m)->registered, 3);
}

static void register_closes_old(void **state)
{
	struct fx *fx = *state;
	struct med_peer *a = register_server(fx, "nvr", &conn_s1);
	struct med_peer *p = mediator_peer_open(fx->m, &conn_s2, &SRV_TCP);
	struct medmsg nonce = { .method = MEDPROTO_METHOD_NONCE, .cls = STUN_REQUEST }, r;
	bool auth;

	stun_new_txid(nonce.txid);
	tcp_in(fx, p, &nonce, NULL);
	take(fx, 0, &r, NULL, &auth);
	struct medmsg mm = request(MEDPROTO_METHOD_REGISTER, &fx->srv);
	mm.has_nonce = true;
	memcpy(mm.nonce, r.nonce, MEDPROTO_NONCE_LEN);
	snprintf(mm.server_id, sizeof(mm.server_id), "nvr");
	assert_int_equal(tcp_in(fx, p, &mm, fx->srv.k), MEDIATOR_AUTHENTICATED);
	assert_int_equal(fx->n_closed, 1);
	assert_ptr_equal(fx->closed[0], &conn_s1);
	/* the old connection is closing: nothing more is sent on it */
	clear(fx);
	struct medmsg c = connect_req(fx, NULL);
	udp_in(fx, &CLI_UDP, &c, fx->cli.k);
	assert_int_equal(fx->n_out, 1);
	assert_ptr_equal(fx->out[0].conn, &conn_s2);
	mediator_peer_closed(fx->m, a);
	mediator_peer_closed(fx->m, p);
}

/* ------------------------------------------------------------ CONNECT */

static void connect_accept(void **state)
{
	struct fx *fx = *state;
	struct med_peer *s = register_server(fx, "nvr", &conn_s1);
	struct medmsg c = connect_req(fx, NULL), r;
	bool auth;

	udp_in(fx, &CLI_UDP, &c, fx->cli.k);
	/* the indication, to the server, under the server's key */
	assert_int_equal(fx->n_out, 1);
	assert_true(fx->out[0].tcp);
	assert_ptr_equal(fx->out[0].conn, &conn_s1);
	take(fx, 0, &r, fx->srv.k, &auth);
	assert_true(auth);
	assert_int_equal(r.cls, STUN_INDICATION);
	assert_memory_equal(r.connect_id, c.txid, STUN_TXID_LEN);
	assert_memory_equal(r.peer_key, fx->cli.pub, KEY_LEN);
	assert_true(r.has_public);
	assert_true(endpoint_equal(&r.public_addr, &CLI_UDP));
	assert_int_equal(r.n_local, 1);
	assert_true(endpoint_equal(&r.local[0], &CLI_LOCAL));

	/* the TCP copy of the answer first: the client learns no public address yet */
	clear(fx);
	struct medmsg a = answer_req(fx, &c, MEDPROTO_DECISION_ACCEPT);
	assert_int_equal(tcp_in(fx, s, &a, fx->srv.k), MEDIATOR_AUTHENTICATED);
	assert_int_equal(fx->n_out, 2);
	take(fx, 0, &r, fx->srv.k, &auth);   /* ANSWER success to the server */
	assert_true(fx->out[0].tcp);
	assert_int_equal(r.method, MEDPROTO_METHOD_ANSWER);
	assert_int_equal(r.cls, STUN_SUCCESS);
	assert_true(auth);
	take(fx, 1, &r, fx->cli.k, &auth);   /* CONNECT success to the client */
	assert_false(fx->out[1].tcp);
	assert_true(endpoint_equal(&fx->out[1].to, &CLI_UDP));
	assert_true(auth);
	assert_int_equal(r.cls, STUN_SUCCESS);
	assert_memory_equal(r.txid, c.txid, STUN_TXID_LEN);
	assert_memory_equal(r.peer_key, fx->srv.pub, KEY_LEN);
	assert_string_equal(r.server_id, "nvr");
	assert_false(r.has_public);
	assert_int_equal(r.n_local, 1);
	assert_true(endpoint_equal(&r.local[0], &SRV_LOCAL));
	assert_true(endpoint_equal(&r.mapped, &CLI_UDP));
	assert_false(r.has_relay || r.has_relay_key);   /* none configured */

	/* the UDP answer brings the server's mapping: an updated success */
	clear(fx);
	stun_new_txid(a.txid);
	udp_in(fx, &SRV_UDP, &a, fx->srv.k);
	assert_int_equal(fx->n_out, 2);
	assert_false(fx->out[0].tcp);
	assert_true(endpoint_equal(&fx->out[0].to, &SRV_UDP));
	take(fx, 1, &r, fx->cli.k, &auth);
	assert_true(auth);
	assert_true(r.has_public);
	assert_true(endpoint_equal(&r.public_addr, &SRV_UDP));

	/* and once more changes nothing for the client */
	clear(fx);
	udp_in(fx, &SRV_UDP, &a, fx->srv.k);
	assert_int_equal(fx->n_out, 1);
	assert_int_equal(mediator_stats(fx->m)->accepted, 1);

	/* forgotten after the linger time */
	assert_int_equal(mediator_pending(fx->m), 1);
	mediator_tick(fx->m, fx->now + MEDIATOR_LINGER_MS);
	assert_int_equal(mediator_pending(fx->m), 0);
	mediator_peer_closed(fx->m, s);
}

static void connect_refuse(void **state)
{
	struct fx *fx = *state;
	struct med_peer *s = register_server(fx, "nvr", &conn_s1);
	struct medmsg c = connect_req(fx, "nvr"), r;
	bool auth;

	udp_in(fx, &CLI_UDP, &c, fx->cli.k);
	clear(fx);
	struct medmsg a = answer_req(fx, &c, MEDPROTO_DECISION_REFUSE);
	udp_in(fx, &SRV_UDP, &a, fx->srv.k);   /* even over UDP: nothing of the server leaks */
	assert_int_equal(fx->n_out, 2);
	take(fx, 1, &r, fx->cli.k, &auth);
	assert_true(auth);
	assert_int_equal(r.cls, STUN_ERROR);
	assert_int_equal(r.error_code, 403);
	assert_string_equal(r.error_reason, "not authorized by the server");
	assert_false(r.has_public);
	assert_false(r.has_peer_key);
	assert_int_equal(r.n_local, 0);
	assert_false(r.has_mapped);
	assert_string_equal(r.server_id, "");
	/* a later accept does not change the first decision */
	clear(fx);
	a.decision = MEDPROTO_DECISION_ACCEPT;
	stun_new_txid(a.txid);
	tcp_in(fx, s, &a, fx->srv.k);
	assert_int_equal(fx->n_out, 1);   /* only the ANSWER success */
	mediator_peer_closed(fx->m, s);
}

static void connect_errors(void **state)
{
	struct fx *fx = *state;
	struct medmsg c = connect_req(fx, NULL), r;
	bool auth;

	/* offline: 404 with auth */
	udp_in(fx, &CLI_UDP, &c, fx->cli.k);
	take(fx, 0, &r, fx->cli.k, &auth);
	assert_int_equal(r.error_code, 404);
	assert_true(auth);
	/* wrong MAC: 401 without auth */
	uint8_t wrong[32];
	memcpy(wrong, fx->cli.k, 32);
	wrong[31] ^= 0x80;
	udp_in(fx, &CLI_UDP, &c, wrong);
	take(fx, 1, &r, fx->cli.k, &auth);
	assert_int_equal(r.error_code, 401);
	assert_false(r.has_auth);
	/* no auth at all */
	udp_in(fx, &CLI_UDP, &c, NULL);
	take(fx, 2, &r, NULL, &auth);
	assert_int_equal(r.error_code, 401);
	/* server id of another server: offline too */
	struct med_peer *s = register_server(fx, "nvr", &conn_s1);
	c = connect_req(fx, "other");
	udp_in(fx, &CLI_UDP, &c, fx->cli.k);
	take(fx, 0, &r, fx->cli.k, &auth);
	assert_int_equal(r.error_code, 404);
	/* an ANSWER under a key that is not the server's is unknown */
	clear(fx);
	c = connect_req(fx, NULL);
	udp_in(fx, &CLI_UDP, &c, fx->cli.k);
	struct medmsg a = answer_req(fx, &c, MEDPROTO_DECISION_ACCEPT);
	memcpy(a.key, fx->cli.pub, KEY_LEN);
	udp_in(fx, &CLI_UDP, &a, fx->cli.k);
	assert_int_equal(fx->n_out, 1);   /* only the indication */
	assert_int_equal(mediator_stats(fx->m)->answer_unknown, 1);
	/* the server's key with a wrong MAC: 401 */
	a = answer_req(fx, &c, MEDPROTO_DECISION_ACCEPT);
	udp_in(fx, &SRV_UDP, &a, wrong);
	take(fx, 1, &r, NULL, &auth);
	assert_int_equal(r.error_code, 401);
	assert_int_equal(mediator_stats(fx->m)->accepted, 0);
	mediator_peer_closed(fx->m, s);
}

static void connect_timeout(void **state)
{
	struct fx *fx = *state;
	struct med_peer *s = register_server(fx, "nvr", &conn_s1);
	struct med_peer *cp = mediator_peer_open(fx->m, &conn_c, &CLI_TCP);
	struct medmsg c = connect_req(fx, NULL), r;
	bool auth;

	assert_int_equal(tcp_in(fx, cp, &c, fx->cli.k), MEDIATOR_AUTHENTICATED);
	/* over TCP the server learns no public address of the client */
	take(fx, 0, &r, fx->srv.k, &auth);
	assert_false(r.has_public);
	clear(fx);
	mediator_tick(fx->m, fx->now + MEDIATOR_ANSWER_TIMEOUT_MS - 1);
	assert_int_equal(fx->n_out, 0);
	fx->now += MEDIATOR_ANSWER_TIMEOUT_MS;
	mediator_tick(fx->m, fx->now);
	assert_int_equal(fx->n_out, 1);
	assert_ptr_equal(fx->out[0].conn, &conn_c);
	take(fx, 0, &r, fx->cli.k, &auth);
	assert_true(auth);
	assert_int_equal(r.error_code, 504);
	/* a duplicate now gets the 504 again */
	clear(fx);
	udp_in(fx, &CLI_UDP, &c, fx->cli.k);
	assert_int_equal(fx->n_out, 2);   /* 504 on UDP, and the server hears of the mapping */
	take(fx, 0, &r, fx->cli.k, &auth);
	assert_int_equal(r.error_code, 504);
	take(fx, 1, &r, fx->srv.k, &auth);
	assert_int_equal(r.cls, STUN_INDICATION);
	assert_true(endpoint_equal(&r.public_addr, &CLI_UDP));
	/* a late answer still reaches the client, on both channels */
	clear(fx);
	struct medmsg a = answer_req(fx, &c, MEDPROTO_DECISION_ACCEPT);
	tcp_in(fx, s, &a, fx->srv.k);
	assert_int_equal(fx->n_out, 3);
	take(fx, 1, &r, fx->cli.k, &auth);
	assert_int_equal(r.cls, STUN_SUCCESS);
	take(fx, 2, &r, fx->cli.k, &auth);
	assert_int_equal(r.cls, STUN_SUCCESS);
	assert_int_equal(mediator_stats(fx->m)->no_answer, 1);
	mediator_peer_closed(fx->m, cp);
	mediator_peer_closed(fx->m, s);
}

static void connect_duplicates(void **state)
{
	struct fx *fx = *state;
	struct med_peer *s = register_server(fx, "nvr", &conn_s1);
	struct med_peer *cp = mediator_peer_open(fx->m, &conn_c, &CLI_TCP);
	struct medmsg c = connect_req(fx, NULL), r;
	bool auth;

	udp_in(fx, &CLI_UDP, &c, fx->cli.k);
	udp_in(fx, &CLI_UDP, &c, fx->cli.k);            /* retransmission */
	tcp_in(fx, cp, &c, fx->cli.k);                  /* the TCP copy */
	assert_int_equal(fx->n_out, 1);                 /* one indication */
	assert_int_equal(mediator_pending(fx->m), 1);
	assert_int_equal(mediator_stats(fx->m)->connect_dups, 2);
	clear(fx);
	struct medmsg a = answer_req(fx, &c, MEDPROTO_DECISION_ACCEPT);
	udp_in(fx, &SRV_UDP, &a, fx->srv.k);
	assert_int_equal(fx->n_out, 3);                 /* ack, client UDP, client TCP */
	assert_true(endpoint_equal(&fx->out[1].to, &CLI_UDP));
	assert_ptr_equal(fx->out[2].conn, &conn_c);
	take(fx, 2, &r, fx->cli.k, &auth);
	assert_true(auth);
	assert_true(r.has_public);
	/* the client's TCP connection goes; an answered duplicate is answered again */
	mediator_peer_closed(fx->m, cp);
	clear(fx);
	udp_in(fx, &CLI_UDP, &c, fx->cli.k);
	assert_int_equal(fx->n_out, 1);
	take(fx, 0, &r, fx->cli.k, &auth);
	assert_int_equal(r.cls, STUN_SUCCESS);
	mediator_tick(fx->m, fx->now + MEDIATOR_LINGER_MS);
	assert_int_equal(mediator_pending(fx->m), 0);
	mediator_peer_closed(fx->m, s);
}

static void connect_newest_server(void **state)
{
	struct fx *fx = *state;
	struct med_peer *a = register_server(fx, "nvr-a", &conn_s1);
	struct med_peer *b = register_server(fx, "nvr-b", &conn_s2);
	struct medmsg c = connect_req(fx, NULL);

	udp_in(fx, &CLI_UDP, &c, fx->cli.k);
	assert_ptr_equal(fx->out[0].conn, &conn_s2);
	c = connect_req(fx, "nvr-a");
	udp_in(fx, &CLI_UDP, &c, fx->cli.k);
	assert_ptr_equal(fx->out[1].conn, &conn_s1);
	/* the newest goes away: the plain system id reaches the other */
	mediator_peer_closed(fx->m, b);
	c = connect_req(fx, NULL);
	udp_in(fx, &CLI_UDP, &c, fx->cli.k);
	assert_ptr_equal(fx->out[2].conn, &conn_s1);
	mediator_peer_closed(fx->m, a);
}

/* mediator_set_relay: REGISTER and CONNECT successes name the relay, under
 * TUND-AUTH; indications, acknowledgements and refusals do not. */
static void relay_announced(void **state)
{
	struct fx *fx = *state;
	static const struct endpoint relay = { 0xc6336414, 443 };   /* 198.51.100.20 */
	uint8_t rkey[KEY_LEN];
	struct medmsg r;
	bool auth;

	/* before: nothing to announce */
	struct med_peer *a = register_server_reply(fx, "nvr-a", &conn_s1, &r);
	assert_false(r.has_relay || r.has_relay_key);
	memset(rkey, 0x6b, sizeof(rkey));
	mediator_set_relay(fx->m, &relay, rkey);
	struct med_peer *s = register_server_reply(fx, "nvr", &conn_s2, &r);
	assert_true(r.has_relay && r.has_relay_key);
	assert_true(endpoint_equal(&r.relay_addr, &relay));
	assert_memory_equal(r.relay_key, rkey, KEY_LEN);

	/* the indication carries no relay; the client's success does */
	struct medmsg c = connect_req(fx, "nvr");
	udp_in(fx, &CLI_UDP, &c, fx->cli.k);
	take(fx, 0, &r, fx->srv.k, &auth);
	assert_int_equal(r.cls, STUN_INDICATION);
	assert_false(r.has_relay || r.has_relay_key);
	clear(fx);
	struct medmsg ans = answer_req(fx, &c, MEDPROTO_DECISION_ACCEPT);
	assert_int_equal(tcp_in(fx, s, &ans, fx->srv.k), MEDIATOR_AUTHENTICATED);
	assert_int_equal(fx->n_out, 2);
	take(fx, 0, &r, fx->srv.k, &auth);   /* the ANSWER success */
	assert_int_equal(r.method, MEDPROTO_METHOD_ANSWER);
	assert_false(r.has_relay || r.has_relay_key);
	take(fx, 1, &r, fx->cli.k, &auth);
	assert_true(auth);
	assert_int_equal(r.cls, STUN_SUCCESS);
	assert_true(r.has_relay && r.has_relay_key);
	assert_true(endpoint_equal(&r.relay_addr, &relay));
	assert_memory_equal(r.relay_key, rkey, KEY_LEN);

	/* a refusal tells the client nothing, the relay included */
	clear(fx);
	c = connect_req(fx, "nvr");
	udp_in(fx, &CLI_UDP, &c, fx->cli.k);
	clear(fx);
	ans = answer_req(fx, &c, MEDPROTO_DECISION_REFUSE);
	tcp_in(fx, s, &ans, fx->srv.k);
	take(fx, 1, &r, fx->cli.k, &auth);
	assert_int_equal(r.error_code, 403);
	assert_false(r.has_relay || r.has_relay_key);
	/* and so does "offline" */
	clear(fx);
	c = connect_req(fx, "other");
	udp_in(fx, &CLI_UDP, &c, fx->cli.k);
	take(fx, 0, &r, fx->cli.k, &auth);
	assert_int_equal(r.error_code, 404);
	assert_false(r.has_relay || r.has_relay_key);
	mediator_peer_closed(fx->m, s);
	mediator_peer_closed(fx->m, a);
}

static void connect_rate_limit(void **state)
{
	struct fx *fx = *state;
	struct endpoint other = { 0xcb007199, 1 };

	for (int i = 0; i < 100; i++) {
		struct medmsg c = connect_req(fx, NULL);
		udp_in(fx, &CLI_UDP, &c, fx->cli.k);
	}
	assert_int_equal(mediator_stats(fx->m)->connect_limited, 100 - 40);
	assert_int_equal(fx->n_out, 40);   /* 404s */
	struct medmsg c = connect_req(fx, NULL);
	udp_in(fx, &other, &c, fx->cli.k);
	assert_int_equal(fx->n_out, 41);
	fx->now += 1000;   /* a second later: 20 more */
	for (int i = 0; i < 100; i++) {
		c = connect_req(fx, NULL);
		udp_in(fx, &CLI_UDP, &c, fx->cli.k);
	}
	assert_int_equal(fx->n_out, 61);
}

int main(void)
{
	assert_true(sodium_init() >= 0);
	log_set_level(LOG_LVL_WARN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(binding, setup, teardown),
		cmocka_unit_test(binding_without_alt),
		cmocka_unit_test_setup_teardown(register_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(register_replaces, setup, teardown),
		cmocka_unit_test_setup_teardown(register_closes_old, setup, teardown),
		cmocka_unit_test_setup_teardown(connect_accept, setup, teardown),
		cmocka_unit_test_setup_teardown(connect_refuse, setup, teardown),
		cmocka_unit_test_setup_teardown(connect_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(connect_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(connect_duplicates, setup, teardown),
		cmocka_unit_test_setup_teardown(connect_newest_server, setup, teardown),
		cmocka_unit_test_setup_teardown(relay_announced, setup, teardown),
		cmocka_unit_test_setup_teardown(connect_rate_limit, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
