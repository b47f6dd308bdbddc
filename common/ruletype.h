/*
 * Rule types behind one interface.
 *
 * Every rule type of the manifest (SPEC §3-§10) is one struct rule_type: a
 * row of operations that the manifest loader (manifest.c) and the router
 * (gateway.c) call without knowing which type they hold.  The rows are
 * listed once, in precedence order (SPEC §2.5), in ruletypes.c; the data
 * of a type (its fields, its compiled patterns, its per-host index) lives
 * only in the type's own module behind struct rule's priv pointer.
 *
 * Adding a type is one new file defining a const struct rule_type and one
 * line in ruletypes.c's list (README, "Adding a rule type").
 *
 * Memory.  A loaded manifest owns one string arena (arena.h).  Parse
 * operations allocate the strings of their record, and the record itself
 * when it holds no pointer that needs freeing, from c->arena; the free
 * operation releases only what is not in the arena (arrays grown with
 * xreallocarray, PCRE2 codes, lazily compiled templates), never a string.
 * A record may so point its strings at memory that outlives the manifest
 * but was never malloc'd, such as a mapped image.
 */
#ifndef RULETYPE_H
#define RULETYPE_H

#include <stddef.h>

struct arena;
struct cJSON;
struct gw_event;
struct gw_request;
struct gw_response;
struct manifest;
struct mctx;
struct rule_type;

/* The part of a rule every type has. */
struct rule {
	const struct rule_type	*type;
	int			 index;	/* position in the manifest */
	unsigned		 rank;	/* rule_types[rank] == type */
	const char		*domain;	/* normalised; in the arena */
	const char		*package_id;	/* in the arena; NULL: none */
	void			*priv;	/* the type's own record */
};

/*
 * The rules of one type in a host's rule set: rules[first..first+count) of
 * the set, sorted by the type's cmp, and the index the type's index
 * operation built of them (NULL without one).
 */
struct rule_span {
	const struct rule_type	*type;
	size_t			 first, count;
	void			*index;
};

/* The rules of one domain (§2.2), in precedence order (§2.5). */
struct ruleset {
	const char	*domain;	/* "host" or "*.suffix"; in the arena */
	struct rule    **rules;		/* precedence order */
	size_t		 nrules;
	struct rule_span *spans;	/* one per type present, in order */
	size_t		 nspans;
};

/* The span of type t in a rule set, or NULL when the set has none. */
const struct rule_span *ruleset_span(const struct ruleset *,
	    const struct rule_type *t);

/* What an answer operation gets besides the response and the event. */
struct rule_match {
	const struct manifest	*manifest;	/* settings (manifest.h) */
	const struct gw_request	*req;
	char *const		*segs;		/* decoded path segments (§0) */
	const size_t		*lens;
	size_t			 nsegs;
	struct rule *const	*rules;		/* its rules in the set */
	size_t			 nrules;
	const void		*index;		/* their index, or NULL */
};

/*
 * The operations of a type.  Only name, parse and answer are required;
 * a NULL operation means "nothing to do" as described with it.
 */
struct rule_type {
	/* The manifest's "type" value ("docker-v1"). */
	const char	*name;

	/*
	 * 1 when the type reads "package-name" itself; 0: the loader only
	 * checks that a "package-name" (§1.2, ignored) is a string.
	 */
	int		 reads_package_name;

	/*
	 * Validates rule object o (domain and the common fields are done)
	 * and sets r->package_id and r->priv.  Reports every problem with
	 * mp_err()/mp_warn() (mparse.h), which name the rule and field as
	 * SPEC §1.5 wants; after an error the manifest is discarded, so
	 * the record may be left incomplete (free must cope).  Strings come
	 * from c->arena.
	 */
	void		 (*parse)(struct mctx *c, const struct cJSON *o,
			    struct rule *r);

	/*
	 * Orders two rules of this type on one domain (§2.5): < 0 when a
	 * comes first.  NULL: manifest order.  Ties keep manifest order.
	 */
	int		 (*cmp)(const struct rule *a, const struct rule *b);

	/*
	 * The duplicate key (§1.5 warnings): two rules of this type on one
	 * domain with equal keys (both of *a and *b equal, NULL equal to
	 * NULL) make the later one unreachable.  dup_what names the key in
	 * the warning ("same repository-name").  NULL: never a duplicate.
	 */
	void		 (*dup_key)(const struct rule *, const char **a,
			    const char **b);
	const char	*dup_what;

	/*
	 * Builds the index of a host's rules of this type (sorted, count >
	 * 0), which answer finds in m->index; freed with index_free.  The
	 * rules outlive it.  NULL: no index.
	 */
	void		*(*index)(struct rule *const *rules, size_t n);
	void		 (*index_free)(void *);

	/*
	 * Tries the type's rules of a host's set on a request (§2.3 step
	 * 4).  Returns 1 when it answered (resp and ev filled: status,
	 * headers, body or a proxy URL; the event type, rule index and the
	 * type's fields), 0 to let the next type try; it may have recorded
	 * warnings in ev (event_warn) either way.  Called only when the set
	 * has rules of the type.  Thread-safe: rules are shared by threads.
	 * gw_explain (SPEC §14.1) goes through it too.
	 */
	int		 (*answer)(const struct rule_match *m,
			    struct gw_response *resp, struct gw_event *ev);

	/* Frees what parse allocated outside the arena.  NULL: nothing. */
	void		 (*free)(struct rule *);
};

/* The types in precedence order (ruletypes.c); rule_ntypes of them. */
extern const struct rule_type *const rule_types[];
extern const size_t rule_ntypes;

/* The type named s, or NULL. */
const struct rule_type *rule_type_find(const char *s);

#endif
