/*
 * config.c - see config.h. Defaults, the key schema, loading (file -> bytes ->
 * cfgtree -> validated struct), freeing, copying and comparing.
 *
 * Loading works on a scratch struct: only a fully valid result reaches the
 * caller's struct, every error found is reported (not just the first), and a
 * failure leaves the caller's struct at the defaults with nothing allocated.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "queue.h"

#include "cfgdiag.h"
#include "cfgtree.h"
#include "log.h"

void tr_config_defaults(struct tr_config *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->instance, "default");
	c->workers = 0;
	strcpy(c->cpus, "auto");
	c->queue_capacity = 4096;
	c->payload_max = 4096;
	c->result_max = 4096;
	c->max_attempts = 3;
	c->run_timeout_s = 0;
	c->kill_grace_ms = 2000;
	c->result_ttl_s = 300;
	c->coalesce_us = 30;
	c->io_depth = 256;
	c->io_max_kernel_workers = 4;
	c->restart_min_uptime_ms = 1000;
	c->restart_backoff_ms = 100;
	c->restart_backoff_max_ms = 30000;
	c->restart_max_early_exits = 10;
	c->restart_window_s = 60;
	c->restart_spare_worker = true;
	c->heartbeat_s = 10;
	c->shutdown_timeout_s = 30;
	c->log_level = LOG_INFO;
	c->workers_sched = SCHED_BATCH;
	strcpy(c->exec_cwd, "/");
}

static void strv_free(char ***v, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		free((*v)[i]);
	free(*v);
	*v = NULL;
	*n = 0;
}

void tr_config_free(struct tr_config *c)
{
	strv_free(&c->allowed_paths, &c->n_allowed_paths);
	strv_free(&c->exec_allowed, &c->n_exec_allowed);
	strv_free(&c->exec_env, &c->n_exec_env);
	strv_free(&c->plugins, &c->n_plugins);
	tr_config_defaults(c);
}

static int strv_copy(char ***dst, size_t *dn, char *const *src, size_t sn)
{
	*dst = NULL;
	*dn = 0;
	if (!sn)
		return 0;
	*dst = calloc(sn, sizeof(char *));
	if (!*dst)
		return -ENOMEM;
	for (size_t i = 0; i < sn; i++) {
		(*dst)[i] = strdup(src[i]);
		if (!(*dst)[i]) {
			strv_free(dst, dn);
			return -ENOMEM;
		}
		*dn = i + 1;
	}
	return 0;
}

int tr_config_copy(struct tr_config *dst, const struct tr_config *src)
{
	memcpy(dst, src, sizeof(*dst));
	dst->allowed_paths = dst->exec_allowed = dst->exec_env = dst->plugins = NULL;
	dst->n_allowed_paths = dst->n_exec_allowed = dst->n_exec_env = dst->n_plugins = 0;
	if (strv_copy(&dst->allowed_paths, &dst->n_allowed_paths, src->allowed_paths,
	              src->n_allowed_paths) ||
	    strv_copy(&dst->exec_allowed, &dst->n_exec_allowed, src->exec_allowed,
	              src->n_exec_allowed) ||
	    strv_copy(&dst->exec_env, &dst->n_exec_env, src->exec_env, src->n_exec_env) ||
	    strv_copy(&dst->plugins, &dst->n_plugins, src->plugins, src->n_plugins)) {
		tr_config_free(dst);
		return -ENOMEM;
	}
	return 0;
}

static bool strv_equal(char *const *a, size_t an, char *const *b, size_t bn)
{
	if (an != bn)
		return false;
	for (size_t i = 0; i < an; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

bool tr_config_equal(const struct tr_config *a, const struct tr_config *b)
{
	return strcmp(a->instance, b->instance) == 0 && a->workers == b->workers &&
	       strcmp(a->cpus, b->cpus) == 0 && strcmp(a->group, b->group) == 0 &&
	       a->queue_capacity == b->queue_capacity && a->payload_max == b->payload_max &&
	       a->result_max == b->result_max && a->max_attempts == b->max_attempts &&
	       a->run_timeout_s == b->run_timeout_s && a->kill_grace_ms == b->kill_grace_ms &&
	       a->result_ttl_s == b->result_ttl_s && a->coalesce_us == b->coalesce_us &&
	       a->io_depth == b->io_depth && a->io_max_kernel_workers == b->io_max_kernel_workers &&
	       strv_equal(a->allowed_paths, a->n_allowed_paths, b->allowed_paths,
	                  b->n_allowed_paths) &&
	       a->restart_min_uptime_ms == b->restart_min_uptime_ms &&
	       a->restart_backoff_ms == b->restart_backoff_ms &&
	       a->restart_backoff_max_ms == b->restart_backoff_max_ms &&
	       a->restart_max_early_exits == b->restart_max_early_exits &&
	       a->restart_window_s == b->restart_window_s &&
	       a->restart_spare_worker == b->restart_spare_worker &&
	       a->heartbeat_s == b->heartbeat_s && a->shutdown_timeout_s == b->shutdown_timeout_s &&
	       a->log_level == b->log_level && a->workers_sched == b->workers_sched &&
	       strv_equal(a->exec_allowed, a->n_exec_allowed, b->exec_allowed, b->n_exec_allowed) &&
	       strv_equal(a->exec_env, a->n_exec_env, b->exec_env, b->n_exec_env) &&
	       strcmp(a->exec_cwd, b->exec_cwd) == 0 &&
	       strv_equal(a->plugins, a->n_plugins, b->plugins, b->n_plugins);
}

const char *tr_config_worker_change(const struct tr_config *a, const struct tr_config *b)
{
	if (!strv_equal(a->allowed_paths, a->n_allowed_paths, b->allowed_paths, b->n_allowed_paths))
		return "io.allowed_paths";
	if (!strv_equal(a->exec_allowed, a->n_exec_allowed, b->exec_allowed, b->n_exec_allowed))
		return "exec.allowed";
	if (!strv_equal(a->exec_env, a->n_exec_env, b->exec_env, b->n_exec_env))
		return "exec.env";
	if (strcmp(a->exec_cwd, b->exec_cwd) != 0)
		return "exec.cwd";
	if (a->io_depth != b->io_depth)
		return "io.depth";
	if (a->io_max_kernel_workers != b->io_max_kernel_workers)
		return "io.max_kernel_workers";
	if (a->coalesce_us != b->coalesce_us)
		return "tasks.coalesce_us";
	if (a->heartbeat_s != b->heartbeat_s)
		return "workers_heartbeat_s";
	if (a->kill_grace_ms != b->kill_grace_ms)
		return "tasks.kill_grace_ms";
	return NULL;
}

static bool instance_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '_' || ch == '.' || ch == '-';
}

static int name_valid(const char *s, size_t len, size_t max)
{
	if (len == 0 || len > max)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if (!instance_char(s[i]))
			return -EINVAL;
	return 0;
}

int tr_config_instance_valid(const char *name)
{
	return name ? name_valid(name, strlen(name), 32) : -EINVAL;
}

int tr_config_cpuset(const struct tr_config *c, cpu_set_t *set)
{
	if (strcmp(c->cpus, "auto") == 0) {
		CPU_ZERO(set);
		if (sched_getaffinity(0, sizeof(*set), set) < 0)
			return -errno;
		return 0;
	}
	return tr_cpulist_parse(c->cpus, set, NULL, 0);
}

/* ---- the schema ------------------------------------------------------------ */

enum key_kind {
	KK_SECTION,  /* a mapping of further keys */
	KK_UINT,     /* unsigned in [min, max] at off */
	KK_BOOL,     /* true or false: bool at off */
	KK_WORKERS,  /* "auto" or 1..1024 */
	KK_INSTANCE, /* instance name */
	KK_CPUS,     /* "auto", a list string, or a YAML list of CPUs */
	KK_GROUP,    /* group name or empty */
	KK_LEVEL,    /* log level name */
	KK_SCHED,    /* "batch" or "normal": workers_sched */
	KK_PATHS,    /* list of absolute paths: char ** at off, size_t count at off_n */
	KK_DIRS,     /* same, and no ".." components */
	KK_ENV,      /* mapping NAME: value */
	KK_CWD,      /* one absolute path */
};

struct cfg_key {
	const char *name; /* full dotted name */
	enum key_kind kind;
	size_t off, off_n;
	unsigned min, max;
};

#define KEY_U(n, f, lo, hi)                                                                        \
	{                                                                                          \
		n, KK_UINT, offsetof(struct tr_config, f), 0, lo, hi                               \
	}
#define KEY_B(n, f)                                                                                \
	{                                                                                          \
		n, KK_BOOL, offsetof(struct tr_config, f), 0, 0, 0                                 \
	}
#define KEY_L(n, k, f)                                                                             \
	{                                                                                          \
		n, k, offsetof(struct tr_config, f), offsetof(struct tr_config, n_##f), 0, 0       \
	}

static const struct cfg_key cfg_keys[] = {
    {"instance", KK_INSTANCE, 0, 0, 0, 0},
    {"workers", KK_WORKERS, 0, 0, 1, 1024},
    {"cpus", KK_CPUS, 0, 0, 0, 0},
    {"workers_sched", KK_SCHED, 0, 0, 0, 0},
    {"group", KK_GROUP, 0, 0, 0, 0},
    {"queue", KK_SECTION, 0, 0, 0, 0},
    KEY_U("queue.capacity", queue_capacity, 1, 16777216),
    KEY_U("queue.payload_max", payload_max, 64, 1048576),
    KEY_U("queue.result_max", result_max, 64, 1048576),
    {"tasks", KK_SECTION, 0, 0, 0, 0},
    KEY_U("tasks.max_attempts", max_attempts, 1, 1000),
    KEY_U("tasks.run_timeout_s", run_timeout_s, 0, 31536000),
    KEY_U("tasks.kill_grace_ms", kill_grace_ms, 0, 3600000),
    KEY_U("tasks.result_ttl_s", result_ttl_s, 1, 31536000),
    KEY_U("tasks.coalesce_us", coalesce_us, 0, 10000),
    {"io", KK_SECTION, 0, 0, 0, 0},
    KEY_U("io.depth", io_depth, 1, 65536),
    KEY_U("io.max_kernel_workers", io_max_kernel_workers, 1, 1024),
    KEY_L("io.allowed_paths", KK_DIRS, allowed_paths),
    {"restart", KK_SECTION, 0, 0, 0, 0},
    KEY_U("restart.min_uptime_ms", restart_min_uptime_ms, 0, 3600000),
    KEY_U("restart.backoff_ms", restart_backoff_ms, 0, 3600000),
    KEY_U("restart.backoff_max_ms", restart_backoff_max_ms, 0, 3600000),
    KEY_U("restart.max_early_exits", restart_max_early_exits, 0, 1000000),
    KEY_U("restart.window_s", restart_window_s, 1, 86400),
    KEY_B("restart.spare_worker", restart_spare_worker),
    KEY_U("workers_heartbeat_s", heartbeat_s, 1, 3600),
    KEY_U("shutdown_timeout_s", shutdown_timeout_s, 0, 86400),
    {"log", KK_SECTION, 0, 0, 0, 0},
    {"log.level", KK_LEVEL, 0, 0, 0, 0},
    {"exec", KK_SECTION, 0, 0, 0, 0},
    KEY_L("exec.allowed", KK_PATHS, exec_allowed),
    {"exec.env", KK_ENV, 0, 0, 0, 0},
    {"exec.cwd", KK_CWD, 0, 0, 0, 0},
    KEY_L("plugins", KK_PATHS, plugins),
};

#define N_KEYS       (sizeof(cfg_keys) / sizeof(cfg_keys[0]))
#define MAX_KEY_NAME 64 /* longer keys are unknown without a suggestion */

static int key_find(const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (strcmp(cfg_keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

static const struct cfg_key *key_by_name(const char *name)
{
	int i = key_find(name);
	return i < 0 ? NULL : &cfg_keys[i];
}

static size_t levenshtein(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[MAX_KEY_NAME + 1];

	if (lb > MAX_KEY_NAME)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

static const char *leaf_of(const char *name)
{
	const char *dot = strrchr(name, '.');
	return dot ? dot + 1 : name;
}

/* The known key closest to an unknown full name, or NULL when nothing is close.
   Distances are doubled so that "a known leaf under the wrong section" and "a
   part of a known key" can rank between an edit distance of 1 and 2. */
static const char *key_suggest(const char *name)
{
	size_t best = SIZE_MAX, len = strlen(name);
	const char *pick = NULL;

	if (len > MAX_KEY_NAME)
		return NULL;
	for (size_t i = 0; i < N_KEYS; i++) {
		const char *cand = cfg_keys[i].name;
		size_t dist = levenshtein(name, cand);
		size_t score = dist <= 1 || dist * 3 <= len ? dist * 2 : SIZE_MAX;
		if (strcmp(leaf_of(name), leaf_of(cand)) == 0 && score > 3)
			score = 3; /* "capacity" for "queue.capacity" */
		else if (cfg_keys[i].kind != KK_SECTION && strlen(leaf_of(name)) >= 4 &&
		         (strstr(leaf_of(cand), leaf_of(name)) ||
		          strstr(leaf_of(name), leaf_of(cand))) &&
		         score > 3)
			score = 3; /* "timeout" for "tasks.run_timeout_s" */
		if (score < best) {
			best = score;
			pick = cand;
		}
	}
	return best == SIZE_MAX ? NULL : pick;
}

/* ---- loading --------------------------------------------------------------- */

struct key_seen {
	bool set;
	unsigned line, col;   /* of the key */
	unsigned vline, vcol; /* of the value */
};

struct loader {
	struct tr_config *c;
	struct tr_cfgdiag *d;
	struct key_seen seen[N_KEYS];
	bool nomem;
};

#define at(L, n, ...) tr_cfgdiag_at((L)->d, (n)->line, (n)->col, __VA_ARGS__)

static const char *show(char *buf, size_t len, const struct tr_cfgnode *n)
{
	return tr_cfgdiag_show(buf, len, n->value, n->len);
}

static void nomem(struct loader *L)
{
	if (!L->nomem)
		tr_cfgdiag_file(L->d, "out of memory");
	L->nomem = true;
}

/* Checks that n is a scalar string without NULs (a "what" for messages). */
static bool want_string(struct loader *L, const char *key, const struct tr_cfgnode *n,
                        const char *what)
{
	if (n->type != TR_CFGNODE_SCALAR) {
		at(L, n, "key '%s': expected %s, got %s", key, what, tr_cfgnode_kind(n));
		return false;
	}
	if (tr_cfgnode_is_null(n)) {
		at(L, n, "key '%s': missing value (expected %s)", key, what);
		return false;
	}
	if (strlen(n->value) != n->len) {
		at(L, n, "key '%s': value contains a NUL character", key);
		return false;
	}
	return true;
}

/* Parses a scalar as an unsigned decimal in [min, max]. */
static bool parse_uint(struct loader *L, const char *key, const struct tr_cfgnode *n, unsigned min,
                       unsigned max, const char *alt, unsigned *out)
{
	char sh[96];
	unsigned long long v = 0;
	bool big = false;
	const char *s = n->value;
	size_t i = 0;

	if (n->type != TR_CFGNODE_SCALAR || tr_cfgnode_is_null(n)) {
		if (n->type != TR_CFGNODE_SCALAR)
			at(L, n, "key '%s': expected an integer%s, got %s", key, alt,
			   tr_cfgnode_kind(n));
		else
			at(L, n, "key '%s': missing value (expected an integer%s)", key, alt);
		return false;
	}
	if (n->len > 0 && (s[0] == '-' || s[0] == '+'))
		i = 1;
	if (i == n->len) {
		at(L, n, "key '%s': expected an integer%s, got '%s'", key, alt,
		   show(sh, sizeof(sh), n));
		return false;
	}
	for (size_t j = i; j < n->len; j++) {
		if (s[j] < '0' || s[j] > '9') {
			at(L, n, "key '%s': expected an integer%s, got '%s'", key, alt,
			   show(sh, sizeof(sh), n));
			return false;
		}
		if (!big) {
			v = v * 10 + (unsigned)(s[j] - '0');
			if (v > UINT32_MAX)
				big = true;
		}
	}
	if (s[0] == '-' && v != 0) {
		at(L, n, "key '%s': %s is out of range (must be %u..%u%s)", key,
		   show(sh, sizeof(sh), n), min, max, alt[0] ? " or 'auto'" : "");
		return false;
	}
	if (big || v < min || v > max) {
		at(L, n, "key '%s': %s is out of range (must be %u..%u%s)", key,
		   show(sh, sizeof(sh), n), min, max, alt[0] ? " or 'auto'" : "");
		return false;
	}
	*out = (unsigned)v;
	return true;
}

static bool is_text(const struct tr_cfgnode *n, const char *s)
{
	return n->type == TR_CFGNODE_SCALAR && n->len == strlen(s) &&
	       memcmp(n->value, s, n->len) == 0;
}

/* Parses a scalar as a boolean: the YAML 1.2 core forms true/false (also True,
   TRUE, False, FALSE). yes/no/on/off are refused: they are booleans in YAML 1.1
   only, and a reader should not have to know which YAML a file was meant for. */
static bool parse_bool(struct loader *L, const char *key, const struct tr_cfgnode *n, bool *out)
{
	static const char *const yes[] = {"true", "True", "TRUE"};
	static const char *const no[] = {"false", "False", "FALSE"};
	char sh[96];

	if (n->type != TR_CFGNODE_SCALAR) {
		at(L, n, "key '%s': expected true or false, got %s", key, tr_cfgnode_kind(n));
		return false;
	}
	if (tr_cfgnode_is_null(n)) {
		at(L, n, "key '%s': missing value (expected true or false)", key);
		return false;
	}
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (is_text(n, yes[i]) || is_text(n, no[i])) {
			*out = is_text(n, yes[i]);
			return true;
		}
	}
	at(L, n, "key '%s': expected true or false, got '%s'", key, show(sh, sizeof(sh), n));
	return false;
}

static void set_cpus(struct loader *L, const char *key, const struct tr_cfgnode *n)
{
	char sh[96], why[128];
	cpu_set_t set;

	if (n->type == TR_CFGNODE_SEQ) {
		/* a YAML list of CPUs or ranges: joined with commas, kept in order */
		char joined[sizeof(L->c->cpus)];
		size_t o = 0;
		bool ok = true;
		if (n->n == 0) {
			at(L, n, "key '%s': empty CPU list (use 'auto' for all CPUs)", key);
			return;
		}
		for (const struct tr_cfgnode *e = n->first; e; e = e->next) {
			if (!want_string(L, key, e, "a CPU number")) {
				ok = false;
				continue;
			}
			if (tr_cpulist_parse(e->value, &set, why, sizeof(why)) < 0) {
				at(L, e, "key '%s': invalid CPU '%s': %s", key,
				   show(sh, sizeof(sh), e), why);
				ok = false;
				continue;
			}
			if (o + e->len + 2 > sizeof(joined)) {
				at(L, n, "key '%s': CPU list too long (max %zu characters)", key,
				   sizeof(joined) - 1);
				return;
			}
			if (o)
				joined[o++] = ',';
			memcpy(joined + o, e->value, e->len);
			o += e->len;
		}
		if (!ok)
			return;
		joined[o] = '\0';
		if (tr_cpulist_parse(joined, &set, why, sizeof(why)) < 0) {
			at(L, n, "key '%s': invalid CPU list: %s", key, why);
			return;
		}
		memcpy(L->c->cpus, joined, o + 1);
		L->c->cpus_pos = (struct tr_config_pos){n->line, n->col};
		return;
	}
	if (!want_string(L, key, n, "'auto' or a CPU list like \"0-3,8\""))
		return;
	if (n->len >= sizeof(L->c->cpus)) {
		at(L, n, "key '%s': CPU list too long (max %zu characters)", key,
		   sizeof(L->c->cpus) - 1);
		return;
	}
	if (!is_text(n, "auto") && tr_cpulist_parse(n->value, &set, why, sizeof(why)) < 0) {
		at(L, n, "key '%s': invalid CPU list '%s': %s", key, show(sh, sizeof(sh), n), why);
		return;
	}
	memcpy(L->c->cpus, n->value, n->len + 1);
	L->c->cpus_pos = (struct tr_config_pos){n->line, n->col};
}

/* Checks one path string; dirs also refuses "." and ".." components. */
static bool check_path(struct loader *L, const char *key, const struct tr_cfgnode *n, bool dirs)
{
	char sh[96];

	if (!want_string(L, key, n, "an absolute path"))
		return false;
	if (n->value[0] != '/') {
		at(L, n, "key '%s': path must be absolute, got '%s'", key, show(sh, sizeof(sh), n));
		return false;
	}
	if (n->len >= TR_CONFIG_MAX_PATH) {
		at(L, n, "key '%s': path too long (max %d characters)", key,
		   TR_CONFIG_MAX_PATH - 1);
		return false;
	}
	if (dirs) {
		for (const char *p = n->value; *p;) {
			while (*p == '/')
				p++;
			size_t k = strcspn(p, "/");
			if ((k == 1 && p[0] == '.') || (k == 2 && p[0] == '.' && p[1] == '.')) {
				at(L, n,
				   "key '%s': path must not contain '.' or '..' components, "
				   "got '%s'",
				   key, show(sh, sizeof(sh), n));
				return false;
			}
			p += k;
		}
	}
	return true;
}

static void set_paths(struct loader *L, const struct cfg_key *k, const struct tr_cfgnode *n)
{
	char ***vp = (char ***)((char *)L->c + k->off);
	size_t *np = (size_t *)((char *)L->c + k->off_n);
	char ename[MAX_KEY_NAME + 24];
	size_t i = 0;
	bool ok = true;

	if (tr_cfgnode_is_null(n))
		return;
	if (n->type != TR_CFGNODE_SEQ) {
		at(L, n, "key '%s': expected a list of absolute paths, got %s", k->name,
		   tr_cfgnode_kind(n));
		return;
	}
	if (n->n > TR_CONFIG_MAX_LIST) {
		at(L, n, "key '%s': too many entries (max %d)", k->name, TR_CONFIG_MAX_LIST);
		return;
	}
	for (const struct tr_cfgnode *e = n->first; e; e = e->next, i++) {
		snprintf(ename, sizeof(ename), "%s[%zu]", k->name, i);
		if (!check_path(L, ename, e, k->kind == KK_DIRS))
			ok = false;
	}
	if (!ok || n->n == 0)
		return;
	*vp = calloc(n->n, sizeof(char *));
	if (!*vp) {
		nomem(L);
		return;
	}
	for (const struct tr_cfgnode *e = n->first; e; e = e->next) {
		(*vp)[*np] = strdup(e->value);
		if (!(*vp)[*np]) {
			nomem(L);
			return;
		}
		(*np)++;
	}
}

static bool env_name_valid(const char *s, size_t len)
{
	if (len == 0 || len > 255 || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_'))
			return false;
	}
	return true;
}

static void set_env(struct loader *L, const char *key, const struct tr_cfgnode *n)
{
	struct tr_config *c = L->c;
	char sh[96];
	bool ok = true;

	if (tr_cfgnode_is_null(n))
		return;
	if (n->type != TR_CFGNODE_MAP) {
		at(L, n, "key '%s': expected a mapping of NAME: value, got %s", key,
		   tr_cfgnode_kind(n));
		return;
	}
	if (n->n / 2 > TR_CONFIG_MAX_LIST) {
		at(L, n, "key '%s': too many variables (max %d)", key, TR_CONFIG_MAX_LIST);
		return;
	}
	for (const struct tr_cfgnode *kn = n->first; kn && kn->next; kn = kn->next->next) {
		const struct tr_cfgnode *vn = kn->next;
		if (kn->type != TR_CFGNODE_SCALAR || !env_name_valid(kn->value, kn->len)) {
			if (kn->type != TR_CFGNODE_SCALAR)
				at(L, kn, "key '%s': variable name must be a scalar, got %s", key,
				   tr_cfgnode_kind(kn));
			else
				at(L, kn,
				   "key '%s': invalid variable name '%s' (letters, digits and '_', "
				   "not starting with a digit)",
				   key, show(sh, sizeof(sh), kn));
			ok = false;
			continue;
		}
		for (const struct tr_cfgnode *pk = n->first; pk != kn; pk = pk->next->next) {
			if (pk->type == TR_CFGNODE_SCALAR && pk->len == kn->len &&
			    memcmp(pk->value, kn->value, kn->len) == 0) {
				at(L, kn,
				   "key '%s': duplicate variable '%s' (first set at line %u)", key,
				   show(sh, sizeof(sh), kn), pk->line);
				ok = false;
				break;
			}
		}
		if (vn->type != TR_CFGNODE_SCALAR) {
			at(L, vn, "key '%s.%s': expected a string value, got %s", key, kn->value,
			   tr_cfgnode_kind(vn));
			ok = false;
		} else if (strlen(vn->value) != vn->len) {
			at(L, vn, "key '%s.%s': value contains a NUL character", key, kn->value);
			ok = false;
		} else if (vn->len >= TR_CONFIG_MAX_VALUE) {
			at(L, vn, "key '%s.%s': value too long (max %d characters)", key, kn->value,
			   TR_CONFIG_MAX_VALUE - 1);
			ok = false;
		}
	}
	if (!ok || n->n < 2)
		return;
	c->exec_env = calloc(n->n / 2, sizeof(char *));
	if (!c->exec_env) {
		nomem(L);
		return;
	}
	for (const struct tr_cfgnode *kn = n->first; kn && kn->next; kn = kn->next->next) {
		const struct tr_cfgnode *vn = kn->next;
		const char *val = tr_cfgnode_is_null(vn) ? "" : vn->value;
		char *s;
		if (asprintf(&s, "%s=%s", kn->value, val) < 0) {
			nomem(L);
			return;
		}
		c->exec_env[c->n_exec_env++] = s;
	}
}

static void walk_map(struct loader *L, const struct tr_cfgnode *map, const char *prefix);

static void apply(struct loader *L, const struct cfg_key *k, const struct tr_cfgnode *v)
{
	struct tr_config *c = L->c;
	char sh[96];
	unsigned u;

	switch (k->kind) {
	case KK_SECTION:
		if (v->type == TR_CFGNODE_MAP)
			walk_map(L, v, k->name);
		else if (!tr_cfgnode_is_null(v))
			at(L, v, "key '%s': expected a mapping of '%s.*' keys, got %s", k->name,
			   k->name, tr_cfgnode_kind(v));
		return;
	case KK_UINT:
		if (parse_uint(L, k->name, v, k->min, k->max, "", &u))
			*(unsigned *)((char *)c + k->off) = u;
		return;
	case KK_BOOL: {
		bool b;
		if (parse_bool(L, k->name, v, &b))
			*(bool *)((char *)c + k->off) = b;
		return;
	}
	case KK_WORKERS:
		if (is_text(v, "auto"))
			c->workers = 0;
		else if (parse_uint(L, k->name, v, k->min, k->max, " or 'auto'", &u))
			c->workers = u;
		return;
	case KK_INSTANCE:
		if (!want_string(L, k->name, v, "an instance name"))
			return;
		if (name_valid(v->value, v->len, sizeof(c->instance) - 1) < 0) {
			at(L, v,
			   "key '%s': invalid instance name '%s' (1-32 characters of A-Z a-z 0-9 _ "
			   ". -)",
			   k->name, show(sh, sizeof(sh), v));
			return;
		}
		memcpy(c->instance, v->value, v->len + 1);
		return;
	case KK_CPUS:
		set_cpus(L, k->name, v);
		return;
	case KK_GROUP:
		if (tr_cfgnode_is_null(v) || (v->type == TR_CFGNODE_SCALAR && v->len == 0)) {
			c->group[0] = '\0';
			return;
		}
		if (!want_string(L, k->name, v, "a group name"))
			return;
		if (name_valid(v->value, v->len, sizeof(c->group) - 1) < 0 || v->value[0] == '-') {
			at(L, v,
			   "key '%s': invalid group name '%s' (1-63 characters of A-Z a-z 0-9 _ . "
			   "-, not starting with '-')",
			   k->name, show(sh, sizeof(sh), v));
			return;
		}
		memcpy(c->group, v->value, v->len + 1);
		c->group_pos = (struct tr_config_pos){v->line, v->col};
		return;
	case KK_LEVEL: {
		int level;
		if (!want_string(L, k->name, v, "a log level"))
			return;
		level = tr_log_level_parse(v->value);
		if (level < 0) {
			at(L, v,
			   "key '%s': unknown level '%s' (expected error, warning, notice, info or "
			   "debug)",
			   k->name, show(sh, sizeof(sh), v));
			return;
		}
		c->log_level = level;
		return;
	}
	case KK_SCHED:
		if (!want_string(L, k->name, v, "a scheduling policy"))
			return;
		if (is_text(v, "batch")) {
			c->workers_sched = SCHED_BATCH;
		} else if (is_text(v, "normal")) {
			c->workers_sched = SCHED_OTHER;
		} else {
			at(L, v, "key '%s': unknown policy '%s' (expected batch or normal)",
			   k->name, show(sh, sizeof(sh), v));
		}
		return;
	case KK_PATHS:
	case KK_DIRS:
		set_paths(L, k, v);
		return;
	case KK_ENV:
		set_env(L, k->name, v);
		return;
	case KK_CWD:
		if (check_path(L, k->name, v, false))
			memcpy(c->exec_cwd, v->value, v->len + 1);
		return;
	}
}

static void unknown_key(struct loader *L, const struct tr_cfgnode *kn, const char *prefix)
{
	char sh[96], full[2 * 96 + 2];
	const char *hint;

	show(sh, sizeof(sh), kn);
	snprintf(full, sizeof(full), "%s%s%s", prefix ? prefix : "", prefix ? "." : "", sh);
	if (kn->len == strlen(kn->value) && memchr(kn->value, '.', kn->len) && key_by_name(full)) {
		at(L, kn, "unknown key '%s' (write it as nested mappings, not with dots)", full);
		return;
	}
	hint = kn->len == strlen(kn->value) ? key_suggest(full) : NULL;
	if (hint)
		at(L, kn, "unknown key '%s' (did you mean '%s'?)", full, hint);
	else
		at(L, kn, "unknown key '%s'", full);
}

static void walk_map(struct loader *L, const struct tr_cfgnode *map, const char *prefix)
{
	char name[MAX_KEY_NAME + 1];

	for (const struct tr_cfgnode *kn = map->first; kn && kn->next; kn = kn->next->next) {
		const struct tr_cfgnode *vn = kn->next;
		int idx = -1;

		if (kn->type != TR_CFGNODE_SCALAR) {
			if (prefix)
				at(L, kn, "key '%s': keys must be plain names, got %s", prefix,
				   tr_cfgnode_kind(kn));
			else
				at(L, kn, "keys must be plain names, got %s", tr_cfgnode_kind(kn));
			continue;
		}
		if (kn->len == strlen(kn->value) && !memchr(kn->value, '.', kn->len) &&
		    (prefix ? strlen(prefix) + 1 : 0) + kn->len < sizeof(name)) {
			snprintf(name, sizeof(name), "%s%s%s", prefix ? prefix : "",
			         prefix ? "." : "", kn->value);
			idx = key_find(name);
		}
		if (idx < 0) {
			unknown_key(L, kn, prefix);
			continue;
		}
		if (L->seen[idx].set) {
			at(L, kn, "duplicate key '%s' (first set at line %u)", cfg_keys[idx].name,
			   L->seen[idx].line);
			continue;
		}
		L->seen[idx] = (struct key_seen){true, kn->line, kn->col, vn->line, vn->col};
		apply(L, &cfg_keys[idx], vn);
	}
}

static void cross_checks(struct loader *L)
{
	struct tr_config *c = L->c;

	/* Each of the three sizes may be in range and the segment they make
	 * still too large: say so here (at queue.capacity when the file sets
	 * it, else payload_max, else result_max), not when the daemon starts. */
	struct trq_geom g = {c->queue_capacity, c->payload_max, c->result_max};
	if (trq_seg_size(&g) == 0) {
		static const char *const keys[] = {"queue.capacity", "queue.payload_max",
		                                   "queue.result_max"};
		const struct key_seen *s = NULL;
		for (size_t k = 0; k < 3 && !s; k++) {
			int i = key_find(keys[k]);
			if (i >= 0 && L->seen[i].set)
				s = &L->seen[i];
		}
		tr_cfgdiag_at(L->d, s ? s->vline : 1, s ? s->vcol : 1,
		              "queue.capacity %u x (payload_max %u + result_max %u bytes) makes a "
		              "shared segment larger than the %llu GiB taskring allows",
		              c->queue_capacity, c->payload_max, c->result_max,
		              (unsigned long long)(TRQ_SEG_MAX >> 30));
	}

	if (c->restart_backoff_max_ms < c->restart_backoff_ms) {
		int imax = key_find("restart.backoff_max_ms"),
		    imin = key_find("restart.backoff_ms");
		const struct key_seen *s = L->seen[imax].set ? &L->seen[imax] : &L->seen[imin];
		tr_cfgdiag_at(L->d, s->vline, s->vcol,
		              "key 'restart.backoff_max_ms': %u is less than restart.backoff_ms "
		              "(%u)",
		              c->restart_backoff_max_ms, c->restart_backoff_ms);
	}
}

static int load_buf(const void *buf, size_t len, struct tr_config *c, struct tr_cfgdiag *d)
{
	struct tr_cfgnode *root;
	struct loader L;
	int rc;

	memset(&L, 0, sizeof(L));
	L.c = c;
	L.d = d;
	rc = tr_cfgtree_parse(buf, len, d, &root);
	if (rc)
		return rc;
	if (root && !tr_cfgnode_is_null(root)) {
		if (root->type != TR_CFGNODE_MAP)
			tr_cfgdiag_at(d, root->line, root->col,
			              "the top level must be a mapping of keys, got %s",
			              tr_cfgnode_kind(root));
		else
			walk_map(&L, root, NULL);
	}
	tr_cfgtree_free(root);
	if (L.nomem)
		return -ENOMEM;
	if (d->count)
		return -EINVAL;
	cross_checks(&L);
	return d->count ? -EINVAL : 0;
}

int tr_config_load_mem(const char *name, const void *buf, size_t len, struct tr_config *c,
                       char *err, size_t errlen)
{
	struct tr_cfgdiag d;
	struct tr_config tmp;
	int rc;

	if (!name)
		name = "<memory>";
	if (err && errlen)
		err[0] = '\0';
	tr_config_defaults(c);
	tr_config_defaults(&tmp);
	tr_cfgdiag_init(&d, name);
	if (len > TR_CONFIG_MAX_FILE) {
		tr_cfgdiag_file(&d, "file too large (%zu bytes, max %u)", len, TR_CONFIG_MAX_FILE);
		rc = -EFBIG;
	} else {
		rc = load_buf(buf ? buf : "", buf ? len : 0, &tmp, &d);
	}
	tr_cfgdiag_export(&d, err, errlen);
	tr_cfgdiag_free(&d);
	if (rc) {
		tr_config_free(&tmp);
		return rc;
	}
	snprintf(tmp.path, sizeof(tmp.path), "%s", name);
	memcpy(c, &tmp, sizeof(*c));
	return 0;
}

/* Reads the whole file into a new buffer. Returns 0 or -errno: -EISDIR for
 * a directory, -EINVAL for a FIFO, socket or block device. Never blocks:
 * opening a FIFO would wait for a writer (a reload would freeze the
 * supervisor), so the open and the reads are non-blocking, and a character
 * device with nothing to read (a terminal) fails with EAGAIN. */
static int read_file(const char *path, char **out, size_t *outlen)
{
	struct stat st;
	size_t cap = 4096, len = 0;
	char *buf;
	int fd, e;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		e = -errno;
		close(fd);
		return e;
	}
	if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode)) {
		close(fd);
		return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	}
	buf = malloc(cap);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		if (len == cap) {
			if (cap > TR_CONFIG_MAX_FILE) {
				e = -EFBIG;
				goto fail;
			}
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				e = -ENOMEM;
				goto fail;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = -errno;
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	*out = buf;
	*outlen = len;
	return 0;
fail:
	close(fd);
	free(buf);
	return e;
}

int tr_config_load(const char *path, struct tr_config *c, char *err, size_t errlen)
{
	struct tr_cfgdiag d;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	tr_config_defaults(c);
	if (!path)
		return -EINVAL;
	rc = read_file(path, &buf, &len);
	if (rc) {
		tr_cfgdiag_init(&d, path);
		if (rc == -EFBIG)
			tr_cfgdiag_file(&d, "file too large (max %u bytes)", TR_CONFIG_MAX_FILE);
		else if (rc == -EINVAL)
			tr_cfgdiag_file(&d, "cannot read: not a regular file (a FIFO, socket or "
			                    "block device)");
		else
			tr_cfgdiag_file(&d, "cannot %s: %s", rc == -EISDIR ? "read" : "open",
			                strerror(-rc));
		if (err && errlen)
			err[0] = '\0';
		tr_cfgdiag_export(&d, err, errlen);
		tr_cfgdiag_free(&d);
		return rc;
	}
	rc = tr_config_load_mem(path, buf, len, c, err, errlen);
	free(buf);
	return rc;
}
