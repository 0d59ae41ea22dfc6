/*
 * sdnotify.c - see sdnotify.h. The protocol (sd_notify(3)): the whole
 * state change is one datagram, so the manager never sees half of it; a
 * path socket's address length counts the terminating NUL, an abstract
 * one's does not (the name is exactly the bytes after the leading NUL).
 * The manager learns our PID from the socket's SO_PASSCRED, so nothing
 * but the text is sent.
 */
#include "sdnotify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define SDNOTIFY_MSG_MAX 1024       /* our longest message is a STATUS line */

/* Fills *sa from $NOTIFY_SOCKET. 1 with *len set, 0 when it is unset or
 * empty, negative errno when it names something we cannot send to (for
 * example the vsock: form of systemd 253+, which we do not speak). */
static int notify_addr(struct sockaddr_un *sa, socklen_t *len)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t n;

	if (!path || !path[0])
		return 0;
	if (path[0] != '/' && path[0] != '@')
		return -EAFNOSUPPORT;
	n = strlen(path);
	if (n >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, n);
	if (path[0] == '@') {
		sa->sun_path[0] = '\0';
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	}
	return 1;
}

static void notify_send(const char *msg, size_t len)
{
	struct sockaddr_un sa;
	socklen_t salen;
	int rc = notify_addr(&sa, &salen);
	int fd;

	if (rc <= 0) {
		if (rc < 0)
			log_debug("sd_notify: NOTIFY_SOCKET: %s", strerror(-rc));
		return;
	}
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_debug("sd_notify: socket: %s", strerror(errno));
		return;
	}
	if (sendto(fd, msg, len, MSG_NOSIGNAL, (const struct sockaddr *)&sa, salen) < 0)
		log_debug("sd_notify: %s: %s", getenv("NOTIFY_SOCKET"), strerror(errno));
	close(fd);
}

/* Appends "STATUS=text" to buf, which holds len bytes so far, cut to fit,
 * with any newline turned into a blank: a newline would end the value and
 * start a new assignment. Returns the new length. */
static size_t put_status(char buf[SDNOTIFY_MSG_MAX], size_t len, const char *text)
{
	int n = snprintf(buf + len, SDNOTIFY_MSG_MAX - len, "STATUS=%s", text);
	size_t end;

	if (n < 0)
		return len;
	end = len + (size_t)n < SDNOTIFY_MSG_MAX ? len + (size_t)n : SDNOTIFY_MSG_MAX - 1;
	for (size_t i = len; i < end; i++)
		if (buf[i] == '\n')
			buf[i] = ' ';
	return end;
}

void sdnotify_ready(const char *status)
{
	char buf[SDNOTIFY_MSG_MAX];
	size_t len = (size_t)snprintf(buf, sizeof(buf), "READY=1\n");

	if (status)
		len = put_status(buf, len, status);
	notify_send(buf, len);
}

void sdnotify_reloading(void)
{
	char buf[SDNOTIFY_MSG_MAX];
	struct timespec ts;
	int n;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	n = snprintf(buf, sizeof(buf), "RELOADING=1\nMONOTONIC_USEC=%llu\n",
		     (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
	notify_send(buf, (size_t)n);
}

void sdnotify_stopping(void)
{
	static const char msg[] = "STOPPING=1\n";

	notify_send(msg, sizeof(msg) - 1);
}

void sdnotify_status(const char *fmt, ...)
{
	char text[SDNOTIFY_MSG_MAX - 8], buf[SDNOTIFY_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	notify_send(buf, put_status(buf, 0, text));
}
