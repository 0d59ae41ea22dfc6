/*
 * xlate.h - IPv4 address translation at the tunnel edge (DESIGN.md §4).
 *
 * A packet that arrives from a peer is rewritten before it is written to
 * the TUN device: its source becomes the address at which this host sees
 * that peer, its destination becomes this host's own overlay address. The
 * IPv4 header checksum and the TCP, UDP and ICMP checksums are updated
 * incrementally (RFC 1624). For ICMP errors (destination unreachable,
 * time exceeded, parameter problem, source quench, redirect) the embedded
 * original header describes a packet that travelled the other way, so its
 * source becomes new_dst and its destination new_src; the embedded IPv4
 * checksum, the embedded TCP/UDP checksum when present in the quoted bytes,
 * and the outer ICMP checksum (which covers the quote) are all fixed, so
 * path-MTU discovery and port-unreachable keep working through the tunnel.
 *
 * Addresses are host byte order. Packets are untrusted: every length is
 * checked, and a malformed packet is refused, never half rewritten.
 */
#ifndef TUND_XLATE_H
#define TUND_XLATE_H

#include <stddef.h>
#include <stdint.h>

/* 0, or -EBADMSG for a packet that is not well-formed IPv4 (version, IHL,
 * total length vs len, header checksum need not be valid on input). Non-first
 * fragments have only the IP header rewritten. */
int xlate_ipv4(uint8_t *pkt, size_t len, uint32_t new_src, uint32_t new_dst);

/* Reads the source and destination of an IPv4 packet (host order).
 * 0, or -EBADMSG when it is not IPv4 or shorter than its header. */
int xlate_ipv4_addrs(const uint8_t *pkt, size_t len, uint32_t *src, uint32_t *dst);

/* Checksum helpers, exported for tests: one's-complement sum over data,
 * and the RFC 1624 eqn. 3 update of checksum field `check` for a 32-bit
 * value changing from old to new (both in network byte order as stored). */
uint16_t xlate_csum(const void *data, size_t len, uint32_t initial);
uint16_t xlate_csum_update32(uint16_t check, uint32_t old_be, uint32_t new_be);
uint16_t xlate_csum_update16(uint16_t check, uint16_t old_be, uint16_t new_be);

#endif
