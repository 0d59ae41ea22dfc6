/*
 * netcheck.c - see netcheck.h. One check runs at a time; requests that
 * arrive while it runs wait for the same result. The result is a few
 * "key value" lines (docs/control.md), printed by tunctl as they are.
 */
#include "netcheck.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "ctlsock.h"
#include "daemon.h"
#include "medlink.h"
#include "medproto.h"
#include "stun.h"

#define NETCHECK_WAITERS 8
#define NETCHECK_TAINT_MS 180000 /* Linux keeps an answered UDP flow 120 s, others longer */

enum probe { P_MAIN, P_CHANGE, P_ALT, P_N };

struct netcheck {
	struct daemon *d;
	uv_timer_t timer;
	bool running;
	uint64_t started_ms;
	uint8_t txid[P_N][STUN_TXID_LEN];
	bool got[P_N];
	struct endpoint mapped[P_N];
	uint64_t rtt_ms[P_N];
	uint16_t alt_port;               /* learned from the CHANGE answer, else guessed */
	bool alt_sent;
	bool change_valid;               /* CHANGE answered before we sent to the second port */
	bool change_tainted;             /* an earlier check sent there recently */
	uint64_t last_alt_ms;            /* when a check last sent to the second port */
	struct ctl_conn *waiters[NETCHECK_WAITERS];
	unsigned n_waiters;
};

static void timer_cb(uv_timer_t *h);

int netcheck_new(struct netcheck **out, struct daemon *d)
{
	struct netcheck *nc = calloc(1, sizeof(*nc));
	if (!nc)
		return -ENOMEM;
	nc->d = d;
	uv_timer_init(d->loop, &nc->timer);
	nc->timer.data = nc;
	*out = nc;
	return 0;
}

static void closed_cb(uv_handle_t *h)
{
	free(h->data);
}

void netcheck_close(struct netcheck *nc)
{
	if (!nc)
		return;
	for (unsigned i = 0; i < nc->n_waiters; i++)
		ctlsock_reply_error(nc->waiters[i], "tund is shutting down");
	nc->n_waiters = 0;
	uv_close((uv_handle_t *)&nc->timer, closed_cb);
}

static void send_probe(struct netcheck *nc, enum probe which)
{
	if (which == P_ALT)
		nc->last_alt_ms = uv_now(nc->d->loop);
	uint8_t buf[64];
	struct stun_writer w;
	struct endpoint to;
	if (!medlink_udp_addr(nc->d->med, &to))
		return;
	stun_begin(&w, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_REQUEST, nc->txid[which]);
	if (which == P_CHANGE)
		stun_put_u32(&w, STUN_ATTR_CHANGE_REQUEST, STUN_CHANGE_PORT);
	stun_put_fingerprint(&w);
	int n = stun_end(&w);
	if (n > 0)
		medlink_send_udp(nc->d->med, buf, (size_t)n, which == P_ALT ? nc->alt_port : 0);
}

static void finish(struct netcheck *nc)
{
	char out[1024], a[ENDPOINT_STR_LEN], b[ENDPOINT_STR_LEN];
	struct endpoint med;
	size_t o = 0;
	uv_timer_stop(&nc->timer);
	nc->running = false;
#define OUT(...) do { int n_ = snprintf(out + o, sizeof(out) - o, __VA_ARGS__); \
		if (n_ > 0 && (size_t)n_ < sizeof(out) - o) o += (size_t)n_; } while (0)
	if (medlink_udp_addr(nc->d->med, &med)) {
		endpoint_format(a, &med);
		OUT("mediator %s\n", a);
	}
	OUT("local_port %u\n", nc->d->udp.port);
	OUT("udp %s\n", nc->got[P_MAIN] || nc->got[P_ALT] ? "yes" : "no");
	if (nc->got[P_MAIN]) {
		endpoint_format(a, &nc->mapped[P_MAIN]);
		OUT("mapped %s\n", a);
		OUT("rtt_ms %llu\n", (unsigned long long)nc->rtt_ms[P_MAIN]);
	}
	if (nc->got[P_ALT]) {
		endpoint_format(b, &nc->mapped[P_ALT]);
		OUT("mapped_alt %s\n", b);
	}
	if (nc->got[P_MAIN] && nc->got[P_ALT])
		OUT("mapping_varies %s\n",
		    endpoint_equal(&nc->mapped[P_MAIN], &nc->mapped[P_ALT]) ? "no" : "yes");
	else
		OUT("mapping_varies unknown\n");
	/* Only an answer from the second port that came before we sent there
	 * ourselves (in this check or a recent one) shows the filtering. */
	if (nc->got[P_MAIN] && !nc->change_tainted)
		OUT("other_port_reaches_us %s\n", nc->change_valid ? "yes" : "no");
	else
		OUT("other_port_reaches_us unknown\n");
#undef OUT
	for (unsigned i = 0; i < nc->n_waiters; i++)
		ctlsock_reply_ok(nc->waiters[i], out, o);
	nc->n_waiters = 0;
}

static void timer_cb(uv_timer_t *h)
{
	struct netcheck *nc = h->data;
	uint64_t now = uv_now(nc->d->loop);
	if (nc->d->stopping)
		return;
	bool all = nc->got[P_MAIN] && nc->got[P_CHANGE] && nc->got[P_ALT];
	if (all || now - nc->started_ms >= NETCHECK_TIMEOUT_MS) {
		finish(nc);
		return;
	}
	if (!nc->got[P_MAIN])
		send_probe(nc, P_MAIN);
	if (!nc->got[P_CHANGE] && !nc->alt_sent)
		send_probe(nc, P_CHANGE);
	/* Without the CHANGE answer, guess the usual second port once the
	 * CHANGE probe had three tries. */
	if (!nc->got[P_ALT] && (nc->alt_sent || now - nc->started_ms >= 3 * NETCHECK_RETRY_MS)) {
		if (!nc->alt_port)
			nc->alt_port = (uint16_t)(nc->d->cfg.mediator_port + 1);
		nc->alt_sent = true;
		send_probe(nc, P_ALT);
	}
	uv_timer_start(&nc->timer, timer_cb, NETCHECK_RETRY_MS, 0);
}

void netcheck_start(struct netcheck *nc, struct ctl_conn *conn)
{
	struct endpoint med;
	if (!nc->d->med) {
		ctlsock_reply_error(conn, "no mediator configured (set mediator in [tund])");
		return;
	}
	if (!medlink_udp_addr(nc->d->med, &med)) {
		ctlsock_reply_error(conn, "the mediator's address is not known yet (name resolution)");
		return;
	}
	if (nc->n_waiters == NETCHECK_WAITERS) {
		ctlsock_reply_error(conn, "too many netcheck requests at once");
		return;
	}
	nc->waiters[nc->n_waiters++] = conn;
	if (nc->running)
		return;
	nc->running = true;
	nc->started_ms = uv_now(nc->d->loop);
	memset(nc->got, 0, sizeof(nc->got));
	nc->alt_port = 0;
	nc->alt_sent = false;
	/* A NAT may still hold a mapping towards the second port from an
	 * earlier check; then its answer would pass as a reply. */
	nc->change_valid = false;
	nc->change_tainted = nc->last_alt_ms && nc->started_ms - nc->last_alt_ms < NETCHECK_TAINT_MS;
	for (int i = 0; i < P_N; i++)
		stun_new_txid(nc->txid[i]);
	send_probe(nc, P_MAIN);
	send_probe(nc, P_CHANGE);
	uv_timer_start(&nc->timer, timer_cb, NETCHECK_RETRY_MS, 0);
}

void netcheck_binding(struct netcheck *nc, const struct medmsg *mm, const struct endpoint *src)
{
	if (!nc->running || mm->cls != STUN_SUCCESS || !mm->has_mapped)
		return;
	for (int i = 0; i < P_N; i++) {
		if (nc->got[i] || memcmp(mm->txid, nc->txid[i], STUN_TXID_LEN) != 0)
			continue;
		nc->got[i] = true;
		nc->mapped[i] = mm->mapped;
		nc->rtt_ms[i] = uv_now(nc->d->loop) - nc->started_ms;
		if (i == P_CHANGE && !nc->alt_sent)
			nc->change_valid = true;
		if (i == P_CHANGE && src->port != nc->d->cfg.mediator_port && !nc->alt_sent) {
			nc->alt_port = src->port;
			nc->alt_sent = true;
			send_probe(nc, P_ALT);
		}
	}
	if (nc->got[P_MAIN] && nc->got[P_CHANGE] && nc->got[P_ALT])
		finish(nc);
}
