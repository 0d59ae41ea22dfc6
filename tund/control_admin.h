/*
 * control_admin.h - the control commands that change the daemon (reload,
 * allow, revoke), beside control.c's read-only ones and in its table.
 * Each answers on conn with ctlsock_reply_ok or ctlsock_reply_error.
 */
#ifndef TUND_CONTROL_ADMIN_H
#define TUND_CONTROL_ADMIN_H

struct daemon;
struct ctl_conn;

/* "reload": the report of reload_run (reload.h), or its error. */
void control_admin_reload(struct daemon *d, struct ctl_conn *conn, int argc, char **argv);
/* "allow KEY [NAME]" */
void control_admin_allow(struct daemon *d, struct ctl_conn *conn, int argc, char **argv);
/* "revoke KEY|NAME" */
void control_admin_revoke(struct daemon *d, struct ctl_conn *conn, int argc, char **argv);

#endif
