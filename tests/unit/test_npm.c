/*
 * Unit tests for common/npm.c: npm's package-name rules (SPEC §4.1 names
 * the forms; the rules are npm's validate-npm-package-name), the version
 * segment check, and what a request with a bad name or version gets: a
 * 400 with a JSON body, never an upstream URL that climbs out of the
 * registry's path (the "/%2e%2e/%2e%2e" finding of issue 9).
 */
#include "config.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "gateway.h"
#include "manifest.h"
#include "npm.h"
#include "xmalloc.h"

/* 200 bytes */
#define LONG200 \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static const struct {
	int		 line;
	const char	*name;
	int		 valid;
} name_tests[] = {
	{ __LINE__, "left-pad", 1 },
	{ __LINE__, "@acme/widget", 1 },
	{ __LINE__, "a", 1 },
	{ __LINE__, "lodash.merge", 1 },
	{ __LINE__, "JSONStream", 1 },		/* capitals: older packages */
	{ __LINE__, "@Types/Node", 1 },
	{ __LINE__, "under_score", 1 },
	/* validForOldPackages */
	{ __LINE__, "tilde~bang!star*(p)'q", 1 },
	{ __LINE__, "@s/_private", 1 },		/* npm checks '.' only there */
	{ __LINE__, "a..b", 1 },
	{ __LINE__, LONG200 "aaaaaaaaaaaaaa", 1 },	/* 214 */
	{ __LINE__, LONG200 "aaaaaaaaaaaaaaa", 0 },	/* 215 */
	{ __LINE__, "@" LONG200 "/aaaaaaaaaaaa", 1 },	/* 214 */
	{ __LINE__, "@" LONG200 "/aaaaaaaaaaaaa", 0 },
	{ __LINE__, "", 0 },
	{ __LINE__, ".", 0 },
	{ __LINE__, "..", 0 },
	{ __LINE__, ".hidden", 0 },
	{ __LINE__, "_private", 0 },
	{ __LINE__, "@s/.", 0 },
	{ __LINE__, "@s/..", 0 },
	{ __LINE__, "@s/.x", 0 },
	{ __LINE__, "@../x", 0 },
	{ __LINE__, "@./x", 0 },
	{ __LINE__, "@_s/x", 0 },
	{ __LINE__, "@s", 0 },
	{ __LINE__, "@/x", 0 },
	{ __LINE__, "@s/", 0 },
	{ __LINE__, "@s/a/b", 0 },
	{ __LINE__, "@s/a/../b", 0 },
	{ __LINE__, "a/b", 0 },
	{ __LINE__, "a\\b", 0 },
	{ __LINE__, "a b", 0 },
	{ __LINE__, " a", 0 },
	{ __LINE__, "a\x01", 0 },
	{ __LINE__, "caf\xc3\xa9", 0 },
	{ __LINE__, "a?b", 0 },
	{ __LINE__, "a#b", 0 },
	{ __LINE__, "a%2e", 0 },
	{ __LINE__, "a:b", 0 },
	{ __LINE__, "a@b", 0 },
	{ __LINE__, "node_modules", 0 },
	{ __LINE__, "Favicon.ico", 0 },
	{ __LINE__, "@s/node_modules", 1 },
};

static const struct {
	int		 line;
	const char	*v;
	int		 ok;
} version_tests[] = {
	{ __LINE__, "1.0.0", 1 },
	{ __LINE__, "latest", 1 },
	{ __LINE__, "2.0.0-beta.1+build.5", 1 },
	{ __LINE__, "^1.0.0", 1 },
	{ __LINE__, ">=1 <2", 1 },
	{ __LINE__, "...", 1 },
	{ __LINE__, "", 0 },
	{ __LINE__, ".", 0 },
	{ __LINE__, "..", 0 },
	{ __LINE__, "../x", 0 },
	{ __LINE__, "a/b", 0 },
	{ __LINE__, "..\\..", 0 },
};

static void
test_names(void)
{
	size_t		 i;
	const char	*why;

	for (i = 0; i < sizeof(name_tests) / sizeof(*name_tests); i++) {
		why = npm_name_invalid(name_tests[i].name,
		    strlen(name_tests[i].name));
		ok_at(name_tests[i].line, (why == NULL) == name_tests[i].valid,
		    "name row %zu (%.40s): %s", i, name_tests[i].name,
		    why != NULL ? why : "valid");
	}
	/* the length bounds the name: no NUL needed, and a NUL is no
	 * URL-friendly character */
	ok(npm_name_invalid("ab/", 2) == NULL, "name by length");
	ok(npm_name_invalid("a\0b", 3) != NULL, "a NUL inside the name");
}

static void
test_versions(void)
{
	size_t	 i;

	for (i = 0; i < sizeof(version_tests) / sizeof(*version_tests); i++)
		ok_at(version_tests[i].line, npm_version_ok(version_tests[i].v,
		    strlen(version_tests[i].v)) == version_tests[i].ok,
		    "version row %zu (%s)", i, version_tests[i].v);
	ok(!npm_version_ok("1\0", 2), "a NUL inside the version");
}

static const char manifest_text[] =
    "{\"rules\":["
    "{\"type\":\"npm-v1\",\"domain\":\"n.test\",\"package-id\":\"all\","
    "\"package-name\":\"*\",\"registry\":\"https://up.test/prefix/\"},"
    "{\"type\":\"npm-v1\",\"domain\":\"s.test\",\"package-id\":\"scope\","
    "\"package-name\":\"@s/*\",\"registry\":\"https://up.test/s\"},"
    "{\"type\":\"npm-v1\",\"domain\":\"e.test\",\"package-id\":\"exact\","
    "\"package-name\":\"..\"},"
    "{\"type\":\"catch-all-v1\",\"domain\":\"s.test\",\"package-id\":\"c\"}"
    "]}";

/* A request through gw_serve(): what it answers (proxy_serve not run). */
static const struct {
	int		 line;
	const char	*method, *host, *uri;
	int		 status;	/* 200: a proxy decision */
	const char	*body;		/* exact, or NULL: not checked */
	const char	*upstream;	/* of a proxy decision, or NULL */
	const char	*scope;
	const char	*location;	/* of a redirect, or NULL */
	const char	*error;		/* substring of ev.error, or NULL */
} route_tests[] = {
	/* good names: proxied under the registry's path, which is the
	 * scope of the redirects followed */
	{ __LINE__, "GET", "n.test", "/left-pad", 200, NULL,
	    "https://up.test/prefix/left-pad", "https://up.test/prefix/", NULL,
	    NULL },
	{ __LINE__, "GET", "n.test", "/JSONStream/1.3.5", 200, NULL,
	    "https://up.test/prefix/JSONStream/1.3.5",
	    "https://up.test/prefix/", NULL, NULL },
	{ __LINE__, "GET", "n.test", "/@s%2fp/latest", 200, NULL,
	    "https://up.test/prefix/@s%2fp/latest", "https://up.test/prefix/",
	    NULL, NULL },
	{ __LINE__, "HEAD", "s.test", "/-/package/@s/p/dist-tags", 200, NULL,
	    "https://up.test/s/-/package/@s%2fp/dist-tags",
	    "https://up.test/s/", NULL, NULL },
	/* the finding: "/%2e%2e/%2e%2e" climbed out of /prefix/ */
	{ __LINE__, "GET", "n.test", "/%2e%2e/%2e%2e", 400,
	    "{\"error\":\"invalid package name: a name or scope cannot start "
	    "with '.'\"}", NULL, NULL, NULL, "cannot start with '.'" },
	{ __LINE__, "GET", "n.test", "/%2E%2E", 400, NULL, NULL, NULL, NULL,
	    "invalid package name" },
	{ __LINE__, "GET", "n.test", "/.npmrc", 400, NULL, NULL, NULL, NULL,
	    NULL },
	{ __LINE__, "GET", "n.test", "/_all", 400, NULL, NULL, NULL, NULL,
	    "'_'" },
	{ __LINE__, "GET", "n.test", "/node_modules", 400, NULL, NULL, NULL,
	    NULL, "reserved" },
	{ __LINE__, "GET", "n.test", "/a%2Fb", 400, NULL, NULL, NULL, NULL,
	    "URL-friendly" },
	{ __LINE__, "GET", "n.test", "/a%20b/1.0.0", 400, NULL, NULL, NULL,
	    NULL, NULL },
	{ __LINE__, "GET", "n.test", "/caf%C3%A9", 400, NULL, NULL, NULL,
	    NULL, NULL },
	{ __LINE__, "GET", "n.test", "/@s%2f..", 400, NULL, NULL, NULL, NULL,
	    NULL },
	{ __LINE__, "GET", "n.test", "/@s%2f%2e%2e/x", 400, NULL, NULL, NULL,
	    NULL, NULL },
	{ __LINE__, "GET", "n.test", "/@%2e%2e/x", 400, NULL, NULL, NULL,
	    NULL, NULL },
	{ __LINE__, "GET", "n.test", "/@s%2fa%2fb", 400, NULL, NULL, NULL,
	    NULL, NULL },
	{ __LINE__, "GET", "n.test", "/-/package/%2e%2e/dist-tags", 400, NULL,
	    NULL, NULL, NULL, NULL },
	/* a bad version or tag */
	{ __LINE__, "GET", "n.test", "/left-pad/%2e%2e", 400,
	    "{\"error\":\"invalid version or tag\"}", NULL, NULL, NULL,
	    "invalid version or tag" },
	{ __LINE__, "GET", "n.test", "/left-pad/.", 400, NULL, NULL, NULL,
	    NULL, NULL },
	{ __LINE__, "GET", "n.test", "/left-pad/..%2Fadmin", 400, NULL, NULL,
	    NULL, NULL, NULL },
	{ __LINE__, "GET", "n.test", "/left-pad/%5C..", 400, NULL, NULL,
	    NULL, NULL, NULL },
	/* tarballs too (the 307 is built from the same name) */
	{ __LINE__, "GET", "n.test", "/%2e%2e/-/x-1.0.0.tgz", 400, NULL,
	    NULL, NULL, NULL, NULL },
	{ __LINE__, "GET", "n.test", "/left-pad/-/left-pad-1.3.0.tgz", 307,
	    NULL, NULL, NULL,
	    "https://up.test/prefix/left-pad/-/left-pad-1.3.0.tgz", NULL },
	/* a rule for the scope only: a bad name in it is refused, other
	 * names are not claimed (the catch-all answers them, 200) */
	{ __LINE__, "GET", "s.test", "/@s/.x", 400, NULL, NULL, NULL, NULL,
	    NULL },
	{ __LINE__, "GET", "s.test", "/.x", 200, NULL, NULL, NULL, NULL,
	    NULL },
	/* an exact rule for a name npm refuses still gets no request out */
	{ __LINE__, "GET", "e.test", "/%2e%2e", 400, NULL, NULL, NULL, NULL,
	    NULL },
	/* the method is checked first (SPEC §4.2) */
	{ __LINE__, "PUT", "n.test", "/%2e%2e", 405, NULL, NULL, NULL, NULL,
	    NULL },
};

static void
test_routes(void)
{
	struct manifest_diag	 d;
	struct manifest		*m = NULL;
	struct gw_config	 cfg;
	struct gw_ctx		 ctx;
	struct gw_request	 req;
	struct gw_response	 resp;
	struct gw_event		 ev;
	struct buf		 b = BUF_INIT;
	char			*params[5];
	size_t			 i, k;
	cJSON			*j;

	memset(&d, 0, sizeof(d));
	if (!ok(manifest_parse("t.json", manifest_text,
	    sizeof(manifest_text) - 1, &m, &d) == 0, "test manifest loads: %s",
	    buf_cstr(&d.errors)))
		return;
	manifest_diag_free(&d);
	gw_config_defaults(&cfg);
	memset(&ctx, 0, sizeof(ctx));
	ctx.manifest = m;
	ctx.config = &cfg;

	for (i = 0; i < sizeof(route_tests) / sizeof(*route_tests); i++) {
		buf_printf(&b, "REQUEST_METHOD=%s", route_tests[i].method);
		params[0] = buf_steal(&b);
		buf_printf(&b, "REQUEST_URI=%s", route_tests[i].uri);
		params[1] = buf_steal(&b);
		buf_printf(&b, "HTTP_HOST=%s", route_tests[i].host);
		params[2] = buf_steal(&b);
		params[3] = xstrdup("REMOTE_ADDR=127.0.0.1");
		params[4] = NULL;
		gw_request_init(&req, params, &cfg);
		gw_serve(&ctx, &req, &resp, &ev);

		is_int_at(route_tests[i].line, resp.plan != GW_PLAN_ANSWER ? 200 : resp.status,
		    route_tests[i].status, "%s %s%s: status",
		    route_tests[i].method, route_tests[i].host,
		    route_tests[i].uri);
		if (route_tests[i].status == 400) {
			is_str_at(route_tests[i].line, resp_get_header(&resp,
			    "Content-Type"), "application/json",
			    "%s: JSON", route_tests[i].uri);
			j = cJSON_Parse(buf_cstr(&resp.body));
			ok_at(route_tests[i].line, j != NULL &&
			    cJSON_IsString(cJSON_GetObjectItem(j, "error")),
			    "%s: {\"error\": \"...\"} (%s)",
			    route_tests[i].uri, buf_cstr(&resp.body));
			cJSON_Delete(j);
			is_str_at(route_tests[i].line, gw_type_name(ev.type),
			    "npm", "%s: an npm event", route_tests[i].uri);
		}
		if (route_tests[i].body != NULL)
			is_str_at(route_tests[i].line, buf_cstr(&resp.body),
			    route_tests[i].body, "%s: body",
			    route_tests[i].uri);
		if (route_tests[i].upstream != NULL) {
			is_str_at(route_tests[i].line, resp.upstream,
			    route_tests[i].upstream, "%s: upstream",
			    route_tests[i].uri);
			is_str_at(route_tests[i].line, resp.upstream_scope,
			    route_tests[i].scope, "%s: redirect scope",
			    route_tests[i].uri);
		}
		/* whatever the answer, no upstream URL ever climbs */
		ok_at(route_tests[i].line, resp.upstream == NULL ||
		    (strstr(resp.upstream, "/../") == NULL &&
		    strstr(resp.upstream, "/./") == NULL &&
		    (strlen(resp.upstream) < 3 || strcmp(resp.upstream +
		    strlen(resp.upstream) - 3, "/..") != 0)),
		    "%s: no dot segment upstream (%s)", route_tests[i].uri,
		    resp.upstream ? resp.upstream : "none");
		if (route_tests[i].location != NULL)
			is_str_at(route_tests[i].line, resp_get_header(&resp,
			    "Location"), route_tests[i].location,
			    "%s: Location", route_tests[i].uri);
		if (route_tests[i].error != NULL)
			ok_at(route_tests[i].line, ev.error != NULL &&
			    strstr(ev.error, route_tests[i].error) != NULL,
			    "%s: event error has \"%s\" (%s)",
			    route_tests[i].uri, route_tests[i].error,
			    ev.error ? ev.error : "null");

		gw_event_free(&ev);
		gw_response_free(&resp);
		gw_request_free(&req);
		for (k = 0; k < 4; k++)
			free(params[k]);
	}
	buf_free(&b);
	manifest_unref(m);
}

int
main(void)
{
	test_names();
	test_versions();
	test_routes();
	return done_testing();
}
