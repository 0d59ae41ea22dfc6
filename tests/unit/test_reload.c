/*
 * test_reload.c - reload.h on a daemon without network: a context with a
 * loop, a peer table and a parsed config (no TUN, UDP socket closed, no
 * mediator), driven through reload_run, reload_allow and reload_revoke
 * with real files in a temporary directory. Checks the peer diff (an
 * unchanged peer keeps its very object and session), restart-only keys,
 * a config that does not parse, the clients file merge and allow/revoke's
 * errors; and peers_remove's cleanup (indices, queue) under ASan.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "clients.h"
#include "daemon.h"
#include "log.h"
#include "peer.h"
#include "reload.h"

struct lab {
	uv_loop_t loop;
	struct daemon d;
	char dir[64];
	char conf[128], state[128], clients[160];
	char pub_a[KEY_B64_LEN + 1], pub_b[KEY_B64_LEN + 1], pub_c[KEY_B64_LEN + 1];
	char pub_d[KEY_B64_LEN + 1], pub_e[KEY_B64_LEN + 1];
};

static void pubkey(char out[KEY_B64_LEN + 1])
{
	uint8_t priv[KEY_LEN], pub[KEY_LEN];
	key_generate(priv);
	assert_int_equal(key_public(pub, priv), 0);
	key_to_base64(out, pub);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* [tund] with a client pool and the lab's state directory, then extra. */
static void write_conf(struct lab *l, const char *tund_extra, const char *sections)
{
	char text[4096];
	snprintf(text, sizeof(text),
		 "[tund]\nprivate_key_file = %s/key\naddress = 100.100.0.1/16\nclient_pool = 100.127.0.0/16\n"
		 "state_directory = %s\n%s\n%s", l->dir, l->state, tund_extra, sections);
	write_file(l->conf, text);
}

static int setup(void **state)
{
	struct lab *l = calloc(1, sizeof(*l));
	uint8_t priv[KEY_LEN];
	char b64[KEY_B64_LEN + 2], err[CFG_ERR_MAX];
	assert_non_null(l);
	unsetenv("NOTIFY_SOCKET");
	snprintf(l->dir, sizeof(l->dir), "/tmp/test_reload.XXXXXX");
	assert_non_null(mkdtemp(l->dir));
	snprintf(l->conf, sizeof(l->conf), "%s/tund.conf", l->dir);
	snprintf(l->state, sizeof(l->state), "%s/state", l->dir);
	snprintf(l->clients, sizeof(l->clients), "%s/clients", l->state);
	assert_int_equal(mkdir(l->state, 0755), 0);
	key_generate(priv);
	key_to_base64(b64, priv);
	strcat(b64, "\n");
	char kpath[128];
	snprintf(kpath, sizeof(kpath), "%s/key", l->dir);
	write_file(kpath, b64);
	pubkey(l->pub_a);
	pubkey(l->pub_b);
	pubkey(l->pub_c);
	pubkey(l->pub_d);
	pubkey(l->pub_e);

	uv_loop_init(&l->loop);
	l->d.loop = &l->loop;
	l->d.time_scale = 1;
	l->d.udp.fd = -1;
	assert_int_equal(handshake_self_init(&l->d.self, priv), 0);
	sodium_memzero(priv, sizeof(priv));
	write_conf(l, "", "");
	assert_int_equal(cfg_parse_file(&l->d.cfg, l->conf, err, sizeof(err)), 0);
	assert_int_equal(peers_new(&l->d.peers, &l->d), 0);
	*state = l;
	return 0;
}

static int teardown(void **state)
{
	struct lab *l = *state;
	char cmd[PATH_MAX + 16];
	peers_free(l->d.peers, NULL, NULL);
	uv_run(&l->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&l->loop), 0);
	cfg_free(&l->d.cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", l->dir);
	assert_int_equal(system(cmd), 0);
	free(l);
	return 0;
}

static struct peer *named(struct lab *l, const char *name)
{
	for (size_t i = 0; i < peers_count(l->d.peers); i++)
		if (strcmp(peers_at(l->d.peers, i)->cfg.name, name) == 0)
			return peers_at(l->d.peers, i);
	return NULL;
}

static void has_line(const char *report, const char *want)
{
	if (!strstr(report, want))
		fail_msg("report lacks \"%s\":\n%s", want, report);
}

static void reload_ok(struct lab *l, char *out)
{
	int rc = reload_run(&l->d, out, RELOAD_REPORT_MAX);
	if (rc)
		fail_msg("reload failed: %s", out);
}

/* --------------------------------------------------------------- tests */

static void peer_changes(void **state)
{
	struct cfg_peer a = { .role = CFG_ROLE_PEER, .has_key = true, .address = 1 }, b;
	char s[128];
	b = a;
	assert_int_equal(reload_peer_changes(&a, &b), 0);
	b.key[0] = 1;
	b.has_endpoint = true;
	b.persistent_keepalive = 25;
	unsigned ch = reload_peer_changes(&a, &b);
	assert_int_equal(ch, RELOAD_KEY | RELOAD_ENDPOINT | RELOAD_KEEPALIVE);
	reload_changes_format(ch, s, sizeof(s));
	assert_string_equal(s, "key, endpoint, persistent_keepalive");
	/* a key learned from the mediator is not a config change */
	struct cfg_peer sys = { .role = CFG_ROLE_PEER, .has_system = true }, learned = sys;
	learned.key[3] = 9;
	assert_int_equal(reload_peer_changes(&sys, &learned), 0);
	learned.has_psk = true;
	assert_int_equal(reload_peer_changes(&sys, &learned), RELOAD_PSK);
}

static void tund_changes(void **state)
{
	struct cfg a, b;
	const char *keys[RELOAD_TUND_KEYS_MAX];
	char err[CFG_ERR_MAX];
	assert_int_equal(cfg_parse_string(&a, "a", "[tund]\naddress = 10.0.0.1/24\n", err, sizeof(err)), 0);
	assert_int_equal(cfg_parse_string(&b, "b", "[tund]\naddress = 10.0.0.1/24\nlog_level = debug\n"
					  "nat_keepalive = 5\n", err, sizeof(err)), 0);
	assert_int_equal(reload_tund_changes(&a, &b, keys, RELOAD_TUND_KEYS_MAX), 0); /* live keys */
	cfg_free(&b);
	assert_int_equal(cfg_parse_string(&b, "b", "[tund]\naddress = 10.0.0.2/24\nmtu = 1400\n"
					  "listen_port = 1\nrelay_pool = 3\n", err, sizeof(err)), 0);
	assert_int_equal(reload_tund_changes(&a, &b, keys, RELOAD_TUND_KEYS_MAX), 4);
	assert_string_equal(keys[0], "address");
	assert_string_equal(keys[1], "listen_port");
	assert_string_equal(keys[2], "mtu");
	assert_string_equal(keys[3], "relay_pool");
	assert_int_equal(reload_tund_changes(&a, &b, keys, 2), 2);
	cfg_free(&b);
	assert_int_equal(cfg_parse_string(&b, "b", "[tund]\naddress = 10.0.0.1/24\nlan_discovery = off\n",
					  err, sizeof(err)), 0);
	assert_int_equal(reload_tund_changes(&a, &b, keys, RELOAD_TUND_KEYS_MAX), 1);
	assert_string_equal(keys[0], "lan_discovery");
	cfg_free(&a);
	cfg_free(&b);
}

static void removes_cleanly(void **state)
{
	struct lab *l = *state;
	struct cfg_peer c = { .role = CFG_ROLE_CLIENT, .has_key = true, .name = "x" };
	struct peer *p;
	struct session *s = calloc(1, sizeof(*s)), *got;
	uint8_t pkt[40] = { 0x45 };
	memset(c.key, 7, sizeof(c.key));
	assert_int_equal(peers_add(l->d.peers, &c, 0x647f0001, &p), 0);
	s->local_index = peers_index_alloc(l->d.peers, p, s);
	peer_install_session(p, s);
	p->hs_index = peers_index_alloc(l->d.peers, p, NULL);
	p->hs_active = true;
	assert_true(peer_queue_push(p, pkt, sizeof(pkt)));
	uint32_t si = s->local_index, hi = p->hs_index;
	peers_remove(l->d.peers, p);
	assert_int_equal(peers_count(l->d.peers), 0);
	assert_null(peers_by_index(l->d.peers, si, &got));
	assert_null(peers_by_index(l->d.peers, hi, &got));
	assert_null(peers_by_addr(l->d.peers, 0x647f0001));
	peers_remove(l->d.peers, p); /* not in the table any more: nothing */
	uv_run(&l->loop, UV_RUN_NOWAIT); /* the close callback frees it */
}

static void reload_diff(void **state)
{
	struct lab *l = *state;
	char out[RELOAD_REPORT_MAX], sect[2048];
	snprintf(sect, sizeof(sect),
		 "[client \"a\"]\nkey = %s\n[client \"b\"]\nkey = %s\n[client \"c\"]\nkey = %s\n"
		 "[peer \"hq\"]\nkey = %s\naddress = 100.100.0.10\nendpoint = 192.0.2.7:41641\n",
		 l->pub_a, l->pub_b, l->pub_c, l->pub_e);
	write_conf(l, "", sect);
	reload_ok(l, out);
	has_line(out, "added client \"a\" at 100.127.");
	has_line(out, "added peer \"hq\" at 100.100.0.10");
	has_line(out, "unchanged: 0 peer(s)");
	assert_int_equal(peers_count(l->d.peers), 4);
	struct peer *c = named(l, "c"), *hq = named(l, "hq");
	assert_true(hq->hs_active); /* started as at start-up */
	struct session *s = calloc(1, sizeof(*s));
	s->local_index = peers_index_alloc(l->d.peers, c, s);
	peer_install_session(c, s);
	c->rx_bytes = 12345;
	uint32_t c_addr = c->addr;

	/* a goes, d comes, b's key changes, hq's endpoint changes, c stays */
	snprintf(sect, sizeof(sect),
		 "[client \"b\"]\nkey = %s\n[client \"c\"]\nkey = %s\n[client \"d\"]\nkey = %s\n"
		 "[peer \"hq\"]\nkey = %s\naddress = 100.100.0.10\nendpoint = 192.0.2.8:41641\n",
		 l->pub_a, l->pub_c, l->pub_d, l->pub_e);
	write_conf(l, "log_level = debug\nmtu = 1400\n", sect);
	reload_ok(l, out);
	has_line(out, "reloaded ");
	has_line(out, "removed client \"a\"");
	has_line(out, "changed client \"b\" (key)");
	has_line(out, "changed peer \"hq\" (endpoint)");
	has_line(out, "added client \"d\"");
	has_line(out, "unchanged: 1 peer(s) and client(s)");
	has_line(out, "mtu changed: restart tund to apply");
	has_line(out, "log_level changed: applied");
	assert_null(strstr(out, "failed"));
	assert_int_equal(l->d.cfg.mtu, 1380);           /* kept */
	assert_int_equal(l->d.cfg.log_level, CFG_LOG_DEBUG); /* applied */
	log_set_level(LOG_LVL_INFO);
	assert_ptr_equal(named(l, "c"), c);              /* the very object */
	assert_ptr_equal(c->cur, s);
	assert_int_equal(c->rx_bytes, 12345);
	assert_int_equal(c->addr, c_addr);
	assert_null(named(l, "a"));
	assert_non_null(named(l, "d"));
	assert_int_equal(peers_count(l->d.peers), 4);
	assert_int_equal(l->d.cfg.n_peers, 4);

	/* a config that does not parse changes nothing */
	write_file(l->conf, "[tund]\naddress = 100.100.0.1/16\nthis is not ini\n");
	assert_true(reload_run(&l->d, out, sizeof(out)) < 0);
	has_line(out, "tund.conf:3: syntax error");
	has_line(out, "still running with the previous configuration");
	assert_int_equal(peers_count(l->d.peers), 4);
	assert_ptr_equal(named(l, "c"), c);
}

static void allow_and_revoke(void **state)
{
	struct lab *l = *state;
	char out[1024], sect[1024];
	snprintf(sect, sizeof(sect), "[client \"cfg\"]\nkey = %s\n", l->pub_a);
	write_conf(l, "", sect);
	reload_ok(l, (char[RELOAD_REPORT_MAX]){ 0 });

	assert_int_equal(reload_allow(&l->d, "nonsense", "e", out, sizeof(out)), -EINVAL);
	has_line(out, "is not a base64 public key");
	assert_int_equal(reload_allow(&l->d, l->pub_e, "bad name", out, sizeof(out)), -EINVAL);
	assert_int_equal(reload_allow(&l->d, l->pub_e, "cfg", out, sizeof(out)), -EEXIST);
	has_line(out, "the name \"cfg\" is taken");
	assert_int_equal(reload_allow(&l->d, l->pub_a, "x", out, sizeof(out)), -EEXIST);
	has_line(out, "already allowed, as client \"cfg\"");

	assert_int_equal(reload_allow(&l->d, l->pub_e, "e", out, sizeof(out)), 0);
	has_line(out, "allowed client \"e\"");
	struct peer *e = named(l, "e");
	assert_non_null(e);
	assert_true(e->from_clients_file);
	struct clients cl;
	char err[256];
	assert_int_equal(clients_load(&cl, l->clients, err, sizeof(err)), 0);
	assert_int_equal(cl.n, 1);
	assert_string_equal(cl.v[0].name, "e");
	clients_free(&cl);

	/* default name: the key's first characters */
	assert_int_equal(reload_allow(&l->d, l->pub_d, NULL, out, sizeof(out)), 0);
	char dname[CFG_NAME_MAX];
	uint8_t k[KEY_LEN];
	key_from_base64(k, l->pub_d);
	clients_default_name(dname, k);
	assert_non_null(named(l, dname));

	/* a reload keeps them (the file is merged), unchanged */
	char rep[RELOAD_REPORT_MAX];
	reload_ok(l, rep);
	has_line(rep, "unchanged: 3 peer(s)");
	assert_ptr_equal(named(l, "e"), e);

	assert_int_equal(reload_revoke(&l->d, "cfg", out, sizeof(out)), -EPERM);
	has_line(out, "comes from the config file");
	has_line(out, "edit the config and reload");
	assert_int_equal(reload_revoke(&l->d, "nobody", out, sizeof(out)), -ENOENT);
	has_line(out, "unknown client \"nobody\"");
	assert_int_equal(reload_revoke(&l->d, "a b", out, sizeof(out)), -EINVAL);
	assert_int_equal(reload_revoke(&l->d, "e", out, sizeof(out)), 0);
	has_line(out, "its session was dropped");
	assert_null(named(l, "e"));
	assert_int_equal(reload_revoke(&l->d, l->pub_d, out, sizeof(out)), 0); /* by key */
	assert_null(named(l, dname));
	assert_int_equal(clients_load(&cl, l->clients, err, sizeof(err)), 0);
	assert_int_equal(cl.n, 0);
	clients_free(&cl);

	/* without the state directory nothing can be kept */
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", l->state);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(reload_allow(&l->d, l->pub_e, "e", out, sizeof(out)), -ENOENT);
	has_line(out, "no state directory: ");
	has_line(out, l->state);
	assert_null(named(l, "e"));
}

static void clients_file_merge(void **state)
{
	struct lab *l = *state;
	char text[1024], sect[512], out[RELOAD_REPORT_MAX], err[CFG_ERR_MAX];
	/* one entry the config overrides by key, one by name, one used */
	snprintf(text, sizeof(text), "%s samekey\n%s cfg\n%s fromfile\n", l->pub_a, l->pub_b, l->pub_c);
	write_file(l->clients, text);
	snprintf(sect, sizeof(sect), "[client \"cfg\"]\nkey = %s\n", l->pub_a);
	write_conf(l, "", sect);
	cfg_free(&l->d.cfg);
	assert_int_equal(cfg_parse_file(&l->d.cfg, l->conf, err, sizeof(err)), 0);
	/* as at start-up: the config's sections, then the file */
	struct peer *p;
	uint32_t addr;
	assert_int_equal(peers_pool_address(l->d.peers, l->d.cfg.peers[0].key, l->d.cfg.client_pool,
					    l->d.cfg.client_pool_len, l->d.cfg.address, &addr), 0);
	assert_int_equal(peers_add(l->d.peers, &l->d.cfg.peers[0], addr, &p), 0);
	assert_int_equal(reload_saved_clients(&l->d, err, sizeof(err)), 0);
	assert_int_equal(peers_count(l->d.peers), 2);
	assert_non_null(named(l, "fromfile"));
	assert_true(named(l, "fromfile")->from_clients_file);
	assert_false(named(l, "cfg")->from_clients_file);
	reload_ok(l, out);
	has_line(out, "skipped: clients file entry \"samekey\": its key is [client \"cfg\"]");
	has_line(out, "skipped: clients file entry \"cfg\": the name is taken");
	has_line(out, "unchanged: 2 peer(s)");

	/* a broken clients file fails the reload (and start-up) */
	write_file(l->clients, "garbage\n");
	assert_true(reload_run(&l->d, out, sizeof(out)) < 0);
	has_line(out, "clients:1: expected \"KEY NAME\"");
	assert_int_equal(reload_saved_clients(&l->d, err, sizeof(err)), -EINVAL);
	assert_int_equal(peers_count(l->d.peers), 2);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(peer_changes),
		cmocka_unit_test(tund_changes),
		cmocka_unit_test_setup_teardown(removes_cleanly, setup, teardown),
		cmocka_unit_test_setup_teardown(reload_diff, setup, teardown),
		cmocka_unit_test_setup_teardown(allow_and_revoke, setup, teardown),
		cmocka_unit_test_setup_teardown(clients_file_merge, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
