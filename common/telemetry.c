/*
 * telemetry-v1 rules (SPEC §9): a POST to a fixed path, optionally behind
 * bearer tokens, its body's first JSON values logged.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "arena.h"
#include "buf.h"
#include "event.h"
#include "filerule.h"
#include "image_int.h"
#include "mparse.h"
#include "request.h"
#include "response.h"
#include "ruletype.h"
#include "telemetry.h"
#include "util.h"

static void
telemetry_parse(struct mctx *c, const cJSON *o, struct rule *r)
{
	struct telemetry_rule	*t;
	const cJSON		*it, *e;
	const char		*s;
	size_t			 i;

	r->priv = t = arena_alloc(c->arena, sizeof(*t));
	mp_take_str(c, o, "package-id", &r->package_id);
	if (mp_str(c, o, "incoming-path", 1, &s) == 1) {
		if (s[0] != '/')
			mp_err(c, "incoming-path", "must start with '/'");
		else
			t->path = arena_strndup(c->arena, s,
			    strcspn(s, "?"));
	}
	it = mp_field(c, o, "access-tokens");
	if (it == NULL || cJSON_IsNull(it))
		return;
	if (!cJSON_IsArray(it)) {
		mp_err(c, "access-tokens", "must be an array (got %s)",
		    mp_jtype(it));
		return;
	}
	t->tokens_set = 1;
	t->tokens = arena_alloc(c->arena, (size_t)cJSON_GetArraySize(it) *
	    sizeof(*t->tokens));
	for (e = it->child, i = 0; e != NULL; e = e->next, i++) {
		if (!cJSON_IsString(e)) {
			mp_err(c, "access-tokens", "item %zu: must be a string "
			    "(got %s)", i, mp_jtype(e));
			continue;
		}
		if (e->valuestring[0] == '\0')
			mp_warn(c, "access-tokens", "item %zu is empty", i);
		t->tokens[t->ntokens++] = arena_strdup(c->arena,
		    e->valuestring);
	}
}

/* 1 when the decoded segments of the plain path p equal segs. */
static int
segments_equal(const char *p, char *const *segs, const size_t *lens,
    size_t nsegs)
{
	struct buf	 b = BUF_INIT;
	const char	*e;
	size_t		 i = 0;
	int		 eq = 1;

	if (*p == '/')
		p++;
	if (*p == '\0')
		return nsegs == 0;
	for (;; p = e + 1) {
		for (e = p; *e && *e != '/'; e++)
			;
		buf_reset(&b);
		pct_decode(&b, p, (size_t)(e - p), 0);
		if (i >= nsegs || lens[i] != b.n ||
		    memcmp(segs[i], buf_cstr(&b), b.n) != 0) {
			eq = 0;
			break;
		}
		i++;
		if (*e == '\0')
			break;
	}
	buf_free(&b);
	return eq && i == nsegs;
}

/*
 * Compares a presented token with every listed one.  The work done does
 * not depend on where the bytes differ (§9), so a caller cannot find a
 * token byte by byte from response times.
 */
static int
token_ok(const struct telemetry_rule *r, const char *tok, size_t n)
{
	size_t		 i, k, len;
	unsigned	 diff, found = 0;

	for (i = 0; i < r->ntokens; i++) {
		len = strlen(r->tokens[i]);
		diff = (len != n);
		for (k = 0; k < len; k++)
			diff |= (unsigned char)r->tokens[i][k] ^
			    (unsigned char)(n ? tok[k % n] : 0);
		found |= (diff == 0);
	}
	return found != 0;
}

static int
telemetry_authorised(const struct telemetry_rule *r,
    const struct gw_request *req)
{
	const char	*h, *tok, *end;

	if (!r->tokens_set)
		return 1;
	if ((h = gw_header(req, "HTTP_AUTHORIZATION")) == NULL)
		return 0;
	if (strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t'))
		return 0;
	for (tok = h + 6; *tok == ' ' || *tok == '\t'; tok++)
		;
	for (end = tok + strlen(tok); end > tok && (end[-1] == ' ' ||
	    end[-1] == '\t'); end--)
		;
	return token_ok(r, tok, (size_t)(end - tok));
}

#define TELEMETRY_MAX_BODY 65536

/* One telemetry-v1 rule: 1 when it answered. */
static int
telemetry_one(const struct rule *r, const struct telemetry_rule *t,
    const struct rule_match *m, struct gw_response *resp,
    struct gw_event *ev)
{
	const struct gw_request	*req = m->req;
	struct buf		 body = BUF_INIT, events = BUF_INIT;
	char			 chunk[4096];
	ssize_t			 got;

	if (strcmp(req->method, "POST") != 0 ||
	    !segments_equal(t->path, m->segs, m->lens, m->nsegs))
		return 0;
	ev->type = GW_T_TELEMETRY;
	event_rule(ev, r->index, r->package_id, NULL);
	if (!telemetry_authorised(t, req)) {
		resp_plain(resp, 401);
		resp_header(resp, "WWW-Authenticate", "Bearer");
		event_raw(ev, "body-events", "[]");
		return 1;
	}
	if (req->content_length > TELEMETRY_MAX_BODY) {
		resp_plain(resp, 413);
		event_raw(ev, "body-events", "[]");
		return 1;
	}
	/* Read one byte past the limit to tell "exactly 64 KiB" from more. */
	while (req->read_body != NULL && body.n <= TELEMETRY_MAX_BODY) {
		size_t want = TELEMETRY_MAX_BODY + 1 - body.n;
		if (want > sizeof(chunk))
			want = sizeof(chunk);
		if ((got = req->read_body(req->body_ctx, chunk, want)) <= 0)
			break;
		buf_add(&body, chunk, (size_t)got);
	}
	if (body.n > TELEMETRY_MAX_BODY) {
		resp_plain(resp, 413);
		event_raw(ev, "body-events", "[]");
		buf_free(&body);
		return 1;
	}
	body_events(buf_cstr(&body), body.n, &events);
	event_raw(ev, "body-events", buf_cstr(&events));
	resp->status = 200;
	buf_free(&events);
	buf_free(&body);
	return 1;
}

static int
telemetry_answer(const struct rule_match *m, struct gw_response *resp,
    struct gw_event *ev)
{
	size_t	 i;

	for (i = 0; i < m->nrules; i++)
		if (telemetry_one(m->rules[i], m->rules[i]->priv, m, resp, ev))
			return 1;
	return 0;
}

static void
telemetry_dup_key(const struct rule *r, const char **a, const char **b)
{
	const struct telemetry_rule *t = r->priv;

	(void)b;
	*a = t->path;
}

/* The compiled image (ruletype.h). */
static void
telemetry_save(struct img_writer *w, const struct rule *r)
{
	const struct telemetry_rule	*t = r->priv;

	iw_str(w, t->path);
	iw_strv(w, t->tokens, t->ntokens);
	iw_word(w, (uint32_t)t->tokens_set);
}

static void
telemetry_load(struct img_reader *rd, struct rule *r)
{
	struct telemetry_rule	*t;

	r->priv = t = arena_alloc(rd->arena, sizeof(*t));
	t->path = ir_str_req(rd);
	t->tokens = ir_strv(rd, &t->ntokens);
	t->tokens_set = (int)ir_uint(rd, 1);
}

const struct rule_type telemetry_v1_type = {
	.name = "telemetry-v1",
	.parse = telemetry_parse,
	.dup_key = telemetry_dup_key,
	.dup_what = "same incoming-path",
	.answer = telemetry_answer,
	.save = telemetry_save,
	.load = telemetry_load,
};
