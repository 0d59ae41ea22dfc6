/*
 * relayconf.h - relay.conf (INI, read with inih) parsed into a plain
 * struct. Parsing only fills struct relayconf; reading the key file,
 * resolving the mediator and opening the socket are main's job. Errors
 * name the file, the line, the section and the key, as mediator.conf's do:
 *   /etc/tund/relay.conf:4: [relay] max_connections: "0" is out of range (1..1000000)
 * Unknown sections and keys are errors; an empty file is all defaults.
 *
 *   [relay]
 *   private_key_file = /etc/tund/relay.key  ; X25519 private key, base64
 *   listen = 0.0.0.0:443          ; the HTTP front (TCP)
 *   mediator = 198.51.100.2:3478  ; the gateway's target (host:port); absent = off
 *   max_connections = 20000       ; TCP connections held at once
 *   source_rate = 50              ; listen/connect/gateway requests per second
 *                                 ; per source address (burst 4x), 0 = no limit
 *   log_level = info              ; error, warn, info, debug
 */
#ifndef TUND_RELAYCONF_H
#define TUND_RELAYCONF_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "log.h"

#define RELAYCONF_ERR_MAX 512
#define RELAYCONF_DEFAULT_PATH "/etc/tund/relay.conf"
#define RELAYCONF_DEFAULT_KEY_FILE "/etc/tund/relay.key"
#define RELAYCONF_DEFAULT_MAX_CONNECTIONS 20000
#define RELAYCONF_MAX_CONNECTIONS_MAX 1000000
#define RELAYCONF_HOST_MAX 254           /* a DNS name (253) + NUL */
#define RELAYCONF_DEFAULT_SOURCE_RATE 50
#define RELAYCONF_SOURCE_RATE_MAX 1000000

struct relayconf {
	char path[PATH_MAX];             /* what errors call the file */
	char private_key_file[PATH_MAX];
	struct endpoint listen;          /* address 0 = every local address */
	char mediator_host[RELAYCONF_HOST_MAX];   /* "" = no mediator gateway */
	uint16_t mediator_port;          /* 1..65535 when mediator_host is set */
	unsigned max_connections;        /* 1..RELAYCONF_MAX_CONNECTIONS_MAX */
	unsigned source_rate;            /* requests/s per source, 0 = unlimited */
	enum log_level log_level;
};

/* Defaults, then the text (name is what errors call it). 0, or -EINVAL
 * (bad content) / -ENOMEM, with err saying why. */
int relayconf_parse_string(struct relayconf *c, const char *name, const char *text, char *err,
			   size_t errlen);
/* The same for a file; -errno when it cannot be read. */
int relayconf_parse_file(struct relayconf *c, const char *path, char *err, size_t errlen);

#endif
