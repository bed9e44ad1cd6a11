/*
 * taskringd.c - see taskringd.h.
 *
 * Exit statuses: 0 stopped by a signal, or -t/--print-config/-V/-h done;
 * 1 a configuration error, a start-up failure, or the daemon gave up;
 * 2 a usage error.
 */
#include "taskringd.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cfgpaths.h"
#include "config.h"
#include "dconfig.h"
#include "instance.h"
#include "log.h"
#include "plugins.h"
#include "supervisor.h"
#include "taskring.h"
#include "uring.h"

enum { OPT_PRINT_CONFIG = 256 };

/* Started with stdin, stdout or stderr closed, the next open would take its
 * number: log lines would go into the segment or a worker's descriptors.
 * They get /dev/null instead. */
static void std_fds_open(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		int n = open("/dev/null", O_RDWR);
		if (n >= 0 && n != fd) /* cannot happen: the lowest free number */
			close(n);
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: taskringd [-c FILE] [-i INSTANCE] [-t] [--print-config] [-V] [-h]\n"
	           "\n"
	           "The taskring supervisor: runs in the foreground, logs to stderr.\n"
	           "\n"
	           "  -c, --config FILE      YAML configuration (default: built-in defaults)\n"
	           "  -i, --instance NAME    serve instance NAME (overrides `instance`)\n"
	           "  -t, --test             check the configuration, exit 0 or 1\n"
	           "      --print-config     print the effective configuration as YAML\n"
	           "  -V, --version          print the version\n"
	           "  -h, --help             print this help\n"
	           "\n"
	           "Signals: TERM/INT stop after running tasks finish (shutdown_timeout_s),\n"
	           "QUIT stops at once, HUP reloads FILE. See taskringd(8).\n");
}

/* -t: a path of the configuration that will not work here (cfgpaths.h). */
static void warn_stderr(void *arg, const char *msg)
{
	const char *path = arg;
	fprintf(stderr, "%s: warning: %s\n", path ? path : "built-in defaults", msg);
}

int tr_taskringd_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"instance", required_argument, NULL, 'i'},
	    {"test", no_argument, NULL, 't'},
	    {"print-config", no_argument, NULL, OPT_PRINT_CONFIG},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = NULL, *instance = NULL;
	int test = 0, print = 0, o;
	struct tr_config cfg;
	char err[8192];

	sigset_t sigs;
	tr_sup_block_signals(&sigs); /* before anything it could interrupt */
	std_fds_open();
	tr_log_init("taskringd", LOG_INFO);
	opterr = 0;
	optind = 1;
	while ((o = getopt_long(argc, argv, ":c:i:tVh", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			path = optarg;
			break;
		case 'i':
			instance = optarg;
			break;
		case 't':
			test = 1;
			break;
		case OPT_PRINT_CONFIG:
			print = 1;
			break;
		case 'V':
			printf("taskringd %s\n", TASKRING_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		case ':':
			fprintf(stderr, "taskringd: option %s needs an argument\n",
			        argv[optind - 1]);
			usage(stderr);
			return 2;
		default:
			fprintf(stderr, "taskringd: unknown option %s\n", argv[optind - 1]);
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "taskringd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	/* Every line names the instance, from the first that can know it: -i
	 * now (an invalid name is refused below), the file's once loaded. */
	if (instance && tr_config_instance_valid(instance) == 0)
		tr_log_set_instance(instance);
	if (tr_dconfig_load(path, instance, &cfg, err, sizeof(err))) {
		if (test || print)
			fprintf(stderr, "%s\n", err);
		else
			for (char *line = strtok(err, "\n"); line; line = strtok(NULL, "\n"))
				log_err("%s", line);
		return 1;
	}
	if (test) {
		/* The plugins are part of the configuration: load and check them. */
		struct tr_plugins ps;
		if (tr_plugins_load(&ps, cfg.plugins, cfg.n_plugins, err, sizeof(err))) {
			fprintf(stderr, "%s\n", err);
			tr_config_free(&cfg);
			return 1;
		}
		tr_plugins_free(&ps);
		/* A segment the daemon would refuse to adopt makes the start fail
		 * (and a unit's ExecStartPre= check pass in vain): say so now. */
		struct trq q;
		int ar = trq_attach(&q, cfg.instance);
		if (ar == 0) {
			int differs = tr_instance_geometry_differs(&q, &cfg, err, sizeof(err));
			trq_detach(&q);
			if (differs) {
				fprintf(stderr, "%s: %s\n", path ? path : "built-in defaults", err);
				tr_config_free(&cfg);
				return 1;
			}
		} else if (ar == -TASKRING_ELAYOUT) {
			fprintf(
			    stderr,
			    "%s: /dev/shm/taskring.%s: %s: the daemon would refuse to start (made "
			    "by "
			    "another version of taskring, or damaged: remove it with rm once no "
			    "daemon uses it; its tasks are lost)\n",
			    path ? path : "built-in defaults", cfg.instance, taskring_strerror(ar));
			tr_config_free(&cfg);
			return 1;
		}
		unsigned nwarn = tr_cfgpaths_check(&cfg, warn_stderr, (void *)path);
		if (nwarn)
			printf("%s: configuration OK, with %u warning%s\n",
			       path ? path : "built-in defaults", nwarn, nwarn == 1 ? "" : "s");
		else
			printf("%s: configuration OK\n", path ? path : "built-in defaults");
		tr_config_free(&cfg);
		return 0;
	}
	if (print) {
		int r = tr_config_print(stdout, &cfg);
		tr_config_free(&cfg);
		if (r || fflush(stdout)) {
			tr_log_errno(LOG_ERR, r ? r : -EIO, "printing the configuration");
			return 1;
		}
		return 0;
	}

	tr_log_set_instance(cfg.instance);
	tr_log_set_level(cfg.log_level);
	if (tr_uring_probe(err, sizeof(err))) {
		log_err("%s", err);
		tr_config_free(&cfg);
		return 1;
	}
	struct tr_sup sup;
	int code = 1;
	if (tr_sup_start(&sup, &cfg, path, instance) == 0)
		code = tr_sup_run(&sup);
	tr_sup_fini(&sup);
	return code;
}
