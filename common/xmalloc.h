/*
 * Allocation wrappers that abort on out-of-memory, as lighttpd, redis and
 * h2o do: partial OOM recovery inside a request loop cannot be tested, and a
 * gateway that has run out of memory has nothing useful left to do.
 */
#ifndef XMALLOC_H
#define XMALLOC_H

#include <stddef.h>

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
/* Same as xstrdup but NULL stays NULL. */
char	*xstrdup_null(const char *);

#endif
