/*
 * registry.h - the servers registered with the mediator: one entry per
 * (system id, server id), each tied to the TCP connection that registered
 * it. Several servers may serve one system; a plain system lookup picks
 * the one that registered last. No sockets here: the connection is an
 * opaque pointer the caller owns, so tests can drive the table alone.
 *
 * Invariants: at most one entry per (system id, server id) (registry_add
 * replaces and reports the old one's connection); an entry's auth key is
 * secret and wiped when the entry goes; buckets are chosen with a keyed
 * hash, so clients cannot aim many systems at one chain.
 */
#ifndef TUND_MEDIATOR_REGISTRY_H
#define TUND_MEDIATOR_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "keys.h"
#include "medproto.h"

struct registry;

struct registration {
	uint8_t system_id[UUID_LEN];     /* key_system_id(key) */
	char server_id[MEDPROTO_SERVER_ID_MAX];
	uint8_t key[KEY_LEN];            /* the system's public key */
	uint8_t auth[32];                /* medproto_auth_key() for key: secret */
	struct endpoint local[MEDPROTO_MAX_ADDRS];
	unsigned n_local;
	struct endpoint tcp_from;        /* the registering connection's source */
	void *conn;                      /* the registering connection (not owned) */
	uint64_t seq;                    /* set by registry_add: larger = newer */
	struct registration *next;       /* registry's own: bucket chain */
};

int registry_new(struct registry **out);
void registry_free(struct registry *r);

/* Stores a copy of val (seq and next are set here). An entry with the
 * same system id and server id is removed first, and its connection put
 * in *replaced (NULL when there was none). The stored entry, or NULL when
 * out of memory (then nothing changed). */
struct registration *registry_add(struct registry *r, const struct registration *val,
				  void **replaced);
/* Unlinks and frees an entry registry_add returned. */
void registry_remove(struct registry *r, struct registration *reg);
/* The entry for system_id and server_id; for server_id "" the newest
 * entry of the system. NULL when none. */
struct registration *registry_find(struct registry *r, const uint8_t system_id[UUID_LEN],
				   const char *server_id);
size_t registry_count(const struct registry *r);

#endif
