/*
 * The client side of an exchange (exchange.h, proxy.h, npm_doc.h): an
 * output stream each front end implements over its own connection
 * (FastCGI records, or the CGI program's stdout), and the one writer of a
 * whole response over it.
 */
#ifndef GWOUT_H
#define GWOUT_H

#include <stddef.h>

#include "relay.h"

struct gw_request;
struct gw_response;
struct gw_event;

struct gw_out {
	void	*ctx;
	/* Writes response bytes (the CGI head, then the body).  Returns 0, or
	 * -1 once the client is gone (every later call fails too). */
	int	(*write)(void *ctx, const void *p, size_t n);
	/* Pushes buffered bytes to the web server now.  0 or -1. */
	int	(*flush)(void *ctx);
	/* The response cannot be completed (upstream died mid-body): make the
	 * client see a truncated transfer, never a complete short one
	 * (FastCGI: shutdown(2) of the connection before finishing,
	 * measured per web server at fcgi_out_abort in fcgi/serve.c; CGI:
	 * exit without a clean end). */
	void	(*abort)(void *ctx);
	/*
	 * Optional (NULL: never offered).  relay_splice() from the upstream
	 * socket fd to the client's connection with the front end's framing,
	 * after everything written before has gone out: returns the body
	 * bytes the client side took and *end, or -1 when it cannot start
	 * (nothing read: the proxy copies on).
	 */
	long long (*relay)(void *ctx, int fd, long long n, int timeout_ms,
		    enum relay_end *end);
	/*
	 * Optional (NULL: write is used).  Writes n bytes like write, but
	 * returns how many the stream took before an error (n when all
	 * did): the event's bytes of a generated answer (exchange.c).
	 */
	size_t	(*put)(void *ctx, const void *p, size_t n);
	/*
	 * Optional (NULL: put or write).  The same as put for p[0..n),
	 * which are also the bytes of file fd at off: the front end may
	 * send them from the file (sendfile(2), no copy through the
	 * program), else writes p.
	 */
	size_t	(*put_file)(void *ctx, const void *p, size_t n, int fd,
		    long long off);
};

/*
 * Writes resp as a whole response: its head (resp_format_head) and,
 * unless the request is a HEAD or the status 304, body[0..len) (through
 * put_file when that is resp's borrowed body in a file).  Sets
 * ev->status to resp->status and ev->bytes to the body bytes the stream
 * took.  Flushes only with `flush`.  Returns 0, or -1 when the client is
 * gone.
 */
int	 gw_out_response(struct gw_out *, const struct gw_request *,
	    const struct gw_response *, const char *body, size_t len,
	    int flush, struct gw_event *);

#endif
