/*
 * relayproto.h - how a tund talks to tund-relay. The relay speaks HTTP/1.1
 * on its TCP port (default 443) so it can sit behind, and be reached
 * through, ordinary HTTP infrastructure. After the HTTP exchange, each
 * connection carries tcpframe.h frames.
 *
 * Requests (origin-form below; through a proxy the target is absolute-form,
 * "http://relay:port/tund/v1/..."):
 *
 *   GET /tund/v1/listen              a server opens an idle pool connection
 *   GET /tund/v1/connect/<target>    a client asks for a session to target
 *                                    ("SYSTEM-UUID" or "server-id.SYSTEM-UUID")
 *   GET /tund/v1/mediator            a byte stream to the relay's mediator's
 *                                    TCP side (for tunds whose only way out is
 *                                    an HTTP proxy); no auth headers: the
 *                                    mediator protocol authenticates itself
 *
 * Each in one of two modes:
 *   Upgrade:  "Connection: Upgrade", "Upgrade: tund-relay/1". Answer
 *             "101 Switching Protocols" with the same Upgrade, then the
 *             connection is a raw two-way stream of frames. Used directly
 *             and inside a proxy's CONNECT tunnel, and through proxies that
 *             pass Upgrade.
 *   Poll:     no Upgrade, "Tund-Poll: 1" instead (a GET with neither lost
 *             its Upgrade to a proxy on the way and is answered 426, so it
 *             cannot use up a server's pool connection for nobody).
 *             Answer "200 OK" with "Tund-Session: <token>",
 *             "Transfer-Encoding: chunked", "Cache-Control: no-store",
 *             "Content-Type: application/octet-stream"; the body is the
 *             downstream, streamed as it comes and never ended by the relay
 *             while the session lives. The upstream is a sequence of
 *             POST /tund/v1/up/<token> requests with Content-Length bodies
 *             of whole or partial frames, in order, one at a time, each
 *             answered "204 No Content"; a POST with an empty body is how a
 *             client proves its upstream works. A session whose GET
 *             connection closes is gone; POSTs for it get 404.
 *
 * Authentication of listen and connect (the tund proves its static key):
 *   Tund-Key:   base64 of the tund's X25519 public key T
 *   Tund-Time:  the tund's clock, decimal Unix seconds
 *   Tund-Nonce: base64 of 16 random bytes
 *   Tund-Auth:  base64 of BLAKE2b-128(key = k, msg = "tund relay auth v1" ||
 *               0x00 || request target as sent in origin form || 0x00 ||
 *               Tund-Time || 0x00 || nonce (16 raw bytes))
 *   with k = BLAKE2b-256(key = X25519(t, R), msg = "tund relay key v1" || T || R),
 *   R the relay's public key. The relay refuses a time more than
 *   RELAYPROTO_SKEW_S away from its own and a nonce it has seen in that
 *   window; its 401 answer carries its own clock in Tund-Time, so a tund
 *   with a wrong clock retries once with the offset. Listen requests may
 *   add "Tund-Server-Id: <server id>" so "server.system" targets reach
 *   that server.
 *
 * Errors: 400 malformed request (reason in the body, text/plain), 401
 * authentication, 404 no idle connection for the target ("offline") or no
 * such poll session, 405 method, 426 neither Upgrade nor Tund-Poll, 429
 * rate limited, 502 the gateway cannot reach the mediator, 503 relay full. A
 * client's connect is answered only once a server connection was handed
 * to it (101 or 200), so the first frame may follow at once.
 *
 * Pool connections: the relay sends nothing until it splices; the server
 * sends PING every RELAYPROTO_PING_S and the relay answers PONG (the relay
 * closes a pool connection silent for RELAYPROTO_IDLE_S). On a splice the
 * relay sends SPLICED to the server and then passes frames both ways
 * untouched; either side closing closes the other.
 */
#ifndef TUND_RELAYPROTO_H
#define TUND_RELAYPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"

#define RELAYPROTO_PORT        443
#define RELAYPROTO_UPGRADE     "tund-relay/1"
#define RELAYPROTO_POLL_FIELD  "Tund-Poll"
#define RELAYPROTO_PATH_LISTEN  "/tund/v1/listen"
#define RELAYPROTO_PATH_CONNECT "/tund/v1/connect/"   /* + target */
#define RELAYPROTO_PATH_MEDIATOR "/tund/v1/mediator"
#define RELAYPROTO_PATH_UP      "/tund/v1/up/"        /* + token */

#define RELAYPROTO_NONCE_LEN   16
#define RELAYPROTO_AUTH_LEN    16
#define RELAYPROTO_TOKEN_LEN   16   /* raw bytes; sent as 32 hex digits */
#define RELAYPROTO_TOKEN_STR   (2 * RELAYPROTO_TOKEN_LEN)
#define RELAYPROTO_SKEW_S      120
#define RELAYPROTO_PING_S      20
#define RELAYPROTO_IDLE_S      60

/* k above. 0, or -EINVAL on a low-order DH result. Either side: own
 * private key and the other's public key; tund_pub and relay_pub fix the
 * order. */
int relayproto_key(uint8_t k[32], const uint8_t own_priv[KEY_LEN], const uint8_t other_pub[KEY_LEN],
		   const uint8_t tund_pub[KEY_LEN], const uint8_t relay_pub[KEY_LEN]);

/* The MAC for Tund-Auth over target (origin form), time and nonce. */
void relayproto_auth(uint8_t mac[RELAYPROTO_AUTH_LEN], const uint8_t k[32], const char *target,
		     int64_t unix_time, const uint8_t nonce[RELAYPROTO_NONCE_LEN]);

/* The four Tund-* header lines (each ending in CRLF) for a request to
 * target (origin form) by a tund with key pair (priv, pub), into out
 * (NUL-terminated). Returns the length, -ENOSPC, or -EINVAL when relay_pub
 * is a low-order point. */
int relayproto_auth_headers(char *out, size_t cap, const uint8_t priv[KEY_LEN], const uint8_t pub[KEY_LEN],
			    const uint8_t relay_pub[KEY_LEN], const char *target, int64_t unix_time);

/* Relay side: checks the four fields (values as received, NULL when
 * absent) for a request to target. 0 and the key and nonce in key_out /
 * nonce_out, or -EBADMSG (missing or malformed field), -ETIME (clock off
 * by more than RELAYPROTO_SKEW_S), -EACCES (wrong MAC), each with *why.
 * Nonce replay is the caller's check (it owns the cache). */
int relayproto_auth_check(const uint8_t relay_priv[KEY_LEN], const uint8_t relay_pub[KEY_LEN],
			  const char *target, const char *key_b64, const char *time_s, const char *nonce_b64,
			  const char *auth_b64, int64_t now_unix, uint8_t key_out[KEY_LEN],
			  uint8_t nonce_out[RELAYPROTO_NONCE_LEN], const char **why);

#endif
