/*
 * instance.c - see instance.h.
 */
#include "instance.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "procstat.h"

#define OPEN_TRIES 100 /* a racing creator finishes within ~1 s */

long tr_instance_gid(const struct tr_config *c, char *err, size_t errlen)
{
	struct group gr, *res = NULL;
	char buf[4096];

	if (!c->group[0])
		return -1;
	int r = getgrnam_r(c->group, &gr, buf, sizeof(buf), &res);
	if (r) {
		snprintf(err, errlen, "getgrnam(%s): %s", c->group, strerror(r));
		return -r;
	}
	if (!res) {
		snprintf(err, errlen, "group: no such group '%s'", c->group);
		return -ENOENT;
	}
	return (long)gr.gr_gid;
}

int tr_instance_geometry_differs(const struct trq *q, const struct tr_config *c, char *err,
                                 size_t errlen)
{
	if (q->capacity == c->queue_capacity && q->payload_max == c->payload_max &&
	    q->result_max == c->result_max)
		return 0;
	snprintf(err, errlen,
	         "instance %s: the existing segment /dev/shm/taskring.%s has queue.capacity %u, "
	         "payload_max %u, result_max %u but the configuration asks for %u, %u, %u; a "
	         "segment cannot be resized: keep the old settings, or stop every client and "
	         "remove it with 'rm /dev/shm/taskring.%s' (its tasks are lost)",
	         c->instance, c->instance, q->capacity, q->payload_max, q->result_max,
	         c->queue_capacity, c->payload_max, c->result_max, c->instance);
	return 1;
}

static void instance_pause(void)
{
	struct timespec ts = {0, 10 * 1000 * 1000};
	nanosleep(&ts, NULL);
}

static const char *open_hint(int r)
{
	switch (r) {
	case -EACCES:
		return " (the object must belong to this user, or to its group with mode 0660, "
		       "and give no access to others)";
	case -TASKRING_ELAYOUT:
		return " (made by another version of taskring, or damaged: remove it with rm)";
	case -ENOSPC:
		return " (/dev/shm is too small for this queue.capacity and sizes)";
	case -EFBIG:
		return " (queue.capacity x (payload_max + result_max) is too large)";
	default:
		return "";
	}
}

/* The message for a segment of another user, which is never adopted. */
static void instance_not_ours(const char *inst, uid_t owner, char *err, size_t errlen)
{
	snprintf(err, errlen,
	         "/dev/shm/taskring.%s belongs to uid %u, not to this daemon's user (uid %u): "
	         "not adopted (if it is stale, remove it with rm)",
	         inst, (unsigned)owner, (unsigned)geteuid());
}

/* An existing segment is adopted only when it is ours: one another user
 * made (while no daemon ran) would have us run that user's tasks with our
 * rights. */
static int instance_owned(struct trq *q, const char *inst, struct stat *st, char *err,
                          size_t errlen)
{
	if (fstat(q->fd, st) < 0) {
		int r = -errno;
		snprintf(err, errlen, "fstat(/dev/shm/taskring.%s): %s", inst, strerror(errno));
		return r;
	}
	if (st->st_uid != geteuid()) {
		instance_not_ours(inst, st->st_uid, err, errlen);
		return -EPERM;
	}
	return 0;
}

/* Sets an adopted segment's mode and group as the configuration says now
 * (st: its stat), so that a group added or removed since it was made takes
 * effect. Called once we hold the supervisor lock. */
static int instance_mode(struct trq *q, const char *inst, const struct stat *st, long gid,
                         const char *group, char *err, size_t errlen)
{
	mode_t want = gid >= 0 ? 0660 : 0600;
	int regroup = gid >= 0 && st->st_gid != (gid_t)gid;
	int r;

	if (regroup && fchown(q->fd, (uid_t)-1, (gid_t)gid) < 0) {
		r = -errno;
		snprintf(err, errlen, "fchown(/dev/shm/taskring.%s, group %s): %s", inst, group,
		         strerror(errno));
		return r;
	}
	if ((st->st_mode & 07777) != want && fchmod(q->fd, want) < 0) {
		r = -errno;
		snprintf(err, errlen, "fchmod(/dev/shm/taskring.%s, %04o): %s", inst,
		         (unsigned)want, strerror(errno));
		return r;
	}
	if ((st->st_mode & 07777) != want || regroup)
		log_notice("/dev/shm/taskring.%s: mode %04o%s%s now, as configured (was %04o)",
		           inst, (unsigned)want, gid >= 0 ? ", group " : "", gid >= 0 ? group : "",
		           (unsigned)(st->st_mode & 07777));
	return 0;
}

int tr_instance_open(struct trq *q, const struct tr_config *c, int *created, int *requeued,
                     struct tr_prev_sup *prev, char *err, size_t errlen)
{
	memset(prev, 0, sizeof(*prev));
	struct trq_geom g = {c->queue_capacity, c->payload_max, c->result_max};
	const char *inst = c->instance;
	struct stat st;
	long gid;
	int r = 0, stamped = 0;
	uint32_t old_stop = 0;

	*created = 0;
	*requeued = 0;
	gid = tr_instance_gid(c, err, errlen);
	if (gid < -1)
		return (int)gid;
	for (int tries = 0, reaped = 0;; tries++) {
		if (tries == OPEN_TRIES && !reaped && trq_reap_half_made(inst) == 1) {
			log_warn("removed /dev/shm/taskring.%s: half made by a process that died "
			         "while creating it",
			         inst);
			reaped = 1;
			tries = 0;
			continue;
		}
		if (tries == OPEN_TRIES) {
			snprintf(err, errlen,
			         "/dev/shm/taskring.%s: still being created by another process "
			         "(remove it with rm if none is running)",
			         inst);
			return -EAGAIN;
		}
		r = trq_create(q, inst, &g, gid >= 0 ? 0660 : 0600, (int)gid);
		if (r == 0) {
			*created = 1;
			break;
		}
		if (r != -EEXIST) {
			snprintf(err, errlen, "creating /dev/shm/taskring.%s: %s%s", inst,
			         taskring_strerror(r), open_hint(r));
			return r;
		}
		r = trq_attach(q, inst);
		if (r == 0)
			break;
		if (r == -ENOENT || r == -EAGAIN) { /* removed, or half-made: again */
			instance_pause();
			continue;
		}
		struct stat other;
		char path[80];
		snprintf(path, sizeof(path), "/dev/shm/taskring.%s", inst);
		if (r == -EACCES && stat(path, &other) == 0 && other.st_uid != geteuid()) {
			instance_not_ours(inst, other.st_uid, err, errlen);
			return r;
		}
		snprintf(err, errlen, "attaching /dev/shm/taskring.%s: %s%s", inst,
		         taskring_strerror(r), open_hint(r));
		return r;
	}
	if (!*created) {
		r = instance_owned(q, inst, &st, err, errlen);
		if (r)
			goto fail;
		if (trq_sup_alive(q)) {
			snprintf(err, errlen, "instance %s is already served by pid %d", inst,
			         (int)q->hdr->sup_pid);
			r = -EBUSY;
			goto fail;
		}
		if (tr_instance_geometry_differs(q, c, err, errlen)) {
			r = -EINVAL;
			goto fail;
		}
	}
	r = trq_sup_lock(q);
	if (r) {
		if (r == -EBUSY && q->hdr->sup_pid > 0 && !*created)
			snprintf(err, errlen, "instance %s is already served by pid %d", inst,
			         (int)q->hdr->sup_pid);
		else if (r == -EBUSY)
			snprintf(err, errlen,
			         "instance %s is being taken by another taskringd that started at "
			         "the same time",
			         inst);
		else
			snprintf(err, errlen, "fcntl(F_OFD_SETLK, /dev/shm/taskring.%s): %s", inst,
			         strerror(-r));
		goto fail;
	}
	/* Until trq_adopt() is done, sup_pid and the rest of the header are
	 * the last daemon's: clients that find the lock held but the stamp set
	 * wait for it (taskring_daemon_alive), as for a restart, counting
	 * their grace from now (a stamp left by a stop long ago would make
	 * them give up at once). A start that fails puts the old one back. */
	old_stop = __atomic_load_n(&q->hdr->sup_stop_s, __ATOMIC_ACQUIRE);
	stamped = 1;
	__atomic_store_n(&q->hdr->sup_stop_s, trq_boot_s(), __ATOMIC_RELEASE);
	r = *created ? 0 : instance_mode(q, inst, &st, gid, c->group, err, errlen);
	if (r)
		goto fail;
	if (!*created) { /* as the last supervisor left them (untrusted) */
		prev->pid = q->hdr->sup_pid;
		prev->sid = q->hdr->sup_sid;
		prev->starttime = q->hdr->sup_starttime;
		prev->token = q->hdr->sup_token;
	}
	r = trq_adopt(q);
	if (r == -TASKRING_ELOCKED) {
		pid_t who = trq_lock_holder(q);
		char desc[128];
		if (who && tr_proc_describe(who, desc, sizeof(desc)) == 0)
			snprintf(
			    err, errlen,
			    "adopting /dev/shm/taskring.%s: %s; it is held by %s: continue that "
			    "process (kill -CONT %d) or kill it, then start taskringd again",
			    inst, taskring_strerror(r), desc, (int)who);
		else
			snprintf(
			    err, errlen,
			    "adopting /dev/shm/taskring.%s: %s; if no process using it is "
			    "stopped, its lock word is damaged: stop its clients and remove it "
			    "(rm /dev/shm/taskring.%s; the queued tasks are lost)",
			    inst, taskring_strerror(r), inst);
		goto fail;
	}
	if (r < 0) {
		snprintf(err, errlen, "adopting /dev/shm/taskring.%s: %s", inst,
		         taskring_strerror(r));
		goto fail;
	}
	*requeued = r;
	/* trq_adopt clears draining; say so here too, as the daemon relies on it. */
	__atomic_store_n(&q->hdr->draining, 0, __ATOMIC_RELEASE);
	return 0;
fail:
	if (stamped)
		__atomic_store_n(&q->hdr->sup_stop_s, old_stop, __ATOMIC_RELEASE);
	/* A segment we made is removed again, unless another daemon serves it
	 * already: one started at the same moment can attach between our
	 * trq_create and trq_sup_lock, and win the lock; unlinking its segment
	 * would leave it serving a deleted object while a third daemon makes
	 * a new one under the same name. */
	if (*created && !trq_sup_alive(q)) {
		trq_detach(q);
		trq_unlink(inst);
	} else {
		trq_detach(q);
	}
	*created = 0;
	return r;
}

int tr_instance_settings(struct trq *q, const struct tr_config *c, unsigned nworkers,
                         uint64_t check_ns)
{
	struct trq_hdr *h = q->hdr;
	int r = trq_lock(q, 0);

	if (r)
		return r;
	h->max_attempts_default = c->max_attempts;
	h->run_timeout_default_s = c->run_timeout_s;
	h->result_ttl_ns = (uint64_t)c->result_ttl_s * 1000000000ull;
	h->nworkers = nworkers;
	__atomic_store_n(&h->sup_check_ns, check_ns, __ATOMIC_RELAXED);
	trq_unlock(q);
	return 0;
}

int tr_instance_settings_differ(const struct trq *q, const struct tr_config *c, uint64_t check_ns)
{
	const struct trq_hdr *h = q->hdr;

	return __atomic_load_n(&h->max_attempts_default, __ATOMIC_RELAXED) != c->max_attempts ||
	       __atomic_load_n(&h->run_timeout_default_s, __ATOMIC_RELAXED) != c->run_timeout_s ||
	       __atomic_load_n(&h->result_ttl_ns, __ATOMIC_RELAXED) !=
	           (uint64_t)c->result_ttl_s * 1000000000ull ||
	       __atomic_load_n(&h->sup_check_ns, __ATOMIC_RELAXED) != check_ns;
}
