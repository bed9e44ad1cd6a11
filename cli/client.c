/*
 * client.c - the CLI's link to libtaskring: attaching, waiting in slices,
 * turning library errors into messages and exit statuses, the options all
 * commands share, and the SIGINT/SIGTERM flag used during long waits.
 *
 * State: only the interrupt flag (a signal handler needs a global); it is
 * cleared by cli_interrupt_reset().
 */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "parse.h"
#include "text.h"

/* How long one library wait may sleep before the CLI looks at interrupts
 * and the supervisor's health again. */
#define CLI_SLICE_MS 500
/* The same while a command also watches its output (map | head). */
#define CLI_OUT_SLICE_MS 100

static volatile sig_atomic_t cli_sig;

static void cli_vmsg(const struct cli *c, const char *fmt, va_list ap)
{
	char line[1024];

	vsnprintf(line, sizeof(line), fmt, ap);
	if (c && c->cmd)
		fprintf(stderr, "taskring: %s: %s\n", c->cmd, line);
	else
		fprintf(stderr, "taskring: %s\n", line);
}

void cli_err(const struct cli *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vmsg(c, fmt, ap);
	va_end(ap);
}

int cli_usage(const struct cli *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vmsg(c, fmt, ap);
	va_end(ap);
	if (c && c->cmd)
		fprintf(stderr, "try 'taskring %s --help'\n", c->cmd);
	else
		fprintf(stderr, "try 'taskring --help'\n");
	return CLI_USAGE;
}

const char *cli_opt_token(int argc, char **argv)
{
	int i = optind > 0 ? optind : 1;

	return i < argc ? argv[i] : "";
}

/* Does "--name=value" name a long option that takes no value? */
static int cli_takes_no_value(const char *tok, const struct option *longopts)
{
	const char *eq = strchr(tok, '=');
	const struct option *hit = NULL;
	size_t n;

	if (!eq || !longopts)
		return 0;
	n = (size_t)(eq - (tok + 2));
	for (const struct option *o = longopts; o->name; o++) {
		if (strncmp(o->name, tok + 2, n) != 0)
			continue;
		if (strlen(o->name) == n) {
			hit = o;
			break;
		}
		if (hit)
			return 0; /* ambiguous prefix */
		hit = o;
	}
	return hit && hit->has_arg == no_argument;
}

int cli_common_opt(struct cli *c, int opt, const char *tok, const struct option *longopts)
{
	int is_long = tok && strncmp(tok, "--", 2) == 0;

	switch (opt) {
	case 'h':
		cli_print_help(c);
		return CLI_OK;
	case 'i':
		c->instance = optarg;
		c->instance_opt = 1;
		return CLI_CONTINUE;
	case ':':
		if (is_long)
			return cli_usage(c, "option '%.*s' needs a value", (int)strcspn(tok, "="),
			                 tok);
		return cli_usage(c, "option '-%c' needs a value", optopt);
	case '?':
		if (is_long && cli_takes_no_value(tok, longopts))
			return cli_usage(c, "option '%.*s' takes no value", (int)strcspn(tok, "="),
			                 tok);
		if (is_long)
			return cli_usage(c, "unknown or ambiguous option '%.*s'",
			                 (int)strcspn(tok, "="), tok);
		if (tok && tok[0] == '-' && tok[1] >= '0' && tok[1] <= '9' &&
		    strspn(tok + 1, "0123456789") == strlen(tok + 1))
			return cli_usage(c, "'%.40s': negative numbers are not accepted", tok);
		if (optopt >= 0x21 && optopt < 0x7F)
			return cli_usage(c, "unknown option '-%c'", optopt);
		return cli_usage(c, "unknown option '%s'", tok ? tok : "?");
	default:
		return cli_usage(c, "unhandled option '%s'", tok ? tok : "?");
	}
}

int cli_opt_u64(struct cli *c, const char *opt, const char *val, uint64_t min, uint64_t max,
                uint64_t *out)
{
	char why[160];

	if (cli_parse_u64(val, min, max, out, why, sizeof(why)) < 0)
		return cli_usage(c, "%s: %s", opt, why);
	return CLI_CONTINUE;
}

int cli_opt_duration(struct cli *c, const char *opt, const char *val, int64_t *ms)
{
	char why[160];

	if (cli_parse_duration_ms(val, ms, why, sizeof(why)) < 0)
		return cli_usage(c, "%s: %s", opt, why);
	return CLI_CONTINUE;
}

int cli_parse_ids(struct cli *c, int n, char **argv, uint64_t *ids)
{
	char why[160];

	for (int i = 0; i < n; i++)
		if (cli_parse_id(argv[i], &ids[i], why, sizeof(why)) < 0)
			return cli_usage(c, "%s", why);
	return CLI_OK;
}

/* Whether the daemon, not running now, stopped by itself moments ago: then
 * it is most likely restarting (systemctl restart), and the command counts
 * the grace for a dead daemon from that stop, as if it had seen it run. */
static int cli_restarting(struct cli *c, int *ago_out)
{
	int ago = taskring_daemon_stopped_s(c->h);

	*ago_out = ago;
	if (ago < 0 || (int64_t)ago * 1000 >= c->grace_ms)
		return 0;
	c->daemon_seen = 1;
	c->dead_since = c->last_look - (int64_t)ago * 1000;
	if (c->dead_since <= 0)
		c->dead_since = 1;
	return 1;
}

/* Waits for a daemon to serve the segment again, up to the grace for a dead
 * one (cli_daemon_gone) and c->attach_by. Returns 0 once one runs, -1 when
 * either came first. (No signal handler is installed yet: Ctrl-C ends the
 * command.) */
static int cli_await_daemon(struct cli *c)
{
	for (;;) {
		if (cli_daemon_gone(c))
			return -1;
		if (!c->dead_since) /* alive */
			return 0;
		if (c->attach_by && c->last_look >= c->attach_by)
			return -1;
		nanosleep(&(struct timespec){0, 20 * 1000000}, NULL);
	}
}

int cli_attach(struct cli *c, int need_daemon)
{
	const char *in = c->instance;
	int64_t t0;
	int r, ago;

	if (c->grace_ms < 0) {
		/* Read here, not at start-up: --help and --version work with
		 * any environment. */
		const char *env = getenv("TASKRING_DEAD_GRACE");
		c->grace_ms = CLI_DEAD_GRACE_MS;
		if (env && *env) {
			r = cli_opt_duration(c, "TASKRING_DEAD_GRACE", env, &c->grace_ms);
			if (r != CLI_CONTINUE)
				return r;
		}
	}
	if (taskring_instance_valid(in) < 0)
		return cli_usage(c,
		                 "invalid instance name '%.40s%s' (1-32 characters of "
		                 "A-Z a-z 0-9 _ . -)",
		                 in, strlen(in) > 40 ? "..." : "");
	r = taskring_attach(in, &c->h);
	if (r < 0) {
		c->h = NULL;
		switch (-r) {
		case ENOENT:
			cli_err(c, "instance '%s' is not running (no /dev/shm/taskring.%s)", in,
			        in);
			break;
		case EACCES:
		case EPERM:
			cli_err(c,
			        "no permission to use instance '%s' (/dev/shm/taskring.%s): %s; it "
			        "must belong to %s, with no access for others",
			        in, in, taskring_strerror(r),
			        geteuid() == 0 ? "root or to the service's user ('taskring', or "
			                         "$TASKRING_SERVICE_USER)"
			                       : "you or to a group of yours");
			break;
		case TASKRING_ELAYOUT:
			cli_err(c,
			        "instance '%s' has an incompatible segment (another taskring "
			        "version?): %s",
			        in, taskring_strerror(r));
			break;
		case TASKRING_ENODAEMON:
			cli_err(c, "instance '%s': the daemon is not running", in);
			break;
		default:
			cli_err(c, "cannot attach to instance '%s': %s", in, taskring_strerror(r));
		}
		return CLI_NODAEMON;
	}
	c->daemon_seen = taskring_daemon_alive(c->h);
	c->dead_since = 0;
	c->last_look = t0 = cli_now_ms();
	if (!c->daemon_seen && cli_restarting(c, &ago) && need_daemon && cli_await_daemon(c) < 0) {
		char within[64], d[32], g[32];
		if (c->attach_by && c->last_look >= c->attach_by)
			snprintf(within, sizeof(within),
			         "before the deadline (--timeout, --no-block)");
		else
			snprintf(within, sizeof(within), "within %s of that",
			         text_duration(g, sizeof(g), (uint64_t)(c->grace_ms + 999) / 1000));
		cli_err(c,
		        "instance '%s': the daemon is not running: it stopped %s ago and no new "
		        "one started %s (its segment is left for the next taskringd to adopt)",
		        in,
		        text_duration(d, sizeof(d),
		                      (uint64_t)ago + (uint64_t)(c->last_look - t0) / 1000),
		        within);
		cli_detach(c);
		return CLI_NODAEMON;
	}
	if (need_daemon && !c->daemon_seen) {
		cli_err(c,
		        "instance '%s': the daemon is not running (its segment is left for "
		        "the next taskringd to adopt)",
		        in);
		cli_detach(c);
		return CLI_NODAEMON;
	}
	return CLI_OK;
}

void cli_detach(struct cli *c)
{
	taskring_detach(c->h);
	c->h = NULL;
}

int cli_status_of(int err)
{
	switch (-err) {
	case 0:
		return CLI_OK;
	case ENOENT:
	case TASKRING_EEXPIRED:
	case TASKRING_EBADID:
	case TASKRING_EFINAL:
		return CLI_FAILED;
	case EINVAL:
	case E2BIG:
	case TASKRING_EBADTYPE:
	case TASKRING_ENOTSUP_CLS:
		return CLI_USAGE;
	case EACCES:
	case EPERM:
	case TASKRING_ENODAEMON:
	case TASKRING_ELAYOUT:
	case TASKRING_ECORRUPT:
	case ENOTRECOVERABLE:
		return CLI_NODAEMON;
	case ETIMEDOUT:
	case TASKRING_ELOCKED:
		return CLI_TIMEOUT;
	case TASKRING_EFULL:
		return CLI_FULL;
	default:
		return CLI_FAILED;
	}
}

int cli_task_error(struct cli *c, uint64_t id, int err)
{
	unsigned long long n = (unsigned long long)id;

	switch (-err) {
	case ENOENT:
		cli_err(c, "task %llu: no such task", n);
		break;
	case TASKRING_EBADID:
		cli_err(c, "task %llu: no such task (not an id of instance '%s')", n, c->instance);
		break;
	case TASKRING_EEXPIRED:
		/* The library cannot tell a detached task that finished from a
		 * task whose slot was reused: name both, claim neither. */
		cli_err(c,
		        "task %llu: no longer in the table (a detached task keeps no result; "
		        "others go once read or after tasks.result_ttl_s, when their slot is "
		        "reused)",
		        n);
		break;
	case TASKRING_EFINAL:
		cli_err(c, "task %llu: already finished", n);
		break;
	case ETIMEDOUT:
		cli_err(c, "task %llu: not finished before the timeout", n);
		break;
	case TASKRING_ENODAEMON:
		cli_err(
		    c,
		    "task %llu: not finished and the daemon of instance '%s' is not running (or "
		    "the segment it was queued in was removed)",
		    n, c->instance);
		break;
	case EINTR:
		cli_err(c, "task %llu: interrupted while waiting", n);
		break;
	case TASKRING_ELOCKED:
		cli_lock_error(c, "", err);
		break;
	default:
		cli_err(c, "task %llu: %s", n, taskring_strerror(err));
	}
	return cli_status_of(err);
}

int cli_submit_error(struct cli *c, int err, const char *type, int argc, const char *const *argv)
{
	size_t bytes = 0;
	struct taskring_status st;

	switch (-err) {
	case TASKRING_EBADTYPE:
		cli_err(c, "unknown task type '%.40s'", type);
		break;
	case E2BIG:
		for (int i = 0; i < argc; i++)
			bytes += strlen(argv[i]) + 1;
		memset(&st, 0, sizeof(st));
		if (c->h && taskring_status_get(c->h, &st) == 0) {
			cli_err(c,
			        "arguments of task type '%.40s' too long: %zu bytes, instance '%s' "
			        "takes at most %u (queue.payload_max)",
			        type, bytes, c->instance, st.payload_max);
			taskring_status_release(&st);
		} else {
			cli_err(c, "arguments of task type '%.40s' too long: %zu bytes", type,
			        bytes);
		}
		break;
	case EINVAL:
		cli_err(c, "invalid task arguments or options for type '%.40s': %s", type,
		        taskring_strerror(err));
		break;
	case TASKRING_ENOTSUP_CLS:
		cli_err(c, "task type '%.40s' does not allow the requested --class", type);
		break;
	case TASKRING_EFULL:
		cli_err(c, "queue full: no free slot in instance '%s' (--no-block)", c->instance);
		break;
	case ETIMEDOUT:
		cli_err(c, "queue full: no free slot in instance '%s' before the timeout",
		        c->instance);
		break;
	case TASKRING_ENODAEMON:
		cli_err(c, "instance '%s': the daemon is not running", c->instance);
		break;
	case TASKRING_ELOCKED:
		cli_lock_error(c, "", err);
		break;
	default:
		cli_err(c, "submitting a '%.40s' task: %s", type, taskring_strerror(err));
	}
	return cli_status_of(err);
}

int cli_is_supervisor(int pid)
{
	char path[64], buf[PATH_MAX];
	ssize_t n;

	if (pid <= 1)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	n = readlink(path, buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = 0;
		const char *base = strrchr(buf, '/');
		base = base ? base + 1 : buf;
		if (strncmp(base, "taskringd", 9) != 0) /* also "taskringd (deleted)" */
			return 0;
	} else if (errno != EACCES && errno != EPERM) {
		return 0; /* gone; another user's process leaves only its name to check */
	}
	/* Workers and the spare run the same program under their own names. */
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	int ok = fgets(buf, sizeof(buf), f) && strcmp(buf, "taskringd\n") == 0;
	fclose(f);
	return ok;
}

int64_t cli_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cli_remaining_ms(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - cli_now_ms();
	return left > 0 ? left : 0;
}

int cli_daemon_gone(struct cli *c)
{
	int64_t now = cli_now_ms(), last = c->last_look;

	c->last_look = now;
	if (taskring_daemon_alive(c->h)) {
		c->daemon_seen = 1;
		c->dead_since = 0;
		return 0;
	}
	/* Not looked for a while (results that were final at once, a slow
	 * reader of our output): a daemon may have come and gone meanwhile. */
	if (!c->dead_since || now - last > 2 * CLI_SLICE_MS)
		c->dead_since = now ? now : 1;
	return now - c->dead_since >= c->grace_ms;
}

int cli_wait_task(struct cli *c, uint64_t id, int64_t deadline, struct taskring_info *info)
{
	int r, locked;

	if (cli_daemon_gone(c) || !c->daemon_seen) {
		/* None ran since we started, or it has been gone for the
		 * grace already: finished tasks can still be collected;
		 * others would wait forever. */
		r = taskring_wait(c->h, id, 0, info);
		return r == -ETIMEDOUT ? -TASKRING_ENODAEMON : r;
	}
	for (;;) {
		int64_t left = cli_remaining_ms(deadline);
		int64_t slice = c->out_watch ? CLI_OUT_SLICE_MS : CLI_SLICE_MS;

		if (cli_interrupted())
			return -EINTR;
		if (c->out_watch && cli_output_gone())
			return cli_output_lost();
		if (left >= 0 && left < slice)
			slice = left;
		r = taskring_wait(c->h, id, slice, info);
		locked = r == -TASKRING_ELOCKED;
		if (locked)
			cli_lock_stalled(c);
		else if (r != -ETIMEDOUT && r != -EINTR)
			return r;
		if (deadline >= 0 && cli_remaining_ms(deadline) == 0)
			return locked ? r : -ETIMEDOUT;
		if (cli_daemon_gone(c))
			return -TASKRING_ENODAEMON;
	}
}

int cli_output_gone(void)
{
	struct pollfd p = {.fd = STDOUT_FILENO, .events = POLLOUT};
	struct stat st;

	if (fstat(STDOUT_FILENO, &st) || !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
		return 0;
	/* A pipe without readers polls POLLERR; a socket whose peer closed,
	 * POLLHUP. */
	return poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP));
}

int cli_output_lost(void)
{
	raise(SIGPIPE); /* what the next write would get */
	return cli_interrupted() ? -EINTR : -EPIPE;
}

void cli_lock_stalled(struct cli *c)
{
	if (c->lock_warned)
		return;
	c->lock_warned = 1;
	cli_lock_error(c, "still waiting: ", -TASKRING_ELOCKED);
}

unsigned cli_status_unread(const struct taskring_status *st)
{
	int64_t n = (int64_t)st->capacity - st->free - st->queued[0] - st->queued[1] -
	            st->running[0] - st->running[1];

	return n > 0 ? (unsigned)n : 0;
}

void cli_full_stalled(struct cli *c, const char *give_up)
{
	struct taskring_status st;
	char why[256] = "";

	if (c->full_warned)
		return;
	c->full_warned = 1;
	memset(&st, 0, sizeof(st));
	if (c->h && taskring_status_get(c->h, &st) == 0) {
		unsigned busy = st.queued[0] + st.queued[1] + st.running[0] + st.running[1];
		unsigned unread = cli_status_unread(&st);
		int n = snprintf(why, sizeof(why), " (%u of %u slots free", st.free, st.capacity);
		if (busy && n > 0 && (size_t)n < sizeof(why))
			n += snprintf(why + n, sizeof(why) - (size_t)n,
			              ", %u tasks queued or running", busy);
		if (unread && n > 0 && (size_t)n < sizeof(why))
			n += snprintf(why + n, sizeof(why) - (size_t)n,
			              ", %u finished results kept unread for up to "
			              "tasks.result_ttl_s",
			              unread);
		if (n > 0 && (size_t)n < sizeof(why))
			snprintf(why + n, sizeof(why) - (size_t)n, ")");
		taskring_status_release(&st);
	}
	cli_err(c, "the task table of instance '%s' is full%s; waiting for a slot (%s)",
	        c->instance, why, give_up);
}

int cli_status_read(struct cli *c, struct taskring_status *st)
{
	memset(st, 0, sizeof(*st));
	int r = taskring_status_get(c->h, st);
	if (r == -TASKRING_ELOCKED)
		cli_lock_error(c, "reading the status: ", r);
	else if (r < 0)
		cli_err(c, "reading the status of instance '%s': %s", c->instance,
		        taskring_strerror(r));
	return r < 0 ? cli_status_of(r) : CLI_OK;
}

void cli_lock_error(struct cli *c, const char *what, int err)
{
	char who[128];
	if (c->h && taskring_lock_holder(c->h, who, sizeof(who)) > 0)
		cli_err(c, "instance '%s': %s%s; it is held by %s", c->instance, what,
		        taskring_strerror(err), who);
	else
		cli_err(c, "instance '%s': %s%s", c->instance, what, taskring_strerror(err));
}

/* Length of s without trailing newlines, for one-line messages. */
static int cli_trimmed(const char *s, size_t len)
{
	while (len && (s[len - 1] == '\n' || s[len - 1] == '\r'))
		len--;
	return len > 4000 ? 4000 : (int)len;
}

int cli_report_final(struct cli *c, const struct taskring_info *info, int blank_line)
{
	unsigned long long id = (unsigned long long)info->id;
	const char *out = info->output ? info->output : "";
	size_t len = info->output ? info->output_len : 0;

	if (info->state == TASKRING_DONE) {
		text_write_line(stdout, out, len);
		return CLI_OK;
	}
	if (blank_line)
		putchar('\n');
	fflush(stdout);
	/* The error comes from the task (an exec program's standard error):
	 * its control bytes are shown, not sent to the terminal, as by show. */
	int n = cli_trimmed(out, len);
	char *vis = text_visible(out, (size_t)n);
	const char *e = vis ? vis : "(out of memory)";
	if (info->state == TASKRING_CANCELLED) {
		if (n && !(n == 9 && memcmp(out, "cancelled", 9) == 0))
			cli_err(c, "task %llu was cancelled: %s", id, e);
		else
			cli_err(c, "task %llu was cancelled", id);
	} else if (info->state == TASKRING_FAILED) {
		cli_err(c, "task %llu failed: %s", id, e);
	} else {
		cli_err(c, "task %llu is %s, not finished", id, taskring_state_name(info->state));
	}
	free(vis);
	return CLI_FAILED;
}

static void cli_on_signal(int sig)
{
	cli_sig = sig;
}

/* The signals a long wait turns into a flag, and their actions before. */
static const int cli_sigs[] = {SIGINT, SIGTERM, SIGPIPE};
static struct sigaction cli_sig_old[3];
static int cli_sig_caught[3];

void cli_interrupt_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = cli_on_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(cli_sigs) / sizeof(cli_sigs[0]); i++) {
		/* A signal ignored when we started (a background job of a
		 * script, nohup) stays ignored. */
		cli_sig_caught[i] = sigaction(cli_sigs[i], NULL, &cli_sig_old[i]) == 0 &&
		                    cli_sig_old[i].sa_handler != SIG_IGN &&
		                    sigaction(cli_sigs[i], &sa, NULL) == 0;
	}
}

int cli_interrupted(void)
{
	return cli_sig;
}

void cli_interrupt_reset(void)
{
	for (size_t i = 0; i < sizeof(cli_sigs) / sizeof(cli_sigs[0]); i++) {
		if (cli_sig_caught[i])
			sigaction(cli_sigs[i], &cli_sig_old[i], NULL);
		cli_sig_caught[i] = 0;
	}
	cli_sig = 0;
}

int cli_ids_attach(struct cli *c, int n, char **argv, const char *what, uint64_t **out)
{
	char msg[96];
	if (n <= 0) {
		snprintf(msg, sizeof(msg), "missing ID (the task ids %s)", what);
		return cli_usage(c, "%s", msg);
	}
	uint64_t *ids = calloc((size_t)n, sizeof(*ids));
	if (!ids) {
		cli_err(c, "out of memory");
		return CLI_FAILED;
	}
	int st = cli_parse_ids(c, n, argv, ids);
	if (st == CLI_OK)
		st = cli_attach(c, 0);
	if (st != CLI_OK) {
		free(ids);
		return st;
	}
	*out = ids;
	return CLI_OK;
}
