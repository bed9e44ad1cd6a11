/*
 * parse.c - see parse.h. Pure functions, no state.
 *
 * Numbers are parsed by hand rather than with strtoull(), which accepts
 * leading spaces, a sign ("-1" wraps to a huge value) and hex, all of which
 * must be refused here.
 */
#include "parse.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Quotes at most the first 40 bytes of s into a reason, so an absurdly long
 * argument does not flood the terminal. */
static void why_set(char *why, size_t whylen, const char *s, const char *what)
{
	if (!why || whylen == 0)
		return;
	size_t n = strlen(s);
	snprintf(why, whylen, "'%.40s%s' %s", s, n > 40 ? "..." : "", what);
}

int cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out, char *why,
                  size_t whylen)
{
	uint64_t v = 0;
	int over = 0;
	const char *p = s;

	if (!s || !*s) {
		if (why && whylen)
			snprintf(why, whylen, "empty value, a number is needed");
		return -EINVAL;
	}
	if (*s == '-' && s[1] >= '0' && s[1] <= '9') {
		why_set(why, whylen, s, "is negative");
		return -EINVAL;
	}
	for (; *p; p++) {
		if (*p < '0' || *p > '9') {
			why_set(why, whylen, s, "is not a number");
			return -EINVAL;
		}
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			over = 1;
		else
			v = v * 10 + d;
	}
	if (over || v > max) {
		char what[64];
		snprintf(what, sizeof(what), "is too large (at most %llu)",
		         (unsigned long long)max);
		why_set(why, whylen, s, what);
		return -ERANGE;
	}
	if (v < min) {
		char what[64];
		snprintf(what, sizeof(what), "is too small (at least %llu)",
		         (unsigned long long)min);
		why_set(why, whylen, s, what);
		return -ERANGE;
	}
	*out = v;
	return 0;
}

int cli_parse_id(const char *s, uint64_t *id, char *why, size_t whylen)
{
	uint64_t v;
	int r = cli_parse_u64(s, 0, UINT64_MAX, &v, why, whylen);

	if (r == -EINVAL && s && *s && why && whylen)
		why_set(why, whylen, s, "is not a task id (a positive whole number)");
	if (r < 0)
		return r;
	if (v == 0) {
		why_set(why, whylen, s, "is not a task id (ids start at 1)");
		return -ERANGE;
	}
	*id = v;
	return 0;
}

int cli_parse_duration_ms(const char *s, int64_t *ms, char *why, size_t whylen)
{
	uint64_t whole = 0, frac_ms = 0;
	int ndigits = 0, nfrac = 0, sub_ms = 0;
	const char *p = s;

	if (!s || !*s) {
		if (why && whylen)
			snprintf(why, whylen, "empty value, a number of seconds is needed");
		return -EINVAL;
	}
	if (*s == '-' && (s[1] == '.' || (s[1] >= '0' && s[1] <= '9'))) {
		why_set(why, whylen, s, "is negative");
		return -EINVAL;
	}
	for (; *p >= '0' && *p <= '9'; p++, ndigits++) {
		if (whole > CLI_DURATION_MAX_S) /* keep going to check the syntax */
			continue;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, nfrac++) {
			if (nfrac < 3)
				frac_ms = frac_ms * 10 + (uint64_t)(*p - '0');
			else if (*p != '0')
				sub_ms = 1;
		}
	}
	if (*p || ndigits + nfrac == 0) {
		why_set(why, whylen, s, "is not a number of seconds");
		return -EINVAL;
	}
	for (int i = nfrac; i < 3; i++)
		frac_ms *= 10;
	if (whole > CLI_DURATION_MAX_S || (whole == CLI_DURATION_MAX_S && (frac_ms || sub_ms))) {
		char what[64];
		snprintf(what, sizeof(what), "is too long (at most %llu seconds)",
		         (unsigned long long)CLI_DURATION_MAX_S);
		why_set(why, whylen, s, what);
		return -ERANGE;
	}
	*ms = (int64_t)(whole * 1000 + frac_ms + (uint64_t)sub_ms);
	return 0;
}

const char *cli_signal_name(int sig)
{
	if (sig <= 0 || sig >= NSIG)
		return NULL;
	return sigabbrev_np(sig);
}

int cli_parse_signal(const char *s, int *sig, char *why, size_t whylen)
{
	uint64_t v;
	const char *name = s;

	if (!s || !*s) {
		if (why && whylen)
			snprintf(why, whylen, "empty value, a signal name or number is needed");
		return -EINVAL;
	}
	if (*s >= '0' && *s <= '9') {
		if (cli_parse_u64(s, 1, 64, &v, NULL, 0) < 0 || (int)v >= NSIG) {
			why_set(why, whylen, s, "is not a signal number (1-64)");
			return -EINVAL;
		}
		*sig = (int)v;
		return 0;
	}
	if (strncasecmp(name, "SIG", 3) == 0)
		name += 3;
	for (int i = 1; i < NSIG; i++) {
		const char *abbrev = sigabbrev_np(i);
		if (abbrev && strcasecmp(abbrev, name) == 0) {
			*sig = i;
			return 0;
		}
	}
	why_set(why, whylen, s, "is not a signal name (e.g. KILL, TERM, SEGV, STOP)");
	return -EINVAL;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

int cli_split_words(char *line, size_t len, char **words, int max)
{
	int n = 0;
	size_t i = 0;

	if (memchr(line, '\0', len))
		return -EINVAL;
	while (i < len) {
		while (i < len && is_space(line[i]))
			line[i++] = '\0';
		if (i >= len)
			break;
		if (n < max)
			words[n] = line + i;
		n++;
		while (i < len && !is_space(line[i]))
			i++;
	}
	return n;
}
