/*
 * dconfig.c - see dconfig.h.
 */
#include "dconfig.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cpus.h"
#include "instance.h"

int tr_dconfig_load(const char *path, const char *instance, struct tr_config *c, char *err,
                    size_t errlen)
{
	const char *name = path ? path : "built-in defaults";
	char msg[512];
	struct tr_cpus cpus;
	int r;

	if (errlen)
		err[0] = 0;
	if (path) {
		r = tr_config_load(path, c, err, errlen);
		if (r)
			return r;
	} else {
		tr_config_defaults(c);
	}
	if (instance) {
		if (tr_config_instance_valid(instance)) {
			snprintf(err, errlen,
			         "-i: invalid instance name '%s' (1-32 characters of A-Z a-z 0-9 _ "
			         ". -)",
			         instance);
			r = -EINVAL;
			goto fail;
		}
		snprintf(c->instance, sizeof(c->instance), "%s", instance);
	}
	/* What only this machine can judge, named at its place in the file. */
	const struct tr_config_pos *pos = &c->cpus_pos;
	r = tr_cpus_resolve(c, &cpus, msg, sizeof(msg));
	if (r == 0 && tr_instance_gid(c, msg, sizeof(msg)) < -1) {
		r = -EINVAL;
		pos = &c->group_pos;
	}
	if (r) {
		if (pos->line)
			snprintf(err, errlen, "%s:%u:%u: %s", name, pos->line, pos->col, msg);
		else
			snprintf(err, errlen, "%s: %s", name, msg);
		goto fail;
	}
	return 0;
fail:
	tr_config_free(c);
	tr_config_defaults(c);
	return r;
}

int tr_dconfig_needs_restart(const struct tr_config *old, const struct tr_config *new_, char *err,
                             size_t errlen)
{
	const char *what = NULL;

	if (strcmp(old->instance, new_->instance) != 0)
		what = "instance";
	else if (strcmp(old->group, new_->group) != 0)
		what = "group";
	else if (old->queue_capacity != new_->queue_capacity)
		what = "queue.capacity";
	else if (old->payload_max != new_->payload_max)
		what = "queue.payload_max";
	else if (old->result_max != new_->result_max)
		what = "queue.result_max";
	if (!what && old->n_plugins != new_->n_plugins) {
		what = "plugins";
	} else if (!what) {
		for (size_t i = 0; i < old->n_plugins; i++)
			if (strcmp(old->plugins[i], new_->plugins[i]) != 0)
				what = "plugins";
	}
	if (what && strcmp(what, "plugins") == 0) {
		snprintf(err, errlen,
		         "plugins changed: plugins are loaded only at start; restart the daemon");
		return 1;
	}
	if (what && strcmp(what, "group") == 0) {
		snprintf(err, errlen,
		         "group changed: the segment's group and mode are set at start; restart "
		         "the daemon (the queued tasks are kept)");
		return 1;
	}
	if (!what)
		return 0;
	snprintf(err, errlen,
	         "%s changed: it needs a new segment, which a reload cannot make; restart the "
	         "daemon (a different queue.capacity/payload_max/result_max also needs the old "
	         "segment removed first)",
	         what);
	return 1;
}
