/*
 * Upstream exchanges (SPEC §3.5 docker streaming, §4.4 npm documents).
 *
 * gw_serve() only decides: it sets resp->plan and resp->upstream.  For
 * GW_PLAN_PROXY the exchange (exchange.h) then calls proxy_serve(), which
 * talks to the upstream with libcurl and writes the client's response
 * through a struct gw_out (gwout.h) that the front end implements over
 * its own stream (FastCGI or stdout).
 */
#ifndef PROXY_H
#define PROXY_H

/*
 * The last bytes of a body of known length are written apart and not
 * flushed (on_body in proxy.c), so that a front end that buffers small
 * writes sends them together with its end of the response.  Below
 * RECORD_RAW_MIN (fcgi/record.h; checked in fcgi/serve.c): libfcgi then
 * writes the last STDOUT record and END_REQUEST in one write(), and nginx
 * keeps its FastCGI connection for the next request; when END_REQUEST
 * came apart from the last body bytes, it dropped the connection about
 * one time in three (measured), and the next request went to a thread
 * without a connection to the registry.
 */
#define PROXY_TAIL	(8 * 1024)

#include <stddef.h>

#include "buf.h"
#include "gwout.h"
#include "relay.h"

struct gw_config;
struct gw_ctx;
struct gw_request;
struct gw_response;
struct gw_event;

struct proxy;			/* one per worker thread: a reused CURL handle */

struct proxy	*proxy_new(const struct gw_config *);
void		 proxy_free(struct proxy *);

/*
 * Performs the exchange for a request gw_serve() planned GW_PLAN_PROXY,
 * and writes the whole client response through out.  Fills ev->status,
 * ev->bytes, ev->proxied and ev->error, and counts upstream failures in
 * ctx->stats.
 */
void	 proxy_serve(struct proxy *, const struct gw_ctx *,
	    const struct gw_request *, struct gw_response *, struct gw_event *,
	    struct gw_out *);

/* A buffered upstream answer (npm documents, manifest URLs). */
enum upstream_err {
	UP_OK,
	UP_CONNECT,		/* connect, DNS or TLS failure: 502 */
	UP_TIMEOUT,		/* no headers in time: 504 */
	UP_TOO_BIG,		/* body over the cap */
	UP_PROTOCOL		/* garbage from the upstream: 502 */
};
struct upstream_resp {
	int			 status;
	char			*content_type;	/* owned or NULL */
	char			*etag;
	char			*last_modified;
	/* a redirect handed back (proxy_fetch_scoped): its absolute
	 * target, escaped; status is the upstream's 3xx, body empty */
	char			*location;
	struct buf		 body;
	enum upstream_err	 err;
};
void	 upstream_resp_free(struct upstream_resp *);

/*
 * GETs url with the given request headers ("Name: value", NULL-terminated
 * vector), keeping at most max_body bytes of body.  Returns 0 when an HTTP
 * response arrived (any status), -1 with out->err set otherwise.
 * Redirects are followed wherever they lead (for the manifest URL, which
 * the operator names).
 */
int	 proxy_fetch(struct proxy *, const char *url, char *const *headers,
	    size_t max_body, struct upstream_resp *out);
/*
 * The same, but redirects are followed only inside scope (as in
 * proxy_serve, see proxy_redirect_decide): any other redirect ends the
 * fetch with 0, out->status the upstream's 3xx and out->location its
 * target.  An eleventh redirect or an unusable Location is UP_PROTOCOL.
 * A NULL scope is proxy_fetch().
 */
int	 proxy_fetch_scoped(struct proxy *, const char *url, const char *scope,
	    char *const *headers, size_t max_body, struct upstream_resp *out);

/*
 * The pieces of proxy_serve() that do no I/O (tests/unit/test_proxy.c).
 */

/* The canonical spelling of an upstream response header that reaches the
 * client (§3.5 allow-list), or NULL: name[0..len), case-insensitive. */
const char *proxy_header_allowed(const char *name, size_t len);

/*
 * The upstream request headers of §3.5 as "Name: value" strings, in a
 * NULL-terminated vector the caller frees with proxy_headers_free(): every
 * non-empty Accept value in the order received (repeated parameters stay
 * separate lines, a joined value stays one line), then the first non-empty
 * Authorization, Range, If-None-Match and User-Agent.  A value holding CR
 * or LF is never forwarded.
 */
char	**proxy_request_headers(const struct gw_request *);
void	  proxy_headers_free(char **);

/*
 * The X-Accel-Redirect target that hands the exchange for upstream (an
 * "http(s)://HOST[:PORT]/PATH[?QUERY]" URL) to the web server:
 * "PREFIX/SCHEME/HOST[:PORT]/PATH[?QUERY]", bytes outside 0x21-0x7E as
 * %XX.  NULL when upstream has another form (the caller streams).  Caller
 * frees.
 */
char	*proxy_offload_target(const char *prefix, const char *upstream);

/* What to do with an upstream answer, by its status and Location (§3.5). */
enum proxy_redirect {
	PROXY_REDIR_NONE,	/* not a redirect: pass the answer on */
	PROXY_REDIR_FOLLOW,	/* inside the scope: the proxy follows it */
	PROXY_REDIR_CLIENT,	/* elsewhere: 307 to the client */
	PROXY_REDIR_BAD		/* a Location that cannot be resolved: 502 */
};
/*
 * Decides for status 301, 302, 303, 307 and 308 with a non-empty location,
 * resolved against base (the URL that produced it).  FOLLOW only when the
 * target stays inside scope, "scheme://host[:port]/path" (the registry the
 * rule names; NULL: nothing is followed): the same scheme, the host
 * written the same way (ASCII case aside), the same port (default ports
 * filled in), no userinfo and no backslash anywhere in the Location, and a
 * path under the scope's path when that ends in '/' (a repository), else
 * equal to it with or without a final '/', with no segment that decodes
 * to "." or "..".  Everything else is CLIENT.  For FOLLOW and CLIENT,
 * *target is the absolute URL (bytes outside 0x21-0x7E as %XX, also when
 * the Location had them; caller frees): for FOLLOW the resolved URL the
 * proxy fetches, for CLIENT the Location as written when it is absolute,
 * else resolved against base; otherwise NULL.
 */
enum proxy_redirect proxy_redirect_decide(int status, const char *base,
	    const char *location, const char *scope, char **target);

/* libcurl's message about the last failed transfer, or "". */
const char *proxy_last_error(const struct proxy *);

#endif
