/*
 * pollsess.h - a Poll-mode tunnel (relayproto.h) as a stream (stream.h):
 * the downstream is the chunked body of the 200 answer to a GET, one
 * chunk per write, never ended while the session lives; the upstream is
 * the bodies of POST /tund/v1/up/<token>, taken in order (polltab.h).
 *
 * The session owns its GET connection ("down") for its whole life, and a
 * POST connection ("up") only while that POST's body is arriving; then
 * the connection goes back to the HTTP front through ops->upload_done,
 * with whatever bytes followed the body (a pipelined request).
 *
 * Ends: the GET connection closing ends the session (its POSTs then get
 * 404); a POST connection closing before its body is complete ends it
 * too, since the upstream lost bytes; stream_close() ends the chunked
 * body properly ("0" chunk) and closes both. The struct is freed when the
 * GET connection is, never under a caller.
 */
#ifndef TUND_RELAY_POLLSESS_H
#define TUND_RELAY_POLLSESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "polltab.h"
#include "stream.h"

struct pollsess;

struct pollsess_ops {
	void *ctx;
	/* A POST body is complete: c is the caller's again; rest/len are the
	 * bytes that followed the body in the same read; keep: the request
	 * allowed keep-alive. */
	void (*upload_done)(void *ctx, struct conn *c, const uint8_t *rest, size_t len, bool keep);
};

/* Makes down (whose request was accepted) the downstream of a new
 * session: writes the 200 head with the token and takes ownership of
 * down. The session's stream, or NULL (no memory: down is untouched). */
struct stream *pollsess_open(struct polltab *t, const struct pollsess_ops *ops, struct conn *down);

/* The live session with this token (hex as in the path), or NULL. */
struct pollsess *pollsess_find(struct polltab *t, const char *hex);
const char *pollsess_token(const struct pollsess *ps);

/* A POST for ps with a body of len bytes arrived on c; rest/rest_len are
 * the bytes read after its head. Returns 1 when the body was complete
 * within rest (*used of rest were taken; c stays the caller's); 0 when ps
 * took c and will hand it back through ops->upload_done (all of rest was
 * taken); -EBUSY while another POST's body is arriving, -ENOENT when the
 * session ended meanwhile. */
int pollsess_upload(struct pollsess *ps, struct conn *c, uint64_t len, bool keep,
		    const uint8_t *rest, size_t rest_len, size_t *used);

#endif
