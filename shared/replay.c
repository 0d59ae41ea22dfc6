/*
 * replay.c - the RFC 6479 anti-replay window: a ring of REPLAY_BITMAP_WORDS
 * 64-bit words where counter c lives in word (c / 64) mod WORDS, bit c % 64.
 *
 * Invariants: with H = next - 1 the highest counter accepted, the ring holds
 * exactly the words for counters in blocks (H / 64) - (WORDS - 1) .. H / 64;
 * a word is cleared the moment the window slides onto it, never later.
 * Counters H - REPLAY_WINDOW .. H are therefore tracked bit-exactly (the
 * oldest of them sits in the oldest block still held) and anything older is
 * refused without looking at the bitmap. next == 0 means nothing has been
 * accepted, so counter 0 is a fresh counter, not a replay.
 */
#include "replay.h"

#include <string.h>

#define REPLAY_WORD_BITS 64

_Static_assert((REPLAY_BITMAP_WORDS & (REPLAY_BITMAP_WORDS - 1)) == 0,
	       "ring index is taken with a mask");
_Static_assert(REPLAY_WINDOW == (REPLAY_BITMAP_WORDS - 1) * REPLAY_WORD_BITS,
	       "one word of slack keeps the oldest tracked block intact");

static unsigned word_of(uint64_t counter)
{
	return (unsigned)((counter / REPLAY_WORD_BITS) & (REPLAY_BITMAP_WORDS - 1));
}

static uint64_t bit_of(uint64_t counter)
{
	return 1ULL << (counter % REPLAY_WORD_BITS);
}

void replay_init(struct replay *r)
{
	memset(r, 0, sizeof(*r));
}

/* 1: ahead of everything seen; 0: behind but tracked; -1: refused outright. */
static int classify(const struct replay *r, uint64_t counter)
{
	if (counter >= REPLAY_REJECT_AFTER)
		return -1;
	if (counter >= r->next)
		return 1;
	if ((r->next - 1) - counter > REPLAY_WINDOW)
		return -1;
	return 0;
}

bool replay_check(const struct replay *r, uint64_t counter)
{
	switch (classify(r, counter)) {
	case 1:
		return true;
	case 0:
		return !(r->bitmap[word_of(counter)] & bit_of(counter));
	default:
		return false;
	}
}

/* Move H up to counter, clearing every block the window newly covers. */
static void slide(struct replay *r, uint64_t counter)
{
	uint64_t new_block = counter / REPLAY_WORD_BITS;
	uint64_t old_block = r->next ? (r->next - 1) / REPLAY_WORD_BITS : 0;
	uint64_t steps = new_block - old_block;

	if (r->next == 0 || steps >= REPLAY_BITMAP_WORDS) {
		memset(r->bitmap, 0, sizeof(r->bitmap));
	} else {
		for (uint64_t i = 1; i <= steps; i++)
			r->bitmap[(old_block + i) & (REPLAY_BITMAP_WORDS - 1)] = 0;
	}
	r->next = counter + 1; /* no overflow: counter < REPLAY_REJECT_AFTER */
}

bool replay_update(struct replay *r, uint64_t counter)
{
	switch (classify(r, counter)) {
	case 1:
		slide(r, counter);
		break;
	case 0:
		if (r->bitmap[word_of(counter)] & bit_of(counter))
			return false;
		break;
	default:
		return false;
	}
	r->bitmap[word_of(counter)] |= bit_of(counter);
	return true;
}
