/*
 * config_print.c - tr_config_print(): the effective configuration as YAML.
 *
 * Every string is written double-quoted with YAML escapes for anything a
 * reader would not take literally (controls, line separators, BOM), so the
 * output loads back to an equal struct. Numbers and names are written plain.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "config.h"

#include <errno.h>
#include <string.h>

#include "cfgdiag.h"
#include "log.h"

/* Decodes one UTF-8 sequence at s. Returns its length and sets *cp, or 0. */
static size_t utf8_decode(const unsigned char *s, unsigned *cp)
{
	size_t k;
	unsigned v;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	k = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	v = s[0] & (0x7f >> k);
	for (size_t i = 1; i < k; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3f);
	}
	if ((k == 3 && v < 0x800) || (k == 4 && (v < 0x10000 || v > 0x10ffff)) ||
	    (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return k;
}

/* Writes s as a YAML double-quoted scalar. Returns 0 or -EILSEQ. */
static int put_quoted(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	while (*p) {
		unsigned cp;
		size_t k = utf8_decode(p, &cp);
		if (!k)
			return -EILSEQ;
		if (cp == '"' || cp == '\\')
			fprintf(f, "\\%c", (char)cp);
		else if (cp == '\n')
			fputs("\\n", f);
		else if (cp == '\t')
			fputs("\\t", f);
		else if (cp < 0x20 || cp == 0x7f)
			fprintf(f, "\\x%02x", cp);
		else if (cp >= 0x80 && cp < 0xa0)
			fprintf(f, "\\u%04x", cp); /* C1 controls, NEL */
		else if (cp == 0x2028 || cp == 0x2029 || cp == 0xfeff || cp == 0xfffe ||
		         cp == 0xffff)
			fprintf(f, "\\u%04x", cp);
		else
			fwrite(p, 1, k, f);
		p += k;
	}
	fputc('"', f);
	return 0;
}

static int put_list(FILE *f, const char *indent, const char *key, char *const *v, size_t n)
{
	if (!n) {
		fprintf(f, "%s%s: []\n", indent, key);
		return 0;
	}
	fprintf(f, "%s%s:\n", indent, key);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%s  - ", indent);
		if (put_quoted(f, v[i]))
			return -EILSEQ;
		fputc('\n', f);
	}
	return 0;
}

static int put_env(FILE *f, const struct tr_config *c)
{
	if (!c->n_exec_env) {
		fputs("  env: {}\n", f);
		return 0;
	}
	fputs("  env:\n", f);
	for (size_t i = 0; i < c->n_exec_env; i++) {
		const char *eq = strchr(c->exec_env[i], '=');
		if (!eq || eq == c->exec_env[i])
			return -EINVAL;
		fprintf(f, "    %.*s: ", (int)(eq - c->exec_env[i]), c->exec_env[i]);
		if (put_quoted(f, eq + 1))
			return -EILSEQ;
		fputc('\n', f);
	}
	return 0;
}

int tr_config_print(FILE *f, const struct tr_config *c)
{
	int rc = 0;

	fputs("# taskring effective configuration", f);
	if (c->path[0]) {
		char shown[512];
		fprintf(f, " (loaded from %s)",
		        tr_cfgdiag_show(shown, sizeof(shown), c->path, strlen(c->path)));
	} else {
		fputs(" (built-in defaults)", f);
	}
	fputs("\ninstance: ", f);
	rc = rc ? rc : put_quoted(f, c->instance);
	if (c->workers)
		fprintf(f, "\nworkers: %u\n", c->workers);
	else
		fputs("\nworkers: auto\n", f);
	fputs("cpus: ", f);
	rc = rc ? rc : put_quoted(f, c->cpus);
	fprintf(f, "\nworkers_sched: %s", c->workers_sched == SCHED_BATCH ? "batch" : "normal");
	fputs("\ngroup: ", f);
	rc = rc ? rc : put_quoted(f, c->group);
	fprintf(f,
	        "\nqueue:\n  capacity: %u\n  payload_max: %u\n  result_max: %u\n"
	        "tasks:\n  max_attempts: %u\n  run_timeout_s: %u\n  kill_grace_ms: %u\n"
	        "  result_ttl_s: %u\n  coalesce_us: %u\n"
	        "io:\n  depth: %u\n  max_kernel_workers: %u\n",
	        c->queue_capacity, c->payload_max, c->result_max, c->max_attempts, c->run_timeout_s,
	        c->kill_grace_ms, c->result_ttl_s, c->coalesce_us, c->io_depth,
	        c->io_max_kernel_workers);
	rc = rc ? rc : put_list(f, "  ", "allowed_paths", c->allowed_paths, c->n_allowed_paths);
	fprintf(f,
	        "restart:\n  min_uptime_ms: %u\n  backoff_ms: %u\n  backoff_max_ms: %u\n"
	        "  max_early_exits: %u\n  window_s: %u\n  spare_worker: %s\n"
	        "workers_heartbeat_s: %u\nshutdown_timeout_s: %u\n"
	        "log:\n  level: %s\n"
	        "exec:\n",
	        c->restart_min_uptime_ms, c->restart_backoff_ms, c->restart_backoff_max_ms,
	        c->restart_max_early_exits, c->restart_window_s,
	        c->restart_spare_worker ? "true" : "false", c->heartbeat_s, c->shutdown_timeout_s,
	        tr_log_level_name(c->log_level));
	rc = rc ? rc : put_list(f, "  ", "allowed", c->exec_allowed, c->n_exec_allowed);
	rc = rc ? rc : put_env(f, c);
	fputs("  cwd: ", f);
	rc = rc ? rc : put_quoted(f, c->exec_cwd);
	fputc('\n', f);
	rc = rc ? rc : put_list(f, "", "plugins", c->plugins, c->n_plugins);
	if (fflush(f) != 0 || ferror(f))
		return rc ? rc : -EIO;
	return rc;
}
