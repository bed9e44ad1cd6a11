/*
 * cmd_map.c - `taskring map`: one task per argument (or per line of
 * standard input), results printed in order, one line each - Pool.map for
 * the shell.
 *
 * Tasks are submitted in batches (one lock acquisition per batch) without
 * blocking while some of our own tasks are still outstanding: when the table
 * is full, the oldest of ours is collected (which frees its slot) before
 * submitting more, so a map larger than the task table never waits on
 * itself; only when the table is full of other clients' tasks does it block,
 * for one slot at a time. Results are collected oldest first, which is also output order,
 * so each line is printed as soon as it is known.
 *
 * On timeout, interrupt (SIGINT/SIGTERM), a closed output pipe (SIGPIPE,
 * or EPIPE when it is ignored) or a submit error, the tasks not yet
 * finished are cancelled and collected, so a map that gives up leaves
 * nothing behind.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "parse.h"
#include "progress.h"
#include "taskopts.h"

#define MAP_BATCH      256  /* tasks per submit call */
#define MAP_COLLECT    64   /* results collected after a full table before retrying */
#define MAP_SLICE      500  /* ms a blocking submit waits before looking around */
#define MAP_ABANDON_MS 1000 /* ms a map that gives up waits for its cancelled tasks */

static const char map_help[] =
    "usage: taskring map [OPTIONS] TYPE ARG...\n"
    "       taskring map [OPTIONS] TYPE -\n"
    "       taskring map exec [OPTIONS] -- PROGRAM ARG...|-\n"
    "\n"
    "Submits one task of TYPE per ARG (the ARG is its one argument word), or with\n"
    "'-' one task per line of standard input (the line's words are its\n"
    "arguments), waits for all and prints the results in the same order, one\n"
    "line per task. A task that failed or was cancelled gets an empty line and\n"
    "its error on stderr. For exec, each task runs PROGRAM with the ARG (or the\n"
    "line's words) as its arguments.\n"
    "\n"
    "On a terminal a progress bar (done/total, rate, ETA) is drawn on stderr.\n"
    "\n"
    "Options:\n"
    "  -t, --timeout S        give up after S seconds in all (exit 4; exit 3 while\n"
    "                         still waiting for a restarting daemon); the tasks\n"
    "                         not finished by then are cancelled\n"
    "  -a, --attempts N       run each task at most N times if its worker dies\n"
    "                         (1-1000)\n"
    "  -r, --run-timeout S    stop a task after S seconds of running\n"
    "  -c, --class cpu|io     the class of every task, where the type allows it\n"
    "  -i, --instance NAME    the daemon instance\n"
    "  -h, --help             show this help\n"
    "\n"
    "Examples:\n"
    "  taskring map sqrt-sum 1000 2000 3000\n"
    "  seq 1 100 | taskring map square-sum -\n"
    "\n"
    "Exit status: 0 all done; 1 a task failed or was cancelled; 2 bad arguments\n"
    "or unknown type; 3 daemon not reachable; 4 timed out. With several problems,\n"
    "the highest status.\n";

struct map_job {
	size_t n;                  /* tasks */
	struct taskring_req *reqs; /* n requests */
	uint64_t *ids;             /* n ids, as submitted */
	const char **words;        /* argument mode: all words */
	char **lines;              /* stdin mode: the lines read */
	const char ***line_words;  /* stdin mode: each line's words */
	size_t nlines;
};

static void map_job_free(struct map_job *m)
{
	for (size_t i = 0; i < m->nlines; i++) {
		free(m->lines[i]);
		free(m->line_words[i]);
	}
	free(m->lines);
	free(m->line_words);
	free(m->words);
	free(m->reqs);
	free(m->ids);
	memset(m, 0, sizeof(*m));
}

/* One task per ARG: words are the prefix (exec: the program) plus the ARG. */
static int map_from_args(struct map_job *m, const char *type, int npfx, char **pfx, int nargs,
                         char **args)
{
	size_t per = (size_t)npfx + 1;

	m->n = (size_t)nargs;
	m->reqs = calloc(m->n, sizeof(*m->reqs));
	m->ids = calloc(m->n, sizeof(*m->ids));
	m->words = calloc(m->n * per, sizeof(*m->words));
	if (!m->reqs || !m->ids || !m->words)
		return -ENOMEM;
	for (size_t i = 0; i < m->n; i++) {
		const char **w = m->words + i * per;
		for (int k = 0; k < npfx; k++)
			w[k] = pfx[k];
		w[npfx] = args[i];
		m->reqs[i] = (struct taskring_req){.type = type, .argc = (int)per, .argv = w};
	}
	return 0;
}

/* One task per line of stdin. Returns 0, -ENOMEM, -EIO, or -EINVAL with the
 * number of the line holding a NUL byte in *bad_line. */
static int map_from_stdin(struct map_job *m, const char *type, int npfx, char **pfx,
                          size_t *bad_line)
{
	size_t cap = 0;
	char *line = NULL;
	size_t linecap = 0;
	ssize_t len;

	while ((len = getline(&line, &linecap, stdin)) >= 0) {
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (m->nlines == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			char **nl = realloc(m->lines, ncap * sizeof(*nl));
			if (nl)
				m->lines = nl;
			const char ***nw = realloc(m->line_words, ncap * sizeof(*nw));
			if (nw)
				m->line_words = nw;
			if (!nl || !nw) {
				free(line);
				return -ENOMEM;
			}
			cap = ncap;
		}
		size_t max = (size_t)len / 2 + 1;
		const char **w = calloc((size_t)npfx + max + 1, sizeof(*w));
		if (!w) {
			free(line);
			return -ENOMEM;
		}
		for (int k = 0; k < npfx; k++)
			w[k] = pfx[k];
		int nw = cli_split_words(line, (size_t)len, (char **)w + npfx, (int)max);
		if (nw < 0) {
			free(w);
			free(line);
			*bad_line = m->nlines + 1;
			return -EINVAL;
		}
		m->lines[m->nlines] = line;
		m->line_words[m->nlines] = w;
		m->nlines++;
		line = NULL;
		linecap = 0;
		w[npfx + nw] = NULL; /* argc is counted from this below */
	}
	free(line);
	if (ferror(stdin))
		return -EIO;
	m->n = m->nlines;
	m->reqs = calloc(m->n ? m->n : 1, sizeof(*m->reqs));
	m->ids = calloc(m->n ? m->n : 1, sizeof(*m->ids));
	if (!m->reqs || !m->ids)
		return -ENOMEM;
	for (size_t i = 0; i < m->n; i++) {
		int argc = 0;
		while (m->line_words[i][argc])
			argc++;
		m->reqs[i] =
		    (struct taskring_req){.type = type, .argc = argc, .argv = m->line_words[i]};
	}
	return 0;
}

/* Cancels our tasks that are not finished and collects the finished ones,
 * so their slots come free. Returns how many were cancelled, and sets
 * *ended to how many had finished already (not printed: results go out in
 * order). Stops at a queue lock that stays held (each call would wait its
 * 10 s for it): the tasks left then run and their results expire after
 * result_ttl. */
static size_t map_abandon(struct cli *c, const uint64_t *ids, size_t n, size_t *ended)
{
	size_t cancelled = 0;

	*ended = 0;
	/* Newest first: a queued task is cancelled before a worker that just
	 * dropped an older one can start it (a running one is cancelled only
	 * once its worker stops it, later). */
	for (size_t i = n; i-- > 0;) {
		int r = taskring_cancel(c->h, ids[i]);
		if (r == -TASKRING_ELOCKED) {
			char what[64];
			snprintf(what, sizeof(what), "could not cancel %zu tasks: ", i + 1);
			cli_lock_error(c, what, r);
			return cancelled;
		}
		cancelled += r == 0;
		*ended += r == -TASKRING_EFINAL;
	}
	/* Collect them, so their slots come free now rather than after
	 * result_ttl: a running task needs its worker to notice the cancel. */
	int64_t end = cli_now_ms() + MAP_ABANDON_MS;
	for (size_t i = 0; i < n; i++)
		if (taskring_wait(c->h, ids[i], cli_remaining_ms(end), NULL) == -TASKRING_ELOCKED)
			break;
	return cancelled;
}

static int map_loop(struct cli *c, struct map_job *m, const struct taskopts *o)
{
	struct progress p;
	struct taskring_opts lo;
	int64_t deadline = o->timeout_ms >= 0 ? cli_now_ms() + o->timeout_ms : -1;
	size_t sub = 0, got = 0, owed = 0;
	int worst = CLI_OK, fail = 0, wait_slot = 0, st, r;
	int slot_full = 0;      /* wait_slot, for a full table (not a held lock) */
	int64_t slot_since = 0; /* cli_now_ms() when that wait began */
	int out_tty = isatty(STDOUT_FILENO);

	progress_init(&p, stderr, m->n, isatty(STDERR_FILENO));
	progress_update(&p, 0, cli_now_ms(), 1);
	cli_interrupt_install();
	/* Waits also end when stdout's reader has gone (map | head -1):
	 * the tasks left are cancelled now, not after the next one finishes. */
	c->out_watch = 1;
	while (got < m->n) {
		if (cli_interrupted()) {
			fail = -EINTR;
			break;
		}
		if (ferror(stdout)) { /* a closed pipe with SIGPIPE ignored, a full disk */
			fail = -EPIPE;
			break;
		}
		if (wait_slot && cli_output_gone()) { /* as in cli_wait_task() */
			fail = cli_output_lost();
			break;
		}
		if (sub < m->n && owed == 0) {
			size_t k = m->n - sub < MAP_BATCH ? m->n - sub : MAP_BATCH;
			int64_t slot_ms = 0;
			if (wait_slot) {
				/* The table is full of others' tasks and nothing of ours is
				 * left to collect: block, but for one task only, as a blocking
				 * batch would wait until the whole batch fits. */
				k = 1;
				slot_ms = cli_remaining_ms(deadline);
				if (slot_ms < 0 || slot_ms > MAP_SLICE)
					slot_ms = MAP_SLICE;
			}
			taskopts_lib(o, slot_ms, &lo);
			r = taskring_submit_batch(c->h, k, m->reqs + sub, &lo, m->ids + sub);
			if (r > 0) {
				wait_slot = 0;
				slot_full = 0;
				sub += (size_t)r;
				if ((size_t)r < k) /* full, or an error at the next one */
					owed = sub - got < MAP_COLLECT ? sub - got : MAP_COLLECT;
				continue;
			}
			if (r == -TASKRING_EFULL && sub > got) {
				owed = sub - got < MAP_COLLECT ? sub - got : MAP_COLLECT;
			} else if ((r == -TASKRING_EFULL || r == -ETIMEDOUT ||
			            r == -TASKRING_ELOCKED) &&
			           sub == got) {
				/* A full table, or a lock a stopped process holds: wait on,
				 * in slices, to the deadline, saying so once. */
				int64_t now = cli_now_ms();
				if (!wait_slot || !slot_full)
					slot_since = now;
				wait_slot = 1;
				slot_full = r != -TASKRING_ELOCKED;
				if (r == -TASKRING_ELOCKED) {
					cli_lock_stalled(c);
				} else if (now - slot_since >= CLI_FULL_SAY_MS && !c->full_warned) {
					progress_clear(&p);
					cli_full_stalled(c, "--timeout S to give up");
				}
				if (deadline >= 0 && cli_remaining_ms(deadline) == 0) {
					fail = r == -TASKRING_ELOCKED ? r : -ETIMEDOUT;
					break;
				}
				if (cli_daemon_gone(c)) {
					fail = -TASKRING_ENODAEMON;
					break;
				}
				continue;
			} else {
				progress_clear(&p);
				st = cli_submit_error(c, r, m->reqs[sub].type, m->reqs[sub].argc,
				                      m->reqs[sub].argv);
				if (m->n > 1)
					cli_err(c, "task %zu of %zu could not be submitted",
					        sub + 1, m->n);
				fail = 1;
				worst = st > worst ? st : worst;
				break;
			}
		}

		struct taskring_info info = {0};
		/* Lines go out as soon as the next one is not ready: a reader
		 * at the other end of a pipe sees results as they come, and a
		 * closed pipe is noticed (SIGPIPE, or EPIPE) while tasks run. */
		r = taskring_wait(c->h, m->ids[got], 0, &info);
		if (r == -ETIMEDOUT || r == -TASKRING_ELOCKED || r == -EINTR) {
			fflush(stdout);
			r = cli_wait_task(c, m->ids[got], deadline, &info);
		}
		if (r == -ETIMEDOUT || r == -EINTR || r == -EPIPE || r == -TASKRING_ENODAEMON ||
		    r == -TASKRING_ELOCKED) {
			fail = r;
			break;
		}
		if (out_tty || r < 0 || info.state != TASKRING_DONE)
			progress_clear(&p);
		if (r == 0) {
			st = cli_report_final(c, &info, 1);
			taskring_info_release(&info);
		} else {
			putchar('\n');
			fflush(stdout);
			st = cli_task_error(c, m->ids[got], r);
		}
		worst = st > worst ? st : worst;
		got++;
		if (owed)
			owed--;
		progress_update(&p, got, cli_now_ms(), got == m->n);
	}
	c->out_watch = 0;
	progress_clear(&p);
	fflush(stdout);
	if (fail) {
		size_t left = sub - got;
		size_t ended;
		size_t cancelled = map_abandon(c, m->ids + got, left, &ended);
		int sig = cli_interrupted();
		/* The rest, so that the counts add up: finished after the one it
		 * gave up on (not printed: results go in order), never submitted. */
		char fin[160] = "";
		int fl = 0;
		if (ended)
			fl = snprintf(fin, sizeof(fin),
			              "; %zu more finished, not printed (results go in order)",
			              ended);
		if (sub < m->n && fl >= 0 && (size_t)fl < sizeof(fin))
			snprintf(fin + fl, sizeof(fin) - (size_t)fl, "; %zu not submitted",
			         m->n - sub);
		/* Given up while waiting for a slot in a table full of others'
		 * tasks: all of ours were collected (sub == got), the rest could
		 * not even be submitted. */
		char unsub[160] = "";
		if (wait_slot && slot_full && sub < m->n) {
			int n = snprintf(unsub, sizeof(unsub),
			                 "%zu of %zu tasks not submitted (the task table is full)",
			                 m->n - sub, m->n);
			if (got && n > 0 && (size_t)n < sizeof(unsub))
				snprintf(unsub + n, sizeof(unsub) - (size_t)n,
				         "; the other %zu finished", got);
		}
		switch (fail) {
		case -ETIMEDOUT:
			if (unsub[0]) {
				cli_err(c, "timed out: %s", unsub);
				worst = CLI_TIMEOUT;
				break;
			}
			/* fall through */
		case -TASKRING_ELOCKED:
			cli_err(
			    c, "timed out%s with %zu of %zu tasks done; cancelled %zu unfinished%s",
			    fail == -ETIMEDOUT ? "" : " waiting for the queue lock", got, m->n,
			    cancelled, fin);
			worst = CLI_TIMEOUT;
			break;
		case -TASKRING_ENODAEMON:
			cli_err(c,
			        "the daemon of instance '%s' stopped with %zu of %zu tasks done; "
			        "cancelled %zu unfinished%s",
			        c->instance, got, m->n, cancelled, fin);
			worst = CLI_NODAEMON;
			break;
		case -EINTR:
			/* Nobody reads a closed pipe's reader's complaint: die of
			 * SIGPIPE silently, as other tools do. */
			if (sig != SIGPIPE && unsub[0])
				cli_err(c, "interrupted: %s", unsub);
			else if (sig != SIGPIPE)
				cli_err(c,
				        "interrupted with %zu of %zu tasks done; cancelled %zu "
				        "unfinished%s",
				        got, m->n, cancelled, fin);
			cli_interrupt_reset();
			fflush(stderr);
			raise(sig);
			worst = CLI_FAILED;
			break;
		case -EPIPE:
			cli_err(c,
			        "writing the results: standard output failed with %zu of %zu tasks "
			        "done; cancelled %zu unfinished%s",
			        got, m->n, cancelled, fin);
			/* Said once: what is left in the buffer is not written, nor
			 * the failure reported again at exit. */
			__fpurge(stdout);
			clearerr(stdout);
			worst = CLI_FAILED;
			break;
		default:
			if (left)
				cli_err(c, "cancelled %zu submitted tasks", cancelled);
		}
	}
	cli_interrupt_reset();
	return worst;
}

static int map_run(struct cli *c, int argc, char **argv)
{
	struct taskopts o;
	struct map_job m = {0};
	const char *type;
	int first, st, r, npfx = 0, nargs;
	size_t bad_line = 0;

	st = taskopts_parse(c, argc, argv, 0, &o, &type, &first);
	if (st != CLI_CONTINUE)
		return st;
	if (strcmp(type, "exec") == 0)
		npfx = 1; /* the program */
	nargs = argc - first - npfx;
	if (nargs <= 0)
		return cli_usage(c, "missing ARG (one per task, or '-' to read them from "
		                    "standard input)");
	if (nargs == 1 && strcmp(argv[first + npfx], "-") == 0)
		r = map_from_stdin(&m, type, npfx, argv + first, &bad_line);
	else
		r = map_from_args(&m, type, npfx, argv + first, nargs, argv + first + npfx);
	if (r == -EINVAL) {
		map_job_free(&m);
		return cli_usage(c, "standard input line %zu holds a NUL byte", bad_line);
	}
	if (r < 0) {
		cli_err(c, "%s: %s", r == -EIO ? "reading standard input" : "out of memory",
		        strerror(r == -EIO ? errno : ENOMEM));
		map_job_free(&m);
		return CLI_FAILED;
	}
	int64_t t0 = cli_now_ms();
	if (o.no_block || o.timeout_ms >= 0) /* not past them for a restarting daemon */
		c->attach_by = t0 + (o.no_block ? 0 : o.timeout_ms);
	st = cli_attach(c, 1);
	if (o.timeout_ms >= 0) { /* --timeout counts from the start, as for submit */
		o.timeout_ms -= cli_now_ms() - t0;
		if (o.timeout_ms < 0)
			o.timeout_ms = 0;
	}
	if (st == CLI_OK && m.n > 0) /* empty input: nothing to do */
		st = map_loop(c, &m, &o);
	map_job_free(&m);
	return st;
}

const struct cli_cmd cmd_map = {
    .name = "map",
    .run = map_run,
    .summary = "run one task per argument or input line; results in order",
    .help = map_help,
};
