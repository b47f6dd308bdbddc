/*
 * Which clients get a redirect rather than a proxied answer (SPEC §3.3):
 * the default list, or the manifest's docker-redirect-user-agents.
 */
#ifndef UA_H
#define UA_H

#include <stddef.h>

struct cJSON;

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

#endif
