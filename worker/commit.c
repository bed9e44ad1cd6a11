/*
 * commit.c - see commit.h.
 */
#include "commit.h"

#include <errno.h>
#include <unistd.h>

#include "log.h"

#define CHUNK 64 /* trq_finish takes at most this many */

void tr_commit(struct trq *q, int widx, uint32_t inc, unsigned n, const struct trq_result *res)
{
	while (n) {
		unsigned k = n < CHUNK ? n : CHUNK;
		int r, tries = 0;
		while ((r = trq_finish(q, widx, inc, k, res)) < 0) {
			if (r == -ENOTRECOVERABLE || r == -EINVAL) {
				tr_log_errno(LOG_ERR, r, "worker %d: trq_finish", widx);
				_exit(1);
			}
			if (tries++ == 0)
				tr_log_errno(LOG_WARNING, r, "worker %d: trq_finish (retrying)",
				             widx);
		}
		__atomic_add_fetch(&q->workers[widx].tasks_done, k, __ATOMIC_RELAXED);
		res += k;
		n -= k;
	}
}
