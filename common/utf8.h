/* UTF-8 checks (utf8.c), shared by the buffer and the parsers. */
#ifndef UTF8_H
#define UTF8_H

#include <stddef.h>

/* Length of the valid UTF-8 sequence at s (1..4), 0 if invalid/truncated. */
size_t	 utf8_seq_len(const unsigned char *s, size_t n);
int	 utf8_valid(const char *s, size_t n);

#endif
