/*
 * pollsess.c - see pollsess.h.
 *
 * Invariants: ps->down is set from open until the GET connection is gone
 * or closed by us; ps->up only while a body is arriving on it. A
 * connection we let go of (closing it, or its owner leaving) is given
 * detached ops first, so no event of it reaches a freed session.
 * ps->closing is set once, by whichever end comes first.
 */
#include "pollsess.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "httpmsg.h"
#include "log.h"

struct pollsess {
	struct stream s;                 /* first: the user holds &ps->s */
	struct polltab_entry ent;
	struct polltab *tab;
	const struct pollsess_ops *ops;
	struct conn *down, *up;
	bool paused, closing;
};

static const struct conn_ops detached_ops;

#define PS_OF_STREAM(st) ((struct pollsess *)(st))

static void deliver(struct pollsess *ps, const uint8_t *buf, size_t len)
{
	if (len && ps->s.cb && ps->s.cb->data)
		ps->s.cb->data(ps->s.arg, &ps->s, buf, len);
}

/* Ends the session; tell: raise closed to the user (not when the user
 * closed it). last_chunk: end the chunked body properly. */
static void end(struct pollsess *ps, bool tell, bool last_chunk)
{
	if (ps->closing)
		return;
	ps->closing = true;
	polltab_remove(ps->tab, &ps->ent);
	if (ps->up) {
		conn_set_owner(ps->up, &detached_ops, NULL);
		conn_abort(ps->up);
		ps->up = NULL;
	}
	if (ps->down) {
		if (last_chunk)
			conn_write(ps->down, "0\r\n\r\n", 5);
		conn_close(ps->down);   /* ps is freed when it is */
	}
	if (tell && ps->s.cb && ps->s.cb->closed)
		ps->s.cb->closed(ps->s.arg, &ps->s);
}

/* ------------------------------------------------------------ stream */

static void ps_write(struct stream *st, const uint8_t *buf, size_t len)
{
	struct pollsess *ps = PS_OF_STREAM(st);
	char hdr[HTTP_CHUNK_HDR_MAX];

	if (ps->closing || !ps->down || len == 0)
		return;
	size_t hl = http_chunk_header(hdr, len);
	uv_buf_t b[3] = {
		uv_buf_init(hdr, (unsigned)hl),
		uv_buf_init((char *)buf, (unsigned)len),
		uv_buf_init((char *)"\r\n", 2),
	};
	conn_writev(ps->down, b, 3);
}

static void ps_pause(struct stream *st, bool pause)
{
	struct pollsess *ps = PS_OF_STREAM(st);

	ps->paused = pause;
	if (ps->up)
		conn_pause(ps->up, pause);
}

static size_t ps_queued(const struct stream *st)
{
	const struct pollsess *ps = (const struct pollsess *)st;

	return ps->down ? conn_queued(ps->down) : 0;
}

static void ps_close(struct stream *st)
{
	end(PS_OF_STREAM(st), false, true);
}

/* ------------------------------------------------- the GET connection */

static void down_read(void *owner, struct conn *c, const uint8_t *buf, size_t len)
{
	/* nothing may follow a GET whose answer never ends: ignored */
}

static void down_drain(void *owner, struct conn *c)
{
	struct pollsess *ps = owner;

	if (!ps->closing && ps->s.cb && ps->s.cb->drain)
		ps->s.cb->drain(ps->s.arg, &ps->s);
}

static void down_closed(void *owner, struct conn *c, const char *why)
{
	struct pollsess *ps = owner;

	log_debug("poll session %.8s...: GET connection: %s", ps->ent.hex, why);
	end(ps, true, false);
}

static void down_freed(void *owner, struct conn *c)
{
	free(owner);
}

/* ------------------------------------------------ a POST connection */

static void up_read(void *owner, struct conn *c, const uint8_t *buf, size_t len)
{
	struct pollsess *ps = owner;
	size_t n = polltab_upload_take(&ps->ent, len);

	deliver(ps, buf, n);
	if (ps->closing || ps->ent.uploading)
		return;
	ps->up = NULL;
	conn_pause(c, false);
	ps->ops->upload_done(ps->ops->ctx, c, buf + n, len - n, ps->ent.up_keep);
}

static void up_closed(void *owner, struct conn *c, const char *why)
{
	struct pollsess *ps = owner;

	conn_set_owner(c, &detached_ops, NULL);
	ps->up = NULL;
	log_debug("poll session %.8s...: POST connection lost mid-body: %s", ps->ent.hex, why);
	end(ps, true, false);
}

/* -------------------------------------------------------------- api */

struct stream *pollsess_open(struct polltab *t, const struct pollsess_ops *ops, struct conn *down)
{
	static const struct stream_ops sops = {
		.write = ps_write, .pause = ps_pause, .queued = ps_queued, .close = ps_close,
	};
	static const struct conn_ops dops = {
		.read = down_read, .drain = down_drain, .closed = down_closed, .freed = down_freed,
	};
	struct pollsess *ps = calloc(1, sizeof(*ps));
	char head[256];

	if (!ps || polltab_add(t, &ps->ent) < 0) {
		free(ps);
		return NULL;
	}
	ps->tab = t;
	ps->ops = ops;
	ps->down = down;
	ps->s.ops = &sops;
	ps->s.peer_addr = conn_peer_addr(down);
	ps->s.kind = "poll";
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 200 OK\r\nTund-Session: %s\r\nTransfer-Encoding: chunked\r\n"
			 "Cache-Control: no-store\r\nContent-Type: application/octet-stream\r\n\r\n",
			 ps->ent.hex);
	conn_head_clear(down);
	conn_set_owner(down, &dops, ps);
	conn_set_timer(down, CONN_T_NONE);
	conn_write(down, head, (size_t)n);
	return &ps->s;
}

struct pollsess *pollsess_find(struct polltab *t, const char *hex)
{
	struct polltab_entry *e = polltab_find(t, hex);

	return e ? (struct pollsess *)((char *)e - offsetof(struct pollsess, ent)) : NULL;
}

const char *pollsess_token(const struct pollsess *ps)
{
	return ps->ent.hex;
}

int pollsess_upload(struct pollsess *ps, struct conn *c, uint64_t len, bool keep,
		    const uint8_t *rest, size_t rest_len, size_t *used)
{
	static const struct conn_ops uops = { .read = up_read, .closed = up_closed };

	if (ps->closing)
		return -ENOENT;
	int rc = polltab_upload_begin(&ps->ent, len, keep);
	if (rc < 0)
		return rc;
	size_t n = polltab_upload_take(&ps->ent, rest_len);
	*used = n;
	deliver(ps, rest, n);
	if (ps->closing)
		return -ENOENT;
	if (!ps->ent.uploading)
		return 1;
	*used = rest_len;
	ps->up = c;
	conn_set_owner(c, &uops, ps);
	conn_set_timer(c, CONN_T_NONE);
	if (ps->paused)
		conn_pause(c, true);
	return 0;
}
