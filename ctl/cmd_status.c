/*
 * cmd_status.c - `tunctl status [--json]`: asks tund for its status
 * (request "status"), decodes the body with the daemon's own status model
 * (status.h) and prints it as text or as JSON (docs/control.md).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "ctl_client.h"
#include "status.h"

int cmd_status(const struct ctl_ctx *ctx, int argc, char **argv)
{
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else
			return ctl_usage_error("status", "unknown argument \"%s\"", argv[i]);
	}
	char *request[] = { "status" };
	char *buf = NULL;
	const char *body = NULL;
	size_t len = 0;
	int rc = ctl_client_call(ctx->socket_path, 1, request, &buf, &body, &len);
	if (rc != CTL_EXIT_OK)
		return rc;

	struct status st;
	char err[256];
	if (status_decode(&st, body, len, err, sizeof(err)) < 0) {
		fprintf(stderr, "tunctl status: malformed status from tund: %s\n", err);
		free(buf);
		return CTL_EXIT_FAIL;
	}
	free(buf);
	if (json)
		status_print_json(stdout, &st);
	else
		status_print_text(stdout, &st);
	status_free(&st);
	return CTL_EXIT_OK;
}
