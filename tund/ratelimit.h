/*
 * ratelimit.h - token buckets that bound how many handshake initiations
 * tund spends Diffie-Hellman on: one bucket per source address (hashed
 * with a secret SipHash key into a fixed table, so a sender cannot aim at
 * another's slot) and one for the whole daemon. Live sessions never pass
 * through here, so a handshake flood costs at most the global rate's worth
 * of CPU and cannot starve their traffic.
 */
#ifndef TUND_RATELIMIT_H
#define TUND_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define RATELIMIT_SLOTS 4096
#define RATELIMIT_PER_SOURCE_RATE 20    /* initiations per second per source address */
#define RATELIMIT_PER_SOURCE_BURST 20
#define RATELIMIT_GLOBAL_RATE 500       /* initiations per second, all sources */
#define RATELIMIT_GLOBAL_BURST 200

struct ratelimit_bucket {
	uint32_t addr;
	uint32_t tokens_milli;  /* thousandths of a token */
	uint64_t last_ms;
};

struct ratelimit {
	uint8_t key[16];
	struct ratelimit_bucket global;
	struct ratelimit_bucket slots[RATELIMIT_SLOTS];
};

void ratelimit_init(struct ratelimit *rl);
/* Takes one token for addr (host order) at time now_ms, if both buckets have one. */
bool ratelimit_allow(struct ratelimit *rl, uint32_t addr, uint64_t now_ms);

#endif
