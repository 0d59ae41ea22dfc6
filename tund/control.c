/*
 * control.c - answers control socket requests: status and peers by reading
 * daemon state into the shared status model (status.h); ping, connect and
 * disconnect of one peer through the path manager, peer and resolver APIs
 * (path.h, peer.h, resolve.h), never by touching their state directly.
 * One function per command behind a table; replies in docs/control.md.
 */
#include <errno.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "control_admin.h"
#include "ctlsock.h"
#include "dialer.h"
#include "log.h"
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
	C(lan_malformed);
	C(lan_bad_key);
	C(lan_not_local);
	C(lan_ratelimited);
	add_counter(st, "udp_send_errors", c->udp_send_errors + d->udp.send_errors);
	C(tun_bad_offload);
#undef C
	add_counter(st, "udp_gso_sends", d->udp.gso_sends);
	add_counter(st, "udp_gso_frames", d->udp.gso_frames);
	add_counter(st, "udp_gso_fallbacks", d->udp.gso_fallbacks);
	add_counter(st, "udp_gro_messages", d->udp.gro_msgs);
	if (d->batch) {
		struct cryptpool_stats cs;
		cryptpool_stats(d->batch->pool, &cs);
		add_counter(st, "crypto_batches_parallel", cs.batches_parallel);
		add_counter(st, "tun_gro_merged", d->batch->gro.merged);
		add_counter(st, "tun_gro_writes", d->batch->gro.packets_out);
	}
}

/* One line: the offloads in force and the crypto threads. */
static void fill_datapath(struct status *st, const struct daemon *d)
{
	unsigned o = d->tun.offload;
	snprintf(st->datapath, sizeof(st->datapath), "tun offloads: %s%s%s%s; udp gso %s, gro %s; crypto threads %u",
		 !d->tun.vnet ? "off" : o ? "csum" : "refused by the kernel",
		 o & TUN_F_TSO4 ? " tso4" : "", o & TUN_F_TSO6 ? " tso6" : "", o & TUN_F_USO4 ? " uso4" : "",
		 d->udp.gso ? "on" : "off", d->udp.gro ? "on" : "off",
		 d->batch ? cryptpool_threads(d->batch->pool) : 1);
}

/* lan: the endpoint is on one of our own subnets; direct: elsewhere;
 * relay / tcp: a stream path;
 * "no path": punching for a while without a handshake. */
static const char *path_name(const struct daemon *d, const struct peer *p, uint64_t now)
{
	if (p->disconnected && !timers_session_alive(d, p->cur, now))
		return "disconnected";
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
	if (p->has_endpoint && !p->conn) /* a stream path has no UDP endpoint */
		endpoint_format(sp->endpoint, &p->endpoint);
	snprintf(sp->path, sizeof(sp->path), "%s", path_name(d, p, now));
	resolve_describe(p, sp->state, sizeof(sp->state), sp->error, sizeof(sp->error));
	punch_format(p, sp->candidates, sizeof(sp->candidates));
	path_describe(p, sp->path_detail, sizeof(sp->path_detail), sp->standby, sizeof(sp->standby),
		      sp->last_switch, sizeof(sp->last_switch));
	sp->switches = p->switches;
	if (!sp->error[0] && p->relay_error[0] && !timers_session_alive(d, p->cur, now))
		snprintf(sp->error, sizeof(sp->error), "%s", p->relay_error);
	if (!sp->error[0] && !strcmp(sp->path, "disconnected"))
		snprintf(sp->error, sizeof(sp->error), "disconnected by tunctl disconnect; "
			 "'tunctl connect %s' connects again", p->cfg.name);
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
	fill_datapath(st, d);
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

/* ---- one peer: ping, connect, disconnect ---- */

/* The peer named name, or NULL after replying with STATUS_ERR_NO_PEER and
 * the names there are. */
static struct peer *find_peer(struct daemon *d, struct ctl_conn *conn, const char *name)
{
	char names[400];
	size_t o = 0, n = peers_count(d->peers);
	for (size_t i = 0; i < n; i++) {
		struct peer *p = peers_at(d->peers, i);
		if (strcmp(p->cfg.name, name) == 0)
			return p;
	}
	/* Invariant: room for ", ..." and its NUL is always left at names + o. */
	names[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const char *nm = peers_at(d->peers, i)->cfg.name;
		if (o + 2 + strlen(nm) + sizeof(", ...") > sizeof(names)) {
			memcpy(names + o, ", ...", sizeof(", ..."));
			break;
		}
		o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s", i ? ", " : "", nm);
	}
	ctlsock_reply_error(conn, STATUS_ERR_NO_PEER "'%s' (peers: %s)", name, n ? names : "none configured");
	return NULL;
}

/* Replies with an encoded record (0 or -ENOMEM from its encoder) and frees it. */
static void reply_record(struct ctl_conn *conn, int rc, char *text)
{
	if (rc < 0 || !text)
		ctlsock_reply_error(conn, "out of memory");
	else
		ctlsock_reply_ok(conn, text, strlen(text));
	free(text);
}

static void reply_conn(struct ctl_conn *conn, const struct status_conn *sc)
{
	char *text = NULL;
	int rc = status_conn_encode(sc, &text);
	reply_record(conn, rc, text);
}

static void ping_done(void *arg, int err, int64_t rtt_us, enum path_kind kind, const char *via)
{
	struct ctl_conn *conn = arg;
	struct status_ping pg = { .rtt_us = err ? -1 : rtt_us, .timeout_ms = PATH_PING_TIMEOUT_MS };
	char *text = NULL;
	if (err && err != -ETIMEDOUT) {
		ctlsock_reply_error(conn, "the ping ended before an answer: %s",
				    err == -ENOTCONN    ? "the peer was disconnected"
				    : err == -ECANCELED ? "the peer was removed from the configuration"
							: strerror(-err));
		return;
	}
	snprintf(pg.path, sizeof(pg.path), "%s", path_kind_name(kind));
	snprintf(pg.via, sizeof(pg.via), "%s", via);
	int rc = status_ping_encode(&pg, &text);
	reply_record(conn, rc, text);
}

static void cmd_ping(struct daemon *d, struct ctl_conn *conn, int argc, char **argv)
{
	if (argc != 2) {
		ctlsock_reply_error(conn, "usage: ping PEER");
		return;
	}
	struct peer *p = find_peer(d, conn, argv[1]);
	if (!p)
		return;
	int rc = path_ping(d, p, ping_done, conn);
	if (rc == -ENOTCONN && p->disconnected)
		ctlsock_reply_error(conn, "peer '%s' is disconnected: nothing to ping "
				    "('tunctl connect %s' connects again)", p->cfg.name, p->cfg.name);
	else if (rc == -ENOTCONN && timers_session_alive(d, p->cur, uv_now(d->loop)))
		ctlsock_reply_error(conn, "peer '%s' has no working path right now (tund is trying them "
				    "all): nothing to ping", p->cfg.name);
	else if (rc == -ENOTCONN)
		ctlsock_reply_error(conn, "peer '%s' has no session: nothing to ping "
				    "(tunctl status shows why; 'tunctl connect %s' starts one)", p->cfg.name, p->cfg.name);
	else if (rc == -EBUSY)
		ctlsock_reply_error(conn, "a ping to '%s' is already waiting for its answer", p->cfg.name);
	else if (rc < 0)
		ctlsock_reply_error(conn, "could not send a probe to '%s' on its current path", p->cfg.name);
}

/* Starts connecting p: a handshake, or a mediator lookup for a peer found
 * through the mediator (whose answer starts the handshake). */
static void cmd_connect(struct daemon *d, struct ctl_conn *conn, int argc, char **argv)
{
	if (argc != 2) {
		ctlsock_reply_error(conn, "usage: connect PEER");
		return;
	}
	struct peer *p = find_peer(d, conn, argv[1]);
	if (!p)
		return;
	uint64_t now = uv_now(d->loop);
	struct status_conn sc = { 0 };
	snprintf(sc.peer, sizeof(sc.peer), "%s", p->cfg.name);
	log_info("peer %s: connect requested (tunctl)", p->cfg.name);
	p->disconnected = false;
	if (timers_session_alive(d, p->cur, now) && p->has_endpoint) {
		char standby[8], last[8];
		snprintf(sc.state, sizeof(sc.state), "connected");
		path_describe(p, sc.via, sizeof(sc.via), standby, sizeof(standby), last, sizeof(last));
		reply_conn(conn, &sc);
		return;
	}
	/* A fresh resolver: an explicit connect asks now, even while an
	 * earlier lookup failed and is backing off. */
	resolve_free(p);
	if (resolve_attach(d, p) < 0) {
		ctlsock_reply_error(conn, "out of memory");
		return;
	}
	if (p->rs) {
		resolve_again(d, p);
	} else if (peer_can_initiate(p)) {
		send_handshake_init(d, p);
	} else {
		ctlsock_reply_error(conn, "cannot connect to '%s': no address is known for it (no endpoint "
				    "in tund.conf%s); it has to connect to us", p->cfg.name,
				    p->cfg.has_system && !d->med ? " and no mediator" : "");
		return;
	}
	snprintf(sc.state, sizeof(sc.state), "connecting");
	reply_conn(conn, &sc);
}

/* Drops p's sessions, handshake, queued packets, mediator lookup and paths;
 * p->disconnected keeps us from starting anything towards it (peer.h). */
static void cmd_disconnect(struct daemon *d, struct ctl_conn *conn, int argc, char **argv)
{
	if (argc != 2) {
		ctlsock_reply_error(conn, "usage: disconnect PEER");
		return;
	}
	struct peer *p = find_peer(d, conn, argv[1]);
	if (!p)
		return;
	struct status_conn sc = { 0 };
	log_info("peer %s: disconnected (tunctl)", p->cfg.name);
	p->disconnected = true;
	peer_clear_sessions(p);
	peer_queue_clear(p);
	resolve_free(p);
	path_forget(d, p, "disconnected by tunctl");
	snprintf(sc.peer, sizeof(sc.peer), "%s", p->cfg.name);
	snprintf(sc.state, sizeof(sc.state), "disconnected");
	reply_conn(conn, &sc);
}

static const struct {
	const char *name;
	void (*fn)(struct daemon *d, struct ctl_conn *conn, int argc, char **argv);
} commands[] = {
	{ "status", cmd_status },
	{ "netcheck", cmd_netcheck },
	{ "ping", cmd_ping },
	{ "connect", cmd_connect },
	{ "disconnect", cmd_disconnect },
	{ "reload", control_admin_reload },
	{ "allow", control_admin_allow },
	{ "revoke", control_admin_revoke },
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
