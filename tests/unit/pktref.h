/*
 * pktref.h - a reference for packet tests, written without looking at
 * shared/offload.c so it can judge it: big-endian field access and the
 * textbook RFC 1071 one's-complement sum (even bytes are high halves, odd
 * bytes low halves), one byte at a time. Used by the offload unit tests
 * (offload_lab.h, test_offload_tun) and fuzz_offload.
 */
#ifndef TUND_TEST_PKTREF_H
#define TUND_TEST_PKTREF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }
static inline void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }

static inline uint32_t ref_add(uint32_t acc, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		acc += (i % 2 == 0) ? (uint32_t)p[i] * 256 : p[i];
	return acc;
}

static inline uint16_t ref_fold(uint32_t acc)
{
	while (acc > 0xffff)
		acc = (acc >> 16) + (acc & 0xffff);
	return (uint16_t)acc;
}

/* Pseudo-header sum of the IPv4 or IPv6 packet at ip for an L4 length n. */
static inline uint32_t ref_pseudo(const uint8_t *ip, uint8_t proto, size_t n)
{
	bool v4 = ip[0] >> 4 == 4;
	return ref_add(0, ip + (v4 ? 12 : 8), v4 ? 8 : 32) + proto + (uint32_t)n;
}

#endif
