/*
 * crc32.h - CRC-32 (IEEE 802.3, the zlib/PNG/`cksum -a crc32b` polynomial),
 * table-driven.
 *
 * The lookup table is computed once on first use (pthread_once) and never
 * changes afterwards; no other state.
 */
#ifndef TR_CRC32_H
#define TR_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC-32 over buf[0..len). Start with crc = 0; the value returned
 * after the last piece is the CRC of the whole input ("123456789" gives
 * 0xcbf43926). Pieces may be fed in any split. */
uint32_t tr_crc32(uint32_t crc, const void *buf, size_t len);

#endif
