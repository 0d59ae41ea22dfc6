/*
 * ctlsock.h - tund's control socket: a libuv Unix stream server that reads
 * one request line per connection, hands the parsed arguments to the
 * daemon's callback, and sends whatever reply the daemon gives (possibly
 * later, for commands that wait on the network), then closes.
 *
 * The socket file is created mode 0660 in a directory created 0755 if
 * missing; a stale socket left by a killed tund is replaced, a live one
 * (another tund answers) is an error (-EADDRINUSE).
 */
#ifndef TUND_CTLSOCK_H
#define TUND_CTLSOCK_H

#include <stddef.h>
#include <uv.h>

struct ctlsock;  /* opaque: the listening pipe and its connections */
struct ctl_conn; /* one client connection, alive until a reply is sent */

typedef void (*ctlsock_request_cb)(void *data, struct ctl_conn *conn, int argc, char **argv);

int ctlsock_new(struct ctlsock **out, uv_loop_t *loop, const char *path,
		ctlsock_request_cb cb, void *data);
/* Sends "ok\n" + body and closes the connection. */
void ctlsock_reply_ok(struct ctl_conn *conn, const char *body, size_t len);
/* Sends "error MESSAGE\n" and closes the connection. */
void ctlsock_reply_error(struct ctl_conn *conn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Stops listening, closes open connections, unlinks the socket file, and
 * frees everything in close callbacks; done(arg) runs when all is closed. */
void ctlsock_close(struct ctlsock *cs, void (*done)(void *arg), void *arg);

#endif
