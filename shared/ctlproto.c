/*
 * ctlproto.c - splitting control requests and replies (ctlproto.h,
 * docs/control.md). Both functions see bytes from the other end of a
 * socket, so they check every byte against the length they were given and
 * never read past it.
 *
 * ctlproto_parse_request() works in place: it writes NUL over the
 * separators and the trailing newline, so argv points into line. When the
 * line has no trailing newline, the terminator of the last argument goes
 * at line[len]: the caller passes a buffer with room for len + 1 bytes
 * (any C string with len = strlen satisfies this).
 */
#include "ctlproto.h"

#include <errno.h>
#include <string.h>

static bool is_printable(char c)
{
	return c >= 0x20 && c <= 0x7e;
}

int ctlproto_parse_request(char *line, size_t len, char *argv[CTLPROTO_MAX_ARGS])
{
	if (len > CTLPROTO_MAX_REQUEST)
		return -EINVAL;
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len == 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if (!is_printable(line[i]))
			return -EINVAL;
	int argc = 0;
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && line[i] != ' ')
			continue;
		/* Single spaces only: a leading, trailing or doubled space
		 * would make an empty argument, which no command takes. */
		if (i == start || argc == CTLPROTO_MAX_ARGS)
			return -EINVAL;
		argv[argc++] = line + start;
		start = i + 1;
	}
	for (size_t i = 0; i < len; i++)
		if (line[i] == ' ')
			line[i] = '\0';
	line[len] = '\0';
	return argc;
}

int ctlproto_parse_reply(const char *buf, size_t len, bool *ok, const char **body, size_t *body_len)
{
	const char *nl = memchr(buf, '\n', len);
	if (!nl)
		return -EBADMSG;
	size_t first = (size_t)(nl - buf);
	static const char OK[] = "ok";
	static const char ERR[] = "error ";

	if (first == sizeof(OK) - 1 && memcmp(buf, OK, first) == 0) {
		*ok = true;
		*body = nl + 1;
		*body_len = len - first - 1;
		return 0;
	}
	if (first > sizeof(ERR) - 1 && memcmp(buf, ERR, sizeof(ERR) - 1) == 0) {
		*ok = false;
		*body = buf + sizeof(ERR) - 1;
		*body_len = first - (sizeof(ERR) - 1);
		return 0;
	}
	return -EBADMSG;
}
