/*
 * fuzz_config.c - libFuzzer target for the tund.conf parser: arbitrary
 * bytes, NUL-terminated in a copy, through cfg_parse_string(), then
 * cfg_free(). Besides the sanitizers it checks the parser's promises: a
 * result of 0 or -EINVAL, an error message naming the input, a freed
 * struct on error and well-formed peers on success.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(struct cfg *c, int rc, const char *err)
{
	if (rc != 0) {
		if (rc != -EINVAL || strncmp(err, "fuzz", 4) != 0 || c->peers || c->n_peers)
			abort();
		return;
	}
	if (err[0] || c->mtu < 576 || c->prefix_len < 8 || c->prefix_len > 32)
		abort();
	for (size_t i = 0; i < c->n_peers; i++) {
		const struct cfg_peer *p = &c->peers[i];
		size_t n = strnlen(p->name, CFG_NAME_MAX);
		if (n == 0 || n == CFG_NAME_MAX || p->line <= 0 || p->address == c->address)
			abort();
		if (p->role == CFG_ROLE_PEER && !p->has_endpoint)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	char err[CFG_ERR_MAX];
	struct cfg c;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	int rc = cfg_parse_string(&c, "fuzz", text, err, sizeof(err));
	check(&c, rc, err);
	cfg_free(&c);
	free(text);
	return 0;
}
