/*
 * crashy.c - a test plugin that loads fine but whose handlers misbehave
 * (tests/integ/plugins.t):
 *   plugin-segv        (cpu) dereferences a null pointer: the worker dies,
 *                      the task is charged, the worker is replaced
 *   plugin-overflow    (cpu) reports more bytes than the buffer holds: the
 *                      task fails, the worker lives
 *   plugin-fail-silent (io)  fails without a message: "NAME: failed"
 *   plugin-stop        (cpu) stops its own worker (SIGSTOP): the first time
 *                      the worker is replaced and the task requeued
 *                      uncharged, the repeats are charged
 *   plugin-exit3       (cpu) calls exit(3), the status a worker's SIGBUS
 *                      handler exits with: charged as a crash, its cause
 *                      not claiming a SIGBUS
 */
#include <signal.h>
#include <stdlib.h>

#include "taskring-plugin.h"

static int segv(unsigned argc, char *const *argv, char *out, size_t cap, size_t *len)
{
	volatile int *volatile p = 0;
	(void)argc, (void)argv, (void)out, (void)cap;
	*len = (size_t)*p;
	return 0;
}

static int overflow(unsigned argc, char *const *argv, char *out, size_t cap, size_t *len)
{
	(void)argc, (void)argv, (void)out;
	*len = cap + 1;
	return 0;
}

static int fail_silent(unsigned argc, char *const *argv, char *out, size_t cap, size_t *len)
{
	(void)argc, (void)argv, (void)out, (void)cap;
	*len = 0;
	return 7;
}

static int stop_self(unsigned argc, char *const *argv, char *out, size_t cap, size_t *len)
{
	(void)argc, (void)argv, (void)out, (void)cap;
	raise(SIGSTOP);
	*len = 0;
	return 0;
}

static int exit3(unsigned argc, char *const *argv, char *out, size_t cap, size_t *len)
{
	(void)argc, (void)argv, (void)out, (void)cap, (void)len;
	exit(3);
}

static const struct taskring_plugin_handler handlers[] = {
    {"plugin-segv", TASKRING_CPU, 0, 0, NULL, NULL, segv},
    {"plugin-overflow", TASKRING_CPU, 0, 0, NULL, NULL, overflow},
    {"plugin-fail-silent", TASKRING_IO, 0, 0, NULL, NULL, fail_silent},
    {"plugin-stop", TASKRING_CPU, 0, 0, NULL, NULL, stop_self},
    {"plugin-exit3", TASKRING_CPU, 0, 0, NULL, NULL, exit3},
};

static const struct taskring_plugin plugin = {
    .abi = TASKRING_PLUGIN_ABI,
    .name = "crashy",
    .handlers = handlers,
    .n_handlers = 5,
};

const struct taskring_plugin *taskring_plugin_entry(void)
{
	return &plugin;
}
