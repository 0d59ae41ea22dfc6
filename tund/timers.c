/*
 * timers.c - see timers.h. Each peer has one uv_timer_t. Events record
 * loop times in the peer; arm() moves the timer earlier when an event
 * creates an earlier deadline (a compare per packet, no syscall), and the
 * timer callback re-derives every deadline from the recorded times, acts
 * on those that passed and re-arms for the next. A timer that fires early
 * therefore does nothing but re-arm.
 */
#include "timers.h"

#include <stdlib.h>

#include <sodium.h>

#include "daemon.h"
#include "log.h"
#include "path.h"
#include "peer.h"
#include "resolve.h"

unsigned timers_scale_from_env(void)
{
#ifdef TUND_TEST_HOOKS
	const char *s = getenv("TUND_TEST_TIME_SCALE");
	if (s && *s) {
		long v = strtol(s, NULL, 10);
		if (v >= 1 && v <= 1000) {
			log_warn("test build: protocol session ages divided by %ld (TUND_TEST_TIME_SCALE)", v);
			return (unsigned)v;
		}
	}
#endif
	return 1;
}

uint64_t timers_rekey_after(const struct daemon *d, const struct session *s)
{
	uint64_t t = TIMERS_REKEY_AFTER_MS + (s->initiator ? 0 : TIMERS_RESPONDER_EXTRA_MS);
	return t / d->time_scale;
}

uint64_t timers_reject_after(const struct daemon *d)
{
	return TIMERS_REJECT_AFTER_MS / d->time_scale;
}

bool timers_session_alive(const struct daemon *d, const struct session *s, uint64_t now)
{
	return s && now - s->created_ms < timers_reject_after(d);
}

bool timers_session_wants_rekey(const struct daemon *d, const struct session *s, uint64_t now)
{
	return now - s->created_ms >= timers_rekey_after(d, s) || session_needs_rekey_by_count(s);
}

uint64_t timers_backoff_ms(uint64_t min_ms, uint64_t max_ms, unsigned failures)
{
	uint64_t delay = min_ms;
	for (unsigned i = 0; i < failures && delay < max_ms; i++)
		delay *= 2;
	if (delay > max_ms)
		delay = max_ms;
	return delay * 3 / 4 + randombytes_uniform((uint32_t)(delay / 2 + 1));
}

static uint64_t retransmit_delay(const struct peer *p)
{
	uint64_t t = p->punching ? TIMERS_PUNCH_RETRY_MS : TIMERS_REKEY_TIMEOUT_MS;
	uint64_t max = p->punching ? TIMERS_PUNCH_RETRY_MAX_MS : TIMERS_REKEY_TIMEOUT_MAX_MS;
	for (unsigned i = 1; i < p->hs_tries && t < max; i++)
		t *= 2;
	if (t > max)
		t = max;
	return t;
}

/* Loop times have millisecond resolution and a tunnel round trip is often
 * shorter, so a reply can carry the very time of the send it answers:
 * "received at or after the last send" counts, or a request/response
 * exchange that ends in the same millisecond would never be confirmed and
 * the other side would handshake again NEW_HANDSHAKE later. The cost of
 * the doubt (a send that followed a receipt in the same millisecond) is
 * one empty DATA packet. */
uint64_t timers_keepalive_due(const struct peer *p)
{
	/* Without a path the keepalive could not go out and would stay due:
	 * the timer would fire every millisecond until a path is found. */
	if (!p->cur || !p->has_endpoint || !p->last_data_rx_ms || p->last_data_rx_ms < p->last_tx_ms)
		return 0;
	return p->last_data_rx_ms + TIMERS_KEEPALIVE_MS;
}

static void timer_cb(uv_timer_t *h);

static void arm(struct peer *p, uint64_t due)
{
	uint64_t now = uv_now(p->d->loop);
	if (p->timer_due && p->timer_due <= due)
		return;
	p->timer_due = due;
	uv_timer_start(&p->timer, timer_cb, due > now ? due - now : 0, 0);
}

/* The earliest moment anything must happen for this peer; 0 = nothing. */
static uint64_t next_due(const struct peer *p)
{
	const struct daemon *d = p->d;
	uint64_t due = 0;
#define CONSIDER(t) do { uint64_t t_ = (t); if (!due || t_ < due) due = t_; } while (0)
	if (p->hs_active)
		CONSIDER(p->hs_sent_ms + retransmit_delay(p));
	if (timers_keepalive_due(p))
		CONSIDER(timers_keepalive_due(p));
	if (p->cur && peer_can_initiate(p) && !p->hs_active && p->unanswered_since_ms)
		CONSIDER(p->unanswered_since_ms + TIMERS_NEW_HANDSHAKE_MS);
	/* while a handshake runs, its own retransmissions keep the mapping open */
	if (peer_keepalive_interval(p) && peer_can_initiate(p) && !p->hs_active)
		CONSIDER(p->last_tx_ms + peer_keepalive_interval(p) * 1000ULL);
	if (p->cur)
		CONSIDER(p->cur->created_ms + timers_reject_after(d));
	if (p->prev)
		CONSIDER(p->prev->created_ms + timers_reject_after(d));
	if (p->next)
		CONSIDER(p->next->created_ms + timers_reject_after(d));
	uint64_t path_due = path_next_due(p);
	if (path_due)
		CONSIDER(path_due);
#undef CONSIDER
	return due;
}

static void expire_sessions(struct peer *p, uint64_t now)
{
	const struct daemon *d = p->d;
	if (p->prev && !timers_session_alive(d, p->prev, now))
		peer_free_session(p, &p->prev);
	if (p->next && !timers_session_alive(d, p->next, now))
		peer_free_session(p, &p->next);
	if (p->cur && !timers_session_alive(d, p->cur, now)) {
		log_info("peer %s: session expired", p->cfg.name);
		peer_free_session(p, &p->cur);
	}
}

static void handshake_due(struct peer *p, uint64_t now)
{
	struct daemon *d = p->d;
	if (p->yield_until_ms && now >= p->yield_until_ms) {
		/* Server side: the client did not get through in time. */
		log_info("peer %s: stopped punching; the client did not connect", p->cfg.name);
		p->yield_until_ms = 0;
		peer_end_handshake(p);
		p->punching = false;
		return;
	}
	if (!peer_can_initiate(p)) {
		/* Its last way to the peer went away mid-handshake: a retry could
		 * not go out, and the deadline would stay in the past. */
		log_info("peer %s: handshake stopped: no address or path left to try", p->cfg.name);
		peer_end_handshake(p);
		return;
	}
	if (now - p->hs_started_ms >= TIMERS_REKEY_ATTEMPT_MS / d->time_scale) {
		log_info("peer %s: no handshake response after %u tries, giving up until there is traffic",
			 p->cfg.name, p->hs_tries);
		peer_end_handshake(p);
		peer_queue_clear(p); /* stale by now; delivering them minutes later helps nobody */
		return;
	}
	send_handshake_init(d, p);
}

static void timer_cb(uv_timer_t *h)
{
	struct peer *p = h->data;
	struct daemon *d = p->d;
	uint64_t now = uv_now(d->loop);

	p->timer_due = 0;
	if (d->stopping)
		return;
	expire_sessions(p, now);
	if (p->hs_active && now >= p->hs_sent_ms + retransmit_delay(p))
		handshake_due(p, now);
	if (p->cur && peer_can_initiate(p) && !p->hs_active && p->unanswered_since_ms &&
	    now >= p->unanswered_since_ms + TIMERS_NEW_HANDSHAKE_MS) {
		log_info("peer %s: no reply for %u ms, starting a new handshake", p->cfg.name,
			 TIMERS_NEW_HANDSHAKE_MS);
		p->unanswered_since_ms = 0; /* the next unanswered send starts a new wait */
		if (p->rs)
			resolve_again(d, p); /* its address may have changed: ask the mediator */
		else
			send_handshake_init(d, p);
	}
	uint64_t keepalive = timers_keepalive_due(p);
	if (keepalive && now >= keepalive)
		send_keepalive(d, p);
	if (peer_keepalive_interval(p) && peer_can_initiate(p) && !p->hs_active &&
	    now >= p->last_tx_ms + peer_keepalive_interval(p) * 1000ULL) {
		/* The NAT mapping must stay open even when the session has aged
		 * out (or has no path): then the keepalive is a new handshake. */
		if (timers_session_alive(d, p->cur, now) && p->has_endpoint)
			send_keepalive(d, p);
		else
			send_handshake_init(d, p);
	}
	path_tick(d, p, now);
	uint64_t due = next_due(p);
	if (due)
		arm(p, due > now ? due : now + 1);
}

void timers_path_changed(struct peer *p)
{
	/* A new path can make an overdue keepalive sendable: all deadlines. */
	uint64_t due = next_due(p);
	if (due)
		arm(p, due);
}

void timers_handshake_sent(struct peer *p)
{
	uint64_t jitter = randombytes_uniform(p->punching ? 21 : 334);
	arm(p, p->hs_sent_ms + retransmit_delay(p) + jitter);
}

void timers_handshake_done(struct peer *p)
{
	uint64_t due = next_due(p);
	if (due)
		arm(p, due);
}

void timers_session_installed(struct peer *p)
{
	timers_handshake_done(p);
}

void timers_data_sent(struct peer *p)
{
	/* Measured from the first send that got no answer, not the last one:
	 * steady traffic to a peer that lost its session must still trigger. */
	if (!p->unanswered_since_ms)
		p->unanswered_since_ms = p->last_data_tx_ms;
	if (peer_can_initiate(p) && !p->hs_active)
		arm(p, p->unanswered_since_ms + TIMERS_NEW_HANDSHAKE_MS);
}

void timers_any_sent(struct peer *p)
{
	if (peer_keepalive_interval(p))
		arm(p, p->last_tx_ms + peer_keepalive_interval(p) * 1000ULL);
}

void timers_data_received(struct peer *p)
{
	arm(p, p->last_data_rx_ms + TIMERS_KEEPALIVE_MS);
}

void timers_any_received(struct peer *p)
{
	p->unanswered_since_ms = 0; /* the peer is alive; receipt only moves deadlines later */
}
