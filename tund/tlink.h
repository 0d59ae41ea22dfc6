/*
 * tlink.h - one outbound byte stream from tund to a service (the relay,
 * the mediator's TCP side), made by one method:
 *
 *   DIRECT   TCP to the service. An HTTP service (the relay) is then sent
 *            its Upgrade request (relayproto.h); a raw one (the mediator)
 *            gets the stream as is.
 *   CONNECT  TCP to the HTTP proxy, "CONNECT host:port HTTP/1.1", and on
 *            200 the same as DIRECT inside the tunnel the proxy made.
 *   UPGRADE  the Upgrade request sent to the proxy in absolute form
 *            ("GET http://host:port/path HTTP/1.1"), for proxies that pass
 *            Upgrade but refuse CONNECT to the service's port. HTTP
 *            services only.
 *   POLL     a long-lived GET whose chunked response body is the
 *            downstream, and POST requests carrying the upstream (one at a
 *            time, on a second connection, each with everything written
 *            since the last one), for proxies that do neither. Through the
 *            proxy when one is set, else straight to the service. HTTP
 *            services only.
 *
 * The link is "up" once the stream carries data both ways: DIRECT raw at
 * TCP connect; CONNECT raw at the proxy's 200; DIRECT/CONNECT/UPGRADE to an
 * HTTP service at its 101; POLL at the GET's 200 and an empty POST's 204.
 * Every link that is not up within TLINK_SETUP_MS fails. Bytes the service
 * sent right behind its 101/200 are delivered, never lost.
 *
 * Ownership (libuv style): tlink_open allocates; the link closes itself
 * after calling ops.down (once, after which the pointer must be
 * forgotten), or when the owner calls tlink_close or
 * tlink_close_after_flush (no callback follows either). Memory is freed in
 * libuv close callbacks. Writes are copied and queued; a link with more
 * than TLINK_MAX_QUEUED bytes unsent refuses writes with -ENOBUFS (the
 * data path drops, as a full UDP socket would).
 *
 * Clock: a relay refuses a Tund-Time too far from its own clock with 401
 * and its clock in a Tund-Time header (relayproto.h). The link reports
 * that clock through ops.clock just before ops.down; the owner signs its
 * next request with target.clock_offset_s.
 */
#ifndef TUND_TLINK_H
#define TUND_TLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "addr.h"
#include "config.h"
#include "keys.h"

#define TLINK_SETUP_MS      5000
#define TLINK_MAX_QUEUED    (1024 * 1024)
#define TLINK_POST_MAX      (256 * 1024)   /* upstream bytes per POST */
#define TLINK_PATH_MAX      256
/* tlink_close_after_flush waits at most this long for the queue to go
 * out and the far end to close. */
#define TLINK_FLUSH_MS      500

enum tlink_method { TLINK_DIRECT, TLINK_CONNECT, TLINK_UPGRADE, TLINK_POLL };
#define TLINK_N_METHODS 4

struct tlink;

/* Where a link goes. */
struct tlink_target {
	char host[CFG_HOST_MAX];     /* service name or dotted address */
	uint16_t port;
	bool http;                   /* relay-style HTTP front (relayproto.h) */
	char path[TLINK_PATH_MAX];   /* origin-form request target, HTTP services */
	/* Tund-* authentication headers (relayproto_auth_headers) are added to
	 * the request when relay_pub is set; priv/pub are this tund's keys. */
	bool auth;
	uint8_t priv[KEY_LEN], pub[KEY_LEN], relay_pub[KEY_LEN];
	char extra_headers[128];     /* more header lines, each ending in CRLF */
	/* Added to time(NULL) for Tund-Time: the relay's clock minus ours,
	 * as learnt from an earlier 401 (ops.clock), in seconds. */
	int64_t clock_offset_s;
};

/* The HTTP proxy, when one is configured. */
struct tlink_proxy {
	bool set;
	char host[CFG_HOST_MAX];
	uint16_t port;
};

struct tlink_ops {
	/* Carries data both ways now. */
	void (*up)(void *arg, struct tlink *l);
	/* Stream bytes from the service, in order. */
	void (*data)(void *arg, struct tlink *l, const uint8_t *buf, size_t len);
	/* Failed or closed by the far side: err is a negative errno or libuv
	 * error, http_status the refusing answer's status (0 = none), why a
	 * sentence for logs and status ("proxy answered 403 Forbidden to
	 * CONNECT 198.51.100.20:443"). The link is closing; forget it. */
	void (*down)(void *arg, struct tlink *l, int err, unsigned http_status, const char *why);
	/* Optional. The service answered 401 with its clock in a decimal
	 * Tund-Time header (relay_unix, Unix seconds); down (401) follows at
	 * once. */
	void (*clock)(void *arg, struct tlink *l, int64_t relay_unix);
};

/* Starts a link. The target and proxy are copied. 0, or -EINVAL (a method
 * the target cannot use: UPGRADE/POLL to a raw service, CONNECT/UPGRADE
 * without a proxy) or -ENOMEM; every later failure arrives via ops.down. */
int tlink_open(struct tlink **out, uv_loop_t *loop, const struct tlink_target *t,
	       const struct tlink_proxy *proxy, enum tlink_method m, const struct tlink_ops *ops,
	       void *arg);
/* Hands the link to a new owner (the dialer passes a winner on). */
void tlink_set_ops(struct tlink *l, const struct tlink_ops *ops, void *arg);
/* Queues bytes (copied). 0, -ENOBUFS (over TLINK_MAX_QUEUED) or -ENOTCONN
 * (not up, or closing). */
int tlink_write(struct tlink *l, const uint8_t *buf, size_t len);
/* Same for two pieces (a frame header and its body) without joining them. */
int tlink_write2(struct tlink *l, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);
size_t tlink_queued(const struct tlink *l);
/* Closes at once; what is queued and not yet sent is dropped. */
void tlink_close(struct tlink *l);
/* Closes once what is queued went out, for a last word (a CLOSE frame):
 * refuses writes and stops calling the owner at once, then (DIRECT,
 * CONNECT, UPGRADE) shuts the sending side down behind the queue and
 * closes when the far end closes too, or (POLL) sends what is queued in
 * its POSTs and closes when the last one is answered. Either way it
 * closes after TLINK_FLUSH_MS at the latest (the queue is at most
 * TLINK_MAX_QUEUED). A link that is not up, or failed, closes at once. */
void tlink_close_after_flush(struct tlink *l);

enum tlink_method tlink_method(const struct tlink *l);
/* "direct", "connect", "upgrade", "poll". */
const char *tlink_method_name(enum tlink_method m);
/* The service as "host:port" and the method, for status: "198.51.100.20:443 via connect". */
void tlink_describe(const struct tlink *l, char *out, size_t outlen);

#endif
