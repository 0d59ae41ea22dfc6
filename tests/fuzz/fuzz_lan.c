/*
 * fuzz_lan.c - the LAN discovery decoder (shared/lanproto.h), which every
 * datagram on the multicast group reaches. Each input is decoded as it
 * is, and once more with its system id field replaced by the hash of its
 * key field, so the fuzzer gets past the key check to the rest of an
 * ANNOUNCE. Whatever decodes must encode back to exactly the input bytes
 * (the decoder accepts one canonical form), decode again to the same
 * message, and name a system id that is the hash of its key.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lanproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const uint8_t *buf, size_t size)
{
	struct lanmsg m, again;
	uint8_t out[LANPROTO_MAX_LEN], id[UUID_LEN];
	int rc = lanproto_decode(buf, size, &m);
	if (rc == -EKEYREJECTED && (size < LANPROTO_ANNOUNCE_MIN || buf[5] != LANPROTO_ANNOUNCE))
		abort();
	if (rc)
		return;
	if (size > LANPROTO_MAX_LEN || m.server_id[LANPROTO_SERVER_ID_MAX - 1] != '\0')
		abort();
	int n = lanproto_encode(out, sizeof(out), &m);
	if (n < 0 || (size_t)n != size || memcmp(out, buf, size) != 0)
		abort();
	if (lanproto_decode(out, (size_t)n, &again) != 0 || memcmp(&again, &m, sizeof(m)) != 0)
		abort();
	if (m.type == LANPROTO_ANNOUNCE) {
		key_system_id(id, m.key);
		if (memcmp(id, m.system_id, UUID_LEN) != 0 || m.port == 0 || !medproto_server_id_ok(m.server_id))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	uint8_t buf[LANPROTO_MAX_LEN + 16];
	if (!ready) {
		if (sodium_init() < 0)
			abort();
		ready = true;
	}
	check(data, size);
	if (size < LANPROTO_ANNOUNCE_MIN || size > sizeof(buf))
		return 0;
	memcpy(buf, data, size);
	key_system_id(buf + LANPROTO_HDR_LEN, buf + LANPROTO_HDR_LEN + UUID_LEN);
	check(buf, size);
	return 0;
}
