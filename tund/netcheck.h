/*
 * netcheck.h - `tunctl netcheck`: what the network between this tund and
 * its mediator does to UDP, measured from the tunnel socket itself.
 *
 * Three Binding requests go out at once and are retried (NETCHECK_RETRY_MS)
 * until NETCHECK_TIMEOUT_MS:
 *   A  to the mediator's port: our public mapping;
 *   B  to the same port with CHANGE-REQUEST(port): answered from the
 *      mediator's second port, it arrives only if our NAT lets a new
 *      source port of a known host in (endpoint-independent or
 *      address-dependent filtering), and its source names that port;
 *   C  to the second port (learned from B, else the mediator port + 1):
 *      if its mapping differs from A's, the NAT maps per destination
 *      (symmetric) and direct paths need the other side to be open.
 * No answer at all: UDP to the mediator does not work.
 */
#ifndef TUND_NETCHECK_H
#define TUND_NETCHECK_H

#include "addr.h"

#define NETCHECK_RETRY_MS    200
#define NETCHECK_TIMEOUT_MS 1500

struct daemon;
struct ctl_conn;
struct medmsg;
struct netcheck;

int netcheck_new(struct netcheck **out, struct daemon *d);
/* Answers every waiting request with an error and frees in close callbacks. */
void netcheck_close(struct netcheck *nc);
/* Starts a check (or joins the running one); the reply goes to conn. */
void netcheck_start(struct netcheck *nc, struct ctl_conn *conn);
/* A Binding success or error from the mediator on the tunnel socket. */
void netcheck_binding(struct netcheck *nc, const struct medmsg *mm, const struct endpoint *src);

#endif
