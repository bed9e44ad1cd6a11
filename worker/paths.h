/*
 * paths.h - the io.allowed_paths check for file tasks.
 *
 * A path is allowed when it is absolute, lexically starts with one of the
 * allowed directories (at a component boundary), and the rest of it resolves
 * beneath that directory: the rest is opened with openat2(root_fd, rest,
 * RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), so "..", absolute symlinks and
 * symlinks pointing out of the directory are refused by the kernel, while
 * symlinks that stay inside are followed. Without openat2 (ENOSYS) the same
 * walk is done by hand, one component at a time with O_NOFOLLOW.
 *
 * State: a copy of the directory list and one O_PATH descriptor per directory,
 * opened on first use (a directory created after start-up is picked up then;
 * one that cannot be opened is retried next time) and checked against the
 * path at every open (one stat): a directory renamed away or replaced is
 * dropped and the one now at the path opened, so a task never reads or
 * writes through a directory that is no longer the allowed one. Owned by
 * one thread.
 */
#ifndef TR_PATHS_H
#define TR_PATHS_H

#include <stddef.h>
#include <sys/types.h>

struct tr_paths_root {
	char *dir; /* normalised: no trailing '/', except "/" itself */
	size_t len;
	int fd;    /* O_PATH | O_DIRECTORY, -1 until opened */
	dev_t dev; /* ... and what it is: the path must still name it */
	ino_t ino;
};

struct tr_paths {
	struct tr_paths_root *roots;
	size_t n;
	int no_openat2; /* 1: resolve by hand (set on ENOSYS; tests set it) */
};

/* Copies the n directories (absolute paths). Returns 0, -EINVAL for a relative
 * or empty entry, -ENOMEM. On failure p is empty and safe to free. */
int tr_paths_init(struct tr_paths *p, char *const *dirs, size_t n);

/* Closes the descriptors and frees the copies; p becomes empty. */
void tr_paths_free(struct tr_paths *p);

/* Opens path (flags as for open(2), O_CLOEXEC is added) if it is allowed.
 * Returns the descriptor, -EXDEV when the path is not allowed (relative, not
 * under any allowed directory, or escaping it), the error of opening the
 * allowed directory itself when that failed, or another -errno from openat2
 * (-ENOENT, -EACCES, -ELOOP, ...). */
int tr_paths_open(struct tr_paths *p, const char *path, int flags, mode_t mode);

#endif
