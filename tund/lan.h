/*
 * lan.h - LAN discovery (DESIGN.md §5, "LAN first"): a publishing tund
 * announces its system by multicast on every LAN it is on, and a client
 * that hears the announcement of one of its [peer]s tries that address
 * at once, with no mediator involved. Datagrams and the group/port:
 * shared/lanproto.h; behaviour and operations: docs/lan.md.
 *
 * One UDP socket bound to LANPROTO_GROUP:LANPROTO_PORT with SO_REUSEADDR
 * (several tunds on one host each get every datagram), member of the
 * group on every up, multicast-capable, non-point-to-point IPv4 interface
 * but our TUN, rescanned each tick so interfaces that come later are
 * joined. Sends go out one interface and source address at a time
 * (IP_PKTINFO), TTL 1.
 *
 *   publisher  ANNOUNCE on every interface address at start, every
 *              LAN_ANNOUNCE_MS (+-LAN_JITTER_MS), and in answer to a
 *              QUERY on the interface it came in on (at most once per
 *              LAN_ANSWER_MIN_MS per interface);
 *   client     QUERY at start and when a new interface appears; on an
 *              ANNOUNCE for one of its [peer]s (system id, and server id
 *              when the peer names one) from a source on one of our own
 *              subnets: learns the key if it has none (the decoder has
 *              checked that it hashes to the system id; the handshake
 *              then proves it), adds source address + announced port as a
 *              CAND_LOCAL candidate and, without a live session, starts
 *              punching with local candidates first (punch_lan_first).
 *
 * Invariants: nothing but counters changes on a datagram that fails a
 * check (d->cnt.lan_*); an announcement that brings nothing new (known
 * key and candidate) takes no action at all; anything that does act takes
 * a token per source (LAN_SRC_RATE/BURST) and from a daemon-wide bucket
 * (LAN_ALL_RATE/BURST), so a forger on the LAN costs us at most that many
 * handshake initiations and candidate slots.
 */
#ifndef TUND_LAN_H
#define TUND_LAN_H

#define LAN_ANNOUNCE_MS   10000  /* a publisher's periodic announcement and the interface rescan */
#define LAN_JITTER_MS      1000  /* +- on it, so publishers do not announce in step */
#define LAN_ANSWER_MIN_MS  1000  /* at most one answer to queries per interface this often */
#define LAN_SRC_RATE          1  /* acting announcements per second per source address */
#define LAN_SRC_BURST         3
#define LAN_ALL_RATE         10  /* ... and from all sources together */
#define LAN_ALL_BURST        20
#define LAN_MAX_ADDRS        16  /* interface addresses we announce from */
#define LAN_RECV_PER_CALLBACK 32

struct daemon;
struct lan;

/* Starts LAN discovery unless lan_discovery = off. *out stays NULL when
 * it is off or the socket cannot be set up (logged: tund runs without
 * the LAN path then); only -ENOMEM is an error. */
int lan_new(struct lan **out, struct daemon *d);
/* Closes the socket and timer; the object is freed in close callbacks.
 * NULL is fine. */
void lan_close(struct lan *l);
/* Asks every interface who is there now (a client whose peers changed). */
void lan_query(struct lan *l);

#endif
