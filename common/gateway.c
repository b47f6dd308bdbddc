/*
 * The router (SPEC §2.3): request checks, reserved endpoints, the host's
 * rule set in precedence order, and the no-match answer.  It knows no rule
 * type: each answers through its row of the operations table
 * (ruletype.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway.h"
#include "manifest.h"
#include "ruletype.h"
#include "xmalloc.h"

const char gw_version[] = PACKAGE_VERSION;

const int gw_stat_codes[GW_NCODES] = {
	200, 301, 304, 307, 400, 401, 403, 404, 405, 413, 500, 502, 503, 504,
	206, 0
};

void
gw_stats_count(struct gw_stats *st, enum gw_type t, int status)
{
	size_t	 i;

	if (st == NULL || (unsigned)t >= GW_NTYPES)
		return;
	for (i = 0; i < GW_NCODES - 1; i++)
		if (gw_stat_codes[i] == status)
			break;
	atomic_fetch_add(&st->requests[t][i], 1);
}

/*
 * Splits the raw path into decoded segments (§0): "/simple/" gives
 * ["simple", ""], "/" gives [].  The arrays are owned by the caller.
 */
size_t
gw_split_path(const char *path, char ***segsp, size_t **lensp)
{
	char		**segs = NULL;
	size_t		 *lens = NULL, n = 0;
	const char	 *s, *e;
	struct buf	  b = BUF_INIT;

	if (path[0] == '/')
		path++;
	if (*path != '\0') {
		for (s = path; ; s = e + 1) {
			for (e = s; *e && *e != '/'; e++)
				;
			buf_reset(&b);
			pct_decode(&b, s, (size_t)(e - s), 0);
			segs = xreallocarray(segs, n + 1, sizeof(*segs));
			lens = xreallocarray(lens, n + 1, sizeof(*lens));
			segs[n] = xstrndup(buf_cstr(&b), b.n);
			lens[n] = b.n;
			n++;
			if (*e == '\0')
				break;
		}
	}
	buf_free(&b);
	*segsp = segs;
	*lensp = lens;
	return n;
}

void
gw_free_path(char **segs, size_t *lens, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		free(segs[i]);
	free(segs);
	free(lens);
}

static int
is_v2_path(const char *path)
{
	return strcmp(path, "/v2") == 0 || strncmp(path, "/v2/", 4) == 0;
}

/* §11 */
static void
no_match(const struct gw_request *req, struct gw_response *resp,
    struct gw_event *ev)
{
	if (is_v2_path(req->raw_path))
		resp_json(resp, 404, "{\"errors\":[{\"code\":\"NAME_UNKNOWN\","
		    "\"detail\":{},\"message\":\"repository name not known "
		    "to registry\"}]}");
	else
		resp_plain(resp, 404);
	ev->type = GW_T_NONE;
}

/*
 * Tries the rule set's types in precedence order (§2.3 step 4), each on
 * its own rules, until one answers.  A partial set (ruletype.h) is
 * traded for the complete one at the type that needs its rules, which
 * then tries again; -1 when that cannot be made (a damaged image).
 */
static int
route(const struct gw_ctx *ctx, const struct ruleset *rs,
    const struct gw_request *req, char **segs, size_t *lens, size_t nsegs,
    struct gw_response *resp, struct gw_event *ev)
{
	struct rule_match	 m;
	const struct rule_span	*sp;
	const struct ruleset	*whole;
	size_t			 i, k;
	int			 rc;

	m.manifest = ctx->manifest;
	m.req = req;
	m.segs = segs;
	m.lens = lens;
	m.nsegs = nsegs;
	for (i = 0; i < rs->nspans; i++) {
		sp = &rs->spans[i];
		m.rules = rs->partial ? NULL : rs->rules + sp->first;
		m.nrules = rs->partial ? 0 : sp->count;
		m.index = sp->index;
		rc = sp->type->answer(&m, resp, ev);
		if (rc == 1)
			return 1;
		if (rc == -1 && rs->partial) {
			whole = manifest_whole_set(ctx->manifest, rs);
			if (whole == NULL)
				return -1;
			/* its spans: the same types, but for one whose
			 * rules all failed to compile here */
			for (k = 0; k < whole->nspans &&
			    whole->spans[k].type != sp->type; k++)
				;
			rs = whole;
			i = k - 1;	/* k == nspans: none left to try */
		}
	}
	return 0;
}

void
gw_serve(const struct gw_ctx *ctx, struct gw_request *req,
    struct gw_response *resp, struct gw_event *ev)
{
	const struct ruleset	*rs;
	char			**segs = NULL;
	size_t			 *lens = NULL, nsegs = 0;
	int			 rc;

	gw_response_init(resp);
	gw_event_init(ev);

	if (req->bad) {
		resp_plain(resp, 400);
		return;
	}
	if (req->too_long) {
		resp_plain(resp, 414);
		return;
	}
	if (reserved_handle(ctx, req, resp, ev))
		return;
	if (ctx->manifest == NULL) {
		resp_plain(resp, 500);
		ev->error = xstrdup(ctx->manifest_error ? ctx->manifest_error
		    : "no manifest loaded");
		return;
	}
	rs = manifest_lookup(ctx->manifest, req->host);
	if (rs == NULL) {
		no_match(req, resp, ev);
		return;
	}
	nsegs = gw_split_path(req->raw_path, &segs, &lens);
	rc = route(ctx, rs, req, segs, lens, nsegs, resp, ev);
	if (rc == -1) {
		gw_response_free(resp);
		gw_response_init(resp);
		resp_plain(resp, 500);
		free(ev->error);
		ev->error = xstrdup("the manifest image is damaged");
	} else if (rc == 0) {
		struct buf w = ev->warnings;

		ev->warnings = (struct buf)BUF_INIT;	/* they stay */
		gw_response_free(resp);
		gw_response_init(resp);
		gw_event_free(ev);
		gw_event_init(ev);
		ev->warnings = w;
		no_match(req, resp, ev);
	}
	gw_free_path(segs, lens, nsegs);
}

void
gw_explain(const struct gw_ctx *ctx, const char *method, const char *host,
    const char *target, char *const *headers, size_t nheaders,
    struct buf *out)
{
	struct gw_request	 req;
	struct gw_response	 resp;
	struct gw_event		 ev;
	struct buf		 tmp = BUF_INIT;
	char			**params;
	const char		*q, *colon, *loc;
	size_t			 i, np = 0, k;
	int			 proxied;

	/* Build the CGI parameters a web server would pass. */
	params = xcalloc(nheaders + 8, sizeof(*params));
	buf_printf(&tmp, "REQUEST_METHOD=%s", method);
	params[np++] = buf_steal(&tmp);
	buf_printf(&tmp, "REQUEST_URI=%s", target);
	params[np++] = buf_steal(&tmp);
	q = strchr(target, '?');
	buf_printf(&tmp, "QUERY_STRING=%s", q ? q + 1 : "");
	params[np++] = buf_steal(&tmp);
	buf_printf(&tmp, "HTTP_HOST=%s", host);
	params[np++] = buf_steal(&tmp);
	params[np++] = xstrdup("REMOTE_ADDR=127.0.0.1");
	for (i = 0; i < nheaders; i++) {
		if ((colon = strchr(headers[i], ':')) == NULL)
			continue;
		/* RFC 3875 §4.1.18: HTTP_ + upper-cased name, '-' as '_';
		 * Content-Type and Content-Length go without the prefix. */
		if (strncasecmp(headers[i], "content-type:", 13) != 0 &&
		    strncasecmp(headers[i], "content-length:", 15) != 0)
			buf_adds(&tmp, "HTTP_");
		for (k = 0; headers[i] + k < colon; k++) {
			char c = headers[i][k];
			buf_addc(&tmp, c == '-' ? '_' :
			    (c >= 'a' && c <= 'z') ? c - 32 : c);
		}
		buf_addc(&tmp, '=');
		for (colon++; *colon == ' '; colon++)
			;
		buf_adds(&tmp, colon);
		params[np++] = buf_steal(&tmp);
	}
	params[np] = NULL;

	gw_request_init(&req, params, ctx->config);
	gw_serve(ctx, &req, &resp, &ev);

	buf_adds(out, "{\"rule-index\":");
	if (ev.rule_index < 0)
		buf_adds(out, "null");
	else
		buf_printf(out, "%d", ev.rule_index);
	buf_adds(out, ",\"type\":");
	buf_add_jstrz(out, gw_type_name(ev.type));
	buf_adds(out, ",\"status\":");
	proxied = resp.plan != GW_PLAN_ANSWER;
	if (proxied)
		buf_adds(out, "null");
	else
		buf_printf(out, "%d", resp.status);
	loc = resp_get_header(&resp, "Location");
	buf_adds(out, ",\"location\":");
	buf_add_jstrz(out, proxied ? NULL : loc);
	buf_printf(out, ",\"proxy\":%s", proxied ? "true" : "false");
	buf_adds(out, ",\"upstream\":");
	buf_add_jstrz(out, proxied ? resp.upstream : NULL);
	buf_adds(out, ",\"package-id\":");
	buf_add_jstrz(out, ev.package_id);
	if (ev.warnings.n > 0) {
		buf_adds(out, ",\"warnings\":[");
		buf_add(out, ev.warnings.p, ev.warnings.n);
		buf_addc(out, ']');
	}
	buf_adds(out, "}\n");

	gw_event_free(&ev);
	gw_response_free(&resp);
	gw_request_free(&req);
	for (i = 0; i < np; i++)
		free(params[i]);
	free(params);
	buf_free(&tmp);
}
