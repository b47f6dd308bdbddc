/*
 * One exchange: a request from the front end's CGI parameters to the
 * response, the event line and the counters.
 *
 *	gw_request_init -> gw_serve -> the plan carried out (an answer
 *	written, or proxy_serve / npm_doc_serve) -> the response finished
 *	towards the web server -> the event's status, bytes and duration ->
 *	counted (metrics.h) -> logged (logsink.h)
 *
 * Every front end (fcgi/: FastCGI records; cgi/: stdout) runs its requests
 * through gw_exchange_run() (or its two steps) over a struct gw_front it
 * implements.
 */
#ifndef EXCHANGE_H
#define EXCHANGE_H

#include "gateway.h"
#include "gwout.h"
#include "proxy_module.h"

struct logsink;
struct proxy;

struct gw_front {
	struct gw_out	 out;	/* the client side; out.ctx is every hook's */
	struct logsink	*log;	/* where the event line goes */
	/*
	 * Optional: sets req->read_body and req->body_ctx, right after
	 * gw_request_init().
	 */
	void		 (*begin)(void *ctx, struct gw_request *);
	/* Optional: after gw_serve(), before anything is written. */
	void		 (*served)(void *ctx, const struct gw_response *);
	/*
	 * Optional: after gw_serve(), when manifest_damaged() says the
	 * lazily opened image of the manifest failed a check (image.h):
	 * another manifest to answer from (the front end keeps it), or
	 * NULL to send the answer as it is.
	 */
	struct manifest	*(*damaged)(void *ctx, struct manifest *);
	/*
	 * For a proxied plan (GW_PLAN_PROXY, GW_PLAN_NPM_DOC): the upstream
	 * exchanges (the proxy module's table, or one of the program's own
	 * functions) and in *px a proxy for this request, given back with
	 * proxy_put.  NULL with *why (not freed) when there are none: the
	 * request is then answered 502 (proxy_module_fail).  A front end
	 * without proxy_get answers every proxied plan so.
	 */
	const struct proxy_module *(*proxy_get)(void *ctx, struct proxy **px,
		    const char **why);
	void		 (*proxy_put)(void *ctx, struct proxy *);
	/*
	 * Completes the response towards the web server (FastCGI:
	 * END_REQUEST; CGI: EOF on stdout).  Returns NULL when the response
	 * was delivered, else why not (static or the front end's; not
	 * freed) and in *lost the bytes written that never reached the web
	 * server (taken off the event's bytes).
	 */
	const char	*(*finish)(void *ctx, long long *lost);
};

/*
 * One request under way.  The front end owns it (it may be handed to
 * another thread between the two steps); ctx, params and fe must outlive
 * it.
 */
struct gw_exchange {
	struct gw_ctx		*ctx;
	const struct gw_front	*fe;
	struct gw_request	 req;
	struct gw_response	 resp;
	struct gw_event		 ev;
};

/*
 * Runs one request: params are its CGI parameters ("NAME=value",
 * NULL-terminated; read until the event is logged), ctx what it is served
 * with (ctx->now is set here).  Counts it in ctx->stats (in flight while
 * it runs, then by type and status, and its duration) and writes its
 * event line to fe->log.  gw_exchange_begin() then, when it returns 1,
 * gw_exchange_transfer().
 */
void	 gw_exchange_run(struct gw_ctx *ctx, char *const *params,
	    const struct gw_front *fe);
/*
 * The first step: the request built and served.  Returns 0 when the
 * exchange is over (an answer written, finished, counted and logged), 1
 * when a proxied plan is left for gw_exchange_transfer(), which the front
 * end may run on another thread.
 */
int	 gw_exchange_begin(struct gw_exchange *, struct gw_ctx *ctx,
	    char *const *params, const struct gw_front *fe);
/* The second step: the proxied plan carried out, finished, counted and
 * logged. */
void	 gw_exchange_transfer(struct gw_exchange *);

/*
 * The plan's step alone: writes resp through out (GW_PLAN_ANSWER) or has
 * pm carry the proxied plan out with px.  Sets ev->status and ev->bytes.
 */
void	 gw_plan_run(const struct proxy_module *pm, struct proxy *px,
	    const struct gw_ctx *, const struct gw_request *,
	    struct gw_response *, struct gw_event *, struct gw_out *);

#endif
