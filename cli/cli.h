/*
 * cli.h - what the taskring command-line tool's parts share: the exit
 * statuses, the per-run context, the command table entries, and the helpers
 * in client.c that talk to libtaskring and turn its errors into messages
 * and exit statuses.
 *
 * Messages go to stderr as "taskring: <command>: <what>". Results and ids go
 * to stdout, nothing else does. The tool uses only the public API of
 * libtaskring (taskring.h).
 */
#ifndef TR_CLI_H
#define TR_CLI_H

#include <getopt.h>
#include <stdint.h>

#include "taskring.h"

/* Exit statuses (stable: scripts rely on them). */
enum cli_exit {
	CLI_OK = 0,        /* success */
	CLI_FAILED = 1,    /* a task failed, was cancelled, or does not exist */
	CLI_USAGE = 2,     /* usage error or bad argument */
	CLI_NODAEMON = 3,  /* the daemon cannot be reached */
	CLI_TIMEOUT = 4,   /* timed out waiting */
	CLI_FULL = 5,      /* queue full with --no-block */
	CLI_CONTINUE = -1, /* internal: option handled, keep parsing */
};

/* One run of the tool. */
struct cli {
	const char *cmd;      /* command being run, for messages; NULL: none yet */
	const char *instance; /* -i, else $TASKRING_INSTANCE, else "default" */
	int instance_opt;     /* 1 when -i/--instance was given */
	taskring_t *h;        /* attached handle, NULL until cli_attach() */
	int lock_warned;      /* cli_lock_stalled() has said so */
	int full_warned;      /* cli_full_stalled() has said so */
	int out_watch;        /* cli_wait_task() also ends when stdout's reader
	                         is gone (cli_output_gone()) */
	int daemon_seen;      /* cli_daemon_gone() found the daemon alive once */
	int64_t dead_since;   /* cli_now_ms() since which it found none; 0: it
	                         found one at its last look */
	int64_t last_look;    /* cli_now_ms() of cli_daemon_gone()'s last look */
	int64_t attach_by;    /* cli_now_ms() after which cli_attach() waits no
	                         longer for a restarting daemon; 0: none */
	int64_t grace_ms;     /* the grace for a dead daemon: CLI_DEAD_GRACE_MS,
	                         or $TASKRING_DEAD_GRACE; -1 until cli_attach()
	                         reads it */
};

/* One command. */
struct cli_cmd {
	const char *name;
	int (*run)(struct cli *c, int argc, char **argv); /* argv[0] is the name */
	const char *summary;                              /* one line for the overview */
	const char *help;                                 /* full text for --help */
};

/* The commands, in cmd_*.c. Each returns an exit status. */
extern const struct cli_cmd cmd_submit, cmd_wait, cmd_map, cmd_show, cmd_list, cmd_cancel,
    cmd_status, cmd_kill_worker, cmd_reload;

/* Prints "taskring: <cmd>: <message>\n" on stderr. */
void cli_err(const struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints the message and "try 'taskring <cmd> --help'"; returns CLI_USAGE. */
int cli_usage(const struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints the help of the current command (c->cmd) on stdout. */
void cli_print_help(const struct cli *c);

/* Handles what getopt_long() returned for the options every command shares
 * (-h/--help, -i/--instance) and getopt's error returns ('?', ':'); tok is
 * the argv element being parsed when getopt was called (for messages).
 * Returns CLI_CONTINUE when the caller should keep parsing, else the exit
 * status to return (0 after printing help, CLI_USAGE after a message). */
int cli_common_opt(struct cli *c, int opt, const char *tok, const struct option *longopts);

/* The argv element getopt is about to look at (for cli_common_opt). */
const char *cli_opt_token(int argc, char **argv);

/* Parses option values; on error print "<opt>: <reason>" and return CLI_USAGE,
 * else return CLI_CONTINUE. */
int cli_opt_u64(struct cli *c, const char *opt, const char *val, uint64_t min, uint64_t max,
                uint64_t *out);
int cli_opt_duration(struct cli *c, const char *opt, const char *val, int64_t *ms);

/* Parses the task ids argv[0..n) into ids (caller-sized n); on the first
 * malformed one prints why and returns CLI_USAGE, else CLI_OK. */
int cli_parse_ids(struct cli *c, int n, char **argv, uint64_t *ids);

/* The ID... operands of wait and cancel: at least one (`what` completes
 * "missing ID (the task ids ...)"), each well-formed, then cli_attach(c, 0).
 * On CLI_OK *ids holds n ids for the caller to free; else nothing is held. */
int cli_ids_attach(struct cli *c, int n, char **argv, const char *what, uint64_t **ids);

/* Attaches to c->instance. With need_daemon, also requires a live
 * supervisor; when the last one stopped by itself seconds ago (a restart),
 * waits for the next up to c->grace_ms from that stop (and not past
 * c->attach_by, when set: a --timeout or --no-block). Without, such a
 * stop counts as seen (the grace of cli_daemon_gone runs from it). Returns
 * CLI_OK, or prints why and returns CLI_USAGE (bad instance name) or
 * CLI_NODAEMON. */
int cli_attach(struct cli *c, int need_daemon);

/* Detaches (safe when not attached). */
void cli_detach(struct cli *c);

/* Exit status for a libtaskring error about the instance or a task:
 * -ENOENT/-TASKRING_EEXPIRED/-TASKRING_EBADID/-TASKRING_EFINAL -> 1,
 * -EINVAL/-E2BIG/-TASKRING_EBADTYPE/-TASKRING_ENOTSUP_CLS -> 2,
 * -EACCES/-EPERM/-TASKRING_ENODAEMON/-TASKRING_ELAYOUT/-TASKRING_ECORRUPT -> 3,
 * -ETIMEDOUT -> 4, -TASKRING_EFULL -> 5; anything else 1. */
int cli_status_of(int err);

/* Prints "task ID: <why>" for an error met reading task id and returns its
 * exit status: "no such task", "no longer in the table (...)", ... */
int cli_task_error(struct cli *c, uint64_t id, int err);

/* Prints why a submit failed (unknown type, too long, full, ...) and returns
 * the exit status. type, argc and argv describe the (first) task. */
int cli_submit_error(struct cli *c, int err, const char *type, int argc, const char *const *argv);

/* Whether pid is a taskringd supervisor: its program is taskringd (when
 * this user may read /proc/PID/exe) and its name is too (workers and the
 * spare run under their own). A pid read from the shared segment is never
 * signalled on trust alone. */
int cli_is_supervisor(int pid);

/* Current CLOCK_MONOTONIC time in ms. */
int64_t cli_now_ms(void);

/* ms left until deadline (a cli_now_ms() value; < 0: none): -1 for none,
 * else >= 0. */
int64_t cli_remaining_ms(int64_t deadline);

/* Looks whether the daemon is alive. Returns 1 once none has been for
 * c->grace_ms (a restart takes less), else 0. One clock per command:
 * the waits for a map's or a wait's tasks one after the other share it, so
 * a daemon that stopped during one wait is not judged anew by the next. */
int cli_daemon_gone(struct cli *c);

/* Waits until task id is final or deadline (cli_now_ms() based; < 0: none),
 * copying it into *info and marking it read. Waits in slices so it notices
 * an interrupt (cli_interrupted()) and a supervisor that stays dead for
 * c->grace_ms (cli_daemon_gone(); then -TASKRING_ENODAEMON). When no
 * daemon was ever seen by this command, a task not final yet gives
 * -TASKRING_ENODAEMON at once. A queue lock held by a
 * stopped process is waited out too, said once (cli_lock_stalled()).
 * Returns 0, -ETIMEDOUT, -TASKRING_ELOCKED (the deadline came while the lock
 * was stuck), -EINTR, or a libtaskring error. With c->out_watch set it
 * also looks, each slice, whether stdout's reader is gone; then it acts as a
 * write would: it raises SIGPIPE and returns -EINTR when SIGPIPE is caught
 * (cli_interrupt_install), else -EPIPE. */
#define CLI_DEAD_GRACE_MS 10000 /* the default of c->grace_ms */
int cli_wait_task(struct cli *c, uint64_t id, int64_t deadline, struct taskring_info *info);

/* 1 when standard output is a pipe or socket whose reading end is closed
 * (a write would fail with EPIPE), else 0 (a file, a terminal, no fd 1). */
int cli_output_gone(void);

/* For a command whose output is gone: does what the next write would, raising
 * SIGPIPE, and returns -EINTR when SIGPIPE is caught (cli_interrupt_install;
 * cli_interrupted() then says SIGPIPE), else -EPIPE. */
int cli_output_lost(void);

/* Says once per command, on stderr, that a call is waiting for a queue lock
 * some process holds without letting go (-TASKRING_ELOCKED). */
void cli_lock_stalled(struct cli *c);

/* How long a submit waits for a free slot before cli_full_stalled() says
 * so. */
#define CLI_FULL_SAY_MS 1000

/* Says once per command, on stderr, that a submit has been waiting for a
 * free slot: the table is full (free slots, tasks queued or running and
 * finished results kept unread, from a status snapshot), and how to give
 * up (give_up, e.g. "--timeout S or --no-block to give up"). */
void cli_full_stalled(struct cli *c, const char *give_up);

/* Finished tasks whose results are kept unread in a status snapshot: the
 * slots neither free (nor reclaimable), queued nor running; 0 at least. */
unsigned cli_status_unread(const struct taskring_status *st);

/* taskring_status_get() into *st (release it with taskring_status_release);
 * on failure prints why (naming a stuck lock's holder) and returns the exit
 * status, else CLI_OK. */
int cli_status_read(struct cli *c, struct taskring_status *st);

/* Prints "instance 'NAME': WHAT<error text>" for err (-TASKRING_ELOCKED),
 * naming the process that holds the lock when it can be told
 * (taskring_lock_holder): "; it is held by pid 4242 (taskring), stopped". */
void cli_lock_error(struct cli *c, const char *what, int err);

/* Reports a final task: DONE writes its result line on stdout and returns
 * CLI_OK; FAILED/CANCELLED write a blank line on stdout (when blank_line, so
 * lines stay aligned with tasks), the error on stderr, and return
 * CLI_FAILED. */
int cli_report_final(struct cli *c, const struct taskring_info *info, int blank_line);

/* SIGINT/SIGTERM/SIGPIPE handling for long waits: install sets a flag
 * instead of dying (a signal ignored at install stays ignored);
 * cli_interrupted() returns the signal caught (0: none);
 * cli_interrupt_reset() restores the actions from before and clears the
 * flag. SIGPIPE caught, a write to a closed pipe fails with EPIPE and the
 * command cleans up before it dies of the signal. */
void cli_interrupt_install(void);
int cli_interrupted(void);
void cli_interrupt_reset(void);

#endif
