/*
 * punch.c - see punch.h. Candidate tables are small fixed arrays in the
 * peer; sending to all of them is a loop of sendto calls, bounded by
 * PEER_MAX_CANDS + 1 per (re)transmission.
 */
#include "punch.h"

#include <ifaddrs.h>
#include <net/if.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "medproto.h"
#include "timers.h"

_Static_assert(PUNCH_LAN_FIRST_MS < TIMERS_PUNCH_RETRY_MS,
	       "the first punch retransmission must end the LAN-first hold (punch.h)");

const char *punch_kind_name(enum cand_kind kind)
{
	switch (kind) {
	case CAND_CONFIG:
		return "config";
	case CAND_LOCAL:
		return "local";
	case CAND_PUBLIC:
		return "public";
	case CAND_REFLEXIVE:
		return "reflexive";
	case CAND_STREAM:
		return "stream";
	}
	return "?";
}

static bool usable(const struct endpoint *ep)
{
	uint8_t top = (uint8_t)(ep->addr >> 24);
	return ep->port != 0 && top != 0 && top != 127 && top < 224;
}

/* Frees one slot: the oldest reflexive candidate, else the oldest UDP one
 * that is not the current path. Stream paths are never evicted (they
 * leave when their stream closes). */
static bool make_room(struct peer *p)
{
	int victim = -1;
	for (unsigned i = 0; i < p->n_cands && victim < 0; i++)
		if (p->cands[i].kind == CAND_REFLEXIVE && !peer_cand_is_current(p, &p->cands[i]))
			victim = (int)i;
	for (unsigned i = 0; i < p->n_cands && victim < 0; i++)
		if (!p->cands[i].conn && !peer_cand_is_current(p, &p->cands[i]))
			victim = (int)i;
	if (victim < 0)
		return false;
	punch_remove(p, &p->cands[victim]);
	return true;
}

static struct cand *append(struct peer *p)
{
	if (p->n_cands == PEER_MAX_CANDS && !make_room(p))
		return NULL;
	struct cand *c = &p->cands[p->n_cands++];
	memset(c, 0, sizeof(*c));
	c->path = PATH_NONE;
	c->rtt_us = -1;
	return c;
}

bool punch_add(struct peer *p, const struct endpoint *ep, enum cand_kind kind)
{
	if (!usable(ep))
		return false;
	for (unsigned i = 0; i < p->n_cands; i++) {
		if (!p->cands[i].conn && endpoint_equal(&p->cands[i].ep, ep)) {
			if (kind < p->cands[i].kind)
				p->cands[i].kind = kind;
			return false;
		}
	}
	struct cand *c = append(p);
	if (!c)
		return false;
	c->ep = *ep;
	c->kind = kind;
	return true;
}

bool punch_add_stream(struct peer *p, struct tconn *conn, enum path_kind path)
{
	for (unsigned i = 0; i < p->n_cands; i++)
		if (p->cands[i].conn == conn)
			return true;
	struct cand *c = append(p);
	if (!c)
		return false;
	c->kind = CAND_STREAM;
	c->conn = conn;
	c->path = path;
	return true;
}

void punch_remove(struct peer *p, struct cand *c)
{
	size_t i = (size_t)(c - p->cands);
	memmove(&p->cands[i], &p->cands[i + 1], (p->n_cands - i - 1) * sizeof(p->cands[0]));
	p->n_cands--;
}

unsigned punch_add_reported(struct peer *p, const struct medmsg *mm)
{
	unsigned added = 0;
	if (mm->has_public)
		added += punch_add(p, &mm->public_addr, CAND_PUBLIC);
	for (unsigned i = 0; i < mm->n_local; i++)
		added += punch_add(p, &mm->local[i], CAND_LOCAL);
	return added;
}

void punch_clear(struct peer *p)
{
	unsigned keep = 0;
	for (unsigned i = 0; i < p->n_cands; i++)
		if (p->cands[i].conn || peer_cand_is_current(p, &p->cands[i]))
			p->cands[keep++] = p->cands[i];
	p->n_cands = keep;
	p->punching = false;
}

/* The LAN-first hold: the initiation to the local candidates alone;
 * false when there are none (then the hold is moot). */
static bool send_local(struct daemon *d, struct peer *p, const uint8_t *msg, size_t len)
{
	bool sent = false;
	for (unsigned i = 0; i < p->n_cands; i++) {
		if (p->cands[i].conn || p->cands[i].kind != CAND_LOCAL)
			continue;
		udp_send_one(&d->udp, msg, len, &p->cands[i].ep);
		sent = true;
	}
	return sent;
}

void punch_send_init(struct daemon *d, struct peer *p, const uint8_t *msg, size_t len)
{
	if (uv_now(d->loop) < p->lan_first_until_ms && send_local(d, p, msg, len))
		return;
	/* With a working path a rekey goes on it alone; without one, or while
	 * punching, every path races (path.h). */
	if (p->punching || !p->has_endpoint)
		path_send_all(d, p, msg, len);
	else
		path_send(d, p, msg, len);
}

void punch_start(struct daemon *d, struct peer *p)
{
	uint64_t now = uv_now(d->loop);
	if (!p->punching) {
		p->punching = true;
		p->punch_started_ms = now;
	}
	if (p->hs_active) {
		punch_send_init(d, p, p->hs_msg, sizeof(p->hs_msg));
		p->last_tx_ms = now;
	} else {
		send_handshake_init(d, p);
	}
}

void punch_lan_first(struct daemon *d, struct peer *p)
{
	uint64_t until = uv_now(d->loop) + PUNCH_LAN_FIRST_MS;
	bool local = false;
	for (unsigned i = 0; i < p->n_cands && !local; i++)
		local = !p->cands[i].conn && p->cands[i].kind == CAND_LOCAL;
	if (!local)
		return;
	p->lan_first_until_ms = until;
	/* "No relay dial before": path_tick dials then if the LAN has not
	 * answered (path.c: wants_relay skips a peer on a LAN path). */
	if (p->relay_retry_ms < until)
		p->relay_retry_ms = until;
	timers_path_changed(p);
}

void punch_done(struct peer *p)
{
	p->punching = false;
	p->lan_first_until_ms = 0;
	p->yield_until_ms = 0;      /* roles end with the connect they were for */
	p->initiator_until_ms = 0;
}

void punch_reflexive(struct daemon *d, struct peer *p, const struct endpoint *src)
{
	bool added = punch_add(p, src, CAND_REFLEXIVE);
	if (added) {
		char a[ENDPOINT_STR_LEN];
		endpoint_format(a, src);
		log_debug("peer %s: reflexive candidate %s", p->cfg.name, a);
	}
	if (p->hs_active && (added || !p->has_endpoint || !endpoint_equal(&p->endpoint, src))) {
		udp_send_one(&d->udp, p->hs_msg, sizeof(p->hs_msg), src);
		p->last_tx_ms = uv_now(d->loop);
	}
}

bool punch_is_lan(const struct daemon *d, uint32_t addr)
{
	struct ifaddrs *ifa, *i;
	bool lan = false;
	if (getifaddrs(&ifa) < 0)
		return false;
	for (i = ifa; i && !lan; i = i->ifa_next) {
		if (!i->ifa_addr || !i->ifa_netmask || i->ifa_addr->sa_family != AF_INET)
			continue;
		if ((i->ifa_flags & IFF_LOOPBACK) || strcmp(i->ifa_name, d->tun.name) == 0)
			continue;
		uint32_t a = ntohl(((const struct sockaddr_in *)(const void *)i->ifa_addr)->sin_addr.s_addr);
		uint32_t m = ntohl(((const struct sockaddr_in *)(const void *)i->ifa_netmask)->sin_addr.s_addr);
		/* A /32 (or /31 point-to-point) says nothing about neighbours. */
		lan = m != 0 && m < 0xfffffffeu && (a & m) == (addr & m);
	}
	freeifaddrs(ifa);
	return lan;
}

void punch_format(const struct peer *p, char *out, size_t outlen)
{
	size_t o = 0;
	if (outlen)
		out[0] = '\0';
	for (unsigned i = 0; i < p->n_cands && o + 1 < outlen; i++) {
		char a[ENDPOINT_STR_LEN];
		if (p->cands[i].conn)
			continue; /* stream paths show in the path fields */
		endpoint_format(a, &p->cands[i].ep);
		int n = snprintf(out + o, outlen - o, "%s%s/%s", o ? " " : "", a,
				 punch_kind_name(p->cands[i].kind));
		if (n < 0 || (size_t)n >= outlen - o)
			break;
		o += (size_t)n;
	}
}

unsigned punch_local_addrs(const struct daemon *d, struct endpoint *out, unsigned max)
{
	struct ifaddrs *ifa, *i;
	unsigned n = 0;
	if (getifaddrs(&ifa) < 0)
		return 0;
	for (i = ifa; i && n < max; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_UP) ||
		    (i->ifa_flags & IFF_LOOPBACK) || strcmp(i->ifa_name, d->tun.name) == 0)
			continue;
		const struct sockaddr_in *sa = (const struct sockaddr_in *)(const void *)i->ifa_addr;
		out[n].addr = ntohl(sa->sin_addr.s_addr);
		out[n].port = d->udp.port;
		n++;
	}
	freeifaddrs(ifa);
	return n;
}
