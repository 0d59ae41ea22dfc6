/*
 * handshake.c - see handshake.h. Frames are laid out by wire.c; this file
 * fills in the Noise bodies and mac1. Every path out wipes the Noise state
 * it was handed when the handshake cannot continue.
 */
#include "handshake.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

static const char mac1_label[] = "tund mac1";

void handshake_mac1_key(uint8_t out[NOISE_KEY_LEN], const uint8_t pub[NOISE_DH_LEN])
{
	noise_hash(out, NOISE_KEY_LEN, (const uint8_t *)mac1_label, sizeof(mac1_label) - 1,
		   pub, NOISE_DH_LEN);
}

int handshake_self_init(struct handshake_self *self, const uint8_t priv[NOISE_DH_LEN])
{
	memcpy(self->priv, priv, NOISE_DH_LEN);
	if (crypto_scalarmult_curve25519_base(self->pub, self->priv) != 0) {
		sodium_memzero(self, sizeof(*self));
		return -EINVAL;
	}
	handshake_mac1_key(self->mac1_key, self->pub);
	return 0;
}

static size_t mac_offset(const uint8_t *frame, size_t len)
{
	if (len == WIRE_INIT_LEN && frame[0] == WIRE_TYPE_HANDSHAKE_INIT)
		return WIRE_INIT_MAC_OFF;
	if (len == WIRE_RESP_LEN && frame[0] == WIRE_TYPE_HANDSHAKE_RESP)
		return WIRE_RESP_MAC_OFF;
	return 0;
}

bool handshake_mac1_ok(const uint8_t *frame, size_t len, const uint8_t mac1_key[NOISE_KEY_LEN])
{
	size_t off = mac_offset(frame, len);
	if (!off)
		return false;
	uint8_t mac[WIRE_MAC_LEN];
	noise_mac(mac, sizeof(mac), mac1_key, NOISE_KEY_LEN, frame, off);
	return sodium_memcmp(mac, frame + off, WIRE_MAC_LEN) == 0;
}

static void seal_mac1(uint8_t *frame, size_t len, const uint8_t peer_pub[NOISE_DH_LEN])
{
	uint8_t key[NOISE_KEY_LEN];
	size_t off = mac_offset(frame, len);
	handshake_mac1_key(key, peer_pub);
	noise_mac(frame + off, WIRE_MAC_LEN, key, sizeof(key), frame, off);
}

void handshake_tai64n(uint8_t out[WIRE_TAI64N_LEN])
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t sec = (1ULL << 62) + (uint64_t)ts.tv_sec;
	uint32_t ns = (uint32_t)ts.tv_nsec;
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(sec >> (56 - 8 * i));
	for (int i = 0; i < 4; i++)
		out[8 + i] = (uint8_t)(ns >> (24 - 8 * i));
}

int handshake_init_create(struct noise_handshake *hs, const struct handshake_self *self,
			  const uint8_t peer_pub[NOISE_DH_LEN], const uint8_t psk[NOISE_PSK_LEN],
			  uint32_t sender_index, uint8_t out[WIRE_INIT_LEN])
{
	struct wire_init m = { .sender = sender_index };
	uint8_t ts[WIRE_TAI64N_LEN];
	size_t n = 0;
	int rc = noise_handshake_init(hs, NOISE_IKPSK2, true, (const uint8_t *)HANDSHAKE_PROLOGUE,
				      sizeof(HANDSHAKE_PROLOGUE) - 1, self->priv, peer_pub, psk);
	if (rc)
		return rc;
	handshake_tai64n(ts);
	rc = noise_write_message(hs, ts, sizeof(ts), m.noise, sizeof(m.noise), &n);
	if (rc || n != sizeof(m.noise)) {
		noise_handshake_wipe(hs);
		return rc ? rc : -EINVAL;
	}
	if (wire_encode_init(out, WIRE_INIT_LEN, &m) != WIRE_INIT_LEN) {
		noise_handshake_wipe(hs);
		return -ENOSPC;
	}
	seal_mac1(out, WIRE_INIT_LEN, peer_pub);
	return 0;
}

int handshake_init_consume(struct noise_handshake *hs, const struct handshake_self *self,
			   const struct wire_init *m, uint8_t peer_pub[NOISE_DH_LEN],
			   uint8_t timestamp[WIRE_TAI64N_LEN])
{
	static const uint8_t no_psk[NOISE_PSK_LEN];
	size_t n = 0;
	int rc = noise_handshake_init(hs, NOISE_IKPSK2, false, (const uint8_t *)HANDSHAKE_PROLOGUE,
				      sizeof(HANDSHAKE_PROLOGUE) - 1, self->priv, NULL, no_psk);
	if (rc)
		return rc;
	rc = noise_read_message(hs, m->noise, sizeof(m->noise), timestamp, WIRE_TAI64N_LEN, &n);
	if (rc || n != WIRE_TAI64N_LEN) {
		noise_handshake_wipe(hs);
		return -EBADMSG;
	}
	memcpy(peer_pub, hs->rs, NOISE_DH_LEN);
	return 0;
}

int handshake_resp_create(struct noise_handshake *hs, const uint8_t psk[NOISE_PSK_LEN],
			  uint32_t sender_index, uint32_t receiver_index,
			  uint8_t out[WIRE_RESP_LEN], struct noise_cipher *send, struct noise_cipher *recv)
{
	struct wire_resp m = { .sender = sender_index, .receiver = receiver_index };
	size_t n = 0;
	int rc;
	memcpy(hs->psk, psk, NOISE_PSK_LEN); /* psk2: first used at the end of message 2 */
	rc = noise_write_message(hs, NULL, 0, m.noise, sizeof(m.noise), &n);
	if (!rc && n != sizeof(m.noise))
		rc = -EINVAL;
	if (!rc && wire_encode_resp(out, WIRE_RESP_LEN, &m) != WIRE_RESP_LEN)
		rc = -ENOSPC;
	if (!rc) {
		seal_mac1(out, WIRE_RESP_LEN, hs->rs);
		rc = noise_handshake_split(hs, send, recv);
	}
	noise_handshake_wipe(hs);
	return rc;
}

int handshake_resp_consume(struct noise_handshake *hs, const struct wire_resp *m,
			   struct noise_cipher *send, struct noise_cipher *recv)
{
	size_t n = 0;
	struct noise_handshake tmp = *hs; /* a forged response must not spoil the real one */
	int rc = noise_read_message(&tmp, m->noise, sizeof(m->noise), NULL, 0, &n);
	if (!rc && n != 0)
		rc = -EBADMSG;
	if (!rc) {
		rc = noise_handshake_split(&tmp, send, recv);
		noise_handshake_wipe(hs);
	}
	noise_handshake_wipe(&tmp);
	return rc;
}
