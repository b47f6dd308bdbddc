/*
 * Zero-copy relay of a proxied body (SPEC §3.5).  The bytes go from the
 * upstream's TCP socket into a pipe and from the pipe to the web server's
 * connection with splice(2): the kernel moves page references, no byte
 * passes through user space.  proxy_serve() uses it for large bodies of
 * known length from plain-http upstreams, once libcurl has handed over
 * every byte it had read (proxy.c, "Splicing"); the front ends add their
 * framing through struct relay_to.
 */
#ifndef RELAY_H
#define RELAY_H

#include <stddef.h>

enum relay_end {
	RELAY_DONE,		/* all n bytes reached the client side */
	RELAY_UPSTREAM,		/* EOF or an error on the upstream first */
	RELAY_STALL,		/* no upstream data within the timeout */
	RELAY_CLIENT		/* writing to the client side failed */
};

#define RELAY_HDRMAX	16

/*
 * Writes the framing that goes before a record of len content bytes into
 * hdr and returns its length (at most RELAY_HDRMAX).  FastCGI: an
 * FCGI_STDOUT record header.
 */
typedef size_t (*relay_frame_fn)(void *arg, size_t len,
	    unsigned char hdr[RELAY_HDRMAX]);

struct relay_to {
	int		 fd;		/* blocking: a socket, pipe or file */
	size_t		 rec_max;	/* content per record; 0: no limit */
	relay_frame_fn	 frame;		/* NULL: no framing */
	void		*arg;
};

/*
 * Moves exactly n bytes from the stream socket `from` (which may be
 * non-blocking) to `to`, framed in records, waiting at most timeout_ms
 * for each piece of upstream data.  A record's framing is written only
 * once all of its content is in the pipe, so an upstream that fails
 * leaves no record half sent.  Returns the content bytes written to
 * to->fd and sets *end; -1 when no pipe could be made (nothing was read:
 * the caller can still copy instead).
 */
long long	relay_splice(int from, const struct relay_to *to, long long n,
		    int timeout_ms, enum relay_end *end);

/*
 * Reads exactly n bytes from `from` into buf (the end of a relayed body,
 * which goes out through the front end's own buffer), waiting at most
 * timeout_ms for each piece.  Returns the bytes read and sets *end.
 */
long long	relay_read(int from, char *buf, size_t n, int timeout_ms,
		    enum relay_end *end);

/*
 * Whether the peer of the connected stream socket fd (the web server's
 * connection), on which a write has just failed with errno err, had
 * taken every byte written before that one: 1 when the peer closed after
 * reading them all, 0 when some were lost, or when it cannot be told.
 * A web server may close as soon as it has the whole response, before
 * the records that end it (FastCGI END_REQUEST) are written; only the
 * lost bytes make an answer undelivered.  Linux; elsewhere always 0.
 */
int		relay_peer_took_all(int fd, int err);

#endif
