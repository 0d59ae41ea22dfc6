/*
 * relay.c - see relay.h.
 *
 * A pool connection (struct poolconn) is on the pool index and on the
 * engine's silence list (oldest input first, so a sweep looks at the
 * head only) from listen until it is taken, closed by the server, or
 * closed by us; then it is freed at once (the stream never calls back
 * after that). Frames from the server are split with tcpframe_rx; a
 * partial frame still buffered when a client takes the connection is
 * passed on to the client, ahead of what follows it.
 */
#include "relay.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "relayproto.h"
#include "splice.h"
#include "tcpframe.h"

struct poolconn {
	struct pool_entry ent;
	struct relay *r;
	struct stream *s;
	struct tcpframe_rx rx;
	struct poolconn *prev, *next;    /* silence list */
	uint64_t last_ms;                /* last input */
	const char *bad;                 /* why a frame was refused */
};

struct relay {
	uv_loop_t *loop;
	struct stats *st;
	struct pool *pool;
	struct splice_set splices;
	struct poolconn *quiet_head, *quiet_tail;
};

int relay_new(struct relay **out, uv_loop_t *loop, struct stats *st)
{
	struct relay *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	if (pool_new(&r->pool) < 0) {
		free(r);
		return -ENOMEM;
	}
	r->loop = loop;
	r->st = st;
	r->splices.bytes = &st->bytes_relayed;
	*out = r;
	return 0;
}

void relay_free(struct relay *r)
{
	if (!r)
		return;
	/* normally empty by now; anything left is only memory */
	while (r->quiet_head) {
		struct poolconn *pc = r->quiet_head;
		r->quiet_head = pc->next;
		tcpframe_rx_free(&pc->rx);
		free(pc);
	}
	pool_free(r->pool);
	free(r);
}

static void quiet_unlink(struct relay *r, struct poolconn *pc)
{
	if (pc->prev)
		pc->prev->next = pc->next;
	else
		r->quiet_head = pc->next;
	if (pc->next)
		pc->next->prev = pc->prev;
	else
		r->quiet_tail = pc->prev;
	pc->prev = pc->next = NULL;
}

static void quiet_append(struct relay *r, struct poolconn *pc)
{
	pc->last_ms = uv_now(r->loop);
	pc->prev = r->quiet_tail;
	pc->next = NULL;
	if (r->quiet_tail)
		r->quiet_tail->next = pc;
	else
		r->quiet_head = pc;
	r->quiet_tail = pc;
}

/* Unlinks and frees pc; close: close its stream too (first telling the
 * server why, when reason is set). */
static void drop(struct poolconn *pc, bool close, const char *reason)
{
	struct relay *r = pc->r;

	pool_remove(r->pool, &pc->ent);
	quiet_unlink(r, pc);
	if (close) {
		if (reason) {
			size_t n = strnlen(reason, TCPFRAME_REASON_MAX);
			uint8_t hdr[TCPFRAME_HDR_LEN];
			tcpframe_header(hdr, TCPFRAME_CLOSE, n);
			stream_write(pc->s, hdr, sizeof(hdr));
			stream_write(pc->s, (const uint8_t *)reason, n);
		}
		stream_set_cb(pc->s, NULL, NULL);
		stream_close(pc->s);
	}
	tcpframe_rx_free(&pc->rx);
	free(pc);
}

static int frame_cb(void *arg, uint8_t type, const uint8_t *body, size_t len)
{
	struct poolconn *pc = arg;
	uint8_t pong[TCPFRAME_HDR_LEN + TCPFRAME_PING_LEN];

	switch (type) {
	case TCPFRAME_PING:
		tcpframe_header(pong, TCPFRAME_PONG, TCPFRAME_PING_LEN);
		memcpy(pong + TCPFRAME_HDR_LEN, body, TCPFRAME_PING_LEN);
		stream_write(pc->s, pong, sizeof(pong));
		return 0;
	case TCPFRAME_CLOSE:
		log_debug("pool connection closed by its server: %.*s", (int)len, (const char *)body);
		return 1;
	default:
		pc->bad = "only PING and CLOSE are expected before a splice";
		return -EPROTO;
	}
}

static void pool_data_cb(void *arg, struct stream *s, const uint8_t *buf, size_t len)
{
	struct poolconn *pc = arg;
	struct relay *r = pc->r;
	const char *why = NULL;

	quiet_unlink(r, pc);
	quiet_append(r, pc);
	int rc = tcpframe_rx_feed(&pc->rx, buf, len, frame_cb, pc, &why);
	if (rc == 1) {
		drop(pc, true, NULL);
	} else if (rc < 0) {
		const char *reason = rc == -EPROTO ? pc->bad : why ? why : "bad frame";
		log_debug("pool connection: %s", reason);
		drop(pc, true, reason);
	}
}

static void pool_closed_cb(void *arg, struct stream *s)
{
	drop(arg, false, NULL);
}

int relay_listen(struct relay *r, struct stream *s, const uint8_t system[UUID_LEN],
		 const char *server_id)
{
	static const struct stream_cb cb = { .data = pool_data_cb, .closed = pool_closed_cb };
	struct poolconn *pc = calloc(1, sizeof(*pc));

	if (!pc)
		return -ENOMEM;
	memcpy(pc->ent.system, system, UUID_LEN);
	snprintf(pc->ent.server_id, sizeof(pc->ent.server_id), "%s", server_id ? server_id : "");
	if (pool_count(r->pool, system) >= RELAY_POOL_PER_SYSTEM) {
		struct pool_entry *old = pool_oldest(r->pool, system);
		r->st->pool_evicted++;
		drop((struct poolconn *)((char *)old - offsetof(struct poolconn, ent)), true,
		     "replaced by a newer pool connection");
	}
	if (pool_add(r->pool, &pc->ent) < 0) {
		free(pc);
		return -ENOMEM;
	}
	pc->r = r;
	pc->s = s;
	tcpframe_rx_init(&pc->rx, TCPFRAME_REASON_MAX);
	quiet_append(r, pc);
	stream_set_cb(s, &cb, pc);
	r->st->listens++;
	return 0;
}

int relay_connect(struct relay *r, const uint8_t system[UUID_LEN], const char *server_id,
		  const uint8_t client_key[KEY_LEN], struct stream *(*answer)(void *arg), void *arg)
{
	struct pool_entry *e = pool_take(r->pool, system, server_id);
	uint8_t spliced[TCPFRAME_HDR_LEN + KEY_LEN];

	if (!e) {
		r->st->offline++;
		return -ENOENT;
	}
	struct poolconn *pc = (struct poolconn *)((char *)e - offsetof(struct poolconn, ent));
	struct stream *server = pc->s;
	tcpframe_header(spliced, TCPFRAME_SPLICED, KEY_LEN);
	memcpy(spliced + TCPFRAME_HDR_LEN, client_key, KEY_LEN);
	stream_write(server, spliced, sizeof(spliced));
	struct stream *client = answer(arg);
	if (!client) {
		drop(pc, true, "the client went away");
		return -EIO;
	}
	if (splice_new(&r->splices, client, server) < 0) {
		stream_close(client);
		drop(pc, true, "relay out of memory");
		return -ENOMEM;
	}
	if (pc->rx.len)
		stream_write(client, pc->rx.buf, pc->rx.len);
	quiet_unlink(r, pc);
	tcpframe_rx_free(&pc->rx);
	free(pc);
	r->st->spliced++;
	return 0;
}

int relay_splice(struct relay *r, struct stream *a, struct stream *b)
{
	int rc = splice_new(&r->splices, a, b);

	if (rc == 0)
		r->st->spliced++;
	return rc;
}

void relay_sweep(struct relay *r, uint64_t now_ms)
{
	const uint64_t limit = (uint64_t)RELAYPROTO_IDLE_S * 1000;

	while (r->quiet_head && now_ms - r->quiet_head->last_ms >= limit) {
		r->st->pool_timeouts++;
		drop(r->quiet_head, true, "silent for too long");
	}
}

size_t relay_splice_count(const struct relay *r)
{
	return r->splices.n;
}

const struct pool *relay_pool(const struct relay *r)
{
	return r->pool;
}
