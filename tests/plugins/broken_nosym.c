/*
 * broken_nosym.c - a test shared object without the taskring_plugin_entry
 * symbol: taskringd must refuse it at start, naming the file
 * (tests/integ/plugins.t).
 */
#include "taskring-plugin.h"

const struct taskring_plugin *taskring_plugin_entry_typo(void);

const struct taskring_plugin *taskring_plugin_entry_typo(void)
{
	return 0;
}
