/*
 * stats.c - see stats.h. Three lines, so that a grep for one subject
 * (sessions, requests, connections) finds its numbers together.
 */
#include "stats.h"

void stats_log(enum log_level lvl, const struct stats *s, const struct stats_gauges *g)
{
#define U(x) ((unsigned long long)(x))
	log_msg(lvl, "sessions: %zu live, %llu made (%llu to the mediator, %llu failed), "
		"%llu bytes relayed; pool: %zu idle for %zu systems, %llu accepted, "
		"%llu closed silent, %llu evicted; poll: %zu live, %llu made, %llu uploads",
		g->splices, U(s->spliced), U(s->gateway), U(s->gateway_failed), U(s->bytes_relayed),
		g->pool_idle, g->pool_systems, U(s->listens), U(s->pool_timeouts), U(s->pool_evicted),
		g->polls, U(s->poll_sessions), U(s->uploads));
	log_msg(lvl, "requests: %llu, %llu bad, %llu auth failures (%llu clock, %llu replays), "
		"%llu rate-limited, %llu offline; nonce cache %zu",
		U(s->requests), U(s->bad_requests), U(s->auth_failures), U(s->clock_refused),
		U(s->replays), U(s->rate_limited), U(s->offline), g->nonces);
	log_msg(lvl, "connections: %zu open, %llu accepted, %llu refused full, %llu evicted, "
		"%llu head timeouts, %llu idle timeouts, %llu stuck, %llu overflows",
		g->conns, U(g->accepted), U(g->refused_full), U(g->evicted), U(g->head_timeouts),
		U(g->idle_timeouts), U(g->stuck), U(g->overflows));
#undef U
}
