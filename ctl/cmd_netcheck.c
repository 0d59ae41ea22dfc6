/*
 * cmd_netcheck.c - `tunctl netcheck [--json]`: asks tund to probe the
 * network between it and its mediator (request "netcheck"; netcheck.h in
 * tund says what is measured) and prints the answer. The body is "key
 * value" lines; unknown keys are printed as they are, so a newer daemon's
 * findings still show.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "ctl_client.h"

#define NC_MAX_LINES 32

struct kv {
	char key[32];
	char value[96];
};

static size_t parse(const char *body, size_t len, struct kv *out, size_t max)
{
	size_t n = 0, pos = 0;
	while (pos < len && n < max) {
		const char *line = body + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - line) : len - pos;
		pos += l + 1;
		const char *sp = memchr(line, ' ', l);
		if (!sp || sp == line)
			continue;
		size_t kl = (size_t)(sp - line), vl = l - kl - 1;
		if (kl >= sizeof(out[n].key) || vl >= sizeof(out[n].value))
			continue;
		memcpy(out[n].key, line, kl);
		out[n].key[kl] = '\0';
		memcpy(out[n].value, sp + 1, vl);
		out[n].value[vl] = '\0';
		for (size_t i = 0; i < vl; i++)
			if ((unsigned char)out[n].value[i] < 0x20 || out[n].value[i] == '"' || out[n].value[i] == '\\')
				out[n].value[i] = '?';
		n++;
	}
	return n;
}

static const char *get(const struct kv *kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(kv[i].key, key) == 0)
			return kv[i].value;
	return NULL;
}

static bool is_number(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static void print_json(const struct kv *kv, size_t n)
{
	fputs("{\n", stdout);
	for (size_t i = 0; i < n; i++) {
		const char *v = kv[i].value;
		printf("  \"%s\": ", kv[i].key);
		if (is_number(v))
			fputs(v, stdout);
		else if (!strcmp(v, "yes") || !strcmp(v, "no"))
			fputs(!strcmp(v, "yes") ? "true" : "false", stdout);
		else if (!strcmp(v, "unknown"))
			fputs("null", stdout);
		else
			printf("\"%s\"", v);
		fputs(i + 1 < n ? ",\n" : "\n", stdout);
	}
	fputs("}\n", stdout);
}

static void print_text(const struct kv *kv, size_t n)
{
	const char *udp = get(kv, n, "udp"), *mapped = get(kv, n, "mapped");
	const char *varies = get(kv, n, "mapping_varies"), *other = get(kv, n, "other_port_reaches_us");
	const char *med = get(kv, n, "mediator"), *rtt = get(kv, n, "rtt_ms");
	printf("mediator:        %s\n", med ? med : "?");
	printf("UDP:             %s\n", udp && !strcmp(udp, "yes") ? "works" :
	       "no answer over UDP (blocked?) - only TCP paths (relay) will work");
	if (mapped)
		printf("public mapping:  %s (round trip %s ms)\n", mapped, rtt ? rtt : "?");
	if (varies && !strcmp(varies, "yes"))
		printf("NAT mapping:     changes with the destination (symmetric NAT): direct paths need an\n"
		       "                 open or cone NAT on the other side\n");
	else if (varies && !strcmp(varies, "no"))
		printf("NAT mapping:     the same for every destination (hole punching friendly)\n");
	else if (mapped)
		printf("NAT mapping:     unknown (the mediator's second port did not answer)\n");
	if (other && strcmp(other, "unknown") != 0)
		printf("filtering:       %s\n", !strcmp(other, "yes") ?
		       "packets from a new port of a known host get in" :
		       "only replies from exactly where we sent get in (port-restricted)");
	else if (other)
		printf("filtering:       unknown (an earlier check opened the NAT towards the second port)\n");
	for (size_t i = 0; i < n; i++) {
		static const char *const known[] = { "udp", "mapped", "mapping_varies", "mediator",
						     "rtt_ms", "other_port_reaches_us", "mapped_alt",
						     "local_port" };
		bool k = false;
		for (size_t j = 0; j < sizeof(known) / sizeof(known[0]); j++)
			k = k || !strcmp(kv[i].key, known[j]);
		if (!k)
			printf("%-16s %s\n", kv[i].key, kv[i].value);
	}
}

int cmd_netcheck(const struct ctl_ctx *ctx, int argc, char **argv)
{
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else
			return ctl_usage_error("netcheck", "unknown argument \"%s\"", argv[i]);
	}
	char *request[] = { "netcheck" };
	char *buf = NULL;
	const char *body = NULL;
	size_t len = 0;
	int rc = ctl_client_call(ctx->socket_path, 1, request, &buf, &body, &len);
	if (rc != CTL_EXIT_OK)
		return rc;
	struct kv kv[NC_MAX_LINES];
	size_t n = parse(body, len, kv, NC_MAX_LINES);
	free(buf);
	if (json)
		print_json(kv, n);
	else
		print_text(kv, n);
	return CTL_EXIT_OK;
}
