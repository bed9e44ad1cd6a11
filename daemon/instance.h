/*
 * instance.h - taking ownership of an instance's segment at start-up.
 *
 * A new supervisor either creates /taskring.<instance> (O_EXCL, mode 0600,
 * or 0660 and the configured group), or attaches to the existing one. An
 * existing segment is refused when a live supervisor holds its supervisor
 * lock, or when its geometry (capacity, payload_max, result_max) differs
 * from the configuration: a segment cannot be resized in place. Otherwise
 * the supervisor lock is taken and the segment adopted: running tasks are
 * requeued uncharged, queued tasks stay, worker records are reset and
 * draining is cleared. No global state.
 */
#ifndef TR_INSTANCE_H
#define TR_INSTANCE_H

#include <stddef.h>

#include "config.h"
#include "queue.h"

/* Resolves c->group to a gid: -1 for none; else the gid, or -ENOENT/-errno
 * with "group: no such group 'x'" in err. */
long tr_instance_gid(const struct tr_config *c, char *err, size_t errlen);

/* The supervisor that served an adopted segment before (all 0: none). */
struct tr_prev_sup {
	pid_t pid, sid;
	uint64_t starttime;
	uint64_t token; /* its exec programs' token (0: none, or a clean stop) */
};

/* Creates or adopts the segment of c->instance into q and takes the
 * supervisor lock. *created is set to 1 for a new segment; *requeued to the
 * number of running tasks put back; *prev to the previous supervisor of an
 * adopted one. Returns 0, or -errno / -TASKRING_* with a one-line message in
 * err (e.g. "instance x is already served by pid 42"). */
int tr_instance_open(struct trq *q, const struct tr_config *c, int *created, int *requeued,
                     struct tr_prev_sup *prev, char *err, size_t errlen);

/* Writes the settings of c that live in the header (default attempts, run
 * timeout, result TTL), the configured worker count, and how often the
 * supervisor looks at running tasks (check_ns, for TRQ_TELL_SUP). Returns 0
 * or the error of trq_lock. */
int tr_instance_settings(struct trq *q, const struct tr_config *c, unsigned nworkers,
                         uint64_t check_ns);

/* Whether the task settings tr_instance_settings() writes (max attempts,
 * run timeout, result TTL, check interval) still say what c does: another
 * process may have changed them. Lock-free; returns 1 when they differ. */
int tr_instance_settings_differ(const struct trq *q, const struct tr_config *c, uint64_t check_ns);

/* Whether c asks for a different segment than the one q maps: fills err
 * with what differs and how to proceed, and returns 1; else 0. */
int tr_instance_geometry_differs(const struct trq *q, const struct tr_config *c, char *err,
                                 size_t errlen);

#endif
