/*
 * control_admin.c - see control_admin.h. Argument counts are checked
 * here; everything else (and every message) is reload.c's. Replies:
 * reload's body is its report (reload.h), allow's and revoke's one line
 * saying what was done; errors are one line (ctlproto.h).
 */
#include "control_admin.h"

#include <stdlib.h>
#include <string.h>

#include "ctlsock.h"
#include "daemon.h"
#include "reload.h"

void control_admin_reload(struct daemon *d, struct ctl_conn *conn, int argc, char **argv)
{
	(void)argv;
	if (argc != 1) {
		ctlsock_reply_error(conn, "reload takes no arguments");
		return;
	}
	char *out = malloc(RELOAD_REPORT_MAX);
	if (!out) {
		ctlsock_reply_error(conn, "out of memory");
		return;
	}
	if (reload_run(d, out, RELOAD_REPORT_MAX) < 0)
		ctlsock_reply_error(conn, "%s", out);
	else
		ctlsock_reply_ok(conn, out, strlen(out));
	free(out);
}

/* One line of allow or revoke as the reply: ok + the line, or the error. */
static void reply_line(struct ctl_conn *conn, int rc, char *out)
{
	if (rc < 0) {
		ctlsock_reply_error(conn, "%s", out);
		return;
	}
	size_t n = strlen(out);
	out[n] = '\n'; /* out has room: it is a fixed buffer larger than any line */
	ctlsock_reply_ok(conn, out, n + 1);
}

void control_admin_allow(struct daemon *d, struct ctl_conn *conn, int argc, char **argv)
{
	char out[1024];
	if (argc != 2 && argc != 3) {
		ctlsock_reply_error(conn, "usage: allow KEY [NAME]");
		return;
	}
	int rc = reload_allow(d, argv[1], argc == 3 ? argv[2] : NULL, out, sizeof(out) - 1);
	reply_line(conn, rc, out);
}

void control_admin_revoke(struct daemon *d, struct ctl_conn *conn, int argc, char **argv)
{
	char out[1024];
	if (argc != 2) {
		ctlsock_reply_error(conn, "usage: revoke KEY|NAME");
		return;
	}
	int rc = reload_revoke(d, argv[1], out, sizeof(out) - 1);
	reply_line(conn, rc, out);
}
