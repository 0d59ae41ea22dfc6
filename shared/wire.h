/*
 * wire.h - every message tund sends on its UDP tunnel socket.
 *
 * One socket carries everything, so each datagram is classified by its
 * first byte (RFC 7983 style):
 *
 *   0x00-0x3f  STUN-framed (RFC 8489): mediator traffic, later issues.
 *   0xc1       handshake initiation  (Noise IKpsk2 message 1)
 *   0xc2       handshake response    (Noise IKpsk2 message 2)
 *   0xc4       transport data        (an encrypted IP packet, or empty = keepalive)
 *   0xc5       path probe            (sealed like DATA; path.h)
 *   anything else is dropped and counted.
 *
 * Byte order: the little-endian fields below are tund's own (indices and
 * counters, as in WireGuard); STUN is big-endian as its RFC says.
 *
 * HANDSHAKE_INIT, 132 bytes
 *   0   u8     type = 0xc1
 *   1   u8[3]  reserved, zero
 *   4   le32   sender index (the initiator's session index)
 *   8   [32]   unencrypted ephemeral public key        (Noise "e")
 *   40  [48]   encrypted static public key + tag       (Noise "s")
 *   88  [28]   encrypted payload: TAI64N timestamp + tag
 *   116 [16]   mac1 = BLAKE2b-128(key = BLAKE2b-256("tund mac1" || responder static), bytes 0..115)
 *
 * HANDSHAKE_RESP, 76 bytes
 *   0   u8     type = 0xc2
 *   1   u8[3]  reserved, zero
 *   4   le32   sender index (the responder's session index)
 *   8   le32   receiver index (the initiator's sender index)
 *   12  [32]   unencrypted ephemeral public key
 *   44  [16]   encrypted empty payload (tag only)
 *   60  [16]   mac1 keyed with the initiator's static public key, over bytes 0..59
 *
 * DATA, 32 + n bytes
 *   0   u8     type = 0xc4
 *   1   u8[3]  reserved, zero
 *   4   le32   receiver index
 *   8   le64   counter (the AEAD nonce; never reused under one key)
 *   16  [n+16] ChaCha20-Poly1305 of the inner IPv4 packet, AD = bytes 0..15
 *
 * PROBE, 32 + 8 bytes: the DATA layout with type 0xc5 (the type is in the
 * AD, so a DATA frame cannot pass for a probe), sealed under the same
 * session and counter sequence; the plaintext is
 *   0   u8     1 = request, 2 = response
 *   1   u8[3]  reserved, zero
 *   4   le32   probe id (a response echoes the request's)
 * A request is answered on the path it arrived on (path.h).
 */
#ifndef TUND_WIRE_H
#define TUND_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_TYPE_HANDSHAKE_INIT 0xc1
#define WIRE_TYPE_HANDSHAKE_RESP 0xc2
#define WIRE_TYPE_DATA           0xc4
#define WIRE_TYPE_PROBE          0xc5
#define WIRE_STUN_FIRST_MAX      0x3f /* first byte of a STUN message is 0x00..0x3f */

#define WIRE_KEY_LEN      32
#define WIRE_TAG_LEN      16
#define WIRE_MAC_LEN      16
#define WIRE_TAI64N_LEN   12

#define WIRE_INIT_LEN     132
#define WIRE_INIT_MAC_OFF 116
#define WIRE_RESP_LEN     76
#define WIRE_RESP_MAC_OFF 60
#define WIRE_DATA_HDR_LEN 16
#define WIRE_DATA_MIN_LEN (WIRE_DATA_HDR_LEN + WIRE_TAG_LEN)
#define WIRE_PROBE_BODY_LEN 8
#define WIRE_PROBE_REQUEST  1
#define WIRE_PROBE_RESPONSE 2

/* Largest inner packet tund carries (a TUN read of one IPv4 packet). */
#define WIRE_MAX_INNER    65535
#define WIRE_MAX_DATAGRAM (WIRE_DATA_MIN_LEN + WIRE_MAX_INNER)

/* Noise message bodies as carried inside the frames above. */
#define WIRE_NOISE_MSG1_LEN (WIRE_KEY_LEN + WIRE_KEY_LEN + WIRE_TAG_LEN + WIRE_TAI64N_LEN + WIRE_TAG_LEN)
#define WIRE_NOISE_MSG2_LEN (WIRE_KEY_LEN + WIRE_TAG_LEN)

_Static_assert(8 + WIRE_NOISE_MSG1_LEN == WIRE_INIT_MAC_OFF, "init layout");
_Static_assert(WIRE_INIT_MAC_OFF + WIRE_MAC_LEN == WIRE_INIT_LEN, "init length");
_Static_assert(12 + WIRE_NOISE_MSG2_LEN == WIRE_RESP_MAC_OFF, "resp layout");
_Static_assert(WIRE_RESP_MAC_OFF + WIRE_MAC_LEN == WIRE_RESP_LEN, "resp length");

/* Decoded forms: plain values copied out of the datagram. */
struct wire_init {
	uint32_t sender;
	uint8_t noise[WIRE_NOISE_MSG1_LEN];
	uint8_t mac1[WIRE_MAC_LEN];
};

struct wire_resp {
	uint32_t sender;
	uint32_t receiver;
	uint8_t noise[WIRE_NOISE_MSG2_LEN];
	uint8_t mac1[WIRE_MAC_LEN];
};

struct wire_data_hdr {
	uint8_t type;                 /* WIRE_TYPE_DATA or WIRE_TYPE_PROBE */
	uint32_t receiver;
	uint64_t counter;
};

/* Message class of a datagram by its first byte; 0 for empty input. */
int wire_type(const uint8_t *buf, size_t len);

/* Decoders: 0, or -EBADMSG when the length or a reserved byte is wrong. */
int wire_decode_init(const uint8_t *buf, size_t len, struct wire_init *out);
int wire_decode_resp(const uint8_t *buf, size_t len, struct wire_resp *out);
int wire_decode_data_hdr(const uint8_t *buf, size_t len, struct wire_data_hdr *out);

/* Encoders write the whole frame except mac1 (see handshake.c); return the
 * frame length or -ENOSPC. */
int wire_encode_init(uint8_t *buf, size_t cap, const struct wire_init *m);
int wire_encode_resp(uint8_t *buf, size_t cap, const struct wire_resp *m);
int wire_encode_data_hdr(uint8_t *buf, size_t cap, const struct wire_data_hdr *h);

#endif
