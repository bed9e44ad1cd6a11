/*
 * dconfig.h - the configuration the daemon runs with, and its checks.
 *
 * One loader for start-up, `-t`, `--print-config` and SIGHUP: the YAML file
 * (or the built-in defaults without one), then `-i` over `instance`, then
 * the checks only this machine can answer (the group exists, the CPUs are
 * usable by this process). No global state.
 */
#ifndef TR_DCONFIG_H
#define TR_DCONFIG_H

#include <stddef.h>

#include "config.h"

/* Loads path (NULL: built-in defaults) into c (treated as uninitialized),
 * applies instance (NULL: keep) and runs the machine checks. Returns 0, or
 * a negative error with one line per problem in err ("FILE:LINE:COL: ..."
 * from the parser, "FILE: cpus: ..." from the checks); c then holds the
 * defaults and nothing to free. */
int tr_dconfig_load(const char *path, const char *instance, struct tr_config *c, char *err,
                    size_t errlen);

/* Why a reload from old to new cannot be applied to the running daemon (a
 * new segment or identity would be needed, or another list of plugins):
 * writes the reason into err and returns 1, else 0. */
int tr_dconfig_needs_restart(const struct tr_config *old, const struct tr_config *new_, char *err,
                             size_t errlen);

#endif
