/*
 * answer.h - the server side of a mediated connect. The mediator forwards
 * a client's CONNECT request as an indication on our TCP connection; we
 * look the client's key up among our [client] sections and answer:
 *   allowed:  ANSWER accept on the tunnel socket (the mediator learns our
 *             public UDP mapping from it) and a copy over TCP; the client's
 *             addresses become punch candidates and we start punching,
 *             yielding to the client's own handshake;
 *   refused:  ANSWER refuse over TCP only; the client learns nothing of us.
 * A client with a live session (heard from within ANSWER_LIVE_MS) that
 * connects again is looking for a better path (resolve_upgrade): its
 * addresses are added and probed, with no new handshake.
 * The UDP answer is retransmitted (ANSWER_RETRY_MS, doubling) until the
 * mediator acknowledges it on UDP, at most ANSWER_TRIES times.
 */
#ifndef TUND_ANSWER_H
#define TUND_ANSWER_H

#include <stdbool.h>

#define ANSWER_RETRY_MS   100
#define ANSWER_TRIES        5
#define ANSWER_PENDING_MAX 32
#define ANSWER_LIVE_MS   5000   /* heard from the client this recently: its
				   connect only looks for a better path */

struct daemon;
struct medmsg;
struct answers;

int answers_new(struct answers **out, struct daemon *d);
void answers_close(struct answers *a);

/* A CONNECT indication, authenticated. */
void answer_connect(struct daemon *d, const struct medmsg *mm);
/* The mediator acknowledged an ANSWER (on UDP when via_udp). */
void answer_acked(struct daemon *d, const struct medmsg *mm, bool via_udp);

#endif
