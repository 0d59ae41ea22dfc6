/*
 * srclimit.h - per-source token buckets, taken before any Diffie-Hellman
 * is spent on a request: one source address flooding requests gets its
 * rate and no more, and cannot starve the others. The mediator limits its
 * CONNECTs with it; the relay its listen, connect and gateway requests.
 *
 * Buckets sit in a fixed table indexed by SipHash of the address under a
 * random key, so a sender cannot aim at another source's slot; a slot
 * taken over by a different address starts again from a full bucket.
 */
#ifndef TUND_SRCLIMIT_H
#define TUND_SRCLIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define SRCLIMIT_SLOTS 8192

struct srclimit;

/* rate: requests per second per source; burst: bucket size. 0 or -ENOMEM. */
int srclimit_new(struct srclimit **out, unsigned rate, unsigned burst);
void srclimit_free(struct srclimit *l);
/* Takes one token for addr (host order) at now_ms: true when it had one. */
bool srclimit_allow(struct srclimit *l, uint32_t addr, uint64_t now_ms);

#endif
