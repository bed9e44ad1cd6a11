/*
 * divide.h - division of 64-bit values by a divisor fixed at attach time
 * (the table's capacity), by a multiply and shifts instead of a div.
 *
 * Every task id is gen * capacity + index + 1, and reading one back needs
 * a 64-bit division: 10-40 cycles on the CPUs this runs on, several times
 * per task on the collect path. The method is the round-up one of
 * Granlund and Montgomery, "Division by Invariant Integers using
 * Multiplication" (PLDI 1994), figure 4.1: exact for every 64-bit
 * dividend and every divisor from 1 to 2^32 - 1 (tests/unit/test_divide).
 *
 * Invariant: a struct trq_div is written once by trq_div_init() and only
 * read after; it lives in the private struct trq, never in the segment.
 */
#ifndef TR_DIVIDE_H
#define TR_DIVIDE_H

#include <stdint.h>

struct trq_div {
	uint64_t m;     /* the magic multiplier */
	uint32_t d;     /* the divisor */
	uint8_t s1, s2; /* the two shifts */
};

/* Prepares v for dividing by d (1 <= d < 2^32; 0 is taken as 1). */
static inline void trq_div_init(struct trq_div *v, uint32_t d)
{
	if (d == 0)
		d = 1;
	/* l = ceil(log2 d): 0 for 1, 32 at most. */
	unsigned l = d == 1 ? 0 : 64 - (unsigned)__builtin_clzll((uint64_t)d - 1);
	/* m = floor(2^64 * (2^l - d) / d) + 1, which fits in 64 bits:
	 * 2^l - d < d. */
	v->m = (uint64_t)((((unsigned __int128)((1ull << l) - d)) << 64) / d) + 1;
	v->d = d;
	v->s1 = l < 1 ? (uint8_t)l : 1;
	v->s2 = l > 1 ? (uint8_t)(l - 1) : 0;
}

/* n / v->d, rounded down. */
static inline uint64_t trq_div_q(const struct trq_div *v, uint64_t n)
{
	uint64_t t = (uint64_t)(((unsigned __int128)v->m * n) >> 64);
	return (t + ((n - t) >> v->s1)) >> v->s2;
}

#endif
