/*
 * pending.c - see pending.h. Entries sit on a doubly linked list (for
 * expiry and dropping connections) and on bucket chains indexed by SipHash
 * of the transaction id under a random key, so a client choosing its
 * transaction ids cannot pile entries onto one chain.
 */
#include "pending.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define PENDING_BUCKETS 4096    /* a power of two */

struct pending_table {
	uint8_t hash_key[crypto_shorthash_KEYBYTES];
	size_t max;
	size_t count;
	struct pending *head;
	struct pending *buckets[PENDING_BUCKETS];
};

static size_t bucket(const struct pending_table *t, const uint8_t txid[STUN_TXID_LEN])
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v = 0;

	crypto_shorthash(h, txid, STUN_TXID_LEN, t->hash_key);
	for (size_t i = 0; i < sizeof(v); i++)
		v = v << 8 | h[i];
	return (size_t)(v & (PENDING_BUCKETS - 1));
}

int pending_table_new(struct pending_table **out, size_t max)
{
	struct pending_table *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	randombytes_buf(t->hash_key, sizeof(t->hash_key));
	t->max = max;
	*out = t;
	return 0;
}

static void free_entry(struct pending *p)
{
	sodium_memzero(p, sizeof(*p));
	free(p);
}

void pending_table_free(struct pending_table *t)
{
	if (!t)
		return;
	struct pending *p = t->head, *next;
	for (; p; p = next) {
		next = p->next;
		free_entry(p);
	}
	sodium_memzero(t, sizeof(*t));
	free(t);
}

int pending_add(struct pending_table *t, const struct pending *val, struct pending **out)
{
	if (t->count >= t->max)
		return -ENOSPC;
	struct pending *p = malloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	*p = *val;
	size_t b = bucket(t, p->txid);
	p->hnext = t->buckets[b];
	t->buckets[b] = p;
	p->prev = NULL;
	p->next = t->head;
	if (t->head)
		t->head->prev = p;
	t->head = p;
	t->count++;
	*out = p;
	return 0;
}

void pending_remove(struct pending_table *t, struct pending *p)
{
	struct pending **pp = &t->buckets[bucket(t, p->txid)];

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == p) {
			*pp = p->hnext;
			break;
		}
	}
	if (p->prev)
		p->prev->next = p->next;
	else
		t->head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	t->count--;
	free_entry(p);
}

/* Public keys are not secret: plain memcmp. */
struct pending *pending_find(struct pending_table *t, const uint8_t txid[STUN_TXID_LEN],
			     const uint8_t client_key[KEY_LEN])
{
	for (struct pending *p = t->buckets[bucket(t, txid)]; p; p = p->hnext)
		if (memcmp(p->txid, txid, STUN_TXID_LEN) == 0 &&
		    memcmp(p->client_key, client_key, KEY_LEN) == 0)
			return p;
	return NULL;
}

struct pending *pending_find_answer(struct pending_table *t, const uint8_t connect_id[STUN_TXID_LEN],
				    const uint8_t server_key[KEY_LEN])
{
	for (struct pending *p = t->buckets[bucket(t, connect_id)]; p; p = p->hnext)
		if (memcmp(p->txid, connect_id, STUN_TXID_LEN) == 0 &&
		    memcmp(p->server_key, server_key, KEY_LEN) == 0)
			return p;
	return NULL;
}

bool pending_add_udp(struct pending *p, const struct endpoint *from, unsigned port)
{
	for (unsigned i = 0; i < p->n_udp; i++)
		if (endpoint_equal(&p->udp[i].from, from))
			return false;
	if (p->n_udp == PENDING_MAX_UDP)
		return false;
	p->udp[p->n_udp].from = *from;
	p->udp[p->n_udp].port = port;
	p->n_udp++;
	return true;
}

bool pending_add_tcp(struct pending *p, void *conn)
{
	for (unsigned i = 0; i < p->n_tcp; i++)
		if (p->tcp[i] == conn)
			return false;
	if (p->n_tcp == PENDING_MAX_TCP)
		return false;
	p->tcp[p->n_tcp++] = conn;
	return true;
}

size_t pending_drop_conn(struct pending_table *t, void *conn)
{
	size_t n = 0;

	for (struct pending *p = t->head; p; p = p->next) {
		for (unsigned i = 0; i < p->n_tcp; i++) {
			if (p->tcp[i] != conn)
				continue;
			p->tcp[i] = p->tcp[--p->n_tcp];
			p->tcp[p->n_tcp] = NULL;
			n++;
			break;
		}
	}
	return n;
}

void pending_expire(struct pending_table *t, uint64_t now_ms,
		    void (*due)(void *arg, struct pending *p), void *arg)
{
	struct pending *p = t->head, *next;

	for (; p; p = next) {
		next = p->next;
		if (p->deadline_ms <= now_ms)
			due(arg, p);
	}
}

size_t pending_count(const struct pending_table *t)
{
	return t->count;
}
