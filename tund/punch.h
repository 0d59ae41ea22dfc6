/*
 * punch.h - UDP hole punching: the candidate addresses of a peer and the
 * rule that handshakes go to all of them at once while no path is known.
 *
 * Candidates come from the mediator (the peer's local addresses and the
 * UDP mapping the mediator saw) and from the network itself: the source
 * of any authenticated packet from the peer is a peer-reflexive candidate,
 * which is how a symmetric NAT on one side still meets an open or cone NAT
 * on the other. Whichever candidate first completes a handshake becomes the
 * peer's endpoint; the handshake authenticates it, so a forged candidate
 * costs a few wasted datagrams and nothing else.
 *
 * Roles during a mediated connect: the client (which has the other side as
 * [peer]) initiates (peer->initiator_until_ms); the server's own
 * initiations only open its NAT and show the client a reflexive address,
 * and it yields to the client's initiation (peer->yield_until_ms). Both
 * windows last PUNCH_ROLE_MS and end when a handshake completes; outside
 * them the usual tie-break by public key applies (receive.c), so the two
 * sides never both insist on their own handshake for long.
 */
#ifndef TUND_PUNCH_H
#define TUND_PUNCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "peer.h"

#define PUNCH_ROLE_MS 15000
/* LAN smart forwarding (punch_lan_first): local candidates alone get the
 * handshake this long. Shorter than the first punch retransmission, which
 * then goes to every candidate. */
#define PUNCH_LAN_FIRST_MS 150

struct daemon;
struct medmsg;
struct tconn;

/* Adds a candidate unless it is known already (a known one keeps the
 * better kind); true when it is new. Full tables drop the oldest
 * reflexive candidate first. */
bool punch_add(struct peer *p, const struct endpoint *ep, enum cand_kind kind);
/* A stream path (path.h); true when it is in the table. */
bool punch_add_stream(struct peer *p, struct tconn *conn, enum path_kind path);
void punch_remove(struct peer *p, struct cand *c);
/* Forgets the UDP candidates except the current path; streams stay. */
void punch_clear(struct peer *p);
/* Adds what the mediator reported of the peer (its public mapping and
 * local addresses); returns how many were new. */
unsigned punch_add_reported(struct peer *p, const struct medmsg *mm);

/* Starts (or widens) punching: handshakes go to every candidate, and the
 * current initiation, if any, is resent to all of them now. */
void punch_start(struct daemon *d, struct peer *p);
/* The handshake completed on some path: stop sending to every candidate. */
void punch_done(struct peer *p);
/* LAN smart forwarding: the peer is on our LAN (its LAN announcement, or
 * the mediator saw both of us behind one public address). For
 * PUNCH_LAN_FIRST_MS handshakes go to its CAND_LOCAL candidates only and
 * no relay session is dialled (through relay_retry_ms, path.h); a LAN
 * round trip takes far less, so the session comes up on the LAN, not on
 * the relay or a hairpin through the NAT, which both still race if the
 * LAN does not answer. Nothing changes for a peer without a local
 * candidate. Call it before punch_start. */
void punch_lan_first(struct daemon *d, struct peer *p);

/* Sends an initiation: to the local candidates only during a LAN-first
 * hold (punch_lan_first), on every path while punching or without a
 * current path, else on the current path only. */
void punch_send_init(struct daemon *d, struct peer *p, const uint8_t *msg, size_t len);
/* An authenticated packet came from src: remember it as a candidate and,
 * while our handshake is running, resend our initiation there. */
void punch_reflexive(struct daemon *d, struct peer *p, const struct endpoint *src);

/* Every IPv4 address of an up, non-loopback interface other than our
 * TUN, with the tunnel's UDP port: what we report as local candidates. */
unsigned punch_local_addrs(const struct daemon *d, struct endpoint *out, unsigned max);
/* "lan" when addr is on one of this host's own subnets (not the TUN). */
bool punch_is_lan(const struct daemon *d, uint32_t addr);
const char *punch_kind_name(enum cand_kind kind);
/* Candidates as "a.b.c.d:port/kind a.b.c.d:port/kind ...", "" if none. */
void punch_format(const struct peer *p, char *out, size_t outlen);

#endif
