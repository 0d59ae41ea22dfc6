/*
 * reload.h - bringing a running daemon in line with its configuration
 * again: tund.conf re-read on SIGHUP or `tunctl reload`, and the clients
 * file (clients.h) that `tunctl allow` and `tunctl revoke` edit.
 *
 * The wanted peers are the config's [peer] and [client] sections plus the
 * clients file's entries (an entry whose key or name a section has is
 * skipped: the config's applies). They are matched to the live peers by
 * name and role:
 *   gone from both       the peer is torn down (peers_remove);
 *   new                  it is added and started as at start-up (a
 *                        mediator lookup, or the first handshake);
 *   changed              (key, system, address, endpoint, preshared key,
 *                        keepalive) torn down and added again;
 *   unchanged            untouched: sessions, paths and counters go on.
 * [tund] keys that can change live (log_level, nat_keepalive) are applied;
 * every other [tund] or [publish] change keeps the running value and is
 * reported as "KEY changed: restart tund to apply". A config or clients
 * file that does not parse changes nothing.
 *
 * Reports: one line per event, each starting with a fixed word so that
 * tools can read them (docs/control.md, "reload"):
 *   reloaded PATH        first line
 *   removed ROLE "NAME"  added ROLE "NAME" at ADDR  changed ROLE "NAME" (WHAT)
 *   unchanged: N peer(s) and client(s)
 *   KEY changed: applied      KEY changed: restart tund to apply
 *   skipped: ...         a clients file entry the config overrides
 *   failed: ...          a peer that could not be applied (the rest was)
 * Each line is logged as well.
 */
#ifndef TUND_RELOAD_H
#define TUND_RELOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define RELOAD_REPORT_MAX 8192  /* bytes of report kept for the reply */
#define RELOAD_TUND_KEYS_MAX 20 /* restart-only keys reload_tund_changes can name */

struct daemon;

/* SIGHUP and `tunctl reload`: RELOADING=1 to the service manager, the
 * reload, then READY=1. 0 with the report in out, or <0 with a one-line
 * error in out when nothing was applied (tund runs on as before). */
int reload_run(struct daemon *d, char *out, size_t outlen);
/* The SIGHUP handler: reload_run, report in the log only. */
void reload_signal(struct daemon *d);

/* At start-up, after the config's peers are in the table and before
 * they are started: the clients file's entries. 0, or <0 with err set
 * (a clients file that does not parse stops tund, as a bad config does). */
int reload_saved_clients(struct daemon *d, char *err, size_t errlen);

/* `tunctl allow KEY [NAME]`: persists the client in the clients file and
 * adds it at once. name NULL: clients_default_name. 0 with a one-line
 * confirmation in out, or <0 with the error in out. */
int reload_allow(struct daemon *d, const char *key_b64, const char *name, char *out, size_t outlen);
/* `tunctl revoke KEY|NAME`: removes a client of the clients file from
 * the file and from the table, dropping its session at once. A client
 * of tund.conf is refused ("edit the config and reload"). */
int reload_revoke(struct daemon *d, const char *what, char *out, size_t outlen);

/* What differs between two configs of one [peer]/[client] (the RELOAD_*
 * bits), and their names ("key, endpoint") for reports. */
enum {
	RELOAD_KEY = 1 << 0,
	RELOAD_SYSTEM = 1 << 1,
	RELOAD_ADDRESS = 1 << 2,
	RELOAD_ENDPOINT = 1 << 3,
	RELOAD_PSK = 1 << 4,
	RELOAD_KEEPALIVE = 1 << 5,
};
unsigned reload_peer_changes(const struct cfg_peer *old, const struct cfg_peer *new);
void reload_changes_format(unsigned changes, char *out, size_t outlen);
/* The [tund] and [publish] keys that differ and cannot change while tund
 * runs; returns how many names were put in keys (at most max). */
size_t reload_tund_changes(const struct cfg *old, const struct cfg *new, const char **keys, size_t max);

#endif
