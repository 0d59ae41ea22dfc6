/*
 * tun.h - the TUN device: open /dev/net/tun as IFF_TUN | IFF_NO_PI, so every
 * read and write is exactly one IP packet (with tun_open_vnet: one
 * virtio_net_hdr and one packet, possibly a 64 KiB super-packet). Address, MTU, link state and
 * routes are set through nl.h, never by running ip(8).
 */
#ifndef TUND_TUN_H
#define TUND_TUN_H

#include <net/if.h>

/* Creates (or attaches to) the interface named name; name_out receives
 * the kernel's name. Returns a non-blocking, close-on-exec fd, or -errno.
 * The device disappears when the fd is closed (it is not made persistent). */
int tun_open(const char *name, char name_out[IFNAMSIZ]);

/* The same with IFF_VNET_HDR: every read and write then starts with a
 * struct virtio_net_hdr (offload.h). */
int tun_open_vnet(const char *name, char name_out[IFNAMSIZ]);

/* Asks for offloads on a device opened with tun_open_vnet: checksum,
 * TSO4/TSO6 with ECN, and USO4/USO6 where the kernel has them (6.2 and
 * later). A kernel that does not know a flag refuses the whole set
 * (EINVAL), so smaller sets are tried in turn. *granted receives the TUN_F_*
 * set in force (0: none). Returns 0, or -errno of the last refusal when not
 * even the checksum and TSO set was taken. */
int tun_set_offload(int fd, unsigned *granted);

#endif
