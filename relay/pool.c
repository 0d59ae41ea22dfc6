/*
 * pool.c - see pool.h. Each system's entries form a doubly linked list
 * (head oldest, tail newest); systems are chained per hash bucket.
 */
#include "pool.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define POOL_MIN_BUCKETS 64

struct pool_system {
	uint8_t id[UUID_LEN];
	struct pool_entry *head, *tail;
	size_t n;
	struct pool_system *chain;                  /* next in its bucket */
};

struct pool {
	struct pool_system **bucket;
	size_t nbuckets;                            /* a power of two */
	size_t nsystems, total;
	uint8_t key[crypto_shorthash_KEYBYTES];
};

static size_t hash(const struct pool *p, const uint8_t id[UUID_LEN])
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v = 0;

	crypto_shorthash(h, id, UUID_LEN, p->key);
	for (size_t i = 0; i < sizeof(v); i++)
		v = v << 8 | h[i];
	return (size_t)(v & (p->nbuckets - 1));
}

int pool_new(struct pool **out)
{
	struct pool *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->nbuckets = POOL_MIN_BUCKETS;
	p->bucket = calloc(p->nbuckets, sizeof(*p->bucket));
	if (!p->bucket) {
		free(p);
		return -ENOMEM;
	}
	randombytes_buf(p->key, sizeof(p->key));
	*out = p;
	return 0;
}

void pool_free(struct pool *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nbuckets; i++) {
		for (struct pool_system *s = p->bucket[i], *next; s; s = next) {
			next = s->chain;
			for (struct pool_entry *e = s->head; e; e = e->next)
				e->sys = NULL;
			free(s);
		}
	}
	free(p->bucket);
	free(p);
}

static struct pool_system *find(const struct pool *p, const uint8_t id[UUID_LEN])
{
	for (struct pool_system *s = p->bucket[hash(p, id)]; s; s = s->chain)
		if (memcmp(s->id, id, UUID_LEN) == 0)
			return s;
	return NULL;
}

/* Doubles the table; on failure the old one stays (only slower). */
static void grow(struct pool *p)
{
	size_t old_n = p->nbuckets;
	struct pool_system **old = p->bucket;
	struct pool_system **nb = calloc(old_n * 2, sizeof(*nb));

	if (!nb)
		return;
	p->bucket = nb;
	p->nbuckets = old_n * 2;
	for (size_t i = 0; i < old_n; i++) {
		for (struct pool_system *s = old[i], *next; s; s = next) {
			next = s->chain;
			size_t b = hash(p, s->id);
			s->chain = nb[b];
			nb[b] = s;
		}
	}
	free(old);
}

int pool_add(struct pool *p, struct pool_entry *e)
{
	struct pool_system *s = find(p, e->system);

	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
		memcpy(s->id, e->system, UUID_LEN);
		size_t b = hash(p, s->id);
		s->chain = p->bucket[b];
		p->bucket[b] = s;
		p->nsystems++;
		if (p->nsystems > p->nbuckets)
			grow(p);
	}
	e->sys = s;
	e->next = NULL;
	e->prev = s->tail;
	if (s->tail)
		s->tail->next = e;
	else
		s->head = e;
	s->tail = e;
	s->n++;
	p->total++;
	return 0;
}

static void drop_system(struct pool *p, struct pool_system *s)
{
	struct pool_system **link = &p->bucket[hash(p, s->id)];

	while (*link && *link != s)
		link = &(*link)->chain;
	if (*link)
		*link = s->chain;
	p->nsystems--;
	free(s);
}

void pool_remove(struct pool *p, struct pool_entry *e)
{
	struct pool_system *s = e->sys;

	if (!s)
		return;
	if (e->prev)
		e->prev->next = e->next;
	else
		s->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		s->tail = e->prev;
	e->prev = e->next = NULL;
	e->sys = NULL;
	s->n--;
	p->total--;
	if (s->n == 0)
		drop_system(p, s);
}

struct pool_entry *pool_take(struct pool *p, const uint8_t system[UUID_LEN], const char *server_id)
{
	struct pool_system *s = find(p, system);
	struct pool_entry *e = s ? s->tail : NULL;

	if (server_id && server_id[0])
		while (e && strcmp(e->server_id, server_id) != 0)
			e = e->prev;
	if (e)
		pool_remove(p, e);
	return e;
}

struct pool_entry *pool_oldest(const struct pool *p, const uint8_t system[UUID_LEN])
{
	struct pool_system *s = find(p, system);

	return s ? s->head : NULL;
}

size_t pool_count(const struct pool *p, const uint8_t system[UUID_LEN])
{
	struct pool_system *s = find(p, system);

	return s ? s->n : 0;
}

size_t pool_total(const struct pool *p)
{
	return p->total;
}

size_t pool_systems(const struct pool *p)
{
	return p->nsystems;
}

void pool_each_system(const struct pool *p, void (*fn)(void *arg, const uint8_t system[UUID_LEN], size_t n),
		      void *arg)
{
	for (size_t i = 0; i < p->nbuckets; i++)
		for (struct pool_system *s = p->bucket[i]; s; s = s->chain)
			fn(arg, s->id, s->n);
}
