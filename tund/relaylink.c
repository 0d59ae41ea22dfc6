/*
 * relaylink.c - see relaylink.h. Two kinds of dial, both through the
 * daemon's dialer (one target each):
 *
 *   pool   (server) dialling -> idle at the relay (PING every
 *          RELAYPROTO_PING_S, PONG expected) -> SPLICED: the link becomes
 *          an unattached tconn and the pool entry is gone;
 *   client dialling -> up: the link becomes a tconn attached to the peer.
 *
 * Pool policy: with no failure since the last success, every missing
 * entry is dialled at once; after a failure only one probe dial runs at a
 * time, each after a jittered backoff (failures count once per backoff
 * round, not once per concurrent dial), and the first success refills the
 * whole pool. An idle connection lost after less than RELAYLINK_STABLE_MS
 * counts as a failure too, so a relay that drops us cannot make us spin.
 *
 * Clock: a 401 whose Tund-Time shows our clock off by more than half the
 * relay's tolerance (network delay cannot explain that) was for the clock.
 * The offset is kept for every later dial to this relay (until another
 * relay is named) and the refused dial is repeated once at once with it;
 * a repeat refused again goes to the usual failure handling. A 401 that
 * the clock does not explain is the key's.
 *
 * The object always exists (the mediator may name a relay later); every
 * function also accepts NULL. Memory: pool entries and client dials are
 * plain heap nodes freed where they end; the object itself goes in its
 * timers' close callbacks.
 */
#include "relaylink.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>
#include <uv.h>

#include "daemon.h"
#include "dialer.h"
#include "log.h"
#include "medproto.h"
#include "path.h"
#include "peer.h"
#include "relayproto.h"
#include "serverid.h"
#include "tconn.h"
#include "tcpframe.h"
#include "timers.h"
#include "tlink.h"

/* No PONG (or anything) for this long: the idle connection is dead. The
 * relay itself drops one silent for RELAYPROTO_IDLE_S. */
#define RELAYLINK_POOL_DEAD_MS ((2 * RELAYPROTO_PING_S + 10) * 1000)
/* An idle connection that lived this long before it was lost was fine:
 * replaced at once, not after a backoff. */
#define RELAYLINK_STABLE_MS (RELAYPROTO_IDLE_S * 1000)

struct pool_conn {
	struct relaylink *r;
	struct dial *dial;            /* while dialling */
	struct tlink *link;           /* once up, idle at the relay */
	struct tcpframe_rx rx;        /* the relay's frames before the splice */
	bool spliced;                 /* SPLICED seen in the current input */
	uint64_t up_ms, last_rx_ms, last_ping_ms;
	uint64_t ping_seq;
	int64_t signed_offset_s;      /* the clock offset its request used */
	bool clock_refused;           /* its 401 was for the clock */
	bool clock_retry;             /* it is the one repeat with a new offset */
	struct pool_conn *next;
};

struct client_dial {
	struct relaylink *r;
	struct peer *p;
	struct dial *dial;
	int64_t signed_offset_s;      /* as for pool_conn */
	bool clock_refused, clock_retry;
	struct client_dial *next;
};

struct relaylink {
	struct daemon *d;
	bool known, from_config;
	char host[CFG_HOST_MAX];
	uint16_t port;
	uint8_t key[KEY_LEN];
	char server_id[MEDPROTO_SERVER_ID_MAX];
	int64_t clock_offset_s;       /* the relay's clock minus ours, s (its 401s) */

	struct pool_conn *pool;
	struct client_dial *dials;
	unsigned failures;            /* pool: backoff rounds since the last success */
	uint64_t failing_since_ms;    /* pool: the first of those failures */
	bool retry_armed;             /* the backoff timer runs */
	uv_timer_t retry_timer;       /* pool backoff */
	uv_timer_t ping_timer;        /* pool PINGs and dead idle connections */
	unsigned handles;
	bool closing;

	uint64_t spliced;             /* pool connections handed to clients */
	const char *method;           /* of the last link that came up; NULL = none yet */
	char last_error[200];
};

static void refill(struct relaylink *r);
static void arm_ping(struct relaylink *r);

static uint64_t now_ms(const struct relaylink *r) { return uv_now(r->d->loop); }

/* The request for path to the relay, authenticated with our static key.
 * The caller wipes it (it holds the private key). */
static int make_target(const struct relaylink *r, struct tlink_target *t, const char *path,
		       const char *extra)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->host, sizeof(t->host), "%s", r->host);
	t->port = r->port;
	t->http = true;
	if ((size_t)snprintf(t->path, sizeof(t->path), "%s", path) >= sizeof(t->path))
		return -ENAMETOOLONG;
	t->auth = true;
	memcpy(t->priv, r->d->self.priv, KEY_LEN);
	memcpy(t->pub, r->d->self.pub, KEY_LEN);
	memcpy(t->relay_pub, r->key, KEY_LEN);
	snprintf(t->extra_headers, sizeof(t->extra_headers), "%s", extra ? extra : "");
	t->clock_offset_s = r->clock_offset_s;
	return 0;
}

static int dial(struct relaylink *r, const char *path, const char *extra, const struct tlink_ops *ops,
		void *arg, struct dial **out)
{
	struct tlink_target t;
	if (!r->d->dialer)
		return -ENOENT;
	int rc = make_target(r, &t, path, extra);
	if (!rc)
		rc = dialer_dial(r->d->dialer, &t, 1, ops, arg, out);
	sodium_memzero(&t, sizeof(t));
	return rc;
}

static int64_t abs64(int64_t v) { return v < 0 ? -v : v; }

/* The relay's clock (relay_unix) came with a 401 to a request signed with
 * offset used. True when it explains the refusal; the offset is then kept. */
static bool clock_learn(struct relaylink *r, int64_t used, int64_t relay_unix)
{
	int64_t skew = relay_unix - (int64_t)time(NULL);
	if (abs64(skew - used) <= RELAYPROTO_SKEW_S / 2)
		return false;
	if (abs64(skew - r->clock_offset_s) > RELAYPROTO_SKEW_S / 2) /* news, not another contender */
		log_warn("relay: the relay's clock is %lld s %s ours; signing with its time",
			 (long long)abs64(skew), skew >= 0 ? "ahead of" : "behind");
	r->clock_offset_s = skew;
	return true;
}

/* A refusal or failure in words for status and logs. A 401 to a request
 * signed with the relay's clock (used != 0), or refused for the clock even
 * so (refused: a repeat), says what is left to check. */
static void explain(char *out, size_t outlen, unsigned status, const char *why, bool client,
		    int64_t used, bool refused)
{
	if (status == 401 && refused) {
		snprintf(out, outlen, "relay: the relay refused our clock again (401) though we signed with "
			 "its time (%+lld s from ours): is its clock steady?", (long long)used);
		return;
	}
	if (status == 401 && used) {
		snprintf(out, outlen, "relay: the relay refused our key (401) though we signed with its "
			 "time (%+lld s from ours): is relay_key right?", (long long)used);
		return;
	}
	const char *what = NULL;
	switch (status) {
	case 401: what = "the relay refused our key (401): is relay_key right, and the clock?"; break;
	case 404: what = client ? "the server has no idle connection at the relay (offline)"
				: "the relay does not know this request (404)"; break;
	case 429: what = "the relay is rate limiting us (429)"; break;
	case 503: what = "the relay is full (503)"; break;
	default: break;
	}
	if (what)
		snprintf(out, outlen, "relay: %s", what);
	else
		snprintf(out, outlen, "relay: %s", why && *why ? why : "cannot reach the relay");
}

/* ------------------------------------------------------------ the pool */

static unsigned pool_count(const struct relaylink *r, bool idle_only)
{
	unsigned n = 0;
	for (const struct pool_conn *pc = r->pool; pc; pc = pc->next)
		n += !idle_only || pc->link;
	return n;
}

static bool pool_wanted(const struct relaylink *r)
{
	return !r->closing && r->known && r->d->cfg.publish && r->d->cfg.relay_pool > 0 && !r->d->stopping;
}

static void pool_unlink(struct pool_conn *pc)
{
	for (struct pool_conn **pp = &pc->r->pool; *pp; pp = &(*pp)->next) {
		if (*pp == pc) {
			*pp = pc->next;
			break;
		}
	}
}

/* Ends an entry: cancels its dial or closes its link (when close_link;
 * not when the link reported down itself, nor when a tconn took it). */
static void pool_free(struct pool_conn *pc, bool close_link)
{
	pool_unlink(pc);
	if (pc->dial)
		dial_cancel(pc->dial);
	if (pc->link && close_link)
		tlink_close(pc->link);
	tcpframe_rx_free(&pc->rx);
	free(pc);
}

static void retry_cb(uv_timer_t *h)
{
	struct relaylink *r = h->data;
	r->retry_armed = false;
	refill(r);
}

/* A dial failed or an idle connection did not last: back off. */
static void pool_failed(struct relaylink *r, const char *why)
{
	if (!r->retry_armed) {
		/* A relay that was working and went away is usually restarting:
		 * while it has been gone less than RELAYLINK_QUICK_MS, probe it
		 * at most RELAYLINK_QUICK_MAX_MS apart so the pool is back within
		 * about that long of its return; then back off for real. */
		uint64_t now = now_ms(r);
		if (!r->failures)
			r->failing_since_ms = now;
		uint64_t max = now - r->failing_since_ms < RELAYLINK_QUICK_MS ? RELAYLINK_QUICK_MAX_MS
									   : RELAYLINK_BACKOFF_MAX_MS;
		uint64_t delay = timers_backoff_ms(RELAYLINK_BACKOFF_MIN_MS, max, r->failures);
		/* warn on the first failure and on a new reason, not every retry */
		if (!r->failures || strcmp(why, r->last_error))
			log_warn("%s; retrying in %llu ms", why, (unsigned long long)delay);
		else
			log_debug("%s; retrying in %llu ms", why, (unsigned long long)delay);
		r->failures++;
		r->retry_armed = true;
		uv_timer_start(&r->retry_timer, retry_cb, delay, 0);
	}
	snprintf(r->last_error, sizeof(r->last_error), "%s", why);
}

static void pool_up(void *arg, struct tlink *l);
static void pool_data(void *arg, struct tlink *l, const uint8_t *buf, size_t len);
static void pool_down(void *arg, struct tlink *l, int err, unsigned http_status, const char *why);

static void pool_clock(void *arg, struct tlink *l, int64_t relay_unix);

static const struct tlink_ops pool_ops = {
	.up = pool_up, .data = pool_data, .down = pool_down, .clock = pool_clock,
};

/* clock_retry: the repeat of a dial the relay refused for our clock. */
static int pool_dial(struct relaylink *r, bool clock_retry)
{
	char extra[sizeof(((struct tlink_target *)0)->extra_headers)];
	struct pool_conn *pc = calloc(1, sizeof(*pc));
	if (!pc)
		return -ENOMEM;
	pc->r = r;
	pc->signed_offset_s = r->clock_offset_s;
	pc->clock_retry = clock_retry;
	/* Before the splice only PING, PONG, SPLICED and CLOSE may come, the
	 * largest a CLOSE; pool_frame refuses a PACKET. */
	tcpframe_rx_init(&pc->rx, TCPFRAME_REASON_MAX);
	snprintf(extra, sizeof(extra), "Tund-Server-Id: %s\r\n", r->server_id);
	int rc = dial(r, RELAYPROTO_PATH_LISTEN, extra, &pool_ops, pc, &pc->dial);
	if (rc < 0) {
		tcpframe_rx_free(&pc->rx);
		free(pc);
		return rc;
	}
	pc->next = r->pool;
	r->pool = pc;
	return 0;
}

static void refill(struct relaylink *r)
{
	if (!pool_wanted(r) || r->retry_armed)
		return;
	unsigned want = r->d->cfg.relay_pool;
	if (r->failures > 0)
		want = pool_count(r, true) + 1; /* one probe dial at a time */
	if (want > r->d->cfg.relay_pool)
		want = r->d->cfg.relay_pool;
	while (pool_count(r, false) < want) {
		int rc = pool_dial(r, false);
		if (rc < 0) {
			char why[160];
			snprintf(why, sizeof(why), "relay: cannot start a pool connection: %s", strerror(-rc));
			pool_failed(r, why);
			return;
		}
	}
}

static void pool_up(void *arg, struct tlink *l)
{
	struct pool_conn *pc = arg;
	struct relaylink *r = pc->r;
	uint64_t now = now_ms(r);
	pc->dial = NULL;
	pc->link = l;
	pc->up_ms = pc->last_rx_ms = pc->last_ping_ms = now;
	r->method = tlink_method_name(tlink_method(l));
	if (r->failures) {
		log_info("relay: pool connection to %s:%u up again (via %s)", r->host, r->port, r->method);
		r->failures = 0;
	}
	/* a straggler of the last round may have armed the backoff: the
	 * relay works, so fill the pool now */
	uv_timer_stop(&r->retry_timer);
	r->retry_armed = false;
	r->last_error[0] = '\0';
	arm_ping(r);
	refill(r);
}

/* SPLICED: a client is on the other end. The link becomes a tconn that
 * the client's handshake will attach; rest is what followed SPLICED. */
static void pool_spliced(struct pool_conn *pc, const uint8_t *rest, size_t rest_len)
{
	struct relaylink *r = pc->r;
	struct daemon *d = r->d;
	struct tlink *l = pc->link;
	struct tconn *c;
	pc->link = NULL; /* the tconn owns it now */
	pool_free(pc, false);
	r->spliced++;
	int rc = tconn_new(&c, d, l, TCONN_RELAY, NULL);
	if (rc < 0) {
		log_warn("relay: cannot take a spliced connection: %s", strerror(-rc));
		tlink_close(l);
	} else {
		log_debug("relay: a client was spliced onto a pool connection");
		tconn_input(c, rest, rest_len);
	}
	refill(r);
}

static int pool_frame(void *arg, uint8_t type, const uint8_t *body, size_t len)
{
	struct pool_conn *pc = arg;
	uint8_t hdr[TCPFRAME_HDR_LEN];
	switch (type) {
	case TCPFRAME_SPLICED:
		pc->spliced = true;
		return 1; /* stop: what follows is the client's */
	case TCPFRAME_PING: /* the relay does not ping; answering costs nothing */
		tcpframe_header(hdr, TCPFRAME_PONG, len);
		(void)tlink_write2(pc->link, hdr, sizeof(hdr), body, len);
		return 0;
	case TCPFRAME_PONG:
		return 0;
	case TCPFRAME_CLOSE: {
		char why[TCPFRAME_REASON_MAX + 1];
		for (size_t i = 0; i < len; i++)
			why[i] = body[i] < 0x20 || body[i] == 0x7f ? '?' : (char)body[i];
		why[len] = '\0';
		log_info("relay: closes a pool connection: %s", len ? why : "no reason given");
		return -ECONNRESET;
	}
	default:
		return -EBADMSG; /* a PACKET before the splice */
	}
}

static void pool_data(void *arg, struct tlink *l, const uint8_t *buf, size_t len)
{
	struct pool_conn *pc = arg;
	struct relaylink *r = pc->r;
	const char *why = NULL;
	(void)l;
	pc->last_rx_ms = now_ms(r);
	/* Byte by byte, so that the end of SPLICED is known exactly: the
	 * client's first frames may follow in the same read, and they are the
	 * tconn's. Before the splice the relay only sends a PONG per PING. */
	for (size_t i = 0; i < len; i++) {
		int rc = tcpframe_rx_feed(&pc->rx, buf + i, 1, pool_frame, pc, &why);
		if (pc->spliced) {
			pool_spliced(pc, buf + i + 1, len - i - 1);
			return;
		}
		if (rc < 0) {
			char msg[160];
			if (rc == -ECONNRESET)
				snprintf(msg, sizeof(msg), "relay: pool connection closed by the relay");
			else
				snprintf(msg, sizeof(msg), "relay: pool connection: bad frame before the splice%s%s",
					 why ? ": " : "", why ? why : "");
			pool_free(pc, true);
			pool_failed(r, msg);
			return;
		}
	}
}

static void pool_down(void *arg, struct tlink *l, int err, unsigned http_status, const char *why)
{
	struct pool_conn *pc = arg;
	struct relaylink *r = pc->r;
	char msg[200];
	(void)err;
	if (!l) { /* the dial failed */
		bool again = http_status == 401 && pc->clock_refused && !pc->clock_retry;
		int64_t used = pc->signed_offset_s;
		bool refused = pc->clock_refused;
		pc->dial = NULL;
		pool_free(pc, false);
		if (again && !pool_wanted(r))
			return;
		int rc = again ? pool_dial(r, true) : 0;
		if (again && rc == 0)
			return; /* not a failure: the repeat decides */
		if (rc < 0)
			snprintf(msg, sizeof(msg), "relay: cannot start a pool connection: %s", strerror(-rc));
		else
			explain(msg, sizeof(msg), http_status, why, false, used, refused);
		pool_failed(r, msg);
		return;
	}
	bool stable = now_ms(r) - pc->up_ms >= RELAYLINK_STABLE_MS;
	pc->link = NULL; /* closing by itself */
	pool_free(pc, false);
	snprintf(msg, sizeof(msg), "relay: pool connection lost: %s", why && *why ? why : "closed");
	if (stable) {
		log_debug("%s", msg);
		refill(r);
	} else {
		pool_failed(r, msg);
	}
}

static void pool_clock(void *arg, struct tlink *l, int64_t relay_unix)
{
	struct pool_conn *pc = arg;
	(void)l;
	pc->clock_refused |= clock_learn(pc->r, pc->signed_offset_s, relay_unix);
}

static void send_pool_ping(struct pool_conn *pc, uint64_t now)
{
	uint8_t f[TCPFRAME_HDR_LEN + TCPFRAME_PING_LEN];
	uint64_t seq = ++pc->ping_seq;
	tcpframe_header(f, TCPFRAME_PING, TCPFRAME_PING_LEN);
	for (int i = 0; i < TCPFRAME_PING_LEN; i++)
		f[TCPFRAME_HDR_LEN + i] = (uint8_t)(seq >> (8 * (TCPFRAME_PING_LEN - 1 - i)));
	pc->last_ping_ms = now;
	(void)tlink_write(pc->link, f, sizeof(f)); /* lost: the dead deadline decides */
}

static void ping_cb(uv_timer_t *h)
{
	struct relaylink *r = h->data;
	uint64_t now = now_ms(r);
	struct pool_conn *next;
	bool lost = false;
	for (struct pool_conn *pc = r->pool; pc; pc = next) {
		next = pc->next;
		if (!pc->link)
			continue;
		if (now - pc->last_rx_ms >= RELAYLINK_POOL_DEAD_MS) {
			pool_free(pc, true);
			lost = true;
		} else if (now - pc->last_ping_ms >= RELAYPROTO_PING_S * 1000) {
			send_pool_ping(pc, now);
		}
	}
	if (lost)
		pool_failed(r, "relay: a pool connection stopped answering PINGs");
	arm_ping(r);
}

static void arm_ping(struct relaylink *r)
{
	uint64_t now = now_ms(r), due = 0;
	for (const struct pool_conn *pc = r->pool; pc; pc = pc->next) {
		if (!pc->link)
			continue;
		uint64_t t = pc->last_ping_ms + RELAYPROTO_PING_S * 1000;
		uint64_t dead = pc->last_rx_ms + RELAYLINK_POOL_DEAD_MS;
		t = dead < t ? dead : t;
		if (!due || t < due)
			due = t;
	}
	if (!due)
		uv_timer_stop(&r->ping_timer);
	else
		uv_timer_start(&r->ping_timer, ping_cb, due > now ? due - now : 1, 0);
}

/* Drops the pool (a new relay, or shutdown). */
static void pool_clear(struct relaylink *r)
{
	while (r->pool)
		pool_free(r->pool, true);
	uv_timer_stop(&r->ping_timer);
	uv_timer_stop(&r->retry_timer);
	r->retry_armed = false;
	r->failures = 0;
}

/* ------------------------------------------------------------- clients */

static void client_unlink(struct client_dial *cd)
{
	for (struct client_dial **pp = &cd->r->dials; *pp; pp = &(*pp)->next) {
		if (*pp == cd) {
			*pp = cd->next;
			break;
		}
	}
}

static void client_up(void *arg, struct tlink *l)
{
	struct client_dial *cd = arg;
	struct relaylink *r = cd->r;
	struct peer *p = cd->p;
	struct tconn *c;
	client_unlink(cd);
	free(cd);
	r->method = tlink_method_name(tlink_method(l));
	int rc = tconn_new(&c, r->d, l, TCONN_RELAY, p);
	if (rc < 0) {
		char why[160];
		tlink_close(l);
		snprintf(why, sizeof(why), "relay: cannot use the session: %s", strerror(-rc));
		path_relay_failed(r->d, p, why);
		return;
	}
	path_conn_up(r->d, p, c);
}

static void client_data(void *arg, struct tlink *l, const uint8_t *buf, size_t len)
{
	/* Unreachable: client_up hands the link to a tconn before any data. */
	(void)arg;
	(void)l;
	(void)buf;
	(void)len;
}

static int client_start(struct client_dial *cd);

static void client_down(void *arg, struct tlink *l, int err, unsigned http_status, const char *why)
{
	struct client_dial *cd = arg;
	struct relaylink *r = cd->r;
	struct peer *p = cd->p;
	char msg[200];
	int rc = 0;
	(void)err;
	if (l)
		return; /* unreachable, as for client_data */
	cd->dial = NULL;
	if (http_status == 401 && cd->clock_refused && !cd->clock_retry) {
		cd->clock_retry = true;
		rc = client_start(cd);
		if (rc == 0)
			return; /* the repeat reports */
	}
	client_unlink(cd);
	if (rc < 0)
		snprintf(msg, sizeof(msg), "relay: cannot ask again: %s", strerror(-rc));
	else
		explain(msg, sizeof(msg), http_status, why, true, cd->signed_offset_s, cd->clock_refused);
	free(cd);
	if (http_status != 404) /* offline is the peer's state, not the relay's */
		snprintf(r->last_error, sizeof(r->last_error), "%s", msg);
	path_relay_failed(r->d, p, msg);
}

static void client_clock(void *arg, struct tlink *l, int64_t relay_unix)
{
	struct client_dial *cd = arg;
	(void)l;
	cd->clock_refused |= clock_learn(cd->r, cd->signed_offset_s, relay_unix);
}

static const struct tlink_ops client_ops = {
	.up = client_up, .data = client_data, .down = client_down, .clock = client_clock,
};

static struct client_dial *client_find(const struct relaylink *r, const struct peer *p)
{
	for (struct client_dial *cd = r->dials; cd; cd = cd->next)
		if (cd->p == p)
			return cd;
	return NULL;
}

/* Starts (or repeats) cd's dial with the relay's clock as known now. */
static int client_start(struct client_dial *cd)
{
	struct relaylink *r = cd->r;
	struct peer *p = cd->p;
	char path[TLINK_PATH_MAX];
	if (p->cfg.server_id[0])
		snprintf(path, sizeof(path), "%s%s.%s", RELAYPROTO_PATH_CONNECT, p->cfg.server_id, p->system_id);
	else
		snprintf(path, sizeof(path), "%s%s", RELAYPROTO_PATH_CONNECT, p->system_id);
	cd->signed_offset_s = r->clock_offset_s;
	cd->clock_refused = false;
	int rc = dial(r, path, NULL, &client_ops, cd, &cd->dial);
	if (rc == 0)
		log_debug("peer %s: asking the relay for a session (%s)%s", p->cfg.name, path,
			  cd->clock_retry ? " again, with its clock" : "");
	return rc;
}

int relaylink_connect(struct relaylink *r, struct peer *p)
{
	if (!r || !r->known || r->closing)
		return -ENOENT;
	if (client_find(r, p))
		return 0;
	struct client_dial *cd = calloc(1, sizeof(*cd));
	if (!cd)
		return -ENOMEM;
	cd->r = r;
	cd->p = p;
	/* Errors are returned, never reported through path_relay_failed from
	 * here: the caller marks the dial as running only after we return. */
	int rc = client_start(cd);
	if (rc < 0) {
		free(cd);
		return rc;
	}
	cd->next = r->dials;
	r->dials = cd;
	return 0;
}

void relaylink_cancel(struct relaylink *r, struct peer *p)
{
	struct client_dial *cd = r ? client_find(r, p) : NULL;
	if (!cd)
		return;
	client_unlink(cd);
	dial_cancel(cd->dial);
	free(cd);
}

/* ------------------------------------------------------------ lifecycle */

static void timer_closed_cb(uv_handle_t *h)
{
	struct relaylink *r = h->data;
	if (--r->handles == 0)
		free(r);
}

int relaylink_new(struct relaylink **out, struct daemon *d)
{
	*out = NULL;
	struct relaylink *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->d = d;
	serverid_get(&d->cfg, r->server_id);
	if (d->cfg.has_relay) {
		r->known = r->from_config = true;
		snprintf(r->host, sizeof(r->host), "%s", d->cfg.relay_host);
		r->port = d->cfg.relay_port;
		memcpy(r->key, d->cfg.relay_key, KEY_LEN);
	}
	uv_timer_init(d->loop, &r->retry_timer);
	uv_timer_init(d->loop, &r->ping_timer);
	r->retry_timer.data = r->ping_timer.data = r;
	r->handles = 2;
	*out = r;
	refill(r);
	return 0;
}

void relaylink_close(struct relaylink *r)
{
	if (!r || r->closing)
		return;
	r->closing = true;
	pool_clear(r);
	while (r->dials) {
		struct client_dial *cd = r->dials;
		r->dials = cd->next;
		dial_cancel(cd->dial);
		free(cd);
	}
	uv_close((uv_handle_t *)&r->retry_timer, timer_closed_cb);
	uv_close((uv_handle_t *)&r->ping_timer, timer_closed_cb);
}

void relaylink_learn(struct relaylink *r, const char *host, uint16_t port, const uint8_t key[KEY_LEN])
{
	if (!r || r->closing || r->from_config)
		return;
	if (r->known && !strcmp(r->host, host) && r->port == port && !memcmp(r->key, key, KEY_LEN))
		return;
	if ((size_t)snprintf(r->host, sizeof(r->host), "%s", host) >= sizeof(r->host)) {
		r->known = false;
		return;
	}
	r->port = port;
	memcpy(r->key, key, KEY_LEN);
	r->clock_offset_s = 0; /* another relay, another clock */
	bool had = r->known;
	r->known = true;
	log_info("relay: %s %s:%u (named by the mediator)", had ? "now using" : "using", host, port);
	pool_clear(r);
	r->last_error[0] = '\0';
	refill(r);
}

bool relaylink_known(const struct relaylink *r) { return r && r->known; }

unsigned relaylink_pool_idle(const struct relaylink *r) { return r ? pool_count(r, true) : 0; }

void relaylink_describe(const struct relaylink *r, char *out, size_t outlen)
{
	size_t n;
	if (!r || !r->known) {
		snprintf(out, outlen, "off (none configured%s)",
			 r && r->d->cfg.has_mediator ? " and none named by the mediator yet" : "");
		return;
	}
	n = (size_t)snprintf(out, outlen, "%s:%u (%s)", r->host, r->port,
			     r->from_config ? "configured" : "from the mediator");
	if (n < outlen && r->d->cfg.publish)
		n += (size_t)snprintf(out + n, outlen - n, "; pool %u/%u idle, %llu spliced",
				      pool_count(r, true), r->d->cfg.relay_pool, (unsigned long long)r->spliced);
	if (n < outlen && r->method)
		n += (size_t)snprintf(out + n, outlen - n, "; via %s", r->method);
	if (n < outlen && r->clock_offset_s)
		n += (size_t)snprintf(out + n, outlen - n, "; its clock %+lld s from ours",
				      (long long)r->clock_offset_s);
	if (n < outlen && r->last_error[0])
		snprintf(out + n, outlen - n, "; last error: %s", r->last_error);
}
