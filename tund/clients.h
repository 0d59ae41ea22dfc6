/*
 * clients.h - the allow list that `tunctl allow` and `tunctl revoke` edit:
 * [client]s kept outside tund.conf, in <state_directory>/clients, so that
 * they can be added and removed without editing the config or restarting.
 *
 * File format (docs/tund.conf.md, "The clients file"): ASCII text, one
 * client per line,
 *
 *     KEY NAME
 *
 * KEY the client's public key (44 characters of base64), NAME as a
 * [client] section name (1..63 of A-Z a-z 0-9 . _ -), separated by blanks
 * (spaces or tabs). Blank lines and lines starting with '#' are ignored.
 * Keys and names are unique within the file. A bad line is an error that
 * names the file and the line; nothing in the file is then used.
 *
 * The file is the only copy: it is read at start, on every reload and
 * before each change, and written whole and atomically (a temporary file
 * in the same directory, fsync, rename over the old one, fsync of the
 * directory), so a crash leaves the old list or the new one, never a mix.
 * The list here is a plain value; nothing touches the daemon.
 */
#ifndef TUND_CLIENTS_H
#define TUND_CLIENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "keys.h"

#define CLIENTS_FILE "clients"          /* in state_directory */
#define CLIENTS_MAX 4096                /* entries, as CFG_SECTIONS_MAX */
#define CLIENTS_LINE_MAX 255            /* characters per line, without the newline */
#define CLIENTS_FILE_MAX (1u << 20)     /* bytes read at most */
#define CLIENTS_SHORT_NAME 8            /* characters of the default name */

struct clients_entry {
	char name[CFG_NAME_MAX];
	uint8_t key[KEY_LEN];
	int line;                           /* in the file it came from, 0 = added since */
};

struct clients {
	struct clients_entry *v;
	size_t n, cap;
};

/* <state_dir>/clients: 0 or -ENAMETOOLONG. */
int clients_path(char *out, size_t outlen, const char *state_dir);

/* Parses text (len bytes, need not be NUL-terminated); name is what
 * errors call it ("PATH:LINE: message"). On error cl is left empty. */
int clients_parse(struct clients *cl, const char *name, const char *text, size_t len, char *err,
		  size_t errlen);
/* Reads and parses the file at path. A missing file is an empty list (0);
 * other failures are -errno (I/O) or -EINVAL (content), err says which. */
int clients_load(struct clients *cl, const char *path, char *err, size_t errlen);
/* Replaces the file at path with cl, atomically (see above). 0 or -errno,
 * err naming the file and the failure. */
int clients_save(const struct clients *cl, const char *path, char *err, size_t errlen);

/* Appends an entry: 0, -EINVAL (bad name), -EEXIST (name or key already
 * in the list), -ENOSPC (CLIENTS_MAX) or -ENOMEM. */
int clients_add(struct clients *cl, const char *name, const uint8_t key[KEY_LEN]);
/* Removes entry i (order of the others kept). */
void clients_remove(struct clients *cl, size_t i);
/* Index of the entry with this name, or this key (either may be NULL);
 * -1 when none. */
long clients_find(const struct clients *cl, const char *name, const uint8_t *key);
void clients_free(struct clients *cl);

/* A valid [client] name: 1..63 of A-Z a-z 0-9 . _ - */
bool clients_name_ok(const char *name);
/* The default name for a key: its first CLIENTS_SHORT_NAME base64
 * characters, '+' and '/' written '-' and '_' (URL-safe base64), so the
 * name is recognisably the key's, as wg abbreviates keys. */
void clients_default_name(char out[CFG_NAME_MAX], const uint8_t key[KEY_LEN]);

#endif
