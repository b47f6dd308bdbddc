/*
 * RFC 6570 (level 4) URI templates, as SPEC §5 uses them: parsed once at
 * manifest load, matched against a request's raw path and query (§5.2),
 * expanded into a redirect target (§5.4).
 */
#ifndef TMPL_H
#define TMPL_H

#include <stddef.h>

#include "buf.h"

struct tmpl;			/* opaque, immutable once parsed */

#define TMPL_MAXVARS 32

/* Captured or given variable values.  Values are decoded text (may hold any
 * byte but are valid UTF-8 when captured); names and values are owned. */
struct tmpl_var {
	char	*name;
	char	*value;		/* NULL = undefined */
	size_t	 len;
};
struct tmpl_vars {
	size_t		 n;
	struct tmpl_var	 v[TMPL_MAXVARS];
};

void	 tmpl_vars_free(struct tmpl_vars *);
/* Defined value of name, or NULL (len through *len when not NULL). */
const char *tmpl_vars_get(const struct tmpl_vars *, const char *name,
	    size_t *len);
/* Sets name to a copy of value[0..len) (replacing an earlier value). */
void	 tmpl_vars_set(struct tmpl_vars *, const char *name,
	    const char *value, size_t len);

/*
 * Parses src (§5.1).  Returns 0, or -1 with a short message in err (for
 * the §1.5 error line, e.g. "unclosed expression at offset 7").
 */
int	 tmpl_parse(const char *src, struct tmpl **out, char *err,
	    size_t errlen);
void	 tmpl_free(struct tmpl *);

/* 1 when the template has at least one expression. */
int	 tmpl_has_exprs(const struct tmpl *);
/* 1 when the template uses variable name. */
int	 tmpl_uses(const struct tmpl *, const char *name);

/*
 * Matches an incoming-path template against a raw path and raw query
 * (SPEC §5.2, both parts).  On a match returns 1 and fills vars with every
 * variable of the template (undefined ones with value NULL are not
 * included: vars holds only defined variables); returns 0 otherwise.
 * The caller frees vars with tmpl_vars_free() after a match.
 */
int	 tmpl_match(const struct tmpl *, const char *path, size_t pathlen,
	    const char *query, size_t querylen, struct tmpl_vars *vars);

/*
 * 0 when a template written src cannot match the raw path whatever the
 * query (tmpl_match() would return 0): the plain ASCII text src begins
 * with, up to its first '{', '%', '?' or other byte, is not a prefix of
 * path.  1 otherwise.  Reads src only, so a caller can rule a template out
 * before it parses it.
 */
int	 tmpl_head_may_match(const char *src, const char *path,
	    size_t pathlen);

/*
 * Expands the template with vars (§5.4), appending to out.  Returns 0, or
 * -1 when a variable the template uses is undefined (out is then left with
 * partial content that the caller discards).
 */
int	 tmpl_expand(const struct tmpl *, const struct tmpl_vars *,
	    struct buf *out);

/*
 * Expands an outgoing-url (§5.4) and checks that the result keeps the
 * scheme and host the template's literal text fixes (README "Where we
 * differ"; the rules are above check_authority in tmpl.c).  Returns 0,
 * -1 when a variable is undefined, -2 when the expansion would leave the
 * template's authority (*why: a static reason).  out as for tmpl_expand.
 */
int	 tmpl_expand_url(const struct tmpl *, const struct tmpl_vars *,
	    struct buf *out, const char **why);
/*
 * For --check (§1.5 warnings): 1 when an expression of the template can
 * reach the scheme or the authority of the expansion, with a sentence
 * naming it in msg; 0 otherwise.
 */
int	 tmpl_authority_reach(const struct tmpl *, char *msg, size_t msglen);

/* Expansion with every variable set to "" (for §2.5 specificity). */
void	 tmpl_expand_empty(const struct tmpl *, struct buf *out);

#endif
