/*
 * reader.h - bounds-checked access to untrusted bytes (STYLE.md rule 5).
 *
 * A reader walks a buffer front to back. Every read checks the bytes left;
 * a read past the end sets a sticky error, returns zeros and leaves the
 * cursor where it was, so a decoder reads all its fields and checks
 * rd_ok() once at the end. Nothing here ever casts the buffer to a struct.
 * The writer is the mirror image for building messages into a fixed
 * buffer. Integers are read and written in an explicit byte order.
 */
#ifndef TUND_READER_H
#define TUND_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct rd {
	const uint8_t *p;
	size_t len;
	size_t off;
	bool err;
};

static inline struct rd rd_init(const void *p, size_t len)
{
	struct rd r = { .p = p, .len = len, .off = 0, .err = false };
	return r;
}

static inline size_t rd_left(const struct rd *r) { return r->err ? 0 : r->len - r->off; }
static inline bool rd_ok(const struct rd *r) { return !r->err; }

/* Returns a pointer to the next n bytes and advances, or NULL (sticky error). */
static inline const uint8_t *rd_take(struct rd *r, size_t n)
{
	if (r->err || r->len - r->off < n) {
		r->err = true;
		return NULL;
	}
	const uint8_t *q = r->p + r->off;
	r->off += n;
	return q;
}

static inline void rd_copy(struct rd *r, void *dst, size_t n)
{
	const uint8_t *q = rd_take(r, n);
	if (q)
		memcpy(dst, q, n);
	else
		memset(dst, 0, n);
}

static inline void rd_skip(struct rd *r, size_t n) { (void)rd_take(r, n); }

static inline uint8_t rd_u8(struct rd *r)
{
	const uint8_t *q = rd_take(r, 1);
	return q ? q[0] : 0;
}

static inline uint16_t rd_be16(struct rd *r)
{
	const uint8_t *q = rd_take(r, 2);
	return q ? (uint16_t)(q[0] << 8 | q[1]) : 0;
}

static inline uint32_t rd_be32(struct rd *r)
{
	const uint8_t *q = rd_take(r, 4);
	return q ? (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3] : 0;
}

static inline uint32_t rd_le32(struct rd *r)
{
	const uint8_t *q = rd_take(r, 4);
	return q ? (uint32_t)q[3] << 24 | (uint32_t)q[2] << 16 | (uint32_t)q[1] << 8 | q[0] : 0;
}

static inline uint64_t rd_le64(struct rd *r)
{
	uint64_t lo = rd_le32(r);
	uint64_t hi = rd_le32(r);
	return hi << 32 | lo;
}

/* Writer: same sticky-error discipline over a caller-owned buffer. */
struct wr {
	uint8_t *p;
	size_t cap;
	size_t off;
	bool err;
};

static inline struct wr wr_init(void *p, size_t cap)
{
	struct wr w = { .p = p, .cap = cap, .off = 0, .err = false };
	return w;
}

static inline bool wr_ok(const struct wr *w) { return !w->err; }

static inline uint8_t *wr_take(struct wr *w, size_t n)
{
	if (w->err || w->cap - w->off < n) {
		w->err = true;
		return NULL;
	}
	uint8_t *q = w->p + w->off;
	w->off += n;
	return q;
}

static inline void wr_bytes(struct wr *w, const void *src, size_t n)
{
	uint8_t *q = wr_take(w, n);
	if (q && n)
		memcpy(q, src, n);
}

static inline void wr_zero(struct wr *w, size_t n)
{
	uint8_t *q = wr_take(w, n);
	if (q)
		memset(q, 0, n);
}

static inline void wr_u8(struct wr *w, uint8_t v)
{
	uint8_t *q = wr_take(w, 1);
	if (q)
		q[0] = v;
}

static inline void wr_be16(struct wr *w, uint16_t v)
{
	uint8_t *q = wr_take(w, 2);
	if (q) {
		q[0] = (uint8_t)(v >> 8);
		q[1] = (uint8_t)v;
	}
}

static inline void wr_be32(struct wr *w, uint32_t v)
{
	uint8_t *q = wr_take(w, 4);
	if (q) {
		q[0] = (uint8_t)(v >> 24);
		q[1] = (uint8_t)(v >> 16);
		q[2] = (uint8_t)(v >> 8);
		q[3] = (uint8_t)v;
	}
}

static inline void wr_le32(struct wr *w, uint32_t v)
{
	uint8_t *q = wr_take(w, 4);
	if (q) {
		q[0] = (uint8_t)v;
		q[1] = (uint8_t)(v >> 8);
		q[2] = (uint8_t)(v >> 16);
		q[3] = (uint8_t)(v >> 24);
	}
}

static inline void wr_le64(struct wr *w, uint64_t v)
{
	wr_le32(w, (uint32_t)v);
	wr_le32(w, (uint32_t)(v >> 32));
}

#endif
