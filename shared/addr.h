/*
 * addr.h - IPv4 addresses, prefixes and UDP endpoints as plain values:
 * parsing from config text and formatting for status output. Addresses are
 * host byte order; an endpoint is an IPv4 address and a port.
 */
#ifndef TUND_ADDR_H
#define TUND_ADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>

#define ADDR_STR_LEN 16     /* "255.255.255.255" + NUL */
#define PREFIX_STR_LEN 19   /* "255.255.255.255/32" + NUL */
#define ENDPOINT_STR_LEN 22 /* "255.255.255.255:65535" + NUL */

struct endpoint {
	uint32_t addr;
	uint16_t port;
};

/* 0 or -EINVAL. A dotted quad only; no host names (tund does no DNS yet). */
int addr_parse(uint32_t *out, const char *s);
/* "a.b.c.d/len", len 0..32; a missing "/len" is an error when require_len. */
int prefix_parse(uint32_t *addr, unsigned *len, const char *s, bool require_len);
/* "a.b.c.d:port", port 1..65535. */
int endpoint_parse(struct endpoint *out, const char *s);

void addr_format(char out[ADDR_STR_LEN], uint32_t addr);
void endpoint_format(char out[ENDPOINT_STR_LEN], const struct endpoint *ep);

uint32_t prefix_mask(unsigned len);
bool prefix_contains(uint32_t net, unsigned len, uint32_t addr);

void endpoint_to_sockaddr(struct sockaddr_in *sa, const struct endpoint *ep);
void endpoint_from_sockaddr(struct endpoint *ep, const struct sockaddr_in *sa);
static inline bool endpoint_equal(const struct endpoint *a, const struct endpoint *b)
{
	return a->addr == b->addr && a->port == b->port;
}

#endif
