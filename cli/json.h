/*
 * json.h - writing JSON values to a stdio stream.
 *
 * The one subtle part is strings: task results and errors are arbitrary
 * bytes, so json_write_str() must produce valid JSON whatever it is given:
 * quotes, backslashes and control characters (including NUL) are escaped,
 * valid UTF-8 passes through unchanged, and every byte that is not part of a
 * well-formed UTF-8 sequence (stray continuation bytes, truncated or
 * overlong sequences, surrogates, code points above U+10FFFF) becomes
 * U+FFFD, written as the escape \ufffd. U+2028 and U+2029 are escaped too so
 * the output is also valid JavaScript.
 *
 * No state: each function writes to the stream it is given.
 */
#ifndef TR_CLI_JSON_H
#define TR_CLI_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Writes s[0..len) as a JSON string literal, quotes included. */
void json_write_str(FILE *f, const void *s, size_t len);

/* Writes a NUL-terminated string as a JSON string; NULL writes null. */
void json_write_cstr(FILE *f, const char *s);

/* Writes an unsigned integer. */
void json_write_u64(FILE *f, uint64_t v);

/* Writes an unsigned integer, or null when v == 0. */
void json_write_u64_or_null(FILE *f, uint64_t v);

/* Writes a signed integer, or null when v < 0. */
void json_write_int_or_null(FILE *f, long long v);

/* Writes ",\"key\":" (no comma when *first, which it then clears). */
void json_key(FILE *f, int *first, const char *key);

/* Returns the length of the longest valid UTF-8 sequence at s[0..len): 1-4,
 * or 0 when s[0] does not start one. */
size_t json_utf8_seq_len(const unsigned char *s, size_t len);

#endif
