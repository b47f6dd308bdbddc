/*
 * The manifest (SPEC §1): parsed and validated completely, then indexed by
 * host into rule sets sorted by precedence (§2.5).  A loaded manifest is
 * immutable and reference-counted: a reload builds a new one and swaps the
 * pointer; requests keep the one they started with.
 */
#ifndef MANIFEST_H
#define MANIFEST_H

#include <sys/stat.h>

#include <stdatomic.h>
#include <stddef.h>
#include <time.h>

#include "arena.h"
#include "buf.h"
#include "mparse.h"
#include "ruletype.h"

struct ua_list;
struct manifest_backing;

struct manifest {
	atomic_int	 refs;
	struct rule	*rules;		/* manifest order; NULL from an image */
	size_t		 nrules;
	struct ruleset	*sets;		/* sorted by domain (strcmp) */
	size_t		 nsets;
	struct ua_list	*redirect_uas;	/* NULL: default list (§3.3) */
	long		 npm_cache_ttl;
	time_t		 loaded_at;
	/* the strings of every rule and rule set (ruletype.h, "Memory") */
	struct arena	 arena;
	/*
	 * A manifest loaded from a compiled image (image.h) has no rules
	 * and sets of its own: backing makes a host's rule set on its first
	 * lookup, its strings borrowed from the image, and frees them with
	 * the image.  NULL for a manifest parsed from JSON.
	 */
	const struct manifest_backing *backing;
	void		*backing_data;
};

struct manifest_backing {
	const struct ruleset *(*lookup)(const struct manifest *,
		    const char *host);
	const struct ruleset *(*whole)(const struct manifest *,
		    const struct ruleset *);
	int	(*damaged)(const struct manifest *);
	void	(*release)(struct manifest *);
};

/*
 * The image cache as manifest_load_file() uses it (image.h sets it;
 * NULL when images are off).  find(): the image of the file at path
 * with stat *st, without reading the file; 0 and *out, or -1.  store():
 * records a manifest just parsed from text as that file's image; 0 when
 * it did.  Neither ever fails a load.
 */
struct manifest_cache {
	int	(*find)(const char *path, const struct stat *st,
		    struct manifest **out, struct manifest_diag *d);
	int	(*store)(const char *path, const struct stat *st,
		    const char *text, size_t len, const struct manifest *m,
		    const struct manifest_diag *d);
};
extern const struct manifest_cache *manifest_cache;

/* Errors and warnings of a load: struct manifest_diag (mparse.h). */
void	 manifest_diag_free(struct manifest_diag *);

/*
 * Parses and validates a manifest from text.  name is the file name used in
 * messages ("manifest.json").  Returns 0 and *out (one reference held by the
 * caller), or -1 with at least one line in d->errors.  Warnings are written
 * to d->warnings either way.
 */
int	 manifest_parse(const char *name, const char *text, size_t len,
	    struct manifest **out, struct manifest_diag *d);
/*
 * Reads and parses a file.  Returns 0 (ok), 1 (invalid, error in d) or 2
 * (cannot be read, error in d).
 */
int	 manifest_load_file(const char *path, struct manifest **out,
	    struct manifest_diag *d);

void	 manifest_ref(struct manifest *);
void	 manifest_unref(struct manifest *);	/* frees at zero */

/* The rule set for a normalised host (§2.2), or NULL. */
const struct ruleset *manifest_lookup(const struct manifest *,
	    const char *host);
/*
 * The complete rule set of a partial one (ruletype.h), made on first use
 * (thread-safe); set itself when it is complete.  NULL when the image it
 * comes from is damaged (manifest_damaged()).
 */
const struct ruleset *manifest_whole_set(const struct manifest *,
	    const struct ruleset *set);
/*
 * 1 when a lazily opened image behind m failed a check after it was
 * opened (image.h): what it answered since may be wrong, and the CGI
 * program answers again from the JSON.  0 for any other manifest.
 */
int	 manifest_damaged(const struct manifest *);
/*
 * strcmp(pfx + s, dom) without building the concatenation: the order of
 * the host index, in a parsed manifest and in its image (image.c).
 */
int	 manifest_domain_cmp(const char *pfx, const char *s, const char *dom);

#endif
