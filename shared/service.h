/*
 * service.h - what the main() of a tund service program (tund-mediator,
 * tund-relay) does the same way before its event loop: the command line
 * (-c FILE, --check-config, -h, -V), the process setup, and fitting the
 * open-files limit to the connection limit. Loading the config and key
 * and building the loop stay in each main, which alone knows its parts.
 */
#ifndef TUND_SERVICE_H
#define TUND_SERVICE_H

#include <stdbool.h>

struct service_args {
	const char *config;              /* -c FILE, or the default */
	bool check;                      /* --check-config */
};

/* prog names the program in messages ("tund-relay"); default_config is
 * the file read without -c. An exit code when the arguments say to stop
 * (help, version, misuse), -1 to go on with *out filled. */
int service_args(int argc, char **argv, const char *prog, const char *default_config,
		 struct service_args *out);
/* Ignores SIGPIPE and initialises libsodium. 0, or -1 after saying why
 * on stderr. */
int service_init(const char *prog);
/* Every connection is a descriptor: raises RLIMIT_NOFILE to max_conns +
 * reserve where the hard limit allows, and returns how many connections
 * fit (max_conns, or fewer with a warning logged). */
unsigned service_fit_fds(unsigned max_conns, unsigned reserve);

#endif
