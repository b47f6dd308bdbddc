/*
 * file-v1 (URI templates, SPEC §5) and file-v2 (PCRE2 regular expressions,
 * §6) rules: matching, the redirect target with query forwarding (§5.5),
 * body events (§5.6) and the logged fields (§5.7).
 */
#include "config.h"

#define PCRE2_CODE_UNIT_WIDTH 8

#include <ctype.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "filerule.h"
#include "json.h"
#include "gateway.h"
#include "manifest.h"
#include "tmpl.h"
#include "util.h"
#include "xmalloc.h"

#define BODY_EVENTS_BYTES	256	/* §5.6: bytes of the body read */
#define BODY_EVENTS_MAX		10	/* §5.6: objects kept */

/*
 * PCRE2's default match limit is ten million backtracking steps, which
 * lets one hostile path burn a second of CPU on a badly written pattern;
 * a million is far above what any real path/pattern pair needs.  Hitting
 * it counts as no match (§6).
 */
#define FILE_V2_MATCH_LIMIT	1000000

/* A compiled file-v2 incoming-path (struct rule.re). */
struct file_re {
	pcre2_code		*code;
	pcre2_match_context	*mctx;
	uint32_t		 namecount;
	uint32_t		 entrysize;
	PCRE2_SPTR		 nametable;
};

/* ------------------------------------------------------------------ */
/* §5.5 query forwarding */

/* 1 when a parameter of q[0..n) has the decoded key k[0..kl). */
static int
query_has_key(const struct qparam *v, size_t n, const char *k, size_t kl)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (v[i].keylen == kl && (kl == 0 ||
		    memcmp(v[i].key, k, kl) == 0))
			return 1;
	return 0;
}

/*
 * The target's own query is kept byte for byte; each request parameter
 * whose decoded key is neither a key of the target's query nor seen earlier
 * in the request is appended with query encoding (§0), before any fragment.
 */
void
url_forward_query(struct buf *loc, const char *raw_query)
{
	struct query	 rq, tq = { NULL, 0 };
	struct buf	 add = BUF_INIT, res = BUF_INIT;
	const char	*p, *hash, *q;
	size_t		 i, fe, qs = 0;

	query_parse(&rq, raw_query, strlen(raw_query));
	if (rq.n == 0)
		goto done;
	p = buf_cstr(loc);
	hash = memchr(p, '#', loc->n);
	fe = hash != NULL ? (size_t)(hash - p) : loc->n;
	if ((q = memchr(p, '?', fe)) != NULL) {
		qs = (size_t)(q - p) + 1;
		query_parse(&tq, p + qs, fe - qs);
	}
	for (i = 0; i < rq.n; i++) {
		const struct qparam *r = &rq.v[i];

		if (query_has_key(tq.v, tq.n, r->key, r->keylen) ||
		    query_has_key(rq.v, i, r->key, r->keylen))
			continue;
		if (add.n > 0)
			buf_addc(&add, '&');
		query_encode(&add, r->key, r->keylen);
		if (r->val != NULL) {
			buf_addc(&add, '=');
			query_encode(&add, r->val, r->vallen);
		}
	}
	if (add.n == 0)
		goto done;
	buf_add(&res, p, fe);
	if (q == NULL)
		buf_addc(&res, '?');
	else if (fe > qs)
		buf_addc(&res, '&');	/* after a bare '?' they follow it */
	buf_add(&res, add.p, add.n);
	buf_add(&res, p + fe, loc->n - fe);
	buf_free(loc);
	*loc = res;
done:
	buf_free(&add);
	query_free(&rq);
	query_free(&tq);
}

/* ------------------------------------------------------------------ */
/*
 * §5.6 body events: values are scanned with the strict scanner of json.c
 * and objects copied without insignificant whitespace, so the event stays
 * on one line and numbers keep their exact text.
 */
void
body_events(const char *body, size_t n, struct buf *out)
{
	size_t	 kept = 0, pos = 0, start;

	if (n > BODY_EVENTS_BYTES)
		n = BODY_EVENTS_BYTES;
	buf_addc(out, '[');
	while (kept < BODY_EVENTS_MAX) {
		while (pos < n && (body[pos] == ' ' || body[pos] == '\t' ||
		    body[pos] == '\n' || body[pos] == '\r'))
			pos++;
		if (pos >= n)
			break;
		start = pos;
		if (json_scan_value(body, n, &pos, NULL, NULL, 0) == -1)
			break;
		if (body[start] != '{')
			continue;
		if (kept++ > 0)
			buf_addc(out, ',');
		json_compact(out, body + start, pos - start);
	}
	buf_addc(out, ']');
}

/* ------------------------------------------------------------------ */
/* Outcomes (§5.3) and logged fields (§5.7) */

/*
 * The redirect target for a match: 0 with the Location in loc, -1 when the
 * rule does not match (an outgoing variable undefined, the expansion not an
 * absolute http(s) URL, or one that leaves the host the template fixes:
 * that one is also an event warning).  Not called for a null outgoing-url.
 */
static int
file_target(const struct rule *r, const struct tmpl_vars *vars,
    const char *raw_query, struct buf *loc, struct gw_event *ev)
{
	const char	*why;
	struct buf	 msg = BUF_INIT;

	if (r->out_never)
		return -1;
	switch (tmpl_expand_url(rule_out_tmpl(r), vars, loc, &why)) {
	case -1:
		return -1;
	case -2:
		buf_printf(&msg, "expansion refused: %s", why);
		event_warn(ev, r->index, "outgoing-url", buf_cstr(&msg));
		buf_free(&msg);
		return -1;
	}
	if (!url_check(buf_cstr(loc)))
		return -1;
	url_forward_query(loc, raw_query);
	return 0;
}

/* Fills the response (307 to loc, or a bare 200 for NULL) and the event. */
static void
file_answer(const struct rule *r, const struct tmpl_vars *vars,
    const char *loc, const char *events, struct gw_response *resp,
    struct gw_event *ev)
{
	struct buf	 js = BUF_INIT;
	size_t		 i;

	if (loc != NULL)
		resp_redirect(resp, 307, loc);
	else
		resp->status = 200;	/* §0 OK: no Content-Type, no body */
	ev->type = GW_T_FILE;
	event_rule(ev, r->index, r->package_id, NULL);
	free(ev->location);
	ev->location = loc != NULL ? xstrdup(loc) : NULL;
	buf_addc(&js, '{');
	for (i = 0; i < vars->n; i++) {
		if (vars->v[i].value == NULL)
			continue;
		if (js.n > 1)
			buf_addc(&js, ',');
		buf_add_jstrz(&js, vars->v[i].name);
		buf_addc(&js, ':');
		buf_add_jstr(&js, vars->v[i].value, vars->v[i].len);
	}
	buf_addc(&js, '}');
	event_raw(ev, "variables", buf_cstr(&js));
	event_raw(ev, "body-events", events);
	buf_free(&js);
}

/* Reads at most BODY_EVENTS_BYTES of the request body into b. */
static size_t
file_read_body(const struct gw_request *req, char *b)
{
	size_t	 want = BODY_EVENTS_BYTES, got = 0;
	ssize_t	 k;

	if (req->read_body == NULL)
		return 0;
	if (req->content_length >= 0 && req->content_length < (long long)want)
		want = (size_t)req->content_length;
	while (got < want) {
		k = req->read_body(req->body_ctx, b + got, want - got);
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	return got;
}

int
file_v1_handle(const struct rule *r, const struct gw_request *req,
    struct gw_response *resp, struct gw_event *ev)
{
	struct tmpl_vars vars;
	const struct tmpl *in;
	struct buf	 loc = BUF_INIT, events = BUF_INIT;
	char		 body[BODY_EVENTS_BYTES];
	size_t		 nbody;
	int		 ret = 0;

	if ((in = rule_in_tmpl(r)) == NULL || !tmpl_match(in, req->raw_path,
	    strlen(req->raw_path), req->raw_query, strlen(req->raw_query),
	    &vars))
		return 0;
	if (r->out_src != NULL &&
	    file_target(r, &vars, req->raw_query, &loc, ev) == -1)
		goto done;
	/* §5.6: only once the rule answers, for any method */
	nbody = file_read_body(req, body);
	body_events(body, nbody, &events);
	file_answer(r, &vars, r->out_src != NULL ? buf_cstr(&loc) : NULL,
	    buf_cstr(&events), resp, ev);
	ret = 1;
done:
	tmpl_vars_free(&vars);
	buf_free(&loc);
	buf_free(&events);
	return ret;
}

/*
 * Named groups of a match as variables (§6): percent-decoded, undefined
 * when the group did not take part.  Returns -1 when a decoded value is not
 * valid UTF-8 (the rule does not match).
 */
static int
file_v2_vars(const struct file_re *fr, const char *path,
    pcre2_match_data *md, struct tmpl_vars *vars)
{
	PCRE2_SIZE	*ov = pcre2_get_ovector_pointer(md);
	uint32_t	 ovn = pcre2_get_ovector_count(md), i, g;
	PCRE2_SPTR	 ent;
	const char	*name;
	struct buf	 dec = BUF_INIT;
	int		 ret = 0;

	for (i = 0; i < fr->namecount; i++) {
		ent = fr->nametable + (size_t)i * fr->entrysize;
		g = ((uint32_t)ent[0] << 8) | ent[1];
		name = (const char *)(ent + 2);
		/* with (?J) a name may have several groups: first set wins */
		if (g >= ovn || ov[2 * g] == PCRE2_UNSET ||
		    tmpl_vars_get(vars, name, NULL) != NULL)
			continue;
		buf_reset(&dec);
		pct_decode(&dec, path + ov[2 * g], ov[2 * g + 1] - ov[2 * g],
		    0);
		if (!utf8_valid(buf_cstr(&dec), dec.n)) {
			ret = -1;
			break;
		}
		tmpl_vars_set(vars, name, buf_cstr(&dec), dec.n);
	}
	buf_free(&dec);
	return ret;
}

int
file_v2_handle(const struct rule *r, const struct gw_request *req,
    struct gw_response *resp, struct gw_event *ev)
{
	const struct file_re *fr = r->re;
	pcre2_match_data *md = NULL;
	struct tmpl_vars vars;
	struct buf	 loc = BUF_INIT;
	size_t		 n;
	int		 rc, ret = 0;

	vars.n = 0;
	if (fr == NULL)
		return 0;
	n = strlen(req->raw_path);
	if (!utf8_valid(req->raw_path, n))
		return 0;
	md = pcre2_match_data_create_from_pattern(fr->code, NULL);
	rc = pcre2_match(fr->code, (PCRE2_SPTR)req->raw_path, n, 0,
	    PCRE2_NOTEMPTY | PCRE2_NO_UTF_CHECK, md, fr->mctx);
	/* no match, match limit exceeded, any other error: no match */
	if (rc < 0 || file_v2_vars(fr, req->raw_path, md, &vars) == -1)
		goto done;
	if (r->out_src != NULL &&
	    file_target(r, &vars, req->raw_query, &loc, ev) == -1)
		goto done;
	file_answer(r, &vars, r->out_src != NULL ? buf_cstr(&loc) : NULL,
	    "[]", resp, ev);
	ret = 1;
done:
	pcre2_match_data_free(md);
	tmpl_vars_free(&vars);
	buf_free(&loc);
	return ret;
}

/*
 * §6: surrounding whitespace trimmed, UTF mode, case-sensitive, not
 * anchored.  Error offsets count from the start of the untrimmed text.
 */
void *
file_v2_compile(const char *src, char *err, size_t errlen)
{
	struct file_re	*fr;
	pcre2_code	*code;
	PCRE2_UCHAR	 msg[128];
	PCRE2_SIZE	 off;
	size_t		 lead = 0, n = strlen(src);
	int		 ec;

	while (lead < n && isspace((unsigned char)src[lead]))
		lead++;
	while (n > lead && isspace((unsigned char)src[n - 1]))
		n--;
	code = pcre2_compile((PCRE2_SPTR)src + lead, n - lead, PCRE2_UTF,
	    &ec, &off, NULL);
	if (code == NULL) {
		if (pcre2_get_error_message(ec, msg, sizeof(msg)) < 0)
			snprintf((char *)msg, sizeof(msg), "error %d", ec);
		snprintf(err, errlen, "%s at offset %zu", (const char *)msg,
		    (size_t)off + lead);
		return NULL;
	}
	fr = xcalloc(1, sizeof(*fr));
	fr->code = code;
	pcre2_pattern_info(code, PCRE2_INFO_NAMECOUNT, &fr->namecount);
	pcre2_pattern_info(code, PCRE2_INFO_NAMEENTRYSIZE, &fr->entrysize);
	pcre2_pattern_info(code, PCRE2_INFO_NAMETABLE, &fr->nametable);
	if (fr->namecount > TMPL_MAXVARS) {
		snprintf(err, errlen, "too many named groups (max %d)",
		    TMPL_MAXVARS);
		file_v2_free(fr);
		return NULL;
	}
	if ((fr->mctx = pcre2_match_context_create(NULL)) == NULL)
		abort();	/* out of memory, as x*alloc */
	pcre2_set_match_limit(fr->mctx, FILE_V2_MATCH_LIMIT);
	return fr;
}

void
file_v2_free(void *re)
{
	struct file_re	*fr = re;

	if (fr == NULL)
		return;
	pcre2_match_context_free(fr->mctx);
	pcre2_code_free(fr->code);
	free(fr);
}
