/*
 * plugin_wordcount.c - an example taskring handler plugin (taskring-plugin(3)).
 *
 * Registers three task types:
 *   word-count TEXT...  (cpu) the number of words (runs of non-blank bytes)
 *                       in the arguments
 *   repeat N WORD       (cpu) WORD N times, separated by spaces; N is checked
 *                       (1..100000) before the task runs, and a result larger
 *                       than the worker's buffer fails the task
 *   hostname            (io)  this host's name: a quick blocking call, which
 *                       is what io handlers are for
 *
 * Build: cc -shared -fPIC -I/usr/local/include -o wordcount.so plugin_wordcount.c
 * (`make` builds it into build/plugins/). Use: list the .so under `plugins:`
 * in taskring.yaml, restart taskringd, then
 *   taskring submit --wait word-count "the quick brown fox"   ->  4
 *
 * State: a table of blank bytes, filled by init in each worker; handlers only
 * read it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "taskring-plugin.h"

#define REPEAT_MAX 100000

static unsigned char blank[256];

static int wc_init(char *err, size_t errlen)
{
	(void)err, (void)errlen;
	memset(blank, 0, sizeof(blank));
	blank[' '] = blank['\t'] = blank['\n'] = blank['\r'] = blank['\v'] = blank['\f'] = 1;
	return 0;
}

static int word_count(unsigned argc, char *const *argv, char *out, size_t cap, size_t *len)
{
	unsigned long long words = 0;

	for (unsigned i = 0; i < argc; i++) {
		int in_word = 0;
		for (const unsigned char *p = (const unsigned char *)argv[i]; *p; p++) {
			if (blank[*p]) {
				in_word = 0;
			} else if (!in_word) {
				in_word = 1;
				words++;
			}
		}
	}
	int n = snprintf(out, cap, "%llu", words);
	*len = n < 0 ? 0 : ((size_t)n < cap ? (size_t)n : cap);
	return 0;
}

/* Parses N of repeat: 1..REPEAT_MAX. */
static int repeat_n(const char *s, unsigned long *n)
{
	char *end;
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*n = strtoul(s, &end, 10);
	if (errno || *end || *n < 1 || *n > REPEAT_MAX)
		return -EINVAL;
	return 0;
}

static int repeat_check(unsigned argc, char *const *argv, char *err, size_t errlen)
{
	unsigned long n;
	(void)argc;
	if (repeat_n(argv[0], &n) < 0) {
		snprintf(err, errlen, "repeat: N: not a number from 1 to %d: '%.40s'", REPEAT_MAX,
		         argv[0]);
		return 1;
	}
	return 0;
}

static int repeat(unsigned argc, char *const *argv, char *out, size_t cap, size_t *len)
{
	unsigned long n;
	size_t wl = strlen(argv[1]), pos = 0;

	(void)argc;
	repeat_n(argv[0], &n); /* checked already */
	for (unsigned long i = 0; i < n; i++) {
		size_t need = wl + (i > 0);
		if (pos + need > cap) {
			*len = (size_t)snprintf(
			    out, cap, "repeat: %lu copies do not fit in %zu bytes", n, cap);
			if (*len > cap)
				*len = cap;
			return 1;
		}
		if (i > 0)
			out[pos++] = ' ';
		memcpy(out + pos, argv[1], wl);
		pos += wl;
	}
	*len = pos;
	return 0;
}

static int host_name(unsigned argc, char *const *argv, char *out, size_t cap, size_t *len)
{
	char name[256];
	(void)argc, (void)argv;
	if (gethostname(name, sizeof(name)) < 0) {
		int n = snprintf(out, cap, "hostname: gethostname: %s", strerror(errno));
		*len = n < 0 ? 0 : ((size_t)n < cap ? (size_t)n : cap);
		return 1;
	}
	name[sizeof(name) - 1] = '\0';
	size_t n = strlen(name);
	*len = n < cap ? n : cap;
	memcpy(out, name, *len);
	return 0;
}

static const struct taskring_plugin_handler handlers[] = {
    {"word-count", TASKRING_CPU, 0, TASKRING_PLUGIN_ARGS_ANY, "[TEXT...]", NULL, word_count},
    {"repeat", TASKRING_CPU, 2, 2, "N WORD", repeat_check, repeat},
    {"hostname", TASKRING_IO, 0, 0, NULL, NULL, host_name},
};

static const struct taskring_plugin plugin = {
    .abi = TASKRING_PLUGIN_ABI,
    .name = "wordcount",
    .handlers = handlers,
    .n_handlers = sizeof(handlers) / sizeof(handlers[0]),
    .init = wc_init,
};

const struct taskring_plugin *taskring_plugin_entry(void)
{
	return &plugin;
}
