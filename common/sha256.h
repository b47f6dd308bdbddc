/* SHA-256 (FIPS 180-4), for the python pages' ETags (SPEC §7.6). */
#ifndef SHA256_H
#define SHA256_H

#include <stddef.h>
#include <stdint.h>

struct sha256 {
	uint32_t	 h[8];
	uint64_t	 len;
	unsigned char	 buf[64];
	size_t		 nbuf;
};

void	 sha256_init(struct sha256 *);
void	 sha256_update(struct sha256 *, const void *, size_t);
void	 sha256_final(struct sha256 *, unsigned char out[32]);
void	 sha256(const void *, size_t, unsigned char out[32]);

#endif
