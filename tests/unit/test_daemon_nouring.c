/*
 * test_daemon_nouring.c - without io_uring taskringd refuses to start with
 * one clear line (daemon/uring.c). io_uring_setup is denied with EPERM by a
 * seccomp filter in a child, the way a container profile does it; then the
 * probe is called in-process, and the real taskringd is run under it.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"
#include "uring.h"

#define WANT                                                                                       \
	"io_uring_setup: Operation not permitted: io_uring is disabled "                           \
	"(kernel.io_uring_disabled or seccomp); taskringd needs it"

/* Makes io_uring_setup fail with EPERM in this process and its children. */
static int deny_io_uring(void)
{
	struct sock_filter f[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return -errno;
	return 0;
}

static const char *daemon_path(char *buf, size_t len)
{
	const char *b = getenv("TASKRING_BUILD");
	char exe[PATH_MAX];
	ssize_t n;

	if (b && *b) {
		snprintf(buf, len, "%s/taskringd", b);
		return buf;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = 0; /* build/tests/test_x -> build/taskringd */
	snprintf(buf, len, "%s/../taskringd", dirname(exe));
	return buf;
}

int main(void)
{
	char err[256], path[PATH_MAX], inst[64], shm[96], out[4096];
	int fds[2], status;

	int r = tr_uring_probe(err, sizeof(err));
	if (r) {
		printf("1..0 # SKIP io_uring unavailable on this machine: %s\n", err);
		return 0;
	}
	ok(1, "io_uring works here without the filter");

	/* In-process probe under the filter (in a child: the filter is for good). */
	if (pipe(fds) < 0)
		return 1;
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		int d = deny_io_uring();
		int rr = d ? d : tr_uring_probe(err, sizeof(err));
		dprintf(fds[1], "%d %s", rr, d ? "seccomp failed" : err);
		_exit(0);
	}
	close(fds[1]);
	ssize_t n = read(fds[0], out, sizeof(out) - 1);
	close(fds[0]);
	waitpid(pid, &status, 0);
	out[n > 0 ? n : 0] = 0;
	char want[512];
	snprintf(want, sizeof(want), "%d %s", -EPERM, WANT);
	is_str(out, want, "the probe under seccomp fails with EPERM and the documented line");

	/* The real daemon under the filter. */
	if (!daemon_path(path, sizeof(path)) || access(path, X_OK) != 0) {
		ok(0, "taskringd not found at %s", path);
		return tap_done();
	}
	snprintf(inst, sizeof(inst), "nouring%d", (int)getpid());
	snprintf(shm, sizeof(shm), "/dev/shm/taskring.%s", inst);
	if (pipe(fds) < 0)
		return 1;
	pid = fork();
	if (pid == 0) {
		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		int nul = open("/dev/null", O_RDWR);
		dup2(nul, 0);
		dup2(nul, 1);
		alarm(60);
		if (deny_io_uring() == 0)
			execl(path, path, "-i", inst, (char *)NULL);
		_exit(99);
	}
	close(fds[1]);
	size_t got = 0;
	while (got < sizeof(out) - 1 && (n = read(fds[0], out + got, sizeof(out) - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = 0;
	close(fds[0]);
	waitpid(pid, &status, 0);
	if (access(shm, F_OK) == 0)
		unlink(shm);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 1, "taskringd exits 1 (status 0x%x)",
	   status);
	ok(strstr(out, WANT "\n") != NULL && strchr(out, '\n') == out + strlen(out) - 1,
	   "with exactly one line saying io_uring is disabled: %s", out);
	ok(access(shm, F_OK) != 0, "and created no segment");
	return tap_done();
}
