/*
 * udp.h - the tunnel's one UDP socket (IPv4) with batched I/O: recvmmsg
 * into UDP_BATCH receive slots, and a transmit batch that frames are
 * built in place and handed to sendmmsg in one call. Handshakes,
 * keepalives, data (and later mediator and punch messages) all share it.
 */
#ifndef TUND_UDP_H
#define TUND_UDP_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "addr.h"

#define UDP_BATCH 32
#define UDP_SLOT_LEN 65536

struct udp {
	int fd;                       /* -1 when closed */
	uint16_t port;                /* bound port, host order */
	uv_poll_t poll;
	bool poll_open;
	uint8_t *rx_buf;              /* UDP_BATCH slots of UDP_SLOT_LEN */
	struct mmsghdr rx_msgs[UDP_BATCH];
	struct iovec rx_iov[UDP_BATCH];
	struct sockaddr_in rx_addr[UDP_BATCH];
	uint8_t *tx_buf;
	struct mmsghdr tx_msgs[UDP_BATCH];
	struct iovec tx_iov[UDP_BATCH];
	struct sockaddr_in tx_addr[UDP_BATCH];
	unsigned tx_n;                /* frames waiting in the batch */
	uint64_t send_errors;
	void (*closed)(void *arg);
	void *closed_arg;
};

/* Binds 0.0.0.0:port (0 = random) and starts polling with cb. */
int udp_open(struct udp *u, uv_loop_t *loop, uint16_t port, uv_poll_cb cb, void *data,
	     char *err, size_t errlen);
/* Receives up to UDP_BATCH datagrams: count, 0 when none, or -errno. */
int udp_recv_batch(struct udp *u);
static inline uint8_t *udp_rx_data(struct udp *u, int i) { return u->rx_buf + (size_t)i * UDP_SLOT_LEN; }

/* The next free transmit slot (flushing first if the batch is full). */
uint8_t *udp_tx_slot(struct udp *u);
void udp_tx_commit(struct udp *u, size_t len, const struct endpoint *to);
/* Sends the batch; frames the kernel refused are counted and dropped. */
void udp_flush(struct udp *u);
int udp_send_one(struct udp *u, const void *buf, size_t len, const struct endpoint *to);

void udp_close(struct udp *u, void (*done)(void *arg), void *arg);

#endif
