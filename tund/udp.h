/*
 * udp.h - the tunnel's one UDP socket (IPv4) with batched I/O: recvmmsg
 * into UDP_RX_BATCH receive slots, and a transmit batch of UDP_TX_BATCH
 * slots that frames are built in place in and handed to the kernel in as
 * few calls as possible. Handshakes, keepalives, data, mediator and punch
 * messages all share it.
 *
 * Offloads (kernel-notes/offload.md), when udp_open is asked for them:
 * - UDP_SEGMENT (GSO) on send: udp_flush sends each run of consecutive
 *   frames to the same endpoint, all of one size but a possibly shorter
 *   last, as one message with a UDP_SEGMENT control message (one iovec
 *   per frame; at most UDP_GSO_MAX_SEGS frames and UDP_GSO_MAX_BYTES
 *   bytes per message); other frames are one message each, and the whole
 *   batch goes to sendmmsg together. If the kernel refuses a GSO send in
 *   a way that means "not here" (EMSGSIZE: a segment larger than the
 *   route's MTU, which unsegmented sends get fragmented instead;
 *   EINVAL; EIO from an IPsec route, or before Linux 6.11 from a device
 *   without checksum offload; EOPNOTSUPP; ENOPROTOOPT), GSO is turned
 *   off for the socket, logged once, counted, and those frames are sent
 *   again one by one: nothing is lost.
 * - UDP_GRO on receive: one received message may hold several datagrams
 *   of rx_seg[i] bytes each (the last may be shorter); udp_rx_next()
 *   walks them. A kernel without UDP_GRO just delivers single datagrams.
 */
#ifndef TUND_UDP_H
#define TUND_UDP_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "addr.h"

#define UDP_RX_BATCH 32
#define UDP_TX_BATCH 128
#define UDP_SLOT_LEN (65536 + 64) /* a 64 KiB super-packet sealed whole fits */
#define UDP_GSO_MAX_SEGS 64
#define UDP_GSO_MAX_BYTES 65000

struct udp {
	int fd;                       /* -1 when closed */
	uint16_t port;                /* bound port, host order */
	uv_poll_t poll;
	bool poll_open;
	uint8_t *rx_buf;              /* UDP_RX_BATCH slots of UDP_SLOT_LEN */
	struct mmsghdr rx_msgs[UDP_RX_BATCH];
	struct iovec rx_iov[UDP_RX_BATCH];
	struct sockaddr_in rx_addr[UDP_RX_BATCH];
	uint16_t rx_seg[UDP_RX_BATCH];  /* GRO segment size of message i; 0: one datagram */
	/* private: control buffers for UDP_GRO, sized for one int cmsg */
	union { struct cmsghdr align; uint8_t buf[32]; } rx_ctrl[UDP_RX_BATCH];
	uint8_t *tx_buf;              /* UDP_TX_BATCH slots of UDP_SLOT_LEN */
	struct iovec tx_iov[UDP_TX_BATCH];
	struct sockaddr_in tx_addr[UDP_TX_BATCH];
	unsigned tx_n;                /* frames waiting in the batch */
	/* private: what udp_flush builds (one msghdr per GSO run or frame) */
	struct mmsghdr tx_msgs[UDP_TX_BATCH];
	union { struct cmsghdr align; uint8_t buf[32]; } tx_ctrl[UDP_TX_BATCH];
	/* Called at the start of every udp_flush, before anything is sent:
	 * tund finishes the encryption of the frames in the batch there
	 * (cryptpool.h). NULL: none. */
	void (*before_flush)(void *arg);
	void *before_flush_arg;
	bool gso;                     /* UDP_SEGMENT in use */
	bool gro;                     /* UDP_GRO enabled on the socket */
	uint64_t send_errors;
	uint64_t gso_sends;           /* messages sent with UDP_SEGMENT */
	uint64_t gso_frames;          /* frames sent in them */
	uint64_t gso_fallbacks;       /* times the kernel refused GSO (0 or 1) */
	uint64_t gro_msgs;            /* received messages that held > 1 datagram */
	void (*closed)(void *arg);
	void *closed_arg;
};

/* Binds 0.0.0.0:port (0 = random) and starts polling with cb. offload:
 * try UDP_SEGMENT and UDP_GRO (u->gso, u->gro say what the kernel took;
 * a refusal is logged at info and is not an error). */
int udp_open(struct udp *u, uv_loop_t *loop, uint16_t port, bool offload, uv_poll_cb cb, void *data,
	     char *err, size_t errlen);
/* Receives up to UDP_RX_BATCH messages: count, 0 when none, or -errno.
 * Message i is at udp_rx_data(u, i), rx_msgs[i].msg_len bytes, from
 * rx_addr[i]; with GRO it may hold several datagrams (udp_rx_next). */
int udp_recv_batch(struct udp *u);
static inline uint8_t *udp_rx_data(struct udp *u, int i) { return u->rx_buf + (size_t)i * UDP_SLOT_LEN; }

/* Walks the datagrams of message i: start with *off = 0; each call sets
 * *len and returns the datagram's start, then advances *off; NULL when
 * the message is used up, and at once for a message the kernel cut
 * (MSG_TRUNC: its last datagram is incomplete) or whose control data it
 * cut (MSG_CTRUNC: the UDP_GRO segment size may be what was lost). */
uint8_t *udp_rx_next(struct udp *u, int i, size_t *off, size_t *len);

/* The next free transmit slot (flushing first if the batch is full). */
uint8_t *udp_tx_slot(struct udp *u);
void udp_tx_commit(struct udp *u, size_t len, const struct endpoint *to);
/* Sends the batch; frames the kernel refused are counted and dropped. */
void udp_flush(struct udp *u);
int udp_send_one(struct udp *u, const void *buf, size_t len, const struct endpoint *to);

void udp_close(struct udp *u, void (*done)(void *arg), void *arg);

#endif
