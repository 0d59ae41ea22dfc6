/*
 * medconf.c - mediator.conf into struct medconf (format in medconf.h).
 * The file is one INI section read by shared/inifile.c, which also words
 * the messages; this file holds the keys, their defaults and checks.
 *
 * Invariants: only the first error is kept and reading stops there; each
 * value is checked as it is read, and the rules spanning two keys (relay
 * and relay_key go together, alt_port differs from the listen port) run
 * at the end.
 */
#include "medconf.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "inifile.h"
#include "keys.h"

enum { K_PRIVATE_KEY_FILE, K_LISTEN, K_ALT_PORT, K_MAX_CONNECTIONS, K_LOG_LEVEL, K_RELAY, K_RELAY_KEY, K_N };
static const char *const key_names[K_N] = {
	"private_key_file", "listen", "alt_port", "max_connections", "log_level", "relay", "relay_key",
};
_Static_assert(K_N <= INIFILE_KEYS_MAX, "inifile keeps a line for every key");

static void set_cb(struct inifile *f, int k, const char *value)
{
	struct medconf *c = f->user;
	const char *name = key_names[k];
	unsigned v = 0;

	switch (k) {
	case K_PRIVATE_KEY_FILE:
		inifile_path(f, name, value, c->private_key_file, sizeof(c->private_key_file));
		break;
	case K_LISTEN:
		inifile_listen(f, name, value, &c->listen);
		break;
	case K_ALT_PORT:
		inifile_uint(f, name, value, 0, UINT16_MAX, &v);
		c->alt_port = (uint16_t)v;
		break;
	case K_MAX_CONNECTIONS:
		inifile_uint(f, name, value, 1, MEDCONF_MAX_CONNECTIONS_MAX, &c->max_connections);
		break;
	case K_RELAY:
		if (endpoint_parse(&c->relay, value) < 0 || c->relay.addr == 0 || c->relay.port == 0)
			inifile_bad(f, name, "%s is not the relay's IPv4 address and port (a.b.c.d:port)", f->q);
		else
			c->has_relay = true;
		break;
	case K_RELAY_KEY:
		if (key_from_base64(c->relay_key, value) < 0 || sodium_is_zero(c->relay_key, KEY_LEN))
			inifile_bad(f, name, "not a valid base64 public key (%d characters expected)", KEY_B64_LEN);
		else
			c->has_relay_key = true;
		break;
	case K_LOG_LEVEL:
		inifile_log_level(f, name, value, &c->log_level);
		break;
	}
}

static const struct inifile_spec spec = {
	.section = "mediator", .keys = key_names, .n_keys = K_N, .set_cb = set_cb,
};

static void init(struct inifile *f, struct medconf *c, const char *name, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->path, sizeof(c->path), "%s", name);
	snprintf(c->private_key_file, sizeof(c->private_key_file), "%s", MEDCONF_DEFAULT_KEY_FILE);
	c->listen.addr = 0;
	c->listen.port = 3478;
	c->alt_port = MEDCONF_DEFAULT_ALT_PORT;
	c->max_connections = MEDCONF_DEFAULT_MAX_CONNECTIONS;
	c->log_level = LOG_LVL_INFO;
	inifile_init(f, &spec, c, c->path, err, errlen);
}

/* The rules that span keys, once the file parsed. */
static int check(struct inifile *f, const struct medconf *c)
{
	if (!f->rc && c->has_relay != c->has_relay_key)
		inifile_fail(f, -EINVAL, f->key_line[c->has_relay ? K_RELAY : K_RELAY_KEY],
			     c->has_relay ? "relay_key" : "relay", "missing (relay and relay_key go together)");
	if (!f->rc && c->alt_port && c->alt_port == c->listen.port)
		inifile_fail(f, -EINVAL, f->key_line[K_ALT_PORT] ? f->key_line[K_ALT_PORT] :
			     f->key_line[K_LISTEN], "alt_port",
			     "%u is the listen port; it must differ (or be 0 for off)", c->alt_port);
	return f->rc;
}

int medconf_parse_string(struct medconf *c, const char *name, const char *text, char *err,
			 size_t errlen)
{
	struct inifile f;

	init(&f, c, name, err, errlen);
	inifile_parse_string(&f, text);
	return check(&f, c);
}

int medconf_parse_file(struct medconf *c, const char *path, char *err, size_t errlen)
{
	struct inifile f;

	init(&f, c, path, err, errlen);
	inifile_parse_file(&f, path);
	return check(&f, c);
}
