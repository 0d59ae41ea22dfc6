/*
 * clients.c - see clients.h. The file is read whole (bounded by
 * CLIENTS_FILE_MAX) and split into lines here; every field is checked
 * against the bytes left on its line before it is copied, and the first
 * bad line ends the parse with its number. An administrator may edit the
 * file by hand, so messages say what is wrong in words.
 */
#include "clients.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static bool name_char(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '.' || ch == '_' || ch == '-';
}

static bool name_ok(const char *s, size_t len)
{
	if (len == 0 || len >= CFG_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!name_char((unsigned char)s[i]))
			return false;
	return true;
}

bool clients_name_ok(const char *name)
{
	return name_ok(name, strnlen(name, CFG_NAME_MAX));
}

void clients_default_name(char out[CFG_NAME_MAX], const uint8_t key[KEY_LEN])
{
	char b64[KEY_B64_LEN + 1];
	key_to_base64(b64, key);
	for (int i = 0; i < CLIENTS_SHORT_NAME; i++)
		out[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
	out[CLIENTS_SHORT_NAME] = '\0';
}

int clients_path(char *out, size_t outlen, const char *state_dir)
{
	int n = snprintf(out, outlen, "%s/%s", state_dir, CLIENTS_FILE);
	return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

void clients_free(struct clients *cl)
{
	free(cl->v);
	memset(cl, 0, sizeof(*cl));
}

long clients_find(const struct clients *cl, const char *name, const uint8_t *key)
{
	for (size_t i = 0; i < cl->n; i++) {
		if (name && strcmp(cl->v[i].name, name) == 0)
			return (long)i;
		if (key && memcmp(cl->v[i].key, key, KEY_LEN) == 0)
			return (long)i;
	}
	return -1;
}

static int append(struct clients *cl, const char *name, size_t nlen, const uint8_t key[KEY_LEN], int line)
{
	if (cl->n == CLIENTS_MAX)
		return -ENOSPC;
	if (cl->n == cl->cap) {
		size_t cap = cl->cap ? cl->cap * 2 : 16;
		struct clients_entry *v = realloc(cl->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		cl->v = v;
		cl->cap = cap;
	}
	struct clients_entry *e = &cl->v[cl->n++];
	memset(e, 0, sizeof(*e));
	memcpy(e->name, name, nlen);
	memcpy(e->key, key, KEY_LEN);
	e->line = line;
	return 0;
}

int clients_add(struct clients *cl, const char *name, const uint8_t key[KEY_LEN])
{
	if (!clients_name_ok(name))
		return -EINVAL;
	if (clients_find(cl, name, key) >= 0)
		return -EEXIST;
	return append(cl, name, strlen(name), key, 0);
}

void clients_remove(struct clients *cl, size_t i)
{
	if (i >= cl->n)
		return;
	memmove(&cl->v[i], &cl->v[i + 1], (cl->n - i - 1) * sizeof(cl->v[0]));
	cl->n--;
}

/* ------------------------------------------------------------ parsing */

static bool blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* One line without its newline (a trailing CR is dropped: hand edits on
 * other systems). Returns 0, or -EINVAL with why set. */
static int parse_line(struct clients *cl, const char *s, size_t len, int line, const char **why)
{
	uint8_t key[KEY_LEN];
	char tok[KEY_B64_LEN + 1];
	size_t i = 0;

	if (len && s[len - 1] == '\r')
		len--;
	for (size_t k = 0; k < len; k++) {
		if ((unsigned char)s[k] < 0x20 && !blank(s[k])) {
			*why = "control character";
			return -EINVAL;
		}
		if ((unsigned char)s[k] >= 0x7f) {
			*why = "not ASCII";
			return -EINVAL;
		}
	}
	while (i < len && blank(s[i]))
		i++;
	if (i == len || s[i] == '#')
		return 0;
	size_t k0 = i;
	while (i < len && !blank(s[i]))
		i++;
	size_t klen = i - k0;
	while (i < len && blank(s[i]))
		i++;
	size_t n0 = i;
	while (i < len && !blank(s[i]))
		i++;
	size_t nlen = i - n0;
	while (i < len && blank(s[i]))
		i++;
	if (nlen == 0 || i != len) {
		*why = "expected \"KEY NAME\"";
		return -EINVAL;
	}
	memcpy(tok, s + k0, klen < KEY_B64_LEN ? klen : KEY_B64_LEN);
	tok[klen < KEY_B64_LEN ? klen : KEY_B64_LEN] = '\0';
	if (klen != KEY_B64_LEN || key_from_base64(key, tok) < 0) {
		*why = "not a base64 public key (44 characters)";
		return -EINVAL;
	}
	if (!name_ok(s + n0, nlen)) {
		*why = "the name must be 1..63 characters of A-Z a-z 0-9 . _ -";
		return -EINVAL;
	}
	char name[CFG_NAME_MAX];
	memcpy(name, s + n0, nlen);
	name[nlen] = '\0';
	if (clients_find(cl, name, NULL) >= 0) {
		*why = "duplicate name";
		return -EINVAL;
	}
	if (clients_find(cl, NULL, key) >= 0) {
		*why = "duplicate key";
		return -EINVAL;
	}
	int rc = append(cl, name, nlen, key, line);
	if (rc == -ENOSPC)
		*why = "more than 4096 clients";
	else if (rc)
		*why = "out of memory";
	return rc == -ENOSPC ? -EINVAL : rc;
}

int clients_parse(struct clients *cl, const char *name, const char *text, size_t len, char *err,
		  size_t errlen)
{
	size_t off = 0;
	int line = 0;

	memset(cl, 0, sizeof(*cl));
	if (errlen)
		err[0] = '\0';
	while (off < len) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t l = nl ? (size_t)(nl - (text + off)) : len - off;
		const char *why = NULL;
		int rc;
		line++;
		if (l > CLIENTS_LINE_MAX) {
			why = "line too long";
			rc = -EINVAL;
		} else {
			rc = parse_line(cl, text + off, l, line, &why);
		}
		if (rc) {
			snprintf(err, errlen, "%s:%d: %s", name, line, why ? why : strerror(-rc));
			clients_free(cl);
			return rc;
		}
		off += l + (nl ? 1 : 0);
	}
	return 0;
}

int clients_load(struct clients *cl, const char *path, char *err, size_t errlen)
{
	memset(cl, 0, sizeof(*cl));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(e));
		return -e;
	}
	char *buf = malloc(CLIENTS_FILE_MAX + 1);
	size_t len = 0;
	int rc = buf ? 0 : -ENOMEM;
	while (!rc && len <= CLIENTS_FILE_MAX) {
		ssize_t n = read(fd, buf + len, CLIENTS_FILE_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = -errno;
		else if (n == 0)
			break;
		else
			len += (size_t)n;
	}
	close(fd);
	if (!rc && len > CLIENTS_FILE_MAX)
		rc = -EFBIG;
	if (rc)
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(-rc));
	else
		rc = clients_parse(cl, path, buf, len, err, errlen);
	free(buf);
	return rc;
}

/* ------------------------------------------------------------- saving */

static int write_all(int fd, const char *s, size_t len)
{
	while (len) {
		ssize_t n = write(fd, s, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

static int write_list(int fd, const struct clients *cl)
{
	static const char head[] =
		"# tund: clients allowed with `tunctl allow`, one per line: KEY NAME\n"
		"# Rewritten by tund; edit with tunctl allow/revoke, or by hand and then reload.\n";
	int rc = write_all(fd, head, sizeof(head) - 1);
	for (size_t i = 0; i < cl->n && !rc; i++) {
		char line[KEY_B64_LEN + CFG_NAME_MAX + 3];
		key_to_base64(line, cl->v[i].key);
		int n = snprintf(line + KEY_B64_LEN, sizeof(line) - KEY_B64_LEN, " %s\n", cl->v[i].name);
		rc = write_all(fd, line, KEY_B64_LEN + (size_t)n);
	}
	return rc;
}

/* The rename is durable only once the directory entry is on disk too. */
static int sync_dir(const char *path)
{
	char copy[PATH_MAX];
	snprintf(copy, sizeof(copy), "%s", path);
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

int clients_save(const struct clients *cl, const char *path, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(e));
		return -e;
	}
	/* Public keys and names: readable, as the config is. */
	int rc = fchmod(fd, 0644) < 0 ? -errno : 0;
	if (!rc)
		rc = write_list(fd, cl);
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(-rc));
		return rc;
	}
	rc = sync_dir(path);
	if (rc) /* the new list is in place; only a power cut could still lose it */
		log_warn("%s: syncing its directory: %s", path, strerror(-rc));
	return 0;
}
