/*
 * send.c - the outbound half of the data path: packets read from the TUN
 * are matched to a peer by destination address, encrypted in place in a
 * UDP transmit slot (the TUN read lands right after the DATA header, so
 * the packet is never copied) and sent in one sendmmsg batch. Packets for
 * a peer without a usable session wait in its queue while a handshake runs.
 * When the peer's current path is a stream (path.h), the sealed frame is
 * copied to it instead of committed to the UDP batch.
 *
 * With TUN offloads (offload.h) a read may be a 64 KiB super-packet: it
 * is split into MTU-sized packets, each written straight into a transmit
 * slot, for UDP; a stream path takes it whole, as one record. Sealing of
 * UDP frames is deferred to the batch's crypto run (batch.h), which
 * happens when the UDP batch is flushed.
 * Also builds handshake initiations and keepalives.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "daemon.h"
#include "log.h"
#include "peer.h"
#include "path.h"
#include "punch.h"
#include "resolve.h"
#include "tconn.h"
#include "timers.h"
#include "xlate.h"

#define TUN_READS_PER_CALLBACK 64

void send_handshake_init(struct daemon *d, struct peer *p)
{
	uint64_t now = uv_now(d->loop);
	uint8_t msg[WIRE_INIT_LEN];

	if (!peer_can_initiate(p))
		return;
	if (p->hs_active) {
		peers_index_free(d->peers, p->hs_index); /* each try: new ephemeral, new index */
		noise_handshake_wipe(&p->hs);
		p->hs_active = false;
	} else {
		p->hs_started_ms = now;
		p->hs_tries = 0;
	}
	/* A failure below still counts as an attempt (last_tx_ms), so the
	 * persistent keepalive that called us is not due again at once. */
	p->hs_index = peers_index_alloc(d->peers, p, NULL);
	if (!p->hs_index) {
		p->last_tx_ms = now;
		return;
	}
	if (handshake_init_create(&p->hs, &d->self, p->cfg.key, p->psk, p->hs_index, msg)) {
		peers_index_free(d->peers, p->hs_index);
		p->last_tx_ms = now;
		return;
	}
	p->hs_active = true;
	p->hs_tries++;
	p->hs_sent_ms = now;
	p->hs_sent_ns = uv_hrtime();
	log_debug("peer %s: handshake initiation #%u", p->cfg.name, p->hs_tries);
	memcpy(p->hs_msg, msg, sizeof(msg));
	punch_send_init(d, p, msg, sizeof(msg));
	path_want_relay(d, p); /* races the relay against the other paths */
	p->last_tx_ms = now;
	timers_handshake_sent(p);
}

static void maybe_rekey(struct daemon *d, struct peer *p, uint64_t now)
{
	if (!p->hs_active && peer_can_initiate(p) &&
	    (!timers_session_alive(d, p->cur, now) || timers_session_wants_rekey(d, p->cur, now)))
		send_handshake_init(d, p);
}

/* Seals the packet already sitting at slot + WIRE_DATA_HDR_LEN: at once
 * for a stream path, or in the batch's crypto run for the UDP batch it is
 * committed to. */
static int seal_and_send(struct daemon *d, struct peer *p, uint8_t *slot, size_t len)
{
	if (p->conn || !d->batch) {
		int n = session_encrypt(p->cur, slot + WIRE_DATA_HDR_LEN, len, slot, UDP_SLOT_LEN);
		if (n < 0)
			return n;
		if (p->conn)
			return tconn_send(p->conn, slot, (size_t)n);
		udp_tx_commit(&d->udp, (size_t)n, &p->endpoint);
		return 0;
	}
	int n = session_seal_prepare(p->cur, WIRE_TYPE_DATA, len, slot, UDP_SLOT_LEN, batch_tx_next(d->batch));
	if (n < 0)
		return n;
	batch_tx_commit(d->batch);
	udp_tx_commit(&d->udp, (size_t)n, &p->endpoint);
	return 0;
}

static void send_in_slot(struct daemon *d, struct peer *p, uint8_t *slot, size_t len, uint64_t now)
{
	/* An attempt counts as a send for the keepalive timers: were a failed
	 * one (a stream path closing or full, a session out of counters) left
	 * out, the keepalive would stay due and be retried every millisecond. */
	p->last_tx_ms = now;
	if (seal_and_send(d, p, slot, len) < 0) {
		d->cnt.udp_send_errors++;
		return;
	}
	timers_any_sent(p);
	if (len) {
		p->tx_bytes += len;
		p->tx_packets++;
		p->last_data_tx_ms = now;
		timers_data_sent(p);
	}
}

static bool session_ready(struct daemon *d, struct peer *p, uint64_t now)
{
	return p->cur && p->has_endpoint && timers_session_alive(d, p->cur, now);
}

void send_keepalive(struct daemon *d, struct peer *p)
{
	uint64_t now = uv_now(d->loop);
	if (!session_ready(d, p, now))
		return;
	send_in_slot(d, p, udp_tx_slot(&d->udp), 0, now);
	udp_flush(&d->udp);
	maybe_rekey(d, p, now);
}

void send_queued(struct daemon *d, struct peer *p)
{
	uint64_t now = uv_now(d->loop);
	if (!session_ready(d, p, now))
		return;
	while (p->queue.count) {
		uint8_t *slot = udp_tx_slot(&d->udp);
		size_t len = peer_queue_pop(p, slot + WIRE_DATA_HDR_LEN, UDP_SLOT_LEN - WIRE_DATA_MIN_LEN);
		send_in_slot(d, p, slot, len, now);
	}
	udp_flush(&d->udp);
}

/* The peer a packet read from the TUN goes to, or NULL (counted). */
static struct peer *peer_for(struct daemon *d, const uint8_t *pkt, size_t len)
{
	uint32_t src, dst;
	if (xlate_ipv4_addrs(pkt, len, &src, &dst)) {
		d->cnt.tun_not_ipv4++;
		return NULL;
	}
	struct peer *p = peers_by_addr(d->peers, dst);
	if (!p)
		d->cnt.tun_no_peer++;
	return p;
}

/* No usable session: the packet waits while one is made. */
static void hold_packet(struct daemon *d, struct peer *p, const uint8_t *pkt, size_t len)
{
	if (!peer_queue_push(p, pkt, len))
		d->cnt.tun_queue_dropped++;
}

static void want_session(struct daemon *d, struct peer *p, uint64_t now)
{
	/* A session we just answered is about to be confirmed by the peer's
	 * first packet; a handshake of our own now would only cross it. */
	bool answered_recently = p->next && now - p->next->created_ms < TIMERS_REKEY_TIMEOUT_MS;
	if (p->hs_active || answered_recently)
		return;
	if (p->rs)
		resolve_start(d, p); /* asks the mediator, or punches with a fresh answer */
	else
		send_handshake_init(d, p);
}

static void route_packet(struct daemon *d, uint8_t *slot, size_t len, uint64_t now)
{
	uint8_t *pkt = slot + WIRE_DATA_HDR_LEN;
	struct peer *p = peer_for(d, pkt, len);
	if (!p)
		return;
	if (session_ready(d, p, now)) {
		send_in_slot(d, p, slot, len, now);
		maybe_rekey(d, p, now);
		return;
	}
	hold_packet(d, p, pkt, len);
	want_session(d, p, now);
}

/* One read from a TUN device with offloads: h and the packet at pkt. */
static void route_offloaded(struct daemon *d, const struct offload_hdr *h, uint8_t *pkt, size_t len,
			    uint64_t now)
{
	struct peer *p = peer_for(d, pkt, len);
	if (!p)
		return;
	bool ready = session_ready(d, p, now);
	/* A stream path frames large records: a TCP super-packet goes whole
	 * (several UDP datagrams cannot be one: -EMSGSIZE, split below). */
	int whole = ready && p->conn ? offload_whole(h, pkt, len) : -EMSGSIZE;
	if (whole && whole != -EMSGSIZE) {
		d->cnt.tun_bad_offload++;
		return;
	}
	if (!whole) {
		uint8_t *slot = udp_tx_slot(&d->udp); /* scratch: a stream frame is not committed */
		memcpy(slot + WIRE_DATA_HDR_LEN, pkt, len);
		send_in_slot(d, p, slot, len, now);
		maybe_rekey(d, p, now);
		return;
	}
	struct offload_seg it;
	if (offload_seg_init(&it, h, pkt, len)) {
		d->cnt.tun_bad_offload++;
		return;
	}
	for (;;) {
		uint8_t *slot = udp_tx_slot(&d->udp);
		ssize_t n = offload_seg_next(&it, slot + WIRE_DATA_HDR_LEN, UDP_SLOT_LEN - WIRE_DATA_MIN_LEN);
		if (n <= 0)
			break;
		if (ready)
			send_in_slot(d, p, slot, (size_t)n, now);
		else
			hold_packet(d, p, slot + WIRE_DATA_HDR_LEN, (size_t)n);
	}
	if (ready)
		maybe_rekey(d, p, now);
	else
		want_session(d, p, now);
}

static void read_offloaded(struct daemon *d, uint64_t now)
{
	uint8_t *buf = d->batch->tun_buf;
	struct offload_hdr h;
	for (int i = 0; i < TUN_READS_PER_CALLBACK; i++) {
		ssize_t n = read(d->tun.fd, buf, OFFLOAD_HDR_LEN + OFFLOAD_MAX_PACKET);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_warn("read from %s: %s", d->tun.name, strerror(errno));
			break;
		}
		if ((size_t)n < OFFLOAD_HDR_LEN) {
			d->cnt.tun_bad_offload++;
			continue;
		}
		offload_hdr_decode(&h, buf);
		route_offloaded(d, &h, buf + OFFLOAD_HDR_LEN, (size_t)n - OFFLOAD_HDR_LEN, now);
	}
	udp_flush(&d->udp);
}

void send_tun_readable(struct daemon *d)
{
	uint64_t now = uv_now(d->loop);
	if (d->tun.vnet && d->batch) {
		read_offloaded(d, now);
		return;
	}
	for (int i = 0; i < TUN_READS_PER_CALLBACK; i++) {
		uint8_t *slot = udp_tx_slot(&d->udp);
		ssize_t n = read(d->tun.fd, slot + WIRE_DATA_HDR_LEN, UDP_SLOT_LEN - WIRE_DATA_MIN_LEN);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_warn("read from %s: %s", d->tun.name, strerror(errno));
			break;
		}
		route_packet(d, slot, (size_t)n, now);
	}
	udp_flush(&d->udp);
}
