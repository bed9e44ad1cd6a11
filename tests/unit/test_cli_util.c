/*
 * test_cli_util.c - unit tests for the CLI's pure parts: number, id,
 * duration and signal parsing, word splitting, the JSON string escaper (on
 * fixed cases and on random bytes, checked by an independent decoder), shell
 * quoting for display, and the progress bar's text.
 *
 * The CLI's objects are not linked into unit tests, so the pure .c files are
 * included here directly; they depend on nothing but libc.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

#include "../../cli/json.c"
#include "../../cli/parse.c"
#include "../../cli/progress.c"
#include "../../cli/text.c"

/* Runs fn into a memory stream and returns the text (caller frees). */
#define CAPTURE(buf, len, call)                                                                    \
	do {                                                                                       \
		FILE *m_ = open_memstream(&(buf), &(len));                                         \
		FILE *f = m_;                                                                      \
		call;                                                                              \
		fclose(m_);                                                                        \
	} while (0)

static char *json_of(const void *s, size_t n)
{
	char *buf = NULL;
	size_t len = 0;
	CAPTURE(buf, len, json_write_str(f, s, n));
	return buf;
}

static char *quote_of(const char *w)
{
	char *buf = NULL;
	size_t len = 0;
	CAPTURE(buf, len, text_quote_word(f, w));
	return buf;
}

static void test_u64(void)
{
	uint64_t v = 7;
	char why[160];

	is_int(cli_parse_u64("42", 0, 100, &v, why, sizeof(why)), 0, "u64: 42 parses");
	is_int(v, 42, "u64: value 42");
	is_int(cli_parse_u64("007", 0, 100, &v, why, sizeof(why)), 0, "u64: leading zeros");
	is_int(v, 7, "u64: 007 is 7");
	is_int(cli_parse_u64("18446744073709551615", 0, UINT64_MAX, &v, why, sizeof(why)), 0,
	       "u64: UINT64_MAX parses");
	ok(v == UINT64_MAX, "u64: value UINT64_MAX");

	v = 99;
	is_int(cli_parse_u64("18446744073709551616", 0, UINT64_MAX, &v, why, sizeof(why)), -ERANGE,
	       "u64: UINT64_MAX+1 overflows");
	ok(strstr(why, "too large") != NULL, "u64: overflow reason says too large (%s)", why);
	is_int(v, 99, "u64: output untouched on error");
	is_int(cli_parse_u64("-1", 0, 100, &v, why, sizeof(why)), -EINVAL, "u64: -1 refused");
	ok(strstr(why, "negative") != NULL, "u64: reason says negative (%s)", why);
	is_int(cli_parse_u64("", 0, 100, &v, why, sizeof(why)), -EINVAL, "u64: empty refused");
	is_int(cli_parse_u64(" 5", 0, 100, &v, why, sizeof(why)), -EINVAL, "u64: leading space");
	is_int(cli_parse_u64("5 ", 0, 100, &v, why, sizeof(why)), -EINVAL, "u64: trailing space");
	is_int(cli_parse_u64("+5", 0, 100, &v, why, sizeof(why)), -EINVAL, "u64: plus sign");
	is_int(cli_parse_u64("0x10", 0, 100, &v, why, sizeof(why)), -EINVAL, "u64: hex refused");
	is_int(cli_parse_u64("12abc", 0, 100, &v, why, sizeof(why)), -EINVAL, "u64: trailing junk");
	ok(strstr(why, "'12abc'") && strstr(why, "not a number"), "u64: reason quotes it (%s)",
	   why);
	is_int(cli_parse_u64("101", 0, 100, &v, why, sizeof(why)), -ERANGE, "u64: above max");
	is_int(cli_parse_u64("0", 1, 100, &v, why, sizeof(why)), -ERANGE, "u64: below min");
	ok(strstr(why, "at least 1") != NULL, "u64: reason names the minimum (%s)", why);
	is_int(cli_parse_u64("1.5", 0, 100, &v, why, sizeof(why)), -EINVAL, "u64: decimal refused");
}

static void test_id(void)
{
	uint64_t id = 0;
	char why[160];
	char longarg[200];

	is_int(cli_parse_id("12345", &id, why, sizeof(why)), 0, "id: 12345");
	ok(id == 12345, "id: value");
	is_int(cli_parse_id("0", &id, why, sizeof(why)), -ERANGE, "id: 0 refused");
	is_int(cli_parse_id("-3", &id, why, sizeof(why)), -EINVAL, "id: negative refused");
	is_int(cli_parse_id("abc", &id, why, sizeof(why)), -EINVAL, "id: word refused");
	ok(strstr(why, "not a task id") != NULL, "id: reason says not a task id (%s)", why);
	is_int(cli_parse_id("99999999999999999999999", &id, why, sizeof(why)), -ERANGE,
	       "id: overflow refused");
	memset(longarg, '7', sizeof(longarg) - 1);
	longarg[sizeof(longarg) - 1] = '\0';
	longarg[5] = 'x';
	is_int(cli_parse_id(longarg, &id, why, sizeof(why)), -EINVAL, "id: long junk refused");
	ok(strlen(why) < 120 && strstr(why, "...") != NULL, "id: long argument cut in reason");
}

static void test_duration(void)
{
	int64_t ms = -5;
	char why[160];

	is_int(cli_parse_duration_ms("10", &ms, why, sizeof(why)), 0, "dur: 10");
	is_int(ms, 10000, "dur: 10 s = 10000 ms");
	is_int(cli_parse_duration_ms("0.5", &ms, why, sizeof(why)), 0, "dur: 0.5");
	is_int(ms, 500, "dur: 0.5 s = 500 ms");
	is_int(cli_parse_duration_ms(".25", &ms, why, sizeof(why)), 0, "dur: .25");
	is_int(ms, 250, "dur: .25 s = 250 ms");
	is_int(cli_parse_duration_ms("3.", &ms, why, sizeof(why)), 0, "dur: 3.");
	is_int(ms, 3000, "dur: 3. = 3000 ms");
	is_int(cli_parse_duration_ms("0", &ms, why, sizeof(why)), 0, "dur: 0");
	is_int(ms, 0, "dur: 0 = 0 ms");
	is_int(cli_parse_duration_ms("0.0001", &ms, why, sizeof(why)), 0, "dur: 0.0001");
	is_int(ms, 1, "dur: 0.0001 s rounds up to 1 ms");
	is_int(cli_parse_duration_ms("1.2340", &ms, why, sizeof(why)), 0, "dur: 1.2340");
	is_int(ms, 1234, "dur: trailing zeros do not round up");
	is_int(cli_parse_duration_ms("1000000000", &ms, why, sizeof(why)), 0, "dur: max");
	is_int(cli_parse_duration_ms("1000000000.001", &ms, why, sizeof(why)), -ERANGE,
	       "dur: just above max");
	is_int(cli_parse_duration_ms("99999999999999999999999999", &ms, why, sizeof(why)), -ERANGE,
	       "dur: overflow refused");
	is_int(cli_parse_duration_ms("-1", &ms, why, sizeof(why)), -EINVAL, "dur: negative");
	ok(strstr(why, "negative") != NULL, "dur: reason says negative (%s)", why);
	is_int(cli_parse_duration_ms("-.5", &ms, why, sizeof(why)), -EINVAL, "dur: -.5");
	is_int(cli_parse_duration_ms("", &ms, why, sizeof(why)), -EINVAL, "dur: empty");
	is_int(cli_parse_duration_ms(".", &ms, why, sizeof(why)), -EINVAL, "dur: lone dot");
	is_int(cli_parse_duration_ms("1.2.3", &ms, why, sizeof(why)), -EINVAL, "dur: two dots");
	is_int(cli_parse_duration_ms("5s", &ms, why, sizeof(why)), -EINVAL, "dur: suffix");
	is_int(cli_parse_duration_ms("1e3", &ms, why, sizeof(why)), -EINVAL, "dur: exponent");
	is_int(cli_parse_duration_ms("inf", &ms, why, sizeof(why)), -EINVAL, "dur: inf");
	is_int(cli_parse_duration_ms("nan", &ms, why, sizeof(why)), -EINVAL, "dur: nan");
	is_int(cli_parse_duration_ms(" 1", &ms, why, sizeof(why)), -EINVAL, "dur: space");
}

static void test_signal(void)
{
	int sig = 0;
	char why[160];

	is_int(cli_parse_signal("KILL", &sig, why, sizeof(why)), 0, "sig: KILL");
	is_int(sig, SIGKILL, "sig: KILL = SIGKILL");
	is_int(cli_parse_signal("sigterm", &sig, why, sizeof(why)), 0, "sig: sigterm");
	is_int(sig, SIGTERM, "sig: sigterm = SIGTERM");
	is_int(cli_parse_signal("SIGSEGV", &sig, why, sizeof(why)), 0, "sig: SIGSEGV");
	is_int(sig, SIGSEGV, "sig: SIGSEGV");
	is_int(cli_parse_signal("stop", &sig, why, sizeof(why)), 0, "sig: stop");
	is_int(sig, SIGSTOP, "sig: stop = SIGSTOP");
	is_int(cli_parse_signal("9", &sig, why, sizeof(why)), 0, "sig: 9");
	is_int(sig, 9, "sig: 9 = 9");
	is_int(cli_parse_signal("0", &sig, why, sizeof(why)), -EINVAL, "sig: 0 refused");
	is_int(cli_parse_signal("65", &sig, why, sizeof(why)), -EINVAL, "sig: 65 refused");
	is_int(cli_parse_signal("9x", &sig, why, sizeof(why)), -EINVAL, "sig: 9x refused");
	is_int(cli_parse_signal("FOO", &sig, why, sizeof(why)), -EINVAL, "sig: FOO refused");
	is_int(cli_parse_signal("SIG", &sig, why, sizeof(why)), -EINVAL, "sig: SIG refused");
	is_int(cli_parse_signal("", &sig, why, sizeof(why)), -EINVAL, "sig: empty refused");
	is_str(cli_signal_name(SIGKILL), "KILL", "sig: name of 9");
	ok(cli_signal_name(0) == NULL && cli_signal_name(1000) == NULL,
	   "sig: no name out of range");
}

static void test_split(void)
{
	char line[] = "  sqrt-sum\t 100  -5 \r";
	char *w[8];
	int n = cli_split_words(line, strlen(line), w, 8);

	is_int(n, 3, "split: three words");
	if (n == 3) {
		is_str(w[0], "sqrt-sum", "split: word 1");
		is_str(w[1], "100", "split: word 2");
		is_str(w[2], "-5", "split: word 3 (dash kept)");
	}
	char empty[] = "   \t ";
	is_int(cli_split_words(empty, strlen(empty), w, 8), 0, "split: blank line has no words");
	char nul[] = "a\0b";
	is_int(cli_split_words(nul, 3, w, 8), -EINVAL, "split: NUL byte refused");
	char many[] = "a b c d e";
	is_int(cli_split_words(many, strlen(many), w, 2), 5, "split: count beyond max");
	is_str(w[1], "b", "split: stored up to max");
}

/* A reference UTF-8 validator written differently from json.c's (decode the
 * code point, then check its range): length of the valid sequence at s, or 0. */
static size_t ref_utf8_len(const unsigned char *s, size_t n)
{
	static const unsigned min[5] = {0, 0, 0x80, 0x800, 0x10000};
	size_t len;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xE0) == 0xC0)
		len = 2, cp = s[0] & 0x1Fu;
	else if ((s[0] & 0xF0) == 0xE0)
		len = 3, cp = s[0] & 0x0Fu;
	else if ((s[0] & 0xF8) == 0xF0)
		len = 4, cp = s[0] & 0x07u;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3Fu);
	}
	if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

/* An independent check of json_write_str's output: a JSON string with only
 * legal escapes, no raw control bytes, valid UTF-8; decodes it to UTF-8. */
static int json_decode(const char *s, size_t n, unsigned char *out, size_t *outlen)
{
	size_t i = 0, o = 0;

	if (n < 2 || s[0] != '"' || s[n - 1] != '"')
		return -1;
	for (i = 1; i < n - 1;) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20)
			return -1;
		if (c == '"')
			return -1;
		if (c != '\\') {
			size_t k = ref_utf8_len((const unsigned char *)s + i, n - 1 - i);
			if (k == 0)
				return -1;
			memcpy(out + o, s + i, k);
			o += k;
			i += k;
			continue;
		}
		if (i + 1 >= n - 1)
			return -1;
		char e = s[i + 1];
		const char *simple = strchr("\"\\/bfnrt", e);
		if (e && simple) {
			static const char map[] = "\"\\/\b\f\n\r\t";
			out[o++] = (unsigned char)map[simple - "\"\\/bfnrt"];
			i += 2;
			continue;
		}
		if (e != 'u' || i + 6 > n - 1)
			return -1;
		unsigned cp = 0;
		for (int k = 0; k < 4; k++) {
			char h = s[i + 2 + k];
			cp <<= 4;
			if (h >= '0' && h <= '9')
				cp |= (unsigned)(h - '0');
			else if (h >= 'a' && h <= 'f')
				cp |= (unsigned)(h - 'a' + 10);
			else if (h >= 'A' && h <= 'F')
				cp |= (unsigned)(h - 'A' + 10);
			else
				return -1;
		}
		if (cp >= 0xD800 && cp <= 0xDFFF)
			return -1; /* the escaper never needs surrogates */
		if (cp < 0x80) {
			out[o++] = (unsigned char)cp;
		} else if (cp < 0x800) {
			out[o++] = (unsigned char)(0xC0 | cp >> 6);
			out[o++] = (unsigned char)(0x80 | (cp & 0x3F));
		} else {
			out[o++] = (unsigned char)(0xE0 | cp >> 12);
			out[o++] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
			out[o++] = (unsigned char)(0x80 | (cp & 0x3F));
		}
		i += 6;
	}
	*outlen = o;
	return 0;
}

/* What the escaper should preserve: s with every byte outside a valid UTF-8
 * sequence replaced by U+FFFD. */
static size_t json_expected(const unsigned char *s, size_t n, unsigned char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n;) {
		size_t k = ref_utf8_len(s + i, n - i);
		if (k == 0) {
			memcpy(out + o, "\xEF\xBF\xBD", 3);
			o += 3;
			i++;
		} else {
			memcpy(out + o, s + i, k);
			o += k;
			i += k;
		}
	}
	return o;
}

static void test_json_fixed(void)
{
	char *j;

	j = json_of("plain", 5);
	is_str(j, "\"plain\"", "json: plain text");
	free(j);
	j = json_of("a\"b\\c/d", 7);
	is_str(j, "\"a\\\"b\\\\c/d\"", "json: quote and backslash escaped");
	free(j);
	j = json_of("\n\t\r\b\f", 5);
	is_str(j, "\"\\n\\t\\r\\b\\f\"", "json: short escapes");
	free(j);
	j = json_of("a\0b\x01\x1f\x7f", 6);
	is_str(j, "\"a\\u0000b\\u0001\\u001f\\u007f\"", "json: NUL and control bytes");
	free(j);
	j = json_of("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80", 15);
	is_str(j, "\"h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80\"", "json: valid UTF-8 kept");
	free(j);
	j = json_of("\xff", 1);
	is_str(j, "\"\\ufffd\"", "json: 0xff becomes U+FFFD");
	free(j);
	j = json_of("\x80x", 2);
	is_str(j, "\"\\ufffdx\"", "json: stray continuation byte");
	free(j);
	j = json_of("\xC3", 1);
	is_str(j, "\"\\ufffd\"", "json: truncated sequence at the end");
	free(j);
	j = json_of("\xE2\x82x", 3);
	is_str(j, "\"\\ufffd\\ufffdx\"", "json: truncated sequence mid-string");
	free(j);
	j = json_of("\xC0\xAF", 2);
	is_str(j, "\"\\ufffd\\ufffd\"", "json: overlong '/' refused");
	free(j);
	j = json_of("\xE0\x80\xAF", 3);
	is_str(j, "\"\\ufffd\\ufffd\\ufffd\"", "json: 3-byte overlong refused");
	free(j);
	j = json_of("\xED\xA0\x80", 3);
	is_str(j, "\"\\ufffd\\ufffd\\ufffd\"", "json: UTF-8 surrogate refused");
	free(j);
	j = json_of("\xF4\x90\x80\x80", 4);
	is_str(j, "\"\\ufffd\\ufffd\\ufffd\\ufffd\"", "json: above U+10FFFF refused");
	free(j);
	j = json_of("\xF4\x8F\xBF\xBF", 4);
	is_str(j, "\"\xF4\x8F\xBF\xBF\"", "json: U+10FFFF kept");
	free(j);
	j = json_of("\xE2\x80\xA8\xE2\x80\xA9", 6);
	is_str(j, "\"\\u2028\\u2029\"", "json: U+2028/2029 escaped");
	free(j);
	j = json_of("", 0);
	is_str(j, "\"\"", "json: empty string");
	free(j);

	char *buf = NULL;
	size_t len = 0;
	CAPTURE(buf, len, json_write_cstr(f, NULL));
	is_str(buf, "null", "json: NULL cstr is null");
	free(buf);
	buf = NULL;
	CAPTURE(buf, len, {
		int first = 1;
		putc('{', f);
		json_key(f, &first, "a");
		json_write_u64_or_null(f, 0);
		json_key(f, &first, "b");
		json_write_int_or_null(f, -1);
		json_key(f, &first, "c");
		json_write_int_or_null(f, 3);
		json_key(f, &first, "d");
		json_write_u64(f, UINT64_MAX);
		putc('}', f);
	});
	is_str(buf, "{\"a\":null,\"b\":null,\"c\":3,\"d\":18446744073709551615}",
	       "json: keys, nulls and numbers");
	free(buf);
}

static void test_json_random(void)
{
	unsigned char in[64], want[64 * 3], got[64 * 3];
	int bad = 0, rounds = 20000;
	unsigned seed = 12345;

	for (int r = 0; r < rounds && !bad; r++) {
		size_t n = (size_t)(rand_r(&seed) % 64);
		for (size_t i = 0; i < n; i++) {
			/* bias towards interesting bytes */
			int k = rand_r(&seed) % 4;
			in[i] = k == 0   ? (unsigned char)(rand_r(&seed) % 0x20)
			        : k == 1 ? (unsigned char)(0x80 + rand_r(&seed) % 0x80)
			                 : (unsigned char)(rand_r(&seed) % 256);
		}
		char *j = json_of(in, n);
		size_t glen = 0, wlen = json_expected(in, n, want);
		if (json_decode(j, strlen(j), got, &glen) < 0) {
			diag("round %d: invalid JSON: %s", r, j);
			bad = 1;
		} else if (glen != wlen || memcmp(got, want, glen) != 0) {
			diag("round %d: decoded text differs", r);
			bad = 1;
		}
		free(j);
	}
	ok(!bad,
	   "json: %d random byte strings give valid JSON that decodes to the input "
	   "(invalid bytes as U+FFFD)",
	   rounds);
}

static void test_quote(void)
{
	char *q;

	q = quote_of("plain-word_1.txt");
	is_str(q, "plain-word_1.txt", "quote: safe word plain");
	free(q);
	q = quote_of("two words");
	is_str(q, "'two words'", "quote: space single-quoted");
	free(q);
	q = quote_of("it's");
	is_str(q, "'it'\\''s'", "quote: single quote escaped");
	free(q);
	q = quote_of("");
	is_str(q, "''", "quote: empty word");
	free(q);
	q = quote_of("a\nb\x1b[31m");
	is_str(q, "$'a\\nb\\x1b[31m'", "quote: control bytes in $'' form");
	free(q);
	q = quote_of("caf\xC3\xA9");
	is_str(q, "'caf\xC3\xA9'", "quote: UTF-8 kept inside quotes");
	free(q);
	q = quote_of("\xff'x");
	is_str(q, "$'\\xff\\'x'", "quote: invalid UTF-8 as \\x escape");
	free(q);
}

static void test_text(void)
{
	char buf[64], *out = NULL;
	size_t len = 0;

	is_str(text_duration(buf, sizeof(buf), 42), "42s", "duration: seconds");
	is_str(text_duration(buf, sizeof(buf), 185), "3m05s", "duration: minutes");
	is_str(text_duration(buf, sizeof(buf), 7380), "2h03m", "duration: hours");
	is_str(text_duration(buf, sizeof(buf), 3 * 86400 + 5 * 3600), "3d05h", "duration: days");
	is_str(text_walltime(buf, sizeof(buf), 0), "-", "walltime: 0 is -");
	ok(strlen(text_walltime(buf, sizeof(buf), 1700000000123456789ull)) == 23 &&
	       strcmp(buf + 19, ".123") == 0,
	   "walltime: date, time and ms (%s)", buf);
	CAPTURE(out, len, {
		text_write_line(f, "a", 1);
		text_write_line(f, "b\n", 2);
		text_write_line(f, "", 0);
	});
	is_str(out, "a\nb\n\n", "write_line: one newline per result");
	free(out);
	out = NULL;
	CAPTURE(out, len, text_write_visible(f, "a\tb\x1b[1m\r\x7f\n", 10));
	is_str(out, "a\tb\\x1b[1m\\x0d\\x7f\n", "write_visible: control bytes shown as \\xHH");
	free(out);
}

static void test_progress(void)
{
	char buf[256];

	progress_format(buf, sizeof(buf), 50, 100, 10000, 80);
	ok(strstr(buf, " 50/100 ") && strstr(buf, "50.0%") && strstr(buf, "5.0/s") &&
	       strstr(buf, "ETA 0:10"),
	   "progress: counts, percent, rate and ETA (%s)", buf);
	ok(strlen(buf) <= 80, "progress: fits the width");
	ok(buf[0] == '[' && strchr(buf, ']'), "progress: has a bar");
	progress_format(buf, sizeof(buf), 0, 10, 0, 80);
	ok(strstr(buf, "ETA --:--") != NULL, "progress: no ETA before the first result");
	progress_format(buf, sizeof(buf), 3, 10, 1000, 30);
	ok(strlen(buf) <= 30 && strstr(buf, "3/10"), "progress: narrow terminal (%s)", buf);

	char *out = NULL;
	size_t len = 0;
	struct progress p;
	FILE *m = open_memstream(&out, &len);
	progress_init(&p, m, 10, 0);
	progress_update(&p, 5, 1000, 1);
	progress_clear(&p);
	fclose(m);
	is_int(len, 0, "progress: disabled draws nothing");
	free(out);
}

int main(void)
{
	test_u64();
	test_id();
	test_duration();
	test_signal();
	test_split();
	test_json_fixed();
	test_json_random();
	test_quote();
	test_text();
	test_progress();
	return tap_done();
}
