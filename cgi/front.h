/*
 * The CGI program's side of the exchange (exchange.h): the request body
 * from stdin (at most CONTENT_LENGTH, RFC 3875 §4.2, drained before the
 * response), the response to stdout, and the proxy module
 * (proxy_module.h) loaded for a proxied plan.
 */
#ifndef CGI_FRONT_H
#define CGI_FRONT_H

struct gw_config;
struct gw_front;
struct logsink;
struct proxy;
struct proxy_module;

struct cgi_body {
	long long	 left;
};

struct cgi_out {
	struct cgi_body	 body;
	int		 aborted;	/* stdout cut: exit status 1 */
	int		 werr;		/* errno of the first failed write */
	const char	*prog;		/* for stderr */
	const struct gw_config *cfg;
	const struct proxy_module *pm;	/* loaded for a proxied plan */
	struct proxy	*px;		/* the caller frees it with pm */
};

/* Sets up fe over o (both the caller's) for one request. */
void	 cgi_front_init(struct gw_front *fe, struct cgi_out *o,
	    const char *prog, const struct gw_config *, struct logsink *);

#endif
