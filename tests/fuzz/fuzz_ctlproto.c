/*
 * fuzz_ctlproto.c - libFuzzer target for both control protocol parsers:
 * the same bytes as a request line (what tund reads from a client) and as
 * a reply (what tunctl reads from tund). Checks that every accepted
 * argument is non-empty printable ASCII without spaces inside the input,
 * and that a reply's body lies within the input.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctlproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_request(const uint8_t *data, size_t size)
{
	/* The parser may write the terminator at line[size]: give it room,
	 * and nothing more, so ASan sees any other overrun. */
	char *line = malloc(size + 1);
	char *argv[CTLPROTO_MAX_ARGS];
	if (!line)
		return;
	memcpy(line, data, size);
	int argc = ctlproto_parse_request(line, size, argv);
	if (argc == 0 || argc > CTLPROTO_MAX_ARGS)
		abort();
	for (int i = 0; i < argc; i++) {
		size_t n = strlen(argv[i]);
		if (n == 0 || argv[i] < line || argv[i] + n > line + size)
			abort();
		for (size_t k = 0; k < n; k++)
			if (argv[i][k] <= ' ' || argv[i][k] > '~')
				abort();
	}
	free(line);
}

static void check_reply(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	const char *body = NULL;
	size_t blen = 0;
	bool ok = false;
	if (ctlproto_parse_reply(buf, size, &ok, &body, &blen) != 0)
		return;
	if (body < buf || body > buf + size || blen > (size_t)(buf + size - body))
		abort();
	if (!ok && (blen == 0 || memchr(body, '\n', blen)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_request(data, size);
	check_reply(data, size);
	return 0;
}
