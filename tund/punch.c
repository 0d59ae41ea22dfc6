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

const char *punch_kind_name(enum cand_kind kind)
{
	switch (kind) {
	case CAND_LOCAL:
		return "local";
	case CAND_PUBLIC:
		return "public";
	case CAND_REFLEXIVE:
		return "reflexive";
	}
	return "?";
}

static bool usable(const struct endpoint *ep)
{
	uint8_t top = (uint8_t)(ep->addr >> 24);
	return ep->port != 0 && top != 0 && top != 127 && top < 224;
}

bool punch_add(struct peer *p, const struct endpoint *ep, enum cand_kind kind)
{
	if (!usable(ep))
		return false;
	for (unsigned i = 0; i < p->n_cands; i++) {
		if (endpoint_equal(&p->cands[i].ep, ep)) {
			if (kind < p->cands[i].kind)
				p->cands[i].kind = kind;
			return false;
		}
	}
	if (p->n_cands == PEER_MAX_CANDS) {
		unsigned victim = 0; /* the oldest reflexive one, else the oldest */
		for (unsigned i = 0; i < p->n_cands; i++) {
			if (p->cands[i].kind == CAND_REFLEXIVE) {
				victim = i;
				break;
			}
		}
		memmove(&p->cands[victim], &p->cands[victim + 1],
			(p->n_cands - victim - 1) * sizeof(p->cands[0]));
		p->n_cands--;
	}
	p->cands[p->n_cands].ep = *ep;
	p->cands[p->n_cands].kind = kind;
	p->n_cands++;
	return true;
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
	p->n_cands = 0;
	p->punching = false;
}

void punch_send_init(struct daemon *d, struct peer *p, const uint8_t *msg, size_t len)
{
	bool sent_endpoint = false;
	if (p->has_endpoint) {
		udp_send_one(&d->udp, msg, len, &p->endpoint);
		sent_endpoint = true;
	}
	if (!p->punching && sent_endpoint)
		return;
	for (unsigned i = 0; i < p->n_cands; i++) {
		if (sent_endpoint && endpoint_equal(&p->cands[i].ep, &p->endpoint))
			continue;
		udp_send_one(&d->udp, msg, len, &p->cands[i].ep);
	}
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

void punch_done(struct peer *p)
{
	p->punching = false;
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
		endpoint_format(a, &p->cands[i].ep);
		int n = snprintf(out + o, outlen - o, "%s%s/%s", i ? " " : "", a,
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
