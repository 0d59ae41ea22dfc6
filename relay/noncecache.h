/*
 * noncecache.h - the Tund-Nonce values the relay has accepted, so that a
 * captured listen or connect request cannot be replayed (relayproto.h).
 *
 * A request passes the clock check while its Tund-Time T is within
 * window seconds of the relay's clock, and T itself was within window of
 * the clock when the nonce was first seen; so a nonce seen at time S can
 * only come back usable until S + 2 * window. Entries are kept that long,
 * in the order they were seen, and then dropped from the front.
 *
 * Memory is bounded by the capacity given at creation. When it is full,
 * the oldest entry is evicted early, and from then on every request whose
 * Tund-Time is not later than the evicted one's is refused ("floor"): an
 * evicted nonce can then never be accepted again, at the price of
 * refusing old-stamped requests while the relay is flooded. The nonces of
 * a request only get here after its MAC checked out, so only holders of a
 * key can fill the cache, and the per-source limit paces them.
 *
 * Lookups go through a hash table keyed with a random SipHash key.
 * Times are Unix seconds.
 */
#ifndef TUND_RELAY_NONCECACHE_H
#define TUND_RELAY_NONCECACHE_H

#include <stddef.h>
#include <stdint.h>

#define NONCECACHE_NONCE_LEN 16      /* RELAYPROTO_NONCE_LEN */

struct noncecache;

/* capacity: entries at most (>= 1); window_s: the clock skew allowed.
 * 0 or -ENOMEM. */
int noncecache_new(struct noncecache **out, size_t capacity, unsigned window_s);
void noncecache_free(struct noncecache *nc);

/* Records nonce of a request stamped req_time, at now. 0: new, recorded;
 * -EALREADY: seen within the window (a replay); -ESTALE: req_time is not
 * later than the floor left by an early eviction. Expired entries are
 * dropped first. */
int noncecache_check(struct noncecache *nc, const uint8_t nonce[NONCECACHE_NONCE_LEN],
		     int64_t req_time, int64_t now);

size_t noncecache_count(const struct noncecache *nc);
/* Entries evicted before their time because the cache was full. */
uint64_t noncecache_evicted(const struct noncecache *nc);

#endif
