/*
 * restart.h - the restart policy for dead workers (s6/Erlang style).
 *
 * A worker that had been up for at least restart.min_uptime_ms is restarted
 * at once. One that died sooner ("early") is restarted after an exponential
 * backoff, restart.backoff_ms doubling per consecutive early death of that
 * slot up to restart.backoff_max_ms; and more than restart.max_early_exits
 * early deaths within restart.window_s (across all slots) mean the daemon
 * itself gives up so that its own supervisor (systemd) acts.
 * Invariant: times[] holds the early deaths of the last window, oldest first.
 */
#ifndef TR_RESTART_H
#define TR_RESTART_H

#include <stddef.h>
#include <stdint.h>

struct tr_restart {
	uint64_t *times; /* CLOCK_MONOTONIC ns of recent early deaths */
	size_t n, cap;
};

/* Records an early death at now (ns). Returns 1 when more than max early
 * deaths happened within the last window_s seconds, else 0. */
int tr_restart_early(struct tr_restart *r, uint64_t now, unsigned max, unsigned window_s);

/* Number of early deaths recorded within window_s before now. */
size_t tr_restart_recent(struct tr_restart *r, uint64_t now, unsigned window_s);

/* The delay before restarting after the streak-th consecutive early death
 * (streak >= 1): base_ms * 2^(streak-1), at most max_ms. */
uint64_t tr_restart_backoff_ms(unsigned streak, unsigned base_ms, unsigned max_ms);

/* Frees the history; r may be reused. */
void tr_restart_free(struct tr_restart *r);

#endif
