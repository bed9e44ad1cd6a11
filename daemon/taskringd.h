/*
 * taskringd.h - the taskringd command line: options, -t, --print-config,
 * and running the supervisor. main() only sets up the process title and
 * calls tr_taskringd_main(), so the rest is reachable from unit tests.
 */
#ifndef TR_TASKRINGD_H
#define TR_TASKRINGD_H

/* Runs taskringd with argv; returns the exit status (0 ok, 1 error, 2 usage). */
int tr_taskringd_main(int argc, char **argv);

#endif
