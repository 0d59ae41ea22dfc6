/*
 * batch.h - what one pass of the data path collects before it acts: the
 * AEAD jobs of the frames in the UDP transmit batch, the jobs of the DATA
 * frames just received (with what each needs afterwards), the receive
 * side's coalescer (offload.h) and the buffers for one TUN read.
 *
 * The event loop fills a batch and runs its crypto in one cryptpool_run()
 * (cryptpool.h), spread over threads; then, still on the loop, the
 * frames are sent (udp.c) or delivered (receive.c) in the order they were
 * queued, so no peer's packets are reordered by the parallel work. A job
 * carries a copy of its key, so nothing the loop frees later is touched
 * by a worker.
 *
 * Invariant: tx jobs correspond one to one, in order, to the frames in
 * the UDP transmit batch that still need sealing (udp.h before_flush).
 */
#ifndef TUND_BATCH_H
#define TUND_BATCH_H

#include <stdint.h>

#include "cryptpool.h"
#include "offload.h"
#include "path.h"
#include "udp.h"

#define BATCH_RX_MAX 256  /* DATA frames opened per cryptpool run */

struct peer;
struct session;

/* What receive.c needs to finish one opened frame. */
struct batch_rx {
	struct peer *p;
	struct session *s;
	struct pathref from;
	uint32_t receiver;       /* the frame's receiver index, to look the session up again */
	uint8_t type;            /* WIRE_TYPE_DATA or WIRE_TYPE_PROBE */
};

struct batch {
	struct cryptpool *pool;
	struct crypt_job tx[UDP_TX_BATCH];
	unsigned n_tx;
	struct crypt_job rx[BATCH_RX_MAX];
	struct batch_rx rx_info[BATCH_RX_MAX];
	unsigned n_rx;
	struct offload_gro gro;
	uint8_t *tun_buf;        /* OFFLOAD_HDR_LEN + OFFLOAD_MAX_PACKET: one TUN read */
	uint8_t *seg_buf;        /* OFFLOAD_MAX_PACKET: one segment written to the TUN */
};

/* threads: cryptpool_new's (0 = auto). gro: coalesce on receive (the TUN
 * device took TSO); mtu: the TUN device's. 0 or -errno. */
int batch_new(struct batch **out, unsigned threads, bool gro, unsigned mtu);
void batch_free(struct batch *b);

/* The next tx job slot, filled by the caller and then kept with
 * batch_tx_commit. There is always one while the invariant above holds:
 * the UDP batch flushes, and with it this list, when full. */
static inline struct crypt_job *batch_tx_next(struct batch *b) { return &b->tx[b->n_tx]; }
static inline void batch_tx_commit(struct batch *b) { b->n_tx++; }
/* udp.h before_flush: seals every queued tx frame, then forgets the jobs. */
void batch_tx_run_cb(void *arg);

/* Runs the queued rx jobs (results in b->rx[i].result); the caller
 * finishes them in order and then calls batch_rx_reset. */
void batch_rx_run(struct batch *b);
void batch_rx_reset(struct batch *b);

#endif
