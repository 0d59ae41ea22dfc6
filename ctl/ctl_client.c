/*
 * ctl_client.c - one request/reply exchange with tund (ctl_client.h).
 *
 * Error replies whose message starts with STATUS_ERR_NO_PEER (status.h)
 * give CTL_EXIT_NO_PEER. Everything read from the socket is bounded: at most CTLPROTO_MAX_REPLY
 * bytes, each read waiting at most CTL_CLIENT_TIMEOUT_MS, and the daemon's
 * error message is printed with control characters replaced so a reply
 * cannot drive the terminal. Errors before the connection is established
 * say tund cannot be reached (exit 3, or 4 for permissions); errors after
 * it say what went wrong with the exchange (exit 1).
 */
#include "ctl_client.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "cmd.h"
#include "ctlproto.h"
#include "status.h"

/* Joins argv with single spaces and a newline, and checks the result with
 * the daemon's own parser, so tunctl never sends what tund would refuse. */
static int build_request(char line[CTLPROTO_MAX_REQUEST + 1], size_t *len, int argc, char *const argv[])
{
	size_t n = 0;
	for (int i = 0; i < argc; i++) {
		size_t a = strlen(argv[i]);
		if (n + (i > 0) + a + 1 > CTLPROTO_MAX_REQUEST)
			return -E2BIG;
		if (i > 0)
			line[n++] = ' ';
		memcpy(line + n, argv[i], a);
		n += a;
	}
	line[n++] = '\n';
	char copy[CTLPROTO_MAX_REQUEST + 1];
	char *av[CTLPROTO_MAX_ARGS];
	memcpy(copy, line, n);
	if (ctlproto_parse_request(copy, n, av) != argc)
		return -EINVAL;
	*len = n;
	return 0;
}

static int connect_to(const char *path, int *out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* The send timeout also bounds connect() when tund's backlog is full. */
	struct timeval tv = { .tv_sec = CTL_CLIENT_TIMEOUT_MS / 1000,
			      .tv_usec = CTL_CLIENT_TIMEOUT_MS % 1000 * 1000 };
	int rc = 0;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		rc = -errno;
	while (rc == 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EINTR)
			continue;
		rc = errno == EAGAIN ? -ETIMEDOUT : -errno;
	}
	if (rc < 0) {
		close(fd);
		return rc;
	}
	*out = fd;
	return 0;
}

static int send_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads until EOF into a malloc'd, NUL-terminated buffer. */
static int read_all(int fd, char **out, size_t *lenp)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (cap - len < 2) {
			size_t ncap = cap * 2 > CTLPROTO_MAX_REPLY + 2 ? CTLPROTO_MAX_REPLY + 2 : cap * 2;
			char *nb = realloc(buf, ncap);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap = ncap;
		}
		ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int rc = n == 0 ? 0 : errno == EAGAIN ? -ETIMEDOUT : -errno;
			if (rc < 0) {
				free(buf);
				return rc;
			}
			break;
		}
		len += (size_t)n;
		if (len > CTLPROTO_MAX_REPLY) {
			free(buf);
			return -EMSGSIZE;
		}
	}
	buf[len] = '\0';
	*out = buf;
	*lenp = len;
	return 0;
}

static int report_connect(const char *path, int err)
{
	switch (-err) {
	case ENOENT:
		fprintf(stderr, "tunctl: tund is not running (no socket at %s)\n", path);
		return CTL_EXIT_UNREACHABLE;
	case ECONNREFUSED:
		fprintf(stderr, "tunctl: tund is not running (nothing listens on %s)\n", path);
		return CTL_EXIT_UNREACHABLE;
	case EACCES:
	case EPERM:
		fprintf(stderr, "tunctl: permission denied on %s: run as root or as a member of "
			"the socket's group\n", path);
		return CTL_EXIT_DENIED;
	case ETIMEDOUT:
		fprintf(stderr, "tunctl: tund at %s is not answering (no connection within %d s)\n",
			path, CTL_CLIENT_TIMEOUT_MS / 1000);
		return CTL_EXIT_UNREACHABLE;
	case ENAMETOOLONG:
		fprintf(stderr, "tunctl: socket path is too long (at most %zu bytes): %s\n",
			sizeof(((struct sockaddr_un *)0)->sun_path) - 1, path);
		return CTL_EXIT_USAGE;
	default:
		fprintf(stderr, "tunctl: cannot reach tund at %s: %s\n", path, strerror(-err));
		return CTL_EXIT_UNREACHABLE;
	}
}

static int report_exchange(const char *cmd, const char *path, int err)
{
	if (err == -ETIMEDOUT)
		fprintf(stderr, "tunctl %s: no reply from tund at %s within %d s\n",
			cmd, path, CTL_CLIENT_TIMEOUT_MS / 1000);
	else if (err == -EMSGSIZE)
		fprintf(stderr, "tunctl %s: the reply from tund is larger than %u bytes\n",
			cmd, CTLPROTO_MAX_REPLY);
	else
		fprintf(stderr, "tunctl %s: lost the connection to tund at %s: %s\n",
			cmd, path, strerror(-err));
	return CTL_EXIT_FAIL;
}

static void print_daemon_error(const char *cmd, const char *msg, size_t len)
{
	fprintf(stderr, "tunctl %s: ", cmd);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)msg[i];
		fputc(c < 0x20 || c == 0x7f ? '?' : c, stderr);
	}
	fputc('\n', stderr);
}

int ctl_client_call(const char *path, int argc, char *const argv[], char **buf,
		    const char **body, size_t *body_len)
{
	char line[CTLPROTO_MAX_REQUEST + 1];
	size_t llen = 0, len = 0;
	int fd = -1;
	*buf = NULL;
	if (build_request(line, &llen, argc, argv) < 0) {
		fprintf(stderr, "tunctl %s: arguments cannot be sent to tund (printable ASCII "
			"without spaces, at most %d bytes in all)\n", argv[0], CTLPROTO_MAX_REQUEST);
		return CTL_EXIT_USAGE;
	}
	int rc = connect_to(path, &fd);
	if (rc < 0)
		return report_connect(path, rc);
	/* Read even when the send failed: tund may have answered and closed
	 * already (a busy daemon does), and its reply says more. */
	int send_rc = send_all(fd, line, llen);
	rc = read_all(fd, buf, &len);
	close(fd);
	if (rc == 0 && len == 0 && send_rc < 0)
		rc = send_rc;
	if (rc < 0)
		return report_exchange(argv[0], path, rc);
	if (len == 0) {
		fprintf(stderr, "tunctl %s: tund closed the connection without a reply\n", argv[0]);
		goto fail;
	}
	bool ok = false;
	if (ctlproto_parse_reply(*buf, len, &ok, body, body_len) < 0) {
		fprintf(stderr, "tunctl %s: malformed reply from tund (expected \"ok\" or "
			"\"error MESSAGE\")\n", argv[0]);
		goto fail;
	}
	if (!ok) {
		print_daemon_error(argv[0], *body, *body_len);
		rc = *body_len >= strlen(STATUS_ERR_NO_PEER) &&
		     memcmp(*body, STATUS_ERR_NO_PEER, strlen(STATUS_ERR_NO_PEER)) == 0 ? CTL_EXIT_NO_PEER
											: CTL_EXIT_FAIL;
		free(*buf);
		*buf = NULL;
		return rc;
	}
	return CTL_EXIT_OK;
fail:
	free(*buf);
	*buf = NULL;
	return CTL_EXIT_FAIL;
}

int ctl_client_status(const char *path, const char *cmd, struct status *st)
{
	char *request[] = { "status" };
	char *buf = NULL;
	const char *body = NULL;
	size_t len = 0;
	char err[256];
	int rc = ctl_client_call(path, 1, request, &buf, &body, &len);
	if (rc != CTL_EXIT_OK)
		return rc;
	if (status_decode(st, body, len, err, sizeof(err)) < 0) {
		fprintf(stderr, "tunctl %s: malformed status from tund: %s\n", cmd, err);
		rc = CTL_EXIT_FAIL;
	}
	free(buf);
	return rc;
}
