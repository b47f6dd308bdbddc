/*
 * The manifest (SPEC §1): parsed and validated completely, then indexed by
 * host into rule sets sorted by precedence (§2.5).  A loaded manifest is
 * immutable and reference-counted: a reload builds a new one and swaps the
 * pointer; requests keep the one they started with.
 */
#ifndef MANIFEST_H
#define MANIFEST_H

#include <sys/stat.h>

#include <stdatomic.h>
#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "docker.h"

struct tmpl;
struct pyindex;

/* In precedence order (§2.5). */
enum rule_type {
	RULE_DOCKER_V1,
	RULE_DOCKER_V2,
	RULE_NPM_V1,
	RULE_FILE_V1,
	RULE_FILE_V2,
	RULE_PYTHON_V1,
	RULE_PIXEL_V1,
	RULE_TELEMETRY_V1,
	RULE_CATCH_ALL_V1,
	RULE__COUNT
};
const char *rule_type_name(enum rule_type);

enum npm_kind { NPM_EXACT, NPM_SCOPE, NPM_ANY };

struct rule {
	enum rule_type	 type;
	int		 index;		/* position in the manifest */
	char		*domain;	/* normalised */
	char		*package_id;	/* NULL for docker-v2 */

	/* docker-v1, docker-v2 (§3) */
	char		*rule_id;	/* docker-v2 */
	char		*repository;	/* docker-v1 repository-name */
	char	       **repo_segs;	/* its '/'-separated components */
	size_t		 nrepo_segs;
	char		*pattern_src;	/* docker-v2 pattern as written */
	struct dpattern	*pattern;	/* docker-v2 */
	char		*registry_base;	/* docker: §3.4; npm: §4.1 registry base */
	char		*registry_log;	/* docker: §3.6 */
	int		 always_proxy;

	/* npm-v1 (§4) */
	char		*npm_name;	/* package-name as written */
	enum npm_kind	 npm_kind;

	/* file-v1, file-v2 (§5, §6) */
	char		*in_src;	/* incoming-path as written */
	/* file-v1; the templates are compiled on first use: read them
	 * with rule_in_tmpl() and rule_out_tmpl() */
	_Atomic(struct tmpl *) in_tmpl;
	void		*re;		/* file-v2: pcre2_code * */
	char		*out_src;	/* outgoing-url, NULL for null */
	_Atomic(struct tmpl *) out_tmpl;	/* NULL for null */
	int		 out_never;	/* literal outgoing-url failing the URL check */
	char	       **spec;		/* file-v1 specificity list (§2.5) */
	size_t		 nspec;

	/* python-v1 (§7) */
	char		*py_name;	/* package-name as written */
	char		*py_norm;	/* PEP 503 normalised */
	char		*file_name;
	char		*version;
	char		*backend_url;
	char		*hash_type, *hash;	/* NULL without hash-value */
	int		 gpg_sig;		/* -1 absent, 0, 1 */
	char		*requires_python;
	int		 yanked;		/* 0 no, 1 yes */
	char		*yanked_reason;		/* NULL for `true` */
	int		 core_md;		/* 0 none, 1 true, 2 hash */
	char		*core_md_type, *core_md_hash;
	char		*backend_index;		/* backend-simple-index-url */

	/* pixel-v1 (§8), telemetry-v1 (§9) */
	char		*path;		/* incoming-path (telemetry: no ?query) */
	char	       **tokens;	/* telemetry access-tokens */
	size_t		 ntokens;
	int		 tokens_set;	/* 0: open to everyone */

	/* catch-all-v1 (§10) */
	char		*target;	/* redirect-target-domain, no trailing '/'; NULL = 200 */
};

struct ruleset {
	char		*domain;	/* "host" or "*.suffix" */
	struct rule    **rules;		/* precedence order */
	size_t		 nrules;
	size_t		 first[RULE__COUNT];	/* index in rules of the first rule of a type */
	size_t		 count[RULE__COUNT];	/* number of rules of that type */
	struct pyindex	*py;		/* NULL without python-v1 rules */
};

struct manifest_backing;

struct manifest {
	atomic_int	 refs;
	struct rule	*rules;		/* manifest order; NULL from an image */
	size_t		 nrules;
	struct ruleset	*sets;		/* sorted by domain (strcmp) */
	size_t		 nsets;
	struct ua_list	*redirect_uas;	/* NULL: default list (§3.3) */
	long		 npm_cache_ttl;
	time_t		 loaded_at;
	/*
	 * A manifest loaded from a compiled image (image.h) has no rules
	 * and sets of its own: backing makes a host's rule set on its first
	 * lookup, its strings borrowed from the image, and frees them with
	 * the image.  NULL for a manifest parsed from JSON.
	 */
	const struct manifest_backing *backing;
	void		*backing_data;
};

struct manifest_diag;

struct manifest_backing {
	const struct ruleset *(*lookup)(const struct manifest *,
		    const char *host);
	void	(*release)(struct manifest *);
};

/*
 * The image cache as manifest_load_file() uses it (image.h sets it;
 * NULL when images are off).  find(): the image of the file at path
 * with stat *st, without reading the file; 0 and *out, or -1.  store():
 * records a manifest just parsed from text as that file's image; 0 when
 * it did.  Neither ever fails a load.
 */
struct manifest_cache {
	int	(*find)(const char *path, const struct stat *st,
		    struct manifest **out, struct manifest_diag *d);
	int	(*store)(const char *path, const struct stat *st,
		    const char *text, size_t len, const struct manifest *m,
		    const struct manifest_diag *d);
};
extern const struct manifest_cache *manifest_cache;

/* Errors and warnings of a load, one message per line (§1.5). */
struct manifest_diag {
	struct buf	 errors;
	struct buf	 warnings;
};
void	 manifest_diag_free(struct manifest_diag *);

/*
 * Parses and validates a manifest from text.  name is the file name used in
 * messages ("manifest.json").  Returns 0 and *out (one reference held by the
 * caller), or -1 with at least one line in d->errors.  Warnings are written
 * to d->warnings either way.
 */
int	 manifest_parse(const char *name, const char *text, size_t len,
	    struct manifest **out, struct manifest_diag *d);
/*
 * Reads and parses a file.  Returns 0 (ok), 1 (invalid, error in d) or 2
 * (cannot be read, error in d).
 */
int	 manifest_load_file(const char *path, struct manifest **out,
	    struct manifest_diag *d);

void	 manifest_ref(struct manifest *);
void	 manifest_unref(struct manifest *);	/* frees at zero */

/*
 * The compiled incoming-path template of a file-v1 rule (NULL for any
 * other rule) and the outgoing-url template of a file rule (NULL for a
 * null one).  Compiled on first use and kept with the rule: the templates
 * of a 160,000-rule manifest took 40 % of its memory, most of them for
 * hosts no request asks for.  Thread-safe; owned by the rule.
 */
const struct tmpl *rule_in_tmpl(const struct rule *);
const struct tmpl *rule_out_tmpl(const struct rule *);

/* The rule set for a normalised host (§2.2), or NULL. */
const struct ruleset *manifest_lookup(const struct manifest *,
	    const char *host);

/* PEP 503 normalisation; caller frees. */
char	*pep503_normalise(const char *name, size_t len);

#endif
