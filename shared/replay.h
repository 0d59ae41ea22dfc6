/*
 * replay.h - sliding anti-replay window over 64-bit transport counters
 * (the bitmap-ring scheme of RFC 6479). REPLAY_WINDOW packets behind the
 * highest counter seen are tracked; anything older is refused.
 *
 * Protocol: replay_check() before decrypting (cheap reject), then
 * replay_update() only after the AEAD tag verified, so forged packets can
 * never move the window. Counters >= REPLAY_REJECT_AFTER are refused: a key
 * must be replaced long before its counter could wrap.
 */
#ifndef TUND_REPLAY_H
#define TUND_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#define REPLAY_BITMAP_WORDS 128                           /* 8192 bits */
#define REPLAY_WINDOW ((REPLAY_BITMAP_WORDS - 1) * 64)    /* 8128 packets guaranteed */
#define REPLAY_REJECT_AFTER (UINT64_MAX - (1ULL << 13))   /* counters at or above: refused */

struct replay {
	uint64_t next;                       /* highest counter accepted + 1; 0 = none yet */
	uint64_t bitmap[REPLAY_BITMAP_WORDS];
};

void replay_init(struct replay *r);
/* Would this counter be accepted? Does not modify the window. */
bool replay_check(const struct replay *r, uint64_t counter);
/* Mark the counter seen; false if it is a duplicate or outside the window. */
bool replay_update(struct replay *r, uint64_t counter);

#endif
