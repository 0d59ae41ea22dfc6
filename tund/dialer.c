/*
 * dialer.c - see dialer.h. The dialer owns the proxy setting, the method
 * rankings (in memory, mirrored to <state_directory>/methods) and the list
 * of running dials; a dial owns its contenders (one tlink each) and one
 * timer for the staggered second wave, and is freed in that timer's close
 * callback after it reported up or down (or was cancelled).
 *
 * The methods file, one line per location, target and method, best first
 * for each location and target:
 *
 *   # tund dialer: location target method
 *   10.5.0.1:3128|10.1.0.0/24 http://198.51.100.20:443 poll
 *   10.5.0.1:3128|10.1.0.0/24 http://198.51.100.20:443 connect
 *   direct|192.168.1.0/24 tcp://198.51.100.5:3478 direct
 *
 * A location is "<proxy host:port or direct>|<sorted subnets or ->"; its
 * text is cut at LOC_MAX (hosts with dozens of interfaces may then share
 * a ranking, which only costs a slower first dial).
 */
#include "dialer.h"

#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "httpmsg.h"
#include "log.h"

#define LOC_MAX       256
#define TKEY_MAX      (CFG_HOST_MAX + 16)   /* "http://" host ":" port */
#define MAX_RANKS     (DIALER_MAX_LOCATIONS * 4)
#define MAX_SUBNETS   24
#define WHY_MAX       320
#define MAX_CONTENDERS (DIALER_MAX_TARGETS * TLINK_N_METHODS)

struct rank {
	char loc[LOC_MAX];
	char target[TKEY_MAX];
	enum tlink_method order[TLINK_N_METHODS];  /* last winner first */
	unsigned n;
	bool logged;                 /* its winner was logged at info this run */
};

struct dialer {
	struct daemon *d;
	struct tlink_proxy proxy;
	char methods_path[PATH_MAX]; /* "" without a state directory */
	struct rank ranks[MAX_RANKS]; /* most recently used first */
	unsigned n_ranks;
	struct dial *dials;          /* running */
};

struct contender {
	struct dial *dial;
	struct tlink *link;          /* while running */
	unsigned ti;                 /* index into dial->targets */
	enum tlink_method m;
	bool first;                  /* in the first wave */
	bool started, ended;
};

struct dial {
	struct dialer *dl;
	struct tlink_ops ops;
	void *arg;
	struct tlink_target targets[DIALER_MAX_TARGETS];
	char keys[DIALER_MAX_TARGETS][TKEY_MAX];
	char loc[LOC_MAX];
	struct contender c[MAX_CONTENDERS];
	unsigned n;
	uv_timer_t stagger;
	bool finished;
	int err;                     /* the most telling failure so far */
	unsigned status;
	int score;
	char why[WHY_MAX];
	struct dial *next;
};

/* ---------------------------------------------------------- location */

static int subnet_cmp(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;
	return *x < *y ? -1 : *x > *y;
}

static void location(const struct dialer *dl, char *out, size_t n)
{
	uint64_t nets[MAX_SUBNETS];  /* network << 8 | prefix length */
	unsigned k = 0;
	struct ifaddrs *ifs = NULL;
	if (getifaddrs(&ifs) == 0) {
		for (struct ifaddrs *i = ifs; i && k < MAX_SUBNETS; i = i->ifa_next) {
			if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !i->ifa_netmask ||
			    !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK) ||
			    strcmp(i->ifa_name, dl->d->tun.name) == 0)
				continue;
			uint32_t a = ntohl(((const struct sockaddr_in *)(const void *)i->ifa_addr)->sin_addr.s_addr);
			uint32_t m = ntohl(((const struct sockaddr_in *)(const void *)i->ifa_netmask)->sin_addr.s_addr);
			uint64_t v = (uint64_t)(a & m) << 8 | (unsigned)__builtin_popcount(m);
			bool dup = false;
			for (unsigned j = 0; j < k; j++)
				dup |= nets[j] == v;
			if (!dup)
				nets[k++] = v;
		}
		freeifaddrs(ifs);
	}
	qsort(nets, k, sizeof(nets[0]), subnet_cmp);
	size_t o = 0;
	if (dl->proxy.set)
		o = (size_t)snprintf(out, n, "%s:%u|", dl->proxy.host, dl->proxy.port);
	else
		o = (size_t)snprintf(out, n, "direct|");
	for (unsigned j = 0; j < k && o < n; j++) {
		char a[ADDR_STR_LEN];
		addr_format(a, (uint32_t)(nets[j] >> 8));
		o += (size_t)snprintf(out + o, n - o, "%s%s/%u", j ? "," : "", a, (unsigned)(nets[j] & 0xff));
	}
	if (k == 0 && o < n)
		snprintf(out + o, n - o, "-");
}

static void target_key(const struct tlink_target *t, char out[TKEY_MAX])
{
	snprintf(out, TKEY_MAX, "%s://%s:%u", t->http ? "http" : "tcp", t->host, t->port);
}

/* ----------------------------------------------------------- ranking */

static struct rank *rank_find(struct dialer *dl, const char *loc, const char *target)
{
	for (unsigned i = 0; i < dl->n_ranks; i++)
		if (!strcmp(dl->ranks[i].loc, loc) && !strcmp(dl->ranks[i].target, target))
			return &dl->ranks[i];
	return NULL;
}

/* A new entry at the end (file order); the least recently used goes when full. */
static struct rank *rank_add(struct dialer *dl, const char *loc, const char *target)
{
	if (dl->n_ranks == MAX_RANKS)
		dl->n_ranks--;
	struct rank *r = &dl->ranks[dl->n_ranks++];
	memset(r, 0, sizeof(*r));
	snprintf(r->loc, sizeof(r->loc), "%s", loc);
	snprintf(r->target, sizeof(r->target), "%s", target);
	return r;
}

/* Moves m to the front of r's order. True when the order changed. */
static bool rank_promote(struct rank *r, enum tlink_method m)
{
	unsigned i = 0;
	while (i < r->n && r->order[i] != m)
		i++;
	if (i == 0 && r->n)
		return false;
	if (i == r->n)
		r->n++;
	memmove(&r->order[1], &r->order[0], i * sizeof(r->order[0]));
	r->order[0] = m;
	return true;
}

static int method_parse(const char *s, enum tlink_method *m)
{
	for (unsigned i = 0; i < TLINK_N_METHODS; i++)
		if (!strcmp(s, tlink_method_name((enum tlink_method)i))) {
			*m = (enum tlink_method)i;
			return 0;
		}
	return -EINVAL;
}

static void ranks_load(struct dialer *dl)
{
	FILE *f = fopen(dl->methods_path, "r");
	char line[LOC_MAX + TKEY_MAX + 64];
	unsigned ln = 0;
	if (!f) {
		if (errno != ENOENT)
			log_warn("%s: %s", dl->methods_path, strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		char loc[LOC_MAX], target[TKEY_MAX], meth[16], extra[2];
		enum tlink_method m;
		size_t len = strlen(line);
		ln++;
		if (len && line[len - 1] != '\n' && !feof(f)) {
			log_warn("%s:%u: line too long, ignored", dl->methods_path, ln);
			int ch;
			while ((ch = fgetc(f)) != EOF && ch != '\n')
				;
			continue;
		}
		if (line[strspn(line, " \t\r\n")] == '\0' || line[0] == '#')
			continue;
		if (sscanf(line, "%255s %269s %15s %1s", loc, target, meth, extra) != 3 ||
		    !strchr(loc, '|') || (strncmp(target, "http://", 7) && strncmp(target, "tcp://", 6)) ||
		    method_parse(meth, &m) < 0) {
			log_warn("%s:%u: not \"location target method\", ignored", dl->methods_path, ln);
			continue;
		}
		struct rank *r = rank_find(dl, loc, target);
		if (!r && dl->n_ranks == MAX_RANKS)
			continue; /* the oldest entries are at the end: drop them */
		if (!r)
			r = rank_add(dl, loc, target);
		unsigned i = 0;
		while (i < r->n && r->order[i] != m)
			i++;
		if (i == r->n)
			r->order[r->n++] = m;
	}
	fclose(f);
}

/* Written to a temporary file and renamed over the old one, so a crash
 * leaves either version. */
static void ranks_save(const struct dialer *dl)
{
	char tmp[PATH_MAX + 8];
	struct stat st;
	if (!dl->methods_path[0])
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", dl->methods_path);
	FILE *f = fopen(tmp, "w");
	if (!f) {
		if (stat(dl->d->cfg.state_directory, &st) == 0) /* gone: nothing to keep */
			log_warn("%s: %s", tmp, strerror(errno));
		return;
	}
	fprintf(f, "# tund dialer: location target method (best first); rewritten by tund\n");
	for (unsigned i = 0; i < dl->n_ranks; i++)
		for (unsigned j = 0; j < dl->ranks[i].n; j++)
			fprintf(f, "%s %s %s\n", dl->ranks[i].loc, dl->ranks[i].target,
				tlink_method_name(dl->ranks[i].order[j]));
	bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
	ok &= fclose(f) == 0;
	if (!ok || rename(tmp, dl->methods_path) < 0) {
		log_warn("%s: %s", dl->methods_path, strerror(errno));
		unlink(tmp);
	}
}

/* The winner goes to the front of its entry and the entry to the front
 * of the list; returns true when the winning method is news. */
static bool rank_won(struct dialer *dl, const char *loc, const char *target, enum tlink_method m)
{
	struct rank *r = rank_find(dl, loc, target);
	if (!r)
		r = rank_add(dl, loc, target);
	bool changed = rank_promote(r, m);
	bool news = changed || !r->logged;
	r->logged = true;
	struct rank keep = *r;
	memmove(&dl->ranks[1], &dl->ranks[0], (size_t)(r - dl->ranks) * sizeof(*r));
	dl->ranks[0] = keep;
	if (changed)
		ranks_save(dl);
	return news;
}

/* -------------------------------------------------------------- dial */

static void start_contender(struct contender *c);

static void dial_closed_cb(uv_handle_t *h)
{
	free(h->data);
}

/* Stops everything still running and frees the dial once its timer closed. */
static void dial_end(struct dial *dial)
{
	struct dial **pp = &dial->dl->dials;
	dial->finished = true;
	for (unsigned i = 0; i < dial->n; i++)
		if (dial->c[i].link) {
			tlink_close(dial->c[i].link);
			dial->c[i].link = NULL;
		}
	while (*pp && *pp != dial)
		pp = &(*pp)->next;
	if (*pp)
		*pp = dial->next;
	uv_close((uv_handle_t *)&dial->stagger, dial_closed_cb);
}

/* An answer in the relay's own vocabulary (relayproto.h: auth, offline,
 * rate) says more than a proxy's refusal, which says more than a
 * connection error, which says more than a timeout. */
static int failure_score(int err, unsigned status)
{
	if (status == 401 || status == 404 || status == 429)
		return 4;
	if (status)
		return 3;
	return err == -ETIMEDOUT ? 1 : 2;
}

static void note_failure(struct dial *dial, int err, unsigned status, const char *why)
{
	int s = failure_score(err, status);
	if (s > dial->score) {
		dial->score = s;
		dial->err = err;
		dial->status = status;
		snprintf(dial->why, sizeof(dial->why), "%s", why);
	}
}

/* Starts the second wave once nothing of the first is left running, and
 * reports failure once nothing at all is. */
static void dial_check(struct dial *dial)
{
	bool running = false, waiting = false;
	for (unsigned i = 0; i < dial->n; i++) {
		running |= dial->c[i].started && !dial->c[i].ended;
		waiting |= !dial->c[i].started;
	}
	if (!running && waiting) {
		uv_timer_stop(&dial->stagger);
		for (unsigned i = 0; i < dial->n; i++)
			if (!dial->c[i].started)
				start_contender(&dial->c[i]);
		dial_check(dial);
		return;
	}
	if (running || dial->finished)
		return;
	struct tlink_ops ops = dial->ops;
	void *arg = dial->arg;
	char why[WHY_MAX];
	int err = dial->err ? dial->err : -ENETUNREACH;
	unsigned status = dial->status;
	snprintf(why, sizeof(why), "%s", dial->why[0] ? dial->why : "no method to try");
	dial_end(dial);
	if (ops.down)
		ops.down(arg, NULL, err, status, why);
}

static void c_up(void *arg, struct tlink *l)
{
	struct contender *c = arg;
	struct dial *dial = c->dial;
	struct dialer *dl = dial->dl;
	const struct tlink_target *t = &dial->targets[c->ti];
	char via[CFG_HOST_MAX + 24] = "";
	c->link = NULL;
	c->ended = true;
	bool news = rank_won(dl, dial->loc, dial->keys[c->ti], c->m);
	if (dl->proxy.set)
		snprintf(via, sizeof(via), " (proxy %s:%u)", dl->proxy.host, dl->proxy.port);
	/* The dialer serves the relay (HTTP) and the mediator (raw) only. */
	log_msg(news ? LOG_LVL_INFO : LOG_LVL_DEBUG, "%s %s:%u%s%s: connected via %s%s",
		t->http ? "relay" : "mediator", t->host, t->port, t->http ? " " : "",
		t->http ? t->path : "", tlink_method_name(c->m), via);
	struct tlink_ops ops = dial->ops;
	void *oarg = dial->arg;
	dial_end(dial);
	tlink_set_ops(l, &ops, oarg);
	if (ops.up)
		ops.up(oarg, l);
}

static void c_data(void *arg, struct tlink *l, const uint8_t *buf, size_t len)
{
	/* Links deliver nothing before up, and up hands them over. */
}

static void c_down(void *arg, struct tlink *l, int err, unsigned status, const char *why)
{
	struct contender *c = arg;
	c->link = NULL;
	c->ended = true;
	note_failure(c->dial, err, status, why);
	dial_check(c->dial);
}

/* The relay's clock from a contender's 401, for the owner (who signs the
 * next dial); the contender's down follows. */
static void c_clock(void *arg, struct tlink *l, int64_t relay_unix)
{
	struct contender *c = arg;
	(void)l;
	if (c->dial->ops.clock)
		c->dial->ops.clock(c->dial->arg, NULL, relay_unix);
}

static const struct tlink_ops contender_ops = { .up = c_up, .data = c_data, .down = c_down, .clock = c_clock };

static void start_contender(struct contender *c)
{
	struct dial *dial = c->dial;
	char why[WHY_MAX];
	c->started = true;
	int rc = tlink_open(&c->link, dial->dl->d->loop, &dial->targets[c->ti], &dial->dl->proxy, c->m,
			    &contender_ops, c);
	if (rc < 0) {
		c->ended = true;
		snprintf(why, sizeof(why), "cannot start %s: %s", tlink_method_name(c->m), strerror(-rc));
		note_failure(dial, rc, 0, why);
	}
}

static void stagger_cb(uv_timer_t *h)
{
	struct dial *dial = h->data;
	for (unsigned i = 0; i < dial->n; i++)
		if (!dial->c[i].started)
			start_contender(&dial->c[i]);
	dial_check(dial);
}

/* Every method that can reach target i with this proxy. */
static void add_contenders(struct dial *dial, unsigned i)
{
	bool proxy = dial->dl->proxy.set, http = dial->targets[i].http;
	for (unsigned m = 0; m < TLINK_N_METHODS; m++) {
		if ((m == TLINK_CONNECT && !proxy) || (m == TLINK_UPGRADE && (!proxy || !http)) ||
		    (m == TLINK_POLL && !http))
			continue;
		dial->c[dial->n++] = (struct contender){ .dial = dial, .ti = i, .m = (enum tlink_method)m };
	}
}

int dialer_dial(struct dialer *dl, const struct tlink_target *targets, unsigned n,
		const struct tlink_ops *ops, void *arg, struct dial **out)
{
	*out = NULL;
	if (n == 0 || n > DIALER_MAX_TARGETS)
		return -EINVAL;
	struct dial *dial = calloc(1, sizeof(*dial));
	if (!dial)
		return -ENOMEM;
	dial->dl = dl;
	dial->ops = *ops;
	dial->arg = arg;
	location(dl, dial->loc, sizeof(dial->loc));
	const struct rank *ranked[DIALER_MAX_TARGETS] = { NULL };
	bool any_ranked = false;
	for (unsigned i = 0; i < n; i++) {
		dial->targets[i] = targets[i];
		target_key(&targets[i], dial->keys[i]);
		ranked[i] = rank_find(dl, dial->loc, dial->keys[i]);
		any_ranked |= ranked[i] != NULL;
		add_contenders(dial, i);
	}
	/* The last winners first; without any, all at once, except POLL with
	 * no proxy, which is only for middleboxes that break Upgrade. */
	for (unsigned i = 0; i < dial->n; i++) {
		struct contender *c = &dial->c[i];
		if (any_ranked)
			c->first = ranked[c->ti] && ranked[c->ti]->order[0] == c->m;
		else
			c->first = dl->proxy.set || c->m != TLINK_POLL;
	}
	uv_timer_init(dl->d->loop, &dial->stagger);
	dial->stagger.data = dial;
	dial->next = dl->dials;
	dl->dials = dial;
	for (unsigned i = 0; i < dial->n; i++)
		if (dial->c[i].first)
			start_contender(&dial->c[i]);
	/* Never report from inside dialer_dial: a first wave that could not
	 * start at all moves on from the timer. */
	bool running = false;
	for (unsigned i = 0; i < dial->n; i++)
		running |= dial->c[i].started && !dial->c[i].ended;
	uv_timer_start(&dial->stagger, stagger_cb, running ? DIALER_STAGGER_MS : 0, 0);
	*out = dial;
	return 0;
}

void dial_cancel(struct dial *dial)
{
	if (dial && !dial->finished)
		dial_end(dial);
}

/* --------------------------------------------------------- lifecycle */

static int proxy_from_env(struct tlink_proxy *p, char *err, size_t errlen)
{
	static const char *const names[] = { "https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY" };
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *v = getenv(names[i]), *why = "";
		char url[CFG_HOST_MAX + 16];
		if (!v || !*v)
			continue;
		/* "host:port" without a scheme means http, as curl reads it. */
		snprintf(url, sizeof(url), "%s%s", strstr(v, "://") ? "" : "http://", v);
		if (http_parse_proxy_url(url, p->host, sizeof(p->host), &p->port, &why) < 0) {
			/* The environment is shared with every other program; a value
			 * we cannot use is not a reason to refuse to start. */
			log_warn("environment variable %s=\"%s\" ignored: %s", names[i], v, why);
			continue;
		}
		p->set = true;
		log_info("using HTTP proxy %s:%u (from %s)", p->host, p->port, names[i]);
		return 0;
	}
	return 0;
}

int dialer_new(struct dialer **out, struct daemon *d, char *err, size_t errlen)
{
	struct stat st;
	*out = NULL;
	struct dialer *dl = calloc(1, sizeof(*dl));
	if (!dl)
		return -ENOMEM;
	dl->d = d;
	if (d->cfg.has_http_proxy) {
		dl->proxy.set = true;
		snprintf(dl->proxy.host, sizeof(dl->proxy.host), "%s", d->cfg.http_proxy_host);
		dl->proxy.port = d->cfg.http_proxy_port;
	} else if (proxy_from_env(&dl->proxy, err, errlen) < 0) {
		free(dl);
		return -EINVAL;
	}
	if (d->cfg.state_directory[0] && stat(d->cfg.state_directory, &st) == 0 && S_ISDIR(st.st_mode) &&
	    (size_t)snprintf(dl->methods_path, sizeof(dl->methods_path), "%s/methods",
			     d->cfg.state_directory) < sizeof(dl->methods_path))
		ranks_load(dl);
	else
		dl->methods_path[0] = '\0';
	*out = dl;
	return 0;
}

void dialer_free(struct dialer *dl)
{
	if (!dl)
		return;
	while (dl->dials)
		dial_end(dl->dials);
	free(dl);
}

const struct tlink_proxy *dialer_proxy(const struct dialer *dl) { return &dl->proxy; }

void dialer_describe(const struct dialer *dl, char *out, size_t outlen)
{
	char loc[LOC_MAX];
	size_t o;
	location(dl, loc, sizeof(loc));
	if (dl->proxy.set)
		o = (size_t)snprintf(out, outlen, "proxy %s:%u", dl->proxy.host, dl->proxy.port);
	else
		o = (size_t)snprintf(out, outlen, "no proxy");
	for (unsigned i = 0; i < dl->n_ranks && o < outlen; i++) {
		const struct rank *r = &dl->ranks[i];
		if (strcmp(r->loc, loc))
			continue;
		o += (size_t)snprintf(out + o, outlen - o, "; %s:", strstr(r->target, "://") + 3);
		for (unsigned j = 0; j < r->n && o < outlen; j++)
			o += (size_t)snprintf(out + o, outlen - o, "%s%s", j ? " > " : " ",
					      tlink_method_name(r->order[j]));
	}
}
