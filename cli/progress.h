/*
 * progress.h - the progress bar `taskring map` draws on a terminal:
 * done/total, percentage, rate and ETA on one line of stderr, redrawn at
 * most ten times a second and erased when done.
 *
 * It draws only when enabled at init (the caller passes isatty(2)), so
 * nothing reaches stderr when it is a file or a pipe. The state is the
 * struct the caller owns.
 */
#ifndef TR_CLI_PROGRESS_H
#define TR_CLI_PROGRESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct progress {
	FILE *f;          /* where to draw (stderr) */
	int enabled;      /* draw at all */
	int shown;        /* a bar is on the screen now */
	size_t total;     /* tasks in all */
	size_t done;      /* tasks finished */
	int64_t start_ms; /* monotonic ms at init */
	int64_t last_ms;  /* when last drawn */
	int width;        /* terminal columns */
};

/* Starts a bar for total tasks on f; draws only when enabled. */
void progress_init(struct progress *p, FILE *f, size_t total, int enabled);

/* Records done tasks and redraws when 100 ms have passed since the last draw
 * (or always when force). now_ms is a monotonic time in ms. */
void progress_update(struct progress *p, size_t done, int64_t now_ms, int force);

/* Erases the bar (before other output shares the terminal). It comes back
 * at the next update. */
void progress_clear(struct progress *p);

/* Formats the bar's text for done/total after elapsed_ms into buf, at most
 * width columns. Pure; used by progress_update and the unit tests. */
void progress_format(char *buf, size_t len, size_t done, size_t total, int64_t elapsed_ms,
                     int width);

#endif
