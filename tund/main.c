/*
 * main.c - tund's entry point: arguments, config, private key, then the
 * event loop. All state lives in one struct daemon built here.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <uv.h>

#include "batch.h"
#include "config.h"
#include "daemon_run.h"
#include "keys.h"
#include "log.h"
#include "peer.h"
#include "sdnotify.h"

#define DEFAULT_CONFIG "/etc/tund/tund.conf"

static void usage(FILE *f)
{
	fprintf(f, "usage: tund [-c FILE] [--check-config]\n"
		   "  -c, --config FILE   configuration file (default " DEFAULT_CONFIG ")\n"
		   "  --check-config      validate the configuration and the private key, then exit\n"
		   "  -h, --help          this text\n"
		   "  -V, --version       print the version\n");
}

static int load(struct cfg *cfg, uint8_t priv[KEY_LEN], const char *path)
{
	char err[CFG_ERR_MAX];
	int rc = cfg_parse_file(cfg, path, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "tund: %s\n", err);
		return rc;
	}
	rc = key_read_file(priv, cfg->private_key_file, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "tund: %s (private_key_file in %s)\n", err, path);
		cfg_free(cfg);
		return rc;
	}
	return 0;
}

/* The service manager wants STOPPING=1 as shutdown begins. daemon.c owns
 * the shutdown signals; libuv runs every handle watching a signal, so
 * main watches SIGINT and SIGTERM too, unreferenced so that when the loop
 * ends stays daemon.c's business. */
static void stopping_cb(uv_signal_t *h, int signum)
{
	sdnotify_stopping();
}

static void watch_stopping(uv_loop_t *loop, uv_signal_t sigs[2])
{
	static const int nums[2] = { SIGINT, SIGTERM };

	for (int i = 0; i < 2; i++) {
		uv_signal_init(loop, &sigs[i]);
		uv_signal_start_oneshot(&sigs[i], stopping_cb, nums[i]);
		uv_unref((uv_handle_t *)&sigs[i]);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	const char *path = DEFAULT_CONFIG;
	bool check = false;
	int c;

	while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'k': check = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("tund %s\n", TUND_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "tund: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	/* A control client that hangs up before reading its reply must not
	 * kill the daemon: libuv's writes would raise SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0) {
		fprintf(stderr, "tund: libsodium failed to initialise\n");
		return 1;
	}

	struct daemon *d = calloc(1, sizeof(*d));
	uint8_t priv[KEY_LEN];
	if (!d)
		return 1;
	if (load(&d->cfg, priv, path)) {
		free(d);
		return 1;
	}
	if (check) {
		printf("%s: configuration OK (%zu peers and clients)\n", path, d->cfg.n_peers);
		sodium_memzero(priv, sizeof(priv));
		cfg_free(&d->cfg);
		free(d);
		return 0;
	}
	log_set_level((enum log_level)d->cfg.log_level);

	uv_loop_t loop;
	uv_signal_t stop_sigs[2];
	char err[CFG_ERR_MAX];
	uv_loop_init(&loop);
	watch_stopping(&loop, stop_sigs);
	int rc = daemon_start(d, &loop, priv, err, sizeof(err));
	sodium_memzero(priv, sizeof(priv));
	if (rc) {
		log_error("%s", err);
		d->exit_code = 1;
		daemon_stop(d);
	} else {
		/* daemon_start() returns once the TUN device is up with its
		 * address and routes and the sockets are bound: ready. */
		char status[96];
		snprintf(status, sizeof(status), "interface %s up, %zu peer(s)", d->tun.name,
			 peers_count(d->peers));
		sdnotify_ready(status);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	for (int i = 0; i < 2; i++)
		uv_close((uv_handle_t *)&stop_sigs[i], NULL);
	uv_run(&loop, UV_RUN_DEFAULT);   /* runs the close callbacks */
	uv_loop_close(&loop);
	int code = d->exit_code;
	batch_free(d->batch); /* after the loop: no callback can use it now */
	cfg_free(&d->cfg);
	sodium_memzero(d, sizeof(*d));
	free(d);
	return code;
}
