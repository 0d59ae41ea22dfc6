/*
 * pending.h - connects in progress at the mediator: a client's CONNECT
 * request waiting for the server's ANSWER, and, once answered (or timed
 * out), kept a while so duplicates of the request (its retransmissions,
 * or the TCP copy of a UDP request) get the same answer.
 *
 * An entry is keyed by the client's transaction id and public key (a
 * transaction id alone is chosen by the client and could collide with
 * another client's); an ANSWER finds it by transaction id (its CONNECT-ID)
 * and the server's key. It records every return channel the client used:
 * UDP sources (the first is the client's public UDP mapping) and TCP
 * connections (opaque pointers, not owned: pending_drop_conn() forgets a
 * closing connection). Values and policy (what to send, when to expire)
 * belong to the caller; this module only stores, finds and bounds them.
 *
 * Invariants: at most max entries; an entry's auth keys are secret and
 * wiped when it goes; buckets are chosen with a keyed hash.
 */
#ifndef TUND_MEDIATOR_PENDING_H
#define TUND_MEDIATOR_PENDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "keys.h"
#include "medproto.h"

#define PENDING_MAX_UDP 2        /* UDP sources remembered per connect */
#define PENDING_MAX_TCP 2        /* TCP connections remembered per connect */

enum pending_state {
	PENDING_WAITING,         /* the server has not answered yet */
	PENDING_TIMED_OUT,       /* the client got 504; a late ANSWER still counts */
	PENDING_ANSWERED,        /* the server answered (decision) */
};

struct pending_udp {
	struct endpoint from;
	unsigned port;           /* the mediator's UDP port index it came in on */
};

struct pending {
	uint8_t txid[STUN_TXID_LEN];         /* the client's request */
	uint8_t client_key[KEY_LEN];
	uint8_t client_auth[32];             /* secret */
	struct endpoint client_local[MEDPROTO_MAX_ADDRS];
	unsigned n_client_local;
	struct pending_udp udp[PENDING_MAX_UDP];
	unsigned n_udp;
	void *tcp[PENDING_MAX_TCP];
	unsigned n_tcp;

	uint8_t server_system_id[UUID_LEN];
	char server_id[MEDPROTO_SERVER_ID_MAX];
	uint8_t server_key[KEY_LEN];
	uint8_t server_auth[32];             /* secret */
	struct endpoint server_local[MEDPROTO_MAX_ADDRS];
	unsigned n_server_local;
	bool has_server_public;
	struct endpoint server_public;       /* learned from a UDP ANSWER */

	enum pending_state state;
	uint32_t decision;                   /* when ANSWERED */
	uint64_t deadline_ms;                /* WAITING: answer due; else: forget */

	struct pending *hnext;               /* the table's own links */
	struct pending *prev, *next;
};

struct pending_table;

int pending_table_new(struct pending_table **out, size_t max);
void pending_table_free(struct pending_table *t);

/* Stores a copy of val (links are set here): 0 and *out, -ENOSPC when
 * the table holds max entries, -ENOMEM. */
int pending_add(struct pending_table *t, const struct pending *val, struct pending **out);
void pending_remove(struct pending_table *t, struct pending *p);
struct pending *pending_find(struct pending_table *t, const uint8_t txid[STUN_TXID_LEN],
			     const uint8_t client_key[KEY_LEN]);
struct pending *pending_find_answer(struct pending_table *t, const uint8_t connect_id[STUN_TXID_LEN],
				    const uint8_t server_key[KEY_LEN]);

/* Records a return channel; true when it is new and there was room. */
bool pending_add_udp(struct pending *p, const struct endpoint *from, unsigned port);
bool pending_add_tcp(struct pending *p, void *conn);

/* Forgets conn in every entry; the number of entries that held it. */
size_t pending_drop_conn(struct pending_table *t, void *conn);

/* Calls due(arg, p) for each entry whose deadline is <= now_ms; due may
 * change the entry or pending_remove() it. */
void pending_expire(struct pending_table *t, uint64_t now_ms,
		    void (*due)(void *arg, struct pending *p), void *arg);
size_t pending_count(const struct pending_table *t);

#endif
