/*
 * ratelimit.c - see ratelimit.h. Tokens are kept in thousandths so that
 * refill needs no floating point: rate tokens per second is rate
 * thousandths per millisecond.
 */
#include "ratelimit.h"

#include <string.h>

#include <sodium.h>

void ratelimit_init(struct ratelimit *rl)
{
	memset(rl, 0, sizeof(*rl));
	randombytes_buf(rl->key, sizeof(rl->key));
	rl->global.tokens_milli = RATELIMIT_GLOBAL_BURST * 1000;
}

static bool take(struct ratelimit_bucket *b, uint32_t rate, uint32_t burst, uint64_t now_ms)
{
	uint64_t elapsed = now_ms > b->last_ms ? now_ms - b->last_ms : 0;
	uint64_t tokens = b->tokens_milli + elapsed * rate;
	if (tokens > (uint64_t)burst * 1000)
		tokens = (uint64_t)burst * 1000;
	b->last_ms = now_ms;
	if (tokens < 1000) {
		b->tokens_milli = (uint32_t)tokens;
		return false;
	}
	b->tokens_milli = (uint32_t)(tokens - 1000);
	return true;
}

bool ratelimit_allow(struct ratelimit *rl, uint32_t addr, uint64_t now_ms)
{
	uint8_t in[4] = { (uint8_t)(addr >> 24), (uint8_t)(addr >> 16), (uint8_t)(addr >> 8), (uint8_t)addr };
	uint8_t h[crypto_shorthash_BYTES];
	crypto_shorthash(h, in, sizeof(in), rl->key);
	uint32_t idx = ((uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16) % RATELIMIT_SLOTS;
	struct ratelimit_bucket *b = &rl->slots[idx];
	if (b->addr != addr || b->last_ms == 0) {
		b->addr = addr;
		b->tokens_milli = RATELIMIT_PER_SOURCE_BURST * 1000;
		b->last_ms = now_ms;
	}
	/* Check the source first, so one noisy source does not drain the global bucket. */
	if (!take(b, RATELIMIT_PER_SOURCE_RATE, RATELIMIT_PER_SOURCE_BURST, now_ms))
		return false;
	return take(&rl->global, RATELIMIT_GLOBAL_RATE, RATELIMIT_GLOBAL_BURST, now_ms);
}
