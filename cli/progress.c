/*
 * progress.c - see progress.h.
 */
#include "progress.h"

#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define PROGRESS_PERIOD_MS 100

void progress_init(struct progress *p, FILE *f, size_t total, int enabled)
{
	struct winsize ws;

	memset(p, 0, sizeof(*p));
	p->f = f;
	p->enabled = enabled && total > 0;
	p->total = total;
	p->width = 80;
	if (enabled && ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
		p->width = ws.ws_col;
	p->start_ms = -1;
	p->last_ms = -1;
}

static void progress_eta(char *buf, size_t len, double secs)
{
	unsigned long s = (unsigned long)(secs + 0.5);

	if (secs < 0 || secs > 99 * 3600.0)
		snprintf(buf, len, "--:--");
	else if (s >= 3600)
		snprintf(buf, len, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
	else
		snprintf(buf, len, "%lu:%02lu", s / 60, s % 60);
}

void progress_format(char *buf, size_t len, size_t done, size_t total, int64_t elapsed_ms,
                     int width)
{
	char stats[128], eta[32];
	double secs = elapsed_ms > 0 ? elapsed_ms / 1000.0 : 0;
	double rate = secs > 0 ? done / secs : 0;
	double pct = total ? 100.0 * done / total : 100.0;
	int bar, filled, n;

	if (done > total)
		done = total;
	if (done > 0 && rate > 0)
		progress_eta(eta, sizeof(eta), (total - done) / rate);
	else
		snprintf(eta, sizeof(eta), "--:--");
	n = snprintf(stats, sizeof(stats), " %zu/%zu %5.1f%% %.1f/s ETA %s", done, total, pct, rate,
	             eta);
	if (n < 0)
		n = 0;
	if (width > (int)len - 1)
		width = (int)len - 1;
	bar = width - n - 3; /* "[" "]" and one column spare */
	if (bar > 50)
		bar = 50;
	if (bar < 5) {
		snprintf(buf, len, "%s", stats + 1);
		return;
	}
	filled = total ? (int)((double)bar * done / total) : bar;
	buf[0] = '[';
	for (int i = 0; i < bar; i++)
		buf[1 + i] = i < filled ? '#' : '.';
	buf[1 + bar] = ']';
	snprintf(buf + 2 + bar, len - 2 - (size_t)bar, "%s", stats);
}

void progress_update(struct progress *p, size_t done, int64_t now_ms, int force)
{
	char line[512];

	p->done = done;
	if (!p->enabled)
		return;
	if (p->start_ms < 0)
		p->start_ms = now_ms;
	if (!force && p->last_ms >= 0 && now_ms - p->last_ms < PROGRESS_PERIOD_MS)
		return;
	p->last_ms = now_ms;
	progress_format(line, sizeof(line), done, p->total, now_ms - p->start_ms, p->width);
	fprintf(p->f, "\r%s\033[K", line);
	fflush(p->f);
	p->shown = 1;
}

void progress_clear(struct progress *p)
{
	if (!p->enabled || !p->shown)
		return;
	fputs("\r\033[K", p->f);
	fflush(p->f);
	p->shown = 0;
	p->last_ms = -1; /* redraw at the next update */
}
