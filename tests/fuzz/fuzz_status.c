/*
 * fuzz_status.c - libFuzzer target for status_decode() (the bytes tunctl
 * reads from tund) and the printers behind it. Beyond "no crash", it
 * checks two properties: whatever decodes re-encodes to text that decodes
 * again and re-encodes identically, and the JSON printer's output passes
 * a small RFC 8259 validator (structure, escapes, UTF-8).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct js {
	const unsigned char *p, *end;
};

static void ws(struct js *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\t' || *j->p == '\r'))
		j->p++;
}

static bool lit(struct js *j, const char *s)
{
	size_t n = strlen(s);
	if ((size_t)(j->end - j->p) < n || memcmp(j->p, s, n) != 0)
		return false;
	j->p += n;
	return true;
}

static bool string(struct js *j)
{
	if (!lit(j, "\""))
		return false;
	while (j->p < j->end && *j->p != '"') {
		unsigned char c = *j->p++;
		if (c < 0x20)
			return false;
		if (c == '\\') {
			if (j->p == j->end)
				return false;
			c = *j->p++;
			if (c == 'u') {
				for (int i = 0; i < 4; i++, j->p++)
					if (j->p == j->end || !strchr("0123456789abcdefABCDEF", *j->p) || !*j->p)
						return false;
			} else if (!strchr("\"\\/bfnrt", c) || c == 0) {
				return false;
			}
		} else if (c >= 0x80) {
			/* Only well-formed UTF-8 (RFC 3629): lead byte, then continuations. */
			int n = c >= 0xf0 && c <= 0xf4 ? 3 : c >= 0xe0 ? 2 : c >= 0xc2 && c <= 0xdf ? 1 : -1;
			if (n < 0 || c > 0xf4 || j->end - j->p < n)
				return false;
			for (int i = 0; i < n; i++)
				if ((j->p[i] & 0xc0) != 0x80)
					return false;
			j->p += n;
		}
	}
	return lit(j, "\"");
}

static bool value(struct js *j, int depth);

static bool members(struct js *j, int depth, bool object)
{
	ws(j);
	if (lit(j, object ? "}" : "]"))
		return true;
	for (;;) {
		ws(j);
		if (object) {
			if (!string(j))
				return false;
			ws(j);
			if (!lit(j, ":"))
				return false;
		}
		if (!value(j, depth + 1))
			return false;
		ws(j);
		if (lit(j, object ? "}" : "]"))
			return true;
		if (!lit(j, ","))
			return false;
	}
}

static bool value(struct js *j, int depth)
{
	ws(j);
	if (depth > 8 || j->p == j->end)
		return false;
	if (lit(j, "{"))
		return members(j, depth, true);
	if (lit(j, "["))
		return members(j, depth, false);
	if (*j->p == '"')
		return string(j);
	if (lit(j, "null") || lit(j, "true") || lit(j, "false"))
		return true;
	const unsigned char *start = j->p;
	if (*j->p == '-')
		j->p++;
	while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > start && j->p[-1] != '-';
}

static void check_json(const struct status *st)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return;
	status_print_json(f, st);
	status_print_text(f, st);   /* only for crashes; appended after */
	fclose(f);
	struct js j = { (const unsigned char *)buf, (const unsigned char *)buf + len };
	if (!value(&j, 0) || !lit(&j, "\n"))
		abort();
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct status st, again;
	char err[256] = "";
	if (status_decode(&st, (const char *)data, size, err, sizeof(err)) < 0) {
		if (strncmp(err, "line ", 5) != 0)
			abort();   /* every error names its line */
		return 0;
	}
	check_json(&st);
	char *e1 = NULL, *e2 = NULL;
	if (status_encode(&st, &e1) == 0) {
		if (status_decode(&again, e1, strlen(e1), err, sizeof(err)) != 0)
			abort();
		if (status_encode(&again, &e2) == 0 && strcmp(e1, e2) != 0)
			abort();
		free(e2);
		status_free(&again);
		free(e1);
	}
	status_free(&st);
	return 0;
}
