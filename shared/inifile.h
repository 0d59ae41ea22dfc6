/*
 * inifile.h - a config file of one INI section ([mediator] in
 * mediator.conf, [relay] in relay.conf): the loop that drives inih over
 * the line reader (iniread.h), the [section] header, the key table with
 * its unknown, duplicate and empty keys, and the messages, each naming
 * the file, the line, the section and the key:
 *   /etc/tund/relay.conf:4: [relay] max_connections: "0" is out of range (1..1000000)
 * The caller's set_cb checks and stores each value, with the value
 * helpers below for the kinds of value both files have; rules that span
 * keys run after the parse, with key_line[] saying where each key was.
 *
 * Invariants: only the first error is kept and reading stops there; an
 * empty file has no section and no keys, and is not an error.
 */
#ifndef TUND_INIFILE_H
#define TUND_INIFILE_H

#include <errno.h>
#include <stddef.h>

#include "addr.h"
#include "iniread.h"
#include "log.h"

#define INIFILE_KEYS_MAX 16
#define INIFILE_QUOTE_MAX 64                 /* bytes of a value shown in a message */
#define INIFILE_QUOTE_BUF (INIFILE_QUOTE_MAX * 4 + 8)
#define INIFILE_MSG_MAX 512                  /* a message without file, line and key */

struct inifile;

struct inifile_spec {
	const char *section;             /* "relay" for [relay] */
	const char *const *keys;         /* n_keys names, at most INIFILE_KEYS_MAX */
	int n_keys;
	/* Checks and stores the non-empty value of keys[k] (f->q holds it
	 * quoted), reporting a bad one with inifile_bad(). */
	void (*set_cb)(struct inifile *f, int k, const char *value);
};

struct inifile {
	const struct inifile_spec *spec;
	void *user;                      /* for set_cb: the struct being filled */
	const char *path;                /* what messages call the file */
	char *err;                       /* the first error's message */
	size_t errlen;
	struct iniread src;
	int line;                        /* the line the reader handed out last */
	int section_line;                /* of the section header, 0 = not seen */
	int key_line[INIFILE_KEYS_MAX];  /* where each key was set, 0 = not set */
	char q[INIFILE_QUOTE_BUF];       /* the current value, quoted */
	int rc;                          /* first error, 0 = none */
	int err_line;
};

/* Empties err (errlen bytes; NULL for no message). path is kept, not copied. */
void inifile_init(struct inifile *f, const struct inifile_spec *spec, void *user, const char *path,
		  char *err, size_t errlen);
/* Reads text, or the file at path. 0, or the first error: -EINVAL (bad
 * content), -ENOMEM, or -errno when the file cannot be opened or read. */
int inifile_parse_string(struct inifile *f, const char *text);
int inifile_parse_file(struct inifile *f, const char *path);

/* Records the first error as "PATH:LINE: [SECTION] KEY: message"; line 0
 * drops ":LINE", key NULL drops the section and key. */
void inifile_fail(struct inifile *f, int rc, int line, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* A bad value of key at the current line. */
#define inifile_bad(f, key, ...) inifile_fail((f), -EINVAL, (f)->line, (key), __VA_ARGS__)

/* Value helpers for set_cb; *out is left alone when the value is bad. */
void inifile_uint(struct inifile *f, const char *key, const char *value, unsigned min,
		  unsigned max, unsigned *out);
/* An absolute path that fits dst. */
void inifile_path(struct inifile *f, const char *key, const char *value, char *dst, size_t dstlen);
/* a.b.c.d:port to listen on; 0.0.0.0 for every address. */
void inifile_listen(struct inifile *f, const char *key, const char *value, struct endpoint *out);
void inifile_log_level(struct inifile *f, const char *key, const char *value, enum log_level *out);

#endif
