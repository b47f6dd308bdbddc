/*
 * Growable byte buffers.  A buffer always keeps a NUL after its last byte, so
 * b->p can be used as a C string when the content has no NUL of its own.
 * All functions abort on out-of-memory (xmalloc.h).
 */
#ifndef BUF_H
#define BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char	*p;	/* owned; NULL until the first add */
	size_t	 n;	/* bytes used, not counting the trailing NUL */
	size_t	 cap;
};

#define BUF_INIT { NULL, 0, 0 }

void	 buf_free(struct buf *);
void	 buf_reset(struct buf *);		/* n = 0, keeps memory */
void	 buf_reserve(struct buf *, size_t);	/* room for n more bytes */
void	 buf_add(struct buf *, const void *, size_t);
void	 buf_adds(struct buf *, const char *);
void	 buf_addc(struct buf *, int);
void	 buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/* The decimal digits of v (with a '-' when negative): "%lld", without
 * stdio, which event lines and response heads use on every request. */
void	 buf_addll(struct buf *, long long v);
void	 buf_addull(struct buf *, unsigned long long v);	/* "%llu" */
/* v in exactly width digits, zero-padded (v >= 0, width <= 20). */
void	 buf_addzd(struct buf *, unsigned long long v, int width);
/* Returns a C string (never NULL, "" for an empty buffer); borrowed. */
const char *buf_cstr(struct buf *);
/* Hands the memory to the caller (caller frees); the buffer is emptied. */
char	*buf_steal(struct buf *);

/* JSON: append s[0..n) as a quoted JSON string.  Each byte that is not
 * part of valid UTF-8 is written as U+FFFD so the text stays valid JSON. */
void	 buf_add_jstr(struct buf *, const char *, size_t);
void	 buf_add_jstrz(struct buf *, const char *);	/* NULL gives null */

#endif
