/*
 * noncecache.c - see noncecache.h. The entries sit in a ring (oldest at
 * head) and are chained per hash bucket by index; -1 ends a chain. A
 * removal walks its bucket's chain, which stays short: there are at least
 * as many buckets as entries.
 */
#include "noncecache.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

struct entry {
	uint8_t nonce[NONCECACHE_NONCE_LEN];
	int64_t req_time;            /* the request's Tund-Time */
	int64_t seen;                /* relay clock when recorded */
	int32_t next;                /* in its bucket's chain */
};

struct noncecache {
	struct entry *ring;
	int32_t *bucket;             /* head index per bucket, -1 = empty */
	size_t cap, head, n;         /* ring: n entries from head */
	size_t mask;                 /* buckets - 1 */
	int64_t window;
	int64_t floor;               /* with has_floor: refuse req_time <= floor */
	bool has_floor;
	uint64_t evicted;
	uint8_t key[crypto_shorthash_KEYBYTES];
};

int noncecache_new(struct noncecache **out, size_t capacity, unsigned window_s)
{
	struct noncecache *nc;
	size_t buckets = 1;

	if (capacity == 0 || capacity > INT32_MAX / 2)
		return -EINVAL;
	while (buckets < capacity)
		buckets <<= 1;
	nc = calloc(1, sizeof(*nc));
	if (!nc)
		return -ENOMEM;
	nc->ring = calloc(capacity, sizeof(*nc->ring));
	nc->bucket = malloc(buckets * sizeof(*nc->bucket));
	if (!nc->ring || !nc->bucket) {
		noncecache_free(nc);
		return -ENOMEM;
	}
	memset(nc->bucket, 0xff, buckets * sizeof(*nc->bucket));
	nc->cap = capacity;
	nc->mask = buckets - 1;
	nc->window = window_s;
	randombytes_buf(nc->key, sizeof(nc->key));
	*out = nc;
	return 0;
}

void noncecache_free(struct noncecache *nc)
{
	if (!nc)
		return;
	free(nc->ring);
	free(nc->bucket);
	free(nc);
}

static size_t bucket_of(const struct noncecache *nc, const uint8_t nonce[NONCECACHE_NONCE_LEN])
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v = 0;

	crypto_shorthash(h, nonce, NONCECACHE_NONCE_LEN, nc->key);
	for (size_t i = 0; i < sizeof(v); i++)
		v = v << 8 | h[i];
	return (size_t)(v & nc->mask);
}

/* Removes the entry at the head of the ring (the oldest). */
static void drop_head(struct noncecache *nc)
{
	struct entry *e = &nc->ring[nc->head];
	int32_t idx = (int32_t)nc->head;
	int32_t *link = &nc->bucket[bucket_of(nc, e->nonce)];

	while (*link >= 0 && *link != idx)
		link = &nc->ring[*link].next;
	if (*link == idx)
		*link = e->next;
	nc->head = (nc->head + 1) % nc->cap;
	nc->n--;
}

int noncecache_check(struct noncecache *nc, const uint8_t nonce[NONCECACHE_NONCE_LEN],
		     int64_t req_time, int64_t now)
{
	while (nc->n > 0 && nc->ring[nc->head].seen + 2 * nc->window < now)
		drop_head(nc);
	if (nc->has_floor && req_time <= nc->floor)
		return -ESTALE;
	size_t b = bucket_of(nc, nonce);
	for (int32_t i = nc->bucket[b]; i >= 0; i = nc->ring[i].next)
		if (sodium_memcmp(nc->ring[i].nonce, nonce, NONCECACHE_NONCE_LEN) == 0)
			return -EALREADY;
	if (nc->n == nc->cap) {
		int64_t t = nc->ring[nc->head].req_time;
		if (!nc->has_floor || t > nc->floor)
			nc->floor = t;
		nc->has_floor = true;
		nc->evicted++;
		drop_head(nc);
		if (req_time <= nc->floor)
			return -ESTALE;
	}
	size_t slot = (nc->head + nc->n) % nc->cap;
	struct entry *e = &nc->ring[slot];
	memcpy(e->nonce, nonce, NONCECACHE_NONCE_LEN);
	e->req_time = req_time;
	e->seen = now;
	e->next = nc->bucket[b];
	nc->bucket[b] = (int32_t)slot;
	nc->n++;
	return 0;
}

size_t noncecache_count(const struct noncecache *nc)
{
	return nc->n;
}

uint64_t noncecache_evicted(const struct noncecache *nc)
{
	return nc->evicted;
}
