/*
 * splice.h - two streams joined: what one side sends is written to the
 * other untouched (the relay never parses or changes spliced bytes; the
 * ends speak tcpframe.h and encrypt end to end).
 *
 * Backpressure keeps TCP's promise (nothing dropped): when one side's
 * output queue passes STREAM_HIGH, the other side is paused until it
 * drains to STREAM_LOW (stream.h). A side that stays stuck is closed by
 * its stream (conn.h's blocked deadline). Either side closing closes the
 * other, which first flushes what it still owes its peer.
 *
 * All live splices are on one list (struct splice_set) for counting.
 */
#ifndef TUND_RELAY_SPLICE_H
#define TUND_RELAY_SPLICE_H

#include <stddef.h>
#include <stdint.h>

#include "stream.h"

struct splice;

struct splice_set {
	struct splice *head;
	size_t n;
	uint64_t *bytes;             /* counter to add relayed bytes to (may be NULL) */
};

/* Joins a and b (their callbacks become the splice's). 0 or -ENOMEM (the
 * streams are untouched then). */
int splice_new(struct splice_set *set, struct stream *a, struct stream *b);

#endif
