/*
 * cmd.h - tunctl's subcommands: the exit codes they return, the context
 * main() passes them, and one function per subcommand (cmd_NAME.c). The
 * table that maps names to these functions, with each one's usage line,
 * is in main.c; docs/tunctl.md describes the commands and exit codes.
 */
#ifndef TUNCTL_CMD_H
#define TUNCTL_CMD_H

#include <stdint.h>

#include "keys.h"

#define CTL_DEFAULT_SOCKET "/run/tund/tund.sock"

/* Exit codes: documented in docs/tunctl.md and `tunctl help`. */
enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_FAIL = 1,          /* the command failed: tund said no, bad input, bad reply */
	CTL_EXIT_USAGE = 2,         /* bad command line */
	CTL_EXIT_UNREACHABLE = 3,   /* tund is not running or does not answer */
	CTL_EXIT_DENIED = 4,        /* no permission to use the control socket */
	CTL_EXIT_NO_PEER = 5,       /* tund has no peer of that name */
};

struct ctl_ctx {
	const char *socket_path;    /* -s, else $TUND_SOCKET, else CTL_DEFAULT_SOCKET */
};

/* Each gets its own arguments, argv[0] being the command name, and
 * returns an exit code, having printed any error itself. */
int cmd_genkey(const struct ctl_ctx *ctx, int argc, char **argv);
int cmd_pubkey(const struct ctl_ctx *ctx, int argc, char **argv);
int cmd_id(const struct ctl_ctx *ctx, int argc, char **argv);
int cmd_status(const struct ctl_ctx *ctx, int argc, char **argv);
int cmd_netcheck(const struct ctl_ctx *ctx, int argc, char **argv);
int cmd_peers(const struct ctl_ctx *ctx, int argc, char **argv);
int cmd_ping(const struct ctl_ctx *ctx, int argc, char **argv);
int cmd_connect(const struct ctl_ctx *ctx, int argc, char **argv);
int cmd_disconnect(const struct ctl_ctx *ctx, int argc, char **argv);
int cmd_reload(const struct ctl_ctx *ctx, int argc, char **argv);
int cmd_allow(const struct ctl_ctx *ctx, int argc, char **argv);
int cmd_revoke(const struct ctl_ctx *ctx, int argc, char **argv);

/* main.c: prints "tunctl CMD: MESSAGE" and CMD's usage line on stderr;
 * returns CTL_EXIT_USAGE. */
int ctl_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* main.c: for commands that take exactly one PEER: checks argv (usage
 * errors are printed, CTL_EXIT_USAGE), then sends "CMD PEER" to tund.
 * On CTL_EXIT_OK, *buf (free it) holds the reply, *body and *len its body. */
int ctl_peer_request(const struct ctl_ctx *ctx, int argc, char **argv, char **buf, const char **body,
		     size_t *len);

/* main.c: reads one base64 key from stdin (at most 4 KiB; surrounding
 * white space allowed). 0, -EINVAL for content, -errno for I/O. */
int ctl_read_key_stdin(uint8_t key[KEY_LEN]);

#endif
