/*
 * file-v1 (URI templates, SPEC §5) and file-v2 (regular expressions, §6)
 * rules: matching, redirect building with query forwarding, body events.
 */
#ifndef FILERULE_H
#define FILERULE_H

#include <stdatomic.h>
#include <stddef.h>

#include "buf.h"

struct rule;
struct tmpl;

/*
 * The record of a file-v1 or file-v2 rule behind struct rule (ruletype.h).
 * The types' answer operations fill resp and ev: 307 or 200, type file,
 * package-id, rule-index, variables, body-events, location.
 */
struct file_rule {
	const char	*in_src;	/* incoming-path as written */
	void		*re;		/* file-v2: file_v2_compile() */
	const char	*out_src;	/* outgoing-url, NULL for null */
	int		 out_never;	/* a literal outgoing-url that fails
					 * the URL check (§1.5) */
	const char	**spec;		/* file-v1 specificity list (§2.5) */
	size_t		 nspec;
	/* compiled on first use: read with rule_in_tmpl(), rule_out_tmpl() */
	_Atomic(struct tmpl *) in_tmpl;
	_Atomic(struct tmpl *) out_tmpl;
};

/*
 * The compiled incoming-path template of a file-v1 rule (NULL for any
 * other rule) and the outgoing-url template of a file rule (NULL for a
 * null one or another type).  Compiled on first use and kept with the
 * rule: the templates of a 160,000-rule manifest took 40 % of its memory,
 * most of them for hosts no request asks for.  Thread-safe; owned by the
 * rule.
 */
const struct tmpl *rule_in_tmpl(const struct rule *);
const struct tmpl *rule_out_tmpl(const struct rule *);

/* file-v2: compiles incoming-path (§6); returns NULL with err filled. */
void	*file_v2_compile(const char *src, char *err, size_t errlen);
void	 file_v2_free(void *re);

/*
 * §5.5: appends the request's query parameters to the expanded target in
 * loc (in place).  raw_query is the request's raw query ("" for none).
 */
void	 url_forward_query(struct buf *loc, const char *raw_query);

/*
 * §5.6 / §9: parses up to the first 256 bytes of body as a stream of JSON
 * values and appends a JSON array of (at most 10) objects to out.
 */
void	 body_events(const char *body, size_t n, struct buf *out);

#endif
