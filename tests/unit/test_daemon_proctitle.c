/*
 * test_daemon_proctitle.c - the title in /proc/self/cmdline and comm, with
 * argv and the environment still intact afterwards (daemon/proctitle.c).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proctitle.h"
#include "tap.h"

static ssize_t slurp(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n >= 0)
		buf[n] = 0;
	return n;
}

int main(int argc, char **argv)
{
	char buf[4096], arg0[4096];
	const char *path = getenv("PATH");
	char *path_copy = path ? strdup(path) : NULL;

	if (getenv("TASKRING_VALGRIND")) {
		printf("1..0 # SKIP under valgrind /proc/self/cmdline is valgrind's own\n");
		free(path_copy);
		return 0;
	}
	snprintf(arg0, sizeof(arg0), "%s", argv[0]);
	tr_proctitle_init(argc, argv);
	tr_proctitle_set("taskring: worker %d cpu %d", 1, 1);

	ssize_t n = slurp("/proc/self/cmdline", buf, sizeof(buf));
	ok(n > 0 && strcmp(buf, "taskring: worker 1 cpu 1") == 0, "cmdline shows the title: '%s'",
	   n > 0 ? buf : "?");
	slurp("/proc/self/comm", buf, sizeof(buf));
	is_str(buf, "taskring: worke\n", "comm holds the first 15 bytes");
	is_str(argv[0], arg0, "argv[0] still reads the same");
	ok(!path_copy || (getenv("PATH") && strcmp(getenv("PATH"), path_copy) == 0),
	   "environment intact");
	ok(setenv("TR_PROCTITLE_TEST", "x", 1) == 0 &&
	       strcmp(getenv("TR_PROCTITLE_TEST"), "x") == 0,
	   "environment still writable");

	/* A very long title is cut to the area, never written past it. */
	char longt[8192];
	memset(longt, 'y', sizeof(longt) - 1);
	longt[sizeof(longt) - 1] = 0;
	tr_proctitle_set("%s", longt);
	n = slurp("/proc/self/cmdline", buf, sizeof(buf));
	ok(n > 0 && buf[0] == 'y', "long title shown (cut)");
	free(path_copy);
	return tap_done();
}
