/*
 * One request as the gateway sees it (request.c): the CGI parameters a
 * front end received, checked and normalised (SPEC §0, §2.1, §2.2).
 */
#ifndef REQUEST_H
#define REQUEST_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

struct gw_config;

/* Request body reader: returns bytes read, 0 at the end, -1 on error. */
typedef ssize_t (*gw_read_fn)(void *ctx, char *buf, size_t n);

struct gw_request {
	char		*method;	/* owned */
	char		*raw_path;	/* owned, SPEC §0 */
	char		*raw_query;	/* owned, "" when none */
	char		*host_value;	/* owned, the Host value chosen (§2.2) */
	char		*host;		/* owned, normalised */
	char		*authority;	/* owned, for the public base URL */
	const char	*scheme;	/* "https" or "http" */
	char		*client_ip;	/* owned */
	char *const	*params;	/* borrowed NAME=value vector */
	long long	 content_length;	/* -1 when unknown */
	gw_read_fn	 read_body;	/* may be NULL: no body */
	void		*body_ctx;
	int		 is_head;
	int		 is_get_or_head;
	int		 bad;		/* SPEC §2.1 failed: answer 400 */
	int		 too_long;	/* query over GW_QUERY_MAX_*: 414 */
	struct timespec	 start;		/* CLOCK_REALTIME at intake */
	struct timespec	 mono;		/* CLOCK_MONOTONIC at intake */
};

/*
 * The most query a request may carry: bytes after the '?', and items
 * (split on '&' and ';', SPEC §0).  Over either, the answer is 414 URI Too
 * Long (RFC 9110 §15.5.15), before any rule looks at it: the code nginx
 * gives a request line over its large_client_header_buffers (8 KiB by
 * default), which no legitimate artifact URL needs.  The caps bound the
 * work and memory every later pass over the query costs (parsing,
 * template matching, forwarding a query to a file target, the event line).
 */
#define GW_QUERY_MAX_BYTES	65536
#define GW_QUERY_MAX_ITEMS	1000

/*
 * Builds the request from a CGI parameter vector (FastCGI params or
 * environ).  The vector must outlive the request.  Never fails: problems
 * mark the request bad (§2.1).
 */
void	 gw_request_init(struct gw_request *, char *const *params,
	    const struct gw_config *);
void	 gw_request_free(struct gw_request *);
/* First value of a parameter ("HTTP_USER_AGENT"), or NULL.  Borrowed. */
const char *gw_param(const struct gw_request *, const char *name);
/* The i-th value of a repeated parameter, or NULL past the last. */
const char *gw_param_nth(const struct gw_request *, const char *name,
	    size_t i);
/* Like gw_param, but an empty value counts as absent (SPEC §3.5). */
const char *gw_header(const struct gw_request *, const char *name);

#endif
