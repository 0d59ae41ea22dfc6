/*
 * polltab.c - see polltab.h. Buckets are chosen by the token's own first
 * bytes (random, and unknown to whoever did not get the token); the
 * table doubles when it holds more entries than buckets.
 */
#include "polltab.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define POLLTAB_MIN_BUCKETS 64

struct polltab {
	struct polltab_entry **bucket;
	size_t nbuckets;                 /* a power of two */
	size_t n;
};

static size_t bucket_of(const struct polltab *t, const uint8_t token[RELAYPROTO_TOKEN_LEN])
{
	uint64_t v = 0;

	for (size_t i = 0; i < sizeof(v); i++)
		v = v << 8 | token[i];
	return (size_t)(v & (t->nbuckets - 1));
}

int polltab_new(struct polltab **out)
{
	struct polltab *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->nbuckets = POLLTAB_MIN_BUCKETS;
	t->bucket = calloc(t->nbuckets, sizeof(*t->bucket));
	if (!t->bucket) {
		free(t);
		return -ENOMEM;
	}
	*out = t;
	return 0;
}

void polltab_free(struct polltab *t)
{
	if (!t)
		return;
	free(t->bucket);
	free(t);
}

static int parse_hex(uint8_t out[RELAYPROTO_TOKEN_LEN], const char *hex)
{
	if (strlen(hex) != RELAYPROTO_TOKEN_STR)
		return -EINVAL;
	for (size_t i = 0; i < RELAYPROTO_TOKEN_STR; i++) {
		char ch = hex[i];
		unsigned v = ch >= '0' && ch <= '9' ? (unsigned)(ch - '0') :
			     ch >= 'a' && ch <= 'f' ? (unsigned)(ch - 'a' + 10) :
			     ch >= 'A' && ch <= 'F' ? (unsigned)(ch - 'A' + 10) : 16;
		if (v > 15)
			return -EINVAL;
		if (i % 2 == 0)
			out[i / 2] = (uint8_t)(v << 4);
		else
			out[i / 2] |= (uint8_t)v;
	}
	return 0;
}

struct polltab_entry *polltab_find(const struct polltab *t, const char *hex)
{
	uint8_t token[RELAYPROTO_TOKEN_LEN];

	if (parse_hex(token, hex) < 0)
		return NULL;
	for (struct polltab_entry *e = t->bucket[bucket_of(t, token)]; e; e = e->chain)
		if (sodium_memcmp(e->token, token, sizeof(token)) == 0)
			return e;
	return NULL;
}

static void grow(struct polltab *t)
{
	size_t old_n = t->nbuckets;
	struct polltab_entry **old = t->bucket;
	struct polltab_entry **nb = calloc(old_n * 2, sizeof(*nb));

	if (!nb)
		return;
	t->bucket = nb;
	t->nbuckets = old_n * 2;
	for (size_t i = 0; i < old_n; i++) {
		for (struct polltab_entry *e = old[i], *next; e; e = next) {
			next = e->chain;
			size_t b = bucket_of(t, e->token);
			e->chain = nb[b];
			nb[b] = e;
		}
	}
	free(old);
}

int polltab_add(struct polltab *t, struct polltab_entry *e)
{
	/* 128 random bits do not collide; the loop is for form's sake */
	for (int tries = 0; tries < 4; tries++) {
		randombytes_buf(e->token, sizeof(e->token));
		sodium_bin2hex(e->hex, sizeof(e->hex), e->token, sizeof(e->token));
		if (!polltab_find(t, e->hex))
			break;
	}
	size_t b = bucket_of(t, e->token);
	e->chain = t->bucket[b];
	t->bucket[b] = e;
	e->linked = true;
	e->uploading = false;
	e->up_left = 0;
	t->n++;
	if (t->n > t->nbuckets)
		grow(t);
	return 0;
}

void polltab_remove(struct polltab *t, struct polltab_entry *e)
{
	if (!e->linked)
		return;
	struct polltab_entry **link = &t->bucket[bucket_of(t, e->token)];
	while (*link && *link != e)
		link = &(*link)->chain;
	if (*link)
		*link = e->chain;
	e->chain = NULL;
	e->linked = false;
	t->n--;
}

size_t polltab_count(const struct polltab *t)
{
	return t->n;
}

int polltab_upload_begin(struct polltab_entry *e, uint64_t len, bool keep)
{
	if (e->uploading)
		return -EBUSY;
	e->up_left = len;
	e->up_keep = keep;
	e->uploading = len > 0;
	return 0;
}

size_t polltab_upload_take(struct polltab_entry *e, size_t avail)
{
	size_t n = e->up_left < avail ? (size_t)e->up_left : avail;

	e->up_left -= n;
	if (e->up_left == 0)
		e->uploading = false;
	return n;
}
