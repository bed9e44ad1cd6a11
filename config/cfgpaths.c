/*
 * cfgpaths.c - see cfgpaths.h. Only stat(2) and access(2): nothing is
 * opened or changed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfgpaths.h"

/* Whether path is a directory; else writes why into why. */
static int is_dir(const char *path, char *why, size_t len)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		snprintf(why, len, "%s", strerror(errno));
		return 0;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(why, len, "not a directory");
		return 0;
	}
	return 1;
}

/* Whether path is an executable regular file; else writes why into why. */
static int is_program(const char *path, char *why, size_t len)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		snprintf(why, len, "%s", strerror(errno));
		return 0;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, len, "not a regular file");
		return 0;
	}
	if (access(path, X_OK) < 0) {
		snprintf(why, len, "not executable (%s)", strerror(errno));
		return 0;
	}
	return 1;
}

unsigned tr_cfgpaths_check(const struct tr_config *c, tr_cfgpaths_warn_fn warn, void *arg)
{
	char why[128], msg[4400];
	unsigned n = 0;

	if (!is_dir(c->exec_cwd, why, sizeof(why))) {
		snprintf(msg, sizeof(msg), "exec.cwd %s: %s (exec tasks will fail)", c->exec_cwd,
		         why);
		warn(arg, msg);
		n++;
	}
	for (size_t i = 0; i < c->n_exec_allowed; i++) {
		if (is_program(c->exec_allowed[i], why, sizeof(why)))
			continue;
		snprintf(msg, sizeof(msg), "exec.allowed %s: %s (exec tasks running it will fail)",
		         c->exec_allowed[i], why);
		warn(arg, msg);
		n++;
	}
	for (size_t i = 0; i < c->n_allowed_paths; i++) {
		if (is_dir(c->allowed_paths[i], why, sizeof(why)))
			continue;
		snprintf(msg, sizeof(msg),
		         "io.allowed_paths %s: %s (file tasks under it will fail)",
		         c->allowed_paths[i], why);
		warn(arg, msg);
		n++;
	}
	return n;
}
