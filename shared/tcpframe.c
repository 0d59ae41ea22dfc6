/*
 * tcpframe.c - the stream framing of tcpframe.h: header writer and the
 * incremental splitter.
 *
 * The splitter checks a header as soon as its four bytes are in, before
 * any of the body is buffered, so a peer cannot make it allocate for a
 * frame it would refuse. Frames that lie whole in the caller's input are
 * handed over in place; only a frame cut by a read boundary is copied
 * into r->buf, which is grown to the largest frame seen and kept for the
 * life of the stream. Invariant between feeds: r->len < TCPFRAME_HDR_LEN,
 * or r->buf holds a checked header and part of its body.
 */
#include "tcpframe.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "reader.h"

typedef int (*frame_fn)(void *arg, uint8_t type, const uint8_t *body, size_t body_len);

void tcpframe_header(uint8_t out[TCPFRAME_HDR_LEN], uint8_t type, size_t body_len)
{
	out[0] = type;
	out[1] = (uint8_t)(body_len >> 16);
	out[2] = (uint8_t)(body_len >> 8);
	out[3] = (uint8_t)body_len;
}

void tcpframe_rx_init(struct tcpframe_rx *r, size_t max_body)
{
	memset(r, 0, sizeof(*r));
	r->max_body = max_body < TCPFRAME_MAX_BODY ? max_body : TCPFRAME_MAX_BODY;
}

void tcpframe_rx_free(struct tcpframe_rx *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = r->len = 0;
}

/* Reads a header through the bounds-checked reader and checks it against
 * the per-type body sizes of tcpframe.h and the receive limit (which
 * applies to every type: it bounds what r->buf may grow to). */
static int header_check(const uint8_t *hdr, size_t max_body, uint8_t *type, size_t *body_len,
			const char **why)
{
	struct rd rd = rd_init(hdr, TCPFRAME_HDR_LEN);
	*type = rd_u8(&rd);
	*body_len = (size_t)rd_u8(&rd) << 16;
	*body_len |= rd_be16(&rd);
	if (!rd_ok(&rd)) {
		*why = "truncated frame header";
		return -EBADMSG;
	}
	size_t n = *body_len;
	const char *bad = NULL;
	switch (*type) {
	case TCPFRAME_PACKET:
		break;
	case TCPFRAME_PING:
	case TCPFRAME_PONG:
		if (n != TCPFRAME_PING_LEN)
			bad = "PING or PONG body is not 8 bytes";
		break;
	case TCPFRAME_SPLICED:
		if (n != KEY_LEN)
			bad = "SPLICED body is not a 32-byte key";
		break;
	case TCPFRAME_CLOSE:
		if (n > TCPFRAME_REASON_MAX)
			bad = "CLOSE reason over 200 bytes";
		break;
	default:
		bad = "unknown frame type";
		break;
	}
	if (!bad && n > max_body)
		bad = "frame body over the receive limit";
	if (bad) {
		*why = bad;
		return -EBADMSG;
	}
	return 0;
}

static int reserve(struct tcpframe_rx *r, size_t need)
{
	if (r->cap >= need)
		return 0;
	size_t cap = r->cap ? r->cap : 256;
	while (cap < need)
		cap *= 2;
	if (cap > r->max_body + TCPFRAME_HDR_LEN)
		cap = r->max_body + TCPFRAME_HDR_LEN;
	if (cap < need)
		cap = need;
	uint8_t *nb = realloc(r->buf, cap);
	if (!nb)
		return -ENOMEM;
	r->buf = nb;
	r->cap = cap;
	return 0;
}

/* Completes the frame buffered in r from in[0..len): *took says how many
 * bytes it used. Calls frame() when the frame is whole. */
static int fill_partial(struct tcpframe_rx *r, const uint8_t *in, size_t len, size_t *took,
			frame_fn frame, void *arg, const char **why)
{
	uint8_t type;
	size_t body_len, n;
	int rc;
	*took = 0;
	if (r->len < TCPFRAME_HDR_LEN) {
		n = TCPFRAME_HDR_LEN - r->len;
		n = n < len ? n : len;
		memcpy(r->buf + r->len, in, n);
		r->len += n;
		*took = n;
		if (r->len < TCPFRAME_HDR_LEN)
			return 0;
	}
	rc = header_check(r->buf, r->max_body, &type, &body_len, why);
	if (rc < 0)
		return rc;
	rc = reserve(r, TCPFRAME_HDR_LEN + body_len);
	if (rc < 0)
		return rc;
	n = TCPFRAME_HDR_LEN + body_len - r->len;
	n = n < len - *took ? n : len - *took;
	memcpy(r->buf + r->len, in + *took, n);
	r->len += n;
	*took += n;
	if (r->len < TCPFRAME_HDR_LEN + body_len)
		return 0;
	r->len = 0;
	return frame(arg, type, r->buf + TCPFRAME_HDR_LEN, body_len);
}

int tcpframe_rx_feed(struct tcpframe_rx *r, const uint8_t *buf, size_t len,
		     int (*frame)(void *arg, uint8_t type, const uint8_t *body, size_t body_len),
		     void *arg, const char **why)
{
	size_t off = 0;
	int rc;
	if (r->len > 0) {
		size_t took;
		rc = fill_partial(r, buf, len, &took, frame, arg, why);
		if (rc != 0 || r->len > 0)
			return rc;
		off = took;
	}
	while (len - off >= TCPFRAME_HDR_LEN) {
		uint8_t type;
		size_t body_len;
		rc = header_check(buf + off, r->max_body, &type, &body_len, why);
		if (rc < 0)
			return rc;
		if (len - off - TCPFRAME_HDR_LEN < body_len)
			break;
		rc = frame(arg, type, buf + off + TCPFRAME_HDR_LEN, body_len);
		if (rc != 0)
			return rc;
		off += TCPFRAME_HDR_LEN + body_len;
	}
	if (off == len)
		return 0;
	/* The rest starts a frame: keep it (header already checked if whole). */
	rc = reserve(r, TCPFRAME_HDR_LEN);
	if (rc < 0)
		return rc;
	size_t took;
	return fill_partial(r, buf + off, len - off, &took, frame, arg, why);
}
