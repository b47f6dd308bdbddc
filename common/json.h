/* Strict JSON syntax scanning (json.c). */
#ifndef JSON_H
#define JSON_H

#include <stddef.h>

#include "buf.h"

/*
 * Checks that s[0..n) is one JSON value with optional whitespace around it
 * (and an optional UTF-8 byte order mark before it).  Beyond RFC 8259:
 * nesting deeper than 512 and \u0000 are rejected.  Returns 0, or -1 with
 * the byte offset of the problem in *erroff and a message in msg.
 */
int	 json_scan(const char *s, size_t n, size_t *erroff, char *msg,
	    size_t msglen);
/*
 * Scans one value starting at s[*pos] (leading whitespace skipped); on
 * success returns 0 and sets *pos just past it.  -1 as above otherwise
 * (erroff and msg may be NULL).
 */
int	 json_scan_value(const char *s, size_t n, size_t *pos,
	    size_t *erroff, char *msg, size_t msglen);
/* 1-based line and column (in code points) of byte offset off. */
void	 json_linecol(const char *s, size_t off, size_t *line, size_t *col);
/* Appends a scanned value without whitespace outside its strings (a raw
 * DEL inside a string is written \u007f). */
void	 json_compact(struct buf *out, const char *s, size_t n);

#endif
