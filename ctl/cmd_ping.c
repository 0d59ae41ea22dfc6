/*
 * cmd_ping.c - `tunctl ping PEER [-c N] [--json]`: the round trip through
 * the tunnel to PEER over its current path, and which path that is.
 *
 * Each probe is one request "ping PEER": tund seals a PROBE under the
 * peer's session, sends it on the current path, and replies when the
 * answer comes back or after its timeout (status_ping in status.h). This
 * is the tunnel's own round trip, not ICMP through the TUN: it works
 * whatever the peer's firewall does with ping, and names the path. N
 * probes go out one second apart. Exit status 0 when any probe was
 * answered, 1 when none was; errors from tund (no session, unknown peer)
 * end the run with their own status.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "ctl_client.h"
#include "status.h"

#define PING_MAX_COUNT 1000
#define PING_INTERVAL_MS 1000

struct ping_opts {
	const char *peer;
	unsigned count;
	bool json;
};

static int parse_count(const char *s, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < 1 || v > PING_MAX_COUNT)
		return ctl_usage_error("ping", "-c needs a count from 1 to %d, not \"%s\"", PING_MAX_COUNT, s);
	*out = (unsigned)v;
	return 0;
}

static int parse_opts(int argc, char **argv, struct ping_opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int rc = 0;
		if (strcmp(a, "--json") == 0)
			o->json = true;
		else if (strcmp(a, "-c") == 0 || strcmp(a, "--count") == 0)
			rc = i + 1 < argc ? parse_count(argv[++i], &o->count)
					  : ctl_usage_error("ping", "%s needs a count", a);
		else if (strncmp(a, "-c", 2) == 0)
			rc = parse_count(a + 2, &o->count);
		else if (strncmp(a, "--count=", 8) == 0)
			rc = parse_count(a + 8, &o->count);
		else if (a[0] == '-')
			rc = ctl_usage_error("ping", "unknown option \"%s\"", a);
		else if (o->peer)
			rc = ctl_usage_error("ping", "one peer at a time (\"%s\" and \"%s\")", o->peer, a);
		else
			o->peer = a;
		if (rc)
			return rc;
	}
	if (!o->peer)
		return ctl_usage_error("ping", "which peer?");
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_until(uint64_t t)
{
	uint64_t now = now_ms();
	if (t <= now)
		return;
	struct timespec ts = { .tv_sec = (time_t)((t - now) / 1000), .tv_nsec = (long)((t - now) % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The path description as plain ASCII for the terminal. */
static void put_ascii(const char *s)
{
	for (; *s; s++)
		putchar(*s >= 0x20 && *s < 0x7f ? *s : '?');
}

static void print_probe_text(const char *peer, const struct status_ping *pg)
{
	if (pg->rtt_us >= 0)
		printf("pong from %s via ", peer);
	else
		printf("no answer from %s via ", peer);
	put_ascii(pg->via);
	if (pg->rtt_us >= 0)
		printf(": %" PRId64 ".%03" PRId64 " ms\n", pg->rtt_us / 1000, pg->rtt_us % 1000);
	else
		printf(" within %.1f s\n", (double)pg->timeout_ms / 1000);
}

static void print_ms(int64_t us)
{
	printf("%" PRId64 ".%03" PRId64, us / 1000, us % 1000);
}

static void print_summary_text(const char *peer, const struct status_ping *r, unsigned n)
{
	unsigned answered = 0;
	int64_t min = 0, max = 0, sum = 0;
	for (unsigned i = 0; i < n; i++) {
		if (r[i].rtt_us < 0)
			continue;
		if (!answered || r[i].rtt_us < min)
			min = r[i].rtt_us;
		if (!answered || r[i].rtt_us > max)
			max = r[i].rtt_us;
		sum += r[i].rtt_us;
		answered++;
	}
	printf("--- %s: %u probe%s, %u answered", peer, n, n == 1 ? "" : "s", answered);
	if (answered) {
		fputs(", rtt min/avg/max ", stdout);
		print_ms(min);
		putchar('/');
		print_ms(sum / answered);
		putchar('/');
		print_ms(max);
		fputs(" ms", stdout);
	}
	putchar('\n');
}

/* One object (docs/schema/ping.json). */
static void print_json(const char *peer, const struct status_ping *r, unsigned n)
{
	unsigned answered = 0;
	int64_t min = -1, max = -1, sum = 0;
	fputs("{\n  \"peer\": ", stdout);
	status_json_string(stdout, peer, strlen(peer));
	printf(",\n  \"count\": %u,\n  \"probes\": [", n);
	for (unsigned i = 0; i < n; i++) {
		printf("%s\n    { \"seq\": %u, \"path\": ", i ? "," : "", i + 1);
		status_json_string(stdout, r[i].path, sizeof(r[i].path));
		fputs(", \"via\": ", stdout);
		status_json_string(stdout, r[i].via, sizeof(r[i].via));
		if (r[i].rtt_us >= 0)
			printf(", \"rtt_us\": %" PRId64 " }", r[i].rtt_us);
		else
			fputs(", \"rtt_us\": null }", stdout);
		if (r[i].rtt_us < 0)
			continue;
		min = min < 0 || r[i].rtt_us < min ? r[i].rtt_us : min;
		max = r[i].rtt_us > max ? r[i].rtt_us : max;
		sum += r[i].rtt_us;
		answered++;
	}
	printf("%s],\n  \"answered\": %u,\n", n ? "\n  " : "", answered);
	if (answered)
		printf("  \"rtt_min_us\": %" PRId64 ",\n  \"rtt_avg_us\": %" PRId64 ",\n  \"rtt_max_us\": %" PRId64 "\n}\n",
		       min, sum / answered, max);
	else
		fputs("  \"rtt_min_us\": null,\n  \"rtt_avg_us\": null,\n  \"rtt_max_us\": null\n}\n", stdout);
}

/* One probe into *pg: a tunctl exit code. */
static int probe(const struct ctl_ctx *ctx, const char *peer, struct status_ping *pg)
{
	char *request[] = { "ping", (char *)peer };
	char *buf = NULL;
	const char *body = NULL;
	size_t len = 0;
	char err[256];
	int rc = ctl_client_call(ctx->socket_path, 2, request, &buf, &body, &len);
	if (rc != CTL_EXIT_OK)
		return rc;
	rc = status_ping_decode(pg, body, len, err, sizeof(err));
	free(buf);
	if (rc < 0) {
		fprintf(stderr, "tunctl ping: malformed reply from tund: %s\n", err);
		return CTL_EXIT_FAIL;
	}
	return CTL_EXIT_OK;
}

int cmd_ping(const struct ctl_ctx *ctx, int argc, char **argv)
{
	struct ping_opts o = { .count = 1 };
	int rc = parse_opts(argc, argv, &o);
	if (rc)
		return rc;
	struct status_ping *r = calloc(o.count, sizeof(*r));
	if (!r) {
		fputs("tunctl ping: out of memory\n", stderr);
		return CTL_EXIT_FAIL;
	}
	bool answered = false;
	unsigned n = 0;
	for (uint64_t next = now_ms(); n < o.count; n++) {
		sleep_until(next);
		next = now_ms() + PING_INTERVAL_MS;
		rc = probe(ctx, o.peer, &r[n]);
		if (rc != CTL_EXIT_OK)
			break;
		answered = answered || r[n].rtt_us >= 0;
		if (!o.json)
			print_probe_text(o.peer, &r[n]);
		fflush(stdout);
	}
	if (rc == CTL_EXIT_OK) {
		if (o.json)
			print_json(o.peer, r, n);
		else if (n > 1)
			print_summary_text(o.peer, r, n);
		rc = answered ? CTL_EXIT_OK : CTL_EXIT_FAIL;
	}
	free(r);
	return rc;
}
