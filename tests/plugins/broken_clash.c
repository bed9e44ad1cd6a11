/*
 * broken_clash.c - a test plugin registering the name of a built-in type
 * (echo), or with -DCLASH_PLUGIN the name of the example plugin's word-count:
 * taskringd must refuse it at start, naming the file (tests/integ/plugins.t).
 */
#include "taskring-plugin.h"

#ifdef CLASH_PLUGIN
#define NAME "word-count"
#else
#define NAME "echo"
#endif

static int run(unsigned argc, char *const *argv, char *out, size_t cap, size_t *len)
{
	(void)argc, (void)argv, (void)out, (void)cap;
	*len = 0;
	return 0;
}

static const struct taskring_plugin_handler handlers[] = {
    {"clash-ok", TASKRING_CPU, 0, 0, NULL, NULL, run},
    {NAME, TASKRING_CPU, 0, 0, NULL, NULL, run},
};

static const struct taskring_plugin plugin = {
    .abi = TASKRING_PLUGIN_ABI,
    .name = "broken-clash",
    .handlers = handlers,
    .n_handlers = 2,
};

const struct taskring_plugin *taskring_plugin_entry(void)
{
	return &plugin;
}
