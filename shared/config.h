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
 *   mediator = 198.51.100.5:3478 ; tund-mediator (host[:port], port 3478 by default)
 *   mediator_key = <base64>      ; the mediator's public key (required with mediator)
 *   nat_keepalive = 25           ; seconds between keepalives on paths found
 *                                ; through the mediator (NAT mappings), 0 = off
 *   relay = 198.51.100.20:443    ; tund-relay (host[:port], port 443 by default);
 *                                ; without it, the relay the mediator names
 *   relay_key = <base64>         ; the relay's public key (required with relay)
 *   relay_pool = 7               ; idle relay connections a server keeps, 0..64
 *   http_proxy = http://10.0.0.1:3128 ; HTTP proxy for the relay and the mediator's
 *                                ; TCP side (default: https_proxy/http_proxy env)
 *   state_directory = /var/lib/tund ; what tund learns and keeps across restarts
 *   lan_discovery = on           ; announce / find systems on the LAN by
 *                                ; multicast (docs/lan.md); on or off
 *   offload = auto               ; TUN and UDP offloads where the kernel has
 *                                ; them (kernel-notes/offload.md); auto or off
 *   crypto_threads = auto        ; threads for encryption: auto (one per CPU
 *                                ; tund may use) or 1..8
 *
 *   [publish]                    ; register this system with the mediator
 *   server_id = nvr1             ; this server's name within its system
 *                                ; (default: the host name)
 *
 *   [peer "hq"]                  ; a remote system this host reaches
 *   key = <base64 public key>    ; key and/or system
 *   system = <uuid>              ; or server_id.<uuid>: found through the mediator
 *   address = 100.100.0.10       ; the local IP at which it appears
 *   endpoint = 198.51.100.7:41641 ; optional with system: a fixed address
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
#define CFG_HOST_MAX 254     /* a DNS name or dotted quad, NUL included */
#define CFG_SERVER_ID_MAX 64 /* as MEDPROTO_SERVER_ID_MAX */
#define CFG_DEFAULT_MEDIATOR_PORT 3478
#define CFG_DEFAULT_NAT_KEEPALIVE 25
#define CFG_DEFAULT_RELAY_PORT 443
#define CFG_DEFAULT_RELAY_POOL 7
#define CFG_RELAY_POOL_MAX 64
#define CFG_CRYPTO_THREADS_MAX 8  /* cryptpool.h: CRYPTPOOL_MAX_THREADS */
#define CFG_ERR_MAX 512

enum cfg_role { CFG_ROLE_PEER, CFG_ROLE_CLIENT };
enum cfg_log_level { CFG_LOG_ERROR, CFG_LOG_WARN, CFG_LOG_INFO, CFG_LOG_DEBUG };

struct cfg_peer {
	char name[CFG_NAME_MAX];
	enum cfg_role role;
	int line;                    /* line of the section header */
	bool has_key;                /* false: learned from the mediator (system set) */
	uint8_t key[KEY_LEN];
	bool has_system;             /* peer only: find it through the mediator */
	uint8_t system_id[UUID_LEN];
	char server_id[CFG_SERVER_ID_MAX]; /* "" = any server of the system */
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
	bool has_mediator;
	char mediator_host[CFG_HOST_MAX];
	uint16_t mediator_port;
	uint8_t mediator_key[KEY_LEN];
	unsigned nat_keepalive;      /* seconds, 0 = off */
	bool has_relay;
	char relay_host[CFG_HOST_MAX];
	uint16_t relay_port;
	uint8_t relay_key[KEY_LEN];
	unsigned relay_pool;         /* idle pool connections a publishing tund keeps */
	bool has_http_proxy;         /* from the file; tund also reads the environment */
	char http_proxy_host[CFG_HOST_MAX];
	uint16_t http_proxy_port;
	char state_directory[PATH_MAX];
	bool lan_discovery;          /* LAN announcements and queries (tund/lan.h), default on */
	bool offload;                /* offload = auto (true, the default) or off */
	unsigned crypto_threads;     /* threads sealing/opening packets; 0 = auto */
	bool publish;                /* a [publish] section is present */
	char server_id[CFG_SERVER_ID_MAX]; /* "" = derive from the host name */
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
