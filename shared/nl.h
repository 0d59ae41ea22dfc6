/*
 * nl.h - the few rtnetlink operations tund needs, over libmnl: link MTU
 * and state, IPv4 addresses and routes on one interface. Each call sends
 * one request with NLM_F_ACK and waits for the kernel's answer, so the
 * return value is the kernel's own verdict: 0 or -errno (e.g. -EEXIST).
 * Addresses are host byte order.
 */
#ifndef TUND_NL_H
#define TUND_NL_H

#include <stdbool.h>
#include <stdint.h>

struct nl; /* opaque: one NETLINK_ROUTE socket and its sequence numbers */

int nl_new(struct nl **out);
void nl_free(struct nl *nl);

int nl_link_set(struct nl *nl, int ifindex, unsigned mtu, bool up);
int nl_addr_add(struct nl *nl, int ifindex, uint32_t addr, unsigned prefix_len);
int nl_addr_del(struct nl *nl, int ifindex, uint32_t addr, unsigned prefix_len);
int nl_route_add(struct nl *nl, int ifindex, uint32_t dst, unsigned prefix_len);
int nl_route_del(struct nl *nl, int ifindex, uint32_t dst, unsigned prefix_len);

#endif
