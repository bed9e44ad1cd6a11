/*
 * text.h - formatting for people: task arguments quoted so they can be
 * pasted back into a shell, wall-clock times, and compact durations.
 *
 * Pure functions of their arguments; nothing here talks to the daemon.
 */
#ifndef TR_CLI_TEXT_H
#define TR_CLI_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Writes one word as a shell would need it: plain when it holds only safe
 * characters, else in single quotes, else (control characters or invalid
 * UTF-8) in bash's $'...' form with escapes. Never writes raw control bytes. */
void text_quote_word(FILE *f, const char *w);

/* Writes argc words separated by single spaces, each quoted as above. */
void text_quote_words(FILE *f, int argc, char *const *argv);

/* Formats CLOCK_REALTIME ns as local "YYYY-MM-DD HH:MM:SS.mmm" into buf, or
 * "-" when ns is 0. Returns buf. */
char *text_walltime(char *buf, size_t len, uint64_t ns);

/* Formats a number of seconds compactly: "42s", "3m05s", "2h03m", "4d05h".
 * Returns buf. */
char *text_duration(char *buf, size_t len, uint64_t secs);

/* Formats a wait in milliseconds: "250 ms" below 10 s, else as
 * text_duration() of the seconds, rounded up ("42s", "1m05s"). Returns buf. */
char *text_ms(char *buf, size_t len, uint64_t ms);

/* Writes bytes s[0..len) followed by a newline unless they already end with
 * one, so each result takes exactly one line when it holds no newline. */
void text_write_line(FILE *f, const char *s, size_t len);

/* Like text_write_line, for a terminal: control characters other than
 * newline and tab (ESC, CR, DEL...) are shown as \xHH so a result cannot
 * drive the terminal. For people only; scripts get the exact bytes from
 * `wait` or `show --json`. */
void text_write_visible(FILE *f, const char *s, size_t len);

/* The bytes s[0..len) as text_write_visible() shows them, without the
 * newline it adds: a NUL-terminated copy to free(), or NULL when out of
 * memory. For a task's error in a message on standard error. */
char *text_visible(const char *s, size_t len);

#endif
