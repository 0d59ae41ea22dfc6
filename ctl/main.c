/*
 * main.c - tunctl: global options, the subcommand table, help, and the
 * small helpers the subcommands share. Usage and exit codes are in
 * docs/tunctl.md; keep `tunctl help` and that page saying the same.
 *
 * Each subcommand is one function in its own cmd_NAME.c and returns an
 * exit code; main only picks the socket path and the function, and checks
 * at the end that stdout was really written.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "cmd.h"
#include "ctl_client.h"

#ifndef TUNCTL_VERSION
#define TUNCTL_VERSION "0.1.0"
#endif


struct ctl_cmd {
	const char *name;
	const char *args;      /* what follows the name in the usage line */
	const char *summary;
	int (*run)(const struct ctl_ctx *ctx, int argc, char **argv);
};

static int cmd_help(const struct ctl_ctx *ctx, int argc, char **argv);

static const struct ctl_cmd COMMANDS[] = {
	{ "status", "[--json]", "show the interface and its peers (from tund)", cmd_status },
	{ "peers", "[--json]", "one line per peer: role, local IP, path, handshake, transfer", cmd_peers },
	{ "ping", "PEER [-c N] [--json]", "round trip through the tunnel to PEER, and the path taken", cmd_ping },
	{ "connect", "PEER", "start connecting to PEER now (handshake or mediator lookup)", cmd_connect },
	{ "disconnect", "PEER", "drop PEER's sessions and paths; stay so until connect", cmd_disconnect },
	{ "netcheck", "[--json]", "probe UDP and the NAT between tund and its mediator", cmd_netcheck },
	{ "reload", "", "make tund read its config and clients file again, and apply them", cmd_reload },
	{ "allow", "KEY [NAME]", "allow a client now and keep it allowed (state directory)", cmd_allow },
	{ "revoke", "KEY|NAME", "take back a tunctl allow and drop the client's session", cmd_revoke },
	{ "genkey", "", "print a new base64 private key", cmd_genkey },
	{ "pubkey", "", "read a private key on stdin, print its public key", cmd_pubkey },
	{ "id", "[--private] [KEY]", "print the system id of a public key (stdin or KEY)", cmd_id },
	{ "help", "[COMMAND]", "show this help, or one command's usage", cmd_help },
};

#define N_COMMANDS (sizeof(COMMANDS) / sizeof(COMMANDS[0]))

static const struct ctl_cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(COMMANDS[i].name, name) == 0)
			return &COMMANDS[i];
	return NULL;
}

static void print_cmd_usage(FILE *f, const struct ctl_cmd *c)
{
	fprintf(f, "usage: tunctl [-s SOCKET] %s%s%s\n", c->name, c->args[0] ? " " : "", c->args);
}

static void print_help(FILE *f)
{
	fputs("usage: tunctl [-s SOCKET] COMMAND [ARGS]\n\nCommands:\n", f);
	for (size_t i = 0; i < N_COMMANDS; i++) {
		char head[64];
		snprintf(head, sizeof(head), "%s %s", COMMANDS[i].name, COMMANDS[i].args);
		if (strlen(head) > 22)   /* a long usage gets the summary on a line of its own */
			fprintf(f, "  %s\n  %-22s %s\n", head, "", COMMANDS[i].summary);
		else
			fprintf(f, "  %-22s %s\n", head, COMMANDS[i].summary);
	}
	fputs("\nOptions:\n"
	      "  -s, --socket PATH      tund's control socket (default: $TUND_SOCKET,\n"
	      "                         else " CTL_DEFAULT_SOCKET ")\n"
	      "  -h, --help             show this help\n"
	      "  --version              print the version\n"
	      "\nExit status:\n"
	      "  0  success\n"
	      "  1  the command failed (tund reported an error, a ping got no answer,\n"
	      "     bad input, bad reply)\n"
	      "  2  usage error\n"
	      "  3  tund cannot be reached (not running, or not answering)\n"
	      "  4  permission denied on the control socket\n"
	      "  5  tund has no peer of that name\n", f);
}

static int cmd_help(const struct ctl_ctx *ctx, int argc, char **argv)
{
	if (argc > 2)
		return ctl_usage_error("help", "too many arguments");
	if (argc == 2) {
		const struct ctl_cmd *c = find_cmd(argv[1]);
		if (!c)
			return ctl_usage_error("help", "unknown command \"%s\"", argv[1]);
		print_cmd_usage(stdout, c);
		printf("%s\n", c->summary);
		return CTL_EXIT_OK;
	}
	print_help(stdout);
	return CTL_EXIT_OK;
}

int ctl_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "tunctl %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	const struct ctl_cmd *c = find_cmd(cmd);
	if (c)
		print_cmd_usage(stderr, c);
	return CTL_EXIT_USAGE;
}

int ctl_peer_request(const struct ctl_ctx *ctx, int argc, char **argv, char **buf, const char **body,
		     size_t *len)
{
	if (argc < 2)
		return ctl_usage_error(argv[0], "which peer?");
	if (argc > 2)
		return ctl_usage_error(argv[0], "too many arguments");
	if (argv[1][0] == '-')
		return ctl_usage_error(argv[0], "unknown option \"%s\"", argv[1]);
	char *request[] = { argv[0], argv[1] };
	*buf = NULL;
	return ctl_client_call(ctx->socket_path, 2, request, buf, body, len);
}

int ctl_read_key_stdin(uint8_t key[KEY_LEN])
{
	int rc = key_read_fd(key, STDIN_FILENO);
	return rc == -EFBIG ? -EINVAL : rc;
}

static int global_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int global_usage_error(const char *fmt, ...)
{
	va_list ap;
	fputs("tunctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nusage: tunctl [-s SOCKET] COMMAND [ARGS]; run 'tunctl help' for the commands\n", stderr);
	return CTL_EXIT_USAGE;
}

/* Global options, up to the command name. Returns the index of the
 * command in argv, or -exit code when main should stop. */
static int parse_global(struct ctl_ctx *ctx, int argc, char **argv)
{
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0)
			return i + 1;
		if (strcmp(a, "-s") == 0 || strcmp(a, "--socket") == 0) {
			if (++i == argc || argv[i][0] == '\0')
				return -global_usage_error("option %s needs a path", a);
			ctx->socket_path = argv[i];
		} else if (strncmp(a, "--socket=", 9) == 0) {
			if (a[9] == '\0')
				return -global_usage_error("option --socket needs a path");
			ctx->socket_path = a + 9;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			print_help(stdout);
			return -CTL_EXIT_OK;
		} else if (strcmp(a, "--version") == 0) {
			printf("tunctl %s\n", TUNCTL_VERSION);
			return -CTL_EXIT_OK;
		} else {
			return -global_usage_error("unknown option \"%s\"", a);
		}
	}
	return i;
}

static int finish(int rc)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "tunctl: writing to stdout: %s\n", strerror(errno));
		return CTL_EXIT_FAIL;
	}
	return rc;
}

int main(int argc, char **argv)
{
	const char *env = getenv("TUND_SOCKET");
	struct ctl_ctx ctx = { .socket_path = env && env[0] ? env : CTL_DEFAULT_SOCKET };

	int i = parse_global(&ctx, argc, argv);
	if (i <= 0)
		return finish(-i);
	if (i == argc) {
		fputs("usage: tunctl [-s SOCKET] COMMAND [ARGS]; run 'tunctl help' for the commands\n",
		      stderr);
		return CTL_EXIT_USAGE;
	}
	const struct ctl_cmd *c = find_cmd(argv[i]);
	if (!c)
		return global_usage_error("unknown command \"%s\"", argv[i]);
	if (i + 1 < argc && (strcmp(argv[i + 1], "-h") == 0 || strcmp(argv[i + 1], "--help") == 0)) {
		print_cmd_usage(stdout, c);
		printf("%s\n", c->summary);
		return finish(CTL_EXIT_OK);
	}
	if (sodium_init() < 0) {
		fputs("tunctl: libsodium failed to initialise\n", stderr);
		return CTL_EXIT_FAIL;
	}
	return finish(c->run(&ctx, argc - i, argv + i));
}
