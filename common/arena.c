/*
 * The bump allocator of arena.h.  Chunks grow from ARENA_MIN to ARENA_MAX
 * bytes as the arena fills, so a small manifest costs one small chunk and
 * a large one a few hundred large ones; an allocation bigger than a
 * quarter of ARENA_MAX gets a chunk of its own, inserted behind the head
 * so that the head's free space is not lost.
 */
#include "config.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "xmalloc.h"

#define ARENA_MIN	4096
#define ARENA_MAX	(1024 * 1024)
#define ARENA_ALIGN	alignof(max_align_t)

struct arena_chunk {
	struct arena_chunk	*next;
	alignas(max_align_t) unsigned char data[];
};

static struct arena_chunk *
arena_chunk_new(struct arena *a, size_t cap)
{
	struct arena_chunk	*c;

	if (cap > SIZE_MAX - sizeof(*c))
		cap = SIZE_MAX - sizeof(*c);	/* xmalloc aborts on it */
	c = xmalloc(sizeof(*c) + cap);
	a->total += cap;
	return c;
}

/*
 * n bytes (n > 0) at a multiple of align (1 or ARENA_ALIGN), not zeroed.
 * Strings take align 1, so a 5-byte string costs 6 bytes.
 */
static void *
arena_take(struct arena *a, size_t n, size_t align)
{
	struct arena_chunk	*c;
	size_t			 cap, at;

	if (a->head != NULL) {
		at = (a->used + align - 1) & ~(align - 1);
		if (at <= a->cap && a->cap - at >= n) {
			a->used = at + n;
			return a->head->data + at;
		}
	}
	if (n > ARENA_MAX / 4) {
		/* a chunk of its own, keeping the head's free space */
		c = arena_chunk_new(a, n);
		if (a->head != NULL) {
			c->next = a->head->next;
			a->head->next = c;
		} else {
			c->next = NULL;
			a->head = c;
			a->used = a->cap = n;
		}
		return c->data;
	}
	cap = a->cap < ARENA_MIN ? ARENA_MIN : a->cap * 2;
	if (cap > ARENA_MAX)
		cap = ARENA_MAX;
	c = arena_chunk_new(a, cap);
	c->next = a->head;
	a->head = c;
	a->cap = cap;
	a->used = n;
	return c->data;
}

void *
arena_alloc(struct arena *a, size_t n)
{
	if (n == 0)
		n = 1;
	return memset(arena_take(a, n, ARENA_ALIGN), 0, n);
}

char *
arena_strndup(struct arena *a, const char *s, size_t n)
{
	char	*p;

	p = arena_take(a, n + 1, 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
arena_strdup(struct arena *a, const char *s)
{
	if (s == NULL)
		return NULL;
	return arena_strndup(a, s, strlen(s));
}

void
arena_free(struct arena *a)
{
	struct arena_chunk	*c, *next;

	for (c = a->head; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	memset(a, 0, sizeof(*a));
}
