/*
 * cmd_revoke.c - `tunctl revoke KEY|NAME`: takes back what `tunctl
 * allow` granted (request "revoke KEY|NAME"): tund removes the client
 * from <state_directory>/clients and drops its session at once. Clients
 * of the config file are refused: those are revoked by editing the
 * config and reloading.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cmd.h"
#include "ctl_client.h"

int cmd_revoke(const struct ctl_ctx *ctx, int argc, char **argv)
{
	if (argc != 2)
		return ctl_usage_error("revoke", "needs one client: its public key or its name");
	char *request[] = { "revoke", argv[1] };
	char *buf = NULL;
	const char *body = NULL;
	size_t len = 0;
	int rc = ctl_client_call(ctx->socket_path, 2, request, &buf, &body, &len);
	if (rc != CTL_EXIT_OK)
		return rc;
	for (size_t i = 0; i < len; i++)
		putchar(body[i] == '\n' || (body[i] >= 0x20 && body[i] < 0x7f) ? body[i] : '?');
	free(buf);
	return CTL_EXIT_OK;
}
