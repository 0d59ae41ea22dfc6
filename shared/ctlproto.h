/*
 * ctlproto.h - the control socket protocol between tunctl and tund
 * (docs/control.md). A client connects to the Unix stream socket, writes
 * one request line "COMMAND [ARG...]\n" (at most CTLPROTO_MAX_REQUEST
 * bytes, arguments separated by single spaces), and reads the reply until
 * the daemon closes: a first line "ok" or "error MESSAGE", then the body.
 */
#ifndef TUND_CTLPROTO_H
#define TUND_CTLPROTO_H

#include <stdbool.h>
#include <stddef.h>

#define CTLPROTO_MAX_REQUEST 1024
#define CTLPROTO_MAX_ARGS 8
#define CTLPROTO_MAX_REPLY (4u << 20)

/* Splits a request line in place (the trailing newline is optional).
 * Returns argc >= 1, or -EINVAL for an empty line, too many arguments,
 * a line over the limit or a byte that is not printable ASCII. */
int ctlproto_parse_request(char *line, size_t len, char *argv[CTLPROTO_MAX_ARGS]);

/* Splits a reply: *ok tells "ok" from "error"; *body points into buf after
 * the first line (for an error, at the message). 0 or -EBADMSG. */
int ctlproto_parse_reply(const char *buf, size_t len, bool *ok, const char **body, size_t *body_len);

#endif
