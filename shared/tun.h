/*
 * tun.h - the TUN device: open /dev/net/tun as IFF_TUN | IFF_NO_PI, so every
 * read and write is exactly one IP packet. Address, MTU, link state and
 * routes are set through nl.h, never by running ip(8).
 */
#ifndef TUND_TUN_H
#define TUND_TUN_H

#include <net/if.h>

/* Creates (or attaches to) the interface named name; name_out receives
 * the kernel's name. Returns a non-blocking, close-on-exec fd, or -errno.
 * The device disappears when the fd is closed (it is not made persistent). */
int tun_open(const char *name, char name_out[IFNAMSIZ]);

#endif
