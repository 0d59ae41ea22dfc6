/*
 * peer.c - see peer.h. Peers are heap objects with stable addresses
 * (their uv_timer_t is embedded) and are freed only in the timer's close
 * callback. The index table is a chained hash of small heap entries.
 */
#include "peer.h"
#include "punch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "daemon.h"
#include "log.h"
#include "relaylink.h"
#include "resolve.h"
#include "tconn.h"

#define INDEX_BUCKETS 1024

struct index_entry {
	uint32_t index;
	struct peer *peer;
	struct session *session; /* NULL: the peer's pending handshake */
	struct index_entry *next;
};

struct peers {
	struct daemon *d;
	struct peer **v;
	size_t n, cap;
	struct index_entry *buckets[INDEX_BUCKETS];
	size_t closing;
	void (*done)(void *arg);
	void *done_arg;
};

int peers_new(struct peers **out, struct daemon *d)
{
	struct peers *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->d = d;
	*out = t;
	return 0;
}

size_t peers_count(const struct peers *t) { return t->n; }
struct peer *peers_at(const struct peers *t, size_t i) { return i < t->n ? t->v[i] : NULL; }

int peers_add(struct peers *t, const struct cfg_peer *cfg, uint32_t addr, struct peer **out)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		struct peer **v = realloc(t->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	struct peer *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	uint8_t id[UUID_LEN];
	p->d = t->d;
	p->table = t;
	p->cfg = *cfg;
	if (cfg->has_psk)
		memcpy(p->psk, cfg->psk, sizeof(p->psk));
	p->has_key = cfg->has_key;
	if (cfg->has_key)
		key_system_id(id, cfg->key);
	else
		memcpy(id, cfg->system_id, UUID_LEN);
	uuid_format(p->system_id, id);
	p->addr = addr;
	p->rtt_us = -1;
	if (cfg->has_endpoint) {
		/* The configured endpoint is the first path, unproven until a
		 * handshake answers on it (path.h). */
		punch_add(p, &cfg->endpoint, CAND_CONFIG);
		p->has_endpoint = true;
		p->endpoint = cfg->endpoint;
		p->path = PATH_DIRECT;
	}
	uv_timer_init(t->d->loop, &p->timer);
	p->timer.data = p;
	t->v[t->n++] = p;
	*out = p;
	return 0;
}

struct peer *peers_by_key(const struct peers *t, const uint8_t key[KEY_LEN])
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i]->has_key && memcmp(t->v[i]->cfg.key, key, KEY_LEN) == 0)
			return t->v[i];
	return NULL;
}

struct peer *peers_by_system_key(const struct peers *t, const uint8_t key[KEY_LEN])
{
	uint8_t id[UUID_LEN];
	key_system_id(id, key);
	for (size_t i = 0; i < t->n; i++)
		if (!t->v[i]->has_key && t->v[i]->cfg.has_system &&
		    memcmp(t->v[i]->cfg.system_id, id, UUID_LEN) == 0)
			return t->v[i];
	return NULL;
}

void peer_set_key(struct peer *p, const uint8_t key[KEY_LEN])
{
	memcpy(p->cfg.key, key, KEY_LEN);
	p->has_key = true;
}

unsigned peer_keepalive_interval(const struct peer *p)
{
	if (p->cfg.persistent_keepalive)
		return p->cfg.persistent_keepalive;
	return p->via_mediator ? p->d->cfg.nat_keepalive : 0;
}

struct peer *peers_by_addr(const struct peers *t, uint32_t addr)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i]->addr == addr)
			return t->v[i];
	return NULL;
}

static struct index_entry **bucket(const struct peers *t, uint32_t index)
{
	return (struct index_entry **)&t->buckets[(index * 2654435761u) >> 22];
}

uint32_t peers_index_alloc(struct peers *t, struct peer *p, struct session *s)
{
	struct index_entry *e = malloc(sizeof(*e));
	struct session *unused;
	if (!e)
		return 0;
	uint32_t index;
	do
		index = randombytes_random();
	while (index == 0 || peers_by_index(t, index, &unused));
	e->index = index;
	e->peer = p;
	e->session = s;
	struct index_entry **b = bucket(t, index);
	e->next = *b;
	*b = e;
	return index;
}

void peers_index_free(struct peers *t, uint32_t index)
{
	for (struct index_entry **pe = bucket(t, index); *pe; pe = &(*pe)->next) {
		if ((*pe)->index == index) {
			struct index_entry *e = *pe;
			*pe = e->next;
			free(e);
			return;
		}
	}
}

void peers_index_bind(struct peers *t, uint32_t index, struct session *s)
{
	for (struct index_entry *e = *bucket(t, index); e; e = e->next)
		if (e->index == index)
			e->session = s;
}

struct peer *peers_by_index(const struct peers *t, uint32_t index, struct session **s)
{
	for (struct index_entry *e = *bucket(t, index); e; e = e->next) {
		if (e->index == index) {
			*s = e->session;
			return e->peer;
		}
	}
	*s = NULL;
	return NULL;
}

void peer_free_session(struct peer *p, struct session **slot)
{
	if (!*slot)
		return;
	peers_index_free(p->table, (*slot)->local_index);
	session_wipe(*slot);
	free(*slot);
	*slot = NULL;
}

void peer_install_session(struct peer *p, struct session *s)
{
	peer_free_session(p, &p->prev);
	p->prev = p->cur;
	p->cur = s;
}

void peer_set_next(struct peer *p, struct session *s)
{
	peer_free_session(p, &p->next);
	p->next = s;
}

void peer_confirm_next(struct peer *p)
{
	struct session *s = p->next;
	p->next = NULL;
	s->confirmed = true;
	peer_install_session(p, s);
}

void peer_end_handshake(struct peer *p)
{
	if (p->hs_active)
		peers_index_free(p->table, p->hs_index);
	noise_handshake_wipe(&p->hs);
	p->hs_active = false;
	p->hs_tries = 0;
}

void peer_clear_sessions(struct peer *p)
{
	peer_free_session(p, &p->cur);
	peer_free_session(p, &p->prev);
	peer_free_session(p, &p->next);
	peer_end_handshake(p);
}

bool peer_queue_push(struct peer *p, const uint8_t *pkt, size_t len)
{
	struct peer_queue *q = &p->queue;
	bool dropped = false;
	if (len > UINT16_MAX)
		return false;
	if (q->count == PEER_QUEUE_LEN) {
		free(q->pkt[q->head]);
		q->head = (q->head + 1) % PEER_QUEUE_LEN;
		q->count--;
		dropped = true;
	}
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		return false;
	memcpy(copy, pkt, len);
	unsigned tail = (q->head + q->count) % PEER_QUEUE_LEN;
	q->pkt[tail] = copy;
	q->len[tail] = (uint16_t)len;
	q->count++;
	return !dropped;
}

size_t peer_queue_pop(struct peer *p, uint8_t *buf, size_t cap)
{
	struct peer_queue *q = &p->queue;
	if (!q->count)
		return 0;
	size_t len = q->len[q->head];
	uint8_t *pkt = q->pkt[q->head];
	q->pkt[q->head] = NULL;
	q->head = (q->head + 1) % PEER_QUEUE_LEN;
	q->count--;
	if (len > cap)
		len = 0; /* cannot happen: queued packets came from a buffer of this size */
	else
		memcpy(buf, pkt, len);
	free(pkt);
	return len;
}

void peer_queue_clear(struct peer *p)
{
	while (p->queue.count) {
		free(p->queue.pkt[p->queue.head]);
		p->queue.head = (p->queue.head + 1) % PEER_QUEUE_LEN;
		p->queue.count--;
	}
}

int peers_pool_address(const struct peers *t, const uint8_t key[KEY_LEN], uint32_t pool,
		       unsigned pool_len, uint32_t own, uint32_t *out)
{
	uint8_t h[8];
	uint64_t size = pool_len >= 31 ? 0 : (1ULL << (32 - pool_len)) - 2; /* minus network, broadcast */
	if (size == 0)
		return -ENOSPC;
	noise_hash(h, sizeof(h), (const uint8_t *)"tund pool", 9, key, KEY_LEN);
	uint64_t start = 0;
	for (int i = 0; i < 8; i++)
		start = start << 8 | h[i];
	start %= size;
	for (uint64_t i = 0; i < size; i++) {
		uint32_t a = (pool & prefix_mask(pool_len)) + 1 + (uint32_t)((start + i) % size);
		if (a != own && !peers_by_addr(t, a)) {
			*out = a;
			return 0;
		}
	}
	return -ENOSPC;
}

static void peer_closed_cb(uv_handle_t *h)
{
	struct peer *p = h->data;
	struct peers *t = p->table;
	sodium_memzero(p, sizeof(*p));
	free(p);
	if (--t->closing == 0) {
		void (*done)(void *) = t->done;
		void *arg = t->done_arg;
		free(t->v);
		free(t);
		if (done)
			done(arg);
	}
}

/* A peer taken out by peers_remove: the table may be gone by now. */
static void peer_removed_cb(uv_handle_t *h)
{
	struct peer *p = h->data;
	sodium_memzero(p, sizeof(*p));
	free(p);
}

void peers_remove(struct peers *t, struct peer *p)
{
	struct daemon *d = t->d;
	size_t i = 0;
	while (i < t->n && t->v[i] != p)
		i++;
	if (i == t->n)
		return;
	memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof(t->v[0]));
	t->n--;
	path_ping_cancel(d, p, -ECANCELED); /* tunctl ping's waiter hears of it now */
	relaylink_cancel(d->relay, p);
	/* Detached first: closing an attached stream would make path.c look
	 * for another path and punch, for a peer that is going away. */
	for (struct tconn *c = d->tconns; c; c = c->next) {
		if (c->peer != p)
			continue;
		if (!c->closing)
			log_info("peer %s: closing %s", p->cfg.name, c->desc);
		c->peer = NULL; /* one already closing keeps no pointer to p either */
		tconn_close(c, "the peer was removed");
	}
	peer_clear_sessions(p);
	peer_queue_clear(p);
	resolve_free(p);
	p->table = NULL;
	uv_close((uv_handle_t *)&p->timer, peer_removed_cb);
}

void peers_free(struct peers *t, void (*done)(void *arg), void *arg)
{
	t->done = done;
	t->done_arg = arg;
	t->closing = t->n;
	if (t->n == 0) {
		free(t->v);
		free(t);
		if (done)
			done(arg);
		return;
	}
	for (size_t i = 0; i < t->n; i++) {
		struct peer *p = t->v[i];
		peer_clear_sessions(p);
		peer_queue_clear(p);
		resolve_free(p);
		uv_close((uv_handle_t *)&p->timer, peer_closed_cb);
	}
	t->n = 0;
}
