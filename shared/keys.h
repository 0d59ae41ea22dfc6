/*
 * keys.h - X25519 key pairs in base64 (44 characters, as wg prints them)
 * and the system id.
 *
 * System id: BLAKE2b-256 over the ASCII string "tund system id v1" followed
 * by the 32-byte public key; the first 16 bytes of the digest, with the
 * version nibble set to 8 (custom, RFC 9562 section 5.8) and the variant
 * bits to 10 (RFC 4122 section 4.1.1), printed as a lower-case RFC 4122
 * UUID. Deterministic, and it pins the key: claiming an id requires a key
 * whose hash matches it.
 */
#ifndef TUND_KEYS_H
#define TUND_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define KEY_LEN 32
#define KEY_B64_LEN 44      /* without the terminating NUL */
#define UUID_LEN 16
#define UUID_STR_LEN 36     /* without the terminating NUL */

/* Decodes exactly one base64 key, ignoring surrounding white space.
 * 0, or -EINVAL when it is not 32 bytes of standard padded base64. */
int key_from_base64(uint8_t out[KEY_LEN], const char *s);
void key_to_base64(char out[KEY_B64_LEN + 1], const uint8_t key[KEY_LEN]);

void key_generate(uint8_t priv[KEY_LEN]);
/* 0, or -EINVAL for a private key whose public key is degenerate. */
int key_public(uint8_t pub[KEY_LEN], const uint8_t priv[KEY_LEN]);

/* Reads a base64 private key from a file: 0, -errno for I/O, -EINVAL for
 * content; err receives a message naming the file and what was wrong. */
int key_read_file(uint8_t out[KEY_LEN], const char *path, char *err, size_t errlen);
/* Reads one base64 key from fd until end of input (at most 4 KiB):
 * 0, -errno, -EFBIG for more input, -EINVAL for content. */
int key_read_fd(uint8_t out[KEY_LEN], int fd);

void key_system_id(uint8_t id[UUID_LEN], const uint8_t pub[KEY_LEN]);
void uuid_format(char out[UUID_STR_LEN + 1], const uint8_t id[UUID_LEN]);
/* 0, or -EINVAL when s is not 8-4-4-4-12 hex. */
int uuid_parse(uint8_t id[UUID_LEN], const char *s);

#endif
