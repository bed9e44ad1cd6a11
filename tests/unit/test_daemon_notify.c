/*
 * test_daemon_notify.c - the sd_notify datagrams reach a listening socket
 * named by a path and by an abstract '@' name; the watchdog variables are
 * read as systemd defines them (daemon/notify.c).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"
#include "tap.h"

/* Binds a datagram socket to name ('@' = abstract). */
static int listener(const char *name)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	socklen_t len;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	strcpy(a.sun_path, name);
	if (name[0] == '@') {
		a.sun_path[0] = 0;
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name));
	} else {
		len = sizeof(a);
	}
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, len) < 0)
		return -1;
	return fd;
}

static int got(int fd, const char *want)
{
	char buf[256];
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
	if (n < 0)
		return 0;
	buf[n] = 0;
	if (strcmp(buf, want) != 0)
		diag("got '%s'", buf);
	return strcmp(buf, want) == 0;
}

int main(void)
{
	struct tr_notify n;
	char path[108], abs[64];

	snprintf(path, sizeof(path), "/tmp/tr-notify-test.%d", (int)getpid());
	snprintf(abs, sizeof(abs), "@tr-notify-test.%d", (int)getpid());
	unlink(path);

	int fd = listener(path);
	ok(fd >= 0, "path listener bound");
	is_int(tr_notify_open(&n, path), 0, "open path socket");
	is_int(tr_notify_send(&n, "READY=1"), 0, "send READY=1");
	ok(got(fd, "READY=1"), "READY=1 received on the path socket");
	is_int(tr_notify_send(&n, "STATUS=2 of 2 workers ready"), 0, "send STATUS");
	ok(got(fd, "STATUS=2 of 2 workers ready"), "STATUS received");
	tr_notify_close(&n);
	close(fd);
	unlink(path);
	is_int(tr_notify_open(&n, path), 0, "open a path nobody listens on");
	ok(tr_notify_send(&n, "READY=1") < 0, "sending there fails with an error, no crash");
	tr_notify_close(&n);

	fd = listener(abs);
	ok(fd >= 0, "abstract listener bound");
	is_int(tr_notify_open(&n, abs), 0, "open abstract socket");
	is_int(tr_notify_send(&n, "WATCHDOG=1"), 0, "send WATCHDOG=1");
	ok(got(fd, "WATCHDOG=1"), "WATCHDOG=1 received on the abstract socket");
	tr_notify_close(&n);
	tr_notify_close(&n);
	close(fd);

	is_int(tr_notify_open(&n, NULL), 0, "no NOTIFY_SOCKET: disabled");
	is_int(tr_notify_send(&n, "READY=1"), 0, "disabled send is a no-op");
	is_int(tr_notify_open(&n, "relative/path"), -EINVAL, "relative name refused");
	char longname[200];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[0] = '/';
	longname[sizeof(longname) - 1] = 0;
	is_int(tr_notify_open(&n, longname), -EINVAL, "over-long name refused");

	is_int(tr_notify_watchdog_ns("20000000", NULL, 42), 10000000000ull, "WATCHDOG_USEC/2");
	is_int(tr_notify_watchdog_ns("20000000", "42", 42), 10000000000ull, "WATCHDOG_PID ours");
	is_int(tr_notify_watchdog_ns("20000000", "43", 42), 0, "WATCHDOG_PID not ours");
	is_int(tr_notify_watchdog_ns("abc", NULL, 42), 0, "malformed WATCHDOG_USEC");
	is_int(tr_notify_watchdog_ns("0", NULL, 42), 0, "zero: off");
	is_int(tr_notify_watchdog_ns(NULL, NULL, 42), 0, "unset: off");
	return tap_done();
}
