/*
 * udp.c - see udp.h. The socket is non-blocking; a full send buffer drops
 * the datagram (UDP semantics; TCP inside the tunnel recovers), it never
 * blocks the loop. Fragmentation is allowed (IP_PMTUDISC_DONT) so that an
 * underlay with a smaller MTU than ours still carries the tunnel.
 *
 * Transmit: frames are committed into tx slots in order; udp_flush turns
 * them into messages (tx_msgs) only when it sends, so a GSO run is simply
 * a message whose iovecs are the run's consecutive tx_iov entries. The
 * kernel's limits for UDP_SEGMENT (kernel-notes/offload.md): gso_size plus
 * the IP and UDP headers must fit the route's MTU (the device's, or a
 * smaller one the route carries; else EMSGSIZE: a GSO send is never
 * fragmented, even with IP_PMTUDISC_DONT), at most UDP_MAX_SEGMENTS
 * segments (64 in older kernels, 128 since Linux 6.9; EINVAL beyond), at
 * most 65507 bytes of payload in all (EMSGSIZE), and no GSO on a socket
 * with SO_NO_CHECK (EINVAL) or through an IPsec route (EIO). The caps in
 * udp.h keep every run within the count and size limits; the MTU is only
 * known when the kernel refuses.
 *
 * Receive: with UDP_GRO the kernel may hand one message holding several
 * datagrams of one size (the last may be shorter); the size comes in a
 * SOL_UDP/UDP_GRO control message, read into rx_seg[i].
 */
#include "udp.h"

#include <errno.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

_Static_assert(sizeof(((struct udp *)0)->tx_ctrl[0]) >= CMSG_SPACE(sizeof(uint16_t)),
	       "tx_ctrl holds one UDP_SEGMENT cmsg");
_Static_assert(sizeof(((struct udp *)0)->rx_ctrl[0]) >= CMSG_SPACE(sizeof(int)),
	       "rx_ctrl holds one UDP_GRO cmsg");
_Static_assert(UDP_GSO_MAX_SEGS <= 64, "older kernels take at most 64 segments");
_Static_assert(UDP_GSO_MAX_BYTES <= 65507, "an IPv4 UDP payload is at most 65507 bytes");
_Static_assert(UDP_SLOT_LEN >= 65535, "a GRO message may hold up to 64 KiB");

static void set_buffers(int fd)
{
	int size = 4 << 20;
	/* FORCE variants exceed rmem_max as root; fall back silently. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

/* Asks for UDP_GRO and checks that UDP_SEGMENT exists (Linux 4.18+ for
 * GSO, 5.0+ for GRO). Reading UDP_SEGMENT changes nothing: the segment
 * size is given per message. */
static void enable_offloads(struct udp *u)
{
	int one = 1, seg = 0;
	socklen_t len = sizeof(seg);

	if (setsockopt(u->fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0)
		u->gro = true;
	else
		log_info("UDP receive offload (UDP_GRO) unavailable: %s; receiving datagrams one by one",
			 strerror(errno));
	if (getsockopt(u->fd, SOL_UDP, UDP_SEGMENT, &seg, &len) == 0)
		u->gso = true;
	else
		log_info("UDP send offload (UDP_SEGMENT) unavailable: %s; sending datagrams one by one",
			 strerror(errno));
}

int udp_open(struct udp *u, uv_loop_t *loop, uint16_t port, bool offload, uv_poll_cb cb, void *data,
	     char *err, size_t errlen)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	socklen_t salen = sizeof(sa);
	int pmtu = IP_PMTUDISC_DONT;
	int rc;

	memset(u, 0, sizeof(*u));
	u->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (u->fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot create UDP socket: %s", strerror(errno));
		return rc;
	}
	set_buffers(u->fd);
	setsockopt(u->fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu));
	if (bind(u->fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(u->fd, (struct sockaddr *)&sa, &salen)) {
		rc = -errno;
		snprintf(err, errlen, "cannot bind UDP port %u: %s", port, strerror(errno));
		goto fail;
	}
	u->port = ntohs(sa.sin_port);
	if (offload)
		enable_offloads(u);
	u->rx_buf = malloc((size_t)UDP_RX_BATCH * UDP_SLOT_LEN);
	u->tx_buf = malloc((size_t)UDP_TX_BATCH * UDP_SLOT_LEN);
	if (!u->rx_buf || !u->tx_buf) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory for UDP buffers");
		goto fail;
	}
	for (int i = 0; i < UDP_RX_BATCH; i++)
		u->rx_iov[i] = (struct iovec){ udp_rx_data(u, i), UDP_SLOT_LEN };
	for (int i = 0; i < UDP_TX_BATCH; i++)
		u->tx_iov[i].iov_base = u->tx_buf + (size_t)i * UDP_SLOT_LEN;
	rc = uv_poll_init(loop, &u->poll, u->fd);
	if (rc) {
		snprintf(err, errlen, "cannot watch the UDP socket: %s", uv_strerror(rc));
		goto fail;
	}
	u->poll_open = true;
	u->poll.data = data;
	uv_poll_start(&u->poll, UV_READABLE, cb);
	return 0;
fail:
	free(u->rx_buf);
	free(u->tx_buf);
	u->rx_buf = u->tx_buf = NULL;
	close(u->fd);
	u->fd = -1;
	return rc;
}

/* The UDP_GRO segment size of a received message, 0 when it carries none.
 * The control bytes come from our own kernel, but are still read by their
 * stated lengths only. */
static uint16_t gro_segment(struct msghdr *h)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
		int seg;
		if (c->cmsg_level != SOL_UDP || c->cmsg_type != UDP_GRO || c->cmsg_len < CMSG_LEN(sizeof(seg)))
			continue;
		memcpy(&seg, CMSG_DATA(c), sizeof(seg));
		return seg > 0 && seg < UDP_SLOT_LEN ? (uint16_t)seg : 0;
	}
	return 0;
}

int udp_recv_batch(struct udp *u)
{
	for (int i = 0; i < UDP_RX_BATCH; i++) {
		struct msghdr *h = &u->rx_msgs[i].msg_hdr;
		memset(h, 0, sizeof(*h));
		h->msg_name = &u->rx_addr[i];
		h->msg_namelen = sizeof(u->rx_addr[i]);
		h->msg_iov = &u->rx_iov[i];
		h->msg_iovlen = 1;
		if (u->gro) {
			h->msg_control = u->rx_ctrl[i].buf;
			h->msg_controllen = sizeof(u->rx_ctrl[i].buf);
		}
	}
	int n = recvmmsg(u->fd, u->rx_msgs, UDP_RX_BATCH, MSG_DONTWAIT, NULL);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		u->rx_seg[i] = u->gro ? gro_segment(&u->rx_msgs[i].msg_hdr) : 0;
		if (u->rx_seg[i] && u->rx_msgs[i].msg_len > u->rx_seg[i])
			u->gro_msgs++;
	}
	return n;
}

/* A truncated message yields nothing: its last datagram is incomplete and
 * the kernel does not say where the cut fell among GRO segments. Nor does
 * one whose control data was cut (MSG_CTRUNC): its UDP_GRO segment size
 * may be the part lost, and read as one datagram it would fail the AEAD
 * anyway. */
uint8_t *udp_rx_next(struct udp *u, int i, size_t *off, size_t *len)
{
	const struct mmsghdr *m = &u->rx_msgs[i];
	size_t total = m->msg_len;

	if (m->msg_hdr.msg_flags & (MSG_TRUNC | MSG_CTRUNC) || *off >= total)
		return NULL;
	size_t left = total - *off;
	*len = u->rx_seg[i] && u->rx_seg[i] < left ? u->rx_seg[i] : left;
	uint8_t *p = udp_rx_data(u, i) + *off;
	*off += *len;
	return p;
}

uint8_t *udp_tx_slot(struct udp *u)
{
	if (u->tx_n == UDP_TX_BATCH)
		udp_flush(u);
	return u->tx_iov[u->tx_n].iov_base;
}

void udp_tx_commit(struct udp *u, size_t len, const struct endpoint *to)
{
	unsigned i = u->tx_n++;
	endpoint_to_sockaddr(&u->tx_addr[i], to);
	u->tx_iov[i].iov_len = len;
}

static bool same_dest(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_addr.s_addr == b->sin_addr.s_addr && a->sin_port == b->sin_port;
}

/* Frames in the GSO run that starts at frame first: 1 when GSO is off or
 * the next frame cannot join. Every frame but the last has the first's
 * length; a shorter frame ends the run (the kernel cuts segments of
 * gso_size bytes, so only the last may be short). */
static unsigned run_length(const struct udp *u, unsigned first)
{
	size_t seg = u->tx_iov[first].iov_len;
	size_t bytes = seg;
	unsigned n = 1;

	if (!u->gso || seg == 0 || seg > UINT16_MAX)
		return 1;
	while (first + n < u->tx_n && n < UDP_GSO_MAX_SEGS) {
		size_t len = u->tx_iov[first + n].iov_len;
		if (!same_dest(&u->tx_addr[first], &u->tx_addr[first + n]) || len == 0 || len > seg ||
		    bytes + len > UDP_GSO_MAX_BYTES)
			break;
		bytes += len;
		n++;
		if (len < seg)
			break;
	}
	return n;
}

/* Builds the messages for frames first..tx_n-1 into tx_msgs: one per GSO
 * run (with a UDP_SEGMENT cmsg) or per frame. Returns the count. */
static unsigned build_msgs(struct udp *u, unsigned first)
{
	unsigned m = 0;
	for (unsigned f = first; f < u->tx_n; m++) {
		unsigned n = run_length(u, f);
		struct msghdr *h = &u->tx_msgs[m].msg_hdr;
		memset(h, 0, sizeof(*h));
		h->msg_name = &u->tx_addr[f];
		h->msg_namelen = sizeof(u->tx_addr[f]);
		h->msg_iov = &u->tx_iov[f];
		h->msg_iovlen = n;
		if (n > 1) {
			uint16_t seg = (uint16_t)u->tx_iov[f].iov_len;
			h->msg_control = u->tx_ctrl[m].buf;
			h->msg_controllen = CMSG_SPACE(sizeof(seg));
			struct cmsghdr *c = CMSG_FIRSTHDR(h);
			c->cmsg_level = SOL_UDP;
			c->cmsg_type = UDP_SEGMENT;
			c->cmsg_len = CMSG_LEN(sizeof(seg));
			memcpy(CMSG_DATA(c), &seg, sizeof(seg));
		}
		f += n;
	}
	return m;
}

/* Errors that say "no GSO on this socket or route" rather than "this
 * datagram could not go": EIO (an IPsec route; before Linux 6.11 also an
 * egress device without checksum offload), EINVAL (SO_NO_CHECK, too many
 * segments), EMSGSIZE (a segment larger than the route's MTU; the same
 * frames sent alone are fragmented instead), EOPNOTSUPP and ENOPROTOOPT
 * (no UDP_SEGMENT at all). Turning GSO off for the whole socket on
 * EMSGSIZE is coarse when only one route has the small MTU, but it costs
 * one refused send, where keeping GSO would waste one on every flush. */
static bool gso_refused(int err)
{
	return err == EIO || err == EINVAL || err == EMSGSIZE || err == EOPNOTSUPP || err == ENOPROTOOPT;
}

static void gso_off(struct udp *u, int err)
{
	u->gso = false;
	u->gso_fallbacks++;
	log_warn("UDP send offload (UDP_SEGMENT) refused by the kernel: %s; GSO is off for this socket, "
		 "sending datagrams one by one", strerror(err));
}

void udp_flush(struct udp *u)
{
	if (u->before_flush)
		u->before_flush(u->before_flush_arg);
	unsigned nmsg = build_msgs(u, 0);
	unsigned done = 0;
	/* sendmmsg stops at the first failing message; skip it and go on. */
	while (done < nmsg) {
		int n = sendmmsg(u->fd, u->tx_msgs + done, nmsg - done, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0) {
			for (unsigned m = done; m < done + (unsigned)n; m++) {
				if (u->tx_msgs[m].msg_hdr.msg_controllen) {
					u->gso_sends++;
					u->gso_frames += u->tx_msgs[m].msg_hdr.msg_iovlen;
				}
			}
			done += (unsigned)n;
			continue;
		}
		int err = n < 0 ? errno : 0; /* 0: sendmmsg sent nothing, said nothing */
		struct msghdr *h = &u->tx_msgs[done].msg_hdr;
		if (h->msg_controllen && gso_refused(err)) {
			/* Rebuild from the refused run on: with GSO off, every
			 * frame from there is its own message again. */
			gso_off(u, err);
			nmsg = build_msgs(u, (unsigned)(h->msg_iov - u->tx_iov));
			done = 0;
			continue;
		}
		u->send_errors += h->msg_iovlen;
		done++;
	}
	u->tx_n = 0;
}

int udp_send_one(struct udp *u, const void *buf, size_t len, const struct endpoint *to)
{
	struct sockaddr_in sa;
	endpoint_to_sockaddr(&sa, to);
	if (sendto(u->fd, buf, len, MSG_DONTWAIT, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		u->send_errors++;
		return -errno;
	}
	return 0;
}

static void poll_closed_cb(uv_handle_t *h)
{
	struct udp *u = (struct udp *)((char *)h - offsetof(struct udp, poll));
	close(u->fd);
	u->fd = -1;
	free(u->rx_buf);
	free(u->tx_buf);
	u->rx_buf = u->tx_buf = NULL;
	if (u->closed)
		u->closed(u->closed_arg);
}

void udp_close(struct udp *u, void (*done)(void *arg), void *arg)
{
	u->closed = done;
	u->closed_arg = arg;
	if (u->poll_open) {
		u->poll_open = false;
		uv_close((uv_handle_t *)&u->poll, poll_closed_cb);
		return;
	}
	if (u->fd >= 0)
		close(u->fd);
	u->fd = -1;
	if (done)
		done(arg);
}
