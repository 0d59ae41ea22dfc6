/*
 * cmd_connect.c - `tunctl connect PEER`: asks tund to start connecting to
 * PEER now (request "connect PEER"): a handshake, or for a peer found
 * through the mediator a fresh lookup whose answer starts one. It also
 * ends a `tunctl disconnect`. tund answers at once, before the handshake
 * completes; `tunctl peers` shows when the path is up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "ctl_client.h"
#include "status.h"

int cmd_connect(const struct ctl_ctx *ctx, int argc, char **argv)
{
	char *buf = NULL;
	const char *body = NULL;
	size_t len = 0;
	int rc = ctl_peer_request(ctx, argc, argv, &buf, &body, &len);
	if (rc != CTL_EXIT_OK)
		return rc;
	struct status_conn sc;
	char err[256];
	rc = status_conn_decode(&sc, body, len, err, sizeof(err));
	free(buf);
	if (rc < 0) {
		fprintf(stderr, "tunctl connect: malformed reply from tund: %s\n", err);
		return CTL_EXIT_FAIL;
	}
	if (strcmp(sc.state, "connected") == 0)
		printf("%s is connected%s%s\n", argv[1], sc.via[0] ? ": " : "", sc.via);
	else
		printf("connecting to %s ('tunctl peers' shows when its path is up)\n", argv[1]);
	return CTL_EXIT_OK;
}
