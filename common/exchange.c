/*
 * One exchange, the same for every front end (exchange.h).
 */
#include "config.h"

#include <stdlib.h>
#include <time.h>

#include "buf.h"
#include "event.h"
#include "exchange.h"
#include "logsink.h"
#include "manifest.h"
#include "metrics.h"
#include "xmalloc.h"

void
gw_plan_run(const struct proxy_module *pm, struct proxy *px,
    const struct gw_ctx *ctx, const struct gw_request *req,
    struct gw_response *resp, struct gw_event *ev, struct gw_out *out)
{
	const char	*body;
	size_t		 n;

	switch (resp->plan) {
	case GW_PLAN_PROXY:
		/* fills ev->status, ev->bytes and ev->error itself */
		pm->proxy_serve(px, ctx, req, resp, ev, out);
		break;
	case GW_PLAN_NPM_DOC:
		pm->npm_doc_serve(px, ctx, req, resp, ev, out);
		break;
	case GW_PLAN_ANSWER:
	default:
		/* no flush: the front end sends the answer with its end
		 * (finish); a failed write shows up there, or in the
		 * front end's own record of it */
		body = resp_body(resp, &n);
		(void)gw_out_response(out, req, resp, body, n, 0, ev);
		break;
	}
}

/* The end of every exchange: finished, counted, logged, freed. */
static void
exchange_end(struct gw_exchange *x)
{
	const struct gw_front	*fe = x->fe;
	struct gw_stats		*stats = x->ctx->stats;
	struct gw_event		*ev = &x->ev;
	struct buf		 line = BUF_INIT;
	const char		*why;
	long long		 lost = 0;

	if ((why = fe->finish(fe->out.ctx, &lost)) != NULL) {
		/* what the front end still held never reached the web
		 * server: the last bytes written, so the body's last ones */
		ev->bytes -= ev->bytes < lost ? ev->bytes : lost;
		if (ev->error == NULL) {
			buf_printf(&line, "response not delivered: %s", why);
			ev->error = buf_steal(&line);
		}
	}

	ev->duration_ms = mono_elapsed_ms(&x->req.mono);
	event_format(ev, &x->req, &line);
	/* counted before it is logged: a request in the log is in
	 * /-/metrics too (tests/e2e/metrics.sh waits on the log) */
	gw_stats_count(stats, ev->type, ev->status);
	metrics_observe(stats, ev->type, mono_elapsed_us(&x->req.mono));
	metrics_inflight(stats, -1);
	logsink_write(fe->log, line.p, line.n);

	buf_free(&line);
	gw_event_free(ev);
	gw_response_free(&x->resp);
	gw_request_free(&x->req);
}

int
gw_exchange_begin(struct gw_exchange *x, struct gw_ctx *ctx,
    char *const *params, const struct gw_front *fe)
{
	struct gw_out	 out = fe->out;
	struct manifest	*m;

	x->ctx = ctx;
	x->fe = fe;
	metrics_inflight(ctx->stats, 1);
	gw_request_init(&x->req, params, ctx->config);
	if (fe->begin != NULL)
		fe->begin(out.ctx, &x->req);
	ctx->now = time(NULL);
	gw_serve(ctx, &x->req, &x->resp, &x->ev);
	if (fe->damaged != NULL && manifest_damaged(ctx->manifest) &&
	    (m = fe->damaged(out.ctx, ctx->manifest)) != NULL) {
		ctx->manifest = m;
		gw_response_free(&x->resp);
		gw_event_free(&x->ev);
		gw_serve(ctx, &x->req, &x->resp, &x->ev);
	}
	if (fe->served != NULL)
		fe->served(out.ctx, &x->resp);
	if (x->resp.plan != GW_PLAN_ANSWER)
		return 1;
	gw_plan_run(NULL, NULL, ctx, &x->req, &x->resp, &x->ev, &out);
	exchange_end(x);
	return 0;
}

void
gw_exchange_transfer(struct gw_exchange *x)
{
	const struct gw_front		*fe = x->fe;
	const struct proxy_module	*pm = NULL;
	struct proxy			*px = NULL;
	struct gw_out			 out = fe->out;
	const char			*why = "no upstream exchanges";

	if (fe->proxy_get != NULL)
		pm = fe->proxy_get(out.ctx, &px, &why);
	if (pm == NULL)
		/* the answer of its kind, written as one */
		proxy_module_fail(&x->resp, &x->ev, why);
	gw_plan_run(pm, px, x->ctx, &x->req, &x->resp, &x->ev, &out);
	if (px != NULL && fe->proxy_put != NULL)
		fe->proxy_put(out.ctx, px);
	exchange_end(x);
}

void
gw_exchange_run(struct gw_ctx *ctx, char *const *params,
    const struct gw_front *fe)
{
	struct gw_exchange	 x;

	if (gw_exchange_begin(&x, ctx, params, fe) == 1)
		gw_exchange_transfer(&x);
}
