/*
 * test_tun_nl.c - the kernel edge (shared/tun.c, shared/nl.c) against the
 * real kernel: TUN creation and naming, link MTU and state, IPv4 addresses
 * and routes with the kernel's own error codes, packets in both directions
 * through the TUN fd, and the device's lifetime. Every assertion states
 * what this kernel was observed to do (kernel-notes/tun-and-rtnetlink.md).
 *
 * Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN); otherwise it prints SKIP
 * and exits 77. main() first moves the process into a new, private network
 * namespace and mount namespace (sysfs is remounted so /sys/class/net shows
 * that namespace), so nothing here touches the host's interfaces, and no
 * packet can leave: the namespace has no link but our TUN and a down lo.
 *
 * The fixture disables IPv6 on the test interface before bringing it up,
 * so the only packets on the TUN fd are the ones a test sends; the IPv6
 * test turns it back on to watch what the kernel does by default.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>

#include "nl.h"
#include "reader.h"
#include "tun.h"

#define SKIP_EXIT 77
#define TEST_IF "tundt0"
#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

#define TUN_ADDR IP4(10, 77, 0, 1)   /* our address, /24 */
#define ROUTED_NET IP4(10, 99, 0, 0) /* a /24 routed into the TUN */
#define ROUTED_PEER IP4(10, 99, 0, 7)
#define ROUTED_HOST IP4(10, 88, 0, 5) /* a /32 routed into the TUN */
#define TEST_MTU 1400
#define WAIT_MS 1000
#define PKT_MAX 65536
#define WATCHDOG_S 60
#define DUMP_BYTES 32768 /* what libmnl suggests for dumps */

struct fx {
	int fd;
	int ifindex;
	struct nl *nl;
	char name[IFNAMSIZ];
};

/* ---- helpers: sysfs, procfs, sockets ---------------------------------- */

static int sys_read(const char *ifname, const char *attr, char *out, size_t cap)
{
	char path[128];
	snprintf(path, sizeof(path), "/sys/class/net/%s/%s", ifname, attr);
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	if (!fgets(out, (int)cap, f))
		out[0] = '\0';
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
	return 0;
}

static long sys_long(const char *ifname, const char *attr)
{
	char s[64];
	if (sys_read(ifname, attr, s, sizeof(s)) < 0)
		return -1;
	return strtol(s, NULL, 0);
}

/* A counter from /proc/net/snmp, e.g. ("Ip:", "InHdrErrors"); -1 if absent. */
static long snmp_get(const char *proto, const char *field)
{
	FILE *f = fopen("/proc/net/snmp", "r");
	if (!f)
		return -1;
	char head[2048], vals[2048];
	long v = -1;
	while (v < 0 && fgets(head, sizeof(head), f) && fgets(vals, sizeof(vals), f)) {
		if (strncmp(head, proto, strlen(proto)) != 0)
			continue;
		char *sh, *sv;
		char *h = strtok_r(head, " \n", &sh);
		char *x = strtok_r(vals, " \n", &sv);
		while (h && x && v < 0) {
			if (strcmp(h, field) == 0)
				v = strtol(x, NULL, 10);
			h = strtok_r(NULL, " \n", &sh);
			x = strtok_r(NULL, " \n", &sv);
		}
	}
	fclose(f);
	return v;
}

static int set_ipv6(const char *ifname, bool on)
{
	char path[128];
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", ifname);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int err = write(fd, on ? "0" : "1", 1) == 1 ? 0 : -EIO;
	close(fd);
	return err;
}

static short if_flags(const char *ifname)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	assert_int_equal(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	close(s);
	return ifr.ifr_flags;
}

/* What getifaddrs() lists for one interface. */
struct addr_scan {
	int v4;        /* IPv4 addresses */
	bool v4_match; /* one of them is the wanted addr/prefix_len */
	bool v6_ll;    /* an IPv6 link-local address */
};

static struct addr_scan scan_addrs(const char *ifname, uint32_t addr, unsigned prefix_len)
{
	struct addr_scan sc = { 0 };
	uint32_t want_mask = prefix_len ? ~0u << (32 - prefix_len) : 0;
	struct ifaddrs *all;
	assert_int_equal(getifaddrs(&all), 0);
	for (struct ifaddrs *i = all; i; i = i->ifa_next) {
		if (!i->ifa_addr || strcmp(i->ifa_name, ifname) != 0)
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			struct sockaddr_in a, m;
			memcpy(&a, i->ifa_addr, sizeof(a));
			memcpy(&m, i->ifa_netmask, sizeof(m));
			sc.v4++;
			if (ntohl(a.sin_addr.s_addr) == addr && ntohl(m.sin_addr.s_addr) == want_mask)
				sc.v4_match = true;
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			struct sockaddr_in6 a6;
			memcpy(&a6, i->ifa_addr, sizeof(a6));
			if (IN6_IS_ADDR_LINKLOCAL(&a6.sin6_addr))
				sc.v6_ll = true;
		}
	}
	freeifaddrs(all);
	return sc;
}

static bool has_ipv4(const char *ifname, uint32_t addr, unsigned prefix_len)
{
	return scan_addrs(ifname, addr, prefix_len).v4_match;
}

static int count_ipv4(const char *ifname) { return scan_addrs(ifname, 0, 0).v4; }

static struct sockaddr_in sin_of(uint32_t addr, uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	sa.sin_addr.s_addr = htonl(addr);
	return sa;
}

/* The source address the routing table picks towards dst, found by
 * connecting a UDP socket (which sends nothing). 0 or -errno. */
static int route_src(uint32_t dst, uint32_t *src)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	struct sockaddr_in sa = sin_of(dst, 9);
	int err = 0;
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
	} else {
		struct sockaddr_in me;
		socklen_t len = sizeof(me);
		assert_int_equal(getsockname(s, (struct sockaddr *)&me, &len), 0);
		*src = ntohl(me.sin_addr.s_addr);
	}
	close(s);
	return err;
}

static int udp_socket(void)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	return s;
}

static void udp_send(int s, uint32_t dst, uint16_t port, const void *p, size_t len)
{
	struct sockaddr_in sa = sin_of(dst, port);
	assert_int_equal(sendto(s, p, len, 0, (struct sockaddr *)&sa, sizeof(sa)), (ssize_t)len);
}

/* One IPv4 route of the main table as a dump shows it. */
struct route_seen {
	uint32_t dst;       /* wanted, host order */
	unsigned plen;      /* wanted */
	bool found;
	uint8_t protocol, scope, type;
	uint32_t table, oif;
};

struct route_attrs {
	uint32_t dst, table, oif;
};

static int route_attr_cb(const struct nlattr *a, void *data)
{
	struct route_attrs *ra = data;
	uint16_t t = mnl_attr_get_type(a);
	if ((t == RTA_DST || t == RTA_TABLE || t == RTA_OIF) && mnl_attr_validate(a, MNL_TYPE_U32) < 0)
		return MNL_CB_ERROR;
	if (t == RTA_DST)
		ra->dst = ntohl(mnl_attr_get_u32(a));
	else if (t == RTA_TABLE)
		ra->table = mnl_attr_get_u32(a);
	else if (t == RTA_OIF)
		ra->oif = mnl_attr_get_u32(a);
	return MNL_CB_OK;
}

static int route_msg_cb(const struct nlmsghdr *nlh, void *data)
{
	struct route_seen *rs = data;
	struct rtmsg rtm;
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(rtm))
		return MNL_CB_ERROR;
	memcpy(&rtm, mnl_nlmsg_get_payload(nlh), sizeof(rtm));
	struct route_attrs ra = { .table = rtm.rtm_table };
	if (mnl_attr_parse(nlh, sizeof(rtm), route_attr_cb, &ra) < 0)
		return MNL_CB_ERROR;
	if (rtm.rtm_family == AF_INET && ra.table == RT_TABLE_MAIN &&
	    rtm.rtm_dst_len == rs->plen && ra.dst == rs->dst) {
		rs->found = true;
		rs->protocol = rtm.rtm_protocol;
		rs->scope = rtm.rtm_scope;
		rs->type = rtm.rtm_type;
		rs->table = ra.table;
		rs->oif = ra.oif;
	}
	return MNL_CB_OK;
}

/* Dumps the IPv4 routes (RTM_GETROUTE) and fills rs for dst/plen. */
static void route_dump(struct route_seen *rs)
{
	uint32_t buf[DUMP_BYTES / sizeof(uint32_t)];
	struct mnl_socket *s = mnl_socket_open(NETLINK_ROUTE);
	assert_non_null(s);
	assert_int_equal(mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID), 0);
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETROUTE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = 1;
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = AF_INET;
	assert_int_equal(mnl_socket_sendto(s, nlh, nlh->nlmsg_len), nlh->nlmsg_len);
	rs->found = false;
	int ret = MNL_CB_OK;
	while (ret > MNL_CB_STOP) {
		ssize_t n = mnl_socket_recvfrom(s, buf, sizeof(buf));
		assert_true(n > 0);
		ret = mnl_cb_run(buf, (size_t)n, 1, mnl_socket_get_portid(s), route_msg_cb, rs);
	}
	assert_int_equal(ret, MNL_CB_STOP);
	mnl_socket_close(s);
}

static long elapsed_ms(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Reads the TUN fd for up to timeout_ms and returns the length of the first
 * packet whose IP version is ver, skipping others; 0 on timeout. */
static ssize_t next_packet(int fd, int ver, uint8_t *buf, size_t cap, int timeout_ms)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		long left = timeout_ms - elapsed_ms(&t0);
		if (left < 0)
			return 0;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, (int)left);
		assert_true(r >= 0);
		if (r == 0)
			return 0;
		ssize_t n = read(fd, buf, cap);
		if (n < 0) {
			assert_int_equal(errno, EAGAIN);
			continue;
		}
		if (n > 0 && buf[0] >> 4 == ver)
			return n;
	}
}

static uint16_t ipv4_csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* An IPv4/UDP packet with a valid header checksum and no UDP checksum
 * (0 is allowed over IPv4, RFC 768). Returns its length. */
static size_t build_udp(uint8_t *buf, size_t cap, uint32_t src, uint32_t dst, uint16_t sport,
			uint16_t dport, const void *payload, size_t len)
{
	struct wr w = wr_init(buf, cap);
	wr_u8(&w, 0x45); /* version 4, 5-word header */
	wr_u8(&w, 0);
	wr_be16(&w, (uint16_t)(20 + 8 + len));
	wr_be16(&w, 0x1234); /* id */
	wr_be16(&w, 0);      /* no fragmentation */
	wr_u8(&w, 64);       /* ttl */
	wr_u8(&w, IPPROTO_UDP);
	wr_be16(&w, 0);      /* checksum, filled below */
	wr_be32(&w, src);
	wr_be32(&w, dst);
	wr_be16(&w, sport);
	wr_be16(&w, dport);
	wr_be16(&w, (uint16_t)(8 + len));
	wr_be16(&w, 0);
	wr_bytes(&w, payload, len);
	assert_true(wr_ok(&w));
	uint16_t c = ipv4_csum(buf, 20);
	buf[10] = (uint8_t)(c >> 8);
	buf[11] = (uint8_t)c;
	return w.off;
}

/* ---- fixture ------------------------------------------------------------ */

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	*state = f;
	f->fd = tun_open(TEST_IF, f->name);
	if (f->fd < 0 || nl_new(&f->nl) != 0)
		return -1;
	f->ifindex = (int)if_nametoindex(f->name);
	if (f->ifindex <= 0)
		return -1;
	/* -ENOENT when the kernel has no IPv6: nothing to disable then. */
	int err = set_ipv6(f->name, false);
	return err == 0 || err == -ENOENT ? 0 : -1;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	if (!f)
		return 0;
	if (f->fd >= 0)
		close(f->fd);
	nl_free(f->nl);
	free(f);
	return 0;
}

/* Link up at TEST_MTU with TUN_ADDR/24 and ROUTED_NET/24 into the TUN. */
static void bring_up(struct fx *f)
{
	assert_int_equal(nl_link_set(f->nl, f->ifindex, TEST_MTU, true), 0);
	assert_int_equal(nl_addr_add(f->nl, f->ifindex, TUN_ADDR, 24), 0);
	assert_int_equal(nl_route_add(f->nl, f->ifindex, ROUTED_NET, 24), 0);
}

/* ---- TUN device --------------------------------------------------------- */

static void test_tun_open_creates_named_device(void **state)
{
	struct fx *f = *state;
	char s[64];
	assert_string_equal(f->name, TEST_IF);
	assert_true(if_nametoindex(TEST_IF) > 0);
	assert_int_equal(sys_read(TEST_IF, "tun_flags", s, sizeof(s)), 0);
	assert_string_equal(s, "0x1001"); /* IFF_TUN | IFF_NO_PI, no VNET_HDR */
	assert_int_equal(sys_read(TEST_IF, "operstate", s, sizeof(s)), 0);
	assert_string_equal(s, "down");
	assert_int_equal(sys_long(TEST_IF, "tx_queue_len"), 500);
	assert_true(fcntl(f->fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(f->fd, F_GETFD) & FD_CLOEXEC);
}

static void test_tun_open_kernel_picks_name(void **state)
{
	(void)state;
	char name[IFNAMSIZ];
	int fd = tun_open(NULL, name);
	assert_true(fd >= 0);
	assert_memory_equal(name, "tun", 3);
	assert_true(if_nametoindex(name) > 0);
	close(fd);
	assert_int_equal(if_nametoindex(name), 0);

	fd = tun_open("tk%d", name); /* a template is filled in by the kernel */
	assert_true(fd >= 0);
	assert_string_equal(name, "tk0");
	close(fd);
}

static void test_tun_open_rejects_bad_names(void **state)
{
	(void)state;
	assert_int_equal(tun_open("sixteen-chars-xx", NULL), -EINVAL); /* ours: too long */
	assert_int_equal(tun_open("lo", NULL), -EINVAL);   /* exists, not a TUN */
	assert_int_equal(tun_open("a/b", NULL), -EINVAL);  /* not a valid name */
}

/* A non-multiqueue TUN has one queue; a second attach is refused with
 * EBUSY and the first owner keeps the device. */
static void test_tun_open_twice_is_busy(void **state)
{
	struct fx *f = *state;
	char name[IFNAMSIZ];
	assert_int_equal(tun_open(TEST_IF, name), -EBUSY);
	assert_int_equal((int)if_nametoindex(TEST_IF), f->ifindex);
}

/* Down: write fails with EIO, read just finds the queue empty (EAGAIN).
 * Up: a good packet is accepted, and an empty queue is still EAGAIN. */
static void test_tun_read_write_state(void **state)
{
	struct fx *f = *state;
	uint8_t pkt[128], buf[128];
	size_t len = build_udp(pkt, sizeof(pkt), ROUTED_PEER, TUN_ADDR, 1, 2, "x", 1);
	assert_int_equal(read(f->fd, buf, sizeof(buf)), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(write(f->fd, pkt, len), -1);
	assert_int_equal(errno, EIO);
	assert_int_equal(nl_link_set(f->nl, f->ifindex, 0, true), 0);
	assert_int_equal(write(f->fd, pkt, len), (ssize_t)len);
	assert_int_equal(read(f->fd, buf, sizeof(buf)), -1);
	assert_int_equal(errno, EAGAIN);
}

/* The interface, its addresses and its routes live only as long as the fd. */
static void test_tun_close_removes_everything(void **state)
{
	struct fx *f = *state;
	uint32_t src;
	bring_up(f);
	assert_int_equal(route_src(ROUTED_PEER, &src), 0);
	close(f->fd);
	f->fd = -1;
	assert_int_equal(if_nametoindex(TEST_IF), 0);
	assert_int_equal(access("/sys/class/net/" TEST_IF, F_OK), -1);
	assert_int_equal(route_src(ROUTED_PEER, &src), -ENETUNREACH);

	f->fd = tun_open(TEST_IF, f->name); /* same name, brand-new device */
	assert_true(f->fd >= 0);
	assert_int_not_equal((int)if_nametoindex(TEST_IF), f->ifindex);
	assert_int_equal(count_ipv4(TEST_IF), 0);
	assert_int_equal(sys_long(TEST_IF, "mtu"), 1500);
}

/* ---- rtnetlink ---------------------------------------------------------- */

static void test_link_set_mtu_and_state(void **state)
{
	struct fx *f = *state;
	char s[64];
	assert_int_equal(nl_link_set(f->nl, f->ifindex, 1380, true), 0);
	assert_int_equal(sys_long(f->name, "mtu"), 1380);
	short fl = if_flags(f->name);
	assert_true(fl & IFF_UP);
	assert_true(fl & IFF_RUNNING); /* carrier is on while the fd is attached */
	assert_int_equal(sys_read(f->name, "operstate", s, sizeof(s)), 0);
	assert_string_not_equal(s, "down"); /* TUN reports "unknown" here */

	assert_int_equal(nl_link_set(f->nl, f->ifindex, 0, false), 0); /* 0: keep MTU */
	assert_int_equal(sys_long(f->name, "mtu"), 1380);
	assert_false(if_flags(f->name) & IFF_UP);

	assert_int_equal(nl_link_set(f->nl, f->ifindex, 67, true), -EINVAL);    /* < 68 */
	assert_int_equal(nl_link_set(f->nl, f->ifindex, 65536, true), -EINVAL); /* > 65535 */
	assert_int_equal(sys_long(f->name, "mtu"), 1380);
	assert_false(if_flags(f->name) & IFF_UP); /* a refused request changed nothing */
	assert_int_equal(nl_link_set(f->nl, f->ifindex + 1000, 1400, true), -ENODEV);
}

static void test_addr_add_del(void **state)
{
	struct fx *f = *state;
	assert_int_equal(nl_link_set(f->nl, f->ifindex, TEST_MTU, true), 0);
	assert_false(has_ipv4(f->name, TUN_ADDR, 24));
	assert_int_equal(nl_addr_add(f->nl, f->ifindex, TUN_ADDR, 24), 0);
	assert_true(has_ipv4(f->name, TUN_ADDR, 24));
	assert_int_equal(nl_addr_add(f->nl, f->ifindex, TUN_ADDR, 24), -EEXIST);
	assert_int_equal(count_ipv4(f->name), 1);

	assert_int_equal(nl_addr_add(f->nl, f->ifindex, TUN_ADDR, 33), -EINVAL);
	assert_int_equal(nl_addr_add(f->nl, f->ifindex + 1000, TUN_ADDR, 24), -ENODEV);

	assert_int_equal(nl_addr_del(f->nl, f->ifindex, TUN_ADDR, 24), 0);
	assert_false(has_ipv4(f->name, TUN_ADDR, 24));
	assert_int_equal(count_ipv4(f->name), 0);
	assert_int_equal(nl_addr_del(f->nl, f->ifindex, TUN_ADDR, 24), -EADDRNOTAVAIL);
}

/* IPv4 addresses go on a down link; routes through it do not. */
static void test_route_needs_link_up(void **state)
{
	struct fx *f = *state;
	assert_int_equal(nl_addr_add(f->nl, f->ifindex, TUN_ADDR, 24), 0);
	assert_int_equal(nl_route_add(f->nl, f->ifindex, ROUTED_NET, 24), -ENETDOWN);
}

static void test_route_add_del(void **state)
{
	struct fx *f = *state;
	uint32_t src = 0;
	assert_int_equal(nl_link_set(f->nl, f->ifindex, TEST_MTU, true), 0);
	assert_int_equal(nl_addr_add(f->nl, f->ifindex, TUN_ADDR, 24), 0);
	/* The new namespace has no default route. */
	assert_int_equal(route_src(ROUTED_PEER, &src), -ENETUNREACH);
	assert_int_equal(route_src(ROUTED_HOST, &src), -ENETUNREACH);

	assert_int_equal(nl_route_add(f->nl, f->ifindex, ROUTED_NET, 24), 0);
	assert_int_equal(nl_route_add(f->nl, f->ifindex, ROUTED_HOST, 32), 0);
	assert_int_equal(route_src(ROUTED_PEER, &src), 0);
	assert_int_equal(src, TUN_ADDR);
	assert_int_equal(route_src(IP4(10, 99, 0, 254), &src), 0);
	assert_int_equal(src, TUN_ADDR);
	src = 0;
	assert_int_equal(route_src(ROUTED_HOST, &src), 0);
	assert_int_equal(src, TUN_ADDR);
	assert_int_equal(route_src(ROUTED_HOST + 1, &src), -ENETUNREACH); /* /32 is one host */

	struct route_seen rs = { .dst = ROUTED_NET, .plen = 24 };
	route_dump(&rs);
	assert_true(rs.found);
	assert_int_equal(rs.protocol, RTPROT_STATIC);
	assert_int_equal(rs.scope, RT_SCOPE_LINK);
	assert_int_equal(rs.type, RTN_UNICAST);
	assert_int_equal(rs.table, RT_TABLE_MAIN);
	assert_int_equal(rs.oif, f->ifindex);
	rs = (struct route_seen){ .dst = ROUTED_HOST, .plen = 32 };
	route_dump(&rs);
	assert_true(rs.found);
	assert_int_equal(rs.oif, f->ifindex);

	assert_int_equal(nl_route_add(f->nl, f->ifindex, ROUTED_NET, 24), -EEXIST);
	assert_int_equal(nl_route_add(f->nl, f->ifindex, ROUTED_PEER, 24), -EINVAL); /* host bits */
	assert_int_equal(nl_route_add(f->nl, f->ifindex, ROUTED_NET, 33), -EINVAL);
	assert_int_equal(nl_route_add(f->nl, f->ifindex + 1000, IP4(10, 66, 0, 0), 24), -ENODEV);

	assert_int_equal(nl_route_del(f->nl, f->ifindex, ROUTED_NET, 24), 0);
	assert_int_equal(route_src(ROUTED_PEER, &src), -ENETUNREACH);
	rs = (struct route_seen){ .dst = ROUTED_NET, .plen = 24 };
	route_dump(&rs);
	assert_false(rs.found);
	assert_int_equal(nl_route_del(f->nl, f->ifindex, ROUTED_NET, 24), -ESRCH);
	assert_int_equal(nl_route_del(f->nl, f->ifindex, ROUTED_HOST, 32), 0);
	assert_int_equal(route_src(ROUTED_HOST, &src), -ENETUNREACH);
	assert_int_equal(nl_route_del(f->nl, f->ifindex, ROUTED_HOST, 32), -ESRCH);
}

/* Taking the link down flushes every route through it, ours included, and
 * bringing it back up restores only the kernel's prefix route of the
 * address (which stays). Whoever owns the routes must re-add them. */
static void test_link_down_flushes_routes(void **state)
{
	struct fx *f = *state;
	uint32_t src;
	bring_up(f);
	assert_int_equal(nl_link_set(f->nl, f->ifindex, 0, false), 0);
	struct route_seen rs = { .dst = ROUTED_NET, .plen = 24 };
	route_dump(&rs);
	assert_false(rs.found);
	assert_int_equal(nl_link_set(f->nl, f->ifindex, 0, true), 0);
	route_dump(&rs);
	assert_false(rs.found);
	assert_int_equal(route_src(ROUTED_PEER, &src), -ENETUNREACH);
	assert_true(has_ipv4(f->name, TUN_ADDR, 24));
	rs = (struct route_seen){ .dst = TUN_ADDR & 0xffffff00u, .plen = 24 };
	route_dump(&rs);
	assert_true(rs.found);
	assert_int_equal(rs.protocol, RTPROT_KERNEL);
}

/* ---- packets ------------------------------------------------------------ */

/* A datagram sent towards a routed address comes out of the TUN fd as
 * exactly one bare IPv4 packet (IFF_NO_PI: no prefix before the header). */
static void test_udp_to_route_reads_one_ipv4_packet(void **state)
{
	struct fx *f = *state;
	static const char msg[] = "hello tund";
	const size_t mlen = sizeof(msg) - 1;
	uint8_t buf[PKT_MAX];
	bring_up(f);
	int s = udp_socket();
	udp_send(s, ROUTED_PEER, 9999, msg, mlen);

	ssize_t n = next_packet(f->fd, 4, buf, sizeof(buf), WAIT_MS);
	assert_int_equal(n, 20 + 8 + mlen);
	struct rd r = rd_init(buf, (size_t)n);
	assert_int_equal(rd_u8(&r), 0x45);
	rd_skip(&r, 1);
	assert_int_equal(rd_be16(&r), n);
	rd_skip(&r, 5);
	assert_int_equal(rd_u8(&r), IPPROTO_UDP);
	rd_skip(&r, 2);
	assert_int_equal(rd_be32(&r), TUN_ADDR);
	assert_int_equal(rd_be32(&r), ROUTED_PEER);
	rd_skip(&r, 2); /* source port: ephemeral */
	assert_int_equal(rd_be16(&r), 9999);
	assert_int_equal(rd_be16(&r), 8 + mlen);
	rd_skip(&r, 2);
	const uint8_t *payload = rd_take(&r, mlen);
	assert_true(rd_ok(&r));
	assert_int_equal(rd_left(&r), 0);
	assert_memory_equal(payload, msg, mlen);

	/* exactly one: nothing else follows */
	assert_int_equal(next_packet(f->fd, 4, buf, sizeof(buf), 100), 0);
	close(s);
}

/* A read shorter than the packet returns the buffer's worth and silently
 * drops the rest: with IFF_NO_PI nothing flags the truncation. */
static void test_short_read_truncates(void **state)
{
	struct fx *f = *state;
	uint8_t big[1000], buf[PKT_MAX];
	memset(big, 0xab, sizeof(big));
	bring_up(f);
	int s = udp_socket();
	udp_send(s, ROUTED_PEER, 9999, big, sizeof(big));
	struct pollfd p = { .fd = f->fd, .events = POLLIN };
	assert_int_equal(poll(&p, 1, WAIT_MS), 1);
	assert_int_equal(read(f->fd, buf, 100), 100);
	assert_int_equal(read(f->fd, buf, sizeof(buf)), -1);
	assert_int_equal(errno, EAGAIN);
	close(s);
}

/* A packet written to the fd enters the stack as if received on the link. */
static void test_write_delivers_to_local_socket(void **state)
{
	struct fx *f = *state;
	static const char msg[] = "from the tunnel";
	const size_t mlen = sizeof(msg) - 1;
	uint8_t pkt[256], got[256];
	bring_up(f);
	int s = udp_socket();
	struct sockaddr_in me = sin_of(TUN_ADDR, 7777);
	assert_int_equal(bind(s, (struct sockaddr *)&me, sizeof(me)), 0);

	size_t len = build_udp(pkt, sizeof(pkt), ROUTED_PEER, TUN_ADDR, 4321, 7777, msg, mlen);
	assert_int_equal(write(f->fd, pkt, len), (ssize_t)len);

	struct pollfd p = { .fd = s, .events = POLLIN };
	assert_int_equal(poll(&p, 1, WAIT_MS), 1);
	struct sockaddr_in from;
	socklen_t flen = sizeof(from);
	ssize_t n = recvfrom(s, got, sizeof(got), 0, (struct sockaddr *)&from, &flen);
	assert_int_equal(n, mlen);
	assert_memory_equal(got, msg, mlen);
	assert_int_equal(ntohl(from.sin_addr.s_addr), ROUTED_PEER);
	assert_int_equal(ntohs(from.sin_port), 4321);
	close(s);
}

/* TUN itself checks only the version nibble (and refuses empty writes);
 * everything else is accepted by write() and judged by the IP layer. */
static void test_write_malformed(void **state)
{
	struct fx *f = *state;
	uint8_t pkt[256];
	bring_up(f);

	long dropped = sys_long(f->name, "statistics/rx_dropped");
	assert_int_equal(write(f->fd, pkt, 0), -1);
	assert_int_equal(errno, EINVAL);
	memset(pkt, 0, 64); /* version 0 */
	assert_int_equal(write(f->fd, pkt, 64), -1);
	assert_int_equal(errno, EINVAL);
	memset(pkt, 0xff, 64); /* version 15 */
	assert_int_equal(write(f->fd, pkt, 64), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(sys_long(f->name, "statistics/rx_dropped"), dropped + 3);

	long hdr_errors = snmp_get("Ip:", "InHdrErrors");
	assert_true(hdr_errors >= 0);
	size_t len = build_udp(pkt, sizeof(pkt), ROUTED_PEER, TUN_ADDR, 1, 7777, "x", 1);
	pkt[10] ^= 0xff; /* corrupt the header checksum */
	assert_int_equal(write(f->fd, pkt, len), (ssize_t)len);
	pkt[10] ^= 0xff;
	assert_int_equal(write(f->fd, pkt, 10), 10); /* shorter than a header */
	assert_int_equal(snmp_get("Ip:", "InHdrErrors"), hdr_errors + 2);
}

/* The MTU limits what the kernel sends into the TUN (it fragments), not
 * what we write: a 3028-byte packet written at MTU 1400 is delivered. */
static void test_mtu_fragments_out_not_in(void **state)
{
	struct fx *f = *state;
	static uint8_t big[3000], pkt[PKT_MAX];
	memset(big, 0x5a, sizeof(big));
	bring_up(f);
	int s = udp_socket();
	udp_send(s, ROUTED_PEER, 9999, big, sizeof(big));
	size_t total = 0;
	int frags = 0;
	ssize_t n;
	while ((n = next_packet(f->fd, 4, pkt, sizeof(pkt), 200)) > 0) {
		assert_true(n <= TEST_MTU);
		total += (size_t)n - 20;
		frags++;
	}
	assert_int_equal(frags, 3);
	assert_int_equal(total, 8 + sizeof(big));

	close(s);

	int rx = udp_socket();
	struct sockaddr_in me = sin_of(TUN_ADDR, 7777);
	assert_int_equal(bind(rx, (struct sockaddr *)&me, sizeof(me)), 0);
	size_t len = build_udp(pkt, sizeof(pkt), ROUTED_PEER, TUN_ADDR, 1, 7777, big, sizeof(big));
	assert_true(len > TEST_MTU);
	assert_int_equal(write(f->fd, pkt, len), (ssize_t)len);
	struct pollfd p = { .fd = rx, .events = POLLIN };
	assert_int_equal(poll(&p, 1, WAIT_MS), 1);
	assert_int_equal(recv(rx, pkt, sizeof(pkt), 0), sizeof(big));
	close(rx);
}

/* With nobody reading, the TUN queue holds at most tx_queue_len packets;
 * the rest are dropped by the device and counted in its tx_dropped, while
 * every sendto() still reports success. */
static void test_slow_reader_drops_counted(void **state)
{
	struct fx *f = *state;
	enum { SENT = 600 };
	static uint8_t payload[TEST_MTU - 28], buf[PKT_MAX];
	bring_up(f);
	long qlen = sys_long(f->name, "tx_queue_len");
	long dropped = sys_long(f->name, "statistics/tx_dropped");
	assert_true(qlen > 0 && qlen < SENT);
	int s = udp_socket();
	for (int i = 0; i < SENT; i++)
		udp_send(s, ROUTED_PEER, 9999, payload, sizeof(payload));
	long got = 0;
	while (next_packet(f->fd, 4, buf, sizeof(buf), 200) == TEST_MTU)
		got++;
	long lost = sys_long(f->name, "statistics/tx_dropped") - dropped;
	assert_true(got <= qlen);
	assert_true(got > 0);
	assert_int_equal(got + lost, SENT);
	close(s);
}

/* With IPv6 left on (the kernel default), bringing the TUN up gives it a
 * link-local address and the kernel starts sending router solicitations
 * into the TUN, so a reader must expect IPv6 packets it never asked for. */
static void test_ipv6_default_sends_router_solicitation(void **state)
{
	struct fx *f = *state;
	uint8_t buf[PKT_MAX];
	if (access("/proc/sys/net/ipv6", F_OK) != 0)
		skip(); /* kernel without IPv6 */
	assert_int_equal(set_ipv6(f->name, true), 0);
	assert_int_equal(nl_link_set(f->nl, f->ifindex, TEST_MTU, true), 0);
	assert_true(scan_addrs(f->name, 0, 0).v6_ll);

	ssize_t n = next_packet(f->fd, 6, buf, sizeof(buf), 3000);
	assert_true(n >= 40 + 8);
	struct rd r = rd_init(buf, (size_t)n);
	rd_skip(&r, 6);
	assert_int_equal(rd_u8(&r), 58);  /* next header: ICMPv6 */
	assert_int_equal(rd_u8(&r), 255); /* hop limit, as NDP requires */
	const uint8_t *src = rd_take(&r, 16);
	const uint8_t *dst = rd_take(&r, 16);
	assert_int_equal(rd_u8(&r), 133); /* Router Solicitation */
	assert_true(rd_ok(&r));
	struct in6_addr a;
	memcpy(&a, src, sizeof(a));
	assert_true(IN6_IS_ADDR_LINKLOCAL(&a));
	static const uint8_t all_routers[16] = { 0xff, 0x02, [15] = 0x02 };
	assert_memory_equal(dst, all_routers, 16);
}

/* ---- isolation ---------------------------------------------------------- */

/* New network and mount namespaces; sysfs remounted so /sys/class/net
 * describes the new network namespace. Mount changes stay private. */
static int enter_private_netns(void)
{
	if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0)
		return -errno;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -errno;
	if (mount("sysfs", "/sys", "sysfs", 0, NULL) < 0)
		return -errno;
	return 0;
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "\n*** SKIP: test_tun_nl needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) ***\n\n");
		return SKIP_EXIT;
	}
	int err = enter_private_netns();
	if (err) {
		fprintf(stderr, "\n*** SKIP: test_tun_nl cannot make a private network namespace: %s ***\n\n",
			strerror(-err));
		return SKIP_EXIT;
	}
	int fd = tun_open("tundprobe", NULL);
	if (fd < 0) {
		fprintf(stderr, "\n*** SKIP: test_tun_nl cannot open /dev/net/tun: %s ***\n\n",
			strerror(-fd));
		return SKIP_EXIT;
	}
	close(fd);
	/* Every wait below is bounded, but a regression (a blocking fd, a lost
	 * netlink answer) must fail the run, not hang it: SIGALRM kills us. */
	alarm(WATCHDOG_S);

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_tun_open_creates_named_device),
		T(test_tun_open_kernel_picks_name),
		T(test_tun_open_rejects_bad_names),
		T(test_tun_open_twice_is_busy),
		T(test_tun_read_write_state),
		T(test_tun_close_removes_everything),
		T(test_link_set_mtu_and_state),
		T(test_addr_add_del),
		T(test_route_needs_link_up),
		T(test_route_add_del),
		T(test_link_down_flushes_routes),
		T(test_udp_to_route_reads_one_ipv4_packet),
		T(test_short_read_truncates),
		T(test_write_delivers_to_local_socket),
		T(test_write_malformed),
		T(test_mtu_fragments_out_not_in),
		T(test_slow_reader_drops_counted),
		T(test_ipv6_default_sends_router_solicitation),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
