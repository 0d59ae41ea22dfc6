/*
 * tunif.c - see tunif.h. Removal on exit is explicit even though the
 * kernel drops a non-persistent device's addresses and routes with it:
 * an operator reading the code, or a later persistent-device mode, should
 * not depend on that side effect.
 */
#include "tunif.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "log.h"
#include "nl.h"
#include "tun.h"

/* tund carries IPv4 only for now; without this the kernel sends IPv6
 * router solicitations into the device (kernel-notes/tun-and-rtnetlink.md).
 * Best effort: a kernel without IPv6 has no such file. */
static void disable_ipv6(const char *ifname)
{
	char path[128];
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", ifname);
	FILE *f = fopen(path, "w");
	if (!f)
		return;
	fputs("1\n", f);
	fclose(f);
}

/* Test builds (TUND_TEST_HOOKS): TUND_TEST_NO_TUN_OFFLOAD=1 acts as a
 * kernel that refuses TUNSETOFFLOAD, for test_offload and bench/throughput. */
static bool test_refuses_offload(void)
{
#ifdef TUND_TEST_HOOKS
	const char *v = getenv("TUND_TEST_NO_TUN_OFFLOAD");
	return v && strcmp(v, "1") == 0;
#else
	return false;
#endif
}

int tunif_open(struct tunif *t, uv_loop_t *loop, const struct cfg *cfg, uv_poll_cb cb, void *data,
	       char *err, size_t errlen)
{
	char a[ADDR_STR_LEN];
	int rc;

	memset(t, 0, sizeof(*t));
	t->fd = cfg->offload ? tun_open_vnet(cfg->interface, t->name) : tun_open(cfg->interface, t->name);
	if (t->fd < 0) {
		snprintf(err, errlen, "cannot create TUN device %s: %s", cfg->interface, strerror(-t->fd));
		return t->fd;
	}
	t->vnet = cfg->offload;
	if (t->vnet) {
		rc = test_refuses_offload() ? -EOPNOTSUPP : tun_set_offload(t->fd, &t->offload);
		if (rc)
			log_info("%s: the kernel refused TUN offloads (%s); packets are read and written one by one",
				 t->name, strerror(-rc));
		else
			log_debug("%s: TUN offloads 0x%x", t->name, t->offload);
	}
	t->ifindex = (int)if_nametoindex(t->name);
	rc = nl_new(&t->nl);
	if (rc) {
		snprintf(err, errlen, "cannot open rtnetlink: %s", strerror(-rc));
		goto fail;
	}
	disable_ipv6(t->name);
	rc = nl_link_set(t->nl, t->ifindex, cfg->mtu, false);
	if (rc) {
		snprintf(err, errlen, "cannot set MTU %u on %s: %s", cfg->mtu, t->name, strerror(-rc));
		goto fail;
	}
	rc = nl_addr_add(t->nl, t->ifindex, cfg->address, cfg->prefix_len);
	if (rc) {
		addr_format(a, cfg->address);
		snprintf(err, errlen, "cannot add address %s/%u to %s: %s", a, cfg->prefix_len, t->name,
			 strerror(-rc));
		goto fail;
	}
	t->addr = cfg->address;
	t->prefix_len = cfg->prefix_len;
	t->addr_added = true;
	rc = nl_link_set(t->nl, t->ifindex, cfg->mtu, true);
	if (rc) {
		snprintf(err, errlen, "cannot bring %s up: %s", t->name, strerror(-rc));
		goto fail;
	}
	rc = uv_poll_init(loop, &t->poll, t->fd);
	if (rc) {
		snprintf(err, errlen, "cannot watch %s: %s", t->name, uv_strerror(rc));
		goto fail;
	}
	t->poll_open = true;
	t->poll.data = data;
	uv_poll_start(&t->poll, UV_READABLE, cb);
	return 0;
fail:
	if (t->nl)
		nl_free(t->nl);
	t->nl = NULL;
	close(t->fd);
	t->fd = -1;
	return rc < 0 ? rc : -EIO;
}

int tunif_route(struct tunif *t, uint32_t dst, unsigned len)
{
	char a[ADDR_STR_LEN];
	if (len >= t->prefix_len && prefix_contains(t->addr, t->prefix_len, dst))
		return 0; /* the interface prefix already routes it here */
	if (t->n_routes == TUNIF_MAX_ROUTES)
		return -ENOSPC;
	int rc = nl_route_add(t->nl, t->ifindex, dst & prefix_mask(len), len);
	addr_format(a, dst & prefix_mask(len));
	if (rc && rc != -EEXIST) {
		log_error("cannot add route %s/%u via %s: %s", a, len, t->name, strerror(-rc));
		return rc;
	}
	if (rc == 0) {
		t->routes[t->n_routes++] = (struct tunif_route){ dst & prefix_mask(len), len };
		log_info("route %s/%u via %s", a, len, t->name);
	}
	return 0;
}

static void poll_closed_cb(uv_handle_t *h)
{
	struct tunif *t = (struct tunif *)((char *)h - offsetof(struct tunif, poll));
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	if (t->closed)
		t->closed(t->closed_arg);
}

void tunif_close(struct tunif *t, void (*done)(void *arg), void *arg)
{
	while (t->n_routes) {
		struct tunif_route *r = &t->routes[--t->n_routes];
		nl_route_del(t->nl, t->ifindex, r->dst, r->len);
	}
	if (t->addr_added)
		nl_addr_del(t->nl, t->ifindex, t->addr, t->prefix_len);
	t->addr_added = false;
	if (t->nl)
		nl_free(t->nl);
	t->nl = NULL;
	t->closed = done;
	t->closed_arg = arg;
	if (t->poll_open) {
		t->poll_open = false;
		uv_close((uv_handle_t *)&t->poll, poll_closed_cb);
		return;
	}
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	if (done)
		done(arg);
}
