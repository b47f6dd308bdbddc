/*
 * The Python simple index of a rule set (SPEC §7): built once at load with
 * every page pre-rendered (HTML and JSON, with their ETags), served with
 * negotiation and conditional requests.
 */
#ifndef PYTHON_H
#define PYTHON_H

#include <stddef.h>

struct ruleset;
struct rule;
struct gw_request;
struct gw_response;
struct gw_event;

struct pyindex;

/* Builds the index of a rule set (its python-v1 rules in manifest order).
 * Never fails (abort on OOM). */
struct pyindex *pyindex_build(struct rule *const *rules, size_t nrules);
void	 pyindex_free(struct pyindex *);

/*
 * The rendered pages of an index, for the compiled image (image.h):
 * pyindex_npages() of them, page 0 the root's HTML, 1 its JSON, then
 * the HTML and JSON of each project by normalised name.  Bodies and
 * ETags ("\"...\"") live as long as the index.  pyindex_build_ready()
 * builds the index of the same rules around such pages (borrowed: they
 * must outlive it), rendering them itself when their count is not its.
 */
struct pypage_src {
	const char	*body;
	size_t		 len;
	const char	*etag;
};
size_t	 pyindex_npages(const struct pyindex *);
void	 pyindex_page(const struct pyindex *, size_t i, const char **body,
	    size_t *len, const char **etag);
struct pyindex *pyindex_build_ready(struct rule *const *rules, size_t nrules,
	    const struct pypage_src *pages, size_t npages);

/* Handles a request for the python part of a rule set.  segs are the
 * decoded path segments (§0).  Returns 1 when it answered. */
int	 python_handle(const struct pyindex *, const struct gw_request *,
	    char *const *segs, const size_t *lens, size_t nsegs,
	    struct gw_response *, struct gw_event *);

/*
 * §7.5: chooses the representation from the Accept values of the request.
 * Returns 1 for JSON, 0 for HTML.  accepts: the Accept header values
 * (several when repeated); n may be 0 (missing = * / *).
 */
int	 python_negotiate_json(const char *const *accepts, size_t n);

/* §7.6: 1 when one of the If-None-Match values matches etag ("\"...\""). */
int	 etag_matches(const char *const *inm, size_t n, const char *etag);

/* §7.6: quoted strong ETag of a body into out (at least 48 bytes). */
void	 etag_of(const void *body, size_t len, char *out, size_t outlen);

#endif
