/*
 * lanproto.h - the LAN discovery datagrams (tund/lan.h): a publishing
 * tund announces its system on every LAN it is on, and a client asks who
 * is there. They travel by UDP to the group LANPROTO_GROUP, port
 * LANPROTO_PORT, with TTL 1 (never routed), from the sender's LAN socket;
 * the IP source address of an ANNOUNCE is the candidate address it offers.
 *
 * The group 239.255.77.77 lies in the IPv4 Organization-Local Scope
 * 239.255.0.0/16 (RFC 2365 section 6.2), administratively scoped, so
 * routers at a site's edge do not forward it even with multicast routing
 * on. The port is the default tunnel port + 1.
 *
 * Byte order: big-endian (network order) throughout.
 *
 * Header, 8 bytes (both types):
 *   0   [4]   magic "tLAN" (0x74 0x4c 0x41 0x4e): other applications on
 *             the group are told apart and dropped
 *   4   u8    version = 1
 *   5   u8    type: 1 = ANNOUNCE, 2 = QUERY
 *   6   be16  reserved, zero
 *
 * ANNOUNCE, 59 + n bytes (n = 1..63):
 *   8   [16]  system id (UUID bytes): BLAKE2b of the key below (keys.h)
 *   24  [32]  the system's X25519 public key
 *   56  be16  the tunnel's UDP port at the source address (non-zero)
 *   58  u8    n, length of the server id
 *   59  [n]   server id: [a-z0-9-], not starting with '-' (medproto.h)
 *
 * QUERY, 24 bytes:
 *   8   [16]  the system wanted; all zeros = every system
 *   A publishing tund answers with an ANNOUNCE on the interface the
 *   query came in on (by multicast, so every client there learns it).
 *
 * Nothing here is authenticated: an ANNOUNCE only says "try the
 * handshake with this key at this address". The system id pins the key
 * (the decoder refuses an ANNOUNCE whose key does not hash to its id),
 * and the Noise handshake proves possession of the private key, so a
 * forged or replayed announcement costs a few handshake initiations and
 * cannot redirect traffic.
 */
#ifndef TUND_LANPROTO_H
#define TUND_LANPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "medproto.h"

#define LANPROTO_GROUP        0xefff4d4du  /* 239.255.77.77, host order */
#define LANPROTO_GROUP_STR    "239.255.77.77"
#define LANPROTO_PORT         41642
#define LANPROTO_TTL          1

#define LANPROTO_MAGIC        0x744c414eu  /* "tLAN" */
#define LANPROTO_VERSION      1
#define LANPROTO_ANNOUNCE     1
#define LANPROTO_QUERY        2

#define LANPROTO_HDR_LEN      8
#define LANPROTO_QUERY_LEN    (LANPROTO_HDR_LEN + UUID_LEN)
#define LANPROTO_ANNOUNCE_MIN (LANPROTO_HDR_LEN + UUID_LEN + KEY_LEN + 2 + 1)  /* without the server id */
#define LANPROTO_SERVER_ID_MAX MEDPROTO_SERVER_ID_MAX                       /* NUL included */
#define LANPROTO_MAX_LEN      (LANPROTO_ANNOUNCE_MIN + LANPROTO_SERVER_ID_MAX - 1)

_Static_assert(LANPROTO_QUERY_LEN == 24, "QUERY layout above");
_Static_assert(LANPROTO_ANNOUNCE_MIN == 59, "ANNOUNCE layout above");
_Static_assert(LANPROTO_MAX_LEN == 122, "largest ANNOUNCE");

/* Decoded form of either datagram. */
struct lanmsg {
	uint8_t type;                              /* LANPROTO_ANNOUNCE or _QUERY */
	uint8_t system_id[UUID_LEN];               /* QUERY: zeros = every system */
	uint8_t key[KEY_LEN];                      /* ANNOUNCE only */
	uint16_t port;                             /* ANNOUNCE only, host order */
	char server_id[LANPROTO_SERVER_ID_MAX];    /* ANNOUNCE only, NUL-terminated */
};

/* Writes msg (the fields its type uses): the length, or -ENOSPC when cap
 * is too small, -EINVAL for a field the decoder would refuse (unknown
 * type, port 0, bad server id). The encoder does not check that the key
 * hashes to the system id; the decoder does. */
int lanproto_encode(uint8_t *buf, size_t cap, const struct lanmsg *msg);

/* Reads one datagram, all of it through the bounds-checked reader:
 *   0               a well-formed datagram of the exact length its type says
 *   -EBADMSG        not ours (magic, version), unknown type, wrong length,
 *                   reserved bits set, port 0, bad server id
 *   -EKEYREJECTED   an ANNOUNCE whose key does not hash to its system id
 * out is all zeros unless 0 is returned. */
int lanproto_decode(const uint8_t *buf, size_t len, struct lanmsg *out);

/* A QUERY asks for system id (or for every system). */
bool lanproto_query_wants(const struct lanmsg *q, const uint8_t system_id[UUID_LEN]);

#endif
