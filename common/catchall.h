/* catch-all-v1 rules (SPEC §10, catchall.c): the record behind struct rule. */
#ifndef CATCHALL_H
#define CATCHALL_H

struct catchall_rule {
	/* redirect-target-domain without a trailing '/'; NULL: answer 200 */
	const char	*target;
};

#endif
