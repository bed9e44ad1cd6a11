/*
 * test_reload.c - reload tickets and answers (common/reload.c): each ticket
 * gets the answer of the reload that claimed it, also when answers come out
 * of ticket order; the last TRQ_RELOAD_ANS - 1 answers are kept; damaged
 * answers read as refusals; tickets wrap around; a refusal pushed out of the
 * ring while another reload converges reads as lost (ask again), not as
 * pending, whatever ranges the converging one answers; damaged or missing
 * ranges fall back on the first pending ticket, without hanging.
 */
#include "qtest.h"
#include "reload.h"
#include "tap.h"

/* The answer for ticket t: "ok", "refused: WHY", "none" (not yet) or
 * "lost" (answered, then pushed out by other answers: ask again). */
static const char *answer(struct trq *q, uint32_t t)
{
	static char buf[300];
	char why[256];
	int okv = -1;
	int r = trq_reload_find(q, t, &okv, why, sizeof(why));
	if (r == -EAGAIN)
		return "none";
	if (r == -ESTALE)
		return "lost";
	if (r)
		snprintf(buf, sizeof(buf), "error %d", r);
	else if (okv)
		snprintf(buf, sizeof(buf), "ok%s", why[0] ? " (why not empty)" : "");
	else
		snprintf(buf, sizeof(buf), "refused: %s", why);
	return buf;
}

/* Publishes the one range of n tickets from `from` as pending. */
static void pend1(struct trq *q, uint32_t from, uint32_t n)
{
	struct trq_reload_range r = {from, n};
	trq_reload_pending(q, &r, 1);
}

static void test_tickets(struct trq *q)
{
	uint32_t upto = 0, from, n;
	char why[256];
	int okv = -1;

	is_int(trq_reload_last(q, &okv, why, sizeof(why)), 0, "a new segment has no answer");
	is_int(okv, 0, "and its status says not applied");

	uint32_t t1 = trq_reload_ticket(q), t2 = trq_reload_ticket(q);
	is_int(t2, t1 + 1, "tickets count up");
	n = trq_reload_claim(q, &upto, &from);
	ok(from == t1 && n == 2 && upto == t2, "a claim takes both tickets (from %u, n %u)", from,
	   n);
	is_str(answer(q, t1), "none", "no answer before the reload ends");
	trq_reload_publish(q, from, n, 1, "ignored");
	trq_reload_claimed(q, upto);
	is_str(answer(q, t1), "ok", "first ticket: applied");
	is_str(answer(q, t2), "ok", "second ticket: applied");
	is_str(answer(q, t2 + 1), "none", "a later ticket has no answer yet");
	n = trq_reload_claim(q, &upto, &from);
	is_int(n, 0, "a SIGHUP sent by hand claims no ticket");
	trq_reload_publish(q, from, n, 1, "");
	is_str(answer(q, t2 + 1), "none", "and its answer covers none");

	/* A reload that converges slowly, a refused one while it does. */
	uint32_t ta = trq_reload_ticket(q);
	uint32_t fa, na = trq_reload_claim(q, &upto, &fa);
	pend1(q, fa, na);
	trq_reload_claimed(q, upto);
	uint32_t tb = trq_reload_ticket(q);
	uint32_t fb, nb = trq_reload_claim(q, &upto, &fb);
	trq_reload_publish(q, fb, nb, 0, "taskring.yaml:3:3: unknown key");
	trq_reload_claimed(q, upto);
	is_str(answer(q, tb), "refused: taskring.yaml:3:3: unknown key",
	       "the later request: refused");
	is_str(answer(q, ta), "none", "the earlier one: still waiting for its workers");
	/* Many refusals while it converges push the later one's answer out
	 * (31 answers between two of its client's looks). Its tickets are in
	 * none of the converging reload's ranges: lost, so its client asks
	 * again at once instead of waiting for that reload's end. */
	for (int i = 0; i < TRQ_RELOAD_ANS; i++)
		trq_reload_publish(q, upto + 1, 0, 0, "x");
	is_str(answer(q, tb), "lost", "an answer pushed out while a reload converges: lost");
	is_str(answer(q, ta), "none", "one the converging reload will answer: not yet");
	trq_reload_publish(q, fa, na, 1, "");
	trq_reload_pending(q, NULL, 0);
	is_str(answer(q, ta), "ok", "the earlier one: applied, answered after the later one");
	is_int(trq_reload_last(q, &okv, why, sizeof(why)), 4 + TRQ_RELOAD_ANS,
	       "%d answers published", 4 + TRQ_RELOAD_ANS);
	ok(okv == 1 && why[0] == 0, "the status shows the newest: applied");

	/* Kept: the last TRQ_RELOAD_ANS - 1 answers. */
	for (int i = 0; i < TRQ_RELOAD_ANS - 2; i++)
		trq_reload_publish(q, upto + 1, 0, 0, "x");
	is_str(answer(q, ta), "ok", "an answer followed by %d others is kept", TRQ_RELOAD_ANS - 2);
	trq_reload_publish(q, upto + 1, 0, 0, "x");
	is_str(answer(q, ta), "lost", "followed by %d others, it is gone (lost)",
	       TRQ_RELOAD_ANS - 1);
	is_int(trq_reload_last(q, &okv, why, sizeof(why)), 4 + 2 * TRQ_RELOAD_ANS - 1,
	       "the status counts them all");

	/* A ring that covers a ticket twice (damaged, forged): the older
	 * answer wins. */
	uint32_t tr = trq_reload_ticket(q);
	n = trq_reload_claim(q, &upto, &from);
	trq_reload_publish(q, from, n, 0, "bad file");
	trq_reload_publish(q, tr - 1, 3, 1, "");
	trq_reload_claimed(q, upto);
	is_str(answer(q, tr), "refused: bad file", "a ticket covered twice gets its first answer");
	is_str(why, "x", "and shows the newest reason");
}

static void test_damage_and_wrap(struct trq *q)
{
	struct trq_hdr *h = q->hdr;
	uint32_t upto, from, n, t;

	/* Tickets wrap around 2^32. */
	h->reload_asked = 0xfffffffeu;
	upto = 0xfffffffeu;
	uint32_t t1 = trq_reload_ticket(q), t2 = trq_reload_ticket(q);
	ok(t1 == 0xffffffffu && t2 == 0, "tickets wrap (%u, %u)", t1, t2);
	n = trq_reload_claim(q, &upto, &from);
	ok(from == t1 && n == 2, "a claim across the wrap takes both");
	trq_reload_publish(q, from, n, 0, "no");
	trq_reload_claimed(q, upto);
	ok(!strcmp(answer(q, t1), "refused: no") && !strcmp(answer(q, t2), "refused: no"),
	   "both are answered");
	is_str(answer(q, 1), "none", "the next ticket is not");
	is_str(answer(q, 0xfffffffeu), "lost", "the one before was claimed earlier: lost");

	/* Hostile bytes: an answer whose ok is neither 0 nor 1, an error with
	 * no NUL. */
	t = trq_reload_ticket(q);
	n = trq_reload_claim(q, &upto, &from);
	trq_reload_publish(q, from, n, 1, "");
	struct trq_reload_ans *a = &h->reload_ans[(h->reload_seq - 1) % TRQ_RELOAD_ANS];
	a->ok = 7;
	is_str(answer(q, t), "refused: the answer in the segment is damaged",
	       "an answer with ok 7 reads as a damaged refusal");
	a->ok = 0;
	memset(a->error, 'e', sizeof(a->error));
	const char *s = answer(q, t);
	ok(!strncmp(s, "refused: eee", 12) && strlen(s) == strlen("refused: ") + sizeof(a->error),
	   "an error with no NUL is cut at its field (%zu bytes)", strlen(s));
	h->reload_seq = 3; /* rewound */
	s = answer(q, t);
	ok(!strcmp(s, "none") || !strncmp(s, "refused", 7), "a rewound count: no crash (%s)", s);
	h->reload_seq = 0xffffffffu; /* garbage count */
	int okv;
	char why[8];
	trq_reload_last(q, &okv, why, sizeof(why));
	ok(strlen(why) < sizeof(why), "a garbage count: the status reason stays in its buffer");
	is_int(taskring_reload_ticket(NULL, &t), -EINVAL, "taskring_reload_ticket(NULL): -EINVAL");
	is_int(taskring_reload_outcome(NULL, t, &okv, why, sizeof(why)), -EINVAL,
	       "taskring_reload_outcome(NULL): -EINVAL");
}

/* The progress of a converging reload: reported for the tickets it answers
 * only, while it converges, and sanitized. */
static void test_roll(struct trq *q)
{
	uint32_t upto = q->hdr->reload_claimed, from, done = 9, total = 9;
	uint64_t by = 9, now = trq_now();
	struct taskring_reload_progress pr;

	/* No kept answers: the tests before wrapped the tickets around, and
	 * their answers cover numbers these tickets take again. */
	memset(q->hdr->reload_ans, 0, sizeof(q->hdr->reload_ans));
	q->hdr->reload_seq = 0;
	trq_reload_roll(q, 0, 0, 0);
	trq_reload_pending(q, NULL, 0);
	uint32_t t = trq_reload_ticket(q);
	is_int(trq_reload_roll_get(q, t, &done, &total, &by), -EAGAIN,
	       "no progress before the reload began");
	uint32_t n = trq_reload_claim(q, &upto, &from);
	pend1(q, from, n);
	trq_reload_claimed(q, upto);
	is_int(trq_reload_roll_get(q, t, &done, &total, &by), -EAGAIN,
	       "none while the supervisor published no roll yet");
	trq_reload_roll(q, 1, 3, now + 5000000000ull);
	is_int(trq_reload_roll_get(q, t, &done, &total, &by), 0, "its roll: reported");
	ok(done == 1 && total == 3 && by == now + 5000000000ull, "1 of 3, by now + 5 s");
	is_int(trq_reload_roll_get(q, t + 1, &done, &total, &by), -EAGAIN,
	       "not for a ticket its reload did not claim");
	is_int(trq_reload_roll_get(q, from - 1, &done, &total, &by), -EAGAIN,
	       "nor for one an earlier reload answered");
	/* through the library: left_ms counts down from the absolute end */
	taskring_t *h = NULL;
	if (taskring_attach(qt_instance, &h) == 0) {
		is_int(taskring_reload_progress(h, t, &pr), 0, "taskring_reload_progress: 0");
		ok(pr.done == 1 && pr.total == 3 && pr.left_ms > 4000 && pr.left_ms <= 5000,
		   "1 of 3, about 5000 ms left (%lld)", (long long)pr.left_ms);
		trq_reload_roll(q, 2, 3, now - 1000000000ull);
		is_int(taskring_reload_progress(h, t, &pr), 0,
		       "an end in the past: still reported");
		is_int(pr.left_ms, 0, "with 0 ms left");
		trq_reload_roll(q, 7, 3, UINT64_MAX);
		taskring_reload_progress(h, t, &pr);
		ok(pr.done == 3 && pr.total == 3, "done past total is cut to total");
		ok(pr.left_ms > 0 && pr.left_ms <= (int64_t)TRQ_WORKERS_MAX * 86410 * 1000,
		   "an end far away is cut to what a configuration can need (%lld ms)",
		   (long long)pr.left_ms);
		is_int(taskring_reload_progress(NULL, t, &pr), -EINVAL, "NULL handle: -EINVAL");
		is_int(taskring_reload_progress(h, t, NULL), -EINVAL, "NULL progress: -EINVAL");
		taskring_detach(h);
	} else {
		ok(0, "taskring_attach");
	}
	/* A second reload refused while the first converges: its ticket lies
	 * in the pending range, but it has its answer, and the roll is not its. */
	trq_reload_roll(q, 1, 3, now + 5000000000ull);
	uint32_t t2 = trq_reload_ticket(q), from2;
	uint32_t n2 = trq_reload_claim(q, &upto, &from2);
	trq_reload_publish(q, from2, n2, 0, "bad file");
	trq_reload_claimed(q, upto);
	is_int(trq_reload_roll_get(q, t2, &done, &total, &by), -EAGAIN,
	       "a reload refused while another converges: no progress (not the other's)");
	is_int(trq_reload_roll_get(q, t, &done, &total, &by), 0,
	       "while the converging one still reports its own");
	trq_reload_publish(q, from, n, 1, "");
	trq_reload_pending(q, NULL, 0);
	trq_reload_roll(q, 0, 0, 0);
	is_int(trq_reload_roll_get(q, t, &done, &total, &by), -EAGAIN, "none once answered");
}

/* Takes n tickets and claims them: the first in *from. */
static uint32_t take(struct trq *q, uint32_t *upto, uint32_t n, uint32_t *from)
{
	for (uint32_t i = 0; i < n; i++)
		trq_reload_ticket(q);
	return trq_reload_claim(q, upto, from);
}

/* A refusal between two files a converging reload takes, pushed out of the
 * ring by a flood of refusals: lost at once, during the roll and after it,
 * never pending and never that reload's answer. */
static void test_ranges(struct trq *q)
{
	struct trq_hdr *h = q->hdr;
	uint32_t upto = h->reload_claimed, done, total;
	uint64_t by;
	struct trq_reload_range r[TRQ_RELOAD_PEND + 1];

	memset(h->reload_ans, 0, sizeof(h->reload_ans));
	h->reload_seq = 0;
	trq_reload_pending(q, NULL, 0);
	/* A: taken, converging. */
	uint32_t fa, na = take(q, &upto, 2, &fa);
	r[0] = (struct trq_reload_range){fa, na};
	trq_reload_pending(q, r, 1);
	trq_reload_claimed(q, upto);
	trq_reload_roll(q, 0, 2, trq_now() + 60000000000ull);
	/* B: refused. */
	uint32_t fb, nb = take(q, &upto, 1, &fb);
	trq_reload_publish(q, fb, nb, 0, "b: bad");
	trq_reload_claimed(q, upto);
	/* C: taken too; it takes over A's tickets, not B's. */
	uint32_t fc, nc = take(q, &upto, 1, &fc);
	r[1] = (struct trq_reload_range){fc, nc};
	trq_reload_pending(q, r, 2);
	trq_reload_claimed(q, upto);
	is_str(answer(q, fb), "refused: b: bad", "B, refused between two taken files: refused");
	/* A flood of refusals, each of its own tickets. */
	uint32_t fz = 0;
	for (int i = 0; i < 2 * TRQ_RELOAD_ANS; i++) {
		uint32_t f, n = take(q, &upto, 1, &f);
		trq_reload_publish(q, f, n, 0, "flood");
		trq_reload_claimed(q, upto);
		fz = f;
	}
	is_str(answer(q, fb), "lost", "B pushed out by %d refusals during the roll: lost at once",
	       2 * TRQ_RELOAD_ANS);
	is_int(trq_reload_roll_get(q, fb, &done, &total, &by), -EAGAIN,
	       "and the roll is not reported to B's client");
	is_str(answer(q, fz), "refused: flood", "the last refusal: refused");
	ok(!strcmp(answer(q, fa), "none") && !strcmp(answer(q, fa + 1), "none") &&
	       !strcmp(answer(q, fc), "none"),
	   "A's and C's tickets: pending");
	is_int(trq_reload_roll_get(q, fc, &done, &total, &by), 0, "C's client sees the roll");
	is_str(answer(q, upto + 1), "none", "a ticket not claimed yet: not yet");

	/* Fallbacks: a daemon that publishes no ranges (layout 15 before
	 * them), a damaged count, a count held odd: every claimed ticket from
	 * the first pending one on may be pending, as before the ranges. */
	uint32_t nr = h->reload_pend_nr, gen = h->reload_pend_gen;
	h->reload_pend_nr = 0;
	is_str(answer(q, fb), "none", "no ranges published: B may be pending (the old answer)");
	is_str(answer(q, fa - 1), "lost", "and a ticket before the first pending one is lost");
	h->reload_pend_nr = 0xffffffffu;
	is_str(answer(q, fb), "none", "a damaged range count: the same");
	h->reload_pend_nr = nr;
	h->reload_pend_gen = gen | 1;
	is_str(answer(q, fb), "none", "ranges being rewritten for ever: the same, no hang");
	h->reload_pend_gen = gen + 2;
	h->reload_pend[0].n = 0xffffffffu; /* covers B and all but one ticket */
	is_str(answer(q, fb), "none", "a damaged range: a wait, no crash");
	h->reload_pend[0].n = na;
	is_str(answer(q, fb), "lost", "repaired: lost again");

	/* The roll ends: one answer per range, then none pending. */
	trq_reload_publish(q, fa, na, 1, "");
	trq_reload_publish(q, fc, nc, 1, "");
	trq_reload_claimed(q, upto);
	trq_reload_pending(q, NULL, 0);
	trq_reload_roll(q, 0, 0, 0);
	ok(!strcmp(answer(q, fa), "ok") && !strcmp(answer(q, fc), "ok"), "A and C: applied");
	is_str(answer(q, fb), "lost", "B, after the roll: still lost, not applied");

	/* Past TRQ_RELOAD_PEND ranges the supervisor drops the oldest: its
	 * tickets read as lost (their clients ask again), the others pending. */
	for (unsigned i = 0; i <= TRQ_RELOAD_PEND; i++) {
		uint32_t f, n = take(q, &upto, 1, &f);
		r[i] = (struct trq_reload_range){f, n};
		take(q, &upto, 1, &f); /* a refusal between */
		trq_reload_publish(q, f, 1, 0, "between");
	}
	trq_reload_pending(q, r + 1, TRQ_RELOAD_PEND);
	trq_reload_claimed(q, upto);
	for (int i = 0; i < TRQ_RELOAD_ANS; i++)
		trq_reload_publish(q, upto + 1, 0, 0, "x");
	is_str(answer(q, r[0].from), "lost", "the dropped range's ticket: lost");
	int pending = 1;
	for (unsigned i = 1; i <= TRQ_RELOAD_PEND; i++)
		pending &= !strcmp(answer(q, r[i].from), "none") &&
		           !strcmp(answer(q, r[i].from + 1), "lost");
	ok(pending, "the %u kept ranges: pending; the refusals between them: lost",
	   TRQ_RELOAD_PEND);
	trq_reload_pending(q, r, TRQ_RELOAD_PEND + 1);
	is_int(h->reload_pend_nr, TRQ_RELOAD_PEND, "too many ranges given: the newest are kept");
	is_str(answer(q, r[0].from), "lost", "the oldest one dropped");
	trq_reload_pending(q, NULL, 0);
	is_int(h->reload_pending, 0, "none pending at last");
}

/* A supervisor that publishes ranges is SIGKILLed while a reload converges;
 * one built before the ranges (same layout) adopts the segment: it never
 * clears them, and writes only reload_pend_from and reload_pending. Its
 * converging reload's tickets must read as pending (the old answer), not
 * as lost because the dead one's ranges do not hold them: a `taskring
 * reload` told "lost" sends SIGHUP again and again until its timeout. */
static void test_adopted_by_older(struct trq *q)
{
	struct trq_hdr *h = q->hdr;
	uint32_t upto = h->reload_claimed, done, total;
	uint64_t by, token = h->sup_token;

	memset(h->reload_ans, 0, sizeof(h->reload_ans));
	h->reload_seq = 0;
	trq_reload_pending(q, NULL, 0);
	/* The newer supervisor: A converges, then it is killed. */
	h->sup_token = 0x1111111122222222ull;
	uint32_t fa, na = take(q, &upto, 1, &fa);
	pend1(q, fa, na);
	trq_reload_claimed(q, upto);
	/* The older one adopts: a new token; at start pending 0 (its
	 * trq_reload_pending(q, 0, 0)); then B converges, from its first
	 * claimed ticket on (its reload_upto starts at 0: ticket 1). */
	h->sup_token = 0x3333333344444444ull;
	__atomic_store_n(&h->reload_pend_from, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&h->reload_pending, 0, __ATOMIC_RELEASE);
	uint32_t fb, nb = take(q, &upto, 1, &fb);
	(void)nb;
	__atomic_store_n(&h->reload_pend_from, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&h->reload_pending, 1, __ATOMIC_RELEASE);
	trq_reload_claimed(q, upto);
	trq_reload_roll(q, 0, 2, trq_now() + 60000000000ull);
	is_str(answer(q, fb), "none",
	       "an older daemon's converging reload: its ticket pending, not lost to the "
	       "ranges a killed newer one left");
	is_int(trq_reload_roll_get(q, fb, &done, &total, &by), 0, "and its roll is reported");
	/* The older daemon answers. */
	trq_reload_publish(q, 1, upto, 1, "");
	__atomic_store_n(&h->reload_pending, 0, __ATOMIC_RELEASE);
	trq_reload_roll(q, 0, 0, 0);
	is_str(answer(q, fb), "ok", "then applied");
	h->sup_token = token;
	trq_reload_pending(q, NULL, 0);
}

int main(void)
{
	struct trq q;

	qt_setup("reload", 30);
	int r = qt_create(&q, 16, 256, 256);
	if (r) {
		printf("Bail out! trq_create: %s\n", strerror(-r));
		return 1;
	}
	test_tickets(&q);
	test_roll(&q);
	test_ranges(&q);
	test_damage_and_wrap(&q);
	test_adopted_by_older(&q);
	trq_detach(&q);
	return tap_done();
}
