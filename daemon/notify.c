/*
 * notify.c - see notify.h. The socket is unconnected: each message is a
 * sendto(), so a restarted listener on the same address is reached again.
 */
#include "notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int tr_notify_open(struct tr_notify *n, const char *addr)
{
	size_t len;

	memset(n, 0, sizeof(*n));
	n->fd = -1;
	if (!addr || !*addr)
		return 0;
	len = strlen(addr);
	if ((addr[0] != '/' && addr[0] != '@') || len >= sizeof(n->addr.sun_path))
		return -EINVAL;
	n->addr.sun_family = AF_UNIX;
	memcpy(n->addr.sun_path, addr, len);
	if (addr[0] == '@') {
		n->addr.sun_path[0] = 0; /* abstract: no terminating NUL counted */
		n->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	} else {
		n->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
	}
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (n->fd < 0)
		return -errno;
	return 0;
}

int tr_notify_send(struct tr_notify *n, const char *msg)
{
	if (n->fd < 0)
		return 0;
	ssize_t w =
	    sendto(n->fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&n->addr, n->addrlen);
	if (w < 0)
		return -errno;
	return 0;
}

void tr_notify_close(struct tr_notify *n)
{
	if (n->fd >= 0)
		close(n->fd);
	n->fd = -1;
}

uint64_t tr_notify_watchdog_ns(const char *usec, const char *pid, pid_t self)
{
	char *end;

	if (!usec || !*usec)
		return 0;
	if (pid && *pid) {
		errno = 0;
		long p = strtol(pid, &end, 10);
		if (errno || *end || p != (long)self)
			return 0;
	}
	errno = 0;
	unsigned long long us = strtoull(usec, &end, 10);
	if (errno || *end || us == 0 || usec[0] == '-' || us > UINT64_MAX / 1000)
		return 0;
	return us * 1000 / 2;
}
