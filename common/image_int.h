/*
 * What image.c and the rule types share: the writer that appends a rule's
 * fields to an image, and the checked reader that takes them out again.
 * A rule record is a run of 32-bit words; a string is the offset of a
 * NUL-terminated string in the image's string table, IMG_NONE for NULL.
 */
#ifndef IMAGE_INT_H
#define IMAGE_INT_H

#include <stddef.h>
#include <stdint.h>

#define IMG_NONE	0xffffffffU
#define IMG_MAGIC	"SGWIMG\r\n"

/* The layout (image.c says more); tests and the fuzz target use it too. */
struct img_hdr {
	char		 magic[8];
	uint32_t	 version;
	uint32_t	 hdr_len;	/* sizeof(struct img_hdr) */
	unsigned char	 build[32];	/* image_build_id() */
	unsigned char	 source[32];	/* image_source() of the manifest */
	uint64_t	 total_len;
	uint64_t	 checksum;	/* img_checksum() */
	int64_t		 npm_cache_ttl;
	uint32_t	 nrules;
	uint32_t	 nsets;
	uint32_t	 sets_off;	/* bytes */
	uint32_t	 words_off;	/* bytes */
	uint32_t	 nwords;
	uint32_t	 str_off;	/* bytes */
	uint32_t	 nstr;
	uint32_t	 uas;		/* word index, IMG_NONE: default list */
	uint32_t	 warnings;	/* string, IMG_NONE: none */
	uint32_t	 chunks_off;	/* bytes: the chunk checksums */
	uint32_t	 nchunks;
	uint32_t	 pad;
};

struct img_set {
	uint32_t	 domain;	/* string */
	uint32_t	 nrules;
	uint32_t	 rec;		/* word index of its first record */
	uint32_t	 nwords;	/* words of its records */
	uint32_t	 pages;		/* word index of its types' index
					 * data (rendered pages), or IMG_NONE
					 * (image.c) */
	uint32_t	 pwords;	/* words of that data */
	uint32_t	 types;		/* bit r: a rule of rule_types[r] */
};

#define REC_HDR		5	/* type, index, length, domain, package-id */
/* The bytes after the header are checked in chunks of this size. */
#define IMG_CHUNK	16384

_Static_assert(sizeof(struct img_hdr) % 8 == 0, "header keeps alignment");
_Static_assert(sizeof(struct img_set) == 28, "no padding in img_set");


/*
 * The writer and the reader a rule type's save and load operations
 * (ruletype.h) use for their part of a record.  image.c implements
 * them; a type module includes this header, and nothing here knows a
 * rule type.
 */
struct arena;
struct image;
struct img_writer;
/* Appends one word, or the offset of s (interned; NULL: IMG_NONE). */
void	 iw_word(struct img_writer *, uint32_t);
void	 iw_str(struct img_writer *, const char *);
/* Appends n, then the n strings. */
void	 iw_strv(struct img_writer *, const char *const *, size_t n);

/*
 * Reads words [p, end) of a record.  Any read past end, string offset
 * outside the table or value out of range sets bad and returns 0/NULL;
 * the caller checks bad once at the end.  Strings point into the image
 * (borrowed: they live as long as the manifest, like the strings of its
 * arena).  What a load allocates comes from arena, which lives as long
 * as the rules read with this reader.
 */
struct img_reader {
	const uint32_t	*p, *end;
	const char	*str;		/* the string table */
	uint32_t	 nstr;		/* its length; str[nstr - 1] == '\0' */
	int		 bad;
	struct arena	*arena;
	const struct image *im;		/* checks what it reads, lazily */
};
uint32_t ir_word(struct img_reader *);
/* A word that must be at most max. */
uint32_t ir_uint(struct img_reader *, uint32_t max);
/* A count of items of at least per words each that fit in the rest. */
uint32_t ir_count(struct img_reader *, size_t per);
/* A string or NULL; ir_str_req: NULL is bad. */
const char *ir_str(struct img_reader *);
const char *ir_str_req(struct img_reader *);
/* n and n strings (none NULL): an array from rd->arena (NULL for 0). */
const char **ir_strv(struct img_reader *, size_t *n);
/*
 * A string of *len bytes, written as iw_str() then iw_word(length),
 * whose bytes are NOT checked yet (a rendered page, large and seldom
 * all read): whoever uses them calls image_bytes_ok() first.
 */
const char *ir_blob(struct img_reader *, size_t *len);
/*
 * 0 when p[0..n), inside image im (rd->im of the reader that gave p),
 * passes its checksums; -1 when not (the image is then damaged:
 * manifest_damaged(), manifest.h).  Cheap once checked; thread-safe.
 */
int	 image_bytes_ok(const struct image *im, const void *p, size_t n);
/*
 * 0 with the open file im was mapped from (a lazily opened image keeps
 * it) and the offset of p in it; -1 when there is none.
 */
int	 image_bytes_file(const struct image *im, const void *p, int *fd,
	    long long *off);

#endif
