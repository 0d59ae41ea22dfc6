/*
 * srclimit.h - per-source token buckets for the mediator's CONNECT
 * requests, checked before any Diffie-Hellman is spent on a request: one
 * source address flooding CONNECTs gets its rate and no more, and cannot
 * starve the others.
 *
 * Buckets sit in a fixed table indexed by SipHash of the address under a
 * random key, so a sender cannot aim at another source's slot; a slot
 * taken over by a different address starts again from a full bucket.
 */
#ifndef TUND_MEDIATOR_SRCLIMIT_H
#define TUND_MEDIATOR_SRCLIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include <sodium.h>

#define SRCLIMIT_SLOTS 8192
#define SRCLIMIT_RATE  20        /* requests per second per source address */
#define SRCLIMIT_BURST 40

struct srclimit_slot {
	uint32_t addr;               /* host order */
	bool used;
	uint32_t tokens_milli;       /* thousandths of a request */
	uint64_t last_ms;
};

struct srclimit {
	uint8_t key[crypto_shorthash_KEYBYTES];
	struct srclimit_slot slots[SRCLIMIT_SLOTS];
};

void srclimit_init(struct srclimit *l);
/* Takes one token for addr at now_ms: true when it had one. */
bool srclimit_allow(struct srclimit *l, uint32_t addr, uint64_t now_ms);

#endif
