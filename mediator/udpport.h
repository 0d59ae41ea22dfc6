/*
 * udpport.h - one UDP port of the mediator (a uv_udp_t): datagrams in go
 * to a callback with their source; datagrams out are sent at once with
 * uv_udp_try_send, and one the kernel cannot take now is dropped and
 * counted (UDP semantics; clients retransmit), so a slow receiver never
 * queues memory here.
 *
 * The handle is embedded; udpport_close() closes it and done(arg) runs
 * from its close callback.
 */
#ifndef TUND_MEDIATOR_UDPPORT_H
#define TUND_MEDIATOR_UDPPORT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "addr.h"
#include "stun.h"

typedef void (*udpport_recv_cb)(void *data, unsigned index, const struct endpoint *from,
				const uint8_t *buf, size_t len);

struct udpport {
	uv_udp_t udp;
	bool open;
	unsigned index;                  /* passed to the callback: which port this is */
	udpport_recv_cb cb;
	void *data;
	uint64_t truncated;              /* datagrams larger than the buffer: dropped */
	uint64_t send_errors;
	void (*done)(void *arg);
	void *done_arg;
	uint8_t buf[STUN_MAX_MSG + 1];   /* + 1: a larger datagram shows as truncated */
};

/* Binds addr:port (addr 0 = every address). 0, or a libuv error with err
 * naming the port; either way udpport_close() must follow. */
int udpport_open(struct udpport *u, uv_loop_t *loop, uint32_t addr, uint16_t port, unsigned index,
		 udpport_recv_cb cb, void *data, char *err, size_t errlen);
void udpport_send(struct udpport *u, const struct endpoint *to, const uint8_t *buf, size_t len);
void udpport_close(struct udpport *u, void (*done)(void *arg), void *arg);

#endif
