/*
 * test_fuzz_segment.c - replays the segment fuzz target (fuzz/fuzz_segment.c)
 * over its seed corpus (fuzz/corpus/segment/) and its regression inputs
 * (tests/fuzz/segment/), so `make check` holds every input ever found to the
 * target's checks without needing clang or libFuzzer.
 *
 * Each input runs in a forked child (the target aborts on a broken
 * invariant); the parent reports the child's exit. Inputs listed in
 * tests/fuzz/segment/KNOWN are open bugs: reported as TAP TODO.
 * The sources are found through $TASKRING_SRC, else relative to this
 * program (build/tests/ -> ../..), else the current directory.
 */
#define LLVMFuzzerTestOneInput fuzz_segment_one
#include "../../fuzz/fuzz_segment.c"

#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tap.h"

static char src_root[PATH_MAX];

static int is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static void find_src_root(void)
{
	char exe[PATH_MAX], probe[PATH_MAX + 64];
	const char *env = getenv("TASKRING_SRC");
	ssize_t n;

	if (env && *env) {
		snprintf(src_root, sizeof(src_root), "%s", env);
		return;
	}
	snprintf(src_root, sizeof(src_root), ".");
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return;
	exe[n] = 0;
	char *slash = strrchr(exe, '/');
	if (!slash)
		return;
	*slash = 0;
	snprintf(probe, sizeof(probe), "%s/../../fuzz/corpus/segment", exe);
	if (is_dir(probe))
		snprintf(src_root, sizeof(src_root), "%.*s/../..", (int)(sizeof(src_root) - 8),
		         exe);
}

/* The KNOWN line for name ("name why..."), or NULL. */
static char *known_reason(const char *known, const char *name)
{
	size_t len = strlen(name);
	for (const char *p = known; p && *p;) {
		const char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);
		if (*p != '#' && n > len && strncmp(p, name, len) == 0 && p[len] == ' ') {
			char *why = strndup(p + len + 1, n - len - 1);
			return why;
		}
		p = eol ? eol + 1 : NULL;
	}
	return NULL;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			char *b = realloc(buf, cap + 1);
			if (!b) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = b;
		}
		size_t k = fread(buf + n, 1, cap - n, f);
		n += k;
		if (k == 0)
			break;
	}
	fclose(f);
	buf[n] = 0;
	*len = n;
	return buf;
}

/* Runs one input in a child; returns its wait status. */
static int run_one(const char *path)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		size_t len = 0;
		char *data = read_file(path, &len);
		if (!data)
			_exit(3);
		fuzz_segment_one((const uint8_t *)data, len);
		free(data);
		_exit(0);
	}
	int st = -1;
	if (pid > 0)
		waitpid(pid, &st, 0);
	return st;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_dir(const char *rel, const char *known)
{
	char dir[PATH_MAX + 64], path[2 * PATH_MAX + 64];
	char *names[4096];
	size_t n = 0;
	DIR *d;
	struct dirent *e;

	snprintf(dir, sizeof(dir), "%s/%s", src_root, rel);
	d = opendir(dir);
	if (!d) {
		ok(0, "%s: %s", dir, strerror(errno));
		return 0;
	}
	while ((e = readdir(d)) != NULL && n < sizeof(names) / sizeof(names[0]))
		if (e->d_name[0] != '.' && strcmp(e->d_name, "KNOWN") != 0)
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_names);
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		int st = run_one(path);
		int good = WIFEXITED(st) && WEXITSTATUS(st) == 0;
		char *why = known ? known_reason(known, names[i]) : NULL;
		if (why) {
			printf("%s %d - %s/%s # TODO %s\n", good ? "ok" : "not ok", ++tap_n, rel,
			       names[i], why);
			fflush(stdout);
			free(why);
		} else if (!ok(good, "%s/%s", rel, names[i])) {
			diag("  the target %s %d",
			     WIFSIGNALED(st) ? "died of signal" : "exited with",
			     WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
		}
		free(names[i]);
	}
	return (int)n;
}

int main(void)
{
	char kpath[PATH_MAX + 64];
	size_t klen = 0;

	find_src_root();
	snprintf(kpath, sizeof(kpath), "%s/tests/fuzz/segment/KNOWN", src_root);
	char *known = read_file(kpath, &klen);
	int seeds = replay_dir("fuzz/corpus/segment", NULL);
	int regs = replay_dir("tests/fuzz/segment", known);
	ok(seeds >= 10, "replayed %d seed inputs", seeds);
	diag("replayed %d regression inputs", regs);
	free(known);
	return tap_done();
}
