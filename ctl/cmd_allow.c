/*
 * cmd_allow.c - `tunctl allow KEY [NAME]`: lets a client in without
 * editing the config or restarting (request "allow KEY [NAME]"). tund
 * adds it at once and keeps it in <state_directory>/clients, so it is
 * still allowed after a restart; `tunctl revoke` undoes it. KEY "-" is
 * read from stdin (tunctl pubkey < client.key | tunctl allow - laptop).
 * The key is checked here as well, so a typo needs no daemon to say so.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "ctl_client.h"

int cmd_allow(const struct ctl_ctx *ctx, int argc, char **argv)
{
	if (argc < 2)
		return ctl_usage_error("allow", "needs the client's public key");
	if (argc > 3)
		return ctl_usage_error("allow", "takes KEY and at most one NAME");
	uint8_t key[KEY_LEN];
	char b64[KEY_B64_LEN + 1];
	bool from_stdin = strcmp(argv[1], "-") == 0;
	int rc = from_stdin ? ctl_read_key_stdin(key) : key_from_base64(key, argv[1]);
	if (rc == -EINVAL) {
		fprintf(stderr, "tunctl allow: %s is not a base64 public key (44 characters)\n",
			from_stdin ? "stdin" : "KEY");
		return CTL_EXIT_FAIL;
	}
	if (rc < 0) {
		fprintf(stderr, "tunctl allow: reading stdin: %s\n", strerror(-rc));
		return CTL_EXIT_FAIL;
	}
	key_to_base64(b64, key);
	char *request[] = { "allow", b64, argc == 3 ? argv[2] : NULL };
	char *buf = NULL;
	const char *body = NULL;
	size_t len = 0;
	rc = ctl_client_call(ctx->socket_path, argc == 3 ? 3 : 2, request, &buf, &body, &len);
	if (rc != CTL_EXIT_OK)
		return rc;
	for (size_t i = 0; i < len; i++)
		putchar(body[i] == '\n' || (body[i] >= 0x20 && body[i] < 0x7f) ? body[i] : '?');
	free(buf);
	return CTL_EXIT_OK;
}
