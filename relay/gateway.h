/*
 * gateway.h - GET /tund/v1/mediator (relayproto.h): a byte stream to the
 * mediator's TCP side for tunds whose only way out is an HTTP proxy. The
 * relay connects to the configured mediator (a host name is resolved on
 * each request, so a restart of the mediator elsewhere needs no relay
 * restart), then answers the request in its mode (Upgrade or Poll,
 * through the front's callback) and splices. The relay does not
 * authenticate these requests: the mediator protocol authenticates
 * itself, and the per-source request limit applies as to any other.
 *
 * While connecting, the client's connection stays on its request-head
 * deadline (conn.h), which bounds the wait; its reading is paused, and
 * bytes that came after its request head are passed on once spliced.
 * Unreachable: 502 through the front's refuse callback.
 */
#ifndef TUND_RELAY_GATEWAY_H
#define TUND_RELAY_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "conn.h"
#include "relay.h"
#include "stats.h"

struct gateway;

struct gateway_ops {
	void *ctx;
	/* Answers c's request (101 or 200) and returns its stream, or NULL. */
	struct stream *(*answer)(void *ctx, struct conn *c, bool upgrade);
	/* Answers c with an error and closes it. */
	void (*refuse)(void *ctx, struct conn *c, unsigned status, const char *why);
};

int gateway_new(struct gateway **out, uv_loop_t *loop, struct conn_table *conns, struct relay *r,
		struct stats *st, const char *host, uint16_t port, const struct gateway_ops *ops);
/* After the loop has ended. */
void gateway_free(struct gateway *g);

/* Takes c (its request accepted) and the bytes after its head. 0, or
 * -ENOMEM (c is still the caller's). */
int gateway_open(struct gateway *g, struct conn *c, bool upgrade, const uint8_t *rest, size_t rest_len);

#endif
