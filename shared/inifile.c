/*
 * inifile.c - see inifile.h. inih splits "key = value" lines; it reads
 * through the shared line reader (iniread.h says why inih needs one), and
 * "[section]" headers are parsed here, since inih says nothing about a
 * section without keys and cuts long section names.
 */
#include "inifile.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <ini.h>

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void inifile_init(struct inifile *f, const struct inifile_spec *spec, void *user, const char *path,
		  char *err, size_t errlen)
{
	memset(f, 0, sizeof(*f));
	f->spec = spec;
	f->user = user;
	f->path = path;
	f->err = err;
	f->errlen = errlen;
	if (err && errlen)
		err[0] = '\0';
}

void inifile_fail(struct inifile *f, int rc, int line, const char *key, const char *fmt, ...)
{
	char num[16] = "", sect[INIFILE_QUOTE_BUF] = "", k[INIFILE_QUOTE_BUF] = "";
	char msg[INIFILE_MSG_MAX];
	va_list ap;

	if (f->rc)
		return;
	f->rc = rc;
	f->err_line = line;
	if (!f->err || f->errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(num, sizeof(num), ":%d", line);
	if (key) {
		snprintf(sect, sizeof(sect), "[%s] ", f->spec->section);
		iniread_escape(k, sizeof(k), key, INIFILE_QUOTE_MAX, false);
	}
	snprintf(f->err, f->errlen, "%s%s: %s%s%s%s", f->path, num, sect, k, key ? ": " : "", msg);
}

#define bad_line(f, ...) inifile_fail((f), -EINVAL, (f)->line, NULL, __VA_ARGS__)

void inifile_uint(struct inifile *f, const char *key, const char *value, unsigned min,
		  unsigned max, unsigned *out)
{
	unsigned v;
	int r = iniread_uint(value, max, &v);

	if (r == -EINVAL)
		inifile_bad(f, key, "%s is not a number", f->q);
	else if (r < 0 || v < min)
		inifile_bad(f, key, "%s is out of range (%u..%u)", f->q, min, max);
	else
		*out = v;
}

void inifile_path(struct inifile *f, const char *key, const char *value, char *dst, size_t dstlen)
{
	size_t n = strlen(value);

	if (value[0] != '/')
		inifile_bad(f, key, "%s is not an absolute path", f->q);
	else if (n >= dstlen)
		inifile_bad(f, key, "%s is too long", f->q);
	else
		memcpy(dst, value, n + 1);
}

void inifile_listen(struct inifile *f, const char *key, const char *value, struct endpoint *out)
{
	struct endpoint ep;

	if (endpoint_parse(&ep, value) < 0)
		inifile_bad(f, key, "%s is not an IPv4 address and port (a.b.c.d:port, "
			    "0.0.0.0:port for every address)", f->q);
	else if (ep.addr >> 28 >= 0xe)
		inifile_bad(f, key, "%s is a multicast or reserved address", f->q);
	else
		*out = ep;
}

void inifile_log_level(struct inifile *f, const char *key, const char *value, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(value, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return;
		}
	}
	inifile_bad(f, key, "%s is not a log level (error, warn, info, debug)", f->q);
}

/* inih calls this for each key = value; the section is tracked by the
 * reader. */
static int handler_cb(void *user, const char *section, const char *name, const char *value)
{
	struct inifile *f = user;
	const struct inifile_spec *spec = f->spec;
	int k = -1;

	(void)section;
	if (f->rc)
		return 0;
	for (int i = 0; i < spec->n_keys && i < INIFILE_KEYS_MAX; i++)
		if (strcmp(spec->keys[i], name) == 0)
			k = i;
	iniread_escape(f->q, sizeof(f->q), name, INIFILE_QUOTE_MAX, true);
	if (!*name)
		bad_line(f, "syntax error: '=' without a key name");
	else if (!f->section_line)
		bad_line(f, "key %s outside a section (start with [%s])", f->q, spec->section);
	else if (k < 0)
		inifile_bad(f, name, "unknown key");
	else if (f->key_line[k])
		inifile_bad(f, name, "duplicate key (first set at line %d)", f->key_line[k]);
	else if (!*value)
		inifile_bad(f, name, "empty value");
	if (f->rc)
		return 0;
	f->key_line[k] = f->line;
	iniread_escape(f->q, sizeof(f->q), value, INIFILE_QUOTE_MAX, true);
	spec->set_cb(f, k, value);
	return f->rc == 0;
}

/* s: a whole trimmed line starting with '['. Only the one section, once. */
static void section_header(struct inifile *f, const char *s)
{
	const char *name = f->spec->section;
	size_t n = strlen(name);
	char hdr[INIFILE_QUOTE_BUF];

	if (strncmp(s + 1, name, n) == 0 && strcmp(s + 1 + n, "]") == 0) {
		if (f->section_line)
			bad_line(f, "duplicate section [%s] (first at line %d)", name, f->section_line);
		else
			f->section_line = f->line;
		return;
	}
	iniread_escape(hdr, sizeof(hdr), s, INIFILE_QUOTE_MAX, true);
	bad_line(f, "unknown section %s (the only section is [%s])", hdr, name);
}

/* inih's line source; NULL at the end or at the first error, which stops
 * inih. */
static char *read_line_cb(char *str, int num, void *stream)
{
	struct inifile *f = stream;
	char why[96];
	int r = f->rc ? 0 : iniread_line(&f->src, str, num, why, sizeof(why));

	f->line = f->src.line;
	if (r == -EINVAL)
		bad_line(f, "%s", why);
	else if (r == -EIO)
		inifile_fail(f, -f->src.err, 0, NULL, "read error: %s", strerror(f->src.err));
	else if (r > 0 && str[0] == '[')
		section_header(f, str);
	return r > 0 && !f->rc ? str : NULL;
}

static int run(struct inifile *f)
{
	int r = ini_parse_stream(read_line_cb, f, handler_cb, f);

	/* inih goes on after a syntax error, so ours may be from a later line. */
	if (r > 0 && (f->rc == 0 || (f->rc == -EINVAL && r < f->err_line))) {
		f->rc = 0;
		inifile_fail(f, -EINVAL, r, NULL, "syntax error (expected \"key = value\", "
			     "a [section] header or a comment)");
	} else if (r < 0 && !f->rc) {
		inifile_fail(f, -ENOMEM, 0, NULL, "out of memory");
	}
	return f->rc;
}

int inifile_parse_string(struct inifile *f, const char *text)
{
	iniread_init_text(&f->src, text);
	return run(f);
}

int inifile_parse_file(struct inifile *f, const char *path)
{
	FILE *fp = fopen(path, "re");

	if (!fp) {
		int e = errno;
		inifile_fail(f, -e, 0, NULL, "cannot open: %s", strerror(e));
		return -e;
	}
	iniread_init_file(&f->src, fp);
	int rc = run(f);
	fclose(fp);
	return rc;
}
