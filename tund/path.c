/*
 * path.c - see path.h. A peer's candidates (struct cand in peer.h) are
 * its paths: UDP addresses from config, the mediator and the network,
 * and stream paths (tconns). The current path is kept as a value in the
 * peer (endpoint or conn, and its kind), never as an index, because the
 * candidate table is compacted when entries leave.
 *
 * Everything here runs on the peer's timer (path_tick) or on receipt of
 * an authenticated packet; no path state changes on unauthenticated input.
 */
#include "path.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "daemon.h"
#include "log.h"
#include "peer.h"
#include "punch.h"
#include "relaylink.h"
#include "resolve.h"
#include "tconn.h"
#include "timers.h"

const char *path_kind_name(enum path_kind k)
{
	switch (k) {
	case PATH_LAN:
		return "lan";
	case PATH_DIRECT:
		return "direct";
	case PATH_TCP:
		return "tcp";
	case PATH_RELAY:
		return "relay";
	case PATH_NONE:
		break;
	}
	return "none";
}

/* Data flowed, or the peer just connected or changed paths: standby
 * paths are probed at full rate then, so a tunnel that came up on the
 * relay moves to a direct path within seconds even before any data. */
static bool active(const struct peer *p, uint64_t now)
{
	uint64_t last = p->last_data_tx_ms > p->last_data_rx_ms ? p->last_data_tx_ms : p->last_data_rx_ms;
	if (p->path_since_ms > last)
		last = p->path_since_ms;
	if (p->cur && p->cur->created_ms > last)
		last = p->cur->created_ms;
	return last && now - last < PATH_ACTIVE_MS;
}

static struct cand *find(struct peer *p, const struct pathref *ref)
{
	for (unsigned i = 0; i < p->n_cands; i++) {
		struct cand *c = &p->cands[i];
		if (ref->conn ? c->conn == ref->conn : !c->conn && endpoint_equal(&c->ep, &ref->ep))
			return c;
	}
	return NULL;
}

/* UDP candidates learn whether they are on our LAN the first time the
 * path manager looks at them. */
static void classify(const struct daemon *d, struct cand *c)
{
	if (c->path == PATH_NONE && !c->conn)
		c->path = punch_is_lan(d, c->ep.addr) ? PATH_LAN : PATH_DIRECT;
}

static struct cand *find_or_add(struct daemon *d, struct peer *p, const struct pathref *ref)
{
	struct cand *c = find(p, ref);
	if (!c) {
		if (ref->conn) {
			if (!punch_add_stream(p, ref->conn, ref->kind))
				return NULL;
		} else {
			punch_add(p, &ref->ep, CAND_REFLEXIVE);
		}
		c = find(p, ref);
	}
	if (c)
		classify(d, c);
	return c;
}

static struct cand *current(struct peer *p)
{
	if (!p->has_endpoint)
		return NULL;
	struct pathref ref = { .kind = p->path, .ep = p->endpoint, .conn = p->conn };
	return find(p, &ref);
}

static void describe_cand(const struct cand *c, char *out, size_t outlen)
{
	char a[ENDPOINT_STR_LEN];
	if (c->conn) {
		snprintf(out, outlen, "%s", c->conn->desc);
		return;
	}
	endpoint_format(a, &c->ep);
	snprintf(out, outlen, "%s %s", path_kind_name(c->path), a);
}

static void set_current(struct daemon *d, struct peer *p, struct cand *c, const char *reason)
{
	uint64_t now = uv_now(d->loop);
	enum path_kind from = p->has_endpoint ? p->path : PATH_NONE;
	char what[128];

	describe_cand(c, what, sizeof(what));
	p->has_endpoint = true;
	p->conn = c->conn;
	if (!c->conn)
		p->endpoint = c->ep;
	p->path = c->path;
	p->path_since_ms = now;
	if (from != PATH_NONE || p->switches) {
		p->switches++;
		p->last_switch_unix = (int64_t)time(NULL);
		snprintf(p->last_switch, sizeof(p->last_switch), "%s -> %s: %s", path_kind_name(from),
			 path_kind_name(c->path), reason);
	}
	log_info("peer %s: path %s (%s)", p->cfg.name, what, reason);
}

static void clear_current(struct daemon *d, struct peer *p, const char *reason)
{
	if (d->stopping)
		return;
	log_info("peer %s: no working path (%s); trying every path again", p->cfg.name, reason);
	p->switches++;
	p->last_switch_unix = (int64_t)time(NULL);
	snprintf(p->last_switch, sizeof(p->last_switch), "%s -> none: %s", path_kind_name(p->path), reason);
	p->has_endpoint = false;
	p->conn = NULL;
	p->path = PATH_NONE;
	/* Handshakes go to every candidate until one answers. */
	if (peer_can_initiate(p))
		punch_start(d, p);
}

static bool fresh(const struct cand *c, uint64_t now)
{
	return c->last_ok_ms && now - c->last_ok_ms <= PATH_FRESH_MS && !c->misses;
}

static bool held_down(const struct cand *c, uint64_t now)
{
	return c->failed_ms && now - c->failed_ms < PATH_HOLDDOWN_MS;
}

/* The preferred working path: the best kind, then the lowest round trip. */
static struct cand *best_fresh(struct peer *p, uint64_t now, const struct cand *except)
{
	struct cand *best = NULL;
	for (unsigned i = 0; i < p->n_cands; i++) {
		struct cand *c = &p->cands[i];
		if (c == except || c->path == PATH_NONE || !fresh(c, now) || held_down(c, now))
			continue;
		if (!best || c->path < best->path || (c->path == best->path && c->rtt_us >= 0 &&
						       (best->rtt_us < 0 || c->rtt_us < best->rtt_us)))
			best = c;
	}
	return best;
}

static struct cand *open_stream(struct peer *p, const struct cand *except)
{
	for (unsigned i = 0; i < p->n_cands; i++)
		if (&p->cands[i] != except && p->cands[i].conn && !p->cands[i].conn->closing)
			return &p->cands[i];
	return NULL;
}

/* The one place that decides switches (path.h, Policy). */
static void evaluate(struct daemon *d, struct peer *p, uint64_t now)
{
	struct cand *cur = current(p);
	if (!cur) {
		struct cand *b = best_fresh(p, now, NULL);
		if (b)
			set_current(d, p, b, "path proven");
		return;
	}
	if (cur->misses >= PATH_DEAD_MISSES) {
		cur->failed_ms = now;
		struct cand *b = best_fresh(p, now, cur);
		if (!b)
			b = open_stream(p, cur);
		char reason[96];
		snprintf(reason, sizeof(reason), "the %s path stopped answering", path_kind_name(cur->path));
		if (b)
			set_current(d, p, b, reason);
		else
			clear_current(d, p, reason);
		return;
	}
	struct cand *b = best_fresh(p, now, cur);
	if (b && b->path < cur->path && b->streak >= PATH_UPGRADE_STREAK)
		set_current(d, p, b, "a better path answered every probe");
}

void path_heard(struct daemon *d, struct peer *p, const struct pathref *from, enum path_evidence ev)
{
	uint64_t now = uv_now(d->loop);
	/* A stream carries one peer: another peer's packet on it (a relay
	 * replaying it there) proves nothing about this peer's paths. */
	if (from->conn && from->conn->peer && from->conn->peer != p)
		return;
	/* After tunctl disconnect no session of ours is left, so this packet
	 * is a handshake the peer started: it connected again, and so are we. */
	p->disconnected = false;
	struct cand *c = find_or_add(d, p, from);
	if (!c)
		return;
	if (from->conn && !from->conn->peer)
		tconn_attach(from->conn, p);
	struct cand *cur = current(p);
	/* The peer's data on our current path says the peer uses it; its
	 * probes alone do not (it may be probing a path it has left because
	 * our direction is dead). */
	if (c == cur && ev == PATH_HEARD_DATA)
		c->misses = 0;
	if (ev == PATH_HEARD_DATA && cur && c != cur && fresh(c, now) && !held_down(c, now) &&
	    now - cur->last_rx_ms > PATH_FOLLOW_MS) {
		char reason[96];
		snprintf(reason, sizeof(reason), "the peer's traffic moved here; nothing on the %s path for %llu ms",
			 path_kind_name(cur->path), (unsigned long long)(now - cur->last_rx_ms));
		cur->failed_ms = now;
		set_current(d, p, c, reason);
	}
	c->last_rx_ms = now;
	if (ev == PATH_HEARD_HANDSHAKE) {
		c->last_ok_ms = now;
		c->misses = 0;
		c->probe_sent_ms = 0;
		if (c->streak < 1)
			c->streak = 1;
		if (!cur || c->path < cur->path || cur->misses)
			set_current(d, p, c, cur ? "handshake completed on a better path" : "handshake completed");
	} else if (!cur) {
		set_current(d, p, c, "first path heard");
	}
	timers_path_changed(p);
}

/* Seals and sends one PROBE on a path; false when it could not. */
static void ping_finish(struct daemon *d, struct peer *p, int err, int64_t rtt_us);

static bool send_probe(struct daemon *d, struct peer *p, const struct pathref *to, uint8_t kind, uint32_t id)
{
	uint8_t body[WIRE_PROBE_BODY_LEN] = { kind, 0, 0, 0, (uint8_t)id, (uint8_t)(id >> 8),
					       (uint8_t)(id >> 16), (uint8_t)(id >> 24) };
	uint8_t frame[WIRE_DATA_MIN_LEN + WIRE_PROBE_BODY_LEN];
	if (!timers_session_alive(d, p->cur, uv_now(d->loop)))
		return false;
	int n = session_seal(p->cur, WIRE_TYPE_PROBE, body, sizeof(body), frame, sizeof(frame));
	if (n < 0)
		return false;
	return path_send_to(d, to, frame, (size_t)n) == 0;
}

void path_probe_input(struct daemon *d, struct peer *p, const struct pathref *from, bool response, uint32_t id)
{
	uint64_t now = uv_now(d->loop);
	if (!response) {
		send_probe(d, p, from, WIRE_PROBE_RESPONSE, id);
		return;
	}
	if (p->ping.done && p->ping.id == id) {
		ping_finish(d, p, 0, (int64_t)((uv_hrtime() - p->ping.sent_ns) / 1000));
		return;
	}
	struct cand *c = find(p, from);
	if (!c || !c->probe_sent_ms || c->probe_id != id)
		return; /* late or not ours: the AEAD vouched for the sender, nothing else */
	c->rtt_us = (int64_t)(now - c->probe_sent_ms) * 1000;
	c->last_ok_ms = now;
	c->probe_sent_ms = 0;
	c->misses = 0;
	c->streak++;
	evaluate(d, p, now);
	timers_path_changed(p);
}

int path_send_to(struct daemon *d, const struct pathref *to, const uint8_t *buf, size_t len)
{
	if (to->conn)
		return tconn_send(to->conn, buf, len);
	return udp_send_one(&d->udp, buf, len, &to->ep);
}

bool path_send(struct daemon *d, struct peer *p, const uint8_t *buf, size_t len)
{
	if (!p->has_endpoint)
		return false;
	struct pathref to = { .kind = p->path, .ep = p->endpoint, .conn = p->conn };
	return path_send_to(d, &to, buf, len) == 0;
}

void path_send_all(struct daemon *d, struct peer *p, const uint8_t *buf, size_t len)
{
	bool sent_cur = path_send(d, p, buf, len);
	for (unsigned i = 0; i < p->n_cands; i++) {
		struct cand *c = &p->cands[i];
		if (sent_cur && peer_cand_is_current(p, c))
			continue;
		struct pathref to = { .kind = c->path, .ep = c->ep, .conn = c->conn };
		path_send_to(d, &to, buf, len);
	}
}

void path_conn_up(struct daemon *d, struct peer *p, struct tconn *c)
{
	p->relay_dialing = false;
	p->relay_retry_ms = 0;
	p->relay_failures = 0;
	p->relay_error[0] = '\0';
	if (!punch_add_stream(p, c, c->kind == TCONN_RELAY ? PATH_RELAY : PATH_TCP)) {
		tconn_close(c, "no room for another path");
		return;
	}
	log_info("peer %s: %s is open", p->cfg.name, c->desc);
	/* Racing: a handshake under way goes out on the new path at once. */
	if (p->hs_active) {
		tconn_send(c, p->hs_msg, sizeof(p->hs_msg));
		p->last_tx_ms = uv_now(d->loop);
	}
	timers_path_changed(p);
}

void path_conn_down(struct daemon *d, struct tconn *c)
{
	struct peer *p = c->peer;
	if (!p || d->stopping) {
		/* A client's dial that came up but was never attached is the
		 * relaylink's business; an unattached spliced connection had no
		 * peer to tell. */
		return;
	}
	struct pathref ref = { .conn = c };
	struct cand *cand = find(p, &ref);
	bool was_current = p->conn == c;
	if (cand)
		punch_remove(p, cand);
	if (was_current) {
		/* p->path still names what we leave, for the switch record */
		char reason[96];
		snprintf(reason, sizeof(reason), "the %s stream closed", path_kind_name(p->path));
		struct cand *b = best_fresh(p, uv_now(d->loop), NULL);
		if (!b)
			b = open_stream(p, NULL);
		if (b)
			set_current(d, p, b, reason);
		else
			clear_current(d, p, reason);
	}
	timers_path_changed(p);
}

void path_relay_failed(struct daemon *d, struct peer *p, const char *why)
{
	uint64_t now = uv_now(d->loop);
	p->relay_dialing = false;
	p->relay_failures++;
	p->relay_retry_ms = now + timers_backoff_ms(RELAYLINK_BACKOFF_MIN_MS, RELAYLINK_BACKOFF_MAX_MS,
						    p->relay_failures - 1);
	snprintf(p->relay_error, sizeof(p->relay_error), "%s", why);
	log_info("peer %s: %s", p->cfg.name, why);
	timers_path_changed(p);
}

/* Client side: a peer we want to reach gets a relay session alongside
 * its other paths (racing at connect, standby afterwards). */
static bool wants_relay(const struct daemon *d, const struct peer *p, uint64_t now)
{
	if (!d->relay || !relaylink_known(d->relay) || p->cfg.role != CFG_ROLE_PEER || !p->cfg.has_system)
		return false;
	if (p->relay_dialing || now < p->relay_retry_ms)
		return false;
	/* No standby relay for a peer on our LAN: that path needs no NAT and
	 * no internet, and if it dies every path races again (clear_current). */
	if (p->has_endpoint && !p->conn && p->path == PATH_LAN && timers_session_alive(d, p->cur, now))
		return false;
	for (unsigned i = 0; i < p->n_cands; i++)
		if (p->cands[i].conn && p->cands[i].path == PATH_RELAY)
			return false;
	return p->hs_active || timers_session_alive(d, p->cur, now) || p->queue.count;
}

void path_want_relay(struct daemon *d, struct peer *p)
{
	uint64_t now = uv_now(d->loop);
	if (!wants_relay(d, p, now))
		return;
	if (relaylink_connect(d->relay, p) == 0)
		p->relay_dialing = true;
}

/* When c next needs a probe sent (or its outstanding probe counts as
 * missed); 0 = nothing due. */
static uint64_t probe_due(const struct peer *p, const struct cand *c, uint64_t now)
{
	if (c->probe_sent_ms)
		return c->probe_sent_ms + PATH_PROBE_TIMEOUT_MS;
	if (peer_cand_is_current(p, c)) {
		/* Traffic answered on it is proof enough; probe only when data
		 * went out after the last packet that came back on this path
		 * (answers arriving on other paths say nothing about this one). */
		uint64_t base = c->last_rx_ms > c->last_probe_ms ? c->last_rx_ms : c->last_probe_ms;
		if (p->last_data_tx_ms <= c->last_rx_ms)
			return base + PATH_PROBE_IDLE_MS; /* keeps status honest while idle */
		return base + PATH_PROBE_MS;
	}
	uint64_t interval = !active(p, now)                ? PATH_PROBE_IDLE_MS
			    : c->misses >= PATH_SLOW_AFTER ? PATH_PROBE_SLOW_MS
							   : PATH_PROBE_MS;
	return c->last_probe_ms + interval;
}

/* A peer found through the mediator that has no direct path yet asks
 * the mediator again over UDP now and then (resolve_upgrade): that is how
 * both NATs learn of each other again once UDP gets through. */
static uint64_t upgrade_ask_due(const struct peer *p, uint64_t now)
{
	uint64_t last = p->last_data_tx_ms > p->last_data_rx_ms ? p->last_data_tx_ms : p->last_data_rx_ms;
	if (!p->rs || (p->has_endpoint && p->path <= PATH_DIRECT) || !last || now - last >= PATH_ACTIVE_MS)
		return 0; /* only while data flows: new sessions must not keep it going */
	return p->upgrade_ask_ms ? p->upgrade_ask_ms : now;
}

uint64_t path_next_due(const struct peer *p)
{
	const struct daemon *d = p->d;
	uint64_t due = p->ping.done ? p->ping.sent_ms + PATH_PING_TIMEOUT_MS : 0;
	if (!timers_session_alive(d, p->cur, uv_now(d->loop))) {
		uint64_t retry = p->relay_dialing ? 0 : p->relay_retry_ms;
		return !due || (retry && retry < due) ? retry : due;
	}
	uint64_t now = uv_now(d->loop);
	for (unsigned i = 0; i < p->n_cands; i++) {
		uint64_t t = probe_due(p, &p->cands[i], now);
		if (t && (!due || t < due))
			due = t;
	}
	if (p->relay_retry_ms && !p->relay_dialing && (!due || p->relay_retry_ms < due))
		due = p->relay_retry_ms;
	uint64_t ask = upgrade_ask_due(p, now);
	if (ask && (!due || ask < due))
		due = ask;
	return due;
}

void path_tick(struct daemon *d, struct peer *p, uint64_t now)
{
	if (p->relay_retry_ms && now >= p->relay_retry_ms) {
		p->relay_retry_ms = 0; /* a deadline that passed must not stay due */
		path_want_relay(d, p);
	}
	if (p->ping.done && now >= p->ping.sent_ms + PATH_PING_TIMEOUT_MS)
		ping_finish(d, p, -ETIMEDOUT, -1);
	if (!timers_session_alive(d, p->cur, now))
		return;
	uint64_t ask = upgrade_ask_due(p, now);
	if (ask && now >= ask) {
		resolve_upgrade(d, p);
		p->upgrade_ask_ms = now + PATH_UPGRADE_ASK_MS;
	}
	for (unsigned i = 0; i < p->n_cands; i++) {
		struct cand *c = &p->cands[i];
		classify(d, c);
		if (c->probe_sent_ms && now >= c->probe_sent_ms + PATH_PROBE_TIMEOUT_MS) {
			c->probe_sent_ms = 0;
			c->misses++;
			c->streak = 0;
		}
		uint64_t due = probe_due(p, c, now);
		if (c->probe_sent_ms || !due || now < due)
			continue;
		uint32_t id = ++p->next_probe_id;
		struct pathref to = { .kind = c->path, .ep = c->ep, .conn = c->conn };
		c->last_probe_ms = now;
		if (send_probe(d, p, &to, WIRE_PROBE_REQUEST, id)) {
			c->probe_sent_ms = now;
			c->probe_id = id;
		} else {
			c->misses++;
			c->streak = 0;
		}
	}
	evaluate(d, p, now);
}

static void fmt_rtt(char *out, size_t outlen, int64_t rtt_us)
{
	snprintf(out, outlen, "rtt %.1f ms", (double)rtt_us / 1000.0);
}

void path_describe(const struct peer *p, char *cur, size_t curlen, char *standby, size_t sblen,
		   char *last_switch, size_t lslen)
{
	uint64_t now = uv_now(p->d->loop);
	size_t o = 0;
	cur[0] = standby[0] = last_switch[0] = '\0';
	for (unsigned i = 0; i < p->n_cands; i++) {
		const struct cand *c = &p->cands[i];
		char what[128], rtt[32];
		bool is_cur = peer_cand_is_current(p, c);
		describe_cand(c, what, sizeof(what));
		if (c->last_ok_ms && c->rtt_us >= 0)
			fmt_rtt(rtt, sizeof(rtt), c->rtt_us);
		else
			snprintf(rtt, sizeof(rtt), "%s", c->last_rx_ms ? "working" : "unproven");
		if (is_cur) {
			snprintf(cur, curlen, "%s %s", what, rtt);
		} else if (fresh(c, now) && o + 1 < sblen) {
			int n = snprintf(standby + o, sblen - o, "%s%s (%s)", o ? ", " : "", what, rtt);
			if (n > 0 && (size_t)n < sblen - o)
				o += (size_t)n;
		}
	}
	if (p->last_switch[0]) {
		struct tm tm;
		time_t t = (time_t)p->last_switch_unix;
		char ts[32];
		gmtime_r(&t, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
		snprintf(last_switch, lslen, "%s %s", ts, p->last_switch);
	}
}

/* ---- tunctl ping and disconnect (path.h) ---- */

/* Clears the slot before calling done, which may start the next ping. */
static void ping_finish(struct daemon *d, struct peer *p, int err, int64_t rtt_us)
{
	struct path_ping pg = p->ping;
	memset(&p->ping, 0, sizeof(p->ping));
	if (pg.done && !d->stopping)
		pg.done(pg.arg, err, rtt_us, pg.kind, pg.via);
}

int path_ping(struct daemon *d, struct peer *p, path_ping_cb done, void *arg)
{
	uint64_t now = uv_now(d->loop);
	if (p->ping.done)
		return -EBUSY;
	if (!p->has_endpoint || !timers_session_alive(d, p->cur, now))
		return -ENOTCONN;
	struct pathref to = { .kind = p->path, .ep = p->endpoint, .conn = p->conn };
	struct cand *c = current(p);
	struct path_ping pg = { .done = done, .arg = arg, .id = ++p->next_probe_id, .sent_ms = now,
				.sent_ns = uv_hrtime(), .kind = p->path };
	if (c) {
		describe_cand(c, pg.via, sizeof(pg.via));
	} else {
		char a[ENDPOINT_STR_LEN];
		endpoint_format(a, &p->endpoint);
		snprintf(pg.via, sizeof(pg.via), "%s %s", path_kind_name(p->path), p->conn ? p->conn->desc : a);
	}
	if (!send_probe(d, p, &to, WIRE_PROBE_REQUEST, pg.id))
		return -EIO;
	p->ping = pg;
	timers_path_changed(p);
	return 0;
}

void path_ping_cancel(struct daemon *d, struct peer *p, int err)
{
	if (p->ping.done)
		ping_finish(d, p, err, -1);
}

void path_forget(struct daemon *d, struct peer *p, const char *reason)
{
	path_ping_cancel(d, p, -ENOTCONN);
	if (p->has_endpoint) {
		p->switches++;
		p->last_switch_unix = (int64_t)time(NULL);
		snprintf(p->last_switch, sizeof(p->last_switch), "%s -> none: %s", path_kind_name(p->path), reason);
	}
	p->has_endpoint = false;
	p->conn = NULL;
	p->path = PATH_NONE;
	/* No current path now, so closing a stream (which calls
	 * path_conn_down) only removes its candidate. */
	for (unsigned i = 0; i < PEER_MAX_CANDS; i++) {
		struct cand *s = open_stream(p, NULL);
		if (!s)
			break;
		tconn_close(s->conn, reason);
	}
	unsigned keep = 0;
	for (unsigned i = 0; i < p->n_cands; i++) {
		const struct cand *c = &p->cands[i];
		if (!c->conn && c->kind == CAND_CONFIG)
			p->cands[keep++] = (struct cand){ .ep = c->ep, .kind = c->kind, .path = c->path, .rtt_us = -1 };
	}
	p->n_cands = keep;
	p->relay_retry_ms = 0;
	p->relay_failures = 0;
	p->relay_error[0] = '\0';
	punch_done(p);
}
