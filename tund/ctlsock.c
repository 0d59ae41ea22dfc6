/*
 * ctlsock.c - tund's control socket server (ctlsock.h, docs/control.md).
 *
 * One struct ctlsock owns the listening pipe and a list of connections.
 * Each struct ctl_conn embeds its pipe and a timer and is freed only after
 * both handles' close callbacks have run; the ctlsock is freed after its
 * listener and every connection are gone, and then calls done(arg).
 *
 * A connection lives through these states: READING (its bytes go into a
 * fixed buffer of CTLPROTO_MAX_REQUEST bytes; the whole request line must
 * arrive within CTLSOCK_REQUEST_TIMEOUT_MS), DISPATCHED (the daemon has the
 * parsed arguments, which point into that buffer, and owes one reply),
 * REPLYING (a heap reply is being written; the write callback frees it and
 * closes), CLOSING. A ctl_conn pointer given to the daemon stays valid
 * until the daemon replies or calls ctlsock_close(), whichever comes first;
 * after ctlsock_close() the daemon must drop the connections it holds.
 *
 * Writes to a client that has gone away raise SIGPIPE, which tund ignores
 * process-wide (main); here they only fail the write.
 */
#include "ctlsock.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctlproto.h"
#include "log.h"

#define CTLSOCK_REQUEST_TIMEOUT_MS 5000  /* from accept to a complete request line */
#define CTLSOCK_MAX_CONNS 64             /* beyond this, new clients get an error */
#define CTLSOCK_BACKLOG 16
#define CTLSOCK_ERROR_MAX 512            /* an error reply's message, bytes */

enum conn_state { CONN_READING, CONN_DISPATCHED, CONN_REPLYING, CONN_CLOSING };

struct ctl_conn {
	struct ctlsock *cs;
	struct ctl_conn *prev, *next;
	uv_pipe_t pipe;
	uv_timer_t timer;
	enum conn_state state;
	int open_handles;               /* closed when this reaches 0 */
	size_t len;                     /* bytes in buf */
	char buf[CTLPROTO_MAX_REQUEST + 1]; /* + 1: room for the parser's NUL */
};

struct ctlsock {
	uv_loop_t *loop;
	uv_pipe_t listener;
	ctlsock_request_cb cb;
	void *data;
	struct ctl_conn *conns;
	size_t n_conns;
	bool closing;
	bool listener_closed;
	void (*done)(void *arg);
	void *done_arg;
	dev_t dev;                      /* the socket file we created, so close */
	ino_t ino;                      /* unlinks ours and not a successor's */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

struct reply {
	uv_write_t req;                 /* first: the write callback gets &req */
	size_t len;
	char data[];
};

static void maybe_finish(struct ctlsock *cs)
{
	if (!cs->closing || !cs->listener_closed || cs->conns)
		return;
	void (*done)(void *) = cs->done;
	void *arg = cs->done_arg;
	free(cs);
	if (done)
		done(arg);
}

static void conn_close_cb(uv_handle_t *h)
{
	struct ctl_conn *c = h->data;
	if (--c->open_handles > 0)
		return;
	struct ctlsock *cs = c->cs;
	if (c->prev)
		c->prev->next = c->next;
	else
		cs->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	cs->n_conns--;
	free(c);
	maybe_finish(cs);
}

static void close_conn(struct ctl_conn *c)
{
	if (c->state == CONN_CLOSING)
		return;
	c->state = CONN_CLOSING;
	uv_close((uv_handle_t *)&c->pipe, conn_close_cb);
	uv_close((uv_handle_t *)&c->timer, conn_close_cb);
}

static void write_cb(uv_write_t *req, int status)
{
	struct ctl_conn *c = req->handle->data;
	if (status < 0 && status != UV_ECANCELED)
		log_debug("control socket: reply not delivered: %s", uv_strerror(status));
	free((struct reply *)req);
	close_conn(c);
}

/* Sends head + body as one heap buffer, then closes the connection. */
static void send_and_close(struct ctl_conn *c, const char *head, size_t hlen,
			   const char *body, size_t blen)
{
	uv_read_stop((uv_stream_t *)&c->pipe);
	uv_timer_stop(&c->timer);
	struct reply *r = blen <= SIZE_MAX - sizeof(*r) - hlen ? malloc(sizeof(*r) + hlen + blen) : NULL;
	if (!r) {
		log_error("control socket: no memory for a %zu byte reply", hlen + blen);
		close_conn(c);
		return;
	}
	c->state = CONN_REPLYING;
	memcpy(r->data, head, hlen);
	if (blen)
		memcpy(r->data + hlen, body, blen);
	r->len = hlen + blen;
	uv_buf_t b = uv_buf_init(r->data, (unsigned)r->len);
	int rc = uv_write(&r->req, (uv_stream_t *)&c->pipe, &b, 1, write_cb);
	if (rc < 0) {
		free(r);
		close_conn(c);
	}
}

static void send_error(struct ctl_conn *c, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void send_error(struct ctl_conn *c, const char *fmt, va_list ap)
{
	char line[sizeof("error \n") + CTLSOCK_ERROR_MAX];
	if (vsnprintf(line + 6, CTLSOCK_ERROR_MAX, fmt, ap) <= 0)
		strcpy(line + 6, "failed");   /* the reply format needs a message */
	size_t len = 6 + strlen(line + 6);
	memcpy(line, "error ", 6);
	/* The message is one line of the reply: no control characters. */
	for (size_t i = 6; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = ' ';
	line[len++] = '\n';
	send_and_close(c, line, len, NULL, 0);
}

static void reply_internal(struct ctl_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply_internal(struct ctl_conn *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	send_error(c, fmt, ap);
	va_end(ap);
}

void ctlsock_reply_ok(struct ctl_conn *c, const char *body, size_t len)
{
	if (c->state != CONN_DISPATCHED)
		return;
	send_and_close(c, "ok\n", 3, body, len);
}

void ctlsock_reply_error(struct ctl_conn *c, const char *fmt, ...)
{
	if (c->state != CONN_DISPATCHED)
		return;
	va_list ap;
	va_start(ap, fmt);
	send_error(c, fmt, ap);
	va_end(ap);
}

static void dispatch(struct ctl_conn *c, size_t linelen)
{
	char *argv[CTLPROTO_MAX_ARGS];
	uv_read_stop((uv_stream_t *)&c->pipe);
	uv_timer_stop(&c->timer);
	int argc = ctlproto_parse_request(c->buf, linelen, argv);
	if (argc < 0) {
		reply_internal(c, "malformed request: expected \"COMMAND [ARG...]\" in printable "
			       "ASCII, separated by single spaces, at most %d arguments",
			       CTLPROTO_MAX_ARGS);
		return;
	}
	c->state = CONN_DISPATCHED;
	c->cs->cb(c->cs->data, c, argc, argv);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct ctl_conn *c = h->data;
	*buf = uv_buf_init(c->buf + c->len, (unsigned)(CTLPROTO_MAX_REQUEST - c->len));
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct ctl_conn *c = s->data;
	if (c->state != CONN_READING)
		return;
	if (n == UV_EOF && c->len > 0) {
		dispatch(c, c->len);   /* a last line without its newline */
		return;
	}
	if (n < 0) {
		close_conn(c);
		return;
	}
	const char *nl = memchr(c->buf + c->len, '\n', (size_t)n);
	c->len += (size_t)n;
	if (nl)
		dispatch(c, (size_t)(nl - c->buf) + 1);
	else if (c->len == CTLPROTO_MAX_REQUEST)
		reply_internal(c, "request too long (limit %d bytes)", CTLPROTO_MAX_REQUEST);
}

static void timeout_cb(uv_timer_t *t)
{
	struct ctl_conn *c = t->data;
	reply_internal(c, "timed out waiting for a request line");
}

static void connection_cb(uv_stream_t *server, int status)
{
	struct ctlsock *cs = server->data;
	if (status < 0) {
		log_warn("control socket %s: %s", cs->path, uv_strerror(status));
		return;
	}
	struct ctl_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		log_error("control socket %s: no memory for a connection", cs->path);
		return;
	}
	c->cs = cs;
	uv_pipe_init(cs->loop, &c->pipe, 0);
	uv_timer_init(cs->loop, &c->timer);
	c->pipe.data = c;
	c->timer.data = c;
	c->open_handles = 2;
	c->next = cs->conns;
	if (cs->conns)
		cs->conns->prev = c;
	cs->conns = c;
	cs->n_conns++;

	int rc = uv_accept(server, (uv_stream_t *)&c->pipe);
	if (rc < 0) {
		log_warn("control socket %s: accept: %s", cs->path, uv_strerror(rc));
		close_conn(c);
		return;
	}
	if (cs->n_conns > CTLSOCK_MAX_CONNS) {
		reply_internal(c, "busy: more than %d control connections open", CTLSOCK_MAX_CONNS);
		return;
	}
	uv_timer_start(&c->timer, timeout_cb, CTLSOCK_REQUEST_TIMEOUT_MS, 0);
	rc = uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, read_cb);
	if (rc < 0)
		close_conn(c);
}

/* mkdir -p of path's parent directories. Directories created here get mode
 * 0755 whatever the umask, so group members can reach the 0660 socket. */
static int make_parents(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	snprintf(dir, sizeof(dir), "%s", path);
	for (char *p = dir + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdir(dir, 0755) == 0) {
			if (chmod(dir, 0755) < 0)
				return -errno;
		} else if (errno != EEXIST) {
			return -errno;
		}
		*p = '/';
	}
	return 0;
}

/* Path is in use: replace a stale socket (no listener), refuse otherwise. */
static int remove_stale(const struct sockaddr_un *sa)
{
	struct stat st;
	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (probe < 0)
		return -errno;
	int err = connect(probe, (const struct sockaddr *)sa, sizeof(*sa)) == 0 ? 0 : errno;
	close(probe);
	if (err == 0 || err == EAGAIN)
		return -EADDRINUSE;   /* someone listens (EAGAIN: a full backlog) */
	if (err != ECONNREFUSED)
		return -err;
	if (unlink(sa->sun_path) < 0 && errno != ENOENT)
		return -errno;
	log_info("removed stale control socket %s", sa->sun_path);
	return 0;
}

/* Creates the bound socket file with mode 0660. It is chmod'ed before
 * uv_listen(), so no client can connect while the mode is still wider. */
static int bind_socket(const struct sockaddr_un *sa, int *out)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	int rc = bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 ? -errno : 0;
	if (rc == -EADDRINUSE) {
		rc = remove_stale(sa);
		if (rc == 0)
			rc = bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 ? -errno : 0;
	}
	if (rc == 0 && chmod(sa->sun_path, 0660) < 0) {
		rc = -errno;
		unlink(sa->sun_path);
	}
	if (rc < 0) {
		close(fd);
		return rc;
	}
	*out = fd;
	return 0;
}

static void free_cs_cb(uv_handle_t *h)
{
	free(h->data);
}

int ctlsock_new(struct ctlsock **out, uv_loop_t *loop, const char *path,
		ctlsock_request_cb cb, void *data)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (path[0] == '\0')
		return -EINVAL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);

	int fd = -1;
	struct stat st;
	int rc = make_parents(path);
	if (rc == 0)
		rc = bind_socket(&sa, &fd);
	if (rc == 0 && stat(path, &st) < 0) {
		rc = -errno;
		close(fd);
		unlink(path);
	}
	if (rc < 0)
		return rc;
	struct ctlsock *cs = calloc(1, sizeof(*cs));
	if (!cs) {
		close(fd);
		unlink(path);
		return -ENOMEM;
	}
	cs->loop = loop;
	cs->cb = cb;
	cs->data = data;
	cs->dev = st.st_dev;
	cs->ino = st.st_ino;
	memcpy(cs->path, sa.sun_path, sizeof(cs->path));
	uv_pipe_init(loop, &cs->listener, 0);
	cs->listener.data = cs;

	rc = uv_pipe_open(&cs->listener, fd);
	if (rc < 0)
		close(fd);   /* not adopted by the handle */
	else
		rc = uv_listen((uv_stream_t *)&cs->listener, CTLSOCK_BACKLOG, connection_cb);
	if (rc < 0) {
		unlink(path);
		uv_close((uv_handle_t *)&cs->listener, free_cs_cb);
		return rc;
	}
	*out = cs;
	return 0;
}

static void listener_close_cb(uv_handle_t *h)
{
	struct ctlsock *cs = h->data;
	cs->listener_closed = true;
	maybe_finish(cs);
}

void ctlsock_close(struct ctlsock *cs, void (*done)(void *arg), void *arg)
{
	if (cs->closing)
		return;
	cs->closing = true;
	cs->done = done;
	cs->done_arg = arg;
	struct stat st;
	if (lstat(cs->path, &st) == 0 && st.st_dev == cs->dev && st.st_ino == cs->ino)
		unlink(cs->path);
	uv_close((uv_handle_t *)&cs->listener, listener_close_cb);
	for (struct ctl_conn *c = cs->conns; c; c = c->next)
		close_conn(c);
}
