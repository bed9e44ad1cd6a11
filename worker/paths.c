/*
 * paths.c - see paths.h. openat2 is called through syscall(2): glibc 2.36 has
 * no wrapper.
 */
#include "paths.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int sys_openat2(int dirfd, const char *path, struct open_how *how)
{
	long r = syscall(SYS_openat2, dirfd, path, how, sizeof(*how));
	return r < 0 ? -errno : (int)r;
}

int tr_paths_init(struct tr_paths *p, char *const *dirs, size_t n)
{
	p->roots = NULL;
	p->n = 0;
	if (n == 0)
		return 0;
	p->roots = calloc(n, sizeof(*p->roots));
	if (!p->roots)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *d = dirs[i];
		size_t len = d ? strlen(d) : 0;
		if (len == 0 || d[0] != '/') {
			tr_paths_free(p);
			return -EINVAL;
		}
		while (len > 1 && d[len - 1] == '/')
			len--;
		struct tr_paths_root *r = &p->roots[p->n];
		r->dir = strndup(d, len);
		if (!r->dir) {
			tr_paths_free(p);
			return -ENOMEM;
		}
		r->len = len;
		r->fd = -1;
		p->n++;
	}
	return 0;
}

void tr_paths_free(struct tr_paths *p)
{
	for (size_t i = 0; i < p->n; i++) {
		if (p->roots[i].fd >= 0)
			close(p->roots[i].fd);
		free(p->roots[i].dir);
	}
	free(p->roots);
	p->roots = NULL;
	p->n = 0;
}

/* The part of path below root r, or NULL when path is not lexically under it.
 * The root itself gives ".". */
static const char *below(const struct tr_paths_root *r, const char *path)
{
	if (r->len == 1) /* "/" */
		return path[1] ? path + 1 : ".";
	if (strncmp(path, r->dir, r->len) != 0)
		return NULL;
	const char *rest = path + r->len;
	if (*rest == '\0')
		return ".";
	if (*rest != '/')
		return NULL;
	while (*rest == '/')
		rest++;
	return *rest ? rest : ".";
}

int tr_paths_open(struct tr_paths *p, const char *path, int flags, mode_t mode)
{
	int err = -EXDEV;

	if (!path || path[0] != '/')
		return -EXDEV;
	for (size_t i = 0; i < p->n; i++) {
		struct tr_paths_root *r = &p->roots[i];
		const char *rest = below(r, path);
		if (!rest)
			continue;
		if (r->fd < 0) {
			r->fd = open(r->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (r->fd < 0) {
				err = -errno; /* missing now; maybe another root matches */
				continue;
			}
		}
		struct open_how how = {
		    .flags = (unsigned)(flags | O_CLOEXEC),
		    .mode = ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) ? mode : 0,
		    .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
		};
		return sys_openat2(r->fd, rest, &how);
	}
	return err;
}
