/*
 * The compiled manifest image (README, "Compiled manifest image"): a
 * validated manifest written as one flat, read-only block of offsets
 * (no pointers), kept in a cache directory and mmap'ed, so the processes
 * of one gateway share its pages and a warm CGI request parses no JSON.
 * A manifest loaded from an image materialises a host's rule set on its
 * first lookup, with its strings pointing into the mapping.
 */
#ifndef IMAGE_H
#define IMAGE_H

#include <sys/stat.h>

#include <stddef.h>

struct manifest;
struct manifest_diag;
struct ruleset;

/* Bumped whenever the layout or the meaning of a field changes. */
#define IMAGE_VERSION		2
/* The default cache directory (FHS 3.0 §5.5, /var/cache). */
#define IMAGE_CACHE_DEFAULT	"/var/cache/scarf-gateway"

/*
 * Sets the process's cache directory: dir NULL means IMAGE_CACHE_DEFAULT,
 * used only when it exists and passes the trust checks (silently
 * skipped otherwise); "none" turns images off; any other value is used,
 * with one warning on stderr per load when it cannot be.  Until this is
 * called images are off (--check never calls it).
 */
void	 image_cache_set(const char *dir);
/*
 * With on, loads use an image that is there but write none: a manifest
 * without one is served parsed, and the image is written by a later
 * load (the FastCGI program answers its first request without waiting
 * for the compile, then loads again; README "Compiled manifest image").
 * Returns whether a load since the last call skipped writing an image.
 * Single-threaded, like image_cache_set().
 */
int	 image_cache_defer(int on);

/*
 * The image of a manifest parsed from text[0..len) under name
 * (manifest_parse() has accepted it; warnings are its warning lines,
 * which name it), in allocated memory;
 * *lenp gets its length.  NULL when the manifest is too large for 32-bit
 * offsets.  Caller frees.
 */
void	*image_compile(const struct manifest *, const char *name,
	    const char *text, size_t len,
	    const char *warnings, size_t wlen, size_t *lenp);

/*
 * Checks an image completely (magic, version, build identity, length,
 * checksum, every offset and record) and makes a manifest of it.  p must
 * be 8-byte aligned; on success the manifest owns it and releases it
 * with munmap(2) when mapped, free(3) otherwise.  Returns 0 and *out (one
 * reference), or -1 with *why (static) and p still the caller's.
 * Warnings stored in the image are appended to d->warnings (d may be
 * NULL).
 */
int	 image_open(void *p, size_t len, int mapped, struct manifest **out,
	    const char **why, struct manifest_diag *d);
/*
 * The same, checking at open only the header, the chunk checksums'
 * checksum and the bounds of the sections; each chunk of the rest is
 * checked against its checksum when something in it is first read, each
 * record and offset when its rule set is made (README, "Compiled
 * manifest image").  A check that fails then marks the manifest
 * damaged (manifest_damaged(), manifest.h): the host looks absent, or
 * the answer is 500.  For a process that answers one request.
 */
int	 image_open_lazy(void *p, size_t len, int mapped,
	    struct manifest **out, const char **why, struct manifest_diag *d);
/* With on, the cache opens the images it finds with image_open_lazy()
 * (the CGI program); single-threaded, like image_cache_set(). */
void	 image_cache_lazy(int on);
/*
 * Removes the cache's image m was opened from, when the file there is
 * still that one (a damaged image: the next load rebuilds it, without a
 * second warning).  Nothing for any other manifest.
 */
void	 image_discard(struct manifest *m);

/*
 * What names an image and its header records: SHA-256 of the manifest's
 * name (its path or URL, as its messages give it), a NUL, and its text.
 */
void	 image_source(const char *name, const char *text, size_t len,
	    unsigned char out[32]);

/*
 * Writes this build's identity and the checksum into an image of len
 * bytes (tests and the fuzz target: what is left to check is bounds).
 */
void	 image_seal(void *p, size_t len);

/* The 32-byte build identity images are bound to (image.c). */
const unsigned char *image_build_id(void);

/*
 * The cache as manifest.c uses it.  image_cache_find(): the image
 * recorded for the manifest file at path whose stat is *st, without
 * reading the file; 0 and *out, or -1 (no image, or one not to trust:
 * then a warning on stderr).  image_cache_store(): records the
 * manifest parsed from text as the image of path (st NULL for a URL,
 * whose text is its identity).  image_parse_cached(): manifest_parse()
 * of fetched text through the cache.  Neither ever fails the load.
 */
int	 image_cache_find(const char *path, const struct stat *st,
	    struct manifest **out, struct manifest_diag *d);
int	 image_cache_store(const char *path, const struct stat *st,
	    const char *text, size_t len, const struct manifest *m,
	    const struct manifest_diag *d);
int	 image_parse_cached(const char *name, const char *text, size_t len,
	    struct manifest **out, struct manifest_diag *d);

#endif
