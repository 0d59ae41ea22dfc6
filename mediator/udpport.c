/*
 * udpport.c - see udpport.h. One receive buffer per port is enough: libuv
 * hands datagrams over one at a time and the engine is done with the
 * bytes before recv_cb returns.
 */
#include "udpport.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct udpport *u = h->data;

	*buf = uv_buf_init((char *)u->buf, sizeof(u->buf));
}

static void recv_cb(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *sa,
		    unsigned flags)
{
	struct udpport *u = h->data;
	struct endpoint from;

	if (n < 0) {
		log_debug("UDP port index %u: receive error: %s", u->index, uv_strerror((int)n));
		return;
	}
	if (!sa || sa->sa_family != AF_INET)
		return;   /* n == 0 and no address: nothing more to read now */
	if ((flags & UV_UDP_PARTIAL) || (size_t)n > STUN_MAX_MSG) {
		u->truncated++;
		return;
	}
	endpoint_from_sockaddr(&from, (const struct sockaddr_in *)sa);
	u->cb(u->data, u->index, &from, u->buf, (size_t)n);
}

int udpport_open(struct udpport *u, uv_loop_t *loop, uint32_t addr, uint16_t port, unsigned index,
		 udpport_recv_cb cb, void *data, char *err, size_t errlen)
{
	struct endpoint ep = { .addr = addr, .port = port };
	struct sockaddr_in sa;
	char name[ENDPOINT_STR_LEN];
	int rc;

	memset(u, 0, sizeof(*u));
	u->index = index;
	u->cb = cb;
	u->data = data;
	endpoint_to_sockaddr(&sa, &ep);
	endpoint_format(name, &ep);
	rc = uv_udp_init(loop, &u->udp);
	if (rc < 0) {
		snprintf(err, errlen, "UDP %s: %s", name, uv_strerror(rc));
		return rc;
	}
	u->udp.data = u;
	u->open = true;
	rc = uv_udp_bind(&u->udp, (const struct sockaddr *)&sa, 0);
	if (rc == 0)
		rc = uv_udp_recv_start(&u->udp, alloc_cb, recv_cb);
	if (rc < 0)
		snprintf(err, errlen, "cannot bind UDP %s: %s", name, uv_strerror(rc));
	return rc;
}

void udpport_send(struct udpport *u, const struct endpoint *to, const uint8_t *buf, size_t len)
{
	struct sockaddr_in sa;
	uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);

	if (!u->open)
		return;
	endpoint_to_sockaddr(&sa, to);
	int rc = uv_udp_try_send(&u->udp, &b, 1, (const struct sockaddr *)&sa);
	if (rc < 0)
		u->send_errors++;
}

static void close_cb(uv_handle_t *h)
{
	struct udpport *u = h->data;

	if (u->done)
		u->done(u->done_arg);
}

void udpport_close(struct udpport *u, void (*done)(void *arg), void *arg)
{
	if (!u->open) {
		if (done)
			done(arg);
		return;
	}
	u->open = false;
	u->done = done;
	u->done_arg = arg;
	uv_close((uv_handle_t *)&u->udp, close_cb);
}
