/*
 * ibuf.h - internal to the queue: the buffers behind struct taskring_info
 * (argv, the argument bytes, the output). A collect of many carves them
 * out of one block; each buffer is still released on its own, with
 * trq_info_free() (queue.h).
 */
#ifndef TR_IBUF_H
#define TR_IBUF_H

#include <stddef.h>

struct ibuf_blk;

/* A block for the buffers of n infos, or NULL (n < 2, or no memory): then
 * every buffer is a malloc of its own. The caller holds one reference
 * while it carves; it drops it with trq_ibuf_done(). */
struct ibuf_blk *trq_ibuf_block(size_t n);

/* need bytes for one info's buffer, from block b when they fit there (b
 * may be NULL), else from malloc. NULL when out of memory. */
void *trq_ibuf_alloc(struct ibuf_blk *b, size_t need);

/* Ends the carving of block b (NULL: nothing): drops the caller's
 * reference; the block is freed with the last buffer carved from it. */
void trq_ibuf_done(struct ibuf_blk *b);

#endif
