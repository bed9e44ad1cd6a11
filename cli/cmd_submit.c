/*
 * cmd_submit.c - `taskring submit`: queue one task, print its id, or with
 * --wait its result (exit status by the task's outcome).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "taskopts.h"

static const char submit_help[] =
    "usage: taskring submit [OPTIONS] TYPE [ARG...]\n"
    "       taskring submit exec [OPTIONS] -- PROGRAM [ARG...]\n"
    "\n"
    "Queues one task of TYPE with the argument words ARG... and prints its id.\n"
    "Options end at TYPE, so ARGs may start with '-'.\n"
    "\n"
    "Options:\n"
    "  -w, --wait             wait for the task and print its result instead of\n"
    "                         its id; exit 1 if it failed or was cancelled (its\n"
    "                         error on stderr); Ctrl-C or SIGTERM while waiting\n"
    "                         names the task, which goes on, and ends submit\n"
    "  -t, --timeout S        give up after S seconds (decimals allowed): waiting\n"
    "                         for a restarting daemon (exit 3), for a free slot\n"
    "                         and with --wait for the result (exit 4); the task\n"
    "                         itself is not cancelled\n"
    "  -a, --attempts N       run it at most N times if its worker dies (1-1000)\n"
    "                         (default: the daemon's tasks.max_attempts)\n"
    "  -r, --run-timeout S    stop it after S seconds of running, rounded up to\n"
    "                         whole seconds (default: tasks.run_timeout_s)\n"
    "  -n, --no-block         fail at once with exit 5 when the queue is full\n"
    "                         (and with exit 3 while the daemon restarts)\n"
    "  -d, --detach           keep no result: the slot is freed when it finishes\n"
    "  -c, --class cpu|io     run it as a cpu task (one at a time per worker) or an\n"
    "                         io task (many at once), where the type allows it\n"
    "  -i, --instance NAME    the daemon instance\n"
    "  -h, --help             show this help\n"
    "\n"
    "Examples:\n"
    "  taskring submit sqrt-sum 1000000\n"
    "  taskring submit --wait echo hello world\n"
    "  taskring submit exec --class io -- /usr/bin/sleep 1\n"
    "\n"
    "Exit status: 0 ok; 1 the task failed or was cancelled (--wait); 2 bad\n"
    "arguments or unknown type; 3 daemon not reachable; 4 timed out; 5 queue full.\n";

/* Submits the task of o, type and words into *id, waiting for a free slot
 * up to deadline (a cli_now_ms() value; < 0: for ever), not at all with
 * --no-block. A wait of CLI_FULL_SAY_MS for a slot is said once on stderr
 * (cli_full_stalled), as is a queue lock a stopped process holds
 * (cli_lock_stalled), then waited out to the deadline. Returns 0 or the
 * library's error (-ETIMEDOUT, -TASKRING_EFULL, ...). */
static int submit_slot(struct cli *c, const struct taskopts *o, const char *type, int nwords,
                       const char *const *words, int64_t deadline, uint64_t *id)
{
	struct taskring_opts lo;
	int64_t say_at = cli_now_ms() + CLI_FULL_SAY_MS;

	for (;;) {
		/* What is left of --timeout (after a wait for a restarting
		 * daemon, or for the slot so far): at least 1 ms, as 0 would
		 * mean --no-block. */
		int64_t left = cli_remaining_ms(deadline);
		int64_t slot = o->no_block ? 0 : left == 0 ? 1 : left;
		if (slot != 0 && !c->full_warned) { /* look again when it is time to say so */
			int64_t to_say = say_at - cli_now_ms();
			if (to_say < 1) /* past it: a held lock, not a full table */
				to_say = CLI_FULL_SAY_MS / 2;
			if (slot < 0 || slot > to_say)
				slot = to_say;
		}
		taskopts_lib(o, slot, &lo);
		int r = taskring_submit(c->h, type, nwords, words, &lo, id);
		if (slot == 0 || (r != -ETIMEDOUT && r != -TASKRING_ELOCKED))
			return r;
		if (deadline >= 0 && cli_remaining_ms(deadline) == 0)
			return r;
		if (r == -TASKRING_ELOCKED)
			cli_lock_stalled(c);
		else if (cli_now_ms() >= say_at)
			cli_full_stalled(c, "--timeout S or --no-block to give up");
	}
}

/* For an interrupt (SIGINT, SIGTERM) caught while waiting for task id:
 * says that the task is not cancelled and how to cancel it, then dies of
 * the signal, as map and cancel do (the shell sees 128 + its number).
 * Returns only when the signal does not kill (then the caller exits 1). */
static void submit_interrupted(struct cli *c, uint64_t id)
{
	struct taskring_info info = {0};
	unsigned long long n = (unsigned long long)id;
	int sig = cli_interrupted();
	char opt[64] = "";
	int r = taskring_get(c->h, id, &info);
	int state = r == 0 ? info.state : -1;

	taskring_info_release(&info);
	if (c->instance_opt || strcmp(c->instance, "default") != 0)
		snprintf(opt, sizeof(opt), "-i %s ", c->instance);
	if (r == 0 && (state == TASKRING_QUEUED || state == TASKRING_RUNNING))
		cli_err(c, "interrupted; task %llu %s (not cancelled: taskring %scancel %llu)", n,
		        state == TASKRING_QUEUED ? "is still queued" : "still runs", opt, n);
	else if (r < 0) /* a detached task that finished meanwhile, ... */
		cli_err(c, "interrupted; task %llu: %s", n, taskring_strerror(r));
	else /* finished meanwhile: its result is still unread */
		cli_err(c, "interrupted; task %llu has finished (its result: taskring %swait %llu)",
		        n, opt, n);
	cli_interrupt_reset();
	fflush(stdout);
	fflush(stderr);
	raise(sig);
}

static int submit_run(struct cli *c, int argc, char **argv)
{
	struct taskopts o;
	struct taskring_info info = {0};
	const char *type;
	const char *const *words;
	uint64_t id;
	int64_t deadline;
	int first, nwords, st, r;

	st = taskopts_parse(c, argc, argv, 1, &o, &type, &first);
	if (st != CLI_CONTINUE)
		return st;
	words = (const char *const *)argv + first;
	nwords = argc - first;

	deadline = o.timeout_ms >= 0 ? cli_now_ms() + o.timeout_ms : -1;
	if (o.no_block || deadline >= 0) /* not past them for a restarting daemon */
		c->attach_by = o.no_block ? cli_now_ms() : deadline;
	st = cli_attach(c, 1);
	if (st != CLI_OK)
		return st;
	r = submit_slot(c, &o, type, nwords, words, deadline, &id);
	if (r < 0)
		return cli_submit_error(c, r, type, nwords, words);
	if (!o.wait) {
		printf("%" PRIu64 "\n", id);
		return CLI_OK;
	}
	/* Ctrl-C or SIGTERM while waiting: the task goes on, so say which. */
	cli_interrupt_install();
	r = cli_wait_task(c, id, deadline, &info);
	if (r == -EINTR)
		submit_interrupted(c, id);
	cli_interrupt_reset();
	if (r < 0)
		return cli_task_error(c, id, r);
	st = cli_report_final(c, &info, 0);
	taskring_info_release(&info);
	return st;
}

const struct cli_cmd cmd_submit = {
    .name = "submit",
    .run = submit_run,
    .summary = "queue a task; print its id, or its result with --wait",
    .help = submit_help,
};
