/*
 * cfgdiag.h - the error list of one configuration load.
 *
 * Collects messages as lines "FILE:LINE:COLUMN: message" (or "FILE: message"
 * for problems without a position) in a growing buffer. Invariants: the buffer
 * is always NUL-terminated once anything was added; at most TR_CFGDIAG_MAX
 * messages are kept, then one "too many errors" line ends the list; an
 * allocation failure only sets `oom` (messages are then dropped, never a crash).
 */
#ifndef TR_CFGDIAG_H
#define TR_CFGDIAG_H

#include <stdbool.h>
#include <stddef.h>

#define TR_CFGDIAG_MAX 50

struct tr_cfgdiag {
	const char *file; /* name used in every line; not owned */
	char *buf;        /* the lines, newline-separated; NULL while empty */
	size_t len, cap;
	unsigned count; /* messages added (including dropped ones) */
	bool oom;       /* an allocation failed while adding a message */
};

/* Starts an empty list whose lines name file (must outlive d). */
void tr_cfgdiag_init(struct tr_cfgdiag *d, const char *file);

/* Adds "FILE:LINE:COL: message". line and col are 1-based. */
void tr_cfgdiag_at(struct tr_cfgdiag *d, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Adds "FILE: message" for problems that have no position. */
void tr_cfgdiag_file(struct tr_cfgdiag *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Copies the lines (without a trailing newline) into err, truncated to errlen and
   NUL-terminated. err may be NULL or errlen 0: nothing is written. */
void tr_cfgdiag_export(const struct tr_cfgdiag *d, char *err, size_t errlen);

/* Frees the buffer; d may be reused after tr_cfgdiag_init(). */
void tr_cfgdiag_free(struct tr_cfgdiag *d);

/* Renders s[0..len) for a one-line message into out (outlen >= 8): bytes outside
   printable ASCII/UTF-8 text become \xNN, and long text is cut with "...".
   Returns out. */
const char *tr_cfgdiag_show(char *out, size_t outlen, const char *s, size_t len);

#endif
