/*
 * tun.c - opens the TUN device (see tun.h).
 *
 * Owns nothing after it returns: the caller owns the fd, and the interface
 * lives exactly as long as that fd (and any other fd attached to the same
 * queue) stays open, because we never call TUNSETPERSIST. Flags are
 * IFF_TUN | IFF_NO_PI: no 4-byte packet-information prefix, so one read()
 * returns one bare IP packet and one write() injects one. IFF_VNET_HDR is
 * deliberately absent until the offload work adds it; with it, every read
 * and write would carry a virtio_net_hdr in front and this contract would
 * change. Behaviour observed on real kernels is written up in
 * kernel-notes/tun-and-rtnetlink.md.
 */
#include "tun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define TUN_DEV_PATH "/dev/net/tun"

int tun_open(const char *name, char name_out[IFNAMSIZ])
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));

	/* An empty or NULL name lets the kernel pick "tun%d". A name that does
	 * not fit would be silently truncated by the kernel into someone
	 * else's name, so refuse it here. */
	if (name) {
		size_t len = strnlen(name, IFNAMSIZ);
		if (len >= IFNAMSIZ)
			return -EINVAL;
		memcpy(ifr.ifr_name, name, len);
	}
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;

	int fd = open(TUN_DEV_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;

	/* TUNSETIFF both creates the device (or attaches to an existing,
	 * detached one of the same name) and binds it to this fd. On a name
	 * already held by another live fd the kernel answers EBUSY. */
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}

	if (name_out) {
		memcpy(name_out, ifr.ifr_name, IFNAMSIZ);
		name_out[IFNAMSIZ - 1] = '\0';
	}
	return fd;
}
