/*
 * A bump allocator for data that lives exactly as long as one owner, such
 * as the strings of a loaded manifest's rules: allocations come from a few
 * large chunks and are never freed one by one; arena_free() releases all
 * of them at once.  It saves the per-allocation overhead of malloc (16
 * bytes or more on glibc for a string of a few bytes) and lets a rule
 * record's strings point anywhere that outlives the manifest: into the
 * arena, or into a mapped image, without the record knowing which.
 *
 * Not thread-safe: fill an arena from one thread, then only read what it
 * holds.
 */
#ifndef ARENA_H
#define ARENA_H

#include <stddef.h>

struct arena_chunk;

struct arena {
	struct arena_chunk	*head;		/* newest chunk, or NULL */
	size_t			 used;		/* bytes used in head */
	size_t			 cap;		/* bytes usable in head */
	size_t			 total;		/* bytes of every chunk */
};

#define ARENA_INIT	{ NULL, 0, 0, 0 }

/* n bytes aligned for any object type, zeroed; never NULL (aborts on
 * out-of-memory, like xmalloc).  Lives until arena_free(). */
void	*arena_alloc(struct arena *, size_t n);
/* Copies of s (NULL stays NULL) and of s[0..n) plus a NUL. */
char	*arena_strdup(struct arena *, const char *s);
char	*arena_strndup(struct arena *, const char *s, size_t n);
/* Frees every allocation; the arena is empty and reusable afterwards. */
void	 arena_free(struct arena *);

#endif
