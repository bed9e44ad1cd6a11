/*
 * ibuf.c - the buffers behind struct taskring_info (see ibuf.h).
 *
 * Each taskring_info owns one buffer (argv, the argument bytes, the output),
 * its buf_, which points just past a header. A collect of many carves the
 * buffers out of one block that counts its live buffers and is freed with
 * the last one (a malloc and a free per task were 15 % of a batched
 * client's time); a buffer that does not fit, or a single collect's, is a
 * malloc of its own (no block).
 *
 * Invariant: a block is freed exactly once, when its live count reaches 0;
 * the carving collect holds one reference until it is done. A locked
 * increment per buffer carved was 4 % of a batched run's samples: the
 * block starts instead with a reference for every buffer it could ever
 * hold (IBUF_MAX), the carver counts what it carves in a plain field, and
 * gives back the references it did not use when it is done.
 */
#include <stdalign.h>
#include <stdlib.h>

#include "ibuf.h"
#include "queue.h"

struct ibuf_blk {
	unsigned live;   /* buffers not yet freed + 1 while carving (see below) */
	unsigned carved; /* buffers carved so far (the carver's alone) */
	size_t used, size;
	alignas(16) char data[];
};
struct ibuf_hdr {
	struct ibuf_blk *blk; /* NULL: a malloc of its own */
	uint64_t pad_;        /* 16 bytes: what follows stays 16-aligned */
};

/* Bytes a collect of n reserves for its block: enough for short tasks. */
#define IBUF_PER_TASK 192

/* The most buffers a block of size bytes can hold: each takes at least
 * its 16-byte header. */
#define IBUF_MAX(size) ((unsigned)((size) / 16))

/* A block for n buffers, or NULL (then every buffer is its own malloc). */
struct ibuf_blk *trq_ibuf_block(size_t n)
{
	size_t size = n * IBUF_PER_TASK;
	struct ibuf_blk *b = n > 1 ? malloc(sizeof(*b) + size) : NULL;
	if (b) {
		b->live = 1 + IBUF_MAX(size);
		b->carved = 0;
		b->used = 0;
		b->size = size;
	}
	return b;
}

/* need bytes for one info, from block b if they fit. */
void *trq_ibuf_alloc(struct ibuf_blk *b, size_t need)
{
	size_t sz = (sizeof(struct ibuf_hdr) + need + 15) & ~(size_t)15;
	struct ibuf_hdr *h;
	if (b && b->size - b->used >= sz) {
		h = (struct ibuf_hdr *)(void *)(b->data + b->used);
		b->used += sz;
		b->carved++; /* its reference was counted in advance */
	} else {
		h = malloc(sz);
		if (!h)
			return NULL;
		b = NULL;
	}
	h->blk = b;
	return h + 1;
}

/* Drops n references to block b; the last one frees it. */
static void ibuf_put(struct ibuf_blk *b, unsigned n)
{
	if (__atomic_sub_fetch(&b->live, n, __ATOMIC_ACQ_REL) == 0)
		free(b);
}

/* The carving collect is done with block b (NULL: nothing): drops its own
 * reference and those counted in advance for buffers it did not carve. */
void trq_ibuf_done(struct ibuf_blk *b)
{
	if (b)
		ibuf_put(b, 1 + IBUF_MAX(b->size) - b->carved);
}

void trq_info_free_many(const struct taskring_info *infos, size_t n)
{
	struct ibuf_blk *run = NULL; /* the block of the buffers counted in k */
	unsigned k = 0;
	for (size_t i = 0; i < n; i++) {
		if (!infos[i].buf_)
			continue;
		struct ibuf_hdr *h = (struct ibuf_hdr *)infos[i].buf_ - 1;
		if (!h->blk) {
			free(h);
			continue;
		}
		if (h->blk != run) {
			if (run)
				ibuf_put(run, k);
			run = h->blk;
			k = 0;
		}
		k++;
	}
	if (run)
		ibuf_put(run, k);
}

void trq_info_free(void *buf)
{
	if (!buf)
		return;
	struct ibuf_hdr *h = (struct ibuf_hdr *)buf - 1;
	if (h->blk)
		ibuf_put(h->blk, 1);
	else
		free(h);
}
