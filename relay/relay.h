/*
 * relay.h - the relay's engine: what becomes of a request once the HTTP
 * front (front.h) has parsed and authenticated it.
 *
 *   listen:  the server's stream joins the pool (pool.h) under its
 *            system and server id; until a splice the relay only answers
 *            PING with PONG, and closes it on any other frame, or when it
 *            has been silent for RELAYPROTO_IDLE_S. A system holds at
 *            most RELAY_POOL_PER_SYSTEM idle connections; past that its
 *            oldest one is closed.
 *   connect: the newest idle connection of the target is taken, SPLICED
 *            (with the client's key) is written to it, the client is
 *            answered (the front's callback makes its stream) and the two
 *            are spliced (splice.h). None idle: -ENOENT ("offline").
 *   splice:  any two streams (the gateway to the mediator uses this).
 *
 * Everything the engine holds is closed through its streams: when the
 * connection table closes at shutdown, every stream reports closed and
 * the engine lets go of it.
 */
#ifndef TUND_RELAY_RELAY_H
#define TUND_RELAY_RELAY_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "keys.h"
#include "pool.h"
#include "stats.h"
#include "stream.h"

#define RELAY_POOL_PER_SYSTEM 256

struct relay;

int relay_new(struct relay **out, uv_loop_t *loop, struct stats *st);
/* After every stream has closed (the loop has ended). */
void relay_free(struct relay *r);

/* s (answered, authenticated) joins the pool. 0, or -ENOMEM (s is the
 * caller's to close). */
int relay_listen(struct relay *r, struct stream *s, const uint8_t system[UUID_LEN],
		 const char *server_id);
/* See above. answer(arg) answers the client and returns its stream, or
 * NULL when it could not (the pool connection is closed then: it was
 * told SPLICED). 0, -ENOENT (offline), -EIO (answer failed), -ENOMEM. */
int relay_connect(struct relay *r, const uint8_t system[UUID_LEN], const char *server_id,
		  const uint8_t client_key[KEY_LEN], struct stream *(*answer)(void *arg), void *arg);
/* Joins a and b. 0 or -ENOMEM (both are the caller's to close). */
int relay_splice(struct relay *r, struct stream *a, struct stream *b);

/* Closes pool connections silent for RELAYPROTO_IDLE_S. */
void relay_sweep(struct relay *r, uint64_t now_ms);

size_t relay_splice_count(const struct relay *r);
const struct pool *relay_pool(const struct relay *r);

#endif
