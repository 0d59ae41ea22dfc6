/*
 * gateway.c - see gateway.h. One struct gwreq per request, from
 * gateway_open until the splice is made or the attempt ends; it owns the
 * client's connection meanwhile and learns of its loss through closed.
 * A name lookup in libuv's thread pool cannot be called off reliably, so
 * a request whose client left during one is freed by the lookup's
 * callback.
 */
#include "gateway.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "log.h"
#include "relayconf.h"

struct gateway {
	uv_loop_t *loop;
	struct conn_table *conns;
	struct relay *relay;
	struct stats *st;
	struct gateway_ops ops;
	char host[RELAYCONF_HOST_MAX];
	uint16_t port;
};

struct gwreq {
	struct gateway *g;
	struct conn *client;             /* NULL once it is gone */
	struct conn *out;
	uv_getaddrinfo_t gai;
	bool resolving;
	bool upgrade;
	size_t rest_len;
	uint8_t rest[];
};

static const struct conn_ops detached_ops;

int gateway_new(struct gateway **out, uv_loop_t *loop, struct conn_table *conns, struct relay *r,
		struct stats *st, const char *host, uint16_t port, const struct gateway_ops *ops)
{
	struct gateway *g = calloc(1, sizeof(*g));

	if (!g)
		return -ENOMEM;
	g->loop = loop;
	g->conns = conns;
	g->relay = r;
	g->st = st;
	g->ops = *ops;
	snprintf(g->host, sizeof(g->host), "%s", host);
	g->port = port;
	*out = g;
	return 0;
}

void gateway_free(struct gateway *g)
{
	free(g);
}

static void fail(struct gwreq *q, const char *why)
{
	struct gateway *g = q->g;

	g->st->gateway_failed++;
	log_info("mediator gateway: %s:%u: %s", g->host, g->port, why);
	if (q->client) {
		conn_pause(q->client, false);
		g->ops.refuse(g->ops.ctx, q->client, 502, "mediator unreachable");
	}
	free(q);
}

static void connected(void *owner, struct conn *out, int status)
{
	struct gwreq *q = owner;
	struct gateway *g = q->g;

	if (status < 0) {
		fail(q, uv_strerror(status));
		return;
	}
	conn_pause(q->client, false);
	struct stream *cs = g->ops.answer(g->ops.ctx, q->client, q->upgrade);
	struct stream *ms = conn_stream(out, "mediator");
	if (!cs || relay_splice(g->relay, cs, ms) < 0) {
		if (cs)
			stream_close(cs);
		stream_close(ms);
	} else {
		g->st->gateway++;
		if (q->upgrade && q->rest_len)
			stream_write(ms, q->rest, q->rest_len);
	}
	free(q);
}

static void start_connect(struct gwreq *q, const struct sockaddr_in *sa)
{
	static const struct conn_ops out_ops = { .connected = connected };
	int rc = conn_connect(q->g->conns, sa, &out_ops, q, &q->out);

	if (rc < 0)
		fail(q, uv_strerror(rc));
}

static void resolved_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct gwreq *q = req->data;
	struct sockaddr_in sa;

	q->resolving = false;
	if (status == 0 && res && res->ai_family == AF_INET)
		memcpy(&sa, res->ai_addr, sizeof(sa));
	if (res)
		uv_freeaddrinfo(res);
	if (!q->client) {
		free(q);
	} else if (status < 0 || !res) {
		fail(q, status < 0 ? uv_strerror(status) : "no IPv4 address");
	} else {
		sa.sin_port = htons(q->g->port);
		start_connect(q, &sa);
	}
}

static void client_read(void *owner, struct conn *c, const uint8_t *buf, size_t len)
{
	/* paused while we connect: cannot happen */
}

static void client_closed(void *owner, struct conn *c, const char *why)
{
	struct gwreq *q = owner;

	q->client = NULL;
	if (q->resolving) {
		uv_cancel((uv_req_t *)&q->gai);
		return;   /* resolved_cb frees q */
	}
	if (q->out) {
		conn_set_owner(q->out, &detached_ops, NULL);
		conn_abort(q->out);
	}
	free(q);
}

int gateway_open(struct gateway *g, struct conn *c, bool upgrade, const uint8_t *rest, size_t rest_len)
{
	static const struct conn_ops client_ops = { .read = client_read, .closed = client_closed };
	struct gwreq *q = calloc(1, sizeof(*q) + rest_len);
	struct sockaddr_in sa;

	if (!q)
		return -ENOMEM;
	q->g = g;
	q->client = c;
	q->upgrade = upgrade;
	q->rest_len = rest_len;
	if (rest_len)
		memcpy(q->rest, rest, rest_len);
	conn_set_owner(c, &client_ops, q);
	conn_pause(c, true);
	if (uv_ip4_addr(g->host, g->port, &sa) == 0) {
		start_connect(q, &sa);
		return 0;
	}
	const struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM };
	q->gai.data = q;
	q->resolving = true;
	int rc = uv_getaddrinfo(g->loop, &q->gai, resolved_cb, g->host, NULL, &hints);
	if (rc < 0) {
		q->resolving = false;
		fail(q, uv_strerror(rc));
	}
	return 0;
}
