/*
 * cmd_id.c - `tunctl id [--private] [KEY]`: the system id (keys.h) of a
 * key. Public and private keys look alike (32 random-looking bytes), so
 * the caller says which: public by default, --private for a private key,
 * whose public key is derived first. The key comes from stdin unless it
 * is given as an argument (a private key on the command line shows up in
 * ps and shell history; stdin is the way for those).
 */
#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"

/* Fills pub from the argument or stdin; prints the error itself. */
static int get_public(uint8_t pub[KEY_LEN], const char *arg, bool private_key)
{
	const char *kind = private_key ? "private" : "public";
	const char *from = arg ? "the argument" : "stdin";
	uint8_t key[KEY_LEN];
	int rc = arg ? key_from_base64(key, arg) : ctl_read_key_stdin(key);
	if (rc == 0 && private_key)
		rc = key_public(pub, key);
	else if (rc == 0)
		memcpy(pub, key, KEY_LEN);
	sodium_memzero(key, sizeof(key));
	if (rc == -EINVAL)
		fprintf(stderr, "tunctl id: %s is not a base64 %s key\n", from, kind);
	else if (rc < 0)
		fprintf(stderr, "tunctl id: reading stdin: %s\n", strerror(-rc));
	return rc;
}

int cmd_id(const struct ctl_ctx *ctx, int argc, char **argv)
{
	bool private_key = false;
	const char *arg = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--private") == 0)
			private_key = true;
		else if (argv[i][0] == '-' && argv[i][1] != '\0')
			return ctl_usage_error("id", "unknown option \"%s\"", argv[i]);
		else if (arg)
			return ctl_usage_error("id", "takes at most one KEY");
		else
			arg = argv[i];
	}
	if (arg && strcmp(arg, "-") == 0)
		arg = NULL;   /* "-" means stdin, as usual */

	uint8_t pub[KEY_LEN], id[UUID_LEN];
	char s[UUID_STR_LEN + 1];
	if (get_public(pub, arg, private_key) < 0)
		return CTL_EXIT_FAIL;
	key_system_id(id, pub);
	uuid_format(s, id);
	puts(s);
	return CTL_EXIT_OK;
}
