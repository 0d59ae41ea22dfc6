/*
 * daemon.c - bringing the daemon up from a parsed config and taking it
 * down again. Start-up order: identity, peers (and the addresses at which
 * they appear), TUN device and routes, UDP socket, control socket,
 * signals. Shutdown closes in reverse, and the loop ends by itself when
 * the last handle is closed.
 */
#include "daemon_run.h"

#include <errno.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "answer.h"
#include "batch.h"
#include "ctlsock.h"
#include "log.h"
#include "dialer.h"
#include "lan.h"
#include "medlink.h"
#include "netcheck.h"
#include "relaylink.h"
#include "reload.h"
#include "tconn.h"
#include "peer.h"
#include "resolve.h"
#include "timers.h"
#include "tun.h"

static void tun_cb(uv_poll_t *h, int status, int events)
{
	struct daemon *d = h->data;
	if (status == 0 && (events & UV_READABLE))
		send_tun_readable(d);
}

static void udp_cb(uv_poll_t *h, int status, int events)
{
	struct daemon *d = h->data;
	if (status == 0 && (events & UV_READABLE))
		receive_udp_readable(d);
}

static int add_peers(struct daemon *d, char *err, size_t errlen)
{
	const struct cfg *c = &d->cfg;
	for (size_t i = 0; i < c->n_peers; i++) {
		const struct cfg_peer *cp = &c->peers[i];
		uint32_t addr = cp->address;
		struct peer *p;
		int rc = 0;
		if (cp->role == CFG_ROLE_CLIENT && !addr)
			rc = peers_pool_address(d->peers, cp->key, c->client_pool, c->client_pool_len,
						c->address, &addr);
		if (!rc)
			rc = peers_add(d->peers, cp, addr, &p);
		if (rc) {
			snprintf(err, errlen, "%s:%d: [%s \"%s\"]: cannot assign an address: %s", c->path, cp->line,
				 cp->role == CFG_ROLE_PEER ? "peer" : "client", cp->name, strerror(-rc));
			return rc;
		}
		char a[ADDR_STR_LEN];
		addr_format(a, addr);
		log_info("%s %s (system %s) appears at %s", cp->role == CFG_ROLE_PEER ? "peer" : "client",
			 cp->name, p->system_id, a);
	}
	return 0;
}

static int add_routes(struct daemon *d)
{
	const struct cfg *c = &d->cfg;
	int rc = 0;
	if (c->has_client_pool)
		rc = tunif_route(&d->tun, c->client_pool, c->client_pool_len);
	for (size_t i = 0; i < peers_count(d->peers) && !rc; i++) {
		const struct peer *p = peers_at(d->peers, i);
		if (p->cfg.role == CFG_ROLE_CLIENT)
			continue; /* inside client_pool, routed above */
		rc = tunif_route(&d->tun, p->addr, 32);
	}
	return rc;
}

/* The dialer (TCP through proxies), the mediator link, the server's
 * answers, the resolvers of peers found by system and the relay link;
 * netcheck exists either way (it explains its absence). */
static int start_mediator(struct daemon *d, char *err, size_t errlen)
{
	int rc = dialer_new(&d->dialer, d, err, errlen);
	if (rc)
		return rc;
	rc = netcheck_new(&d->netcheck, d);
	if (!rc && d->cfg.publish)
		rc = answers_new(&d->answers, d);
	if (!rc)
		rc = medlink_new(&d->med, d);
	for (size_t i = 0; i < peers_count(d->peers) && !rc; i++)
		rc = resolve_attach(d, peers_at(d->peers, i));
	if (!rc)
		rc = relaylink_new(&d->relay, d);
	if (rc)
		snprintf(err, errlen, "cannot start the mediator and relay links: %s", strerror(-rc));
	return rc;
}

static void signal_cb(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;
	if (signum == SIGHUP) {
		reload_signal(d);
		return;
	}
	log_info("%s: shutting down", strsignal(signum));
	daemon_stop(d);
}

static int start_signals(struct daemon *d)
{
	uv_signal_t *sigs[] = { &d->sig_int, &d->sig_term, &d->sig_hup };
	int nums[] = { SIGINT, SIGTERM, SIGHUP };
	for (int i = 0; i < 3; i++) {
		uv_signal_init(d->loop, sigs[i]);
		sigs[i]->data = d;
		uv_signal_start(sigs[i], signal_cb, nums[i]);
	}
	d->signals_started = true;
	return 0;
}

/* Test builds (TUND_TEST_HOOKS): TUND_TEST_NO_UDP_OFFLOAD=1 takes the UDP
 * offloads away (TUND_TEST_NO_TUN_OFFLOAD=1, the TUN ones, is tunif.c's),
 * so that bench/throughput can measure each step (kernel-notes/offload.md). */
static bool test_flag(const char *name)
{
#ifdef TUND_TEST_HOOKS
	const char *v = getenv(name);
	return v && strcmp(v, "1") == 0;
#else
	(void)name;
	return false;
#endif
}

int daemon_start(struct daemon *d, uv_loop_t *loop, const uint8_t priv[KEY_LEN], char *err, size_t errlen)
{
	uint8_t id[UUID_LEN];
	int rc;

	d->loop = loop;
	d->time_scale = timers_scale_from_env();
	if (handshake_self_init(&d->self, priv)) {
		snprintf(err, errlen, "%s: the private key is not usable", d->cfg.private_key_file);
		return -EINVAL;
	}
	key_system_id(id, d->self.pub);
	uuid_format(d->system_id, id);
	ratelimit_init(&d->rl);
	rc = peers_new(&d->peers, d);
	if (rc) {
		snprintf(err, errlen, "out of memory");
		return rc;
	}
	rc = add_peers(d, err, errlen);
	if (!rc)
		rc = reload_saved_clients(d, err, errlen); /* tunctl allow's, after the config's */
	if (rc)
		return rc;
	rc = tunif_open(&d->tun, loop, &d->cfg, tun_cb, d, err, errlen);
	if (rc)
		return rc;
	rc = add_routes(d);
	if (rc) {
		snprintf(err, errlen, "cannot add routes through %s: %s", d->tun.name, strerror(-rc));
		return rc;
	}
	bool udp_offload = d->cfg.offload && !test_flag("TUND_TEST_NO_UDP_OFFLOAD");
	rc = udp_open(&d->udp, loop, d->cfg.listen_port, udp_offload, udp_cb, d, err, errlen);
	if (rc)
		return rc;
	rc = batch_new(&d->batch, d->cfg.crypto_threads, (d->tun.offload & TUN_F_TSO4) != 0, d->cfg.mtu);
	if (rc) {
		snprintf(err, errlen, "cannot start the crypto threads: %s", strerror(-rc));
		return rc;
	}
	d->udp.before_flush = batch_tx_run_cb;
	d->udp.before_flush_arg = d->batch;
	log_info("data path: TUN offloads %s, UDP GSO %s, UDP GRO %s, %u crypto thread(s)",
		 d->tun.offload ? "on" : "off", d->udp.gso ? "on" : "off", d->udp.gro ? "on" : "off",
		 cryptpool_threads(d->batch->pool));
	rc = ctlsock_new(&d->ctl, loop, d->cfg.control_socket, control_request_cb, d);
	if (rc) {
		snprintf(err, errlen, "cannot listen on control socket %s: %s", d->cfg.control_socket,
			 rc == -EADDRINUSE ? "another tund is running there" : strerror(-rc));
		return rc;
	}
	rc = start_mediator(d, err, errlen);
	if (!rc && (rc = lan_new(&d->lan, d)) < 0)
		snprintf(err, errlen, "cannot start LAN discovery: %s", strerror(-rc));
	if (rc)
		return rc;
	start_signals(d);
	log_info("tund up: interface %s, system %s, UDP port %u, %zu peer(s)", d->tun.name, d->system_id,
		 d->udp.port, peers_count(d->peers));
	/* Peers we can reach start their handshake now, so the first packet
	 * does not wait for a round trip. */
	for (size_t i = 0; i < peers_count(d->peers); i++) {
		struct peer *p = peers_at(d->peers, i);
		if (p->rs)
			resolve_start(d, p);
		else
			send_handshake_init(d, p);
	}
	return 0;
}

void daemon_stop(struct daemon *d)
{
	if (d->stopping)
		return;
	d->stopping = true;
	if (d->signals_started) {
		uv_close((uv_handle_t *)&d->sig_int, NULL);
		uv_close((uv_handle_t *)&d->sig_term, NULL);
		uv_close((uv_handle_t *)&d->sig_hup, NULL);
		d->signals_started = false;
	}
	netcheck_close(d->netcheck); /* answers its waiters before the socket goes */
	d->netcheck = NULL;
	answers_close(d->answers);
	d->answers = NULL;
	lan_close(d->lan);
	d->lan = NULL;
	relaylink_close(d->relay);
	d->relay = NULL;
	medlink_close(d->med);
	d->med = NULL;
	tconn_close_all(d, NULL, NULL);
	dialer_free(d->dialer); /* after every link it made is closed */
	d->dialer = NULL;
	if (d->ctl)
		ctlsock_close(d->ctl, NULL, NULL);
	d->ctl = NULL;
	if (d->udp.poll_open)
		udp_close(&d->udp, NULL, NULL);
	if (d->tun.poll_open)
		tunif_close(&d->tun, NULL, NULL);
	if (d->peers)
		peers_free(d->peers, NULL, NULL);
	d->peers = NULL;
	sodium_memzero(&d->self, sizeof(d->self));
}
