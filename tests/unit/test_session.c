/*
 * test_session.c - DATA frames under one session: round trip, keepalives,
 * the header is authenticated, replays and tampering are refused without
 * moving the replay window, reordering within the window is accepted,
 * and the counter limit stops encryption. PROBE frames (session_seal) share
 * the keys, counter and replay window, and their type is authenticated: a
 * DATA frame relabelled as a PROBE, or the reverse, fails.
 *
 * The split forms for cryptpool.h (session_seal_prepare, session_open_prepare
 * and _finish) give the same bytes, counters and replay decisions as
 * session_seal and session_decrypt, frame by frame, including duplicates
 * and forgeries inside one batch.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "cryptpool.h"
#include "session.h"
#include "wire.h"

static void make_pair(struct session *a, struct session *b)
{
	struct noise_cipher k1, k2;
	randombytes_buf(k1.k, sizeof(k1.k));
	randombytes_buf(k2.k, sizeof(k2.k));
	k1.n = k2.n = 0;
	session_init(a, 100, 200, &k1, &k2, true, 0);
	session_init(b, 200, 100, &k2, &k1, false, 0);
}

static int deliver(struct session *rx, uint8_t *frame, size_t len, uint8_t **pt, size_t *pt_len)
{
	struct wire_data_hdr h;
	if (wire_decode_data_hdr(frame, len, &h))
		return -EBADMSG;
	return session_decrypt(rx, frame, len, h.counter, pt, pt_len);
}

static void round_trip(void **state)
{
	struct session a, b;
	uint8_t frame[2048], msg[1400], *pt;
	size_t pt_len;
	make_pair(&a, &b);
	assert_false(b.confirmed);
	assert_true(a.confirmed);
	randombytes_buf(msg, sizeof(msg));
	int n = session_encrypt(&a, msg, sizeof(msg), frame, sizeof(frame));
	assert_int_equal(n, WIRE_DATA_MIN_LEN + sizeof(msg));
	assert_int_equal(frame[0], WIRE_TYPE_DATA);
	assert_memory_not_equal(frame + WIRE_DATA_HDR_LEN, msg, 64); /* not in the clear */
	assert_int_equal(deliver(&b, frame, (size_t)n, &pt, &pt_len), 0);
	assert_int_equal(pt_len, sizeof(msg));
	assert_memory_equal(pt, msg, sizeof(msg));
	/* keepalive */
	n = session_encrypt(&a, NULL, 0, frame, sizeof(frame));
	assert_int_equal(n, WIRE_DATA_MIN_LEN);
	assert_int_equal(deliver(&b, frame, (size_t)n, &pt, &pt_len), 0);
	assert_int_equal(pt_len, 0);
}

static void replay_and_tamper(void **state)
{
	struct session a, b;
	uint8_t frame[256], copy[256], msg[100] = { 1, 2, 3 }, *pt;
	size_t pt_len;
	make_pair(&a, &b);
	int n = session_encrypt(&a, msg, sizeof(msg), frame, sizeof(frame));
	memcpy(copy, frame, (size_t)n);
	assert_int_equal(deliver(&b, frame, (size_t)n, &pt, &pt_len), 0);
	memcpy(frame, copy, (size_t)n);
	assert_int_equal(deliver(&b, frame, (size_t)n, &pt, &pt_len), -EALREADY);

	/* a forged frame with a far-future counter must not move the window */
	n = session_encrypt(&a, msg, sizeof(msg), frame, sizeof(frame));
	memcpy(copy, frame, (size_t)n);
	frame[8 + 3] ^= 0x10; /* counter byte: header is AD, so this fails */
	assert_int_equal(deliver(&b, frame, (size_t)n, &pt, &pt_len), -EBADMSG);
	memcpy(frame, copy, (size_t)n);
	assert_int_equal(deliver(&b, frame, (size_t)n, &pt, &pt_len), 0);

	for (int i = WIRE_DATA_HDR_LEN; i < n; i += 7) {
		n = session_encrypt(&a, msg, sizeof(msg), frame, sizeof(frame));
		frame[i] ^= 0x80;
		assert_int_equal(deliver(&b, frame, (size_t)n, &pt, &pt_len), -EBADMSG);
	}
	/* the wrong direction's key fails too */
	n = session_encrypt(&a, msg, sizeof(msg), frame, sizeof(frame));
	assert_int_equal(deliver(&a, frame, (size_t)n, &pt, &pt_len), -EBADMSG);
}

static void reordering(void **state)
{
	struct session a, b;
	static uint8_t frames[64][128];
	int lens[64];
	uint8_t msg[32] = { 9 }, *pt;
	size_t pt_len;
	make_pair(&a, &b);
	for (int i = 0; i < 64; i++)
		lens[i] = session_encrypt(&a, msg, sizeof(msg), frames[i], sizeof(frames[i]));
	for (int i = 63; i >= 0; i--)
		assert_int_equal(deliver(&b, frames[i], (size_t)lens[i], &pt, &pt_len), 0);
}

static void counter_limit(void **state)
{
	struct session a, b;
	uint8_t frame[128];
	make_pair(&a, &b);
	a.send.n = SESSION_REJECT_AFTER_MESSAGES - 1;
	assert_int_equal(session_encrypt(&a, NULL, 0, frame, sizeof(frame)), WIRE_DATA_MIN_LEN);
	assert_int_equal(session_encrypt(&a, NULL, 0, frame, sizeof(frame)), -ESTALE);
	assert_true(session_needs_rekey_by_count(&a));
	assert_int_equal(session_encrypt(&b, NULL, 0, frame, WIRE_DATA_MIN_LEN - 1), -ENOSPC);
}

static void probe_round_trip(void **state)
{
	struct session a, b;
	uint8_t frame[128], *pt;
	uint8_t body[WIRE_PROBE_BODY_LEN] = { WIRE_PROBE_REQUEST, 0, 0, 0, 0x2a, 0, 0, 0 };
	size_t pt_len;
	struct wire_data_hdr h;
	make_pair(&a, &b);
	assert_int_equal(session_encrypt(&a, NULL, 0, frame, sizeof(frame)), WIRE_DATA_MIN_LEN);
	int n = session_seal(&a, WIRE_TYPE_PROBE, body, sizeof(body), frame, sizeof(frame));
	assert_int_equal(n, WIRE_DATA_MIN_LEN + WIRE_PROBE_BODY_LEN);
	assert_int_equal(frame[0], WIRE_TYPE_PROBE);
	assert_int_equal(wire_decode_data_hdr(frame, (size_t)n, &h), 0);
	assert_int_equal(h.type, WIRE_TYPE_PROBE);
	assert_int_equal(h.receiver, 200);
	assert_true(h.counter == 1);   /* the counter DATA uses */
	assert_int_equal(deliver(&b, frame, (size_t)n, &pt, &pt_len), 0);
	assert_int_equal(pt_len, sizeof(body));
	assert_memory_equal(pt, body, sizeof(body));
	/* one replay window for both types: a probe claiming counter 1 again is a replay */
	n = session_seal(&a, WIRE_TYPE_PROBE, body, sizeof(body), frame, sizeof(frame));
	frame[8] = 1;
	assert_int_equal(deliver(&b, frame, (size_t)n, &pt, &pt_len), -EALREADY);
}

/* The type byte is in the AD: relabelling fails authentication and leaves
 * the replay window where it was, so the genuine frame still passes. */
static void probe_type_authenticated(void **state)
{
	struct session a, b;
	uint8_t frame[128], copy[128], *pt;
	uint8_t msg[WIRE_PROBE_BODY_LEN] = { WIRE_PROBE_RESPONSE };
	size_t pt_len;
	struct wire_data_hdr h;
	make_pair(&a, &b);

	int n = session_encrypt(&a, msg, sizeof(msg), frame, sizeof(frame));
	memcpy(copy, frame, (size_t)n);
	frame[0] = WIRE_TYPE_PROBE;
	assert_int_equal(wire_decode_data_hdr(frame, (size_t)n, &h), 0);   /* a well-formed probe... */
	assert_int_equal(h.type, WIRE_TYPE_PROBE);
	assert_int_equal(deliver(&b, frame, (size_t)n, &pt, &pt_len), -EBADMSG);   /* ...that fails */
	assert_int_equal(deliver(&b, copy, (size_t)n, &pt, &pt_len), 0);

	n = session_seal(&a, WIRE_TYPE_PROBE, msg, sizeof(msg), frame, sizeof(frame));
	memcpy(copy, frame, (size_t)n);
	frame[0] = WIRE_TYPE_DATA;
	assert_int_equal(deliver(&b, frame, (size_t)n, &pt, &pt_len), -EBADMSG);
	assert_int_equal(deliver(&b, copy, (size_t)n, &pt, &pt_len), 0);
}

/* session_seal takes only the sealed types; a refusal uses no counter. */
static void seal_refuses_other_types(void **state)
{
	static const uint8_t others[] = { 0, WIRE_TYPE_HANDSHAKE_INIT, WIRE_TYPE_HANDSHAKE_RESP, 0xff };
	struct session a, b;
	uint8_t frame[128];
	make_pair(&a, &b);
	for (size_t i = 0; i < sizeof(others); i++)
		assert_true(session_seal(&a, others[i], NULL, 0, frame, sizeof(frame)) < 0);
	assert_true(a.send.n == 0);
	assert_int_equal(session_seal(&a, WIRE_TYPE_DATA, NULL, 0, frame, sizeof(frame)), WIRE_DATA_MIN_LEN);
	assert_true(a.send.n == 1);
}

/* ---- split forms ---------------------------------------------------- */

/* a1 and a2 hold the same keys (two copies of one sender); b receives. */
static void make_twins(struct session *a1, struct session *a2, struct session *b)
{
	struct noise_cipher k1, k2;
	randombytes_buf(k1.k, sizeof(k1.k));
	randombytes_buf(k2.k, sizeof(k2.k));
	k1.n = k2.n = 0;
	session_init(a1, 100, 200, &k1, &k2, true, 0);
	session_init(a2, 100, 200, &k1, &k2, true, 0);
	session_init(b, 200, 100, &k2, &k1, false, 0);
}

/* Seal with the split form, frame by frame and as a pooled batch: the
 * same bytes and counters as session_seal, and the old receiver opens them. */
static void split_seal_same_bytes(void **state)
{
	static const size_t lens[] = { 0, 1, 8, 100, 1400, 1412, 9000, 65535 };
	enum { N = 40 };
	static uint8_t old[N][WIRE_DATA_MIN_LEN + 65535], split[N][WIRE_DATA_MIN_LEN + 65535];
	static uint8_t msg[65535];
	struct crypt_job jobs[N];
	int rc_old[N], rc_split[N];
	size_t len[N];
	struct session a1, a2, b;
	struct cryptpool *pool;
	uint8_t *pt;
	size_t pt_len;

	assert_int_equal(cryptpool_new(&pool, 2), 0);
	make_twins(&a1, &a2, &b);
	randombytes_buf(msg, sizeof(msg));
	for (int i = 0; i < N; i++) {
		uint8_t type = i % 5 == 4 ? WIRE_TYPE_PROBE : WIRE_TYPE_DATA;
		len[i] = lens[i % 8];
		rc_old[i] = session_seal(&a1, type, msg, len[i], old[i], sizeof(old[i]));
		memcpy(split[i] + WIRE_DATA_HDR_LEN, msg, len[i]);
		rc_split[i] = session_seal_prepare(&a2, type, len[i], split[i], sizeof(split[i]), &jobs[i]);
		assert_int_equal(rc_split[i], rc_old[i]);
		assert_int_equal(rc_old[i], (int)(WIRE_DATA_MIN_LEN + len[i]));
		assert_int_equal(jobs[i].op, CRYPT_SEAL);
		assert_true(a1.send.n == a2.send.n);
		if (i < N / 2) /* the first half one at a time */
			cryptpool_do(&jobs[i]);
	}
	cryptpool_run(pool, jobs + N / 2, N - N / 2);
	for (int i = 0; i < N; i++) {
		assert_int_equal(jobs[i].result, 0);
		assert_memory_equal(old[i], split[i], (size_t)rc_old[i]);
		assert_int_equal(deliver(&b, split[i], (size_t)rc_split[i], &pt, &pt_len), 0);
		assert_int_equal(pt_len, len[i]);
		assert_memory_equal(pt, msg, len[i]);
	}
	sodium_memzero(jobs, sizeof(jobs));
	cryptpool_free(pool);
}

/* The refusals of session_seal, and none of them takes a counter. */
static void split_seal_refusals(void **state)
{
	struct session a, b;
	struct crypt_job job;
	uint8_t frame[128];
	make_pair(&a, &b);
	assert_int_equal(session_seal_prepare(&a, WIRE_TYPE_DATA, 0, frame, WIRE_DATA_MIN_LEN - 1, &job), -ENOSPC);
	assert_int_equal(session_seal_prepare(&a, WIRE_TYPE_DATA, 97, frame, sizeof(frame), &job), -ENOSPC);
	assert_true(session_seal_prepare(&a, WIRE_TYPE_HANDSHAKE_INIT, 0, frame, sizeof(frame), &job) < 0);
	assert_true(a.send.n == 0);
	assert_int_equal(session_seal_prepare(&a, WIRE_TYPE_DATA, 96, frame, sizeof(frame), &job), 128);
	assert_true(a.send.n == 1 && job.counter == 0);
	a.send.n = SESSION_REJECT_AFTER_MESSAGES - 1;
	assert_int_equal(session_seal_prepare(&a, WIRE_TYPE_DATA, 0, frame, sizeof(frame), &job), WIRE_DATA_MIN_LEN);
	assert_int_equal(session_seal_prepare(&a, WIRE_TYPE_DATA, 0, frame, sizeof(frame), &job), -ESTALE);
	assert_true(a.send.n == SESSION_REJECT_AFTER_MESSAGES);
	sodium_memzero(&job, sizeof(job));
}

/* Frames sealed by session_encrypt, opened by prepare/run/finish. */
static void split_open_round_trip(void **state)
{
	enum { N = 64 };
	static uint8_t frames[N][2048];
	uint8_t msg[1400], *pt;
	int lens[N];
	size_t pt_len;
	struct crypt_job jobs[N];
	struct session a, b;
	struct wire_data_hdr h;
	struct cryptpool *pool;

	assert_int_equal(cryptpool_new(&pool, 2), 0);
	make_pair(&a, &b);
	randombytes_buf(msg, sizeof(msg));
	for (int i = 0; i < N; i++) {
		lens[i] = session_encrypt(&a, msg, (size_t)i * 21, frames[i], sizeof(frames[i]));
		assert_int_equal(wire_decode_data_hdr(frames[i], (size_t)lens[i], &h), 0);
		assert_int_equal(session_open_prepare(&b, frames[i], (size_t)lens[i], h.counter, &jobs[i]), 0);
		assert_int_equal(jobs[i].op, CRYPT_OPEN);
		assert_true(b.replay.next == 0); /* prepare never moves the window */
	}
	cryptpool_run(pool, jobs, N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(session_open_finish(&b, &jobs[i], &pt, &pt_len), 0);
		assert_ptr_equal(pt, frames[i] + WIRE_DATA_HDR_LEN);
		assert_int_equal(pt_len, (size_t)i * 21);
		assert_memory_equal(pt, msg, pt_len);
	}
	assert_true(b.replay.next == N);
	/* now they are replays, refused before any work */
	assert_int_equal(session_open_prepare(&b, frames[3], (size_t)lens[3], 3, &jobs[0]), -EALREADY);
	assert_int_equal(session_open_prepare(&b, frames[3], WIRE_DATA_MIN_LEN - 1, 99, &jobs[0]), -EBADMSG);
	sodium_memzero(jobs, sizeof(jobs));
	cryptpool_free(pool);
}

/* Inside one batch: the same counter twice gets -EALREADY the second
 * time; a forgery gets -EBADMSG and moves nothing, even with a far-future
 * counter; a job that never ran is refused. */
static void split_open_batch_edge_cases(void **state)
{
	static uint8_t f[6][256];
	uint8_t msg[100] = { 7 }, *pt;
	size_t pt_len;
	int n[6];
	struct crypt_job jobs[6];
	struct session a, b;
	struct cryptpool *pool;

	assert_int_equal(cryptpool_new(&pool, 2), 0);
	make_pair(&a, &b);
	n[0] = session_encrypt(&a, msg, sizeof(msg), f[0], sizeof(f[0]));     /* counter 0 */
	memcpy(f[1], f[0], (size_t)n[0]);                                     /* its replay */
	n[1] = n[0];
	a.send.n = 50000;
	n[2] = session_encrypt(&a, msg, sizeof(msg), f[2], sizeof(f[2]));     /* counter 50000 */
	f[2][WIRE_DATA_HDR_LEN + 5] ^= 1;                                      /* forged */
	a.send.n = 1;
	n[3] = session_encrypt(&a, msg, sizeof(msg), f[3], sizeof(f[3]));     /* counter 1 */
	n[4] = session_encrypt(&a, msg, sizeof(msg), f[4], sizeof(f[4]));     /* counter 2 */
	f[4][3] ^= 1;                                                          /* receiver index: AD */
	const uint64_t counters[5] = { 0, 0, 50000, 1, 2 };
	for (int i = 0; i < 5; i++)
		assert_int_equal(session_open_prepare(&b, f[i], (size_t)n[i], counters[i], &jobs[i]), 0);
	cryptpool_run(pool, jobs, 5);
	assert_int_equal(session_open_finish(&b, &jobs[0], &pt, &pt_len), 0);
	assert_int_equal(session_open_finish(&b, &jobs[1], &pt, &pt_len), -EALREADY);
	assert_int_equal(session_open_finish(&b, &jobs[2], &pt, &pt_len), -EBADMSG);
	assert_true(b.replay.next == 1); /* the far-future forgery moved nothing */
	assert_int_equal(session_open_finish(&b, &jobs[3], &pt, &pt_len), 0);
	assert_int_equal(session_open_finish(&b, &jobs[4], &pt, &pt_len), -EBADMSG);
	assert_true(b.replay.next == 2);
	/* counter 2 is still free; the genuine frame is sealed anew because
	 * the failed open wiped the bytes it worked on in place */
	a.send.n = 2;
	n[4] = session_encrypt(&a, msg, sizeof(msg), f[4], sizeof(f[4]));
	assert_int_equal(session_open_prepare(&b, f[4], (size_t)n[4], 2, &jobs[4]), 0);
	/* not run: refused, window untouched */
	assert_int_equal(session_open_finish(&b, &jobs[4], &pt, &pt_len), -EBADMSG);
	assert_true(b.replay.next == 2);
	cryptpool_do(&jobs[4]);
	assert_int_equal(session_open_finish(&b, &jobs[4], &pt, &pt_len), 0);
	assert_true(b.replay.next == 3);
	/* a SEAL job is not something to finish */
	n[5] = session_seal_prepare(&a, WIRE_TYPE_DATA, 0, f[5], sizeof(f[5]), &jobs[5]);
	assert_int_equal(session_open_finish(&b, &jobs[5], &pt, &pt_len), -EINVAL);
	assert_true(b.replay.next == 3);
	sodium_memzero(jobs, sizeof(jobs));
	cryptpool_free(pool);
}

/* A sender's stream for split_open_same_decisions: mostly new frames;
 * sometimes a recent or an old one again (a replay, maybe inside the same
 * batch); one in ten forged; and once a counter jump that leaves every
 * earlier frame too old. */
#define STREAM_SLOTS 4096
#define STREAM_MAX_PT 200
#define STREAM_FRAME (WIRE_DATA_MIN_LEN + STREAM_MAX_PT)
struct stream {
	struct session *tx;
	uint8_t sent[STREAM_SLOTS][STREAM_FRAME]; /* as sealed */
	int sent_len[STREAM_SLOTS];
	size_t made;
	bool jumped;
	uint8_t msg[STREAM_MAX_PT];
};

static int stream_next(struct stream *st, uint8_t *out, bool *forged)
{
	size_t pick;
	if (st->made == 1500 && !st->jumped) {
		st->tx->send.n += 2 * REPLAY_WINDOW;
		st->jumped = true;
	}
	if (st->made < 8 || randombytes_uniform(4) != 0) {
		pick = st->made++ % STREAM_SLOTS;
		st->sent_len[pick] = session_encrypt(st->tx, st->msg, randombytes_uniform(STREAM_MAX_PT),
						     st->sent[pick], sizeof(st->sent[pick]));
	} else {
		uint32_t range = st->made < STREAM_SLOTS ? (uint32_t)st->made : STREAM_SLOTS;
		size_t back = 1 + randombytes_uniform(randombytes_uniform(4) ? 8 : range);
		if (back > st->made)
			back = st->made;
		pick = (st->made - back) % STREAM_SLOTS;
	}
	int len = st->sent_len[pick];
	memcpy(out, st->sent[pick], (size_t)len);
	*forged = randombytes_uniform(10) == 0;
	if (*forged)
		out[randombytes_uniform((uint32_t)len)] ^= 0x40;
	return len;
}

#define MAX_BATCH 64

/* The split path over one batch, as tund does it: prepare every frame,
 * run only the prepared jobs (compacted) in the pool, finish in order. */
static void open_batch_split(struct cryptpool *pool, struct session *rx, uint8_t (*f)[STREAM_FRAME],
			     const int *len, size_t n, int *rc, uint8_t **pt, size_t *pt_len)
{
	struct crypt_job jobs[MAX_BATCH], run[MAX_BATCH];
	size_t idx[MAX_BATCH], nrun = 0;

	for (size_t i = 0; i < n; i++) {
		struct wire_data_hdr h;
		rc[i] = wire_decode_data_hdr(f[i], (size_t)len[i], &h) ? -EBADMSG
			: session_open_prepare(rx, f[i], (size_t)len[i], h.counter, &jobs[i]);
		if (rc[i] == 0) {
			idx[nrun] = i;
			run[nrun++] = jobs[i];
		}
	}
	cryptpool_run(pool, run, nrun);
	for (size_t k = 0; k < nrun; k++)
		rc[idx[k]] = session_open_finish(rx, &run[k], &pt[idx[k]], &pt_len[idx[k]]);
	sodium_memzero(jobs, sizeof(jobs));
	sodium_memzero(run, sizeof(run));
}

/* The stream through two receivers: b1 frame by frame with
 * session_decrypt, b2 in pooled batches of random size. Same result for
 * every genuine frame, rejection for every forgery, and the same replay
 * window after every batch. */
static void split_open_same_decisions(void **state)
{
	static struct stream st;
	static uint8_t f1[MAX_BATCH][STREAM_FRAME], f2[MAX_BATCH][STREAM_FRAME];
	int rc1[MAX_BATCH], rc2[MAX_BATCH], len[MAX_BATCH];
	bool forged[MAX_BATCH];
	uint8_t *pt1, *pt2[MAX_BATCH];
	size_t pt1_len, pt2_len[MAX_BATCH];
	struct session a, b1, b2;
	struct cryptpool *pool;
	size_t accepted = 0, replays = 0, forgeries = 0;

	assert_int_equal(cryptpool_new(&pool, 2), 0);
	make_twins(&b1, &b2, &a); /* two identical receivers of a */
	memset(&st, 0, sizeof(st));
	st.tx = &a;
	randombytes_buf(st.msg, sizeof(st.msg));
	for (size_t done = 0; done < 3000;) {
		size_t n = 1 + randombytes_uniform(MAX_BATCH);
		for (size_t i = 0; i < n; i++) {
			len[i] = stream_next(&st, f1[i], &forged[i]);
			memcpy(f2[i], f1[i], (size_t)len[i]);
		}
		open_batch_split(pool, &b2, f2, len, n, rc2, pt2, pt2_len);
		for (size_t i = 0; i < n; i++) {
			rc1[i] = deliver(&b1, f1[i], (size_t)len[i], &pt1, &pt1_len);
			if (forged[i]) {
				assert_true(rc1[i] < 0 && rc2[i] < 0);
				forgeries++;
				continue;
			}
			assert_int_equal(rc2[i], rc1[i]);
			replays += rc1[i] == -EALREADY;
			if (rc1[i] == 0) {
				accepted++;
				assert_int_equal(pt2_len[i], pt1_len);
				assert_memory_equal(pt2[i], pt1, pt1_len);
			}
		}
		assert_memory_equal(&b1.replay, &b2.replay, sizeof(b1.replay));
		done += n;
	}
	assert_true(accepted > 1500);
	assert_true(replays > 100 && forgeries > 100); /* the stream had both */
	assert_true(b1.replay.next > 2 * REPLAY_WINDOW); /* the jump happened */
	cryptpool_free(pool);
}

int main(void)
{
	assert_true(sodium_init() >= 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(replay_and_tamper),
		cmocka_unit_test(reordering),
		cmocka_unit_test(counter_limit),
		cmocka_unit_test(probe_round_trip),
		cmocka_unit_test(probe_type_authenticated),
		cmocka_unit_test(seal_refuses_other_types),
		cmocka_unit_test(split_seal_same_bytes),
		cmocka_unit_test(split_seal_refusals),
		cmocka_unit_test(split_open_round_trip),
		cmocka_unit_test(split_open_batch_edge_cases),
		cmocka_unit_test(split_open_same_decisions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
