/*
 * cfgdiag.c - see cfgdiag.h. Owns the message buffer of one load; nothing global.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "cfgdiag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tr_cfgdiag_init(struct tr_cfgdiag *d, const char *file)
{
	memset(d, 0, sizeof(*d));
	d->file = file ? file : "<config>";
}

static bool diag_reserve(struct tr_cfgdiag *d, size_t more)
{
	size_t want = d->len + more + 1;
	if (want <= d->cap)
		return true;
	size_t cap = d->cap ? d->cap : 256;
	while (cap < want)
		cap *= 2;
	char *nb = realloc(d->buf, cap);
	if (!nb) {
		d->oom = true;
		return false;
	}
	d->buf = nb;
	d->cap = cap;
	return true;
}

static void diag_add(struct tr_cfgdiag *d, const char *pos, const char *fmt, va_list ap)
{
	char msg[1024];

	d->count++;
	if (d->count > TR_CFGDIAG_MAX + 1)
		return;
	if (d->count == TR_CFGDIAG_MAX + 1)
		snprintf(msg, sizeof(msg), "too many errors, stopped after %d", TR_CFGDIAG_MAX);
	else
		vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t need = strlen(d->file) + strlen(pos) + strlen(msg) + 4;
	if (!diag_reserve(d, need))
		return;
	int n;
	if (d->count == TR_CFGDIAG_MAX + 1)
		pos = "";
	n = snprintf(d->buf + d->len, d->cap - d->len, "%s%s%s: %s", d->len ? "\n" : "", d->file,
	             pos, msg);
	if (n > 0)
		d->len += (size_t)n;
}

void tr_cfgdiag_at(struct tr_cfgdiag *d, unsigned line, unsigned col, const char *fmt, ...)
{
	char pos[48];
	va_list ap;

	snprintf(pos, sizeof(pos), ":%u:%u", line, col);
	va_start(ap, fmt);
	diag_add(d, pos, fmt, ap);
	va_end(ap);
}

void tr_cfgdiag_file(struct tr_cfgdiag *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_add(d, "", fmt, ap);
	va_end(ap);
}

void tr_cfgdiag_export(const struct tr_cfgdiag *d, char *err, size_t errlen)
{
	if (!err || !errlen)
		return;
	if (d->oom && !d->len) {
		snprintf(err, errlen, "%s: out of memory while reporting errors", d->file);
		return;
	}
	size_t n = d->len < errlen - 1 ? d->len : errlen - 1;
	if (n)
		memcpy(err, d->buf, n);
	err[n] = '\0';
}

void tr_cfgdiag_free(struct tr_cfgdiag *d)
{
	free(d->buf);
	d->buf = NULL;
	d->len = d->cap = 0;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. Refuses
   overlong forms, surrogates and C1 controls so messages stay one clean line. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned cp;
	size_t k;

	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	k = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	if (k > n)
		return 0;
	cp = s[0] & (0x7f >> k);
	for (size_t i = 1; i < k; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	if ((cp >= 0xd800 && cp <= 0xdfff) || cp < 0xa0 || cp == 0x2028 || cp == 0x2029 ||
	    cp == 0xfeff)
		return 0;
	return k;
}

const char *tr_cfgdiag_show(char *out, size_t outlen, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0, i = 0;

	if (outlen < 8) {
		if (outlen)
			out[0] = '\0';
		return out;
	}
	while (i < len) {
		size_t k = p[i] >= 0x20 && p[i] < 0x7f ? 1 : utf8_len(p + i, len - i);
		size_t need = k ? k : 4;
		if (o + need + 4 > outlen) { /* room for "..." and NUL */
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (k) {
			memcpy(out + o, p + i, k);
			o += k;
			i += k;
		} else {
			snprintf(out + o, 5, "\\x%02x", p[i]);
			o += 4;
			i++;
		}
	}
	out[o] = '\0';
	return out;
}
