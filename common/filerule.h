/*
 * file-v1 (URI templates, SPEC §5) and file-v2 (regular expressions, §6)
 * rules: matching, redirect building with query forwarding, body events.
 */
#ifndef FILERULE_H
#define FILERULE_H

#include <stddef.h>

#include "buf.h"

struct rule;
struct gw_request;
struct gw_response;
struct gw_event;

/*
 * Tries one file-v1 / file-v2 rule.  Returns 1 when the rule answered
 * (resp and ev filled: 307 or 200, type file, package-id, rule-index,
 * variables, body-events, location), 0 when it does not match (§5.3).
 */
int	 file_v1_handle(const struct rule *, const struct gw_request *,
	    struct gw_response *, struct gw_event *);
int	 file_v2_handle(const struct rule *, const struct gw_request *,
	    struct gw_response *, struct gw_event *);

/* file-v2: compiles incoming-path (§6); returns NULL with err filled. */
void	*file_v2_compile(const char *src, char *err, size_t errlen);
void	 file_v2_free(void *re);

/*
 * §5.5: appends the request's query parameters to the expanded target in
 * loc (in place).  raw_query is the request's raw query ("" for none).
 */
void	 url_forward_query(struct buf *loc, const char *raw_query);

/*
 * §5.6 / §9: parses up to the first 256 bytes of body as a stream of JSON
 * values and appends a JSON array of (at most 10) objects to out.
 */
void	 body_events(const char *body, size_t n, struct buf *out);

#endif
