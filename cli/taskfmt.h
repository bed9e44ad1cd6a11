/*
 * taskfmt.h - how the CLI shows one task: the JSON object of `show --json`
 * (also the elements of `list --json`), the text of `show`, and the rows of
 * `list`.
 *
 * The JSON shape is stable and documented in the README:
 *   {"id", "type", "args": [...], "state", "attempts", "max_attempts",
 *    "worker", "result", "error", "submitted_ns", "started_ns", "finished_ns"}
 * with null where not set: worker when the task never ran, result unless
 * done, error unless failed or cancelled, times that are 0.
 */
#ifndef TR_CLI_TASKFMT_H
#define TR_CLI_TASKFMT_H

#include <stdint.h>
#include <stdio.h>

#include "taskring.h"

/* Writes the task as one JSON object (no newline). */
void taskfmt_json(FILE *f, const struct taskring_info *t);

/* Writes the task as "key  value" lines for people. */
void taskfmt_text(FILE *f, const struct taskring_info *t);

/* Writes the header line of the list table. */
void taskfmt_row_header(FILE *f);

/* Writes one row of the list table; now_ns is CLOCK_REALTIME for ages. */
void taskfmt_row(FILE *f, const struct taskring_info *t, uint64_t now_ns);

#endif
