/*
 * Routing tests for common/gateway.c and the handlers it calls, driven
 * through in-memory requests (no sockets), as h2o's handler tests are.
 * The conformance suite covers the golden cases; these rows cover the
 * decisions around them: reserved endpoints, docker path parsing, npm
 * forms, precedence, wildcards, the missing-manifest answer and explain.
 */
#include "config.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "gateway.h"
#include "manifest.h"
#include "xmalloc.h"

static const char manifest_text[] =
"{\"rules\":["
/* 0 */ "{\"type\":\"docker-v1\",\"domain\":\"d.test\",\"package-id\":\"p1\","
" \"repository-name\":\"library/hello\",\"registry\":\"docker.io\"},"
/* 1 */ "{\"type\":\"docker-v2\",\"domain\":\"d.test\",\"rule-id\":\"r2\","
" \"pattern\":\"acme/*\",\"registry\":\"http://127.0.0.1:5000/\"},"
/* 2 */ "{\"type\":\"npm-v1\",\"domain\":\"n.test\",\"package-id\":\"all\","
" \"package-name\":\"*\"},"
/* 3 */ "{\"type\":\"npm-v1\",\"domain\":\"n.test\",\"package-id\":\"exact\","
" \"package-name\":\"left-pad\",\"registry\":\"https://r.test/npm/\"},"
/* 4 */ "{\"type\":\"catch-all-v1\",\"domain\":\"*.w.test\",\"package-id\":\"wild\","
" \"redirect-target-domain\":\"wild.example\"},"
/* 5 */ "{\"type\":\"catch-all-v1\",\"domain\":\"*.x.w.test\",\"package-id\":\"wilder\","
" \"redirect-target-domain\":\"wilder.example\"},"
/* 6 */ "{\"type\":\"catch-all-v1\",\"domain\":\"exact.w.test\",\"package-id\":\"exact\"},"
/* 7 */ "{\"type\":\"pixel-v1\",\"domain\":\"px.test\",\"package-id\":\"px\"},"
/* 8 */ "{\"type\":\"telemetry-v1\",\"domain\":\"px.test\",\"package-id\":\"t\","
" \"incoming-path\":\"/ev?ignored=1\",\"access-tokens\":[]},"
/* 9 */ "{\"type\":\"file-v1\",\"domain\":\"f.test\",\"package-id\":\"pre\","
" \"incoming-path\":\"/pre{+path}\","
" \"outgoing-url\":\"https://dl.example.com{+path}\"},"
/* 10 */ "{\"type\":\"file-v1\",\"domain\":\"f.test\",\"package-id\":\"hp\","
" \"incoming-path\":\"/hp/{+sub}/p\","
" \"outgoing-url\":\"https://{+sub}.example.com/p\"},"
/* 11 */ "{\"type\":\"file-v2\",\"domain\":\"f.test\",\"package-id\":\"fb\","
" \"incoming-path\":\"^/hp/\",\"outgoing-url\":\"https://fallback.example/\"},"
/* 12 */ "{\"type\":\"python-v1\",\"domain\":\"py.test\","
" \"package-id\":\"demo\","
" \"package-name\":\"Demo\",\"file-name\":\"demo-1.0.tar.gz\","
" \"version\":\"1.0\","
" \"backend-url\":\"https://files.example/demo-1.0.tar.gz\"}"
"]}";

/* A well-formed digest (sha256 takes 64 lower-case hex digits). */
#define DG "sha256:" \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct row {
	int		 line;
	const char	*method, *host, *uri;
	const char	*hdr;		/* one extra NAME=value, or NULL */
	int		 status;	/* proxy decisions: the untouched 200;
					 * proxy_serve() answers them */
	const char	*location;	/* NULL: no Location */
	int		 proxy;
	const char	*upstream;
	const char	*type;
	int		 rule_index;
	const char	*ev_has;	/* substring of the event line, or NULL */
};

static const struct row rows[] = {
	/* reserved endpoints, on every host */
	{ __LINE__, "GET", "nowhere.test", "/-/ping", NULL, 200, NULL, 0, NULL,
	    "reserved", -1, NULL },
	{ __LINE__, "POST", "d.test", "/-/ping", NULL, 405, NULL, 0, NULL,
	    "reserved", -1, NULL },
	{ __LINE__, "GET", "d.test", "/-/health?x", NULL, 200, NULL, 0, NULL,
	    "reserved", -1, NULL },
	{ __LINE__, "GET", "d.test", "/-/metrics", NULL, 200, NULL, 0, NULL,
	    "reserved", -1, NULL },
	{ __LINE__, "GET", "d.test", "/-/metrics", "REMOTE_ADDR=192.0.2.7",
	    403, NULL, 0, NULL, "reserved", -1, NULL },
	/* docker */
	{ __LINE__, "GET", "d.test", "/v2/library/hello/manifests/1.0",
	    "HTTP_USER_AGENT=docker/27.0", 307,
	    "https://registry-1.docker.io/v2/library/hello/manifests/1.0", 0,
	    NULL, "docker", 0, "\"image\":\"library/hello\",\"reference\":\"1.0\"" },
	{ __LINE__, "GET", "d.test", "/v2/library/hello/tags/list?n=2&last=a",
	    "HTTP_USER_AGENT=docker/27.0", 307,
	    "https://registry-1.docker.io/v2/library/hello/tags/list?n=2&last=a",
	    0, NULL, "docker", 0, "\"reference\":\"list\"" },
	{ __LINE__, "GET", "d.test", "/v2/acme/tool/blobs/" DG,
	    "HTTP_USER_AGENT=skopeo/1.9", 200, NULL, 1,
	    "http://127.0.0.1:5000/v2/acme/tool/blobs/" DG, "docker", 1,
	    "\"rule-id\":\"r2\"" },
	{ __LINE__, "GET", "d.test", "/v2/acme/tool/blobs/" DG,
	    "HTTP_AUTHORIZATION=basic dXNlcg==", 200, NULL, 1,
	    "http://127.0.0.1:5000/v2/acme/tool/blobs/" DG, "docker", 1,
	    NULL },
	{ __LINE__, "GET", "d.test", "/v2/acme/tool/referrers/" DG
	    "?artifactType=x",
	    "HTTP_USER_AGENT=docker/27", 307,
	    "http://127.0.0.1:5000/v2/acme/tool/referrers/" DG
	    "?artifactType=x",
	    0, NULL, "docker", 1, NULL },
	{ __LINE__, "GET", "d.test", "/v2/acme/a/b/manifests/x", NULL, 404,
	    NULL, 0, NULL, "none", -1, NULL },
	{ __LINE__, "GET", "d.test", "/v2/library/hello/wrong/x", NULL, 404,
	    NULL, 0, NULL, "none", -1, NULL },
	{ __LINE__, "PUT", "d.test", "/v2/library/hello/manifests/x", NULL,
	    405, NULL, 0, NULL, "docker", 0, "\"image\":\"\"" },
	{ __LINE__, "GET", "d.test", "/v2", "HTTP_USER_AGENT=docker/27", 307,
	    "https://registry-1.docker.io/v2", 0, NULL, "docker", 0,
	    "\"package-id\":null" },
	{ __LINE__, "GET", "d.test", "/other", NULL, 404, NULL, 0, NULL,
	    "none", -1, NULL },
	/* docker paths outside the OCI grammar: 400 before any rule, never
	 * forwarded (issue 9); a valid name is rebuilt, not copied */
	{ __LINE__, "GET", "d.test", "/v2/acme/..%2Flibrary%2Fhello/tags/list",
	    "HTTP_USER_AGENT=skopeo/1.9", 400, NULL, 0, NULL, "none", -1,
	    "\"error\":\"invalid repository name\"" },
	{ __LINE__, "GET", "d.test", "/v2/library/hello/manifests/"
	    "..%2F..%2F..%2Facme%2Fx%2Fmanifests%2Ftop", "HTTP_USER_AGENT=x",
	    400, NULL, 0, NULL, "none", -1, "\"error\":\"invalid tag\"" },
	{ __LINE__, "GET", "d.test", "/v2/library/hello/blobs/sha256:ab",
	    "HTTP_USER_AGENT=docker/27", 400, NULL, 0, NULL, "none", -1,
	    "\"error\":\"invalid digest\"" },
	{ __LINE__, "HEAD", "d.test", "/v2/acme/%2e%2e/manifests/1.0", NULL,
	    400, NULL, 0, NULL, "none", -1, NULL },
	{ __LINE__, "PUT", "d.test", "/v2/acme/..%2Fx/manifests/1.0", NULL,
	    405, NULL, 0, NULL, "docker", 0, NULL },
	{ __LINE__, "GET", "d.test", "/v2/acme/%74ool/manifests/1.0?a=%2F..",
	    "HTTP_USER_AGENT=docker/27", 307,
	    "http://127.0.0.1:5000/v2/acme/tool/manifests/1.0?a=%2F..", 0, NULL,
	    "docker", 1, "\"image\":\"acme/tool\",\"reference\":\"1.0\"" },
	/* npm */
	{ __LINE__, "GET", "n.test", "/left-pad", NULL, 200, NULL, 1,
	    "https://r.test/npm/left-pad", "npm", 3, "\"version\":null" },
	{ __LINE__, "GET", "n.test", "/left-pad/latest", NULL, 200, NULL, 1,
	    "https://r.test/npm/left-pad/latest", "npm", 3,
	    "\"version\":\"latest\"" },
	{ __LINE__, "GET", "n.test", "/@s/p", NULL, 200, NULL, 1,
	    "https://registry.npmjs.org/@s%2fp", "npm", 2, "\"package\":\"@s/p\"" },
	{ __LINE__, "GET", "n.test", "/@s%2Fp/1.0.0", NULL, 200, NULL, 1,
	    "https://registry.npmjs.org/@s%2fp/1.0.0", "npm", 2, NULL },
	{ __LINE__, "GET", "n.test", "/-/package/@s%2fp/dist-tags", NULL, 200,
	    NULL, 1, "https://registry.npmjs.org/-/package/@s%2fp/dist-tags",
	    "npm", 2, NULL },
	{ __LINE__, "GET", "n.test", "/@s/p/-/p-2.0.0-beta.1.tgz", NULL, 307,
	    "https://registry.npmjs.org/@s/p/-/p-2.0.0-beta.1.tgz", 0, NULL,
	    "npm", 2, "\"version\":\"2.0.0-beta.1\"" },
	{ __LINE__, "GET", "n.test", "/x/-/other-1.0.tgz", NULL, 307,
	    "https://registry.npmjs.org/x/-/other-1.0.tgz", 0, NULL, "npm", 2,
	    "\"version\":null" },
	{ __LINE__, "POST", "n.test", "/-/npm/v1/security/advisories/bulk",
	    NULL, 307,
	    "https://r.test/npm/-/npm/v1/security/advisories/bulk", 0,
	    NULL, "npm", 3, "\"package\":null" },
	{ __LINE__, "GET", "n.test", "/-/v1/search?text=a", NULL, 307,
	    "https://r.test/npm/-/v1/search?text=a", 0, NULL, "npm", 3,
	    NULL },
	{ __LINE__, "GET", "n.test", "/-/whoami", NULL, 404, NULL, 0, NULL,
	    "none", -1, NULL },
	{ __LINE__, "GET", "n.test", "/a/b/c", NULL, 404, NULL, 0, NULL,
	    "none", -1, NULL },
	/* wildcards: exact beats wildcard, longer wildcard beats shorter */
	{ __LINE__, "GET", "a.w.test", "/p?q", NULL, 307,
	    "https://wild.example/p?q", 0, NULL, "catch-all", 4, NULL },
	{ __LINE__, "GET", "a.b.w.test", "/", NULL, 307,
	    "https://wild.example/", 0, NULL, "catch-all", 4, NULL },
	{ __LINE__, "GET", "y.x.w.test", "/", NULL, 307,
	    "https://wilder.example/", 0, NULL, "catch-all", 5, NULL },
	{ __LINE__, "GET", "Exact.W.Test.:8080", "/", NULL, 200, NULL, 0,
	    NULL, "catch-all", 6, NULL },
	{ __LINE__, "GET", "w.test", "/", NULL, 404, NULL, 0, NULL, "none",
	    -1, NULL },
	/* pixel and telemetry */
	{ __LINE__, "GET", "px.test", "/a.png?x-pxid=abc", NULL, 200, NULL, 0,
	    NULL, "pixel", 7, "\"pxid\":\"abc\"" },
	{ __LINE__, "POST", "px.test", "/a.png", NULL, 404, NULL, 0, NULL,
	    "none", -1, NULL },
	{ __LINE__, "POST", "px.test", "/ev", "HTTP_AUTHORIZATION=Bearer x",
	    401, NULL, 0, NULL, "telemetry", 8, "\"body-events\":[]" },
	{ __LINE__, "POST", "px.test", "/ev/", NULL, 404, NULL, 0, NULL,
	    "none", -1, NULL },
	/* request checks */
	{ __LINE__, "GET", "d.test", "/a%zz", NULL, 400, NULL, 0, NULL,
	    "none", -1, NULL },
	/* an outgoing-url expansion must keep the template's host (README) */
	{ __LINE__, "GET", "f.test", "/pre/x", NULL, 307,
	    "https://dl.example.com/x", 0, NULL, "file", 9,
	    "\"location\":\"https://dl.example.com/x\"" },
	{ __LINE__, "GET", "f.test", "/pre?a=1", NULL, 307,
	    "https://dl.example.com?a=1", 0, NULL, "file", 9, NULL },
	{ __LINE__, "GET", "f.test", "/pre@evil.test/x", NULL, 404, NULL, 0,
	    NULL, "none", -1, "\"location\":null,"
	    "\"proxied\":false" },
	{ __LINE__, "GET", "f.test", "/pre@evil.test/x", NULL, 404, NULL, 0,
	    NULL, "none", -1, "\"warnings\":[{\"rule-index\":9,"
	    "\"field\":\"outgoing-url\",\"message\":\"expansion refused: "
	    "a variable would write the end of the host\"}]}" },
	{ __LINE__, "GET", "f.test", "/pre.evil.test/x", NULL, 404, NULL, 0,
	    NULL, "none", -1, "\"warnings\":[{\"rule-index\":9," },
	{ __LINE__, "GET", "f.test", "/pre:1@evil.test/x", NULL, 404, NULL, 0,
	    NULL, "none", -1, "\"warnings\":[{\"rule-index\":9," },
	{ __LINE__, "GET", "f.test", "/hp/mirror/p", NULL, 307,
	    "https://mirror.example.com/p", 0, NULL, "file", 10, NULL },
	/* refused, then the next rule answers: the warning stays */
	{ __LINE__, "GET", "f.test", "/hp/evil.test%2F/p", NULL, 307,
	    "https://fallback.example/", 0, NULL, "file", 11,
	    "\"warnings\":[{\"rule-index\":10,\"field\":\"outgoing-url\"," },
	{ __LINE__, "GET", "f.test", "/hp/evil.test%23/p", NULL, 307,
	    "https://fallback.example/", 0, NULL, "file", 11,
	    "\"rule-index\":10," },
	/* Host: RFC 3986 host[:port] or 400 (README) */
	{ __LINE__, "GET", "py.test:8443", "/simple/DEMO", NULL, 301,
	    "https://py.test:8443/simple/demo/", 0, NULL, "python", 12, NULL },
	{ __LINE__, "GET", "py.test:[evil.test]", "/simple/DEMO", NULL, 400,
	    NULL, 0, NULL, "none", -1, NULL },
	{ __LINE__, "GET", "py.test:8443:1", "/simple/DEMO", NULL, 400,
	    NULL, 0, NULL, "none", -1, NULL },
	{ __LINE__, "GET", "py.test:", "/simple/DEMO", NULL, 400,
	    NULL, 0, NULL, "none", -1, NULL },
	{ __LINE__, "GET", "::1", "/-/ping", NULL, 400, NULL, 0, NULL,
	    "none", -1, NULL },
	{ __LINE__, "GET", "[::1]:8080", "/-/ping", NULL, 200, NULL, 0, NULL,
	    "reserved", -1, NULL },
	/* invalid UTF-8 in logged fields: U+FFFD plus "<key>-raw" */
	{ __LINE__, "GET", "f.test", "/caf\xe9?q=\xff%", NULL, 404, NULL, 0,
	    NULL, "none", -1, "\"path\":\"/caf\xef\xbf\xbd\","
	    "\"path-raw\":\"/caf%E9\",\"query\":\"q=\xef\xbf\xbd%\","
	    "\"query-raw\":\"q=%FF%25\",\"status\"" },
	{ __LINE__, "GET", "f.test", "/caf\xc3\xa9", "HTTP_USER_AGENT=a\xc3",
	    404, NULL, 0, NULL, "none", -1, "\"path\":\"/caf\xc3\xa9\","
	    "\"query\":\"\",\"status\"" },
	{ __LINE__, "GET", "f.test", "/x", "HTTP_USER_AGENT=a\xc3 b%",
	    404, NULL, 0, NULL, "none", -1, "\"user-agent\":\"a\xef\xbf\xbd "
	    "b%\",\"user-agent-raw\":\"a%C3%20b%25\",\"referer\":null" },
	/* a tag that is not UTF-8 is not an OCI tag either (docker.c) */
	{ __LINE__, "GET", "d.test", "/v2/library/hello/manifests/\xe9",
	    "HTTP_USER_AGENT=docker/27.0", 400, NULL, 0, NULL, "none", -1,
	    "\"path-raw\":\"/v2/library/hello/manifests/%E9\"" },
};

static void
run(struct gw_ctx *ctx, const struct row *r)
{
	struct gw_request	 req;
	struct gw_response	 resp;
	struct gw_event		 ev;
	struct buf		 b = BUF_INIT;
	char			*params[8];
	size_t			 n = 0, i;
	int			 has_ra = r->hdr && strncmp(r->hdr,
				    "REMOTE_ADDR=", 12) == 0;

	buf_printf(&b, "REQUEST_METHOD=%s", r->method);
	params[n++] = buf_steal(&b);
	buf_printf(&b, "REQUEST_URI=%s", r->uri);
	params[n++] = buf_steal(&b);
	buf_printf(&b, "HTTP_HOST=%s", r->host);
	params[n++] = buf_steal(&b);
	if (r->hdr)
		params[n++] = xstrdup(r->hdr);
	if (!has_ra)
		params[n++] = xstrdup("REMOTE_ADDR=127.0.0.1");
	params[n] = NULL;

	gw_request_init(&req, params, ctx->config);
	gw_serve(ctx, &req, &resp, &ev);
	is_int_at(r->line, resp.status, r->status, "%s %s%s status", r->method,
	    r->host, r->uri);
	is_str_at(r->line, resp_get_header(&resp, "Location"), r->location,
	    "%s %s%s location", r->method, r->host, r->uri);
	is_int_at(r->line, resp.plan != GW_PLAN_ANSWER, r->proxy, "%s%s proxy", r->host, r->uri);
	is_str_at(r->line, resp.plan != GW_PLAN_ANSWER ? resp.upstream : NULL, r->upstream,
	    "%s%s upstream", r->host, r->uri);
	is_str_at(r->line, gw_type_name(ev.type), r->type, "%s%s type",
	    r->host, r->uri);
	is_int_at(r->line, ev.rule_index, r->rule_index, "%s%s rule-index",
	    r->host, r->uri);
	ev.status = resp.status;
	event_format(&ev, &req, &b);
	b.p[--b.n] = '\0';	/* the LF, so TAP names stay on one line */
	if (r->ev_has != NULL)
		ok_at(r->line, strstr(buf_cstr(&b), r->ev_has) != NULL,
		    "event of %s%s has %s (%s)", r->host, r->uri, r->ev_has,
		    buf_cstr(&b));
	{
		cJSON *j = cJSON_Parse(buf_cstr(&b));
		ok_at(r->line, j != NULL, "event line is JSON");
		cJSON_Delete(j);
	}
	buf_free(&b);
	gw_event_free(&ev);
	gw_response_free(&resp);
	gw_request_free(&req);
	for (i = 0; i < n; i++)
		free(params[i]);
}

static void
serve_one(struct gw_ctx *ctx, const char *uri, struct gw_response *resp)
{
	static char method[] = "REQUEST_METHOD=GET", host[] = "HTTP_HOST=d.test",
	    ra[] = "REMOTE_ADDR=::1";
	char *params[] = { method, NULL, host, ra, NULL };
	struct gw_request	 req;
	struct gw_event		 ev;
	struct buf		 b = BUF_INIT;

	buf_printf(&b, "REQUEST_URI=%s", uri);
	params[1] = buf_steal(&b);
	gw_request_init(&req, params, ctx->config);
	gw_serve(ctx, &req, resp, &ev);
	gw_event_free(&ev);
	gw_request_free(&req);
	free(params[1]);
}

int
main(void)
{
	struct manifest_diag	 d;
	struct manifest		*m = NULL;
	struct gw_config	 cfg;
	struct gw_stats		 stats;
	struct gw_ctx		 ctx;
	struct gw_response	 resp;
	struct buf		 b = BUF_INIT;
	char			 want[96];
	size_t			 i;
	cJSON			*j;

	memset(&d, 0, sizeof(d));
	if (!ok(manifest_parse("t.json", manifest_text,
	    sizeof(manifest_text) - 1, &m, &d) == 0, "test manifest loads: %s",
	    buf_cstr(&d.errors)))
		return done_testing();
	manifest_diag_free(&d);
	gw_config_defaults(&cfg);
	memset(&stats, 0, sizeof(stats));
	memset(&ctx, 0, sizeof(ctx));
	ctx.manifest = m;
	ctx.config = &cfg;
	ctx.stats = &stats;
	ctx.now = m->loaded_at + 7;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		run(&ctx, &rows[i]);

	/* /-/health body */
	ctx.last_reload_error = "t.json: rules[0] (docker-v1): broken";
	serve_one(&ctx, "/-/health", &resp);
	j = cJSON_Parse(buf_cstr(&resp.body));
	ok(j != NULL, "health is JSON");
	is_int(cJSON_GetObjectItem(j, "rules")->valueint, 13,
	    "health rules");
	is_int(cJSON_GetObjectItem(j, "manifest-age-seconds")->valueint, 7,
	    "health age");
	is_str(cJSON_GetObjectItem(j, "last-reload-error")->valuestring,
	    ctx.last_reload_error, "health last-reload-error");
	ok(cJSON_IsTrue(cJSON_GetObjectItem(j, "manifest-stale")),
	    "health: stale after a failed reload");
	is_str(resp_get_header(&resp, "Cache-Control"), "no-store",
	    "health not cached");
	cJSON_Delete(j);
	gw_response_free(&resp);

	/* /-/metrics counts what gw_stats_count was told */
	gw_stats_count(&stats, GW_T_FILE, 307);
	gw_stats_count(&stats, GW_T_FILE, 307);
	gw_stats_count(&stats, GW_T_NONE, 418);
	serve_one(&ctx, "/-/metrics", &resp);
	ok(strstr(buf_cstr(&resp.body),
	    "gateway_requests_total{type=\"file\",status=\"307\"} 2\n") != NULL,
	    "metrics count requests");
	ok(strstr(buf_cstr(&resp.body),
	    "gateway_requests_total{type=\"none\",status=\"other\"} 1\n") != NULL,
	    "metrics count other statuses");
	ok(strstr(buf_cstr(&resp.body), "gateway_manifest_rules 13\n") != NULL,
	    "metrics rules gauge");
	ok(strstr(buf_cstr(&resp.body), "gateway_manifest_stale 1\n") != NULL,
	    "metrics: stale after a failed reload");
	snprintf(want, sizeof(want),
	    "gateway_manifest_last_success_timestamp_seconds %lld\n",
	    (long long)m->loaded_at);
	ok(strstr(buf_cstr(&resp.body), want) != NULL,
	    "metrics: last success = the load, when nothing confirmed it");
	gw_response_free(&resp);
	atomic_store(&stats.manifest_confirmed, (long long)m->loaded_at + 5);
	ctx.last_reload_error = NULL;
	serve_one(&ctx, "/-/metrics", &resp);
	ok(strstr(buf_cstr(&resp.body), "gateway_manifest_stale 0\n") != NULL,
	    "metrics: not stale");
	snprintf(want, sizeof(want),
	    "gateway_manifest_last_success_timestamp_seconds %lld\n",
	    (long long)m->loaded_at + 5);
	ok(strstr(buf_cstr(&resp.body), want) != NULL,
	    "metrics: last success = the later confirmation");
	gw_response_free(&resp);
	serve_one(&ctx, "/-/health", &resp);
	j = cJSON_Parse(buf_cstr(&resp.body));
	ok(j != NULL && cJSON_IsFalse(cJSON_GetObjectItem(j, "manifest-stale")),
	    "health: not stale");
	cJSON_Delete(j);
	gw_response_free(&resp);

	/*
	 * The scope a proxied docker request's redirects must stay in
	 * (proxy.c, "Redirects"): the registry + the raw path through the
	 * image name, or the API root alone.
	 */
	{
		static const struct {
			int		 line;
			const char	*uri, *scope;
		} scopes[] = {
			{ __LINE__, "/v2/acme/tool/manifests/1",
			    "http://127.0.0.1:5000/v2/acme/tool/" },
			/* the name rebuilt from its decoded parts */
			{ __LINE__, "/v2/acme/%74ool/blobs/sha256:"
			    "0123456789abcdef0123456789abcdef"
			    "0123456789abcdef0123456789abcdef?x=/",
			    "http://127.0.0.1:5000/v2/acme/tool/" },
			{ __LINE__, "/v2/acme/tool/tags/list?n=1",
			    "http://127.0.0.1:5000/v2/acme/tool/" },
			{ __LINE__, "/v2/acme/blobs/manifests/x",
			    "http://127.0.0.1:5000/v2/acme/blobs/" },
			{ __LINE__, "/v2/library/hello/manifests/latest",
			    "https://registry-1.docker.io/v2/library/hello/" },
			{ __LINE__, "/v2/", "https://registry-1.docker.io/v2" },
			{ __LINE__, "/v2", "https://registry-1.docker.io/v2" },
		};
		for (i = 0; i < sizeof(scopes) / sizeof(*scopes); i++) {
			serve_one(&ctx, scopes[i].uri, &resp);
			is_int_at(scopes[i].line, resp.plan != GW_PLAN_ANSWER, 1, "%s: proxied",
			    scopes[i].uri);
			is_str_at(scopes[i].line, resp.upstream_scope,
			    scopes[i].scope, "%s: redirect scope",
			    scopes[i].uri);
			gw_response_free(&resp);
		}
	}

	/* §2.4: no manifest: 500 for rules, 503 health, reserved still up */
	ctx.manifest = NULL;
	ctx.manifest_error = "m.json: cannot be read";
	ctx.last_reload_error = NULL;
	serve_one(&ctx, "/v2/", &resp);
	is_int(resp.status, 500, "no manifest: 500");
	gw_response_free(&resp);
	serve_one(&ctx, "/-/health", &resp);
	is_int(resp.status, 503, "no manifest: health 503");
	ok(strstr(buf_cstr(&resp.body), "\"manifest-loaded\":false") != NULL,
	    "no manifest: health says so");
	gw_response_free(&resp);
	serve_one(&ctx, "/-/ping", &resp);
	is_int(resp.status, 200, "no manifest: ping still 200");
	gw_response_free(&resp);
	ctx.manifest = m;

	/* explain */
	{
		static char ua[] = "User-Agent: docker/27.0";
		char *hdrs[] = { ua };
		gw_explain(&ctx, "GET", "d.test", "/v2/acme/x/manifests/1",
		    hdrs, 1, &b);
		is_str(buf_cstr(&b), "{\"rule-index\":1,\"type\":\"docker\","
		    "\"status\":307,\"location\":"
		    "\"http://127.0.0.1:5000/v2/acme/x/manifests/1\","
		    "\"proxy\":false,\"upstream\":null,\"package-id\":null}\n",
		    "explain a redirect");
		buf_reset(&b);
		gw_explain(&ctx, "GET", "d.test", "/v2/acme/x/manifests/1",
		    NULL, 0, &b);
		is_str(buf_cstr(&b), "{\"rule-index\":1,\"type\":\"docker\","
		    "\"status\":null,\"location\":null,\"proxy\":true,"
		    "\"upstream\":\"http://127.0.0.1:5000/v2/acme/x/manifests/1\","
		    "\"package-id\":null}\n", "explain a proxy decision");
		buf_reset(&b);
		gw_explain(&ctx, "GET", "f.test", "/pre.evil.test/", NULL, 0,
		    &b);
		is_str(buf_cstr(&b), "{\"rule-index\":null,\"type\":\"none\","
		    "\"status\":404,\"location\":null,\"proxy\":false,"
		    "\"upstream\":null,\"package-id\":null,\"warnings\":["
		    "{\"rule-index\":9,\"field\":\"outgoing-url\",\"message\":"
		    "\"expansion refused: a variable would write the end of the "
		    "host\"}]}\n", "explain shows a refused expansion");
		buf_free(&b);
	}

	manifest_unref(m);
	return done_testing();
}
