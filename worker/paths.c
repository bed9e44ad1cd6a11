/*
 * paths.c - see paths.h. openat2 is called through syscall(2): glibc 2.36 has
 * no wrapper. Where openat2 does not exist (kernels before 5.6, sandboxes and
 * tools such as valgrind that do not know the call: ENOSYS), the same rules
 * are applied by hand: the rest of the path is walked one component at a
 * time with O_NOFOLLOW, relative symlinks are expanded in place (at most 40),
 * absolute ones and ".." above the allowed directory fail with EXDEV, and the
 * last component is opened with O_NOFOLLOW so a symlink swapped in between
 * is refused rather than followed.
 */
#include "paths.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int sys_openat2(int dirfd, const char *path, struct open_how *how)
{
	long r = syscall(SYS_openat2, dirfd, path, how, sizeof(*how));
	return r < 0 ? -errno : (int)r;
}

#define MAX_LINKS 40
#define MAX_DEPTH 256

/* Opens rest beneath root without openat2. Returns the fd or -errno. */
static int open_beneath(int root, const char *rest, int flags, mode_t mode)
{
	char buf[2 * PATH_MAX + 2]; /* what is left to resolve */
	char target[PATH_MAX + 1];
	int dirs[MAX_DEPTH]; /* dirs[0] is root (not ours), then O_PATH fds */
	int depth = 0, links = 0, r;

	if (strlen(rest) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, rest);
	dirs[0] = root;
	for (;;) {
		char *c = buf;
		while (*c == '/')
			c++;
		if (!*c) { /* the directory reached itself */
			r = openat(dirs[depth], ".", flags | O_CLOEXEC, mode);
			r = r < 0 ? -errno : r;
			break;
		}
		size_t len = strcspn(c, "/");
		if (len > NAME_MAX) {
			r = -ENAMETOOLONG;
			break;
		}
		char comp[NAME_MAX + 1];
		memcpy(comp, c, len);
		comp[len] = '\0';
		const char *after = c + len, *a2 = after;
		while (*a2 == '/')
			a2++;
		int slash = *after == '/', last = *a2 == '\0';
		memmove(buf, after, strlen(after) + 1); /* keeps a trailing slash */

		if (strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			if (depth == 0) {
				r = -EXDEV;
				break;
			}
			close(dirs[depth--]);
			continue;
		}
		if (last && !slash) {
			int fd = openat(dirs[depth], comp, flags | O_NOFOLLOW | O_CLOEXEC, mode);
			if (fd >= 0) {
				r = fd;
				break;
			}
			if (errno != ELOOP) { /* ELOOP: a symlink, expanded below */
				r = -errno;
				break;
			}
		}
		int fd = openat(dirs[depth], comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0) {
			r = -errno;
			if (fd >= 0)
				close(fd);
			break;
		}
		if (S_ISLNK(st.st_mode)) {
			ssize_t n = readlinkat(fd, "", target, PATH_MAX);
			r = n < 0 ? -errno : 0;
			close(fd);
			if (r < 0)
				break;
			size_t blen = strlen(buf);
			if (n == 0 || target[0] == '/' || ++links > MAX_LINKS ||
			    (size_t)n + blen + 1 > sizeof(buf)) {
				r = n == 0              ? -ENOENT
				    : target[0] == '/'  ? -EXDEV
				    : links > MAX_LINKS ? -ELOOP
				                        : -ENAMETOOLONG;
				break;
			}
			memmove(buf + n, buf, blen + 1);
			memcpy(buf, target, (size_t)n);
			continue;
		}
		if (!S_ISDIR(st.st_mode) || (last && !slash) || depth + 1 >= MAX_DEPTH) {
			r = !S_ISDIR(st.st_mode)     ? -ENOTDIR
			    : depth + 1 >= MAX_DEPTH ? -ENAMETOOLONG
			                             : -ELOOP;
			close(fd);
			break;
		}
		dirs[++depth] = fd;
	}
	while (depth > 0)
		close(dirs[depth--]);
	return r;
}

int tr_paths_init(struct tr_paths *p, char *const *dirs, size_t n)
{
	p->roots = NULL;
	p->n = 0;
	p->no_openat2 = 0;
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
		struct stat st;
		if (stat(r->dir, &st) < 0) {
			err = -errno; /* missing now; maybe another root matches */
			continue;
		}
		if (r->fd >= 0 && (st.st_dev != r->dev || st.st_ino != r->ino)) {
			close(r->fd); /* renamed away or replaced: not the allowed one now */
			r->fd = -1;
		}
		if (r->fd < 0) {
			r->fd = open(r->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (r->fd < 0 || fstat(r->fd, &st) < 0) {
				err = -errno;
				if (r->fd >= 0)
					close(r->fd);
				r->fd = -1;
				continue;
			}
			r->dev = st.st_dev;
			r->ino = st.st_ino;
		}
		mode_t m = ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) ? mode : 0;
		if (!p->no_openat2) {
			struct open_how how = {
			    .flags = (unsigned)(flags | O_CLOEXEC),
			    .mode = m,
			    .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
			};
			int fd = sys_openat2(r->fd, rest, &how);
			if (fd != -ENOSYS)
				return fd;
			p->no_openat2 = 1;
		}
		return open_beneath(r->fd, rest, flags, m);
	}
	return err;
}
