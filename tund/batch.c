/*
 * batch.c - see batch.h. Key copies in the job arrays are wiped as soon as
 * a run is over, so they live no longer than one pass of the loop.
 */
#include "batch.h"

#include <errno.h>
#include <stdlib.h>

#include <sodium.h>

int batch_new(struct batch **out, unsigned threads, bool gro, unsigned mtu)
{
	struct batch *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->tun_buf = malloc(OFFLOAD_HDR_LEN + OFFLOAD_MAX_PACKET);
	b->seg_buf = malloc(OFFLOAD_MAX_PACKET);
	int rc = b->tun_buf && b->seg_buf ? cryptpool_new(&b->pool, threads) : -ENOMEM;
	if (rc) {
		free(b->tun_buf);
		free(b->seg_buf);
		free(b);
		return rc;
	}
	offload_gro_init(&b->gro, gro, mtu);
	*out = b;
	return 0;
}

void batch_free(struct batch *b)
{
	if (!b)
		return;
	cryptpool_free(b->pool);
	sodium_memzero(b->tx, sizeof(b->tx));
	sodium_memzero(b->rx, sizeof(b->rx));
	free(b->tun_buf);
	free(b->seg_buf);
	free(b);
}

void batch_tx_run_cb(void *arg)
{
	struct batch *b = arg;
	if (!b->n_tx)
		return;
	cryptpool_run(b->pool, b->tx, b->n_tx);
	sodium_memzero(b->tx, b->n_tx * sizeof(b->tx[0]));
	b->n_tx = 0;
}

void batch_rx_run(struct batch *b)
{
	cryptpool_run(b->pool, b->rx, b->n_rx);
}

void batch_rx_reset(struct batch *b)
{
	sodium_memzero(b->rx, b->n_rx * sizeof(b->rx[0]));
	b->n_rx = 0;
}
