/*
 * main.c - tund-relay's entry point and glue: arguments, config and key,
 * then one libuv loop with the HTTP front (front.h) on top of the
 * connection table (conn.h), the engine (relay.h), the Poll-mode session
 * table (polltab.h), the nonce cache, the per-source limit and, when a
 * mediator is configured, the gateway to it. All state lives in one
 * struct app built here; a one-second tick runs the deadlines.
 * SIGINT/SIGTERM close every handle and the loop ends by itself; SIGUSR1
 * logs the counters and the idle pool per system.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <uv.h>

#include "conn.h"
#include "front.h"
#include "gateway.h"
#include "keys.h"
#include "log.h"
#include "noncecache.h"
#include "polltab.h"
#include "relay.h"
#include "relayconf.h"
#include "relayproto.h"
#include "sdnotify.h"
#include "service.h"
#include "srclimit.h"
#include "stats.h"

#define FD_RESERVE 64                /* descriptors beyond connections */
#define TICK_MS 1000
#define STATS_EVERY_MS 60000         /* at debug level */
#define NONCE_CAPACITY 65536         /* see noncecache.h for what happens beyond */
#define HEAD_TIMEOUT_MS 10000        /* a whole request head after accept / first byte */
#define DRAIN_TIMEOUT_MS 5000        /* flushing and lingering on close */
#define BLOCKED_TIMEOUT_MS 60000     /* a peer that does not read */
#define SYSTEMS_LOGGED_MAX 50        /* SIGUSR1's per-system lines */

struct app {
	uv_loop_t *loop;
	struct relayconf conf;
	unsigned max_conns;              /* conf.max_connections, capped by RLIMIT_NOFILE */
	struct stats st;
	struct conn_table *conns;
	struct relay *relay;
	struct polltab *polls;
	struct noncecache *nonces;
	struct srclimit *limit;
	struct front *front;
	struct gateway *gateway;
	uv_timer_t tick;
	uv_signal_t sigint, sigterm, sigusr1;
	uint64_t stats_ms;               /* last periodic stats line */
	unsigned systems_logged;
	bool stopping;
};

/* ------------------------------------------------------------- stats */

static void log_stats(struct app *a, enum log_level lvl)
{
	struct stats_gauges g = { 0 };
	struct conn_stats cs;

	if (a->conns) {
		conn_table_stats(a->conns, &cs);
		g.conns = cs.open;
		g.accepted = cs.accepted;
		g.refused_full = cs.refused_full;
		g.evicted = cs.evicted;
		g.head_timeouts = cs.head_timeouts;
		g.idle_timeouts = cs.idle_timeouts;
		g.stuck = cs.blocked_timeouts;
		g.overflows = cs.overflows;
	}
	g.pool_idle = pool_total(relay_pool(a->relay));
	g.pool_systems = pool_systems(relay_pool(a->relay));
	g.splices = relay_splice_count(a->relay);
	g.polls = polltab_count(a->polls);
	g.nonces = noncecache_count(a->nonces);
	stats_log(lvl, &a->st, &g);
}

static void log_system(void *arg, const uint8_t system[UUID_LEN], size_t n)
{
	struct app *a = arg;
	char id[UUID_STR_LEN + 1];

	if (a->systems_logged++ >= SYSTEMS_LOGGED_MAX)
		return;
	uuid_format(id, system);
	log_info("pool: system %s: %zu idle", id, n);
}

static void tick_cb(uv_timer_t *t)
{
	struct app *a = t->data;
	uint64_t now = uv_now(a->loop);

	conn_sweep(a->conns, now);
	relay_sweep(a->relay, now);
	if (log_get_level() >= LOG_LVL_DEBUG && now - a->stats_ms >= STATS_EVERY_MS) {
		a->stats_ms = now;
		log_stats(a, LOG_LVL_DEBUG);
	}
}

/* ---------------------------------------------------------- shutdown */

static void stop(struct app *a)
{
	if (a->stopping)
		return;
	a->stopping = true;
	if (a->front)
		log_stats(a, LOG_LVL_INFO);
	uv_close((uv_handle_t *)&a->sigint, NULL);
	uv_close((uv_handle_t *)&a->sigterm, NULL);
	uv_close((uv_handle_t *)&a->sigusr1, NULL);
	uv_close((uv_handle_t *)&a->tick, NULL);
	if (a->front)
		front_stop(a->front);
	if (a->conns)
		conn_table_close(a->conns, NULL, NULL);
	a->conns = NULL;
}

static void signal_cb(uv_signal_t *sig, int signum)
{
	struct app *a = sig->data;

	if (signum == SIGUSR1) {
		log_stats(a, LOG_LVL_INFO);
		a->systems_logged = 0;
		pool_each_system(relay_pool(a->relay), log_system, a);
		if (a->systems_logged > SYSTEMS_LOGGED_MAX)
			log_info("pool: %u more systems not listed", a->systems_logged - SYSTEMS_LOGGED_MAX);
		return;
	}
	log_info("%s: shutting down", strsignal(signum));
	sdnotify_stopping();
	stop(a);
}

/* ------------------------------------------------------------ start */

static int make_parts(struct app *a)
{
	const struct conn_limits lim = {
		.max_conns = a->max_conns, .head_ms = HEAD_TIMEOUT_MS,
		.idle_ms = (uint64_t)RELAYPROTO_IDLE_S * 1000, .drain_ms = DRAIN_TIMEOUT_MS,
		.blocked_ms = BLOCKED_TIMEOUT_MS,
	};
	int rc = conn_table_new(&a->conns, a->loop, &lim);

	if (rc == 0)
		rc = relay_new(&a->relay, a->loop, &a->st);
	if (rc == 0)
		rc = polltab_new(&a->polls);
	if (rc == 0)
		rc = noncecache_new(&a->nonces, NONCE_CAPACITY, RELAYPROTO_SKEW_S);
	if (rc == 0 && a->conf.source_rate)
		rc = srclimit_new(&a->limit, a->conf.source_rate, a->conf.source_rate * 4);
	return rc;
}

static int start(struct app *a, const uint8_t priv[KEY_LEN], char *err, size_t errlen)
{
	struct front_config fc = { .loop = a->loop, .listen = a->conf.listen };
	char pub64[KEY_B64_LEN + 1], listen[ENDPOINT_STR_LEN], gw[RELAYCONF_HOST_MAX + 8] = "off";
	int rc;

	uv_signal_init(a->loop, &a->sigint);
	uv_signal_init(a->loop, &a->sigterm);
	uv_signal_init(a->loop, &a->sigusr1);
	uv_timer_init(a->loop, &a->tick);
	a->sigint.data = a->sigterm.data = a->sigusr1.data = a->tick.data = a;
	uv_signal_start(&a->sigint, signal_cb, SIGINT);
	uv_signal_start(&a->sigterm, signal_cb, SIGTERM);
	uv_signal_start(&a->sigusr1, signal_cb, SIGUSR1);
	if (key_public(fc.pub, priv) < 0) {
		snprintf(err, errlen, "%.400s: not a usable X25519 private key", a->conf.private_key_file);
		return -EINVAL;
	}
	a->max_conns = service_fit_fds(a->conf.max_connections, FD_RESERVE);
	if (make_parts(a) < 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	memcpy(fc.priv, priv, KEY_LEN);
	fc.conns = a->conns;
	fc.relay = a->relay;
	fc.polls = a->polls;
	fc.nonces = a->nonces;
	fc.limit = a->limit;
	fc.st = &a->st;
	rc = front_new(&a->front, &fc, err, errlen);
	sodium_memzero(fc.priv, sizeof(fc.priv));
	if (rc < 0)
		return rc;
	if (a->conf.mediator_host[0]) {
		const struct gateway_ops gops = { .ctx = a->front, .answer = front_answer, .refuse = front_refuse };
		rc = gateway_new(&a->gateway, a->loop, a->conns, a->relay, &a->st, a->conf.mediator_host,
				 a->conf.mediator_port, &gops);
		if (rc < 0) {
			snprintf(err, errlen, "out of memory");
			return rc;
		}
		front_set_gateway(a->front, a->gateway);
	}
	uv_timer_start(&a->tick, tick_cb, TICK_MS, TICK_MS);
	a->stats_ms = uv_now(a->loop);
	key_to_base64(pub64, fc.pub);
	endpoint_format(listen, &a->conf.listen);
	log_info("tund-relay %s: public key %s", TUND_VERSION, pub64);
	if (a->conf.mediator_host[0])
		snprintf(gw, sizeof(gw), "%s:%u", a->conf.mediator_host, a->conf.mediator_port);
	log_info("listening on TCP %s, at most %u connections, mediator gateway %s", listen,
		 a->max_conns, gw);
	return 0;
}

static int load(struct app *a, const char *path, uint8_t priv[KEY_LEN])
{
	char err[RELAYCONF_ERR_MAX];
	uint8_t pub[KEY_LEN];

	if (relayconf_parse_file(&a->conf, path, err, sizeof(err)) < 0) {
		fprintf(stderr, "tund-relay: %s\n", err);
		return -1;
	}
	if (key_read_file(priv, a->conf.private_key_file, err, sizeof(err)) < 0) {
		fprintf(stderr, "tund-relay: %s (private_key_file in %s)\n", err, path);
		return -1;
	}
	if (key_public(pub, priv) < 0) {
		fprintf(stderr, "tund-relay: %s: not a usable X25519 private key (private_key_file in %s)\n",
			a->conf.private_key_file, path);
		return -1;
	}
	return 0;
}

static void free_parts(struct app *a)
{
	front_free(a->front);
	gateway_free(a->gateway);
	relay_free(a->relay);
	polltab_free(a->polls);
	noncecache_free(a->nonces);
	srclimit_free(a->limit);
}

int main(int argc, char **argv)
{
	struct service_args args;
	uint8_t priv[KEY_LEN];
	char err[RELAYCONF_ERR_MAX];
	int rc = service_args(argc, argv, "tund-relay", RELAYCONF_DEFAULT_PATH, &args);

	if (rc >= 0)
		return rc;
	if (service_init("tund-relay") < 0)
		return 1;
	struct app *a = calloc(1, sizeof(*a));
	if (!a)
		return 1;
	if (load(a, args.config, priv) < 0) {
		sodium_memzero(priv, sizeof(priv));
		free(a);
		return 1;
	}
	if (args.check) {
		printf("%s: configuration OK\n", args.config);
		sodium_memzero(priv, sizeof(priv));
		free(a);
		return 0;
	}
	log_set_level(a->conf.log_level);

	uv_loop_t loop;
	int code = 0;
	uv_loop_init(&loop);
	a->loop = &loop;
	rc = start(a, priv, err, sizeof(err));
	sodium_memzero(priv, sizeof(priv));
	if (rc < 0) {
		log_error("%s", err);
		code = 1;
		stop(a);
	} else {
		/* start() returns with every port bound: ready. */
		char status[ENDPOINT_STR_LEN + 16], listen[ENDPOINT_STR_LEN];
		endpoint_format(listen, &a->conf.listen);
		snprintf(status, sizeof(status), "listening on %s", listen);
		sdnotify_ready(status);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0)
		log_error("event loop closed with handles still open");
	free_parts(a);
	free(a);
	return code;
}
