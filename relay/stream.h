/*
 * stream.h - the one shape every tunnel the relay carries has, whatever
 * HTTP mode it came in: a two-way byte stream with write, pause and close
 * (the implementation's side, struct stream_ops) and data, drain and
 * closed events (the user's side, struct stream_cb). An Upgrade-mode
 * connection (conn.h), a Poll-mode session (pollsess.h) and the gateway's
 * connection to the mediator all look like this, so the pool and the
 * splice never know which one they hold.
 *
 * Rules both sides keep, so that no object is freed under a caller:
 *   - events are only raised from libuv callbacks (a read, a finished
 *     write, a sweep, a close), never from inside a stream_* call the
 *     user made;
 *   - closed is raised at most once, and never after the user called
 *     stream_close(); after either the user does not touch the stream;
 *   - write never fails visibly: a stream that cannot take more (its
 *     queue is over its hard limit) closes itself, and the user hears of
 *     it through closed later;
 *   - drain is raised once the queue falls to the low-water mark after
 *     having passed the high-water mark (STREAM_HIGH / STREAM_LOW), which
 *     is how a splice knows to resume the other side.
 */
#ifndef TUND_RELAY_STREAM_H
#define TUND_RELAY_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STREAM_HIGH (256u * 1024)    /* queued bytes: a splice stops reading the other side */
#define STREAM_LOW  (64u * 1024)     /* ...and starts again here */
#define STREAM_MAX  (1024u * 1024)   /* queued bytes beyond which a stream closes itself */

struct stream;

struct stream_ops {
	void (*write)(struct stream *s, const uint8_t *buf, size_t len);
	void (*pause)(struct stream *s, bool pause);   /* stop or resume data events */
	size_t (*queued)(const struct stream *s);      /* bytes accepted, not yet sent */
	void (*close)(struct stream *s);               /* flushes what is queued (bounded), then closes */
};

struct stream_cb {
	void (*data)(void *arg, struct stream *s, const uint8_t *buf, size_t len);
	void (*drain)(void *arg, struct stream *s);
	void (*closed)(void *arg, struct stream *s);
};

struct stream {
	const struct stream_ops *ops;    /* the implementation's */
	const struct stream_cb *cb;      /* the user's; NULL drops events */
	void *arg;
	uint32_t peer_addr;              /* host order, for logs and limits */
	const char *kind;                /* "upgrade", "poll", "mediator": for logs */
};

static inline void stream_set_cb(struct stream *s, const struct stream_cb *cb, void *arg)
{
	s->cb = cb;
	s->arg = arg;
}

static inline void stream_write(struct stream *s, const uint8_t *buf, size_t len)
{
	s->ops->write(s, buf, len);
}

static inline void stream_pause(struct stream *s, bool pause)
{
	s->ops->pause(s, pause);
}

static inline size_t stream_queued(const struct stream *s)
{
	return s->ops->queued(s);
}

static inline void stream_close(struct stream *s)
{
	s->ops->close(s);
}

#endif
