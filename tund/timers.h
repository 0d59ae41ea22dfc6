/*
 * timers.h - every protocol timer of tund, with its value and reason, in
 * one place (STYLE.md rule 10). Modules report events; this module decides
 * when something must happen and arms one uv_timer_t per peer for the
 * earliest such moment.
 *
 *   REKEY_AFTER      120 s  the initiator of a session replaces it this old
 *                           (the responder at REKEY_AFTER + 30 s, so one
 *                           side is always first and they do not collide)
 *   REJECT_AFTER     180 s  a session this old is refused for send and receive
 *   REKEY_TIMEOUT    1 s    first handshake retransmission, doubled per try,
 *                           capped at REKEY_TIMEOUT_MAX 8 s, plus 0-333 ms jitter
 *   REKEY_ATTEMPT    90 s   a handshake round gives up after this long
 *   KEEPALIVE        5 s    data received and nothing sent since: send an
 *                           empty DATA so the sender knows we are alive
 *   NEW_HANDSHAKE    8 s    data sent and nothing received for this long
 *                           (counted from the first unanswered send): the peer
 *                           may have lost its session (restart); handshake again
 *   persistent_keepalive    per peer from config: keep NAT mappings open
 *                           (nat_keepalive from [tund] for peers found
 *                           through the mediator, unless the peer sets one)
 *   PUNCH_RETRY      200 ms while punching, handshake retransmission starts
 *                           here, doubling to PUNCH_RETRY_MAX 1 s, with
 *                           0-20 ms jitter: a lost first probe costs little
 *   NO_PATH          3 s    punching this long without a handshake: status
 *                           says "no path" (punching goes on)
 *   ANSWER_YIELD     15 s   (answer.h) a server punches for a client this long
 *   Path probes and switches: path.h (PATH_*). Mediator link, connect
 *   requests, answers, netcheck, relay pool and streams: medlink.h,
 *   resolve.h, answer.h, netcheck.h, relaylink.h, tconn.h, tlink.h list
 *   their own timers and values.
 *
 * In builds with TUND_TEST_HOOKS, TUND_TEST_TIME_SCALE=N divides the three
 * session ages (REKEY_AFTER, REJECT_AFTER, REKEY_ATTEMPT) by N so tests can
 * run many rekeys in seconds. Retransmission and keepalive timers keep
 * their real values.
 */
#ifndef TUND_TIMERS_H
#define TUND_TIMERS_H

#include <stdbool.h>
#include <stdint.h>

#define TIMERS_REKEY_AFTER_MS       120000
#define TIMERS_RESPONDER_EXTRA_MS    30000
#define TIMERS_REJECT_AFTER_MS      180000
#define TIMERS_REKEY_TIMEOUT_MS       1000
#define TIMERS_REKEY_TIMEOUT_MAX_MS   8000
#define TIMERS_REKEY_ATTEMPT_MS      90000
#define TIMERS_KEEPALIVE_MS           5000
#define TIMERS_NEW_HANDSHAKE_MS       8000
#define TIMERS_PUNCH_RETRY_MS          200
#define TIMERS_PUNCH_RETRY_MAX_MS     1000
#define TIMERS_NO_PATH_MS             3000

struct daemon;
struct peer;
struct session;

/* Reads TUND_TEST_TIME_SCALE in test builds; 1 otherwise. */
unsigned timers_scale_from_env(void);

uint64_t timers_rekey_after(const struct daemon *d, const struct session *s);
uint64_t timers_reject_after(const struct daemon *d);
/* Usable for sending/receiving: not past its reject age. */
bool timers_session_alive(const struct daemon *d, const struct session *s, uint64_t now);
bool timers_session_wants_rekey(const struct daemon *d, const struct session *s, uint64_t now);

/* Jittered exponential backoff: min_ms doubled per earlier failure, capped
 * at max_ms, then scaled by a random 0.75..1.25 so that many daemons do
 * not retry in step (the mediator link and the mediator lookups use it). */
uint64_t timers_backoff_ms(uint64_t min_ms, uint64_t max_ms, unsigned failures);

/* When this peer is owed an empty DATA packet (data received, nothing
 * sent after that millisecond): 0 when it is not. */
uint64_t timers_keepalive_due(const struct peer *p);

/* Events from send.c and receive.c. */
void timers_handshake_sent(struct peer *p);
void timers_handshake_done(struct peer *p);
void timers_data_sent(struct peer *p);
void timers_any_sent(struct peer *p);
void timers_data_received(struct peer *p);
void timers_any_received(struct peer *p);
void timers_session_installed(struct peer *p);
/* The path manager's next deadline may be earlier now (path.h). */
void timers_path_changed(struct peer *p);

#endif
