/*
 * answer.c - see answer.h. Pending UDP answers live in a small fixed
 * table (ANSWER_PENDING_MAX; a full table drops the oldest) served by one
 * timer. Nothing here trusts the indication beyond what the mediator
 * vouches for with TUND-AUTH: the client's key is checked against our
 * [client] sections, and its addresses only become candidates, which the
 * handshake then has to prove.
 */
#include "answer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <uv.h>

#include "daemon.h"
#include "log.h"
#include "medlink.h"
#include "medproto.h"
#include "peer.h"
#include "punch.h"
#include "timers.h"

struct pending {
	bool used;
	uint8_t connect_id[STUN_TXID_LEN];
	uint8_t txid[STUN_TXID_LEN];       /* of our ANSWER request */
	unsigned tries;
	uint64_t next_ms;
	uint64_t created_ms;
};

struct answers {
	struct daemon *d;
	uv_timer_t timer;
	struct pending p[ANSWER_PENDING_MAX];
};

static void timer_cb(uv_timer_t *h);

int answers_new(struct answers **out, struct daemon *d)
{
	struct answers *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->d = d;
	uv_timer_init(d->loop, &a->timer);
	a->timer.data = a;
	*out = a;
	return 0;
}

static void closed_cb(uv_handle_t *h)
{
	free(h->data);
}

void answers_close(struct answers *a)
{
	if (a)
		uv_close((uv_handle_t *)&a->timer, closed_cb);
}

static int encode(struct daemon *d, const struct pending *pa, uint32_t decision, bool udp,
		  uint8_t *buf, size_t cap)
{
	struct medmsg mm = { .method = MEDPROTO_METHOD_ANSWER, .cls = STUN_REQUEST };
	memcpy(mm.txid, pa->txid, STUN_TXID_LEN);
	mm.has_key = true;
	memcpy(mm.key, d->self.pub, KEY_LEN);
	mm.has_connect_id = true;
	memcpy(mm.connect_id, pa->connect_id, STUN_TXID_LEN);
	mm.has_decision = true;
	mm.decision = decision;
	return medproto_encode(buf, cap, &mm, medlink_auth_key(d->med), MEDPROTO_DIR_TO_MEDIATOR, udp);
}

static void send_udp(struct daemon *d, struct pending *pa, uint64_t now)
{
	uint8_t buf[STUN_MAX_MSG];
	int n = encode(d, pa, MEDPROTO_DECISION_ACCEPT, true, buf, sizeof(buf));
	if (n > 0)
		medlink_send_udp(d->med, buf, (size_t)n, 0);
	pa->tries++;
	pa->next_ms = now + ((uint64_t)ANSWER_RETRY_MS << (pa->tries - 1));
	if (pa->tries >= ANSWER_TRIES)
		pa->used = false;
}

static void arm(struct answers *a, uint64_t now)
{
	uint64_t due = 0;
	for (unsigned i = 0; i < ANSWER_PENDING_MAX; i++)
		if (a->p[i].used && (!due || a->p[i].next_ms < due))
			due = a->p[i].next_ms;
	if (due)
		uv_timer_start(&a->timer, timer_cb, due > now ? due - now : 1, 0);
	else
		uv_timer_stop(&a->timer);
}

static void timer_cb(uv_timer_t *h)
{
	struct answers *a = h->data;
	if (a->d->stopping)
		return;
	uint64_t now = uv_now(a->d->loop);
	for (unsigned i = 0; i < ANSWER_PENDING_MAX; i++)
		if (a->p[i].used && now >= a->p[i].next_ms)
			send_udp(a->d, &a->p[i], now);
	arm(a, now);
}

static struct pending *slot_for(struct answers *a, const uint8_t connect_id[STUN_TXID_LEN], bool *existing)
{
	struct pending *oldest = &a->p[0];
	*existing = false;
	for (unsigned i = 0; i < ANSWER_PENDING_MAX; i++) {
		if (a->p[i].used && memcmp(a->p[i].connect_id, connect_id, STUN_TXID_LEN) == 0) {
			*existing = true;
			return &a->p[i];
		}
	}
	for (unsigned i = 0; i < ANSWER_PENDING_MAX; i++) {
		if (!a->p[i].used)
			return &a->p[i];
		if (a->p[i].created_ms < oldest->created_ms)
			oldest = &a->p[i];
	}
	return oldest;
}

static void refuse(struct daemon *d, const struct medmsg *mm)
{
	struct pending pa = { 0 };
	uint8_t buf[STUN_MAX_MSG];
	char k[KEY_B64_LEN + 1];
	memcpy(pa.connect_id, mm->connect_id, STUN_TXID_LEN);
	stun_new_txid(pa.txid);
	int n = encode(d, &pa, MEDPROTO_DECISION_REFUSE, false, buf, sizeof(buf));
	if (n > 0)
		medlink_send_tcp(d->med, buf, (size_t)n);
	key_to_base64(k, mm->peer_key);
	log_info("mediator: refused a connect from key %s: not one of our [client] sections", k);
}

void answer_connect(struct daemon *d, const struct medmsg *mm)
{
	struct answers *a = d->answers;
	uint64_t now = uv_now(d->loop);
	if (!mm->has_connect_id || !mm->has_peer_key)
		return;
	struct peer *p = peers_by_key(d->peers, mm->peer_key);
	if (!p || p->cfg.role != CFG_ROLE_CLIENT) {
		refuse(d, mm);
		return;
	}
	bool existing;
	struct pending *pa = slot_for(a, mm->connect_id, &existing);
	if (!existing) {
		memset(pa, 0, sizeof(*pa));
		pa->used = true;
		memcpy(pa->connect_id, mm->connect_id, STUN_TXID_LEN);
		stun_new_txid(pa->txid);
		pa->created_ms = now;
	}
	/* A client we hear from now asks again only to find a better path
	 * (resolve_upgrade): its addresses join our candidates and the path
	 * manager's probes open our NAT towards them; a new handshake or a
	 * wiped candidate table would only cost the session it has. */
	bool live = timers_session_alive(d, p->cur, now) && now - p->last_rx_ms < ANSWER_LIVE_MS;
	if (live) {
		if (punch_add_reported(p, mm))
			timers_path_changed(p);
	} else if (!existing) {
		/* Candidates and the first punches go out before the answer, so
		 * our NAT is open towards the client by the time it learns where
		 * we are. A new connect replaces the candidates of an earlier
		 * one: a roaming client's old LAN addresses belong to someone
		 * else by now. */
		punch_clear(p);
	}
	unsigned added = live ? 0 : punch_add_reported(p, mm);
	p->via_mediator = true;
	if (!live)
		p->yield_until_ms = now + PUNCH_ROLE_MS;
	if (!live && (!existing || added)) {
		char c[256];
		punch_format(p, c, sizeof(c));
		log_info("client %s connects through the mediator; punching towards %s", p->cfg.name, c);
		punch_start(d, p);
	}
	uint8_t buf[STUN_MAX_MSG];
	int n = encode(d, pa, MEDPROTO_DECISION_ACCEPT, false, buf, sizeof(buf));
	if (!existing) {
		send_udp(d, pa, now);
		if (n > 0)
			medlink_send_tcp(d->med, buf, (size_t)n);
	}
	arm(a, now);
}

void answer_acked(struct daemon *d, const struct medmsg *mm, bool via_udp)
{
	struct answers *a = d->answers;
	if (!a || !via_udp)
		return; /* only a UDP acknowledgement shows the mediator has our mapping */
	for (unsigned i = 0; i < ANSWER_PENDING_MAX; i++)
		if (a->p[i].used && memcmp(a->p[i].txid, mm->txid, STUN_TXID_LEN) == 0)
			a->p[i].used = false;
	arm(a, uv_now(d->loop));
}
