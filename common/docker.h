/*
 * Docker / OCI distribution rules (SPEC §3): image patterns, registry
 * bases, the distribution API paths, and the docker-v1 and docker-v2 rule
 * types (ruletype.h).  The redirect-capable User-Agents are in ua.h.
 */
#ifndef DOCKER_H
#define DOCKER_H

#include <stddef.h>

#include "ua.h"

struct buf;
struct gw_request;
struct gw_response;
struct gw_event;
struct ruleset;

struct dpattern;		/* opaque compiled image pattern (§3.2) */

/* The record of a docker-v1 or docker-v2 rule behind struct rule. */
struct docker_rule {
	const char	*rule_id;	/* docker-v2 */
	const char	*repository;	/* docker-v1 repository-name */
	char		**repo_segs;	/* its '/'-separated components */
	size_t		 nrepo_segs;
	const char	*pattern_src;	/* docker-v2 pattern as written */
	struct dpattern	*pattern;	/* docker-v2, compiled */
	const char	*registry_base;	/* §3.4 */
	const char	*registry_log;	/* §3.6 */
	int		 always_proxy;
};

/* Returns 0, or -1 with a static message in *err. */
int	 dpattern_compile(const char *src, struct dpattern **out,
	    const char **err);
void	 dpattern_free(struct dpattern *);
/* segs: the image name's segments (decoded). */
int	 dpattern_match(const struct dpattern *, char *const *segs,
	    const size_t *lens, size_t nsegs);

/*
 * Docker registry base URL (§3.4) for a validated `registry` value:
 * "https://host[:port]" or the configured URL without a trailing '/', with
 * the docker.io mapping applied.  Caller frees.  *logname gets the value
 * logged as `registry` (§3.6), caller frees.  Returns -1 if invalid.
 */
int	 docker_registry_base(const char *registry, char **base,
	    char **logname);

/*
 * The distribution API path /v2/<name>/<kind>/<reference> (SPEC §3.1 item
 * 4), its parts checked against the OCI distribution specification's
 * grammar (docker.c, docker_path_parse).  The pointers point into the
 * segments given to docker_path_parse and live as long as they do.
 */
enum docker_kind {
	DOCKER_MANIFESTS, DOCKER_BLOBS, DOCKER_REFERRERS, DOCKER_TAGS_LIST
};
enum docker_path_err {
	DOCKER_PATH_OK,
	DOCKER_PATH_NAME_INVALID,	/* NAME_INVALID */
	DOCKER_PATH_TAG_INVALID,	/* TAG_INVALID */
	DOCKER_PATH_DIGEST_INVALID	/* DIGEST_INVALID */
};
/* Longest repository name accepted, in bytes (docker.c says why). */
#define DOCKER_NAME_MAX	255
/* Longest tag (OCI distribution spec: 128 characters). */
#define DOCKER_TAG_MAX	128
struct docker_path {
	enum docker_kind	 kind;
	char *const		*name;		/* name components */
	const size_t		*namelens;
	size_t			 nname;
	const char		*ref;		/* "list" for tags/list */
	size_t			 reflen;
};

/*
 * Parses the segments of a raw path under /v2/ (segs[0] is "v2", each
 * segment percent-decoded once, SPEC §0) from the right.  Returns 0 when
 * the path has none of the API shapes (not claimed), 1 otherwise, with *err
 * DOCKER_PATH_OK and *out filled, or the first part that is invalid.
 */
int	 docker_path_parse(char *const *segs, const size_t *lens,
	    size_t nsegs, struct docker_path *out, enum docker_path_err *err);
/* Appends "/v2/<name>/<kind>/<reference>" rebuilt from a parsed path. */
void	 docker_path_format(const struct docker_path *, struct buf *out);
/* Appends the image name, its components joined with '/'. */
void	 docker_path_image(const struct docker_path *, struct buf *out);
/* The 400 body (OCI error JSON) and a short reason for an error; static. */
const char *docker_path_errbody(enum docker_path_err);
const char *docker_path_errstr(enum docker_path_err);
/* The grammar checks on their own (decoded bytes, length given). */
int	 docker_name_valid(char *const *comps, const size_t *lens, size_t n);
int	 docker_tag_valid(const char *, size_t);
int	 docker_digest_valid(const char *, size_t);

#endif
