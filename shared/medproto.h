/*
 * medproto.h - tund's mediator protocol: STUN-framed messages (stun.h)
 * between a tund and tund-mediator, their attributes and their
 * authentication. One struct (struct medmsg) is the decoded form of every
 * message; one encoder writes it and one parser reads it, so tund, the
 * mediator, the tests and the fuzz target share a single definition.
 *
 * Methods and attributes sit in the Expert Review ranges STUN leaves for
 * extensions (RFC 8489 §18.2, §18.3): methods 0x0D1-0x0D4 keep the first
 * byte of the message at 0x02-0x03, inside RFC 7983's STUN range, and the
 * attributes are comprehension-required (0x4000-0x7FFF) because a tund
 * that ignored one of them would act on half a message.
 *
 * Messages (client = the tund that connects, server = the tund that
 * publishes a system; "auth" = TUND-AUTH, see below):
 *
 *   NONCE request     tund->med (TCP)        -
 *         success     med->tund              NONCE
 *   REGISTER request  server->med (TCP)      KEY NONCE SERVER-ID LOCAL-ADDR* auth
 *         success     med->server            XOR-MAPPED-ADDRESS [RELAY-ADDR RELAY-KEY] auth
 *         error       med->server            ERROR-CODE (401: no proof)
 *   CONNECT request   client->med (UDP, and  KEY TARGET LOCAL-ADDR* auth [FINGERPRINT]
 *                     TCP if UDP is slow)
 *         success     med->client            PEER-KEY SERVER-ID [PUBLIC-ADDR] LOCAL-ADDR*
 *                                            [XOR-MAPPED-ADDRESS] [RELAY-ADDR RELAY-KEY] auth
 *         error       med->client            ERROR-CODE [auth]  (403 not authorized,
 *                                            404 offline, 504 no answer, ...)
 *   CONNECT indication med->server (TCP)     CONNECT-ID PEER-KEY [PUBLIC-ADDR] LOCAL-ADDR* auth
 *   ANSWER request    server->med (UDP, and  KEY CONNECT-ID DECISION auth [FINGERPRINT]
 *                     a copy over TCP)
 *         success     med->server            auth
 *   Binding (RFC 8489) on UDP and TCP, unauthenticated: NAT discovery and
 *   the TCP keepalive. CHANGE-REQUEST with the change-port flag (RFC 5780)
 *   is answered from the mediator's second port.
 *
 * The CONNECT indication carries the client's request transaction id as
 * CONNECT-ID; the server's ANSWER names it, and the mediator's reply to the
 * client reuses the client's transaction id. A client that sent the same
 * request over UDP and TCP gets the reply on both.
 *
 * Authentication (TUND-AUTH). A tund with key pair (t, T) and the mediator
 * with (m, M) share
 *     k = BLAKE2b-256(key = X25519(t, M) = X25519(m, T),
 *                     msg = "tund mediator auth v1" || T || M)
 * and TUND-AUTH is the last attribute (only FINGERPRINT may follow) with
 *     BLAKE2b-128(key = k, msg = dir || message up to TUND-AUTH)
 * where the header's length field counts up to the end of TUND-AUTH (as
 * MESSAGE-INTEGRITY does, RFC 8489 §14.5) and dir is 1 for tund->mediator,
 * 2 for mediator->tund, so a message cannot be reflected. Only the holder
 * of t can make the MAC the mediator checks: that is the proof of key
 * possession, and since the system id is a hash of T (keys.h), of the
 * system id. REGISTER also covers a fresh NONCE the mediator handed out on
 * that connection, so a recorded registration cannot be replayed.
 * A CONNECT request carries no nonce: replaying one makes the server punch
 * towards the addresses the real client reported, which gives an attacker
 * nothing the handshake would not refuse.
 *
 * RELAY-ADDR and RELAY-KEY name the relay the mediator's operator runs
 * (its TCP address and public key, relayproto.h); a tund whose config
 * names no relay uses that one.
 *
 * Address attributes use the XOR-MAPPED-ADDRESS encoding (§14.2), so NAT
 * ALGs that rewrite addresses in payloads leave them alone. IPv4 only.
 */
#ifndef TUND_MEDPROTO_H
#define TUND_MEDPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "keys.h"
#include "stun.h"

#define MEDPROTO_PORT            3478  /* default mediator port, UDP and TCP */

#define MEDPROTO_METHOD_NONCE    0x0D1
#define MEDPROTO_METHOD_REGISTER 0x0D2
#define MEDPROTO_METHOD_CONNECT  0x0D3
#define MEDPROTO_METHOD_ANSWER   0x0D4

#define MEDPROTO_ATTR_KEY        0x4001  /* 32: sender's static public key */
#define MEDPROTO_ATTR_AUTH       0x4002  /* 16: MAC, see above */
#define MEDPROTO_ATTR_NONCE      0x4003  /* 16: registration challenge */
#define MEDPROTO_ATTR_TARGET     0x4004  /* "SYSTEM-UUID" or "SERVER-ID.SYSTEM-UUID" */
#define MEDPROTO_ATTR_SERVER_ID  0x4005  /* 1..63 of [a-z0-9-], not starting with '-' */
#define MEDPROTO_ATTR_LOCAL_ADDR 0x4006  /* XOR address: a local address and UDP port */
#define MEDPROTO_ATTR_PUBLIC_ADDR 0x4007 /* XOR address: UDP mapping the mediator saw */
#define MEDPROTO_ATTR_CONNECT_ID 0x4008  /* 12: the client request's transaction id */
#define MEDPROTO_ATTR_PEER_KEY   0x4009  /* 32: the other endpoint's static public key */
#define MEDPROTO_ATTR_DECISION   0x400A  /* u32: 0 accept, 1 refuse */
#define MEDPROTO_ATTR_RELAY_ADDR 0x400B  /* XOR address: the relay (tund-relay) to use */
#define MEDPROTO_ATTR_RELAY_KEY  0x400C  /* 32: that relay's public key */

#define MEDPROTO_AUTH_LEN        16
#define MEDPROTO_NONCE_LEN       16
#define MEDPROTO_MAX_ADDRS       8
#define MEDPROTO_SERVER_ID_MAX   64      /* NUL included */
#define MEDPROTO_TARGET_MAX      (MEDPROTO_SERVER_ID_MAX + UUID_STR_LEN + 1)

#define MEDPROTO_DIR_TO_MEDIATOR   1
#define MEDPROTO_DIR_FROM_MEDIATOR 2

#define MEDPROTO_DECISION_ACCEPT 0
#define MEDPROTO_DECISION_REFUSE 1

/* ERROR-CODE values the mediator uses. */
#define MEDPROTO_ERR_BAD_REQUEST    400
#define MEDPROTO_ERR_UNAUTHENTICATED 401 /* TUND-AUTH missing or wrong */
#define MEDPROTO_ERR_NOT_AUTHORIZED 403  /* the server refused this client */
#define MEDPROTO_ERR_OFFLINE        404  /* no server of that system is registered */
#define MEDPROTO_ERR_BUSY           503
#define MEDPROTO_ERR_NO_ANSWER      504  /* the server did not answer in time */

/* Decoded form of any message above; absent attributes are false/0/"". */
struct medmsg {
	uint16_t method;
	enum stun_class cls;
	uint8_t txid[STUN_TXID_LEN];

	bool has_key;
	uint8_t key[KEY_LEN];
	bool has_peer_key;
	uint8_t peer_key[KEY_LEN];
	bool has_nonce;
	uint8_t nonce[MEDPROTO_NONCE_LEN];
	char server_id[MEDPROTO_SERVER_ID_MAX];
	char target[MEDPROTO_TARGET_MAX];
	bool has_connect_id;
	uint8_t connect_id[STUN_TXID_LEN];
	bool has_decision;
	uint32_t decision;
	bool has_public;
	struct endpoint public_addr;
	struct endpoint local[MEDPROTO_MAX_ADDRS];
	unsigned n_local;
	bool has_mapped;
	struct endpoint mapped;        /* XOR-MAPPED-ADDRESS */
	bool has_relay;
	struct endpoint relay_addr;    /* RELAY-ADDR: TCP address of the relay */
	bool has_relay_key;
	uint8_t relay_key[KEY_LEN];
	unsigned error_code;           /* 0 = none */
	char error_reason[128];
	bool has_auth;                 /* TUND-AUTH present (checked separately) */
};

/* The shared key k above. Either side calls it with its own private key
 * and the other's public key; tund_pub and mediator_pub fix the order.
 * 0, or -EINVAL when the DH result is all zeros (a low-order point). */
int medproto_auth_key(uint8_t k[32], const uint8_t own_priv[KEY_LEN], const uint8_t other_pub[KEY_LEN],
		      const uint8_t tund_pub[KEY_LEN], const uint8_t mediator_pub[KEY_LEN]);

/* Reads every attribute medproto knows from a decoded STUN message into
 * out, checking lengths, formats (server id, target, addresses) and
 * counts. Unknown comprehension-required attributes in one of our methods
 * are refused, unknown optional ones ignored; Binding messages parse with
 * their XOR-MAPPED-ADDRESS and ERROR-CODE. 0 or -EBADMSG. */
int medproto_parse(const struct stun_msg *m, struct medmsg *out);

/* True when the message carries TUND-AUTH, it is last (FINGERPRINT aside)
 * and correct under key k for direction dir. Constant time in the MAC. */
bool medproto_auth_ok(const struct stun_msg *m, const uint8_t k[32], uint8_t dir);

/* Writes msg: the attributes it has, in the order listed above, then
 * TUND-AUTH under k (when k is not NULL) for direction dir, then
 * FINGERPRINT when fingerprint is true. Returns the length or -ENOSPC /
 * -EINVAL (a field that could not be parsed back). */
int medproto_encode(uint8_t *buf, size_t cap, const struct medmsg *msg, const uint8_t *k, uint8_t dir,
		    bool fingerprint);

/* Server ids: 1..63 characters of [a-z0-9-], not starting with '-'. */
bool medproto_server_id_ok(const char *s);
/* Splits a TARGET ("uuid" or "server.uuid"): server_id is "" for a plain
 * system id. 0 or -EINVAL. */
int medproto_target_parse(const char *target, char server_id[MEDPROTO_SERVER_ID_MAX],
			  uint8_t system_id[UUID_LEN]);

/* "CONNECT request" and the like, for logs. */
const char *medproto_method_name(uint16_t method);

#endif
