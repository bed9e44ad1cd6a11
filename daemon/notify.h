/*
 * notify.h - the systemd notify protocol, hand-written.
 *
 * A message ("READY=1", "STATUS=...", "WATCHDOG=1", ...) is one datagram sent
 * to the AF_UNIX socket named by $NOTIFY_SOCKET: a path, or an abstract name
 * written with a leading '@'. Without NOTIFY_SOCKET every send is a no-op.
 * The watchdog interval comes from $WATCHDOG_USEC, and applies to us only
 * when $WATCHDOG_PID is unset or names our pid. State: only the struct.
 */
#ifndef TR_NOTIFY_H
#define TR_NOTIFY_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

struct tr_notify {
	int fd; /* -1: disabled */
	struct sockaddr_un addr;
	socklen_t addrlen;
};

/* Prepares sending to addr (NULL or "": disabled). Returns 0, -EINVAL for a
 * name that is not absolute, abstract or too long, or -errno from socket(). */
int tr_notify_open(struct tr_notify *n, const char *addr);

/* Sends msg as one datagram. Returns 0 (also when disabled) or -errno. */
int tr_notify_send(struct tr_notify *n, const char *msg);

/* Closes the socket; n is disabled afterwards. Safe to call twice. */
void tr_notify_close(struct tr_notify *n);

/* Reads the watchdog setting from usec ($WATCHDOG_USEC) and pid
 * ($WATCHDOG_PID; NULL or "" means any): returns the interval at which to
 * send WATCHDOG=1 (half the timeout) in ns, or 0 when the watchdog is off,
 * not ours, or malformed. */
uint64_t tr_notify_watchdog_ns(const char *usec, const char *pid, pid_t self);

#endif
