/*
 * medlink.c - see medlink.h. One state machine for the TCP connection:
 *
 *   WAIT --timer--> RESOLVING --getaddrinfo--> CONNECTING --dial up-->
 *   (publishing) CHALLENGE --NONCE--> REGISTERING --REGISTER ok--> UP
 *   (client)     UP
 *
 * and any error or close goes back to WAIT with the next backoff delay
 * (or to IDLE for a client nobody needs). The stream is a tlink the
 * daemon's dialer (dialer.h) found: straight to the mediator, through the
 * HTTP proxy, or through the relay's gateway to the mediator when a relay
 * is configured; each attempt is a new dial. The timers are embedded in
 * struct medlink, which is freed when its last handle is closed.
 */
#include "medlink.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <uv.h>

#include "answer.h"
#include "daemon.h"
#include "dialer.h"
#include "log.h"
#include "medproto.h"
#include "netcheck.h"
#include "punch.h"
#include "relaylink.h"
#include "relayproto.h"
#include "resolve.h"
#include "serverid.h"
#include "stun.h"
#include "timers.h"

enum state { IDLE, WAIT, RESOLVING, CONNECTING, CHALLENGE, REGISTERING, UP };

static const char *const state_names[] = {
	[IDLE] = "idle", [WAIT] = "backoff", [RESOLVING] = "resolving", [CONNECTING] = "connecting",
	[CHALLENGE] = "registering", [REGISTERING] = "registering", [UP] = "connected",
};

#define RTT_DEFAULT_MS 200
#define INBUF_LEN (2 * STUN_MAX_MSG)
#define WRITE_QUEUE_MAX (64 * 1024)

struct medlink {
	struct daemon *d;
	enum state state;
	uint8_t k[32];                 /* shared with the mediator (medproto.h) */

	bool have_addr;
	struct endpoint addr;          /* the mediator's main port */

	struct dial *dial;             /* CONNECTING */
	struct tlink *link;            /* the stream once the dial is up */
	uv_getaddrinfo_t gai;
	bool gai_running;
	uv_timer_t timer;              /* backoff, connect deadline, keepalive */
	uv_timer_t ka_timer;
	unsigned handles;              /* open handles; freed at 0 */
	bool closing;

	uint8_t in[INBUF_LEN];
	size_t in_len;

	unsigned attempts;             /* since the last success */
	uint64_t failing_since_ms;     /* loop time of the first of those attempts */
	uint64_t connect_started_ms;
	uint64_t last_rx_ms;
	uint64_t since_ms;             /* when the current state began */
	uint64_t want_until_ms;        /* client: keep the connection until */
	int64_t rtt_ms;                /* -1 = not measured */
	uint8_t ka_txid[STUN_TXID_LEN];
	uint8_t reg_txid[STUN_TXID_LEN];  /* our NONCE or REGISTER request in flight */
	uint64_t ka_sent_ns;
	char server_id[MEDPROTO_SERVER_ID_MAX];
	char last_error[160];
};

static void schedule_retry(struct medlink *m);
static void start_connect(struct medlink *m);
static void tcp_drop(struct medlink *m, const char *why);

static uint64_t now_ms(const struct medlink *m) { return uv_now(m->d->loop); }

static void set_state(struct medlink *m, enum state s)
{
	m->state = s;
	m->since_ms = now_ms(m);
}

static void handle_closed_cb(uv_handle_t *h)
{
	struct medlink *m = h->data;
	if (--m->handles == 0 && m->closing) {
		sodium_memzero(m, sizeof(*m));
		free(m);
	}
}

static bool wanted(const struct medlink *m)
{
	return m->d->cfg.publish || now_ms(m) < m->want_until_ms;
}

/* ------------------------------------------------------------ sending */

int medlink_send_tcp(struct medlink *m, const uint8_t *buf, size_t len)
{
	if (!m || m->state < CHALLENGE || !m->link)
		return -ENOTCONN;
	if (tlink_queued(m->link) > WRITE_QUEUE_MAX)
		return -ENOBUFS;
	return tlink_write(m->link, buf, len);
}

int medlink_send_udp(struct medlink *m, const uint8_t *buf, size_t len, uint16_t port)
{
	if (!m || !m->have_addr)
		return -EAGAIN;
	struct endpoint to = m->addr;
	if (port)
		to.port = port;
	return udp_send_one(&m->d->udp, buf, len, &to);
}

bool medlink_udp_addr(const struct medlink *m, struct endpoint *out)
{
	if (!m || !m->have_addr)
		return false;
	*out = m->addr;
	return true;
}

const uint8_t *medlink_auth_key(const struct medlink *m) { return m->k; }

uint64_t medlink_rtt_ms(const struct medlink *m)
{
	return m && m->rtt_ms >= 0 ? (uint64_t)m->rtt_ms : RTT_DEFAULT_MS;
}

bool medlink_tcp_up(const struct medlink *m)
{
	return m && m->state >= CHALLENGE && m->link;
}

/* ---------------------------------------------------- registration */

static void send_msg_tcp(struct medlink *m, const struct medmsg *mm, bool auth)
{
	uint8_t buf[STUN_MAX_MSG];
	int n = medproto_encode(buf, sizeof(buf), mm, auth ? m->k : NULL, MEDPROTO_DIR_TO_MEDIATOR, false);
	if (n < 0) {
		log_warn("mediator: cannot encode %s: %s", medproto_method_name(mm->method), strerror(-n));
		return;
	}
	if (medlink_send_tcp(m, buf, (size_t)n) < 0)
		tcp_drop(m, "write failed");
}

static void send_nonce_request(struct medlink *m)
{
	struct medmsg mm = { .method = MEDPROTO_METHOD_NONCE, .cls = STUN_REQUEST };
	stun_new_txid(mm.txid);
	memcpy(m->reg_txid, mm.txid, STUN_TXID_LEN);
	set_state(m, CHALLENGE);
	send_msg_tcp(m, &mm, false);
}

static void send_register(struct medlink *m, const uint8_t nonce[MEDPROTO_NONCE_LEN])
{
	struct medmsg mm = { .method = MEDPROTO_METHOD_REGISTER, .cls = STUN_REQUEST };
	stun_new_txid(mm.txid);
	memcpy(m->reg_txid, mm.txid, STUN_TXID_LEN);
	mm.has_key = true;
	memcpy(mm.key, m->d->self.pub, KEY_LEN);
	mm.has_nonce = true;
	memcpy(mm.nonce, nonce, MEDPROTO_NONCE_LEN);
	snprintf(mm.server_id, sizeof(mm.server_id), "%s", m->server_id);
	mm.n_local = punch_local_addrs(m->d, mm.local, MEDLINK_MAX_LOCAL);
	set_state(m, REGISTERING);
	send_msg_tcp(m, &mm, true);
}

static void send_ka(struct medlink *m)
{
	uint8_t buf[STUN_HDR_LEN];
	struct stun_writer w;
	stun_new_txid(m->ka_txid);
	stun_begin(&w, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_REQUEST, m->ka_txid);
	int n = stun_end(&w);
	m->ka_sent_ns = uv_hrtime();
	if (n > 0 && medlink_send_tcp(m, buf, (size_t)n) < 0)
		tcp_drop(m, "write failed");
}

static void ka_timer_cb(uv_timer_t *h)
{
	struct medlink *m = h->data;
	if (m->closing || m->state < CONNECTING)
		return;
	uint64_t now = now_ms(m);
	if (m->state == CONNECTING) {
		/* The kernel would wait minutes for SYNs a firewall drops. */
		if (now - m->since_ms >= MEDLINK_CONNECT_MS)
			tcp_drop(m, "connecting timed out");
		else
			uv_timer_start(&m->ka_timer, ka_timer_cb, 1000, 0);
		return;
	}
	if (now - m->last_rx_ms >= MEDLINK_DEAD_MS) {
		tcp_drop(m, "no answer from the mediator");
		return;
	}
	if (m->state == UP && !wanted(m)) {
		log_debug("mediator: closing the idle connection");
		tcp_drop(m, NULL);
		return;
	}
	if (m->state != UP) {
		/* still registering after the deadline */
		if (now - m->since_ms >= MEDLINK_CONNECT_MS) {
			tcp_drop(m, "registration timed out");
			return;
		}
	} else {
		send_ka(m);
	}
	uv_timer_start(&m->ka_timer, ka_timer_cb, m->state != UP ? 1000 :
		       m->d->cfg.publish ? MEDLINK_KEEPALIVE_MS : MEDLINK_IDLE_MS, 0);
}

/* ------------------------------------------------------- receiving */

void medlink_learn_relay(struct daemon *d, const struct medmsg *mm)
{
	if (!mm->has_relay || !mm->has_relay_key || !d->relay)
		return;
	char host[ADDR_STR_LEN];
	addr_format(host, mm->relay_addr.addr);
	relaylink_learn(d->relay, host, mm->relay_addr.port, mm->relay_key);
}

static void on_registered(struct medlink *m, const struct medmsg *mm)
{
	char id[UUID_STR_LEN + 1 + MEDPROTO_SERVER_ID_MAX + 1];
	snprintf(id, sizeof(id), "%s.%s", m->server_id, m->d->system_id);
	set_state(m, UP);
	m->attempts = 0;
	m->last_error[0] = '\0';
	if (mm->has_mapped) {
		char a[ENDPOINT_STR_LEN];
		endpoint_format(a, &mm->mapped);
		log_info("mediator: registered as %s (our TCP address as seen: %s)", id, a);
	} else {
		log_info("mediator: registered as %s", id);
	}
	medlink_learn_relay(m->d, mm);
	uv_timer_start(&m->ka_timer, ka_timer_cb, MEDLINK_KEEPALIVE_MS, 0);
}

/* Messages on either channel; via_tcp says which. src is the UDP source. */
static void input(struct medlink *m, const struct stun_msg *sm, bool via_tcp, const struct endpoint *src)
{
	struct daemon *d = m->d;
	struct medmsg mm;
	if (medproto_parse(sm, &mm) < 0) {
		d->cnt.mediator_bad++;
		return;
	}
	bool authed = mm.has_auth && medproto_auth_ok(sm, m->k, MEDPROTO_DIR_FROM_MEDIATOR);
	if (mm.has_auth && !authed) {
		d->cnt.mediator_bad++;
		return;
	}
	switch (mm.method) {
	case STUN_METHOD_BINDING:
		if (via_tcp && memcmp(mm.txid, m->ka_txid, STUN_TXID_LEN) == 0)
			m->rtt_ms = (int64_t)((uv_hrtime() - m->ka_sent_ns) / 1000000);
		else if (!via_tcp && d->netcheck)
			netcheck_binding(d->netcheck, &mm, src);
		break;
	case MEDPROTO_METHOD_NONCE:
		if (via_tcp && m->state == CHALLENGE && !memcmp(mm.txid, m->reg_txid, STUN_TXID_LEN) && mm.cls == STUN_SUCCESS && mm.has_nonce)
			send_register(m, mm.nonce);
		break;
	case MEDPROTO_METHOD_REGISTER:
		if (!via_tcp || m->state != REGISTERING || memcmp(mm.txid, m->reg_txid, STUN_TXID_LEN))
			break;
		if (mm.cls == STUN_SUCCESS && authed) {
			on_registered(m, &mm);
		} else if (mm.cls == STUN_ERROR) {
			snprintf(m->last_error, sizeof(m->last_error), "registration refused: %u %s",
				 mm.error_code, mm.error_reason);
			log_error("mediator: %s (is mediator_key right?)", m->last_error);
			tcp_drop(m, NULL);
		}
		break;
	case MEDPROTO_METHOD_CONNECT:
		if (mm.cls == STUN_INDICATION && via_tcp && authed && d->answers)
			answer_connect(d, &mm);
		else if (mm.cls == STUN_SUCCESS && authed)
			resolve_reply(d, &mm, true);
		else if (mm.cls == STUN_ERROR)
			resolve_reply(d, &mm, authed);
		break;
	case MEDPROTO_METHOD_ANSWER:
		if (mm.cls == STUN_SUCCESS && authed)
			answer_acked(d, &mm, !via_tcp);
		break;
	default:
		d->cnt.mediator_bad++;
		break;
	}
}

void medlink_udp_input(struct daemon *d, const uint8_t *buf, size_t len, const struct endpoint *src)
{
	struct medlink *m = d->med;
	struct stun_msg sm;
	if (!m || !m->have_addr || src->addr != m->addr.addr) {
		d->cnt.mediator_bad++; /* STUN from anyone but our mediator */
		return;
	}
	if (stun_decode(buf, len, &sm) < 0) {
		d->cnt.mediator_bad++;
		return;
	}
	input(m, &sm, false, src);
}

/* Splits the stream into STUN messages (RFC 8489 §6.2.2). False when the
 * link was dropped on the way. */
static bool stream_frames(struct medlink *m)
{
	size_t off = 0;
	while (m->link) {
		int fl = stun_frame_len(m->in + off, m->in_len - off);
		if (fl < 0) {
			tcp_drop(m, "the mediator sent something that is not STUN");
			return false;
		}
		if (fl == 0 || (size_t)fl > m->in_len - off)
			break;
		struct stun_msg sm;
		if (stun_decode(m->in + off, (size_t)fl, &sm) == 0)
			input(m, &sm, true, NULL);
		else
			m->d->cnt.mediator_bad++;
		off += (size_t)fl;
	}
	if (!m->link)
		return false;
	memmove(m->in, m->in + off, m->in_len - off);
	m->in_len -= off;
	return true;
}

static void link_data(void *arg, struct tlink *l, const uint8_t *buf, size_t len)
{
	struct medlink *m = arg;
	m->last_rx_ms = now_ms(m);
	/* A whole message fits in half of in[] (STUN_MAX_MSG), so every pass
	 * makes room. */
	while (len && m->link) {
		size_t k = sizeof(m->in) - m->in_len;
		if (k > len)
			k = len;
		memcpy(m->in + m->in_len, buf, k);
		m->in_len += k;
		buf += k;
		len -= k;
		if (!stream_frames(m))
			return;
	}
}

/* ------------------------------------------------------ connecting */

static void tcp_drop(struct medlink *m, const char *why)
{
	if (why) {
		snprintf(m->last_error, sizeof(m->last_error), "%s", why);
		if (m->d->cfg.publish)
			log_warn("mediator: %s", why);
		else
			log_debug("mediator: %s", why);
	}
	uv_timer_stop(&m->ka_timer);
	dial_cancel(m->dial);
	m->dial = NULL;
	tlink_close(m->link);
	m->link = NULL;
	m->in_len = 0;
	if (m->closing)
		return;
	if (wanted(m)) {
		schedule_retry(m);
	} else {
		set_state(m, IDLE);
	}
	resolve_link_changed(m->d);
}

static void link_up(void *arg, struct tlink *l)
{
	struct medlink *m = arg;
	m->dial = NULL;
	m->link = l;
	m->rtt_ms = (int64_t)(now_ms(m) - m->connect_started_ms);
	m->last_rx_ms = now_ms(m);
	if (m->d->cfg.publish) {
		send_nonce_request(m);
		if (!m->link)
			return;
		uv_timer_start(&m->ka_timer, ka_timer_cb, 1000, 0);
	} else {
		/* A client's link only carries TCP copies of connect requests;
		 * it is closed once nobody wants it (MEDLINK_IDLE_MS). */
		set_state(m, UP);
		m->attempts = 0;
		uv_timer_start(&m->ka_timer, ka_timer_cb, MEDLINK_IDLE_MS, 0);
	}
	resolve_link_changed(m->d);
}

/* The link failed (or, l NULL, no way to the mediator was found). */
static void link_down(void *arg, struct tlink *l, int err, unsigned status, const char *why)
{
	struct medlink *m = arg;
	if (l)
		m->link = NULL;
	else
		m->dial = NULL;
	tcp_drop(m, l && err == UV_EOF ? "the mediator closed the connection" : why);
}

static const struct tlink_ops link_ops = { .up = link_up, .data = link_data, .down = link_down };

/* The mediator itself, and the relay's gateway to it when a relay is set
 * (for networks whose only way out is an HTTP proxy). */
static unsigned dial_targets(const struct medlink *m, struct tlink_target ts[DIALER_MAX_TARGETS])
{
	const struct cfg *c = &m->d->cfg;
	unsigned n = 0;
	memset(ts, 0, DIALER_MAX_TARGETS * sizeof(ts[0]));
	snprintf(ts[n].host, sizeof(ts[n].host), "%s", c->mediator_host);
	ts[n++].port = c->mediator_port;
	if (c->has_relay) {
		snprintf(ts[n].host, sizeof(ts[n].host), "%s", c->relay_host);
		ts[n].port = c->relay_port;
		ts[n].http = true;
		snprintf(ts[n++].path, sizeof(ts[0].path), "%s", RELAYPROTO_PATH_MEDIATOR);
	}
	return n;
}

static void tcp_connect(struct medlink *m)
{
	struct tlink_target ts[DIALER_MAX_TARGETS];
	unsigned n = dial_targets(m, ts);
	set_state(m, CONNECTING);
	m->connect_started_ms = now_ms(m);
	uv_timer_start(&m->ka_timer, ka_timer_cb, 1000, 0);
	int rc = dialer_dial(m->d->dialer, ts, n, &link_ops, m, &m->dial);
	if (rc < 0)
		tcp_drop(m, strerror(-rc));
}

/* Without a local answer for the mediator's name the proxy or the relay
 * may still reach it; UDP waits for the next resolution. */
static bool dial_without_addr(const struct medlink *m)
{
	return dialer_proxy(m->d->dialer)->set || m->d->cfg.has_relay;
}

static void gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct medlink *m = req->data;
	m->gai_running = false;
	if (m->closing) {
		uv_freeaddrinfo(res);
		if (--m->handles == 0) {
			sodium_memzero(m, sizeof(*m));
			free(m);
		}
		return;
	}
	m->handles--;
	if (status < 0 || !res) {
		char why[400];
		snprintf(why, sizeof(why), "cannot resolve %s: %s", m->d->cfg.mediator_host,
			 uv_strerror(status));
		uv_freeaddrinfo(res);
		if (wanted(m) && dial_without_addr(m)) {
			log_debug("mediator: %s; dialling anyway", why);
			tcp_connect(m);
		} else {
			tcp_drop(m, why);
		}
		return;
	}
	const struct sockaddr_in *sa = (const struct sockaddr_in *)(const void *)res->ai_addr;
	m->addr.addr = ntohl(sa->sin_addr.s_addr);
	m->addr.port = m->d->cfg.mediator_port;
	bool first = !m->have_addr;
	m->have_addr = true;
	uv_freeaddrinfo(res);
	if (first)
		resolve_link_changed(m->d);
	if (wanted(m))
		tcp_connect(m);
	else
		set_state(m, IDLE);
}

/* Resolves the mediator's name (a literal at once), then connects if the
 * connection is wanted; the UDP address is kept either way. */
static void start_connect(struct medlink *m)
{
	uint32_t a;
	if (addr_parse(&a, m->d->cfg.mediator_host) == 0) {
		m->addr.addr = a;
		m->addr.port = m->d->cfg.mediator_port;
		m->have_addr = true;
		if (wanted(m))
			tcp_connect(m);
		else
			set_state(m, IDLE);
		return;
	}
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM };
	set_state(m, RESOLVING);
	m->gai.data = m;
	if (uv_getaddrinfo(m->d->loop, &m->gai, gai_cb, m->d->cfg.mediator_host, NULL, &hints) == 0) {
		m->gai_running = true;
		m->handles++; /* the request holds the object like a handle does */
	}
	else
		tcp_drop(m, "cannot start name resolution");
}

static void timer_cb(uv_timer_t *h)
{
	struct medlink *m = h->data;
	if (m->closing || m->state != WAIT)
		return;
	start_connect(m);
}

static void schedule_retry(struct medlink *m)
{
	uint64_t now = now_ms(m);
	if (!m->attempts)
		m->failing_since_ms = now;
	uint64_t max = now - m->failing_since_ms < MEDLINK_QUICK_MS ? MEDLINK_QUICK_MAX_MS : MEDLINK_BACKOFF_MAX_MS;
	uint64_t delay = timers_backoff_ms(MEDLINK_BACKOFF_MIN_MS, max, m->attempts);
	m->attempts++;
	set_state(m, WAIT);
	uv_timer_start(&m->timer, timer_cb, delay, 0);
}

void medlink_want_tcp(struct medlink *m)
{
	if (!m || m->closing)
		return;
	m->want_until_ms = now_ms(m) + MEDLINK_IDLE_MS;
	if (m->state == IDLE)
		start_connect(m);
}

/* ------------------------------------------------------- lifecycle */

int medlink_new(struct medlink **out, struct daemon *d)
{
	*out = NULL;
	if (!d->cfg.has_mediator)
		return 0;
	struct medlink *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->d = d;
	m->rtt_ms = -1;
	if (medproto_auth_key(m->k, d->self.priv, d->cfg.mediator_key, d->self.pub, d->cfg.mediator_key)) {
		free(m);
		return -EINVAL;
	}
	serverid_get(&d->cfg, m->server_id);
	uv_timer_init(d->loop, &m->timer);
	uv_timer_init(d->loop, &m->ka_timer);
	m->timer.data = m->ka_timer.data = m;
	m->handles = 2;
	set_state(m, IDLE);
	*out = m;
	/* The address is needed for UDP requests even when TCP is not. */
	start_connect(m);
	return 0;
}

void medlink_close(struct medlink *m)
{
	if (!m || m->closing)
		return;
	m->closing = true;
	if (m->gai_running)
		uv_cancel((uv_req_t *)&m->gai);
	dial_cancel(m->dial);
	m->dial = NULL;
	tlink_close(m->link);
	m->link = NULL;
	uv_close((uv_handle_t *)&m->timer, handle_closed_cb);
	uv_close((uv_handle_t *)&m->ka_timer, handle_closed_cb);
}

const char *medlink_state_name(const struct medlink *m)
{
	if (!m)
		return "off";
	if (m->state == UP && m->d->cfg.publish)
		return "registered";
	return state_names[m->state];
}

void medlink_describe(const struct medlink *m, char *out, size_t outlen)
{
	char a[ENDPOINT_STR_LEN] = "";
	if (!m) {
		snprintf(out, outlen, "off");
		return;
	}
	if (m->have_addr)
		endpoint_format(a, &m->addr);
	uint64_t secs = (now_ms(m) - m->since_ms) / 1000;
	if (m->state == UP && m->d->cfg.publish)
		snprintf(out, outlen, "registered as %s.%s at %s:%u (%s) for %llus", m->server_id,
			 m->d->system_id, m->d->cfg.mediator_host, m->d->cfg.mediator_port, a,
			 (unsigned long long)secs);
	else
		snprintf(out, outlen, "%s %s:%u%s%s%s%s", medlink_state_name(m), m->d->cfg.mediator_host,
			 m->d->cfg.mediator_port, *a ? " (" : "", a, *a ? ")" : "",
			 m->last_error[0] && m->state != UP ? "; last error: " : "");
	if (m->last_error[0] && m->state != UP) {
		size_t l = strlen(out);
		snprintf(out + l, outlen - l, "%s", m->last_error);
	}
	if (m->link && dial_without_addr(m)) { /* more than one way was possible */
		char via[CFG_HOST_MAX + 32];
		size_t l = strlen(out);
		tlink_describe(m->link, via, sizeof(via));
		snprintf(out + l, outlen - l, "; stream to %s", via);
	}
}
