/*
 * handshake.h - tund's handshake messages (wire.h) built on the Noise
 * IKpsk2 engine (noise.h). Without a configured preshared key the psk is
 * 32 zero bytes, so there is one protocol and one code path.
 *
 * Message 1 carries the initiator's static key (encrypted) and a TAI64N
 * timestamp; the responder keeps the greatest timestamp seen per peer and
 * refuses anything not newer, so a captured initiation cannot be replayed.
 * Both messages carry mac1, a keyed BLAKE2b over the frame with a key
 * derived from the receiver's public key: a responder checks it before
 * doing any Diffie-Hellman, so packets not meant for it cost almost nothing.
 *
 * The responder reads message 1 in two steps so that the daemon can look up
 * and authorize the initiator's key (and fetch its psk) between them.
 */
#ifndef TUND_HANDSHAKE_H
#define TUND_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "noise.h"
#include "wire.h"

#define HANDSHAKE_PROLOGUE "tund handshake v1"

/* This host's identity as the handshake needs it. Secrets: wipe on exit. */
struct handshake_self {
	uint8_t priv[NOISE_DH_LEN];
	uint8_t pub[NOISE_DH_LEN];
	uint8_t mac1_key[NOISE_KEY_LEN]; /* checks mac1 on messages sent to us */
};

int handshake_self_init(struct handshake_self *self, const uint8_t priv[NOISE_DH_LEN]);
void handshake_mac1_key(uint8_t out[NOISE_KEY_LEN], const uint8_t pub[NOISE_DH_LEN]);
/* Constant-time check of the mac1 field of a whole frame (INIT or RESP). */
bool handshake_mac1_ok(const uint8_t *frame, size_t len, const uint8_t mac1_key[NOISE_KEY_LEN]);

/* Initiator: start a handshake and write message 1 (WIRE_INIT_LEN bytes). */
int handshake_init_create(struct noise_handshake *hs, const struct handshake_self *self,
			  const uint8_t peer_pub[NOISE_DH_LEN], const uint8_t psk[NOISE_PSK_LEN],
			  uint32_t sender_index, uint8_t out[WIRE_INIT_LEN]);

/* Responder, step 1: read message 1, learning the initiator's static key
 * and timestamp. -EBADMSG when it does not decrypt. */
int handshake_init_consume(struct noise_handshake *hs, const struct handshake_self *self,
			   const struct wire_init *m, uint8_t peer_pub[NOISE_DH_LEN],
			   uint8_t timestamp[WIRE_TAI64N_LEN]);

/* Responder, step 2 (initiator known and allowed): write message 2 and
 * derive the transport keys. */
int handshake_resp_create(struct noise_handshake *hs, const uint8_t psk[NOISE_PSK_LEN],
			  uint32_t sender_index, uint32_t receiver_index,
			  uint8_t out[WIRE_RESP_LEN], struct noise_cipher *send, struct noise_cipher *recv);

/* Initiator: read message 2 (mac1 already checked) and derive the keys. */
int handshake_resp_consume(struct noise_handshake *hs, const struct wire_resp *m,
			   struct noise_cipher *send, struct noise_cipher *recv);

/* TAI64N of the wall clock: 8 bytes big-endian 2^62 + seconds, 4 bytes ns. */
void handshake_tai64n(uint8_t out[WIRE_TAI64N_LEN]);

#endif
