/*
 * registry.c - see registry.h. A fixed array of bucket chains indexed by
 * SipHash (libsodium's crypto_shorthash) of the system id under a random
 * key drawn at registry_new(); the table never grows, which is fine
 * because entries are bounded by the mediator's max_connections.
 */
#include "registry.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define REGISTRY_BUCKETS 1024   /* a power of two */

struct registry {
	uint8_t hash_key[crypto_shorthash_KEYBYTES];
	uint64_t next_seq;
	size_t count;
	struct registration *buckets[REGISTRY_BUCKETS];
};

static size_t bucket(const struct registry *r, const uint8_t system_id[UUID_LEN])
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v = 0;

	crypto_shorthash(h, system_id, UUID_LEN, r->hash_key);
	for (size_t i = 0; i < sizeof(v); i++)
		v = v << 8 | h[i];
	return (size_t)(v & (REGISTRY_BUCKETS - 1));
}

int registry_new(struct registry **out)
{
	struct registry *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	randombytes_buf(r->hash_key, sizeof(r->hash_key));
	r->next_seq = 1;
	*out = r;
	return 0;
}

static void free_entry(struct registration *reg)
{
	sodium_memzero(reg, sizeof(*reg));
	free(reg);
}

void registry_free(struct registry *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < REGISTRY_BUCKETS; i++) {
		struct registration *reg = r->buckets[i], *next;
		for (; reg; reg = next) {
			next = reg->next;
			free_entry(reg);
		}
	}
	sodium_memzero(r, sizeof(*r));
	free(r);
}

static bool same_server(const struct registration *reg, const uint8_t system_id[UUID_LEN],
			const char *server_id)
{
	return memcmp(reg->system_id, system_id, UUID_LEN) == 0 &&
	       strcmp(reg->server_id, server_id) == 0;
}

struct registration *registry_find(struct registry *r, const uint8_t system_id[UUID_LEN],
				   const char *server_id)
{
	struct registration *best = NULL;

	for (struct registration *reg = r->buckets[bucket(r, system_id)]; reg; reg = reg->next) {
		if (memcmp(reg->system_id, system_id, UUID_LEN) != 0)
			continue;
		if (server_id[0] && strcmp(reg->server_id, server_id) == 0)
			return reg;
		if (!server_id[0] && (!best || reg->seq > best->seq))
			best = reg;
	}
	return best;
}

void registry_remove(struct registry *r, struct registration *reg)
{
	struct registration **pp = &r->buckets[bucket(r, reg->system_id)];

	for (; *pp; pp = &(*pp)->next) {
		if (*pp == reg) {
			*pp = reg->next;
			r->count--;
			free_entry(reg);
			return;
		}
	}
}

struct registration *registry_add(struct registry *r, const struct registration *val,
				  void **replaced)
{
	struct registration *reg = malloc(sizeof(*reg));

	*replaced = NULL;
	if (!reg)
		return NULL;
	*reg = *val;
	reg->server_id[sizeof(reg->server_id) - 1] = '\0';
	struct registration *old = registry_find(r, reg->system_id, reg->server_id);
	if (old && same_server(old, reg->system_id, reg->server_id) && reg->server_id[0]) {
		*replaced = old->conn;
		registry_remove(r, old);
	}
	size_t b = bucket(r, reg->system_id);
	reg->seq = r->next_seq++;
	reg->next = r->buckets[b];
	r->buckets[b] = reg;
	r->count++;
	return reg;
}

size_t registry_count(const struct registry *r)
{
	return r->count;
}
