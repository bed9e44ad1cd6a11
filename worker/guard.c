/*
 * guard.c - see guard.h.
 *
 * The filter (classic BPF over struct seccomp_data):
 *   foreign ABI                                     -> allow
 *   kill(pid): pid is -1 or minus a guarded group   -> EPERM, else as below
 *   kill/tkill/tgkill/rt_sigqueueinfo/rt_tgsigqueueinfo/pidfd_open(first
 *   argument is a guarded thread id)                -> EPERM
 *   pidfd_send_signal (any target)                  -> ENOSYS
 *   anything else                                   -> allow
 * Only the low 32 bits of the first argument are compared: it is a pid_t.
 */
#include "guard.h"

#include <dirent.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434 /* the same number on every architecture */
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

#if defined(__x86_64__) && !defined(__ILP32__)
#define GUARD_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__) && !defined(__ILP32__)
#define GUARD_ARCH AUDIT_ARCH_AARCH64
#endif

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ARG0_LO offsetof(struct seccomp_data, args[0])
#else
#define ARG0_LO (offsetof(struct seccomp_data, args[0]) + 4)
#endif

#define LD(off)        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(off))
#define JEQ(k, jt, jf) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)(k), jt, jf)
#define RET(k)         BPF_STMT(BPF_RET | BPF_K, (uint32_t)(k))
#define NEG(pid)       ((uint32_t)0 - (uint32_t)(pid))

static int can_filter(char *why, size_t len)
{
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1)
		return 0;
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2];
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &h, d) < 0) {
		int e = errno;
		snprintf(why, len, "capget: %s", strerror(e));
		return -e;
	}
	if (d[CAP_SYS_ADMIN / 32].effective & (1u << (CAP_SYS_ADMIN % 32)))
		return 0;
	snprintf(why, len,
	         "installing it needs no_new_privs or CAP_SYS_ADMIN (the systemd unit sets "
	         "NoNewPrivileges=yes)");
	return -EPERM;
}

void tr_guard_build(struct tr_guard *g, const pid_t *ids, unsigned n, const pid_t *groups,
                    unsigned ng)
{
#ifndef GUARD_ARCH
	(void)ids, (void)n, (void)groups, (void)ng;
	g->len = 0;
#else
	if (n > TR_GUARD_IDS_MAX)
		n = TR_GUARD_IDS_MAX;
	if (ng > TR_GUARD_GROUPS_MAX)
		ng = TR_GUARD_GROUPS_MAX;
	/* Where each block starts: the dispatch (0-10), kill's group checks,
	 * the checks of one thread id, the three answers. */
	const unsigned i_kill = 11, i_pid = i_kill + 2 + ng, i_deny = i_pid + 2 + n,
	               i_allow = i_deny + 1, i_nosys = i_allow + 1;
	struct sock_filter *p = g->insn;
	unsigned k = 0;
#define TO(t) ((uint8_t)((t)-k - 1)) /* a jump from instruction k to t */
	p[k] = (struct sock_filter)LD(offsetof(struct seccomp_data, arch)), k++;
	p[k] = (struct sock_filter)JEQ(GUARD_ARCH, 0, TO(i_allow)), k++;
	p[k] = (struct sock_filter)LD(offsetof(struct seccomp_data, nr)), k++;
	p[k] = (struct sock_filter)JEQ(SYS_kill, TO(i_kill), 0), k++;
	p[k] = (struct sock_filter)JEQ(SYS_tkill, TO(i_pid), 0), k++;
	p[k] = (struct sock_filter)JEQ(SYS_tgkill, TO(i_pid), 0), k++;
	p[k] = (struct sock_filter)JEQ(SYS_rt_sigqueueinfo, TO(i_pid), 0), k++;
	p[k] = (struct sock_filter)JEQ(SYS_rt_tgsigqueueinfo, TO(i_pid), 0), k++;
	p[k] = (struct sock_filter)JEQ(SYS_pidfd_open, TO(i_pid), 0), k++;
	/* Its target (an fd, maybe of /proc/PID) cannot be checked: as if the
	 * kernel had no pidfds, so that programs fall back to kill(). */
	p[k] = (struct sock_filter)JEQ(SYS_pidfd_send_signal, TO(i_nosys), 0), k++;
	p[k] = (struct sock_filter)RET(SECCOMP_RET_ALLOW), k++;
	/* kill(): everyone and the groups; a positive pid goes on to the ids */
	p[k] = (struct sock_filter)LD(ARG0_LO), k++;
	p[k] = (struct sock_filter)JEQ(NEG(1), TO(i_deny), 0), k++;
	for (unsigned j = 0; j < ng; j++)
		p[k] = (struct sock_filter)JEQ(NEG(groups[j]), TO(i_deny), 0), k++;
	/* one thread (or thread group) */
	p[k] = (struct sock_filter)LD(ARG0_LO), k++;
	for (unsigned j = 0; j < n; j++)
		p[k] = (struct sock_filter)JEQ(ids[j], TO(i_deny), 0), k++;
	p[k] = (struct sock_filter)RET(SECCOMP_RET_ALLOW), k++;
	p[k] = (struct sock_filter)RET(SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)), k++;
	p[k] = (struct sock_filter)RET(SECCOMP_RET_ALLOW), k++;
	p[k] = (struct sock_filter)RET(SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)), k++;
#undef TO
	g->len = (unsigned short)k;
#endif
}

/* Appends the thread ids of process pid (from /proc; pid itself when that
 * cannot be read) to ids[*n..TR_GUARD_IDS_MAX). */
static void add_threads(pid_t *ids, unsigned *n, pid_t pid)
{
	char path[64];
	unsigned n0 = *n;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (d) {
		struct dirent *e;
		while (*n < TR_GUARD_IDS_MAX && (e = readdir(d)) != NULL) {
			char *end;
			long t = strtol(e->d_name, &end, 10);
			if (*end == 0 && t > 0 && t <= INT32_MAX)
				ids[(*n)++] = (pid_t)t;
		}
		closedir(d);
	}
	for (unsigned i = n0; i < *n; i++)
		if (ids[i] == pid)
			return;
	if (*n < TR_GUARD_IDS_MAX)
		ids[(*n)++] = pid;
}

int tr_guard_refresh(struct tr_guard *g)
{
	pid_t ids[TR_GUARD_IDS_MAX], groups[TR_GUARD_GROUPS_MAX];
	unsigned n = 0, ng = 0;
	add_threads(ids, &n, g->worker);
	if (g->super > 1)
		add_threads(ids, &n, g->super);
	pid_t wg = getpgid(g->worker), sg = g->super > 1 ? getpgid(g->super) : -1;
	if (wg > 1)
		groups[ng++] = wg;
	if (sg > 1 && sg != wg)
		groups[ng++] = sg;
	tr_guard_build(g, ids, n, groups, ng);
	return (int)n;
}

int tr_guard_init(struct tr_guard *g, pid_t worker, pid_t super)
{
	memset(g, 0, sizeof(*g));
	g->worker = worker;
	g->super = super;
#ifndef GUARD_ARCH
	snprintf(g->why_off, sizeof(g->why_off), "not built for this architecture");
	return -ENOTSUP;
#else
	int r = can_filter(g->why_off, sizeof(g->why_off));
	g->on = r == 0;
	if (g->on)
		tr_guard_refresh(g);
	return r;
#endif
}

__attribute__((no_sanitize("address", "undefined", "thread"))) int
tr_guard_apply(const struct tr_guard *g)
{
	if (!g->on || !g->len)
		return 0;
	struct sock_fprog prog = {.len = g->len, .filter = (struct sock_filter *)g->insn};
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		return -errno;
	return 0;
}
