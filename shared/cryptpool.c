/*
 * cryptpool.c - see cryptpool.h. A fork/join pool: the event loop thread
 * publishes a batch, takes jobs from it itself, and returns once every job
 * is finished; workers that are awake take jobs from the same batch.
 *
 * Hand-off. One 64-bit word, claim = gen:40 | n:12 | next:12, describes
 * the live batch (at most CHUNK_MAX jobs; longer batches go in chunks).
 * Every thread, caller included, takes job `next` by a compare-and-swap
 * to next + 1, so jobs of different sizes balance themselves and no job
 * is taken twice. A successful CAS proves the batch is still live (its job
 * `next` is not done, so the caller has not returned), which is what makes
 * reading p->jobs afterwards safe; gen makes a stale word from an earlier
 * batch fail the CAS even when n and next happen to repeat (unless a
 * thread stalled between its load and its CAS for 2^40 chunks: days of
 * back-to-back batches). `done` counts
 * finished jobs of the chunk; the caller returns when it reaches n, and
 * no worker touches the jobs after its increment.
 *
 * Sleeping. Workers wait for `wake` (a counter bumped once per parallel
 * batch) to change: first by spinning for WORKER_SPIN_NS, then in
 * futex_wait, so an idle tunnel costs no CPU. A futex rather than a
 * condition variable, because the caller can then skip both the mutex and
 * the wake-up system call when no worker sleeps (the sleepers count,
 * checked Dekker-style with seq_cst on both sides), and because the futex
 * word is the same atomic counter the spinners watch. The caller never
 * waits for a worker to wake up: a worker that arrives late finds the
 * batch taken and goes back to sleep. The caller only waits for jobs
 * workers already took, spinning briefly, then on the `done` futex.
 * Waking a sleeper is the expensive part of a hand-off, so a medium
 * batch pays for it only when batches come back to back (the worker will
 * then stay warm for the ones after it); otherwise it is shared only with
 * workers still spinning, and only a large batch always wakes them
 * (how_to_run). When traffic is sparse nobody is woken for work the
 * caller finishes sooner alone.
 *
 * Workers block every signal, so signals reach the loop thread (libuv's
 * uv_signal_t), run as SCHED_BATCH (be_batch_thread), and hold no key
 * material of their own: keys live in the caller's jobs, and libsodium
 * wipes its internal cipher state.
 */
#include "cryptpool.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "aead.h"
#include "wire.h"

/* When a batch is worth spreading, measured on this project's 2-vCPU test
 * VM with 1412-byte jobs (ChaCha20-Poly1305 at ~0.5 GB/s, 2.5 us a job):
 * a worker that is still spinning joins within a fraction of a
 * microsecond, and three jobs already finish sooner with its help; waking
 * a sleeping one costs the caller ~10 us in FUTEX_WAKE (an IPI to an idle
 * vCPU) and the worker as long again to arrive, so below ~45 KB the batch
 * is done sooner inline. Hence two thresholds, on the batch's payload. */
#define SPREAD_BYTES_AWAKE (4 * 1024)
#define SPREAD_BYTES_ASLEEP (48 * 1024)
/* How long an idle worker spins before it sleeps: long enough to catch
 * the next batch of a busy loop without a system call, short enough to
 * cost nothing measurable on an idle box. */
#define WORKER_SPIN_NS 20000
/* How long the caller spins for jobs workers took before it sleeps: a
 * few MTU-sized jobs; a 64 KiB job (~65 us) or a preempted worker is
 * waited for in futex_wait instead, leaving the CPU to others. */
#define CALLER_SPIN_NS 10000

#define NEXT_BITS 12
#define CHUNK_MAX ((1u << NEXT_BITS) - 1)
#define GEN_SHIFT (2 * NEXT_BITS)
#define GEN_MASK ((1ULL << (64 - GEN_SHIFT)) - 1)

#define CACHELINE 64

struct cryptpool {
	/* Written by the caller per chunk, then by every thread's CAS. */
	_Alignas(CACHELINE) _Atomic uint64_t claim; /* gen:40 | n:12 | next:12 */
	_Atomic(struct crypt_job *) jobs;          /* the chunk claim describes */
	/* Written once per finished job. */
	_Alignas(CACHELINE) _Atomic uint32_t done;  /* jobs of the chunk finished; futex */
	_Atomic uint32_t caller_sleeping;           /* the caller is in futex_wait on done */
	/* Read by spinning workers; written once per parallel batch. */
	_Alignas(CACHELINE) _Atomic uint32_t wake;  /* bumped per parallel batch; futex */
	_Atomic uint32_t sleepers;                  /* workers in (or entering) futex_wait */
	_Atomic bool stop;
	/* The caller's alone. */
	_Alignas(CACHELINE) unsigned threads;       /* including the caller */
	unsigned nworkers;                          /* started */
	uint64_t gen;
	uint64_t last_end_ns;                       /* CLOCK_MONOTONIC when the last run returned */
	struct cryptpool_stats stats;
	pthread_t worker[CRYPTPOOL_MAX_THREADS - 1];
};

_Static_assert(CRYPTPOOL_MAX_THREADS >= 1, "the caller is one of the threads");

static void futex_wait(_Atomic uint32_t *word, uint32_t expected)
{
	/* EINTR and EAGAIN are fine: every caller re-checks in a loop. */
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word, int count)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, count, NULL, NULL, 0);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield" ::: "memory");
#endif
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Spins until (*word == value) == until_equal, or spin_ns passed; true
 * if the condition was met. The clock is read only every 64 rounds, as a
 * clock read costs about as much as a pause. */
static bool spin_until(_Atomic uint32_t *word, uint32_t value, bool until_equal, uint64_t spin_ns)
{
	uint64_t start = now_ns();
	for (unsigned i = 1;; i++) {
		if ((atomic_load_explicit(word, memory_order_acquire) == value) == until_equal)
			return true;
		cpu_relax();
		if (i % 64 == 0 && now_ns() - start > spin_ns)
			return false;
	}
}

void cryptpool_do(struct crypt_job *job)
{
	uint8_t *ad = job->frame, *body = job->frame + WIRE_DATA_HDR_LEN;

	switch (job->op) {
	case CRYPT_SEAL:
		job->result = aead_seal(job->key, job->counter, ad, WIRE_DATA_HDR_LEN, body, job->len);
		break;
	case CRYPT_OPEN:
		job->result = aead_open(job->key, job->counter, ad, WIRE_DATA_HDR_LEN, body, job->len);
		break;
	default:
		job->result = -EINVAL;
		break;
	}
}

/* Takes and does jobs until the live chunk has none left. Used by the
 * caller and the workers alike. */
static void take_jobs(struct cryptpool *p)
{
	uint64_t w = atomic_load_explicit(&p->claim, memory_order_acquire);

	for (;;) {
		uint32_t n = (uint32_t)(w >> NEXT_BITS) & CHUNK_MAX;
		uint32_t next = (uint32_t)w & CHUNK_MAX;
		if (next >= n)
			return;
		if (!atomic_compare_exchange_weak_explicit(&p->claim, &w, w + 1, memory_order_acq_rel,
							   memory_order_acquire))
			continue; /* w now holds the current word */
		struct crypt_job *jobs = atomic_load_explicit(&p->jobs, memory_order_relaxed);
		cryptpool_do(&jobs[next]);
		/* Release the job's bytes to the caller; after this the chunk
		 * may be over and jobs must not be touched again. */
		uint32_t finished = atomic_fetch_add_explicit(&p->done, 1, memory_order_seq_cst) + 1;
		if (finished == n && atomic_load_explicit(&p->caller_sleeping, memory_order_seq_cst))
			futex_wake(&p->done, 1);
		w = atomic_load_explicit(&p->claim, memory_order_acquire);
	}
}

/* Returns the new value of wake once it differs from seen. */
static uint32_t wait_for_batch(struct cryptpool *p, uint32_t seen)
{
	uint32_t v;

	if (spin_until(&p->wake, seen, false, WORKER_SPIN_NS))
		return atomic_load_explicit(&p->wake, memory_order_acquire);
	/* Announce the sleep before the last look, so a caller that bumps
	 * wake after that look is sure to see sleepers > 0 and wake us. */
	atomic_fetch_add_explicit(&p->sleepers, 1, memory_order_seq_cst);
	while ((v = atomic_load_explicit(&p->wake, memory_order_seq_cst)) == seen)
		futex_wait(&p->wake, seen);
	atomic_fetch_sub_explicit(&p->sleepers, 1, memory_order_relaxed);
	return v;
}

/* SCHED_BATCH: a woken worker does not preempt the task running on its
 * CPU. On a box whose other cores are busy the scheduler often wakes the
 * worker onto the caller's own CPU, and a normal worker would then
 * preempt the caller inside FUTEX_WAKE (measured: ~60 us per batch, the
 * pair running in series and slower than the caller alone); it also keeps
 * the workers from pushing aside the box's other work. An idle CPU runs
 * the worker at once either way. Best effort: a refusal (a seccomp
 * filter, say) leaves a normal thread, which is only slower. */
static void be_batch_thread(void)
{
	struct sched_param sp = { .sched_priority = 0 };
	pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
}

static void *worker_main(void *arg)
{
	struct cryptpool *p = arg;
	uint32_t seen = 0; /* wake's initial value */

	be_batch_thread();

	for (;;) {
		seen = wait_for_batch(p, seen);
		if (atomic_load_explicit(&p->stop, memory_order_acquire))
			return NULL;
		take_jobs(p);
	}
}

/* Waits for the jobs workers took to finish: done reaches n. */
static void wait_done(struct cryptpool *p, uint32_t n)
{
	uint32_t d;

	if (spin_until(&p->done, n, true, CALLER_SPIN_NS))
		return;
	atomic_store_explicit(&p->caller_sleeping, 1, memory_order_seq_cst);
	while ((d = atomic_load_explicit(&p->done, memory_order_seq_cst)) != n)
		futex_wait(&p->done, d);
	atomic_store_explicit(&p->caller_sleeping, 0, memory_order_relaxed);
}

enum spread { SPREAD_NONE, SPREAD_AWAKE, SPREAD_WAKE };

/* Publishes one chunk (n <= CHUNK_MAX), helps, and waits for it. */
static void run_chunk(struct cryptpool *p, struct crypt_job *jobs, uint32_t n, enum spread how)
{
	atomic_store_explicit(&p->done, 0, memory_order_relaxed);
	atomic_store_explicit(&p->jobs, jobs, memory_order_relaxed);
	p->gen = (p->gen + 1) & GEN_MASK;
	/* release: the jobs, the pointer and done = 0 before the word that
	 * lets anyone take a job */
	atomic_store_explicit(&p->claim, p->gen << GEN_SHIFT | (uint64_t)n << NEXT_BITS,
			      memory_order_release);

	/* Spinning workers see the bump; sleeping ones need the system call,
	 * and no more of them than there are jobs beyond the caller's first. */
	atomic_fetch_add_explicit(&p->wake, 1, memory_order_seq_cst);
	uint32_t sleeping = atomic_load_explicit(&p->sleepers, memory_order_seq_cst);
	if (how == SPREAD_WAKE && sleeping) {
		uint32_t want = n - 1 < p->nworkers ? n - 1 : p->nworkers;
		futex_wake(&p->wake, (int)(sleeping < want ? sleeping : want));
	}

	take_jobs(p);
	wait_done(p, n);
}

/* Is the batch worth spreading, and worth waking anyone for? One job
 * cannot be split; small batches finish inline before help would arrive.
 * The sleepers count is only a hint here: a worker it misses costs a
 * little speed, never correctness. */
static enum spread how_to_run(const struct cryptpool *p, const struct crypt_job *jobs, size_t n)
{
	size_t bytes = 0;

	if (p->nworkers == 0 || n < 2)
		return SPREAD_NONE;
	for (size_t i = 0; i < n && bytes < SPREAD_BYTES_ASLEEP; i++)
		bytes += jobs[i].len;
	if (bytes >= SPREAD_BYTES_ASLEEP)
		return SPREAD_WAKE;
	if (bytes < SPREAD_BYTES_AWAKE)
		return SPREAD_NONE;
	if (atomic_load_explicit(&p->sleepers, memory_order_relaxed) < p->nworkers)
		return SPREAD_AWAKE;
	/* All asleep, but batches are coming back to back: a worker woken now
	 * will still be spinning when the next one comes, so the wake-up is
	 * paid once for a run of batches, not once per batch. */
	return now_ns() - p->last_end_ns < WORKER_SPIN_NS ? SPREAD_WAKE : SPREAD_NONE;
}

void cryptpool_run(struct cryptpool *p, struct crypt_job *jobs, size_t n)
{
	if (n == 0)
		return;
	p->stats.jobs += n;
	enum spread how = how_to_run(p, jobs, n);
	if (how == SPREAD_NONE) {
		p->stats.batches_inline++;
		for (size_t i = 0; i < n; i++)
			cryptpool_do(&jobs[i]);
	} else {
		p->stats.batches_parallel++;
		for (size_t off = 0; off < n; off += CHUNK_MAX)
			run_chunk(p, jobs + off, (uint32_t)(n - off < CHUNK_MAX ? n - off : CHUNK_MAX), how);
	}
	if (p->nworkers) /* only how_to_run's spinning-worker test reads it */
		p->last_end_ns = now_ns();
}

/* Stops and joins the first p->nworkers workers. */
static void stop_workers(struct cryptpool *p)
{
	atomic_store_explicit(&p->stop, true, memory_order_release);
	atomic_fetch_add_explicit(&p->wake, 1, memory_order_seq_cst);
	futex_wake(&p->wake, INT_MAX);
	for (unsigned i = 0; i < p->nworkers; i++)
		pthread_join(p->worker[i], NULL);
	p->nworkers = 0;
}

static int auto_threads(unsigned *out)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return -errno;
	int cpus = CPU_COUNT(&set);
	*out = cpus < 1 ? 1 : cpus > CRYPTPOOL_MAX_THREADS ? CRYPTPOOL_MAX_THREADS : (unsigned)cpus;
	return 0;
}

/* Workers start with every signal blocked (the mask is inherited from the
 * creating thread, so there is no window where one could be delivered). */
static int start_workers(struct cryptpool *p)
{
	sigset_t all, old;
	int rc = 0;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	while (p->nworkers < p->threads - 1) {
		rc = -pthread_create(&p->worker[p->nworkers], NULL, worker_main, p);
		if (rc)
			break;
		pthread_setname_np(p->worker[p->nworkers], "tund-crypt");
		p->nworkers++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

int cryptpool_new(struct cryptpool **out, unsigned threads)
{
	struct cryptpool *p;
	int rc;

	*out = NULL;
	if (threads > CRYPTPOOL_MAX_THREADS)
		return -EINVAL;
	if (threads == 0 && (rc = auto_threads(&threads)) < 0)
		return rc;
	p = aligned_alloc(CACHELINE, sizeof(*p));
	if (!p)
		return -ENOMEM;
	memset(p, 0, sizeof(*p));
	atomic_init(&p->claim, 0);
	atomic_init(&p->jobs, NULL);
	atomic_init(&p->done, 0);
	atomic_init(&p->caller_sleeping, 0);
	atomic_init(&p->wake, 0);
	atomic_init(&p->sleepers, 0);
	atomic_init(&p->stop, false);
	p->threads = threads;
	if ((rc = start_workers(p)) < 0) {
		stop_workers(p);
		free(p);
		return rc;
	}
	*out = p;
	return 0;
}

unsigned cryptpool_threads(const struct cryptpool *p)
{
	return p->threads;
}

void cryptpool_stats(const struct cryptpool *p, struct cryptpool_stats *out)
{
	*out = p->stats;
}

void cryptpool_free(struct cryptpool *p)
{
	if (!p)
		return;
	stop_workers(p);
	free(p);
}
