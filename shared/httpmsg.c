/*
 * httpmsg.c - HTTP/1.1 message heads, the chunked transfer coding and
 * proxy URLs (httpmsg.h), after RFC 9112 §2-§7 and RFC 9110 §5.
 *
 * The head parser walks the input line by line and checks each complete
 * line as soon as it has it, so garbage (a TLS alert, a binary banner)
 * fails on its first line instead of after HTTP_HEAD_MAX bytes; a head
 * without its empty line yet is "need more", never an error. Lines end in
 * CRLF only: a bare CR or a bare LF is refused, because the two ends of a
 * proxy that disagree on line ends are how requests get smuggled.
 * Nothing in *out is meaningful unless the call returned 1.
 *
 * The chunked decoder is a byte-at-a-time state machine so it gives the
 * same result however the body is split into reads; only data bytes are
 * moved, towards the front of the caller's buffer, so the write position
 * never passes the read position.
 */
#include "httpmsg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define LINE_MAX_CHUNKED 1024   /* size and trailer lines (httpmsg.h) */

/* RFC 9110 §5.6.2 tchar. */
static bool is_tchar(uint8_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
static bool is_ows(uint8_t c) { return c == ' ' || c == '\t'; }
/* field-vchar / SP / HTAB, obs-text included (RFC 9110 §5.5). */
static bool is_field_char(uint8_t c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

static int hex_value(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int fail(const char **why, const char *reason)
{
	*why = reason;
	return -EBADMSG;
}

/* Finds the line starting at *pos: 1 with [*pos, *end) the line without
 * its CRLF and *pos moved past the CRLF, 0 when the input ends first, or
 * -EBADMSG. Only the first HTTP_HEAD_MAX bytes of input can hold a head. */
static int next_line(const uint8_t *buf, size_t len, size_t *pos, size_t *end, const char **why)
{
	size_t limit = len < HTTP_HEAD_MAX ? len : HTTP_HEAD_MAX;
	for (size_t i = *pos; i < limit; i++) {
		if (buf[i] == '\n')
			return fail(why, "line ends in a bare LF");
		if (buf[i] != '\r')
			continue;
		if (i + 1 >= limit)
			break;
		if (buf[i + 1] != '\n')
			return fail(why, "bare CR in the head");
		*end = i;
		*pos = i + 2;
		return 1;
	}
	if (len >= HTTP_HEAD_MAX)
		return fail(why, "head longer than 8192 bytes");
	return 0;
}

/* Copies [p, p + n) into dst[cap] as a C string; false when it does not fit. */
static bool copy_str(char *dst, size_t cap, const uint8_t *p, size_t n)
{
	if (n >= cap)
		return false;
	memcpy(dst, p, n);
	dst[n] = '\0';
	return true;
}

/* "HTTP/1.0" or "HTTP/1.1" (RFC 9112 §2.3). */
static int parse_version(const uint8_t *p, size_t n, unsigned *minor, const char **why)
{
	if (n != 8 || memcmp(p, "HTTP/", 5) != 0 || !is_digit(p[5]) || p[6] != '.' || !is_digit(p[7]))
		return fail(why, "malformed HTTP version");
	if (p[5] != '1' || (p[7] != '0' && p[7] != '1'))
		return fail(why, "unsupported HTTP version (not 1.0 or 1.1)");
	*minor = (unsigned)(p[7] - '0');
	return 0;
}

static bool is_alpha(uint8_t c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* The target's form must suit the method (RFC 9112 §3.2): authority-form
 * "host:port" only with CONNECT, asterisk-form only with OPTIONS,
 * otherwise origin-form "/..." or absolute-form "scheme:..." (RFC 3986
 * §3.1 scheme). */
static int check_target(const char *method, const char *t, const char **why)
{
	if (strcmp(method, "CONNECT") == 0) {
		const char *colon = strrchr(t, ':');
		bool ok = colon && colon != t && colon[1] && !strchr(t, '/') && !strchr(t, '@');
		for (const char *q = colon ? colon + 1 : ""; ok && *q; q++)
			ok = is_digit((uint8_t)*q);
		return ok ? 0 : fail(why, "CONNECT target is not host:port");
	}
	if (t[0] == '/' || (strcmp(t, "*") == 0 && strcmp(method, "OPTIONS") == 0))
		return 0;
	size_t i = 0;
	if (is_alpha((uint8_t)t[0]))
		while (is_alpha((uint8_t)t[i]) || is_digit((uint8_t)t[i]) || t[i] == '+' || t[i] == '-' ||
		       t[i] == '.')
			i++;
	if (i == 0 || t[i] != ':')
		return fail(why, "request target is not origin-form or absolute-form");
	return 0;
}

/* request-line = method SP request-target SP HTTP-version (RFC 9112 §3). */
static int parse_request_line(const uint8_t *p, size_t n, struct http_head *h, const char **why)
{
	const uint8_t *sp1 = memchr(p, ' ', n);
	if (!sp1 || sp1 == p)
		return fail(why, "malformed request line");
	size_t mlen = (size_t)(sp1 - p);
	for (size_t i = 0; i < mlen; i++)
		if (!is_tchar(p[i]))
			return fail(why, "method has an invalid character");
	if (!copy_str(h->method, sizeof(h->method), p, mlen))
		return fail(why, "method too long");

	const uint8_t *t = sp1 + 1;
	size_t rest = n - mlen - 1;
	const uint8_t *sp2 = memchr(t, ' ', rest);
	if (!sp2 || sp2 == t)
		return fail(why, "malformed request line");
	size_t tlen = (size_t)(sp2 - t);
	for (size_t i = 0; i < tlen; i++)
		if (t[i] <= 0x20 || t[i] >= 0x7f)
			return fail(why, "request target has an invalid character");
	if (!copy_str(h->target, sizeof(h->target), t, tlen))
		return fail(why, "request target too long");
	if (parse_version(sp2 + 1, rest - tlen - 1, &h->version_minor, why) < 0)
		return -EBADMSG;
	return check_target(h->method, h->target, why);
}

/* status-line = HTTP-version SP status-code SP [reason-phrase] (RFC 9112
 * §4). The SP before an empty reason is often left out; that is accepted.
 * A longer reason is cut to fit: clients only log it. */
static int parse_status_line(const uint8_t *p, size_t n, struct http_head *h, const char **why)
{
	if (n < 12 || p[8] != ' ')
		return fail(why, "malformed status line");
	if (parse_version(p, 8, &h->version_minor, why) < 0)
		return -EBADMSG;
	const uint8_t *s = p + 9;
	if (!is_digit(s[0]) || !is_digit(s[1]) || !is_digit(s[2]) || s[0] == '0')
		return fail(why, "status code is not three digits 100..999");
	h->status = (unsigned)((s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0'));
	if (n == 12)
		return 0;
	if (p[12] != ' ')
		return fail(why, "malformed status line");
	const uint8_t *r = p + 13;
	size_t rlen = n - 13;
	for (size_t i = 0; i < rlen; i++)
		if (!is_field_char(r[i]))
			return fail(why, "reason phrase has a control character");
	if (rlen >= sizeof(h->reason))
		rlen = sizeof(h->reason) - 1;
	memcpy(h->reason, r, rlen);
	h->reason[rlen] = '\0';
	return 0;
}

/* field-line = field-name ":" OWS field-value OWS (RFC 9112 §5). name and
 * value are copied into h->buf at *used; the head is at most
 * HTTP_HEAD_MAX and each line gives up its ':' and CRLF for two NULs, so
 * the copy always fits. */
static int parse_field(const uint8_t *p, size_t n, struct http_head *h, size_t *used, const char **why)
{
	if (n > 0 && is_ows(p[0]))
		return fail(why, "obsolete line folding in a header field");
	const uint8_t *colon = memchr(p, ':', n);
	if (!colon)
		return fail(why, "header field without a colon");
	size_t nlen = (size_t)(colon - p);
	if (nlen == 0)
		return fail(why, "header field name is empty");
	for (size_t i = 0; i < nlen; i++)
		if (!is_tchar(p[i]))
			return fail(why, is_ows(p[i]) ? "white space before the colon of a header field"
						      : "header field name has an invalid character");
	const uint8_t *v = colon + 1, *vend = p + n;
	for (const uint8_t *q = v; q < vend; q++)
		if (!is_field_char(*q))
			return fail(why, "header field value has a control character");
	while (v < vend && is_ows(*v))
		v++;
	while (vend > v && is_ows(vend[-1]))
		vend--;
	if (h->n_fields >= HTTP_MAX_FIELDS)
		return fail(why, "more than 32 header fields");
	size_t vlen = (size_t)(vend - v);
	char *dst = h->buf + *used;
	memcpy(dst, p, nlen);
	dst[nlen] = '\0';
	memcpy(dst + nlen + 1, v, vlen);
	dst[nlen + 1 + vlen] = '\0';
	h->fields[h->n_fields].name = dst;
	h->fields[h->n_fields].value = dst + nlen + 1;
	h->n_fields++;
	*used += nlen + vlen + 2;
	return 0;
}

int http_parse_head(const uint8_t *buf, size_t len, bool is_request, struct http_head *out,
		    const char **why)
{
	memset(out, 0, offsetof(struct http_head, buf));
	out->is_request = is_request;
	out->buf[0] = '\0';
	*why = NULL;

	size_t pos = 0, end = 0, used = 0;
	int rc = next_line(buf, len, &pos, &end, why);
	if (rc <= 0)
		return rc;
	if (end == 0)
		return fail(why, is_request ? "request line is empty" : "status line is empty");
	rc = is_request ? parse_request_line(buf, end, out, why) : parse_status_line(buf, end, out, why);
	if (rc < 0)
		return rc;
	for (;;) {
		size_t start = pos;
		rc = next_line(buf, len, &pos, &end, why);
		if (rc <= 0)
			return rc;
		if (end == start)
			break;
		rc = parse_field(buf + start, end - start, out, &used, why);
		if (rc < 0)
			return rc;
	}
	out->head_len = pos;
	return 1;
}

const char *http_field(const struct http_head *h, const char *name)
{
	for (unsigned i = 0; i < h->n_fields; i++)
		if (strcasecmp(h->fields[i].name, name) == 0)
			return h->fields[i].value;
	return NULL;
}

/* One comma-separated list value: true when an element equals token. */
static bool list_has(const char *v, const char *token)
{
	size_t tlen = strlen(token);
	while (*v) {
		while (*v == ',' || is_ows((uint8_t)*v))
			v++;
		const char *e = v;
		while (*e && *e != ',')
			e++;
		const char *te = e;
		while (te > v && is_ows((uint8_t)te[-1]))
			te--;
		if ((size_t)(te - v) == tlen && tlen > 0 && strncasecmp(v, token, tlen) == 0)
			return true;
		v = e;
	}
	return false;
}

/* Every field line of that name counts: a list may be split over several
 * lines (RFC 9110 §5.3). */
bool http_field_has_token(const struct http_head *h, const char *name, const char *token)
{
	for (unsigned i = 0; i < h->n_fields; i++)
		if (strcasecmp(h->fields[i].name, name) == 0 && list_has(h->fields[i].value, token))
			return true;
	return false;
}

/* A list such as "5, 5" is refused too: only a plain number is one value. */
int http_content_length(const struct http_head *h, uint64_t limit, uint64_t *out)
{
	bool found = false;
	uint64_t val = 0;
	for (unsigned i = 0; i < h->n_fields; i++) {
		if (strcasecmp(h->fields[i].name, "Content-Length") != 0)
			continue;
		const char *s = h->fields[i].value;
		uint64_t v = 0;
		if (!*s)
			return -EBADMSG;
		for (; *s; s++) {
			uint64_t d = (uint64_t)(*s - '0');
			if (!is_digit((uint8_t)*s) || v > (UINT64_MAX - d) / 10)
				return -EBADMSG;
			v = v * 10 + d;
		}
		if (v > limit || (found && v != val))
			return -EBADMSG;
		found = true;
		val = v;
	}
	if (!found)
		return -ENOENT;
	*out = val;
	return 0;
}

/* The path and query of an absolute-form target start at the first '/'
 * after the authority; with none the path is "/" (RFC 9112 §3.2.2). */
const char *http_origin_form(const char *target)
{
	if (target[0] == '/')
		return target;
	const char *s = strstr(target, "://");
	if (!s || s == target)
		return NULL;
	const char *end = s + 3 + strcspn(s + 3, "/?#");
	if (*end == '/')
		return end;
	return *end ? NULL : "/";
}

/* Chunked decoder states (RFC 9112 §7.1):
 *   chunk = chunk-size [chunk-ext] CRLF chunk-data CRLF
 *   last-chunk = 1*"0" [chunk-ext] CRLF, then trailer field lines, CRLF. */
enum {
	CH_SIZE,          /* hex digits of chunk-size */
	CH_SIZE_WS,       /* BWS after the size, before ';' */
	CH_EXT,           /* chunk extensions, skipped up to CR */
	CH_SIZE_LF,
	CH_DATA,
	CH_DATA_CR,
	CH_DATA_LF,
	CH_TRAILER,       /* start of a trailer line, or the final CRLF */
	CH_TRAILER_LINE,
	CH_TRAILER_LF,
	CH_END_LF,
	CH_DONE,
};

void http_chunked_init(struct http_chunked *c)
{
	memset(c, 0, sizeof(*c));
	c->state = CH_SIZE;
}

static int expect_lf(struct http_chunked *c, uint8_t b, int next)
{
	if (b != '\n')
		return -EBADMSG;
	c->state = next;
	c->line_len = 0;
	return 0;
}

/* After the size digits only BWS ";" starts an extension. */
static int after_size(struct http_chunked *c, uint8_t b)
{
	if (is_ows(b))
		c->state = CH_SIZE_WS;
	else if (b == ';')
		c->state = CH_EXT;
	else
		return -EBADMSG;
	return 0;
}

/* One byte outside chunk data. */
static int chunked_step(struct http_chunked *c, uint8_t b)
{
	bool line_start = c->line_len == 0;
	if (c->state != CH_SIZE_LF && c->state != CH_DATA_LF && c->state != CH_TRAILER_LF &&
	    c->state != CH_END_LF && b != '\r' && ++c->line_len > LINE_MAX_CHUNKED)
		return -EBADMSG;
	int hex = hex_value(b);
	switch (c->state) {
	case CH_SIZE:
		if (hex >= 0) {
			c->left = c->left * 16 + (uint64_t)hex;
			return c->left > HTTP_CHUNK_MAX ? -EBADMSG : 0;
		}
		if (line_start)
			return -EBADMSG;           /* no digit at all */
		if (b == '\r') {
			c->state = CH_SIZE_LF;
			return 0;
		}
		return after_size(c, b);
	case CH_SIZE_WS:
		return after_size(c, b);
	case CH_EXT:
		if (b == '\r')
			c->state = CH_SIZE_LF;
		else if (!is_field_char(b))
			return -EBADMSG;
		return 0;
	case CH_SIZE_LF:
		return expect_lf(c, b, c->left ? CH_DATA : CH_TRAILER);
	case CH_DATA_CR:
		if (b != '\r')
			return -EBADMSG;
		c->state = CH_DATA_LF;
		return 0;
	case CH_DATA_LF:
		return expect_lf(c, b, CH_SIZE);
	case CH_TRAILER:
		if (b == '\r')
			c->state = CH_END_LF;
		else if (is_tchar(b))
			c->state = CH_TRAILER_LINE;
		else
			return -EBADMSG;           /* obs-fold, or not a field name */
		return 0;
	case CH_TRAILER_LINE:
		if (b == '\r')
			c->state = CH_TRAILER_LF;
		else if (!is_field_char(b))
			return -EBADMSG;
		return 0;
	case CH_TRAILER_LF:
		return expect_lf(c, b, CH_TRAILER);
	case CH_END_LF:
		if (expect_lf(c, b, CH_DONE) < 0)
			return -EBADMSG;
		c->done = true;
		return 0;
	default:
		return -EBADMSG;
	}
}

int http_chunked_decode(struct http_chunked *c, uint8_t *buf, size_t len, size_t *out_len, size_t *used)
{
	size_t r = 0, w = 0;
	int rc = 0;
	while (r < len && !c->done) {
		if (c->state == CH_DATA) {
			size_t n = len - r;
			if (n > c->left)
				n = (size_t)c->left;
			if (w != r)
				memmove(buf + w, buf + r, n);
			w += n;
			r += n;
			c->left -= n;
			if (c->left == 0)
				c->state = CH_DATA_CR;
			continue;
		}
		rc = chunked_step(c, buf[r]);
		if (rc < 0)
			break;
		r++;
	}
	*out_len = w;
	*used = r;
	return rc;
}

size_t http_chunk_header(char out[HTTP_CHUNK_HDR_MAX], size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[2 * sizeof(size_t)];
	size_t k = 0;
	do {
		tmp[k++] = digits[n & 0xf];
		n >>= 4;
	} while (n);
	for (size_t i = 0; i < k; i++)
		out[i] = tmp[k - 1 - i];
	out[k] = '\r';
	out[k + 1] = '\n';
	return k + 2;
}

static int bad_url(const char **why, const char *reason)
{
	*why = reason;
	return -EINVAL;
}

/* "host[:port]" of a proxy URL: a DNS name or dotted quad, as the config
 * accepts for every other host. */
static int parse_authority(const char *a, size_t alen, size_t *hlen, uint16_t *port, const char **why)
{
	if (memchr(a, '@', alen))
		return bad_url(why, "user names and passwords in proxy URLs are not supported");
	if (alen > 0 && a[0] == '[')
		return bad_url(why, "IPv6 proxy addresses are not supported");
	const char *colon = memchr(a, ':', alen);
	*hlen = colon ? (size_t)(colon - a) : alen;
	if (*hlen == 0)
		return bad_url(why, "the host is missing");
	for (size_t i = 0; i < *hlen; i++)
		if (!is_alpha((uint8_t)a[i]) && !is_digit((uint8_t)a[i]) && a[i] != '.' && a[i] != '-')
			return bad_url(why, "the host has an invalid character");
	*port = 80;
	if (!colon)
		return 0;
	unsigned v = 0;
	size_t plen = alen - *hlen - 1;
	for (size_t i = 0; i < plen; i++) {
		if (!is_digit((uint8_t)colon[1 + i]) || i >= 5)
			return bad_url(why, "the port must be 1..65535");
		v = v * 10 + (unsigned)(colon[1 + i] - '0');
	}
	if (plen == 0 || v == 0 || v > 65535)
		return bad_url(why, "the port must be 1..65535");
	*port = (uint16_t)v;
	return 0;
}

int http_parse_proxy_url(const char *url, char *host, size_t hostlen, uint16_t *port, const char **why)
{
	*why = NULL;
	if (strncasecmp(url, "https://", 8) == 0)
		return bad_url(why, "https:// proxies are not supported (use http://; tund's traffic is "
				    "already encrypted)");
	if (strncasecmp(url, "http://", 7) != 0)
		return bad_url(why, strstr(url, "://") ? "only http:// proxies are supported"
						      : "the URL does not start with http://");
	const char *a = url + 7;
	size_t alen = strcspn(a, "/?#");
	const char *rest = a + alen;
	if (*rest && *rest != '/')
		return bad_url(why, "unexpected query or fragment after the host");
	for (const char *q = rest; *q; q++)
		if ((uint8_t)*q <= 0x20 || (uint8_t)*q >= 0x7f)
			return bad_url(why, "the path has an invalid character");
	size_t hlen;
	uint16_t p;
	int rc = parse_authority(a, alen, &hlen, &p, why);
	if (rc < 0)
		return rc;
	if (hlen >= hostlen)
		return bad_url(why, "the host name is too long");
	memcpy(host, a, hlen);
	host[hlen] = '\0';
	*port = p;
	return 0;
}
