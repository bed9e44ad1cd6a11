/*
 * json.c - see json.h. UTF-8 validity follows RFC 3629 (Table 3-7 of the
 * Unicode standard): the second byte's range depends on the first byte, so
 * overlong forms, surrogates and values past U+10FFFF are all refused.
 */
#include "json.h"

#include <inttypes.h>

size_t json_utf8_seq_len(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];
	size_t n;
	unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		if (c == 0xE0)
			lo = 0xA0; /* no overlong forms */
		else if (c == 0xED)
			hi = 0x9F; /* no surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		if (c == 0xF0)
			lo = 0x90; /* no overlong forms */
		else if (c == 0xF4)
			hi = 0x8F; /* nothing above U+10FFFF */
	} else {
		return 0; /* 0x80-0xC1 (continuation, overlong lead) and 0xF5-0xFF */
	}
	if (len < n)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return n;
}

void json_write_str(FILE *f, const void *str, size_t len)
{
	const unsigned char *s = str;
	size_t i = 0;

	putc('"', f);
	while (i < len) {
		unsigned char c = s[i];
		if (c == '"' || c == '\\') {
			putc('\\', f);
			putc(c, f);
			i++;
		} else if (c < 0x20 || c == 0x7F) {
			switch (c) {
			case '\b':
				fputs("\\b", f);
				break;
			case '\f':
				fputs("\\f", f);
				break;
			case '\n':
				fputs("\\n", f);
				break;
			case '\r':
				fputs("\\r", f);
				break;
			case '\t':
				fputs("\\t", f);
				break;
			default:
				fprintf(f, "\\u%04x", c);
			}
			i++;
		} else if (c < 0x80) {
			putc(c, f);
			i++;
		} else {
			size_t n = json_utf8_seq_len(s + i, len - i);
			if (n == 0) {
				fputs("\\ufffd", f);
				i++;
			} else if (n == 3 && c == 0xE2 && s[i + 1] == 0x80 &&
			           (s[i + 2] == 0xA8 || s[i + 2] == 0xA9)) {
				fprintf(f, "\\u%04x", s[i + 2] == 0xA8 ? 0x2028 : 0x2029);
				i += 3;
			} else {
				fwrite(s + i, 1, n, f);
				i += n;
			}
		}
	}
	putc('"', f);
}

void json_write_cstr(FILE *f, const char *s)
{
	if (!s) {
		fputs("null", f);
		return;
	}
	size_t n = 0;
	while (s[n])
		n++;
	json_write_str(f, s, n);
}

void json_write_u64(FILE *f, uint64_t v)
{
	fprintf(f, "%" PRIu64, v);
}

void json_write_u64_or_null(FILE *f, uint64_t v)
{
	if (v == 0)
		fputs("null", f);
	else
		json_write_u64(f, v);
}

void json_write_int_or_null(FILE *f, long long v)
{
	if (v < 0)
		fputs("null", f);
	else
		fprintf(f, "%lld", v);
}

void json_key(FILE *f, int *first, const char *key)
{
	if (!*first)
		putc(',', f);
	*first = 0;
	json_write_cstr(f, key);
	putc(':', f);
}
