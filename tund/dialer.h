/*
 * dialer.h - how tund reaches a TCP service when it does not know which
 * way out the network allows: it races every method (tlink.h) that could
 * work, keeps the first link that comes up and closes the others, and
 * ranks the methods per location so the next dial starts with the winner.
 *
 * The proxy comes from [tund] http_proxy, else the https_proxy,
 * HTTPS_PROXY, http_proxy, HTTP_PROXY environment variables in that order
 * (tund's streams are already encrypted, so one proxy serves both; a
 * no_proxy list is not consulted). Methods tried:
 *   no proxy:    DIRECT; to HTTP services also POLL (for middleboxes that
 *                break Upgrade), DIALER_STAGGER_MS later
 *   with proxy:  DIRECT, CONNECT, and to HTTP services UPGRADE and POLL
 * A dial may name several targets (the mediator itself, and the relay's
 * gateway to the mediator); every method of every target is a contender.
 *
 * Ranking: a location is the proxy plus the set of this host's IPv4
 * subnets (a laptop moving between networks gets a different one). Per
 * location and target, the method that won last is started first and the
 * others DIALER_STAGGER_MS later (at once if it fails first). With no
 * ranking yet, all start together. Rankings live in memory and, when
 * [tund] state_directory exists, in its file "methods" (one line per
 * location, target and method; rewritten atomically on change, read at
 * start; a bad line is ignored with a warning).
 */
#ifndef TUND_DIALER_H
#define TUND_DIALER_H

#include <stdbool.h>
#include <stddef.h>

#include "tlink.h"

#define DIALER_STAGGER_MS 300
#define DIALER_MAX_TARGETS 2
#define DIALER_MAX_LOCATIONS 16

struct daemon;
struct dialer;
struct dial;

/* Builds the dialer from the daemon's config and environment. Fails only
 * for a malformed proxy URL (err names where it came from). */
int dialer_new(struct dialer **out, struct daemon *d, char *err, size_t errlen);
void dialer_free(struct dialer *dl);

/* The proxy in use (proxy->set false when none). */
const struct tlink_proxy *dialer_proxy(const struct dialer *dl);

/* Starts a race to targets[0..n). ops.up receives the winning link, which
 * from then on reports to ops/arg (data, down) like any tlink; ops.down
 * with a NULL link reports that every contender failed (why = the most
 * telling failure: an HTTP refusal over a timeout). ops.clock (optional)
 * with a NULL link passes on each contender's clock report (tlink.h), so
 * it comes before that dial's ops.down. *out lets the owner cancel; it
 * must be forgotten once up or down (NULL link) was called. */
int dialer_dial(struct dialer *dl, const struct tlink_target *targets, unsigned n,
		const struct tlink_ops *ops, void *arg, struct dial **out);
void dial_cancel(struct dial *dial);

/* For status: "proxy 10.3.0.1:3128; 198.51.100.20:443: poll > connect". */
void dialer_describe(const struct dialer *dl, char *out, size_t outlen);

#endif
