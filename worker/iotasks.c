/*
 * iotasks.c - see iotasks.h.
 *
 * read-file reads with a buffer sized to the file (4 KiB .. 128 KiB) and
 * stops at a read returning 0, or at a short read once the size the file had
 * at open has been reached (saves one round trip for small files). copy-file
 * alternates: read a buffer, write all of it, read the next. write-file and
 * copy-file open the target without O_TRUNC, check it is a regular file (and
 * for copy-file not the source itself), then truncate it.
 */
#include "iotasks.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32.h"

#define BUF_MIN (4u << 10)
#define BUF_MAX (128u << 10)

static int finish(struct tr_iot *t, int state)
{
	if (state == TASKRING_DONE && t->out.over) {
		tr_out_error(&t->out, "%s: result longer than result_max (%zu bytes)", t->def->name,
		             t->out.cap);
		state = TASKRING_FAILED;
	}
	t->state = state;
	return 0;
}

static int fail_errno(struct tr_iot *t, const char *call, const char *path, int err)
{
	char shown[300];
	tr_out_error(&t->out, "%s: %s(%s): %s", t->def->name, call,
	             tr_task_show(shown, sizeof(shown), path), strerror(err < 0 ? -err : err));
	return finish(t, TASKRING_FAILED);
}

/* Opens path for the task: allowed, a regular file, blocking mode.
 * Returns the fd or -1 after failing the task. */
static int open_file(struct tr_iot *t, struct tr_paths *paths, const char *path, int flags,
                     struct stat *st)
{
	char shown[300];
	int fd = tr_paths_open(paths, path, flags | O_NONBLOCK | O_NOCTTY, 0666);

	if (fd == -EXDEV) {
		tr_out_error(&t->out, "path not allowed: %s",
		             tr_task_show(shown, sizeof(shown), path));
		finish(t, TASKRING_FAILED);
		return -1;
	}
	/* ENXIO: a FIFO with no reader, opened to write without blocking, or a
	 * device file with no device; neither is a regular file. */
	if (fd < 0 && fd != -ENXIO) {
		fail_errno(t, "open", path, fd);
		return -1;
	}
	if (fd >= 0 && fstat(fd, st) < 0) {
		fail_errno(t, "fstat", path, errno);
		close(fd);
		return -1;
	}
	if (fd < 0 || !S_ISREG(st->st_mode)) {
		tr_out_error(&t->out, "%s: %s: not a regular file", t->def->name,
		             tr_task_show(shown, sizeof(shown), path));
		finish(t, TASKRING_FAILED);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		fail_errno(t, "fcntl", path, errno);
		close(fd);
		return -1;
	}
	return fd;
}

static int alloc_buf(struct tr_iot *t, size_t want)
{
	if (want < BUF_MIN)
		want = BUF_MIN;
	if (want > BUF_MAX)
		want = BUF_MAX;
	t->buf = malloc(want);
	if (!t->buf) {
		tr_out_error(&t->out, "%s: out of memory", t->def->name);
		finish(t, TASKRING_FAILED);
		return -1;
	}
	t->cap = want;
	return 0;
}

static int op_read(struct tr_iot *t, struct tr_iop *op)
{
	*op = (struct tr_iop){.kind = TR_IOP_READ,
	                      .fd = t->fd_in,
	                      .buf = t->buf,
	                      .len = (unsigned)t->cap,
	                      .off = t->in_off};
	t->cur = *op;
	return 1;
}

static int op_write(struct tr_iot *t, struct tr_iop *op)
{
	*op = (struct tr_iop){.kind = TR_IOP_WRITE,
	                      .fd = t->fd_out,
	                      .buf = t->buf + t->woff,
	                      .len = (unsigned)(t->fill - t->woff),
	                      .off = t->out_off};
	t->cur = *op;
	return 1;
}

static int dup_path(struct tr_iot *t, char **dst, const char *src)
{
	*dst = strdup(src);
	if (!*dst) {
		tr_out_error(&t->out, "%s: out of memory", t->def->name);
		finish(t, TASKRING_FAILED);
		return -1;
	}
	return 0;
}

/* Opens the write target: created if missing, regular, truncated. */
static int open_target(struct tr_iot *t, struct tr_paths *paths, const char *path,
                       const struct stat *src)
{
	struct stat st;
	int fd = open_file(t, paths, path, O_WRONLY | O_CREAT, &st);
	if (fd < 0)
		return -1;
	if (src && st.st_dev == src->st_dev && st.st_ino == src->st_ino) {
		tr_out_error(&t->out, "%s: SRC and DST are the same file", t->def->name);
		finish(t, TASKRING_FAILED);
		close(fd);
		return -1;
	}
	if (ftruncate(fd, 0) < 0) {
		fail_errno(t, "ftruncate", path, errno);
		close(fd);
		return -1;
	}
	return fd;
}

int tr_iot_begin(struct tr_iot *t, const struct tr_task_def *d, const struct tr_targs *ta,
                 unsigned argc, char *const *argv, struct tr_paths *paths, char *out, size_t outmax,
                 struct tr_iop *op)
{
	struct stat st;

	memset(t, 0, sizeof(*t));
	t->def = d;
	t->fd_in = t->fd_out = -1;
	tr_out_init(&t->out, out, outmax);

	switch (d->io) {
	case TR_IO_SLEEP:
		t->sleep_ns = ta->n * 1000000ull;
		*op = (struct tr_iop){.kind = TR_IOP_TIMEOUT, .fd = -1, .ns = t->sleep_ns};
		t->cur = *op;
		return 1;

	case TR_IO_READ_FILE:
		if (dup_path(t, &t->path_in, argv[0]) < 0)
			return 0;
		t->fd_in = open_file(t, paths, argv[0], O_RDONLY, &st);
		if (t->fd_in < 0)
			return 0;
		t->size_hint = (uint64_t)st.st_size;
		if (alloc_buf(t, (size_t)st.st_size + 1) < 0)
			return 0;
		return op_read(t, op);

	case TR_IO_WRITE_FILE: {
		size_t len = 1;
		for (unsigned i = 1; i < argc; i++)
			len += strlen(argv[i]) + (i > 1);
		if (dup_path(t, &t->path_out, argv[0]) < 0)
			return 0;
		t->buf = malloc(len);
		if (!t->buf) {
			tr_out_error(&t->out, "%s: out of memory", d->name);
			return finish(t, TASKRING_FAILED);
		}
		t->cap = len;
		for (unsigned i = 1; i < argc; i++) {
			if (i > 1)
				t->buf[t->fill++] = ' ';
			size_t n = strlen(argv[i]);
			memcpy(t->buf + t->fill, argv[i], n);
			t->fill += n;
		}
		t->buf[t->fill++] = '\n';
		t->fd_out = open_target(t, paths, argv[0], NULL);
		if (t->fd_out < 0)
			return 0;
		t->writing = 1;
		return op_write(t, op);
	}

	case TR_IO_COPY_FILE:
		if (dup_path(t, &t->path_in, argv[0]) < 0 || dup_path(t, &t->path_out, argv[1]) < 0)
			return 0;
		t->fd_in = open_file(t, paths, argv[0], O_RDONLY, &st);
		if (t->fd_in < 0)
			return 0;
		t->size_hint = (uint64_t)st.st_size;
		t->fd_out = open_target(t, paths, argv[1], &st);
		if (t->fd_out < 0)
			return 0;
		if (alloc_buf(t, (size_t)st.st_size + 1) < 0)
			return 0;
		return op_read(t, op);

	case TR_IO_NONE:
	case TR_IO_EXEC:   /* exec.c */
	case TR_IO_PLUGIN: /* a plugin's handler */
		break;
	}
	tr_out_error(&t->out, "%s: not an io task type", d->name);
	return finish(t, TASKRING_FAILED);
}

/* A read returned res > 0 bytes: is this the end of the file? A short read
 * that reached the size fstat gave saves the read that would return 0. Not
 * when that size was 0: files in /proc say 0 and hand out a page per read. */
static int read_at_eof(struct tr_iot *t, int res)
{
	return t->size_hint && (unsigned)res < t->cur.len && t->in_off >= t->size_hint;
}

int tr_iot_step(struct tr_iot *t, int res, struct tr_iop *op)
{
	if (t->state)
		return 0;
	if (res == -EINTR || res == -EAGAIN) { /* run the same operation again */
		*op = t->cur;
		return 1;
	}

	switch (t->def->io) {
	case TR_IO_SLEEP:
		if (res < 0 && res != -ETIME) {
			char msg[32];
			snprintf(msg, sizeof(msg), "%llu ns", (unsigned long long)t->sleep_ns);
			return fail_errno(t, "timeout", msg, res);
		}
		return finish(t, TASKRING_DONE);

	case TR_IO_READ_FILE:
		if (res < 0)
			return fail_errno(t, "read", t->path_in, res);
		if (res > 0) {
			t->crc = tr_crc32(t->crc, t->buf, (size_t)res);
			t->in_off += (uint64_t)res;
		}
		if (res == 0 || read_at_eof(t, res)) {
			tr_out_printf(&t->out, "%llu %08x", (unsigned long long)t->in_off, t->crc);
			return finish(t, TASKRING_DONE);
		}
		return op_read(t, op);

	case TR_IO_WRITE_FILE:
	case TR_IO_COPY_FILE:
		if (!t->writing) { /* copy-file read */
			if (res < 0)
				return fail_errno(t, "read", t->path_in, res);
			if (res == 0) {
				tr_out_printf(&t->out, "%llu", (unsigned long long)t->out_off);
				return finish(t, TASKRING_DONE);
			}
			t->in_off += (uint64_t)res;
			t->fill = (size_t)res;
			t->woff = 0;
			t->eof = read_at_eof(t, res); /* write this, then stop */
			t->writing = 1;
			return op_write(t, op);
		}
		if (res < 0)
			return fail_errno(t, "write", t->path_out, res);
		if (res == 0)
			return fail_errno(t, "write", t->path_out, EIO);
		t->woff += (size_t)res;
		t->out_off += (uint64_t)res;
		if (t->woff < t->fill)
			return op_write(t, op);
		if (t->def->io == TR_IO_WRITE_FILE || t->eof) {
			tr_out_printf(&t->out, "%llu", (unsigned long long)t->out_off);
			return finish(t, TASKRING_DONE);
		}
		t->writing = 0;
		return op_read(t, op);

	case TR_IO_NONE:
	case TR_IO_EXEC:
	case TR_IO_PLUGIN:
		break;
	}
	return finish(t, TASKRING_FAILED);
}

void tr_iot_end(struct tr_iot *t, int state, const char *msg)
{
	if (t->state)
		return;
	tr_out_error(&t->out, "%s", msg);
	t->state = state;
}

void tr_iot_release(struct tr_iot *t)
{
	if (t->fd_in >= 0)
		close(t->fd_in);
	if (t->fd_out >= 0)
		close(t->fd_out);
	t->fd_in = t->fd_out = -1;
	free(t->buf);
	free(t->path_in);
	free(t->path_out);
	t->buf = NULL;
	t->path_in = t->path_out = NULL;
}
