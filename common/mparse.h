/*
 * Reading a manifest (mparse.c): the diagnostics of SPEC §1.5 and typed
 * access to the members of a JSON object, shared by the loader
 * (manifest.c) and the parse operation of every rule type (ruletype.h).
 *
 * Messages are one line each, prefixed with the manifest's name and the
 * rule or setting they concern (manifest.c lists every message):
 *
 *	<name>: rules[<i>] (<type>): "<field>": <message>
 */
#ifndef MPARSE_H
#define MPARSE_H

#include "buf.h"

struct arena;
struct cJSON;

#define MANIFEST_MAXERRORS	100
#define MANIFEST_MAXWARNINGS	1000
/* Values quoted in messages are cut after this many bytes ("..."). */
#define MP_ECHO_MAX		80

/* Errors and warnings of a load, one message per line (§1.5). */
struct manifest_diag {
	struct buf	 errors;
	struct buf	 warnings;
};

/* The state of one load. */
struct mctx {
	const char		*name;		/* file name in messages */
	struct manifest_diag	*d;
	int			 nerrors;
	int			 nwarnings;
	int			 idx;		/* rule index, -1 outside */
	const char		*tname;		/* type of that rule, or NULL */
	int			 in_settings;
	struct buf		 q;		/* mp_quote() */
	struct arena		*arena;		/* the manifest's strings */
};

/* One error (warning) line in the current context; field may be NULL.
 * Errors past MANIFEST_MAXERRORS are counted, not written. */
void	 mp_err(struct mctx *, const char *field, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	 mp_warn(struct mctx *, const char *field, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* s quoted as a JSON string, cut after MP_ECHO_MAX bytes.  Valid until
 * the next call. */
const char *mp_quote(struct mctx *, const char *s);
/* The JSON type of a value for messages: "null", "boolean", ... */
const char *mp_jtype(const struct cJSON *);

/* The member key of obj, or NULL.  The last of repeated keys wins, with
 * a warning. */
const struct cJSON *mp_field(struct mctx *, const struct cJSON *obj,
	    const char *key);
/*
 * A string member.  Returns 1 with *out (borrowed from the tree), 0 when
 * it is missing or null (an error when required), -1 after a type error.
 */
int	 mp_str(struct mctx *, const struct cJSON *obj, const char *key,
	    int required, const char **out);
/* A boolean member: 1 with *out, 0 when missing or null, -1 on error. */
int	 mp_bool(struct mctx *, const struct cJSON *obj, const char *key,
	    int *out);
/* A required (optional) string member copied into the arena as *dst,
 * unchanged when missing or wrong; returns as mp_str. */
int	 mp_take_str(struct mctx *, const struct cJSON *obj, const char *key,
	    const char **dst);
int	 mp_take_opt_str(struct mctx *, const struct cJSON *obj,
	    const char *key, const char **dst);

/* Characters of host names (letters, digits, - _ .) and of IPv6
 * literals (hex digits, ':' and '.'). */
int	 mp_is_hostch(int c);
int	 mp_is_v6ch(int c);

#endif
