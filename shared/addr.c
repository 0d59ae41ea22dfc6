/*
 * addr.c - IPv4 addresses, prefixes and UDP endpoints as plain values
 * (addr.h): strict parsing of config text and formatting for status.
 *
 * Parsing is deliberately narrower than inet_aton(): exactly four decimal
 * octets 0..255 separated by single dots, no sign, no spaces, no hex, and
 * no leading zeros. "01.2.3.4" is refused because inet_aton() reads it as
 * octal while other tools read it as decimal; refusing keeps a config line
 * from meaning two things. Prefix lengths (0..32) and ports (1..65535)
 * follow the same digit rules, and nothing may follow the value. On
 * failure every output is left untouched.
 *
 * A prefix keeps whatever host bits were written ("10.0.0.1/24" is an
 * interface address with its net); callers that want a network apply
 * prefix_mask() themselves.
 */
#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define ADDR_PREFIX_MAX 32
#define ADDR_PORT_MAX 65535

/* Reads a decimal number of at most max at *sp and advances past it: at
 * least one digit, and no leading zero unless the number is 0 itself. */
static int parse_dec(const char **sp, unsigned long max, unsigned long *out)
{
	const char *s = *sp;
	unsigned long v = 0;
	size_t n = 0;
	while (s[n] >= '0' && s[n] <= '9') {
		v = v * 10 + (unsigned long)(s[n] - '0'); /* v <= max before: no overflow */
		if (v > max)
			return -EINVAL;
		n++;
	}
	if (n == 0 || (n > 1 && s[0] == '0'))
		return -EINVAL;
	*sp = s + n;
	*out = v;
	return 0;
}

static int parse_quad(const char **sp, uint32_t *out)
{
	const char *s = *sp;
	uint32_t a = 0;
	for (int i = 0; i < 4; i++) {
		unsigned long octet;
		if (i > 0 && *s++ != '.')
			return -EINVAL;
		if (parse_dec(&s, 255, &octet) < 0)
			return -EINVAL;
		a = a << 8 | (uint32_t)octet;
	}
	*sp = s;
	*out = a;
	return 0;
}

int addr_parse(uint32_t *out, const char *s)
{
	uint32_t a;
	if (!s || parse_quad(&s, &a) < 0 || *s != '\0')
		return -EINVAL;
	*out = a;
	return 0;
}

int prefix_parse(uint32_t *addr, unsigned *len, const char *s, bool require_len)
{
	uint32_t a;
	unsigned long l = ADDR_PREFIX_MAX;
	if (!s || parse_quad(&s, &a) < 0)
		return -EINVAL;
	if (*s == '/') {
		s++;
		if (parse_dec(&s, ADDR_PREFIX_MAX, &l) < 0)
			return -EINVAL;
	} else if (require_len) {
		return -EINVAL;
	}
	if (*s != '\0')
		return -EINVAL;
	*addr = a;
	*len = (unsigned)l;
	return 0;
}

int endpoint_parse(struct endpoint *out, const char *s)
{
	uint32_t a;
	unsigned long port;
	if (!s || parse_quad(&s, &a) < 0 || *s++ != ':')
		return -EINVAL;
	if (parse_dec(&s, ADDR_PORT_MAX, &port) < 0 || port == 0 || *s != '\0')
		return -EINVAL;
	out->addr = a;
	out->port = (uint16_t)port;
	return 0;
}

void addr_format(char out[ADDR_STR_LEN], uint32_t addr)
{
	snprintf(out, ADDR_STR_LEN, "%u.%u.%u.%u", (unsigned)(uint8_t)(addr >> 24),
		 (unsigned)(uint8_t)(addr >> 16), (unsigned)(uint8_t)(addr >> 8),
		 (unsigned)(uint8_t)addr);
}

void endpoint_format(char out[ENDPOINT_STR_LEN], const struct endpoint *ep)
{
	char a[ADDR_STR_LEN];
	addr_format(a, ep->addr);
	snprintf(out, ENDPOINT_STR_LEN, "%s:%u", a, (unsigned)ep->port);
}

/* Lengths above 32 mean the whole address, as /32 does. */
uint32_t prefix_mask(unsigned len)
{
	if (len == 0)
		return 0; /* a shift by 32 would be undefined */
	if (len >= ADDR_PREFIX_MAX)
		return UINT32_MAX;
	return UINT32_MAX << (ADDR_PREFIX_MAX - len);
}

bool prefix_contains(uint32_t net, unsigned len, uint32_t addr)
{
	uint32_t m = prefix_mask(len);
	return (net & m) == (addr & m);
}

void endpoint_to_sockaddr(struct sockaddr_in *sa, const struct endpoint *ep)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(ep->port);
	sa->sin_addr.s_addr = htonl(ep->addr);
}

void endpoint_from_sockaddr(struct endpoint *ep, const struct sockaddr_in *sa)
{
	ep->addr = ntohl(sa->sin_addr.s_addr);
	ep->port = ntohs(sa->sin_port);
}
