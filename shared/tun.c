/*
 * tun.c - opens the TUN device (see tun.h).
 *
 * Owns nothing after it returns: the caller owns the fd, and the interface
 * lives exactly as long as that fd (and any other fd attached to the same
 * queue) stays open, because we never call TUNSETPERSIST. Flags are
 * IFF_TUN | IFF_NO_PI: no 4-byte packet-information prefix, so one read()
 * returns one bare IP packet and one write() injects one; tun_open_vnet
 * adds IFF_VNET_HDR, and every read and write carries a virtio_net_hdr in
 * front (kernel-notes/offload.md). Behaviour observed on real kernels is written up in
 * kernel-notes/tun-and-rtnetlink.md.
 */
#include "tun.h"

#include "offload.h" /* TUN_F_USO4/6 on older headers */

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define TUN_DEV_PATH "/dev/net/tun"

static int open_flags(const char *name, char name_out[IFNAMSIZ], short flags)
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
	ifr.ifr_flags = flags;

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

int tun_open(const char *name, char name_out[IFNAMSIZ])
{
	return open_flags(name, name_out, IFF_TUN | IFF_NO_PI);
}

int tun_open_vnet(const char *name, char name_out[IFNAMSIZ])
{
	return open_flags(name, name_out, IFF_TUN | IFF_NO_PI | IFF_VNET_HDR);
}

int tun_set_offload(int fd, unsigned *granted)
{
	/* Largest first; USO arrived in 6.2, older kernels reject it. */
	static const unsigned sets[] = {
		TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_USO4 | TUN_F_USO6,
		TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN,
		TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6,
	};
	int err = -EINVAL;
	*granted = 0;
	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
		if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)sets[i]) == 0) {
			*granted = sets[i];
			return 0;
		}
		err = -errno;
	}
	return err;
}
