/*
 * fuzz_wire.c - every decoder a datagram from the network reaches before
 * it is authenticated: the frame decoders, mac1, the responder's reading
 * of message 1, the initiator's reading of message 2 and the DATA
 * decryption with its replay window. mac1 is not required to pass, so the
 * fuzzer reaches the Noise code with arbitrary bytes.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "handshake.h"
#include "session.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct handshake_self self, other;
static struct noise_handshake pending; /* self -> other, waiting for message 2 */
static struct session sess;

static void setup(void)
{
	uint8_t k[32], m1[WIRE_INIT_LEN];
	struct noise_cipher a = { { 0 }, 0 }, b = { { 0 }, 0 };
	static const uint8_t psk[32];
	if (sodium_init() < 0)
		abort();
	memset(k, 1, sizeof(k));
	handshake_self_init(&self, k);
	memset(k, 2, sizeof(k));
	handshake_self_init(&other, k);
	handshake_init_create(&pending, &self, other.pub, psk, 1, m1);
	memset(a.k, 3, sizeof(a.k));
	memset(b.k, 4, sizeof(b.k));
	session_init(&sess, 1, 2, &a, &b, true, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	static uint8_t buf[WIRE_MAX_DATAGRAM + 1];
	if (!ready) {
		setup();
		ready = true;
	}
	if (size > sizeof(buf))
		return 0;
	memcpy(buf, data, size);
	switch (wire_type(buf, size)) {
	case WIRE_TYPE_HANDSHAKE_INIT: {
		struct wire_init m;
		struct noise_handshake hs;
		uint8_t pub[32], ts[12];
		(void)handshake_mac1_ok(buf, size, self.mac1_key);
		if (wire_decode_init(buf, size, &m) == 0 && handshake_init_consume(&hs, &self, &m, pub, ts) == 0)
			noise_handshake_wipe(&hs);
		break;
	}
	case WIRE_TYPE_HANDSHAKE_RESP: {
		struct wire_resp m;
		struct noise_handshake hs = pending;
		struct noise_cipher s, r;
		(void)handshake_mac1_ok(buf, size, self.mac1_key);
		if (wire_decode_resp(buf, size, &m) == 0)
			(void)handshake_resp_consume(&hs, &m, &s, &r);
		break;
	}
	case WIRE_TYPE_DATA: {
		struct wire_data_hdr h;
		struct session s = sess;
		uint8_t *pt;
		size_t pt_len;
		if (wire_decode_data_hdr(buf, size, &h) == 0)
			(void)session_decrypt(&s, buf, size, h.counter, &pt, &pt_len);
		break;
	}
	default:
		break;
	}
	return 0;
}
