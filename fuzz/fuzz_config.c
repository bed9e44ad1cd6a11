/*
 * fuzz_config.c - libFuzzer target for the configuration loader.
 *
 * Loads the input with tr_config_load_mem(). Checks, besides "no crash, no
 * leak": the error text is NUL-terminated and present exactly when the load
 * fails, a failed load leaves the defaults, and a successful one survives
 * print -> load -> equal and copy -> equal. Any violation aborts.
 *
 * Build: clang -fsanitize=fuzzer,address -Iinclude -Icommon -Iconfig \
 *          fuzz/fuzz_config.c config/ *.c common/log.c -lyaml
 * Seeds: fuzz/corpus/config/.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_config: invariant broken: %s\n", what);
		abort();
	}
}

static void round_trip(const struct tr_config *c)
{
	struct tr_config back, copy;
	char *text = NULL, err[1024];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return;
	int rc = tr_config_print(f, c);
	fclose(f);
	check(rc == 0, "print of a loaded config succeeds");
	rc = tr_config_load_mem("printed", text, len, &back, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "reload failed: %s\n--\n%s--\n", err, text);
	check(rc == 0, "printed config loads");
	check(tr_config_equal(c, &back), "printed config loads back equal");
	tr_config_free(&back);
	free(text);

	if (tr_config_copy(&copy, c) == 0) {
		check(tr_config_equal(c, &copy), "copy is equal");
		tr_config_free(&copy);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tr_config c;
	char err[2048];

	memset(err, 'x', sizeof(err));
	int rc = tr_config_load_mem("fuzz.yaml", data, size, &c, err, sizeof(err));
	check(memchr(err, '\0', sizeof(err)) != NULL, "err is NUL-terminated");
	if (rc == 0) {
		check(err[0] == '\0', "no error text on success");
		round_trip(&c);
	} else {
		check(rc == -22 /* EINVAL */ || rc == -12 /* ENOMEM */ || rc == -27 /* EFBIG */,
		      "load returns a documented error");
		check(strncmp(err, "fuzz.yaml", 9) == 0, "error text names the input");
		struct tr_config d;
		tr_config_defaults(&d);
		check(tr_config_equal(&c, &d) && !c.plugins && !c.exec_env,
		      "failure leaves defaults");
	}
	tr_config_free(&c);
	return 0;
}
