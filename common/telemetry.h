/* telemetry-v1 rules (SPEC §9, telemetry.c): the record behind struct rule. */
#ifndef TELEMETRY_H
#define TELEMETRY_H

#include <stddef.h>

struct telemetry_rule {
	const char	*path;		/* incoming-path without any ?query */
	const char	**tokens;	/* access-tokens */
	size_t		 ntokens;
	int		 tokens_set;	/* 0: open to everyone */
};

#endif
