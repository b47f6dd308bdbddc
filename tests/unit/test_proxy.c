/* Unit tests for the pure parts of common/proxy.c (SPEC §3.5): the response
 * header allow-list, the forwarded request headers (every Accept kept, an
 * empty value counting as absent) and the redirect decision. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "../tap.h"
#include "buf.h"
#include "gateway.h"
#include "proxy.h"
#include "util.h"

static const struct {
	int		 line;
	const char	*name;
	const char	*want;		/* canonical spelling, or NULL */
} allowed_tests[] = {
	{ __LINE__, "Content-Type", "Content-Type" },
	{ __LINE__, "content-type", "Content-Type" },
	{ __LINE__, "CONTENT-LENGTH", "Content-Length" },
	{ __LINE__, "content-encoding", "Content-Encoding" },
	{ __LINE__, "content-range", "Content-Range" },
	{ __LINE__, "accept-ranges", "Accept-Ranges" },
	{ __LINE__, "docker-content-digest", "Docker-Content-Digest" },
	{ __LINE__, "Docker-Distribution-API-Version",
	    "Docker-Distribution-Api-Version" },
	{ __LINE__, "etag", "ETag" },
	{ __LINE__, "last-modified", "Last-Modified" },
	{ __LINE__, "cache-control", "Cache-Control" },
	{ __LINE__, "www-authenticate", "WWW-Authenticate" },
	{ __LINE__, "link", "Link" },
	{ __LINE__, "retry-after", "Retry-After" },
	{ __LINE__, "warning", "Warning" },
	{ __LINE__, "oci-subject", "OCI-Subject" },
	{ __LINE__, "OCI-Filters-Applied", "OCI-Filters-Applied" },
	/* hop-by-hop and private headers never pass */
	{ __LINE__, "Transfer-Encoding", NULL },
	{ __LINE__, "Connection", NULL },
	{ __LINE__, "Keep-Alive", NULL },
	{ __LINE__, "Set-Cookie", NULL },
	{ __LINE__, "X-Stub-Private", NULL },
	{ __LINE__, "Location", NULL },		/* redirects: handled apart */
	{ __LINE__, "Status", NULL },
	{ __LINE__, "Content-Typ", NULL },
	{ __LINE__, "Content-Type2", NULL },
	{ __LINE__, "", NULL },
};

/* The request headers, for a vector of CGI params, joined with " | ". */
static const struct {
	int		 line;
	const char	*params[8];
	const char	*want;
} header_tests[] = {
	{ __LINE__, { NULL }, "" },
	/* repeated parameters (nginx 1.22) stay separate lines, in order */
	{ __LINE__, { "HTTP_ACCEPT=application/vnd.oci.image.manifest.v1+json",
	    "HTTP_ACCEPT=application/vnd.docker.distribution.manifest.v2+json",
	    "HTTP_ACCEPT=application/vnd.oci.image.index.v1+json", NULL },
	    "Accept: application/vnd.oci.image.manifest.v1+json | "
	    "Accept: application/vnd.docker.distribution.manifest.v2+json | "
	    "Accept: application/vnd.oci.image.index.v1+json" },
	/* a joined value (Apache, lighttpd) stays one line */
	{ __LINE__, { "HTTP_ACCEPT=a/b, c/d;q=0.5", NULL },
	    "Accept: a/b, c/d;q=0.5" },
	/* empty values count as absent */
	{ __LINE__, { "HTTP_ACCEPT=", "HTTP_ACCEPT=a/b", "HTTP_AUTHORIZATION=",
	    NULL }, "Accept: a/b" },
	{ __LINE__, { "HTTP_AUTHORIZATION=", "HTTP_AUTHORIZATION=Bearer t",
	    NULL }, "Authorization: Bearer t" },
	/* Accept-Encoding is not Accept; the gateway never asks for it */
	{ __LINE__, { "HTTP_ACCEPT_ENCODING=gzip", NULL }, "" },
	/* the five forwarded headers, and nothing else */
	{ __LINE__, { "HTTP_USER_AGENT=skopeo/1.9.3", "HTTP_RANGE=bytes=0-9",
	    "HTTP_IF_NONE_MATCH=\"d1\"", "HTTP_AUTHORIZATION=Basic eDp5",
	    "HTTP_COOKIE=a=b", "HTTP_X_FORWARDED_FOR=10.0.0.1",
	    "HTTP_HOST=reg.test", NULL },
	    "Authorization: Basic eDp5 | Range: bytes=0-9 | "
	    "If-None-Match: \"d1\" | User-Agent: skopeo/1.9.3" },
	/* the first non-empty value of the single headers */
	{ __LINE__, { "HTTP_RANGE=bytes=0-1", "HTTP_RANGE=bytes=5-6", NULL },
	    "Range: bytes=0-1" },
	/* a value that would split the request is never forwarded */
	{ __LINE__, { "HTTP_ACCEPT=a/b\r\nX-Evil: 1", "HTTP_ACCEPT=c/d",
	    "HTTP_USER_AGENT=x\ny", NULL }, "Accept: c/d" },
	/* CGI names: Content-Type is no request header to forward */
	{ __LINE__, { "CONTENT_TYPE=text/plain", "REQUEST_METHOD=GET", NULL },
	    "" },
};

/*
 * The redirect decision (SPEC §3.5 as this build narrows it: proxy.c,
 * "Redirects"): followed only inside the scope the rule names, every other
 * Location handed back to the client as a 307, which the proxy never
 * contacts, so no Authorization goes anywhere but the rule's registry.
 */
static const struct {
	int			 line;
	int			 status;
	const char		*base;
	const char		*location;
	const char		*scope;
	enum proxy_redirect	 want;
	const char		*target;	/* NULL: not checked */
} redirect_tests[] = {
#define B "https://r.test/v2/lib/a/manifests/latest"
#define S "https://r.test/v2/lib/a/"
#define F PROXY_REDIR_FOLLOW
#define C PROXY_REDIR_CLIENT
	/* the same repository on the same registry: followed */
	{ __LINE__, 302, B, "/v2/lib/a/manifests/sha256:1", S, F,
	    "https://r.test/v2/lib/a/manifests/sha256:1" },
	{ __LINE__, 303, B, "../blobs/sha256:2", S, F,
	    "https://r.test/v2/lib/a/blobs/sha256:2" },
	{ __LINE__, 307, B, "https://r.test/v2/lib/a/blobs/x", S, F, NULL },
	{ __LINE__, 307, B, "HTTPS://R.Test/v2/lib/a/blobs/x", S, F, NULL },
	{ __LINE__, 307, B, "https://r.test:443/v2/lib/a/blobs/x", S, F,
	    NULL },
	{ __LINE__, 307, B, "//r.test/v2/lib/a/blobs/x", S, F, NULL },
	{ __LINE__, 307, B, "/v2/lib/a/tags/list?n=2&last=b", S, F,
	    "https://r.test/v2/lib/a/tags/list?n=2&last=b" },
	{ __LINE__, 307, B, "/v2/lib/a", S, F, "https://r.test/v2/lib/a" },
	{ __LINE__, 307, "http://127.0.0.1:5000/v2/x/y/blobs/z",
	    "/v2/x/y/blobs/q", "http://127.0.0.1:5000/v2/x/y/", F,
	    "http://127.0.0.1:5000/v2/x/y/blobs/q" },
	{ __LINE__, 307, "http://[::1]:5000/v2/x/blobs/z",
	    "http://[::1]:5000/v2/x/blobs/q", "http://[::1]:5000/v2/x/", F,
	    NULL },
	{ __LINE__, 307, "http://h/v2/x/blobs/z", "http://h:80/v2/x/blobs/q",
	    "http://h/v2/x/", F, NULL },
	{ __LINE__, 307, "http://h:80/v2/x/blobs/z", "http://h/v2/x/blobs/q",
	    "http://h:80/v2/x/", F, NULL },
	/* the API root: /v2 and /v2/ only */
	{ __LINE__, 301, "https://r.test/v2/", "/v2", "https://r.test/v2", F,
	    "https://r.test/v2" },
	{ __LINE__, 308, "https://r.test/v2", "/v2/", "https://r.test/v2", F,
	    "https://r.test/v2/" },
	{ __LINE__, 302, "https://r.test/v2/", "/v2/lib/a/manifests/x",
	    "https://r.test/v2", C, NULL },
	{ __LINE__, 302, "https://r.test/v2/", "/v2x", "https://r.test/v2",
	    C, NULL },
	/* another origin: handed back */
	{ __LINE__, 307, B, "https://mirror.test/v2/lib/a/blobs/x", S, C,
	    "https://mirror.test/v2/lib/a/blobs/x" },
	{ __LINE__, 307, B, "https://r.test:5000/v2/lib/a/blobs/x", S, C,
	    NULL },
	{ __LINE__, 307, B, "http://r.test/v2/lib/a/blobs/x", S, C, NULL },
	{ __LINE__, 307, B, "https://r.test.:443/v2/lib/a/blobs/x", S, C,
	    NULL },
	{ __LINE__, 307, B, "https://r.test.evil/v2/lib/a/blobs/x", S, C,
	    NULL },
	{ __LINE__, 307, B, "//mirror.test/v2/lib/a/blobs/x", S, C,
	    "https://mirror.test/v2/lib/a/blobs/x" },
	{ __LINE__, 307, B, "///v2/lib/a/blobs/x", S, C, NULL },
	{ __LINE__, 307, B, "https:/v2/lib/a/blobs/x", S, C,
	    "https://v2/lib/a/blobs/x" },	/* libcurl's reading */
	{ __LINE__, 307, B, "https://evil/v2/lib/a/../../../../v2/lib/a/x",
	    S, C, "https://evil/v2/lib/a/../../../../v2/lib/a/x" },
	/* userinfo, even naming the registry, and backslashes */
	{ __LINE__, 307, B, "https://r.test@evil/v2/lib/a/blobs/x", S, C,
	    NULL },
	{ __LINE__, 307, B, "https://user:pw@r.test/v2/lib/a/blobs/x", S, C,
	    NULL },
	{ __LINE__, 307, B, "http://reg@evil/", S, C, NULL },
	{ __LINE__, 307, B, "https://r.test\\@evil/v2/lib/a/blobs/x", S, C,
	    NULL },
	{ __LINE__, 307, B, "/v2/lib/a\\..\\..\\other/blobs/x", S, C, NULL },
	/* numeric hosts that are not written as the registry's */
	{ __LINE__, 307, "http://127.0.0.1/v2/x/blobs/z",
	    "http://0x7f000001/v2/x/blobs/q", "http://127.0.0.1/v2/x/", C,
	    "http://0x7f000001/v2/x/blobs/q" },	/* as written */
	{ __LINE__, 307, "http://127.0.0.1/v2/x/blobs/z",
	    "http://127.1/v2/x/blobs/q", "http://127.0.0.1/v2/x/", C, NULL },
	{ __LINE__, 307, "http://127.0.0.1/v2/x/blobs/z",
	    "http://2130706433/v2/x/blobs/q", "http://127.0.0.1/v2/x/", C,
	    NULL },
	{ __LINE__, 307, "http://127.0.0.1/v2/x/blobs/z",
	    "http://0177.0.0.1/v2/x/blobs/q", "http://127.0.0.1/v2/x/", C,
	    NULL },
	{ __LINE__, 307, "http://127.0.0.1/v2/x/blobs/z",
	    "http://[::ffff:127.0.0.1]/v2/x/blobs/q", "http://127.0.0.1/v2/x/",
	    C, NULL },
	{ __LINE__, 307, B, "http://169.254.169.254/latest/meta-data/", S, C,
	    "http://169.254.169.254/latest/meta-data/" },
	{ __LINE__, 307, B, "http://localhost/v2/lib/a/blobs/x", S, C, NULL },
	/* another repository on the same registry */
	{ __LINE__, 302, B, "/v2/other/secret/manifests/x", S, C,
	    "https://r.test/v2/other/secret/manifests/x" },
	{ __LINE__, 302, B, "/v2/lib/ab/manifests/x", S, C, NULL },
	{ __LINE__, 302, B, "/v2/myorg/app/../../other", "https://r.test/v2/"
	    "myorg/app/", C, "https://r.test/v2/other" },
	{ __LINE__, 302, B, "/v2/lib/a/../../other/secret/manifests/x", S, C,
	    "https://r.test/v2/other/secret/manifests/x" },
	{ __LINE__, 302, B, "/v2/lib/a/%2e%2e/%2E%2e/other/manifests/x", S, C,
	    NULL },
	{ __LINE__, 302, B, "/v2/lib/a/.%2e/x", S, C, NULL },
	{ __LINE__, 302, B, "/v2/lib/a/x%2f..%2F..%2fother", S, C, NULL },
	{ __LINE__, 302, B, "/v2/lib/a/x%5c..%5C..", S, C, NULL },
	{ __LINE__, 302, B, "/v2/../admin", S, C, "https://r.test/admin" },
	{ __LINE__, 302, B, "/", S, C, "https://r.test/" },
	/* signed blob URLs: handed back, their queries intact */
	{ __LINE__, 307, B, "https://cdn.test/b/x?X-Amz-Signature=a%2Fc", S,
	    C, "https://cdn.test/b/x?X-Amz-Signature=a%2Fc" },
	{ __LINE__, 302, B, "ftp://files.test/v2/x", S, C,
	    "ftp://files.test/v2/x" },
	/* no scope: nothing is followed */
	{ __LINE__, 302, B, "/v2/lib/a/manifests/sha256:1", NULL, C, NULL },
	/* npm: the registry's path prefix is the scope */
	{ __LINE__, 301, "https://n.test/npm/pkg", "/npm/@s%2fp",
	    "https://n.test/npm/", F, "https://n.test/npm/@s%2fp" },
	{ __LINE__, 301, "https://n.test/npm/pkg", "/other/pkg",
	    "https://n.test/npm/", C, NULL },
	{ __LINE__, 301, "https://n.test/npm/pkg", "/npm/%2e%2e/admin",
	    "https://n.test/npm/", C, NULL },
	{ __LINE__, 301, "https://n.test/npm/pkg", "/npmx/pkg",
	    "https://n.test/npm/", C, NULL },
	/* an npm registry with credentials in the manifest: followed on
	 * its origin; what is handed back never shows them */
	{ __LINE__, 302, "https://u:p@n.test/npm/pkg", "/npm/x",
	    "https://u:p@n.test/npm/", F, "https://u:p@n.test/npm/x" },
	{ __LINE__, 302, "https://u:p@n.test/npm/pkg", "/other/x",
	    "https://u:p@n.test/npm/", C, "https://n.test/other/x" },
	{ __LINE__, 302, "https://u:p@n.test/npm/pkg", "x?y",
	    "https://u:p@n.test/npm/", F, "https://u:p@n.test/npm/x?y" },
	{ __LINE__, 302, "https://u:p@n.test/npm/pkg",
	    "https://n.test/other/x", "https://u:p@n.test/npm/", C,
	    "https://n.test/other/x" },
	{ __LINE__, 302, "https://u:p@n.test/npm/pkg",
	    "https://u:p@n.test/npm/x", "https://u:p@n.test/npm/", C,
	    "https://u:p@n.test/npm/x" },	/* (its own, as written) */
	/* control bytes, spaces and non-ASCII: escaped, never a 502 */
	{ __LINE__, 307, B, "https://cdn.test/a b", S, C,
	    "https://cdn.test/a%20b" },
	{ __LINE__, 307, B, "https://cdn.test/a\x01\x7f\xc3\xa9?q=\t", S, C,
	    "https://cdn.test/a%01%7F%C3%A9?q=%09" },
	{ __LINE__, 302, B, "/v2/lib/a/blobs/x\x01y", S, F,
	    "https://r.test/v2/lib/a/blobs/x%01y" },
	/* not redirects */
	{ __LINE__, 200, B, "/v2/x", S, PROXY_REDIR_NONE, NULL },
	{ __LINE__, 300, B, "/v2/x", S, PROXY_REDIR_NONE, NULL },
	{ __LINE__, 304, B, "/v2/x", S, PROXY_REDIR_NONE, NULL },
	{ __LINE__, 305, B, "/v2/x", S, PROXY_REDIR_NONE, NULL },
	{ __LINE__, 302, B, NULL, S, PROXY_REDIR_NONE, NULL },
	{ __LINE__, 302, B, "", S, PROXY_REDIR_NONE, NULL },
	/* unusable */
	{ __LINE__, 302, B, "http://", S, PROXY_REDIR_BAD, NULL },
#undef B
#undef S
#undef F
#undef C
};

static void
test_allowed(void)
{
	size_t	 i;

	for (i = 0; i < sizeof(allowed_tests) / sizeof(*allowed_tests); i++)
		is_str_at(allowed_tests[i].line,
		    proxy_header_allowed(allowed_tests[i].name,
		    strlen(allowed_tests[i].name)), allowed_tests[i].want,
		    "allowed %s", allowed_tests[i].name);
	/* the length bounds the name: no NUL needed */
	is_str(proxy_header_allowed("ETagX", 4), "ETag", "name by length");
}

static void
test_headers(void)
{
	struct gw_request	 req;
	struct buf		 b = BUF_INIT;
	char			**v;
	size_t			 i, k;

	for (i = 0; i < sizeof(header_tests) / sizeof(*header_tests); i++) {
		gw_request_init(&req, (char *const *)(uintptr_t)
		    header_tests[i].params, NULL);
		v = proxy_request_headers(&req);
		buf_reset(&b);
		for (k = 0; v[k] != NULL; k++) {
			if (k > 0)
				buf_adds(&b, " | ");
			buf_adds(&b, v[k]);
		}
		is_str_at(header_tests[i].line, buf_cstr(&b),
		    header_tests[i].want, "request headers, row %zu", i);
		proxy_headers_free(v);
		gw_request_free(&req);
	}
	buf_free(&b);
}

static void
test_redirects(void)
{
	enum proxy_redirect	 got;
	char			*target, *loc;
	size_t			 i;

	for (i = 0; i < sizeof(redirect_tests) / sizeof(*redirect_tests);
	    i++) {
		got = proxy_redirect_decide(redirect_tests[i].status,
		    redirect_tests[i].base, redirect_tests[i].location,
		    redirect_tests[i].scope, &target);
		/* (escaped: TAP names stay printable) */
		loc = url_escape_ctl(redirect_tests[i].location ?
		    redirect_tests[i].location : "(none)");
		is_int_at(redirect_tests[i].line, got, redirect_tests[i].want,
		    "%d %s in %s: decision", redirect_tests[i].status, loc,
		    redirect_tests[i].scope ? redirect_tests[i].scope :
		    "no scope");
		if (redirect_tests[i].want == PROXY_REDIR_NONE ||
		    redirect_tests[i].want == PROXY_REDIR_BAD)
			ok_at(redirect_tests[i].line, target == NULL,
			    "%d %s: no target", redirect_tests[i].status, loc);
		else if (redirect_tests[i].target != NULL)
			is_str_at(redirect_tests[i].line, target,
			    redirect_tests[i].target, "%d %s: target",
			    redirect_tests[i].status, loc);
		free(loc);
		free(target);
	}
}

/* proxy_offload_target(): the X-Accel-Redirect target (offload mode). */
static const struct {
	int		 line;
	const char	*prefix;
	const char	*upstream;
	const char	*want;		/* NULL: not offloadable */
} offload_tests[] = {
	{ __LINE__, "/_gw_offload",
	    "http://127.0.0.1:5000/v2/e2e/hello/blobs/sha256:ab",
	    "/_gw_offload/http/127.0.0.1:5000/v2/e2e/hello/blobs/sha256:ab" },
	{ __LINE__, "/_gw_offload",
	    "https://registry-1.docker.io/v2/library/x/manifests/1?a=b&c",
	    "/_gw_offload/https/registry-1.docker.io/v2/library/x/"
	    "manifests/1?a=b&c" },
	{ __LINE__, "/x/y", "https://[::1]:8443/v2/",
	    "/x/y/https/[::1]:8443/v2/" },
	/* the raw path stays as the client sent it, %XX included */
	{ __LINE__, "/o", "http://h/v2/a%2Fb/tags/list",
	    "/o/http/h/v2/a%2Fb/tags/list" },
	{ __LINE__, "/o", "http://h/v2/\x01\xc3\xa9",
	    "/o/http/h/v2/%01%C3%A9" },
	{ __LINE__, "/o", "ftp://h/v2/", NULL },
	{ __LINE__, "/o", "http://h", NULL },
	{ __LINE__, "/o", "http:///v2/", NULL },
	{ __LINE__, "/o", "", NULL },
};

static void
test_offload(void)
{
	char	*got;
	size_t	 i;

	for (i = 0; i < sizeof(offload_tests) / sizeof(*offload_tests); i++) {
		got = proxy_offload_target(offload_tests[i].prefix,
		    offload_tests[i].upstream);
		is_str_at(offload_tests[i].line, got, offload_tests[i].want,
		    "offload target of %s", offload_tests[i].upstream);
		free(got);
	}
}

int
main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	test_allowed();
	test_headers();
	test_redirects();
	test_offload();
	curl_global_cleanup();
	return done_testing();
}
