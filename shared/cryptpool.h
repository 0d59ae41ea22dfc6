/*
 * cryptpool.h - the data path's AEAD work, spread over threads.
 *
 * The event loop stays single-threaded: it decides everything (which
 * session, which counter, where the bytes are) and records it in a
 * crypt_job; cryptpool_run() then seals or opens a whole batch of jobs,
 * the calling thread taking a share and worker threads the rest, and
 * returns only when every job is done. Jobs are independent (each has its
 * own key copy, counter and buffer), so the order they finish in does not
 * matter: the caller sends or delivers them afterwards in batch order,
 * which keeps every peer's packets in the order they were read.
 *
 * Frames are DATA-shaped (wire.h): a 16-byte header that is the AEAD's
 * associated data, then the payload, then the 16-byte tag, with the
 * ChaCha20-Poly1305 (IETF) nonce 4 zero bytes || le64(counter), as
 * noise.h's transport cipher. Everything is in place.
 *
 * Small batches are done inline (waking a thread costs more than it
 * saves): a single job or a few KiB always; up to ~48 KiB unless a worker
 * is still awake from the previous batch (cryptpool.c has the numbers). The pool
 * keeps no key material of its own; keys live in the caller's jobs, and
 * the caller wipes them.
 */
#ifndef TUND_CRYPTPOOL_H
#define TUND_CRYPTPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "noise.h"

enum crypt_op { CRYPT_SEAL = 1, CRYPT_OPEN = 2 };

struct crypt_job {
	uint8_t key[NOISE_KEY_LEN];
	uint64_t counter;
	uint8_t *frame;   /* header (AD) at frame[0..16), payload after it */
	size_t len;       /* SEAL: plaintext length (frame has room for the tag);
			   * OPEN: ciphertext length including the tag */
	int result;       /* out: 0, -EBADMSG when OPEN failed authentication,
			   * -EINVAL for an unknown op. The session.h prepare
			   * functions set -EINPROGRESS, so a job that never
			   * ran is refused by session_open_finish. */
	uint8_t op;       /* enum crypt_op */
	void *user;       /* the caller's, untouched */
};

struct cryptpool;

/* threads: total threads doing crypto including the caller's; 0 picks the
 * CPUs this process may run on (sched_getaffinity), capped at
 * CRYPTPOOL_MAX_THREADS; 1 means no worker threads at all; more than
 * CRYPTPOOL_MAX_THREADS is -EINVAL. Returns 0 or -errno (a thread that
 * cannot be started is an error, not a silent downgrade). Workers block
 * every signal, so signals keep reaching the loop thread. */
#define CRYPTPOOL_MAX_THREADS 8
int cryptpool_new(struct cryptpool **out, unsigned threads);
unsigned cryptpool_threads(const struct cryptpool *p);

/* Does every job; returns when all are finished, and from then on no
 * worker touches the jobs or their frames. Frames of one batch must not
 * overlap. Safe to call with n = 0. Not reentrant: one caller thread (the
 * event loop). */
void cryptpool_run(struct cryptpool *p, struct crypt_job *jobs, size_t n);

/* Does one job on the calling thread. */
void cryptpool_do(struct crypt_job *job);

/* Stops and joins the workers. NULL is a no-op. */
void cryptpool_free(struct cryptpool *p);

/* Counters for status: batches run inline and spread over threads; read
 * them on the thread that calls cryptpool_run. */
struct cryptpool_stats {
	uint64_t batches_inline;
	uint64_t batches_parallel;
	uint64_t jobs;
};
void cryptpool_stats(const struct cryptpool *p, struct cryptpool_stats *out);

#endif
