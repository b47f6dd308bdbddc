/*
 * Docker / OCI distribution rules (SPEC §3): image patterns, the list of
 * redirect-capable User-Agents, and the request handler.
 */
#ifndef DOCKER_H
#define DOCKER_H

#include <stddef.h>

struct cJSON;
struct gw_request;
struct gw_response;
struct gw_event;
struct ruleset;

struct dpattern;		/* opaque compiled image pattern (§3.2) */

/* Returns 0, or -1 with a static message in *err. */
int	 dpattern_compile(const char *src, struct dpattern **out,
	    const char **err);
void	 dpattern_free(struct dpattern *);
/* segs: the image name's segments (decoded). */
int	 dpattern_match(const struct dpattern *, char *const *segs,
	    const size_t *lens, size_t nsegs);

enum ua_kind { UA_PREFIX, UA_CONTAINS, UA_EQUALS, UA_PRODUCT };
struct ua_rule {
	enum ua_kind	 kind;
	char		*s;		/* the string, or the product */
	char		*min, *below;	/* versions for UA_PRODUCT; below may be NULL */
};
struct ua_list {
	struct ua_rule	*v;
	size_t		 n;
};
/* Parses settings.docker-redirect-user-agents; -1 with err filled. */
int	 ua_list_parse(const struct cJSON *, struct ua_list *, char *err,
	    size_t errlen);
void	 ua_list_free(struct ua_list *);
/* list NULL means the default list of §3.3. */
int	 ua_redirect_capable(const struct ua_list *, const char *ua);

/*
 * Docker registry base URL (§3.4) for a validated `registry` value:
 * "https://host[:port]" or the configured URL without a trailing '/', with
 * the docker.io mapping applied.  Caller frees.  *logname gets the value
 * logged as `registry` (§3.6), caller frees.  Returns -1 if invalid.
 */
int	 docker_registry_base(const char *registry, char **base,
	    char **logname);

/* Handles the docker part of a rule set.  Returns 1 when it answered. */
struct gw_ctx;
struct manifest;
int	 docker_handle(const struct gw_ctx *, const struct ruleset *,
	    const struct gw_request *, char *const *segs, const size_t *lens,
	    size_t nsegs, struct gw_response *, struct gw_event *);

#endif
