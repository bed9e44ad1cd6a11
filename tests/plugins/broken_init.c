/*
 * broken_init.c - a test plugin whose init fails in every worker: the worker
 * stops at set-up with the message, and the daemon with it
 * (tests/integ/plugins.t).
 */
#include <stdio.h>

#include "taskring-plugin.h"

static int run(unsigned argc, char *const *argv, char *out, size_t cap, size_t *len)
{
	(void)argc, (void)argv, (void)out, (void)cap;
	*len = 0;
	return 0;
}

static int init(char *err, size_t errlen)
{
	snprintf(err, errlen, "cannot reach the license server");
	return 1;
}

static const struct taskring_plugin_handler handlers[] = {
    {"init-fails", TASKRING_CPU, 0, 0, NULL, NULL, run},
};

static const struct taskring_plugin plugin = {
    .abi = TASKRING_PLUGIN_ABI,
    .name = "broken-init",
    .handlers = handlers,
    .n_handlers = 1,
    .init = init,
};

const struct taskring_plugin *taskring_plugin_entry(void)
{
	return &plugin;
}
