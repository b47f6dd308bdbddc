/*
 * The FastCGI records the program frames itself (FastCGI 1.0 §3.3,
 * §5.3), named as <fastcgi.h> names them.
 *
 * libfcgi parses every record the web server sends and writes the small
 * ones the program answers with (headers, generated pages, the tail of a
 * body, END_REQUEST) through its 8 KiB stream buffer.  Two paths bypass
 * it, because a large proxied body through that buffer costs one copy
 * and one write(2) per 8 KiB:
 *   - record_write_stdout(): a body piece of at least RECORD_RAW_MIN
 *     bytes goes out as FCGI_STDOUT records straight from the caller's
 *     buffer, RECORD_BATCH records per writev();
 *   - record_header() frames each piece that relay_splice() (relay.h)
 *     moves from the upstream socket into the connection with splice(2).
 * Both come after libfcgi's buffer is flushed (whole records), so the
 * stream on the wire is the one libfcgi would have written.
 */
#ifndef FCGI_RECORD_H
#define FCGI_RECORD_H

#include <stddef.h>

#include <fastcgi.h>

/* below this, a write takes libfcgi's buffer */
#define RECORD_RAW_MIN	(16 * 1024)
/* content per record: the maximum, FCGI_MAX_LENGTH, rounded down to a
 * multiple of 8, so that no record needs padding */
#define RECORD_MAX	(FCGI_MAX_LENGTH & ~7)
#define RECORD_BATCH	16	/* records per writev() */

_Static_assert(RECORD_MAX <= FCGI_MAX_LENGTH && RECORD_MAX % 8 == 0,
    "RECORD_MAX fits one record without padding");
_Static_assert(sizeof(FCGI_Header) == FCGI_HEADER_LEN,
    "FCGI_Header is the 8 bytes on the wire");

/*
 * Fills hdr with the header of a record of `type` for request `id`
 * carrying len (<= FCGI_MAX_LENGTH) bytes of content and no padding.
 */
void	record_header(FCGI_Header *hdr, int type, int id, size_t len);

/*
 * Writes p[0..n) to the blocking socket fd as FCGI_STDOUT records of
 * request id, RECORD_MAX bytes each but the last.  Returns 0, or -1
 * with errno set by writev(); a write cut short by an error leaves the
 * stream in the middle of a record (the connection is then unusable).
 */
int	record_write_stdout(int fd, int id, const char *p, size_t n);

#endif /* FCGI_RECORD_H */
