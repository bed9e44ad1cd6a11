/*
 * reload.h - who asked for a reload, and the answer each one gets.
 *
 * `taskring reload` takes a ticket (bumps hdr->reload_asked), then sends
 * SIGHUP. When the supervisor begins a reload it claims every ticket asked
 * since its last claim: the file it reads next was written before those
 * tickets were taken. When that reload ends (refused at once, or applied
 * once the workers converged) it publishes one answer for the claimed
 * tickets in a ring of TRQ_RELOAD_ANS answers (hdr->reload_ans, counted by
 * hdr->reload_seq). Answers need not come in ticket order: a reload that
 * replaces workers can be answered after a later one that was refused.
 *
 * The supervisor is the only writer of answers; readers copy them without a
 * lock, trust only those the writer cannot be overwriting (the last
 * TRQ_RELOAD_ANS - 1), and treat every byte as untrusted. It also publishes
 * the last ticket claimed and exactly which tickets a converging reload
 * will answer (up to TRQ_RELOAD_PEND ranges: a file refused while another
 * converges splits them), so that a client whose answer was pushed out of
 * the ring by many other reloads learns so at once (and asks again)
 * instead of waiting for a roll that is not its own, or being told that
 * roll's answer. Past TRQ_RELOAD_PEND ranges the oldest range's tickets are
 * dropped, unanswered: their clients learn the same and ask again.
 *
 * While a reload converges (replaces workers one at a time, each finishing
 * its running tasks within shutdown_timeout_s) the supervisor publishes its
 * progress: worker changes done of how many, and by when it expects the
 * last to end at the latest, so that a client waits as long as the daemon
 * needs, not a fixed time, and no longer once the daemon stops moving (the
 * time is absolute: a stopped supervisor does not push it on).
 */
#ifndef TR_RELOAD_H
#define TR_RELOAD_H

#include <stddef.h>
#include <stdint.h>

#include "queue.h"

/* Client: takes a ticket. The answer to the first reload the supervisor
 * begins after this call covers it. */
uint32_t trq_reload_ticket(struct trq *q);

/* Supervisor: claims the tickets taken since *upto (the last ticket it
 * claimed): sets *from to the first and *upto to the last, and returns how
 * many (0 for a SIGHUP sent by hand). */
uint32_t trq_reload_claim(struct trq *q, uint32_t *upto, uint32_t *from);

/* Supervisor: tickets up to upto are answered or pending (published after
 * the answer or trq_reload_pending, so that a client never takes a claimed
 * ticket whose answer is on its way for one whose answer was lost). */
void trq_reload_claimed(struct trq *q, uint32_t upto);

/* Supervisor: a reload converges and will answer exactly the tickets of
 * the nr ranges r (oldest first; 1 <= nr <= TRQ_RELOAD_PEND, a range may
 * hold no ticket), or none does (nr 0). Published before the tickets are
 * marked claimed. */
void trq_reload_pending(struct trq *q, const struct trq_reload_range *r, unsigned nr);

/* Supervisor: publishes the answer for the n tickets from `from` on
 * (n may be 0): ok 1 applied, 0 refused because of why (truncated to fit). */
void trq_reload_publish(struct trq *q, uint32_t from, uint32_t n, int ok, const char *why);

/* Supervisor: the converging reload has done `done` of `total` worker
 * changes and expects the last to end by by_ns (CLOCK_MONOTONIC); total 0:
 * none converges. */
void trq_reload_roll(struct trq *q, uint32_t done, uint32_t total, uint64_t by_ns);

/* Client: when the reload that answers ticket converges and published its
 * progress, returns 0 and sets *done, *total (done <= total, total >= 1)
 * and *by_ns; else -EAGAIN (not begun, answered, or no roll). Untrusted:
 * a hint for how long to wait, never a reason to wait for ever. */
int trq_reload_roll_get(struct trq *q, uint32_t ticket, uint32_t *done, uint32_t *total,
                        uint64_t *by_ns);

/* Client: the answer covering ticket. Returns 0 and sets *ok (1 applied,
 * 0 refused) and why (len bytes, always terminated; "" when applied);
 * -EAGAIN when it has not come yet; -ESTALE when it came but TRQ_RELOAD_ANS
 * - 1 or more other answers followed before this look, or when it was
 * dropped unanswered (ask again either way). The oldest kept answer that
 * covers the ticket wins (a damaged or forged ring may cover it twice). */
int trq_reload_find(struct trq *q, uint32_t ticket, int *ok, char *why, size_t len);

/* The newest answer, for the status: returns hdr->reload_seq (0: none yet)
 * and sets *ok and why as trq_reload_find does. */
uint32_t trq_reload_last(struct trq *q, int *ok, char *why, size_t len);

#endif
