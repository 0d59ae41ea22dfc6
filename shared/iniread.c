/*
 * iniread.c - see iniread.h. Reads byte by byte through a three-byte
 * push-back, enough to look for the byte order mark and put back what
 * was not one.
 */
#include "iniread.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

void iniread_init_text(struct iniread *r, const char *text)
{
	memset(r, 0, sizeof(*r));
	r->text = text;
}

void iniread_init_file(struct iniread *r, FILE *f)
{
	memset(r, 0, sizeof(*r));
	r->f = f;
}

static int get(struct iniread *r)
{
	if (r->n_back > 0)
		return r->back[--r->n_back];
	if (r->text)
		return r->text[r->pos] ? (unsigned char)r->text[r->pos++] : EOF;
	errno = 0;
	int ch = getc(r->f);
	if (ch == EOF && ferror(r->f) && !r->err)
		r->err = errno ? errno : EIO;
	return ch;
}

/* A UTF-8 byte order mark is dropped; anything else is pushed back. */
static void skip_bom(struct iniread *r)
{
	static const unsigned char bom[3] = { 0xef, 0xbb, 0xbf };
	int got[3];
	int n = 0;

	while (n < 3) {
		int ch = get(r);
		if (ch == EOF)
			break;
		got[n++] = ch;
		if (ch != bom[n - 1])
			break;
	}
	if (n == 3 && got[2] == bom[2])
		return;
	for (int i = n - 1; i >= 0; i--)
		r->back[r->n_back++] = got[i];
}

static bool is_blank(int ch)
{
	return ch == ' ' || ch == '\t';
}

int iniread_line(struct iniread *r, char *str, int num, char *why, size_t whylen)
{
	size_t cap = num > 1 ? (size_t)num - 1 : 0;   /* bytes that fit before the NUL */
	size_t len = 0, end = 0;                       /* end: after the last non-blank */
	bool after_blank = true, comment = false;
	int ch;

	if (num > 0)
		sodium_memzero(str, (size_t)num);
	if (!r->started) {
		r->started = true;
		skip_bom(r);
	}
	if ((ch = get(r)) == EOF)
		return r->err ? -EIO : 0;
	r->line++;
	for (; ch != EOF && ch != '\n'; ch = get(r)) {
		if (ch == '\r') {
			ch = get(r);
			if (ch == '\n' || ch == EOF)
				break;
			ch = '\r';
		}
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
			snprintf(why, whylen, "control character 0x%02x (not a text file?)", ch);
			return -EINVAL;
		}
		if (comment || (is_blank(ch) && len == 0))
			continue;
		if ((ch == ';' || ch == '#') && after_blank) {
			comment = true;
			continue;
		}
		after_blank = is_blank(ch);
		if (len < cap) {
			str[len++] = (char)ch;
			if (!after_blank)
				end = len;
		} else if (!after_blank) {
			snprintf(why, whylen, "line too long (more than %zu characters without comments)", cap);
			return -EINVAL;
		}
	}
	if (r->err)
		return -EIO;
	if (num > 0)
		str[end] = '\0';
	return 1;
}

void iniread_escape(char *out, size_t outlen, const char *s, size_t max, bool with_quotes)
{
	size_t o = 0, i;

	if (with_quotes)
		out[o++] = '"';
	for (i = 0; s[i] && i < max && o + 8 < outlen; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (with_quotes && (ch == '"' || ch == '\\'))
			o += (size_t)snprintf(out + o, outlen - o, "\\%c", ch);
		else if (ch >= 0x20 && ch < 0x7f)
			out[o++] = (char)ch;
		else
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", ch);
	}
	if (s[i] && o + 5 < outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	if (with_quotes)
		out[o++] = '"';
	out[o] = '\0';
}

int iniread_uint(const char *s, unsigned max, unsigned *out)
{
	unsigned long v = 0;
	bool big = false;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > max) {
			big = true;
			v = max;   /* keeps the loop from overflowing */
		}
	}
	if (big)
		return -ERANGE;
	*out = (unsigned)v;
	return 0;
}
