/*
 * control.c - answers control socket requests by reading daemon state into
 * the shared status model (status.h); it never changes peer state. One
 * function per command behind a table.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctlsock.h"
#include "dialer.h"
#include "daemon.h"
#include "medlink.h"
#include "netcheck.h"
#include "peer.h"
#include "path.h"
#include "punch.h"
#include "relaylink.h"
#include "resolve.h"
#include "status.h"
#include "timers.h"

static void add_counter(struct status *st, const char *name, uint64_t value)
{
	if (st->n_counters == STATUS_MAX_COUNTERS)
		return;
	struct status_counter *c = &st->counters[st->n_counters++];
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->value = value;
}

static void fill_counters(struct status *st, const struct daemon *d)
{
	const struct tund_counters *c = &d->cnt;
#define C(field) add_counter(st, #field, c->field)
	C(rx_unknown_type);
	C(rx_malformed);
	C(rx_unknown_index);
	C(rx_expired);
	C(rx_bad_inner);
	C(handshake_bad_mac);
	C(handshake_invalid);
	C(handshake_ratelimited);
	C(handshakes_completed);
	C(tun_no_peer);
	C(tun_not_ipv4);
	C(tun_queue_dropped);
	C(tun_write_errors);
	C(mediator_bad);
#undef C
	add_counter(st, "udp_send_errors", c->udp_send_errors + d->udp.send_errors);
}

/* lan: the endpoint is on one of our own subnets; direct: elsewhere;
 * relay / tcp: a stream path;
 * "no path": punching for a while without a handshake. */
static const char *path_name(const struct daemon *d, const struct peer *p, uint64_t now)
{
	if (timers_session_alive(d, p->cur, now) && p->has_endpoint) {
		if (p->conn)
			return path_kind_name(p->path);
		return punch_is_lan(d, p->endpoint.addr) ? "lan" : "direct";
	}
	if (p->punching && now - p->punch_started_ms >= TIMERS_NO_PATH_MS)
		return "no path";
	return "none";
}

static void fill_peer(struct status_peer *sp, const struct daemon *d, const struct peer *p)
{
	uint64_t now = uv_now(d->loop);
	snprintf(sp->name, sizeof(sp->name), "%s", p->cfg.name);
	snprintf(sp->role, sizeof(sp->role), "%s", p->cfg.role == CFG_ROLE_PEER ? "peer" : "client");
	key_to_base64(sp->public_key, p->cfg.key);
	snprintf(sp->system_id, sizeof(sp->system_id), "%s", p->system_id);
	addr_format(sp->address, p->addr);
	if (p->has_endpoint)
		endpoint_format(sp->endpoint, &p->endpoint);
	snprintf(sp->path, sizeof(sp->path), "%s", path_name(d, p, now));
	resolve_describe(p, sp->state, sizeof(sp->state), sp->error, sizeof(sp->error));
	punch_format(p, sp->candidates, sizeof(sp->candidates));
	path_describe(p, sp->path_detail, sizeof(sp->path_detail), sp->standby, sizeof(sp->standby),
		      sp->last_switch, sizeof(sp->last_switch));
	sp->switches = p->switches;
	if (!sp->error[0] && p->relay_error[0] && !timers_session_alive(d, p->cur, now))
		snprintf(sp->error, sizeof(sp->error), "%s", p->relay_error);
	if (!sp->error[0] && !strcmp(sp->path, "no path"))
		snprintf(sp->error, sizeof(sp->error), "no path: no handshake through any of %u "
			 "candidate(s) after %llu s", p->n_cands,
			 (unsigned long long)((now - p->punch_started_ms) / 1000));
	sp->last_handshake = p->last_handshake_unix;
	sp->rx_bytes = p->rx_bytes;
	sp->tx_bytes = p->tx_bytes;
	sp->rx_packets = p->rx_packets;
	sp->tx_packets = p->tx_packets;
	sp->rx_replayed = p->rx_replayed;
	sp->rx_auth_failed = p->rx_auth_failed;
	sp->rtt_us = p->rtt_us;
}

/* relay_state: off (no relay known), pool IDLE/WANTED on a publishing
 * tund, ready on a client. */
static void fill_relay(struct status *st, const struct daemon *d)
{
	if (!d->relay || !relaylink_known(d->relay))
		snprintf(st->relay_state, sizeof(st->relay_state), "off");
	else if (d->cfg.publish && d->cfg.relay_pool)
		snprintf(st->relay_state, sizeof(st->relay_state), "pool %u/%u",
			 relaylink_pool_idle(d->relay) % 100, d->cfg.relay_pool % 100); /* both <= 64 */
	else
		snprintf(st->relay_state, sizeof(st->relay_state), "ready");
	if (d->relay)
		relaylink_describe(d->relay, st->relay, sizeof(st->relay));
	if (d->dialer)
		dialer_describe(d->dialer, st->proxy, sizeof(st->proxy));
}

static int fill_status(struct status *st, const struct daemon *d)
{
	memset(st, 0, sizeof(*st));
	snprintf(st->interface, sizeof(st->interface), "%s", d->tun.name);
	key_to_base64(st->public_key, d->self.pub);
	snprintf(st->system_id, sizeof(st->system_id), "%s", d->system_id);
	char a[ADDR_STR_LEN];
	addr_format(a, d->cfg.address);
	snprintf(st->address, sizeof(st->address), "%s/%u", a, d->cfg.prefix_len);
	st->listen_port = d->udp.port;
	snprintf(st->mediator_state, sizeof(st->mediator_state), "%s", medlink_state_name(d->med));
	fill_relay(st, d);
	if (d->med)
		medlink_describe(d->med, st->mediator, sizeof(st->mediator));
	fill_counters(st, d);
	size_t n = peers_count(d->peers);
	st->peers = n ? calloc(n, sizeof(*st->peers)) : NULL;
	if (n && !st->peers)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		fill_peer(&st->peers[i], d, peers_at(d->peers, i));
	st->n_peers = n;
	return 0;
}

static void cmd_status(struct daemon *d, struct ctl_conn *conn, int argc, char **argv)
{
	struct status st;
	char *text = NULL;
	if (argc != 1) {
		ctlsock_reply_error(conn, "status takes no arguments");
		return;
	}
	if (fill_status(&st, d) || status_encode(&st, &text)) {
		status_free(&st);
		ctlsock_reply_error(conn, "out of memory");
		return;
	}
	ctlsock_reply_ok(conn, text, strlen(text));
	free(text);
	status_free(&st);
}

static void cmd_netcheck(struct daemon *d, struct ctl_conn *conn, int argc, char **argv)
{
	if (argc != 1) {
		ctlsock_reply_error(conn, "netcheck takes no arguments");
		return;
	}
	netcheck_start(d->netcheck, conn);
}

static const struct {
	const char *name;
	void (*fn)(struct daemon *d, struct ctl_conn *conn, int argc, char **argv);
} commands[] = {
	{ "status", cmd_status },
	{ "netcheck", cmd_netcheck },
};

void control_request_cb(void *data, struct ctl_conn *conn, int argc, char **argv)
{
	struct daemon *d = data;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[0], commands[i].name) == 0) {
			commands[i].fn(d, conn, argc, argv);
			return;
		}
	}
	ctlsock_reply_error(conn, "unknown command \"%s\"", argv[0]);
}
