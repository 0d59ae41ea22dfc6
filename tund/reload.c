/*
 * reload.c - see reload.h. A reload works in two steps: everything that
 * can fail for want of memory or because a file does not parse is done
 * first (new config, clients file, the list of wanted peers), so that a
 * failure there leaves the daemon exactly as it was; then the peer table
 * is changed, one peer at a time, where a failure affects that peer only
 * and is reported.
 *
 * The live [tund] values stay those of start-up except the keys that can
 * change live; d->cfg.peers is replaced by the new config's sections
 * (nothing reads them after start-up, but they then say what runs).
 */
#include "reload.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "clients.h"
#include "daemon.h"
#include "keys.h"
#include "log.h"
#include "peer.h"
#include "resolve.h"
#include "sdnotify.h"
#include "timers.h"
#include "tunif.h"

/* ------------------------------------------------------------ reports */

struct report {
	char *buf;                   /* NULL: the log only */
	size_t len, off;
	bool truncated;
};

static void say(struct report *r, enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(struct report *r, enum log_level lvl, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_msg(lvl, "%s%s", r ? "reload: " : "", line);
	if (!r || !r->buf || r->truncated)
		return;
	size_t n = strlen(line);
	/* room for this line and the note that ends a cut report */
	if (r->off + n + 1 + 40 >= r->len) {
		r->truncated = true;
		snprintf(r->buf + r->off, r->len - r->off, "...: the rest is in tund's log\n");
		return;
	}
	memcpy(r->buf + r->off, line, n);
	r->off += n;
	r->buf[r->off++] = '\n';
	r->buf[r->off] = '\0';
}

static const char *role_name(enum cfg_role role)
{
	return role == CFG_ROLE_PEER ? "peer" : "client";
}

/* -------------------------------------------------------- comparisons */

unsigned reload_peer_changes(const struct cfg_peer *o, const struct cfg_peer *n)
{
	unsigned c = 0;
	/* A key learned from the mediator is not config: only configured
	 * keys are compared (has_key says which). */
	if (o->has_key != n->has_key || (o->has_key && memcmp(o->key, n->key, KEY_LEN) != 0))
		c |= RELOAD_KEY;
	if (o->has_system != n->has_system ||
	    (o->has_system && (memcmp(o->system_id, n->system_id, UUID_LEN) != 0 ||
			       strcmp(o->server_id, n->server_id) != 0)))
		c |= RELOAD_SYSTEM;
	if (o->address != n->address)
		c |= RELOAD_ADDRESS;
	if (o->has_endpoint != n->has_endpoint || (o->has_endpoint && !endpoint_equal(&o->endpoint, &n->endpoint)))
		c |= RELOAD_ENDPOINT;
	if (o->has_psk != n->has_psk || (o->has_psk && sodium_memcmp(o->psk, n->psk, KEY_LEN) != 0))
		c |= RELOAD_PSK;
	if (o->persistent_keepalive != n->persistent_keepalive)
		c |= RELOAD_KEEPALIVE;
	return c;
}

void reload_changes_format(unsigned changes, char *out, size_t outlen)
{
	static const char *const names[] = { "key", "system", "address", "endpoint", "preshared_key",
					     "persistent_keepalive" };
	size_t o = 0;
	out[0] = '\0';
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(changes & (1u << i)))
			continue;
		int n = snprintf(out + o, outlen - o, "%s%s", o ? ", " : "", names[i]);
		if (n < 0 || (size_t)n >= outlen - o)
			return;
		o += (size_t)n;
	}
}

static bool host_differs(bool oh, const char *ohost, uint16_t oport, bool nh, const char *nhost, uint16_t nport)
{
	return oh != nh || (nh && (strcmp(ohost, nhost) != 0 || oport != nport));
}

/* The whole [tund] and [publish] part, but for what changes live and
 * what is not a setting (the sections, the file's name): both come from
 * cfg_parse_file, which zeroes the struct first, so memcmp is exact. */
static bool same_otherwise(const struct cfg *o, const struct cfg *n)
{
	struct cfg *a = malloc(2 * sizeof(*a)); /* about 13 KiB each */
	if (!a)
		return true; /* the named keys above were still checked */
	struct cfg *b = a + 1;
	memcpy(a, o, sizeof(*a));
	memcpy(b, n, sizeof(*b));
	a->peers = b->peers = NULL;
	a->n_peers = b->n_peers = 0;
	memcpy(a->path, b->path, sizeof(a->path));
	a->log_level = b->log_level;
	a->nat_keepalive = b->nat_keepalive;
	bool same = memcmp(a, b, sizeof(*a)) == 0;
	sodium_memzero(a, 2 * sizeof(*a));
	free(a);
	return same;
}

size_t reload_tund_changes(const struct cfg *o, const struct cfg *n, const char **keys, size_t max)
{
	size_t k = 0;
#define CHANGED(cond, name) do { if ((cond) && k < max) keys[k++] = (name); } while (0)
	CHANGED(strcmp(o->private_key_file, n->private_key_file) != 0, "private_key_file");
	CHANGED(strcmp(o->interface, n->interface) != 0, "interface");
	CHANGED(o->address != n->address || o->prefix_len != n->prefix_len, "address");
	CHANGED(o->listen_port != n->listen_port, "listen_port");
	CHANGED(o->mtu != n->mtu, "mtu");
	CHANGED(strcmp(o->control_socket, n->control_socket) != 0, "control_socket");
	CHANGED(o->has_client_pool != n->has_client_pool ||
		(n->has_client_pool && (o->client_pool != n->client_pool ||
					o->client_pool_len != n->client_pool_len)), "client_pool");
	CHANGED(host_differs(o->has_mediator, o->mediator_host, o->mediator_port, n->has_mediator,
			     n->mediator_host, n->mediator_port), "mediator");
	CHANGED(o->has_mediator && n->has_mediator && memcmp(o->mediator_key, n->mediator_key, KEY_LEN) != 0,
		"mediator_key");
	CHANGED(host_differs(o->has_relay, o->relay_host, o->relay_port, n->has_relay, n->relay_host,
			     n->relay_port), "relay");
	CHANGED(o->has_relay && n->has_relay && memcmp(o->relay_key, n->relay_key, KEY_LEN) != 0, "relay_key");
	CHANGED(o->relay_pool != n->relay_pool, "relay_pool");
	CHANGED(host_differs(o->has_http_proxy, o->http_proxy_host, o->http_proxy_port, n->has_http_proxy,
			     n->http_proxy_host, n->http_proxy_port), "http_proxy");
	CHANGED(strcmp(o->state_directory, n->state_directory) != 0, "state_directory");
	CHANGED(o->publish != n->publish, "[publish]");
	CHANGED(strcmp(o->server_id, n->server_id) != 0, "server_id");
	CHANGED(o->lan_discovery != n->lan_discovery, "lan_discovery");
	CHANGED(o->offload != n->offload, "offload");
	CHANGED(o->crypto_threads != n->crypto_threads, "crypto_threads");
#undef CHANGED
	if (k == 0 && k < max && !same_otherwise(o, n))
		keys[k++] = "a [tund] key"; /* one added to config.h and not yet named above */
	return k;
}

/* ------------------------------------------------------ adding a peer */

static struct peer *by_name(const struct daemon *d, const char *name)
{
	for (size_t i = 0; i < peers_count(d->peers); i++) {
		struct peer *p = peers_at(d->peers, i);
		if (strcmp(p->cfg.name, name) == 0)
			return p;
	}
	return NULL;
}

/* Where cp appears, checked against the running [tund] (whose address
 * and client_pool a reload does not change) and the live peers. */
static int place(struct daemon *d, const struct cfg_peer *cp, uint32_t *out, char *why, size_t whylen)
{
	const struct cfg *c = &d->cfg;
	uint32_t addr = cp->address;
	char a[ADDR_STR_LEN];
	if (cp->role == CFG_ROLE_CLIENT && !c->has_client_pool) {
		snprintf(why, whylen, "the running tund has no client_pool: add one and restart tund");
		return -EINVAL;
	}
	addr_format(a, addr);
	bool in_pool = c->has_client_pool && prefix_contains(c->client_pool, c->client_pool_len, addr);
	if (cp->role == CFG_ROLE_CLIENT && addr && !in_pool) {
		snprintf(why, whylen, "address %s is outside the running client_pool: restart tund to apply", a);
		return -EINVAL;
	}
	if (cp->role == CFG_ROLE_PEER && (addr == c->address || in_pool)) {
		snprintf(why, whylen, "address %s is the running tund's own address or inside its client_pool: "
			 "restart tund to apply", a);
		return -EINVAL;
	}
	const struct peer *other = addr ? peers_by_addr(d->peers, addr) : NULL;
	if (other) {
		snprintf(why, whylen, "address %s is in use by %s \"%s\"", a, role_name(other->cfg.role),
			 other->cfg.name);
		return -EEXIST;
	}
	if (!addr) {
		int rc = peers_pool_address(d->peers, cp->key, c->client_pool, c->client_pool_len, c->address, &addr);
		if (rc) {
			snprintf(why, whylen, "no free address in client_pool");
			return rc;
		}
	}
	*out = addr;
	return 0;
}

/* Adds cp to the table; live: the daemon runs, so the peer gets its
 * route, its resolver and its first handshake now, as daemon_start gives
 * them to the config's peers. */
static int add_peer(struct daemon *d, const struct cfg_peer *cp, bool from_file, bool live, struct peer **out,
		    char *why, size_t whylen)
{
	const struct peer *other = cp->has_key ? peers_by_key(d->peers, cp->key) : NULL;
	uint32_t addr;
	struct peer *p = NULL;
	char a[ADDR_STR_LEN];
	if (!other)
		other = by_name(d, cp->name);
	if (other) {
		snprintf(why, whylen, "its %s is already used by %s \"%s\"",
			 strcmp(other->cfg.name, cp->name) ? "key" : "name", role_name(other->cfg.role),
			 other->cfg.name);
		return -EEXIST;
	}
	if (cp->role == CFG_ROLE_PEER && !cp->has_endpoint && !d->med) {
		snprintf(why, whylen, "finding it needs the mediator, which the running tund has not: "
			 "restart tund to apply");
		return -EINVAL;
	}
	int rc = place(d, cp, &addr, why, whylen);
	if (rc)
		return rc;
	rc = peers_add(d->peers, cp, addr, &p);
	if (rc == 0 && live)
		rc = resolve_attach(d, p);
	if (rc) {
		if (p)
			peers_remove(d->peers, p);
		snprintf(why, whylen, "%s", strerror(-rc));
		return rc;
	}
	p->from_clients_file = from_file;
	addr_format(a, addr);
	if (live && cp->role == CFG_ROLE_PEER && tunif_route(&d->tun, addr, 32) < 0)
		log_warn("peer %s: no route to %s through %s: packets to it will not reach tund", cp->name, a,
			 d->tun.name);
	if (live && p->rs)
		resolve_start(d, p);
	else if (live)
		send_handshake_init(d, p);
	if (out)
		*out = p;
	return 0;
}

/* ----------------------------------------------------- the clients file */

/* The clients file under the running state_directory; *present false (and
 * 0) when the directory does not exist. */
static int clients_file(const struct daemon *d, char path[PATH_MAX], bool *present)
{
	struct stat st;
	*present = false;
	if (clients_path(path, PATH_MAX, d->cfg.state_directory) < 0)
		return -ENAMETOOLONG;
	*present = stat(d->cfg.state_directory, &st) == 0 && S_ISDIR(st.st_mode);
	return 0;
}

static int load_clients(const struct daemon *d, struct clients *cl, char *err, size_t errlen)
{
	char path[PATH_MAX];
	bool present;
	memset(cl, 0, sizeof(*cl));
	int rc = clients_file(d, path, &present);
	if (rc) {
		snprintf(err, errlen, "%s: state_directory too long", d->cfg.state_directory);
		return rc;
	}
	return present ? clients_load(cl, path, err, errlen) : 0;
}

/* The config section that overrides a clients file entry (same key, or
 * same name), or NULL. */
static const struct cfg_peer *overridden(const struct cfg *c, const struct clients_entry *e)
{
	for (size_t i = 0; i < c->n_peers; i++) {
		const struct cfg_peer *cp = &c->peers[i];
		if ((cp->has_key && memcmp(cp->key, e->key, KEY_LEN) == 0) || strcmp(cp->name, e->name) == 0)
			return cp;
	}
	return NULL;
}

static void entry_cfg(struct cfg_peer *cp, const struct clients_entry *e)
{
	memset(cp, 0, sizeof(*cp));
	snprintf(cp->name, sizeof(cp->name), "%s", e->name);
	cp->role = CFG_ROLE_CLIENT;
	cp->line = e->line;
	cp->has_key = true;
	memcpy(cp->key, e->key, KEY_LEN);
}

/* Whether entry e is used with config c; says why not. */
static bool entry_usable(const struct cfg *c, const struct cfg *running, const struct clients_entry *e,
			 struct report *r)
{
	const struct cfg_peer *cp = overridden(c, e);
	if (cp && strcmp(cp->name, e->name) == 0 && (!cp->has_key || memcmp(cp->key, e->key, KEY_LEN) != 0)) {
		say(r, LOG_LVL_WARN, "skipped: clients file entry \"%s\": the name is taken by [%s \"%s\"] in %s "
		    "(revoke it by its key, and allow the key under another name)", e->name,
		    role_name(cp->role), cp->name, c->path);
		return false;
	}
	if (cp) {
		say(r, LOG_LVL_INFO, "skipped: clients file entry \"%s\": its key is [%s \"%s\"] in %s, which "
		    "applies", e->name, role_name(cp->role), cp->name, c->path);
		return false;
	}
	if (!running->has_client_pool) {
		say(r, LOG_LVL_WARN, "skipped: clients file entry \"%s\": [tund] has no client_pool", e->name);
		return false;
	}
	return true;
}

int reload_saved_clients(struct daemon *d, char *err, size_t errlen)
{
	struct clients cl;
	int rc = load_clients(d, &cl, err, errlen);
	if (rc)
		return rc;
	for (size_t i = 0; i < cl.n; i++) {
		const struct clients_entry *e = &cl.v[i];
		struct cfg_peer cp;
		struct peer *p;
		char why[256], a[ADDR_STR_LEN];
		if (!entry_usable(&d->cfg, &d->cfg, e, NULL))
			continue;
		entry_cfg(&cp, e);
		if (add_peer(d, &cp, true, false, &p, why, sizeof(why)) < 0) {
			log_warn("clients file entry \"%s\": not added: %s", e->name, why);
			continue;
		}
		addr_format(a, p->addr);
		log_info("client %s (system %s) appears at %s (clients file)", e->name, p->system_id, a);
	}
	clients_free(&cl);
	return 0;
}

/* ------------------------------------------------------------ reloads */

/* A wanted peer: a config section or a clients file entry. */
struct want {
	struct cfg_peer cp;
	bool from_file;
	bool kept;                        /* a live peer matches it unchanged */
	bool replaces;                    /* it replaces a changed live peer */
	bool has_ts;                      /* that peer's key and last handshake */
	uint8_t key[KEY_LEN];             /* timestamp, kept so that its old */
	uint8_t last_ts[WIRE_TAI64N_LEN]; /* initiations stay replays */
};

struct wants {
	struct want *v;
	size_t n;
};

static void wants_free(struct wants *w)
{
	if (w->v) {
		sodium_memzero(w->v, w->n * sizeof(w->v[0])); /* preshared keys */
		free(w->v);
	}
	w->v = NULL;
	w->n = 0;
}

static int build_wants(const struct daemon *d, const struct cfg *nc, const struct clients *cl, struct report *r,
		       struct wants *w)
{
	w->n = 0;
	w->v = calloc(nc->n_peers + cl->n + 1, sizeof(w->v[0]));
	if (!w->v)
		return -ENOMEM;
	for (size_t i = 0; i < nc->n_peers; i++)
		w->v[w->n++].cp = nc->peers[i];
	for (size_t i = 0; i < cl->n; i++) {
		if (!entry_usable(nc, &d->cfg, &cl->v[i], r))
			continue;
		entry_cfg(&w->v[w->n].cp, &cl->v[i]);
		w->v[w->n++].from_file = true;
	}
	return 0;
}

static struct want *find_want(struct wants *w, const struct cfg_peer *cp)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->v[i].cp.role == cp->role && strcmp(w->v[i].cp.name, cp->name) == 0)
			return &w->v[i];
	return NULL;
}

/* One live peer against what is wanted: kept, or removed (to be added
 * again when it changed). Returns true when kept. */
static bool reconcile(struct daemon *d, struct peer *p, struct wants *w, struct report *r)
{
	struct want *x = find_want(w, &p->cfg);
	const char *role = role_name(p->cfg.role);
	if (!x) {
		say(r, LOG_LVL_INFO, "removed %s \"%s\"", role, p->cfg.name);
		peers_remove(d->peers, p);
		return false;
	}
	unsigned ch = reload_peer_changes(&p->cfg, &x->cp);
	if (ch) {
		char what[96];
		reload_changes_format(ch, what, sizeof(what));
		say(r, LOG_LVL_INFO, "changed %s \"%s\" (%s): starting it again", role, p->cfg.name, what);
		x->replaces = true;
		if (p->has_key) {
			x->has_ts = true;
			memcpy(x->key, p->cfg.key, KEY_LEN);
			memcpy(x->last_ts, p->last_ts, sizeof(x->last_ts));
		}
		peers_remove(d->peers, p);
		return false;
	}
	x->kept = true;
	p->cfg.line = x->cp.line;
	if (p->from_clients_file != x->from_file)
		say(r, LOG_LVL_INFO, "%s \"%s\" now comes from %s", role, p->cfg.name,
		    x->from_file ? "the clients file" : d->cfg.path);
	p->from_clients_file = x->from_file;
	return true;
}

static int apply_peers(struct daemon *d, struct wants *w, struct report *r)
{
	size_t n = peers_count(d->peers), kept = 0;
	struct peer **live = calloc(n + 1, sizeof(*live));
	if (!live)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		live[i] = peers_at(d->peers, i);
	/* Removals first: a new or changed peer may take a key, a name or an
	 * address a removed one leaves. */
	for (size_t i = 0; i < n; i++)
		kept += reconcile(d, live[i], w, r);
	free(live);
	for (size_t i = 0; i < w->n; i++) {
		struct want *x = &w->v[i];
		struct peer *p;
		char why[256], a[ADDR_STR_LEN];
		if (x->kept)
			continue;
		if (add_peer(d, &x->cp, x->from_file, true, &p, why, sizeof(why)) < 0) {
			say(r, LOG_LVL_WARN, "failed: %s \"%s\": %s", role_name(x->cp.role), x->cp.name, why);
			continue;
		}
		if (x->has_ts && p->has_key && memcmp(p->cfg.key, x->key, KEY_LEN) == 0)
			memcpy(p->last_ts, x->last_ts, sizeof(p->last_ts));
		addr_format(a, p->addr);
		if (!x->replaces)
			say(r, LOG_LVL_INFO, "added %s \"%s\" at %s", role_name(x->cp.role), x->cp.name, a);
	}
	say(r, LOG_LVL_INFO, "unchanged: %zu peer(s) and client(s)", kept);
	return 0;
}

/* The private key file may hold another key under the same name. */
static void check_private_key(const struct daemon *d, const char *path, struct report *r)
{
	uint8_t priv[KEY_LEN], pub[KEY_LEN];
	char err[CFG_ERR_MAX];
	if (key_read_file(priv, path, err, sizeof(err)) < 0)
		say(r, LOG_LVL_WARN, "private_key_file: %s; the running key stays", err);
	else if (key_public(pub, priv) == 0 && memcmp(pub, d->self.pub, KEY_LEN) != 0)
		say(r, LOG_LVL_WARN, "the private key in %s changed: restart tund to apply", path);
	sodium_memzero(priv, sizeof(priv));
}

static void apply_tund(struct daemon *d, const struct cfg *nc, struct report *r)
{
	const char *keys[RELOAD_TUND_KEYS_MAX];
	size_t n = reload_tund_changes(&d->cfg, nc, keys, RELOAD_TUND_KEYS_MAX);
	for (size_t i = 0; i < n; i++)
		say(r, LOG_LVL_WARN, "%s changed: restart tund to apply", keys[i]);
	if (strcmp(d->cfg.private_key_file, nc->private_key_file) == 0)
		check_private_key(d, nc->private_key_file, r);
	if (nc->log_level != d->cfg.log_level) {
		/* log.h's one process-wide setting: main() set it from the
		 * config, and this is that config again. */
		d->cfg.log_level = nc->log_level;
		log_set_level((enum log_level)nc->log_level);
		say(r, LOG_LVL_INFO, "log_level changed: applied");
	}
	if (nc->nat_keepalive != d->cfg.nat_keepalive) {
		d->cfg.nat_keepalive = nc->nat_keepalive;
		/* Re-arms each peer's keepalive deadline from its last send
		 * under the new interval (a later one just fires early once). */
		for (size_t i = 0; i < peers_count(d->peers); i++)
			timers_any_sent(peers_at(d->peers, i));
		say(r, LOG_LVL_INFO, "nat_keepalive changed: applied");
	}
}

/* Everything that can fail without a trace first (see the top). */
static int apply(struct daemon *d, struct report *r, char *err, size_t errlen)
{
	struct cfg nc;
	struct clients cl;
	struct wants w = { 0 };
	int rc = cfg_parse_file(&nc, d->cfg.path, err, errlen);
	if (rc)
		return rc;
	rc = load_clients(d, &cl, err, errlen);
	if (rc) {
		cfg_free(&nc);
		return rc;
	}
	say(r, LOG_LVL_INFO, "reloaded %s", d->cfg.path);
	rc = build_wants(d, &nc, &cl, r, &w);
	if (!rc) {
		apply_tund(d, &nc, r);
		rc = apply_peers(d, &w, r);
	}
	if (rc)
		snprintf(err, errlen, "%s", strerror(-rc));
	wants_free(&w);
	clients_free(&cl);
	if (!rc) {
		struct cfg_peer *old = d->cfg.peers;
		size_t n_old = d->cfg.n_peers;
		d->cfg.peers = nc.peers;
		d->cfg.n_peers = nc.n_peers;
		nc.peers = old;
		nc.n_peers = n_old;
	}
	cfg_free(&nc); /* the sections no longer used, wiped */
	return rc;
}

int reload_run(struct daemon *d, char *out, size_t outlen)
{
	struct report r = { .buf = out, .len = outlen };
	char err[CFG_ERR_MAX];
	if (outlen)
		out[0] = '\0';
	if (d->stopping) {
		snprintf(out, outlen, "tund is shutting down");
		return -ESHUTDOWN;
	}
	sdnotify_reloading();
	int rc = apply(d, &r, err, sizeof(err));
	if (rc) {
		log_error("reload: %s; still running with the previous configuration", err);
		snprintf(out, outlen, "%s; still running with the previous configuration", err);
		sdnotify_ready("reload failed; running the previous configuration");
		return rc;
	}
	char status[128]; /* the words main() uses at start, so systemctl status stays current */
	snprintf(status, sizeof(status), "interface %s up, %zu peer(s); configuration reloaded", d->tun.name,
		 peers_count(d->peers));
	sdnotify_ready(status);
	return 0;
}

void reload_signal(struct daemon *d)
{
	char out[1024]; /* everything is logged; the report itself goes nowhere */
	log_info("SIGHUP: reloading %s", d->cfg.path);
	reload_run(d, out, sizeof(out));
}

/* ------------------------------------------------------- allow, revoke */

/* The clients file, loaded; -ENOENT (out says so) without a state
 * directory: without it nothing outlives a restart. */
static int open_list(const struct daemon *d, struct clients *cl, char path[PATH_MAX], char *out, size_t outlen)
{
	bool present;
	memset(cl, 0, sizeof(*cl));
	int rc = clients_file(d, path, &present);
	if (rc) {
		snprintf(out, outlen, "%s: state_directory too long", d->cfg.state_directory);
		return rc;
	}
	if (!present) {
		snprintf(out, outlen, "no state directory: %s does not exist (create it, or set state_directory "
			 "in [tund] and restart tund); allowed clients are kept there", d->cfg.state_directory);
		return -ENOENT;
	}
	return clients_load(cl, path, out, outlen);
}

int reload_allow(struct daemon *d, const char *key_b64, const char *name, char *out, size_t outlen)
{
	uint8_t key[KEY_LEN];
	char dflt[CFG_NAME_MAX], path[PATH_MAX], why[256], a[ADDR_STR_LEN], b64[KEY_B64_LEN + 1];
	struct clients cl;
	struct cfg_peer cp;
	struct peer *p;
	if (key_from_base64(key, key_b64) < 0 || sodium_is_zero(key, KEY_LEN)) {
		snprintf(out, outlen, "\"%.60s\" is not a base64 public key (44 characters)", key_b64);
		return -EINVAL;
	}
	if (!name) {
		clients_default_name(dflt, key);
		name = dflt;
	}
	if (!clients_name_ok(name)) {
		snprintf(out, outlen, "\"%.64s\" is not a valid name (1..63 characters of A-Z a-z 0-9 . _ -)", name);
		return -EINVAL;
	}
	p = peers_by_key(d->peers, key);
	if (p) {
		snprintf(out, outlen, "that key is already allowed, as %s \"%s\" (from %s)", role_name(p->cfg.role),
			 p->cfg.name, p->from_clients_file ? "the clients file" : d->cfg.path);
		return -EEXIST;
	}
	p = by_name(d, name);
	if (p) {
		snprintf(out, outlen, "the name \"%s\" is taken by a %s; choose another: tunctl allow KEY NAME", name,
			 role_name(p->cfg.role));
		return -EEXIST;
	}
	int rc = open_list(d, &cl, path, out, outlen);
	if (rc)
		return rc;
	rc = clients_add(&cl, name, key);
	if (rc == -EEXIST)
		snprintf(out, outlen, "%s already lists that key or name (it changed since tund read it: run "
			 "tunctl reload)", path);
	else if (rc)
		snprintf(out, outlen, "cannot add to %s: %s", path, strerror(-rc));
	if (rc)
		goto out;
	memset(&cp, 0, sizeof(cp));
	entry_cfg(&cp, &cl.v[cl.n - 1]);
	/* Live first: its failures leave no trace, and a failed save is
	 * undone by removing the peer again. */
	rc = add_peer(d, &cp, true, true, &p, why, sizeof(why));
	if (rc) {
		snprintf(out, outlen, "cannot add client \"%s\": %s", name, why);
		goto out;
	}
	rc = clients_save(&cl, path, out, outlen);
	if (rc) {
		peers_remove(d->peers, p);
		goto out;
	}
	addr_format(a, p->addr);
	key_to_base64(b64, key);
	snprintf(out, outlen, "allowed client \"%s\" (%s) at %s; saved in %s", name, b64, a, path);
	log_info("%s", out);
out:
	clients_free(&cl);
	return rc;
}

int reload_revoke(struct daemon *d, const char *what, char *out, size_t outlen)
{
	uint8_t key[KEY_LEN];
	char path[PATH_MAX], name[CFG_NAME_MAX];
	struct clients cl;
	bool is_key = key_from_base64(key, what) == 0;
	if (!is_key && !clients_name_ok(what)) {
		snprintf(out, outlen, "\"%.64s\" is neither a public key nor a client name", what);
		return -EINVAL;
	}
	struct peer *p = is_key ? peers_by_key(d->peers, key) : by_name(d, what);
	if (p && !p->from_clients_file) {
		snprintf(out, outlen, "%s \"%s\" comes from the config file %s, not from tunctl allow: edit the "
			 "config and reload", role_name(p->cfg.role), p->cfg.name, d->cfg.path);
		return -EPERM;
	}
	int rc = open_list(d, &cl, path, out, outlen);
	if (rc)
		return rc;
	long i = clients_find(&cl, is_key ? NULL : what, is_key ? key : NULL);
	if (i < 0 && !p) {
		snprintf(out, outlen, "unknown client \"%.64s\": no client of that %s was added with tunctl allow",
			 what, is_key ? "key" : "name");
		rc = -ENOENT;
		goto out;
	}
	snprintf(name, sizeof(name), "%s", i >= 0 ? cl.v[i].name : p->cfg.name);
	if (i >= 0) {
		clients_remove(&cl, (size_t)i);
		rc = clients_save(&cl, path, out, outlen);
		if (rc)
			goto out; /* still allowed, in the file and live */
	}
	if (p)
		peers_remove(d->peers, p);
	snprintf(out, outlen, "revoked client \"%s\": %s%s", name,
		 i >= 0 ? "removed from the clients file" : "it was no longer in the clients file",
		 p ? "; its session was dropped" : " (it was not active)");
	log_info("%s", out);
out:
	clients_free(&cl);
	return rc;
}
