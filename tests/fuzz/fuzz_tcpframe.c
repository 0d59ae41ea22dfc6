/*
 * fuzz_tcpframe.c - the stream splitter (tcpframe.h) on arbitrary bytes.
 * The first input byte picks the receive limit and where the callback
 * asks to stop, the rest is the stream. It is fed whole and then in
 * pieces whose sizes come from the stream itself; both runs must deliver
 * the same frames (type, length, body), stop or fail at the same point
 * with the same reason, and every delivered frame must satisfy the
 * per-type sizes. Frames of the whole feed that lie in the input are
 * handed over in place.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "tcpframe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
	uint8_t *log;          /* type, be32 length, body: per frame */
	size_t log_len;
	unsigned frames, stop_at;
	size_t max_body;
	const uint8_t *in_lo, *in_hi;
};

static int frame_cb(void *arg, uint8_t type, const uint8_t *body, size_t len)
{
	struct run *r = arg;
	if (len > r->max_body)
		abort();
	switch (type) {
	case TCPFRAME_PACKET:
		break;
	case TCPFRAME_PING:
	case TCPFRAME_PONG:
		if (len != TCPFRAME_PING_LEN)
			abort();
		break;
	case TCPFRAME_SPLICED:
		if (len != KEY_LEN)
			abort();
		break;
	case TCPFRAME_CLOSE:
		if (len > TCPFRAME_REASON_MAX)
			abort();
		break;
	default:
		abort();
	}
	if (r->in_lo && ((uintptr_t)body < (uintptr_t)r->in_lo || (uintptr_t)body + len > (uintptr_t)r->in_hi))
		abort();
	uint8_t *p = r->log + r->log_len;
	p[0] = type;
	p[1] = (uint8_t)(len >> 24);
	p[2] = (uint8_t)(len >> 16);
	p[3] = (uint8_t)(len >> 8);
	p[4] = (uint8_t)len;
	memcpy(p + 5, body, len);
	r->log_len += 5 + len;
	return ++r->frames == r->stop_at ? -ECANCELED : 0;
}

static int run_feed(struct run *r, const uint8_t *s, size_t n, bool whole, const char **why)
{
	struct tcpframe_rx rx;
	int rc = 0;
	tcpframe_rx_init(&rx, r->max_body);
	if (whole) {
		r->in_lo = s;
		r->in_hi = s + n;
		rc = tcpframe_rx_feed(&rx, s, n, frame_cb, r, why);
	} else {
		r->in_lo = NULL;
		for (size_t pos = 0, k = 0; pos < n && rc == 0; k++) {
			size_t step = 1 + (s[k % n] & 0x3f);
			if (step > n - pos)
				step = n - pos;
			/* Each piece in its own allocation, so reads past it show. */
			uint8_t *piece = malloc(step);
			if (!piece)
				abort();
			memcpy(piece, s + pos, step);
			rc = tcpframe_rx_feed(&rx, piece, step, frame_cb, r, why);
			free(piece);
			pos += step;
		}
	}
	if (rc == 0 && rx.len >= TCPFRAME_HDR_LEN + r->max_body + 1)
		abort();
	tcpframe_rx_free(&rx);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t limits[4] = { 0, 64, 1500, TCPFRAME_RX_MAX };
	if (size < 1 || size > (1u << 20))
		return 0;
	const uint8_t *s = data + 1;
	size_t n = size - 1;
	struct run a = { .max_body = limits[data[0] & 3], .stop_at = data[0] >> 2 };
	struct run b = a;
	a.log = malloc(2 * n + 16);
	b.log = malloc(2 * n + 16);
	uint8_t *copy = malloc(n ? n : 1);
	if (!a.log || !b.log || !copy)
		abort();
	memcpy(copy, s, n);
	const char *why_a = NULL, *why_b = NULL;
	int rc_a = run_feed(&a, copy, n, true, &why_a);
	int rc_b = run_feed(&b, copy, n, false, &why_b);
	if (rc_a != rc_b || a.frames != b.frames || a.log_len != b.log_len || memcmp(a.log, b.log, a.log_len) != 0)
		abort();
	if (rc_a == -EBADMSG && (!why_a || !why_b || strcmp(why_a, why_b) != 0))
		abort();
	if (rc_a != 0 && rc_a != -EBADMSG && rc_a != -ECANCELED)
		abort();
	free(a.log);
	free(b.log);
	free(copy);
	return 0;
}
