/* npm registry rules (SPEC §4). */
#ifndef NPM_H
#define NPM_H

#include <stddef.h>

struct ruleset;
struct gw_request;
struct gw_response;
struct gw_event;

/* Handles the npm part of a rule set; returns 1 when it answered. */
int	 npm_handle(const struct ruleset *, const struct gw_request *,
	    char *const *segs, const size_t *lens, size_t nsegs,
	    struct gw_response *, struct gw_event *);

#endif
