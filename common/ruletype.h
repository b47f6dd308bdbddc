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
struct img_reader;
struct img_writer;
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

/*
 * The rules of one domain (§2.2), in precedence order (§2.5).  A
 * partial set (made from a lazily opened image, image.h) has no rules:
 * each span holds only its type's index_load_alone index, and an
 * answer that needs the rules returns -1 for the router to ask
 * manifest_whole_set() (manifest.h) for the complete set.
 */
struct ruleset {
	const char	*domain;	/* "host" or "*.suffix"; in the arena */
	struct rule    **rules;		/* precedence order; NULL: partial */
	size_t		 nrules;
	struct rule_span *spans;	/* one per type present, in order */
	size_t		 nspans;
	int		 partial;
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
	 * gw_explain (SPEC §14.1) goes through it too.  In a partial set
	 * (m->rules NULL, m->index from index_load_alone) it returns -1,
	 * having touched neither resp nor ev, when it needs the rules.
	 */
	int		 (*answer)(const struct rule_match *m,
			    struct gw_response *resp, struct gw_event *ev);

	/*
	 * Frees what parse, load or compile allocated outside the arena.
	 * NULL: nothing.
	 */
	void		 (*free)(struct rule *);

	/*
	 * The compiled manifest image (image.h; the writer and reader are
	 * image_int.h's).  A type without save and load cannot be written
	 * to an image (image_compile() then declines, and the manifest is
	 * served as parsed).
	 *
	 * save appends the fields of r's record with iw_*(), after the
	 * header image.c writes (type, index, domain, package-id).
	 *
	 * load reads them back in the same order into a record it
	 * allocates from rd->arena (r->priv; r's header is set), taking its
	 * strings from the image with ir_str() without copying them: the
	 * arena and the image outlive the rule, and free never frees a
	 * string, so a loaded record is freed like a parsed one.  It checks
	 * what parse guarantees and answer relies on (required fields, the
	 * shapes of values) and sets rd->bad on anything else: the image is
	 * then refused.  It compiles nothing, so that image_open() can
	 * decode every record once cheaply; it allocates nothing outside
	 * the arena (a refused record is not freed).
	 *
	 * compile makes, in the process that uses a loaded rule, what parse
	 * would have built (patterns, PCRE2 codes) and answer needs.
	 * Returns -1 when it cannot (another PCRE2 release, say): the rule
	 * is then left out of its set, and free is called.  NULL: nothing to
	 * do.  It runs for every rule of a host on the host's first lookup,
	 * so the rule of each CGI request: what answer can do lazily (file
	 * templates) it leaves out.
	 */
	void		 (*save)(struct img_writer *, const struct rule *r);
	void		 (*load)(struct img_reader *rd, struct rule *r);
	int		 (*compile)(struct rule *r);

	/*
	 * The type's index in the image (python's rendered pages), for a
	 * type with an index operation; NULL: the index is built by index
	 * when the host's rule set is made.  index_save appends what
	 * index_load needs of index ix.  index_load reads it: with out
	 * NULL it only checks (image_open()), else it builds the index of
	 * rules[0..n) around it (rules and what was read outlive it; freed
	 * with index_free).  Returns -1 when malformed.  The data of the
	 * types of a set follow one another in precedence order, each read
	 * by its own index_load.
	 */
	void		 (*index_save)(struct img_writer *, const void *ix);
	int		 (*index_load)(struct img_reader *rd,
			    struct rule *const *rules, size_t n, void **out);

	/*
	 * Reads the same data as index_load into an index that answer can
	 * use without the rules (a partial set, above), freed with
	 * index_free; -1 when malformed.  Strings it reads are checked as
	 * read (ir_str); large ones it may take with ir_blob and check when
	 * used.  NULL: a host with rules of this type is always made
	 * complete.
	 */
	int		 (*index_load_alone)(struct img_reader *rd, void **out);
};

/* The types in precedence order (ruletypes.c); rule_ntypes of them. */
extern const struct rule_type *const rule_types[];
extern const size_t rule_ntypes;

/* The type named s, or NULL. */
const struct rule_type *rule_type_find(const char *s);

#endif
