/*
 * cfgpaths.h - checks the paths a configuration names (exec.cwd,
 * exec.allowed, io.allowed_paths) against this machine as it is now.
 *
 * The configuration itself stays valid when they fail: a directory may be
 * mounted or a program installed after the check. But every task that
 * needs one would fail, so `taskringd -t`, the start and a reload say so.
 * No global state.
 */
#ifndef TR_CFGPATHS_H
#define TR_CFGPATHS_H

#include "config.h"

/* Called once per problem with a one-line text such as
   "exec.cwd /srv/x: No such file or directory (exec tasks will fail)". */
typedef void (*tr_cfgpaths_warn_fn)(void *arg, const char *msg);

/* Checks that exec.cwd and every io.allowed_paths entry is a directory this
   process can reach, and every exec.allowed entry an executable regular
   file. Calls warn for each one that is not and returns how many. */
unsigned tr_cfgpaths_check(const struct tr_config *c, tr_cfgpaths_warn_fn warn, void *arg);

#endif
