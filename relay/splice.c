/*
 * splice.c - see splice.h. A splice lives until the first closed event
 * from either side; it then closes the other and frees itself, as the
 * last thing it does (streams never call back from inside our calls).
 */
#include "splice.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

struct splice {
	struct stream *s[2];
	bool paused[2];              /* we paused s[i] because s[1-i] was full */
	struct splice_set *set;
	struct splice *prev, *next;
};

static int side(const struct splice *sp, const struct stream *s)
{
	return sp->s[0] == s ? 0 : 1;
}

static void data_cb(void *arg, struct stream *s, const uint8_t *buf, size_t len)
{
	struct splice *sp = arg;
	int i = side(sp, s);
	struct stream *out = sp->s[1 - i];

	stream_write(out, buf, len);
	if (sp->set->bytes)
		*sp->set->bytes += len;
	if (!sp->paused[i] && stream_queued(out) > STREAM_HIGH) {
		sp->paused[i] = true;
		stream_pause(s, true);
	}
}

/* s drained: the side writing into it may go on. */
static void drain_cb(void *arg, struct stream *s)
{
	struct splice *sp = arg;
	int j = 1 - side(sp, s);

	if (sp->paused[j]) {
		sp->paused[j] = false;
		stream_pause(sp->s[j], false);
	}
}

static void closed_cb(void *arg, struct stream *s)
{
	struct splice *sp = arg;
	struct splice_set *set = sp->set;
	struct stream *other = sp->s[1 - side(sp, s)];

	stream_set_cb(other, NULL, NULL);
	stream_close(other);
	if (sp->prev)
		sp->prev->next = sp->next;
	else
		set->head = sp->next;
	if (sp->next)
		sp->next->prev = sp->prev;
	set->n--;
	free(sp);
}

int splice_new(struct splice_set *set, struct stream *a, struct stream *b)
{
	static const struct stream_cb cb = { .data = data_cb, .drain = drain_cb, .closed = closed_cb };
	struct splice *sp = calloc(1, sizeof(*sp));

	if (!sp)
		return -ENOMEM;
	sp->s[0] = a;
	sp->s[1] = b;
	sp->set = set;
	sp->next = set->head;
	if (set->head)
		set->head->prev = sp;
	set->head = sp;
	set->n++;
	stream_set_cb(a, &cb, sp);
	stream_set_cb(b, &cb, sp);
	return 0;
}
