/*
 * fuzz_stun.c - everything STUN-framed bytes from the network reach: the
 * stream framer, the strict decoder, the attribute value readers, the
 * mediator protocol parser and the TUND-AUTH check (under a fixed key,
 * both directions). Whatever parses is encoded again, with TUND-AUTH and
 * FINGERPRINT when the input had them, and must decode and parse back to
 * the same medmsg with a valid MAC: encode and parse agree on every
 * message the parser accepts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "medproto.h"
#include "stun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void readers(const struct stun_msg *m)
{
	for (unsigned i = 0; i < m->n_attrs; i++) {
		const struct stun_attr *a = &m->attrs[i];
		struct stun_addr sa;
		struct endpoint ep;
		unsigned code;
		const char *reason;
		size_t rlen;
		uint32_t v;
		if (a->off + 4 + a->len > m->len)
			abort();
		if (stun_attr_addr(a, &sa) == 0)
			(void)stun_addr_to_endpoint(&sa, &ep);
		(void)stun_attr_xor_addr(m, a, &sa);
		if (stun_attr_error(a, &code, &reason, &rlen) == 0 && (code < 300 || code > 699))
			abort();
		(void)stun_attr_u32(a, &v);
	}
}

static void reencode(const struct stun_msg *m, const struct medmsg *msg, const uint8_t k[32])
{
	static uint8_t out[STUN_MAX_MSG];
	struct stun_msg m2;
	struct medmsg again;
	int len = medproto_encode(out, sizeof(out), msg, msg->has_auth ? k : NULL, MEDPROTO_DIR_TO_MEDIATOR,
				  m->has_fingerprint);
	if (len < 0)
		abort(); /* the parser accepted something the encoder refuses */
	if (stun_decode(out, (size_t)len, &m2) != 0 || m2.has_fingerprint != m->has_fingerprint)
		abort();
	if (medproto_parse(&m2, &again) != 0 || memcmp(&again, msg, sizeof(again)) != 0)
		abort();
	if (msg->has_auth && !medproto_auth_ok(&m2, k, MEDPROTO_DIR_TO_MEDIATOR))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t k[32];
	static bool ready;
	static uint8_t buf[STUN_MAX_MSG + 64];
	if (!ready) {
		if (sodium_init() < 0)
			abort();
		memset(k, 0x4b, sizeof(k));
		ready = true;
	}
	if (size > sizeof(buf))
		return 0;
	memcpy(buf, data, size);

	int flen = stun_frame_len(buf, size);
	if (flen > STUN_MAX_MSG || (flen > 0 && !stun_is_stun(buf, size)))
		abort();

	struct stun_msg m;
	struct medmsg msg;
	if (stun_decode(buf, size, &m) != 0)
		return 0;
	if (flen != (int)size)
		abort(); /* the framer and the decoder disagree on the length */
	readers(&m);
	(void)medproto_auth_ok(&m, k, MEDPROTO_DIR_TO_MEDIATOR);
	(void)medproto_auth_ok(&m, k, MEDPROTO_DIR_FROM_MEDIATOR);
	if (medproto_parse(&m, &msg) == 0)
		reencode(&m, &msg, k);
	return 0;
}
