/*
 * What image.c and image_rules.c share: the writer that appends a rule's
 * fields to an image, and the checked reader that takes them out again.
 * A rule record is a run of 32-bit words; a string is the offset of a
 * NUL-terminated string in the image's string table, IMG_NONE for NULL.
 */
#ifndef IMAGE_INT_H
#define IMAGE_INT_H

#include <stddef.h>
#include <stdint.h>

struct rule;

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
	uint32_t	 pad;
};

struct img_set {
	uint32_t	 domain;	/* string */
	uint32_t	 nrules;
	uint32_t	 rec;		/* word index of its first record */
	uint32_t	 nwords;	/* words of its records */
	uint32_t	 pages;		/* word index of its python pages, or
					 * IMG_NONE (image.c) */
};

#define REC_HDR		5	/* type, index, length, domain, package-id */

_Static_assert(sizeof(struct img_hdr) % 8 == 0, "header keeps alignment");
_Static_assert(sizeof(struct img_set) == 20, "no padding in img_set");


struct img_writer;
/* Appends one word, or the offset of s (interned; NULL: IMG_NONE). */
void	 iw_word(struct img_writer *, uint32_t);
void	 iw_str(struct img_writer *, const char *);
/* Appends n, then the n strings. */
void	 iw_strv(struct img_writer *, char *const *, size_t);

/*
 * Reads words [p, end) of a record.  Any read past end, string offset
 * outside the table or value out of range sets bad and returns 0/NULL;
 * the caller checks bad once at the end.  Strings point into the image.
 */
struct img_reader {
	const uint32_t	*p, *end;
	const char	*str;		/* the string table */
	uint32_t	 nstr;		/* its length; str[nstr - 1] == '\0' */
	int		 bad;
};
uint32_t ir_word(struct img_reader *);
/* A word that must be at most max. */
uint32_t ir_uint(struct img_reader *, uint32_t max);
/* A string or NULL; ir_str_req: NULL is bad. */
char	*ir_str(struct img_reader *);
char	*ir_str_req(struct img_reader *);
/* n and n strings: an allocated array of borrowed strings (NULL for 0). */
char   **ir_strv(struct img_reader *, size_t *n);

/*
 * image_rules.c: one pair per rule type.  image_rule_put() appends the
 * type's fields of r; image_rule_get() reads them into r (type set),
 * returning -1 when the record is malformed; image_rule_compile() makes
 * what a process builds for itself (docker pattern, PCRE2 code), -1 when
 * it cannot; image_rule_release() frees what get and compile allocated
 * (the strings are the image's).
 */
void	 image_rule_put(struct img_writer *, const struct rule *);
int	 image_rule_get(struct img_reader *, struct rule *);
int	 image_rule_compile(struct rule *);
void	 image_rule_release(struct rule *);

/*
 * image_rules.c: the python pages of a rule set (python.h,
 * pyindex_page()).  image_pages_put() appends them; image_pages_get()
 * reads them at rd (rd->p == rd->end: none) and, when py is not NULL,
 * makes the index of rules[0..n) around them (rendering its own when
 * there are none); -1 when they are malformed.  image_pages_free()
 * frees such an index.
 */
struct pyindex;
void	 image_pages_put(struct img_writer *, const struct pyindex *);
int	 image_pages_get(struct img_reader *, struct pyindex **py,
	    struct rule *const *rules, size_t n);
void	 image_pages_free(struct pyindex *);

#endif
