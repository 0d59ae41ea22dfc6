/*
 * fuzz_http.c - everything HTTP bytes from the network reach: the head
 * parser under both grammars and the chunked decoder, on the same input,
 * and the proxy URL splitter on it as a string. Checks the parser's
 * promises (a parsed head ends in CRLF CRLF within HTTP_HEAD_MAX, every
 * shorter prefix of it is "need more", names are tchar and values are
 * trimmed, field strings lie in the head's own buffer), that the lookups
 * are total on whatever parsed, and that the chunked decoder gives the
 * same data, consumption and verdict whether the body comes whole or in
 * pieces.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "httpmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct http_head head, again;

static bool in_buf(const struct http_head *h, const char *s)
{
	uintptr_t p = (uintptr_t)s, lo = (uintptr_t)h->buf;
	return p >= lo && p + strlen(s) < lo + sizeof(h->buf);
}

static void check_fields(const struct http_head *h)
{
	if (h->n_fields > HTTP_MAX_FIELDS)
		abort();
	for (unsigned i = 0; i < h->n_fields; i++) {
		const char *n = h->fields[i].name, *v = h->fields[i].value;
		if (!in_buf(h, n) || !in_buf(h, v) || !*n)
			abort();
		if (strcspn(n, " \t:\r\n\"(),/;<=>?@[\\]{}") != strlen(n))
			abort();
		size_t vl = strlen(v);
		if (vl && (v[0] == ' ' || v[0] == '\t' || v[vl - 1] == ' ' || v[vl - 1] == '\t'))
			abort();
		if (http_field(h, n) == NULL || http_field_has_token(h, n, ""))
			abort();
	}
	uint64_t cl = 0;
	int rc = http_content_length(h, 1u << 20, &cl);
	if ((rc == 0 && cl > (1u << 20)) || (rc != 0 && rc != -ENOENT && rc != -EBADMSG))
		abort();
	(void)http_field_has_token(h, "Connection", "upgrade");
	(void)http_field_has_token(h, "Transfer-Encoding", "chunked");
}

static void check_head(const uint8_t *data, size_t size, bool is_request)
{
	const char *why = NULL;
	int rc = http_parse_head(data, size, is_request, &head, &why);
	if (rc == -EBADMSG) {
		if (!why)
			abort();
		return;
	}
	if (rc == 0) {
		if (size >= HTTP_HEAD_MAX)
			abort();
		return;
	}
	if (rc != 1 || head.head_len < 4 || head.head_len > size || head.head_len > HTTP_HEAD_MAX ||
	    memcmp(data + head.head_len - 4, "\r\n\r\n", 4) != 0 || head.is_request != is_request)
		abort();
	if (is_request) {
		const char *o = http_origin_form(head.target);
		if (!head.method[0] || !head.target[0] || (o && o[0] != '/'))
			abort();
	} else if (head.status < 100 || head.status > 999) {
		abort();
	}
	if (head.version_minor > 1)
		abort();
	check_fields(&head);
	/* Only the head's own bytes decide, and all of them are needed. */
	if (http_parse_head(data, head.head_len, is_request, &again, &why) != 1 ||
	    again.head_len != head.head_len || again.n_fields != head.n_fields)
		abort();
	if (http_parse_head(data, head.head_len - 1, is_request, &again, &why) != 0)
		abort();
}

struct chunked_result {
	int rc;
	bool done;
	size_t used, out_len;
};

/* Decodes data in pieces of the given sizes (cycled), collecting the data
 * bytes in out. */
static struct chunked_result decode(const uint8_t *data, size_t size, const uint8_t *steps, size_t nsteps,
				    uint8_t *work, uint8_t *out)
{
	struct http_chunked c;
	struct chunked_result r = { 0 };
	http_chunked_init(&c);
	memcpy(work, data, size);
	for (size_t pos = 0, k = 0; pos < size; k++) {
		size_t n = nsteps ? 1 + steps[k % nsteps] % 64 : size;
		if (n > size - pos)
			n = size - pos;
		size_t got = 0, used = 0;
		r.rc = http_chunked_decode(&c, work + pos, n, &got, &used);
		if (got > used || used > n)
			abort();
		memcpy(out + r.out_len, work + pos, got);
		r.out_len += got;
		r.used += used;
		pos += n;
		if (r.rc < 0 || c.done)
			break;
		if (used != n)
			abort();
	}
	r.done = c.done;
	return r;
}

static void check_chunked(const uint8_t *data, size_t size)
{
	uint8_t *work = malloc(size + 1), *out1 = malloc(size + 1), *out2 = malloc(size + 1);
	if (!work || !out1 || !out2)
		abort();
	struct chunked_result a = decode(data, size, NULL, 0, work, out1);
	struct chunked_result b = decode(data, size, data, size < 8 ? size : 8, work, out2);
	if (a.rc != b.rc || a.done != b.done || a.used != b.used || a.out_len != b.out_len ||
	    memcmp(out1, out2, a.out_len) != 0 || (a.rc != 0 && a.rc != -EBADMSG))
		abort();
	free(work);
	free(out1);
	free(out2);
}

static void check_url(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), host[64];
	uint16_t port = 0;
	const char *why = NULL;
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	int rc = http_parse_proxy_url(s, host, sizeof(host), &port, &why);
	if ((rc == 0 && (!host[0] || port == 0)) || (rc != 0 && (rc != -EINVAL || !why)))
		abort();
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 2 * HTTP_HEAD_MAX)
		return 0;
	/* An exact-size copy, so ASan sees any read past the end. */
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf)
		abort();
	memcpy(buf, data, size);
	check_head(buf, size, true);
	check_head(buf, size, false);
	check_chunked(buf, size);
	check_url(buf, size);
	free(buf);
	return 0;
}
