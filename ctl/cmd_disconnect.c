/*
 * cmd_disconnect.c - `tunctl disconnect PEER`: asks tund to drop PEER's
 * sessions, handshake, queued packets and paths (request "disconnect
 * PEER"). tund then starts nothing towards PEER until `tunctl connect
 * PEER`, or until PEER itself connects again (docs/tunctl.md).
 */
#include <stdio.h>
#include <stdlib.h>

#include "cmd.h"
#include "ctl_client.h"

int cmd_disconnect(const struct ctl_ctx *ctx, int argc, char **argv)
{
	char *buf = NULL;
	const char *body = NULL;
	size_t len = 0;
	int rc = ctl_peer_request(ctx, argc, argv, &buf, &body, &len);
	if (rc != CTL_EXIT_OK)
		return rc;
	free(buf);
	printf("disconnected %s: tund starts nothing towards it until 'tunctl connect %s'\n",
	       argv[1], argv[1]);
	return CTL_EXIT_OK;
}
