/*
 * main.c - tund-mediator's entry point and glue: arguments, config and
 * key, then one libuv loop with the UDP ports (udpport.h), the TCP server
 * (tcpserver.h) and the protocol engine (mediator.h) joined by callbacks.
 * All state lives in one struct app built here. SIGINT/SIGTERM close
 * every handle; the loop then ends by itself and the engine is freed.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <uv.h>

#include "keys.h"
#include "log.h"
#include "medconf.h"
#include "mediator.h"
#include "sdnotify.h"
#include "service.h"
#include "tcpserver.h"
#include "udpport.h"

#define FD_RESERVE 64    /* descriptors beyond TCP connections: sockets, logs, libuv */

struct app {
	uv_loop_t *loop;
	struct medconf conf;
	unsigned max_conns;              /* conf.max_connections, capped by RLIMIT_NOFILE */
	struct mediator *med;
	struct udpport udp[2];           /* MEDIATOR_PORT_MAIN, MEDIATOR_PORT_ALT */
	struct tcpserver *tcp;
	uv_timer_t tick;
	uv_signal_t sigint, sigterm;
	bool stopping;
};

/* ---------------------------------------------------------- engine io */

static void io_udp_send(void *ctx, unsigned port, const struct endpoint *to, const uint8_t *buf,
			size_t len)
{
	struct app *a = ctx;

	if (port < 2)
		udpport_send(&a->udp[port], to, buf, len);
}

static void io_tcp_send(void *ctx, void *conn, const uint8_t *buf, size_t len)
{
	tcpserver_send(conn, buf, len);
}

static void io_tcp_close(void *ctx, void *conn)
{
	tcpserver_close_conn(conn);
}

static void udp_recv(void *data, unsigned index, const struct endpoint *from, const uint8_t *buf,
		     size_t len)
{
	struct app *a = data;

	mediator_udp_input(a->med, index, from, buf, len, uv_now(a->loop));
}

static void *tcp_open(void *ctx, struct tcpconn *c, const struct endpoint *from)
{
	struct app *a = ctx;

	return mediator_peer_open(a->med, c, from);
}

static int tcp_message(void *ctx, void *state, const uint8_t *buf, size_t len)
{
	struct app *a = ctx;

	return mediator_peer_input(a->med, state, buf, len, uv_now(a->loop));
}

static void tcp_closed(void *ctx, void *state)
{
	struct app *a = ctx;

	mediator_peer_closed(a->med, state);
}

static void tick_cb(uv_timer_t *t)
{
	struct app *a = t->data;
	uint64_t now = uv_now(a->loop);

	mediator_tick(a->med, now);
	tcpserver_sweep(a->tcp, now);
}

/* ---------------------------------------------------------- shutdown */

static void log_totals(const struct app *a)
{
	const struct mediator_stats *s = mediator_stats(a->med);

	log_info("totals: %llu registrations, %llu connects (%llu accepted, %llu refused, "
		 "%llu unanswered, %llu offline, %llu rate-limited), %llu Binding requests, "
		 "%llu bad datagrams, %llu bad TCP streams",
		 (unsigned long long)s->registered, (unsigned long long)s->connects,
		 (unsigned long long)s->accepted, (unsigned long long)s->refused,
		 (unsigned long long)s->no_answer, (unsigned long long)s->connect_offline,
		 (unsigned long long)s->connect_limited, (unsigned long long)s->bindings,
		 (unsigned long long)s->udp_dropped, (unsigned long long)s->tcp_bad);
	if (a->tcp) {
		struct tcpserver_stats t;
		tcpserver_get_stats(a->tcp, &t);
		log_info("TCP: %llu accepted, %llu evicted unauthenticated, %llu refused when full, "
			 "%llu hello timeouts, %llu idle timeouts, %llu framing errors, "
			 "%llu output overflows",
			 (unsigned long long)t.accepted, (unsigned long long)t.evicted,
			 (unsigned long long)t.refused, (unsigned long long)t.hello_timeouts,
			 (unsigned long long)t.idle_timeouts, (unsigned long long)t.framing_errors,
			 (unsigned long long)t.overflows);
	}
	log_info("UDP: %llu oversized datagrams dropped, %llu sends failed",
		 (unsigned long long)(a->udp[0].truncated + a->udp[1].truncated),
		 (unsigned long long)(a->udp[0].send_errors + a->udp[1].send_errors));
}

static void stop(struct app *a)
{
	if (a->stopping)
		return;
	a->stopping = true;
	if (a->tcp)
		log_totals(a);
	uv_close((uv_handle_t *)&a->sigint, NULL);
	uv_close((uv_handle_t *)&a->sigterm, NULL);
	uv_close((uv_handle_t *)&a->tick, NULL);
	udpport_close(&a->udp[MEDIATOR_PORT_MAIN], NULL, NULL);
	udpport_close(&a->udp[MEDIATOR_PORT_ALT], NULL, NULL);
	if (a->tcp)
		tcpserver_close(a->tcp, NULL, NULL);
	a->tcp = NULL;
}

static void signal_cb(uv_signal_t *sig, int signum)
{
	struct app *a = sig->data;

	log_info("%s: shutting down", strsignal(signum));
	sdnotify_stopping();
	stop(a);
}

/* ------------------------------------------------------------ start */

static int open_sockets(struct app *a, char *err, size_t errlen)
{
	static const struct tcpserver_ops tcp_ops_tmpl = {
		.open = tcp_open, .message = tcp_message, .closed = tcp_closed,
	};
	struct tcpserver_ops ops = tcp_ops_tmpl;
	struct tcpserver_limits lim = {
		.max_conns = a->max_conns, .hello_ms = MEDIATOR_HELLO_TIMEOUT_MS,
		.idle_ms = MEDIATOR_IDLE_TIMEOUT_MS, .drain_ms = MEDIATOR_DRAIN_TIMEOUT_MS,
	};
	const struct medconf *c = &a->conf;
	int rc;

	ops.ctx = a;
	rc = udpport_open(&a->udp[MEDIATOR_PORT_MAIN], a->loop, c->listen.addr, c->listen.port,
			  MEDIATOR_PORT_MAIN, udp_recv, a, err, errlen);
	if (rc == 0 && c->alt_port)
		rc = udpport_open(&a->udp[MEDIATOR_PORT_ALT], a->loop, c->listen.addr, c->alt_port,
				  MEDIATOR_PORT_ALT, udp_recv, a, err, errlen);
	if (rc == 0)
		rc = tcpserver_new(&a->tcp, a->loop, &c->listen, &lim, &ops, err, errlen);
	return rc;
}

static int start(struct app *a, const uint8_t priv[KEY_LEN], char *err, size_t errlen)
{
	const struct mediator_io io = {
		.ctx = a, .udp_send = io_udp_send, .tcp_send = io_tcp_send, .tcp_close = io_tcp_close,
	};
	uint8_t pub[KEY_LEN];
	char pub64[KEY_B64_LEN + 1], listen[ENDPOINT_STR_LEN];
	int rc;

	uv_signal_init(a->loop, &a->sigint);
	uv_signal_init(a->loop, &a->sigterm);
	uv_timer_init(a->loop, &a->tick);
	a->sigint.data = a->sigterm.data = a->tick.data = a;
	uv_signal_start(&a->sigint, signal_cb, SIGINT);
	uv_signal_start(&a->sigterm, signal_cb, SIGTERM);
	rc = mediator_new(&a->med, priv, a->conf.alt_port != 0, &io);
	if (rc < 0) {
		snprintf(err, errlen, "%.400s: %s", a->conf.private_key_file,
			 rc == -EINVAL ? "not a usable X25519 private key" : strerror(-rc));
		return rc;
	}
	if (a->conf.has_relay)
		mediator_set_relay(a->med, &a->conf.relay, a->conf.relay_key);
	a->max_conns = service_fit_fds(a->conf.max_connections, FD_RESERVE);
	rc = open_sockets(a, err, errlen);
	if (rc < 0)
		return rc;
	uv_timer_start(&a->tick, tick_cb, MEDIATOR_TICK_MS, MEDIATOR_TICK_MS);
	mediator_public_key(a->med, pub);
	key_to_base64(pub64, pub);
	endpoint_format(listen, &a->conf.listen);
	log_info("tund-mediator %s: public key %s", TUND_VERSION, pub64);
	if (a->conf.alt_port)
		log_info("listening on UDP and TCP %s, alt UDP port %u, at most %u TCP connections",
			 listen, a->conf.alt_port, a->max_conns);
	else
		log_info("listening on UDP and TCP %s (no alt port), at most %u TCP connections",
			 listen, a->max_conns);
	return 0;
}

static int load(struct app *a, const char *path, uint8_t priv[KEY_LEN])
{
	char err[MEDCONF_ERR_MAX];

	if (medconf_parse_file(&a->conf, path, err, sizeof(err)) < 0) {
		fprintf(stderr, "tund-mediator: %s\n", err);
		return -1;
	}
	if (key_read_file(priv, a->conf.private_key_file, err, sizeof(err)) < 0) {
		fprintf(stderr, "tund-mediator: %s (private_key_file in %s)\n", err, path);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct service_args args;
	uint8_t priv[KEY_LEN];
	char err[MEDCONF_ERR_MAX];
	int rc = service_args(argc, argv, "tund-mediator", MEDCONF_DEFAULT_PATH, &args);

	if (rc >= 0)
		return rc;
	if (service_init("tund-mediator") < 0)
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
	mediator_free(a->med);
	free(a);
	return code;
}
