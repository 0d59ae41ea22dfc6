/*
 * tunif.h - the daemon's TUN interface: the device (tun.h), its address,
 * MTU and link state and the routes through it (nl.h), and the uv_poll_t
 * that watches its fd. Everything added here is recorded and removed
 * again by tunif_close(), in reverse order.
 */
#ifndef TUND_TUNIF_H
#define TUND_TUNIF_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"

#define TUNIF_MAX_ROUTES 64

struct nl;

struct tunif_route {
	uint32_t dst;
	unsigned len;
};

struct tunif {
	int fd;                         /* -1 when closed */
	char name[IFNAMSIZ];
	int ifindex;
	bool vnet;                      /* reads and writes carry a virtio_net_hdr (offload.h) */
	unsigned offload;               /* TUN_F_* granted by TUNSETOFFLOAD; 0 = none */
	uv_poll_t poll;                 /* owned; closed by tunif_close */
	bool poll_open;
	struct nl *nl;
	uint32_t addr;
	unsigned prefix_len;
	bool addr_added;
	struct tunif_route routes[TUNIF_MAX_ROUTES];
	size_t n_routes;
	void (*closed)(void *arg);
	void *closed_arg;
};

/* Creates the device and configures it from cfg (with cfg->offload, as
 * IFF_VNET_HDR with the offloads the kernel grants; a refusal leaves
 * t->offload 0 and is logged, not an error); starts polling for
 * readable with cb (handle->data = data). 0 or -errno, with err set. */
int tunif_open(struct tunif *t, uv_loop_t *loop, const struct cfg *cfg, uv_poll_cb cb, void *data,
	       char *err, size_t errlen);
/* Adds a route through the device unless it is already covered by the
 * interface prefix; recorded for removal. */
int tunif_route(struct tunif *t, uint32_t dst, unsigned len);
/* Removes routes and address, closes the poll handle; done(arg) runs
 * after the handle is closed and the fd with it. */
void tunif_close(struct tunif *t, void (*done)(void *arg), void *arg);

#endif
