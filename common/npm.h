/* npm registry rules (SPEC §4). */
#ifndef NPM_H
#define NPM_H

#include <stddef.h>

/* The record of an npm-v1 rule behind struct rule (ruletype.h). */
enum npm_kind { NPM_EXACT, NPM_SCOPE, NPM_ANY };	/* §2.5 order */
struct npm_rule {
	const char	*name;		/* package-name as written */
	enum npm_kind	 kind;
	const char	*registry_base;	/* §4.1: without trailing '/' */
};

/* npm's limit on the length of a package name, scope included. */
#define NPM_NAME_MAX	214

/*
 * Why the decoded package name[0..n) is not one npm would accept (a static
 * string), or NULL when it is: non-empty, at most NPM_NAME_MAX bytes,
 * "name" or "@scope/name" where the scope and the name consist of
 * URL-friendly characters (A-Z a-z 0-9 - _ . ~ ! ' ( ) *), neither
 * starts with '.', the scope and an unscoped name not with '_', and not
 * node_modules or favicon.ico.  Capitals are accepted (older packages
 * have them).
 */
const char *npm_name_invalid(const char *name, size_t n);

/*
 * Whether the decoded version or dist-tag v[0..n) may stand as one
 * upstream path segment: non-empty, not "." or "..", no '/', '\' or NUL.
 */
int	 npm_version_ok(const char *v, size_t n);

#endif
