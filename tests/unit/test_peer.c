/*
 * test_peer.c - the peer table: lookups by key, address and session index;
 * stable, collision-free client addresses from the pool; the session
 * slots across a rekey; the bounded wait queue; when a keepalive is owed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "daemon.h"
#include "peer.h"
#include "timers.h"

static struct daemon d;
static uv_loop_t loop;

static int setup(void **state)
{
	assert_true(sodium_init() >= 0);
	uv_loop_init(&loop);
	memset(&d, 0, sizeof(d));
	d.loop = &loop;
	assert_int_equal(peers_new(&d.peers, &d), 0);
	return 0;
}

static int teardown(void **state)
{
	peers_free(d.peers, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT); /* runs the close callbacks */
	assert_int_equal(uv_loop_close(&loop), 0);
	return 0;
}

static struct peer *add(uint8_t keybyte, uint32_t addr)
{
	struct cfg_peer c = { .role = CFG_ROLE_CLIENT, .has_key = true };
	struct peer *p;
	memset(c.key, keybyte, sizeof(c.key));
	snprintf(c.name, sizeof(c.name), "p%u", keybyte);
	assert_int_equal(peers_add(d.peers, &c, addr, &p), 0);
	return p;
}

static void lookups(void **state)
{
	struct peer *a = add(1, 0x64640001), *b = add(2, 0x64640002);
	uint8_t k[32];
	memset(k, 2, sizeof(k));
	assert_ptr_equal(peers_by_key(d.peers, k), b);
	memset(k, 3, sizeof(k));
	assert_null(peers_by_key(d.peers, k));
	assert_ptr_equal(peers_by_addr(d.peers, 0x64640001), a);
	assert_null(peers_by_addr(d.peers, 0x64640003));
	assert_int_equal(peers_count(d.peers), 2);
	assert_int_equal(strlen(a->system_id), 36);
}

static void indices(void **state)
{
	struct peer *p = peers_at(d.peers, 0);
	struct session *s = calloc(1, sizeof(*s)), *got;
	uint32_t i1 = peers_index_alloc(d.peers, p, NULL);
	uint32_t i2 = peers_index_alloc(d.peers, p, s);
	assert_true(i1 && i2 && i1 != i2);
	assert_ptr_equal(peers_by_index(d.peers, i1, &got), p);
	assert_null(got);
	assert_ptr_equal(peers_by_index(d.peers, i2, &got), p);
	assert_ptr_equal(got, s);
	peers_index_bind(d.peers, i1, s);
	peers_by_index(d.peers, i1, &got);
	assert_ptr_equal(got, s);
	peers_index_free(d.peers, i1);
	assert_null(peers_by_index(d.peers, i1, &got));
	/* session slots: install, rekey, free through the slot API */
	s->local_index = i2;
	peer_install_session(p, s);
	struct session *s2 = calloc(1, sizeof(*s2));
	s2->local_index = peers_index_alloc(d.peers, p, s2);
	peer_set_next(p, s2);
	peer_confirm_next(p);
	assert_ptr_equal(p->cur, s2);
	assert_ptr_equal(p->prev, s);
	assert_null(p->next);
	assert_true(s2->confirmed);
	peer_clear_sessions(p);
	assert_null(peers_by_index(d.peers, i2, &got));
	assert_null(p->cur);
}

static void pool_addresses(void **state)
{
	uint32_t pool = 0x647f0000, own = 0x647f0001, a, b;
	uint8_t k[32];
	memset(k, 9, sizeof(k));
	assert_int_equal(peers_pool_address(d.peers, k, pool, 16, own, &a), 0);
	assert_int_equal(peers_pool_address(d.peers, k, pool, 16, own, &b), 0);
	assert_int_equal(a, b); /* stable: derived from the key */
	assert_true(a > pool && a < pool + 0xffff);
	add(9, a);
	assert_int_equal(peers_pool_address(d.peers, k, pool, 16, own, &b), 0);
	assert_int_not_equal(a, b); /* taken: probes on */
	/* a /30 has two usable addresses; with the own one taken, one is left */
	assert_int_equal(peers_pool_address(d.peers, k, 0x0a000000, 30, 0x0a000001, &b), 0);
	assert_int_equal(b, 0x0a000002);
	add(10, b);
	assert_int_equal(peers_pool_address(d.peers, k, 0x0a000000, 30, 0x0a000001, &b), -ENOSPC);
	assert_int_equal(peers_pool_address(d.peers, k, 0x0a000000, 32, 0, &b), -ENOSPC);
}

static void queue(void **state)
{
	struct peer *p = peers_at(d.peers, 0);
	uint8_t pkt[100], out[200];
	for (int i = 0; i < PEER_QUEUE_LEN; i++) {
		memset(pkt, i, sizeof(pkt));
		assert_true(peer_queue_push(p, pkt, (size_t)(10 + i)));
	}
	memset(pkt, 0xee, sizeof(pkt));
	assert_false(peer_queue_push(p, pkt, 50)); /* full: the oldest made room */
	size_t n = peer_queue_pop(p, out, sizeof(out));
	assert_int_equal(n, 11); /* packet 0 was dropped */
	assert_int_equal(out[0], 1);
	for (int i = 2; i < PEER_QUEUE_LEN; i++)
		assert_int_equal(peer_queue_pop(p, out, sizeof(out)), 10 + i);
	assert_int_equal(peer_queue_pop(p, out, sizeof(out)), 50);
	assert_int_equal(out[0], 0xee);
	assert_int_equal(peer_queue_pop(p, out, sizeof(out)), 0);
	/* left queued packets are freed by peers_free (ASan checks for leaks) */
	assert_true(peer_queue_push(p, pkt, 5));
}

/* The keepalive owed to a peer that sent us data (timers.c). Loop times
 * are milliseconds and a LAN round trip is shorter: a reply received in
 * the millisecond of the request must still be confirmed, or the peer
 * handshakes again 8 s after every request/response exchange. The peer is
 * this test's own; its session is a static one that ka_teardown takes
 * back even when an assertion fails, before peers_free would free it. */
static struct session ka_session;
static struct peer *ka_peer;

static void keepalive_due(void **state)
{
	struct peer *p = ka_peer = add(9, 0x64640009);
	p->last_data_rx_ms = 1000;
	p->last_tx_ms = 1000;
	p->has_endpoint = true;
	assert_int_equal(timers_keepalive_due(p), 0); /* no session */
	p->cur = &ka_session;
	assert_int_equal(timers_keepalive_due(p), 1000 + TIMERS_KEEPALIVE_MS); /* same millisecond */
	p->last_tx_ms = 999;
	assert_int_equal(timers_keepalive_due(p), 1000 + TIMERS_KEEPALIVE_MS);
	p->last_tx_ms = 1001; /* sent after: nothing owed */
	assert_int_equal(timers_keepalive_due(p), 0);
	p->last_tx_ms = 999;
	p->has_endpoint = false; /* no path: it could not go out */
	assert_int_equal(timers_keepalive_due(p), 0);
	p->has_endpoint = true;
	p->last_data_rx_ms = 0; /* never received data */
	assert_int_equal(timers_keepalive_due(p), 0);
}

static int ka_teardown(void **state)
{
	if (ka_peer && ka_peer->cur == &ka_session)
		ka_peer->cur = NULL;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lookups),
		cmocka_unit_test(indices),
		cmocka_unit_test(pool_addresses),
		cmocka_unit_test(queue),
		cmocka_unit_test_teardown(keepalive_due, ka_teardown),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
