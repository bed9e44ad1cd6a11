/*
 * seg.c - creating, attaching and checking the shared-memory segment.
 *
 * Owns the segment's geometry: where each area starts for a given capacity
 * and size limits. Both create and attach derive offsets from the same
 * function, so an attacher can check that a header agrees with its geometry
 * before trusting any offset in it. The supervisor lock is an OFD write lock
 * on byte 0 of the object: it dies with the open file description, so a
 * dead supervisor never leaves it held (workers close their copy).
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <grp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue.h"

#define SEG_MAX_BYTES TRQ_SEG_MAX
#define SEG_CAP_MAX   (16u << 20)
#define SEG_AREA_MAX  (1u << 20)

struct seg_layout {
	uint64_t meta, args, out, ring[TRQ_NCLASS], workers, size;
};

static uint64_t round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

/* Derives the offsets of every area; -EINVAL for geometry out of range. */
static int seg_layout(const struct trq_geom *g, struct seg_layout *l)
{
	if (g->capacity < 1 || g->capacity > SEG_CAP_MAX || g->payload_max < 1 ||
	    g->payload_max > SEG_AREA_MAX || g->result_max < 1 || g->result_max > SEG_AREA_MAX)
		return -EINVAL;
	uint64_t cap = g->capacity, off = round_up(sizeof(struct trq_hdr), 4096);
	l->meta = off;
	off = round_up(off + cap * sizeof(struct trq_slot), 4096);
	l->args = off;
	off = round_up(off + cap * g->payload_max, 4096);
	l->out = off;
	off = round_up(off + cap * g->result_max, 4096);
	for (int c = 0; c < TRQ_NCLASS; c++) {
		l->ring[c] = off;
		off = round_up(off + cap * sizeof(uint32_t), 4096);
	}
	l->workers = off;
	off = round_up(off + (uint64_t)TRQ_WORKERS_MAX * sizeof(struct trq_worker), 4096);
	l->size = off;
	if (l->size > SEG_MAX_BYTES)
		return -EFBIG;
	return 0;
}

size_t trq_seg_size(const struct trq_geom *g)
{
	struct seg_layout l;
	return seg_layout(g, &l) ? 0 : (size_t)l.size;
}

static int seg_name(char *buf, size_t len, const char *instance)
{
	if (taskring_instance_valid(instance))
		return -EINVAL;
	snprintf(buf, len, "/taskring.%s", instance);
	return 0;
}

/* Fills the cached, validated view from the mapping and the layout. */
static void seg_view(struct trq *q, const struct trq_geom *g, const struct seg_layout *l)
{
	q->capacity = g->capacity;
	trq_div_init(&q->capdiv, g->capacity);
	/* A generation below 2^(32 + k) with k = 31 - bits(capacity) keeps
	 * every id, gen * capacity + index + 1, below 2^63. */
	unsigned bits = 0;
	while (bits < 32 && (1ull << bits) < g->capacity)
		bits++;
	q->gen_hi_mask = bits >= 31 ? 0 : (1u << (31 - bits)) - 1;
	q->payload_max = g->payload_max;
	q->result_max = g->result_max;
	q->workers_max = TRQ_WORKERS_MAX;
	q->meta = (struct trq_slot *)(q->base + l->meta);
	q->args = q->base + l->args;
	q->out = q->base + l->out;
	for (int c = 0; c < TRQ_NCLASS; c++)
		q->ring[c] = (uint32_t *)(q->base + l->ring[c]);
	q->workers = (struct trq_worker *)(q->base + l->workers);
	if (!q->spin_ns)
		q->spin_ns = 20000;
	if (!q->nap_ns)
		q->nap_ns = TRQ_NAP_NS;
}

/* A descriptor that landed on 0-2 (a process started with them closed) is
 * moved above them: what the program then writes to stdout or stderr must
 * never reach the segment. Returns the descriptor to use, or -errno (fd is
 * closed then). */
static int seg_fd_high(int fd)
{
	if (fd > 2)
		return fd;
	int high = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	int e = errno;
	close(fd);
	return high < 0 ? -e : high;
}

int trq_create(struct trq *q, const char *instance, const struct trq_geom *g, int mode, int gid)
{
	char name[64];
	struct seg_layout l;
	int r = seg_name(name, sizeof(name), instance);
	if (r)
		return r;
	r = seg_layout(g, &l);
	if (r)
		return r;

	memset(q, 0, sizeof(*q));
	q->fd = -1;
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	fd = seg_fd_high(fd);
	if (fd < 0) {
		shm_unlink(name);
		return fd;
	}
	/* The creator's mark, held while fd is open: a half-made segment whose
	 * mark nobody holds was left by a creator that died (trq_reap_half_made). */
	struct flock mark = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 1, .l_len = 1};
	(void)fcntl(fd, F_OFD_SETLK, &mark);
	if ((gid >= 0 && fchown(fd, (uid_t)-1, (gid_t)gid) < 0) ||
	    fchmod(fd, (mode_t)(gid >= 0 ? (mode & 0660) : (mode & 0600))) < 0 ||
	    ftruncate(fd, (off_t)l.size) < 0)
		goto fail;
	/* Allocate every page now: a full /dev/shm must fail here, not later
	 * as SIGBUS in whichever process first touches a page. */
	r = posix_fallocate(fd, 0, (off_t)l.size);
	if (r) {
		errno = r;
		goto fail;
	}
	void *p = mmap(NULL, l.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto fail;
	q->base = p;
	q->size = l.size;
	q->fd = fd;
	q->hdr = p;
	seg_view(q, g, &l);

	struct trq_hdr *h = q->hdr;
	h->layout = TRQ_LAYOUT;
	h->hdr_size = sizeof(*h);
	h->seg_size = l.size;
	h->capacity = g->capacity;
	h->payload_max = g->payload_max;
	h->result_max = g->result_max;
	h->workers_max = TRQ_WORKERS_MAX;
	h->meta_off = l.meta;
	h->args_off = l.args;
	h->out_off = l.out;
	for (int c = 0; c < TRQ_NCLASS; c++)
		h->ring_off[c] = l.ring[c];
	h->workers_off = l.workers;
	snprintf(h->instance, sizeof(h->instance), "%s", instance);
	h->max_attempts_default = 3;
	h->result_ttl_ns = 300ull * 1000000000ull;
	h->qseq_next = 1;

	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
	r = pthread_mutex_init(&h->lock, &ma);
	pthread_mutexattr_destroy(&ma);
	if (r) {
		errno = r;
		goto fail;
	}
	for (uint32_t i = 0; i < g->capacity; i++) {
		q->meta[i].state = TASKRING_FREE;
		q->meta[i].owner = -1;
		q->meta[i].next = i + 1 < g->capacity ? i + 1 : TRQ_NIL;
		q->meta[i].prev = TRQ_NIL;
	}
	h->free_head = 0;
	h->free_count = g->capacity;
	for (int k = 0; k < 2; k++)
		h->fin_head[k] = h->fin_tail[k] = TRQ_NIL;
	for (int w = 0; w < TRQ_WORKERS_MAX; w++)
		q->workers[w].cpu = -1;
	trq_clock_publish(q);
	/* The magic goes in last: attachers refuse a half-made segment. */
	__atomic_store_n(&h->magic, TRQ_MAGIC, __ATOMIC_RELEASE);
	return 0;
fail:
	r = -errno;
	if (q->base)
		munmap(q->base, q->size);
	close(fd);
	shm_unlink(name);
	memset(q, 0, sizeof(*q));
	q->fd = -1;
	return r;
}

/* The service's user (systemd/taskring.sysusers), whose segments root's
 * clients trust; $TASKRING_SERVICE_USER names another. */
#define SEG_SERVICE_USER "taskring"

/* Whether uid is the service's user. */
static int seg_service_uid(uid_t uid)
{
	const char *name = getenv("TASKRING_SERVICE_USER");
	struct passwd pw, *res = NULL;
	char buf[2048];

	if (!name || !*name)
		name = SEG_SERVICE_USER;
	return getpwnam_r(name, &pw, buf, sizeof(buf), &res) == 0 && res && pw.pw_uid == uid;
}

/* Whether the caller may use an object with this owner and mode. */
static int seg_trusted(const struct stat *st)
{
	uid_t me = geteuid();

	if (st->st_mode & 0007)
		return -EACCES; /* world access: anyone could have forged it */
	if (st->st_uid == me)
		return 0;
	/* root trusts its own and the service user's segments, not another
	 * user's: one could have made the object before the daemon ran, to
	 * read and answer root's tasks. */
	if (me == 0)
		return seg_service_uid(st->st_uid) ? 0 : -EACCES;
	if ((st->st_mode & 0060) != 0060)
		return -EACCES;
	if (st->st_gid == getegid())
		return 0;
	gid_t groups[256];
	int n = getgroups(256, groups);
	for (int i = 0; i < n; i++)
		if (groups[i] == st->st_gid)
			return 0;
	return -EACCES;
}

int trq_attach(struct trq *q, const char *instance)
{
	char name[64];
	struct stat st;
	struct seg_layout l;
	int r = seg_name(name, sizeof(name), instance);
	if (r)
		return r;
	memset(q, 0, sizeof(*q));
	q->fd = -1;
	int fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	fd = seg_fd_high(fd);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto fail;
	}
	r = seg_trusted(&st);
	if (r)
		goto fail;
	if ((uint64_t)st.st_size < sizeof(struct trq_hdr)) {
		r = st.st_size == 0 ? -EAGAIN : -TASKRING_ELAYOUT;
		goto fail;
	}
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		r = -errno;
		goto fail;
	}
	q->base = p;
	q->size = (size_t)st.st_size;
	q->hdr = p;
	struct trq_hdr *h = q->hdr;
	uint64_t magic = __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE);
	if (magic == 0) {
		r = -EAGAIN; /* being created */
		goto fail;
	}
	struct trq_geom g = {h->capacity, h->payload_max, h->result_max};
	if (magic != TRQ_MAGIC || h->layout != TRQ_LAYOUT || h->hdr_size != sizeof(*h) ||
	    seg_layout(&g, &l) || l.size != h->seg_size || l.size != (uint64_t)st.st_size ||
	    h->meta_off != l.meta || h->args_off != l.args || h->out_off != l.out ||
	    h->ring_off[0] != l.ring[0] || h->ring_off[1] != l.ring[1] ||
	    h->workers_off != l.workers || h->workers_max != TRQ_WORKERS_MAX) {
		r = -TASKRING_ELAYOUT;
		goto fail;
	}
	q->fd = fd;
	seg_view(q, &g, &l);
	return 0;
fail:
	if (q->base)
		munmap(q->base, q->size);
	close(fd);
	memset(q, 0, sizeof(*q));
	q->fd = -1;
	return r;
}

void trq_detach(struct trq *q)
{
	if (q->base)
		trq_flush_reads(q);
	if (q->base)
		munmap(q->base, q->size);
	if (q->fd > 2) /* never 0-2 (seg_fd_high); 0 in a zeroed struct */
		close(q->fd);
	memset(q, 0, sizeof(*q));
	q->fd = -1;
}

int trq_unlink(const char *instance)
{
	char name[64];
	int r = seg_name(name, sizeof(name), instance);
	if (r)
		return r;
	return shm_unlink(name) < 0 ? -errno : 0;
}

int trq_reap_half_made(const char *instance)
{
	char name[64], path[80];
	int r = seg_name(name, sizeof(name), instance);
	if (r)
		return r;
	snprintf(path, sizeof(path), "/dev/shm%s", name);
	int fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	fd = seg_fd_high(fd);
	if (fd < 0)
		return fd;
	struct flock mark = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 1, .l_len = 1};
	if (fcntl(fd, F_OFD_SETLK, &mark) == 0) { /* no creator: ours now */
		uint64_t magic = 0;
		struct stat st, now;
		ssize_t n = pread(fd, &magic, sizeof(magic), 0);
		if (fstat(fd, &st) == 0 && seg_trusted(&st) == 0 &&
		    (n == 0 || (n == (ssize_t)sizeof(magic) && magic == 0)) &&
		    stat(path, &now) == 0 && now.st_ino == st.st_ino && now.st_dev == st.st_dev)
			r = shm_unlink(name) < 0 ? -errno : 1;
	} else if (errno != EAGAIN && errno != EACCES) {
		r = -errno;
	}
	close(fd);
	return r;
}

int trq_sup_lock(struct trq *q)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
	if (fcntl(q->fd, F_OFD_SETLK, &fl) < 0)
		return (errno == EAGAIN || errno == EACCES) ? -EBUSY : -errno;
	q->sup_held = 1;
	return 0;
}

int trq_seg_orphaned(struct trq *q)
{
	struct stat st;
	if (q->sup_held || q->fd < 0 || fstat(q->fd, &st) < 0)
		return 0;
	return st.st_nlink == 0 && !trq_sup_alive(q);
}

int trq_sup_serving(struct trq *q)
{
	return trq_sup_alive(q) && !__atomic_load_n(&q->hdr->sup_stop_s, __ATOMIC_ACQUIRE);
}

int trq_sup_alive(struct trq *q)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
	if (q->fd < 0 || fcntl(q->fd, F_OFD_GETLK, &fl) < 0)
		return 0;
	return fl.l_type != F_UNLCK;
}
