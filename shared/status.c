/*
 * status.c - the status model's serializers (status.h, docs/control.md):
 * the line format tund sends over the control socket, its decoder, and the
 * text and JSON printers tunctl uses.
 *
 * Encoder and decoder walk the same field tables, so a field added to a
 * table is sent and read back without further code. The line format can
 * carry no newline inside a value, so the encoder replaces every control
 * character with '?', and the decoder rejects any line that holds one:
 * a decoded status never contains control characters. The decoder sees
 * bytes from another process; it checks each line against the length it
 * was given, never reads past it, and leaves *st empty on failure (which
 * is -EBADMSG, or -ENOMEM when the peer array cannot grow).
 */
#include "status.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum field_type { F_STR, F_U16, F_U64, F_I64 };

struct field {
	const char *key;
	enum field_type type;
	size_t off;
	size_t size;   /* F_STR: capacity including the NUL */
};

#define FIELD(st, t, name) { #name, t, offsetof(struct st, name), sizeof(((struct st *)0)->name) }

static const struct field TOP_FIELDS[] = {
	FIELD(status, F_STR, interface),
	FIELD(status, F_STR, public_key),
	FIELD(status, F_STR, system_id),
	FIELD(status, F_STR, address),
	FIELD(status, F_U16, listen_port),
	FIELD(status, F_STR, mediator_state),
	FIELD(status, F_STR, mediator),
	FIELD(status, F_STR, relay_state),
	FIELD(status, F_STR, relay),
	FIELD(status, F_STR, proxy),
	FIELD(status, F_STR, datapath),
};

static const struct field PEER_FIELDS[] = {
	/* "peer NAME" opens the record and carries the name. */
	FIELD(status_peer, F_STR, role),
	FIELD(status_peer, F_STR, public_key),
	FIELD(status_peer, F_STR, system_id),
	FIELD(status_peer, F_STR, address),
	FIELD(status_peer, F_STR, endpoint),
	FIELD(status_peer, F_STR, path),
	FIELD(status_peer, F_STR, path_detail),
	FIELD(status_peer, F_STR, standby),
	FIELD(status_peer, F_STR, last_switch),
	FIELD(status_peer, F_U64, switches),
	FIELD(status_peer, F_STR, state),
	FIELD(status_peer, F_STR, error),
	FIELD(status_peer, F_STR, candidates),
	FIELD(status_peer, F_I64, last_handshake),
	FIELD(status_peer, F_U64, rx_bytes),
	FIELD(status_peer, F_U64, tx_bytes),
	FIELD(status_peer, F_U64, rx_packets),
	FIELD(status_peer, F_U64, tx_packets),
	FIELD(status_peer, F_U64, rx_replayed),
	FIELD(status_peer, F_U64, rx_auth_failed),
	FIELD(status_peer, F_I64, rtt_us),
};

#define N_TOP (sizeof(TOP_FIELDS) / sizeof(TOP_FIELDS[0]))
#define N_PEER (sizeof(PEER_FIELDS) / sizeof(PEER_FIELDS[0]))

static bool is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* ---- encoder ---- */

/* Writes "key" or "key value" and a newline; s holds at most max bytes. */
static void put_str(FILE *f, const char *key, const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	fputs(key, f);
	if (n > 0)
		fputc(' ', f);
	for (size_t i = 0; i < n; i++)
		fputc(is_control((unsigned char)s[i]) ? '?' : s[i], f);
	fputc('\n', f);
}

static void put_fields(FILE *f, const void *obj, const struct field *tab, size_t n)
{
	const char *base = obj;
	for (size_t i = 0; i < n; i++) {
		const void *p = base + tab[i].off;
		switch (tab[i].type) {
		case F_STR:
			put_str(f, tab[i].key, p, tab[i].size);
			break;
		case F_U16:
			fprintf(f, "%s %u\n", tab[i].key, (unsigned)*(const uint16_t *)p);
			break;
		case F_U64:
			fprintf(f, "%s %" PRIu64 "\n", tab[i].key, *(const uint64_t *)p);
			break;
		case F_I64:
			fprintf(f, "%s %" PRId64 "\n", tab[i].key, *(const int64_t *)p);
			break;
		}
	}
}

int status_encode(const struct status *st, char **out)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	put_fields(f, st, TOP_FIELDS, N_TOP);
	for (size_t i = 0; i < st->n_counters && i < STATUS_MAX_COUNTERS; i++) {
		const struct status_counter *c = &st->counters[i];
		char line[sizeof("counter ") + STATUS_COUNTER_NAME];
		/* The decoder takes the name up to the last space and refuses an
		 * empty one, so a nameless counter is not sent at all. */
		if (c->name[0] == '\0')
			continue;
		snprintf(line, sizeof(line), "counter %.*s", STATUS_COUNTER_NAME - 1, c->name);
		for (char *p = line; *p; p++)
			if (is_control((unsigned char)*p))
				*p = '?';
		fprintf(f, "%s %" PRIu64 "\n", line, c->value);
	}
	for (size_t i = 0; i < st->n_peers; i++) {
		put_str(f, "peer", st->peers[i].name, sizeof(st->peers[i].name));
		put_fields(f, &st->peers[i], PEER_FIELDS, N_PEER);
	}
	bool failed = ferror(f);
	if (fclose(f) != 0 || failed) {
		free(buf);
		return -ENOMEM;
	}
	*out = buf;
	return 0;
}

/* ---- decoder ---- */

struct decoder {
	struct status *st;
	size_t peers_cap;
	unsigned line;
	char *err;
	size_t errlen;
};

static int fail(struct decoder *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct decoder *d, const char *fmt, ...)
{
	char msg[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(d->err, d->errlen, "line %u: %s", d->line, msg);
	return -EBADMSG;
}

/* Strict decimal: digits only, no sign, no spaces; 0 or -ERANGE/-EINVAL. */
static int parse_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	if (len == 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		unsigned digit = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - digit) / 10)
			return -ERANGE;
		v = v * 10 + digit;
	}
	*out = v;
	return 0;
}

static int parse_i64(const char *s, size_t len, int64_t *out)
{
	bool neg = len > 0 && s[0] == '-';
	uint64_t v;
	int rc = parse_u64(s + neg, len - neg, &v);
	if (rc < 0)
		return rc;
	if (v > (uint64_t)INT64_MAX + neg)
		return -ERANGE;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

static int set_field(struct decoder *d, void *obj, const struct field *fl, const char *val, size_t vlen)
{
	char *p = (char *)obj + fl->off;
	uint64_t u = 0;
	int64_t i = 0;
	int rc = 0;
	switch (fl->type) {
	case F_STR:
		if (vlen >= fl->size)
			return fail(d, "%s: value longer than %zu bytes", fl->key, fl->size - 1);
		memcpy(p, val, vlen);
		p[vlen] = '\0';
		return 0;
	case F_U16:
		rc = parse_u64(val, vlen, &u);
		if (rc == 0 && u > UINT16_MAX)
			rc = -ERANGE;
		if (rc == 0)
			*(uint16_t *)p = (uint16_t)u;
		break;
	case F_U64:
		rc = parse_u64(val, vlen, &u);
		if (rc == 0)
			*(uint64_t *)p = u;
		break;
	case F_I64:
		rc = parse_i64(val, vlen, &i);
		if (rc == 0)
			*(int64_t *)p = i;
		break;
	}
	if (rc == -ERANGE)
		return fail(d, "%s: \"%.*s\" is out of range", fl->key, (int)(vlen > 40 ? 40 : vlen), val);
	if (rc < 0)
		return fail(d, "%s: \"%.*s\" is not a decimal number", fl->key,
			    (int)(vlen > 40 ? 40 : vlen), val);
	return 0;
}

static int open_peer(struct decoder *d, const char *name, size_t nlen)
{
	struct status *st = d->st;
	if (nlen >= CFG_NAME_MAX)
		return fail(d, "peer: name longer than %d bytes", CFG_NAME_MAX - 1);
	if (st->n_peers == d->peers_cap) {
		size_t cap = d->peers_cap ? d->peers_cap * 2 : 8;
		struct status_peer *np = realloc(st->peers, cap * sizeof(*np));
		if (!np)
			return -ENOMEM;
		st->peers = np;
		d->peers_cap = cap;
	}
	struct status_peer *p = &st->peers[st->n_peers++];
	memset(p, 0, sizeof(*p));
	memcpy(p->name, name, nlen);
	p->rtt_us = -1;
	return 0;
}

/* "counter NAME VALUE": the name runs to the last space. Counters past
 * STATUS_MAX_COUNTERS are ignored, like unknown keys, so a newer daemon
 * with more counters does not break an older tunctl. */
static int set_counter(struct decoder *d, const char *val, size_t vlen)
{
	const char *sp = vlen ? memrchr(val, ' ', vlen) : NULL;
	if (!sp || sp == val)
		return fail(d, "counter: expected \"counter NAME VALUE\"");
	size_t nlen = (size_t)(sp - val);
	uint64_t v;
	if (nlen >= STATUS_COUNTER_NAME)
		return fail(d, "counter: name longer than %d bytes", STATUS_COUNTER_NAME - 1);
	if (parse_u64(sp + 1, vlen - nlen - 1, &v) < 0)
		return fail(d, "counter %.*s: value is not a decimal number", (int)nlen, val);

	struct status *st = d->st;
	size_t i = 0;
	while (i < st->n_counters && !(strlen(st->counters[i].name) == nlen &&
					memcmp(st->counters[i].name, val, nlen) == 0))
		i++;
	if (i == STATUS_MAX_COUNTERS)
		return 0;
	if (i == st->n_counters) {
		memcpy(st->counters[i].name, val, nlen);
		st->counters[i].name[nlen] = '\0';
		st->n_counters++;
	}
	st->counters[i].value = v;
	return 0;
}

static bool valid_key(const char *k, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9') || k[i] == '_'))
			return false;
	return true;
}

static bool key_is(const char *k, size_t len, const char *want)
{
	return strlen(want) == len && memcmp(k, want, len) == 0;
}

/* Splits "key value" (or "key"): the key is s[0..*klen). */
static int split_line(struct decoder *d, const char *s, size_t len, size_t *klen, const char **val,
		      size_t *vlen)
{
	for (size_t i = 0; i < len; i++)
		if (is_control((unsigned char)s[i]))
			return fail(d, "control character in line");
	const char *sp = memchr(s, ' ', len);
	*klen = sp ? (size_t)(sp - s) : len;
	*val = sp ? sp + 1 : s + len;
	*vlen = len - *klen - (sp != NULL);
	if (!valid_key(s, *klen))
		return fail(d, "expected \"key value\" with a key of a-z, 0-9 and _");
	return 0;
}

static int decode_line(struct decoder *d, const char *s, size_t len)
{
	size_t klen, vlen;
	const char *val;
	int rc = split_line(d, s, len, &klen, &val, &vlen);
	if (rc < 0)
		return rc;

	if (key_is(s, klen, "peer"))
		return open_peer(d, val, vlen);
	if (key_is(s, klen, "counter"))
		return set_counter(d, val, vlen);

	struct status *st = d->st;
	void *obj = st->n_peers ? (void *)&st->peers[st->n_peers - 1] : (void *)st;
	const struct field *tab = st->n_peers ? PEER_FIELDS : TOP_FIELDS;
	size_t n = st->n_peers ? N_PEER : N_TOP;
	for (size_t i = 0; i < n; i++)
		if (key_is(s, klen, tab[i].key))
			return set_field(d, obj, &tab[i], val, vlen);
	return 0;
}

int status_decode(struct status *st, const char *text, size_t len, char *err, size_t errlen)
{
	struct decoder d = { .st = st, .err = err, .errlen = errlen };
	memset(st, 0, sizeof(*st));
	size_t off = 0;
	while (off < len) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t end = nl ? (size_t)(nl - text) : len;
		d.line++;
		int rc = decode_line(&d, text + off, end - off);
		if (rc < 0) {
			if (rc == -ENOMEM)
				snprintf(err, errlen, "line %u: out of memory", d.line);
			status_free(st);
			return rc;
		}
		off = end + 1;
	}
	return 0;
}

void status_free(struct status *st)
{
	free(st->peers);
	memset(st, 0, sizeof(*st));
}

/* ---- flat records: ping and connect replies ---- */

static const struct field PING_FIELDS[] = {
	FIELD(status_ping, F_STR, path),
	FIELD(status_ping, F_STR, via),
	FIELD(status_ping, F_I64, rtt_us),
	FIELD(status_ping, F_U64, timeout_ms),
};

static const struct field CONN_FIELDS[] = {
	FIELD(status_conn, F_STR, peer),
	FIELD(status_conn, F_STR, state),
	FIELD(status_conn, F_STR, via),
};

static int encode_flat(const void *obj, const struct field *tab, size_t n, char **out)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	put_fields(f, obj, tab, n);
	bool failed = ferror(f);
	if (fclose(f) != 0 || failed) {
		free(buf);
		return -ENOMEM;
	}
	*out = buf;
	return 0;
}

/* Like status_decode for a record without peers or counters; unknown keys
 * are ignored here too. */
static int decode_flat(void *obj, const struct field *tab, size_t n, const char *text, size_t len,
		       char *err, size_t errlen)
{
	struct decoder d = { .err = err, .errlen = errlen };
	size_t off = 0;
	while (off < len) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t end = nl ? (size_t)(nl - text) : len;
		const char *line = text + off, *val;
		size_t klen, vlen, i = 0;
		d.line++;
		int rc = split_line(&d, line, end - off, &klen, &val, &vlen);
		while (rc == 0 && i < n && !key_is(line, klen, tab[i].key))
			i++;
		if (rc == 0 && i < n)
			rc = set_field(&d, obj, &tab[i], val, vlen);
		if (rc < 0)
			return rc;
		off = end + 1;
	}
	return 0;
}

int status_ping_encode(const struct status_ping *pg, char **out)
{
	return encode_flat(pg, PING_FIELDS, sizeof(PING_FIELDS) / sizeof(PING_FIELDS[0]), out);
}

int status_ping_decode(struct status_ping *pg, const char *text, size_t len, char *err, size_t errlen)
{
	memset(pg, 0, sizeof(*pg));
	pg->rtt_us = -1;
	int rc = decode_flat(pg, PING_FIELDS, sizeof(PING_FIELDS) / sizeof(PING_FIELDS[0]), text, len,
			     err, errlen);
	if (rc < 0) {
		memset(pg, 0, sizeof(*pg));
		pg->rtt_us = -1;
	}
	return rc;
}

int status_conn_encode(const struct status_conn *sc, char **out)
{
	return encode_flat(sc, CONN_FIELDS, sizeof(CONN_FIELDS) / sizeof(CONN_FIELDS[0]), out);
}

int status_conn_decode(struct status_conn *sc, const char *text, size_t len, char *err, size_t errlen)
{
	memset(sc, 0, sizeof(*sc));
	int rc = decode_flat(sc, CONN_FIELDS, sizeof(CONN_FIELDS) / sizeof(CONN_FIELDS[0]), text, len,
			     err, errlen);
	if (rc < 0)
		memset(sc, 0, sizeof(*sc));
	return rc;
}

/* ---- printers ---- */

/* Length of the valid UTF-8 sequence (RFC 3629 section 4) at p, 0 if
 * the bytes there are not one. */
static size_t utf8_len(const unsigned char *p, size_t left)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t n;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		lo = c == 0xe0 ? 0xa0 : 0x80;   /* no overlong forms */
		hi = c == 0xed ? 0x9f : 0xbf;   /* no surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		lo = c == 0xf0 ? 0x90 : 0x80;
		hi = c == 0xf4 ? 0x8f : 0xbf;   /* nothing above U+10FFFF */
	} else {
		return 0;
	}
	if (left < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/* Text output goes to a terminal: anything that is not printable ASCII or
 * valid UTF-8 outside the C1 controls (U+0080..U+009F) becomes '?'.
 * Returns the number of characters written (for column alignment). */
static size_t put_clean(FILE *f, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strnlen(s, max), chars = 0;
	if (left == 0) {
		fputs("(none)", f);
		return 6;
	}
	for (; left > 0; chars++) {
		size_t n = utf8_len(p, left);
		if (n == 0 || (n == 1 && is_control(*p)) || (n == 2 && p[0] == 0xc2 && p[1] < 0xa0)) {
			fputc('?', f);
			n = 1;
		} else {
			fwrite(p, 1, n, f);
		}
		p += n;
		left -= n;
	}
	return chars;
}

static void put_plural(FILE *f, bool *first, uint64_t n, const char *unit)
{
	fprintf(f, "%s%" PRIu64 " %s%s", *first ? "" : ", ", n, unit, n == 1 ? "" : "s");
	*first = false;
}

static void put_ago(FILE *f, int64_t when, int64_t now)
{
	if (when == 0) {
		fputs("never", f);
		return;
	}
	uint64_t secs = now > when ? (uint64_t)(now - when) : 0;
	bool first = true;
	if (secs >= 86400)
		put_plural(f, &first, secs / 86400, "day");
	if (secs % 86400 >= 3600)
		put_plural(f, &first, secs % 86400 / 3600, "hour");
	if (secs % 3600 >= 60)
		put_plural(f, &first, secs % 3600 / 60, "minute");
	if (secs % 60 || first)
		put_plural(f, &first, secs % 60, "second");
	fputs(" ago", f);
}

static void fmt_bytes(char *out, size_t outlen, uint64_t n)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	if (n < 1024) {
		snprintf(out, outlen, "%" PRIu64 " B", n);
		return;
	}
	double v = (double)n / 1024;
	unsigned u = 0;
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	snprintf(out, outlen, "%.2f %s", v, units[u]);
}

static void put_bytes(FILE *f, uint64_t n)
{
	char b[32];
	fmt_bytes(b, sizeof(b), n);
	fputs(b, f);
}

static void put_line(FILE *f, const char *label, const char *s, size_t max)
{
	fprintf(f, "  %s: ", label);
	put_clean(f, s, max);
	fputc('\n', f);
}

static void print_peer_text(FILE *f, const struct status_peer *p, int64_t now)
{
	fputs("\npeer: ", f);
	put_clean(f, p->name, sizeof(p->name));
	fputc('\n', f);
	put_line(f, "role", p->role, sizeof(p->role));
	put_line(f, "system id", p->system_id, sizeof(p->system_id));
	put_line(f, "public key", p->public_key, sizeof(p->public_key));
	put_line(f, "address", p->address, sizeof(p->address));
	if (p->endpoint[0])
		put_line(f, "endpoint", p->endpoint, sizeof(p->endpoint));
	put_line(f, "path", p->path, sizeof(p->path));
	if (p->path_detail[0])
		put_line(f, "path detail", p->path_detail, sizeof(p->path_detail));
	if (p->standby[0])
		put_line(f, "standby", p->standby, sizeof(p->standby));
	if (p->last_switch[0])
		put_line(f, "last switch", p->last_switch, sizeof(p->last_switch));
	if (p->switches)
		fprintf(f, "  path switches: %" PRIu64 "\n", p->switches);
	if (p->state[0])
		put_line(f, "mediator lookup", p->state, sizeof(p->state));
	if (p->candidates[0])
		put_line(f, "candidates", p->candidates, sizeof(p->candidates));
	if (p->error[0])
		put_line(f, "error", p->error, sizeof(p->error));
	fputs("  latest handshake: ", f);
	put_ago(f, p->last_handshake, now);
	fputs("\n  transfer: ", f);
	put_bytes(f, p->rx_bytes);
	fputs(" received, ", f);
	put_bytes(f, p->tx_bytes);
	fprintf(f, " sent\n  packets: %" PRIu64 " received, %" PRIu64 " sent\n",
		p->rx_packets, p->tx_packets);
	if (p->rtt_us >= 0)
		fprintf(f, "  rtt: %" PRId64 ".%03" PRId64 " ms\n", p->rtt_us / 1000, p->rtt_us % 1000);
	if (p->rx_replayed || p->rx_auth_failed)
		fprintf(f, "  dropped: %" PRIu64 " replayed, %" PRIu64 " failed authentication\n",
			p->rx_replayed, p->rx_auth_failed);
}

void status_print_text(FILE *f, const struct status *st)
{
	fputs("interface: ", f);
	put_clean(f, st->interface, sizeof(st->interface));
	fputc('\n', f);
	put_line(f, "public key", st->public_key, sizeof(st->public_key));
	put_line(f, "system id", st->system_id, sizeof(st->system_id));
	put_line(f, "address", st->address, sizeof(st->address));
	fprintf(f, "  listening port: %u\n", (unsigned)st->listen_port);
	if (st->mediator[0])
		put_line(f, "mediator", st->mediator, sizeof(st->mediator));
	/* Like the mediator, the relay is shown by its one-line summary; a
	 * daemon that sends only the state still gets a line unless it is off. */
	if (st->relay[0])
		put_line(f, "relay", st->relay, sizeof(st->relay));
	else if (st->relay_state[0] && strcmp(st->relay_state, "off") != 0)
		put_line(f, "relay", st->relay_state, sizeof(st->relay_state));
	if (st->proxy[0])
		put_line(f, "proxy", st->proxy, sizeof(st->proxy));
	if (st->datapath[0])
		put_line(f, "data path", st->datapath, sizeof(st->datapath));
	bool first = true;
	for (size_t i = 0; i < st->n_counters && i < STATUS_MAX_COUNTERS; i++) {
		if (st->counters[i].value == 0)
			continue;
		fputs(first ? "  counters: " : ", ", f);
		put_clean(f, st->counters[i].name, STATUS_COUNTER_NAME);
		fprintf(f, " %" PRIu64, st->counters[i].value);
		first = false;
	}
	if (!first)
		fputc('\n', f);
	int64_t now = (int64_t)time(NULL);
	for (size_t i = 0; i < st->n_peers; i++)
		print_peer_text(f, &st->peers[i], now);
}

/* A JSON string (RFC 8259 section 7). Bytes that are not valid UTF-8
 * become U+FFFD so the output is always valid JSON. */
static void json_str(FILE *f, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strnlen(s, max);
	fputc('"', f);
	while (left > 0) {
		size_t n = utf8_len(p, left);
		if (n == 0) {
			fputs("\\ufffd", f);
			n = 1;
		} else if (*p == '"' || *p == '\\') {
			fprintf(f, "\\%c", *p);
		} else if (*p == '\n') {
			fputs("\\n", f);
		} else if (*p == '\t') {
			fputs("\\t", f);
		} else if (*p == '\r') {
			fputs("\\r", f);
		} else if (is_control(*p)) {
			fprintf(f, "\\u%04x", *p);
		} else {
			fwrite(p, 1, n, f);
		}
		p += n;
		left -= n;
	}
	fputc('"', f);
}

static void json_key_str(FILE *f, const char *indent, const char *key, const char *s, size_t max)
{
	fprintf(f, "%s\"%s\": ", indent, key);
	json_str(f, s, max);
	fputs(",\n", f);
}

static void print_peer_json(FILE *f, const struct status_peer *p, bool last)
{
	static const char IN[] = "      ";
	fputs("    {\n", f);
	json_key_str(f, IN, "name", p->name, sizeof(p->name));
	json_key_str(f, IN, "role", p->role, sizeof(p->role));
	json_key_str(f, IN, "public_key", p->public_key, sizeof(p->public_key));
	json_key_str(f, IN, "system_id", p->system_id, sizeof(p->system_id));
	json_key_str(f, IN, "address", p->address, sizeof(p->address));
	if (p->endpoint[0])
		json_key_str(f, IN, "endpoint", p->endpoint, sizeof(p->endpoint));
	else
		fprintf(f, "%s\"endpoint\": null,\n", IN);
	json_key_str(f, IN, "path", p->path, sizeof(p->path));
	json_key_str(f, IN, "path_detail", p->path_detail, sizeof(p->path_detail));
	json_key_str(f, IN, "standby", p->standby, sizeof(p->standby));
	json_key_str(f, IN, "last_switch", p->last_switch, sizeof(p->last_switch));
	fprintf(f, "%s\"switches\": %" PRIu64 ",\n", IN, p->switches);
	json_key_str(f, IN, "state", p->state, sizeof(p->state));
	json_key_str(f, IN, "error", p->error, sizeof(p->error));
	json_key_str(f, IN, "candidates", p->candidates, sizeof(p->candidates));
	if (p->last_handshake != 0)
		fprintf(f, "%s\"last_handshake\": %" PRId64 ",\n", IN, p->last_handshake);
	else
		fprintf(f, "%s\"last_handshake\": null,\n", IN);
	fprintf(f, "%s\"rx_bytes\": %" PRIu64 ",\n%s\"tx_bytes\": %" PRIu64 ",\n",
		IN, p->rx_bytes, IN, p->tx_bytes);
	fprintf(f, "%s\"rx_packets\": %" PRIu64 ",\n%s\"tx_packets\": %" PRIu64 ",\n",
		IN, p->rx_packets, IN, p->tx_packets);
	fprintf(f, "%s\"rx_replayed\": %" PRIu64 ",\n%s\"rx_auth_failed\": %" PRIu64 ",\n",
		IN, p->rx_replayed, IN, p->rx_auth_failed);
	if (p->rtt_us >= 0)
		fprintf(f, "%s\"rtt_us\": %" PRId64 "\n", IN, p->rtt_us);
	else
		fprintf(f, "%s\"rtt_us\": null\n", IN);
	fprintf(f, "    }%s\n", last ? "" : ",");
}

void status_print_json(FILE *f, const struct status *st)
{
	static const char IN[] = "  ";
	size_t nc = st->n_counters < STATUS_MAX_COUNTERS ? st->n_counters : STATUS_MAX_COUNTERS;
	fputs("{\n", f);
	json_key_str(f, IN, "interface", st->interface, sizeof(st->interface));
	json_key_str(f, IN, "public_key", st->public_key, sizeof(st->public_key));
	json_key_str(f, IN, "system_id", st->system_id, sizeof(st->system_id));
	json_key_str(f, IN, "address", st->address, sizeof(st->address));
	fprintf(f, "  \"listen_port\": %u,\n", (unsigned)st->listen_port);
	json_key_str(f, IN, "mediator_state", st->mediator_state[0] ? st->mediator_state : "off",
		     sizeof(st->mediator_state));
	json_key_str(f, IN, "mediator", st->mediator, sizeof(st->mediator));
	json_key_str(f, IN, "relay_state", st->relay_state[0] ? st->relay_state : "off",
		     sizeof(st->relay_state));
	json_key_str(f, IN, "relay", st->relay, sizeof(st->relay));
	json_key_str(f, IN, "proxy", st->proxy, sizeof(st->proxy));
	json_key_str(f, IN, "datapath", st->datapath, sizeof(st->datapath));
	fputs(nc ? "  \"counters\": {\n" : "  \"counters\": {},\n", f);
	for (size_t i = 0; i < nc; i++) {
		fputs("    ", f);
		json_str(f, st->counters[i].name, STATUS_COUNTER_NAME);
		fprintf(f, ": %" PRIu64 "%s\n", st->counters[i].value, i + 1 < nc ? "," : "");
	}
	if (nc)
		fputs("  },\n", f);
	fputs(st->n_peers ? "  \"peers\": [\n" : "  \"peers\": []\n", f);
	for (size_t i = 0; i < st->n_peers; i++)
		print_peer_json(f, &st->peers[i], i + 1 == st->n_peers);
	if (st->n_peers)
		fputs("  ]\n", f);
	fputs("}\n", f);
}

/* "42s ago", "3m12s ago", "5h2m ago", "2d3h ago", or "never". */
static void fmt_age_short(char *out, size_t outlen, int64_t when, int64_t now)
{
	uint64_t t = now > when ? (uint64_t)(now - when) : 0;
	if (when == 0)
		snprintf(out, outlen, "never");
	else if (t < 60)
		snprintf(out, outlen, "%" PRIu64 "s ago", t);
	else if (t < 3600)
		snprintf(out, outlen, "%" PRIu64 "m%" PRIu64 "s ago", t / 60, t % 60);
	else if (t < 86400)
		snprintf(out, outlen, "%" PRIu64 "h%" PRIu64 "m ago", t / 3600, t % 3600 / 60);
	else
		snprintf(out, outlen, "%" PRIu64 "d%" PRIu64 "h ago", t / 86400, t % 86400 / 3600);
}

/* One left-aligned column of at least width characters, then two spaces. */
static void put_cell(FILE *f, const char *s, size_t max, size_t width)
{
	for (size_t n = put_clean(f, s, max); n < width + 2; n++)
		fputc(' ', f);
}

void status_print_peers_text(FILE *f, const struct status *st)
{
	size_t wname = 4;
	for (size_t i = 0; i < st->n_peers; i++) {
		size_t n = strnlen(st->peers[i].name, sizeof(st->peers[i].name));
		if (n > wname)
			wname = n;
	}
	fprintf(f, "%-*s  %-6s  %-15s  %-12s  %-10s  %10s  %10s\n", (int)wname, "NAME", "ROLE",
		"ADDRESS", "PATH", "HANDSHAKE", "RX", "TX");
	int64_t now = (int64_t)time(NULL);
	for (size_t i = 0; i < st->n_peers; i++) {
		const struct status_peer *p = &st->peers[i];
		char age[32], rx[32], tx[32];
		put_cell(f, p->name, sizeof(p->name), wname);
		put_cell(f, p->role, sizeof(p->role), 6);
		put_cell(f, p->address, sizeof(p->address), 15);
		put_cell(f, p->path, sizeof(p->path), 12);
		fmt_age_short(age, sizeof(age), p->last_handshake, now);
		fmt_bytes(rx, sizeof(rx), p->rx_bytes);
		fmt_bytes(tx, sizeof(tx), p->tx_bytes);
		fprintf(f, "%-10s  %10s  %10s\n", age, rx, tx);
	}
}

void status_print_peers_json(FILE *f, const struct status *st)
{
	fputs(st->n_peers ? "[\n" : "[]\n", f);
	for (size_t i = 0; i < st->n_peers; i++)
		print_peer_json(f, &st->peers[i], i + 1 == st->n_peers);
	if (st->n_peers)
		fputs("]\n", f);
}

void status_json_string(FILE *f, const char *s, size_t max)
{
	json_str(f, s, max);
}
