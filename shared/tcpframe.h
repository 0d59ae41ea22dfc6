/*
 * tcpframe.h - how tund's datagrams travel on byte streams (the relay,
 * direct TCP paths, HTTP tunnels). Every frame is a 4-byte header and a
 * body:
 *
 *   0  u8     type
 *   1  be24   body length (0..TCPFRAME_MAX_BODY)
 *   4  [len]  body
 *
 * Types:
 *   0x01 PACKET   a tund datagram exactly as on UDP (wire.h: handshake,
 *                 DATA, probe); the length allows records far larger than
 *                 a UDP datagram (a whole TUN super-packet, issue 6)
 *   0x02 PING     keepalive, body = 8 opaque bytes echoed in the PONG
 *   0x03 PONG
 *   0x04 SPLICED  relay -> server on a pool connection: a client is now
 *                 attached; body = the client's 32-byte public key as the
 *                 relay authenticated it (informational: the tund
 *                 handshake is what authorizes)
 *   0x05 CLOSE    either side: closing on purpose; body = UTF-8 reason
 *                 (at most 200 bytes), for the other side's log
 * Unknown types are an error: both ends are ours and speak one version.
 *
 * Big-endian length, like every network protocol we borrow from; tund's
 * own UDP headers are little-endian (wire.h) but they sit inside the body.
 */
#ifndef TUND_TCPFRAME_H
#define TUND_TCPFRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TCPFRAME_HDR_LEN   4
#define TCPFRAME_MAX_BODY  ((1u << 24) - 1)
/* What receivers accept: a 64 KiB inner packet plus headers, with room
 * for issue 6's larger records. Larger frames close the stream. */
#define TCPFRAME_RX_MAX    (256u * 1024)

#define TCPFRAME_PACKET  0x01
#define TCPFRAME_PING    0x02
#define TCPFRAME_PONG    0x03
#define TCPFRAME_SPLICED 0x04
#define TCPFRAME_CLOSE   0x05

#define TCPFRAME_PING_LEN   8
#define TCPFRAME_REASON_MAX 200

/* Writes a header for a frame of type with body_len bytes. */
void tcpframe_header(uint8_t out[TCPFRAME_HDR_LEN], uint8_t type, size_t body_len);

/* Incremental splitter: feed it stream bytes as they arrive; it calls
 * frame() once per whole frame. It buffers at most one partial frame
 * (up to max_body + header, allocated on demand and kept). */
struct tcpframe_rx {
	uint8_t *buf;
	size_t cap, len;
	size_t max_body;
};
void tcpframe_rx_init(struct tcpframe_rx *r, size_t max_body);
void tcpframe_rx_free(struct tcpframe_rx *r);
/* Returns 0; -EBADMSG (unknown type, body over max_body, a PING/PONG not
 * TCPFRAME_PING_LEN long, SPLICED not 32, CLOSE over TCPFRAME_REASON_MAX)
 * with *why set; -ENOMEM; or the first nonzero value frame() returned,
 * which stops the feed (the rest of the input is dropped: the caller is
 * closing the stream). Frames are handed over without copying when they
 * lie whole in the input. */
int tcpframe_rx_feed(struct tcpframe_rx *r, const uint8_t *buf, size_t len,
		     int (*frame)(void *arg, uint8_t type, const uint8_t *body, size_t body_len),
		     void *arg, const char **why);

#endif
