/*
 * cmd_cancel.c - `taskring cancel`: cancel tasks. A queued task is cancelled
 * at once; a running one is marked, and its cpu worker stopped (io and exec
 * tasks are ended by their worker); the command then waits to see that it
 * ended cancelled, as a task may finish first. With --queued, every queued
 * task (of one type) at once, in one pass of the library.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cli.h"

static const char cancel_help[] =
    "usage: taskring cancel [--timeout S] ID...\n"
    "       taskring cancel --queued (--type TYPE | --all)\n"
    "\n"
    "Cancels each task. A queued task becomes cancelled at once. A running cpu\n"
    "task has its worker stopped by the daemon (and replaced); a running io task\n"
    "is ended by its worker, and an exec task's process group is killed (the\n"
    "worker goes on in both cases). For a running task, cancel waits (up to\n"
    "10 s, or --timeout) to see how it ended: one that finished before it\n"
    "could be stopped keeps its result and is reported. A task its worker\n"
    "took with others and has not started ends cancelled when its turn comes.\n"
    "A task seen cancelled counts as read: its slot may be reused at once\n"
    "(oldest first; show finds it until then). Prints nothing on success.\n"
    "\n"
    "With --queued, cancels the tasks still queued, of type TYPE or, with\n"
    "--all, of every type (one of the two must be given), at once, in one\n"
    "pass: the others keep their order, clients waiting for them see them\n"
    "cancelled, and their slots may be reused at once. Running tasks are left\n"
    "alone, and so are the quick tasks (up to 64) a worker took together with\n"
    "the one it runs: they end within microseconds. A worker hands the tasks\n"
    "it has not started back to the queue before a task that is not known to\n"
    "be quick starts, so none waits in a worker behind a long task. Prints\n"
    "how many it cancelled. Tasks submitted meanwhile may or may not be among\n"
    "them.\n"
    "\n"
    "Options:\n"
    "  -t, --timeout S      wait at most S seconds in all for running tasks to\n"
    "                       end (decimals allowed; default 10; 0: look once,\n"
    "                       a running task then gives exit status 4): an exec\n"
    "                       program that ignores SIGTERM ends only after the\n"
    "                       daemon's tasks.kill_grace_ms\n"
    "  -q, --queued         cancel queued tasks (of --type, or --all) instead of IDs\n"
    "  -T, --type TYPE      with --queued: the tasks of this type\n"
    "  -a, --all            with --queued: the tasks of every type\n"
    "  -i, --instance NAME  the daemon instance\n"
    "  -h, --help           show this help\n"
    "\n"
    "Exit status: 0 all cancelled; 1 a task was already finished, finished\n"
    "before it could be stopped, does not exist or expired; 2 bad arguments\n"
    "(or a TYPE that no queued task has and the daemon does not know);\n"
    "3 daemon not reachable; 4 a running task had not ended in time (the cancel\n"
    "stays recorded).\n";

#define CANCEL_WAIT_MS 10000 /* default: how long a running task may take to end */

/* Waits for a task whose cancel was accepted to end. Returns CLI_OK when it
 * ended cancelled (and marks it read, freeing its slot for reuse), else
 * says how it ended (done or failed first, still running: its result is not
 * marked read) and returns the status. */
static int cancel_outcome(struct cli *c, uint64_t id, int64_t deadline, int64_t wait_ms)
{
	unsigned long long shown = (unsigned long long)id;
	struct timespec nap = {0, 1000000};

	for (;;) {
		struct taskring_info info;
		int r = taskring_get(c->h, id, &info);
		if (r == -TASKRING_EEXPIRED || r == -ENOENT)
			return CLI_OK; /* ended and its slot reused: nothing left to say */
		if (r < 0)
			return cli_task_error(c, id, r);
		int state = info.state;
		taskring_info_release(&info);
		if (state == TASKRING_CANCELLED) {
			/* Nobody wants its "result": marked read, its slot
			 * can be reused (oldest first) instead of being kept
			 * for result_ttl, while show still finds it. */
			(void)taskring_wait(c->h, id, 0, NULL);
			return CLI_OK;
		}
		if (state == TASKRING_DONE || state == TASKRING_FAILED) {
			cli_err(c, "task %llu %s before it could be stopped", shown,
			        state == TASKRING_DONE ? "finished (done)" : "failed");
			return CLI_FAILED;
		}
		if (cli_interrupted()) {
			int sig = cli_interrupted();
			cli_interrupt_reset();
			raise(sig); /* the cancel is recorded; we were only watching */
		}
		if (!taskring_daemon_alive(c->h))
			return CLI_OK; /* the next daemon ends it cancelled when it adopts it */
		if (cli_now_ms() >= deadline) {
			cli_err(c, "task %llu: cancel recorded; still %s after %.3g s", shown,
			        taskring_state_name(state), (double)wait_ms / 1000.0);
			return CLI_TIMEOUT;
		}
		nanosleep(&nap, NULL);
		if (nap.tv_nsec < 50000000)
			nap.tv_nsec *= 2;
	}
}

/* cancel --queued (--type TYPE | --all): prints how many were cancelled. */
static int cancel_queued(struct cli *c, const char *type)
{
	int st = cli_attach(c, 0);
	if (st != CLI_OK)
		return st;
	uint64_t n = 0;
	int r = taskring_cancel_queued(c->h, type, &n);
	if (!r || n) /* also the count of a pass that failed part of the way */
		printf("%llu\n", (unsigned long long)n);
	if (r == -TASKRING_EBADTYPE)
		cli_err(c,
		        "unknown task type '%.40s': instance '%s' does not know it and no "
		        "queued task has it",
		        type, c->instance);
	else if (r == -TASKRING_ELOCKED)
		cli_lock_error(c, "", r);
	else if (r)
		cli_err(c, "cancelling the queued tasks of instance '%s': %s", c->instance,
		        taskring_strerror(r));
	return cli_status_of(r);
}

static int cancel_run(struct cli *c, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"queued", no_argument, NULL, 'q'},
	    {"type", required_argument, NULL, 'T'},
	    {"all", no_argument, NULL, 'a'},
	    {"timeout", required_argument, NULL, 't'},
	    {"instance", required_argument, NULL, 'i'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	uint64_t *ids;
	int n, st, worst = CLI_OK, queued = 0, timed = 0, all = 0;
	int64_t wait_ms = CANCEL_WAIT_MS;
	const char *type = NULL;

	for (;;) {
		const char *tok = cli_opt_token(argc, argv);
		int opt = getopt_long(argc, argv, ":qT:at:i:h", longopts, NULL);
		if (opt == -1)
			break;
		if (opt == 't') {
			timed = 1;
			st = cli_opt_duration(c, "--timeout", optarg, &wait_ms);
		} else if (opt == 'q' || opt == 'a') {
			*(opt == 'q' ? &queued : &all) = 1;
			st = CLI_CONTINUE;
		} else if (opt == 'T') {
			type = optarg;
			st = *type ? CLI_CONTINUE : cli_usage(c, "--type: empty value");
		} else {
			st = cli_common_opt(c, opt, tok, longopts);
		}
		if (st != CLI_CONTINUE)
			return st;
	}
	n = argc - optind;
	if ((type || all) && !queued)
		return cli_usage(c, "--%s goes with --queued (cancel by ID takes no type)",
		                 type ? "type" : "all");
	if (queued && !type == !all)
		return cli_usage(
		    c, type ? "--queued: --type or --all, not both"
		            : "--queued: name the tasks' --type, or --all for every type");
	if (queued && n > 0)
		return cli_usage(c, "--queued takes no ID ('%.40s')", argv[optind]);
	if (queued && timed)
		return cli_usage(c, "--timeout goes with IDs (--queued does not wait)");
	if (queued)
		return cancel_queued(c, type);
	st = cli_ids_attach(c, n, argv + optind, "to cancel", &ids);
	if (st != CLI_OK)
		return st;
	char *asked = calloc((size_t)n + 1, 1);
	if (!asked) {
		free(ids);
		cli_err(c, "out of memory");
		return CLI_FAILED;
	}
	for (int i = 0; i < n; i++) {
		int r = taskring_cancel(c->h, ids[i]);
		if (r < 0) {
			st = cli_task_error(c, ids[i], r);
			worst = st > worst ? st : worst;
		}
		asked[i] = r == 0;
	}
	/* A running task may still finish before its worker is stopped. */
	int64_t deadline = cli_now_ms() + wait_ms;
	cli_interrupt_install();
	for (int i = 0; i < n; i++) {
		if (!asked[i])
			continue;
		st = cancel_outcome(c, ids[i], deadline, wait_ms);
		worst = st > worst ? st : worst;
	}
	cli_interrupt_reset();
	free(asked);
	free(ids);
	return worst;
}

const struct cli_cmd cmd_cancel = {
    .name = "cancel",
    .run = cancel_run,
    .summary = "cancel tasks",
    .help = cancel_help,
};
