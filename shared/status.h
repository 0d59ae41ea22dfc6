/*
 * status.h - the daemon's status model: a plain snapshot that tund fills,
 * sends over the control socket in a line format, and tunctl decodes and
 * prints as text or JSON. Daemon and CLI share this one model and its
 * serializers, so `tunctl status` and `tunctl status --json` can never
 * disagree with what tund reported.
 *
 * Line format (docs/control.md): one "key value" pair per line, the key
 * ending at the first space and the value running to the end of the line.
 * A "peer NAME" line opens a peer record; keys after it belong to that
 * peer until the next "peer" line. "counter NAME VALUE" lines carry the
 * daemon-wide drop counters. Unknown keys are ignored (newer daemons may
 * report more); a malformed line is an error naming the line.
 */
#ifndef TUND_STATUS_H
#define TUND_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <net/if.h>

#include "addr.h"
#include "config.h"
#include "keys.h"

#define STATUS_MAX_COUNTERS 32
#define STATUS_COUNTER_NAME 32
#define STATUS_PATH_LEN 16
#define STATUS_TEXT_LEN 256                  /* free-text lines: states, errors */
#define STATUS_CANDS_LEN 512

struct status_counter {
	char name[STATUS_COUNTER_NAME];
	uint64_t value;
};

struct status_peer {
	char name[CFG_NAME_MAX];
	char role[8];                        /* "peer" or "client" */
	char public_key[KEY_B64_LEN + 1];
	char system_id[UUID_STR_LEN + 1];
	char address[ADDR_STR_LEN];          /* the local IP at which it appears */
	char endpoint[ENDPOINT_STR_LEN];     /* current UDP endpoint, "" if unknown */
	/* How traffic flows now: "direct", "lan", "tcp", "relay", "none"
	 * (no session) or "no path" (punching without a handshake). */
	char path[STATUS_PATH_LEN];
	char path_detail[STATUS_TEXT_LEN];   /* the current path, e.g. "ADDR:PORT rtt 12.3 ms" */
	char standby[STATUS_TEXT_LEN];       /* other paths that work now, "" if none */
	char last_switch[STATUS_TEXT_LEN];   /* "TIME FROM -> TO: reason", "" if never */
	uint64_t switches;                   /* path switches so far */
	char state[STATUS_PATH_LEN];         /* mediator lookup: "", resolving, resolved, failed */
	char error[STATUS_TEXT_LEN];         /* why it is not connected, "" if nothing */
	char candidates[STATUS_CANDS_LEN];   /* "a.b.c.d:port/kind ...", "" if none */
	int64_t last_handshake;              /* unix time, seconds; 0 = never */
	uint64_t rx_bytes, tx_bytes;         /* inner IP bytes */
	uint64_t rx_packets, tx_packets;
	uint64_t rx_replayed;                /* authentic but already seen: dropped */
	uint64_t rx_auth_failed;             /* failed the AEAD check: dropped */
	int64_t rtt_us;                      /* last handshake round trip; -1 unknown */
};

struct status {
	char interface[IFNAMSIZ];
	char public_key[KEY_B64_LEN + 1];
	char system_id[UUID_STR_LEN + 1];
	char address[PREFIX_STR_LEN];        /* own overlay address/prefix */
	uint16_t listen_port;
	char mediator_state[STATUS_PATH_LEN]; /* "off", connecting, registered, ... */
	char mediator[STATUS_TEXT_LEN];      /* one line on the mediator link */
	char relay_state[STATUS_PATH_LEN];   /* "off", idle, "pool 7/7", backoff, ... */
	char relay[STATUS_TEXT_LEN];         /* one line on the relay link */
	char proxy[STATUS_TEXT_LEN];         /* "none", or the proxy, its source and use */
	char datapath[STATUS_TEXT_LEN];      /* offloads in force and crypto threads */
	struct status_counter counters[STATUS_MAX_COUNTERS];
	size_t n_counters;
	struct status_peer *peers;           /* owned; status_free() releases */
	size_t n_peers;
};

/* Encodes into a malloc'd NUL-terminated string: 0 or -ENOMEM. */
int status_encode(const struct status *st, char **out);
/* Decodes the line format: 0, or -EBADMSG with err naming the bad line. */
int status_decode(struct status *st, const char *text, size_t len, char *err, size_t errlen);
void status_free(struct status *st);

void status_print_text(FILE *f, const struct status *st);
void status_print_json(FILE *f, const struct status *st);
/* `tunctl peers`: one line per peer under a header, or the peer objects of
 * status_print_json as one JSON array. */
void status_print_peers_text(FILE *f, const struct status *st);
void status_print_peers_json(FILE *f, const struct status *st);
/* One JSON string (quotes included) as the printers write them: escaped
 * per RFC 8259 section 7, invalid UTF-8 as U+FFFD; s holds at most max bytes. */
void status_json_string(FILE *f, const char *s, size_t max);

/* Replies about one peer (docs/control.md), in the same "key value" line
 * format as the status, each a flat record.
 *
 * `ping PEER`: the path the probe went out on and its round trip. */
struct status_ping {
	char path[STATUS_PATH_LEN];          /* kind: "lan", "direct", "tcp", "relay" */
	char via[STATUS_TEXT_LEN];           /* "direct 203.0.113.9:41641", "relay 198.51.100.20:443 via connect" */
	int64_t rtt_us;                      /* microseconds; -1: no answer within timeout_ms */
	uint64_t timeout_ms;
};

/* `connect PEER` and `disconnect PEER`: what tund did. */
struct status_conn {
	char peer[CFG_NAME_MAX];
	char state[STATUS_PATH_LEN];         /* "connecting", "connected", "disconnected" */
	char via[STATUS_TEXT_LEN];           /* "connected": the current path; else "" */
};

/* Encoders: 0 or -ENOMEM; decoders: 0 or -EBADMSG with err naming the
 * line (missing keys keep 0 / "", and -1 for rtt_us). */
int status_ping_encode(const struct status_ping *pg, char **out);
int status_ping_decode(struct status_ping *pg, const char *text, size_t len, char *err, size_t errlen);
int status_conn_encode(const struct status_conn *sc, char **out);
int status_conn_decode(struct status_conn *sc, const char *text, size_t len, char *err, size_t errlen);

/* Every error reply about a peer name tund does not know starts with this,
 * e.g. "no peer named 'x' (peers: a, b)"; tunctl exits 5 on it. */
#define STATUS_ERR_NO_PEER "no peer named "

#endif
