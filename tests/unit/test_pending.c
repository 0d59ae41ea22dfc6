/*
 * test_pending.c - the mediator's table of connects in progress: lookups
 * by (transaction id, client key) and by (connect id, server key), the
 * bound on entries, return channels without duplicates, forgetting a
 * closed connection, and expiry that may remove what it visits.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "pending.h"

static int conn_a, conn_b, conn_c;

static struct pending entry(uint8_t tx, uint8_t client, uint8_t server, uint64_t deadline)
{
	struct pending p = { .state = PENDING_WAITING, .deadline_ms = deadline };

	memset(p.txid, tx, sizeof(p.txid));
	memset(p.client_key, client, sizeof(p.client_key));
	memset(p.server_key, server, sizeof(p.server_key));
	return p;
}

static void lookups(void **state)
{
	struct pending_table *t;
	struct pending *a, *b;
	uint8_t tx[STUN_TXID_LEN], k1[KEY_LEN], k2[KEY_LEN], s1[KEY_LEN];
	assert_int_equal(pending_table_new(&t, 10), 0);

	struct pending v1 = entry(1, 0xc1, 0x51, 100), v2 = entry(1, 0xc2, 0x51, 100);
	assert_int_equal(pending_add(t, &v1, &a), 0);
	assert_int_equal(pending_add(t, &v2, &b), 0);   /* same txid, other client */
	memset(tx, 1, sizeof(tx));
	memset(k1, 0xc1, sizeof(k1));
	memset(k2, 0xc2, sizeof(k2));
	memset(s1, 0x51, sizeof(s1));
	assert_ptr_equal(pending_find(t, tx, k1), a);
	assert_ptr_equal(pending_find(t, tx, k2), b);
	assert_null(pending_find(t, tx, s1));
	assert_non_null(pending_find_answer(t, tx, s1));
	assert_null(pending_find_answer(t, tx, k1));   /* a client key is not the server's */
	memset(tx, 2, sizeof(tx));
	assert_null(pending_find(t, tx, k1));
	pending_remove(t, a);
	memset(tx, 1, sizeof(tx));
	assert_null(pending_find(t, tx, k1));
	assert_ptr_equal(pending_find_answer(t, tx, s1), b);
	assert_int_equal(pending_count(t), 1);
	pending_table_free(t);
}

static void bounded(void **state)
{
	struct pending_table *t;
	struct pending *p;
	assert_int_equal(pending_table_new(&t, 3), 0);
	for (uint8_t i = 0; i < 3; i++) {
		struct pending v = entry(i, 1, 2, 0);
		assert_int_equal(pending_add(t, &v, &p), 0);
	}
	struct pending v = entry(9, 1, 2, 0);
	assert_int_equal(pending_add(t, &v, &p), -ENOSPC);
	assert_int_equal(pending_count(t), 3);
	pending_table_free(t);
}

static void channels(void **state)
{
	struct pending_table *t;
	struct pending *p, *q;
	struct endpoint e1 = { 0xcb007114, 4000 }, e2 = { 0xcb007114, 4001 }, e3 = { 0xcb007115, 1 };
	assert_int_equal(pending_table_new(&t, 10), 0);
	struct pending v = entry(1, 1, 2, 0), w = entry(2, 1, 2, 0);
	assert_int_equal(pending_add(t, &v, &p), 0);
	assert_int_equal(pending_add(t, &w, &q), 0);

	assert_true(pending_add_udp(p, &e1, 0));
	assert_false(pending_add_udp(p, &e1, 1));   /* same source again */
	assert_true(pending_add_udp(p, &e2, 1));
	assert_false(pending_add_udp(p, &e3, 0));   /* full */
	assert_int_equal(p->n_udp, 2);
	assert_true(endpoint_equal(&p->udp[0].from, &e1));   /* the first stays first */

	assert_true(pending_add_tcp(p, &conn_a));
	assert_false(pending_add_tcp(p, &conn_a));
	assert_true(pending_add_tcp(p, &conn_b));
	assert_false(pending_add_tcp(p, &conn_c));
	assert_true(pending_add_tcp(q, &conn_a));

	assert_int_equal(pending_drop_conn(t, &conn_a), 2);
	assert_int_equal(p->n_tcp, 1);
	assert_ptr_equal(p->tcp[0], &conn_b);
	assert_int_equal(q->n_tcp, 0);
	assert_int_equal(pending_drop_conn(t, &conn_a), 0);
	pending_table_free(t);
}

struct expiry {
	struct pending_table *t;
	int visited;
};

/* Removes what is answered, moves the waiting ones to a later deadline. */
static void due_cb(void *arg, struct pending *p)
{
	struct expiry *x = arg;
	x->visited++;
	if (p->state == PENDING_WAITING) {
		p->state = PENDING_TIMED_OUT;
		p->deadline_ms += 1000;
	} else {
		pending_remove(x->t, p);
	}
}

static void expiry(void **state)
{
	struct expiry x = { 0 };
	struct pending *p;
	assert_int_equal(pending_table_new(&x.t, 100), 0);
	for (uint8_t i = 0; i < 50; i++) {
		struct pending v = entry(i, 1, 2, 100 + i);
		v.state = i % 2 ? PENDING_ANSWERED : PENDING_WAITING;
		assert_int_equal(pending_add(x.t, &v, &p), 0);
	}
	pending_expire(x.t, 99, due_cb, &x);
	assert_int_equal(x.visited, 0);
	pending_expire(x.t, 124, due_cb, &x);   /* deadlines 100..124: 25 entries */
	assert_int_equal(x.visited, 25);
	assert_int_equal(pending_count(x.t), 50 - 12);
	x.visited = 0;
	pending_expire(x.t, 10000, due_cb, &x);
	/* what was due at 124 and answered is gone; of the 25 later ones the
	 * 12 waiting (even) ones remain, timed out */
	assert_int_equal(pending_count(x.t), 12);
	pending_expire(x.t, 20000, due_cb, &x);
	assert_int_equal(pending_count(x.t), 0);
	pending_table_free(x.t);
}

int main(void)
{
	assert_true(sodium_init() >= 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lookups),
		cmocka_unit_test(bounded),
		cmocka_unit_test(channels),
		cmocka_unit_test(expiry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
