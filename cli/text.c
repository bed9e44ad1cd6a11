/*
 * text.c - see text.h.
 */
#include "text.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"

static int text_safe_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("_@%+=:,./-", c) != NULL;
}

void text_quote_word(FILE *f, const char *w)
{
	const unsigned char *s = (const unsigned char *)w;
	size_t len = strlen(w);
	int plain = len > 0, printable = 1;

	for (size_t i = 0; i < len;) {
		if (!text_safe_char(s[i]))
			plain = 0;
		if (s[i] < 0x20 || s[i] == 0x7F) {
			printable = 0;
			break;
		}
		size_t n = json_utf8_seq_len(s + i, len - i);
		if (n == 0) {
			printable = 0;
			break;
		}
		i += n;
	}
	if (plain) {
		fputs(w, f);
		return;
	}
	if (printable) {
		putc('\'', f);
		for (size_t i = 0; i < len; i++) {
			if (s[i] == '\'')
				fputs("'\\''", f);
			else
				putc(s[i], f);
		}
		putc('\'', f);
		return;
	}
	fputs("$'", f);
	for (size_t i = 0; i < len;) {
		unsigned char c = s[i];
		size_t n = json_utf8_seq_len(s + i, len - i);
		if (c == '\n') {
			fputs("\\n", f);
		} else if (c == '\t') {
			fputs("\\t", f);
		} else if (c == '\r') {
			fputs("\\r", f);
		} else if (c == '\\' || c == '\'') {
			putc('\\', f);
			putc(c, f);
		} else if (c < 0x20 || c == 0x7F || n == 0) {
			fprintf(f, "\\x%02x", c);
		} else {
			fwrite(s + i, 1, n, f);
			i += n;
			continue;
		}
		i++;
	}
	putc('\'', f);
}

void text_quote_words(FILE *f, int argc, char *const *argv)
{
	for (int i = 0; i < argc; i++) {
		if (i)
			putc(' ', f);
		text_quote_word(f, argv[i]);
	}
}

char *text_walltime(char *buf, size_t len, uint64_t ns)
{
	struct tm tm;
	time_t t = (time_t)(ns / 1000000000u);
	char day[40];

	if (ns == 0 || !localtime_r(&t, &tm) || !strftime(day, sizeof(day), "%F %T", &tm)) {
		snprintf(buf, len, "-");
		return buf;
	}
	snprintf(buf, len, "%s.%03u", day, (unsigned)(ns % 1000000000u / 1000000u));
	return buf;
}

char *text_duration(char *buf, size_t len, uint64_t secs)
{
	unsigned long long s = secs;

	if (s < 60)
		snprintf(buf, len, "%llus", s);
	else if (s < 3600)
		snprintf(buf, len, "%llum%02llus", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%lluh%02llum", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, len, "%llud%02lluh", s / 86400, s % 86400 / 3600);
	return buf;
}

char *text_ms(char *buf, size_t len, uint64_t ms)
{
	if (ms < 10000)
		snprintf(buf, len, "%llu ms", (unsigned long long)ms);
	else
		text_duration(buf, len, ms / 1000 + (ms % 1000 != 0));
	return buf;
}

void text_write_line(FILE *f, const char *s, size_t len)
{
	if (len)
		fwrite(s, 1, len, f);
	if (len == 0 || s[len - 1] != '\n')
		putc('\n', f);
}

static void text_put_visible(FILE *f, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7F)
			fprintf(f, "\\x%02x", c);
		else
			putc(c, f);
	}
}

void text_write_visible(FILE *f, const char *s, size_t len)
{
	text_put_visible(f, s, len);
	if (len == 0 || s[len - 1] != '\n')
		putc('\n', f);
}

char *text_visible(const char *s, size_t len)
{
	char *out = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&out, &n);

	if (!f)
		return NULL;
	text_put_visible(f, s, len);
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}
