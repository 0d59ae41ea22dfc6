/*
 * test_tcpframe.c - stream framing (tcpframe.h): the header layout, every
 * frame type through the splitter, the same stream cut at every byte
 * boundary, a byte at a time and at random (always the same frames),
 * frames handed over in place when whole, the receive limit enforced from
 * the header alone, each malformed header with its reason, and the
 * callback's stop value ending the feed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tcpframe.h"

#define MAX_FRAMES 64

/* What the callback saw: types, lengths, bodies, and whether each body
 * pointed into the input given to the feed. */
struct seen {
	unsigned n;
	uint8_t type[MAX_FRAMES];
	size_t len[MAX_FRAMES];
	uint8_t *body[MAX_FRAMES];
	bool in_place[MAX_FRAMES];
	const uint8_t *in_lo, *in_hi;
	unsigned stop_at;            /* return stop_rc from this frame (1-based), 0 = never */
	int stop_rc;
};

static int record(void *arg, uint8_t type, const uint8_t *body, size_t len)
{
	struct seen *s = arg;
	assert_true(s->n < MAX_FRAMES);
	s->type[s->n] = type;
	s->len[s->n] = len;
	s->body[s->n] = malloc(len ? len : 1);
	assert_non_null(s->body[s->n]);
	memcpy(s->body[s->n], body, len);
	uintptr_t b = (uintptr_t)body;
	s->in_place[s->n] = b >= (uintptr_t)s->in_lo && b + len <= (uintptr_t)s->in_hi;
	s->n++;
	return s->stop_at == s->n ? s->stop_rc : 0;
}

static void seen_clear(struct seen *s)
{
	for (unsigned i = 0; i < s->n; i++)
		free(s->body[i]);
	memset(s, 0, sizeof(*s));
}

static int feed(struct tcpframe_rx *r, const uint8_t *buf, size_t len, struct seen *s, const char **why)
{
	s->in_lo = buf;
	s->in_hi = buf + len;
	return tcpframe_rx_feed(r, buf, len, record, s, why);
}

/* A stream with every type: frames[] describe it, stream[] holds it. */
struct frame {
	uint8_t type;
	size_t len;
	uint8_t fill;
};
static const struct frame frames[] = {
	{ TCPFRAME_PACKET, 148, 0x11 }, { TCPFRAME_PING, 8, 0x22 },     { TCPFRAME_PONG, 8, 0x33 },
	{ TCPFRAME_PACKET, 0, 0 },      { TCPFRAME_SPLICED, 32, 0x44 }, { TCPFRAME_PACKET, 1, 0x55 },
	{ TCPFRAME_CLOSE, 0, 0 },       { TCPFRAME_CLOSE, 200, 'r' },   { TCPFRAME_PACKET, 1420, 0x66 },
	{ TCPFRAME_PACKET, 3, 0x77 },
};
#define N_FRAMES (sizeof(frames) / sizeof(frames[0]))

static size_t build_stream(uint8_t *out, size_t cap)
{
	size_t off = 0;
	for (size_t i = 0; i < N_FRAMES; i++) {
		assert_true(off + TCPFRAME_HDR_LEN + frames[i].len <= cap);
		tcpframe_header(out + off, frames[i].type, frames[i].len);
		off += TCPFRAME_HDR_LEN;
		for (size_t j = 0; j < frames[i].len; j++)
			out[off + j] = (uint8_t)(frames[i].fill + j);
		off += frames[i].len;
	}
	return off;
}

static void check_seen(const struct seen *s)
{
	assert_int_equal(s->n, N_FRAMES);
	for (unsigned i = 0; i < N_FRAMES; i++) {
		assert_int_equal(s->type[i], frames[i].type);
		assert_int_equal(s->len[i], frames[i].len);
		for (size_t j = 0; j < frames[i].len; j++)
			assert_int_equal(s->body[i][j], (uint8_t)(frames[i].fill + j));
	}
}

static uint8_t stream[4096];

static void header_layout(void **state)
{
	uint8_t h[TCPFRAME_HDR_LEN];
	tcpframe_header(h, TCPFRAME_PACKET, 0x123456);
	assert_memory_equal(h, ((uint8_t[]){ 0x01, 0x12, 0x34, 0x56 }), 4);
	tcpframe_header(h, TCPFRAME_CLOSE, 0);
	assert_memory_equal(h, ((uint8_t[]){ 0x05, 0, 0, 0 }), 4);
	tcpframe_header(h, TCPFRAME_PING, TCPFRAME_MAX_BODY);
	assert_memory_equal(h, ((uint8_t[]){ 0x02, 0xff, 0xff, 0xff }), 4);
}

static void round_trip_whole(void **state)
{
	size_t len = build_stream(stream, sizeof(stream));
	struct tcpframe_rx r;
	struct seen s = { 0 };
	const char *why = NULL;
	tcpframe_rx_init(&r, TCPFRAME_RX_MAX);
	assert_int_equal(feed(&r, stream, len, &s, &why), 0);
	check_seen(&s);
	for (unsigned i = 0; i < s.n; i++)
		assert_true(s.in_place[i]);   /* whole in the input: no copy */
	assert_int_equal(r.len, 0);
	assert_null(r.buf);                   /* and nothing allocated */
	seen_clear(&s);
	tcpframe_rx_free(&r);
}

/* Two feeds cut at every offset, then a byte at a time. */
static void every_split(void **state)
{
	size_t len = build_stream(stream, sizeof(stream));
	const char *why = NULL;
	for (size_t cut = 0; cut <= len; cut++) {
		struct tcpframe_rx r;
		struct seen s = { 0 };
		tcpframe_rx_init(&r, TCPFRAME_RX_MAX);
		assert_int_equal(feed(&r, stream, cut, &s, &why), 0);
		assert_int_equal(feed(&r, stream + cut, len - cut, &s, &why), 0);
		check_seen(&s);
		assert_int_equal(r.len, 0);
		seen_clear(&s);
		tcpframe_rx_free(&r);
	}
	struct tcpframe_rx r;
	struct seen s = { 0 };
	tcpframe_rx_init(&r, TCPFRAME_RX_MAX);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(feed(&r, stream + i, 1, &s, &why), 0);
	check_seen(&s);
	seen_clear(&s);
	/* Empty feeds change nothing, with or without a partial frame. */
	assert_int_equal(feed(&r, stream, 0, &s, &why), 0);
	assert_int_equal(feed(&r, stream, 6, &s, &why), 0);
	assert_int_equal(feed(&r, stream, 0, &s, &why), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(r.len, 6);
	tcpframe_rx_free(&r);
}

static void random_splits(void **state)
{
	size_t len = build_stream(stream, sizeof(stream));
	const char *why = NULL;
	uint32_t seed = 99;
	for (int round = 0; round < 500; round++) {
		struct tcpframe_rx r;
		struct seen s = { 0 };
		tcpframe_rx_init(&r, TCPFRAME_RX_MAX);
		for (size_t pos = 0; pos < len;) {
			seed = seed * 1103515245u + 12345u;
			size_t n = 1 + (seed >> 16) % 600;
			if (n > len - pos)
				n = len - pos;
			assert_int_equal(feed(&r, stream + pos, n, &s, &why), 0);
			pos += n;
		}
		check_seen(&s);
		seen_clear(&s);
		tcpframe_rx_free(&r);
	}
}

/* The limit applies from the header alone: nothing of the body needs to
 * have arrived, nothing is allocated for it. */
static void max_size(void **state)
{
	static uint8_t big[TCPFRAME_HDR_LEN + 1001];
	struct tcpframe_rx r;
	struct seen s = { 0 };
	const char *why = NULL;
	memset(big, 0xab, sizeof(big));

	tcpframe_rx_init(&r, 1000);
	tcpframe_header(big, TCPFRAME_PACKET, 1000);
	assert_int_equal(feed(&r, big, TCPFRAME_HDR_LEN + 1000, &s, &why), 0);
	assert_int_equal(feed(&r, big, 10, &s, &why), 0);   /* and the same buffered */
	assert_int_equal(feed(&r, big + 10, TCPFRAME_HDR_LEN + 990, &s, &why), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.len[1], 1000);
	assert_true(r.cap <= TCPFRAME_HDR_LEN + 1000);
	tcpframe_rx_free(&r);

	tcpframe_rx_init(&r, 1000);
	tcpframe_header(big, TCPFRAME_PACKET, 1001);
	assert_int_equal(feed(&r, big, TCPFRAME_HDR_LEN, &s, &why), -EBADMSG);
	assert_string_equal(why, "frame body over the receive limit");
	assert_true(r.cap < 1000);
	tcpframe_rx_free(&r);

	/* Split header: the error comes with its last byte. */
	tcpframe_rx_init(&r, 1000);
	why = NULL;
	assert_int_equal(feed(&r, big, 3, &s, &why), 0);
	assert_int_equal(feed(&r, big + 3, 1, &s, &why), -EBADMSG);
	assert_string_equal(why, "frame body over the receive limit");
	tcpframe_rx_free(&r);

	/* The limit bounds every type, not only PACKET. */
	tcpframe_rx_init(&r, 16);
	tcpframe_header(big, TCPFRAME_SPLICED, 32);
	assert_int_equal(feed(&r, big, TCPFRAME_HDR_LEN, &s, &why), -EBADMSG);
	assert_string_equal(why, "frame body over the receive limit");
	tcpframe_header(big, TCPFRAME_SPLICED, 31);   /* the type's own rule first */
	assert_int_equal(feed(&r, big, TCPFRAME_HDR_LEN, &s, &why), -EBADMSG);
	assert_string_equal(why, "SPLICED body is not a 32-byte key");
	tcpframe_rx_free(&r);

	/* A limit over what the header can say is the header's limit. */
	tcpframe_rx_init(&r, SIZE_MAX);
	assert_int_equal(r.max_body, TCPFRAME_MAX_BODY);
	tcpframe_header(big, TCPFRAME_PACKET, TCPFRAME_MAX_BODY);
	assert_int_equal(feed(&r, big, TCPFRAME_HDR_LEN, &s, &why), 0);
	tcpframe_rx_free(&r);

	tcpframe_rx_init(&r, TCPFRAME_RX_MAX);
	tcpframe_header(big, TCPFRAME_PACKET, TCPFRAME_RX_MAX + 1);
	assert_int_equal(feed(&r, big, TCPFRAME_HDR_LEN, &s, &why), -EBADMSG);
	tcpframe_rx_free(&r);
	seen_clear(&s);
}

static void malformed(void **state)
{
	static const struct {
		uint8_t type;
		size_t len;
		const char *why;
	} bad[] = {
		{ 0x00, 0, "unknown frame type" },
		{ 0x06, 4, "unknown frame type" },
		{ 0xff, 8, "unknown frame type" },
		{ TCPFRAME_PING, 7, "PING or PONG body is not 8 bytes" },
		{ TCPFRAME_PING, 0, "PING or PONG body is not 8 bytes" },
		{ TCPFRAME_PONG, 9, "PING or PONG body is not 8 bytes" },
		{ TCPFRAME_SPLICED, 31, "SPLICED body is not a 32-byte key" },
		{ TCPFRAME_SPLICED, 33, "SPLICED body is not a 32-byte key" },
		{ TCPFRAME_CLOSE, 201, "CLOSE reason over 200 bytes" },
	};
	uint8_t buf[TCPFRAME_HDR_LEN + 300];
	memset(buf, 0, sizeof(buf));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (int split = 0; split <= 1; split++) {
			struct tcpframe_rx r;
			struct seen s = { 0 };
			const char *why = NULL;
			tcpframe_rx_init(&r, TCPFRAME_RX_MAX);
			/* A good frame first, so the bad one starts mid-feed or buffered. */
			tcpframe_header(buf, TCPFRAME_PACKET, 2);
			tcpframe_header(buf + 6, bad[i].type, bad[i].len);
			size_t len = 6 + TCPFRAME_HDR_LEN + bad[i].len;
			int rc;
			if (split) {
				assert_int_equal(feed(&r, buf, 8, &s, &why), 0);
				rc = feed(&r, buf + 8, len - 8, &s, &why);
			} else {
				rc = feed(&r, buf, len, &s, &why);
			}
			assert_int_equal(rc, -EBADMSG);
			assert_non_null(why);
			assert_string_equal(why, bad[i].why);
			assert_int_equal(s.n, 1);
			seen_clear(&s);
			tcpframe_rx_free(&r);
		}
	}
}

/* The first nonzero return of frame() ends the feed with that value;
 * later frames in the same input are not delivered. */
static void callback_stop(void **state)
{
	size_t len = build_stream(stream, sizeof(stream));
	const char *why = NULL;
	for (unsigned stop = 1; stop <= N_FRAMES; stop++) {
		for (size_t cut = 0; cut <= len; cut += 37) {
			struct tcpframe_rx r;
			struct seen s = { .stop_at = stop, .stop_rc = -ECONNRESET };
			tcpframe_rx_init(&r, TCPFRAME_RX_MAX);
			int rc = feed(&r, stream, cut, &s, &why);
			if (rc == 0)
				rc = feed(&r, stream + cut, len - cut, &s, &why);
			assert_int_equal(rc, -ECONNRESET);
			assert_int_equal(s.n, stop);
			seen_clear(&s);
			tcpframe_rx_free(&r);
		}
	}
	struct tcpframe_rx r;
	struct seen s = { .stop_at = 2, .stop_rc = 1 };
	tcpframe_rx_init(&r, TCPFRAME_RX_MAX);
	assert_int_equal(feed(&r, stream, len, &s, &why), 1);
	assert_int_equal(s.n, 2);
	seen_clear(&s);
	tcpframe_rx_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(header_layout),
		cmocka_unit_test(round_trip_whole),
		cmocka_unit_test(every_split),
		cmocka_unit_test(random_splits),
		cmocka_unit_test(max_size),
		cmocka_unit_test(malformed),
		cmocka_unit_test(callback_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
