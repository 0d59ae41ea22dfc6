/*
 * cmd_pubkey.c - `tunctl pubkey`: reads a base64 private key on stdin and
 * prints its public key, as `wg pubkey` does. The private key is wiped on
 * every path out.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"

int cmd_pubkey(const struct ctl_ctx *ctx, int argc, char **argv)
{
	if (argc > 1)
		return ctl_usage_error("pubkey", "takes no arguments; the private key is read from stdin");
	uint8_t priv[KEY_LEN], pub[KEY_LEN];
	char b64[KEY_B64_LEN + 1];
	int rc = ctl_read_key_stdin(priv);
	if (rc == 0)
		rc = key_public(pub, priv);
	sodium_memzero(priv, sizeof(priv));
	if (rc == -EINVAL) {
		fputs("tunctl pubkey: stdin is not a base64 private key\n", stderr);
		return CTL_EXIT_FAIL;
	}
	if (rc < 0) {
		fprintf(stderr, "tunctl pubkey: reading stdin: %s\n", strerror(-rc));
		return CTL_EXIT_FAIL;
	}
	key_to_base64(b64, pub);
	puts(b64);
	return CTL_EXIT_OK;
}
