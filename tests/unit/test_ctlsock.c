/*
 * test_ctlsock.c - ctlsock.c driven by a real libuv loop in this thread.
 * Clients are plain non-blocking Unix sockets; exchange() sends a request
 * and turns the loop with UV_RUN_NOWAIT until the server closes, bounded
 * by a deadline, so nothing here can hang. Each test gets its own loop and
 * a socket path under a fresh mkdtemp directory, which teardown removes.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "ctlproto.h"
#include "ctlsock.h"

struct fx {
	uv_loop_t loop;
	char dir[64];
	char path[108];             /* sizeof(sun_path) */
	struct ctlsock *cs;
	int n_requests;
	int argc;
	char argv[CTLPROTO_MAX_ARGS][CTLPROTO_MAX_REQUEST];
	struct ctl_conn *held;       /* a "hold" request, answered by the test */
	int n_done;
};

static const char STATUS_BODY[] = "interface tund0\nlisten_port 41641\n";

static void request_cb(void *data, struct ctl_conn *conn, int argc, char **argv)
{
	struct fx *fx = data;
	fx->n_requests++;
	fx->argc = argc;
	for (int i = 0; i < argc; i++)
		snprintf(fx->argv[i], sizeof(fx->argv[i]), "%s", argv[i]);
	if (strcmp(argv[0], "status") == 0)
		ctlsock_reply_ok(conn, STATUS_BODY, strlen(STATUS_BODY));
	else if (strcmp(argv[0], "hold") == 0)
		fx->held = conn;
	else
		ctlsock_reply_error(conn, "unknown command \"%s\"", argv[0]);
}

static void done_cb(void *arg)
{
	struct fx *fx = arg;
	fx->n_done++;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	if (!fx || uv_loop_init(&fx->loop) != 0)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_ctlsock.XXXXXX");
	if (!mkdtemp(fx->dir))
		return -1;
	snprintf(fx->path, sizeof(fx->path), "%s/run/tund.sock", fx->dir);
	*state = fx;
	return 0;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(p);
}

/* Turns the loop until done_cb has run (bounded). */
static void run_until_closed(struct fx *fx, int want_done)
{
	double deadline = now_s() + 3;
	while (fx->n_done < want_done && now_s() < deadline)
		uv_run(&fx->loop, UV_RUN_NOWAIT);
	assert_int_equal(fx->n_done, want_done);
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	if (fx->cs && fx->n_done == 0) {
		ctlsock_close(fx->cs, done_cb, fx);
		run_until_closed(fx, 1);
	}
	uv_run(&fx->loop, UV_RUN_NOWAIT);
	int rc = uv_loop_close(&fx->loop);
	nftw(fx->dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return rc == 0 ? 0 : -1;   /* a handle left open fails the test */
}

static int client_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Reads until EOF or a reset, turning the loop; returns the byte count,
 * or -1 when the server did not close within limit_s seconds. */
static ssize_t read_reply(struct fx *fx, int fd, char *out, size_t cap, double limit_s)
{
	size_t len = 0;
	double deadline = now_s() + limit_s;
	while (now_s() < deadline) {
		uv_run(&fx->loop, UV_RUN_NOWAIT);
		ssize_t n = recv(fd, out + len, cap - 1 - len, MSG_DONTWAIT);
		if (n > 0) {
			len += (size_t)n;
			continue;
		}
		if (n == 0 || (n < 0 && errno == ECONNRESET)) {
			out[len] = '\0';
			return (ssize_t)len;
		}
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		poll(&pfd, 1, 5);
	}
	out[len] = '\0';
	return -1;
}

static ssize_t exchange(struct fx *fx, const char *req, size_t len, char *out, size_t cap)
{
	int fd = client_connect(fx->path);
	assert_int_equal(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
	ssize_t n = read_reply(fx, fd, out, cap, 3);
	close(fd);
	return n;
}

static void start(struct fx *fx)
{
	assert_int_equal(ctlsock_new(&fx->cs, &fx->loop, fx->path, request_cb, fx), 0);
}

static void test_status(void **state)
{
	struct fx *fx = *state;
	char buf[256];
	start(fx);
	assert_int_equal(exchange(fx, "status\n", 7, buf, sizeof(buf)), 3 + strlen(STATUS_BODY));
	assert_string_equal(buf, "ok\ninterface tund0\nlisten_port 41641\n");
	assert_int_equal(fx->n_requests, 1);
	assert_int_equal(fx->argc, 1);
	assert_string_equal(fx->argv[0], "status");

	/* The reply parses with the client's parser. */
	bool ok = false;
	const char *body;
	size_t blen;
	assert_int_equal(ctlproto_parse_reply(buf, strlen(buf), &ok, &body, &blen), 0);
	assert_true(ok);
	assert_int_equal(blen, strlen(STATUS_BODY));
}

static void test_arguments_and_error_reply(void **state)
{
	struct fx *fx = *state;
	char buf[256];
	start(fx);
	assert_true(exchange(fx, "ping hq --count 3\n", 18, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "error unknown command \"ping\"\n");
	assert_int_equal(fx->argc, 4);
	assert_string_equal(fx->argv[1], "hq");
	assert_string_equal(fx->argv[2], "--count");
	assert_string_equal(fx->argv[3], "3");
}

static void test_split_writes_and_eof(void **state)
{
	struct fx *fx = *state;
	char buf[256];
	start(fx);
	/* The line arrives in pieces, and without its newline before EOF. */
	int fd = client_connect(fx->path);
	assert_int_equal(send(fd, "sta", 3, MSG_NOSIGNAL), 3);
	for (int i = 0; i < 20; i++)
		uv_run(&fx->loop, UV_RUN_NOWAIT);
	assert_int_equal(fx->n_requests, 0);
	assert_int_equal(send(fd, "tus", 3, MSG_NOSIGNAL), 3);
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	assert_true(read_reply(fx, fd, buf, sizeof(buf), 3) > 0);
	close(fd);
	assert_int_equal(fx->n_requests, 1);
	assert_int_equal(strncmp(buf, "ok\n", 3), 0);
}

static void test_oversized_request(void **state)
{
	struct fx *fx = *state;
	char req[CTLPROTO_MAX_REQUEST + 100], buf[512];
	memset(req, 'a', sizeof(req));
	start(fx);
	assert_true(exchange(fx, req, sizeof(req), buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "error request too long (limit 1024 bytes)\n");
	assert_int_equal(fx->n_requests, 0);

	/* Exactly at the limit, newline included, is still a request. */
	memset(req, 'a', CTLPROTO_MAX_REQUEST);
	req[CTLPROTO_MAX_REQUEST - 1] = '\n';
	assert_true(exchange(fx, req, CTLPROTO_MAX_REQUEST, buf, sizeof(buf)) > 0);
	assert_int_equal(fx->n_requests, 1);
	assert_int_equal(strlen(fx->argv[0]), CTLPROTO_MAX_REQUEST - 1);
	assert_int_equal(strncmp(buf, "error unknown command", 21), 0);
}

static void test_malformed_request(void **state)
{
	struct fx *fx = *state;
	char buf[512];
	start(fx);
	assert_true(exchange(fx, "ping  hq\n", 9, buf, sizeof(buf)) > 0);
	assert_int_equal(strncmp(buf, "error malformed request", 23), 0);
	assert_non_null(strchr(buf, '\n'));
	assert_int_equal(fx->n_requests, 0);
	assert_true(exchange(fx, "\n", 1, buf, sizeof(buf)) > 0);
	assert_int_equal(strncmp(buf, "error malformed request", 23), 0);
	assert_int_equal(fx->n_requests, 0);
}

static void test_async_reply(void **state)
{
	struct fx *fx = *state;
	char buf[256];
	start(fx);
	int fd = client_connect(fx->path);
	assert_int_equal(send(fd, "hold\n", 5, MSG_NOSIGNAL), 5);
	/* Nothing arrives while the daemon holds the request. */
	assert_int_equal(read_reply(fx, fd, buf, sizeof(buf), 0.2), -1);
	assert_string_equal(buf, "");
	assert_non_null(fx->held);
	ctlsock_reply_ok(fx->held, "late\n", 5);
	ctlsock_reply_ok(fx->held, "twice\n", 6);   /* a second reply is ignored */
	assert_int_equal(read_reply(fx, fd, buf, sizeof(buf), 3), 8);
	assert_string_equal(buf, "ok\nlate\n");
	close(fd);
}

static void test_error_message_one_line(void **state)
{
	struct fx *fx = *state;
	char buf[256];
	start(fx);
	int fd = client_connect(fx->path);
	assert_int_equal(send(fd, "hold\n", 5, MSG_NOSIGNAL), 5);
	assert_int_equal(read_reply(fx, fd, buf, sizeof(buf), 0.1), -1);
	assert_non_null(fx->held);
	ctlsock_reply_error(fx->held, "bad\npeer %s", "x\ty");
	assert_true(read_reply(fx, fd, buf, sizeof(buf), 3) > 0);
	assert_string_equal(buf, "error bad peer x y\n");
	close(fd);
}

static void test_idle_timeout(void **state)
{
	struct fx *fx = *state;
	char buf[256];
	start(fx);
	int fd = client_connect(fx->path);
	double t0 = now_s();
	assert_true(read_reply(fx, fd, buf, sizeof(buf), 8) > 0);
	double waited = now_s() - t0;
	close(fd);
	assert_string_equal(buf, "error timed out waiting for a request line\n");
	assert_true(waited > 4.5 && waited < 7);
	assert_int_equal(fx->n_requests, 0);
}

static void test_socket_mode_and_parents(void **state)
{
	struct fx *fx = *state;
	struct stat st;
	char run[200];
	mode_t old = umask(077);
	start(fx);
	umask(old);
	assert_int_equal(lstat(fx->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0660);
	snprintf(run, sizeof(run), "%s/run", fx->dir);
	assert_int_equal(stat(run, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
}

static void test_close_unlinks(void **state)
{
	struct fx *fx = *state;
	struct stat st;
	start(fx);
	assert_int_equal(lstat(fx->path, &st), 0);
	ctlsock_close(fx->cs, done_cb, fx);
	assert_int_equal(lstat(fx->path, &st), -1);   /* gone at once */
	assert_int_equal(errno, ENOENT);
	assert_int_equal(fx->n_done, 0);              /* done runs from the loop */
	run_until_closed(fx, 1);
}

static void test_close_with_connections(void **state)
{
	struct fx *fx = *state;
	char buf[64];
	start(fx);
	int idle = client_connect(fx->path);
	int held = client_connect(fx->path);
	assert_int_equal(send(held, "hold\n", 5, MSG_NOSIGNAL), 5);
	assert_int_equal(read_reply(fx, held, buf, sizeof(buf), 0.2), -1);
	assert_non_null(fx->held);
	ctlsock_close(fx->cs, done_cb, fx);
	run_until_closed(fx, 1);
	/* Both clients see the connection end without a reply. */
	assert_int_equal(recv(idle, buf, sizeof(buf), MSG_DONTWAIT), 0);
	assert_int_equal(recv(held, buf, sizeof(buf), MSG_DONTWAIT), 0);
	close(idle);
	close(held);
}

static void test_stale_socket_replaced(void **state)
{
	struct fx *fx = *state;
	char buf[256], run[200];
	snprintf(run, sizeof(run), "%s/run", fx->dir);
	assert_int_equal(mkdir(run, 0755), 0);
	/* What a killed tund leaves: a socket file nobody listens on. */
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", fx->path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	start(fx);
	assert_true(exchange(fx, "status\n", 7, buf, sizeof(buf)) > 0);
	assert_int_equal(strncmp(buf, "ok\n", 3), 0);
}

static void test_live_socket_refused(void **state)
{
	struct fx *fx = *state;
	struct ctlsock *second = NULL;
	char buf[256];
	start(fx);
	assert_int_equal(ctlsock_new(&second, &fx->loop, fx->path, request_cb, fx), -EADDRINUSE);
	assert_null(second);
	/* The first server is untouched. */
	assert_true(exchange(fx, "status\n", 7, buf, sizeof(buf)) > 0);
	assert_int_equal(strncmp(buf, "ok\n", 3), 0);
}

static void test_not_a_socket_refused(void **state)
{
	struct fx *fx = *state;
	char run[200];
	struct stat st;
	snprintf(run, sizeof(run), "%s/run", fx->dir);
	assert_int_equal(mkdir(run, 0755), 0);
	FILE *f = fopen(fx->path, "w");
	assert_non_null(f);
	fputs("precious", f);
	fclose(f);
	assert_int_equal(ctlsock_new(&fx->cs, &fx->loop, fx->path, request_cb, fx), -EEXIST);
	fx->cs = NULL;
	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_size, 8);
}

static void test_path_too_long(void **state)
{
	struct fx *fx = *state;
	char path[200];
	memset(path, 'x', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(ctlsock_new(&fx->cs, &fx->loop, path, request_cb, fx), -ENAMETOOLONG);
	assert_int_equal(ctlsock_new(&fx->cs, &fx->loop, "", request_cb, fx), -EINVAL);
	fx->cs = NULL;
}

static void test_connection_limit(void **state)
{
	struct fx *fx = *state;
	enum { N = 65 };
	int fds[N];
	char buf[256];
	start(fx);
	for (int i = 0; i < N; i++) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", fx->path);
		fds[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		assert_true(fds[i] >= 0);
		double deadline = now_s() + 3;
		while (connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			assert_int_equal(errno, EAGAIN);   /* backlog full: let it accept */
			assert_true(now_s() < deadline);
			uv_run(&fx->loop, UV_RUN_NOWAIT);
		}
		uv_run(&fx->loop, UV_RUN_NOWAIT);  /* accept in order */
	}
	assert_true(read_reply(fx, fds[N - 1], buf, sizeof(buf), 3) > 0);
	assert_string_equal(buf, "error busy: more than 64 control connections open\n");
	for (int i = 0; i < N; i++)
		close(fds[i]);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);   /* as tund does: a vanished client fails a write */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arguments_and_error_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_writes_and_eof, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_message_one_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_mode_and_parents, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_unlinks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_with_connections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_socket_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_socket_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_a_socket_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_path_too_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connection_limit, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
