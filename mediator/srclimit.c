/*
 * srclimit.c - see srclimit.h. Tokens are counted in thousandths, so the
 * refill (SRCLIMIT_RATE per second = SRCLIMIT_RATE thousandths per
 * millisecond) needs no floating point.
 */
#include "srclimit.h"

#include <string.h>

void srclimit_init(struct srclimit *l)
{
	memset(l, 0, sizeof(*l));
	randombytes_buf(l->key, sizeof(l->key));
}

bool srclimit_allow(struct srclimit *l, uint32_t addr, uint64_t now_ms)
{
	const uint8_t in[4] = { (uint8_t)(addr >> 24), (uint8_t)(addr >> 16), (uint8_t)(addr >> 8),
				(uint8_t)addr };
	uint8_t h[crypto_shorthash_BYTES];
	uint32_t idx = 0;

	crypto_shorthash(h, in, sizeof(in), l->key);
	for (int i = 0; i < 4; i++)
		idx = idx << 8 | h[i];
	struct srclimit_slot *s = &l->slots[idx % SRCLIMIT_SLOTS];
	if (!s->used || s->addr != addr) {
		s->used = true;
		s->addr = addr;
		s->tokens_milli = SRCLIMIT_BURST * 1000;
		s->last_ms = now_ms;
	}
	uint64_t elapsed = now_ms > s->last_ms ? now_ms - s->last_ms : 0;
	uint64_t tokens = s->tokens_milli + elapsed * SRCLIMIT_RATE;
	if (tokens > (uint64_t)SRCLIMIT_BURST * 1000)
		tokens = (uint64_t)SRCLIMIT_BURST * 1000;
	s->last_ms = now_ms;
	if (tokens < 1000) {
		s->tokens_milli = (uint32_t)tokens;
		return false;
	}
	s->tokens_milli = (uint32_t)(tokens - 1000);
	return true;
}
