/* The small rule types and the reserved endpoints (SPEC §8-§12). */
#ifndef HANDLERS_H
#define HANDLERS_H

struct rule;
struct gw_ctx;
struct gw_request;
struct gw_response;
struct gw_event;

/* Each returns 1 when it answered, 0 when the rule does not match. */
int	 pixel_handle(const struct rule *, const struct gw_request *,
	    struct gw_response *, struct gw_event *);
int	 telemetry_handle(const struct rule *, const struct gw_request *,
	    char *const *segs, const size_t *lens, size_t nsegs,
	    struct gw_response *, struct gw_event *);
int	 catchall_handle(const struct rule *, const struct gw_request *,
	    struct gw_response *, struct gw_event *);
/* §12: answers /-/ping, /-/health, /-/metrics. */
int	 reserved_handle(const struct gw_ctx *, const struct gw_request *,
	    struct gw_response *, struct gw_event *);

/* 1 when the address ip is inside one of the comma-separated CIDRs. */
int	 cidr_list_contains(const char *list, const char *ip);

#endif
