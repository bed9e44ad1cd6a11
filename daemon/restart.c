/*
 * restart.c - see restart.h. The history is a growable array trimmed from
 * the front; it never holds more than max + 1 entries of one window.
 */
#include "restart.h"

#include <stdlib.h>
#include <string.h>

static void restart_trim(struct tr_restart *r, uint64_t now, unsigned window_s)
{
	uint64_t window = (uint64_t)window_s * 1000000000ull;
	size_t k = 0;

	while (k < r->n && now - r->times[k] >= window)
		k++;
	if (k) {
		memmove(r->times, r->times + k, (r->n - k) * sizeof(*r->times));
		r->n -= k;
	}
}

int tr_restart_early(struct tr_restart *r, uint64_t now, unsigned max, unsigned window_s)
{
	restart_trim(r, now, window_s);
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		uint64_t *t = realloc(r->times, cap * sizeof(*t));
		if (!t) /* cannot remember it: count it as the one too many */
			return r->n >= max;
		r->times = t;
		r->cap = cap;
	}
	r->times[r->n++] = now;
	return r->n > max;
}

size_t tr_restart_recent(struct tr_restart *r, uint64_t now, unsigned window_s)
{
	restart_trim(r, now, window_s);
	return r->n;
}

uint64_t tr_restart_backoff_ms(unsigned streak, unsigned base_ms, unsigned max_ms)
{
	uint64_t d = base_ms;

	for (unsigned i = 1; i < streak && d < max_ms; i++)
		d *= 2;
	return d < max_ms ? d : max_ms;
}

void tr_restart_free(struct tr_restart *r)
{
	free(r->times);
	memset(r, 0, sizeof(*r));
}
