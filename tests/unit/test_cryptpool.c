/*
 * test_cryptpool.c - the pool gives exactly the bytes one thread doing
 * the same jobs gives (random batches of mixed sizes: keepalives, MTU-sized
 * and 64 KiB frames; 1, 2 and 4 threads), a tampered frame fails only its
 * own job, 2 x 10,000 back-to-back batches hand off without a hang or a
 * lost or doubled job (to sleeping and to spinning workers), new/free can
 * be repeated, workers block signals, run as SCHED_BATCH and sleep (use
 * no CPU) while idle, and small batches stay inline.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "cryptpool.h"
#include "wire.h"

#define MAX_JOBS 128
#define GUARD 16 /* bytes after each frame that no job may touch */

struct batch {
	struct crypt_job jobs[MAX_JOBS];
	uint8_t *buf[MAX_JOBS];   /* frame + room for the tag + GUARD */
	uint8_t *plain[MAX_JOBS]; /* header and plaintext as they were before sealing */
	size_t n;
};

static size_t pick_len(void)
{
	switch (randombytes_uniform(8)) {
	case 0:
		return 0; /* keepalive */
	case 1:
		return 65535;
	case 2:
		return randombytes_uniform(2000);
	default:
		return 1400;
	}
}

#define MIXED SIZE_MAX /* batch_fill: lengths from pick_len() */

/* n SEAL jobs of len bytes (or MIXED) with random keys, counters, headers
 * and payloads. */
static void batch_fill(struct batch *b, size_t n, size_t fixed_len)
{
	b->n = n;
	for (size_t i = 0; i < n; i++) {
		size_t len = fixed_len == MIXED ? pick_len() : fixed_len;
		size_t total = WIRE_DATA_MIN_LEN + len;
		b->buf[i] = malloc(total + GUARD);
		b->plain[i] = malloc(total);
		assert_non_null(b->buf[i]);
		assert_non_null(b->plain[i]);
		randombytes_buf(b->buf[i], WIRE_DATA_HDR_LEN + len);
		memset(b->buf[i] + WIRE_DATA_HDR_LEN + len, 0xee, WIRE_TAG_LEN + GUARD);
		memcpy(b->plain[i], b->buf[i], total);
		struct crypt_job *j = &b->jobs[i];
		memset(j, 0, sizeof(*j));
		randombytes_buf(j->key, sizeof(j->key));
		j->counter = randombytes_random() % 4 == 0 ? i : ((uint64_t)randombytes_random() << 20) + i;
		j->frame = b->buf[i];
		j->len = len;
		j->op = CRYPT_SEAL;
		j->result = 1; /* must be overwritten */
		j->user = b;
	}
}

static void batch_free(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free(b->buf[i]);
		free(b->plain[i]);
	}
	sodium_memzero(b->jobs, sizeof(b->jobs));
	b->n = 0;
}

/* Turns sealed jobs into OPEN jobs over the same frames. */
static void batch_to_open(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		b->jobs[i].op = CRYPT_OPEN;
		b->jobs[i].len += WIRE_TAG_LEN;
		b->jobs[i].result = 1;
	}
}

static void assert_guards_intact(const struct batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		const uint8_t *g = b->buf[i] + WIRE_DATA_MIN_LEN + (b->jobs[i].op == CRYPT_SEAL ? b->jobs[i].len
												: b->jobs[i].len - WIRE_TAG_LEN);
		for (size_t k = 0; k < GUARD; k++)
			assert_int_equal(g[k], 0xee);
	}
}

/* The pool's result against an independent serial computation. */
static void check_sealed(const struct batch *b)
{
	static uint8_t expect[WIRE_DATA_MIN_LEN + 65535];
	for (size_t i = 0; i < b->n; i++) {
		const struct crypt_job *j = &b->jobs[i];
		assert_int_equal(j->result, 0);
		assert_ptr_equal(j->user, b);
		memcpy(expect, b->plain[i], WIRE_DATA_HDR_LEN);
		assert_int_equal(noise_aead_encrypt(j->key, j->counter, expect, WIRE_DATA_HDR_LEN,
						    b->plain[i] + WIRE_DATA_HDR_LEN, j->len,
						    expect + WIRE_DATA_HDR_LEN), 0);
		assert_memory_equal(b->buf[i], expect, WIRE_DATA_MIN_LEN + j->len);
	}
	assert_guards_intact(b);
}

static void check_opened(const struct batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		assert_int_equal(b->jobs[i].result, 0);
		assert_memory_equal(b->buf[i], b->plain[i], WIRE_DATA_HDR_LEN + b->jobs[i].len - WIRE_TAG_LEN);
	}
	assert_guards_intact(b);
}

static void matches_serial_with(unsigned threads)
{
	static struct batch b;
	struct cryptpool *p;
	struct cryptpool_stats st;

	assert_int_equal(cryptpool_new(&p, threads), 0);
	assert_int_equal(cryptpool_threads(p), threads);
	size_t jobs = 0;
	for (int round = 0; round < 60; round++) {
		size_t n = round < 5 ? (size_t)round : 1 + randombytes_uniform(MAX_JOBS);
		batch_fill(&b, n, MIXED);
		cryptpool_run(p, b.jobs, b.n);
		check_sealed(&b);
		batch_to_open(&b);
		cryptpool_run(p, b.jobs, b.n);
		check_opened(&b);
		jobs += 2 * n;
		batch_free(&b);
	}
	cryptpool_stats(p, &st);
	assert_true(st.jobs == jobs);
	if (threads == 1)
		assert_true(st.batches_parallel == 0);
	else
		assert_true(st.batches_parallel > 0);
	assert_true(st.batches_inline > 0); /* the 1-job rounds at least */
	cryptpool_free(p);
}

static void matches_serial_1(void **state) { matches_serial_with(1); }
static void matches_serial_2(void **state) { matches_serial_with(2); }
static void matches_serial_4(void **state) { matches_serial_with(4); }

/* One flipped bit (header, body or tag, in turn) fails that job alone. */
static void tamper_fails_only_that_job(void **state)
{
	static struct batch b;
	struct cryptpool *p;

	assert_int_equal(cryptpool_new(&p, 4), 0);
	for (int round = 0; round < 30; round++) {
		batch_fill(&b, 48, 1400);
		cryptpool_run(p, b.jobs, b.n);
		check_sealed(&b);
		batch_to_open(&b);
		size_t victim = randombytes_uniform((uint32_t)b.n);
		size_t frame_len = WIRE_DATA_HDR_LEN + b.jobs[victim].len;
		size_t at = round % 3 == 0 ? randombytes_uniform(WIRE_DATA_HDR_LEN)
			  : round % 3 == 1 ? WIRE_DATA_HDR_LEN + randombytes_uniform(1400)
			  : frame_len - 1 - randombytes_uniform(WIRE_TAG_LEN);
		b.buf[victim][at] ^= (uint8_t)(1u << randombytes_uniform(8));
		cryptpool_run(p, b.jobs, b.n);
		for (size_t i = 0; i < b.n; i++) {
			if (i == victim) {
				assert_int_equal(b.jobs[i].result, -EBADMSG);
				continue;
			}
			assert_int_equal(b.jobs[i].result, 0);
			assert_memory_equal(b.buf[i], b.plain[i], WIRE_DATA_HDR_LEN + 1400);
		}
		batch_free(&b);
	}
	cryptpool_free(p);
}

/* A job with an unknown op is refused, not guessed at. */
static void unknown_op_refused(void **state)
{
	uint8_t frame[WIRE_DATA_MIN_LEN] = { 0 };
	struct crypt_job j = { .frame = frame, .len = 0, .op = 0, .result = 1 };
	cryptpool_do(&j);
	assert_int_equal(j.result, -EINVAL);
	j.op = CRYPT_OPEN; /* a 0-byte ciphertext has no room for the tag */
	cryptpool_do(&j);
	assert_int_equal(j.result, -EBADMSG);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* One step of the seal/open cycle over b: even steps seal (counter i),
 * odd steps open and check the plaintext. A job done twice or skipped
 * breaks the next open. */
static void cycle_step(struct cryptpool *p, struct batch *b, int i)
{
	if (i % 2 == 0) {
		for (size_t k = 0; k < b->n; k++) {
			b->jobs[k].counter = (uint64_t)i;
			b->jobs[k].result = 1;
		}
		cryptpool_run(p, b->jobs, b->n);
		for (size_t k = 0; k < b->n; k++)
			assert_int_equal(b->jobs[k].result, 0);
		batch_to_open(b);
	} else {
		cryptpool_run(p, b->jobs, b->n);
		check_opened(b);
		for (size_t k = 0; k < b->n; k++) {
			b->jobs[k].op = CRYPT_SEAL;
			b->jobs[k].len -= WIRE_TAG_LEN;
		}
	}
}

/* 10,000 batches large enough to wake the workers, every 500th after a
 * pause long enough for them to be asleep; then 10,000 medium batches,
 * every 100th preceded by a large one, so medium ones are shared with
 * workers still spinning. A hang is killed by SIGALRM (the default
 * action fails the test). The inline/parallel thresholds this relies on
 * are cryptpool.c's SPREAD_BYTES_*. */
static void back_to_back(void **state)
{
	static struct batch big, medium;
	struct cryptpool *p;
	struct cryptpool_stats st;
	const int batches = 10000;

	assert_int_equal(cryptpool_new(&p, 2), 0);
	batch_fill(&big, 36, 1400);   /* 50 KB: always spread */
	batch_fill(&medium, 4, 1400); /* 5.6 KB: spread only to a worker awake */
	alarm(120);
	double start = now_s();
	for (int i = 0; i < batches; i++) {
		if (i % 500 == 0) {
			struct timespec pause = { 0, 2 * 1000 * 1000 };
			nanosleep(&pause, NULL);
		}
		cycle_step(p, &big, i);
	}
	double took_big = now_s() - start;
	cryptpool_stats(p, &st);
	assert_true(st.batches_parallel == (uint64_t)batches);
	assert_true(st.jobs == (uint64_t)batches * big.n);

	start = now_s();
	int big_step = batches; /* big's cycle goes on where it stopped: sealing next */
	for (int i = 0; i < batches; i++) {
		if (i % 100 == 0)
			cycle_step(p, &big, big_step++);
		cycle_step(p, &medium, i);
	}
	double took_medium = now_s() - start;
	alarm(0);
	struct cryptpool_stats st2;
	cryptpool_stats(p, &st2);
	uint64_t spread = st2.batches_parallel - st.batches_parallel - batches / 100;
	/* How many were spread depends on whether a worker was awake (on a
	 * crowded box it may never be); what matters is that all are done. */
	assert_true(st2.batches_inline + spread == (uint64_t)batches);
	print_message("10000 batches of 36 x 1400 B, 2 threads: %.2f s; 10000 of 4 x 1400 B: %.2f s, %lu spread\n",
		      took_big, took_medium, (unsigned long)spread);
	assert_true(took_big + took_medium < 90); /* ~2 s here; generous for sanitizers on a busy box */
	batch_free(&big);
	batch_free(&medium);
	cryptpool_free(p);
}

static void new_free_repeatedly(void **state)
{
	static struct batch b;
	struct cryptpool *p;

	for (int i = 0; i < 200; i++) {
		unsigned threads = (unsigned)(i % (CRYPTPOOL_MAX_THREADS + 1));
		assert_int_equal(cryptpool_new(&p, threads), 0);
		if (threads)
			assert_int_equal(cryptpool_threads(p), threads);
		if (i % 10 == 0) { /* sometimes with work in between, sometimes without */
			batch_fill(&b, 20, 1400);
			cryptpool_run(p, b.jobs, b.n);
			check_sealed(&b);
			batch_free(&b);
		}
		cryptpool_run(p, NULL, 0);
		cryptpool_free(p);
	}
	cryptpool_free(NULL);
	p = (struct cryptpool *)&b;
	assert_int_equal(cryptpool_new(&p, CRYPTPOOL_MAX_THREADS + 1), -EINVAL);
	assert_null(p);
}

/* threads = 0: the CPUs we may run on, capped. */
static void auto_threads(void **state)
{
	cpu_set_t set;
	struct cryptpool *p;

	assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
	unsigned want = (unsigned)CPU_COUNT(&set);
	if (want > CRYPTPOOL_MAX_THREADS)
		want = CRYPTPOOL_MAX_THREADS;
	assert_int_equal(cryptpool_new(&p, 0), 0);
	assert_int_equal(cryptpool_threads(p), want);
	cryptpool_free(p);
}

/* The tids of threads named "tund-crypt", from /proc. */
static size_t worker_tids(int *tids, size_t cap)
{
	char path[300], comm[32];
	size_t n = 0;
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	assert_non_null(d);
	while ((e = readdir(d)) && n < cap) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && strncmp(comm, "tund-crypt", 10) == 0)
			tids[n++] = atoi(e->d_name);
		fclose(f);
	}
	closedir(d);
	return n;
}

/* Those of worker_tids() not in old[0..n_old): this pool's, even if an
 * earlier failed test left a pool behind. */
static size_t new_worker_tids(int *tids, size_t cap, const int *old, size_t n_old)
{
	int all[64];
	size_t n = 0, n_all = worker_tids(all, 64);
	for (size_t i = 0; i < n_all && n < cap; i++) {
		bool seen = false;
		for (size_t k = 0; k < n_old; k++)
			seen |= all[i] == old[k];
		if (!seen)
			tids[n++] = all[i];
	}
	return n;
}

/* A line "Key:\t<value>" of /proc/self/task/<tid>/status. */
static void task_status(int tid, const char *key, char *out, size_t cap)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	snprintf(path, sizeof(path), "/proc/self/task/%d/status", tid);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	out[0] = 0;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			snprintf(out, cap, "%s", line + klen + 1 + strspn(line + klen + 1, " \t"));
			break;
		}
	fclose(f);
}

/* utime + stime of a thread, in clock ticks (fields 14 and 15 of stat). */
static unsigned long task_cpu_ticks(int tid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	char *s = strrchr(buf, ')'); /* comm may hold spaces */
	assert_non_null(s);
	unsigned long ut = 0, st = 0;
	/* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
	assert_int_equal(sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st), 2);
	return ut + st;
}

/* Signals must reach the loop thread, never a worker; workers run as
 * SCHED_BATCH; and an idle pool sleeps: its workers gain no CPU time
 * while no batch comes. */
static void workers_block_signals_and_sleep(void **state)
{
	static struct batch b;
	struct cryptpool *p;
	int tids[16];
	char val[64];

	int old[64];
	size_t n_old = worker_tids(old, 64);
	sigset_t mask_before, mask_after;
	assert_int_equal(pthread_sigmask(SIG_BLOCK, NULL, &mask_before), 0);
	assert_int_equal(cryptpool_new(&p, 4), 0);
	assert_int_equal(pthread_sigmask(SIG_BLOCK, NULL, &mask_after), 0);
	for (int sig = 1; sig < 32; sig++) /* the caller's own mask is left as it was */
		assert_int_equal(sigismember(&mask_before, sig), sigismember(&mask_after, sig));
	batch_fill(&b, 64, 1400);
	cryptpool_run(p, b.jobs, b.n);
	check_sealed(&b);
	batch_free(&b);
	assert_int_equal(new_worker_tids(tids, 16, old, n_old), 3);

	for (int i = 0; i < 3; i++) {
		task_status(tids[i], "SigBlk", val, sizeof(val));
		unsigned long long blk = strtoull(val, NULL, 16);
		for (int sig = 1; sig < 32; sig++) {
			if (sig == SIGKILL || sig == SIGSTOP)
				continue;
			if (!(blk & (1ULL << (sig - 1))))
				fail_msg("worker %d does not block signal %d (SigBlk %s)", tids[i], sig, val);
		}
	}

	struct timespec settle = { 0, 50 * 1000 * 1000 }, idle = { 0, 400 * 1000 * 1000 };
	nanosleep(&settle, NULL);
	unsigned long before[3];
	for (int i = 0; i < 3; i++)
		before[i] = task_cpu_ticks(tids[i]);
	nanosleep(&idle, NULL);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(sched_getscheduler(tids[i]), SCHED_BATCH); /* set when it started */
		task_status(tids[i], "State", val, sizeof(val));
		assert_int_equal(val[0], 'S');
		/* a spinning worker would gain ~40 ticks; allow one for the tick boundary */
		assert_true(task_cpu_ticks(tids[i]) - before[i] <= 1);
	}
	cryptpool_free(p);
	assert_int_equal(new_worker_tids(tids, 16, old, n_old), 0);
}

static void settle(void)
{
	struct timespec t = { 0, 50 * 1000 * 1000 }; /* workers spin for microseconds, then sleep */
	nanosleep(&t, NULL);
}

/* A single job or a few KiB never go to a worker; a medium batch does not
 * wake a sleeping one; a large batch does. */
static void small_batches_inline(void **state)
{
	static struct batch b;
	struct cryptpool *p;
	struct cryptpool_stats st;
	static const struct { size_t n, len; } inline_ones[] = {
		{ 1, 65535 }, { 100, 0 }, { 2, 1400 }, { 8, 1400 },
	};

	assert_int_equal(cryptpool_new(&p, 2), 0);
	for (size_t i = 0; i < sizeof(inline_ones) / sizeof(inline_ones[0]); i++) {
		settle();
		batch_fill(&b, inline_ones[i].n, inline_ones[i].len);
		cryptpool_run(p, b.jobs, b.n);
		check_sealed(&b);
		batch_free(&b);
	}
	cryptpool_stats(p, &st);
	assert_true(st.batches_inline == 4);
	assert_true(st.batches_parallel == 0);
	assert_true(st.jobs == 111);
	settle();
	batch_fill(&b, 2, 65535);
	cryptpool_run(p, b.jobs, b.n);
	check_sealed(&b);
	batch_free(&b);
	cryptpool_stats(p, &st);
	assert_true(st.batches_parallel == 1);
	cryptpool_free(p);
}

int main(void)
{
	assert_true(sodium_init() >= 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(matches_serial_1),
		cmocka_unit_test(matches_serial_2),
		cmocka_unit_test(matches_serial_4),
		cmocka_unit_test(tamper_fails_only_that_job),
		cmocka_unit_test(unknown_op_refused),
		cmocka_unit_test(back_to_back),
		cmocka_unit_test(new_free_repeatedly),
		cmocka_unit_test(auto_threads),
		cmocka_unit_test(workers_block_signals_and_sleep),
		cmocka_unit_test(small_batches_inline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
