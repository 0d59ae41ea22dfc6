/*
 * reqlimit.h - per-source token buckets for the relay's listen, connect
 * and gateway requests, taken before any Diffie-Hellman is spent on a
 * request: one address flooding requests gets its rate and no more. POSTs
 * of a Poll-mode upstream are not counted (they are data, many per
 * second, and a whole office behind one proxy shares the address).
 *
 * Buckets live in a fixed table indexed by SipHash of the address under a
 * random key, so a sender cannot aim at another source's slot; a slot
 * taken over by another address starts from a full bucket. (The mediator
 * has the same idea in mediator/srclimit.c with fixed constants; the two
 * could become one shared module.)
 */
#ifndef TUND_RELAY_REQLIMIT_H
#define TUND_RELAY_REQLIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define REQLIMIT_SLOTS 4096

struct reqlimit;

/* rate: requests per second per source; burst: bucket size. 0 or -ENOMEM. */
int reqlimit_new(struct reqlimit **out, unsigned rate, unsigned burst);
void reqlimit_free(struct reqlimit *l);
/* Takes one token for addr (host order) at now_ms: true when there was one. */
bool reqlimit_allow(struct reqlimit *l, uint32_t addr, uint64_t now_ms);

#endif
