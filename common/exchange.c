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
#include "metrics.h"
#include "xmalloc.h"

void
gw_plan_run(const struct proxy_module *pm, struct proxy *px,
    const struct gw_ctx *ctx, const struct gw_request *req,
    struct gw_response *resp, struct gw_event *ev, struct gw_out *out)
{
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
		(void)gw_out_response(out, req, resp, resp->body.p,
		    resp->body.n, 0, ev);
		break;
	}
}

void
gw_exchange(struct gw_ctx *ctx, char *const *params,
    const struct gw_front *fe)
{
	struct gw_request		 req;
	struct gw_response		 resp;
	struct gw_event			 ev;
	struct gw_out			 out = fe->out;
	struct buf			 line = BUF_INIT;
	const struct proxy_module	*pm = NULL;
	struct proxy			*px = NULL;
	const char			*why = "no upstream exchanges";
	long long			 lost = 0;

	metrics_inflight(ctx->stats, 1);
	gw_request_init(&req, params, ctx->config);
	if (fe->begin != NULL)
		fe->begin(out.ctx, &req);
	ctx->now = time(NULL);
	gw_serve(ctx, &req, &resp, &ev);
	if (fe->served != NULL)
		fe->served(out.ctx, &resp);

	if (resp.plan != GW_PLAN_ANSWER) {
		if (fe->proxy_get != NULL)
			pm = fe->proxy_get(out.ctx, &px, &why);
		if (pm == NULL)
			/* the answer of its kind, written below */
			proxy_module_fail(&resp, &ev, why);
	}
	gw_plan_run(pm, px, ctx, &req, &resp, &ev, &out);
	if (px != NULL && fe->proxy_put != NULL)
		fe->proxy_put(out.ctx, px);

	if ((why = fe->finish(out.ctx, &lost)) != NULL) {
		/* what the front end still held never reached the web
		 * server: the last bytes written, so the body's last ones */
		ev.bytes -= ev.bytes < lost ? ev.bytes : lost;
		if (ev.error == NULL) {
			buf_printf(&line, "response not delivered: %s", why);
			ev.error = buf_steal(&line);
		}
	}

	ev.duration_ms = mono_elapsed_ms(&req.mono);
	event_format(&ev, &req, &line);
	/* counted before it is logged: a request in the log is in
	 * /-/metrics too (tests/e2e/metrics.sh waits on the log) */
	gw_stats_count(ctx->stats, ev.type, ev.status);
	metrics_observe(ctx->stats, ev.type, mono_elapsed_us(&req.mono));
	metrics_inflight(ctx->stats, -1);
	logsink_write(fe->log, line.p, line.n);

	buf_free(&line);
	gw_event_free(&ev);
	gw_response_free(&resp);
	gw_request_free(&req);
}
