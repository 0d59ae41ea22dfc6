/*
 * cmd_peers.c - `tunctl peers [--json]`: the peers of `tunctl status`,
 * one line each (name, role, local IP, path, last handshake, transfer),
 * or as the JSON array of status peer objects (docs/control.md). Reads
 * the same status reply as `tunctl status`, so the two never disagree.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "ctl_client.h"
#include "status.h"

int cmd_peers(const struct ctl_ctx *ctx, int argc, char **argv)
{
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else
			return ctl_usage_error("peers", "unknown argument \"%s\"", argv[i]);
	}
	struct status st;
	int rc = ctl_client_status(ctx->socket_path, "peers", &st);
	if (rc != CTL_EXIT_OK)
		return rc;
	if (json)
		status_print_peers_json(stdout, &st);
	else
		status_print_peers_text(stdout, &st);
	status_free(&st);
	return CTL_EXIT_OK;
}
