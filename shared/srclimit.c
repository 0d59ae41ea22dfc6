/*
 * srclimit.c - see srclimit.h. Tokens are counted in thousandths, so the
 * refill (rate per second = rate thousandths per millisecond) needs no
 * floating point.
 */
#include "srclimit.h"

#include <errno.h>
#include <stdlib.h>

#include <sodium.h>

struct slot {
	uint32_t addr;               /* host order */
	bool used;
	uint64_t milli;              /* tokens * 1000 */
	uint64_t last_ms;
};

struct srclimit {
	uint64_t rate;               /* thousandths of a token per millisecond */
	uint64_t burst_milli;
	uint8_t key[crypto_shorthash_KEYBYTES];
	struct slot slots[SRCLIMIT_SLOTS];
};

int srclimit_new(struct srclimit **out, unsigned rate, unsigned burst)
{
	struct srclimit *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->rate = rate;
	l->burst_milli = (uint64_t)burst * 1000;
	randombytes_buf(l->key, sizeof(l->key));
	*out = l;
	return 0;
}

void srclimit_free(struct srclimit *l)
{
	if (!l)
		return;
	sodium_memzero(l->key, sizeof(l->key));
	free(l);
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
	struct slot *s = &l->slots[idx % SRCLIMIT_SLOTS];
	if (!s->used || s->addr != addr) {
		s->used = true;
		s->addr = addr;
		s->milli = l->burst_milli;
		s->last_ms = now_ms;
	}
	uint64_t t = s->milli + (now_ms > s->last_ms ? now_ms - s->last_ms : 0) * l->rate;
	s->milli = t > l->burst_milli ? l->burst_milli : t;
	s->last_ms = now_ms;
	if (s->milli < 1000)
		return false;
	s->milli -= 1000;
	return true;
}
