/*
 * receive.c - the inbound half: datagrams from the UDP socket, and
 * packets from stream paths (tconn.h), are classified by their first byte
 * (wire.h) and handed to one handler per message type, with the path they
 * came on (path.h). Each handler validates and authenticates first and works
 * in locals; peer state changes only after every check passed, so a bad
 * datagram leaves nothing behind but a counter (STYLE.md rule 6).
 *
 * DATA frames from the UDP socket are opened a batch at a time (batch.h:
 * checked and queued as they come, decrypted together across threads,
 * then finished in arrival order); the packets they carry go through the
 * coalescer (offload.h) to the TUN device at the end of each batch.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/uio.h>
#include <unistd.h>

#include <sodium.h>

#include "batch.h"
#include "daemon.h"
#include "log.h"
#include "medlink.h"
#include "peer.h"
#include "path.h"
#include "punch.h"
#include "reader.h"
#include "tconn.h"
#include "timers.h"
#include "xlate.h"

#define RECV_ROUNDS_PER_CALLBACK 8

static void completed(struct daemon *d, struct peer *p)
{
	d->cnt.handshakes_completed++;
	p->last_handshake_unix = (int64_t)time(NULL);
}

static int tun_write_cb(void *arg, const struct iovec *iov, int iovcnt)
{
	struct daemon *d = arg;
	if (!d->tun.vnet) { /* the first iovec is the virtio_net_hdr */
		iov++;
		iovcnt--;
	}
	if (writev(d->tun.fd, iov, iovcnt) < 0) {
		d->cnt.tun_write_errors++;
		return -errno;
	}
	return 0;
}

static void write_one(struct daemon *d, const uint8_t *pkt, size_t len)
{
	static const uint8_t none[OFFLOAD_HDR_LEN]; /* no GSO, checksums complete */
	struct iovec iov[2] = { { (void *)none, sizeof(none) }, { (void *)pkt, len } };
	tun_write_cb(d, iov, 2);
}

/* A TCP packet longer than our MTU (a super-packet that came whole over
 * a stream path) for a TUN device without TSO: written as the segments
 * the sender's kernel made, sized for our MTU. Anything else goes as is. */
static void write_segmented(struct daemon *d, uint8_t *pkt, size_t len)
{
	size_t ihl = (size_t)(pkt[0] & 0x0f) * 4;
	size_t thl = len >= ihl + 13 ? (size_t)(pkt[ihl + 12] >> 4) * 4 : 0;
	if (pkt[9] != IPPROTO_TCP || !thl || d->cfg.mtu <= ihl + thl) {
		write_one(d, pkt, len);
		return;
	}
	struct offload_hdr h = {
		.gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
		.hdr_len = (uint16_t)(ihl + thl),
		.gso_size = (uint16_t)(d->cfg.mtu - ihl - thl),
	};
	struct offload_seg it;
	if (offload_seg_init(&it, &h, pkt, len)) {
		d->cnt.rx_bad_inner++;
		return;
	}
	ssize_t n;
	while ((n = offload_seg_next(&it, d->batch->seg_buf, OFFLOAD_MAX_PACKET)) > 0)
		write_one(d, d->batch->seg_buf, (size_t)n);
}

static void deliver(struct daemon *d, struct peer *p, uint8_t *pt, size_t len, uint64_t now)
{
	if (xlate_ipv4(pt, len, p->addr, d->cfg.address)) {
		d->cnt.rx_bad_inner++;
		return;
	}
	size_t total = (size_t)pt[2] << 8 | pt[3]; /* validated by xlate_ipv4: <= len */
	if (d->batch && d->batch->gro.enabled)
		offload_gro_add(&d->batch->gro, pt, total, tun_write_cb, d);
	else if (d->batch && total > d->cfg.mtu)
		write_segmented(d, pt, total);
	else
		write_one(d, pt, total);
	p->rx_bytes += total;
	p->rx_packets++;
	p->last_data_rx_ms = now;
	timers_data_received(p);
}

/* Writes what the coalescer holds; after every batch of received frames,
 * before the buffers they point into are reused. */
static void flush_tun(struct daemon *d)
{
	if (d->batch)
		offload_gro_flush(&d->batch->gro, tun_write_cb, d);
}

static void rx_probe(struct daemon *d, struct peer *p, const uint8_t *pt, size_t pt_len,
		     const struct pathref *from)
{
	struct rd r = rd_init(pt, pt_len);
	uint8_t kind = rd_u8(&r);
	const uint8_t *zero = rd_take(&r, 3);
	uint32_t id = rd_le32(&r);
	if (!rd_ok(&r) || rd_left(&r) || !zero || zero[0] || zero[1] || zero[2] ||
	    (kind != WIRE_PROBE_REQUEST && kind != WIRE_PROBE_RESPONSE)) {
		d->cnt.rx_malformed++;
		return;
	}
	path_probe_input(d, p, from, kind == WIRE_PROBE_RESPONSE, id);
}

/* The part of receiving a DATA or PROBE frame that follows its
 * decryption (rc: 0, -EALREADY or -EBADMSG), for both forms below. */
static void rx_data_done(struct daemon *d, struct peer *p, struct session *s, int rc, uint8_t type,
			 uint8_t *pt, size_t pt_len, const struct pathref *from, uint64_t now)
{
	if (rc == -EALREADY) {
		p->rx_replayed++;
		return;
	}
	if (rc) {
		p->rx_auth_failed++;
		return;
	}
	path_heard(d, p, from, type == WIRE_TYPE_DATA && pt_len ? PATH_HEARD_DATA : PATH_HEARD);
	p->last_rx_ms = now;
	timers_any_received(p);
	if (s == p->next) {
		peer_confirm_next(p);
		timers_session_installed(p);
		send_queued(d, p);
	}
	if (type == WIRE_TYPE_PROBE)
		rx_probe(d, p, pt, pt_len, from);
	else if (pt_len)
		deliver(d, p, pt, pt_len, now);
}

/* Header checks shared by both forms: the peer and live session the
 * frame is for, or NULL (counted). */
static struct peer *rx_data_session(struct daemon *d, const uint8_t *buf, size_t len, uint64_t now,
				    struct wire_data_hdr *h, struct session **s)
{
	if (wire_decode_data_hdr(buf, len, h)) {
		d->cnt.rx_malformed++;
		return NULL;
	}
	struct peer *p = peers_by_index(d->peers, h->receiver, s);
	if (!p || !*s) {
		d->cnt.rx_unknown_index++;
		return NULL;
	}
	if (!timers_session_alive(d, *s, now)) {
		d->cnt.rx_expired++;
		return NULL;
	}
	return p;
}

/* One frame, decrypted at once (stream paths, or no batch). */
static void rx_data(struct daemon *d, uint8_t *buf, size_t len, const struct pathref *from, uint64_t now)
{
	struct wire_data_hdr h;
	struct session *s;
	uint8_t *pt = NULL;
	size_t pt_len = 0;
	struct peer *p = rx_data_session(d, buf, len, now, &h, &s);
	if (!p)
		return;
	int rc = session_decrypt(s, buf, len, h.counter, &pt, &pt_len);
	rx_data_done(d, p, s, rc, h.type, pt, pt_len, from, now);
}

/* Opens every queued frame (in parallel, batch.h), then finishes them in
 * the order they arrived. A frame whose session went away meanwhile (an
 * earlier frame of the batch confirmed a newer one) is dropped. */
static void rx_data_run(struct daemon *d, uint64_t now)
{
	struct batch *b = d->batch;
	if (!b->n_rx)
		return;
	batch_rx_run(b);
	for (unsigned i = 0; i < b->n_rx; i++) {
		const struct batch_rx *x = &b->rx_info[i];
		struct session *s;
		struct peer *p = peers_by_index(d->peers, x->receiver, &s);
		if (p != x->p || s != x->s || memcmp(s->recv_key, b->rx[i].key, NOISE_KEY_LEN)) {
			d->cnt.rx_unknown_index++;
			continue;
		}
		uint8_t *pt = NULL;
		size_t pt_len = 0;
		int rc = session_open_finish(s, &b->rx[i], &pt, &pt_len);
		rx_data_done(d, p, s, rc, x->type, pt, pt_len, &x->from, now);
	}
	batch_rx_reset(b);
}

/* One frame from the UDP socket: checked now, opened with the batch. */
static void rx_data_queue(struct daemon *d, uint8_t *buf, size_t len, const struct pathref *from, uint64_t now)
{
	struct wire_data_hdr h;
	struct session *s;
	struct batch *b = d->batch;
	/* Finish a full batch first: that can free sessions (a confirmed
	 * newer one retires the oldest), so look this frame's up afterwards. */
	if (b->n_rx == BATCH_RX_MAX)
		rx_data_run(d, now);
	struct peer *p = rx_data_session(d, buf, len, now, &h, &s);
	if (!p)
		return;
	int rc = session_open_prepare(s, buf, len, h.counter, &b->rx[b->n_rx]);
	if (rc) {
		rx_data_done(d, p, s, rc, h.type, NULL, 0, from, now);
		return;
	}
	b->rx_info[b->n_rx++] = (struct batch_rx){ .p = p, .s = s, .from = *from, .receiver = h.receiver,
						   .type = h.type };
}

/* Both sides initiated at once; exactly one must keep its own handshake.
 * In a mediated connect the roles are known to both sides: the client
 * initiates and the server yields (punch.h). Otherwise the larger public
 * key keeps its own and the other side answers it. */
static bool keeps_own_handshake(const struct daemon *d, const struct peer *p, uint64_t now)
{
	if (p->yield_until_ms > now)
		return false;
	if (p->initiator_until_ms > now)
		return true;
	return memcmp(d->self.pub, p->cfg.key, KEY_LEN) > 0;
}

static bool stream_handshake_allowed(struct tconn *c, uint64_t now)
{
	if (now - c->hs_window_ms >= 1000) {
		c->hs_window_ms = now;
		c->hs_in_window = 0;
	}
	return ++c->hs_in_window <= TCONN_HS_PER_S;
}

static void rx_init(struct daemon *d, uint8_t *buf, size_t len, const struct pathref *from, uint64_t now)
{
	const struct endpoint *src = &from->ep;
	struct wire_init m;
	struct noise_handshake hs;
	struct noise_cipher send, recv;
	uint8_t peer_pub[KEY_LEN], ts[WIRE_TAI64N_LEN], resp[WIRE_RESP_LEN];

	if (wire_decode_init(buf, len, &m)) {
		d->cnt.rx_malformed++;
		return;
	}
	if (!handshake_mac1_ok(buf, len, d->self.mac1_key)) {
		d->cnt.handshake_bad_mac++;
		return;
	}
	/* A stream path is one client's (the relay splices one per session):
	 * it gets its own small budget, not the relay address's, which every
	 * client behind the relay shares. */
	if (from->conn ? !stream_handshake_allowed(from->conn, now) : !ratelimit_allow(&d->rl, src->addr, now)) {
		d->cnt.handshake_ratelimited++;
		return;
	}
	if (handshake_init_consume(&hs, &d->self, &m, peer_pub, ts)) {
		d->cnt.handshake_invalid++;
		return;
	}
	struct peer *p = peers_by_key(d->peers, peer_pub);
	if (!p) {
		/* A server we know by system id punching towards us before the
		 * mediator's answer named its key: the handshake just proved the
		 * key, and the id is its hash, so the key is the system's. */
		p = peers_by_system_key(d->peers, peer_pub);
		if (p)
			peer_set_key(p, peer_pub);
	}
	if (!p || memcmp(ts, p->last_ts, sizeof(ts)) <= 0) {
		char k[KEY_B64_LEN + 1], a[ENDPOINT_STR_LEN];
		key_to_base64(k, peer_pub);
		endpoint_format(a, src);
		/* debug only: anyone who knows our public key can make these */
		if (p)
			log_debug("handshake from %s for peer %s refused: replayed timestamp", a, p->cfg.name);
		else
			log_debug("handshake from %s with key %s refused: not an allowed peer or client", a, k);
		d->cnt.handshake_invalid++;
		goto out;
	}
	if (p->hs_active && keeps_own_handshake(d, p, now)) {
		/* Authentic and newer: remember its timestamp so a replay of it
		 * cannot move the endpoint later; our initiation goes to where
		 * theirs came from (a path through their NAT). */
		memcpy(p->last_ts, ts, sizeof(ts));
		path_heard(d, p, from, PATH_HEARD);
		if (!from->conn)
			punch_reflexive(d, p, src);
		else if (p->hs_active)
			tconn_send(from->conn, p->hs_msg, sizeof(p->hs_msg));
		goto out;
	}
	struct session *s = calloc(1, sizeof(*s));
	uint32_t idx = s ? peers_index_alloc(d->peers, p, s) : 0;
	if (!idx || handshake_resp_create(&hs, p->psk, idx, m.sender, resp, &send, &recv)) {
		if (idx)
			peers_index_free(d->peers, idx);
		free(s);
		goto out;
	}
	memcpy(p->last_ts, ts, sizeof(ts));
	if (p->hs_active)
		peer_end_handshake(p); /* we yield to theirs */
	punch_done(p);
	session_init(s, idx, m.sender, &send, &recv, false, now);
	peer_set_next(p, s);
	path_heard(d, p, from, PATH_HEARD);
	path_send_to(d, from, resp, sizeof(resp)); /* the answer goes back the way it came */
	p->last_tx_ms = now;
	p->last_rx_ms = now;
	timers_any_received(p);
	completed(d, p);
	log_debug("peer %s: answered a handshake", p->cfg.name);
	timers_session_installed(p);
out:
	noise_handshake_wipe(&hs);
	sodium_memzero(&send, sizeof(send));
	sodium_memzero(&recv, sizeof(recv));
}

static void rx_resp(struct daemon *d, uint8_t *buf, size_t len, const struct pathref *from, uint64_t now)
{
	struct wire_resp m;
	struct session *s;
	struct noise_cipher send, recv;

	if (wire_decode_resp(buf, len, &m)) {
		d->cnt.rx_malformed++;
		return;
	}
	if (!handshake_mac1_ok(buf, len, d->self.mac1_key)) {
		d->cnt.handshake_bad_mac++;
		return;
	}
	struct peer *p = peers_by_index(d->peers, m.receiver, &s);
	if (!p || s || !p->hs_active || p->hs_index != m.receiver) {
		d->cnt.rx_unknown_index++;
		return;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return;
	if (handshake_resp_consume(&p->hs, &m, &send, &recv)) {
		free(s);
		d->cnt.handshake_invalid++;
		return;
	}
	session_init(s, p->hs_index, m.sender, &send, &recv, true, now);
	sodium_memzero(&send, sizeof(send));
	sodium_memzero(&recv, sizeof(recv));
	peers_index_bind(d->peers, p->hs_index, s);
	p->hs_active = false;
	p->hs_tries = 0;
	p->rtt_us = (int64_t)((uv_hrtime() - p->hs_sent_ns) / 1000);
	peer_install_session(p, s);
	punch_done(p);
	path_heard(d, p, from, PATH_HEARD_HANDSHAKE);
	p->last_rx_ms = now;
	timers_any_received(p);
	completed(d, p);
	log_info("peer %s: handshake complete (rtt %lld us)", p->cfg.name, (long long)p->rtt_us);
	uint64_t sent_before = p->tx_packets;
	send_queued(d, p);
	if (p->tx_packets == sent_before)
		send_keepalive(d, p); /* confirms the session to the responder */
	timers_session_installed(p);
}

static void dispatch(struct daemon *d, uint8_t *buf, size_t len, const struct pathref *from, uint64_t now)
{
	switch (wire_type(buf, len)) {
	case WIRE_TYPE_DATA:
	case WIRE_TYPE_PROBE:
		rx_data(d, buf, len, from, now);
		break;
	case WIRE_TYPE_HANDSHAKE_INIT:
		rx_init(d, buf, len, from, now);
		break;
	case WIRE_TYPE_HANDSHAKE_RESP:
		rx_resp(d, buf, len, from, now);
		break;
	default:
		if (len && buf[0] <= WIRE_STUN_FIRST_MAX && !from->conn)
			medlink_udp_input(d, buf, len, &from->ep);
		else
			d->cnt.rx_unknown_type++;
		break;
	}
}

void receive_packet(struct daemon *d, uint8_t *buf, size_t len, const struct pathref *from)
{
	dispatch(d, buf, len, from, uv_now(d->loop));
	flush_tun(d);
}

/* One datagram of a receive batch: DATA and PROBE frames join the batch's
 * crypto run; anything else first lets the queued frames finish, so
 * nothing overtakes what arrived before it. */
static void receive_one(struct daemon *d, uint8_t *buf, size_t len, const struct pathref *from, uint64_t now)
{
	int t = wire_type(buf, len);
	if (d->batch && (t == WIRE_TYPE_DATA || t == WIRE_TYPE_PROBE)) {
		rx_data_queue(d, buf, len, from, now);
		return;
	}
	if (d->batch)
		rx_data_run(d, now);
	dispatch(d, buf, len, from, now);
}

void receive_udp_readable(struct daemon *d)
{
	uint64_t now = uv_now(d->loop);
	for (int round = 0; round < RECV_ROUNDS_PER_CALLBACK; round++) {
		int n = udp_recv_batch(&d->udp);
		if (n <= 0) {
			if (n < 0)
				log_warn("UDP receive: %s", strerror(-n));
			break;
		}
		for (int i = 0; i < n; i++) {
			struct mmsghdr *m = &d->udp.rx_msgs[i];
			struct pathref from = { .kind = PATH_DIRECT };
			if (m->msg_hdr.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
				d->cnt.rx_malformed++;
				continue;
			}
			endpoint_from_sockaddr(&from.ep, &d->udp.rx_addr[i]);
			size_t off = 0, len;
			uint8_t *dgram;
			while ((dgram = udp_rx_next(&d->udp, i, &off, &len)))
				receive_one(d, dgram, len, &from, now);
		}
		if (d->batch)
			rx_data_run(d, now);
		flush_tun(d); /* before the next recvmmsg reuses the buffers */
		udp_flush(&d->udp);
		if (n < UDP_RX_BATCH)
			break;
	}
}
