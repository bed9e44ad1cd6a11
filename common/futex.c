/*
 * futex.c - clocks and the shared futex primitives every waiter uses.
 *
 * Futexes here are process-shared (no FUTEX_PRIVATE_FLAG): the kernel keys
 * them by the mapped object, so each process may map the segment anywhere.
 * A waiter killed while sleeping costs at most one spurious wake-up.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "queue.h"

uint64_t trq_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint32_t trq_boot_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint32_t)ts.tv_sec + 1;
}

uint64_t trq_realtime(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t trq_rt_offset(void)
{
	/* The realtime reading bracketed by two monotonic ones; the tightest
	 * of a few tries, so a preemption between the reads (ms on a loaded
	 * machine) does not skew it. */
	uint64_t best = 0, span = UINT64_MAX;
	for (int i = 0; i < 4 && span > 20000; i++) {
		uint64_t m0 = trq_now(), r = trq_realtime(), m1 = trq_now();
		if (m1 - m0 < span) {
			span = m1 - m0;
			best = r - (m0 + span / 2);
		}
	}
	return best;
}

uint64_t trq_deadline_at(uint64_t now, int64_t timeout_ms)
{
	if (timeout_ms < 0 || (uint64_t)timeout_ms > (UINT64_MAX - now) / 1000000ull)
		return 0;
	return now + (uint64_t)timeout_ms * 1000000ull;
}

uint64_t trq_deadline_ms(int64_t timeout_ms)
{
	return timeout_ms < 0 ? 0 : trq_deadline_at(trq_now(), timeout_ms);
}

int trq_futex_wait_mask(uint32_t *addr, uint32_t val, uint64_t deadline, uint32_t mask)
{
	struct timespec ts, *tp = NULL;

	if (deadline) {
		if (trq_now() >= deadline)
			return -ETIMEDOUT;
		ts.tv_sec = (time_t)(deadline / 1000000000ull);
		ts.tv_nsec = (long)(deadline % 1000000000ull);
		tp = &ts;
	}
	/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline. */
	long r = syscall(SYS_futex, addr, FUTEX_WAIT_BITSET, val, tp, NULL, mask ? mask : ~0u);
	if (r == 0 || errno == EAGAIN)
		return 0;
	return -errno;
}

int trq_futex_wait(uint32_t *addr, uint32_t val, uint64_t deadline)
{
	return trq_futex_wait_mask(addr, val, deadline, FUTEX_BITSET_MATCH_ANY);
}

void trq_futex_wake(uint32_t *addr, int n)
{
	syscall(SYS_futex, addr, FUTEX_WAKE, n, NULL, NULL, 0);
}

int trq_futex_wake_n(uint32_t *addr, int n)
{
	long r = syscall(SYS_futex, addr, FUTEX_WAKE, n, NULL, NULL, 0);
	return r > 0 ? (int)r : 0;
}

int trq_futex_wake_mask(uint32_t *addr, int n, uint32_t mask)
{
	long r = syscall(SYS_futex, addr, FUTEX_WAKE_BITSET, n, NULL, NULL, mask ? mask : ~0u);
	return r > 0 ? (int)r : 0;
}

uint32_t trq_cpu_mask(int cpu)
{
	return cpu < 0 ? FUTEX_BITSET_MATCH_ANY : 1u << (cpu & 31);
}

void trq_bell(uint32_t *seq, uint32_t *waiters, int n)
{
	__atomic_add_fetch(seq, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(waiters, __ATOMIC_SEQ_CST))
		trq_futex_wake(seq, n);
}

uint32_t trq_sum_bytes(uint32_t h, const void *p, size_t len)
{
	/* FNV-1a style over 8-byte words, then the tail byte by byte: the same
	 * detection of stray writes at a fraction of the cost per byte. Long
	 * inputs run in four independent lanes of 8-byte words first: each
	 * lane's multiply waits only for its own previous one, so 32 bytes
	 * cost about what 8 bytes do in one lane. */
	const unsigned char *b = p;
	uint64_t x = h;
	size_t i = 0;
	if (len >= 64) {
		uint64_t l0 = x, l1 = x ^ 0x9e3779b97f4a7c15ull, l2 = x ^ 0xc2b2ae3d27d4eb4full,
		         l3 = x ^ 0x165667b19e3779f9ull, w0, w1, w2, w3;
		for (; i + 32 <= len; i += 32) {
			memcpy(&w0, b + i, 8);
			memcpy(&w1, b + i + 8, 8);
			memcpy(&w2, b + i + 16, 8);
			memcpy(&w3, b + i + 24, 8);
			l0 = (l0 ^ w0) * 0x100000001b3ull;
			l1 = (l1 ^ w1) * 0x100000001b3ull;
			l2 = (l2 ^ w2) * 0x100000001b3ull;
			l3 = (l3 ^ w3) * 0x100000001b3ull;
			l0 ^= l0 >> 29;
			l1 ^= l1 >> 29;
			l2 ^= l2 >> 29;
			l3 ^= l3 >> 29;
		}
		const uint64_t l[4] = {l0, l1, l2, l3};
		for (int k = 0; k < 4; k++) {
			x ^= l[k];
			x *= 0x100000001b3ull;
			x ^= x >> 29;
		}
	}
	for (; i + 8 <= len; i += 8) {
		uint64_t w;
		memcpy(&w, b + i, 8);
		x ^= w;
		x *= 0x100000001b3ull;
		x ^= x >> 29;
	}
	for (; i < len; i++) {
		x ^= b[i];
		x *= 0x100000001b3ull;
	}
	return (uint32_t)(x ^ (x >> 32));
}
