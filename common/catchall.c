/*
 * catch-all-v1 rules (SPEC §10): every request of a domain that no other
 * rule answered, redirected to another domain or answered 200.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "arena.h"
#include "buf.h"
#include "catchall.h"
#include "event.h"
#include "image_int.h"
#include "mparse.h"
#include "request.h"
#include "response.h"
#include "ruletype.h"
#include "util.h"
#include "xmalloc.h"

static void
catchall_parse(struct mctx *c, const cJSON *o, struct rule *r)
{
	struct catchall_rule	*t;
	struct buf		 b = BUF_INIT;
	const char		*s;
	size_t			 n;

	r->priv = t = arena_alloc(c->arena, sizeof(*t));
	mp_take_str(c, o, "package-id", &r->package_id);
	if (mp_str(c, o, "redirect-target-domain", 0, &s) != 1)
		return;
	buf_adds(&b, "https://");
	buf_adds(&b, s);
	if (!url_check(buf_cstr(&b)))
		mp_err(c, "redirect-target-domain", "\"https://\" + value must "
		    "be an absolute URL with a host");
	else if (strchr(s, '?') != NULL || strchr(s, '#') != NULL)
		mp_err(c, "redirect-target-domain",
		    "must not have a query or fragment");
	else {
		/* §10: one trailing '/' is removed */
		n = strlen(s);
		if (n > 0 && s[n - 1] == '/')
			n--;
		t->target = arena_strndup(c->arena, s, n);
	}
	buf_free(&b);
}

/* §10: only the first catch-all-v1 rule of a domain is used. */
static int
catchall_answer(const struct rule_match *m, struct gw_response *resp,
    struct gw_event *ev)
{
	const struct rule		*r = m->rules[0];
	const struct catchall_rule	*t = r->priv;
	const struct gw_request		*req = m->req;
	struct buf			 loc = BUF_INIT;

	ev->type = GW_T_CATCH_ALL;
	event_rule(ev, r->index, r->package_id, NULL);
	if (t->target == NULL) {
		resp->status = 200;
		return 1;
	}
	/* §10: the raw path as received, the raw query as received */
	buf_printf(&loc, "https://%s%s", t->target, req->raw_path);
	if (req->raw_query[0] != '\0')
		buf_printf(&loc, "?%s", req->raw_query);
	resp_redirect(resp, 307, buf_cstr(&loc));
	ev->location = xstrdup(resp_get_header(resp, "Location"));
	buf_free(&loc);
	return 1;
}

/* Every catch-all-v1 rule of a domain after the first is a duplicate. */
static void
catchall_dup_key(const struct rule *r, const char **a, const char **b)
{
	(void)r;
	(void)a;
	(void)b;
}

/* The compiled image (ruletype.h). */
static void
catchall_save(struct img_writer *w, const struct rule *r)
{
	iw_str(w, ((const struct catchall_rule *)r->priv)->target);
}

static void
catchall_load(struct img_reader *rd, struct rule *r)
{
	struct catchall_rule	*t;

	r->priv = t = arena_alloc(rd->arena, sizeof(*t));
	t->target = ir_str(rd);
}

const struct rule_type catch_all_v1_type = {
	.name = "catch-all-v1",
	.parse = catchall_parse,
	.dup_key = catchall_dup_key,
	.dup_what = "one catch-all-v1 per domain",
	.answer = catchall_answer,
	.save = catchall_save,
	.load = catchall_load,
};
