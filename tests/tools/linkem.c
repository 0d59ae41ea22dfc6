/*
 * linkem.c - the NAT lab's link emulator: forwards Ethernet frames between
 * two TAP devices, holding each frame for a per-direction delay and, if
 * asked, dropping or reordering a percentage of them.
 *
 * It exists because this kernel has no netem qdisc (see
 * kernel-notes/link-emulation.md); tests/e2e/linkem.sh wires it between two
 * bridges so that a lab link looks like a plain veth pair.
 *
 * It owns two TAP fds (created, or attached if the device already exists,
 * and brought up), a timerfd armed at the earliest release time, a signalfd
 * (SIGTERM and SIGINT end the run, SIGUSR1 prints the counters), and per
 * direction two FIFOs of frames.
 *
 * Invariants:
 *   - a direction's queued frames sit in "main" (released at arrival + delay)
 *     or "held" (arrival + delay + reorder extra). Arrival times only grow and
 *     each FIFO adds a constant, so each FIFO is sorted by release time and
 *     the next frame out is always one of the two heads;
 *   - main + held never exceeds queue_max frames per direction; a frame past
 *     that is read and counted as queue_full, so memory stays bounded by
 *     queue_max times the largest frame;
 *   - every frame read is counted exactly once as forwarded, lost,
 *     queue_full, write_errors or (still) queued, so the printed counters add
 *     up: read = forwarded + lost + queue_full + write_errors + queued
 *     (ring_dropped, read from sysfs, counts frames the kernel dropped before
 *     we could read them);
 *   - randomness comes only from a splitmix64 generator seeded by --seed, so
 *     the same frame sequence meets the same losses on every run.
 *
 * Only libc: the lab tools must not depend on the daemon's libraries.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* MTU up to 65535 (the TAP maximum) plus an Ethernet header and a VLAN tag,
 * with room to spare so a read can never be cut short. */
#define LINKEM_FRAME_MAX (65536 + 256)
#define LINKEM_QUEUE_DEFAULT 4096
#define LINKEM_QUEUE_LIMIT 1000000
#define LINKEM_DELAY_MAX_MS 60000.0
#define LINKEM_EXTRA_DEFAULT_MS 10.0
/* Frames read from one TAP per wake-up before releases get a turn. */
#define LINKEM_BURST 64
#define LINKEM_NONE UINT64_MAX
#define NS_PER_MS 1000000.0

enum { AB = 0, BA = 1 };

struct frame {
	uint64_t release_ns;	/* CLOCK_MONOTONIC time it may leave */
	uint32_t len;		/* bytes at data */
	unsigned char *data;	/* malloc'd; owned by whoever holds the frame */
};

/* A ring of cap frames, oldest at head. */
struct fifo {
	struct frame *slot;
	size_t cap, head, count;
};

struct counters {
	uint64_t read, forwarded, lost, reordered, queue_full, write_errors;
	uint64_t late_sum_ns, late_max_ns;	/* write time minus release time */
};

struct dir {
	const char *in_name, *out_name;
	int in_fd, out_fd;	/* borrowed from struct linkem */
	uint64_t delay_ns, extra_ns;
	uint64_t loss_thresh, reorder_thresh;	/* chance times 2^32 */
	struct fifo main, held;
	struct counters n;
	bool write_err_logged;	/* the first write error is logged, the rest counted */
};

struct opts {
	const char *if_a, *if_b;
	double delay_ms[2], loss_pct[2], reorder_pct[2], extra_ms;
	uint64_t seed;
	size_t queue_max;
};

struct linkem {
	struct dir dir[2];
	int fd_a, fd_b, timer_fd, sig_fd;
	uint64_t armed_ns;	/* what timer_fd is set to; LINKEM_NONE if disarmed */
	uint64_t rng;		/* splitmix64 state */
	size_t queue_max;
	unsigned char buf[LINKEM_FRAME_MAX];
};

/* ------------------------------------------------------------ helpers */

static int fail_errno(const char *what, const char *step)
{
	int e = errno;

	fprintf(stderr, "linkem: %s: %s: %s\n", what, step, strerror(e));
	return -e;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* splitmix64 (Steele, Lea, Flood 2014): tiny, and any seed is a good seed. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* True with probability thresh / 2^32; draws nothing when thresh is 0, so
 * an option left off does not shift the other direction's sequence. */
static bool chance(uint64_t *s, uint64_t thresh)
{
	return thresh != 0 && (rng_next(s) >> 32) < thresh;
}

static uint64_t pct_to_thresh(double pct)
{
	return (uint64_t)(pct / 100.0 * 4294967296.0 + 0.5);
}

/* ------------------------------------------------------------ fifo */

static int fifo_init(struct fifo *q, size_t cap)
{
	q->slot = calloc(cap, sizeof(*q->slot));
	q->cap = cap;
	q->head = 0;
	q->count = 0;
	return q->slot ? 0 : -ENOMEM;
}

static void fifo_push(struct fifo *q, const struct frame *f)
{
	q->slot[(q->head + q->count) % q->cap] = *f;
	q->count++;
}

static const struct frame *fifo_peek(const struct fifo *q)
{
	return q->count ? &q->slot[q->head] : NULL;
}

static struct frame fifo_pop(struct fifo *q)
{
	struct frame f = q->slot[q->head];

	q->head = (q->head + 1) % q->cap;
	q->count--;
	return f;
}

static void fifo_free(struct fifo *q)
{
	while (q->count) {
		struct frame f = fifo_pop(q);
		free(f.data);
	}
	free(q->slot);
	q->slot = NULL;
}

/* ------------------------------------------------------------ devices */

/* Creates (or attaches to) TAP ifname and brings it up. */
static int tap_open(const char *ifname, int *fd_out)
{
	struct ifreq ifr;
	int fd, sock, err = 0;

	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return fail_errno("/dev/net/tun", "open");
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, ifname, strlen(ifname));	/* length checked by the parser */
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		err = fail_errno(ifname, "TUNSETIFF");
		close(fd);
		return err;
	}
	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		err = fail_errno(ifname, "socket for SIOCSIFFLAGS");
	else if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0)
		err = fail_errno(ifname, "SIOCGIFFLAGS");
	else {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0)
			err = fail_errno(ifname, "SIOCSIFFLAGS (up)");
	}
	if (sock >= 0)
		close(sock);
	if (err < 0) {
		close(fd);
		return err;
	}
	*fd_out = fd;
	return 0;
}

/* SIGTERM/SIGINT/SIGUSR1 arrive through a signalfd, so the loop needs no
 * handler and no global flag. SIG_DFL first: a shell starts background
 * jobs with SIGINT ignored, and an ignored signal is discarded even while
 * blocked. */
static int signals_open(int *fd_out)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return fail_errno("signals", "sigprocmask");
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGUSR1, SIG_DFL);
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return fail_errno("signals", "signalfd");
	*fd_out = fd;
	return 0;
}

/* ------------------------------------------------------------ data path */

static void admit(struct linkem *lk, struct dir *d, size_t len, uint64_t now)
{
	struct frame f;
	bool late;

	d->n.read++;
	if (chance(&lk->rng, d->loss_thresh)) {
		d->n.lost++;
		return;
	}
	if (d->main.count + d->held.count >= lk->queue_max) {
		d->n.queue_full++;
		return;
	}
	late = chance(&lk->rng, d->reorder_thresh);
	f.data = malloc(len);
	if (!f.data) {
		d->n.queue_full++;	/* out of memory is a full queue too */
		return;
	}
	memcpy(f.data, lk->buf, len);
	f.len = (uint32_t)len;
	f.release_ns = now + d->delay_ns + (late ? d->extra_ns : 0);
	if (late) {
		d->n.reordered++;
		fifo_push(&d->held, &f);
	} else {
		fifo_push(&d->main, &f);
	}
}

/* Reads up to LINKEM_BURST frames from d's input TAP. */
static int pull(struct linkem *lk, struct dir *d)
{
	int i;

	for (i = 0; i < LINKEM_BURST; i++) {
		ssize_t r = read(d->in_fd, lk->buf, sizeof(lk->buf));
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return fail_errno(d->in_name, "read");
		}
		if (r == 0)
			return 0;
		admit(lk, d, (size_t)r, mono_ns());
	}
	return 0;
}

/* The FIFO whose head leaves first (main on a tie: it was queued first). */
static struct fifo *earliest(struct dir *d)
{
	const struct frame *m = fifo_peek(&d->main), *h = fifo_peek(&d->held);

	if (!h)
		return m ? &d->main : NULL;
	if (!m || h->release_ns < m->release_ns)
		return &d->held;
	return &d->main;
}

static void send_frame(struct dir *d, const struct frame *f)
{
	uint64_t late = 0, now = mono_ns();
	ssize_t w;

	if (now > f->release_ns)
		late = now - f->release_ns;
	w = write(d->out_fd, f->data, f->len);
	if (w == (ssize_t)f->len) {
		d->n.forwarded++;
		d->n.late_sum_ns += late;
		if (late > d->n.late_max_ns)
			d->n.late_max_ns = late;
		return;
	}
	d->n.write_errors++;
	if (!d->write_err_logged) {
		d->write_err_logged = true;
		fprintf(stderr, "linkem: %s: write: %s (further write errors are only counted)\n",
			d->out_name, w < 0 ? strerror(errno) : "short write");
	}
}

/* Sends every frame of d that is due; each pass removes one frame, so the
 * loop ends after at most queue_max passes. */
static void release(struct dir *d)
{
	struct fifo *q;
	uint64_t now = mono_ns();

	while ((q = earliest(d)) && fifo_peek(q)->release_ns <= now) {
		struct frame f = fifo_pop(q);
		send_frame(d, &f);
		free(f.data);
	}
}

static uint64_t next_release(struct linkem *lk)
{
	uint64_t next = LINKEM_NONE;
	int i;

	for (i = 0; i < 2; i++) {
		struct fifo *q = earliest(&lk->dir[i]);
		if (q && fifo_peek(q)->release_ns < next)
			next = fifo_peek(q)->release_ns;
	}
	return next;
}

/* Absolute CLOCK_MONOTONIC deadline: no drift from turning a deadline into
 * a relative timeout, and timerfd timers carry no slack. */
static int arm_timer(struct linkem *lk, uint64_t at)
{
	struct itimerspec its;

	if (at == lk->armed_ns)
		return 0;
	memset(&its, 0, sizeof(its));
	if (at != LINKEM_NONE) {
		its.it_value.tv_sec = (time_t)(at / 1000000000u);
		its.it_value.tv_nsec = (long)(at % 1000000000u);
	}
	if (timerfd_settime(lk->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		return fail_errno("timerfd", "timerfd_settime");
	lk->armed_ns = at;
	return 0;
}

/* Frames the kernel dropped at TAP ifname because we had not read them yet
 * (its tx ring was full). They never reach read(), so they are the link's
 * loss but not in our own counters. -1 if sysfs does not say. */
static long long tap_ring_drops(const char *ifname)
{
	char path[80];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/tx_dropped", ifname);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static void print_counters(const struct linkem *lk)
{
	int i;

	for (i = 0; i < 2; i++) {
		const struct dir *d = &lk->dir[i];
		double avg = d->n.forwarded ? (double)d->n.late_sum_ns / (double)d->n.forwarded / 1000.0 : 0.0;

		fprintf(stderr, "linkem: %s->%s read=%" PRIu64 " forwarded=%" PRIu64 " lost=%" PRIu64
			" reordered=%" PRIu64 " queue_full=%" PRIu64 " write_errors=%" PRIu64
			" queued=%zu late_avg_us=%.1f late_max_us=%.1f ring_dropped=%lld\n",
			d->in_name, d->out_name, d->n.read, d->n.forwarded, d->n.lost, d->n.reordered,
			d->n.queue_full, d->n.write_errors, d->main.count + d->held.count, avg,
			(double)d->n.late_max_ns / 1000.0, tap_ring_drops(d->in_name));
	}
}

/* 1: stop, 0: keep going (SIGUSR1 printed the counters), <0: error. */
static int take_signal(struct linkem *lk)
{
	struct signalfd_siginfo si;
	ssize_t r = read(lk->sig_fd, &si, sizeof(si));

	if (r < 0)
		return errno == EAGAIN ? 0 : fail_errno("signals", "read signalfd");
	if (r != (ssize_t)sizeof(si))
		return 0;
	if (si.ssi_signo == SIGUSR1) {
		print_counters(lk);
		return 0;
	}
	fprintf(stderr, "linkem: %s, stopping\n", strsignal((int)si.ssi_signo));
	return 1;
}

static int run(struct linkem *lk)
{
	struct pollfd pfd[4] = {
		{ .fd = lk->fd_a, .events = POLLIN },
		{ .fd = lk->fd_b, .events = POLLIN },
		{ .fd = lk->timer_fd, .events = POLLIN },
		{ .fd = lk->sig_fd, .events = POLLIN },
	};
	uint64_t ticks;
	int i, err;

	for (;;) {
		release(&lk->dir[AB]);
		release(&lk->dir[BA]);
		if ((err = arm_timer(lk, next_release(lk))) < 0)
			return err;
		if (poll(pfd, 4, -1) < 0) {
			if (errno == EINTR)
				continue;
			return fail_errno("poll", "poll");
		}
		if (pfd[3].revents & POLLIN) {
			if ((err = take_signal(lk)) != 0)
				return err < 0 ? err : 0;
		}
		if ((pfd[2].revents & POLLIN) && read(lk->timer_fd, &ticks, sizeof(ticks)) < 0 &&
		    errno != EAGAIN)
			return fail_errno("timerfd", "read");
		for (i = 0; i < 2; i++) {
			struct dir *d = &lk->dir[i];
			if (pfd[i].revents & (POLLERR | POLLHUP | POLLNVAL)) {
				fprintf(stderr, "linkem: %s: device error or gone (poll revents 0x%x)\n",
					d->in_name, (unsigned)pfd[i].revents);
				return -EIO;
			}
			if ((pfd[i].revents & POLLIN) && (err = pull(lk, d)) < 0)
				return err;
		}
	}
}

/* ------------------------------------------------------------ setup */

static void dir_init(struct dir *d, const struct opts *o, int i)
{
	d->delay_ns = (uint64_t)(o->delay_ms[i] * NS_PER_MS + 0.5);
	d->extra_ns = (uint64_t)(o->extra_ms * NS_PER_MS + 0.5);
	d->loss_thresh = pct_to_thresh(o->loss_pct[i]);
	d->reorder_thresh = pct_to_thresh(o->reorder_pct[i]);
}

static int setup(struct linkem *lk, const struct opts *o)
{
	int err;

	lk->rng = o->seed;
	lk->queue_max = o->queue_max;
	lk->armed_ns = LINKEM_NONE;
	if ((err = signals_open(&lk->sig_fd)) < 0)
		return err;
	lk->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (lk->timer_fd < 0)
		return fail_errno("timerfd", "timerfd_create");
	if ((err = tap_open(o->if_a, &lk->fd_a)) < 0 || (err = tap_open(o->if_b, &lk->fd_b)) < 0)
		return err;
	lk->dir[AB] = (struct dir){ .in_name = o->if_a, .out_name = o->if_b,
				    .in_fd = lk->fd_a, .out_fd = lk->fd_b };
	lk->dir[BA] = (struct dir){ .in_name = o->if_b, .out_name = o->if_a,
				    .in_fd = lk->fd_b, .out_fd = lk->fd_a };
	dir_init(&lk->dir[AB], o, AB);
	dir_init(&lk->dir[BA], o, BA);
	if (fifo_init(&lk->dir[AB].main, o->queue_max) < 0 || fifo_init(&lk->dir[AB].held, o->queue_max) < 0 ||
	    fifo_init(&lk->dir[BA].main, o->queue_max) < 0 || fifo_init(&lk->dir[BA].held, o->queue_max) < 0) {
		fprintf(stderr, "linkem: queues of %zu frames: %s\n", o->queue_max, strerror(ENOMEM));
		return -ENOMEM;
	}
	return 0;
}

static void teardown(struct linkem *lk)
{
	int i;

	for (i = 0; i < 2; i++) {
		fifo_free(&lk->dir[i].main);
		fifo_free(&lk->dir[i].held);
	}
	if (lk->fd_a >= 0)
		close(lk->fd_a);
	if (lk->fd_b >= 0)
		close(lk->fd_b);
	if (lk->timer_fd >= 0)
		close(lk->timer_fd);
	if (lk->sig_fd >= 0)
		close(lk->sig_fd);
}

/* ------------------------------------------------------------ options */

static void usage(FILE *to)
{
	fprintf(to,
		"usage: linkem --a IFNAME --b IFNAME [options]\n"
		"Forwards Ethernet frames between TAP devices a and b (created if missing).\n"
		"  --delay-ab MS, --delay-ba MS      one-way delay per direction (0..%.0f, fractional ok)\n"
		"  --loss-ab P, --loss-ba P          drop P percent of frames (0..100)\n"
		"  --reorder-ab P, --reorder-ba P    hold P percent of frames back by --reorder-extra\n"
		"  --reorder-extra MS                extra delay of held frames (default %.0f)\n"
		"  --seed N                          PRNG seed for loss and reordering (default 1)\n"
		"  --queue-max FRAMES                frames queued per direction (default %d)\n"
		"SIGTERM/SIGINT: print counters and exit; SIGUSR1: print counters.\n",
		LINKEM_DELAY_MAX_MS, LINKEM_EXTRA_DEFAULT_MS, LINKEM_QUEUE_DEFAULT);
}

static int parse_double(const char *opt, const char *s, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end != '\0' || !(v >= 0.0 && v <= max)) {
		fprintf(stderr, "linkem: %s: '%s' is not a number in 0..%g\n", opt, s, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end != '\0' || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "linkem: %s: '%s' is not an integer in %" PRIu64 "..%" PRIu64 "\n",
			opt, s, min, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int check_ifname(const char *opt, const char *name)
{
	size_t len;

	if (!name) {
		fprintf(stderr, "linkem: %s IFNAME is required\n", opt);
		return -EINVAL;
	}
	len = strlen(name);
	if (len == 0 || len >= IFNAMSIZ || strchr(name, '/') || strchr(name, '%')) {
		fprintf(stderr, "linkem: %s: '%s' is not an interface name (1..%d characters)\n",
			opt, name, IFNAMSIZ - 1);
		return -EINVAL;
	}
	return 0;
}

enum {
	OPT_A = 256, OPT_B, OPT_DELAY_AB, OPT_DELAY_BA, OPT_LOSS_AB, OPT_LOSS_BA,
	OPT_REORDER_AB, OPT_REORDER_BA, OPT_EXTRA, OPT_SEED, OPT_QUEUE, OPT_HELP,
};

static const struct option long_opts[] = {
	{ "a", required_argument, NULL, OPT_A },
	{ "b", required_argument, NULL, OPT_B },
	{ "delay-ab", required_argument, NULL, OPT_DELAY_AB },
	{ "delay-ba", required_argument, NULL, OPT_DELAY_BA },
	{ "loss-ab", required_argument, NULL, OPT_LOSS_AB },
	{ "loss-ba", required_argument, NULL, OPT_LOSS_BA },
	{ "reorder-ab", required_argument, NULL, OPT_REORDER_AB },
	{ "reorder-ba", required_argument, NULL, OPT_REORDER_BA },
	{ "reorder-extra", required_argument, NULL, OPT_EXTRA },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "queue-max", required_argument, NULL, OPT_QUEUE },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

/* 0: run, 1: --help was printed, <0: bad command line (already reported). */
static int parse_opts(int argc, char **argv, struct opts *o)
{
	uint64_t q = LINKEM_QUEUE_DEFAULT;
	int c, err = 0;

	*o = (struct opts){ .extra_ms = LINKEM_EXTRA_DEFAULT_MS, .seed = 1 };
	while (err == 0 && (c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		const char *name = long_opts[c >= OPT_A && c <= OPT_HELP ? c - OPT_A : 0].name;
		char opt[32];

		snprintf(opt, sizeof(opt), "--%s", name);
		switch (c) {
		case OPT_A: o->if_a = optarg; break;
		case OPT_B: o->if_b = optarg; break;
		case OPT_DELAY_AB: err = parse_double(opt, optarg, LINKEM_DELAY_MAX_MS, &o->delay_ms[AB]); break;
		case OPT_DELAY_BA: err = parse_double(opt, optarg, LINKEM_DELAY_MAX_MS, &o->delay_ms[BA]); break;
		case OPT_LOSS_AB: err = parse_double(opt, optarg, 100.0, &o->loss_pct[AB]); break;
		case OPT_LOSS_BA: err = parse_double(opt, optarg, 100.0, &o->loss_pct[BA]); break;
		case OPT_REORDER_AB: err = parse_double(opt, optarg, 100.0, &o->reorder_pct[AB]); break;
		case OPT_REORDER_BA: err = parse_double(opt, optarg, 100.0, &o->reorder_pct[BA]); break;
		case OPT_EXTRA: err = parse_double(opt, optarg, LINKEM_DELAY_MAX_MS, &o->extra_ms); break;
		case OPT_SEED: err = parse_u64(opt, optarg, 0, UINT64_MAX, &o->seed); break;
		case OPT_QUEUE: err = parse_u64(opt, optarg, 1, LINKEM_QUEUE_LIMIT, &q); break;
		case OPT_HELP: usage(stdout); return 1;
		default: usage(stderr); return -EINVAL;
		}
	}
	if (err == 0 && optind < argc) {
		fprintf(stderr, "linkem: unexpected argument '%s'\n", argv[optind]);
		err = -EINVAL;
	}
	if (err == 0 && ((err = check_ifname("--a", o->if_a)) < 0 || (err = check_ifname("--b", o->if_b)) < 0))
		return err;
	if (err == 0 && strcmp(o->if_a, o->if_b) == 0) {
		fprintf(stderr, "linkem: --a and --b are both '%s'; a link needs two devices\n", o->if_a);
		err = -EINVAL;
	}
	o->queue_max = (size_t)q;
	return err;
}

int main(int argc, char **argv)
{
	struct linkem *lk;
	struct opts o;
	int err;

	err = parse_opts(argc, argv, &o);
	if (err != 0)
		return err > 0 ? 0 : 2;
	lk = calloc(1, sizeof(*lk));
	if (!lk) {
		fprintf(stderr, "linkem: %s\n", strerror(ENOMEM));
		return 1;
	}
	lk->fd_a = lk->fd_b = lk->timer_fd = lk->sig_fd = -1;
	err = setup(lk, &o);
	if (err == 0) {
		fprintf(stderr, "linkem: ready: %s<->%s delay %.3f/%.3f ms loss %g/%g %% reorder %g/%g %%"
			" (+%.3f ms) queue %zu seed %" PRIu64 "\n",
			o.if_a, o.if_b, o.delay_ms[AB], o.delay_ms[BA], o.loss_pct[AB], o.loss_pct[BA],
			o.reorder_pct[AB], o.reorder_pct[BA], o.extra_ms, o.queue_max, o.seed);
		err = run(lk);
		print_counters(lk);
	}
	teardown(lk);
	free(lk);
	return err == 0 ? 0 : 1;
}
