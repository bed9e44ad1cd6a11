/*
 * proctitle.c - see proctitle.h.
 *
 * Linux shows /proc/PID/cmdline from the process's original argument area.
 * The title is written at its start and the rest of the area (which also
 * spans the original environment strings, moved to the heap by init) is
 * zeroed, so ps shows the title alone: the scheme nginx and PostgreSQL use.
 */
#include "proctitle.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

extern char **environ;

static char *title_base;
static size_t title_len;
/* The moved environment, kept for good: setenv() may replace environ. */
static char **title_env;

void tr_proctitle_init(int argc, char **argv)
{
	char *end;
	size_t nenv = 0;

	if (argc < 1 || !argv || !argv[0] || title_env)
		return;
	/* The area: argv strings, then environment strings, while contiguous. */
	end = argv[0] + strlen(argv[0]) + 1;
	for (int i = 1; i < argc && argv[i] == end; i++)
		end = argv[i] + strlen(argv[i]) + 1;
	while (environ && environ[nenv])
		nenv++;
	for (size_t i = 0; i < nenv && environ[i] == end; i++)
		end = environ[i] + strlen(environ[i]) + 1;

	char **env = calloc(nenv + 1, sizeof(*env));
	char **args = calloc((size_t)argc, sizeof(*args));
	if (!env || !args)
		goto fail;
	for (size_t i = 0; i < nenv; i++)
		if (!(env[i] = strdup(environ[i])))
			goto fail;
	for (int i = 0; i < argc; i++)
		if (!(args[i] = strdup(argv[i])))
			goto fail;
	title_base = argv[0];
	title_len = (size_t)(end - argv[0]);
	environ = title_env = env;
	for (int i = 0; i < argc; i++)
		argv[i] = args[i];
	free(args);
	return;
fail:
	if (env)
		for (size_t i = 0; i < nenv; i++)
			free(env[i]);
	if (args)
		for (int i = 0; i < argc; i++)
			free(args[i]);
	free(env);
	free(args);
}

void tr_proctitle_set(const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	prctl(PR_SET_NAME, (unsigned long)buf, 0, 0, 0);
	if (!title_base || title_len < 2)
		return;
	size_t n = strlen(buf);
	if (n > title_len - 1)
		n = title_len - 1;
	memcpy(title_base, buf, n);
	memset(title_base + n, 0, title_len - n);
}
