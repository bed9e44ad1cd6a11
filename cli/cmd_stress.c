/*
 * cmd_stress.c - `taskring stress`: prove process isolation against a
 * running daemon. Client processes submit a workload whose results are known
 * in advance while a killer signals workers, the supervisor or the clients
 * at the chosen pace; then everything is waited for and checked, and one
 * table (or JSON object) says what held.
 *
 * This file owns the options and the run's phases: set-up (attach, wait for
 * the workers, try a file task when --files is given), the run (clients,
 * killer, reaper, supervisor keeper, one non-blocking main loop), the drain
 * (stop flag, clients settle their own tasks, the parent settles what killed
 * clients left), the final checks (workers back, the segment's invariant
 * checker) and the report. The moving parts live in stress_chaos.c, the
 * workload in stress_work.c, the shared log in stress_log.c, the tally in
 * stress_report.c.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "parse.h"
#include "stress_run.h"

#define STRESS_FILES_MAX 180 /* longest --files DIR: task words must fit payload_max */

static const char stress_help[] =
    "usage: taskring stress [OPTIONS]\n"
    "\n"
    "Runs a known workload against a running daemon from several client processes\n"
    "while killing workers, the supervisor or clients at a chosen pace, then waits\n"
    "for every task and checks: nothing lost (every accepted task reached a final\n"
    "state), every result right, only poison tasks failed (each with a cause\n"
    "naming the signal), the workers back to the configured count, no call waited\n"
    "past its deadline, and the segment's invariant checker passes. Prints one\n"
    "table (or JSON) with the counts, the kills, the worker restarts and the time\n"
    "from each worker kill to its replacement being ready (p50/p99/max).\n"
    "\n"
    "Options:\n"
    "  -d, --duration S        how long to submit and kill (default 30)\n"
    "  -k, --kill-every MS     pace of the killer: MS or a range MIN-MAX drawn at\n"
    "                          random per kill (default 250; 0: kill nothing)\n"
    "  -s, --signal SIG        the signal (default KILL); stop signals (STOP...)\n"
    "                          only with --target workers: the daemon must notice\n"
    "                          a stopped worker (see workers_heartbeat_s)\n"
    "  -t, --target T          workers, supervisor, clients or all, or a comma list\n"
    "                          (default workers)\n"
    "  -m, --mix LIST          cpu, io and poison, comma separated (default cpu,io):\n"
    "                          cpu = echo, sqrt-sum, square-sum; io = sleep, and file\n"
    "                          tasks with --files; poison = crash tasks\n"
    "  -c, --clients N         client processes (default 4)\n"
    "  -D, --daemon-cmd CMD    how to start the daemon again after a supervisor kill\n"
    "                          (run with /bin/sh -c in its own process group);\n"
    "                          needed with --target supervisor or all\n"
    "  -f, --files DIR         also run read-file, write-file and copy-file tasks in\n"
    "                          DIR (must be in the daemon's io.allowed_paths); the\n"
    "                          files are removed at the end\n"
    "  -u, --min-uptime MS     kill only workers ready for at least MS (default\n"
    "                          1100, above the daemon's default\n"
    "                          restart.min_uptime_ms, so kills never count as early\n"
    "                          deaths); use 0 with a daemon configured likewise\n"
    "  -a, --attempts N        max attempts of healthy tasks (default 100)\n"
    "  -p, --poison-every MS   one poison task per MS (default 4000)\n"
    "  -w, --window N          tasks a client keeps outstanding (default 64)\n"
    "  -S, --settle S          how long the end of the run may take (default 60)\n"
    "  -j, --json              print one JSON object instead of the table\n"
    "  -i, --instance NAME     the daemon instance\n"
    "  -h, --help              show this help\n"
    "\n"
    "Examples:\n"
    "  taskring stress --duration 30\n"
    "  taskring stress --target supervisor --kill-every 2000 \\\n"
    "      --daemon-cmd 'exec taskringd -i default >>/tmp/taskringd.log 2>&1'\n"
    "\n"
    "Exit status: 0 every check held; 1 a check failed; 2 bad arguments; 3 the\n"
    "daemon cannot be reached.\n";

/* Parses a comma list of names into bits; NULL names end the table. */
static int parse_list(struct cli *c, const char *opt, const char *val, const char *const *names,
                      const unsigned *bits, unsigned *out)
{
	char buf[128];
	char *save = NULL, *tok;

	if (strlen(val) >= sizeof(buf) || !*val)
		return cli_usage(c, "%s: '%.40s' is not a list of names", opt, val);
	snprintf(buf, sizeof(buf), "%s", val);
	*out = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int i;
		for (i = 0; names[i]; i++)
			if (strcmp(tok, names[i]) == 0)
				break;
		if (!names[i])
			return cli_usage(c, "%s: unknown name '%.40s'", opt, tok);
		*out |= bits[i];
	}
	if (!*out)
		return cli_usage(c, "%s: empty list", opt);
	return CLI_CONTINUE;
}

static int parse_pace(struct cli *c, const char *val, struct stress_opts *o)
{
	char a[32], why[160];
	const char *dash = strchr(val, '-');
	uint64_t lo, hi;

	if (!dash) {
		if (cli_parse_u64(val, 0, 3600000, &lo, why, sizeof(why)) < 0)
			return cli_usage(c, "--kill-every: %s", why);
		o->kill_min_ms = o->kill_max_ms = (uint32_t)lo;
		return CLI_CONTINUE;
	}
	if ((size_t)(dash - val) >= sizeof(a))
		return cli_usage(c, "--kill-every: '%.40s' is not MS or MIN-MAX", val);
	memcpy(a, val, (size_t)(dash - val));
	a[dash - val] = 0;
	if (cli_parse_u64(a, 1, 3600000, &lo, why, sizeof(why)) < 0 ||
	    cli_parse_u64(dash + 1, 1, 3600000, &hi, why, sizeof(why)) < 0)
		return cli_usage(c, "--kill-every: %s", why);
	if (lo > hi)
		return cli_usage(c, "--kill-every: the range %llu-%llu is backwards",
		                 (unsigned long long)lo, (unsigned long long)hi);
	o->kill_min_ms = (uint32_t)lo;
	o->kill_max_ms = (uint32_t)hi;
	return CLI_CONTINUE;
}

static int is_stop_signal(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

static int parse_opts(struct cli *c, int argc, char **argv, struct stress_opts *o)
{
	static const struct option longopts[] = {
	    {"duration", required_argument, NULL, 'd'},
	    {"kill-every", required_argument, NULL, 'k'},
	    {"signal", required_argument, NULL, 's'},
	    {"target", required_argument, NULL, 't'},
	    {"mix", required_argument, NULL, 'm'},
	    {"clients", required_argument, NULL, 'c'},
	    {"daemon-cmd", required_argument, NULL, 'D'},
	    {"files", required_argument, NULL, 'f'},
	    {"min-uptime", required_argument, NULL, 'u'},
	    {"attempts", required_argument, NULL, 'a'},
	    {"poison-every", required_argument, NULL, 'p'},
	    {"window", required_argument, NULL, 'w'},
	    {"settle", required_argument, NULL, 'S'},
	    {"json", no_argument, NULL, 'j'},
	    {"instance", required_argument, NULL, 'i'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	static const char *const tnames[] = {"workers", "supervisor", "clients", "all", NULL};
	static const unsigned tbits[] = {STRESS_T_WORKERS, STRESS_T_SUPERVISOR, STRESS_T_CLIENTS,
	                                 STRESS_T_WORKERS | STRESS_T_SUPERVISOR | STRESS_T_CLIENTS};
	static const char *const mnames[] = {"cpu", "io", "poison", NULL};
	static const unsigned mbits[] = {STRESS_MIX_CPU, STRESS_MIX_IO, STRESS_MIX_POISON};
	char why[200];
	uint64_t v;
	int s;

	*o = (struct stress_opts){
	    .duration_ms = 30000,
	    .kill_min_ms = 250,
	    .kill_max_ms = 250,
	    .sig = SIGKILL,
	    .targets = STRESS_T_WORKERS,
	    .mix = STRESS_MIX_CPU | STRESS_MIX_IO,
	    .clients = 4,
	    .min_uptime_ms = 1100,
	    .attempts = 100,
	    .poison_every_ms = 4000,
	    .settle_ms = 60000,
	    .window = 64,
	};
	for (;;) {
		const char *tok = cli_opt_token(argc, argv);
		int opt =
		    getopt_long(argc, argv, ":d:k:s:t:m:c:D:f:u:a:p:w:S:ji:h", longopts, NULL);
		if (opt == -1)
			break;
		s = CLI_CONTINUE;
		switch (opt) {
		case 'd':
			s = cli_opt_duration(c, "--duration", optarg, &o->duration_ms);
			break;
		case 'k':
			s = parse_pace(c, optarg, o);
			break;
		case 's':
			if (cli_parse_signal(optarg, &o->sig, why, sizeof(why)) < 0)
				return cli_usage(c, "--signal: %s", why);
			break;
		case 't':
			s = parse_list(c, "--target", optarg, tnames, tbits, &o->targets);
			break;
		case 'm':
			s = parse_list(c, "--mix", optarg, mnames, mbits, &o->mix);
			break;
		case 'c':
			s = cli_opt_u64(c, "--clients", optarg, 1, 64, &v);
			o->clients = (unsigned)v;
			break;
		case 'D':
			o->daemon_cmd = optarg;
			break;
		case 'f':
			o->files = optarg;
			break;
		case 'u':
			s = cli_opt_u64(c, "--min-uptime", optarg, 0, 3600000, &v);
			o->min_uptime_ms = (uint32_t)v;
			break;
		case 'a':
			s = cli_opt_u64(c, "--attempts", optarg, 1, 1000, &v);
			o->attempts = (uint32_t)v;
			break;
		case 'p':
			s = cli_opt_u64(c, "--poison-every", optarg, 1, 3600000, &v);
			o->poison_every_ms = (int64_t)v;
			break;
		case 'w':
			s = cli_opt_u64(c, "--window", optarg, 1, 4096, &v);
			o->window = (uint32_t)v;
			break;
		case 'S':
			s = cli_opt_duration(c, "--settle", optarg, &o->settle_ms);
			break;
		case 'j':
			o->json = 1;
			break;
		default:
			s = cli_common_opt(c, opt, tok, longopts);
		}
		if (s != CLI_CONTINUE)
			return s;
	}
	if (optind < argc)
		return cli_usage(c, "unexpected argument '%.40s' (stress takes only options)",
		                 argv[optind]);
	if (!(o->mix & (STRESS_MIX_CPU | STRESS_MIX_IO)))
		return cli_usage(c, "--mix: add cpu or io; poison alone is no workload");
	if (o->targets & STRESS_T_SUPERVISOR && !o->daemon_cmd)
		return cli_usage(c,
		                 "--target %s kills the supervisor: --daemon-cmd CMD must say "
		                 "how to start it again",
		                 o->targets == STRESS_T_SUPERVISOR ? "supervisor" : "all");
	if (o->duration_ms <= 0)
		return cli_usage(c, "--duration: must be more than 0");
	if (o->kill_max_ms && (uint64_t)o->duration_ms < o->kill_min_ms)
		return cli_usage(c,
		                 "--duration %lld ms is shorter than the first kill (--kill-every "
		                 "%u ms): nothing would be killed",
		                 (long long)o->duration_ms, o->kill_min_ms);
	if (o->daemon_cmd && !*o->daemon_cmd)
		return cli_usage(c, "--daemon-cmd: empty command");
	if (is_stop_signal(o->sig) && o->targets != STRESS_T_WORKERS)
		return cli_usage(c,
		                 "--signal %s stops a process rather than ending it: only "
		                 "with --target workers, whose daemon replaces stopped workers",
		                 cli_signal_name(o->sig));
	if (o->sig == SIGCONT || o->sig == SIGCHLD || o->sig == SIGURG || o->sig == SIGWINCH)
		return cli_usage(c, "--signal %s does nothing to a process",
		                 cli_signal_name(o->sig));
	if (o->files) {
		struct stat st;
		if (o->files[0] != '/')
			return cli_usage(c, "--files: '%.60s' is not an absolute path", o->files);
		if (strlen(o->files) > STRESS_FILES_MAX)
			return cli_usage(c, "--files: the path is longer than %d bytes",
			                 STRESS_FILES_MAX);
		if (stat(o->files, &st) < 0 || !S_ISDIR(st.st_mode))
			return cli_usage(c, "--files: '%.60s' is not a directory", o->files);
	}
	return CLI_CONTINUE;
}

static void nap(uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
	nanosleep(&ts, NULL);
}

/* One round of the parent's chores. */
static void chores(struct stress_run *R, int respawn)
{
	uint64_t now = stress_now();
	stress_reap(R, respawn);
	stress_watch(R, now);
	stress_sup_step(R, now);
}

/* Waits until the configured workers are all ready (or the deadline). */
static int wait_workers(struct stress_run *R, uint64_t deadline)
{
	for (;;) {
		chores(R, 0);
		if (R->nworkers && stress_ready(R) == R->nworkers && !stress_pending(R) &&
		    (R->sup_state == SUP_UP || R->sup_state == SUP_GONE))
			return 0;
		if (stress_now() >= deadline || R->sup_fatal)
			return -ETIMEDOUT;
		nap(2000000);
	}
}

/* With --files: one read-file task shows whether the daemon allows DIR. */
static int try_files(struct stress_run *R)
{
	struct taskring_opts o = {.max_attempts = 3, .timeout_ms = 5000};
	const char *argv[1] = {R->x.in[0].path};
	struct taskring_info info;
	uint64_t id;
	int r = taskring_submit(R->c->h, "read-file", 1, argv, &o, &id);

	if (r < 0) {
		cli_err(R->c, "trying a read-file task: %s", taskring_strerror(r));
		return CLI_FAILED;
	}
	memset(&info, 0, sizeof(info));
	r = taskring_wait(R->c->h, id, 30000, &info);
	if (r < 0) {
		cli_err(R->c, "trying a read-file task: %s", taskring_strerror(r));
		return CLI_FAILED;
	}
	int ok = info.state == TASKRING_DONE;
	if (!ok)
		cli_err(R->c,
		        "--files %s: the daemon refuses file tasks there (%s); add the "
		        "directory to its io.allowed_paths",
		        R->o.files, info.output ? info.output : "no reason given");
	taskring_info_release(&info);
	return ok ? CLI_OK : CLI_USAGE;
}

static uint64_t next_pace(struct stress_run *R)
{
	uint32_t span = R->o.kill_max_ms - R->o.kill_min_ms;
	uint64_t ms = R->o.kill_min_ms + (span ? stress_rand(&R->rng, span + 1) : 0);
	return ms * 1000000ull;
}

/* The run: clients submit while the killer works, until the duration ends. */
static void run_phase(struct stress_run *R)
{
	uint64_t next_kill = R->t0 + next_pace(R);

	while (!R->sup_fatal) {
		uint64_t now = stress_now();
		if (cli_interrupted()) {
			R->interrupted = 1;
			break;
		}
		if (now >= R->t_end)
			break;
		chores(R, 1);
		if (R->o.kill_max_ms && now >= next_kill) {
			stress_kill(R, now);
			next_kill = now + next_pace(R);
		}
		nap(stress_pending(R) || R->sup_state != SUP_UP ? 200000 : 1000000);
	}
	R->t_stop = stress_now();
}

/* The drain: clients settle their own tasks; the parent settles the rest. */
static void drain_phase(struct stress_run *R)
{
	struct stress_shared *sh = R->x.sh;
	uint64_t settle = (uint64_t)R->o.settle_ms * 1000000ull;
	uint64_t deadline = stress_now() + settle;
	int left;

	sh->final_deadline_ns = deadline;
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
	do {
		chores(R, 0);
		left = 0;
		for (unsigned ci = 0; ci < sh->nclients; ci++)
			left += sh->c[ci].pid > 0;
		if (left)
			nap(1000000);
	} while (left && stress_now() < deadline + 5000000000ull);
	for (unsigned ci = 0; ci < sh->nclients; ci++) {
		int pid = sh->c[ci].pid;
		if (pid <= 0)
			continue;
		stress_note(sh, "client %u (pid %d) still running after the final deadline: killed",
		            ci, pid);
		R->client_deaths_bad++;
		R->client_sig[ci] = SIGKILL;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		sh->c[ci].pid = 0;
	}
	/* The keeper may still be bringing the daemon back. */
	wait_workers(R, deadline);
	for (unsigned ci = 0; ci < sh->nclients; ci++) {
		struct stress_cslot *cs = &sh->c[ci];
		uint32_t next = cs->next < sh->cap ? cs->next : sh->cap;
		for (uint32_t i = cs->cnext; i < next; i++) {
			uint64_t now = stress_now();
			int64_t ms = now < deadline ? (int64_t)((deadline - now) / 1000000ull) : 0;
			stress_settle(&R->x, R->c->h, ci, i, ms);
		}
	}
}

/* Final checks: workers back, the invariant checker, the daemon's counters. */
static void final_checks(struct stress_run *R)
{
	struct stress_totals *t = &R->t;
	uint64_t settle = (uint64_t)R->o.settle_ms * 1000000ull;

	stress_tally(R);
	wait_workers(R, stress_now() + settle);
	t->configured = R->nworkers;
	t->ready = stress_ready(R);
	t->sup_alive = taskring_daemon_alive(R->c->h);
	int r = trq_check(&R->q, t->invariants_msg, sizeof(t->invariants_msg));
	t->invariants_ok = r == 0;
	if (r < 0 && !t->invariants_msg[0])
		snprintf(t->invariants_msg, sizeof(t->invariants_msg), "%s", taskring_strerror(r));
	t->worker_restarts =
	    __atomic_load_n(&R->q.hdr->worker_restarts, __ATOMIC_RELAXED) - R->restarts0;
	t->repairs = __atomic_load_n(&R->q.hdr->repairs, __ATOMIC_RELAXED) - R->repairs0;
}

static int stress_setup(struct stress_run *R)
{
	char err[400];
	int r, st;

	r = trq_attach(&R->q, R->c->instance);
	if (r < 0) {
		cli_err(R->c, "mapping the segment of instance '%s': %s", R->c->instance,
		        taskring_strerror(r));
		return CLI_NODAEMON;
	}
	R->w = calloc(TRQ_WORKERS_MAX, sizeof(*R->w));
	R->client_sig = calloc(R->o.clients, sizeof(*R->client_sig));
	if (!R->w || !R->client_sig) {
		cli_err(R->c, "out of memory");
		return CLI_FAILED;
	}
	r = stress_ctx_init(&R->x, &R->o, R->c->instance, err, sizeof(err));
	if (r < 0) {
		cli_err(R->c, "--files %s: %s", R->o.files, err);
		return CLI_FAILED;
	}
	/* Records per client: plenty for the rate a client reaches here. */
	uint64_t cap = (uint64_t)R->o.duration_ms * 40;
	cap = cap < 65536 ? 65536 : cap > (1u << 22) ? (1u << 22) : cap;
	r = stress_log_map(&R->x, R->o.clients, (uint32_t)cap);
	if (r < 0) {
		cli_err(R->c, "mmap(shared log): %s", strerror(-r));
		return CLI_FAILED;
	}
	R->rng = (stress_now() ^ ((uint64_t)getpid() << 16)) | 1;
	R->sup_state = SUP_UP;
	if (wait_workers(R, stress_now() + (uint64_t)R->o.settle_ms * 1000000ull) < 0) {
		cli_err(R->c, "instance '%s': only %u of %u workers ready after %lld s",
		        R->c->instance, stress_ready(R), R->nworkers,
		        (long long)(R->o.settle_ms / 1000));
		return CLI_FAILED;
	}
	/* The workload's longest argument words, with --files a copy-file
	 * task's two paths: said up front, not as one E2BIG per submit. */
	size_t need = R->o.files ? 2 * (strlen(R->o.files) + 64) : 64;
	if (R->q.payload_max < need) {
		cli_err(R->c,
		        "instance '%s': queue.payload_max is %u bytes; this workload%s needs %zu "
		        "bytes of task arguments",
		        R->c->instance, (unsigned)R->q.payload_max,
		        R->o.files ? " (with --files)" : "", need);
		return CLI_USAGE;
	}
	if (R->o.files) {
		st = try_files(R);
		if (st != CLI_OK)
			return st;
	}
	R->restarts0 = __atomic_load_n(&R->q.hdr->worker_restarts, __ATOMIC_RELAXED);
	R->repairs0 = __atomic_load_n(&R->q.hdr->repairs, __ATOMIC_RELAXED);
	return CLI_OK;
}

static void stress_teardown(struct stress_run *R)
{
	stress_ctx_cleanup(&R->x);
	stress_log_unmap(&R->x);
	trq_detach(&R->q);
	free(R->w);
	free(R->client_sig);
	free(R->rep.v);
	free(R->sup.v);
}

static int stress_main(struct cli *c, int argc, char **argv)
{
	struct stress_run *R = calloc(1, sizeof(*R));
	int st;

	if (!R) {
		cli_err(c, "out of memory");
		return CLI_FAILED;
	}
	R->c = c;
	R->q.fd = -1;
	st = parse_opts(c, argc, argv, &R->o);
	if (st != CLI_CONTINUE)
		goto out;
	st = cli_attach(c, 1);
	if (st != CLI_OK)
		goto out;
	st = stress_setup(R);
	if (st != CLI_OK)
		goto out;

	cli_interrupt_install();
	R->t0 = stress_now();
	R->t_end = R->t0 + (uint64_t)R->o.duration_ms * 1000000ull;
	R->sup_since = R->t0;
	R->x.sh->t0_ns = R->t0;
	for (unsigned ci = 0; ci < R->o.clients; ci++) {
		if (stress_spawn_client(R, ci) < 0) {
			cli_err(c, "fork(client %u): %s", ci, strerror(errno));
			R->sup_fatal = 1;
			break;
		}
	}
	run_phase(R);
	drain_phase(R);
	final_checks(R);
	cli_interrupt_reset();
	if (R->o.json)
		stress_print_json(R, stdout);
	else
		stress_print_table(R, stdout);
	st = stress_passed(R) ? CLI_OK : CLI_FAILED;
out:
	stress_teardown(R);
	free(R);
	return st;
}

const struct cli_cmd cmd_stress = {
    .name = "stress",
    .run = stress_main,
    .summary = "kill processes under load, then check that no task was lost",
    .help = stress_help,
};
