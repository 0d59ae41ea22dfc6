/*
 * iniread.h - the line source tund's config parsers hand to inih
 * (tund.conf in config.c; mediator.conf and relay.conf through inifile.c),
 * and the small value helpers they all need.
 *
 * Debian's inih gives its handler no line number, keeps 50 bytes of a
 * section name, reads an indented line as a continuation and splits lines
 * longer than its buffer silently. So the reader counts lines, strips
 * indentation, comments (';' or '#' at the start or after a blank) and
 * trailing blanks, drops a UTF-8 byte order mark, accepts CRLF, and
 * refuses control characters and over-long lines with a reason; the
 * caller turns the reason into its "PATH:LINE: ..." message.
 */
#ifndef TUND_INIREAD_H
#define TUND_INIREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct iniread {
	const char *text;        /* a NUL-terminated string... */
	size_t pos;
	FILE *f;                 /* ...or a file */
	int back[3];             /* pushed-back bytes, the next one last */
	int n_back;
	int err;                 /* errno of a failed read, 0 = none */
	int line;                /* the line handed out last */
	bool started;            /* the byte order mark check is done */
};

void iniread_init_text(struct iniread *r, const char *text);
void iniread_init_file(struct iniread *r, FILE *f);

/* Reads the next line into str (num bytes, as inih's reader callback
 * gets them), wiping str first since it may hold the previous line's
 * secret. 1 with a line, 0 at the end, -EIO on a read error (r->err says
 * which), -EINVAL for a bad line with why[] naming the problem. */
int iniread_line(struct iniread *r, char *str, int num, char *why, size_t whylen);

/* At most max bytes of s: printable ASCII as is, other bytes as \xNN, "..."
 * when cut; with_quotes also escapes '"' and '\' and wraps it in quotes.
 * outlen must be at least max * 4 + 8. */
void iniread_escape(char *out, size_t outlen, const char *s, size_t max, bool with_quotes);

/* Strict decimal: digits only, no sign or blanks. 0, -EINVAL (not a
 * number) or -ERANGE (above max). */
int iniread_uint(const char *s, unsigned max, unsigned *out);

#endif
