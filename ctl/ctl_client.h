/*
 * ctl_client.h - tunctl's side of the control protocol (ctlproto.h):
 * connect to tund's socket, send one request, read the whole reply with a
 * size limit and a receive timeout, and split it into ok/error and body.
 * Failures are reported on stderr here, in the words docs/tunctl.md
 * documents, and returned as tunctl exit codes (cmd.h).
 */
#ifndef TUNCTL_CTL_CLIENT_H
#define TUNCTL_CTL_CLIENT_H

#include <stddef.h>

#define CTL_CLIENT_TIMEOUT_MS 5000  /* for connecting, and for each read */

/* Sends argv[0..argc) as one request line to tund at path. On CTL_EXIT_OK,
 * *buf is the malloc'd reply (the caller frees it) and body/body_len the
 * part after "ok\n". An "error" reply is printed as "tunctl CMD: MESSAGE"
 * (CMD is argv[0]) and gives CTL_EXIT_FAIL, or CTL_EXIT_NO_PEER when tund
 * says it has no peer of the name given. */
int ctl_client_call(const char *path, int argc, char *const argv[], char **buf,
		    const char **body, size_t *body_len);

struct status;
/* Asks tund for its status (request "status") and decodes it into st
 * (status.h; the caller frees it with status_free). cmd names the tunctl
 * command in messages. Returns a tunctl exit code, errors printed. */
int ctl_client_status(const char *path, const char *cmd, struct status *st);

#endif
