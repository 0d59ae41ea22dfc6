/*
 * offload.h - segmentation and coalescing for a TUN device opened with
 * IFF_VNET_HDR and TUNSETOFFLOAD (kernel-notes/offload.md).
 *
 * With offloads on, every read from the TUN device starts with a
 * struct virtio_net_hdr (10 bytes, native byte order: TUN's legacy
 * virtio layout on a little-endian host) and may return a super-packet of
 * up to 64 KiB: one IP header, one TCP (or UDP) header and many MTU's
 * worth of payload, with the L4 checksum left partial (the field holds
 * the pseudo-header sum; the kernel expected hardware to finish it).
 *
 * Sending side: offload_seg_* turns one such read into the packets the
 * kernel would have sent on a device without offloads: each at most
 * gso_size bytes of payload, IPv4 id and total length, IPv6 payload
 * length, TCP sequence number and flags (CWR only on the first segment,
 * FIN and PSH only on the last), UDP length, and every IP and L4
 * checksum complete and valid. What goes into the tunnel is therefore
 * always ordinary, complete IP packets, whatever the receiving side does.
 *
 * Receiving side: offload_gro_* holds the packets decrypted from one
 * receive batch and merges consecutive TCP segments of one flow into one
 * super-packet (the rules of the kernel's own TCP GRO, tcp_gro_receive:
 * same addresses, ports, ack number, window and options, contiguous
 * sequence numbers, equal segment sizes but a shorter last one, no
 * SYN/RST/URG/CWR, a PSH or FIN ends the merge, IPv4 without options or
 * fragmentation and with the same TOS, TTL and DF, IPv6 without extension
 * headers and with the same traffic class, flow label and hop limit).
 * A merged packet is written with gso_type TCPV4/TCPV6, NEEDS_CSUM and the
 * pseudo-header sum in its checksum field; every other packet is written
 * as it came, with an all-zero header (its checksums are already valid).
 *
 * Input on the receiving side comes from peers, so it is untrusted: every
 * length is checked, and a packet the coalescer does not understand is
 * passed through unmerged, never rejected and never half-changed. The
 * sending side's input comes from the local kernel but is validated the
 * same way (a bad header is -EBADMSG, counted and dropped by the caller).
 *
 * IPv4 and IPv6 are both handled here even though tund's TUN device
 * carries IPv4 only for now.
 */
#ifndef TUND_OFFLOAD_H
#define TUND_OFFLOAD_H

#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Newer than Debian 12's kernel headers (linux-libc-dev 6.1); values from
 * the kernel's include/uapi/linux/virtio_net.h and if_tun.h (6.2+). */
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

#define OFFLOAD_HDR_LEN ((size_t)sizeof(struct virtio_net_hdr)) /* 10 */
#define OFFLOAD_MAX_PACKET 65535 /* largest IP packet, super-packets included */

/* Decoded virtio_net_hdr, host byte order. */
struct offload_hdr {
	uint8_t flags;       /* VIRTIO_NET_HDR_F_NEEDS_CSUM, ... */
	uint8_t gso_type;    /* VIRTIO_NET_HDR_GSO_NONE/TCPV4/TCPV6/UDP_L4 (ECN bit stripped) */
	bool ecn;            /* VIRTIO_NET_HDR_GSO_ECN was set */
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
};

void offload_hdr_decode(struct offload_hdr *h, const uint8_t raw[OFFLOAD_HDR_LEN]);
void offload_hdr_encode(uint8_t raw[OFFLOAD_HDR_LEN], const struct offload_hdr *h);

/* ---------------------------------------------------------------- sending */

struct offload_seg {
	/* private to offload.c */
	const uint8_t *pkt;
	size_t len;
	struct offload_hdr h;
	uint8_t ipver;       /* 4 or 6 */
	uint8_t proto;       /* IPPROTO_TCP or IPPROTO_UDP */
	uint16_t l3_len;     /* IP header length */
	uint16_t l4_len;     /* TCP header length (with options) or 8 */
	size_t payload_off;  /* next payload byte to emit, from pkt */
	unsigned index;      /* segments emitted so far */
	unsigned count;      /* segments in all */
};

/* Validates one TUN read (pkt/len: the bytes after the virtio_net_hdr).
 * For a packet without GSO whose checksum is partial, completes the
 * checksum in place (hence pkt is writable) and the packet is ready as
 * it is: offload_seg_count() is 1 and offload_seg_next() may be skipped by
 * a caller that sends pkt directly. Returns 0, -EBADMSG for a header or
 * packet that does not agree with itself (offsets past the end, gso_size
 * 0 with a GSO type, an L4 protocol that does not match gso_type, IPv4
 * options longer than the packet...), or -EPROTONOSUPPORT for a gso_type
 * this code does not know. The hdr_len hint is ignored: header lengths
 * come from the packet. IPv6 hop-by-hop and destination options headers
 * are walked; any other extension header under GSO is -EBADMSG. */
int offload_seg_init(struct offload_seg *it, const struct offload_hdr *h, uint8_t *pkt, size_t len);

/* Number of packets the iterator produces in all (>= 1). */
static inline unsigned offload_seg_count(const struct offload_seg *it) { return it->count; }

/* Writes the next packet into out (cap bytes): a complete IP packet with
 * valid checksums. Returns its length, 0 once all were written, -ENOSPC
 * if cap is too small (the iterator does not advance). */
ssize_t offload_seg_next(struct offload_seg *it, uint8_t *out, size_t cap);

/* Turns one TUN read into a single valid IP packet, however long: for a
 * super-packet, completes the L4 checksum over all of it and the IPv4
 * header checksum (lengths are already the whole packet's); for a packet
 * with a partial checksum, completes it. Stream paths carry super-packets
 * this way, as one record. 0, or the errors of offload_seg_init, or
 * -EMSGSIZE for a UDP_L4 super-packet of more than one datagram: its
 * datagram boundaries must survive, so the caller segments it instead. */
int offload_whole(const struct offload_hdr *h, uint8_t *pkt, size_t len);

/* ---------------------------------------------------------------- receiving */

#define OFFLOAD_GRO_MAX_HELD 128  /* packets held until a flush */
#define OFFLOAD_GRO_MAX_IOV 66    /* per written packet: header + up to 64 payloads + spare */
#define OFFLOAD_GRO_HDR_MAX 128   /* IP + TCP headers with options, the most we copy */

/* One packet as it will be written: a copy of its headers (modified in
 * place as segments are merged) and the payload pieces, which stay in the
 * caller's buffers until the flush. */
struct offload_gro_item {
	uint8_t vnet[OFFLOAD_HDR_LEN];
	uint8_t hdr[OFFLOAD_GRO_HDR_MAX];
	uint16_t hdr_len;            /* bytes of hdr in use (IP + L4 headers) */
	const uint8_t *whole;        /* unmerged packet: written from here as is */
	size_t whole_len;
	struct iovec pay[OFFLOAD_GRO_MAX_IOV - 2];
	unsigned n_pay;
	size_t total;                /* IP packet length so far */
	/* merge state, private to offload.c */
	uint32_t next_seq;
	uint16_t mss;
	bool closed;                 /* a short, PSH or FIN segment ended it */
	bool tcp;
	uint8_t ipver;
	bool fixed_id;               /* IPv4 with DF and the same id in every segment */
};

struct offload_gro {
	bool enabled;                /* false: every packet is written unmerged (a lone
				      * one longer than mtu is still sent as GSO) */
	unsigned mtu;
	unsigned n;
	struct offload_gro_item items[OFFLOAD_GRO_MAX_HELD];
	/* counters for tunctl status */
	uint64_t packets_in;         /* packets offered */
	uint64_t packets_out;        /* writes made by flushes */
	uint64_t merged;             /* packets that went into an earlier one */
};

/* mtu: the TUN device's MTU. A single TCP packet longer than that (a
 * super-packet that came whole over a stream path) is written as a GSO
 * packet with gso_size = mtu - its IP and TCP headers, so the kernel can
 * forward it. Merging never makes segments larger than they came. */
void offload_gro_init(struct offload_gro *g, bool enabled, unsigned mtu);

/* Offers one complete IP packet (valid checksums, as offload_seg_next
 * produces). The bytes at pkt must stay unchanged until the next
 * offload_gro_flush(); they are read, never written. If the held packets
 * fill up, flushes first through write_fn. */
typedef int (*offload_write_fn)(void *arg, const struct iovec *iov, int iovcnt);
void offload_gro_add(struct offload_gro *g, const uint8_t *pkt, size_t len,
		     offload_write_fn write_fn, void *arg);

/* Writes every held packet, in the order their first segments arrived,
 * each as one call write_fn(arg, iov, iovcnt) whose first iovec is the
 * OFFLOAD_HDR_LEN-byte virtio_net_hdr. Returns the number of write_fn
 * calls that failed (write_fn returning < 0); the rest still happen. */
unsigned offload_gro_flush(struct offload_gro *g, offload_write_fn write_fn, void *arg);

/* ---------------------------------------------------------------- helpers */

/* One's-complement sum of data added to initial (32-bit accumulator,
 * not folded, not inverted); fold with offload_csum_fold. Big-endian view:
 * data is summed as 16-bit big-endian words from an even offset (an odd
 * last byte padded with zero), initial and the result are host numbers of
 * that sum (a pseudo-header is e.g. (src >> 16) + (src & 0xffff) + ... +
 * proto + length), and offload_csum_fold's result is stored big-endian.
 * The result is already folded to 16 bits, so it can be added again. */
uint32_t offload_csum_add(const void *data, size_t len, uint32_t initial);
uint16_t offload_csum_fold(uint32_t sum); /* folds and inverts */

#endif
