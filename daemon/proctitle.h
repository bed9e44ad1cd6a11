/*
 * proctitle.h - the process title ps shows ("taskring: worker 1 cpu 1").
 *
 * tr_proctitle_init() moves the argument strings and the environment to the
 * heap (argv[i] and environ point to the copies afterwards), which frees the
 * original contiguous argv+environ area to hold a title. tr_proctitle_set()
 * writes the title there (ps, /proc/PID/cmdline) and sets the thread name
 * (prctl PR_SET_NAME, 15 bytes: top, /proc/PID/comm). Without init (unit
 * tests, library users) only the thread name is set.
 * State: the title area found by init (process-wide, set once by main()).
 */
#ifndef TR_PROCTITLE_H
#define TR_PROCTITLE_H

/* Call once from main() before anything reads argv or the environment
 * through saved pointers. Leaves the title area unused on any failure. */
void tr_proctitle_init(int argc, char **argv);

/* Sets the title from a printf format. Truncated to the area's size. */
void tr_proctitle_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
