/*
 * mediator.h - the mediator's protocol engine: every message that arrives
 * over UDP or on a TCP connection goes through here, and every reply,
 * indication and answer leaves through the callbacks in struct
 * mediator_io. The engine owns no socket and reads no clock, so unit tests
 * and the fuzz target drive it with fake callbacks and made-up times; the
 * transports (udpport.h, tcpserver.h) and main glue it to libuv.
 *
 * It answers STUN Binding (RFC 8489, with RFC 5780's change-port), hands
 * out registration nonces, keeps the registry of servers (registry.h) and
 * carries connects from clients to servers and back (pending.h), as
 * shared/medproto.h describes.
 *
 * TCP connections: the transport calls mediator_peer_open() on accept,
 * mediator_peer_input() with each whole STUN message, and
 * mediator_peer_closed() from its close callback; the engine asks for a
 * close through io.tcp_close and sends nothing on that connection after.
 */
#ifndef TUND_MEDIATOR_MEDIATOR_H
#define TUND_MEDIATOR_MEDIATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "keys.h"

/* Timing policy of the whole mediator, in one place. main arms a single
 * timer every MEDIATOR_TICK_MS that runs the engine's expiry and the TCP
 * server's sweep; every other value is a deadline checked there. */
#define MEDIATOR_TICK_MS            250    /* resolution of every deadline below */
#define MEDIATOR_HELLO_TIMEOUT_MS   10000  /* TCP: first authenticated message due after accept */
#define MEDIATOR_IDLE_TIMEOUT_MS    45000  /* TCP, authenticated: silence allowed (tund sends a
					    * Binding every 15 s, so three are lost) */
#define MEDIATOR_ANSWER_TIMEOUT_MS  3000   /* CONNECT: the server's ANSWER due, else 504 */
#define MEDIATOR_LINGER_MS          10000  /* an answered connect kept for duplicates */
#define MEDIATOR_DRAIN_TIMEOUT_MS   2000   /* TCP: a closing connection's last replies */

#define MEDIATOR_MAX_PENDING        16384  /* connects in progress, all clients */

#define MEDIATOR_PORT_MAIN 0               /* UDP port indexes: listen port... */
#define MEDIATOR_PORT_ALT  1               /* ...and alt_port */

/* mediator_peer_input() results besides 0 (keep going). */
#define MEDIATOR_AUTHENTICATED 1           /* a valid authenticated message came */
#define MEDIATOR_CLOSE (-1)                /* close the connection (after queued replies) */

struct mediator;
struct med_peer;

struct mediator_io {
	void *ctx;
	/* A datagram from the UDP port with index port (MEDIATOR_PORT_*). */
	void (*udp_send)(void *ctx, unsigned port, const struct endpoint *to, const uint8_t *buf,
			 size_t len);
	/* Bytes on a TCP connection (conn as given to mediator_peer_open). */
	void (*tcp_send)(void *ctx, void *conn, const uint8_t *buf, size_t len);
	/* Close conn once what was sent is flushed; mediator_peer_closed follows. */
	void (*tcp_close)(void *ctx, void *conn);
};

/* Counters, for the log and tests. */
struct mediator_stats {
	uint64_t udp_in, udp_dropped;          /* datagrams; undecodable or unexpected */
	uint64_t tcp_in, tcp_bad;              /* messages; undecodable (connection closed) */
	uint64_t ignored;                      /* decodable but not for us (class, method) */
	uint64_t bindings, binding_changed, binding_refused;
	uint64_t nonces;
	uint64_t registered, register_refused, unregistered;
	uint64_t bad_requests;                 /* 400 */
	uint64_t connects, connect_dups, connect_limited, connect_unauth, connect_offline,
		 connect_busy, indications;
	uint64_t answers, answer_unknown, answer_unauth;
	uint64_t accepted, refused, no_answer;
};

/* priv: the mediator's X25519 private key (copied, wiped on free).
 * has_alt: whether the alt UDP port exists. 0, -EINVAL (bad key), -ENOMEM. */
int mediator_new(struct mediator **out, const uint8_t priv[KEY_LEN], bool has_alt,
		 const struct mediator_io *io);
/* Frees everything; peers still open are the transport's to close first. */
void mediator_free(struct mediator *m);
void mediator_public_key(const struct mediator *m, uint8_t pub[KEY_LEN]);
/* The relay announced in REGISTER and CONNECT successes (medproto.h). */
void mediator_set_relay(struct mediator *m, const struct endpoint *addr, const uint8_t key[KEY_LEN]);

void mediator_udp_input(struct mediator *m, unsigned port, const struct endpoint *from,
			const uint8_t *buf, size_t len, uint64_t now_ms);

/* A new TCP connection from `from`; NULL when out of memory. */
struct med_peer *mediator_peer_open(struct mediator *m, void *conn, const struct endpoint *from);
/* One whole STUN message (the transport frames with stun_frame_len):
 * 0, MEDIATOR_AUTHENTICATED or MEDIATOR_CLOSE. */
int mediator_peer_input(struct mediator *m, struct med_peer *p, const uint8_t *buf, size_t len,
			uint64_t now_ms);
/* The connection is gone: drops its registration and frees p. */
void mediator_peer_closed(struct mediator *m, struct med_peer *p);

/* Expires connects (504 to clients whose server did not answer). */
void mediator_tick(struct mediator *m, uint64_t now_ms);

const struct mediator_stats *mediator_stats(const struct mediator *m);
size_t mediator_registered(const struct mediator *m);
size_t mediator_pending(const struct mediator *m);

#endif
