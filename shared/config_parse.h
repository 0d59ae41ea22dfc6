/*
 * config_parse.h - what the two halves of the tund.conf parser share:
 * config.c reads lines and values, config_check.c applies the rules that
 * span keys and sections once the whole file is read. Internal to them;
 * everyone else uses config.h.
 */
#ifndef TUND_CONFIG_PARSE_H
#define TUND_CONFIG_PARSE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "iniread.h"

#define CFG_DEFAULT_KEY_FILE "/etc/tund/private.key"
#define CFG_DEFAULT_INTERFACE "tund0"
#define CFG_DEFAULT_PORT 41641
#define CFG_DEFAULT_MTU 1380
#define CFG_DEFAULT_SOCKET "/run/tund/tund.sock"
#define CFG_DEFAULT_STATE_DIR "/var/lib/tund"
#define CFG_MTU_MIN 576          /* every IPv4 host must accept 576 (RFC 791) */
#define CFG_MTU_MAX 9000         /* jumbo frames, the largest common link MTU */
#define CFG_KEEPALIVE_MAX 3600   /* seconds */
#define CFG_PREFIX_MIN 8         /* shorter own prefixes or pools are typos */
#define CFG_SECTIONS_MAX 4096    /* [peer] + [client]; checks below are quadratic */
#define CFG_QUOTE_MAX 64         /* bytes of a value shown in a message */
#define CFG_QUOTE_BUF (CFG_QUOTE_MAX * 4 + 8)
#define CFG_SECT_BUF (CFG_NAME_MAX + 16)

#define CUR_NONE (-2L)           /* before the first section */
#define CUR_TUND (-1L)           /* otherwise: an index into cfg.peers */
#define CUR_PUBLISH (-3L)

enum { TK_PRIVATE_KEY_FILE, TK_INTERFACE, TK_ADDRESS, TK_LISTEN_PORT, TK_MTU,
       TK_CONTROL_SOCKET, TK_CLIENT_POOL, TK_LOG_LEVEL, TK_MEDIATOR, TK_MEDIATOR_KEY,
       TK_NAT_KEEPALIVE, TK_RELAY, TK_RELAY_KEY, TK_RELAY_POOL, TK_HTTP_PROXY,
       TK_STATE_DIRECTORY, TK_LAN_DISCOVERY, TK_OFFLOAD, TK_CRYPTO_THREADS, TK_N };

enum { PK_KEY, PK_ADDRESS, PK_ENDPOINT, PK_PSK, PK_KEEPALIVE, PK_SYSTEM, PK_N };

enum { UK_SERVER_ID, UK_N };

/* Line of each key of a [peer]/[client] section, 0 = not (yet) set;
 * kept beside cfg.peers for the checks at the end. */
struct sect_lines {
	int key[PK_N];
};

struct pstate {
	struct cfg *c;
	struct iniread src;
	int line;                /* the line the reader handed out last */
	int tund_line;
	int tund_key[TK_N];
	int publish_line;
	int publish_key[UK_N];
	long cur;                /* section of the current line */
	struct sect_lines *lines;
	size_t cap;              /* of c->peers and lines */
	char q[CFG_QUOTE_BUF];   /* the current value, quoted for messages */
	int rc;                  /* first error, 0 = none yet */
	int err_line;
	char *err;
	size_t errlen;
};

/* Records the first error as "PATH:LINE: [SECTION] KEY: message"; line 0
 * drops ":LINE", idx CUR_NONE drops the section, key NULL drops the key. */
void cfg_fail(struct pstate *ps, int rc, int line, long idx, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
/* 'tund', 'publish', 'peer "NAME"' or 'client "NAME"'. */
void cfg_sect_desc(const struct pstate *ps, long idx, char out[CFG_SECT_BUF]);
/* Neither 0/8, loopback, multicast nor class E/broadcast. */
bool cfg_addr_usable(uint32_t a);
/* The rules that need the whole file (config_check.c). */
void cfg_validate(struct pstate *ps);

/* A value error at the current line of the current section... */
#define bad(ps, key, ...) cfg_fail((ps), -EINVAL, (ps)->line, (ps)->cur, (key), __VA_ARGS__)
/* ...an error of the current line as a whole... */
#define bad_line(ps, ...) cfg_fail((ps), -EINVAL, (ps)->line, CUR_NONE, NULL, __VA_ARGS__)
/* ...and one found at the end, at a line of section i. */
#define bad_at(ps, line, i, key, ...) cfg_fail((ps), -EINVAL, (line), (long)(i), (key), __VA_ARGS__)

#endif
