/*
 * The rule types, in precedence order (SPEC §2.5): the one place that
 * names them all.  A type is a const struct rule_type (ruletype.h)
 * defined in its own module; list it here, where its precedence puts it.
 */
#include "config.h"

#include <stddef.h>
#include <string.h>

#include "ruletype.h"

#define RULE_TYPE_LIST							\
	X(docker_v1_type)	/* docker.c, §3 */			\
	X(docker_v2_type)	/* docker.c, §3 */			\
	X(npm_v1_type)		/* npm.c, §4 */				\
	X(file_v1_type)		/* filerule.c, §5 */			\
	X(file_v2_type)		/* filerule.c, §6 */			\
	X(python_v1_type)	/* python.c, §7 */			\
	X(pixel_v1_type)	/* pixel.c, §8 */			\
	X(telemetry_v1_type)	/* telemetry.c, §9 */			\
	X(catch_all_v1_type)	/* catchall.c, §10 */

#define X(t)	extern const struct rule_type t;
RULE_TYPE_LIST
#undef X

#define X(t)	&t,
const struct rule_type *const rule_types[] = { RULE_TYPE_LIST };
#undef X

const size_t rule_ntypes = sizeof(rule_types) / sizeof(rule_types[0]);

const struct rule_type *
rule_type_find(const char *s)
{
	size_t	 i;

	for (i = 0; i < rule_ntypes; i++)
		if (strcmp(s, rule_types[i]->name) == 0)
			return rule_types[i];
	return NULL;
}

const struct rule_span *
ruleset_span(const struct ruleset *set, const struct rule_type *t)
{
	size_t	 i;

	for (i = 0; set != NULL && i < set->nspans; i++)
		if (set->spans[i].type == t)
			return &set->spans[i];
	return NULL;
}
