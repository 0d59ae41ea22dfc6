/*
 * tconn.c - see tconn.h. A tconn owns its tlink from tconn_new until it
 * closes, and one timer for the ping, dead and attach deadlines.
 *
 * Invariants:
 *   - every tconn is on the daemon's list (d->tconns) from tconn_new until
 *     its timer's close callback frees it, so tconn_close_all can wait for
 *     the ones already closing;
 *   - path_conn_down is called exactly once, from close_now(), whatever
 *     closed it (link down, protocol error, deadline, tconn_close);
 *   - once closing, no frame is handled and nothing is written.
 *
 * PACKET bodies are copied into a scratch buffer of the tconn's own before
 * receive.c sees them: it decrypts in place, and the splitter hands out
 * frames that lie whole in the link's read buffer without copying (const).
 */
#include "tconn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "daemon.h"
#include "log.h"
#include "path.h"
#include "peer.h"
#include "tlink.h"

/* The public struct and what only this file uses. */
struct conn {
	struct tconn c;              /* first: a struct tconn * is a struct conn * */
	uint8_t *scratch;            /* PACKET body handed to receive.c (writable) */
	size_t scratch_cap;
	uint64_t ping_tried_ms;      /* last PING attempt, sent or dropped */
	uint64_t ping_seq;           /* PING bodies: a counter, echoed in PONG */
	void (*done)(void *arg);     /* tconn_close_all's callback */
	void *done_arg;
};

static struct conn *conn_of(struct tconn *c) { return (struct conn *)c; }

static uint64_t now_ms(const struct tconn *c) { return uv_now(c->d->loop); }

/* Test builds divide protocol ages by time_scale (daemon.h). */
static uint64_t scaled(const struct tconn *c, uint64_t ms)
{
	return c->d->time_scale > 1 ? ms / c->d->time_scale : ms;
}

static const char *peer_name(const struct tconn *c)
{
	return c->peer ? c->peer->cfg.name : "unattached";
}

/* ---------------------------------------------------------- sending */

static int write_frame(struct tconn *c, uint8_t type, const uint8_t *body, size_t len)
{
	uint8_t hdr[TCPFRAME_HDR_LEN];
	if (c->closing || !c->link)
		return -ENOTCONN;
	tcpframe_header(hdr, type, len);
	int rc = tlink_write2(c->link, hdr, sizeof(hdr), body, len);
	if (rc == -ENOBUFS) {
		c->tx_dropped++;
		return rc;
	}
	if (rc < 0)
		return rc;
	c->tx_frames++;
	c->last_tx_ms = now_ms(c);
	return 0;
}

int tconn_send(struct tconn *c, const uint8_t *pkt, size_t len)
{
	/* The far end closes the stream on a frame over its receive limit:
	 * better to drop one packet than the path. */
	if (len > TCPFRAME_RX_MAX)
		return -EMSGSIZE;
	return write_frame(c, TCPFRAME_PACKET, pkt, len);
}

static void send_ping(struct tconn *c)
{
	struct conn *k = conn_of(c);
	uint8_t body[TCPFRAME_PING_LEN];
	uint64_t seq = ++k->ping_seq;
	for (int i = 0; i < TCPFRAME_PING_LEN; i++)
		body[i] = (uint8_t)(seq >> (8 * (TCPFRAME_PING_LEN - 1 - i)));
	k->ping_tried_ms = now_ms(c);
	(void)write_frame(c, TCPFRAME_PING, body, sizeof(body)); /* a full queue: the next one */
}

/* ---------------------------------------------------------- closing */

static void closed_cb(uv_handle_t *h)
{
	struct tconn *c = h->data;
	struct conn *k = conn_of(c);
	struct daemon *d = c->d;
	for (struct tconn **pp = &d->tconns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	void (*done)(void *) = k->done;
	void *done_arg = k->done_arg;
	tcpframe_rx_free(&c->rx);
	free(k->scratch);
	free(k);
	if (done && !d->tconns)
		done(done_arg);
}

/* The one way down. tell: send the far end a CLOSE with why (we close on
 * purpose); the link then closes once that went out (it would be dropped
 * from the queue otherwise). link_gone: the link is closing by itself (its
 * down callback ran), so it is neither written to nor closed here. */
static void close_now(struct tconn *c, const char *why, bool tell, bool link_gone)
{
	bool told = false;
	if (c->closing)
		return;
	if (tell && !link_gone && c->link && why) {
		size_t n = strlen(why);
		if (n > TCPFRAME_REASON_MAX)
			n = TCPFRAME_REASON_MAX;
		told = write_frame(c, TCPFRAME_CLOSE, (const uint8_t *)why, n) == 0;
	}
	c->closing = true;
	uv_timer_stop(&c->timer);
	if (c->link && !link_gone && told)
		tlink_close_after_flush(c->link);
	else if (c->link && !link_gone)
		tlink_close(c->link);
	c->link = NULL;
	log_info("%s (%s): closed: %s", c->desc, peer_name(c), why ? why : "closed");
	path_conn_down(c->d, c);
	uv_close((uv_handle_t *)&c->timer, closed_cb);
}

void tconn_close(struct tconn *c, const char *why)
{
	if (c)
		close_now(c, why, true, false);
}

void tconn_close_all(struct daemon *d, void (*done)(void *arg), void *arg)
{
	if (!d->tconns) {
		if (done)
			done(arg);
		return;
	}
	/* Whichever is freed last finds the list empty and calls done; the
	 * ones already closing are waited for too. */
	for (struct tconn *c = d->tconns; c; c = c->next) {
		conn_of(c)->done = done;
		conn_of(c)->done_arg = arg;
	}
	struct tconn *next;
	for (struct tconn *c = d->tconns; c; c = next) {
		next = c->next; /* closing does not unlink: closed_cb does */
		close_now(c, "tund is shutting down", true, false);
	}
}

/* -------------------------------------------------------- receiving */

/* The far end's reason, safe for one log line. */
static void log_close_frame(struct tconn *c, const uint8_t *body, size_t len)
{
	char why[TCPFRAME_REASON_MAX + 1];
	size_t n = len < TCPFRAME_REASON_MAX ? len : TCPFRAME_REASON_MAX;
	for (size_t i = 0; i < n; i++)
		why[i] = body[i] < 0x20 || body[i] == 0x7f ? '?' : (char)body[i];
	why[n] = '\0';
	log_info("%s (%s): the far end closes: %s", c->desc, peer_name(c), n ? why : "no reason given");
}

static int rx_packet(struct tconn *c, const uint8_t *body, size_t len)
{
	struct conn *k = conn_of(c);
	if (len > k->scratch_cap) {
		uint8_t *b = realloc(k->scratch, len);
		if (!b)
			return -ENOMEM;
		k->scratch = b;
		k->scratch_cap = len;
	}
	if (len)
		memcpy(k->scratch, body, len);
	struct pathref from = {
		.kind = c->kind == TCONN_RELAY ? PATH_RELAY : PATH_TCP,
		.conn = c,
	};
	receive_packet(c->d, k->scratch, len, &from);
	return 0;
}

static int frame_cb(void *arg, uint8_t type, const uint8_t *body, size_t len)
{
	struct tconn *c = arg;
	c->rx_frames++;
	switch (type) {
	case TCPFRAME_PACKET:
		if (rx_packet(c, body, len) < 0) {
			close_now(c, "out of memory", true, false);
			return 1;
		}
		break;
	case TCPFRAME_PING:
		(void)write_frame(c, TCPFRAME_PONG, body, len);
		break;
	case TCPFRAME_PONG:
		break; /* last_rx_ms already says the stream is alive */
	case TCPFRAME_CLOSE:
		log_close_frame(c, body, len);
		close_now(c, "closed by the far end", false, false);
		return 1;
	default:
		/* SPLICED is the relay's word to a pool connection's owner
		 * (relaylink.c), before the tconn exists; here it can only come
		 * from the far tund, which has no business sending it. */
		close_now(c, "unexpected frame from the far end", true, false);
		return 1;
	}
	/* receive.c or path.c may have closed us. */
	return c->closing ? 1 : 0;
}

void tconn_input(struct tconn *c, const uint8_t *buf, size_t len)
{
	if (c->closing || !len)
		return;
	c->last_rx_ms = now_ms(c);
	const char *why = NULL;
	int rc = tcpframe_rx_feed(&c->rx, buf, len, frame_cb, c, &why);
	if (rc < 0 && !c->closing) {
		char msg[160];
		snprintf(msg, sizeof(msg), "bad stream from the far end: %s",
			 rc == -EBADMSG && why ? why : strerror(-rc));
		close_now(c, msg, true, false);
	}
}

static void link_data(void *arg, struct tlink *l, const uint8_t *buf, size_t len)
{
	(void)l;
	tconn_input(arg, buf, len);
}

static void link_down(void *arg, struct tlink *l, int err, unsigned http_status, const char *why)
{
	struct tconn *c = arg;
	(void)l;
	(void)err;
	(void)http_status;
	close_now(c, why && *why ? why : "the stream closed", false, true);
}

static void link_up(void *arg, struct tlink *l)
{
	(void)arg;
	(void)l; /* tconn_new takes over links that are up already */
}

static const struct tlink_ops conn_ops = {
	.up = link_up,
	.data = link_data,
	.down = link_down,
};

/* ----------------------------------------------------------- timers */

static void timer_cb(uv_timer_t *h);

static void arm(struct tconn *c, uint64_t now)
{
	struct conn *k = conn_of(c);
	uint64_t last_ping = c->last_tx_ms > k->ping_tried_ms ? c->last_tx_ms : k->ping_tried_ms;
	uint64_t due = last_ping + scaled(c, TCONN_PING_MS);
	uint64_t dead = c->last_rx_ms + scaled(c, TCONN_DEAD_MS);
	if (dead < due)
		due = dead;
	if (!c->peer && c->created_ms + scaled(c, TCONN_ATTACH_MS) < due)
		due = c->created_ms + scaled(c, TCONN_ATTACH_MS);
	uv_timer_start(&c->timer, timer_cb, due > now ? due - now : 1, 0);
}

static void timer_cb(uv_timer_t *h)
{
	struct tconn *c = h->data;
	struct conn *k = conn_of(c);
	if (c->closing)
		return;
	uint64_t now = now_ms(c);
	if (!c->peer && now - c->created_ms >= scaled(c, TCONN_ATTACH_MS)) {
		close_now(c, "no handshake named the peer in time", true, false);
		return;
	}
	if (now - c->last_rx_ms >= scaled(c, TCONN_DEAD_MS)) {
		char why[64];
		snprintf(why, sizeof(why), "nothing received for %.1f s", (double)(now - c->last_rx_ms) / 1000);
		close_now(c, why, true, false);
		return;
	}
	uint64_t last_ping = c->last_tx_ms > k->ping_tried_ms ? c->last_tx_ms : k->ping_tried_ms;
	if (now - last_ping >= scaled(c, TCONN_PING_MS))
		send_ping(c);
	arm(c, now);
}

/* -------------------------------------------------------- lifecycle */

int tconn_new(struct tconn **out, struct daemon *d, struct tlink *link, enum tconn_kind kind,
	      struct peer *peer)
{
	*out = NULL;
	if (d->stopping)
		return -ESHUTDOWN;
	struct conn *k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	struct tconn *c = &k->c;
	char where[80];
	c->d = d;
	c->link = link;
	c->kind = kind;
	c->peer = peer;
	tlink_describe(link, where, sizeof(where));
	snprintf(c->desc, sizeof(c->desc), "%s %s", kind == TCONN_RELAY ? "relay" : "tcp", where);
	tcpframe_rx_init(&c->rx, TCPFRAME_RX_MAX);
	c->created_ms = c->last_rx_ms = c->last_tx_ms = uv_now(d->loop);
	uv_timer_init(d->loop, &c->timer);
	c->timer.data = c;
	c->next = d->tconns;
	d->tconns = c;
	tlink_set_ops(link, &conn_ops, c);
	arm(c, c->created_ms);
	log_debug("%s (%s): open", c->desc, peer_name(c));
	*out = c;
	return 0;
}

void tconn_attach(struct tconn *c, struct peer *p)
{
	if (c->closing || c->peer == p)
		return;
	c->peer = p;
	log_debug("%s: attached to peer %s", c->desc, p ? p->cfg.name : "none");
	/* The attach deadline no longer applies; the timer re-arms itself on
	 * its next run from the remaining deadlines. */
}
