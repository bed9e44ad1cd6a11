/*
 * parse.h - pure parsers for the CLI's command-line values: unsigned
 * numbers, task ids, durations in seconds, signal names, and the splitting
 * of a line of standard input into words.
 *
 * Nothing here touches the daemon, prints or keeps state: every function
 * takes its input and writes its output (and, on error, a short reason a
 * person can read) into caller memory, so the unit tests can cover it.
 */
#ifndef TR_CLI_PARSE_H
#define TR_CLI_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* The largest duration accepted, in seconds (about 31 years). */
#define CLI_DURATION_MAX_S 1000000000ull

/* Parses a decimal unsigned integer in [min, max]: digits only, no sign, no
 * spaces, no trailing junk. Returns 0 and sets *out, or -EINVAL (not a
 * number, negative, empty) / -ERANGE (outside [min, max]) with the reason
 * (quoting s) in why[0..whylen). */
int cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out, char *why,
                  size_t whylen);

/* Parses a task id: a positive decimal integer. Errors as cli_parse_u64. */
int cli_parse_id(const char *s, uint64_t *id, char *why, size_t whylen);

/* Parses a duration in seconds with an optional decimal fraction ("10",
 * "0.5", ".25", "3."): at most CLI_DURATION_MAX_S. Sets *ms to the duration
 * in milliseconds, rounded up so that a non-zero duration is never 0 ms.
 * Errors as cli_parse_u64. */
int cli_parse_duration_ms(const char *s, int64_t *ms, char *why, size_t whylen);

/* Parses a signal: a number 1..64 or a name with or without "SIG", any case
 * ("KILL", "sigterm", "9"). Returns 0 and sets *sig, or -EINVAL with why. */
int cli_parse_signal(const char *s, int *sig, char *why, size_t whylen);

/* The abbreviation of a signal ("KILL"), or NULL when it has none. */
const char *cli_signal_name(int sig);

/* Splits line[0..len) into words separated by spaces, tabs, CR, VT, FF, in
 * place (separators become NULs); line[len] must be a NUL. Stores up to max word pointers in words
 * and returns the number of words (which may exceed max: then only max are
 * stored), or -EINVAL when the line holds a NUL byte. */
int cli_split_words(char *line, size_t len, char **words, int max);

#endif
