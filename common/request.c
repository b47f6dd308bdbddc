/*
 * Request intake (SPEC §0, §2.1, §2.2): turns a CGI parameter vector into
 * a struct gw_request.  Works on FastCGI params and on environ alike.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gwconfig.h"
#include "request.h"
#include "util.h"
#include "xmalloc.h"

/*
 * The i-th value of NAME in a NAME=value vector.  FastCGI allows a
 * parameter to repeat (some servers pass a repeated Accept header that
 * way), so every lookup can ask for the n-th occurrence.
 */
static const char *
param_nth(char *const *params, const char *name, size_t nth)
{
	size_t	 len = strlen(name);
	char *const *p;

	if (params == NULL)
		return NULL;
	for (p = params; *p != NULL; p++)
		if (strncmp(*p, name, len) == 0 && (*p)[len] == '=') {
			if (nth == 0)
				return *p + len + 1;
			nth--;
		}
	return NULL;
}

const char *
gw_param(const struct gw_request *req, const char *name)
{
	return param_nth(req->params, name, 0);
}

const char *
gw_param_nth(const struct gw_request *req, const char *name, size_t i)
{
	return param_nth(req->params, name, i);
}

const char *
gw_header(const struct gw_request *req, const char *name)
{
	const char	*v;
	size_t		 i;

	for (i = 0; (v = param_nth(req->params, name, i)) != NULL; i++)
		if (*v != '\0')
			return v;
	return NULL;
}

/* First comma-separated element of v, trimmed; caller frees. */
static char *
first_element(const char *v)
{
	const char	*s, *e;

	for (s = v; *s == ' ' || *s == '\t'; s++)
		;
	for (e = s; *e && *e != ','; e++)
		;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	return xstrndup(s, (size_t)(e - s));
}

static int
has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7f)
			return 1;
	return 0;
}

static int
is_on(const char *v)
{
	return v != NULL && (strcasecmp(v, "on") == 0 || strcmp(v, "1") == 0);
}

void
gw_request_init(struct gw_request *req, char *const *params,
    const struct gw_config *cfg)
{
	const char	*uri, *q, *v, *xfp;
	struct buf	 b = BUF_INIT;
	size_t		 qlen;
	int		 trust = cfg != NULL && cfg->trust_forwarded;

	memset(req, 0, sizeof(*req));
	clock_gettime(CLOCK_REALTIME, &req->start);
	clock_gettime(CLOCK_MONOTONIC, &req->mono);
	req->params = params;

	v = param_nth(params, "REQUEST_METHOD", 0);
	req->method = xstrdup(v != NULL && *v ? v : "GET");
	req->is_head = strcmp(req->method, "HEAD") == 0;
	req->is_get_or_head = req->is_head || strcmp(req->method, "GET") == 0;

	/* §0: the raw path comes from REQUEST_URI, the only parameter that
	 * every server passes undecoded.  Measured with GET
	 * /simple/a%2Fb//c/: nginx, lighttpd, Caddy, mod_fcgid and
	 * mod_proxy_fcgi all pass REQUEST_URI raw, while SCRIPT_NAME and
	 * PATH_INFO come decoded, `//` merged by some, or split differently
	 * by each (lighttpd: SCRIPT_NAME /simple). */
	if ((uri = param_nth(params, "REQUEST_URI", 0)) != NULL) {
		q = strchr(uri, '?');
		req->raw_path = q ? xstrndup(uri, (size_t)(q - uri))
		    : xstrdup(uri);
		if (q != NULL)
			req->raw_query = xstrdup(q + 1);
	} else {
		buf_adds(&b, (v = param_nth(params, "SCRIPT_NAME", 0)) ? v : "");
		buf_adds(&b, (v = param_nth(params, "PATH_INFO", 0)) ? v : "");
		req->raw_path = buf_steal(&b);
	}
	if (req->raw_query == NULL) {
		v = param_nth(params, "QUERY_STRING", 0);
		req->raw_query = xstrdup(v ? v : "");
	}

	/* §2.2: X-Forwarded-Host only when trusted. */
	v = NULL;
	if (trust && (v = param_nth(params, "HTTP_X_FORWARDED_HOST", 0)) &&
	    *v != '\0')
		req->host_value = first_element(v);
	else
		req->host_value = xstrdup((v = param_nth(params, "HTTP_HOST",
		    0)) ? v : "");
	req->host = xmalloc(strlen(req->host_value) + 1);
	host_normalise(req->host, req->host_value);
	req->authority = host_authority(req->host_value);

	switch (cfg ? cfg->public_scheme : SCHEME_HTTPS) {
	case SCHEME_HTTP:
		req->scheme = "http";
		break;
	case SCHEME_AUTO:
		req->scheme = "http";
		if (is_on(param_nth(params, "HTTPS", 0)) ||
		    ((v = param_nth(params, "REQUEST_SCHEME", 0)) &&
		    strcasecmp(v, "https") == 0))
			req->scheme = "https";
		if (trust && (xfp = param_nth(params,
		    "HTTP_X_FORWARDED_PROTO", 0)) != NULL) {
			char *first = first_element(xfp);
			req->scheme = strcasecmp(first, "https") == 0 ?
			    "https" : "http";
			free(first);
		}
		break;
	default:
		req->scheme = "https";
	}

	v = param_nth(params, "REMOTE_ADDR", 0);
	if (trust && (q = param_nth(params, "HTTP_X_FORWARDED_FOR", 0)) &&
	    *q != '\0')
		req->client_ip = first_element(q);
	else
		req->client_ip = xstrdup(v ? v : "");

	req->content_length = -1;
	if ((v = param_nth(params, "CONTENT_LENGTH", 0)) != NULL && *v) {
		char *end;
		long long n = strtoll(v, &end, 10);
		if (*end == '\0' && n >= 0)
			req->content_length = n;
	}

	/* before anything parses it (GW_QUERY_MAX_*) */
	qlen = strlen(req->raw_query);
	if (qlen > GW_QUERY_MAX_BYTES ||
	    query_count(req->raw_query, qlen) > GW_QUERY_MAX_ITEMS)
		req->too_long = 1;

	/*
	 * §2.1 request checks.  Beyond the character set of §2.1 the Host
	 * value must be an RFC 3986 host[:port] (README "Where we differ"):
	 * "py.test:[evil.test]" passes the character check, and the authority
	 * is copied into the §7.2 redirects.  An empty value is the missing
	 * Host of §2.2.
	 */
	if (req->raw_path[0] != '/' ||
	    !pct_valid(req->raw_path, strlen(req->raw_path)) ||
	    has_ctl(req->raw_path) || has_ctl(req->raw_query) ||
	    !host_chars_ok(req->host_value) ||
	    (req->host_value[0] != '\0' &&
	    !host_port_valid(req->host_value, strlen(req->host_value))))
		req->bad = 1;
}

void
gw_request_free(struct gw_request *req)
{
	free(req->method);
	free(req->raw_path);
	free(req->raw_query);
	free(req->host_value);
	free(req->host);
	free(req->authority);
	free(req->client_ip);
	memset(req, 0, sizeof(*req));
}
