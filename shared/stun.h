/*
 * stun.h - STUN message framing (RFC 8489 §5, §14): the one decoder and
 * encoder for everything that is STUN-framed, which is standard Binding
 * traffic and tund's own mediator protocol (medproto.h).
 *
 * Header, 20 bytes, big-endian (network order) like all of STUN:
 *   0  u16  message type: 00 M11..M7 C1 M6..M4 C0 M3..M0 (top two bits zero)
 *   2  u16  message length: bytes after the header, a multiple of 4
 *   4  u32  magic cookie 0x2112A442
 *   8  [12] transaction id
 * Attributes follow as TLVs: u16 type, u16 length (of the value, without
 * padding), value, zero padding to a multiple of 4 (RFC 8489 §14).
 *
 * Decoding is strict: the top two bits, the cookie, the length (equal to
 * what is there for a datagram; stun_frame_len() for a stream), every
 * attribute inside the message, FINGERPRINT (if present) last and correct,
 * MESSAGE-INTEGRITY followed by nothing but MESSAGE-INTEGRITY-SHA256 or
 * FINGERPRINT. The decoded form points into the caller's buffer.
 *
 * Addresses are IPv4 or IPv6 here (the RFC 5769 vectors hold both); tund
 * itself uses IPv4 endpoints (addr.h) and converts with stun_addr_*.
 */
#ifndef TUND_STUN_H
#define TUND_STUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define STUN_HDR_LEN      20
#define STUN_MAGIC        0x2112A442u
#define STUN_TXID_LEN     12
#define STUN_MAX_ATTRS    32      /* more in one message: refused */
#define STUN_MAX_MSG      1500    /* largest message tund sends or accepts */
#define STUN_FP_XOR       0x5354554Eu /* FINGERPRINT = CRC-32 ^ this (§14.7) */

enum stun_class {
	STUN_REQUEST    = 0,
	STUN_INDICATION = 1,
	STUN_SUCCESS    = 2,
	STUN_ERROR      = 3,
};

#define STUN_METHOD_BINDING 0x001

/* Attributes tund reads or writes (RFC 8489 §18.3, RFC 5780 §7). */
#define STUN_ATTR_MAPPED_ADDRESS      0x0001
#define STUN_ATTR_CHANGE_REQUEST      0x0003  /* RFC 5780; flag 0x2 = change port */
#define STUN_ATTR_USERNAME            0x0006
#define STUN_ATTR_MESSAGE_INTEGRITY   0x0008
#define STUN_ATTR_ERROR_CODE          0x0009
#define STUN_ATTR_UNKNOWN_ATTRIBUTES  0x000A
#define STUN_ATTR_MESSAGE_INTEGRITY_SHA256 0x001C
#define STUN_ATTR_XOR_MAPPED_ADDRESS  0x0020
#define STUN_ATTR_SOFTWARE            0x8022
#define STUN_ATTR_FINGERPRINT         0x8028
#define STUN_ATTR_RESPONSE_ORIGIN     0x802B  /* RFC 5780 */
#define STUN_ATTR_OTHER_ADDRESS       0x802C  /* RFC 5780 */

#define STUN_CHANGE_PORT 0x2u

struct stun_attr {
	uint16_t type;
	uint16_t len;             /* value length, without padding */
	const uint8_t *val;       /* into the decoded buffer */
	size_t off;               /* offset of the attribute header in the message */
};

struct stun_msg {
	uint16_t method;          /* 12 bits */
	enum stun_class cls;
	uint8_t txid[STUN_TXID_LEN];
	const uint8_t *buf;       /* the message decoded */
	size_t len;               /* header + attributes */
	unsigned n_attrs;
	struct stun_attr attrs[STUN_MAX_ATTRS];
	bool has_fingerprint;     /* present and correct (a wrong one is refused) */
};

/* An address attribute's value, any family. */
struct stun_addr {
	int family;               /* 4 or 6 */
	uint16_t port;
	uint8_t addr[16];         /* network order; IPv4 in the first 4 bytes */
};

/* Whether the bytes can be STUN at all: length >= 20, top two bits zero,
 * magic cookie (RFC 7983 demultiplexing is by the first byte; this is the
 * stricter check). */
bool stun_is_stun(const uint8_t *buf, size_t len);

/* For a stream (STUN over TCP, RFC 8489 §6.2.2: messages back to back):
 * the length of the message at the start of buf, 0 when fewer than 20
 * bytes are there, -EBADMSG when the header cannot be STUN or the message
 * would exceed STUN_MAX_MSG. */
int stun_frame_len(const uint8_t *buf, size_t len);

/* Decodes one whole message of exactly len bytes: 0 or -EBADMSG. */
int stun_decode(const uint8_t *buf, size_t len, struct stun_msg *m);

/* The first attribute of that type, or NULL. */
const struct stun_attr *stun_find(const struct stun_msg *m, uint16_t type);

/* Address attribute values: plain (MAPPED-ADDRESS style) and XOR'd with
 * the cookie and transaction id (§14.2). 0 or -EBADMSG. */
int stun_attr_addr(const struct stun_attr *a, struct stun_addr *out);
int stun_attr_xor_addr(const struct stun_msg *m, const struct stun_attr *a, struct stun_addr *out);
/* ERROR-CODE (§14.8): code 300..699 and the reason (not NUL-terminated). */
int stun_attr_error(const struct stun_attr *a, unsigned *code, const char **reason, size_t *reason_len);
/* A 4-byte big-endian value (CHANGE-REQUEST and our own u32 attributes). */
int stun_attr_u32(const struct stun_attr *a, uint32_t *out);

/* IPv4 conversions; stun_addr_to_endpoint fails with -EAFNOSUPPORT for IPv6. */
void stun_addr_from_endpoint(struct stun_addr *out, const struct endpoint *ep);
int stun_addr_to_endpoint(const struct stun_addr *a, struct endpoint *out);

/* Encoder. Errors are sticky: after the first (-ENOSPC, -EINVAL) every
 * call does nothing and stun_end() returns it. */
struct stun_writer {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int err;
};

void stun_begin(struct stun_writer *w, uint8_t *buf, size_t cap, uint16_t method,
		enum stun_class cls, const uint8_t txid[STUN_TXID_LEN]);
void stun_put(struct stun_writer *w, uint16_t type, const void *val, size_t len);
void stun_put_u32(struct stun_writer *w, uint16_t type, uint32_t v);
void stun_put_addr(struct stun_writer *w, uint16_t type, const struct stun_addr *a);
void stun_put_xor_addr(struct stun_writer *w, uint16_t type, const struct stun_addr *a);
void stun_put_error(struct stun_writer *w, unsigned code, const char *reason);
/* Reserves an attribute of len bytes and returns where its value goes
 * (for MACs computed over what precedes it), NULL on error. The header's
 * length field already covers it. */
uint8_t *stun_reserve(struct stun_writer *w, uint16_t type, size_t len);
/* Appends FINGERPRINT; nothing may follow it. */
void stun_put_fingerprint(struct stun_writer *w);
/* The message length, or the sticky error. */
int stun_end(struct stun_writer *w);

/* CRC-32 as FINGERPRINT uses it (ISO-HDLC polynomial, RFC 8489 §14.7). */
uint32_t stun_crc32(const uint8_t *buf, size_t len);

/* A fresh random transaction id. */
void stun_new_txid(uint8_t txid[STUN_TXID_LEN]);

#endif
