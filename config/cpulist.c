/*
 * cpulist.c - see cpulist.h. A small hand-written scanner; it never reads past
 * the terminating NUL and reports the first problem only.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "cpulist.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 3, 4))) static int cpulist_fail(char *err, size_t errlen,
                                                              const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static const char *skip_blank(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* Reads a decimal CPU number at *pp. Returns 0 and advances, or -EINVAL. */
static int read_cpu(const char **pp, long *out, char *err, size_t errlen)
{
	const char *p = *pp;
	long v = 0;
	bool big = false;

	if (*p < '0' || *p > '9') {
		if (*p == '\0' || *p == ',')
			return cpulist_fail(err, errlen, "missing CPU number");
		if (*p == '-')
			return cpulist_fail(err, errlen,
			                    "negative or missing CPU number before '-'");
		return cpulist_fail(err, errlen,
		                    "unexpected character '%c' (expected a CPU number)",
		                    (*p >= 0x20 && *p < 0x7f) ? *p : '?');
	}
	while (*p >= '0' && *p <= '9') {
		if (!big)
			v = v * 10 + (*p - '0');
		if (v >= CPU_SETSIZE)
			big = true;
		p++;
	}
	if (big)
		return cpulist_fail(err, errlen, "CPU %.*s is out of range (0-%d)",
		                    (int)(p - *pp > 20 ? 20 : p - *pp), *pp, CPU_SETSIZE - 1);
	*out = v;
	*pp = p;
	return 0;
}

int tr_cpulist_parse(const char *s, cpu_set_t *set, char *err, size_t errlen)
{
	const char *p;
	cpu_set_t tmp;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	CPU_ZERO(set);
	if (!s)
		return cpulist_fail(err, errlen, "empty CPU list");
	p = skip_blank(s);
	if (*p == '\0')
		return cpulist_fail(err, errlen, "empty CPU list");
	CPU_ZERO(&tmp);
	for (;;) {
		long a, b;
		p = skip_blank(p);
		rc = read_cpu(&p, &a, err, errlen);
		if (rc)
			return rc;
		b = a;
		p = skip_blank(p);
		if (*p == '-') {
			p = skip_blank(p + 1);
			rc = read_cpu(&p, &b, err, errlen);
			if (rc)
				return rc;
			if (b < a)
				return cpulist_fail(err, errlen, "range %ld-%ld is reversed", a, b);
			p = skip_blank(p);
		}
		for (long c = a; c <= b; c++) {
			if (CPU_ISSET((int)c, &tmp))
				return cpulist_fail(err, errlen, "CPU %ld is listed more than once",
				                    c);
			CPU_SET((int)c, &tmp);
		}
		if (*p == '\0')
			break;
		if (*p != ',')
			return cpulist_fail(err, errlen,
			                    "unexpected character '%c' (expected ',' or '-')",
			                    (*p >= 0x20 && *p < 0x7f) ? *p : '?');
		p++;
	}
	memcpy(set, &tmp, sizeof(tmp));
	return 0;
}

int tr_cpulist_format(const cpu_set_t *set, char *out, size_t outlen)
{
	size_t o = 0;
	bool any = false;

	if (!outlen)
		return -ENOSPC;
	out[0] = '\0';
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, set))
			continue;
		int e = c;
		while (e + 1 < CPU_SETSIZE && CPU_ISSET(e + 1, set))
			e++;
		int n = e == c ? snprintf(out + o, outlen - o, "%s%d", any ? "," : "", c)
		               : snprintf(out + o, outlen - o, "%s%d-%d", any ? "," : "", c, e);
		if (n < 0 || (size_t)n >= outlen - o) {
			out[0] = '\0';
			return -ENOSPC;
		}
		o += (size_t)n;
		any = true;
		c = e;
	}
	return any ? 0 : -EINVAL;
}
