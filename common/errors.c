/*
 * errors.c - names and messages: taskring_strerror() and the state and
 * class names shared by the library, the CLI and the daemon.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "taskring.h"

static const char *const state_names[TASKRING_NSTATES] = {
    [TASKRING_FREE] = "free", [TASKRING_QUEUED] = "queued", [TASKRING_RUNNING] = "running",
    [TASKRING_DONE] = "done", [TASKRING_FAILED] = "failed", [TASKRING_CANCELLED] = "cancelled",
};

const char *taskring_state_name(int state)
{
	if (state < 0 || state >= TASKRING_NSTATES)
		return "?";
	return state_names[state];
}

int taskring_state_parse(const char *name)
{
	for (int i = 0; i < TASKRING_NSTATES; i++)
		if (name && strcmp(name, state_names[i]) == 0)
			return i;
	return -22; /* -EINVAL */
}

const char *taskring_class_name(int cls)
{
	return cls == TASKRING_CPU ? "cpu" : cls == TASKRING_IO ? "io" : "?";
}

/* Text for an errno value the library does not name itself. glibc's
 * strerror() formats unknown values into one buffer that its next call
 * frees; strerror_r() (GNU) returns a static text or fills ours. Each
 * thread has a few buffers, used in turn, so that several results of one
 * expression (two in one printf) stay valid. */
static const char *errno_text(int err)
{
	static __thread char bufs[4][64];
	static __thread unsigned next;
	char *b = bufs[next++ % 4];
	return strerror_r(err, b, sizeof(bufs[0]));
}

int taskring_abi(void)
{
	return TASKRING_ABI;
}

const char *taskring_strerror(int err)
{
	if (err == INT_MIN)
		return "unknown error";
	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return "success";
	case TASKRING_EFULL:
		return "the task table is full";
	case TASKRING_EEXPIRED:
		return "the task is no longer in the table: it was detached and finished, or its "
		       "slot was reused";
	case TASKRING_ELAYOUT:
		return "incompatible segment: another taskring version or not a taskring segment";
	case TASKRING_ENODAEMON:
		return "no taskringd is serving this instance";
	case TASKRING_ECORRUPT:
		return "the shared segment holds inconsistent data";
	case TASKRING_EBADTYPE:
		return "unknown task type";
	case TASKRING_EFINAL:
		return "the task has already finished";
	case TASKRING_EBADID:
		return "not a valid task id";
	case TASKRING_ENOTSUP_CLS:
		return "this task type cannot run in the requested class";
	case TASKRING_ELOCKED:
		return "the queue lock was not released in time: a process holding it is stopped "
		       "or hung";
	case ENOENT:
		return "no such instance or task";
	case EAGAIN:
		return "not ready yet, try again (the instance is being created, or no answer came "
		       "yet)";
	case ETIMEDOUT:
		return "timed out";
	default:
		return errno_text(err);
	}
}
