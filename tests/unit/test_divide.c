/*
 * test_divide.c - the multiply-and-shift division by the capacity
 * (divide.h) against the CPU's division, and the type checksum memo
 * (slots.h) against the checksum itself.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "divide.h"
#include "queue.h"
#include "slots.h"
#include "tap.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static unsigned shown; /* mismatches named so far: the first few only */

static uint64_t rnd(void)
{
	/* xorshift64*: reproducible, no libc state. */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

/* Divides a spread of dividends by d both ways; returns the mismatches and
 * names the first one. */
static unsigned check(uint32_t d, unsigned nrand)
{
	struct trq_div v;
	trq_div_init(&v, d);
	uint64_t fixed[] = {0,
	                    1,
	                    d - 1ull,
	                    d,
	                    d + 1ull,
	                    2ull * d - 1,
	                    2ull * d,
	                    (uint64_t)d * d - 1,
	                    (uint64_t)d * d,
	                    UINT32_MAX,
	                    1ull << 32,
	                    (1ull << 63) - 1,
	                    1ull << 63,
	                    UINT64_MAX - 1,
	                    UINT64_MAX,
	                    UINT64_MAX / d * d,
	                    UINT64_MAX / d * d - 1};
	unsigned bad = 0;
	for (unsigned i = 0; i < sizeof(fixed) / sizeof(fixed[0]) + nrand; i++) {
		uint64_t n =
		    i < sizeof(fixed) / sizeof(fixed[0]) ? fixed[i] : rnd() >> (rnd() & 63);
		uint64_t want = n / d, got = trq_div_q(&v, n);
		if (got != want && !bad++ && shown++ < 5)
			diag("%llu / %u: %llu, the CPU says %llu", (unsigned long long)n, d,
			     (unsigned long long)got, (unsigned long long)want);
	}
	return bad;
}

static void test_divisors(void)
{
	unsigned bad = 0;
	for (uint32_t d = 1; d <= 4096; d++)
		bad += check(d, 64);
	ok(bad == 0, "every divisor 1..4096 divides exactly (%u wrong)", bad);

	bad = 0;
	for (int b = 1; b < 32; b++)
		for (int k = -2; k <= 2; k++)
			if ((1ll << b) + k > 0)
				bad += check((uint32_t)((1ll << b) + k), 512);
	bad += check(UINT32_MAX, 4096);
	bad += check(UINT32_MAX - 1, 4096);
	ok(bad == 0, "powers of two and their neighbours up to 2^32 - 1 (%u wrong)", bad);

	bad = 0;
	for (int i = 0; i < 20000; i++) {
		uint32_t d = (uint32_t)(rnd() >> (32 + (rnd() & 31)));
		bad += check(d ? d : 3, 32);
	}
	ok(bad == 0, "20,000 random divisors (%u wrong)", bad);

	struct trq_div v;
	trq_div_init(&v, 0);
	ok(trq_div_q(&v, 12345) == 12345, "a divisor of 0 is taken as 1");
}

/* An id made of gen and idx comes apart into the same two. */
static void test_split(void)
{
	struct trq q;
	memset(&q, 0, sizeof(q));
	unsigned bad = 0;
	uint32_t caps[] = {1, 2, 3, 1000, 1024, 65536, 100003, 1u << 20, 3000000};
	for (unsigned c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
		q.capacity = caps[c];
		trq_div_init(&q.capdiv, caps[c]);
		unsigned bits = 0;
		while (bits < 32 && (1ull << bits) < caps[c])
			bits++;
		q.gen_hi_mask = bits >= 31 ? 0 : (1u << (31 - bits)) - 1;
		uint64_t gmax = (uint64_t)q.gen_hi_mask << 32 | UINT32_MAX;
		for (int i = 0; i < 10000; i++) {
			uint64_t gen = i < 2 ? (i ? gmax : 0) : rnd() % (gmax + 1);
			uint32_t idx =
			    i < 4 ? (i & 1 ? caps[c] - 1 : 0) : (uint32_t)(rnd() % caps[c]);
			uint64_t id = gen * caps[c] + idx + 1, g2 = ~0ull;
			uint32_t i2 = ~0u;
			if (trq_id_split(&q, id, &i2, &g2) || i2 != idx || g2 != gen) {
				if (!bad++)
					diag("capacity %u: id %llu split into %u/%llu, not %u/%llu",
					     caps[c], (unsigned long long)id, i2,
					     (unsigned long long)g2, idx, (unsigned long long)gen);
			}
		}
		uint32_t i2;
		uint64_t g2;
		if (trq_id_split(&q, 0, &i2, &g2) != -TASKRING_EBADID ||
		    trq_id_split(&q, (gmax + 1) * caps[c] + 1, &i2, &g2) != -TASKRING_EBADID) {
			if (!bad++)
				diag("capacity %u: id 0 or one past the last generation accepted",
				     caps[c]);
		}
	}
	ok(bad == 0, "ids split into index and generation, and bad ones are refused");
}

static void test_memo(void)
{
	char a[TRQ_NAME_MAX] = "noop", b[TRQ_NAME_MAX] = "echo", c[TRQ_NAME_MAX] = "noop";
	c[TRQ_NAME_MAX - 1] = 'x'; /* differs only past the NUL */
	const char *seq[] = {a, a, b, a, c, c, a, b, b};
	struct trq_tsum_memo m = {.valid = 0};
	unsigned bad = 0;
	for (unsigned i = 0; i < sizeof(seq) / sizeof(seq[0]); i++)
		if (trq_sum(trq_tsum_memo(&m, seq[i]), "x", 1) != trq_args_sum(seq[i], "x", 1))
			bad++;
	ok(bad == 0, "the memo gives each type field its own checksum (%u wrong)", bad);
	struct trq_tsum_memo z = {.valid = 0};
	char zero[TRQ_NAME_MAX] = {0};
	ok(trq_tsum_memo(&z, zero) == trq_sum(2166136261u, zero, TRQ_NAME_MAX),
	   "a fresh memo sums an all-zero field too");
}

int main(void)
{
	test_divisors();
	test_split();
	test_memo();
	return tap_done();
}
