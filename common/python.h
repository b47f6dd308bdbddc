/*
 * The Python simple index of a rule set (SPEC §7): built once at load with
 * every page pre-rendered (HTML and JSON, with their ETags), served with
 * negotiation and conditional requests.
 */
#ifndef PYTHON_H
#define PYTHON_H

#include <stddef.h>

struct ruleset;
struct rule;

/* The record of a python-v1 rule behind struct rule (ruletype.h). */
struct py_rule {
	const char	*py_name;	/* package-name as written */
	const char	*py_norm;	/* PEP 503 normalised */
	const char	*file_name;
	const char	*version;
	const char	*backend_url;
	const char	*hash_type, *hash;	/* NULL without hash-value */
	int		 gpg_sig;		/* -1 absent, 0, 1 */
	const char	*requires_python;
	int		 yanked;		/* 0 no, 1 yes */
	const char	*yanked_reason;		/* NULL for `true` */
	int		 core_md;		/* 0 none, 1 true, 2 hash */
	const char	*core_md_type, *core_md_hash;
	const char	*backend_index;		/* backend-simple-index-url */
};
struct gw_request;
struct gw_response;
struct gw_event;

struct pyindex;

/* Builds the index of a rule set (its python-v1 rules in manifest order).
 * Never fails (abort on OOM). */
struct pyindex *pyindex_build(struct rule *const *rules, size_t nrules);
void	 pyindex_free(struct pyindex *);

/* Handles a request for the python part of a rule set.  segs are the
 * decoded path segments (§0).  Returns 1 when it answered, 0 when the
 * request is not for it, -1 (resp and ev untouched) when the index is
 * one read from an image without the rules (ruletype.h,
 * index_load_alone) and the request is for a file. */
int	 python_handle(const struct pyindex *, const struct gw_request *,
	    char *const *segs, const size_t *lens, size_t nsegs,
	    struct gw_response *, struct gw_event *);

/*
 * §7.5: chooses the representation from the Accept values of the request.
 * Returns 1 for JSON, 0 for HTML.  accepts: the Accept header values
 * (several when repeated); n may be 0 (missing = * / *).
 */
int	 python_negotiate_json(const char *const *accepts, size_t n);

/* §7.6: 1 when one of the If-None-Match values matches etag ("\"...\""). */
int	 etag_matches(const char *const *inm, size_t n, const char *etag);

/* §7.6: quoted strong ETag of a body into out (at least 48 bytes). */
void	 etag_of(const void *body, size_t len, char *out, size_t outlen);

/* PEP 503 normalisation of name[0..len); caller frees. */
char	*pep503_normalise(const char *name, size_t len);

#endif
