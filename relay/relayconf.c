/*
 * relayconf.c - relay.conf into struct relayconf (format in relayconf.h).
 * The file is one INI section read by shared/inifile.c, which also words
 * the messages; this file holds the keys, their defaults and checks.
 *
 * Invariants: only the first error is kept and reading stops there; each
 * value is checked as it is read (no rule spans two keys).
 */
#include "relayconf.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "inifile.h"

enum { K_PRIVATE_KEY_FILE, K_LISTEN, K_MEDIATOR, K_MAX_CONNECTIONS, K_SOURCE_RATE, K_LOG_LEVEL, K_N };
static const char *const key_names[K_N] = {
	"private_key_file", "listen", "mediator", "max_connections", "source_rate", "log_level",
};
_Static_assert(K_N <= INIFILE_KEYS_MAX, "inifile keeps a line for every key");

/* A dotted quad or a DNS name: labels of [A-Za-z0-9-] (1..63, not
 * starting or ending with '-') joined by dots. */
static bool host_ok(const char *h, size_t len)
{
	size_t label = 0;

	if (len == 0 || len >= RELAYCONF_HOST_MAX)
		return false;
	for (size_t i = 0; i <= len; i++) {
		char ch = i < len ? h[i] : '.';
		if (ch == '.') {
			if (label == 0 || label > 63 || h[i - 1] == '-')
				return false;
			label = 0;
		} else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			   (ch >= '0' && ch <= '9') || (ch == '-' && label > 0)) {
			label++;
		} else {
			return false;
		}
	}
	return true;
}

static void set_mediator(struct inifile *f, const char *name, const char *value)
{
	struct relayconf *c = f->user;
	const char *colon = strrchr(value, ':');
	unsigned port;

	if (!colon || !host_ok(value, (size_t)(colon - value))) {
		inifile_bad(f, name, "%s is not host:port (a host name or a.b.c.d, then the TCP port)", f->q);
		return;
	}
	if (iniread_uint(colon + 1, UINT16_MAX, &port) < 0 || port == 0) {
		inifile_bad(f, name, "%s: the port is not a number in 1..65535", f->q);
		return;
	}
	memcpy(c->mediator_host, value, (size_t)(colon - value));
	c->mediator_host[colon - value] = '\0';
	c->mediator_port = (uint16_t)port;
}

static void set_cb(struct inifile *f, int k, const char *value)
{
	struct relayconf *c = f->user;
	const char *name = key_names[k];

	switch (k) {
	case K_PRIVATE_KEY_FILE:
		inifile_path(f, name, value, c->private_key_file, sizeof(c->private_key_file));
		break;
	case K_LISTEN:
		inifile_listen(f, name, value, &c->listen);
		break;
	case K_MEDIATOR:
		set_mediator(f, name, value);
		break;
	case K_MAX_CONNECTIONS:
		inifile_uint(f, name, value, 1, RELAYCONF_MAX_CONNECTIONS_MAX, &c->max_connections);
		break;
	case K_SOURCE_RATE:
		inifile_uint(f, name, value, 0, RELAYCONF_SOURCE_RATE_MAX, &c->source_rate);
		break;
	case K_LOG_LEVEL:
		inifile_log_level(f, name, value, &c->log_level);
		break;
	}
}

static const struct inifile_spec spec = {
	.section = "relay", .keys = key_names, .n_keys = K_N, .set_cb = set_cb,
};

static void init(struct inifile *f, struct relayconf *c, const char *name, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->path, sizeof(c->path), "%s", name);
	snprintf(c->private_key_file, sizeof(c->private_key_file), "%s", RELAYCONF_DEFAULT_KEY_FILE);
	c->listen.addr = 0;
	c->listen.port = 443;
	c->max_connections = RELAYCONF_DEFAULT_MAX_CONNECTIONS;
	c->source_rate = RELAYCONF_DEFAULT_SOURCE_RATE;
	c->log_level = LOG_LVL_INFO;
	inifile_init(f, &spec, c, c->path, err, errlen);
}

int relayconf_parse_string(struct relayconf *c, const char *name, const char *text, char *err,
			   size_t errlen)
{
	struct inifile f;

	init(&f, c, name, err, errlen);
	return inifile_parse_string(&f, text);
}

int relayconf_parse_file(struct relayconf *c, const char *path, char *err, size_t errlen)
{
	struct inifile f;

	init(&f, c, path, err, errlen);
	return inifile_parse_file(&f, path);
}
