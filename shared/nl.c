/*
 * nl.c - rtnetlink requests over libmnl (see nl.h).
 *
 * Owns one NETLINK_ROUTE socket, its port id and a sequence counter; there
 * is no other state, so several struct nl may live in one process. Every
 * request carries NLM_F_ACK and is answered before the call returns: the
 * kernel handles rtnetlink requests synchronously inside sendmsg(), so the
 * ACK (an NLMSG_ERROR with error 0) or the error is already queued when we
 * read. Invariants:
 *  - one request in flight per socket; the answer must carry our port id
 *    and the sequence number just sent. A datagram with an older sequence
 *    number (left over from a request that timed out) is skipped, anything
 *    else malformed is -EPROTO;
 *  - the socket is connect()ed to the kernel (port 0), so no other process
 *    can unicast a forged ACK to our port id;
 *  - receiving is bounded by SO_RCVTIMEO, so a lost answer costs at most
 *    NL_RCV_TIMEOUT_MS and is reported as -ETIMEDOUT;
 *  - the kernel's verdict is returned unchanged; its extended-ACK text,
 *    when present, is logged at debug level, because callers add context.
 * Kernel answers are parsed only through libmnl's bounds-checked helpers.
 */
#include "nl.h"

#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#define NL_RCV_TIMEOUT_MS 2000
#define NL_RX_BYTES 8192   /* MNL_SOCKET_BUFFER_SIZE's cap; answers here are < 1 KiB */
#define NL_TX_BYTES 256    /* our largest request is 44 bytes */
#define NL_MAX_SKIPPED 64  /* datagrams without our answer before giving up */
#define NL_EXTACK_LEN 128

struct nl {
	struct mnl_socket *sock;
	uint32_t portid;
	uint32_t seq;                        /* last sequence number sent; never 0 */
	uint32_t rx[NL_RX_BYTES / sizeof(uint32_t)]; /* word-aligned for nlmsghdr */
};

/* What the NLMSG_ERROR answer said. */
struct ack {
	bool seen;
	int err;                    /* 0 or negative errno */
	char msg[NL_EXTACK_LEN];    /* kernel's extended-ACK text, or "" */
};

int nl_new(struct nl **out)
{
	int err;
	*out = NULL;
	struct nl *nl = calloc(1, sizeof(*nl));
	if (!nl)
		return -ENOMEM;

	nl->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl->sock) {
		err = -errno;
		goto fail;
	}
	/* Best effort: CAP_ACK keeps error answers small (no echo of our
	 * request), EXT_ACK adds the kernel's reason text. Both exist since
	 * 4.12; error_cb copes with either being absent. */
	int one = 1;
	(void)mnl_socket_setsockopt(nl->sock, NETLINK_CAP_ACK, &one, sizeof(one));
	(void)mnl_socket_setsockopt(nl->sock, NETLINK_EXT_ACK, &one, sizeof(one));

	struct timeval tv = {
		.tv_sec = NL_RCV_TIMEOUT_MS / 1000,
		.tv_usec = (NL_RCV_TIMEOUT_MS % 1000) * 1000,
	};
	int fd = mnl_socket_get_fd(nl->sock);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		err = -errno;
		goto fail;
	}
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		goto fail;
	}
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK, .nl_pid = 0 };
	if (connect(fd, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
		err = -errno;
		goto fail;
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	*out = nl;
	return 0;
fail:
	nl_free(nl);
	return err;
}

void nl_free(struct nl *nl)
{
	if (!nl)
		return;
	if (nl->sock)
		mnl_socket_close(nl->sock);
	free(nl);
}

static int extack_attr_cb(const struct nlattr *attr, void *data)
{
	struct ack *ack = data;
	if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
	    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
		snprintf(ack->msg, sizeof(ack->msg), "%s", mnl_attr_get_str(attr));
	return MNL_CB_OK; /* unknown attributes are ignored */
}

/* The TLVs follow struct nlmsgerr and, unless the kernel capped the echo,
 * the payload of our own request that it echoes back. */
static void find_extack(const struct nlmsghdr *nlh, const struct nlmsgerr *e, struct ack *ack)
{
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	size_t off = sizeof(*e);
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
		if (e->msg.nlmsg_len < sizeof(struct nlmsghdr))
			return;
		off += MNL_ALIGN(e->msg.nlmsg_len - sizeof(struct nlmsghdr));
	}
	if (off >= mnl_nlmsg_get_payload_len(nlh))
		return;
	(void)mnl_attr_parse(nlh, (unsigned)off, extack_attr_cb, ack);
}

static int error_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ack *ack = data;
	struct nlmsgerr e;
	ack->seen = true;
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(e)) {
		ack->err = -EPROTO;
		return MNL_CB_ERROR;
	}
	memcpy(&e, mnl_nlmsg_get_payload(nlh), sizeof(e));
	if (e.error == 0)
		return MNL_CB_STOP; /* the ACK proper */
	ack->err = e.error < 0 ? e.error : -EPROTO;
	find_extack(nlh, &e, ack);
	return MNL_CB_ERROR;
}

/* True if buf holds a well-formed message answering an earlier request. */
static bool is_stale(const void *buf, size_t len, uint32_t seq)
{
	const struct nlmsghdr *nlh = buf;
	return mnl_nlmsg_ok(nlh, (int)len) && nlh->nlmsg_seq != 0 &&
	       nlh->nlmsg_seq != seq && nlh->nlmsg_seq - seq > UINT32_MAX / 2;
}

static int wait_ack(struct nl *nl, uint32_t seq, struct ack *ack)
{
	/* libmnl wants a mutable array; a local keeps it off global state. */
	mnl_cb_t ctl[NLMSG_MIN_TYPE] = { [NLMSG_ERROR] = error_cb };

	for (int skipped = 0; skipped < NL_MAX_SKIPPED; skipped++) {
		ssize_t n = mnl_socket_recvfrom(nl->sock, nl->rx, sizeof(nl->rx));
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
		if (is_stale(nl->rx, (size_t)n, seq))
			continue;
		int ret = mnl_cb_run2(nl->rx, (size_t)n, seq, nl->portid, NULL, ack,
				      ctl, NLMSG_MIN_TYPE);
		if (ack->seen)
			return ack->err;
		/* Without our NLMSG_ERROR, a failure is libmnl rejecting the
		 * port id or sequence number: errno from it would be misread
		 * as a kernel verdict (it uses ESRCH for a port mismatch). */
		if (ret == MNL_CB_ERROR || ret == MNL_CB_STOP)
			return -EPROTO;
	}
	return -EPROTO;
}

static const char *type_name(uint16_t type)
{
	switch (type) {
	case RTM_NEWLINK: return "RTM_NEWLINK";
	case RTM_NEWADDR: return "RTM_NEWADDR";
	case RTM_DELADDR: return "RTM_DELADDR";
	case RTM_NEWROUTE: return "RTM_NEWROUTE";
	case RTM_DELROUTE: return "RTM_DELROUTE";
	default: return "rtnetlink request";
	}
}

/* Sends one finished request and returns the kernel's verdict. */
static int transact(struct nl *nl, struct nlmsghdr *nlh)
{
	if (++nl->seq == 0)
		nl->seq = 1; /* 0 would make libmnl skip the sequence check */
	nlh->nlmsg_seq = nl->seq;
	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;

	ssize_t n = mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len);
	if (n < 0)
		return -errno;
	if ((size_t)n != nlh->nlmsg_len)
		return -EIO;

	struct ack ack = { .seen = false, .err = 0, .msg = "" };
	int err = wait_ack(nl, nl->seq, &ack);
	if (err)
		log_debug("nl: %s (seq %u): %s%s%s", type_name(nlh->nlmsg_type), nl->seq,
			  strerror(-err), ack.msg[0] ? ": " : "", ack.msg);
	return err;
}

static struct nlmsghdr *start(void *buf, uint16_t type, uint16_t flags)
{
	memset(buf, 0, NL_TX_BYTES);
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	return nlh;
}

int nl_link_set(struct nl *nl, int ifindex, unsigned mtu, bool up)
{
	uint32_t buf[NL_TX_BYTES / sizeof(uint32_t)];
	struct nlmsghdr *nlh = start(buf, RTM_NEWLINK, 0);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	ifi->ifi_flags = up ? IFF_UP : 0;
	ifi->ifi_change = IFF_UP; /* touch only IFF_UP, leave other flags */
	/* mtu 0 means "leave the MTU alone": 0 is never a valid MTU. */
	if (mtu && !mnl_attr_put_u32_check(nlh, sizeof(buf), IFLA_MTU, mtu))
		return -EMSGSIZE;
	return transact(nl, nlh);
}

static int addr_req(struct nl *nl, uint16_t type, uint16_t flags, int ifindex,
		    uint32_t addr, unsigned prefix_len)
{
	if (prefix_len > 32)
		return -EINVAL; /* the kernel's u8 field would wrap it */
	uint32_t buf[NL_TX_BYTES / sizeof(uint32_t)];
	struct nlmsghdr *nlh = start(buf, type, flags);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = (uint8_t)prefix_len;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (uint32_t)ifindex;
	/* LOCAL is our address; ADDRESS is the peer on point-to-point links.
	 * Equal values mean "no peer": the prefix route covers the subnet. */
	uint32_t be = htonl(addr);
	if (!mnl_attr_put_u32_check(nlh, sizeof(buf), IFA_LOCAL, be) ||
	    !mnl_attr_put_u32_check(nlh, sizeof(buf), IFA_ADDRESS, be))
		return -EMSGSIZE;
	return transact(nl, nlh);
}

int nl_addr_add(struct nl *nl, int ifindex, uint32_t addr, unsigned prefix_len)
{
	return addr_req(nl, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifindex, addr, prefix_len);
}

int nl_addr_del(struct nl *nl, int ifindex, uint32_t addr, unsigned prefix_len)
{
	return addr_req(nl, RTM_DELADDR, 0, ifindex, addr, prefix_len);
}

/* Add and delete describe the same route (table, protocol, scope, type,
 * device), so a delete removes only a route we could have added and
 * leaves, say, an administrator's route to the same prefix alone. */
static int route_req(struct nl *nl, uint16_t type, uint16_t flags, int ifindex,
		     uint32_t dst, unsigned prefix_len)
{
	if (prefix_len > 32)
		return -EINVAL;
	uint32_t buf[NL_TX_BYTES / sizeof(uint32_t)];
	struct nlmsghdr *nlh = start(buf, type, flags);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = AF_INET;
	rtm->rtm_dst_len = (uint8_t)prefix_len;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_STATIC; /* set by a daemon, not by boot scripts */
	rtm->rtm_scope = RT_SCOPE_LINK;    /* on-link: no gateway, TUN is point-to-point */
	rtm->rtm_type = RTN_UNICAST;
	if (!mnl_attr_put_u32_check(nlh, sizeof(buf), RTA_DST, htonl(dst)) ||
	    !mnl_attr_put_u32_check(nlh, sizeof(buf), RTA_OIF, (uint32_t)ifindex))
		return -EMSGSIZE;
	return transact(nl, nlh);
}

int nl_route_add(struct nl *nl, int ifindex, uint32_t dst, unsigned prefix_len)
{
	return route_req(nl, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, ifindex, dst, prefix_len);
}

int nl_route_del(struct nl *nl, int ifindex, uint32_t dst, unsigned prefix_len)
{
	return route_req(nl, RTM_DELROUTE, 0, ifindex, dst, prefix_len);
}
