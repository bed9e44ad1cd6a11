/*
 * fuzz_args.c - libFuzzer target for the task argument checkers.
 *
 * The input is split on NUL bytes: the first word is the task type, the rest
 * its arguments (at most 64). An unknown type name picks a built-in type from
 * a hash of the name, so every checker sees every input. Checks, besides "no
 * crash, no leak, no undefined behaviour": a refusal always comes with a
 * NUL-terminated, non-empty one-line error; accepted numbers are within the
 * documented ranges; an accepted crash signal ends a process by default;
 * tr_task_prepare agrees with tr_task_check; quick cpu handlers and the io
 * state machines' start (with no allowed paths, so nothing is opened) respect
 * the output size. Any violation aborts.
 *
 * Build: clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude -Icommon \
 *          -Iworker fuzz/fuzz_args.c worker/tasks.c worker/iotasks.c worker/paths.c \
 *          worker/crc32.c -lm
 * Seeds: fuzz/corpus/args/ (NUL-separated words).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iotasks.h"
#include "paths.h"
#include "tasks.h"

#define MAX_WORDS 64

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_args: invariant broken: %s\n", what);
		abort();
	}
}

static int one_line(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);
	return n > 0 && n < cap && !memchr(s, '\n', n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	char *words[MAX_WORDS + 2];
	unsigned nw = 0;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (size_t i = 0; i <= size && nw < MAX_WORDS + 1;) {
		words[nw++] = buf + i;
		i += strlen(buf + i) + 1;
	}
	words[nw] = NULL;

	size_t ntypes;
	const struct tr_task_def *all = tr_tasks_builtin(&ntypes);
	const struct tr_task_def *d = tr_task_find(words[0]);
	if (!d) {
		uint32_t h = 2166136261u;
		for (const char *p = words[0]; *p; p++)
			h = (h ^ (uint8_t)*p) * 16777619u;
		d = &all[h % ntypes];
	}
	unsigned argc = nw - 1;
	char **argv = words + 1;

	struct tr_targs ta;
	char err[512];
	memset(err, 0x55, sizeof(err));
	int r = tr_task_check(d, argc, argv, &ta, err, sizeof(err));
	check(r == 0 || r == -22, "check returns 0 or -EINVAL");
	if (r) {
		check(one_line(err, sizeof(err)), "refusal has a one-line error");
	} else {
		check(argc >= d->min_args, "accepted too few");
		check(d->max_args == TR_ARGS_ANY || argc <= d->max_args, "accepted too many");
		if (!strcmp(d->name, "sqrt-sum") || !strcmp(d->name, "square-sum"))
			check(ta.n <= 1000000000000ull, "N in range");
		if (!strcmp(d->name, "spin") || !strcmp(d->name, "sleep"))
			check(ta.n <= 86400000ull, "MS in range");
		if (!strcmp(d->name, "crash"))
			check(ta.sig >= 1 && ta.sig <= SIGRTMAX && ta.sig != SIGSTOP &&
			          ta.sig != SIGCHLD && ta.sig != SIGCONT && ta.sig != SIGTSTP,
			      "crash signal ends a process");
		if (d->io == TR_IO_READ_FILE || d->io == TR_IO_WRITE_FILE ||
		    d->io == TR_IO_COPY_FILE)
			check(argv[0][0] == '/', "paths are absolute");
	}

	/* prepare must agree with check */
	struct trq_task t;
	memset(&t, 0, sizeof(t));
	snprintf(t.type, sizeof(t.type), "%s", d->name);
	t.argc = argc;
	t.argv = argv;
	char out[64];
	struct tr_out o;
	tr_out_init(&o, out, sizeof(out));
	struct tr_targs ta2;
	const struct tr_task_def *pd = tr_task_prepare(&t, d->cls, &ta2, &o);
	check((pd != NULL) == (r == 0), "prepare agrees with check");
	check(o.len <= sizeof(out), "prepare error fits");
	if (!pd)
		goto out;

	if (d->cls == TASKRING_CPU && d->run && tr_task_quick(d, &ta)) { /* never crash, spin */
		int st = tr_task_run(d, &ta, argc, argv, &o);
		check(st == TASKRING_DONE || st == TASKRING_FAILED, "handler state");
		check(o.len <= sizeof(out), "handler output fits");
	} else if (d->cls == TASKRING_IO) {
		struct tr_paths none = {0};
		struct tr_iot it;
		struct tr_iop op;
		int more = tr_iot_begin(&it, d, &ta, argc, argv, &none, out, sizeof(out), &op);
		check(more == (d->io == TR_IO_SLEEP), "only sleep starts without allowed paths");
		if (!more)
			check(it.state == TASKRING_FAILED && it.out.len > 0,
			      "refused io task fails");
		tr_iot_release(&it);
	}
out:
	free(buf);
	return 0;
}
