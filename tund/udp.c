/*
 * udp.c - see udp.h. The socket is non-blocking; a full send buffer drops
 * the datagram (UDP semantics; TCP inside the tunnel recovers), it never
 * blocks the loop. Fragmentation is allowed (IP_PMTUDISC_DONT) so that an
 * underlay with a smaller MTU than ours still carries the tunnel.
 */
#include "udp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static void set_buffers(int fd)
{
	int size = 4 << 20;
	/* FORCE variants exceed rmem_max as root; fall back silently. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

int udp_open(struct udp *u, uv_loop_t *loop, uint16_t port, uv_poll_cb cb, void *data,
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
	u->rx_buf = malloc((size_t)UDP_BATCH * UDP_SLOT_LEN);
	u->tx_buf = malloc((size_t)UDP_BATCH * UDP_SLOT_LEN);
	if (!u->rx_buf || !u->tx_buf) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory for UDP buffers");
		goto fail;
	}
	for (int i = 0; i < UDP_BATCH; i++) {
		u->rx_iov[i] = (struct iovec){ udp_rx_data(u, i), UDP_SLOT_LEN };
		u->tx_iov[i].iov_base = u->tx_buf + (size_t)i * UDP_SLOT_LEN;
	}
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

int udp_recv_batch(struct udp *u)
{
	for (int i = 0; i < UDP_BATCH; i++) {
		struct msghdr *h = &u->rx_msgs[i].msg_hdr;
		memset(h, 0, sizeof(*h));
		h->msg_name = &u->rx_addr[i];
		h->msg_namelen = sizeof(u->rx_addr[i]);
		h->msg_iov = &u->rx_iov[i];
		h->msg_iovlen = 1;
	}
	int n = recvmmsg(u->fd, u->rx_msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -errno;
	return n;
}

uint8_t *udp_tx_slot(struct udp *u)
{
	if (u->tx_n == UDP_BATCH)
		udp_flush(u);
	return u->tx_iov[u->tx_n].iov_base;
}

void udp_tx_commit(struct udp *u, size_t len, const struct endpoint *to)
{
	unsigned i = u->tx_n++;
	endpoint_to_sockaddr(&u->tx_addr[i], to);
	u->tx_iov[i].iov_len = len;
	struct msghdr *h = &u->tx_msgs[i].msg_hdr;
	memset(h, 0, sizeof(*h));
	h->msg_name = &u->tx_addr[i];
	h->msg_namelen = sizeof(u->tx_addr[i]);
	h->msg_iov = &u->tx_iov[i];
	h->msg_iovlen = 1;
}

void udp_flush(struct udp *u)
{
	unsigned done = 0;
	/* sendmmsg stops at the first failing message; skip it and go on. */
	while (done < u->tx_n) {
		int n = sendmmsg(u->fd, u->tx_msgs + done, u->tx_n - done, MSG_DONTWAIT);
		if (n > 0) {
			done += (unsigned)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		u->send_errors++;
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
