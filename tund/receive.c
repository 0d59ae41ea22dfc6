/*
 * receive.c - the inbound half: datagrams from the UDP socket, and
 * packets from stream paths (tconn.h), are classified by their first byte
 * (wire.h) and handed to one handler per message type, with the path they
 * came on (path.h). Each handler validates and authenticates first and works
 * in locals; peer state changes only after every check passed, so a bad
 * datagram leaves nothing behind but a counter (STYLE.md rule 6).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

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

static void deliver(struct daemon *d, struct peer *p, uint8_t *pt, size_t len, uint64_t now)
{
	if (xlate_ipv4(pt, len, p->addr, d->cfg.address)) {
		d->cnt.rx_bad_inner++;
		return;
	}
	size_t total = (size_t)pt[2] << 8 | pt[3]; /* validated by xlate_ipv4: <= len */
	if (write(d->tun.fd, pt, total) < 0) {
		d->cnt.tun_write_errors++;
		return;
	}
	p->rx_bytes += total;
	p->rx_packets++;
	p->last_data_rx_ms = now;
	timers_data_received(p);
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

static void rx_data(struct daemon *d, uint8_t *buf, size_t len, const struct pathref *from, uint64_t now)
{
	struct wire_data_hdr h;
	struct session *s;
	uint8_t *pt;
	size_t pt_len;

	if (wire_decode_data_hdr(buf, len, &h)) {
		d->cnt.rx_malformed++;
		return;
	}
	struct peer *p = peers_by_index(d->peers, h.receiver, &s);
	if (!p || !s) {
		d->cnt.rx_unknown_index++;
		return;
	}
	if (!timers_session_alive(d, s, now)) {
		d->cnt.rx_expired++;
		return;
	}
	int rc = session_decrypt(s, buf, len, h.counter, &pt, &pt_len);
	if (rc == -EALREADY) {
		p->rx_replayed++;
		return;
	}
	if (rc) {
		p->rx_auth_failed++;
		return;
	}
	path_heard(d, p, from, h.type == WIRE_TYPE_DATA && pt_len ? PATH_HEARD_DATA : PATH_HEARD);
	p->last_rx_ms = now;
	timers_any_received(p);
	if (s == p->next) {
		peer_confirm_next(p);
		timers_session_installed(p);
		send_queued(d, p);
	}
	if (h.type == WIRE_TYPE_PROBE)
		rx_probe(d, p, pt, pt_len, from);
	else if (pt_len)
		deliver(d, p, pt, pt_len, now);
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

void receive_packet(struct daemon *d, uint8_t *buf, size_t len, const struct pathref *from)
{
	uint64_t now = uv_now(d->loop);
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

void receive_udp_readable(struct daemon *d)
{
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
			if (m->msg_hdr.msg_flags & MSG_TRUNC) {
				d->cnt.rx_malformed++;
				continue;
			}
			endpoint_from_sockaddr(&from.ep, &d->udp.rx_addr[i]);
			receive_packet(d, udp_rx_data(&d->udp, i), m->msg_len, &from);
		}
		udp_flush(&d->udp);
		if (n < UDP_BATCH)
			break;
	}
}
