/*
 * cmd_genkey.c - `tunctl genkey`: a new private key, base64, on stdout.
 * The key is wiped from memory once printed; protecting the file it is
 * redirected into is the caller's job (docs/tunctl.md: umask 077).
 */
#include <sodium.h>
#include <stdio.h>

#include "cmd.h"

int cmd_genkey(const struct ctl_ctx *ctx, int argc, char **argv)
{
	if (argc > 1)
		return ctl_usage_error("genkey", "takes no arguments");
	uint8_t priv[KEY_LEN];
	char b64[KEY_B64_LEN + 1];
	key_generate(priv);
	key_to_base64(b64, priv);
	puts(b64);
	sodium_memzero(priv, sizeof(priv));
	sodium_memzero(b64, sizeof(b64));
	return CTL_EXIT_OK;
}
