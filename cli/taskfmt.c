/*
 * taskfmt.c - see taskfmt.h.
 */
#include "taskfmt.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "text.h"

/* Copies the type name, which need not be NUL-terminated in the struct. */
static void taskfmt_type(char *buf, const struct taskring_info *t)
{
	size_t n = strnlen(t->type, sizeof(t->type));

	memcpy(buf, t->type, n);
	buf[n] = '\0';
}

/* The error text of a failed or cancelled task (never NULL). */
static const char *taskfmt_error(const struct taskring_info *t, size_t *len)
{
	if (t->output && t->output_len) {
		*len = t->output_len;
		return t->output;
	}
	if (t->state == TASKRING_CANCELLED) {
		*len = strlen("cancelled");
		return "cancelled";
	}
	*len = 0;
	return "";
}

void taskfmt_json(FILE *f, const struct taskring_info *t)
{
	int first = 1;
	size_t len;

	putc('{', f);
	json_key(f, &first, "id");
	json_write_u64(f, t->id);
	json_key(f, &first, "type");
	json_write_str(f, t->type, strnlen(t->type, sizeof(t->type)));
	json_key(f, &first, "args");
	putc('[', f);
	for (int i = 0; i < t->argc; i++) {
		if (i)
			putc(',', f);
		json_write_cstr(f, t->argv[i]);
	}
	putc(']', f);
	json_key(f, &first, "state");
	json_write_cstr(f, taskring_state_name(t->state));
	json_key(f, &first, "attempts");
	json_write_u64(f, t->attempts);
	json_key(f, &first, "max_attempts");
	json_write_u64(f, t->max_attempts);
	json_key(f, &first, "worker");
	json_write_int_or_null(f, t->worker);
	json_key(f, &first, "result");
	if (t->state == TASKRING_DONE)
		json_write_str(f, t->output ? t->output : "", t->output ? t->output_len : 0);
	else
		fputs("null", f);
	json_key(f, &first, "error");
	if (t->state == TASKRING_FAILED || t->state == TASKRING_CANCELLED) {
		const char *e = taskfmt_error(t, &len);
		json_write_str(f, e, len);
	} else {
		fputs("null", f);
	}
	json_key(f, &first, "submitted_ns");
	json_write_u64_or_null(f, t->submitted_ns);
	json_key(f, &first, "started_ns");
	json_write_u64_or_null(f, t->started_ns);
	json_key(f, &first, "finished_ns");
	json_write_u64_or_null(f, t->finished_ns);
	/* Keys added later go last: scripts that match the text keep working. */
	json_key(f, &first, "class");
	json_write_cstr(f, taskring_class_name(t->cls));
	putc('}', f);
}

/* " (queued 1.250 s)" when both times are set, else "". */
static void taskfmt_span(FILE *f, const char *what, uint64_t from, uint64_t to)
{
	if (from && to && to >= from)
		fprintf(f, " (%s %.3f s)", what, (double)(to - from) / 1e9);
}

void taskfmt_text(FILE *f, const struct taskring_info *t)
{
	char tbuf[64], type[sizeof(t->type) + 1];
	size_t len;

	taskfmt_type(type, t);
	fprintf(f, "id:           %" PRIu64 "\n", t->id);
	fprintf(f, "type:         ");
	text_quote_word(f, type);
	fprintf(f, " (%s)\n", taskring_class_name(t->cls));
	fprintf(f, "args:         ");
	text_quote_words(f, t->argc, t->argv);
	fprintf(f, "\n");
	fprintf(f, "state:        %s\n", taskring_state_name(t->state));
	fprintf(f, "attempts:     %u of %u\n", t->attempts, t->max_attempts);
	if (t->worker >= 0)
		fprintf(f, "worker:       %d\n", t->worker);
	else
		fprintf(f, "worker:       -\n");
	if (t->run_timeout_s)
		fprintf(f, "run timeout:  %u s\n", t->run_timeout_s);
	else
		fprintf(f, "run timeout:  none\n");
	fprintf(f, "submitted:    %s\n", text_walltime(tbuf, sizeof(tbuf), t->submitted_ns));
	fprintf(f, "started:      %s", text_walltime(tbuf, sizeof(tbuf), t->started_ns));
	taskfmt_span(f, "queued", t->submitted_ns, t->started_ns);
	fprintf(f, "\nfinished:     %s", text_walltime(tbuf, sizeof(tbuf), t->finished_ns));
	taskfmt_span(f, "ran", t->started_ns, t->finished_ns);
	putc('\n', f);
	if (t->state == TASKRING_DONE) {
		fprintf(f, "result:       ");
		text_write_visible(f, t->output ? t->output : "", t->output ? t->output_len : 0);
	} else if (t->state == TASKRING_FAILED || t->state == TASKRING_CANCELLED) {
		const char *e = taskfmt_error(t, &len);
		fprintf(f, "error:        ");
		text_write_visible(f, e, len);
	}
}

void taskfmt_row_header(FILE *f)
{
	fprintf(f, "%-12s %-9s %-12s %-8s %-6s %-7s %s\n", "ID", "STATE", "TYPE", "ATTEMPTS",
	        "WORKER", "AGE", "ARGS");
}

void taskfmt_row(FILE *f, const struct taskring_info *t, uint64_t now_ns)
{
	char att[32], wk[16], age[32], type[sizeof(t->type) + 1];
	char *args = NULL;
	size_t args_len = 0;
	FILE *m = open_memstream(&args, &args_len);

	taskfmt_type(type, t);
	snprintf(att, sizeof(att), "%u/%u", t->attempts, t->max_attempts);
	if (t->worker >= 0)
		snprintf(wk, sizeof(wk), "%d", t->worker);
	else
		snprintf(wk, sizeof(wk), "-");
	if (t->submitted_ns && now_ns >= t->submitted_ns)
		text_duration(age, sizeof(age), (now_ns - t->submitted_ns) / 1000000000u);
	else
		snprintf(age, sizeof(age), "-");
	if (m) {
		text_quote_words(m, t->argc, t->argv);
		fclose(m);
	}
	fprintf(f, "%-12" PRIu64 " %-9s ", t->id, taskring_state_name(t->state));
	text_quote_word(f, type);
	fprintf(f, "%*s %-8s %-6s %-7s ", (int)(strlen(type) < 12 ? 12 - strlen(type) : 0), "", att,
	        wk, age);
	if (args && args_len > 60)
		fprintf(f, "%.57s...\n", args);
	else
		fprintf(f, "%s\n", args ? args : "");
	free(args);
}
