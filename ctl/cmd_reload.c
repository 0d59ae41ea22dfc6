/*
 * cmd_reload.c - `tunctl reload`: asks tund to read its config file and
 * the clients file again and apply them (request "reload"; reload.h in
 * tund says what changes live). Prints tund's report, one line per
 * event. Exit status 1 when tund refused the config (nothing changed) or
 * when a line says "failed:" (a peer could not be applied; the rest was).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "ctl_client.h"

/* The report as tund sent it, with anything that could drive the
 * terminal shown as '?'; true when a line starts with "failed:". */
static bool print_report(const char *body, size_t len)
{
	bool failed = false, line_start = true;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)body[i];
		if (line_start && len - i >= 7 && memcmp(body + i, "failed:", 7) == 0)
			failed = true;
		line_start = ch == '\n';
		putchar(ch == '\n' || (ch >= 0x20 && ch < 0x7f) ? ch : '?');
	}
	if (len && body[len - 1] != '\n')
		putchar('\n');
	return failed;
}

int cmd_reload(const struct ctl_ctx *ctx, int argc, char **argv)
{
	if (argc > 1)
		return ctl_usage_error("reload", "takes no arguments");
	char *request[] = { "reload" };
	char *buf = NULL;
	const char *body = NULL;
	size_t len = 0;
	int rc = ctl_client_call(ctx->socket_path, 1, request, &buf, &body, &len);
	if (rc != CTL_EXIT_OK)
		return rc;
	bool failed = print_report(body, len);
	free(buf);
	return failed ? CTL_EXIT_FAIL : CTL_EXIT_OK;
}
