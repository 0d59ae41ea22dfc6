/*
 * sdnotify.h - tells the service manager how the daemon is doing, by the
 * sd_notify(3) datagram protocol spoken by hand (no libsystemd): one
 * AF_UNIX datagram of newline-separated KEY=VALUE assignments sent to the
 * socket named by $NOTIFY_SOCKET (a path, or an abstract name written
 * with a leading '@').
 *
 * Without $NOTIFY_SOCKET (started by hand, by a test, or by a unit that
 * is not Type=notify) every call is a no-op. Failures to send are logged
 * at debug level and otherwise ignored: the daemon must run the same
 * whether or not anybody listens. The functions keep no state: each
 * opens, sends and closes its own socket.
 */
#ifndef TUND_SDNOTIFY_H
#define TUND_SDNOTIFY_H

/* READY=1, with STATUS=status when status is not NULL. Call once the
 * service does what it is for (tund: TUN device up and routes set;
 * mediator and relay: ports bound), and again after a reload. */
void sdnotify_ready(const char *status);
/* RELOADING=1 with MONOTONIC_USEC= (the CLOCK_MONOTONIC time systemd 253+
 * asks of Type=notify-reload services; older versions ignore it). Follow
 * with sdnotify_ready() once the new configuration is applied. */
void sdnotify_reloading(void);
/* STOPPING=1: shutdown has begun. */
void sdnotify_stopping(void);
/* STATUS=..., a one-line human-readable state shown by systemctl status. */
void sdnotify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
