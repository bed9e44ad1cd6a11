/*
 * stress_work.c - the workload of `taskring stress`: which tasks a client
 * submits, the exact request of each logged record, and the result each one
 * must give.
 *
 * Every request is a pure function of (run nonce, client slot, record index,
 * kind, parameter), so any process holding the log can rebuild what was
 * asked and judge what came back. Expected results are computed here, before
 * the run, the way the built-in task types document them: sqrt-sum by the
 * same double-precision loop, square-sum by the closed formula, read-file
 * from input files this run writes itself (size and CRC-32 known).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "stress.h"

static const uint64_t sqrt_n[STRESS_NSQRT] = {0, 1, 2, 1000, 30000, 100000, 200000};
static const uint64_t square_n[STRESS_NSQUARE] = {0, 1, 3, 1000, 100000, 300000};
static const size_t in_size[STRESS_NIN] = {1, 4096, 100000};
static const char *const poison_sig[STRESS_NPOISON] = {"SIGSEGV", "SIGABRT", "SIGBUS", "SIGFPE"};

static const char *const kind_type[STRESS_NKINDS] = {
    [STRESS_ECHO] = "echo",      [STRESS_SQRT] = "sqrt-sum",  [STRESS_SQUARE] = "square-sum",
    [STRESS_SLEEP] = "sleep",    [STRESS_READ] = "read-file", [STRESS_WRITE] = "write-file",
    [STRESS_COPY] = "copy-file", [STRESS_POISON] = "crash",
};

const char *stress_kind_type(int kind)
{
	return kind >= 0 && kind < STRESS_NKINDS ? kind_type[kind] : "?";
}

uint32_t stress_rand(uint64_t *s, uint32_t n)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return n ? (uint32_t)(((x * 0x2545F4914F6CDD1Dull) >> 32) % n) : 0;
}

uint32_t stress_crc32(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	crc = ~crc;
	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
	}
	return ~crc;
}

static void u128_str(unsigned __int128 v, char *buf, size_t len)
{
	char d[48];
	size_t n = sizeof(d);
	d[--n] = 0;
	do {
		d[--n] = (char)('0' + (unsigned)(v % 10));
		v /= 10;
	} while (v);
	snprintf(buf, len, "%s", d + n);
}

/* Writes input file k with bytes drawn from the nonce; fills its size and CRC. */
static int make_input(struct stress_ctx *x, int k, char *err, size_t errlen)
{
	size_t n = in_size[k];
	unsigned char *data = malloc(n);
	uint64_t rng = ((uint64_t)x->nonce << 8) | (uint64_t)(k + 1);
	int fd, e;

	if (!data) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		data[i] = (unsigned char)stress_rand(&rng, 256);
	snprintf(x->in[k].path, sizeof(x->in[k].path), "%s/stress-%08x-in%d", x->o->files, x->nonce,
	         k);
	fd = open(x->in[k].path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		e = errno;
		snprintf(err, errlen, "creating %s: %s", x->in[k].path, strerror(e));
		free(data);
		return -e;
	}
	x->in[k].made = 1;
	size_t off = 0;
	while (off < n) {
		ssize_t w = write(fd, data + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			e = w < 0 ? errno : EIO;
			snprintf(err, errlen, "writing %s: %s", x->in[k].path, strerror(e));
			close(fd);
			free(data);
			return -e;
		}
		off += (size_t)w;
	}
	if (close(fd) < 0) {
		e = errno;
		snprintf(err, errlen, "closing %s: %s", x->in[k].path, strerror(e));
		free(data);
		return -e;
	}
	x->in[k].size = n;
	x->in[k].crc = stress_crc32(0, data, n);
	free(data);
	return 0;
}

int stress_ctx_init(struct stress_ctx *x, const struct stress_opts *o, const char *instance,
                    char *err, size_t errlen)
{
	uint64_t seed;
	int r;

	memset(x, 0, sizeof(*x));
	x->o = o;
	x->instance = instance;
	/* Any value will do; it only keeps runs' words and files apart. */
	seed = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)x;
	x->nonce = (uint32_t)(seed ^ (seed >> 29)) | 1u;
	for (int i = 0; i < STRESS_NSQRT; i++) {
		double s = 0;
		for (uint64_t k = 0; k < sqrt_n[i]; k++)
			s += sqrt((double)k);
		snprintf(x->sqrt_want[i], sizeof(x->sqrt_want[i]), "%.6f", s);
	}
	for (int i = 0; i < STRESS_NSQUARE; i++) {
		unsigned __int128 n = square_n[i];
		/* sum of k^2 for 0 <= k < n = (n-1) n (2n-1) / 6 */
		unsigned __int128 v = n ? (n - 1) * n * (2 * n - 1) / 6 : 0;
		u128_str(v, x->square_want[i], sizeof(x->square_want[i]));
	}
	if (!o->files)
		return 0;
	for (int k = 0; k < STRESS_NIN; k++) {
		r = make_input(x, k, err, errlen);
		if (r < 0)
			return r;
	}
	return 0;
}

void stress_ctx_cleanup(struct stress_ctx *x)
{
	char prefix[32];
	DIR *d;
	struct dirent *e;

	if (!x->o || !x->o->files)
		return;
	snprintf(prefix, sizeof(prefix), "stress-%08x-", x->nonce);
	d = opendir(x->o->files);
	if (!d)
		return;
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	for (int k = 0; k < STRESS_NIN; k++)
		x->in[k].made = 0;
}

void stress_pick(const struct stress_ctx *x, uint64_t *rng, struct stress_rec *r)
{
	unsigned mix = x->o->mix & (STRESS_MIX_CPU | STRESS_MIX_IO);
	int io = mix == STRESS_MIX_IO ? 1 : mix == STRESS_MIX_CPU ? 0 : (int)stress_rand(rng, 2);
	uint32_t u = stress_rand(rng, 100);

	r->param = 0;
	r->cancel = 0;
	if (!io) {
		if (u < 40) {
			r->kind = STRESS_ECHO;
		} else if (u < 75) {
			r->kind = STRESS_SQRT;
			r->param = (uint16_t)stress_rand(rng, STRESS_NSQRT);
		} else {
			r->kind = STRESS_SQUARE;
			r->param = (uint16_t)stress_rand(rng, STRESS_NSQUARE);
		}
		return;
	}
	if (x->o->files && u < 45) {
		r->kind = u < 15 ? STRESS_READ : u < 30 ? STRESS_WRITE : STRESS_COPY;
		r->param = (uint16_t)stress_rand(rng, STRESS_NIN);
		return;
	}
	r->kind = STRESS_SLEEP;
	r->param = (uint16_t)(1 + stress_rand(rng, 20));
}

#define W(i, ...) snprintf(q->buf[i], sizeof(q->buf[i]), __VA_ARGS__)

void stress_build(const struct stress_ctx *x, unsigned ci, uint32_t idx, const struct stress_rec *r,
                  struct stress_req *q)
{
	unsigned p = r->param;

	q->type = stress_kind_type(r->kind);
	q->argc = 1;
	switch (r->kind) {
	case STRESS_ECHO:
		W(0, "s%08x", x->nonce);
		W(1, "c%u", ci);
		W(2, "n%u", idx);
		q->argc = 3;
		break;
	case STRESS_SQRT:
		W(0, "%llu", (unsigned long long)sqrt_n[p % STRESS_NSQRT]);
		break;
	case STRESS_SQUARE:
		W(0, "%llu", (unsigned long long)square_n[p % STRESS_NSQUARE]);
		break;
	case STRESS_SLEEP:
		W(0, "%u", p);
		break;
	case STRESS_READ:
		W(0, "%s", x->in[p % STRESS_NIN].path);
		break;
	case STRESS_WRITE:
		/* A small set of names per client, each always given the same
		 * words: a run leaves few files, and a rerun (at-least-once) or
		 * two tasks on one name write the same bytes. */
		W(0, "%s/stress-%08x-c%u-%u.out", x->o->files, x->nonce, ci, idx % STRESS_NOUT);
		W(1, "s%08x", x->nonce);
		W(2, "c%u", ci);
		q->argc = 3;
		break;
	case STRESS_COPY:
		/* Named after the source too, so one name always gets the same bytes. */
		W(0, "%s", x->in[p % STRESS_NIN].path);
		W(1, "%s/stress-%08x-c%u-%u-in%u.copy", x->o->files, x->nonce, ci,
		  idx % STRESS_NOUT, p % STRESS_NIN);
		q->argc = 2;
		break;
	default: /* STRESS_POISON */
		W(0, "%s", poison_sig[p % STRESS_NPOISON]);
		break;
	}
	for (int i = 0; i < q->argc; i++)
		q->argv[i] = q->buf[i];
}

#undef W

/* The result record r must give (for kinds that end done). */
static void expected(const struct stress_ctx *x, unsigned ci, uint32_t idx,
                     const struct stress_rec *r, char *buf, size_t len)
{
	unsigned p = r->param;
	char words[64];

	switch (r->kind) {
	case STRESS_ECHO:
		snprintf(buf, len, "s%08x c%u n%u", x->nonce, ci, idx);
		break;
	case STRESS_SQRT:
		snprintf(buf, len, "%s", x->sqrt_want[p % STRESS_NSQRT]);
		break;
	case STRESS_SQUARE:
		snprintf(buf, len, "%s", x->square_want[p % STRESS_NSQUARE]);
		break;
	case STRESS_READ:
		snprintf(buf, len, "%llu %08x", (unsigned long long)x->in[p % STRESS_NIN].size,
		         x->in[p % STRESS_NIN].crc);
		break;
	case STRESS_WRITE:
		snprintf(words, sizeof(words), "s%08x c%u", x->nonce, ci);
		snprintf(buf, len, "%zu", strlen(words) + 1);
		break;
	case STRESS_COPY:
		snprintf(buf, len, "%llu", (unsigned long long)x->in[p % STRESS_NIN].size);
		break;
	default: /* sleep: empty; poison: never done */
		snprintf(buf, len, "%s", "");
	}
}

/* Whether text names a signal death: "... killed by signal N (SIGNAME)...". */
static int names_signal(const char *text)
{
	const char *p = strstr(text, "killed by signal ");
	char *end;

	if (!p)
		return 0;
	p += strlen("killed by signal ");
	long sig = strtol(p, &end, 10);
	return end != p && sig > 0 && sig < 65 && strncmp(end, " (SIG", 5) == 0;
}

/* Whether the type and words read back are those of the request. */
static int same_request(const struct stress_ctx *x, unsigned ci, uint32_t idx,
                        const struct stress_rec *r, const struct taskring_info *info)
{
	struct stress_req q;

	stress_build(x, ci, idx, r, &q);
	if (strcmp(info->type, q.type) != 0 || info->argc != q.argc || !info->argv)
		return 0;
	for (int i = 0; i < q.argc; i++)
		if (!info->argv[i] || strcmp(info->argv[i], q.argv[i]) != 0)
			return 0;
	return 1;
}

int stress_judge(const struct stress_ctx *x, unsigned ci, uint32_t idx, const struct stress_rec *r,
                 const struct taskring_info *info, char *note, size_t notelen)
{
	const char *type = stress_kind_type(r->kind);
	const char *out = info->output ? info->output : "";
	unsigned long long id = (unsigned long long)info->id;
	char want[160];

	note[0] = 0;
	switch (info->state) {
	case TASKRING_DONE:
		if (r->kind == STRESS_POISON) {
			snprintf(note, notelen, "poison task %llu ended done", id);
			return SV_POISON_BAD;
		}
		expected(x, ci, idx, r, want, sizeof(want));
		if (info->output_len != strlen(want) || memcmp(out, want, info->output_len) != 0) {
			snprintf(note, notelen, "task %llu (%s): result '%.60s', expected '%.60s'",
			         id, type, out, want);
			return SV_WRONG;
		}
		/* The library reports type "?" and no words when they were found
		 * overwritten in the segment: damage it told us about, not a
		 * silently altered task. */
		if (strcmp(info->type, "?") == 0 && info->argc == 0)
			return SV_OK;
		if (!same_request(x, ci, idx, r, info)) {
			snprintf(
			    note, notelen,
			    "task %llu: the right result, but read back as a '%.32s' task with "
			    "%d words, not the '%s' task submitted",
			    id, info->type, info->argc, type);
			return SV_BAD_INFO;
		}
		return SV_OK;
	case TASKRING_FAILED:
		if (r->kind == STRESS_POISON) {
			if (names_signal(out))
				return SV_POISON_OK;
			snprintf(note, notelen,
			         "poison task %llu failed without a signal cause: %.120s", id, out);
			return SV_POISON_BAD;
		}
		snprintf(note, notelen, "task %llu (%s) failed: %.150s", id, type, out);
		return SV_FAILED;
	case TASKRING_CANCELLED:
		if (r->cancel)
			return SV_OK;
		snprintf(note, notelen, "task %llu (%s) was cancelled, though nobody asked: %.120s",
		         id, type, out);
		return r->kind == STRESS_POISON ? SV_POISON_BAD : SV_FAILED;
	default:
		snprintf(note, notelen, "task %llu (%s) is %s, not final", id, type,
		         taskring_state_name(info->state));
		return SV_LOST;
	}
}
