/*
 * test_clients.c - the clients file (tund/clients.h): its line format and
 * every way a line can be wrong, the default name, the list operations,
 * and a save/load round trip through a temporary state directory
 * (atomic: no temporary file left behind; a missing file is an empty
 * list; an unwritable place is an error naming the file).
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "clients.h"

/* Two fixed keys, as tunctl genkey | tunctl pubkey would print them. */
#define K1 "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="
#define K2 "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo="

static int parse(struct clients *cl, const char *text, char *err, size_t errlen)
{
	return clients_parse(cl, "clients", text, strlen(text), err, errlen);
}

static void parses_lines(void **state)
{
	struct clients cl;
	char err[256];
	const char *text = "# comment\n"
			   "\n"
			   K1 " laptop\n"
			   "   \t" K2 "\tnvr-2.site_a  \r\n";
	assert_int_equal(parse(&cl, text, err, sizeof(err)), 0);
	assert_int_equal(cl.n, 2);
	assert_string_equal(cl.v[0].name, "laptop");
	assert_int_equal(cl.v[0].line, 3);
	assert_string_equal(cl.v[1].name, "nvr-2.site_a");
	assert_int_equal(cl.v[1].line, 4);
	uint8_t k[KEY_LEN];
	assert_int_equal(key_from_base64(k, K2), 0);
	assert_memory_equal(cl.v[1].key, k, KEY_LEN);
	assert_int_equal(clients_find(&cl, "laptop", NULL), 0);
	assert_int_equal(clients_find(&cl, NULL, k), 1);
	assert_int_equal(clients_find(&cl, "nope", NULL), -1);
	clients_free(&cl);

	/* no final newline, empty input */
	assert_int_equal(parse(&cl, K1 " a", err, sizeof(err)), 0);
	assert_int_equal(cl.n, 1);
	clients_free(&cl);
	assert_int_equal(parse(&cl, "", err, sizeof(err)), 0);
	assert_int_equal(cl.n, 0);
	clients_free(&cl);
}

static void expect_error(const char *text, const char *want)
{
	struct clients cl;
	char err[256];
	assert_int_equal(parse(&cl, text, err, sizeof(err)), -EINVAL);
	assert_int_equal(cl.n, 0);
	assert_null(cl.v);
	if (!strstr(err, want))
		fail_msg("error \"%s\" does not contain \"%s\"", err, want);
}

static void rejects_bad_lines(void **state)
{
	expect_error(K1 "\n", "clients:1: expected \"KEY NAME\"");
	expect_error("\n" K1 " a b\n", "clients:2: expected \"KEY NAME\"");
	expect_error("notakey laptop\n", "clients:1: not a base64 public key");
	expect_error("hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo laptop\n", "not a base64 public key");
	expect_error(K1 " lap/top\n", "clients:1: the name must be");
	expect_error(K1 " a\n" K2 " a\n", "clients:2: duplicate name");
	expect_error(K1 " a\n" K1 " b\n", "clients:2: duplicate key");
	expect_error(K1 " a\x01\n", "control character");
	expect_error(K1 " caf\xc3\xa9\n", "not ASCII");
	char longname[CFG_NAME_MAX + 1];
	memset(longname, 'n', CFG_NAME_MAX);
	longname[CFG_NAME_MAX] = '\0';
	char text[256];
	snprintf(text, sizeof(text), K1 " %s\n", longname);
	expect_error(text, "the name must be");
	char huge[CLIENTS_LINE_MAX + 8];
	memset(huge, ' ', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = '\0';
	expect_error(huge, "clients:1: line too long");
}

static void default_name(void **state)
{
	uint8_t k[KEY_LEN];
	char name[CFG_NAME_MAX];
	assert_int_equal(key_from_base64(k, K1), 0);
	clients_default_name(name, k);
	assert_string_equal(name, "hSDwCYkw");
	assert_true(clients_name_ok(name));
	/* '+' and '/' in the first characters become '-' and '_' */
	assert_int_equal(key_from_base64(k, "+/8AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="), 0);
	clients_default_name(name, k);
	assert_string_equal(name, "-_8AAAAA");
	assert_true(clients_name_ok(name));
	assert_false(clients_name_ok(""));
	assert_false(clients_name_ok("a b"));
}

static void list_operations(void **state)
{
	struct clients cl = { 0 };
	uint8_t a[KEY_LEN], b[KEY_LEN];
	memset(a, 1, sizeof(a));
	memset(b, 2, sizeof(b));
	assert_int_equal(clients_add(&cl, "a", a), 0);
	assert_int_equal(clients_add(&cl, "b", b), 0);
	assert_int_equal(clients_add(&cl, "a", b), -EEXIST);
	assert_int_equal(clients_add(&cl, "c", a), -EEXIST);
	assert_int_equal(clients_add(&cl, "bad name", a), -EINVAL);
	clients_remove(&cl, 0);
	assert_int_equal(cl.n, 1);
	assert_string_equal(cl.v[0].name, "b");
	clients_remove(&cl, 5); /* out of range: nothing */
	assert_int_equal(cl.n, 1);
	clients_free(&cl);
}

static int count_entries(const char *dir)
{
	DIR *dh = opendir(dir);
	struct dirent *e;
	int n = 0;
	assert_non_null(dh);
	while ((e = readdir(dh)))
		n += e->d_name[0] != '.';
	closedir(dh);
	return n;
}

static void save_and_load(void **state)
{
	char dir[] = "/tmp/test_clients.XXXXXX", path[PATH_MAX], err[256];
	struct clients cl = { 0 }, back;
	uint8_t a[KEY_LEN], b[KEY_LEN];
	assert_non_null(mkdtemp(dir));
	assert_int_equal(clients_path(path, sizeof(path), dir), 0);

	assert_int_equal(clients_load(&back, path, err, sizeof(err)), 0); /* missing: empty */
	assert_int_equal(back.n, 0);

	assert_int_equal(key_from_base64(a, K1), 0);
	assert_int_equal(key_from_base64(b, K2), 0);
	assert_int_equal(clients_add(&cl, "laptop", a), 0);
	assert_int_equal(clients_add(&cl, "phone", b), 0);
	assert_int_equal(clients_save(&cl, path, err, sizeof(err)), 0);
	assert_int_equal(count_entries(dir), 1); /* the temporary file is gone */
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);

	assert_int_equal(clients_load(&back, path, err, sizeof(err)), 0);
	assert_int_equal(back.n, 2);
	assert_string_equal(back.v[1].name, "phone");
	assert_memory_equal(back.v[0].key, a, KEY_LEN);
	assert_int_equal(back.v[0].line, 3); /* after the two comment lines */
	clients_free(&back);

	clients_remove(&cl, 0);
	assert_int_equal(clients_save(&cl, path, err, sizeof(err)), 0);
	assert_int_equal(clients_load(&back, path, err, sizeof(err)), 0);
	assert_int_equal(back.n, 1);
	assert_string_equal(back.v[0].name, "phone");
	clients_free(&back);

	/* A bad file is an error naming the file and the line. */
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("# x\n" K1 " laptop extra\n", f);
	fclose(f);
	assert_int_equal(clients_load(&back, path, err, sizeof(err)), -EINVAL);
	char want[PATH_MAX + 32];
	snprintf(want, sizeof(want), "%s:2: expected", path);
	assert_non_null(strstr(err, want));

	/* Nowhere to write: the state "directory" is a file. */
	char notdir[PATH_MAX + 16];
	snprintf(notdir, sizeof(notdir), "%s/clients", path);
	assert_int_equal(clients_save(&cl, notdir, err, sizeof(err)), -ENOTDIR);
	assert_non_null(strstr(err, "cannot write"));
	assert_non_null(strstr(err, notdir));

	clients_free(&cl);
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_lines),
		cmocka_unit_test(rejects_bad_lines),
		cmocka_unit_test(default_name),
		cmocka_unit_test(list_operations),
		cmocka_unit_test(save_and_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
