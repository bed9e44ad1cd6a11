/*
 * cmd_list.c - `taskring list`: the tasks in the table, newest first, as a
 * table or a JSON array of `show --json` objects; --state and --type filter.
 *
 * The listing callback only formats into memory: it may run while the
 * library holds the queue lock, and writing to a stdout pipe that is not
 * being read could block every other process. The text is written out after
 * taskring_list() returns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "taskfmt.h"

static const char list_help[] =
    "usage: taskring list [--state STATE[,STATE...]] [--type TYPE] [--json]\n"
    "\n"
    "Lists the tasks in the table, newest first: queued, running, and finished\n"
    "ones whose results are still kept.\n"
    "\n"
    "Options:\n"
    "  -s, --state STATES   only tasks in these states: queued, running, done,\n"
    "                       failed, cancelled (comma-separated, or repeat the\n"
    "                       option); 'all' for every state (the default)\n"
    "  -T, --type TYPE      only tasks of this type\n"
    "  -j, --json           print a JSON array of 'show --json' objects\n"
    "  -i, --instance NAME  the daemon instance\n"
    "  -h, --help           show this help\n"
    "\n"
    "Exit status: 0 listed; 2 bad arguments; 3 daemon not reachable.\n";

#define LIST_ALL                                                                                   \
	((1u << TASKRING_QUEUED) | (1u << TASKRING_RUNNING) | (1u << TASKRING_DONE) |              \
	 (1u << TASKRING_FAILED) | (1u << TASKRING_CANCELLED))

struct list_ctx {
	FILE *m;          /* memory stream collecting the output */
	int json;         /* JSON array instead of rows */
	size_t n;         /* tasks seen */
	uint64_t now;     /* CLOCK_REALTIME ns, for ages */
	const char *type; /* only tasks of this type (NULL: all) */
};

static int list_one(const struct taskring_info *info, void *arg)
{
	struct list_ctx *l = arg;

	if (l->type && strcmp(info->type, l->type) != 0)
		return 0;
	if (l->json) {
		fputs(l->n ? ",\n" : "\n", l->m);
		taskfmt_json(l->m, info);
	} else {
		if (l->n == 0)
			taskfmt_row_header(l->m);
		taskfmt_row(l->m, info, l->now);
	}
	l->n++;
	return 0;
}

/* Adds the states named in a comma-separated list to *mask. */
static int list_states(struct cli *c, const char *arg, unsigned *mask)
{
	char buf[256];
	char *save = NULL;

	if (strlen(arg) >= sizeof(buf))
		return cli_usage(c, "--state: value too long");
	strcpy(buf, arg);
	if (!*buf)
		return cli_usage(c, "--state: empty value");
	for (char *s = strtok_r(buf, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
		int st;
		if (strcmp(s, "all") == 0) {
			*mask |= LIST_ALL;
			continue;
		}
		st = taskring_state_parse(s);
		if (st <= TASKRING_FREE || st >= TASKRING_NSTATES)
			return cli_usage(c,
			                 "--state: unknown state '%.40s' (queued, running, done, "
			                 "failed, cancelled, all)",
			                 s);
		*mask |= 1u << st;
	}
	return CLI_CONTINUE;
}

static int list_run(struct cli *c, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"state", required_argument, NULL, 's'}, {"type", required_argument, NULL, 'T'},
	    {"json", no_argument, NULL, 'j'},        {"instance", required_argument, NULL, 'i'},
	    {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
	};
	struct list_ctx l = {0};
	struct timespec ts;
	unsigned mask = 0;
	char *text = NULL;
	size_t len = 0;
	int st, r;

	for (;;) {
		const char *tok = cli_opt_token(argc, argv);
		int opt = getopt_long(argc, argv, ":s:T:ji:h", longopts, NULL);
		if (opt == -1)
			break;
		if (opt == 'j') {
			l.json = 1;
			continue;
		}
		if (opt == 's')
			st = list_states(c, optarg, &mask);
		else if (opt == 'T')
			st =
			    *(l.type = optarg) ? CLI_CONTINUE : cli_usage(c, "--type: empty value");
		else
			st = cli_common_opt(c, opt, tok, longopts);
		if (st != CLI_CONTINUE)
			return st;
	}
	if (optind < argc)
		return cli_usage(c, "unexpected argument '%.40s'", argv[optind]);
	if (!mask)
		mask = LIST_ALL;
	st = cli_attach(c, 0);
	if (st != CLI_OK)
		return st;
	clock_gettime(CLOCK_REALTIME, &ts);
	l.now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	l.m = open_memstream(&text, &len);
	if (!l.m) {
		cli_err(c, "open_memstream: out of memory");
		return CLI_FAILED;
	}
	r = taskring_list(c->h, mask, list_one, &l);
	fclose(l.m);
	if (r < 0) {
		free(text);
		if (r == -TASKRING_ELOCKED)
			cli_lock_error(c, "listing tasks: ", r);
		else
			cli_err(c, "listing tasks of instance '%s': %s", c->instance,
			        taskring_strerror(r));
		return cli_status_of(r);
	}
	if (l.json)
		printf("[%s%s]\n", text, l.n ? "\n" : "");
	else
		fwrite(text, 1, len, stdout);
	free(text);
	return CLI_OK;
}

const struct cli_cmd cmd_list = {
    .name = "list",
    .run = list_run,
    .summary = "list tasks, newest first (--state, --type, --json)",
    .help = list_help,
};
