/*
 * guard.c - see guard.h.
 *
 * The filter (classic BPF over struct seccomp_data):
 *   foreign ABI                                   -> allow
 *   kill(pid): pid is -1, -pgid, -worker, -super  -> EPERM, else as below
 *   kill/tkill/tgkill/rt_sigqueueinfo/rt_tgsigqueueinfo/pidfd_open(first
 *   argument is worker, tid or super)             -> EPERM
 *   anything else                                 -> allow
 * Only the low 32 bits of the first argument are compared: it is a pid_t.
 */
#include "guard.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434 /* the same number on every architecture */
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

/* Indices of the jump targets in the program below. */
enum { I_KILL = 10, I_PID = 15, I_DENY = 20, I_ALLOW = 21 };
/* Offset of a jump at index i to target t. */
#define TO(i, t) ((uint8_t)((t) - (i)-1))

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

int tr_guard_init(struct tr_guard *g, pid_t worker, pid_t tid, pid_t super, pid_t pgid)
{
	memset(g, 0, sizeof(*g));
#ifndef GUARD_ARCH
	(void)worker, (void)tid, (void)super, (void)pgid;
	snprintf(g->why_off, sizeof(g->why_off), "not built for this architecture");
	return -ENOTSUP;
#else
	const struct sock_filter p[TR_GUARD_LEN] = {
	    /* 0 */ LD(offsetof(struct seccomp_data, arch)),
	    /* 1 */ JEQ(GUARD_ARCH, 0, TO(1, I_ALLOW)),
	    /* 2 */ LD(offsetof(struct seccomp_data, nr)),
	    /* 3 */ JEQ(SYS_kill, TO(3, I_KILL), 0),
	    /* 4 */ JEQ(SYS_tkill, TO(4, I_PID), 0),
	    /* 5 */ JEQ(SYS_tgkill, TO(5, I_PID), 0),
	    /* 6 */ JEQ(SYS_rt_sigqueueinfo, TO(6, I_PID), 0),
	    /* 7 */ JEQ(SYS_rt_tgsigqueueinfo, TO(7, I_PID), 0),
	    /* 8 */ JEQ(SYS_pidfd_open, TO(8, I_PID), 0),
	    /* 9 */ RET(SECCOMP_RET_ALLOW),
	    /* 10 I_KILL: groups and everyone */
	    LD(ARG0_LO),
	    /* 11 */ JEQ(NEG(1), TO(11, I_DENY), 0),
	    /* 12 */ JEQ(NEG(pgid), TO(12, I_DENY), 0),
	    /* 13 */ JEQ(NEG(worker), TO(13, I_DENY), 0),
	    /* 14 */ JEQ(NEG(super), TO(14, I_DENY), 0),
	    /* 15 I_PID: one process or thread */
	    LD(ARG0_LO),
	    /* 16 */ JEQ(worker, TO(16, I_DENY), 0),
	    /* 17 */ JEQ(super, TO(17, I_DENY), 0),
	    /* 18 */ JEQ(tid, TO(18, I_DENY), 0),
	    /* 19 */ RET(SECCOMP_RET_ALLOW),
	    /* 20 I_DENY */ RET(SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
	    /* 21 I_ALLOW */ RET(SECCOMP_RET_ALLOW),
	};
	memcpy(g->insn, p, sizeof(p));
	int r = can_filter(g->why_off, sizeof(g->why_off));
	g->on = r == 0;
	return r;
#endif
}

__attribute__((no_sanitize("address", "undefined", "thread"))) int
tr_guard_apply(const struct tr_guard *g)
{
	if (!g->on)
		return 0;
	struct sock_fprog prog = {.len = TR_GUARD_LEN, .filter = (struct sock_filter *)g->insn};
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		return -errno;
	return 0;
}
