/*
 * iotasks.h - the io task types (sleep, read-file, write-file, copy-file) as
 * state machines that never block on data: each step names the next
 * operation (a read, a write or a timeout) for the caller to run, normally as
 * an io_uring SQE, and is fed that operation's result.
 *
 * Files are opened synchronously at the start (openat2 through tr_paths, with
 * O_NONBLOCK so a FIFO cannot block the open), must be regular files, and are
 * then only read and written through the returned operations.
 *
 * Invariants: while state == 0 the task has exactly one operation
 * outstanding (the caller runs it and calls tr_iot_step once); once state is
 * final the text in out is the result or the error and no further operation
 * is asked for. The buffers and descriptors stay valid until
 * tr_iot_release(), so the caller can release only after every operation it
 * submitted has completed.
 */
#ifndef TR_IOTASKS_H
#define TR_IOTASKS_H

#include <stddef.h>
#include <stdint.h>

#include "paths.h"
#include "tasks.h"

enum tr_iop_kind { TR_IOP_NONE = 0, TR_IOP_READ, TR_IOP_WRITE, TR_IOP_TIMEOUT };

/* One operation to run: read/write len bytes at file offset off, or wait ns
 * nanoseconds (the result of a timeout that expired is -ETIME). */
struct tr_iop {
	enum tr_iop_kind kind;
	int fd;
	void *buf;
	unsigned len;
	uint64_t off;
	uint64_t ns;
};

struct tr_iot {
	const struct tr_task_def *def;
	struct tr_out out; /* the slot's result area */
	int state;         /* 0 while running, then TASKRING_DONE/FAILED/CANCELLED */
	int fd_in, fd_out;
	unsigned char *buf;
	size_t cap;         /* bytes of buf */
	size_t fill;        /* bytes of data in buf */
	size_t woff;        /* bytes of buf already written */
	int writing;        /* copy-file: draining buf to fd_out */
	int eof;            /* copy-file: the data in buf is the last */
	uint64_t in_off;    /* bytes read so far */
	uint64_t out_off;   /* bytes written so far */
	uint64_t size_hint; /* the input's size when it was opened */
	uint64_t sleep_ns;
	uint32_t crc;
	char *path_in, *path_out; /* copies, for messages */
	struct tr_iop cur;        /* the operation outstanding */
};

/* Starts io task d (arguments already checked into ta/argv) writing its
 * result into out[0..outmax). Returns 1 with *op to run, or 0 when the task
 * already ended (bad path, open failure: state and out set). */
int tr_iot_begin(struct tr_iot *t, const struct tr_task_def *d, const struct tr_targs *ta,
                 unsigned argc, char *const *argv, struct tr_paths *paths, char *out, size_t outmax,
                 struct tr_iop *op);

/* Feeds the result of the outstanding operation (bytes, or -errno; -ETIME
 * for an expired timeout). Returns 1 with the next *op, or 0 when the task
 * ended. */
int tr_iot_step(struct tr_iot *t, int res, struct tr_iop *op);

/* Ends a running task from outside (cancel, run timeout): state and message.
 * The caller still waits for the outstanding operation before releasing. */
void tr_iot_end(struct tr_iot *t, int state, const char *msg);

/* Closes descriptors and frees buffers. Safe on a zeroed struct (fds must be
 * -1 or opened by begin) and after a begin that returned 0. */
void tr_iot_release(struct tr_iot *t);

#endif
