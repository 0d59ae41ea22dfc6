/*
 * fuzz_mediator.c - libFuzzer target for the mediator's protocol engine
 * (mediator/mediator.h), driven without sockets. Each input gets a fresh
 * engine with one fake server registered (NONCE + REGISTER with a real
 * proof) and is read as a list of operations:
 *
 *   op (1 byte) | len (1 byte) | len bytes
 *
 *   op % 8: 0/1 datagram on the main/alt UDP port, from one of four sources
 *           2   message on a client's TCP connection
 *           3   message on the server's registration connection
 *           4   the bytes re-signed: if they parse as a medproto message,
 *               it is encoded again with the client's KEY and TUND-AUTH
 *               (a CONNECT also gets the fake server as TARGET) and sent
 *               over UDP: this reaches the authenticated paths
 *           5   an ANSWER from the server for the last CONNECT indication
 *               it got (decision from the first byte), over UDP or TCP
 *           6   time moves on by the first byte * 50 ms, and the tick runs
 *           7   the client's TCP connection closes (a new one opens)
 *
 * The fake transport honours close requests as a real one would (the
 * connection is reported closed and not used again). Besides the
 * sanitizers it checks that every byte the engine sends decodes as STUN
 * and fits STUN_MAX_MSG.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "log.h"
#include "mediator.h"
#include "medproto.h"
#include "stun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { SERVER, CLIENT, N_CONNS };

struct harness {
	struct mediator *m;
	struct med_peer *peer[N_CONNS];
	int token[N_CONNS];             /* their addresses are the connections */
	bool close_asked[N_CONNS];
	bool has_indication;
	uint8_t connect_id[STUN_TXID_LEN];
	bool has_nonce;
	uint8_t nonce[MEDPROTO_NONCE_LEN];
	uint64_t now;
};

struct keys {
	bool ready;
	uint8_t mpriv[KEY_LEN], mpub[KEY_LEN];
	uint8_t spriv[KEY_LEN], spub[KEY_LEN], sk[32];
	uint8_t cpriv[KEY_LEN], cpub[KEY_LEN], ck[32];
};

/* Fixed for the whole run (and from constant private keys, so the server's
 * system id is the same in every run and a corpus stays meaningful). */
static struct keys keys;
static char server_uuid[UUID_STR_LEN + 1];

static const struct endpoint sources[4] = {
	{ 0xcb007114, 51000 }, { 0xcb007114, 51001 }, { 0xcb00710a, 41641 }, { 0xc6336405, 1 },
};

static void check_out(const uint8_t *buf, size_t len)
{
	struct stun_msg sm;
	if (len > STUN_MAX_MSG || stun_decode(buf, len, &sm) < 0)
		abort();
}

static void io_udp(void *ctx, unsigned port, const struct endpoint *to, const uint8_t *buf, size_t len)
{
	if (port > MEDIATOR_PORT_ALT)
		abort();
	check_out(buf, len);
}

static void io_tcp(void *ctx, void *conn, const uint8_t *buf, size_t len)
{
	struct harness *h = ctx;
	struct stun_msg sm;
	struct medmsg mm;

	check_out(buf, len);
	if (conn != &h->token[SERVER] || stun_decode(buf, len, &sm) < 0 || medproto_parse(&sm, &mm) < 0)
		return;
	if (mm.method == MEDPROTO_METHOD_CONNECT && mm.cls == STUN_INDICATION && mm.has_connect_id) {
		h->has_indication = true;
		memcpy(h->connect_id, mm.connect_id, STUN_TXID_LEN);
	} else if (mm.method == MEDPROTO_METHOD_NONCE && mm.has_nonce) {
		h->has_nonce = true;
		memcpy(h->nonce, mm.nonce, MEDPROTO_NONCE_LEN);
	}
}

static void io_close(void *ctx, void *conn)
{
	struct harness *h = ctx;
	for (int i = 0; i < N_CONNS; i++)
		if (conn == &h->token[i])
			h->close_asked[i] = true;
}

/* What a transport does after a close request: report it closed. */
static void reap(struct harness *h)
{
	for (int i = 0; i < N_CONNS; i++) {
		if (h->close_asked[i] && h->peer[i]) {
			mediator_peer_closed(h->m, h->peer[i]);
			h->peer[i] = NULL;
		}
		h->close_asked[i] = false;
	}
}

static struct med_peer *peer(struct harness *h, int i)
{
	if (!h->peer[i])
		h->peer[i] = mediator_peer_open(h->m, &h->token[i], &sources[i == SERVER ? 2 : 1]);
	return h->peer[i];
}

static void send_tcp(struct harness *h, int i, const uint8_t *buf, size_t len)
{
	struct med_peer *p = peer(h, i);
	if (p && mediator_peer_input(h->m, p, buf, len, h->now) == MEDIATOR_CLOSE)
		h->close_asked[i] = true;
	reap(h);
}

static void send_msg(struct harness *h, int i, const struct medmsg *mm, const uint8_t *k)
{
	uint8_t buf[STUN_MAX_MSG];
	int n = medproto_encode(buf, sizeof(buf), mm, k, MEDPROTO_DIR_TO_MEDIATOR, false);
	if (n < 0)
		return;
	if (i < 0)
		mediator_udp_input(h->m, MEDIATOR_PORT_MAIN, &sources[2], buf, (size_t)n, h->now);
	else
		send_tcp(h, i, buf, (size_t)n);
}

/* NONCE and REGISTER as the fake server, which must then be registered. */
static void register_server(struct harness *h)
{
	struct medmsg mm = { .method = MEDPROTO_METHOD_NONCE, .cls = STUN_REQUEST };

	stun_new_txid(mm.txid);
	send_msg(h, SERVER, &mm, NULL);
	if (!h->has_nonce)
		abort();
	mm = (struct medmsg){ .method = MEDPROTO_METHOD_REGISTER, .cls = STUN_REQUEST, .has_key = true,
			      .has_nonce = true, .n_local = 1 };
	stun_new_txid(mm.txid);
	memcpy(mm.key, keys.spub, KEY_LEN);
	memcpy(mm.nonce, h->nonce, MEDPROTO_NONCE_LEN);
	memcpy(mm.server_id, "nvr", 4);
	mm.local[0] = (struct endpoint){ 0xc0a8010a, 41641 };
	send_msg(h, SERVER, &mm, keys.sk);
	if (mediator_registered(h->m) != 1)
		abort();
}

static void setup_keys(void)
{
	if (keys.ready)
		return;
	if (sodium_init() < 0)
		abort();
	log_set_level(LOG_LVL_ERROR);
	memset(keys.mpriv, 0x11, KEY_LEN);
	memset(keys.spriv, 0x22, KEY_LEN);
	memset(keys.cpriv, 0x33, KEY_LEN);
	if (key_public(keys.mpub, keys.mpriv) || key_public(keys.spub, keys.spriv) ||
	    key_public(keys.cpub, keys.cpriv) ||
	    medproto_auth_key(keys.sk, keys.spriv, keys.mpub, keys.spub, keys.mpub) ||
	    medproto_auth_key(keys.ck, keys.cpriv, keys.mpub, keys.cpub, keys.mpub))
		abort();
	uint8_t sys[UUID_LEN];
	key_system_id(sys, keys.spub);
	uuid_format(server_uuid, sys);
	keys.ready = true;
}

static void resign(struct harness *h, const uint8_t *buf, size_t len)
{
	struct stun_msg sm;
	struct medmsg mm;
	if (stun_decode(buf, len, &sm) < 0 || medproto_parse(&sm, &mm) < 0)
		return;
	mm.has_key = true;
	memcpy(mm.key, keys.cpub, KEY_LEN);
	if (mm.method == MEDPROTO_METHOD_CONNECT)
		snprintf(mm.target, sizeof(mm.target), "%s%s", mm.txid[0] & 1 ? "nvr." : "", server_uuid);
	uint8_t out[STUN_MAX_MSG];
	int n = medproto_encode(out, sizeof(out), &mm, keys.ck, MEDPROTO_DIR_TO_MEDIATOR, false);
	if (n > 0)
		mediator_udp_input(h->m, MEDIATOR_PORT_MAIN, &sources[0], out, (size_t)n, h->now);
}

static void answer(struct harness *h, const uint8_t *buf, size_t len)
{
	if (!h->has_indication)
		return;
	struct medmsg a = { .method = MEDPROTO_METHOD_ANSWER, .cls = STUN_REQUEST, .has_key = true,
			    .has_connect_id = true, .has_decision = true };
	stun_new_txid(a.txid);
	memcpy(a.key, keys.spub, KEY_LEN);
	memcpy(a.connect_id, h->connect_id, STUN_TXID_LEN);
	a.decision = len && (buf[0] & 1) ? MEDPROTO_DECISION_REFUSE : MEDPROTO_DECISION_ACCEPT;
	send_msg(h, len && (buf[0] & 2) ? SERVER : -1, &a, keys.sk);
}

static void run_op(struct harness *h, uint8_t op, const uint8_t *buf, size_t len)
{
	switch (op % 8) {
	case 0:
	case 1:
		mediator_udp_input(h->m, op % 2, &sources[(op >> 3) & 3], buf, len, h->now);
		break;
	case 2:
		send_tcp(h, CLIENT, buf, len);
		break;
	case 3:
		send_tcp(h, SERVER, buf, len);
		break;
	case 4:
		resign(h, buf, len);
		break;
	case 5:
		answer(h, buf, len);
		break;
	case 6:
		h->now += (uint64_t)(len ? buf[0] : 1) * 50;
		mediator_tick(h->m, h->now);
		break;
	case 7:
		h->close_asked[CLIENT] = true;
		reap(h);
		break;
	}
	reap(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct harness h;
	const struct mediator_io io = { .ctx = &h, .udp_send = io_udp, .tcp_send = io_tcp,
					.tcp_close = io_close };

	setup_keys();
	memset(&h, 0, sizeof(h));
	h.now = 1000000;
	if (mediator_new(&h.m, keys.mpriv, true, &io) < 0)
		abort();
	register_server(&h);
	while (size >= 2) {
		uint8_t op = data[0];
		size_t len = data[1] < size - 2 ? data[1] : size - 2;
		run_op(&h, op, data + 2, len);
		data += 2 + len;
		size -= 2 + len;
	}
	for (int i = 0; i < N_CONNS; i++)
		h.close_asked[i] = true;
	reap(&h);
	if (mediator_registered(h.m) != 0)
		abort();
	mediator_free(h.m);
	return 0;
}
