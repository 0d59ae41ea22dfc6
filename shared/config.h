/*
 * config.h - tund.conf (INI, read with inih) parsed into a plain struct.
 *
 * Parsing only fills struct cfg and validates it; nothing here touches the
 * system (the private key file is read by keys.h when the daemon applies
 * the config). Every error names the file, the line and the key, e.g.
 *   /etc/tund/tund.conf:12: [peer "hq"] address: "100.100.0" is not an IPv4 address
 * Unknown sections and keys are errors.
 *
 *   [tund]
 *   private_key_file = /etc/tund/private.key
 *   interface = tund0
 *   address = 100.100.0.1/16     ; own overlay address; the prefix is routed to the TUN
 *   listen_port = 41641          ; 0 = random
 *   mtu = 1380
 *   control_socket = /run/tund/tund.sock
 *   client_pool = 100.127.0.0/16 ; where this host sees its clients
 *   log_level = info             ; error, warn, info, debug
 *
 *   [peer "hq"]                  ; a remote system this host reaches
 *   key = <base64 public key>
 *   address = 100.100.0.10       ; the local IP at which it appears
 *   endpoint = 198.51.100.7:41641
 *   preshared_key = <base64>     ; optional, must match the other side
 *   persistent_keepalive = 25    ; optional, seconds, 0 = off
 *
 *   [client "laptop"]            ; a client allowed to reach this host
 *   key = <base64 public key>
 *   address = 100.127.0.5        ; optional: pin its address inside client_pool
 *   preshared_key = <base64>     ; optional
 */
#ifndef TUND_CONFIG_H
#define TUND_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <net/if.h>

#include "addr.h"
#include "keys.h"

#define CFG_NAME_MAX 64      /* peer/client names, NUL included */
#define CFG_ERR_MAX 512

enum cfg_role { CFG_ROLE_PEER, CFG_ROLE_CLIENT };
enum cfg_log_level { CFG_LOG_ERROR, CFG_LOG_WARN, CFG_LOG_INFO, CFG_LOG_DEBUG };

struct cfg_peer {
	char name[CFG_NAME_MAX];
	enum cfg_role role;
	int line;                    /* line of the section header */
	uint8_t key[KEY_LEN];
	bool has_psk;
	uint8_t psk[KEY_LEN];
	uint32_t address;            /* peer: where it appears (required); client: pinned, 0 = from pool */
	bool has_endpoint;
	struct endpoint endpoint;    /* peer only */
	unsigned persistent_keepalive; /* seconds, 0 = off */
};

struct cfg {
	char path[PATH_MAX];         /* what errors call the file */
	char private_key_file[PATH_MAX];
	char interface[IFNAMSIZ];
	uint32_t address;            /* own overlay address */
	unsigned prefix_len;         /* prefix routed to the TUN */
	uint16_t listen_port;        /* 0 = random */
	unsigned mtu;
	char control_socket[108];    /* sizeof(sun_path) */
	bool has_client_pool;
	uint32_t client_pool;
	unsigned client_pool_len;
	enum cfg_log_level log_level;
	struct cfg_peer *peers;      /* [peer] and [client] sections, in file order */
	size_t n_peers;
};

/* Defaults, then the file. 0, or -EINVAL (bad content, err says why) or
 * -errno when the file cannot be read. On error the struct is freed. */
int cfg_parse_file(struct cfg *c, const char *path, char *err, size_t errlen);
/* Same, from memory; name is what errors call the input. */
int cfg_parse_string(struct cfg *c, const char *name, const char *text, char *err, size_t errlen);
void cfg_free(struct cfg *c);

#endif
