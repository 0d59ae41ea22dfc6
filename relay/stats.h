/*
 * stats.h - the relay's counters (plain values, bumped by the modules
 * that see the events) and a snapshot of its gauges, and the log lines
 * that show them (on SIGUSR1, at shutdown, and every minute at debug).
 */
#ifndef TUND_RELAY_STATS_H
#define TUND_RELAY_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"

struct stats {
	uint64_t requests;           /* request heads parsed */
	uint64_t bad_requests;       /* answered 400 (and 405, 413) */
	uint64_t auth_failures;      /* answered 401: key, MAC or clock */
	uint64_t clock_refused;      /* of which: clock off by more than the skew */
	uint64_t replays;            /* of which: nonce seen before (or below the floor) */
	uint64_t rate_limited;       /* answered 429 */
	uint64_t offline;            /* connect answered 404: no idle pool connection */
	uint64_t listens;            /* pool connections accepted */
	uint64_t pool_timeouts;      /* pool connections closed for silence */
	uint64_t pool_evicted;       /* closed for a newer one over the per-system cap */
	uint64_t spliced;            /* sessions made (connect and gateway) */
	uint64_t gateway;            /* of which: to the mediator */
	uint64_t gateway_failed;     /* mediator unreachable (502) */
	uint64_t poll_sessions;      /* Poll-mode sessions made */
	uint64_t uploads;            /* POST bodies taken */
	uint64_t bytes_relayed;      /* through splices, both directions */
};

struct stats_gauges {
	size_t conns;                /* TCP connections open */
	size_t pool_idle;            /* idle pool connections */
	size_t pool_systems;         /* systems with at least one */
	size_t splices;              /* sessions live */
	size_t polls;                /* Poll-mode sessions live */
	size_t nonces;               /* entries in the nonce cache */
	uint64_t accepted, refused_full, evicted, head_timeouts, idle_timeouts, stuck, overflows;
};

void stats_log(enum log_level lvl, const struct stats *s, const struct stats_gauges *g);

#endif
