/*
 * The gateway core: one request in, one response and one event out.
 *
 * The front ends (fcgi/, cgi/) build a struct gw_request from their CGI
 * parameters with gw_request_init(), call gw_serve(), write the struct
 * gw_response, fill in the transport facts of the event (status, bytes,
 * duration) and hand it to the event log.  Nothing in here does I/O except
 * through the body-reading callback of the request.
 */
#ifndef GATEWAY_H
#define GATEWAY_H

#include <stdatomic.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "buf.h"
#include "event.h"
#include "gwconfig.h"
#include "metrics.h"
#include "request.h"
#include "response.h"
#include "util.h"

struct manifest;
struct ruleset;

/* Process-wide state the reserved endpoints report (SPEC §12). */
/* Status codes counted one by one (GW_NCODES, metrics.h); the last slot
 * counts every other. */
extern const int gw_stat_codes[GW_NCODES];

/* Everything gw_serve needs besides the request. */
struct gw_ctx {
	struct manifest		*manifest;	/* NULL: none loaded (§2.4) */
	const char		*manifest_error;	/* why, when NULL */
	const char		*last_reload_error;	/* or NULL */
	const struct gw_config	*config;
	struct gw_stats		*stats;
	time_t			 now;
};

/*
 * Answers one request (SPEC §2.3).  Fills resp and ev; the caller sends the
 * response, then sets ev->status/bytes/duration and logs it; resp->plan
 * says what the response is (exchange.h carries it out).
 */
void	 gw_serve(const struct gw_ctx *, struct gw_request *,
	    struct gw_response *, struct gw_event *);

/*
 * §12: answers /-/ping, /-/health and /-/metrics (handlers.c).  Returns 1
 * when it answered.
 */
int	 reserved_handle(const struct gw_ctx *, const struct gw_request *,
	    struct gw_response *, struct gw_event *);

/* Counts a finished request in the metrics. */
void	 gw_stats_count(struct gw_stats *, enum gw_type, int status);

/*
 * "explain METHOD HOST PATH [NAME:VALUE...]" (SPEC §14.1): routes a synthetic
 * request and writes one JSON object to out.  Never contacts an upstream.
 */
void	 gw_explain(const struct gw_ctx *, const char *method,
	    const char *host, const char *target, char *const *headers,
	    size_t nheaders, struct buf *out);

extern const char gw_version[];

/*
 * The raw path's decoded segments (SPEC §0): "/simple/" gives
 * ["simple", ""], "/" gives [].  Free with gw_free_path().
 */
size_t	 gw_split_path(const char *path, char ***segs, size_t **lens);
void	 gw_free_path(char **segs, size_t *lens, size_t n);

#endif
