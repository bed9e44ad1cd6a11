/*
 * test_config.c - unit tests of config/: defaults, every key, print -> load
 * round trips, copy/equal, the broken fixtures in tests/configs/bad (each
 * must give exactly its "# expect:" line), fuzzer regressions in
 * tests/configs/fuzz, file errors, and CPU lists.
 *
 * Fixtures are found under $TASKRING_SRC, else the current directory (prove
 * runs at the repo root), else two levels above the test binary.
 */
#include "config.h"
#include "tap.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

static char src_root[PATH_MAX + 16];

static int find_src_root(void)
{
	const char *env = getenv("TASKRING_SRC");
	char exe[PATH_MAX], probe[PATH_MAX + 32];
	struct stat st;
	ssize_t n;

	if (env && *env) {
		snprintf(src_root, sizeof(src_root), "%s", env);
		return 0;
	}
	if (stat("tests/configs/bad", &st) == 0 && S_ISDIR(st.st_mode)) {
		strcpy(src_root, ".");
		return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			snprintf(probe, sizeof(probe), "%s/../../tests/configs/bad", exe);
			if (stat(probe, &st) == 0 && S_ISDIR(st.st_mode)) {
				snprintf(src_root, sizeof(src_root), "%s/../..", exe);
				return 0;
			}
		}
	}
	return -1;
}

static void src_path(char *out, size_t len, const char *rel)
{
	snprintf(out, len, "%s/%s", src_root, rel);
}

static int count_lines(const char *s)
{
	int n = *s ? 1 : 0;
	for (; *s; s++)
		if (*s == '\n')
			n++;
	return n;
}

static int load_str(const char *text, struct tr_config *c, char *err, size_t errlen)
{
	return tr_config_load_mem("mem.yaml", text, strlen(text), c, err, errlen);
}

/* Loads text and checks that it fails with exactly one error containing want. */
static void expect_error(const char *text, const char *want)
{
	struct tr_config c;
	char err[2048];
	int rc = load_str(text, &c, err, sizeof(err));
	ok(rc == -EINVAL && count_lines(err) == 1 && strstr(err, want), "error '%s'", want);
	if (rc != -EINVAL || !strstr(err, want))
		diag("  rc %d, err: %s", rc, err);
	tr_config_free(&c);
}

static void expect_ok(const char *text, const char *what)
{
	struct tr_config c;
	char err[2048];
	int rc = load_str(text, &c, err, sizeof(err));
	if (!ok(rc == 0, "%s loads", what))
		diag("  rc %d, err: %s", rc, err);
	tr_config_free(&c);
}

static bool is_defaults(const struct tr_config *c)
{
	struct tr_config d;
	tr_config_defaults(&d);
	return tr_config_equal(c, &d) && !c->allowed_paths && !c->exec_allowed && !c->exec_env &&
	       !c->plugins;
}

static void test_defaults(void)
{
	struct tr_config c;

	memset(&c, 0x5a, sizeof(c));
	tr_config_defaults(&c);
	is_str(c.instance, "default", "default instance");
	is_int(c.workers, 0, "default workers auto");
	is_str(c.cpus, "auto", "default cpus");
	is_int(c.workers_sched, SCHED_BATCH, "default workers_sched batch");
	is_str(c.group, "", "default group none");
	is_int(c.queue_capacity, 4096, "default queue.capacity");
	is_int(c.payload_max, 4096, "default queue.payload_max");
	is_int(c.result_max, 4096, "default queue.result_max");
	is_int(c.max_attempts, 3, "default tasks.max_attempts");
	is_int(c.run_timeout_s, 0, "default tasks.run_timeout_s");
	is_int(c.kill_grace_ms, 2000, "default tasks.kill_grace_ms");
	is_int(c.result_ttl_s, 300, "default tasks.result_ttl_s");
	is_int(c.coalesce_us, 30, "default tasks.coalesce_us");
	is_int(c.io_depth, 256, "default io.depth");
	is_int(c.io_max_kernel_workers, 4, "default io.max_kernel_workers");
	ok(c.allowed_paths == NULL && c.n_allowed_paths == 0, "default io.allowed_paths empty");
	is_int(c.restart_min_uptime_ms, 1000, "default restart.min_uptime_ms");
	is_int(c.restart_backoff_ms, 100, "default restart.backoff_ms");
	is_int(c.restart_backoff_max_ms, 30000, "default restart.backoff_max_ms");
	is_int(c.restart_max_early_exits, 10, "default restart.max_early_exits");
	is_int(c.restart_window_s, 60, "default restart.window_s");
	ok(c.restart_spare_worker, "default restart.spare_worker true");
	is_int(c.heartbeat_s, 10, "default workers_heartbeat_s");
	is_int(c.shutdown_timeout_s, 30, "default shutdown_timeout_s");
	is_int(c.log_level, LOG_INFO, "default log.level");
	ok(c.exec_allowed == NULL && c.n_exec_allowed == 0, "default exec.allowed empty");
	ok(c.exec_env == NULL && c.n_exec_env == 0, "default exec.env empty");
	is_str(c.exec_cwd, "/", "default exec.cwd");
	ok(c.plugins == NULL && c.n_plugins == 0, "default plugins empty");
	is_str(c.path, "", "default path empty");
	tr_config_free(&c);
	ok(is_defaults(&c), "free of defaults keeps defaults");
}

static void test_full(void)
{
	struct tr_config c;
	char path[2 * PATH_MAX], err[2048];
	int rc;

	src_path(path, sizeof(path), "tests/configs/good/full.yaml");
	rc = tr_config_load(path, &c, err, sizeof(err));
	if (!ok(rc == 0, "full.yaml loads"))
		diag("  rc %d: %s", rc, err);
	is_str(c.path, path, "path recorded");
	is_str(c.instance, "test-full_1.x", "instance");
	is_int(c.workers, 3, "workers");
	is_str(c.cpus, "0-1,3", "cpus");
	is_int(c.workers_sched, SCHED_OTHER, "workers_sched normal");
	is_str(c.group, "taskring", "group");
	is_int(c.queue_capacity, 1000, "queue.capacity");
	is_int(c.payload_max, 65536, "queue.payload_max");
	is_int(c.result_max, 128, "queue.result_max");
	is_int(c.max_attempts, 5, "tasks.max_attempts");
	is_int(c.run_timeout_s, 60, "tasks.run_timeout_s");
	is_int(c.kill_grace_ms, 500, "tasks.kill_grace_ms");
	is_int(c.result_ttl_s, 30, "tasks.result_ttl_s");
	is_int(c.coalesce_us, 75, "tasks.coalesce_us");
	is_int(c.io_depth, 64, "io.depth");
	is_int(c.io_max_kernel_workers, 2, "io.max_kernel_workers");
	is_int(c.n_allowed_paths, 2, "io.allowed_paths count");
	if (c.n_allowed_paths == 2) {
		is_str(c.allowed_paths[0], "/srv/data", "io.allowed_paths[0]");
		is_str(c.allowed_paths[1], "/tmp/with space", "io.allowed_paths[1] (quoted)");
	}
	is_int(c.restart_min_uptime_ms, 2000, "restart.min_uptime_ms");
	is_int(c.restart_backoff_ms, 50, "restart.backoff_ms");
	is_int(c.restart_backoff_max_ms, 5000, "restart.backoff_max_ms");
	is_int(c.restart_max_early_exits, 7, "restart.max_early_exits");
	is_int(c.restart_window_s, 120, "restart.window_s");
	ok(!c.restart_spare_worker, "restart.spare_worker false");
	is_int(c.heartbeat_s, 5, "workers_heartbeat_s");
	is_int(c.shutdown_timeout_s, 12, "shutdown_timeout_s");
	is_int(c.log_level, LOG_DEBUG, "log.level");
	is_int(c.n_exec_allowed, 2, "exec.allowed count");
	if (c.n_exec_allowed == 2) {
		is_str(c.exec_allowed[0], "/bin/echo", "exec.allowed[0]");
		is_str(c.exec_allowed[1], "/usr/bin/sleep", "exec.allowed[1]");
	}
	is_int(c.n_exec_env, 3, "exec.env count");
	if (c.n_exec_env == 3) {
		is_str(c.exec_env[0], "LANG=C.UTF-8", "exec.env LANG");
		is_str(c.exec_env[1], "EMPTY=", "exec.env EMPTY");
		is_str(c.exec_env[2], "QUOTED=say \"hi\" # not a comment", "exec.env QUOTED");
	}
	is_str(c.exec_cwd, "/var/tmp", "exec.cwd");
	is_int(c.n_plugins, 1, "plugins count");
	if (c.n_plugins == 1)
		is_str(c.plugins[0], "/usr/lib/taskring/example.so", "plugins[0]");
	tr_config_free(&c);
	ok(is_defaults(&c), "free resets to defaults");
}

static void test_good_files(void)
{
	static const char *const files[] = {"tests/configs/good/empty.yaml",
	                                    "tests/configs/good/comments.yaml"};
	struct tr_config c;
	char path[2 * PATH_MAX], err[2048];
	int rc;

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		src_path(path, sizeof(path), files[i]);
		rc = tr_config_load(path, &c, err, sizeof(err));
		ok(rc == 0 && is_defaults(&c) && err[0] == '\0', "%s: all defaults", files[i]);
		tr_config_free(&c);
	}

	src_path(path, sizeof(path), "tests/configs/good/flow-and-nulls.yaml");
	rc = tr_config_load(path, &c, err, sizeof(err));
	if (!ok(rc == 0, "flow-and-nulls.yaml loads"))
		diag("  %s", err);
	is_int(c.workers, 0, "workers: auto is 0");
	is_str(c.cpus, "2,0,5-6", "cpus from a YAML list keep their order");
	is_str(c.group, "", "empty group is none");
	is_int(c.queue_capacity, 1, "flow mapping value");
	ok(c.n_allowed_paths == 0 && c.n_plugins == 0 && c.n_exec_env == 0,
	   "empty values give empty lists");
	is_int(c.log_level, LOG_INFO, "empty log section keeps the default level");
	tr_config_free(&c);

	src_path(path, sizeof(path), "tests/configs/good/document-markers.yaml");
	rc = tr_config_load(path, &c, err, sizeof(err));
	ok(rc == 0 && c.workers == 1, "explicit --- / ... document markers");
	tr_config_free(&c);

	/* the shipped example sets every key to its default */
	src_path(path, sizeof(path), "config/taskring.yaml");
	rc = tr_config_load(path, &c, err, sizeof(err));
	if (!ok(rc == 0, "config/taskring.yaml loads"))
		diag("  %s", err);
	ok(is_defaults(&c), "config/taskring.yaml documents the built-in defaults");
	tr_config_free(&c);
}

/* Every "key: value" line of the shipped file must be a key the loader knows:
   uncommenting the examples must work. */
static void test_shipped_examples(void)
{
	static const char text[] = "io:\n  allowed_paths:\n    - /srv/taskring\n"
	                           "exec:\n  allowed:\n    - /usr/bin/convert\n"
	                           "  env:\n    PATH: /usr/bin:/bin\n    LANG: C.UTF-8\n"
	                           "plugins:\n  - /usr/lib/taskring/plugins/example.so\n";
	struct tr_config c;
	char err[1024];
	int rc = load_str(text, &c, err, sizeof(err));
	ok(rc == 0 && c.n_allowed_paths == 1 && c.n_exec_allowed == 1 && c.n_exec_env == 2 &&
	       c.n_plugins == 1,
	   "commented examples of the shipped file load");
	if (c.n_exec_env == 2)
		is_str(c.exec_env[0], "PATH=/usr/bin:/bin", "env value with ':' kept whole");
	tr_config_free(&c);
}

static char *print_to_string(const struct tr_config *c, int *rc)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f) {
		*rc = -errno;
		return NULL;
	}
	*rc = tr_config_print(f, c);
	fclose(f);
	return buf;
}

static void round_trip(const struct tr_config *c, const char *what)
{
	struct tr_config back;
	char err[2048];
	int rc;
	char *text = print_to_string(c, &rc);

	if (!ok(text && rc == 0, "%s: print", what)) {
		free(text);
		return;
	}
	rc = load_str(text, &back, err, sizeof(err));
	if (!ok(rc == 0 && tr_config_equal(c, &back), "%s: print -> load gives the same config",
	        what))
		diag("  rc %d err %s\n%s", rc, err, text);
	tr_config_free(&back);
	free(text);
}

static void test_round_trip(void)
{
	struct tr_config c, copy;
	char path[2 * PATH_MAX], err[2048];
	int rc;

	tr_config_defaults(&c);
	round_trip(&c, "defaults");

	src_path(path, sizeof(path), "tests/configs/good/full.yaml");
	rc = tr_config_load(path, &c, err, sizeof(err));
	ok(rc == 0, "full.yaml for round trip");
	round_trip(&c, "full.yaml");

	/* deep copy: equal, independent of the original */
	rc = tr_config_copy(&copy, &c);
	ok(rc == 0 && tr_config_equal(&copy, &c), "copy is equal");
	ok(copy.allowed_paths != c.allowed_paths && copy.exec_env != c.exec_env &&
	       copy.n_plugins == 1 && copy.plugins[0] != c.plugins[0],
	   "copy does not share lists");
	tr_config_free(&c);
	ok(copy.n_exec_env == 3 && strcmp(copy.exec_env[0], "LANG=C.UTF-8") == 0,
	   "copy survives freeing the original");
	copy.io_depth++;
	tr_config_defaults(&c);
	ok(!tr_config_equal(&copy, &c), "equal notices differences");
	tr_config_free(&copy);

	/* strings that need quoting and escapes */
	rc = load_str("instance: a.b\n"
	              "cpus: [7, 1-2]\n"
	              "exec:\n"
	              "  env:\n"
	              "    A: \"line1\\nline2\\ttab \\\"q\\\" back\\\\slash\"\n"
	              "    B: \"\\x01\\u0085\\u2028 caf\\u00e9 \\U0001F600 # : - [x]\"\n"
	              "    C: '  leading and trailing spaces  '\n"
	              "    D: 'null'\n"
	              "    E: \"#\"\n"
	              "  cwd: \"/tmp/a: b\"\n"
	              "io:\n  allowed_paths: [\"/x/'y'\", \"/z/~\"]\n",
	              &c, err, sizeof(err));
	if (!ok(rc == 0, "strings with escapes load"))
		diag("  %s", err);
	if (rc == 0 && c.n_exec_env == 5) {
		is_str(c.exec_env[0], "A=line1\nline2\ttab \"q\" back\\slash", "escapes decoded");
		is_str(c.exec_env[2], "C=  leading and trailing spaces  ", "spaces kept");
		is_str(c.exec_env[3], "D=null", "quoted null is a string");
	}
	round_trip(&c, "escaped strings");
	tr_config_free(&c);

	/* a hand-made struct with an invalid UTF-8 string cannot be printed */
	tr_config_defaults(&c);
	strcpy(c.exec_cwd, "/bad\xff");
	char *text = print_to_string(&c, &rc);
	is_int(rc, -EILSEQ, "print refuses invalid UTF-8");
	free(text);
}

/* Each tests/configs/bad file starts with "# expect: SUBSTRING" and must fail
   with exactly one error line "FILE:LINE:COL: ..." containing it. */
static void test_bad_files(void)
{
	char dir[2 * PATH_MAX];
	struct dirent **names;
	int n, checked = 0;

	src_path(dir, sizeof(dir), "tests/configs/bad");
	n = scandir(dir, &names, NULL, alphasort);
	if (!ok(n > 0, "scandir(%s)", dir))
		return;
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		char path[3 * PATH_MAX], line[1024], err[4096], *expect;
		size_t len = strlen(name);
		struct tr_config c;
		FILE *f;
		int rc;

		if (len < 6 || strcmp(name + len - 5, ".yaml") != 0) {
			free(names[i]);
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		free(names[i]);
		f = fopen(path, "r");
		if (!f || !fgets(line, sizeof(line), f) || strncmp(line, "# expect: ", 10) != 0) {
			ok(0, "%s: has a '# expect:' first line", path);
			if (f)
				fclose(f);
			continue;
		}
		fclose(f);
		line[strcspn(line, "\n")] = '\0';
		expect = line + 10;
		rc = tr_config_load(path, &c, err, sizeof(err));
		ok(rc == -EINVAL, "%s: refused with -EINVAL", path);
		ok(count_lines(err) == 1, "%s: exactly one error line", path);
		ok(strncmp(err, path, strlen(path)) == 0 && err[strlen(path)] == ':',
		   "%s: error starts with the file name", path);
		{
			unsigned l = 0, col = 0;
			int k = 0;
			ok(sscanf(expect, ":%u:%u:%n", &l, &col, &k) == 2 && k > 0 && l > 0 &&
			       col > 0,
			   "%s: expectation names :LINE:COL:", path);
		}
		if (!ok(strstr(err, expect) != NULL, "%s: error is '%s'", path, expect))
			diag("  got: %s", err);
		ok(is_defaults(&c), "%s: config left at defaults", path);
		tr_config_free(&c);
		checked++;
	}
	free(names);
	ok(checked >= 40, "checked %d broken files", checked);
}

/* Hostile inputs and any the fuzzer found troublesome: each must load (and
   round-trip) or fail cleanly with an error. */
static void test_fuzz_regressions(void)
{
	char dir[2 * PATH_MAX];
	struct dirent **names;
	int n, checked = 0, bad = 0;

	src_path(dir, sizeof(dir), "tests/configs/fuzz");
	n = scandir(dir, &names, NULL, alphasort);
	if (n < 0) {
		ok(0, "scandir(%s): %s", dir, strerror(errno));
		return;
	}
	for (int i = 0; i < n; i++) {
		char path[3 * PATH_MAX], err[512];
		struct tr_config c;
		if (names[i]->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
			memset(err, 'x', sizeof(err));
			int rc = tr_config_load(path, &c, err, sizeof(err));
			if (!(rc == 0 || rc == -EINVAL) || !memchr(err, '\0', sizeof(err)) ||
			    (rc == 0) != (err[0] == '\0') || (rc && !is_defaults(&c))) {
				bad++;
				diag("  %s: rc %d", path, rc);
			}
			if (rc == 0)
				round_trip(&c, names[i]->d_name);
			tr_config_free(&c);
			checked++;
		}
		free(names[i]);
	}
	free(names);
	ok(bad == 0, "%d fuzzer regression inputs load or fail cleanly", checked);
}

static void test_inline_errors(void)
{
	/* more error kinds, without files */
	expect_error(
	    "queue:\n  result_max: 63\n",
	    "mem.yaml:2:15: key 'queue.result_max': 63 is out of range (must be 64..1048576)");
	expect_error("workers: 0\n", ":1:10: key 'workers': 0 is out of range (must be 1..1024 "
	                             "or 'auto')");
	expect_error("workers: Auto\n", ":1:10: key 'workers': expected an integer or 'auto', "
	                                "got 'Auto'");
	expect_error("queue:\n  capacity: \"\"\n", ":2:13: key 'queue.capacity': expected an "
	                                           "integer, got ''");
	expect_error("queue:\n  capacity: 0x10\n", "got '0x10'");
	expect_error("queue:\n  capacity: 1e3\n", "got '1e3'");
	expect_error("queue:\n  capacity: 99999999999999999999999999\n",
	             "99999999999999999999999999 is out of range (must be 1..16777216)");
	expect_error("instance:\n", ":1:10: key 'instance': missing value (expected an "
	                            "instance name)");
	expect_error("instance: \"\"\n", "invalid instance name ''");
	expect_error("instance: [a]\n", "key 'instance': expected an instance name, got a list");
	expect_error("log:\n  level: 3\n", "unknown level '3'");
	expect_ok("workers_sched: batch\n", "workers_sched batch");
	expect_error(
	    "workers_sched: fifo\n",
	    ":1:16: key 'workers_sched': unknown policy 'fifo' (expected batch or normal)");
	expect_error("workers_sched: [batch]\n",
	             "key 'workers_sched': expected a scheduling policy, got a list");
	expect_error("workers_sched:\n",
	             "key 'workers_sched': missing value (expected a scheduling policy)");
	expect_error("workers_sched: BATCH\n", "unknown policy 'BATCH'");
	expect_error("restart:\n  spare_worker: yes\n",
	             ":2:17: key 'restart.spare_worker': expected true or false, got 'yes'");
	expect_error("restart:\n  spare_worker: 1\n",
	             "key 'restart.spare_worker': expected true or false, got '1'");
	expect_error("restart:\n  spare_worker: [true]\n",
	             "key 'restart.spare_worker': expected true or false, got a list");
	expect_error("restart:\n  spare_worker:\n",
	             "key 'restart.spare_worker': missing value (expected true or false)");
	expect_error("restart:\n  spare: false\n",
	             "unknown key 'restart.spare' (did you mean 'restart.spare_worker'?)");
	expect_error("spare_worker: false\n",
	             "unknown key 'spare_worker' (did you mean 'restart.spare_worker'?)");
	expect_error("log: debug\n", ":1:6: key 'log': expected a mapping of 'log.*' keys");
	expect_error("log:\n  lvl: debug\n", "unknown key 'log.lvl' (did you mean 'log.level'?)");
	expect_error("loglevel: debug\n", "unknown key 'loglevel' (did you mean 'log.level'?)");
	expect_error("tasks:\n  timeout: 3\n",
	             "unknown key 'tasks.timeout' (did you mean 'tasks.run_timeout_s'?)");
	expect_error("heartbeat_s: 3\n",
	             "unknown key 'heartbeat_s' (did you mean 'workers_heartbeat_s'?)");
	expect_error("io: {depht: 3}\n", "unknown key 'io.depht' (did you mean 'io.depth'?)");
	expect_error("exec:\n  env:\n    A: 1\n    A: 2\n",
	             ":4:5: key 'exec.env': duplicate variable 'A' (first set at line 3)");
	expect_error("exec:\n  env:\n    1A: x\n", "invalid variable name '1A'");
	expect_error("exec:\n  env: [A=1]\n",
	             "key 'exec.env': expected a mapping of NAME: value, got a list");
	expect_error("exec:\n  cwd:\n",
	             "key 'exec.cwd': missing value (expected an absolute path)");
	expect_error("exec:\n  allowed: [[/bin/a]]\n",
	             ":2:13: key 'exec.allowed[0]': expected an absolute path, got a list");
	expect_error("plugins: /a.so\n", "key 'plugins': expected a list of absolute paths");
	expect_error("io:\n  allowed_paths: [/srv/./x]\n", "must not contain '.' or '..'");
	expect_error("cpus: []\n", ":1:7: key 'cpus': empty CPU list (use 'auto' for all CPUs)");
	expect_error("cpus: \"\"\n", "key 'cpus': invalid CPU list '': empty CPU list");
	expect_error("cpus: {a: 1}\n", "key 'cpus': expected 'auto' or a CPU list");
	expect_error("group: -wheel\n", "invalid group name '-wheel'");
	expect_error("\"\\x01key\": 1\n", "unknown key '\\x01key'");
	expect_error("\"a\\nb\": 1\n", ":1:1: unknown key 'a\\x0ab'");
	expect_error("\"queue\\0\": 1\n", "unknown key 'queue\\x00'");
	expect_error("{[a]: 1}\n", "keys must be plain names, got a list");
	expect_error("queue: {[a]: 1}\n", "key 'queue': keys must be plain names, got a list");
	expect_error("*x\n", ":1:1: YAML anchors and aliases are not supported (alias '*x')");
	expect_error("workers: !custom 2\n", "YAML tags are not supported (tag '!custom')");
	expect_error("&a queue: {}\n", "YAML anchors and aliases are not supported");
	expect_error("%YAML 1.1\n--- [1]\n", ":2:5: the top level must be a mapping");
	expect_error("\"text\"\n", "top level must be a mapping of keys, got a scalar");
	expect_error("workers: [1\n", "malformed YAML: ");
	expect_error("a: b: c\n", ":1:5: malformed YAML: mapping values are not allowed in this "
	                          "context");
	expect_error("queue: {capacity: 1}\nqueue: {capacity: 2}\n",
	             ":2:1: duplicate key 'queue' (first set at line 1)");
	expect_error(
	    "restart:\n  backoff_max_ms: 10\n",
	    ":2:19: key 'restart.backoff_max_ms': 10 is less than restart.backoff_ms (100)");
	{
		char deep[400] = "";
		for (int i = 0; i < 70; i++)
			strcat(deep, "[");
		expect_error(deep, "nesting deeper than 64 levels");
	}

	expect_ok("", "empty string");
	expect_ok("---\n", "empty document");
	expect_ok("~\n", "null document");
	expect_ok("# c\n---\n# c\n...\n", "comments and markers only");
	expect_ok("workers: +4\n", "explicit plus sign");
	expect_ok("tasks: {run_timeout_s: 31536000, kill_grace_ms: 0}\n", "range edges");
	expect_ok("tasks: {coalesce_us: 0}\n", "coalesce_us 0 (never)");
	expect_error("tasks:\n  coalesce_us: 10001\n",
	             ":2:16: key 'tasks.coalesce_us': 10001 is out of range (must be 0..10000)");
	expect_ok("restart: {backoff_ms: 0, backoff_max_ms: 0}\n", "backoff 0 = 0");
	expect_ok("log:\n  level: WARNING\n", "level names ignore case");
	{
		static const char *const no[] = {"false", "False", "FALSE", "\"false\""};
		static const char *const yes[] = {"true", "True", "TRUE", "\"true\""};
		for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
			struct tr_config c;
			char text[64], err[512];
			snprintf(text, sizeof(text), "restart:\n  spare_worker: %s\n", no[i]);
			int rc = load_str(text, &c, err, sizeof(err));
			ok(rc == 0 && !c.restart_spare_worker, "spare_worker: %s is false", no[i]);
			tr_config_free(&c);
			snprintf(text, sizeof(text), "restart: {spare_worker: %s}\n", yes[i]);
			rc = load_str(text, &c, err, sizeof(err));
			ok(rc == 0 && c.restart_spare_worker, "spare_worker: %s is true", yes[i]);
			tr_config_free(&c);
		}
	}
	expect_ok("\xef\xbb\xbfworkers: 2\n", "UTF-8 byte order mark");
	expect_ok("queue:\n  capacity: \"16\"\n", "quoted integer");

	/* several errors are all reported, each on its own line */
	{
		struct tr_config c;
		char err[4096];
		int rc = load_str("wokers: 1\nqueue: {capacity: x, result_max: 1}\ngroup: 'a b'\n",
		                  &c, err, sizeof(err));
		ok(rc == -EINVAL && count_lines(err) == 4, "four problems, four lines");
		ok(strstr(err, "mem.yaml:1:1: unknown key 'wokers'") &&
		       strstr(err, "mem.yaml:2:19: key 'queue.capacity'") &&
		       strstr(err, "mem.yaml:2:34: key 'queue.result_max'") &&
		       strstr(err, "mem.yaml:3:8: key 'group'"),
		   "each names its line and column");
		tr_config_free(&c);
	}
	/* endless errors are capped */
	{
		char text[4000] = "", err[8192];
		struct tr_config c;
		for (int i = 0; i < 80; i++)
			snprintf(text + strlen(text), sizeof(text) - strlen(text), "k%d: 1\n", i);
		int rc = load_str(text, &c, err, sizeof(err));
		ok(rc == -EINVAL && count_lines(err) == 51 &&
		       strstr(err, "mem.yaml: too many errors, stopped after 50"),
		   "errors capped at 50 plus one line");
		tr_config_free(&c);
	}
	/* truncation of err */
	{
		struct tr_config c;
		char err[16];
		memset(err, 'x', sizeof(err));
		int rc = load_str("bogus: 1\n", &c, err, sizeof(err));
		ok(rc == -EINVAL && strlen(err) == sizeof(err) - 1 &&
		       strncmp(err, "mem.yaml:1:1: u", 15) == 0,
		   "err truncated to errlen and NUL-terminated");
		rc = load_str("bogus: 1\n", &c, NULL, 0);
		is_int(rc, -EINVAL, "err may be NULL");
		tr_config_free(&c);
	}
	/* embedded NUL bytes in the input are malformed YAML, not a crash */
	{
		struct tr_config c;
		char err[512];
		int rc = tr_config_load_mem("nul.yaml", "workers: 1\0\n", 12, &c, err, sizeof(err));
		ok(rc == -EINVAL && strstr(err, "nul.yaml:1:11: malformed YAML"),
		   "NUL byte refused");
		if (rc != -EINVAL)
			diag("  %s", err);
		tr_config_free(&c);
	}
	/* the value is untouched after failure even if it held an old load */
	{
		struct tr_config c;
		int rc =
		    tr_config_load_mem(NULL, "plugins: [/a.so]\nworkers: x\n", 27, &c, NULL, 0);
		ok(rc == -EINVAL && is_defaults(&c), "partly valid file leaves defaults");
	}
}

static void test_file_errors(void)
{
	struct tr_config c;
	char err[1024], tmpl[] = "/tmp/test_config.XXXXXX";
	int rc;

	rc = tr_config_load("/nonexistent/taskring.yaml", &c, err, sizeof(err));
	is_int(rc, -ENOENT, "missing file: -ENOENT");
	is_str(err, "/nonexistent/taskring.yaml: cannot open: No such file or directory",
	       "missing file message");
	ok(is_defaults(&c), "missing file leaves defaults");

	rc = tr_config_load("/", &c, err, sizeof(err));
	is_int(rc, -EISDIR, "directory: -EISDIR");
	is_str(err, "/: cannot read: Is a directory", "directory message");

	/* A FIFO: opening one for reading waits for a writer, which froze a
	 * supervisor reloading its configuration. A child tries, so that a
	 * regression fails here after 10 s instead of hanging the suite. */
	char fifo[64];
	snprintf(fifo, sizeof(fifo), "/tmp/test_config.fifo.%d", (int)getpid());
	ok(mkfifo(fifo, 0600) == 0, "mkfifo");
	pid_t kid = fork();
	if (kid == 0) {
		alarm(10);
		int r = tr_config_load(fifo, &c, err, sizeof(err));
		char want[192];
		snprintf(want, sizeof(want),
		         "%s: cannot read: not a regular file (a FIFO, socket or block device)",
		         fifo);
		_exit(r == -EINVAL && strcmp(err, want) == 0 ? 0 : 1);
	}
	int kst = -1;
	waitpid(kid, &kst, 0);
	ok(WIFEXITED(kst) && WEXITSTATUS(kst) == 0,
	   "FIFO: refused at once as not a regular file (status %d)", kst);
	unlink(fifo);
	rc = tr_config_load("/dev/null", &c, err, sizeof(err));
	is_int(rc, 0, "/dev/null (a character device) reads as an empty file: defaults");

	int fd = mkstemp(tmpl);
	ok(fd >= 0, "mkstemp");
	if (fd < 0)
		return;
	ok(write(fd, "workers: 2\n", 11) == 11, "write temp config");
	close(fd);
	rc = tr_config_load(tmpl, &c, err, sizeof(err));
	ok(rc == 0 && c.workers == 2 && strcmp(c.path, tmpl) == 0, "temp file loads");
	tr_config_free(&c);
	/* unreadable: as root, check it in a child that became nobody */
	chmod(tmpl, 0);
	if (geteuid() != 0) {
		rc = tr_config_load(tmpl, &c, err, sizeof(err));
		is_int(rc, -EACCES, "unreadable file: -EACCES");
		ok(strstr(err, ": cannot open: Permission denied") != NULL, "unreadable message");
	} else {
		pid_t pid = fork();
		int st = -1;
		if (pid == 0) {
			if (setgid(65534) < 0 || setuid(65534) < 0)
				_exit(3);
			rc = tr_config_load(tmpl, &c, err, sizeof(err));
			_exit(rc != -EACCES                                      ? 1
			      : !strstr(err, ": cannot open: Permission denied") ? 2
			                                                         : 0);
		}
		if (pid > 0)
			waitpid(pid, &st, 0);
		ok(pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		   "unreadable file: -EACCES and 'cannot open: Permission denied' (as nobody)");
		if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0))
			diag("  child status %d", st);
	}
	/* too large */
	{
		FILE *f = fopen(tmpl, "w");
		if (f) {
			for (unsigned i = 0; i < TR_CONFIG_MAX_FILE / 8 + 2; i++)
				fputs("# ......\n", f);
			fclose(f);
		}
		chmod(tmpl, 0600);
		rc = tr_config_load(tmpl, &c, err, sizeof(err));
		is_int(rc, -EFBIG, "file over the limit: -EFBIG");
		ok(strstr(err, ": file too large") != NULL, "too large message: %s", err);
	}
	unlink(tmpl);
}

static void test_cpulist(void)
{
	cpu_set_t set;
	char err[256], out[256];
	int rc;

	rc = tr_cpulist_parse("0-3,8", &set, err, sizeof(err));
	ok(rc == 0 && CPU_COUNT(&set) == 5 && CPU_ISSET(0, &set) && CPU_ISSET(3, &set) &&
	       CPU_ISSET(8, &set) && !CPU_ISSET(4, &set),
	   "0-3,8");
	rc = tr_cpulist_parse(" 5 , 1 - 2 ", &set, err, sizeof(err));
	ok(rc == 0 && CPU_COUNT(&set) == 3 && CPU_ISSET(5, &set) && CPU_ISSET(1, &set) &&
	       CPU_ISSET(2, &set),
	   "spaces around elements");
	rc = tr_cpulist_parse("1023", &set, err, sizeof(err));
	ok(rc == 0 && CPU_COUNT(&set) == 1 && CPU_ISSET(1023, &set), "highest CPU");
	rc = tr_cpulist_parse("4-4", &set, err, sizeof(err));
	ok(rc == 0 && CPU_COUNT(&set) == 1 && CPU_ISSET(4, &set), "single-CPU range");
	rc = tr_cpulist_parse("0-1023", &set, err, sizeof(err));
	ok(rc == 0 && CPU_COUNT(&set) == 1024, "full range");

	static const struct {
		const char *in, *msg;
	} bad[] = {
	    {"", "empty CPU list"},
	    {"   ", "empty CPU list"},
	    {"a", "unexpected character 'a' (expected a CPU number)"},
	    {"1,", "missing CPU number"},
	    {"1,,2", "missing CPU number"},
	    {"0-", "missing CPU number"},
	    {"-1", "negative or missing CPU number before '-'"},
	    {"3-1", "range 3-1 is reversed"},
	    {"1,1", "CPU 1 is listed more than once"},
	    {"0-3,2", "CPU 2 is listed more than once"},
	    {"1024", "CPU 1024 is out of range (0-1023)"},
	    {"99999999999999999999999", "is out of range (0-1023)"},
	    {"1-2-3", "unexpected character '-' (expected ',' or '-')"},
	    {"0x1", "unexpected character 'x' (expected ',' or '-')"},
	    {"1;2", "unexpected character ';'"},
	    {"auto", "unexpected character 'a'"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CPU_ZERO(&set);
		CPU_SET(7, &set);
		rc = tr_cpulist_parse(bad[i].in, &set, err, sizeof(err));
		ok(rc == -EINVAL && strstr(err, bad[i].msg) && CPU_COUNT(&set) == 0,
		   "'%s' refused: %s", bad[i].in, bad[i].msg);
		if (rc != -EINVAL || !strstr(err, bad[i].msg))
			diag("  rc %d err '%s'", rc, err);
	}
	rc = tr_cpulist_parse("x", &set, NULL, 0);
	is_int(rc, -EINVAL, "err may be NULL");

	tr_cpulist_parse("8,0-3,10,11", &set, err, sizeof(err));
	rc = tr_cpulist_format(&set, out, sizeof(out));
	ok(rc == 0 && strcmp(out, "0-3,8,10-11") == 0, "format: %s", out);
	rc = tr_cpulist_format(&set, out, 4);
	is_int(rc, -ENOSPC, "format into a small buffer");
	CPU_ZERO(&set);
	is_int(tr_cpulist_format(&set, out, sizeof(out)), -EINVAL, "format of an empty set");

	/* cpuset of "auto" is the affinity mask */
	{
		struct tr_config c;
		cpu_set_t aff;
		tr_config_defaults(&c);
		sched_getaffinity(0, sizeof(aff), &aff);
		rc = tr_config_cpuset(&c, &set);
		ok(rc == 0 && CPU_EQUAL(&set, &aff), "cpuset(auto) is the affinity mask");
		strcpy(c.cpus, "1,3");
		rc = tr_config_cpuset(&c, &set);
		ok(rc == 0 && CPU_COUNT(&set) == 2 && CPU_ISSET(3, &set), "cpuset of a list");
	}
}

static void test_instance_names(void)
{
	is_int(tr_config_instance_valid("default"), 0, "instance 'default'");
	is_int(tr_config_instance_valid("a.B-9_"), 0, "instance with . - _");
	is_int(tr_config_instance_valid("abcdefghijklmnopqrstuvwxyz012345"), 0, "32 characters");
	is_int(tr_config_instance_valid("abcdefghijklmnopqrstuvwxyz0123456"), -EINVAL,
	       "33 characters refused");
	is_int(tr_config_instance_valid(""), -EINVAL, "empty refused");
	is_int(tr_config_instance_valid("a/b"), -EINVAL, "slash refused");
	is_int(tr_config_instance_valid("a b"), -EINVAL, "space refused");
	is_int(tr_config_instance_valid(NULL), -EINVAL, "NULL refused");
}

int main(void)
{
	if (find_src_root() < 0) {
		ok(0, "find tests/configs (set TASKRING_SRC to the source tree)");
		return tap_done();
	}
	diag("fixtures under %s", src_root);
	test_defaults();
	test_full();
	test_good_files();
	test_shipped_examples();
	test_round_trip();
	test_bad_files();
	test_fuzz_regressions();
	test_inline_errors();
	test_file_errors();
	test_cpulist();
	test_instance_names();
	return tap_done();
}
