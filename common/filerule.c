/*
 * file-v1 (URI templates, SPEC §5) and file-v2 (PCRE2 regular expressions,
 * §6) rules: matching, the redirect target with query forwarding (§5.5),
 * body events (§5.6) and the logged fields (§5.7).
 */
#include "config.h"

#define PCRE2_CODE_UNIT_WIDTH 8

#include <ctype.h>
#include <pcre2.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "arena.h"
#include "buf.h"
#include "event.h"
#include "filerule.h"
#include "image_int.h"
#include "json.h"
#include "mparse.h"
#include "request.h"
#include "response.h"
#include "ruletype.h"
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

#define FILERULE(r)	((const struct file_rule *)(r)->priv)

/* A compiled file-v2 incoming-path (struct file_rule.re). */
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
	const struct tmpl *out;
	const char	*why;
	struct buf	 msg = BUF_INIT;

	if (FILERULE(r)->out_never || (out = rule_out_tmpl(r)) == NULL)
		return -1;
	switch (tmpl_expand_url(out, vars, loc, &why)) {
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

/* One file-v1 rule: 1 when it answered (§5.3). */
static int
file_v1_one(const struct rule *r, const struct gw_request *req,
    struct gw_response *resp, struct gw_event *ev)
{
	const struct file_rule *fl = FILERULE(r);
	struct tmpl_vars vars;
	const struct tmpl *in;
	struct buf	 loc = BUF_INIT, events = BUF_INIT;
	char		 body[BODY_EVENTS_BYTES];
	size_t		 nbody;
	size_t		 pathlen = strlen(req->raw_path);
	int		 ret = 0;

	/* most rules of a host differ from the path in their first bytes:
	 * those are not parsed at all */
	if ((fl->in_src != NULL &&
	    !tmpl_head_may_match(fl->in_src, req->raw_path, pathlen)) ||
	    (in = rule_in_tmpl(r)) == NULL || !tmpl_match(in, req->raw_path,
	    pathlen, req->raw_query, strlen(req->raw_query), &vars))
		return 0;
	if (fl->out_src != NULL &&
	    file_target(r, &vars, req->raw_query, &loc, ev) == -1)
		goto done;
	/* §5.6: only once the rule answers, for any method */
	nbody = file_read_body(req, body);
	body_events(body, nbody, &events);
	file_answer(r, &vars, fl->out_src != NULL ? buf_cstr(&loc) : NULL,
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

/* One file-v2 rule: 1 when it answered (§6). */
static int
file_v2_one(const struct rule *r, const struct gw_request *req,
    struct gw_response *resp, struct gw_event *ev)
{
	const struct file_rule *fl = FILERULE(r);
	const struct file_re *fr = fl->re;
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
	if (fl->out_src != NULL &&
	    file_target(r, &vars, req->raw_query, &loc, ev) == -1)
		goto done;
	file_answer(r, &vars, fl->out_src != NULL ? buf_cstr(&loc) : NULL,
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

/* ------------------------------------------------------------------ */
/* The rule types */

/*
 * §2.5 file-v1 specificity: the template expanded with every variable
 * empty, split on '/', empty pieces dropped.
 */
static void
spec_build(struct mctx *c, struct file_rule *fl, const struct tmpl *t)
{
	struct buf	 b = BUF_INIT;
	const char	*p, *e;
	size_t		 n = 0;

	tmpl_expand_empty(t, &b);
	for (p = buf_cstr(&b); *p != '\0'; p++)
		n += *p == '/';
	fl->spec = arena_alloc(c->arena, (n + 1) * sizeof(*fl->spec));
	for (p = buf_cstr(&b); ; p = e + 1) {
		if ((e = strchr(p, '/')) == NULL)
			e = p + strlen(p);
		if (e > p)
			fl->spec[fl->nspec++] = arena_strndup(c->arena, p,
			    (size_t)(e - p));
		if (*e == '\0')
			break;
	}
	buf_free(&b);
}

/* file-v1: a template (§5.1); file-v2: a regular expression (§6). */
static void
parse_incoming(struct mctx *c, struct file_rule *fl, int v2, const char *s)
{
	struct tmpl	*t;
	char		 err[256];

	fl->in_src = arena_strdup(c->arena, s);
	err[0] = '\0';
	if (v2) {
		if ((fl->re = file_v2_compile(s, err, sizeof(err))) == NULL)
			mp_err(c, "incoming-path", "invalid regular "
			    "expression: %s", err);
		return;
	}
	if (tmpl_parse(s, &t, err, sizeof(err)) == -1) {
		mp_err(c, "incoming-path", "invalid template: %s", err);
		return;
	}
	spec_build(c, fl, t);
	tmpl_free(t);		/* rule_in_tmpl() makes it again */
}

/*
 * file-v1 and file-v2 (v2 set): the record is in the arena; its compiled
 * parts (the regular expression, the templates compiled on first use)
 * are freed by file_free.
 */
static void
file_parse(struct mctx *c, const cJSON *o, struct rule *r, int v2)
{
	struct file_rule	*fl;
	const cJSON		*it;
	const char		*s;
	struct tmpl		*t;
	char			 err[512];
	struct buf		 b = BUF_INIT;

	r->priv = fl = arena_alloc(c->arena, sizeof(*fl));
	atomic_init(&fl->in_tmpl, NULL);
	atomic_init(&fl->out_tmpl, NULL);
	mp_take_str(c, o, "package-id", &r->package_id);
	if (mp_str(c, o, "incoming-path", 1, &s) == 1)
		parse_incoming(c, fl, v2, s);
	it = mp_field(c, o, "outgoing-url");
	if (it == NULL) {
		mp_err(c, "outgoing-url", "required field is missing (use null "
		    "to only log)");
		return;
	}
	if (cJSON_IsNull(it))
		return;
	if (!cJSON_IsString(it)) {
		mp_err(c, "outgoing-url", "must be a string or null (got %s)",
		    mp_jtype(it));
		return;
	}
	fl->out_src = arena_strdup(c->arena, it->valuestring);
	err[0] = '\0';
	if (tmpl_parse(fl->out_src, &t, err, sizeof(err)) == -1) {
		mp_err(c, "outgoing-url", "invalid template: %s", err);
		return;
	}
	/*
	 * §1.5: a literal target that can never be a valid redirect is only
	 * a warning (the original redirected to relative targets); one with
	 * expressions is checked after each expansion (§5.3).
	 */
	if (!tmpl_has_exprs(t)) {
		tmpl_expand_empty(t, &b);
		if (!url_check(buf_cstr(&b))) {
			mp_warn(c, "outgoing-url", "must be an absolute http "
			    "or https URL; this rule never matches");
			fl->out_never = 1;
		}
		buf_free(&b);
	} else if (tmpl_authority_reach(t, err, sizeof(err)))
		mp_warn(c, "outgoing-url", "%s", err);	/* README */
	tmpl_free(t);		/* rule_out_tmpl() makes it again */
}

static void
file_v1_parse(struct mctx *c, const cJSON *o, struct rule *r)
{
	file_parse(c, o, r, 0);
}

static void
file_v2_parse(struct mctx *c, const cJSON *o, struct rule *r)
{
	file_parse(c, o, r, 1);
}

/* §2.5: specificity lists compared descending (greater first). */
static int
file_v1_cmp(const struct rule *ra, const struct rule *rb)
{
	const struct file_rule	*a = FILERULE(ra), *b = FILERULE(rb);
	size_t			 i;
	int			 r;

	for (i = 0; i < a->nspec && i < b->nspec; i++)
		if ((r = strcmp(a->spec[i], b->spec[i])) != 0)
			return r > 0 ? -1 : 1;
	if (a->nspec != b->nspec)
		return a->nspec > b->nspec ? -1 : 1;
	return 0;
}

/* §2.5: file-v2 rules by their incoming-path (strcmp). */
static int
file_v2_cmp(const struct rule *a, const struct rule *b)
{
	return strcmp(FILERULE(a)->in_src, FILERULE(b)->in_src);
}

static void
file_v1_dup_key(const struct rule *r, const char **a, const char **b)
{
	(void)b;
	*a = FILERULE(r)->in_src;
}

static int
file_v1_answer(const struct rule_match *m, struct gw_response *resp,
    struct gw_event *ev)
{
	size_t	 i;

	for (i = 0; i < m->nrules; i++)
		if (file_v1_one(m->rules[i], m->req, resp, ev))
			return 1;
	return 0;
}

static int
file_v2_answer(const struct rule_match *m, struct gw_response *resp,
    struct gw_event *ev)
{
	size_t	 i;

	for (i = 0; i < m->nrules; i++)
		if (file_v2_one(m->rules[i], m->req, resp, ev))
			return 1;
	return 0;
}

static void
file_free(struct rule *r)
{
	struct file_rule	*fl = r->priv;
	struct tmpl		*t;

	if (fl == NULL)
		return;
	if ((t = atomic_load(&fl->in_tmpl)) != NULL)
		tmpl_free(t);
	if ((t = atomic_load(&fl->out_tmpl)) != NULL)
		tmpl_free(t);
	if (fl->re != NULL)
		file_v2_free(fl->re);
}

/*
 * The compiled image (ruletype.h).  The file-v1 specificity list is not
 * kept: only the sort of a load uses it, and an image is in precedence
 * order already.  The templates are compiled on a rule's first use, as
 * those of a parsed manifest (compiled and kept, they took 3 KB a rule).
 * file-v1 has no compile: the image was written by this very program
 * (its build identity), whose parse accepted the templates, and a
 * template that did not parse would only make its rule match nothing
 * (rule_in_tmpl() and rule_out_tmpl() return NULL), as leaving the rule
 * out of its set does.  Checking them anyway parsed every template of the
 * host on its first lookup: 30 % of the CPU of a CGI redirect.
 */
static void
file_save(struct img_writer *w, const struct rule *r)
{
	iw_str(w, FILERULE(r)->in_src);
	iw_str(w, FILERULE(r)->out_src);
	iw_word(w, (uint32_t)FILERULE(r)->out_never);
}

static void
file_load(struct img_reader *rd, struct rule *r)
{
	struct file_rule	*fl;

	r->priv = fl = arena_alloc(rd->arena, sizeof(*fl));
	fl->in_src = ir_str_req(rd);
	fl->out_src = ir_str(rd);
	fl->out_never = (int)ir_uint(rd, 1);
}

/* file-v2: the regular expression, which another PCRE2 may refuse */
static int
file_v2_compile_rule(struct rule *r)
{
	struct file_rule	*fl = r->priv;
	char			 msg[256];

	if ((fl->re = file_v2_compile(fl->in_src, msg, sizeof(msg))) == NULL)
		return -1;
	return 0;
}

const struct rule_type file_v1_type = {
	.name = "file-v1",
	.parse = file_v1_parse,
	.cmp = file_v1_cmp,
	.dup_key = file_v1_dup_key,
	.dup_what = "same incoming-path",
	.answer = file_v1_answer,
	.free = file_free,
	.save = file_save,
	.load = file_load,
};

const struct rule_type file_v2_type = {
	.name = "file-v2",
	.parse = file_v2_parse,
	.cmp = file_v2_cmp,
	.answer = file_v2_answer,
	.free = file_free,
	.save = file_save,
	.load = file_load,
	.compile = file_v2_compile_rule,
};

/*
 * A template slot of a rule, compiled from src on first use.  Two threads
 * may both compile it: the first to store it wins, the other frees its
 * copy.  The manifest is immutable otherwise; this is a cache of what
 * the load already checked (tmpl_parse does not fail here, short of an
 * image from another build: see file_save; NULL then).
 */
static const struct tmpl *
rule_tmpl(_Atomic(struct tmpl *) *slot, const char *src)
{
	struct tmpl	*t, *none = NULL;
	char		 err[256];

	if ((t = atomic_load(slot)) != NULL || src == NULL)
		return t;
	if (tmpl_parse(src, &t, err, sizeof(err)) == -1)
		return NULL;
	if (!atomic_compare_exchange_strong(slot, &none, t)) {
		tmpl_free(t);
		t = none;
	}
	return t;
}

const struct tmpl *
rule_in_tmpl(const struct rule *r)
{
	struct file_rule	*fl;

	if (r->type != &file_v1_type)
		return NULL;	/* in_src of file-v2 is a regular expression */
	fl = r->priv;
	return rule_tmpl(&fl->in_tmpl, fl->in_src);
}

const struct tmpl *
rule_out_tmpl(const struct rule *r)
{
	struct file_rule	*fl;

	if (r->type != &file_v1_type && r->type != &file_v2_type)
		return NULL;
	fl = r->priv;
	return rule_tmpl(&fl->out_tmpl, fl->out_src);
}
