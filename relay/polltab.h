/*
 * polltab.h - the live Poll-mode sessions by token, and the bookkeeping
 * of each one's upstream: the POST body being received, if any.
 *
 * A token is RELAYPROTO_TOKEN_LEN random bytes, sent as lower-case hex in
 * Tund-Session and in the POST path; it is the only credential of a
 * session's upstream (the GET that made it was authenticated), so it is
 * never reused while its session lives, compared in constant time, and
 * looked up through a hash of its own random bytes.
 *
 * Upstream rules (relayproto.h): POSTs come one at a time, in order; a
 * second one while a body is still arriving is refused (the client's
 * bug, or a connection that died mid-body, which has already broken the
 * stream). Entries are embedded in their session (pollsess.c); the
 * table only links them.
 */
#ifndef TUND_RELAY_POLLTAB_H
#define TUND_RELAY_POLLTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relayproto.h"

struct polltab;

struct polltab_entry {
	uint8_t token[RELAYPROTO_TOKEN_LEN];
	char hex[RELAYPROTO_TOKEN_STR + 1];
	struct polltab_entry *chain;     /* next in its bucket */
	bool linked;
	bool uploading;                  /* a POST body is being received */
	bool up_keep;                    /* ...on a connection to keep alive after it */
	uint64_t up_left;                /* body bytes still to come */
};

int polltab_new(struct polltab **out);
/* Frees the index; entries still linked are just forgotten. */
void polltab_free(struct polltab *t);

/* Gives e a fresh random token and links it. 0 or -ENOMEM. */
int polltab_add(struct polltab *t, struct polltab_entry *e);
void polltab_remove(struct polltab *t, struct polltab_entry *e);
/* The entry whose token is hex (exactly RELAYPROTO_TOKEN_STR hex digits,
 * either case); NULL for an unknown or malformed token. */
struct polltab_entry *polltab_find(const struct polltab *t, const char *hex);
size_t polltab_count(const struct polltab *t);

/* A POST with a body of len bytes begins: -EBUSY while another body is
 * still arriving; 0. keep: the connection stays open after the answer. */
int polltab_upload_begin(struct polltab_entry *e, uint64_t len, bool keep);
/* Of avail bytes arriving, how many belong to the body; the body is
 * complete when up_left reaches 0 (uploading is then false). */
size_t polltab_upload_take(struct polltab_entry *e, size_t avail);

#endif
