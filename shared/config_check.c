/*
 * config_check.c - the rules of tund.conf that span keys and sections,
 * run once the whole file is read (config.c calls cfg_validate): required
 * keys, where peers and clients appear, one section per key and per
 * system, and what the mediator keys need. Sections are checked in file
 * order and only the first error is kept, as in config.c.
 */
#include <errno.h>
#include <string.h>

#include "config.h"
#include "config_parse.h"

/* A [peer] names its key or its system (or both, and then they agree),
 * has an address, and can be found: an endpoint, the mediator, or LAN
 * discovery (which alone finds only systems on our LAN). */
static void check_peer_identity(struct pstate *ps, size_t i)
{
	const struct cfg *c = ps->c;
	const struct cfg_peer *p = &c->peers[i];
	uint8_t id[UUID_LEN];
	char want[UUID_STR_LEN + 1], got[UUID_STR_LEN + 1];

	if (!p->has_key && !p->has_system) {
		bad_at(ps, p->line, i, NULL, "needs key or system (or both)");
		return;
	}
	if (!ps->lines[i].key[PK_ADDRESS]) {
		bad_at(ps, p->line, i, "address", "missing (required)");
		return;
	}
	if (!p->has_endpoint && !p->has_system) {
		bad_at(ps, p->line, i, "endpoint", "missing (required without system)");
		return;
	}
	if (p->has_endpoint && !p->has_key) {
		/* A fixed endpoint skips the mediator, which is where a key
		 * would come from. */
		bad_at(ps, p->line, i, "key", "missing (required with endpoint)");
		return;
	}
	if (!p->has_endpoint && !c->has_mediator && !c->lan_discovery) {
		bad_at(ps, ps->lines[i].key[PK_SYSTEM], i, "system",
		       "finding a system without endpoint needs mediator in [tund] or lan_discovery = on");
		return;
	}
	if (p->has_key && p->has_system) {
		key_system_id(id, p->key);
		if (memcmp(id, p->system_id, UUID_LEN) != 0) {
			uuid_format(want, p->system_id);
			uuid_format(got, id);
			bad_at(ps, ps->lines[i].key[PK_KEY], i, "key",
			       "belongs to system %s, not to system %s", got, want);
		}
	}
}

/* Section i has its required keys, and where it appears neither collides
 * with this host or the client pool nor, for a client, lies outside it. */
static void check_section(struct pstate *ps, size_t i)
{
	const struct cfg *c = ps->c;
	const struct cfg_peer *p = &c->peers[i];
	int line = ps->lines[i].key[PK_ADDRESS];
	uint32_t host = p->address & ~prefix_mask(c->prefix_len);
	char a[ADDR_STR_LEN], pool[PREFIX_STR_LEN];

	if (p->role == CFG_ROLE_CLIENT && !p->has_key)
		bad_at(ps, p->line, i, "key", "missing (required)");
	else if (p->role == CFG_ROLE_PEER)
		check_peer_identity(ps, i);
	if (p->role == CFG_ROLE_CLIENT && !c->has_client_pool)
		bad_at(ps, p->line, i, NULL, "a [client] needs client_pool in [tund]");
	if (ps->rc || !line)
		return;
	addr_format(a, p->address);
	addr_format(pool, c->client_pool);
	snprintf(pool + strlen(pool), sizeof(pool) - strlen(pool), "/%u", c->client_pool_len);
	bool in_pool = c->has_client_pool &&
		       prefix_contains(c->client_pool, c->client_pool_len, p->address);
	if (p->role == CFG_ROLE_CLIENT && !in_pool)
		bad_at(ps, line, i, "address", "\"%s\" is outside client_pool %s", a, pool);
	else if (p->role == CFG_ROLE_CLIENT)
		return;
	else if (p->address == c->address)
		bad_at(ps, line, i, "address", "\"%s\" is this host's own address", a);
	else if (prefix_contains(c->address, c->prefix_len, p->address) && c->prefix_len <= 30 &&
		 (host == 0 || host == ~prefix_mask(c->prefix_len)))
		bad_at(ps, line, i, "address", "\"%s\" is the network or broadcast address of "
		       "[tund] address", a);
	else if (in_pool)
		bad_at(ps, line, i, "address", "\"%s\" is inside client_pool %s", a, pool);
}

/* The system a [peer] reaches: named, or the hash of its key. */
static void peer_system(const struct cfg_peer *p, uint8_t id[UUID_LEN])
{
	if (p->has_system)
		memcpy(id, p->system_id, UUID_LEN);
	else
		key_system_id(id, p->key);
}

/* Two [peer]s for one system would share its key, and packets of one
 * would be taken for the other's: one [peer] per system. */
static void check_system_unique(struct pstate *ps, size_t i)
{
	const struct cfg *c = ps->c;
	uint8_t a[UUID_LEN], b[UUID_LEN];
	char other[CFG_SECT_BUF], id[UUID_STR_LEN + 1];

	if (c->peers[i].role != CFG_ROLE_PEER)
		return;
	peer_system(&c->peers[i], a);
	for (size_t j = 0; j < i && !ps->rc; j++) {
		if (c->peers[j].role != CFG_ROLE_PEER)
			continue;
		peer_system(&c->peers[j], b);
		if (memcmp(a, b, UUID_LEN) != 0)
			continue;
		cfg_sect_desc(ps, (long)j, other);
		uuid_format(id, a);
		bad_at(ps, c->peers[i].line, i, NULL, "reaches system %s, as [%s] (line %d) does: "
		       "one [peer] per system", id, other, c->peers[j].line);
	}
}

/* Neither the address (if set) nor the key of section i repeats an
 * earlier section's. Public keys are not secret: plain memcmp. */
static void check_unique(struct pstate *ps, size_t i)
{
	const struct cfg *c = ps->c;
	const int *li = ps->lines[i].key;
	char a[ADDR_STR_LEN], other[CFG_SECT_BUF];

	addr_format(a, c->peers[i].address);
	for (size_t j = 0; j < i && !ps->rc; j++) {
		const int *lj = ps->lines[j].key;
		bool same_addr = li[PK_ADDRESS] && lj[PK_ADDRESS] &&
				 c->peers[j].address == c->peers[i].address;
		bool same_key = c->peers[i].has_key && c->peers[j].has_key &&
				memcmp(c->peers[j].key, c->peers[i].key, KEY_LEN) == 0;
		if (!same_addr && !same_key)
			continue;
		cfg_sect_desc(ps, (long)j, other);
		if (same_addr)
			bad_at(ps, li[PK_ADDRESS], i, "address", "\"%s\" is already used by [%s] "
			       "(line %d)", a, other, lj[PK_ADDRESS]);
		else
			bad_at(ps, li[PK_KEY], i, "key", "the same public key as [%s] (line %d)",
			       other, lj[PK_KEY]);
	}
}

/* The rules that need the whole file; sections in file order. */
void cfg_validate(struct pstate *ps)
{
	const struct cfg *c = ps->c;
	char a[ADDR_STR_LEN];

	if (!ps->tund_line) {
		cfg_fail(ps, -EINVAL, 0, CUR_NONE, NULL, "no [tund] section (it must set address)");
		return;
	}
	if (!ps->tund_key[TK_ADDRESS]) {
		cfg_fail(ps, -EINVAL, ps->tund_line, CUR_TUND, "address", "missing (required)");
		return;
	}
	if (c->has_client_pool && prefix_contains(c->client_pool, c->client_pool_len, c->address)) {
		addr_format(a, c->address);
		cfg_fail(ps, -EINVAL, ps->tund_key[TK_CLIENT_POOL], CUR_TUND, "client_pool",
		     "contains this host's own address %s", a);
		return;
	}
	if (c->has_mediator && !ps->tund_key[TK_MEDIATOR_KEY]) {
		cfg_fail(ps, -EINVAL, ps->tund_key[TK_MEDIATOR], CUR_TUND, "mediator_key",
		     "missing (required with mediator)");
		return;
	}
	if (c->has_relay && !ps->tund_key[TK_RELAY_KEY]) {
		cfg_fail(ps, -EINVAL, ps->tund_key[TK_RELAY], CUR_TUND, "relay_key",
		     "missing (required with relay)");
		return;
	}
	if (ps->tund_key[TK_RELAY_KEY] && !c->has_relay) {
		cfg_fail(ps, -EINVAL, ps->tund_key[TK_RELAY_KEY], CUR_TUND, "relay",
		     "missing (relay_key names the key of a relay, which needs its address)");
		return;
	}
	if (c->publish && !c->has_mediator && !c->lan_discovery) {
		cfg_fail(ps, -EINVAL, ps->publish_line, CUR_PUBLISH, NULL,
		     "needs mediator and mediator_key in [tund], or lan_discovery = on (the LAN only)");
		return;
	}
	for (size_t i = 0; i < c->n_peers && !ps->rc; i++) {
		check_section(ps, i);
		check_unique(ps, i);
		if (!ps->rc)
			check_system_unique(ps, i);
	}
}
