/*
 * stress_log.c - the shared log of `taskring stress` (layout in stress.h):
 * mapping it, reaching a slot's arrays, notes for the report, the deadline
 * bookkeeping, and settling one logged task.
 *
 * The log is one MAP_SHARED anonymous mapping made before the clients are
 * forked, so every client and the parent see the same bytes, and it dies
 * with the last of them. Pages are touched only as records are used.
 * Invariant: only the live process of slot ci writes slot ci's records; the
 * parent reads them once that process is gone (or it stopped on its own).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "stress.h"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static size_t align64(size_t v)
{
	return (v + 63) & ~(size_t)63;
}

int stress_log_map(struct stress_ctx *x, unsigned nclients, uint32_t cap)
{
	size_t head =
	    align64(sizeof(struct stress_shared) + nclients * sizeof(struct stress_cslot));
	size_t ids = align64((size_t)nclients * cap * sizeof(uint64_t));
	size_t recs = align64((size_t)nclients * cap * sizeof(struct stress_rec));
	size_t len = head + ids + recs;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
	               MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return -errno;
	x->sh = p;
	x->sh_len = len;
	x->sh->nclients = nclients;
	x->sh->cap = cap;
	x->sh->ids_off = head;
	x->sh->recs_off = head + ids;
	return 0;
}

void stress_log_unmap(struct stress_ctx *x)
{
	if (x->sh)
		munmap(x->sh, x->sh_len);
	x->sh = NULL;
	x->sh_len = 0;
}

uint64_t *stress_log_ids(struct stress_shared *sh, unsigned ci)
{
	return (uint64_t *)((char *)sh + sh->ids_off) + (size_t)ci * sh->cap;
}

struct stress_rec *stress_log_recs(struct stress_shared *sh, unsigned ci)
{
	return (struct stress_rec *)((char *)sh + sh->recs_off) + (size_t)ci * sh->cap;
}

void stress_note(struct stress_shared *sh, const char *fmt, ...)
{
	uint32_t n = __atomic_fetch_add(&sh->nnotes, 1, __ATOMIC_RELAXED);
	va_list ap;

	if (n >= STRESS_NOTES)
		return;
	va_start(ap, fmt);
	vsnprintf(sh->notes[n], sizeof(sh->notes[n]), fmt, ap);
	va_end(ap);
}

void stress_deadline_check(struct stress_shared *sh, uint64_t deadline_ns, const char *what)
{
	uint64_t now = now_ns(), late, max;

	if (now <= deadline_ns + STRESS_LATE_NS)
		return;
	late = now - deadline_ns;
	if (__atomic_fetch_add(&sh->overruns, 1, __ATOMIC_RELAXED) == 0)
		stress_note(sh, "%s returned %.1f s past its deadline", what, (double)late / 1e9);
	max = __atomic_load_n(&sh->max_overrun_ns, __ATOMIC_RELAXED);
	while (late > max && !__atomic_compare_exchange_n(&sh->max_overrun_ns, &max, late, 0,
	                                                  __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

int stress_accepted(const struct stress_rec *r, uint64_t id)
{
	switch (r->phase) {
	case SP_ACCEPTED:
	case SP_READING:
	case SP_SETTLED:
		return 1;
	case SP_SUBMITTING:
		return id != 0; /* the library wrote it: the task is in the table */
	default:
		return 0;
	}
}

static void set_phase(struct stress_rec *r, int phase)
{
	__atomic_store_n(&r->phase, (uint8_t)phase, __ATOMIC_RELEASE);
}

int stress_settle(const struct stress_ctx *x, taskring_t *h, unsigned ci, uint32_t idx,
                  int64_t timeout_ms)
{
	struct stress_shared *sh = x->sh;
	struct stress_rec *r = &stress_log_recs(sh, ci)[idx];
	uint64_t id = __atomic_load_n(&stress_log_ids(sh, ci)[idx], __ATOMIC_ACQUIRE);
	int was_reading = r->phase == SP_READING;
	struct taskring_info info;
	char note[STRESS_NOTE_LEN];
	int err;

	if (r->phase == SP_SETTLED || !stress_accepted(r, id))
		return 1;
	set_phase(r, SP_READING);
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ull;
	memset(&info, 0, sizeof(info));
	err = taskring_wait(h, id, timeout_ms, &info);
	stress_deadline_check(sh, deadline, "taskring_wait");
	if (err == -ETIMEDOUT || err == -EINTR || err == -TASKRING_ELOCKED) {
		/* Not read: a reader that died before us may have read it, though. */
		set_phase(r, was_reading ? SP_READING : SP_ACCEPTED);
		return 0;
	}
	if (err == 0) {
		r->verdict = (uint8_t)stress_judge(x, ci, idx, r, &info, note, sizeof(note));
		r->state = (uint8_t)info.state;
		r->attempts = (uint16_t)(info.attempts > 65535 ? 65535 : info.attempts);
		if (note[0])
			stress_note(sh, "%s", note);
		taskring_info_release(&info);
	} else if (err == -TASKRING_EEXPIRED && was_reading) {
		r->verdict = SV_READ_EXPIRED;
	} else {
		r->verdict = SV_LOST;
		stress_note(sh, "task %llu (%s, client %u record %u): %s", (unsigned long long)id,
		            stress_kind_type(r->kind), ci, idx, taskring_strerror(err));
	}
	set_phase(r, SP_SETTLED);
	return 1;
}
