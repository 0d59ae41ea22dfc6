/*
 * config.c - tund.conf into struct cfg (format in config.h, every key and
 * range in docs/tund.conf.md).
 *
 * inih splits "key = value" lines, reading through our own line reader
 * (read_line_cb): Debian's inih gives the handler no line number, so the
 * reader counts lines; inih keeps 50 bytes of a section name and is silent
 * about a section without keys, so the reader parses [section] headers;
 * inih reads an indented line as the continuation of the previous value,
 * so the reader strips indentation (tund has no multi-line values). It
 * also cuts comments and refuses control characters and lines longer than
 * inih's buffer, which inih would silently split in two.
 *
 * Invariants: only the first error is kept, and reading stops there. Each
 * value is checked as it is read; rules that span keys (required keys,
 * client_pool, uniqueness) run at the end, in file order, in
 * config_check.c (config_parse.h is what the two files share). Key material is
 * never put in a message, and every buffer that held a preshared key (the
 * peer array, inih's line buffer, the stdio buffer) is wiped.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>
#include <sodium.h>

#include "config.h"
#include "config_parse.h"
#include "iniread.h"
#include "httpmsg.h"
#include "medproto.h"

static const char *const tund_keys[TK_N] = {
	"private_key_file", "interface", "address", "listen_port", "mtu",
	"control_socket", "client_pool", "log_level", "mediator", "mediator_key",
	"nat_keepalive", "relay", "relay_key", "relay_pool", "http_proxy", "state_directory",
	"lan_discovery", "offload", "crypto_threads",
};

static const char *const peer_keys[PK_N] = {
	"key", "address", "endpoint", "preshared_key", "persistent_keepalive", "system",
};

static const char *const publish_keys[UK_N] = { "server_id" };

static const char *const log_levels[] = { "error", "warn", "info", "debug" };

/* 'tund', 'peer "NAME"' or 'client "NAME"'. */
void cfg_sect_desc(const struct pstate *ps, long idx, char out[CFG_SECT_BUF])
{
	const struct cfg_peer *p = idx >= 0 ? &ps->c->peers[idx] : NULL;

	if (idx == CUR_PUBLISH)
		snprintf(out, CFG_SECT_BUF, "publish");
	else if (!p)
		snprintf(out, CFG_SECT_BUF, "tund");
	else
		snprintf(out, CFG_SECT_BUF, "%s \"%s\"",
			 p->role == CFG_ROLE_PEER ? "peer" : "client", p->name);
}

/* Records the first error as "PATH:LINE: [SECTION] KEY: message"; line 0
 * drops ":LINE", idx CUR_NONE drops the section, key NULL drops the key. */
void cfg_fail(struct pstate *ps, int rc, int line, long idx, const char *key,
		 const char *fmt, ...)
{
	char num[16] = "", sect[CFG_SECT_BUF + 2] = "", k[CFG_QUOTE_BUF] = "", msg[CFG_ERR_MAX];
	va_list ap;

	if (ps->rc)
		return;
	ps->rc = rc;
	ps->err_line = line;
	if (!ps->err || ps->errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(num, sizeof(num), ":%d", line);
	if (idx != CUR_NONE) {
		cfg_sect_desc(ps, idx, sect + 1);
		sect[0] = '[';
		strcat(sect, "]");
	}
	if (key)
		iniread_escape(k, sizeof(k), key, CFG_QUOTE_MAX, false);
	snprintf(ps->err, ps->errlen, "%s%s: %s%s%s%s%s", ps->c->path, num, sect,
		 *sect && key ? " " : "", k, *sect || key ? ": " : "", msg);
}


static bool is_blank(int ch)
{
	return ch == ' ' || ch == '\t';
}

static bool name_char(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
}

/* Neither "this network" (0/8), loopback, multicast nor class E/broadcast:
 * an address tund can give to itself, a peer or a client. */
bool cfg_addr_usable(uint32_t a)
{
	uint8_t top = (uint8_t)(a >> 24);
	return top != 0 && top != 127 && top < 224;
}

static void set_uint(struct pstate *ps, const char *key, const char *value,
		     unsigned min, unsigned max, unsigned *out)
{
	unsigned v;
	int r = iniread_uint(value, max, &v);

	if (r == -EINVAL)
		bad(ps, key, "%s is not a number", ps->q);
	else if (r < 0 || v < min)
		bad(ps, key, "%s is out of range (%u..%u)", ps->q, min, max);
	else
		*out = v;
}

static void set_path(struct pstate *ps, const char *key, const char *value,
		     char *dst, size_t dstlen)
{
	if (value[0] != '/')
		bad(ps, key, "%s is not an absolute path", ps->q);
	else if (strlen(value) >= dstlen)
		bad(ps, key, "%s is too long (at most %zu characters)", ps->q, dstlen - 1);
	else
		memcpy(dst, value, strlen(value) + 1);
}

/* Stricter than the kernel's dev_valid_name(): a name that also works
 * unquoted in ip(8) commands and unit files. */
static void set_interface(struct pstate *ps, const char *value)
{
	size_t n = strlen(value);
	bool ok = n < IFNAMSIZ && strcmp(value, ".") != 0 && strcmp(value, "..") != 0;

	for (size_t i = 0; ok && i < n; i++)
		ok = name_char((unsigned char)value[i]);
	if (!ok)
		bad(ps, "interface", "%s is not a valid interface name "
		    "(1..%d characters of A-Z a-z 0-9 . _ -)", ps->q, IFNAMSIZ - 1);
	else
		memcpy(ps->c->interface, value, n + 1);
}

/* "a.b.c.d/len", len 8..32: the network of client_pool (no host bits), or
 * our own address, which must be a host of its prefix. */
static void set_prefix(struct pstate *ps, const char *key, const char *value, bool network,
		       uint32_t *a, unsigned *len)
{
	char net[ADDR_STR_LEN];
	uint32_t tmp;

	if (prefix_parse(a, len, value, true) < 0) {
		bad(ps, key, "%s %s (a.b.c.d/len)", ps->q, addr_parse(&tmp, value) == 0 ?
		    "has no prefix length" : "is not an IPv4 prefix");
		return;
	}
	uint32_t host = *a & ~prefix_mask(*len);
	addr_format(net, *a & prefix_mask(*len));
	if (*len < CFG_PREFIX_MIN)
		bad(ps, key, "%s: the prefix length must be %d..32", ps->q, CFG_PREFIX_MIN);
	else if (!cfg_addr_usable(*a))
		bad(ps, key, "%s is not a unicast address range", ps->q);
	else if (network && host)
		bad(ps, key, "%s has host bits set (did you mean %s/%u?)", ps->q, net, *len);
	/* On a /30 or wider the kernel gives these two broadcast meaning. */
	else if (!network && *len <= 30 && host == 0)
		bad(ps, key, "%s is the network address of its prefix, not a host address", ps->q);
	else if (!network && *len <= 30 && host == ~prefix_mask(*len))
		bad(ps, key, "%s is the broadcast address of its prefix", ps->q);
}

static void set_on_off(struct pstate *ps, const char *key, const char *value, bool *out)
{
	if (strcmp(value, "on") == 0)
		*out = true;
	else if (strcmp(value, "off") == 0)
		*out = false;
	else
		bad(ps, key, "%s is neither on nor off", ps->q);
}

static void set_log_level(struct pstate *ps, const char *value)
{
	for (size_t i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++) {
		if (strcmp(value, log_levels[i]) == 0) {
			ps->c->log_level = (enum cfg_log_level)i;
			return;
		}
	}
	bad(ps, "log_level", "%s is not a log level (error, warn, info, debug)", ps->q);
}

/* The value is never echoed: it may be a secret. */
static void set_key(struct pstate *ps, const char *name, const char *value, uint8_t out[KEY_LEN])
{
	if (key_from_base64(out, value) < 0)
		bad(ps, name, "not a valid base64 key (%d characters expected)", KEY_B64_LEN);
}

/* "host[:port]": a DNS name or dotted quad, resolved when used. */
static bool set_host_port(struct pstate *ps, const char *key, const char *value, unsigned port,
			  char host[CFG_HOST_MAX], uint16_t *port_out)
{
	const char *colon = strrchr(value, ':');
	size_t hlen = colon ? (size_t)(colon - value) : strlen(value);
	bool ok = hlen > 0 && hlen < CFG_HOST_MAX;

	for (size_t i = 0; ok && i < hlen; i++) {
		char ch = value[i];
		ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		     ch == '.' || ch == '-';
	}
	if (!ok) {
		bad(ps, key, "%s is not host[:port] (a host name or IPv4 address)", ps->q);
		return false;
	}
	if (colon && (iniread_uint(colon + 1, UINT16_MAX, &port) < 0 || port == 0)) {
		bad(ps, key, "%s: the port must be 1..65535", ps->q);
		return false;
	}
	memcpy(host, value, hlen);
	host[hlen] = '\0';
	*port_out = (uint16_t)port;
	return true;
}

static void set_proxy(struct pstate *ps, const char *key, const char *value)
{
	struct cfg *c = ps->c;
	const char *why = NULL;
	if (http_parse_proxy_url(value, c->http_proxy_host, sizeof(c->http_proxy_host),
				 &c->http_proxy_port, &why) < 0)
		bad(ps, key, "%s is not a proxy URL http://host[:port]: %s", ps->q, why);
	else
		c->has_http_proxy = true;
}

static int lookup(const char *const *names, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return -1;
}

static void tund_key(struct pstate *ps, int k, const char *value)
{
	struct cfg *c = ps->c;
	const char *name = tund_keys[k];
	unsigned v = 0;

	switch (k) {
	case TK_PRIVATE_KEY_FILE:
		set_path(ps, name, value, c->private_key_file, sizeof(c->private_key_file));
		break;
	case TK_INTERFACE:
		set_interface(ps, value);
		break;
	case TK_ADDRESS:
		set_prefix(ps, name, value, false, &c->address, &c->prefix_len);
		break;
	case TK_LISTEN_PORT:
		set_uint(ps, name, value, 0, UINT16_MAX, &v);
		c->listen_port = (uint16_t)v;
		break;
	case TK_MTU:
		set_uint(ps, name, value, CFG_MTU_MIN, CFG_MTU_MAX, &c->mtu);
		break;
	case TK_CONTROL_SOCKET:
		set_path(ps, name, value, c->control_socket, sizeof(c->control_socket));
		break;
	case TK_CLIENT_POOL:
		set_prefix(ps, name, value, true, &c->client_pool, &c->client_pool_len);
		c->has_client_pool = true;
		break;
	case TK_LOG_LEVEL:
		set_log_level(ps, value);
		break;
	case TK_MEDIATOR:
		c->has_mediator = set_host_port(ps, name, value, CFG_DEFAULT_MEDIATOR_PORT, c->mediator_host,
						&c->mediator_port);
		break;
	case TK_RELAY:
		c->has_relay = set_host_port(ps, name, value, CFG_DEFAULT_RELAY_PORT, c->relay_host,
					     &c->relay_port);
		break;
	case TK_RELAY_KEY:
		set_key(ps, name, value, c->relay_key);
		if (!ps->rc && sodium_is_zero(c->relay_key, KEY_LEN))
			bad(ps, name, "the all-zero key is not a public key");
		break;
	case TK_RELAY_POOL:
		set_uint(ps, name, value, 0, CFG_RELAY_POOL_MAX, &c->relay_pool);
		break;
	case TK_HTTP_PROXY:
		set_proxy(ps, name, value);
		break;
	case TK_STATE_DIRECTORY:
		set_path(ps, name, value, c->state_directory, sizeof(c->state_directory));
		break;
	case TK_LAN_DISCOVERY:
		set_on_off(ps, name, value, &c->lan_discovery);
		break;
	case TK_OFFLOAD:
		if (strcmp(value, "auto") == 0)
			c->offload = true;
		else if (strcmp(value, "off") == 0)
			c->offload = false;
		else
			bad(ps, name, "%s is neither auto nor off", ps->q);
		break;
	case TK_CRYPTO_THREADS:
		if (strcmp(value, "auto") == 0)
			c->crypto_threads = 0;
		else
			set_uint(ps, name, value, 1, CFG_CRYPTO_THREADS_MAX, &c->crypto_threads);
		break;
	case TK_MEDIATOR_KEY:
		set_key(ps, name, value, c->mediator_key);
		if (!ps->rc && sodium_is_zero(c->mediator_key, KEY_LEN))
			bad(ps, name, "the all-zero key is not a public key");
		break;
	case TK_NAT_KEEPALIVE:
		set_uint(ps, name, value, 0, CFG_KEEPALIVE_MAX, &c->nat_keepalive);
		break;
	}
}

static void publish_key(struct pstate *ps, int k, const char *value)
{
	if (k == UK_SERVER_ID && !medproto_server_id_ok(value))
		bad(ps, publish_keys[k], "%s is not a server id (1..%d characters of a-z 0-9 -, "
		    "not starting with -)", ps->q, CFG_SERVER_ID_MAX - 1);
	else if (k == UK_SERVER_ID)
		snprintf(ps->c->server_id, sizeof(ps->c->server_id), "%s", value);
}

static void peer_key(struct pstate *ps, int k, const char *value)
{
	struct cfg_peer *p = &ps->c->peers[ps->cur];
	const char *name = peer_keys[k];

	switch (k) {
	case PK_KEY:
		set_key(ps, name, value, p->key);
		if (!ps->rc && sodium_is_zero(p->key, KEY_LEN))
			bad(ps, name, "the all-zero key is not a public key");
		p->has_key = true;
		break;
	case PK_SYSTEM:
		if (medproto_target_parse(value, p->server_id, p->system_id) < 0)
			bad(ps, name, "%s is not a system id (UUID) or server_id.UUID", ps->q);
		p->has_system = true;
		break;
	case PK_ADDRESS:
		if (addr_parse(&p->address, value) < 0)
			bad(ps, name, "%s is not an IPv4 address", ps->q);
		else if (!cfg_addr_usable(p->address))
			bad(ps, name, "%s is not a usable unicast address", ps->q);
		break;
	case PK_ENDPOINT:
		if (endpoint_parse(&p->endpoint, value) < 0)
			bad(ps, name, "%s is not an IPv4 endpoint (a.b.c.d:port)", ps->q);
		else if (p->endpoint.addr >> 24 == 0 || p->endpoint.addr >> 24 >= 224)
			bad(ps, name, "%s is not a unicast address", ps->q);
		p->has_endpoint = true;
		break;
	case PK_PSK:
		set_key(ps, name, value, p->psk);
		p->has_psk = true;
		break;
	case PK_KEEPALIVE:
		set_uint(ps, name, value, 0, CFG_KEEPALIVE_MAX, &p->persistent_keepalive);
		break;
	}
}

/* inih calls this for each key = value. Its section argument is unused:
 * inih cuts it at 50 bytes, and the reader has tracked it already. */
static int handler_cb(void *user, const char *section, const char *name, const char *value)
{
	struct pstate *ps = user;
	bool tund = ps->cur == CUR_TUND, publish = ps->cur == CUR_PUBLISH;
	int k = tund ? lookup(tund_keys, TK_N, name) :
		publish ? lookup(publish_keys, UK_N, name) : lookup(peer_keys, PK_N, name);
	int *seen = NULL;

	(void)section;
	if (ps->rc)
		return 0;
	if (k >= 0 && ps->cur != CUR_NONE)
		seen = tund ? &ps->tund_key[k] : publish ? &ps->publish_key[k] : &ps->lines[ps->cur].key[k];
	if (!*name)
		bad_line(ps, "syntax error: '=' without a key name");
	else if (ps->cur == CUR_NONE)
		cfg_fail(ps, -EINVAL, ps->line, CUR_NONE, name,
		     "key outside a section (start with [tund])");
	else if (!seen)
		bad(ps, name, "unknown key");
	else if (!tund && !publish && ps->c->peers[ps->cur].role == CFG_ROLE_CLIENT &&
		 (k == PK_ENDPOINT || k == PK_KEEPALIVE || k == PK_SYSTEM))
		bad(ps, name, "not allowed in a [client] section (only in [peer])");
	else if (*seen)
		bad(ps, name, "duplicate key (first set at line %d)", *seen);
	else if (!*value)
		bad(ps, name, "empty value");
	if (ps->rc)
		return 0;
	*seen = ps->line;
	iniread_escape(ps->q, sizeof(ps->q), value, CFG_QUOTE_MAX, true);
	if (tund)
		tund_key(ps, k, value);
	else if (publish)
		publish_key(ps, k, value);
	else
		peer_key(ps, k, value);
	return ps->rc == 0;
}

/* Grows cfg.peers by copying, so that old copies of preshared keys are
 * wiped rather than left behind by realloc. */
static int grow(struct pstate *ps)
{
	struct cfg *c = ps->c;
	size_t cap = ps->cap ? ps->cap * 2 : 8;

	if (cap > CFG_SECTIONS_MAX)
		cap = CFG_SECTIONS_MAX;
	struct sect_lines *sl = realloc(ps->lines, cap * sizeof(*sl));
	if (!sl)
		return -ENOMEM;
	ps->lines = sl;
	struct cfg_peer *p = calloc(cap, sizeof(*p));
	if (!p)
		return -ENOMEM;
	if (c->peers) {
		memcpy(p, c->peers, c->n_peers * sizeof(*p));
		sodium_memzero(c->peers, c->n_peers * sizeof(*p));
		free(c->peers);
	}
	c->peers = p;
	ps->cap = cap;
	return 0;
}

/* NULL for a valid [peer]/[client] name, else what is wrong with it. */
static const char *name_problem(const char *name, size_t len)
{
	_Static_assert(CFG_NAME_MAX == 64, "the message below says 63");
	if (len == 0)
		return "the name is empty";
	if (len >= CFG_NAME_MAX)
		return "the name is longer than 63 characters";
	for (size_t i = 0; i < len; i++)
		if (!name_char((unsigned char)name[i]))
			return "a name may only contain A-Z a-z 0-9 . _ -";
	return NULL;
}

static void add_peer(struct pstate *ps, const char *hdr, enum cfg_role role,
		     const char *name, size_t len)
{
	struct cfg *c = ps->c;
	const char *why = name_problem(name, len);

	if (why) {
		bad_line(ps, "%s: %s", hdr, why);
		return;
	}
	for (size_t i = 0; i < c->n_peers; i++) {
		if (strlen(c->peers[i].name) == len && memcmp(c->peers[i].name, name, len) == 0) {
			char other[CFG_SECT_BUF];
			cfg_sect_desc(ps, (long)i, other);
			bad_line(ps, "%s: the name is taken by [%s] at line %d", hdr, other,
				 c->peers[i].line);
			return;
		}
	}
	if (c->n_peers == CFG_SECTIONS_MAX) {
		bad_line(ps, "%s: more than %d [peer] and [client] sections", hdr,
			 CFG_SECTIONS_MAX);
		return;
	}
	if (c->n_peers == ps->cap && grow(ps) < 0) {
		cfg_fail(ps, -ENOMEM, ps->line, CUR_NONE, NULL, "out of memory");
		return;
	}
	struct cfg_peer *p = &c->peers[c->n_peers];
	memset(p, 0, sizeof(*p));
	memcpy(p->name, name, len);
	p->role = role;
	p->line = ps->line;
	memset(&ps->lines[c->n_peers], 0, sizeof(ps->lines[0]));
	ps->cur = (long)c->n_peers++;
}

/* s is a whole line, trimmed, without comments, starting with '['. */
static void section_header(struct pstate *ps, const char *s)
{
	char hdr[CFG_QUOTE_BUF];
	const char *p = s + 1, *kind, *name = NULL;
	size_t klen, nlen = 0;

	iniread_escape(hdr, sizeof(hdr), s, CFG_QUOTE_MAX, false);
	while (is_blank(*p))
		p++;
	for (kind = p; (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'); p++)
		;
	klen = (size_t)(p - kind);
	bool tund = klen == 4 && memcmp(kind, "tund", 4) == 0;
	bool peer = klen == 4 && memcmp(kind, "peer", 4) == 0;
	bool client = klen == 6 && memcmp(kind, "client", 6) == 0;
	bool publish = klen == 7 && memcmp(kind, "publish", 7) == 0;
	if (!tund && !peer && !client && !publish) {
		bad_line(ps, "unknown section %s (expected [tund], [publish], [peer \"NAME\"] or "
			 "[client \"NAME\"])", hdr);
		return;
	}
	bool named = peer || client;
	while (is_blank(*p))
		p++;
	if (named) {
		if (*p != '"') {
			bad_line(ps, "%s: the name must be in double quotes: [%s \"NAME\"]", hdr,
				 peer ? "peer" : "client");
			return;
		}
		for (name = ++p; *p && *p != '"'; p++)
			;
		if (!*p) {
			bad_line(ps, "%s: missing closing quote", hdr);
			return;
		}
		nlen = (size_t)(p++ - name);
		while (is_blank(*p))
			p++;
	} else if (*p == '"') {
		bad_line(ps, "%s: [%s] takes no name", hdr, tund ? "tund" : "publish");
		return;
	}
	if (*p != ']' || p[1] != '\0') {
		bad_line(ps, "%s: %s", hdr,
			 *p == ']' ? "unexpected text after ']'" : "expected ']'");
		return;
	}
	if (named) {
		add_peer(ps, hdr, peer ? CFG_ROLE_PEER : CFG_ROLE_CLIENT, name, nlen);
	} else if (publish && ps->publish_line) {
		bad_line(ps, "%s: duplicate section (first at line %d)", hdr, ps->publish_line);
	} else if (publish) {
		ps->publish_line = ps->line;
		ps->c->publish = true;
		ps->cur = CUR_PUBLISH;
	} else if (ps->tund_line) {
		bad_line(ps, "%s: duplicate section (first at line %d)", hdr, ps->tund_line);
	} else {
		ps->tund_line = ps->line;
		ps->cur = CUR_TUND;
	}
}

/* inih's line source (iniread.h); section headers are parsed here, since
 * inih would cut their names. Stops inih (NULL) at the end or at the
 * first error. */
static char *read_line_cb(char *str, int num, void *stream)
{
	struct pstate *ps = stream;
	char why[96];
	int r = ps->rc ? 0 : iniread_line(&ps->src, str, num, why, sizeof(why));

	ps->line = ps->src.line;
	if (r == -EINVAL)
		bad_line(ps, "%s", why);
	else if (r == -EIO)
		cfg_fail(ps, -ps->src.err, 0, CUR_NONE, NULL, "read error: %s", strerror(ps->src.err));
	else if (r > 0 && str[0] == '[')
		section_header(ps, str);
	if (r > 0 && !ps->rc)
		return str;
	if (num > 0)
		sodium_memzero(str, (size_t)num); /* inih's buffer may hold a preshared key */
	return NULL;
}

/* Defaults (documented in docs/tund.conf.md) and an empty parse state. */
static void pstate_init(struct pstate *ps, struct cfg *c, const char *name,
			char *err, size_t errlen)
{
	memset(ps, 0, sizeof(*ps));
	ps->c = c;
	ps->cur = CUR_NONE;
	ps->err = err;
	ps->errlen = errlen;
	if (err && errlen)
		err[0] = '\0';
	memset(c, 0, sizeof(*c));
	snprintf(c->path, sizeof(c->path), "%s", name);
	snprintf(c->private_key_file, sizeof(c->private_key_file), "%s", CFG_DEFAULT_KEY_FILE);
	snprintf(c->interface, sizeof(c->interface), "%s", CFG_DEFAULT_INTERFACE);
	c->listen_port = CFG_DEFAULT_PORT;
	c->mtu = CFG_DEFAULT_MTU;
	snprintf(c->control_socket, sizeof(c->control_socket), "%s", CFG_DEFAULT_SOCKET);
	c->log_level = CFG_LOG_INFO;
	c->nat_keepalive = CFG_DEFAULT_NAT_KEEPALIVE;
	c->relay_pool = CFG_DEFAULT_RELAY_POOL;
	c->lan_discovery = true;
	c->offload = true;
	c->crypto_threads = 0;
	snprintf(c->state_directory, sizeof(c->state_directory), "%s", CFG_DEFAULT_STATE_DIR);
}

static int run(struct pstate *ps)
{
	int r = ini_parse_stream(read_line_cb, ps, handler_cb, ps);

	/* inih goes on after a syntax error, so ours may be from a later line. */
	if (r > 0 && (ps->rc == 0 || (ps->rc == -EINVAL && r < ps->err_line))) {
		ps->rc = 0;
		cfg_fail(ps, -EINVAL, r, CUR_NONE, NULL, "syntax error (expected \"key = value\", "
		     "a [section] header or a comment)");
	} else if (r < 0 && !ps->rc) {
		cfg_fail(ps, -ENOMEM, 0, CUR_NONE, NULL, "out of memory");
	}
	if (!ps->rc)
		cfg_validate(ps);
	free(ps->lines);
	ps->lines = NULL;
	sodium_memzero(ps->q, sizeof(ps->q));   /* may quote a key */
	if (ps->rc)
		cfg_free(ps->c);
	return ps->rc;
}

int cfg_parse_string(struct cfg *c, const char *name, const char *text, char *err, size_t errlen)
{
	struct pstate ps;

	pstate_init(&ps, c, name, err, errlen);
	iniread_init_text(&ps.src, text);
	return run(&ps);
}

int cfg_parse_file(struct cfg *c, const char *path, char *err, size_t errlen)
{
	struct pstate ps;
	char buf[BUFSIZ];   /* ours, so that the file's bytes can be wiped */

	pstate_init(&ps, c, path, err, errlen);
	FILE *f = fopen(path, "re");
	if (!f) {
		int e = errno;
		cfg_fail(&ps, -e, 0, CUR_NONE, NULL, "cannot open: %s", strerror(e));
		cfg_free(c);
		return -e;
	}
	setvbuf(f, buf, _IOFBF, sizeof(buf));
	iniread_init_file(&ps.src, f);
	int rc = run(&ps);
	fclose(f);
	sodium_memzero(buf, sizeof(buf));
	return rc;
}

void cfg_free(struct cfg *c)
{
	if (c->peers) {
		sodium_memzero(c->peers, c->n_peers * sizeof(c->peers[0]));
		free(c->peers);
	}
	sodium_memzero(c, sizeof(*c));
}
