/*
 * medlink.h - tund's link to its mediator (medproto.h): the mediator's
 * address, the TCP connection to it, and the dispatch of every mediator
 * message tund receives, over TCP or on the tunnel's UDP socket.
 *
 * A publishing tund ([publish]) keeps the TCP connection up for good:
 * NONCE, then REGISTER with proof of its key, then a Binding request every
 * MEDLINK_KEEPALIVE_MS as keepalive; it reconnects with jittered
 * exponential backoff (MEDLINK_BACKOFF_MIN_MS doubling to _MAX_MS) and
 * starts again from the minimum once registered. For the first
 * MEDLINK_QUICK_MS of failures the delay stays at most
 * MEDLINK_QUICK_MAX_MS: a mediator that went away is usually restarting,
 * and servers should be registered again within about that long of its
 * return. A client opens the
 * connection on demand, for the TCP copies of its connect requests, and
 * lets it go once nothing has wanted it for MEDLINK_IDLE_MS.
 *
 * Received messages are authenticated here (TUND-AUTH under the key this
 * tund shares with the mediator) before they reach resolve.c (answers to
 * our connect requests), answer.c (connect requests forwarded to us as a
 * server) or netcheck.c (Binding answers).
 */
#ifndef TUND_MEDLINK_H
#define TUND_MEDLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define MEDLINK_BACKOFF_MIN_MS   500
#define MEDLINK_BACKOFF_MAX_MS 60000
#define MEDLINK_QUICK_MS       60000   /* failing this long: back off to _MAX_MS */
#define MEDLINK_QUICK_MAX_MS    1000   /* until then, reconnects at most this far apart */
#define MEDLINK_KEEPALIVE_MS   15000   /* Binding request on the TCP connection */
#define MEDLINK_DEAD_MS        40000   /* nothing received for this long: reconnect */
#define MEDLINK_IDLE_MS         8000   /* a client's connection nobody wants: closed
                                          (before the mediator's own 10 s limit for
                                          connections that never registered) */
#define MEDLINK_CONNECT_MS      5000   /* TCP connect and registration deadline */
#define MEDLINK_MAX_LOCAL          8   /* local addresses reported */

struct daemon;
struct medlink;

/* Starts the link when the config names a mediator; *out stays NULL
 * otherwise. Publishing tunds connect at once. */
int medlink_new(struct medlink **out, struct daemon *d);
/* Closes the connection and timers; the object is freed in close
 * callbacks. */
void medlink_close(struct medlink *m);

/* The mediator's UDP address, once its name is resolved. */
bool medlink_udp_addr(const struct medlink *m, struct endpoint *out);
/* Sends on the tunnel socket to the mediator (to port, or its main port
 * when port is 0). 0 or -errno (-EAGAIN before the name is resolved). */
int medlink_send_udp(struct medlink *m, const uint8_t *buf, size_t len, uint16_t port);
/* Queues on the TCP connection: 0, or -ENOTCONN when it is not up (the
 * caller's retry logic decides what then; medlink_want_tcp opens it). */
int medlink_send_tcp(struct medlink *m, const uint8_t *buf, size_t len);
/* A client wants the TCP connection (now and for MEDLINK_IDLE_MS). */
void medlink_want_tcp(struct medlink *m);
bool medlink_tcp_up(const struct medlink *m);

/* The key that authenticates messages between us and the mediator. */
const uint8_t *medlink_auth_key(const struct medlink *m);
/* Round-trip estimate to the mediator in ms (TCP connect, Binding), or a
 * conservative default before anything was measured. */
uint64_t medlink_rtt_ms(const struct medlink *m);

/* The relay the mediator's operator runs (RELAY-ADDR and RELAY-KEY in a
 * REGISTER or CONNECT answer) goes to the relay link, which uses it
 * unless our config names a relay. */
struct medmsg;
void medlink_learn_relay(struct daemon *d, const struct medmsg *mm);

/* receive.c hands over every STUN-framed datagram of the tunnel socket. */
void medlink_udp_input(struct daemon *d, const uint8_t *buf, size_t len, const struct endpoint *src);

/* One line for `tunctl status`: state, address, since when, last error. */
void medlink_describe(const struct medlink *m, char *out, size_t outlen);
/* Short state word: off, resolving, connecting, registering, registered,
 * connected, backoff. */
const char *medlink_state_name(const struct medlink *m);

#endif
