/*
 * cmd_status.c - `taskring status`: the supervisor, its workers, the queues,
 * the table's free slots and the totals, as text or JSON.
 *
 * The JSON shape is stable and documented in the README:
 *   {"instance", "pid", "uptime_s", "workers": [{"index", "pid", "cpu",
 *    "state", "task", "tasks_done", "restarts", "last_exit",
 *    "restart_in_ms"}],
 *    "queues": {"cpu": {"queued", "running", "executing", "waiting"},
 *    "io": {...}}, "spare": {"pid", "state", "next_in_ms", "died_unused"},
 *    "capacity", "free", "unread", "totals": {"submitted", "done",
 *    "failed", "cancelled", "requeued", "worker_restarts"}}
 * with null for a pid of a process that is not running, no current task,
 * no last exit, a wait (restart_in_ms, next_in_ms) outside a backoff, and
 * executing and waiting when no daemon runs.
 * Keys are only ever added: "unread" counts the finished tasks whose results
 * are kept unread, up to tasks.result_ttl_s; "restart_in_ms", "executing",
 * "waiting" (running = executing + waiting: taken by a worker in a batch,
 * not started yet) and "spare" came later.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "json.h"
#include "text.h"

static const char status_help[] =
    "usage: taskring status [--json]\n"
    "\n"
    "Shows the supervisor's pid and uptime, a table of workers (index, pid, cpu,\n"
    "state, current task, tasks done, restarts, last exit cause; a worker whose\n"
    "restart is held back after early deaths is in state backoff, with the time\n"
    "until its restart), the spare worker (its pid, set up or not, or why there\n"
    "is none), queued and running tasks per class (of the running ones, how many\n"
    "execute and how many wait in the batch a worker took), capacity and free\n"
    "slots (and the finished tasks whose results are kept unread), and the totals.\n"
    "\n"
    "Options:\n"
    "  -j, --json           print one JSON object (see the README for its shape)\n"
    "  -i, --instance NAME  the daemon instance\n"
    "  -h, --help           show this help\n"
    "\n"
    "Exit status: 0 the daemon is running; 2 bad arguments; 3 the daemon cannot\n"
    "be reached or is not running (the last snapshot is still printed when its\n"
    "segment exists).\n";

/* Whether worker w waits for a restart held back after early deaths. */
static int status_backoff(const struct taskring_worker_info *w)
{
	return strncmp(w->state, "backoff", sizeof(w->state)) == 0;
}

/* Whether the spare's state is name. */
static int status_spare_is(const struct taskring_status *st, const char *name)
{
	return strncmp(st->spare_state, name, sizeof(st->spare_state)) == 0;
}

/* Of class k's running tasks, those executing, never more than run (the
 * library clamps it; a caller's struct is checked again). */
static unsigned status_executing(const struct taskring_status *st, int k)
{
	return st->executing[k] < st->running[k] ? st->executing[k] : st->running[k];
}

static void status_json(FILE *f, const struct taskring_status *st)
{
	static const char *const cls[2] = {"cpu", "io"};
	int first = 1;

	putc('{', f);
	json_key(f, &first, "instance");
	json_write_str(f, st->instance, strnlen(st->instance, sizeof(st->instance)));
	json_key(f, &first, "pid");
	json_write_int_or_null(f, st->alive && st->pid > 0 ? st->pid : -1);
	json_key(f, &first, "uptime_s");
	if (st->alive)
		json_write_u64(f, st->uptime_s);
	else
		fputs("null", f);
	json_key(f, &first, "workers");
	putc('[', f);
	for (int i = 0; i < st->nworkers; i++) {
		const struct taskring_worker_info *w = &st->workers[i];
		int wf = 1;
		size_t le = strnlen(w->last_exit, sizeof(w->last_exit));
		if (i)
			putc(',', f);
		putc('{', f);
		json_key(f, &wf, "index");
		json_write_int_or_null(f, w->index);
		json_key(f, &wf, "pid");
		json_write_int_or_null(f, w->pid > 0 ? w->pid : -1);
		json_key(f, &wf, "cpu");
		json_write_int_or_null(f, w->cpu);
		json_key(f, &wf, "state");
		json_write_str(f, w->state, strnlen(w->state, sizeof(w->state)));
		json_key(f, &wf, "task");
		json_write_u64_or_null(f, w->task);
		json_key(f, &wf, "tasks_done");
		json_write_u64(f, w->tasks_done);
		json_key(f, &wf, "restarts");
		json_write_u64(f, w->restarts);
		json_key(f, &wf, "last_exit");
		if (le)
			json_write_str(f, w->last_exit, le);
		else
			fputs("null", f);
		json_key(f, &wf, "restart_in_ms");
		if (status_backoff(w))
			json_write_u64(f, w->restart_in_ms);
		else
			fputs("null", f);
		putc('}', f);
	}
	putc(']', f);
	json_key(f, &first, "queues");
	putc('{', f);
	for (int k = 0; k < 2; k++) {
		int qf = 1;
		if (k)
			putc(',', f);
		json_write_cstr(f, cls[k]);
		fputs(":{", f);
		json_key(f, &qf, "queued");
		json_write_u64(f, st->queued[k]);
		json_key(f, &qf, "running");
		json_write_u64(f, st->running[k]);
		/* No daemon: its workers ended with it, so the running tasks
		 * neither execute nor wait in a worker (null, null). */
		json_key(f, &qf, "executing");
		if (st->alive)
			json_write_u64(f, status_executing(st, k));
		else
			fputs("null", f);
		json_key(f, &qf, "waiting");
		if (st->alive)
			json_write_u64(f, st->running[k] - status_executing(st, k));
		else
			fputs("null", f);
		putc('}', f);
	}
	putc('}', f);
	json_key(f, &first, "spare");
	{
		int sf = 1;
		putc('{', f);
		json_key(f, &sf, "pid");
		json_write_int_or_null(f, st->spare_pid > 0 ? st->spare_pid : -1);
		json_key(f, &sf, "state");
		json_write_str(f, st->spare_state,
		               strnlen(st->spare_state, sizeof(st->spare_state)));
		json_key(f, &sf, "next_in_ms");
		if (status_spare_is(st, "backoff"))
			json_write_u64(f, st->spare_in_ms);
		else
			fputs("null", f);
		json_key(f, &sf, "died_unused");
		json_write_u64(f, st->spare_fails);
		putc('}', f);
	}
	json_key(f, &first, "capacity");
	json_write_u64(f, st->capacity);
	json_key(f, &first, "free");
	json_write_u64(f, st->free);
	json_key(f, &first, "unread");
	json_write_u64(f, cli_status_unread(st));
	json_key(f, &first, "totals");
	{
		int tf = 1;
		putc('{', f);
		json_key(f, &tf, "submitted");
		json_write_u64(f, st->submitted);
		json_key(f, &tf, "done");
		json_write_u64(f, st->done);
		json_key(f, &tf, "failed");
		json_write_u64(f, st->failed);
		json_key(f, &tf, "cancelled");
		json_write_u64(f, st->cancelled);
		json_key(f, &tf, "requeued");
		json_write_u64(f, st->requeued);
		json_key(f, &tf, "worker_restarts");
		json_write_u64(f, st->worker_restarts);
		putc('}', f);
	}
	fputs("}\n", f);
}

/* A fixed-size text field of the snapshot, NUL-terminated, with control
 * characters shown as '?'. */
static const char *status_field(char *buf, size_t buflen, const char *field, size_t size)
{
	size_t n = strnlen(field, size);

	if (n >= buflen)
		n = buflen - 1;
	memcpy(buf, field, n);
	buf[n] = '\0';
	/* Bytes from shared memory must not drive the terminal (ESC ...). */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = '?';
	return buf;
}

/* The "spare:" line: the spare worker, or why there is none. */
static void status_spare_text(FILE *f, const struct taskring_status *st)
{
	char d[32], buf[32];

	if (status_spare_is(st, "ready") && st->spare_pid > 0)
		fprintf(f, "spare:     pid %d, set up, waiting to replace a worker\n",
		        st->spare_pid);
	else if (status_spare_is(st, "starting") && st->spare_pid > 0)
		fprintf(f, "spare:     pid %d, setting up\n", st->spare_pid);
	else if (status_spare_is(st, "waiting"))
		fprintf(f, "spare:     none yet (one is forked once every worker is ready)\n");
	else if (status_spare_is(st, "backoff"))
		fprintf(f, "spare:     none: %u in a row died unused; the next in %s\n",
		        st->spare_fails, text_ms(d, sizeof(d), st->spare_in_ms));
	else if (status_spare_is(st, "given up"))
		fprintf(f,
		        "spare:     none: given up after %u in a row died unused (a reload tries "
		        "again)\n",
		        st->spare_fails);
	else if (status_spare_is(st, "stopping"))
		fprintf(f, "spare:     none: the daemon is stopping\n");
	else if (status_spare_is(st, "off"))
		fprintf(f, "spare:     off (restart.spare_worker is false)\n");
	else
		fprintf(f, "spare:     %s\n",
		        status_field(buf, sizeof(buf), st->spare_state, sizeof(st->spare_state)));
}

static void status_text(FILE *f, const struct taskring_status *st)
{
	char up[32], buf[128], exitbuf[128];

	fprintf(f, "instance:  %s\n",
	        status_field(buf, sizeof(buf), st->instance, sizeof(st->instance)));
	if (st->alive)
		fprintf(f, "daemon:    pid %d, up %s\n", st->pid,
		        text_duration(up, sizeof(up), st->uptime_s));
	else
		fprintf(f, "daemon:    not running\n");
	if (st->alive)
		fprintf(f, "workers:   %d\n", st->nworkers);
	else /* the records are the last daemon's: its workers died with it */
		fprintf(f, "workers:   %d, as the last daemon left them (they ended with it)\n",
		        st->nworkers);
	if (st->nworkers > 0) {
		fprintf(f, "  %-5s %-8s %-4s %-9s %-12s %-4s %-10s %-8s %s\n", "INDEX", "PID",
		        "CPU", "STATE", "TASK", "IO", "DONE", "RESTARTS", "LAST EXIT");
		for (int i = 0; i < st->nworkers; i++) {
			const struct taskring_worker_info *w = &st->workers[i];
			char pid[16], task[24];
			if (w->pid > 0)
				snprintf(pid, sizeof(pid), "%d", w->pid);
			else
				snprintf(pid, sizeof(pid), "-");
			if (w->task)
				snprintf(task, sizeof(task), "%llu", (unsigned long long)w->task);
			else
				snprintf(task, sizeof(task), "-");
			char wait[48] = "";
			if (status_backoff(w)) {
				if (w->restart_in_ms)
					snprintf(wait, sizeof(wait), "; restarting in %s",
					         text_ms(up, sizeof(up), w->restart_in_ms));
				else
					snprintf(wait, sizeof(wait), "; restarting now");
			}
			fprintf(f, "  %-5d %-8s %-4d %-9s %-12s %-4u %-10llu %-8u %s%s\n", w->index,
			        pid, w->cpu,
			        status_field(buf, sizeof(buf), w->state, sizeof(w->state)), task,
			        w->io_inflight, (unsigned long long)w->tasks_done, w->restarts,
			        w->last_exit[0] ? status_field(exitbuf, sizeof(exitbuf),
			                                       w->last_exit, sizeof(w->last_exit))
			                        : "-",
			        wait);
		}
	}
	if (st->alive)
		status_spare_text(f, st);
	char qtext[2][96];
	for (int k = 0; k < 2; k++) {
		int n = snprintf(qtext[k], sizeof(qtext[k]), "%u queued, %u running", st->queued[k],
		                 st->running[k]);
		/* Running counts what workers took; some may wait in a batch. */
		if (st->alive && st->running[k] && n > 0 && (size_t)n < sizeof(qtext[k]))
			snprintf(qtext[k] + n, sizeof(qtext[k]) - (size_t)n,
			         " (%u executing, %u waiting in a worker)", status_executing(st, k),
			         st->running[k] - status_executing(st, k));
	}
	fprintf(f, "queues:    cpu %s; io %s\n", qtext[0], qtext[1]);
	if (!st->alive && st->running[0] + st->running[1])
		fprintf(f,
		        "           (the %u running tasks go back to the queue when a daemon "
		        "starts)\n",
		        st->running[0] + st->running[1]);
	unsigned unread = cli_status_unread(st);
	if (unread)
		fprintf(f,
		        "slots:     %u free of %u (%u finished, results kept unread up to "
		        "tasks.result_ttl_s; payload max %u, result max %u bytes)\n",
		        st->free, st->capacity, unread, st->payload_max, st->result_max);
	else
		fprintf(f, "slots:     %u free of %u (payload max %u, result max %u bytes)\n",
		        st->free, st->capacity, st->payload_max, st->result_max);
	fprintf(f,
	        "totals:    submitted %llu, done %llu, failed %llu, cancelled %llu, requeued "
	        "%llu, worker restarts %llu\n",
	        (unsigned long long)st->submitted, (unsigned long long)st->done,
	        (unsigned long long)st->failed, (unsigned long long)st->cancelled,
	        (unsigned long long)st->requeued, (unsigned long long)st->worker_restarts);
}

static int status_run(struct cli *c, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"instance", required_argument, NULL, 'i'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct taskring_status st;
	int json = 0, s;

	for (;;) {
		const char *tok = cli_opt_token(argc, argv);
		int opt = getopt_long(argc, argv, ":ji:h", longopts, NULL);
		if (opt == -1)
			break;
		if (opt == 'j') {
			json = 1;
			continue;
		}
		s = cli_common_opt(c, opt, tok, longopts);
		if (s != CLI_CONTINUE)
			return s;
	}
	if (optind < argc)
		return cli_usage(c, "unexpected argument '%.40s'", argv[optind]);
	s = cli_attach(c, 0);
	if (s != CLI_OK)
		return s;
	s = cli_status_read(c, &st);
	if (s != CLI_OK)
		return s;
	if (json)
		status_json(stdout, &st);
	else
		status_text(stdout, &st);
	s = CLI_OK;
	if (!st.alive) {
		fflush(stdout);
		int ago = taskring_daemon_stopped_s(c->h);
		char d[32];
		if (ago >= 0)
			cli_err(c, "instance '%s': the daemon is not running (it stopped %s ago)",
			        c->instance, text_duration(d, sizeof(d), (uint64_t)ago));
		else
			cli_err(c, "instance '%s': the daemon is not running", c->instance);
		s = CLI_NODAEMON;
	}
	taskring_status_release(&st);
	return s;
}

const struct cli_cmd cmd_status = {
    .name = "status",
    .run = status_run,
    .summary = "show the daemon, its workers, queues and totals (--json)",
    .help = status_help,
};
