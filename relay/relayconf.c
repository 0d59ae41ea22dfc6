/*
 * relayconf.c - relay.conf into struct relayconf (format in relayconf.h).
 *
 * inih splits "key = value" lines; it reads through the shared line
 * reader (iniread.h says why inih needs one), and "[section]" headers are
 * parsed here, since inih says nothing about a section without keys.
 *
 * Invariants: only the first error is kept and reading stops there; each
 * value is checked as it is read (no rule spans two keys).
 */
#include "relayconf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <ini.h>

#include "iniread.h"

#define QUOTE_MAX 64                 /* bytes of a value shown in a message */
#define QUOTE_BUF (QUOTE_MAX * 4 + 8)

enum { K_PRIVATE_KEY_FILE, K_LISTEN, K_MEDIATOR, K_MAX_CONNECTIONS, K_SOURCE_RATE, K_LOG_LEVEL, K_N };
static const char *const key_names[K_N] = {
	"private_key_file", "listen", "mediator", "max_connections", "source_rate", "log_level",
};

static const char *const level_names[] = { "error", "warn", "info", "debug" };

struct pstate {
	struct relayconf *c;
	struct iniread src;
	int line;                /* the line the reader handed out last */
	int section_line;        /* of [relay], 0 = not seen */
	int key_line[K_N];       /* 0 = not set */
	char q[QUOTE_BUF];       /* the current value, quoted */
	int rc;                  /* first error, 0 = none */
	int err_line;
	char *err;
	size_t errlen;
};

/* Records the first error as "PATH:LINE: [relay] KEY: message"; line 0
 * drops ":LINE", key NULL drops the section and key. */
__attribute__((format(printf, 5, 6)))
static void fail(struct pstate *ps, int rc, int line, const char *key, const char *fmt, ...)
{
	char num[16] = "", k[QUOTE_BUF] = "", msg[RELAYCONF_ERR_MAX];
	va_list ap;

	if (ps->rc)
		return;
	ps->rc = rc;
	ps->err_line = line;
	if (!ps->err || ps->errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(num, sizeof(num), ":%d", line);
	if (key)
		iniread_escape(k, sizeof(k), key, QUOTE_MAX, false);
	snprintf(ps->err, ps->errlen, "%s%s: %s%s%s%s", ps->c->path, num, key ? "[relay] " : "", k,
		 key ? ": " : "", msg);
}

#define bad(ps, key, ...) fail((ps), -EINVAL, (ps)->line, (key), __VA_ARGS__)
#define bad_line(ps, ...) fail((ps), -EINVAL, (ps)->line, NULL, __VA_ARGS__)

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

static void set_mediator(struct pstate *ps, const char *name, const char *value)
{
	struct relayconf *c = ps->c;
	const char *colon = strrchr(value, ':');
	unsigned port;

	if (!colon || !host_ok(value, (size_t)(colon - value))) {
		bad(ps, name, "%s is not host:port (a host name or a.b.c.d, then the TCP port)", ps->q);
		return;
	}
	if (iniread_uint(colon + 1, UINT16_MAX, &port) < 0 || port == 0) {
		bad(ps, name, "%s: the port is not a number in 1..65535", ps->q);
		return;
	}
	memcpy(c->mediator_host, value, (size_t)(colon - value));
	c->mediator_host[colon - value] = '\0';
	c->mediator_port = (uint16_t)port;
}

static void set_uint(struct pstate *ps, const char *key, const char *value, unsigned min,
		     unsigned max, unsigned *out)
{
	unsigned v;
	int r = iniread_uint(value, max, &v);

	if (r == -EINVAL)
		bad(ps, key, "%s is not a number", ps->q);
	else if (r < 0 || v < min)
		bad(ps, key, "%s is out of range (%u..%u)", ps->q, min, max);
	else
		*out = v;
}

static void set_value(struct pstate *ps, int k, const char *value)
{
	struct relayconf *c = ps->c;
	const char *name = key_names[k];

	switch (k) {
	case K_PRIVATE_KEY_FILE:
		if (value[0] != '/')
			bad(ps, name, "%s is not an absolute path", ps->q);
		else if (strlen(value) >= sizeof(c->private_key_file))
			bad(ps, name, "%s is too long", ps->q);
		else
			memcpy(c->private_key_file, value, strlen(value) + 1);
		break;
	case K_LISTEN:
		if (endpoint_parse(&c->listen, value) < 0)
			bad(ps, name, "%s is not an IPv4 address and port (a.b.c.d:port, "
			    "0.0.0.0:port for every address)", ps->q);
		else if (c->listen.addr >> 28 >= 0xe)
			bad(ps, name, "%s is a multicast or reserved address", ps->q);
		break;
	case K_MEDIATOR:
		set_mediator(ps, name, value);
		break;
	case K_MAX_CONNECTIONS:
		set_uint(ps, name, value, 1, RELAYCONF_MAX_CONNECTIONS_MAX, &c->max_connections);
		break;
	case K_SOURCE_RATE:
		set_uint(ps, name, value, 0, RELAYCONF_SOURCE_RATE_MAX, &c->source_rate);
		break;
	case K_LOG_LEVEL:
		for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
			if (strcmp(value, level_names[i]) == 0) {
				c->log_level = (enum log_level)i;
				return;
			}
		}
		bad(ps, name, "%s is not a log level (error, warn, info, debug)", ps->q);
		break;
	}
}

/* inih calls this for each key = value; the section is tracked by the
 * reader (inih cuts long section names). */
static int handler_cb(void *user, const char *section, const char *name, const char *value)
{
	struct pstate *ps = user;
	int k = -1;

	(void)section;
	if (ps->rc)
		return 0;
	for (int i = 0; i < K_N; i++)
		if (strcmp(key_names[i], name) == 0)
			k = i;
	iniread_escape(ps->q, sizeof(ps->q), name, QUOTE_MAX, true);
	if (!*name)
		bad_line(ps, "syntax error: '=' without a key name");
	else if (!ps->section_line)
		bad_line(ps, "key %s outside a section (start with [relay])", ps->q);
	else if (k < 0)
		bad(ps, name, "unknown key");
	else if (ps->key_line[k])
		bad(ps, name, "duplicate key (first set at line %d)", ps->key_line[k]);
	else if (!*value)
		bad(ps, name, "empty value");
	if (ps->rc)
		return 0;
	ps->key_line[k] = ps->line;
	iniread_escape(ps->q, sizeof(ps->q), value, QUOTE_MAX, true);
	set_value(ps, k, value);
	return ps->rc == 0;
}

/* s: a whole trimmed line starting with '['. Only [relay], once. */
static void section_header(struct pstate *ps, const char *s)
{
	char hdr[QUOTE_BUF];

	if (strcmp(s, "[relay]") == 0) {
		if (ps->section_line)
			bad_line(ps, "duplicate section [relay] (first at line %d)", ps->section_line);
		else
			ps->section_line = ps->line;
		return;
	}
	iniread_escape(hdr, sizeof(hdr), s, QUOTE_MAX, true);
	bad_line(ps, "unknown section %s (the only section is [relay])", hdr);
}

/* inih's line source (iniread.h); NULL at the end or at the first error,
 * which stops inih. */
static char *read_line_cb(char *str, int num, void *stream)
{
	struct pstate *ps = stream;
	char why[96];
	int r = ps->rc ? 0 : iniread_line(&ps->src, str, num, why, sizeof(why));

	ps->line = ps->src.line;
	if (r == -EINVAL)
		bad_line(ps, "%s", why);
	else if (r == -EIO)
		fail(ps, -ps->src.err, 0, NULL, "read error: %s", strerror(ps->src.err));
	else if (r > 0 && str[0] == '[')
		section_header(ps, str);
	return r > 0 && !ps->rc ? str : NULL;
}

static void pstate_init(struct pstate *ps, struct relayconf *c, const char *name, char *err,
			size_t errlen)
{
	memset(ps, 0, sizeof(*ps));
	ps->c = c;
	ps->err = err;
	ps->errlen = errlen;
	if (err && errlen)
		err[0] = '\0';
	memset(c, 0, sizeof(*c));
	snprintf(c->path, sizeof(c->path), "%s", name);
	snprintf(c->private_key_file, sizeof(c->private_key_file), "%s", RELAYCONF_DEFAULT_KEY_FILE);
	c->listen.addr = 0;
	c->listen.port = 443;
	c->max_connections = RELAYCONF_DEFAULT_MAX_CONNECTIONS;
	c->source_rate = RELAYCONF_DEFAULT_SOURCE_RATE;
	c->log_level = LOG_LVL_INFO;
}

static int run(struct pstate *ps)
{
	int r = ini_parse_stream(read_line_cb, ps, handler_cb, ps);

	/* inih goes on after a syntax error, so ours may be from a later line. */
	if (r > 0 && (ps->rc == 0 || (ps->rc == -EINVAL && r < ps->err_line))) {
		ps->rc = 0;
		fail(ps, -EINVAL, r, NULL, "syntax error (expected \"key = value\", "
		     "a [section] header or a comment)");
	} else if (r < 0 && !ps->rc) {
		fail(ps, -ENOMEM, 0, NULL, "out of memory");
	}
	return ps->rc;
}

int relayconf_parse_string(struct relayconf *c, const char *name, const char *text, char *err,
			   size_t errlen)
{
	struct pstate ps;

	pstate_init(&ps, c, name, err, errlen);
	iniread_init_text(&ps.src, text);
	return run(&ps);
}

int relayconf_parse_file(struct relayconf *c, const char *path, char *err, size_t errlen)
{
	struct pstate ps;

	pstate_init(&ps, c, path, err, errlen);
	FILE *f = fopen(path, "re");
	if (!f) {
		int e = errno;
		fail(&ps, -e, 0, NULL, "cannot open: %s", strerror(e));
		return -e;
	}
	iniread_init_file(&ps.src, f);
	int rc = run(&ps);
	fclose(f);
	return rc;
}
