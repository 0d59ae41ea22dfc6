/*
 * medconf.h - mediator.conf (INI, read with inih) parsed into a plain
 * struct. Parsing only fills struct medconf; reading the key file and
 * opening sockets is main's job. Every error names the file, the line and
 * the key, in the same form as tund.conf's:
 *   /etc/tund/mediator.conf:4: [mediator] alt_port: "70000" is out of range (0..65535)
 * Unknown sections and keys are errors.
 *
 *   [mediator]
 *   private_key_file = /etc/tund/mediator.key  ; X25519 private key, base64
 *   listen = 0.0.0.0:3478        ; UDP and TCP
 *   alt_port = 3479              ; second UDP port (RFC 5780 change-port), 0 = off
 *   max_connections = 4096       ; TCP connections held at once
 *   log_level = info             ; error, warn, info, debug
 *   relay = 198.51.100.20:443    ; the tund-relay that tunds are told to use
 *   relay_key = <base64>         ; its public key (both or neither)
 */
#ifndef TUND_MEDCONF_H
#define TUND_MEDCONF_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "keys.h"
#include "log.h"

#define MEDCONF_ERR_MAX 512
#define MEDCONF_DEFAULT_PATH "/etc/tund/mediator.conf"
#define MEDCONF_DEFAULT_KEY_FILE "/etc/tund/mediator.key"
#define MEDCONF_DEFAULT_ALT_PORT 3479
#define MEDCONF_DEFAULT_MAX_CONNECTIONS 4096
#define MEDCONF_MAX_CONNECTIONS_MAX 1000000

struct medconf {
	char path[PATH_MAX];             /* what errors call the file */
	char private_key_file[PATH_MAX];
	struct endpoint listen;          /* address 0 = every local address */
	uint16_t alt_port;               /* 0 = off; never equal to listen.port */
	unsigned max_connections;        /* 1..MEDCONF_MAX_CONNECTIONS_MAX */
	enum log_level log_level;
	bool has_relay, has_relay_key;
	struct endpoint relay;           /* announced in REGISTER and CONNECT answers */
	uint8_t relay_key[KEY_LEN];
};

/* Defaults, then the text (name is what errors call it). 0, or -EINVAL
 * (bad content) / -ENOMEM, with err saying why. */
int medconf_parse_string(struct medconf *c, const char *name, const char *text,
			 char *err, size_t errlen);
/* The same for a file; -errno when it cannot be read. */
int medconf_parse_file(struct medconf *c, const char *path, char *err, size_t errlen);

#endif
