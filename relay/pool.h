/*
 * pool.h - the idle pool connections servers keep at the relay, indexed
 * by system id (keys.h key_system_id of the key the listen request
 * proved) and by server id (its Tund-Server-Id, "" when it gave none).
 *
 * Pure bookkeeping: entries are embedded in their owner's object (the
 * relay engine's pool connection) and only linked here; the pool never
 * frees or touches a connection. Per system, entries are kept oldest
 * first; a connect takes the newest one (the most likely to be alive),
 * optionally only among one server's. Systems sit in a hash table under a
 * random SipHash key (system ids are chosen by whoever makes keys) that
 * doubles as it fills; a system without entries is freed.
 */
#ifndef TUND_RELAY_POOL_H
#define TUND_RELAY_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "medproto.h"

struct pool;
struct pool_system;

struct pool_entry {
	uint8_t system[UUID_LEN];
	char server_id[MEDPROTO_SERVER_ID_MAX];     /* "" = none given */
	struct pool_entry *prev, *next;             /* in its system, oldest first */
	struct pool_system *sys;                    /* NULL: not in the pool */
};

int pool_new(struct pool **out);
/* Frees the index; entries still linked are just forgotten. */
void pool_free(struct pool *p);

/* Links e (system and server_id filled in) as its system's newest.
 * 0 or -ENOMEM. */
int pool_add(struct pool *p, struct pool_entry *e);
/* Unlinks e; nothing when it is not linked. */
void pool_remove(struct pool *p, struct pool_entry *e);
/* The newest entry of system (of server server_id when not ""), unlinked;
 * NULL when there is none. */
struct pool_entry *pool_take(struct pool *p, const uint8_t system[UUID_LEN], const char *server_id);
/* The oldest entry of system, still linked; NULL when none. */
struct pool_entry *pool_oldest(const struct pool *p, const uint8_t system[UUID_LEN]);

size_t pool_count(const struct pool *p, const uint8_t system[UUID_LEN]);
size_t pool_total(const struct pool *p);
size_t pool_systems(const struct pool *p);
/* Calls fn once per system with its idle count, in no order. */
void pool_each_system(const struct pool *p, void (*fn)(void *arg, const uint8_t system[UUID_LEN], size_t n),
		      void *arg);

#endif
