/*
 * httpmsg.h - the small part of HTTP/1.1 (RFC 9112) that tund's tunnels
 * speak: parsing one request or response head (start line and header
 * fields up to the empty line) from untrusted bytes, and the chunked
 * transfer coding of a streamed body. Used by tund (through HTTP proxies
 * and to the relay), by tund-relay (its HTTP front) and by the fuzz target.
 *
 * The parser is strict and bounded: a head longer than HTTP_HEAD_MAX, more
 * than HTTP_MAX_FIELDS fields, bare CR or bare LF, obs-fold (a line starting with
 * space or tab), a field name with characters outside RFC 9110 tchar, or a
 * start line that does not match the grammar are errors with a short
 * reason; nothing is ever read past len. Field values are kept with their
 * surrounding whitespace trimmed, names compared case-insensitively.
 * Incomplete input (no empty line yet) is not an error: the caller reads
 * more and calls again with the longer buffer.
 */
#ifndef TUND_HTTPMSG_H
#define TUND_HTTPMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_HEAD_MAX    8192   /* whole head, start line to the empty line */
#define HTTP_MAX_FIELDS  32
#define HTTP_METHOD_MAX  16
#define HTTP_TARGET_MAX  1024
#define HTTP_REASON_MAX  64

struct http_field {
	const char *name;        /* point into the parsed copy (struct http_head.buf) */
	const char *value;
};

struct http_head {
	bool is_request;
	/* request line */
	char method[HTTP_METHOD_MAX];
	char target[HTTP_TARGET_MAX];    /* as sent: origin-form, absolute-form or authority-form */
	/* status line */
	unsigned status;                 /* 100..999 */
	char reason[HTTP_REASON_MAX];
	unsigned version_minor;          /* HTTP/1.x: x (0 or 1) */
	struct http_field fields[HTTP_MAX_FIELDS];
	unsigned n_fields;
	size_t head_len;                 /* bytes of input the head used, empty line included */
	char buf[HTTP_HEAD_MAX];         /* NUL-terminated names and values */
};

/* Parses a head from buf[0..len). Returns 1 when a whole head was parsed
 * (out->head_len says how much input it used), 0 when more input is
 * needed (and len < HTTP_HEAD_MAX), or -EBADMSG with *why set to a static
 * reason ("header field name has an invalid character", ...).
 * is_request selects request or response grammar. */
int http_parse_head(const uint8_t *buf, size_t len, bool is_request, struct http_head *out,
		    const char **why);

/* The value of the first field with this name (case-insensitive), or NULL. */
const char *http_field(const struct http_head *h, const char *name);
/* True when a comma-separated field (Connection, Upgrade, Transfer-Encoding)
 * contains token, case-insensitively. */
bool http_field_has_token(const struct http_head *h, const char *name, const char *token);
/* Content-Length: 0 and *out, -ENOENT when absent, -EBADMSG when not a
 * plain decimal within limit or given twice with different values. */
int http_content_length(const struct http_head *h, uint64_t limit, uint64_t *out);

/* Decoder of the chunked transfer coding (RFC 9112 §7.1), incremental:
 * feed it any slice of the body and it hands back the data bytes in place.
 * Chunk extensions are skipped, trailers are read and ignored. */
struct http_chunked {
	int state;                       /* internal */
	uint64_t left;                   /* data bytes left in this chunk */
	unsigned line_len;               /* bytes of the current size/trailer line */
	bool done;                       /* last chunk and trailers seen */
};
void http_chunked_init(struct http_chunked *c);
/* Decodes in place: the data bytes found in buf[0..len) are moved to the
 * front of buf and their count stored in *out_len; *used says how many
 * input bytes were consumed (all of them unless done). 0, or -EBADMSG
 * (bad size line, a chunk over HTTP_CHUNK_MAX, missing CRLF, a size or
 * trailer line over 1024 bytes). */
#define HTTP_CHUNK_MAX (16u << 20)
int http_chunked_decode(struct http_chunked *c, uint8_t *buf, size_t len, size_t *out_len, size_t *used);
/* Writes a chunk header "<hex>\r\n" for n data bytes (no NUL); returns
 * its length (at most HTTP_CHUNK_HDR_MAX). The data is followed by "\r\n";
 * the body ends with "0\r\n\r\n". Receivers refuse chunks over
 * HTTP_CHUNK_MAX. */
#define HTTP_CHUNK_HDR_MAX 18   /* 16 hex digits of a size_t and CRLF */
size_t http_chunk_header(char out[HTTP_CHUNK_HDR_MAX], size_t n);

/* The origin form of a request target: target itself when it starts with
 * '/', the path (and query) of an absolute-form target, "/" for one with
 * an empty path; NULL for authority-form, asterisk-form or an
 * absolute-form target with a query but no path. The relay MACs the
 * origin form (relayproto.h) whichever form came. */
const char *http_origin_form(const char *target);

/* Splits an absolute URI "http://host[:port][/path]" (proxy URLs, the
 * http_proxy environment variables; a trailing '/' and no path are fine).
 * host gets the name or dotted address, port 80 when absent. 0 or -EINVAL
 * with *why set. Only the http scheme is accepted (the proxy itself is
 * spoken to in plain HTTP; what it carries is already encrypted). */
int http_parse_proxy_url(const char *url, char *host, size_t hostlen, uint16_t *port, const char **why);

#endif
