/*
 * stress_report.c - the end of `taskring stress`: counting the clients' log
 * into totals, deciding which checks hold, and printing the table or the
 * JSON object.
 *
 * The tally reads only the log and the daemon's own counters; every number
 * in the report comes from a task the run submitted and judged, so a check
 * can fail. JSON shape (stable):
 *   {"instance", "duration_s", "targets": [...], "signal", "mix": [...],
 *    "clients", "submitted", "done", "failed", "cancelled", "lost",
 *    "wrong_results", "unexpected_failures", "executed_more_than_once",
 *    "repeated_ids": [...], "poison": {"submitted", "failed_with_signal",
 *    "bad"}, "kills": {"workers", "supervisor", "clients",
 *    "clients_holding_lock", "supervisor_with_tasks_queued",
 *    "tasks_queued_at_supervisor_kills"}, "worker_restarts", "queue_repairs",
 *    "replacement_ms": {"count", "p50", "p99", "max"} | null,
 *    "supervisor_restart_ms": {...} | null, "workers": {"configured",
 *    "ready"}, "deadline_overruns", "max_overrun_ms", "invariants": {"ok",
 *    "message"}, "processes": {"client_deaths_unexpected", "client_errors",
 *    "supervisor_deaths_unexpected", "supervisor_alive"}, "in_doubt":
 *    {"count", "found", "stuck"}, "refusals": {"full", "busy", "timeouts"},
 *    "notes": [...], "pass"}
 * plus "read_expired" (results read by a client killed right after; their
 * ids expired since) after "cancelled", and "altered_tasks" (the right
 * result, but the type or words read back differ) after "wrong_results".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "parse.h"
#include "stress_run.h"

static void add_state(struct stress_totals *t, int state)
{
	if (state == TASKRING_DONE)
		t->done++;
	else if (state == TASKRING_FAILED)
		t->failed++;
	else if (state == TASKRING_CANCELLED)
		t->cancelled++;
}

struct doubt_scan {
	struct stress_run *R;
	char tag[16];
	uint64_t *ids;
	size_t n, cap;
};

/* taskring_list callback: an echo task of this run that no log holds. */
static int doubt_visit(const struct taskring_info *info, void *ctx)
{
	struct doubt_scan *d = ctx;
	struct stress_shared *sh = d->R->x.sh;
	unsigned ci, idx;
	char end;

	if (strcmp(info->type, "echo") != 0 || info->argc != 3 || strcmp(info->argv[0], d->tag) ||
	    sscanf(info->argv[1], "c%u%c", &ci, &end) != 1 ||
	    sscanf(info->argv[2], "n%u%c", &idx, &end) != 1 || ci >= sh->nclients || idx >= sh->cap)
		return 0;
	const struct stress_rec *r = &stress_log_recs(sh, ci)[idx];
	if (r->phase != SP_SUBMITTING || stress_log_ids(sh, ci)[idx] != 0)
		return 0;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		uint64_t *v = realloc(d->ids, cap * sizeof(*v));
		if (!v)
			return 1;
		d->ids = v;
		d->cap = cap;
	}
	d->ids[d->n++] = info->id;
	return 0;
}

/* Looks for tasks a client submitted but was killed before it could log:
 * only echo tasks carry their record in their words. Each one found must
 * end final like any other. */
static void doubt_scan(struct stress_run *R)
{
	struct doubt_scan d = {.R = R};
	unsigned mask = 0;

	for (int s = TASKRING_QUEUED; s < TASKRING_NSTATES; s++)
		mask |= 1u << s;
	snprintf(d.tag, sizeof(d.tag), "s%08x", R->x.nonce);
	taskring_list(R->c->h, mask, doubt_visit, &d);
	R->t.in_doubt_found = d.n;
	for (size_t i = 0; i < d.n; i++) {
		struct taskring_info info;
		memset(&info, 0, sizeof(info));
		int r = taskring_wait(R->c->h, d.ids[i], 5000, &info);
		if (r == -ETIMEDOUT) {
			R->t.in_doubt_stuck++;
			stress_note(R->x.sh,
			            "task %llu, submitted by a client killed inside submit, "
			            "is not final",
			            (unsigned long long)d.ids[i]);
		}
		taskring_info_release(&info);
	}
	free(d.ids);
}

void stress_tally(struct stress_run *R)
{
	struct stress_shared *sh = R->x.sh;
	struct stress_totals *t = &R->t;

	for (unsigned ci = 0; ci < sh->nclients; ci++) {
		const struct stress_cslot *cs = &sh->c[ci];
		const uint64_t *ids = stress_log_ids(sh, ci);
		const struct stress_rec *recs = stress_log_recs(sh, ci);
		uint32_t next = cs->next < sh->cap ? cs->next : sh->cap;

		t->full += cs->full;
		t->busy += cs->busy;
		t->timeouts += cs->timeouts;
		for (uint32_t i = 0; i < next; i++) {
			const struct stress_rec *r = &recs[i];
			if (!stress_accepted(r, ids[i])) {
				t->in_doubt += r->phase == SP_SUBMITTING;
				continue;
			}
			t->submitted++;
			t->poison += r->kind == STRESS_POISON;
			if (r->phase != SP_SETTLED) {
				t->lost++;
				continue;
			}
			switch (r->verdict) {
			case SV_OK:
				add_state(t, r->state);
				break;
			case SV_WRONG:
				add_state(t, r->state);
				t->wrong++;
				break;
			case SV_BAD_INFO:
				add_state(t, r->state);
				t->bad_info++;
				break;
			case SV_FAILED:
				add_state(t, r->state);
				t->bad_failures++;
				break;
			case SV_POISON_OK:
				add_state(t, r->state);
				t->poison_ok++;
				break;
			case SV_POISON_BAD:
				add_state(t, r->state);
				t->poison_bad++;
				break;
			case SV_READ_EXPIRED:
				t->read_expired++;
				break;
			default:
				t->lost++;
				continue;
			}
			if (r->attempts > 1) {
				if (t->multi < sizeof(t->multi_ids) / sizeof(t->multi_ids[0]))
					t->multi_ids[t->multi] = ids[i];
				t->multi++;
			}
		}
	}
	if (t->in_doubt)
		doubt_scan(R);
}

int stress_passed(const struct stress_run *R)
{
	const struct stress_totals *t = &R->t;
	const struct stress_shared *sh = R->x.sh;
	uint64_t kills = R->kills_w + R->kills_s + R->kills_c;

	return !R->interrupted && t->lost == 0 && t->wrong == 0 && t->bad_info == 0 &&
	       t->bad_failures == 0 && t->poison_bad == 0 && t->configured > 0 &&
	       t->ready == t->configured && sh->overruns == 0 && t->invariants_ok &&
	       sh->errors == 0 && R->client_deaths_bad == 0 && R->sup_deaths_bad == 0 &&
	       !R->sup_fatal && t->sup_alive && R->unreplaced == 0 && t->in_doubt_stuck == 0 &&
	       (R->o.kill_max_ms == 0 || kills > 0);
}

static const char *targets_text(unsigned t, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s%s", t & STRESS_T_WORKERS ? "workers" : "",
	         (t & STRESS_T_WORKERS) && (t & ~STRESS_T_WORKERS) ? "," : "",
	         t & STRESS_T_SUPERVISOR ? "supervisor" : "",
	         (t & STRESS_T_SUPERVISOR) && (t & STRESS_T_CLIENTS) ? "," : "",
	         t & STRESS_T_CLIENTS ? "clients" : "");
	return buf;
}

static const char *mix_text(unsigned m, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s%s", m & STRESS_MIX_CPU ? "cpu" : "",
	         (m & STRESS_MIX_CPU) && (m & ~STRESS_MIX_CPU) ? "," : "",
	         m & STRESS_MIX_IO ? "io" : "",
	         (m & STRESS_MIX_IO) && (m & STRESS_MIX_POISON) ? "," : "",
	         m & STRESS_MIX_POISON ? "poison" : "");
	return buf;
}

static const char *sig_text(int sig, char *buf, size_t len)
{
	const char *n = cli_signal_name(sig);
	if (n)
		snprintf(buf, len, "SIG%s", n);
	else
		snprintf(buf, len, "signal %d", sig);
	return buf;
}

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

#define ROW(label, ...)                                                                            \
	do {                                                                                       \
		fprintf(f, "%28s ", label);                                                        \
		fprintf(f, __VA_ARGS__);                                                           \
		fputc('\n', f);                                                                    \
	} while (0)

static const char *okfail(int ok)
{
	return ok ? "ok" : "FAIL";
}

static void times_row(FILE *f, const char *label, const struct stress_times *tm, const char *what)
{
	struct stress_times *t = (struct stress_times *)tm; /* sorting in place is fine */
	if (!t->n) {
		ROW(label, "- (none measured)");
		return;
	}
	ROW(label, "p50 %.2f ms, p99 %.2f ms, max %.2f ms (%zu %s)", ms(stress_times_pct(t, 50)),
	    ms(stress_times_pct(t, 99)), ms(stress_times_pct(t, 100)), t->n, what);
}

void stress_print_table(const struct stress_run *R, FILE *f)
{
	const struct stress_totals *t = &R->t;
	const struct stress_shared *sh = R->x.sh;
	char tb[64], mb[32], sb[32];
	uint64_t kills = R->kills_w + R->kills_s + R->kills_c;
	double secs = (double)(R->t_stop - R->t0) / 1e9;

	fprintf(f, "taskring stress: instance %s, %.1f s, %u clients, mix %s\n", R->c->instance,
	        secs, R->o.clients, mix_text(R->o.mix, mb, sizeof(mb)));
	if (R->o.kill_max_ms)
		fprintf(f, "  killing %s with %s every %u-%u ms\n",
		        targets_text(R->o.targets, tb, sizeof(tb)),
		        sig_text(R->o.sig, sb, sizeof(sb)), R->o.kill_min_ms, R->o.kill_max_ms);
	else
		fprintf(f, "  killing nothing (--kill-every 0)\n");
	if (R->interrupted)
		fprintf(f, "  interrupted: the run was cut short\n");
	fputc('\n', f);
	ROW("tasks submitted", "%llu", (unsigned long long)t->submitted);
	ROW("done", "%llu", (unsigned long long)t->done);
	ROW("failed", "%llu  (%llu poison, %llu other)", (unsigned long long)t->failed,
	    (unsigned long long)t->poison_ok, (unsigned long long)(t->failed - t->poison_ok));
	ROW("cancelled", "%llu  (all asked for by the clients)", (unsigned long long)t->cancelled);
	if (t->read_expired)
		ROW("read, then expired", "%llu  (a reader was killed after reading the result)",
		    (unsigned long long)t->read_expired);
	ROW("lost", "%llu  %s", (unsigned long long)t->lost, okfail(t->lost == 0));
	ROW("wrong results", "%llu  %s", (unsigned long long)t->wrong, okfail(t->wrong == 0));
	if (t->bad_info)
		ROW("tasks read back altered", "%llu  FAIL  (right result, other type or words)",
		    (unsigned long long)t->bad_info);
	if (t->multi) {
		char ex[200] = "";
		size_t n = t->multi < 8 ? t->multi : 8, off = 0;
		for (size_t i = 0; i < n && off < sizeof(ex); i++)
			off += (size_t)snprintf(ex + off, sizeof(ex) - off, " %llu",
			                        (unsigned long long)t->multi_ids[i]);
		ROW("executed more than once", "%llu  (at-least-once; e.g.%s)",
		    (unsigned long long)t->multi, ex);
	} else {
		ROW("executed more than once", "0");
	}
	ROW("only poison tasks failed", "%s  %s  (%llu poison tasks, %llu failed naming a signal)",
	    t->bad_failures == 0 && t->poison_bad == 0 ? "yes" : "no",
	    okfail(t->bad_failures == 0 && t->poison_bad == 0), (unsigned long long)t->poison,
	    (unsigned long long)t->poison_ok);
	ROW("kills sent",
	    "%llu  (workers %llu, supervisor %llu, clients %llu, %llu of them seen "
	    "holding the queue lock)%s",
	    (unsigned long long)kills, (unsigned long long)R->kills_w,
	    (unsigned long long)R->kills_s, (unsigned long long)R->kills_c,
	    (unsigned long long)R->kills_c_lock,
	    R->o.kill_max_ms && !kills ? "  FAIL: nothing was killed" : "");
	ROW("worker restarts seen", "%llu", (unsigned long long)t->worker_restarts);
	ROW("queue rebuilds", "%llu  (after a lock holder died, an adoption, or damage)",
	    (unsigned long long)t->repairs);
	if (R->o.targets & STRESS_T_WORKERS)
		times_row(f, "kill -> replacement ready", &R->rep, "kills");
	if (R->o.targets & STRESS_T_SUPERVISOR) {
		times_row(f, "supervisor kill -> ready", &R->sup, "restarts");
		ROW("tasks in the queue at kills",
		    "%llu  (%llu of %llu supervisor kills found "
		    "tasks queued or running)",
		    (unsigned long long)R->sup_queued_sum, (unsigned long long)R->sup_kills_queued,
		    (unsigned long long)R->kills_s);
	}
	ROW("workers back to configured", "%u of %u  %s", t->ready, t->configured,
	    okfail(t->configured && t->ready == t->configured && R->unreplaced == 0));
	ROW("waits past deadline", "%llu  %s", (unsigned long long)sh->overruns,
	    okfail(sh->overruns == 0));
	ROW("segment invariants", "%s  %s%s%s", t->invariants_ok ? "pass" : "broken",
	    okfail(t->invariants_ok), t->invariants_ok ? "" : ": ", t->invariants_msg);
	ROW("processes",
	    "%s  (client deaths not ours %llu, client errors %llu, supervisor "
	    "deaths not ours %llu)",
	    okfail(R->client_deaths_bad == 0 && sh->errors == 0 && R->sup_deaths_bad == 0 &&
	           !R->sup_fatal && t->sup_alive),
	    (unsigned long long)R->client_deaths_bad, (unsigned long long)sh->errors,
	    (unsigned long long)R->sup_deaths_bad);
	if (t->in_doubt)
		ROW("in doubt",
		    "%llu  (clients killed inside submit; %llu found in the table, %llu "
		    "not final)  %s",
		    (unsigned long long)t->in_doubt, (unsigned long long)t->in_doubt_found,
		    (unsigned long long)t->in_doubt_stuck, okfail(t->in_doubt_stuck == 0));
	if (t->full || t->busy || t->timeouts)
		ROW("submits refused", "%llu table full, %llu lock busy (no-block), %llu timed out",
		    (unsigned long long)t->full, (unsigned long long)t->busy,
		    (unsigned long long)t->timeouts);
	if (sh->log_full)
		ROW("note", "%llu clients filled their log and stopped submitting early",
		    (unsigned long long)sh->log_full);
	ROW("result", "%s", stress_passed(R) ? "PASS" : "FAIL");
	uint32_t nn = sh->nnotes < STRESS_NOTES ? sh->nnotes : STRESS_NOTES;
	if (nn) {
		fprintf(f, "\nnotes%s:\n", sh->nnotes > nn ? " (the first ones)" : "");
		for (uint32_t i = 0; i < nn; i++)
			fprintf(f, "  %s\n", sh->notes[i]);
	}
}

static void json_times(FILE *f, const struct stress_times *tm)
{
	struct stress_times *t = (struct stress_times *)tm;
	if (!t->n) {
		fputs("null", f);
		return;
	}
	fprintf(f, "{\"count\":%zu,\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f}", t->n,
	        ms(stress_times_pct(t, 50)), ms(stress_times_pct(t, 99)),
	        ms(stress_times_pct(t, 100)));
}

static void json_u(FILE *f, int *first, const char *key, uint64_t v)
{
	json_key(f, first, key);
	json_write_u64(f, v);
}

void stress_print_json(const struct stress_run *R, FILE *f)
{
	const struct stress_totals *t = &R->t;
	const struct stress_shared *sh = R->x.sh;
	static const char *const tnames[] = {"workers", "supervisor", "clients"};
	static const char *const mnames[] = {"cpu", "io", "poison"};
	char sb[32];
	int first = 1, k;

	putc('{', f);
	json_key(f, &first, "instance");
	json_write_cstr(f, R->c->instance);
	json_key(f, &first, "duration_s");
	fprintf(f, "%.3f", (double)(R->t_stop - R->t0) / 1e9);
	json_key(f, &first, "targets");
	putc('[', f);
	k = 0;
	for (int i = 0; i < 3; i++)
		if (R->o.targets & (1u << i)) {
			fputs(k++ ? "," : "", f);
			json_write_cstr(f, tnames[i]);
		}
	putc(']', f);
	json_key(f, &first, "signal");
	json_write_cstr(f, sig_text(R->o.sig, sb, sizeof(sb)));
	json_key(f, &first, "mix");
	putc('[', f);
	k = 0;
	for (int i = 0; i < 3; i++)
		if (R->o.mix & (1u << i)) {
			fputs(k++ ? "," : "", f);
			json_write_cstr(f, mnames[i]);
		}
	putc(']', f);
	json_u(f, &first, "clients", R->o.clients);
	json_u(f, &first, "submitted", t->submitted);
	json_u(f, &first, "done", t->done);
	json_u(f, &first, "failed", t->failed);
	json_u(f, &first, "cancelled", t->cancelled);
	json_u(f, &first, "read_expired", t->read_expired);
	json_u(f, &first, "lost", t->lost);
	json_u(f, &first, "wrong_results", t->wrong);
	json_u(f, &first, "altered_tasks", t->bad_info);
	json_u(f, &first, "unexpected_failures", t->bad_failures);
	json_u(f, &first, "executed_more_than_once", t->multi);
	json_key(f, &first, "repeated_ids");
	putc('[', f);
	for (uint64_t i = 0; i < t->multi && i < 8; i++) {
		fputs(i ? "," : "", f);
		json_write_u64(f, t->multi_ids[i]);
	}
	putc(']', f);
	json_key(f, &first, "poison");
	fprintf(f, "{\"submitted\":%llu,\"failed_with_signal\":%llu,\"bad\":%llu}",
	        (unsigned long long)t->poison, (unsigned long long)t->poison_ok,
	        (unsigned long long)t->poison_bad);
	json_key(f, &first, "kills");
	fprintf(f,
	        "{\"workers\":%llu,\"supervisor\":%llu,\"clients\":%llu,"
	        "\"clients_holding_lock\":%llu,\"supervisor_with_tasks_queued\":%llu,"
	        "\"tasks_queued_at_supervisor_kills\":%llu}",
	        (unsigned long long)R->kills_w, (unsigned long long)R->kills_s,
	        (unsigned long long)R->kills_c, (unsigned long long)R->kills_c_lock,
	        (unsigned long long)R->sup_kills_queued, (unsigned long long)R->sup_queued_sum);
	json_u(f, &first, "worker_restarts", t->worker_restarts);
	json_u(f, &first, "queue_repairs", t->repairs);
	json_key(f, &first, "replacement_ms");
	json_times(f, &R->rep);
	json_key(f, &first, "supervisor_restart_ms");
	json_times(f, &R->sup);
	json_key(f, &first, "workers");
	fprintf(f, "{\"configured\":%u,\"ready\":%u}", t->configured, t->ready);
	json_u(f, &first, "deadline_overruns", sh->overruns);
	json_key(f, &first, "max_overrun_ms");
	fprintf(f, "%.3f", ms(sh->max_overrun_ns));
	json_key(f, &first, "invariants");
	fprintf(f, "{\"ok\":%s,\"message\":", t->invariants_ok ? "true" : "false");
	json_write_cstr(f, t->invariants_msg);
	putc('}', f);
	json_key(f, &first, "processes");
	fprintf(f,
	        "{\"client_deaths_unexpected\":%llu,\"client_errors\":%llu,"
	        "\"supervisor_deaths_unexpected\":%llu,\"supervisor_alive\":%s}",
	        (unsigned long long)R->client_deaths_bad, (unsigned long long)sh->errors,
	        (unsigned long long)R->sup_deaths_bad,
	        t->sup_alive && !R->sup_fatal ? "true" : "false");
	json_key(f, &first, "in_doubt");
	fprintf(f, "{\"count\":%llu,\"found\":%llu,\"stuck\":%llu}",
	        (unsigned long long)t->in_doubt, (unsigned long long)t->in_doubt_found,
	        (unsigned long long)t->in_doubt_stuck);
	json_key(f, &first, "refusals");
	fprintf(f, "{\"full\":%llu,\"busy\":%llu,\"timeouts\":%llu}", (unsigned long long)t->full,
	        (unsigned long long)t->busy, (unsigned long long)t->timeouts);
	json_key(f, &first, "notes");
	putc('[', f);
	for (uint32_t i = 0; i < sh->nnotes && i < STRESS_NOTES; i++) {
		fputs(i ? "," : "", f);
		json_write_cstr(f, sh->notes[i]);
	}
	putc(']', f);
	json_key(f, &first, "pass");
	fputs(stress_passed(R) ? "true" : "false", f);
	fputs("}\n", f);
}
