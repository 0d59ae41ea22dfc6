/*
 * resolve.c - see resolve.h. One resolver per mediated peer, with its own
 * uv_timer_t for retransmission, the TCP copy and backoff. The resolver is
 * a separate heap object so it can outlive its peer until its timer's
 * close callback frees it; it never touches the peer after resolve_free.
 */
#include "resolve.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "daemon.h"
#include "log.h"
#include "medlink.h"
#include "medproto.h"
#include "peer.h"
#include "punch.h"
#include "timers.h"

enum rstate { R_IDLE, R_ASKING, R_DONE, R_FAILED };

struct resolve {
	struct peer *p;                /* NULL once the peer is gone */
	struct daemon *d;
	uv_timer_t timer;
	enum rstate state;
	uint8_t txid[STUN_TXID_LEN];
	uint64_t started_ms;           /* of the current request */
	uint64_t retry_ms;             /* next UDP retransmission delay */
	uint64_t next_udp_ms;
	uint64_t tcp_at_ms;            /* when the TCP copy is due; 0 = none scheduled */
	bool tcp_sent;
	bool tcp_waiting;              /* due, but the TCP link is not up yet */
	bool udp_waiting;              /* the mediator's address was not known yet */
	unsigned failures;             /* consecutive, for the backoff */
	uint64_t done_ms;
	char error[160];
};

static void timer_cb(uv_timer_t *h);

int resolve_attach(struct daemon *d, struct peer *p)
{
	if (!p->cfg.has_system || p->cfg.has_endpoint || !d->med)
		return 0;
	struct resolve *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->p = p;
	r->d = d;
	uv_timer_init(d->loop, &r->timer);
	r->timer.data = r;
	p->rs = r;
	return 0;
}

static void closed_cb(uv_handle_t *h)
{
	free(h->data);
}

void resolve_free(struct peer *p)
{
	struct resolve *r = p->rs;
	if (!r)
		return;
	r->p = NULL;
	p->rs = NULL;
	uv_close((uv_handle_t *)&r->timer, closed_cb);
}

static int encode_request(struct resolve *r, uint8_t *buf, size_t cap, bool fingerprint)
{
	struct daemon *d = r->d;
	struct peer *p = r->p;
	struct medmsg mm = { .method = MEDPROTO_METHOD_CONNECT, .cls = STUN_REQUEST };
	char sys[UUID_STR_LEN + 1];

	memcpy(mm.txid, r->txid, STUN_TXID_LEN);
	mm.has_key = true;
	memcpy(mm.key, d->self.pub, KEY_LEN);
	uuid_format(sys, p->cfg.system_id);
	if (p->cfg.server_id[0])
		snprintf(mm.target, sizeof(mm.target), "%s.%s", p->cfg.server_id, sys);
	else
		snprintf(mm.target, sizeof(mm.target), "%s", sys);
	mm.n_local = punch_local_addrs(d, mm.local, MEDPROTO_MAX_ADDRS);
	return medproto_encode(buf, cap, &mm, medlink_auth_key(d->med), MEDPROTO_DIR_TO_MEDIATOR, fingerprint);
}

static void send_tcp_copy(struct resolve *r)
{
	uint8_t buf[STUN_MAX_MSG];
	if (!medlink_tcp_up(r->d->med)) {
		r->tcp_waiting = true;       /* resolve_link_changed sends it once up */
		medlink_want_tcp(r->d->med);
		return;
	}
	r->tcp_waiting = false;
	int n = encode_request(r, buf, sizeof(buf), false);
	if (n > 0 && medlink_send_tcp(r->d->med, buf, (size_t)n) == 0) {
		r->tcp_sent = true;
		log_debug("peer %s: connect request sent over TCP as well", r->p->cfg.name);
	}
}

/* Sends (or resends) the request on UDP; a failure sends the TCP copy now. */
static void send_udp(struct resolve *r, uint64_t now)
{
	uint8_t buf[STUN_MAX_MSG];
	int n = encode_request(r, buf, sizeof(buf), true);
	if (n < 0) {
		snprintf(r->error, sizeof(r->error), "cannot build a connect request: %s", strerror(-n));
		return;
	}
	int rc = medlink_send_udp(r->d->med, buf, (size_t)n, 0);
	r->udp_waiting = rc == -EAGAIN;
	if (rc < 0 && rc != -EAGAIN && !r->tcp_sent) {
		log_debug("peer %s: UDP to the mediator failed (%s), using TCP", r->p->cfg.name, strerror(-rc));
		r->tcp_at_ms = now;
	}
	r->next_udp_ms = now + r->retry_ms;
	r->retry_ms *= 2;
}

static void arm(struct resolve *r, uint64_t now)
{
	uint64_t due = 0;
	if (r->state == R_ASKING) {
		due = r->next_udp_ms;
		if (r->tcp_at_ms && r->tcp_at_ms < due)
			due = r->tcp_at_ms;
		if (r->started_ms + RESOLVE_TIMEOUT_MS < due)
			due = r->started_ms + RESOLVE_TIMEOUT_MS;
	} else if (r->state == R_FAILED) {
		due = r->done_ms;
	} else {
		return;
	}
	/* Never 0: a timer restarted with 0 from its own callback runs again
	 * in the same loop pass, before the loop time moves. */
	uv_timer_start(&r->timer, timer_cb, due > now ? due - now : 1, 0);
}

static void start(struct daemon *d, struct peer *p, bool force)
{
	struct resolve *r = p->rs;
	uint64_t now = uv_now(d->loop);
	if (!r || r->state == R_ASKING)
		return;
	if (!force && r->state == R_DONE && now - r->done_ms < RESOLVE_FRESH_MS && p->n_cands) {
		punch_start(d, p);
		return;
	}
	if (r->state == R_FAILED && now < r->done_ms)
		return; /* backing off; the timer asks again */
	stun_new_txid(r->txid);
	r->state = R_ASKING;
	r->started_ms = now;
	r->retry_ms = RESOLVE_RETRY_MS;
	r->tcp_sent = false;
	r->tcp_waiting = false;
	uint64_t rtt = medlink_rtt_ms(d->med);
	r->tcp_at_ms = now + (2 * rtt > RESOLVE_TCP_MIN_MS ? 2 * rtt : RESOLVE_TCP_MIN_MS);
	medlink_want_tcp(d->med);
	log_debug("peer %s: asking the mediator for system %s", p->cfg.name, p->system_id);
	send_udp(r, now);
	arm(r, now);
}

void resolve_start(struct daemon *d, struct peer *p)
{
	start(d, p, false);
}

void resolve_again(struct daemon *d, struct peer *p)
{
	start(d, p, true);
}

void resolve_upgrade(struct daemon *d, struct peer *p)
{
	struct resolve *r = p->rs;
	if (!r || r->state != R_DONE)
		return;
	stun_new_txid(r->txid);
	uint64_t retry = r->retry_ms;
	r->retry_ms = RESOLVE_RETRY_MS;
	send_udp(r, uv_now(d->loop));
	r->retry_ms = retry;
	r->tcp_at_ms = 0; /* UDP or nothing: over TCP it would prove nothing */
	log_debug("peer %s: asking the mediator again over UDP (a better path may be open)", p->cfg.name);
}

static void fail(struct resolve *r, uint64_t now, const char *fmt, const char *detail)
{
	uint64_t delay = timers_backoff_ms(RESOLVE_BACKOFF_MIN_MS, RESOLVE_BACKOFF_MAX_MS, r->failures);
	r->failures++;
	r->state = R_FAILED;
	r->done_ms = now + delay;
	snprintf(r->error, sizeof(r->error), fmt, detail);
	log_warn("peer %s: %s; asking again in %.1f s", r->p->cfg.name, r->error, (double)delay / 1000);
	arm(r, now);
}

static void timer_cb(uv_timer_t *h)
{
	struct resolve *r = h->data;
	struct daemon *d = r->d;
	if (!r->p || d->stopping)
		return;
	uint64_t now = uv_now(d->loop);
	if (r->state == R_FAILED && now >= r->done_ms) {
		r->state = R_IDLE;
		start(d, r->p, false);
		return;
	}
	if (r->state != R_ASKING)
		return;
	if (now >= r->started_ms + RESOLVE_TIMEOUT_MS) {
		fail(r, now, "%s", "the mediator did not answer");
		return;
	}
	if (r->tcp_at_ms && now >= r->tcp_at_ms) {
		r->tcp_at_ms = 0;
		if (!r->tcp_sent)
			send_tcp_copy(r);
	}
	if (now >= r->next_udp_ms)
		send_udp(r, now);
	arm(r, now);
}

void resolve_link_changed(struct daemon *d)
{
	uint64_t now = uv_now(d->loop);
	for (size_t i = 0; i < peers_count(d->peers); i++) {
		struct resolve *r = peers_at(d->peers, i)->rs;
		if (!r || r->state != R_ASKING)
			continue;
		if (r->tcp_waiting && medlink_tcp_up(d->med))
			send_tcp_copy(r);
		if (r->udp_waiting)
			send_udp(r, now);
	}
}

static struct resolve *by_txid(struct daemon *d, const uint8_t txid[STUN_TXID_LEN])
{
	for (size_t i = 0; i < peers_count(d->peers); i++) {
		struct resolve *r = peers_at(d->peers, i)->rs;
		if (r && memcmp(r->txid, txid, STUN_TXID_LEN) == 0)
			return r;
	}
	return NULL;
}

/* LAN smart forwarding: the mediator saw us (XOR-MAPPED-ADDRESS) and the
 * server (PUBLIC-ADDR) at one public address, so both sit behind the same
 * NAT and the server's local addresses are the way (punch_lan_first). */
static bool same_public_addr(const struct medmsg *mm)
{
	return mm->has_mapped && mm->has_public && mm->mapped.addr == mm->public_addr.addr;
}

static void accept_answer(struct daemon *d, struct resolve *r, const struct medmsg *mm, uint64_t now)
{
	struct peer *p = r->p;
	uint8_t id[UUID_LEN];
	bool fresh = r->state != R_DONE;
	if (!mm->has_peer_key) {
		fail(r, now, "%s", "the mediator's answer has no key");
		return;
	}
	key_system_id(id, mm->peer_key);
	if (memcmp(id, p->cfg.system_id, UUID_LEN) != 0 ||
	    (p->has_key && memcmp(p->cfg.key, mm->peer_key, KEY_LEN) != 0)) {
		fail(r, now, "%s", "the mediator named a key that is not this system's");
		return;
	}
	if (!p->has_key)
		peer_set_key(p, mm->peer_key);
	medlink_learn_relay(d, mm);
	if (fresh)
		punch_clear(p); /* addresses of an earlier connect may be stale */
	unsigned added = punch_add_reported(p, mm);
	r->state = R_DONE;
	r->done_ms = now;
	r->failures = 0;
	r->error[0] = '\0';
	uv_timer_stop(&r->timer);
	p->via_mediator = true;
	p->initiator_until_ms = now + PUNCH_ROLE_MS;
	if (fresh || added) {
		char c[256];
		punch_format(p, c, sizeof(c));
		bool same_nat = same_public_addr(mm);
		log_info("peer %s: server %s answered; trying %s%s", p->cfg.name,
			 mm->server_id[0] ? mm->server_id : "?", c,
			 same_nat ? " (behind our public address: local addresses first)" : "");
		/* The server's own punch may have completed a handshake already. */
		if (!timers_session_alive(d, p->cur, now) && !timers_session_alive(d, p->next, now)) {
			if (same_nat)
				punch_lan_first(d, p);
			punch_start(d, p);
		}
	}
}

void resolve_reply(struct daemon *d, const struct medmsg *mm, bool authenticated)
{
	struct resolve *r = by_txid(d, mm->txid);
	uint64_t now = uv_now(d->loop);
	if (!r || !r->p)
		return;
	if (mm->cls == STUN_SUCCESS) {
		if (r->state == R_ASKING || r->state == R_DONE)
			accept_answer(d, r, mm, now);
		return;
	}
	if (r->state != R_ASKING)
		return;
	/* An error without TUND-AUTH may come from anyone who saw our
	 * transaction id; only a refused proof is believable unauthenticated
	 * (then the mediator's key may not be ours to check), the rest wait
	 * for an authenticated answer or the timeout. */
	if (!authenticated && mm->error_code != MEDPROTO_ERR_UNAUTHENTICATED) {
		log_debug("peer %s: ignoring an unauthenticated mediator error %u", r->p->cfg.name,
			  mm->error_code);
		return;
	}
	char detail[200];
	switch (mm->error_code) {
	case MEDPROTO_ERR_NOT_AUTHORIZED:
		fail(r, now, "%s", "not authorized by the server (our key is not in its [client] list)");
		break;
	case MEDPROTO_ERR_OFFLINE:
		fail(r, now, "%s", "system offline (no server of it is registered with the mediator)");
		break;
	case MEDPROTO_ERR_NO_ANSWER:
		fail(r, now, "%s", "the server did not answer the mediator");
		break;
	case MEDPROTO_ERR_UNAUTHENTICATED:
		fail(r, now, "%s", "the mediator refused our key proof (check mediator_key: it must be "
		     "the mediator's public key)");
		break;
	default:
		snprintf(detail, sizeof(detail), "%u %s", mm->error_code, mm->error_reason);
		fail(r, now, "mediator error: %s", detail);
		break;
	}
}

void resolve_describe(const struct peer *p, char *state, size_t statelen, char *err, size_t errlen)
{
	const struct resolve *r = p->rs;
	static const char *const names[] = { "idle", "resolving", "resolved", "failed" };
	if (!r) {
		snprintf(state, statelen, "%s", "");
		snprintf(err, errlen, "%s", "");
		return;
	}
	snprintf(state, statelen, "%s", names[r->state]);
	snprintf(err, errlen, "%s", r->error);
}
