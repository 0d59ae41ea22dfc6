/*
 * mediator.c - the protocol engine (mediator.h, shared/medproto.h).
 *
 * Every message goes: decode (stun_decode; a failure drops the datagram or
 * closes the connection), dispatch by method, one handler per method that
 * parses (medproto_parse), checks required attributes, rate-limits where a
 * Diffie-Hellman is at stake, authenticates, and only then touches the
 * registry or the pending table (validate, authenticate, then act). Bad
 * input leaves a counter and, where the protocol says so, an error reply.
 *
 * Channels: a reply goes back the way its request came, a UDP source and
 * the mediator port it arrived on, or a TCP connection (struct med_peer).
 * A peer marked closing is never written to again.
 *
 * Ownership: the engine owns the registry, the pending table and every
 * med_peer; a registration points at its peer and the peer back at it;
 * pending entries point at peers they may answer on, and each peer counts
 * those references so that closing it only scans the table when needed.
 * Shared auth keys (registry and pending entries) are wiped when freed.
 */
#include "mediator.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "log.h"
#include "medproto.h"
#include "pending.h"
#include "registry.h"
#include "srclimit.h"
#include "stun.h"

#define CHANGE_IP 0x4u           /* RFC 5780 §7.2 CHANGE-REQUEST flag */
#define SOFTWARE "tund-mediator " TUND_VERSION
#define LABEL_MAX (MEDPROTO_SERVER_ID_MAX + UUID_STR_LEN + 1)
#define UNDECODABLE (-2)         /* dispatch(): not a STUN message at all */
#define CONNECT_RATE 20          /* CONNECTs per second per source address */
#define CONNECT_BURST 40

struct med_peer {
	void *conn;                      /* the transport's connection */
	struct endpoint from;
	bool closing;
	bool has_nonce;
	uint8_t nonce[MEDPROTO_NONCE_LEN];
	struct registration *reg;        /* this connection's registration, or NULL */
	size_t pending_refs;             /* pending entries that may answer on it */
};

struct mediator {
	struct mediator_io io;
	uint8_t priv[KEY_LEN];
	uint8_t pub[KEY_LEN];
	bool has_alt;
	uint64_t now_ms;
	struct registry *reg;
	struct pending_table *pend;
	struct mediator_stats st;
	struct srclimit *limit;
	bool has_relay;
	struct endpoint relay;           /* announced to tunds (mediator_set_relay) */
	uint8_t relay_key[KEY_LEN];
};

void mediator_set_relay(struct mediator *m, const struct endpoint *addr, const uint8_t key[KEY_LEN])
{
	m->has_relay = true;
	m->relay = *addr;
	memcpy(m->relay_key, key, KEY_LEN);
}

static void add_relay(const struct mediator *m, struct medmsg *r)
{
	if (!m->has_relay)
		return;
	r->has_relay = r->has_relay_key = true;
	r->relay_addr = m->relay;
	memcpy(r->relay_key, m->relay_key, KEY_LEN);
}

/* Where a message came from, and so where its reply goes. */
struct chan {
	struct med_peer *peer;           /* TCP, or NULL for UDP */
	unsigned port;                   /* UDP: the mediator port index */
	struct endpoint from;
};

/* ------------------------------------------------------------ sending */

static void send_raw(struct mediator *m, const struct chan *ch, const uint8_t *buf, size_t len)
{
	if (!ch->peer)
		m->io.udp_send(m->io.ctx, ch->port, &ch->from, buf, len);
	else if (!ch->peer->closing)
		m->io.tcp_send(m->io.ctx, ch->peer->conn, buf, len);
}

/* Encodes msg (TUND-AUTH under k unless NULL) and sends it on ch. */
static void send_msg(struct mediator *m, const struct chan *ch, const struct medmsg *msg,
		     const uint8_t *k)
{
	uint8_t buf[STUN_MAX_MSG];
	int n = medproto_encode(buf, sizeof(buf), msg, k, MEDPROTO_DIR_FROM_MEDIATOR, false);

	if (n < 0) {
		log_error("cannot encode a %s reply: %s", medproto_method_name(msg->method),
			  strerror(-n));
		return;
	}
	send_raw(m, ch, buf, (size_t)n);
}

static void reply_error(struct mediator *m, const struct chan *ch, const struct stun_msg *req,
			unsigned code, const char *reason, const uint8_t *k)
{
	struct medmsg e = { .method = req->method, .cls = STUN_ERROR, .error_code = code };

	memcpy(e.txid, req->txid, STUN_TXID_LEN);
	snprintf(e.error_reason, sizeof(e.error_reason), "%s", reason);
	if (code == MEDPROTO_ERR_BAD_REQUEST)
		m->st.bad_requests++;
	send_msg(m, ch, &e, k);
}

static void close_peer(struct mediator *m, struct med_peer *p)
{
	if (p->closing)
		return;
	p->closing = true;
	if (p->reg) {
		registry_remove(m->reg, p->reg);
		p->reg = NULL;
		m->st.unregistered++;
	}
	m->io.tcp_close(m->io.ctx, p->conn);
}

/* "SERVER.SYSTEM-UUID", for logs. */
static void server_label(char out[LABEL_MAX], const uint8_t system_id[UUID_LEN], const char *server_id)
{
	char uuid[UUID_STR_LEN + 1];

	uuid_format(uuid, system_id);
	snprintf(out, LABEL_MAX, "%s.%s", server_id, uuid);
}

/* ------------------------------------------------------------ Binding */

/* RFC 8489 §7.3.1 success with XOR-MAPPED-ADDRESS and SOFTWARE; from the
 * other UDP port when CHANGE-REQUEST asks for it (RFC 5780 §6.1). A
 * request for something we cannot do (another IP address, another port
 * without alt_port) gets 420 naming CHANGE-REQUEST, as RFC 5780 says. */
static int on_binding(struct mediator *m, const struct chan *ch, const struct stun_msg *sm)
{
	const struct stun_attr *cr = stun_find(sm, STUN_ATTR_CHANGE_REQUEST);
	uint32_t flags = 0;
	struct chan out = *ch;
	uint8_t buf[STUN_MAX_MSG];
	struct stun_writer w;
	struct stun_addr mapped;

	if (sm->cls != STUN_REQUEST) {
		m->st.ignored++;    /* indications are keepalives; responses are not ours */
		return 0;
	}
	m->st.bindings++;
	if (cr && stun_attr_u32(cr, &flags) < 0) {
		reply_error(m, ch, sm, MEDPROTO_ERR_BAD_REQUEST, "malformed CHANGE-REQUEST", NULL);
		return 0;
	}
	if ((flags & CHANGE_IP) || ((flags & STUN_CHANGE_PORT) && (!m->has_alt || ch->peer))) {
		static const uint8_t unknown[2] = { STUN_ATTR_CHANGE_REQUEST >> 8,
						    STUN_ATTR_CHANGE_REQUEST & 0xff };
		m->st.binding_refused++;
		stun_begin(&w, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_ERROR, sm->txid);
		stun_put_error(&w, 420, "Unknown Attribute");
		stun_put(&w, STUN_ATTR_UNKNOWN_ATTRIBUTES, unknown, sizeof(unknown));
	} else {
		if (flags & STUN_CHANGE_PORT) {
			out.port = ch->port == MEDIATOR_PORT_MAIN ? MEDIATOR_PORT_ALT : MEDIATOR_PORT_MAIN;
			m->st.binding_changed++;
		}
		stun_addr_from_endpoint(&mapped, &ch->from);
		stun_begin(&w, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_SUCCESS, sm->txid);
		stun_put_xor_addr(&w, STUN_ATTR_XOR_MAPPED_ADDRESS, &mapped);
		stun_put(&w, STUN_ATTR_SOFTWARE, SOFTWARE, strlen(SOFTWARE));
	}
	if (sm->has_fingerprint)
		stun_put_fingerprint(&w);
	int n = stun_end(&w);
	if (n > 0)
		send_raw(m, &out, buf, (size_t)n);
	return 0;
}

/* ------------------------------------------------------------- NONCE */

/* A fresh registration challenge for this connection; it replaces any
 * earlier one and is consumed by the next REGISTER, right or wrong. */
static int on_nonce(struct mediator *m, const struct chan *ch, const struct stun_msg *sm)
{
	struct medmsg r = { .method = MEDPROTO_METHOD_NONCE, .cls = STUN_SUCCESS, .has_nonce = true };

	if (!ch->peer || sm->cls != STUN_REQUEST) {
		m->st.ignored++;
		return 0;
	}
	m->st.nonces++;
	randombytes_buf(ch->peer->nonce, MEDPROTO_NONCE_LEN);
	ch->peer->has_nonce = true;
	memcpy(r.txid, sm->txid, STUN_TXID_LEN);
	memcpy(r.nonce, ch->peer->nonce, MEDPROTO_NONCE_LEN);
	send_msg(m, ch, &r, NULL);
	return 0;
}

/* ---------------------------------------------------------- REGISTER */

/* Whether REGISTER proves possession of mm->key over this connection's
 * current nonce; k receives the shared key. The nonce is used up here. */
static bool register_proof(struct mediator *m, struct med_peer *p, const struct stun_msg *sm,
			   const struct medmsg *mm, uint8_t k[32])
{
	bool nonce_ok = p->has_nonce && mm->has_nonce &&
			sodium_memcmp(p->nonce, mm->nonce, MEDPROTO_NONCE_LEN) == 0;

	p->has_nonce = false;
	sodium_memzero(p->nonce, sizeof(p->nonce));
	if (!nonce_ok || !mm->has_auth)
		return false;
	if (medproto_auth_key(k, m->priv, mm->key, mm->key, m->pub) < 0)
		return false;
	return medproto_auth_ok(sm, k, MEDPROTO_DIR_TO_MEDIATOR);
}

/* The new registration replaces this connection's earlier one and any
 * other connection's for the same system and server id. */
static int register_commit(struct mediator *m, struct med_peer *p, const struct medmsg *mm,
			   const uint8_t k[32])
{
	struct registration val = { .n_local = mm->n_local, .tcp_from = p->from, .conn = p };
	char label[LABEL_MAX], from[ENDPOINT_STR_LEN];
	void *replaced;

	key_system_id(val.system_id, mm->key);
	memcpy(val.server_id, mm->server_id, sizeof(val.server_id));
	memcpy(val.key, mm->key, KEY_LEN);
	memcpy(val.auth, k, 32);
	memcpy(val.local, mm->local, sizeof(val.local));
	if (p->reg) {
		registry_remove(m->reg, p->reg);
		p->reg = NULL;
	}
	struct registration *reg = registry_add(m->reg, &val, &replaced);
	sodium_memzero(&val, sizeof(val));
	if (!reg)
		return -ENOMEM;
	p->reg = reg;
	m->st.registered++;
	server_label(label, reg->system_id, reg->server_id);
	endpoint_format(from, &p->from);
	if (replaced) {
		struct med_peer *old = replaced;
		old->reg = NULL;    /* registry_add freed it */
		close_peer(m, old);
		log_info("server %s registered again from %s; closed its old connection", label, from);
	} else {
		log_info("server %s registered from %s with %u local address%s", label, from,
			 reg->n_local, reg->n_local == 1 ? "" : "es");
	}
	return 0;
}

static int on_register(struct mediator *m, const struct chan *ch, const struct stun_msg *sm)
{
	struct med_peer *p = ch->peer;
	struct medmsg mm;
	uint8_t k[32];
	int rc = MEDIATOR_CLOSE;

	if (!p || sm->cls != STUN_REQUEST) {
		m->st.ignored++;    /* REGISTER needs the connection it registers */
		return 0;
	}
	if (medproto_parse(sm, &mm) < 0 || !mm.has_key || !mm.server_id[0]) {
		p->has_nonce = false;
		reply_error(m, ch, sm, MEDPROTO_ERR_BAD_REQUEST, "malformed REGISTER", NULL);
		return MEDIATOR_CLOSE;
	}
	if (!register_proof(m, p, sm, &mm, k)) {
		m->st.register_refused++;
		reply_error(m, ch, sm, MEDPROTO_ERR_UNAUTHENTICATED,
			    "no proof of key possession over a fresh nonce", NULL);
		goto out;
	}
	if (register_commit(m, p, &mm, k) < 0) {
		reply_error(m, ch, sm, MEDPROTO_ERR_BUSY, "out of memory", NULL);
		goto out;
	}
	struct medmsg r = { .method = MEDPROTO_METHOD_REGISTER, .cls = STUN_SUCCESS,
			    .has_mapped = true, .mapped = p->from };
	memcpy(r.txid, sm->txid, STUN_TXID_LEN);
	add_relay(m, &r);
	send_msg(m, ch, &r, k);
	rc = MEDIATOR_AUTHENTICATED;
out:
	sodium_memzero(k, sizeof(k));
	return rc;
}

/* ----------------------------------------------------- CONNECT/ANSWER */

/* The reply a client gets for p: success with the server's addresses
 * (accept), 403 (refuse, none of the server's addresses), 504 (timeout). */
static void send_answer(struct mediator *m, const struct pending *p, const struct chan *ch)
{
	struct medmsg r = { .method = MEDPROTO_METHOD_CONNECT, .cls = STUN_ERROR };

	memcpy(r.txid, p->txid, STUN_TXID_LEN);
	if (p->state == PENDING_TIMED_OUT) {
		r.error_code = MEDPROTO_ERR_NO_ANSWER;
		snprintf(r.error_reason, sizeof(r.error_reason), "no answer from the server");
	} else if (p->decision != MEDPROTO_DECISION_ACCEPT) {
		r.error_code = MEDPROTO_ERR_NOT_AUTHORIZED;
		snprintf(r.error_reason, sizeof(r.error_reason), "not authorized by the server");
	} else {
		r.cls = STUN_SUCCESS;
		r.has_peer_key = true;
		memcpy(r.peer_key, p->server_key, KEY_LEN);
		memcpy(r.server_id, p->server_id, sizeof(r.server_id));
		r.has_public = p->has_server_public;
		r.public_addr = p->server_public;
		r.n_local = p->n_server_local;
		memcpy(r.local, p->server_local, sizeof(r.local));
		r.has_mapped = p->n_udp > 0;
		r.mapped = p->udp[0].from;
		add_relay(m, &r);
	}
	send_msg(m, ch, &r, p->client_auth);
}

/* To every channel the client used. */
static void answer_all(struct mediator *m, const struct pending *p)
{
	for (unsigned i = 0; i < p->n_udp; i++) {
		struct chan ch = { .port = p->udp[i].port, .from = p->udp[i].from };
		send_answer(m, p, &ch);
	}
	for (unsigned i = 0; i < p->n_tcp; i++) {
		struct chan ch = { .peer = p->tcp[i] };
		send_answer(m, p, &ch);
	}
}

/* The CONNECT indication to the server's registration connection, if it
 * is still registered. */
static void send_indication(struct mediator *m, const struct pending *p)
{
	struct registration *reg = registry_find(m->reg, p->server_system_id, p->server_id);
	struct medmsg ind = { .method = MEDPROTO_METHOD_CONNECT, .cls = STUN_INDICATION,
			      .has_connect_id = true, .has_peer_key = true };

	if (!reg || memcmp(reg->key, p->server_key, KEY_LEN) != 0)
		return;
	stun_new_txid(ind.txid);
	memcpy(ind.connect_id, p->txid, STUN_TXID_LEN);
	memcpy(ind.peer_key, p->client_key, KEY_LEN);
	ind.has_public = p->n_udp > 0;
	ind.public_addr = p->udp[0].from;
	ind.n_local = p->n_client_local;
	memcpy(ind.local, p->client_local, sizeof(ind.local));
	struct chan ch = { .peer = reg->conn };
	m->st.indications++;
	send_msg(m, &ch, &ind, reg->auth);
}

static void record_channel(struct pending *p, const struct chan *ch)
{
	if (!ch->peer)
		pending_add_udp(p, &ch->from, ch->port);
	else if (pending_add_tcp(p, ch->peer))
		ch->peer->pending_refs++;
}

/* The same request again (a retransmission, or the TCP copy of a UDP
 * request): no new entry; the channel is remembered, an answer already
 * given is given again on it, and a client public address learned only
 * now is passed to the server. */
static void connect_again(struct mediator *m, struct pending *p, const struct chan *ch)
{
	bool had_public = p->n_udp > 0;

	m->st.connect_dups++;
	record_channel(p, ch);
	if (p->state != PENDING_WAITING)
		send_answer(m, p, ch);
	if (!had_public && p->n_udp > 0)
		send_indication(m, p);
}

static void connect_new(struct mediator *m, const struct chan *ch, const struct stun_msg *sm,
			const struct medmsg *mm, const uint8_t k[32])
{
	char sid[MEDPROTO_SERVER_ID_MAX], label[LABEL_MAX];
	uint8_t sys[UUID_LEN];
	struct pending val = { .state = PENDING_WAITING, .n_client_local = mm->n_local };
	struct pending *p;

	if (medproto_target_parse(mm->target, sid, sys) < 0) {
		reply_error(m, ch, sm, MEDPROTO_ERR_BAD_REQUEST, "malformed TARGET", k);
		return;
	}
	struct registration *reg = registry_find(m->reg, sys, sid);
	if (!reg) {
		m->st.connect_offline++;
		log_debug("connect to %s: system offline", mm->target);
		reply_error(m, ch, sm, MEDPROTO_ERR_OFFLINE, "system offline", k);
		return;
	}
	memcpy(val.txid, sm->txid, STUN_TXID_LEN);
	memcpy(val.client_key, mm->key, KEY_LEN);
	memcpy(val.client_auth, k, 32);
	memcpy(val.client_local, mm->local, sizeof(val.client_local));
	memcpy(val.server_system_id, reg->system_id, UUID_LEN);
	memcpy(val.server_id, reg->server_id, sizeof(val.server_id));
	memcpy(val.server_key, reg->key, KEY_LEN);
	memcpy(val.server_auth, reg->auth, 32);
	memcpy(val.server_local, reg->local, sizeof(val.server_local));
	val.n_server_local = reg->n_local;
	val.deadline_ms = m->now_ms + MEDIATOR_ANSWER_TIMEOUT_MS;
	int rc = pending_add(m->pend, &val, &p);
	sodium_memzero(&val, sizeof(val));
	if (rc < 0) {
		m->st.connect_busy++;
		reply_error(m, ch, sm, MEDPROTO_ERR_BUSY, "too many connects in progress", k);
		return;
	}
	record_channel(p, ch);
	server_label(label, p->server_system_id, p->server_id);
	log_debug("connect to %s: asking server %s", mm->target, label);
	send_indication(m, p);
}

static int on_connect(struct mediator *m, const struct chan *ch, const struct stun_msg *sm)
{
	struct medmsg mm;
	uint8_t k[32];

	if (sm->cls != STUN_REQUEST) {
		m->st.ignored++;
		return 0;
	}
	/* Before any Diffie-Hellman: a flood costs its sender, not others. */
	if (!srclimit_allow(m->limit, ch->from.addr, m->now_ms)) {
		m->st.connect_limited++;
		return 0;
	}
	if (medproto_parse(sm, &mm) < 0 || !mm.has_key || !mm.target[0]) {
		reply_error(m, ch, sm, MEDPROTO_ERR_BAD_REQUEST, "malformed CONNECT", NULL);
		return 0;
	}
	if (!mm.has_auth || medproto_auth_key(k, m->priv, mm.key, mm.key, m->pub) < 0 ||
	    !medproto_auth_ok(sm, k, MEDPROTO_DIR_TO_MEDIATOR)) {
		m->st.connect_unauth++;
		reply_error(m, ch, sm, MEDPROTO_ERR_UNAUTHENTICATED, "TUND-AUTH missing or wrong", NULL);
		sodium_memzero(k, sizeof(k));
		return 0;
	}
	m->st.connects++;
	struct pending *p = pending_find(m->pend, sm->txid, mm.key);
	if (p)
		connect_again(m, p, ch);
	else
		connect_new(m, ch, sm, &mm, k);
	sodium_memzero(k, sizeof(k));
	return MEDIATOR_AUTHENTICATED;
}

/* The first decision counts; a later copy that brings the server's UDP
 * mapping for the first time updates an accepted client. */
static void apply_answer(struct mediator *m, struct pending *p, const struct medmsg *mm,
			 bool learned_public)
{
	char label[LABEL_MAX];

	server_label(label, p->server_system_id, p->server_id);
	if (p->state != PENDING_ANSWERED) {
		p->state = PENDING_ANSWERED;
		p->decision = mm->decision;
		p->deadline_ms = m->now_ms + MEDIATOR_LINGER_MS;
		if (p->decision == MEDPROTO_DECISION_ACCEPT)
			m->st.accepted++;
		else
			m->st.refused++;
		log_info("connect to server %s: %s", label,
			 p->decision == MEDPROTO_DECISION_ACCEPT ? "accepted" : "refused by the server");
		answer_all(m, p);
	} else if (learned_public && p->decision == MEDPROTO_DECISION_ACCEPT) {
		answer_all(m, p);
	}
}

static int on_answer(struct mediator *m, const struct chan *ch, const struct stun_msg *sm)
{
	struct medmsg mm;

	if (sm->cls != STUN_REQUEST) {
		m->st.ignored++;
		return 0;
	}
	if (medproto_parse(sm, &mm) < 0 || !mm.has_key || !mm.has_connect_id || !mm.has_decision) {
		if (ch->peer)
			reply_error(m, ch, sm, MEDPROTO_ERR_BAD_REQUEST, "malformed ANSWER", NULL);
		else
			m->st.udp_dropped++;
		return 0;
	}
	/* The server's shared key is in the entry: no Diffie-Hellman here. */
	struct pending *p = pending_find_answer(m->pend, mm.connect_id, mm.key);
	if (!p) {
		m->st.answer_unknown++;
		return 0;
	}
	if (!medproto_auth_ok(sm, p->server_auth, MEDPROTO_DIR_TO_MEDIATOR)) {
		m->st.answer_unauth++;
		reply_error(m, ch, sm, MEDPROTO_ERR_UNAUTHENTICATED, "TUND-AUTH missing or wrong", NULL);
		return 0;
	}
	m->st.answers++;
	struct medmsg r = { .method = MEDPROTO_METHOD_ANSWER, .cls = STUN_SUCCESS };
	memcpy(r.txid, sm->txid, STUN_TXID_LEN);
	send_msg(m, ch, &r, p->server_auth);
	bool learned = !ch->peer && !p->has_server_public;
	if (learned) {
		p->has_server_public = true;
		p->server_public = ch->from;
	}
	apply_answer(m, p, &mm, learned);
	return MEDIATOR_AUTHENTICATED;
}

/* ----------------------------------------------------------- dispatch */

static int dispatch(struct mediator *m, const struct chan *ch, const uint8_t *buf, size_t len)
{
	struct stun_msg sm;

	if (stun_decode(buf, len, &sm) < 0)
		return UNDECODABLE;
	switch (sm.method) {
	case STUN_METHOD_BINDING:
		return on_binding(m, ch, &sm);
	case MEDPROTO_METHOD_NONCE:
		return on_nonce(m, ch, &sm);
	case MEDPROTO_METHOD_REGISTER:
		return on_register(m, ch, &sm);
	case MEDPROTO_METHOD_CONNECT:
		return on_connect(m, ch, &sm);
	case MEDPROTO_METHOD_ANSWER:
		return on_answer(m, ch, &sm);
	default:
		m->st.ignored++;
		return 0;
	}
}

void mediator_udp_input(struct mediator *m, unsigned port, const struct endpoint *from,
			const uint8_t *buf, size_t len, uint64_t now_ms)
{
	struct chan ch = { .port = port == MEDIATOR_PORT_ALT ? MEDIATOR_PORT_ALT : MEDIATOR_PORT_MAIN,
			   .from = *from };

	m->now_ms = now_ms;
	m->st.udp_in++;
	if (dispatch(m, &ch, buf, len) == UNDECODABLE)
		m->st.udp_dropped++;
}

int mediator_peer_input(struct mediator *m, struct med_peer *p, const uint8_t *buf, size_t len,
			uint64_t now_ms)
{
	struct chan ch = { .peer = p, .from = p->from };

	if (p->closing)
		return MEDIATOR_CLOSE;
	m->now_ms = now_ms;
	m->st.tcp_in++;
	int rc = dispatch(m, &ch, buf, len);
	if (rc == UNDECODABLE)
		m->st.tcp_bad++;
	if (rc < 0)
		close_peer(m, p);
	return p->closing ? MEDIATOR_CLOSE : rc;
}

/* ------------------------------------------------------------ peers */

struct med_peer *mediator_peer_open(struct mediator *m, void *conn, const struct endpoint *from)
{
	struct med_peer *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->conn = conn;
	p->from = *from;
	return p;
}

void mediator_peer_closed(struct mediator *m, struct med_peer *p)
{
	if (p->reg) {
		char label[LABEL_MAX];
		server_label(label, p->reg->system_id, p->reg->server_id);
		log_info("server %s unregistered (connection closed)", label);
		registry_remove(m->reg, p->reg);
		m->st.unregistered++;
	}
	if (p->pending_refs)
		pending_drop_conn(m->pend, p);
	sodium_memzero(p, sizeof(*p));
	free(p);
}

/* ------------------------------------------------------------ expiry */

static void forget(struct mediator *m, struct pending *p)
{
	for (unsigned i = 0; i < p->n_tcp; i++)
		((struct med_peer *)p->tcp[i])->pending_refs--;
	pending_remove(m->pend, p);
}

static void due_cb(void *arg, struct pending *p)
{
	struct mediator *m = arg;
	char label[LABEL_MAX];

	if (p->state != PENDING_WAITING) {
		forget(m, p);
		return;
	}
	server_label(label, p->server_system_id, p->server_id);
	log_info("connect to server %s: no answer within %d ms", label, MEDIATOR_ANSWER_TIMEOUT_MS);
	m->st.no_answer++;
	p->state = PENDING_TIMED_OUT;
	p->deadline_ms = m->now_ms + MEDIATOR_LINGER_MS;
	answer_all(m, p);
}

void mediator_tick(struct mediator *m, uint64_t now_ms)
{
	m->now_ms = now_ms;
	pending_expire(m->pend, now_ms, due_cb, m);
}

/* --------------------------------------------------------- lifecycle */

int mediator_new(struct mediator **out, const uint8_t priv[KEY_LEN], bool has_alt,
		 const struct mediator_io *io)
{
	struct mediator *m = calloc(1, sizeof(*m));
	int rc;

	if (!m)
		return -ENOMEM;
	m->io = *io;
	m->has_alt = has_alt;
	memcpy(m->priv, priv, KEY_LEN);
	rc = key_public(m->pub, m->priv);
	if (rc == 0)
		rc = registry_new(&m->reg);
	if (rc == 0)
		rc = pending_table_new(&m->pend, MEDIATOR_MAX_PENDING);
	if (rc == 0)
		rc = srclimit_new(&m->limit, CONNECT_RATE, CONNECT_BURST);
	if (rc < 0) {
		mediator_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void mediator_free(struct mediator *m)
{
	if (!m)
		return;
	registry_free(m->reg);
	pending_table_free(m->pend);
	srclimit_free(m->limit);
	sodium_memzero(m, sizeof(*m));
	free(m);
}

void mediator_public_key(const struct mediator *m, uint8_t pub[KEY_LEN])
{
	memcpy(pub, m->pub, KEY_LEN);
}

const struct mediator_stats *mediator_stats(const struct mediator *m)
{
	return &m->st;
}

size_t mediator_registered(const struct mediator *m)
{
	return registry_count(m->reg);
}

size_t mediator_pending(const struct mediator *m)
{
	return pending_count(m->pend);
}
