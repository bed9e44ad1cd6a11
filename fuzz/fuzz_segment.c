/*
 * fuzz_segment.c - libFuzzer target for the segment validator: arbitrary
 * bytes laid over a segment image, then the paths that must survive them.
 *
 * Set-up (once): a real, small segment (capacity 8, 64-byte payloads and
 * results) made by trq_create() and unlinked at once (the mapping stays, no
 * name is left behind), with types registered, a live worker record (5) and
 * tasks in every state; its bytes are kept as the pristine image.
 *
 * Each input restores the image and overlays its bytes, by the first byte:
 *   0  image: the rest is copied in order over the protected header fields,
 *      the slot table, both rings, worker records 0-3, argument and result
 *      areas (a whole "segment image" where the fuzzer writes it);
 *   1  patches: repeated (region, offset, length, bytes) records over those
 *      regions and the type registry and futex words;
 *   2  header: the bytes go over the header up to the lock (magic, layout,
 *      geometry, offsets, settings), the image is written to a fresh shm
 *      object and trq_attach() must either refuse it or give a view whose
 *      geometry fits the object; an accepted one is then checked like 0/1.
 * The robust mutex itself is never overwritten (a hostile writer can wedge
 * it; that costs callers a lock timeout, documented, not fuzzed here).
 *
 * Then: trq_audit() with repair (up to FZ_PASSES passes), after which
 * trq_check() must pass; then a
 * worker's take/finish of both classes, a client's submit, get (by every
 * slot's id and by ids from the input), peek and cancel, a lost worker, an
 * adoption - and trq_check() must still pass. Any violation aborts.
 *
 * Build: make fuzz (or clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *          -Iinclude -Icommon fuzz/fuzz_segment.c common/ *.c -lpthread)
 * Seeds: fuzz/corpus/segment/. Regressions: tests/fuzz/segment/, replayed by
 * tests/unit/test_fuzz_segment.c.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "queue.h"

#define FZ_CAP     8
#define FZ_PAYLOAD 64
#define FZ_RESULT  64
#define FZ_WIDX    5 /* the worker record the target plays */
#define FZ_INC     7
#define FZ_TAKE    4
#define FZ_PASSES  4 /* audit-with-repair passes allowed to reach a consistent state */

struct fz_region {
	size_t off, len;
};

static struct {
	int ready;
	char instance[40];
	struct trq q;
	unsigned char *pristine;
	size_t size;
	struct fz_region img[8]; /* mode 0 and 1 */
	unsigned nimg;
	struct fz_region patch[12]; /* mode 1 */
	unsigned npatch;
	void *argbuf;
	size_t argbuf_len;
} fz;

static void fz_check(int cond, const char *what, const char *msg)
{
	if (!cond) {
		fprintf(stderr, "fuzz_segment: invariant broken: %s%s%s\n", what, msg ? ": " : "",
		        msg ? msg : "");
		abort();
	}
}

static void add_region(struct fz_region *r, unsigned *n, const void *p, size_t len)
{
	r[*n].off = (size_t)((const unsigned char *)p - fz.q.base);
	r[*n].len = len;
	(*n)++;
}

/* A few tasks in every state, so the overlay meets real records. */
static void fz_populate(struct trq *q)
{
	static const char *const words[] = {"alpha", "beta", "gamma"};
	struct taskring_req reqs[6] = {
	    {"echo", 3, words}, {"echo", 1, words},  {"sleep", 1, words + 1},
	    {"echo", 2, words}, {"sleep", 1, words}, {"crash", 0, NULL},
	};
	struct taskring_opts o = {.max_attempts = 3, .timeout_ms = 0};
	struct trq_task t[2];
	uint64_t ids[6];

	fz_check(trq_submit(q, 6, reqs, &o, ids) == 6, "populate: submit", NULL);
	int n = trq_take(q, TASKRING_CPU, FZ_WIDX, FZ_INC, 2, t, fz.argbuf, fz.argbuf_len);
	fz_check(n == 2, "populate: take", NULL);
	struct trq_result res = {
	    .idx = t[0].idx, .id = t[0].id, .state = TASKRING_DONE, .out_len = 5, .out = "alpha"};
	fz_check(trq_finish(q, FZ_WIDX, FZ_INC, 1, &res) == 0, "populate: finish", NULL);
	trq_cancel(q, ids[4]); /* a queued io task: cancelled */
	struct taskring_info info;
	if (trq_get(q, t[0].id, &info, 1) == 0) /* read: reclaimable */
		taskring_info_release(&info);
}

static void fz_setup(void)
{
	struct trq_geom g = {FZ_CAP, FZ_PAYLOAD, FZ_RESULT};
	struct trq_type types[3] = {
	    {"echo", TASKRING_CPU, 0}, {"sleep", TASKRING_IO, 0}, {"crash", TASKRING_CPU, 0}};
	struct trq *q = &fz.q;
	struct trq_hdr *h;

	snprintf(fz.instance, sizeof(fz.instance), "fuzz-segment-%d", (int)getpid());
	trq_unlink(fz.instance);
	int r = trq_create(q, fz.instance, &g, 0600, -1);
	fz_check(r == 0, "trq_create", strerror(-r));
	trq_unlink(fz.instance); /* nothing left behind; the mapping stays */
	/* As its supervisor: an unlinked segment nobody holds is orphaned, and
	 * submits to it are refused. */
	r = trq_sup_lock(q);
	fz_check(r == 0, "trq_sup_lock", strerror(-r));
	h = q->hdr;
	fz_check(trq_set_types(q, types, 3) == 0, "trq_set_types", NULL);
	h->nworkers = 2;
	q->workers[FZ_WIDX].inc = FZ_INC;
	q->workers[FZ_WIDX].state = TRQ_W_READY;
	q->workers[FZ_WIDX].pid = (int32_t)getpid();
	fz.argbuf_len = trq_argbuf_size(q, FZ_TAKE);
	fz.argbuf = malloc(fz.argbuf_len);
	fz_check(fz.argbuf != NULL, "malloc", NULL);
	fz_populate(q);
	char msg[200];
	fz_check(trq_check(q, msg, sizeof(msg)) == 0, "pristine image consistent", msg);

	/* What a process mapping the segment may scribble on (not the lock). */
	add_region(fz.img, &fz.nimg, &h->ring_head,
	           offsetof(struct trq_hdr, q_seq) - offsetof(struct trq_hdr, ring_head));
	add_region(fz.img, &fz.nimg, q->meta, FZ_CAP * sizeof(struct trq_slot));
	add_region(fz.img, &fz.nimg, q->ring[0], FZ_CAP * sizeof(uint32_t));
	add_region(fz.img, &fz.nimg, q->ring[1], FZ_CAP * sizeof(uint32_t));
	add_region(fz.img, &fz.nimg, q->workers, 4 * sizeof(struct trq_worker));
	add_region(fz.img, &fz.nimg, q->args, (size_t)FZ_CAP * FZ_PAYLOAD);
	add_region(fz.img, &fz.nimg, q->out, (size_t)FZ_CAP * FZ_RESULT);
	memcpy(fz.patch, fz.img, fz.nimg * sizeof(fz.img[0]));
	fz.npatch = fz.nimg;
	add_region(fz.patch, &fz.npatch, &h->max_attempts_default,
	           offsetof(struct trq_hdr, lock) - offsetof(struct trq_hdr, max_attempts_default));
	add_region(fz.patch, &fz.npatch, &h->q_seq,
	           offsetof(struct trq_hdr, end_) - offsetof(struct trq_hdr, q_seq));
	add_region(fz.patch, &fz.npatch, &q->workers[FZ_WIDX], sizeof(struct trq_worker));

	fz.size = q->size;
	fz.pristine = malloc(fz.size);
	fz_check(fz.pristine != NULL, "malloc", NULL);
	memcpy(fz.pristine, q->base, fz.size);
	fz.ready = 1;
}

static uint64_t take_u64(const uint8_t **p, size_t *n)
{
	uint64_t v = 0;
	size_t k = *n < 8 ? *n : 8;
	memcpy(&v, *p, k);
	*p += k;
	*n -= k;
	return v;
}

static void overlay_image(unsigned char *base, const uint8_t *d, size_t n)
{
	for (unsigned i = 0; i < fz.nimg && n; i++) {
		size_t k = n < fz.img[i].len ? n : fz.img[i].len;
		memcpy(base + fz.img[i].off, d, k);
		d += k;
		n -= k;
	}
}

static void overlay_patches(unsigned char *base, const uint8_t *d, size_t n)
{
	while (n >= 4) {
		const struct fz_region *r = &fz.patch[d[0] % fz.npatch];
		size_t off = (size_t)(d[1] | (d[2] << 8)) % r->len, len = d[3];
		d += 4;
		n -= 4;
		if (len > n)
			len = n;
		if (len > r->len - off)
			len = r->len - off;
		memcpy(base + r->off + off, d, len);
		d += len;
		n -= len;
	}
}

static void check_info(const struct trq *q, const struct taskring_info *info)
{
	fz_check(info->output != NULL && info->output[info->output_len] == 0,
	         "info output NUL-terminated", NULL);
	fz_check(info->output_len <= q->result_max || info->state == TASKRING_FAILED,
	         "info output within result_max", NULL);
	fz_check(info->argc >= 0 && (uint32_t)info->argc <= q->payload_max, "info argc", NULL);
	for (int i = 0; i < info->argc; i++)
		fz_check(info->argv[i] != NULL, "info argv word", NULL);
	fz_check(info->argv[info->argc] == NULL, "info argv NULL-terminated", NULL);
	fz_check(memchr(info->type, 0, sizeof(info->type)) != NULL, "info type terminated", NULL);
}

static void get_one(struct trq *q, uint64_t id, int mark)
{
	struct taskring_info info;
	int r = trq_get(q, id, &info, mark);
	if (r == 0) {
		check_info(q, &info);
		taskring_info_release(&info);
		return;
	}
	fz_check(r == -ENOENT || r == -TASKRING_EEXPIRED || r == -TASKRING_EBADID ||
	             r == -TASKRING_ECORRUPT,
	         "trq_get returns a documented error", strerror(-r));
}

/* Validate, repair, then use the segment as a worker and a client would. */
static void exercise(struct trq *q, const uint8_t *d, size_t n)
{
	char msg[200];
	struct trq_task t[FZ_TAKE];
	struct trq_result res[FZ_TAKE];
	int r;

	/* trq_audit stops at the first violation it meets, and the rebuild it
	 * triggers re-derives the lists but not every counter it checks (the
	 * pollers count), so repair may take a second pass, as the supervisor's
	 * periodic audit gives it. It must converge within a few. */
	int pass = 0;
	while (trq_audit(q, 1, msg, sizeof(msg)) != 0 && ++pass < FZ_PASSES)
		;
	r = trq_check(q, msg, sizeof(msg));
	fz_check(r == 0, "trq_check after trq_audit(repair) passes", msg);

	/* The worker we play is alive whatever the bytes said. */
	q->workers[FZ_WIDX].inc = FZ_INC;
	q->workers[FZ_WIDX].state = TRQ_W_READY;
	q->hdr->draining = 0; /* the supervisor's word: a draining queue hands out nothing */
	size_t alen = trq_argbuf_size(q, FZ_TAKE);
	void *argbuf = malloc(alen);
	fz_check(argbuf != NULL, "malloc", NULL);
	for (int cls = 0; cls < TRQ_NCLASS; cls++) {
		r = trq_take(q, cls, FZ_WIDX, FZ_INC, FZ_TAKE, t, argbuf, alen);
		fz_check(r >= 0 && r <= FZ_TAKE, "trq_take count", NULL);
		for (int i = 0; i < r; i++) {
			fz_check(t[i].idx < q->capacity, "taken index in range", NULL);
			fz_check(memchr(t[i].type, 0, sizeof(t[i].type)) != NULL, "taken type",
			         NULL);
			if (!t[i].bad) {
				for (uint32_t k = 0; k < t[i].argc; k++)
					fz_check(t[i].argv[k] &&
					             strlen(t[i].argv[k]) < q->payload_max,
					         "taken argument words", NULL);
				fz_check(t[i].argv[t[i].argc] == NULL, "taken argv terminated",
				         NULL);
			}
			res[i] = (struct trq_result){
			    .idx = t[i].idx,
			    .id = t[i].id,
			    .state = t[i].bad ? TASKRING_FAILED : TASKRING_DONE,
			    .out_len = t[i].bad ? (uint32_t)strlen(t[i].err) : 2,
			    .out = t[i].bad ? t[i].err : "ok"};
		}
		/* Keep the last one running: a lost worker must put it back. */
		if (r > 1)
			fz_check(trq_finish(q, FZ_WIDX, FZ_INC, (unsigned)r - 1, res) == 0,
			         "trq_finish", NULL);
	}
	free(argbuf);
	for (uint32_t i = 0; i < q->capacity; i++)
		get_one(q, __atomic_load_n(&q->meta[i].id, __ATOMIC_RELAXED), (int)(i & 1));
	while (d && n) {
		uint64_t id = take_u64(&d, &n);
		get_one(q, id, 1);
		r = trq_peek(q, id);
		fz_check(r >= 0 || r == -ENOENT || r == -TASKRING_EEXPIRED ||
		             r == -TASKRING_EBADID || r == -TASKRING_ECORRUPT,
		         "trq_peek returns a state or a documented error", NULL);
		r = trq_cancel(q, id);
		fz_check(r == 0 || r == -ENOENT || r == -TASKRING_EEXPIRED ||
		             r == -TASKRING_EBADID || r == -TASKRING_ECORRUPT ||
		             r == -TASKRING_EFINAL,
		         "trq_cancel returns 0 or a documented error", strerror(r < 0 ? -r : r));
		if (n > 64) /* enough ids */
			break;
	}
	/* Every queued task of one type, then of all: whatever the rings
	 * hold, the tasks they name end cancelled or stay queued. */
	for (int k = 0; k < 2; k++) {
		uint64_t cq = UINT64_MAX;
		r = trq_cancel_queued(q, k ? NULL : "noop", &cq);
		fz_check(r == 0 || r == -TASKRING_ECORRUPT || (r == -TASKRING_EBADTYPE && !cq),
		         "trq_cancel_queued returns 0 or a documented error",
		         strerror(r < 0 ? -r : r));
		fz_check(cq <= q->capacity, "trq_cancel_queued counts at most the table", NULL);
	}
	r = trq_check(q, msg, sizeof(msg));
	fz_check(r == 0, "trq_check after trq_cancel_queued", msg);
	static const char *const w[] = {"fuzz"};
	struct taskring_req req = {"echo", 1, w};
	struct taskring_opts o = {.timeout_ms = 0};
	uint64_t id = 0;
	r = trq_submit(q, 1, &req, &o, &id);
	fz_check(r == 1 || r == -TASKRING_EFULL || r == -TASKRING_EBADTYPE,
	         "trq_submit accepts, is full, or does not know the type", NULL);
	if (r == 1)
		get_one(q, id, 0);
	trq_free_slots(q, trq_now());
	trq_worker_lost(q, FZ_WIDX, FZ_INC, r == 1 ? id : 0, "worker 5 (pid 1) killed by fuzz",
	                NULL);
	r = trq_check(q, msg, sizeof(msg));
	fz_check(r == 0, "trq_check after take, finish, submit, cancel, lost worker", msg);
	r = trq_adopt(q);
	fz_check(r >= 0, "trq_adopt", NULL);
	r = trq_check(q, msg, sizeof(msg));
	fz_check(r == 0, "trq_check after trq_adopt", msg);
}

/* Mode 2: a fuzzed header through the attach checks. */
static void header_attach(const uint8_t *d, size_t n)
{
	char name[64];
	unsigned char *img = malloc(fz.size);
	size_t hlen = offsetof(struct trq_hdr, lock);
	struct trq q2;

	fz_check(img != NULL, "malloc", NULL);
	memcpy(img, fz.pristine, fz.size);
	memcpy(img, d, n < hlen ? n : hlen);
	snprintf(name, sizeof(name), "/taskring.%s", fz.instance);
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	fz_check(fd >= 0, "shm_open", strerror(errno));
	size_t off = 0;
	while (off < fz.size) {
		ssize_t k = write(fd, img + off, fz.size - off);
		fz_check(k > 0, "write", strerror(errno));
		off += (size_t)k;
	}
	close(fd);
	free(img);
	int r = trq_attach(&q2, fz.instance);
	shm_unlink(name);
	if (r < 0) {
		fz_check(r == -TASKRING_ELAYOUT || r == -EAGAIN, "trq_attach refuses with ELAYOUT",
		         strerror(-r));
		return;
	}
	fz_check(q2.size == fz.size && trq_seg_size(&(struct trq_geom){q2.capacity, q2.payload_max,
	                                                               q2.result_max}) == q2.size,
	         "an accepted header has a geometry that fits the object", NULL);
	/* Unlinked already and held by no supervisor, it counts as orphaned
	 * (submits refused): exercise it as a live daemon's, no orphan look
	 * for the next second. */
	q2.orphan_ns = trq_now();
	exercise(&q2, d + (n < hlen ? n : hlen), n > hlen ? n - hlen : 0);
	trq_detach(&q2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!fz.ready)
		fz_setup();
	memcpy(fz.q.base, fz.pristine, fz.size);
	if (size == 0) {
		exercise(&fz.q, NULL, 0);
		return 0;
	}
	switch (data[0] % 3) {
	case 0:
		overlay_image(fz.q.base, data + 1, size - 1);
		exercise(&fz.q, NULL, 0);
		break;
	case 1:
		overlay_patches(fz.q.base, data + 1, size - 1);
		exercise(&fz.q, data + 1, size - 1 < 64 ? size - 1 : 64);
		break;
	default:
		header_attach(data + 1, size - 1);
	}
	return 0;
}
