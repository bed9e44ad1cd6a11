/*
 * taskopts.h - the options of a task submission shared by `submit` and
 * `map`, and the TYPE operand that follows them:
 *
 *   [--timeout S] [--attempts N] [--run-timeout S] [--class cpu|io]
 *   submit only: [--wait] [--no-block] [--detach]
 *   TYPE [ARG...]
 *   exec [OPTIONS] [--] PROGRAM [ARG...]
 *
 * Option parsing stops at TYPE, so task arguments such as "-5" reach the
 * task. For the type "exec" the options may also follow the type, up to
 * "--" (issue 8's `submit exec --class io -- PROGRAM ARG...`); the program
 * is then the first task word.
 */
#ifndef TR_CLI_TASKOPTS_H
#define TR_CLI_TASKOPTS_H

#include <stdint.h>

#include "cli.h"

struct taskopts {
	int wait;               /* --wait */
	int no_block;           /* --no-block */
	int detach;             /* --detach */
	int64_t timeout_ms;     /* --timeout, -1 none */
	uint64_t attempts;      /* --attempts, 0 the daemon's default */
	int64_t run_timeout_ms; /* --run-timeout, -1 the daemon's default */
	int cls;                /* --class, -1 the type's own */
};

/* The largest --attempts accepted. */
#define TASKOPTS_ATTEMPTS_MAX 1000 /* TRQ_ATTEMPTS_MAX: the queue refuses more */

/* Parses the options and TYPE of argv (argv[0] is the command name). With
 * submit, --wait, --no-block and --detach are allowed. Sets *type and *first
 * to the index of the first task word (for exec: the program, which must be
 * there). Returns CLI_CONTINUE, or the exit status (0 after --help). */
int taskopts_parse(struct cli *c, int argc, char **argv, int submit, struct taskopts *o,
                   const char **type, int *first);

/* Fills the library's options; slot_timeout_ms is how long a submit may
 * wait for a free slot (<0 forever, 0 not at all). */
void taskopts_lib(const struct taskopts *o, int64_t slot_timeout_ms, struct taskring_opts *out);

#endif
