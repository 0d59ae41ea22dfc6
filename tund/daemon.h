/*
 * daemon.h - the one context main() builds and the calls tund's modules
 * make on each other. The context holds module objects (TUN interface,
 * UDP socket, peer table, rate limiter, control socket) and the daemon-wide
 * counters; each module owns its own internals.
 *
 * Data flow:  TUN --send.c--> encrypt --path.c--> udp.c or tconn.c --> network
 *             network --udp.c / tconn.c--> receive.c: demux, handshake or
 *                                 decrypt --xlate--> TUN
 *                                 STUN-framed --> medlink.c
 * Paths: path.c keeps every way to a peer (UDP candidates, relay
 *        sessions via relaylink.c, all streams via tconn.c over tlink.c,
 *        dialled by dialer.c) and picks the one packets take.
 * Finding peers: medlink.c (mediator link) -> resolve.c (client asks)
 *                / answer.c (server answers) -> punch.c (candidates);
 *                lan.c (LAN announcements) -> punch.c, no mediator
 */
#ifndef TUND_DAEMON_H
#define TUND_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "addr.h"
#include "config.h"
#include "handshake.h"
#include "ratelimit.h"
#include "tunif.h"
#include "udp.h"

struct peer;
struct peers;
struct ctlsock;
struct ctl_conn;
struct medlink;
struct answers;
struct netcheck;
struct dialer;
struct relaylink;
struct tconn;
struct lan;
struct batch;

/* Daemon-wide drop and event counters; reported by `tunctl status`. */
struct tund_counters {
	uint64_t rx_unknown_type;     /* datagram with a type byte we do not speak */
	uint64_t rx_malformed;        /* wrong length or reserved bits */
	uint64_t rx_unknown_index;    /* DATA/RESP for no session we know */
	uint64_t rx_expired;          /* DATA under a key past its reject age */
	uint64_t rx_bad_inner;        /* decrypted, but not an IPv4 packet */
	uint64_t handshake_bad_mac;   /* mac1 wrong: not addressed to us */
	uint64_t handshake_invalid;   /* did not decrypt, unknown key, or replayed timestamp */
	uint64_t handshake_ratelimited;
	uint64_t handshakes_completed;
	uint64_t tun_no_peer;         /* TUN packet to an address no peer has */
	uint64_t tun_not_ipv4;
	uint64_t tun_queue_dropped;   /* waiting for a handshake and the queue was full */
	uint64_t tun_write_errors;
	uint64_t tun_bad_offload;     /* TUN read whose virtio_net_hdr did not fit its packet */
	uint64_t udp_send_errors;
	uint64_t mediator_bad;        /* STUN datagram or message we could not use */
	uint64_t lan_malformed;       /* LAN discovery datagram not ours or malformed (lan.h) */
	uint64_t lan_bad_key;         /* LAN announcement whose key is not its system's */
	uint64_t lan_not_local;       /* LAN announcement from outside our subnets */
	uint64_t lan_ratelimited;     /* LAN announcement or query over its rate: ignored */
};

struct daemon {
	uv_loop_t *loop;
	struct cfg cfg;
	struct handshake_self self;
	char system_id[UUID_STR_LEN + 1];
	struct tunif tun;
	struct udp udp;
	struct batch *batch;          /* the data path's crypto jobs and coalescer (batch.h) */
	struct peers *peers;
	struct ratelimit rl;
	struct ctlsock *ctl;
	struct medlink *med;          /* NULL without a mediator */
	struct answers *answers;      /* server side of mediated connects */
	struct netcheck *netcheck;
	struct dialer *dialer;        /* TCP services through whatever the network allows */
	struct relaylink *relay;      /* NULL without a relay (configured or learned) */
	struct tconn *tconns;         /* every stream path (tconn.h) */
	struct lan *lan;              /* LAN discovery (lan.h); NULL when off */
	uv_signal_t sig_int, sig_term, sig_hup;
	bool signals_started;
	unsigned time_scale;          /* test builds: protocol ages divided by this */
	struct tund_counters cnt;
	bool stopping;
	int exit_code;
};

/* send.c */
void send_tun_readable(struct daemon *d);
void send_handshake_init(struct daemon *d, struct peer *p);
void send_keepalive(struct daemon *d, struct peer *p);
void send_queued(struct daemon *d, struct peer *p);

/* receive.c */
void receive_udp_readable(struct daemon *d);
/* One datagram from any path (the UDP socket or a stream path); buf is
 * decrypted in place. */
struct pathref;
void receive_packet(struct daemon *d, uint8_t *buf, size_t len, const struct pathref *from);

/* control.c: answers control socket requests. */
void control_request_cb(void *data, struct ctl_conn *conn, int argc, char **argv);

#endif
