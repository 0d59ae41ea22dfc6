/*
 * service.c - see service.h.
 */
#include "service.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>

#include <sodium.h>

#include "log.h"

static void usage(FILE *f, const char *prog, const char *default_config)
{
	fprintf(f, "usage: %s [-c FILE] [--check-config]\n"
		   "  -c, --config FILE   configuration file (default %s)\n"
		   "  --check-config      validate the configuration and the private key, then exit\n"
		   "  -h, --help          this text\n"
		   "  -V, --version       print the version\n", prog, default_config);
}

int service_args(int argc, char **argv, const char *prog, const char *default_config,
		 struct service_args *out)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	int c;

	out->config = default_config;
	out->check = false;
	while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c': out->config = optarg; break;
		case 'k': out->check = true; break;
		case 'h': usage(stdout, prog, default_config); return 0;
		case 'V': printf("%s %s\n", prog, TUND_VERSION); return 0;
		default: usage(stderr, prog, default_config); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s: unexpected argument \"%s\"\n", prog, argv[optind]);
		usage(stderr, prog, default_config);
		return 2;
	}
	return -1;
}

int service_init(const char *prog)
{
	/* A peer that resets its connection must not kill us through a write. */
	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0) {
		fprintf(stderr, "%s: libsodium failed to initialise\n", prog);
		return -1;
	}
	return 0;
}

unsigned service_fit_fds(unsigned max_conns, unsigned reserve)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)max_conns + reserve;
	unsigned fit = max_conns;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return fit;
	if (rl.rlim_cur < want) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < want) {
		fit = rl.rlim_cur > (rlim_t)reserve * 2 ? (unsigned)(rl.rlim_cur - reserve) : reserve;
		log_warn("max_connections %u lowered to %u: the open files limit is %llu", max_conns, fit,
			 (unsigned long long)rl.rlim_cur);
	}
	return fit;
}
