/*
 * broken_abi.c - a test plugin built for another ABI version: taskringd must
 * refuse it at start, naming the file (tests/integ/plugins.t).
 */
#include "taskring-plugin.h"

static int run(unsigned argc, char *const *argv, char *out, size_t cap, size_t *len)
{
	(void)argc, (void)argv, (void)out, (void)cap;
	*len = 0;
	return 0;
}

static const struct taskring_plugin_handler handlers[] = {
    {"future-type", TASKRING_CPU, 0, 0, NULL, NULL, run},
};

static const struct taskring_plugin plugin = {
    .abi = TASKRING_PLUGIN_ABI + 41,
    .name = "broken-abi",
    .handlers = handlers,
    .n_handlers = 1,
};

const struct taskring_plugin *taskring_plugin_entry(void)
{
	return &plugin;
}
