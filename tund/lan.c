/*
 * lan.c - see lan.h. The LAN object owns one socket (watched with a
 * uv_poll_t) and one timer, both embedded; it is freed when the last of
 * them has closed. It keeps no pointer to any peer: every datagram looks
 * its peer up again, so peers may come and go between datagrams.
 */
#include "lan.h"

#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include "daemon.h"
#include "lanproto.h"
#include "log.h"
#include "peer.h"
#include "punch.h"
#include "serverid.h"
#include "srclimit.h"
#include "timers.h"

struct lan_addr {
	unsigned ifindex;
	uint32_t addr;                   /* host order */
};

struct lan {
	struct daemon *d;
	int fd;
	uv_poll_t poll;
	uv_timer_t timer;
	unsigned handles;                /* open handles; freed at 0 */
	bool closing;
	struct srclimit *src;            /* per source: LAN_SRC_RATE */
	uint32_t all_milli;              /* daemon-wide bucket, thousandths of a token */
	uint64_t all_ms;                 /* its last refill */
	struct lan_addr addrs[LAN_MAX_ADDRS]; /* the last scan */
	unsigned n_addrs;
	struct {
		unsigned ifindex;
		uint64_t ms;
	} answered[LAN_MAX_ADDRS];       /* last answer to a query per interface, 0 = none */
	uint8_t announce[LANPROTO_MAX_LEN];   /* our ANNOUNCE, built once */
	int announce_len;                /* 0 = we do not publish */
};

/* ------------------------------------------------------------- sending */

static int send_from(struct lan *l, const struct lan_addr *a, const uint8_t *buf, size_t len)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(LANPROTO_PORT),
				  .sin_addr.s_addr = htonl(LANPROTO_GROUP) };
	union {
		char buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
		struct cmsghdr align;
	} ctl;
	struct in_pktinfo pi = { .ipi_ifindex = (int)a->ifindex, .ipi_spec_dst.s_addr = htonl(a->addr) };
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_name = &to, .msg_namelen = sizeof(to), .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
	memset(&ctl, 0, sizeof(ctl));
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = IPPROTO_IP;
	c->cmsg_type = IP_PKTINFO;
	c->cmsg_len = CMSG_LEN(sizeof(pi));
	memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	if (sendmsg(l->fd, &msg, 0) < 0) {
		char s[ADDR_STR_LEN];
		addr_format(s, a->addr);
		log_debug("lan: send from %s (interface %u): %s", s, a->ifindex, strerror(errno));
		return -errno;
	}
	return 0;
}

/* Our ANNOUNCE from every address of interface ifindex (0: of all). */
static void announce(struct lan *l, unsigned ifindex)
{
	for (unsigned i = 0; i < l->n_addrs && l->announce_len > 0; i++)
		if (!ifindex || l->addrs[i].ifindex == ifindex)
			send_from(l, &l->addrs[i], l->announce, (size_t)l->announce_len);
}

/* A QUERY on interface ifindex (0: on all), once per interface. With a
 * single [peer] it names that peer's system; otherwise every system. */
static void query(struct lan *l, unsigned ifindex)
{
	struct daemon *d = l->d;
	struct lanmsg q = { .type = LANPROTO_QUERY };
	uint8_t buf[LANPROTO_QUERY_LEN];
	struct peer *only = NULL;
	size_t n = 0;
	for (size_t i = 0; i < peers_count(d->peers); i++) {
		struct peer *p = peers_at(d->peers, i);
		if (p->cfg.role == CFG_ROLE_PEER && n++ == 0)
			only = p;
	}
	if (!n)
		return;
	if (n == 1 && uuid_parse(q.system_id, only->system_id) < 0)
		memset(q.system_id, 0, UUID_LEN);
	int len = lanproto_encode(buf, sizeof(buf), &q);
	for (unsigned i = 0; i < l->n_addrs && len > 0; i++) {
		bool first_of_if = true;
		for (unsigned j = 0; j < i; j++)
			first_of_if = first_of_if && l->addrs[j].ifindex != l->addrs[i].ifindex;
		if (first_of_if && (!ifindex || l->addrs[i].ifindex == ifindex))
			send_from(l, &l->addrs[i], buf, (size_t)len);
	}
}

void lan_query(struct lan *l)
{
	if (l && !l->closing)
		query(l, 0);
}

/* ------------------------------------------------------------ interfaces */

static bool had_interface(const struct lan_addr *old, unsigned n_old, unsigned ifindex)
{
	for (unsigned i = 0; i < n_old; i++)
		if (old[i].ifindex == ifindex)
			return true;
	return false;
}

/* Index of an interface from its getifaddrs name ("eth0:1" labels an
 * address of eth0). 0 when it is gone. */
static unsigned ifindex_of(const char *label)
{
	char name[IF_NAMESIZE];
	snprintf(name, sizeof(name), "%s", label);
	name[strcspn(name, ":")] = '\0';
	return if_nametoindex(name);
}

/* Every IPv4 address of an up, multicast-capable LAN interface (not
 * loopback, not point-to-point, not our TUN): where we announce. */
static unsigned list_addrs(const struct daemon *d, struct lan_addr *out, unsigned max)
{
	struct ifaddrs *ifa, *i;
	unsigned n = 0;
	if (getifaddrs(&ifa) < 0)
		return 0;
	for (i = ifa; i && n < max; i = i->ifa_next) {
		unsigned want = IFF_UP | IFF_MULTICAST, refuse = IFF_LOOPBACK | IFF_POINTOPOINT;
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & want) != want ||
		    (i->ifa_flags & refuse) || strcmp(i->ifa_name, d->tun.name) == 0)
			continue;
		unsigned idx = ifindex_of(i->ifa_name);
		if (!idx)
			continue;
		out[n].ifindex = idx;
		out[n].addr = ntohl(((const struct sockaddr_in *)(const void *)i->ifa_addr)->sin_addr.s_addr);
		n++;
	}
	freeifaddrs(ifa);
	return n;
}

/* Rescans the interfaces and joins the group on each (joining twice is
 * EADDRINUSE, harmless; the kernel drops the membership of an interface
 * that goes away). A client asks at once on interfaces it did not have. */
static void scan(struct lan *l, bool query_new)
{
	struct lan_addr old[LAN_MAX_ADDRS];
	unsigned n_old = l->n_addrs;
	memcpy(old, l->addrs, sizeof(old));
	l->n_addrs = list_addrs(l->d, l->addrs, LAN_MAX_ADDRS);
	for (unsigned i = 0; i < l->n_addrs; i++) {
		struct ip_mreqn mr = { .imr_multiaddr.s_addr = htonl(LANPROTO_GROUP),
				       .imr_ifindex = (int)l->addrs[i].ifindex };
		if (setsockopt(l->fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0 && errno != EADDRINUSE)
			log_debug("lan: cannot join %s on interface %u: %s", LANPROTO_GROUP_STR,
				  l->addrs[i].ifindex, strerror(errno));
	}
	for (unsigned i = 0; i < l->n_addrs && query_new; i++)
		if (!had_interface(old, n_old, l->addrs[i].ifindex) &&
		    !had_interface(l->addrs, i, l->addrs[i].ifindex))
			query(l, l->addrs[i].ifindex);
}

static void timer_cb(uv_timer_t *h)
{
	struct lan *l = h->data;
	if (l->closing || l->d->stopping)
		return;
	scan(l, true);
	announce(l, 0);
	uint64_t delay = LAN_ANNOUNCE_MS - LAN_JITTER_MS + randombytes_uniform(2 * LAN_JITTER_MS + 1);
	uv_timer_start(&l->timer, timer_cb, delay, 0);
}

/* ------------------------------------------------------------ receiving */

/* Both buckets have a token: take one from each. */
static bool allow(struct lan *l, uint32_t src, uint64_t now)
{
	uint64_t refill = (now - l->all_ms) * LAN_ALL_RATE; /* thousandths: rate per ms * 1000 */
	l->all_ms = now;
	l->all_milli = (uint32_t)(l->all_milli + refill > LAN_ALL_BURST * 1000u ? LAN_ALL_BURST * 1000u
										  : l->all_milli + refill);
	if (l->all_milli < 1000 || !srclimit_allow(l->src, src, now))
		return false;
	l->all_milli -= 1000;
	return true;
}

/* Our [peer] that an announcement is for, or NULL. */
static struct peer *peer_for(struct daemon *d, const struct lanmsg *m)
{
	char id[UUID_STR_LEN + 1];
	uuid_format(id, m->system_id);
	for (size_t i = 0; i < peers_count(d->peers); i++) {
		struct peer *p = peers_at(d->peers, i);
		if (p->cfg.role != CFG_ROLE_PEER || strcmp(p->system_id, id) != 0)
			continue;
		/* server_id.system names one server of the system */
		if (p->cfg.server_id[0] && strcmp(p->cfg.server_id, m->server_id) != 0)
			return NULL;
		return p;
	}
	return NULL;
}

static bool has_cand(const struct peer *p, const struct endpoint *ep)
{
	for (unsigned i = 0; i < p->n_cands; i++)
		if (!p->cands[i].conn && endpoint_equal(&p->cands[i].ep, ep))
			return true;
	return false;
}

static void on_announce(struct lan *l, const struct lanmsg *m, uint32_t src, uint64_t now)
{
	struct daemon *d = l->d;
	struct endpoint ep = { .addr = src, .port = m->port };
	char a[ENDPOINT_STR_LEN];

	if (memcmp(m->key, d->self.pub, KEY_LEN) == 0)
		return; /* our own, looped back */
	struct peer *p = peer_for(d, m);
	if (!p)
		return; /* another system on the LAN: not for us */
	if (p->has_key && memcmp(p->cfg.key, m->key, KEY_LEN) != 0) {
		d->cnt.lan_bad_key++; /* cannot happen while the id pins the key; refuse anyway */
		return;
	}
	/* TTL 1 keeps honest announcements on the link; a source outside our
	 * subnets would make us send handshakes somewhere else. */
	if (!punch_is_lan(d, src)) {
		d->cnt.lan_not_local++;
		return;
	}
	if (p->has_key && has_cand(p, &ep))
		return; /* nothing new: no action, no token */
	if (!allow(l, src, now)) {
		d->cnt.lan_ratelimited++;
		return;
	}
	endpoint_format(a, &ep);
	bool learned = !p->has_key;
	if (learned) {
		peer_set_key(p, m->key);
		log_info("peer %s: key learned from its LAN announcement from %s (the handshake proves it)",
			 p->cfg.name, a);
	}
	bool added = punch_add(p, &ep, CAND_LOCAL);
	if (!added && !learned)
		return; /* no room in the candidate table */
	if (added)
		log_info("peer %s: found on the LAN at %s (server %s)", p->cfg.name, a, m->server_id);
	if (timers_session_alive(d, p->cur, now) || timers_session_alive(d, p->next, now)) {
		timers_path_changed(p); /* the path manager probes it and moves up to it */
		return;
	}
	punch_lan_first(d, p);
	punch_start(d, p);
}

static void on_query(struct lan *l, const struct lanmsg *m, unsigned ifindex, uint64_t now)
{
	uint8_t own[UUID_LEN];
	if (!l->announce_len)
		return;
	key_system_id(own, l->d->self.pub);
	if (!lanproto_query_wants(m, own))
		return;
	/* The interface's slot, else the one answered longest ago. */
	unsigned slot = 0;
	for (unsigned i = 0; i < LAN_MAX_ADDRS; i++) {
		if (l->answered[i].ifindex == ifindex) {
			slot = i;
			break;
		}
		if (l->answered[i].ms < l->answered[slot].ms)
			slot = i;
	}
	if (l->answered[slot].ifindex == ifindex && l->answered[slot].ms &&
	    now - l->answered[slot].ms < LAN_ANSWER_MIN_MS) {
		l->d->cnt.lan_ratelimited++;
		return;
	}
	l->answered[slot].ifindex = ifindex;
	l->answered[slot].ms = now;
	announce(l, ifindex);
}

static void input(struct lan *l, const uint8_t *buf, size_t len, uint32_t src, unsigned ifindex)
{
	struct lanmsg m;
	uint64_t now = uv_now(l->d->loop);
	int rc = lanproto_decode(buf, len, &m);
	if (rc == -EKEYREJECTED) {
		char a[ADDR_STR_LEN];
		addr_format(a, src);
		log_debug("lan: announcement from %s whose key is not its system's: dropped", a);
		l->d->cnt.lan_bad_key++;
		return;
	}
	if (rc) {
		l->d->cnt.lan_malformed++;
		return;
	}
	if (m.type == LANPROTO_ANNOUNCE)
		on_announce(l, &m, src, now);
	else
		on_query(l, &m, ifindex, now);
}

static unsigned pktinfo_ifindex(struct msghdr *msg)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
		    c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			return (unsigned)pi.ipi_ifindex;
		}
	}
	return 0;
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
	struct lan *l = h->data;
	if (status < 0 || !(events & UV_READABLE) || l->closing)
		return;
	for (int i = 0; i < LAN_RECV_PER_CALLBACK; i++) {
		uint8_t buf[LANPROTO_MAX_LEN + 1]; /* one byte more: a longer datagram is truncated, not taken */
		union {
			char buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
			struct cmsghdr align;
		} ctl;
		struct sockaddr_in from;
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
		struct msghdr msg = { .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov,
				      .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
		ssize_t n = recvmsg(l->fd, &msg, 0);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_debug("lan: receive: %s", strerror(errno));
			return;
		}
		if ((msg.msg_flags & MSG_TRUNC) || msg.msg_namelen < sizeof(from) || from.sin_family != AF_INET) {
			l->d->cnt.lan_malformed++;
			continue;
		}
		input(l, buf, (size_t)n, ntohl(from.sin_addr.s_addr), pktinfo_ifindex(&msg));
	}
}

/* ------------------------------------------------------- start and stop */

static int open_socket(int *out)
{
	int one = 1, zero = 0, ttl = LANPROTO_TTL;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(LANPROTO_PORT),
				  .sin_addr.s_addr = htonl(LANPROTO_GROUP) };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Bound to the group itself: only its datagrams arrive, and the kernel
	 * picks each send's source from IP_PKTINFO. SO_REUSEADDR lets several
	 * tunds on one host share the port; each gets every datagram. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl)) < 0 ||
	    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof(zero)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	*out = fd;
	return 0;
}

static int build_announce(struct lan *l)
{
	struct daemon *d = l->d;
	struct lanmsg m = { .type = LANPROTO_ANNOUNCE, .port = d->udp.port };
	memcpy(m.key, d->self.pub, KEY_LEN);
	key_system_id(m.system_id, d->self.pub);
	serverid_get(&d->cfg, m.server_id);
	int n = lanproto_encode(l->announce, sizeof(l->announce), &m);
	if (n < 0)
		return n;
	l->announce_len = n;
	return 0;
}

int lan_new(struct lan **out, struct daemon *d)
{
	*out = NULL;
	if (!d->cfg.lan_discovery)
		return 0;
	struct lan *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->d = d;
	l->all_milli = LAN_ALL_BURST * 1000u;
	l->all_ms = uv_now(d->loop);
	int rc = srclimit_new(&l->src, LAN_SRC_RATE, LAN_SRC_BURST);
	if (rc) {
		free(l);
		return rc;
	}
	rc = d->cfg.publish ? build_announce(l) : 0;
	if (!rc)
		rc = open_socket(&l->fd);
	if (rc) {
		log_warn("LAN discovery off: cannot %s %s:%u: %s", l->announce_len || !d->cfg.publish ?
			 "listen on" : "build the announcement for", LANPROTO_GROUP_STR, LANPROTO_PORT,
			 strerror(-rc));
		srclimit_free(l->src);
		free(l);
		return 0;
	}
	uv_poll_init(d->loop, &l->poll, l->fd);
	uv_timer_init(d->loop, &l->timer);
	l->poll.data = l->timer.data = l;
	l->handles = 2;
	uv_poll_start(&l->poll, UV_READABLE, poll_cb);
	scan(l, false);
	announce(l, 0);
	query(l, 0);
	uv_timer_start(&l->timer, timer_cb, LAN_ANNOUNCE_MS, 0);
	log_info("LAN discovery on %s:%u, %u interface address(es)%s", LANPROTO_GROUP_STR, LANPROTO_PORT,
		 l->n_addrs, l->announce_len ? ", announcing" : "");
	*out = l;
	return 0;
}

static void closed_cb(uv_handle_t *h)
{
	struct lan *l = h->data;
	if (--l->handles)
		return;
	close(l->fd);
	srclimit_free(l->src);
	free(l);
}

void lan_close(struct lan *l)
{
	if (!l || l->closing)
		return;
	l->closing = true;
	uv_close((uv_handle_t *)&l->poll, closed_cb);
	uv_close((uv_handle_t *)&l->timer, closed_cb);
}
