/*
 * crc32.c - see crc32.h. Reflected CRC-32 with polynomial 0xedb88320, initial
 * value and final xor 0xffffffff. Four tables (slicing by 4) so a read-file task
 * checksums at memory speed; table[0] alone is the classic byte-wise table.
 */
#include "crc32.h"

#include <pthread.h>

static uint32_t crc_tab[4][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_tab[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 4; t++)
			crc_tab[t][i] =
			    (crc_tab[t - 1][i] >> 8) ^ crc_tab[0][crc_tab[t - 1][i] & 0xff];
}

uint32_t tr_crc32(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint32_t c = ~crc;

	pthread_once(&crc_once, crc_init);
	while (len >= 4) {
		/* the first byte is the low byte (reflected CRC) */
		uint32_t w = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		             (uint32_t)p[3] << 24;
		c ^= w;
		c = crc_tab[3][c & 0xff] ^ crc_tab[2][(c >> 8) & 0xff] ^
		    crc_tab[1][(c >> 16) & 0xff] ^ crc_tab[0][c >> 24];
		p += 4;
		len -= 4;
	}
	while (len--)
		c = crc_tab[0][(c ^ *p++) & 0xff] ^ (c >> 8);
	return ~c;
}
