/*
 * test_stress.c - the judge of `taskring stress` (cli/stress_work.c) and its
 * log bookkeeping (cli/stress_log.c), without a daemon: expected results
 * against independently computed values, requests rebuilt from records, and
 * every verdict a final task can get - so the tool's checks are shown to
 * fail when they should. The end-to-end runs are in tests/integ/chaos-*.t.
 */
#include "../../cli/stress_work.c"
#include "../../cli/stress_log.c"

#include "tap.h"

/* A final task as the library would hand it back. */
static void mkinfo(struct taskring_info *i, const char *type, int state, const char *out, int argc,
                   char **argv)
{
	memset(i, 0, sizeof(*i));
	i->id = 42;
	snprintf(i->type, sizeof(i->type), "%s", type);
	i->state = state;
	i->output = (char *)out;
	i->output_len = strlen(out);
	i->argc = argc;
	i->argv = argv;
}

static int judge(const struct stress_ctx *x, const struct stress_rec *r, struct taskring_info *i,
                 char *note)
{
	return stress_judge(x, 1, 7, r, i, note, STRESS_NOTE_LEN);
}

int main(void)
{
	struct stress_opts o = {.mix = STRESS_MIX_CPU | STRESS_MIX_IO, .window = 8};
	struct stress_ctx x;
	struct stress_rec r;
	struct stress_req q;
	struct taskring_info info;
	char err[200], note[STRESS_NOTE_LEN], want[64];

	is_int(stress_crc32(0, "123456789", 9), 0xcbf43926u, "CRC-32 check value of '123456789'");
	ok(stress_ctx_init(&x, &o, "unit", err, sizeof(err)) == 0, "context without files");
	is_str(x.sqrt_want[4], "3464014.804952", "sqrt-sum 30000 expected (python: sum of sqrt)");
	is_str(x.square_want[5], "8999955000050000", "square-sum 300000 expected (python: exact)");
	is_str(x.square_want[0], "0", "square-sum 0 expected");

	/* echo: request and result are a function of the record. */
	memset(&r, 0, sizeof(r));
	r.kind = STRESS_ECHO;
	r.phase = SP_ACCEPTED;
	stress_build(&x, 1, 7, &r, &q);
	snprintf(want, sizeof(want), "s%08x c1 n7", x.nonce);
	is_str(q.type, "echo", "echo record builds an echo request");
	is_int(q.argc, 3, "with three words");
	char *words[4] = {(char *)q.argv[0], (char *)q.argv[1], (char *)q.argv[2], NULL};
	mkinfo(&info, "echo", TASKRING_DONE, want, 3, words);
	is_int(judge(&x, &r, &info, note), SV_OK, "the right echo result: ok");
	mkinfo(&info, "echo", TASKRING_DONE, "s0 c1 n8", 3, words);
	is_int(judge(&x, &r, &info, note), SV_WRONG, "another result: wrong");
	ok(strstr(note, "expected") != NULL, "the note says what was expected: %s", note);
	mkinfo(&info, "acho", TASKRING_DONE, want, 3, words);
	is_int(judge(&x, &r, &info, note), SV_BAD_INFO, "right result, other type: altered");
	char *other[4] = {words[0], words[1], "n9", NULL};
	mkinfo(&info, "echo", TASKRING_DONE, want, 3, other);
	is_int(judge(&x, &r, &info, note), SV_BAD_INFO, "right result, other words: altered");
	mkinfo(&info, "echo", TASKRING_FAILED, "worker 0 (pid 1) killed by signal 9 (SIGKILL)", 3,
	       words);
	is_int(judge(&x, &r, &info, note), SV_FAILED, "a healthy task that failed: flagged");
	mkinfo(&info, "echo", TASKRING_CANCELLED, "cancelled", 3, words);
	is_int(judge(&x, &r, &info, note), SV_FAILED, "cancelled though nobody asked: flagged");
	r.cancel = 1;
	is_int(judge(&x, &r, &info, note), SV_OK, "cancelled as asked: ok");

	/* sqrt-sum against the precomputed value. */
	memset(&r, 0, sizeof(r));
	r.kind = STRESS_SQRT;
	r.param = 4;
	stress_build(&x, 1, 7, &r, &q);
	is_str(q.argv[0], "30000", "sqrt-sum record 4 asks for N = 30000");
	char *sw[2] = {"30000", NULL};
	mkinfo(&info, "sqrt-sum", TASKRING_DONE, "3464014.804952", 1, sw);
	is_int(judge(&x, &r, &info, note), SV_OK, "sqrt-sum 30000 right");
	mkinfo(&info, "sqrt-sum", TASKRING_DONE, "3464014.804953", 1, sw);
	is_int(judge(&x, &r, &info, note), SV_WRONG, "one digit off: wrong");

	/* poison: failed naming a signal, or not. */
	memset(&r, 0, sizeof(r));
	r.kind = STRESS_POISON;
	stress_build(&x, 1, 7, &r, &q);
	is_str(q.type, "crash", "poison record builds a crash request");
	char *pw[2] = {"SIGSEGV", NULL};
	mkinfo(&info, "crash", TASKRING_FAILED,
	       "worker 1 (pid 99) killed by signal 11 (SIGSEGV) on attempt 1 of 1", 1, pw);
	is_int(judge(&x, &r, &info, note), SV_POISON_OK, "poison failed with a signal cause");
	mkinfo(&info, "crash", TASKRING_FAILED, "timed out after 1 s", 1, pw);
	is_int(judge(&x, &r, &info, note), SV_POISON_BAD, "poison failed without one: flagged");
	mkinfo(&info, "crash", TASKRING_DONE, "", 1, pw);
	is_int(judge(&x, &r, &info, note), SV_POISON_BAD, "poison done: flagged");

	/* The log: accepted means an id came back (or the library wrote one). */
	memset(&r, 0, sizeof(r));
	r.phase = SP_SUBMITTING;
	ok(!stress_accepted(&r, 0), "submitting without an id: in doubt, not accepted");
	ok(stress_accepted(&r, 17), "submitting with an id written: accepted");
	r.phase = SP_NOTSENT;
	ok(!stress_accepted(&r, 0), "refused: not accepted");
	r.phase = SP_READING;
	ok(stress_accepted(&r, 17), "being read: accepted");

	ok(stress_log_map(&x, 2, 1024) == 0, "shared log mapped");
	stress_log_ids(x.sh, 1)[1023] = 5;
	stress_log_recs(x.sh, 1)[1023].kind = STRESS_SLEEP;
	ok(stress_log_ids(x.sh, 0)[0] == 0 && stress_log_recs(x.sh, 0)[1023].kind == 0,
	   "client slots do not overlap");
	for (int i = 0; i < STRESS_NOTES + 3; i++)
		stress_note(x.sh, "note %d", i);
	is_int(x.sh->nnotes, STRESS_NOTES + 3, "notes counted");
	is_str(x.sh->notes[STRESS_NOTES - 1], "note 7", "the first ones kept");
	stress_deadline_check(x.sh, 1, "a call");
	is_int(x.sh->overruns, 1, "a call far past its deadline is counted");
	stress_deadline_check(x.sh, (uint64_t)1 << 62, "a call");
	is_int(x.sh->overruns, 1, "a call before its deadline is not");
	stress_log_unmap(&x);
	stress_ctx_cleanup(&x);
	return tap_done();
}
