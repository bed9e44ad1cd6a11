/*
 * tasks.c - see tasks.h. The built-in table, argument checkers and the cpu
 * handlers. The built-in table is const and handlers only use their
 * arguments and the output buffer; the one piece of state is the pointer to
 * the extra types (set once at start, inherited by the workers).
 */
#include "tasks.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>

#define N_MAX  1000000000000ull /* sqrt-sum, square-sum */
#define MS_MAX 86400000ull      /* spin, sleep: one day */

/* ---- output ------------------------------------------------------------- */

void tr_out_init(struct tr_out *o, char *buf, size_t cap)
{
	o->buf = buf;
	o->cap = cap;
	o->len = 0;
	o->over = 0;
}

void tr_out_add(struct tr_out *o, const void *s, size_t n)
{
	size_t room = o->cap - o->len;
	if (n > room) {
		n = room;
		o->over = 1;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static void out_vprintf(struct tr_out *o, const char *fmt, va_list ap)
{
	char small[512];
	va_list ap2;

	va_copy(ap2, ap);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	if (n < 0) {
		va_end(ap2);
		return;
	}
	if ((size_t)n < sizeof(small)) {
		tr_out_add(o, small, (size_t)n);
	} else {
		char *big = malloc((size_t)n + 1);
		if (big) {
			vsnprintf(big, (size_t)n + 1, fmt, ap2);
			tr_out_add(o, big, (size_t)n);
			free(big);
		} else {
			tr_out_add(o, small, sizeof(small) - 1);
			o->over = 1;
		}
	}
	va_end(ap2);
}

void tr_out_printf(struct tr_out *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	out_vprintf(o, fmt, ap);
	va_end(ap);
}

void tr_out_error(struct tr_out *o, const char *fmt, ...)
{
	va_list ap;
	o->len = 0;
	va_start(ap, fmt);
	out_vprintf(o, fmt, ap);
	va_end(ap);
	o->over = 0;
}

const char *tr_task_show(char *dst, size_t dst_len, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0, shown = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		size_t need = (c >= 0x20 && c < 0x7f) ? 1 : 4;
		if (shown >= 64 || n + need + 4 > dst_len) {
			if (n + 4 <= dst_len) {
				memcpy(dst + n, "...", 3);
				n += 3;
			}
			break;
		}
		if (need == 1) {
			dst[n++] = (char)c;
		} else {
			dst[n++] = '\\';
			dst[n++] = 'x';
			dst[n++] = hex[c >> 4];
			dst[n++] = hex[c & 15];
		}
		shown++;
	}
	dst[n] = '\0';
	return dst;
}

/* ---- argument parsing ------------------------------------------------------ */

/* Parses a decimal integer argument in [lo, hi]. */
static int arg_u64(const struct tr_task_def *d, const char *argname, const char *s, uint64_t lo,
                   uint64_t hi, uint64_t *out, char *err, size_t errlen)
{
	char shown[300];
	const char *p = s;
	int neg = 0, big = 0;
	uint64_t v = 0;

	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	if (*p == '\0')
		goto nan;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			goto nan;
		unsigned dgt = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - dgt) / 10)
			big = 1;
		else
			v = v * 10 + dgt;
	}
	if (big || (neg && v != 0) || v < lo || v > hi) {
		snprintf(err, errlen, "%s: %s: out of range (%llu..%llu): '%s'", d->name, argname,
		         (unsigned long long)lo, (unsigned long long)hi,
		         tr_task_show(shown, sizeof(shown), s));
		return -EINVAL;
	}
	*out = v;
	return 0;
nan:
	snprintf(err, errlen, "%s: %s: not a number: '%s'", d->name, argname,
	         tr_task_show(shown, sizeof(shown), s));
	return -EINVAL;
}

static int check_n(const struct tr_task_def *d, unsigned argc, char *const *argv,
                   struct tr_targs *ta, char *err, size_t errlen)
{
	(void)argc;
	return arg_u64(d, "N", argv[0], 0, N_MAX, &ta->n, err, errlen);
}

static int check_ms(const struct tr_task_def *d, unsigned argc, char *const *argv,
                    struct tr_targs *ta, char *err, size_t errlen)
{
	(void)argc;
	return arg_u64(d, "MS", argv[0], 0, MS_MAX, &ta->n, err, errlen);
}

static int check_exec(const struct tr_task_def *d, unsigned argc, char *const *argv,
                      struct tr_targs *ta, char *err, size_t errlen)
{
	(void)ta, (void)argc;
	if (argv[0][0] == '\0') {
		snprintf(err, errlen, "%s: PROGRAM: empty", d->name);
		return -EINVAL;
	}
	return 0;
}

static int check_paths(const struct tr_task_def *d, unsigned argc, char *const *argv,
                       struct tr_targs *ta, char *err, size_t errlen)
{
	char shown[300];
	/* copy-file: both words are paths; read-file, write-file: the first. */
	unsigned npaths = d->io == TR_IO_COPY_FILE ? 2 : 1;

	(void)ta;
	for (unsigned i = 0; i < npaths && i < argc; i++) {
		if (argv[i][0] != '/') {
			snprintf(err, errlen, "path not allowed: %s (not an absolute path)",
			         tr_task_show(shown, sizeof(shown), argv[i]));
			return -EINVAL;
		}
	}
	return 0;
}

/* Signals whose default action ends the process (term or core). */
static const struct {
	const char *name;
	int sig;
} sig_names[] = {
    {"HUP", SIGHUP},       {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"ILL", SIGILL},
    {"TRAP", SIGTRAP},     {"ABRT", SIGABRT}, {"IOT", SIGIOT},   {"BUS", SIGBUS},
    {"FPE", SIGFPE},       {"KILL", SIGKILL}, {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},
    {"USR2", SIGUSR2},     {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"TERM", SIGTERM},
    {"STKFLT", SIGSTKFLT}, {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM},
    {"PROF", SIGPROF},     {"IO", SIGIO},     {"POLL", SIGPOLL}, {"PWR", SIGPWR},
    {"SYS", SIGSYS},
};

/* Signals that do not end a process by default, for a clearer message. */
static const struct {
	const char *name;
	int sig;
} sig_harmless[] = {
    {"CHLD", SIGCHLD}, {"CONT", SIGCONT}, {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},
    {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU}, {"URG", SIGURG},   {"WINCH", SIGWINCH},
};

static int sig_lethal(int sig)
{
	if (sig >= SIGRTMIN && sig <= SIGRTMAX)
		return 1;
	for (size_t i = 0; i < sizeof(sig_names) / sizeof(sig_names[0]); i++)
		if (sig_names[i].sig == sig)
			return 1;
	return 0;
}

static int check_signal(const struct tr_task_def *d, unsigned argc, char *const *argv,
                        struct tr_targs *ta, char *err, size_t errlen)
{
	char shown[300];
	const char *s;
	int sig = -1;

	ta->sig = SIGSEGV;
	if (argc == 0)
		return 0;
	s = argv[0];
	if (*s >= '0' && *s <= '9') {
		uint64_t v;
		char e2[8];
		if (arg_u64(d, "SIGNAL", s, 1, 64, &v, e2, sizeof(e2)) == 0)
			sig = (int)v;
	} else {
		const char *n = strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s;
		for (size_t i = 0; sig < 0 && i < sizeof(sig_names) / sizeof(sig_names[0]); i++)
			if (strcasecmp(n, sig_names[i].name) == 0)
				sig = sig_names[i].sig;
		for (size_t i = 0; sig < 0 && i < sizeof(sig_harmless) / sizeof(sig_harmless[0]);
		     i++)
			if (strcasecmp(n, sig_harmless[i].name) == 0)
				sig = sig_harmless[i].sig;
	}
	if (sig < 1 || sig > SIGRTMAX) {
		snprintf(err, errlen, "%s: SIGNAL: unknown signal: '%s'", d->name,
		         tr_task_show(shown, sizeof(shown), s));
		return -EINVAL;
	}
	if (!sig_lethal(sig)) {
		snprintf(err, errlen, "%s: SIGNAL: signal %d (%s) does not end a process: '%s'",
		         d->name, sig, sigabbrev_np(sig) ? sigabbrev_np(sig) : "?",
		         tr_task_show(shown, sizeof(shown), s));
		return -EINVAL;
	}
	ta->sig = sig;
	return 0;
}

/* ---- cpu handlers ----------------------------------------------------------- */

static void out_words(struct tr_out *o, unsigned argc, char *const *argv)
{
	for (unsigned i = 0; i < argc; i++) {
		if (i)
			tr_out_add(o, " ", 1);
		tr_out_add(o, argv[i], strlen(argv[i]));
	}
}

static int run_noop(const struct tr_targs *ta, unsigned argc, char *const *argv, struct tr_out *o)
{
	(void)ta, (void)argc, (void)argv, (void)o;
	return TASKRING_DONE;
}

static int run_echo(const struct tr_targs *ta, unsigned argc, char *const *argv, struct tr_out *o)
{
	(void)ta;
	out_words(o, argc, argv);
	return TASKRING_DONE;
}

static int run_sqrt_sum(const struct tr_targs *ta, unsigned argc, char *const *argv,
                        struct tr_out *o)
{
	double s = 0;
	(void)argc, (void)argv;
	for (uint64_t i = 0; i < ta->n; i++)
		s += sqrt((double)i);
	tr_out_printf(o, "%.6f", s);
	return TASKRING_DONE;
}

static void out_u128(struct tr_out *o, unsigned __int128 v)
{
	char d[40];
	size_t n = sizeof(d);
	do {
		d[--n] = (char)('0' + (unsigned)(v % 10));
		v /= 10;
	} while (v);
	tr_out_add(o, d + n, sizeof(d) - n);
}

static int run_square_sum(const struct tr_targs *ta, unsigned argc, char *const *argv,
                          struct tr_out *o)
{
	unsigned __int128 s = 0;
	(void)argc, (void)argv;
	for (uint64_t i = 0; i < ta->n; i++)
		s += (unsigned __int128)i * i;
	out_u128(o, s);
	return TASKRING_DONE;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int run_spin(const struct tr_targs *ta, unsigned argc, char *const *argv, struct tr_out *o)
{
	uint64_t end = mono_ns() + ta->n * 1000000ull;
	volatile uint64_t x = 0;
	(void)argc, (void)argv, (void)o;
	while (mono_ns() < end)
		for (int i = 0; i < 1000; i++)
			x = x + (uint64_t)i;
	return TASKRING_DONE;
}

/* sleep in the cpu class: holds the worker's main thread for MS ms without
 * using the CPU (in the io class the io thread waits with a timeout). */
static int run_sleep(const struct tr_targs *ta, unsigned argc, char *const *argv, struct tr_out *o)
{
	uint64_t end = mono_ns() + ta->n * 1000000ull;
	(void)argc, (void)argv, (void)o;
	struct timespec ts = {.tv_sec = (time_t)(end / 1000000000ull),
	                      .tv_nsec = (long)(end % 1000000000ull)};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
	return TASKRING_DONE;
}

static int run_fail(const struct tr_targs *ta, unsigned argc, char *const *argv, struct tr_out *o)
{
	size_t total = 0;
	(void)ta;
	for (unsigned i = 0; i < argc; i++)
		total += strlen(argv[i]);
	o->len = 0;
	if (total == 0)
		tr_out_error(o, "failed on purpose");
	else
		out_words(o, argc, argv);
	o->over = 0; /* an error is cut to fit, never refused */
	return TASKRING_FAILED;
}

static int run_crash(const struct tr_targs *ta, unsigned argc, char *const *argv, struct tr_out *o)
{
	/* No core file per poison task: they are expected, and a chaos run
	 * raises hundreds. */
	struct rlimit nocore = {0, 0};
	sigset_t set;

	(void)argc, (void)argv;
	setrlimit(RLIMIT_CORE, &nocore);
	signal(ta->sig, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, ta->sig);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	raise(ta->sig);
	tr_out_error(o, "crash: signal %d did not end the worker", ta->sig);
	return TASKRING_FAILED;
}

/* ---- the table ---------------------------------------------------------------- */

static const struct tr_task_def builtin[] = {
    {"noop", TASKRING_CPU, 0, 0, "", 0, TR_IO_NONE, NULL, run_noop},
    {"echo", TASKRING_CPU, 0, TR_ARGS_ANY, "[WORD...]", 0, TR_IO_NONE, NULL, run_echo},
    {"sqrt-sum", TASKRING_CPU, 1, 1, "N", 4096, TR_IO_NONE, check_n, run_sqrt_sum},
    {"square-sum", TASKRING_CPU, 1, 1, "N", 4096, TR_IO_NONE, check_n, run_square_sum},
    {"spin", TASKRING_CPU, 1, 1, "MS", 0, TR_IO_NONE, check_ms, run_spin},
    {"fail", TASKRING_CPU, 0, TR_ARGS_ANY, "[MESSAGE...]", 0, TR_IO_NONE, NULL, run_fail},
    {"crash", TASKRING_CPU, 0, 1, "[SIGNAL]", -1, TR_IO_NONE, check_signal, run_crash},
    {"sleep", TASKRING_IO, 1, 1, "MS", -1, TR_IO_SLEEP, check_ms, run_sleep, TR_TASK_ANYCLASS},
    {"read-file", TASKRING_IO, 1, 1, "PATH", -1, TR_IO_READ_FILE, check_paths, NULL},
    {"write-file", TASKRING_IO, 1, TR_ARGS_ANY, "PATH [TEXT...]", -1, TR_IO_WRITE_FILE, check_paths,
     NULL},
    {"copy-file", TASKRING_IO, 2, 2, "SRC DST", -1, TR_IO_COPY_FILE, check_paths, NULL},
    {"exec", TASKRING_CPU, 1, TR_ARGS_ANY, "PROGRAM [ARG...]", -1, TR_IO_EXEC, check_exec, NULL,
     TR_TASK_ANYCLASS},
};

#define NBUILTIN (sizeof(builtin) / sizeof(builtin[0]))

static const struct tr_task_def *extra_defs;
static size_t extra_n;

const struct tr_task_def *tr_tasks_builtin(size_t *n)
{
	*n = NBUILTIN;
	return builtin;
}

void tr_tasks_set_extra(const struct tr_task_def *defs, size_t n)
{
	extra_defs = n ? defs : NULL;
	extra_n = defs ? n : 0;
}

const struct tr_task_def *tr_tasks_extra(size_t *n)
{
	*n = extra_n;
	return extra_defs;
}

const struct tr_task_def *tr_task_find(const char *name)
{
	for (size_t i = 0; i < NBUILTIN; i++)
		if (strcmp(builtin[i].name, name) == 0)
			return &builtin[i];
	for (size_t i = 0; i < extra_n; i++)
		if (strcmp(extra_defs[i].name, name) == 0)
			return &extra_defs[i];
	return NULL;
}

static void fill_type(struct trq_type *t, const struct tr_task_def *d)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", d->name);
	t->cls = (uint32_t)d->cls;
	t->flags = (d->flags & TR_TASK_ANYCLASS) ? TRQ_T_ANYCLASS : 0;
}

unsigned tr_tasks_fill_types(struct trq_type *types, unsigned max)
{
	unsigned n = 0;
	for (size_t i = 0; i < NBUILTIN && n < max; i++)
		fill_type(&types[n++], &builtin[i]);
	for (size_t i = 0; i < extra_n && n < max; i++)
		fill_type(&types[n++], &extra_defs[i]);
	return n;
}

int tr_task_check(const struct tr_task_def *d, unsigned argc, char *const *argv,
                  struct tr_targs *ta, char *err, size_t errlen)
{
	char shown[300];
	const char *sp = *d->usage ? " " : "";

	memset(ta, 0, sizeof(*ta));
	if (argc < d->min_args) {
		/* name the first missing argument from the synopsis */
		char want[64];
		const char *u = d->usage;
		for (unsigned i = 0; i < argc && u; i++) {
			u = strchr(u, ' ');
			if (u)
				u++;
		}
		size_t wl = u ? strcspn(u, " ") : 0;
		snprintf(want, sizeof(want), "%.*s", (int)wl, u ? u : "");
		snprintf(err, errlen, "%s: missing argument %s (usage: %s%s%s)", d->name, want,
		         d->name, sp, d->usage);
		return -EINVAL;
	}
	if (d->max_args != TR_ARGS_ANY && argc > d->max_args) {
		snprintf(err, errlen, "%s: unexpected argument '%s' (usage: %s%s%s)", d->name,
		         tr_task_show(shown, sizeof(shown), argv[d->max_args]), d->name, sp,
		         d->usage);
		return -EINVAL;
	}
	if (d->check)
		return d->check(d, argc, argv, ta, err, errlen);
	return 0;
}

const struct tr_task_def *tr_task_prepare(const struct trq_task *t, int cls, struct tr_targs *ta,
                                          struct tr_out *o)
{
	char shown[300], err[512];

	if (t->bad) {
		tr_out_error(o, "%.*s", (int)sizeof(t->err), t->err);
		return NULL;
	}
	const struct tr_task_def *d = tr_task_find(t->type);
	if (!d) {
		tr_out_error(o, "unknown task type '%s'",
		             tr_task_show(shown, sizeof(shown), t->type));
		return NULL;
	}
	if (d->cls != cls && !(d->flags & TR_TASK_ANYCLASS)) {
		tr_out_error(o, "%s: a task of class %s cannot run in class %s", d->name,
		             d->cls == TASKRING_IO ? "io" : "cpu",
		             cls == TASKRING_IO ? "io" : "cpu");
		return NULL;
	}
	if (tr_task_check(d, t->argc, t->argv, ta, err, sizeof(err)) < 0) {
		tr_out_error(o, "%s", err);
		return NULL;
	}
	return d;
}

int tr_task_quick(const struct tr_task_def *d, const struct tr_targs *ta)
{
	return d->quick_n >= 0 && ta->n <= (uint64_t)d->quick_n;
}

int tr_task_run(const struct tr_task_def *d, const struct tr_targs *ta, unsigned argc,
                char *const *argv, struct tr_out *o)
{
	o->len = 0;
	o->over = 0;
	if (!d->run_ext && !d->run) {
		tr_out_error(o, "%s: has no handler to run here", d->name);
		return TASKRING_FAILED;
	}
	int st = d->run_ext ? d->run_ext(d, argc, argv, o) : d->run(ta, argc, argv, o);
	if (st == TASKRING_DONE && o->over) {
		tr_out_error(o, "%s: result longer than result_max (%zu bytes)", d->name, o->cap);
		st = TASKRING_FAILED;
	}
	return st;
}
