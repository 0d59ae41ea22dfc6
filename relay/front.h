/*
 * front.h - the relay's HTTP/1.1 front (relayproto.h): the listening
 * socket, request heads read from untrusted connections (httpmsg.h),
 * routing, limits and authentication, and the answers. What a request
 * becomes is the engine's business (relay.h): the front hands it a
 * stream, Upgrade-mode (the connection itself, conn.h) or Poll-mode
 * (pollsess.h), so that both look the same from there on.
 *
 * Order of checks for listen and connect: the head parses (else 400 with
 * the parser's reason), the path and method are known (404, 405), the
 * source is within its request rate (429), the request has no body and
 * names a supported mode, then Tund-Key/-Time/-Nonce/-Auth check out
 * (401 with the relay's Tund-Time) and the nonce is new (401). Only then
 * is anything kept. POSTs to /tund/v1/up/<token> need a live session
 * (404) and a Content-Length body of at most RELAY_POST_MAX bytes (413);
 * they are answered 204 once their body has been taken, and their
 * connection is kept alive for the next one unless the request said
 * otherwise. Every error answer closes its connection.
 */
#ifndef TUND_RELAY_FRONT_H
#define TUND_RELAY_FRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "addr.h"
#include "conn.h"
#include "keys.h"
#include "stats.h"

#define FRONT_BACKLOG 1024
#define RELAY_POST_MAX (16u << 20)       /* bytes of one upstream POST body */

struct front;
struct relay;
struct polltab;
struct gateway;
struct noncecache;
struct srclimit;

struct front_config {
	uv_loop_t *loop;
	struct endpoint listen;
	struct conn_table *conns;
	struct relay *relay;
	struct polltab *polls;
	struct noncecache *nonces;
	struct srclimit *limit;          /* NULL: no per-source limit */
	struct stats *st;
	uint8_t priv[KEY_LEN], pub[KEY_LEN];
};

/* Listens on cfg->listen. 0, or a libuv error with err saying what failed. */
int front_new(struct front **out, const struct front_config *cfg, char *err, size_t errlen);
/* Requests for /tund/v1/mediator go to g (NULL: 404). */
void front_set_gateway(struct front *f, struct gateway *g);
/* Stops listening (connections are the table's to close). */
void front_stop(struct front *f);
/* After the loop has ended; wipes the key. */
void front_free(struct front *f);

/* For the gateway (gateway.h): answer c's request in its mode, or refuse it. */
struct stream *front_answer(void *front, struct conn *c, bool upgrade);
void front_refuse(void *front, struct conn *c, unsigned status, const char *why);

#endif
