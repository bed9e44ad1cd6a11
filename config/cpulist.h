/*
 * cpulist.h - parsing of CPU lists such as "0-3,8" (the `cpus` setting).
 *
 * A list is comma-separated elements, each a CPU number or an inclusive range
 * "A-B" with A <= B; spaces around elements and dashes are allowed. Numbers are
 * decimal and below CPU_SETSIZE. A CPU may appear only once. No global state.
 */
#ifndef TR_CPULIST_H
#define TR_CPULIST_H

#include <sched.h>
#include <stddef.h>

/* Parses s into set (cleared first). Returns 0, or -EINVAL with a message
   (without a trailing newline) in err, e.g. "CPU 4096 is out of range (0-1023)". */
int tr_cpulist_parse(const char *s, cpu_set_t *set, char *err, size_t errlen);

/* Writes set as a canonical list with ranges ("0-3,8") into out. Returns 0,
   -EINVAL for an empty set, or -ENOSPC when out is too small. */
int tr_cpulist_format(const cpu_set_t *set, char *out, size_t outlen);

#endif
