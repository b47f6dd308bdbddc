/*
 * pixel-v1 rules (SPEC §8): a transparent 1x1 PNG at a fixed path, the
 * request logged with its x-pxid query parameter.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "arena.h"
#include "event.h"
#include "image_int.h"
#include "mparse.h"
#include "pixel.h"
#include "request.h"
#include "response.h"
#include "ruletype.h"
#include "util.h"

#define PIXEL_DEFAULT_PATH	"/a.png"

#define PIXEL(r)	((const struct pixel_rule *)(r)->priv)

static void
pixel_parse(struct mctx *c, const cJSON *o, struct rule *r)
{
	struct pixel_rule	*p;
	const char		*s;
	int			 rc;

	r->priv = p = arena_alloc(c->arena, sizeof(*p));

	mp_take_str(c, o, "package-id", &r->package_id);
	if ((rc = mp_str(c, o, "incoming-path", 0, &s)) == -1)
		return;
	if (rc == 0)
		s = PIXEL_DEFAULT_PATH;
	if (s[0] != '/')
		mp_err(c, "incoming-path", "must start with '/'");
	else
		p->path = arena_strdup(c->arena, s);
}

/* §8: a 1x1 fully transparent PNG, 68 bytes. */
static const unsigned char pixel_png[68] = {
	0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d,
	0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,
	0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00,
	0x0b, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x60, 0x00, 0x02, 0x00,
	0x00, 0x05, 0x00, 0x01, 0x7a, 0x5e, 0xab, 0x3f, 0x00, 0x00, 0x00, 0x00,
	0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
};

/* One pixel-v1 rule: 1 when it answered. */
static int
pixel_one(const struct rule *r, const struct pixel_rule *p,
    const struct gw_request *req, struct gw_response *resp,
    struct gw_event *ev)
{
	struct query		 q;
	const struct qparam	*px;

	if (!req->is_get_or_head || strcmp(req->raw_path, p->path) != 0)
		return 0;
	resp->status = 200;
	resp_header(resp, "Content-Type", "image/png");
	resp_header(resp, "Cache-Control", "no-store");
	buf_add(&resp->body, pixel_png, sizeof(pixel_png));
	ev->type = GW_T_PIXEL;
	event_rule(ev, r->index, r->package_id, NULL);
	query_parse(&q, req->raw_query, strlen(req->raw_query));
	px = query_get(&q, "x-pxid");
	if (px != NULL)
		event_str(ev, "pxid", px->val ? px->val : "");
	else
		event_raw(ev, "pxid", "null");
	query_free(&q);
	return 1;
}

static int
pixel_answer(const struct rule_match *m, struct gw_response *resp,
    struct gw_event *ev)
{
	const struct gw_request	*req = m->req;
	const struct rule	*r;
	size_t			 i;

	for (i = 0; i < m->nrules; i++) {
		r = m->rules[i];
		if (pixel_one(r, PIXEL(r), req, resp, ev))
			return 1;
	}
	return 0;
}

static void
pixel_dup_key(const struct rule *r, const char **a, const char **b)
{
	(void)b;
	*a = PIXEL(r)->path;
}

/* The compiled image (ruletype.h). */
static void
pixel_save(struct img_writer *w, const struct rule *r)
{
	iw_str(w, PIXEL(r)->path);
}

static void
pixel_load(struct img_reader *rd, struct rule *r)
{
	struct pixel_rule	*p;

	r->priv = p = arena_alloc(rd->arena, sizeof(*p));
	p->path = ir_str_req(rd);
}

const struct rule_type pixel_v1_type = {
	.name = "pixel-v1",
	.parse = pixel_parse,
	.dup_key = pixel_dup_key,
	.dup_what = "same incoming-path",
	.answer = pixel_answer,
	.save = pixel_save,
	.load = pixel_load,
};
