/*
 * plugins.c - see plugins.h.
 *
 * Every handler becomes a struct tr_task_def whose ext points at a struct
 * plugin_type (the handler and its file); the check and run wrappers below
 * call the plugin through it and keep its mistakes (a missing message, a
 * length past the buffer) out of the results.
 */
#include "plugins.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue.h"

struct plugin_type {
	const struct taskring_plugin_handler *h;
	struct tr_plugin_file *file;
};

/* ---- wrappers --------------------------------------------------------------- */

/* Keeps a plugin's message on one line and terminated. */
static void one_line(char *s, size_t len)
{
	if (!len)
		return;
	s[len - 1] = '\0';
	for (; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

static int plugin_check(const struct tr_task_def *d, unsigned argc, char *const *argv,
                        struct tr_targs *ta, char *err, size_t errlen)
{
	const struct plugin_type *pt = d->ext;

	(void)ta;
	if (!pt->h->check)
		return 0;
	if (errlen)
		err[0] = '\0';
	if (pt->h->check(argc, argv, err, errlen) == 0)
		return 0;
	one_line(err, errlen);
	if (errlen && !err[0])
		snprintf(err, errlen, "%s: bad arguments", d->name);
	return -EINVAL;
}

static int plugin_run(const struct tr_task_def *d, unsigned argc, char *const *argv,
                      struct tr_out *o)
{
	const struct plugin_type *pt = d->ext;
	size_t len = 0;

	int r = pt->h->run(argc, argv, o->buf, o->cap, &len);
	if (len > o->cap) {
		tr_out_error(o, "%s: the handler reported %zu bytes, more than result_max (%zu)",
		             d->name, len, o->cap);
		return TASKRING_FAILED;
	}
	o->len = len;
	if (r == 0)
		return TASKRING_DONE;
	if (len == 0)
		tr_out_error(o, "%s: failed", d->name);
	return TASKRING_FAILED;
}

/* ---- loading ------------------------------------------------------------------ */

static int name_ok(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++) {
		char c = s[n];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return 0;
		if (n >= TASKRING_PLUGIN_NAME_MAX)
			return 0;
	}
	return n > 0;
}

/* Checks handler h of file f against everything before it. */
static int check_handler(const struct tr_plugins *ps, size_t fi, unsigned hi, char *err,
                         size_t errlen)
{
	const struct tr_plugin_file *f = &ps->files[fi];
	const struct taskring_plugin_handler *h = &f->desc->handlers[hi];
	char shown[300];

	if (!h->name || !name_ok(h->name)) {
		snprintf(err, errlen,
		         "plugin %s: handler %u: invalid name '%s' (1-%d characters of A-Z a-z 0-9 "
		         "_ . -)",
		         f->path, hi,
		         h->name ? tr_task_show(shown, sizeof(shown), h->name) : "(null)",
		         TASKRING_PLUGIN_NAME_MAX);
		return -EINVAL;
	}
	if (h->cls != TASKRING_CPU && h->cls != TASKRING_IO) {
		snprintf(err, errlen,
		         "plugin %s: handler '%s': invalid class %d (TASKRING_CPU or "
		         "TASKRING_IO)",
		         f->path, h->name, h->cls);
		return -EINVAL;
	}
	if (!h->run) {
		snprintf(err, errlen, "plugin %s: handler '%s': no run function", f->path, h->name);
		return -EINVAL;
	}
	if (h->min_args > h->max_args) {
		snprintf(err, errlen, "plugin %s: handler '%s': min_args %u above max_args %u",
		         f->path, h->name, h->min_args, h->max_args);
		return -EINVAL;
	}
	size_t nb;
	const struct tr_task_def *b = tr_tasks_builtin(&nb);
	for (size_t i = 0; i < nb; i++) {
		if (strcmp(b[i].name, h->name) == 0) {
			snprintf(err, errlen,
			         "plugin %s: handler '%s' clashes with the built-in task type of "
			         "that name",
			         f->path, h->name);
			return -EINVAL;
		}
	}
	for (size_t k = 0; k <= fi; k++) {
		const struct tr_plugin_file *g = &ps->files[k];
		unsigned upto = k == fi ? hi : g->desc->n_handlers;
		for (unsigned j = 0; j < upto; j++) {
			if (strcmp(g->desc->handlers[j].name, h->name) != 0)
				continue;
			if (k == fi)
				snprintf(err, errlen, "plugin %s: handler '%s' is registered twice",
				         f->path, h->name);
			else
				snprintf(err, errlen,
				         "plugin %s: handler '%s' clashes with the handler of that "
				         "name in plugin %s",
				         f->path, h->name, g->path);
			return -EINVAL;
		}
	}
	return 0;
}

/* Opens paths[i] as file i and checks its description. */
static int load_one(struct tr_plugins *ps, size_t i, const char *path, char *err, size_t errlen)
{
	struct tr_plugin_file *f = &ps->files[i];
	const struct taskring_plugin *(*entry)(void);

	f->path = strdup(path);
	if (!f->path) {
		snprintf(err, errlen, "plugin %s: out of memory", path);
		return -ENOMEM;
	}
	dlerror();
	f->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!f->handle) {
		const char *e = dlerror();
		snprintf(err, errlen, "plugin %s: cannot load it: %s", path,
		         e ? e : "dlopen failed");
		return -EINVAL;
	}
	ps->nfiles = i + 1;
	dlerror();
	void *sym = dlsym(f->handle, TASKRING_PLUGIN_ENTRY);
	if (!sym) {
		snprintf(err, errlen,
		         "plugin %s: no symbol %s (not a taskring plugin, or the function is not "
		         "exported)",
		         path, TASKRING_PLUGIN_ENTRY);
		return -EINVAL;
	}
	memcpy(&entry, &sym, sizeof(entry));
	f->desc = entry();
	if (!f->desc) {
		snprintf(err, errlen, "plugin %s: %s() returned NULL (the plugin refused to load)",
		         path, TASKRING_PLUGIN_ENTRY);
		return -EINVAL;
	}
	if (f->desc->abi != TASKRING_PLUGIN_ABI) {
		snprintf(err, errlen,
		         "plugin %s: ABI version %u, this taskringd has version %d (rebuild it "
		         "against this taskring-plugin.h)",
		         path, f->desc->abi, TASKRING_PLUGIN_ABI);
		return -EINVAL;
	}
	if (!f->desc->handlers || f->desc->n_handlers == 0) {
		snprintf(err, errlen, "plugin %s: registers no handlers", path);
		return -EINVAL;
	}
	if (f->desc->n_handlers > TRQ_TYPES_MAX) {
		snprintf(err, errlen, "plugin %s: %u handlers, at most %d task types fit", path,
		         f->desc->n_handlers, TRQ_TYPES_MAX);
		return -EINVAL;
	}
	for (unsigned h = 0; h < f->desc->n_handlers; h++) {
		int r = check_handler(ps, i, h, err, errlen);
		if (r)
			return r;
	}
	return 0;
}

int tr_plugins_load(struct tr_plugins *ps, char *const *paths, size_t n, char *err, size_t errlen)
{
	size_t nbuiltin, total = 0;
	int r;

	memset(ps, 0, sizeof(*ps));
	if (errlen)
		err[0] = '\0';
	if (n == 0)
		return 0;
	ps->files = calloc(n, sizeof(*ps->files));
	if (!ps->files) {
		snprintf(err, errlen, "plugins: out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		r = load_one(ps, i, paths[i], err, errlen);
		if (r) {
			if (ps->nfiles < i + 1) { /* the path was copied, nothing opened */
				free(ps->files[i].path);
				ps->files[i].path = NULL;
			}
			tr_plugins_free(ps);
			return r;
		}
		total += ps->files[i].desc->n_handlers;
	}
	tr_tasks_builtin(&nbuiltin);
	if (nbuiltin + total > TRQ_TYPES_MAX) {
		snprintf(
		    err, errlen,
		    "plugins: %zu handlers and %zu built-in types exceed the %d task types the "
		    "queue can list",
		    total, nbuiltin, TRQ_TYPES_MAX);
		tr_plugins_free(ps);
		return -EINVAL;
	}

	struct plugin_type *types = calloc(total, sizeof(*types));
	ps->defs = calloc(total, sizeof(*ps->defs));
	if (!types || !ps->defs) {
		free(types);
		snprintf(err, errlen, "plugins: out of memory");
		tr_plugins_free(ps);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const struct taskring_plugin *desc = ps->files[i].desc;
		for (unsigned j = 0; j < desc->n_handlers; j++) {
			const struct taskring_plugin_handler *h = &desc->handlers[j];
			struct plugin_type *pt = &types[ps->ndefs];
			struct tr_task_def *d = &ps->defs[ps->ndefs++];
			pt->h = h;
			pt->file = &ps->files[i];
			d->name = h->name;
			d->cls = h->cls;
			d->min_args = h->min_args;
			d->max_args =
			    h->max_args == TASKRING_PLUGIN_ARGS_ANY ? TR_ARGS_ANY : h->max_args;
			d->usage = h->usage ? h->usage : "";
			d->quick_n = -1;
			d->io = h->cls == TASKRING_IO ? TR_IO_PLUGIN : TR_IO_NONE;
			d->check = plugin_check;
			d->run = NULL;
			d->ext = pt;
			d->run_ext = plugin_run;
		}
	}
	return 0;
}

void tr_plugins_activate(const struct tr_plugins *ps)
{
	tr_tasks_set_extra(ps->defs, ps->ndefs);
}

int tr_plugins_init_worker(char *err, size_t errlen)
{
	size_t n;
	const struct tr_task_def *defs = tr_tasks_extra(&n);

	for (size_t i = 0; i < n; i++) {
		const struct plugin_type *pt = defs[i].ext;
		struct tr_plugin_file *f = pt ? pt->file : NULL;
		if (!f || f->inited)
			continue;
		f->inited = 1;
		if (!f->desc->init)
			continue;
		char why[256] = "";
		if (f->desc->init(why, sizeof(why)) != 0) {
			one_line(why, sizeof(why));
			snprintf(err, errlen, "plugin %s: init: %s", f->path,
			         why[0] ? why : "failed (no reason given)");
			return -EINVAL;
		}
	}
	return 0;
}

void tr_plugins_free(struct tr_plugins *ps)
{
	size_t n;
	if (ps->defs && tr_tasks_extra(&n) == ps->defs)
		tr_tasks_set_extra(NULL, 0);
	if (ps->defs && ps->ndefs)
		free((void *)ps->defs[0].ext); /* the plugin_type array */
	free(ps->defs);
	for (size_t i = 0; ps->files && i < ps->nfiles; i++) {
		if (ps->files[i].handle)
			dlclose(ps->files[i].handle);
		free(ps->files[i].path);
	}
	free(ps->files);
	memset(ps, 0, sizeof(*ps));
}
