/*
 * Docker / OCI distribution (SPEC §3).
 *
 * Image patterns (§3.2) are compiled at load time into, per segment, a
 * small set of flat globs: alternatives are expanded once (capped), so
 * matching is plain glob matching with '*' and no recursion per request.
 */
#include "config.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arena.h"
#include "buf.h"
#include "docker.h"
#include "event.h"
#include "image_int.h"
#include "manifest.h"
#include "mparse.h"
#include "request.h"
#include "response.h"
#include "ruletype.h"
#include "ua.h"
#include "util.h"
#include "xmalloc.h"

#define DOCKERRULE(r)	((const struct docker_rule *)(r)->priv)

#define TOK_STAR	256	/* any run of bytes, possibly empty */
#define TOK_ANY		257	/* exactly one byte */
#define MAX_EXPANSIONS	256

struct glob {
	int	*t;
	size_t	 n;
};
struct globset {
	struct glob	*v;
	size_t		 n;
};
struct dpattern {
	struct globset	*seg;
	size_t		 nseg;
};

static void
globset_free(struct globset *gs)
{
	size_t	 i;

	for (i = 0; i < gs->n; i++)
		free(gs->v[i].t);
	free(gs->v);
	gs->v = NULL;
	gs->n = 0;
}

static void
glob_push(struct glob *g, int tok)
{
	g->t = xreallocarray(g->t, g->n + 1, sizeof(*g->t));
	g->t[g->n++] = tok;
}

/* out = a x b (concatenation of every pair); a and b are consumed. */
static int
globset_product(struct globset *a, struct globset *b, struct globset *out)
{
	size_t	 i, j;

	if (a->n * b->n > MAX_EXPANSIONS)
		return -1;
	out->v = xcalloc(a->n * b->n, sizeof(*out->v));
	out->n = 0;
	for (i = 0; i < a->n; i++)
		for (j = 0; j < b->n; j++) {
			struct glob *g = &out->v[out->n++];
			g->n = a->v[i].n + b->v[j].n;
			g->t = xcalloc(g->n ? g->n : 1, sizeof(int));
			if (a->v[i].n)
				memcpy(g->t, a->v[i].t,
				    a->v[i].n * sizeof(int));
			if (b->v[j].n)
				memcpy(g->t + a->v[i].n, b->v[j].t,
				    b->v[j].n * sizeof(int));
		}
	return 0;
}

static void
globset_single(struct globset *gs)
{
	gs->v = xcalloc(1, sizeof(*gs->v));
	gs->n = 1;
}

/*
 * Parses a sequence of pieces from s[*i] up to the end, or (inside braces)
 * up to ',' or '}'.  Returns 0 or -1 with *err.
 */
static int
parse_seq(const char *s, size_t *i, int depth, struct globset *out,
    const char **err)
{
	struct globset	 acc, piece, tmp;
	size_t		 k;

	globset_single(&acc);
	while (s[*i] != '\0') {
		char c = s[*i];

		if (depth > 0 && (c == ',' || c == '}'))
			break;
		memset(&piece, 0, sizeof(piece));
		if (c == '*') {
			/* collapse a run; a run of two or more at the end of
			 * the segment needs a character (kept quirk, §3.2) */
			size_t run = 0;
			while (s[*i] == '*') {
				run++;
				(*i)++;
			}
			globset_single(&piece);
			if (run >= 2 && s[*i] == '\0' && depth == 0)
				glob_push(&piece.v[0], TOK_ANY);
			glob_push(&piece.v[0], TOK_STAR);
		} else if (c == '{') {
			struct globset alt;
			(*i)++;
			memset(&piece, 0, sizeof(piece));
			for (;;) {
				size_t before = *i;
				if (parse_seq(s, i, depth + 1, &alt, err) == -1)
					goto fail;
				if (*i == before) {
					*err = "empty alternative in '{...}'";
					globset_free(&alt);
					goto fail;
				}
				if (piece.n + alt.n > MAX_EXPANSIONS) {
					*err = "too many alternatives";
					globset_free(&alt);
					goto fail;
				}
				piece.v = xreallocarray(piece.v,
				    piece.n + alt.n, sizeof(*piece.v));
				for (k = 0; k < alt.n; k++)
					piece.v[piece.n++] = alt.v[k];
				free(alt.v);
				if (s[*i] == ',') {
					(*i)++;
					continue;
				}
				if (s[*i] == '}') {
					(*i)++;
					break;
				}
				*err = "unclosed '{'";
				goto fail;
			}
		} else if (c == '}') {
			*err = "unexpected '}'";
			goto fail;
		} else if (c == ',') {
			*err = "',' outside '{...}'";
			goto fail;
		} else if (c == '\\') {
			char e = s[*i + 1];
			if (e != '*' && e != '{' && e != '}' && e != ',') {
				*err = "'\\' must be followed by one of * { } ,";
				goto fail;
			}
			globset_single(&piece);
			glob_push(&piece.v[0], (unsigned char)e);
			*i += 2;
		} else {
			globset_single(&piece);
			glob_push(&piece.v[0], (unsigned char)c);
			(*i)++;
		}
		if (globset_product(&acc, &piece, &tmp) == -1) {
			*err = "too many alternatives";
			goto fail;
		}
		globset_free(&acc);
		globset_free(&piece);
		acc = tmp;
	}
	*out = acc;
	return 0;
fail:
	globset_free(&acc);
	globset_free(&piece);
	return -1;
}

void
dpattern_free(struct dpattern *p)
{
	size_t	 i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nseg; i++)
		globset_free(&p->seg[i]);
	free(p->seg);
	free(p);
}

int
dpattern_compile(const char *src, struct dpattern **out, const char **err)
{
	struct dpattern	*p;
	const char	*s, *e;
	char		*seg;
	size_t		 i;

	*out = NULL;
	if (*src == '\0') {
		*err = "empty pattern";
		return -1;
	}
	p = xcalloc(1, sizeof(*p));
	for (s = src; ; s = e + 1) {
		for (e = s; *e && *e != '/'; e++)
			;
		if (e == s) {
			*err = "empty segment";
			dpattern_free(p);
			return -1;
		}
		seg = xstrndup(s, (size_t)(e - s));
		p->seg = xreallocarray(p->seg, p->nseg + 1, sizeof(*p->seg));
		i = 0;
		if (parse_seq(seg, &i, 0, &p->seg[p->nseg], err) == -1) {
			free(seg);
			dpattern_free(p);
			return -1;
		}
		p->nseg++;
		free(seg);
		if (*e == '\0')
			break;
	}
	*out = p;
	return 0;
}

/* Glob match with '*' backtracking to the last star: O(n*m) at worst. */
static int
glob_match(const struct glob *g, const char *s, size_t n)
{
	size_t	 ti = 0, si = 0, star_t = (size_t)-1, star_s = 0;

	while (si < n) {
		if (ti < g->n && g->t[ti] == TOK_STAR) {
			star_t = ti++;
			star_s = si;
		} else if (ti < g->n && (g->t[ti] == TOK_ANY ||
		    g->t[ti] == (unsigned char)s[si])) {
			ti++;
			si++;
		} else if (star_t != (size_t)-1) {
			ti = star_t + 1;
			si = ++star_s;
		} else
			return 0;
	}
	while (ti < g->n && g->t[ti] == TOK_STAR)
		ti++;
	return ti == g->n;
}

int
dpattern_match(const struct dpattern *p, char *const *segs,
    const size_t *lens, size_t nsegs)
{
	size_t	 i, k;

	if (nsegs != p->nseg)
		return 0;
	for (i = 0; i < nsegs; i++) {
		for (k = 0; k < p->seg[i].n; k++)
			if (glob_match(&p->seg[i].v[k], segs[i], lens[i]))
				break;
		if (k == p->seg[i].n)
			return 0;
	}
	return 1;
}

static int
docker_hub_alias(const char *h, size_t n)
{
	static const char *const names[] = {
		"docker.io", "index.docker.io", "registry.hub.docker.com",
	};
	size_t	 i;

	for (i = 0; i < 3; i++)
		if (strlen(names[i]) == n && strncasecmp(h, names[i], n) == 0)
			return 1;
	return 0;
}

int
docker_registry_base(const char *registry, char **base, char **logname)
{
	struct buf	 b = BUF_INIT, l = BUF_INIT;
	const char	*scheme = "https://", *hp, *end, *colon;
	size_t		 n, hostlen;
	int		 has_scheme = 0;

	*base = *logname = NULL;
	if (strncasecmp(registry, "https://", 8) == 0) {
		hp = registry + 8;
		has_scheme = 1;
	} else if (strncasecmp(registry, "http://", 7) == 0) {
		hp = registry + 7;
		scheme = "http://";
		has_scheme = 1;
	} else
		hp = registry;
	n = strlen(hp);
	if (n > 0 && hp[n - 1] == '/')
		n--;
	end = hp + n;
	if (n == 0 || memchr(hp, '/', n) || memchr(hp, '?', n) ||
	    memchr(hp, '#', n) || memchr(hp, '@', n))
		return -1;
	for (colon = hp; colon < end; colon++)
		if ((unsigned char)*colon <= 0x20 || *colon == 0x7f)
			return -1;
	if (hp[0] == '[') {
		const char *close = memchr(hp, ']', n);
		if (close == NULL)
			return -1;
		colon = close + 1 < end ? close + 1 : NULL;
		if (colon != NULL && *colon != ':')
			return -1;
	} else
		colon = memchr(hp, ':', n);
	hostlen = colon ? (size_t)(colon - hp) : n;
	if (hostlen == 0)
		return -1;
	if (colon != NULL) {
		const char *p;
		if (colon + 1 == end)
			return -1;
		for (p = colon + 1; p < end; p++)
			if (!isdigit((unsigned char)*p))
				return -1;
	}
	buf_adds(&b, scheme);
	if (has_scheme)
		buf_add(&l, registry, (size_t)(hp - registry));
	if (docker_hub_alias(hp, hostlen)) {
		buf_adds(&b, "registry-1.docker.io");
		buf_adds(&l, "registry-1.docker.io");
	} else {
		buf_add(&b, hp, hostlen);
		buf_add(&l, hp, hostlen);
	}
	if (colon != NULL) {
		buf_add(&b, colon, (size_t)(end - colon));
		buf_add(&l, colon, (size_t)(end - colon));
	}
	*base = buf_steal(&b);
	*logname = buf_steal(&l);
	return 0;
}

/*
 * The scope of the redirects the proxy may follow for the registry URL
 * url (proxy.h, proxy_redirect_decide): the API root "/v2" alone for
 * /v2 and /v2/, else the repository, the path without its last two
 * segments (keyword and reference, or "tags/list"): "/v2/<name>/".
 * Taken from the URL the proxy will fetch, so it always agrees with it.
 * Caller frees.
 */
static char *
upstream_scope(const char *url)
{
	size_t		 off, alen, n;
	const char	*path, *last = NULL, *prev = NULL, *p;

	if (url_authority(url, &off, &alen) == -1)
		return NULL;
	path = url + off + alen;
	n = strcspn(path, "?#");
	if ((n == 3 || n == 4) && strncmp(path, "/v2/", n) == 0)
		return xstrndup(url, (size_t)(path + 3 - url));
	for (p = path; p < path + n; p++)
		if (*p == '/') {
			prev = last;
			last = p;
		}
	if (prev == NULL || prev == path)
		return NULL;
	return xstrndup(url, (size_t)(prev + 1 - url));
}

/*
 * The API path, checked before any rule sees it.
 *
 * Why.  The segments are percent-decoded (SPEC §0), so "%2F" or "%2e%2e"
 * inside a name or a reference gives a component that carries '/' or "..":
 * with a docker-v2 pattern "myorg/" followed by '*', the name of
 * /v2/myorg/..%2Fother%2Fsecret/tags/list is the two components "myorg"
 * and "../other/secret", which that pattern accepts.  Forwarding the raw path
 * then let the registry clean it (a 301 to /v2/other/secret/tags/list,
 * which the proxy follows, §3.5): a repository no rule names, logged as
 * an image of myorg.  So every part must be what the OCI distribution
 * specification (v1.1, "Pulling manifests", "Pulling blobs", "Listing
 * tags", "Listing referrers") allows, and the upstream URL is rebuilt from
 * the checked parts (docker_path_format), never copied from the request.
 *
 * The rules, applied to the decoded bytes (lengths given, so a "%00" is a
 * byte like any other and fails them):
 *
 *   name       component ("/" component)*, at most DOCKER_NAME_MAX bytes
 *   component  [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
 *   tag        [a-zA-Z0-9_] [a-zA-Z0-9._-]{0,127}
 *   digest     algorithm ":" encoded            (OCI image spec, Digests)
 *   algorithm  [a-z0-9]+ ( [+._-] [a-z0-9]+ )*
 *   encoded    [a-zA-Z0-9=_-]+; for the registered algorithms sha256 and
 *              blake3 exactly 64, for sha512 exactly 128 of [a-f0-9]
 *
 * A manifest reference is a digest when it holds a ':', a tag otherwise;
 * blobs and referrers take a digest.  None of these grammars admits '/',
 * '%', '\', '?', '#', ';', a control byte, an upper-case name or a "."
 * or ".." component, so neither one level of encoding ("%2F", "%2f",
 * "%2e%2e") nor two ("%252F" decodes to "%2F", and '%' is refused) nor
 * a backslash or a ";param" gets through.
 *
 * Name length: the distribution spec notes that many clients limit
 * "<registry host>[:port]/<name>" to 255 characters.  The host a client
 * counts is the gateway's, not the registry's, so we apply the limit the
 * registry server itself applies to the repository name of the URL
 * (docker/distribution answers NAME_INVALID beyond 255 bytes): 255 for the
 * name alone.  No other length is capped beyond the tag's 128; the web
 * server bounds the request line.
 */

static int
is_lower_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* ASCII only, whatever the locale. */
static int
is_alnum(int c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* One name component: alphanumeric runs joined by ".", "_", "__", "-"+. */
static int
component_valid(const char *s, size_t n)
{
	size_t	 i = 0;

	for (;;) {
		/* an alphanumeric run, at least one byte */
		if (i >= n || !is_lower_alnum((unsigned char)s[i]))
			return 0;
		while (i < n && is_lower_alnum((unsigned char)s[i]))
			i++;
		if (i == n)
			return 1;
		/* one separator */
		if (s[i] == '.')
			i++;
		else if (s[i] == '_')
			i += (i + 1 < n && s[i + 1] == '_') ? 2 : 1;
		else if (s[i] == '-') {
			while (i < n && s[i] == '-')
				i++;
		} else
			return 0;
	}
}

int
docker_name_valid(char *const *comps, const size_t *lens, size_t n)
{
	size_t	 i, total = 0;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++) {
		if (!component_valid(comps[i], lens[i]))
			return 0;
		total += lens[i] + (i > 0);
		if (total > DOCKER_NAME_MAX)
			return 0;
	}
	return 1;
}

int
docker_tag_valid(const char *s, size_t n)
{
	size_t	 i;

	if (n == 0 || n > DOCKER_TAG_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (is_alnum(c) || c == '_')
			continue;
		if (i > 0 && (c == '.' || c == '-'))
			continue;
		return 0;
	}
	return 1;
}

int
docker_digest_valid(const char *s, size_t n)
{
	const char	*colon, *enc;
	size_t		 alen, elen, i;

	if ((colon = memchr(s, ':', n)) == NULL)
		return 0;
	alen = (size_t)(colon - s);
	enc = colon + 1;
	elen = n - alen - 1;
	/* algorithm: components of [a-z0-9]+ joined by one of + . _ - */
	if (alen == 0 || !is_lower_alnum((unsigned char)s[0]) ||
	    !is_lower_alnum((unsigned char)s[alen - 1]))
		return 0;
	for (i = 1; i < alen; i++) {
		unsigned char c = (unsigned char)s[i];
		if (is_lower_alnum(c))
			continue;
		if ((c != '+' && c != '.' && c != '_' && c != '-') ||
		    !is_lower_alnum((unsigned char)s[i + 1]))
			return 0;
	}
	if (elen == 0)
		return 0;
	for (i = 0; i < elen; i++) {
		unsigned char c = (unsigned char)enc[i];
		if (!is_alnum(c) && c != '=' && c != '_' && c != '-')
			return 0;
	}
	if ((alen == 6 && memcmp(s, "sha256", 6) == 0) ||
	    (alen == 6 && memcmp(s, "blake3", 6) == 0))
		return elen == 64 && lower_hex(enc, elen);
	if (alen == 6 && memcmp(s, "sha512", 6) == 0)
		return elen == 128 && lower_hex(enc, elen);
	return 1;
}

static int
seg_is(const char *s, size_t n, const char *word)
{
	return n == strlen(word) && memcmp(s, word, n) == 0;
}

static const char *const kind_names[] = {
	"manifests", "blobs", "referrers", "tags",
};

int
docker_path_parse(char *const *segs, const size_t *lens, size_t nsegs,
    struct docker_path *out, enum docker_path_err *err)
{
	const char	*ref;
	size_t		 reflen, k;

	memset(out, 0, sizeof(*out));
	*err = DOCKER_PATH_OK;
	/* "v2", at least one name component, the keyword, the reference */
	if (nsegs < 4 || !seg_is(segs[0], lens[0], "v2"))
		return 0;
	ref = segs[nsegs - 1];
	reflen = lens[nsegs - 1];
	for (k = 0; k < DOCKER_TAGS_LIST; k++)
		if (seg_is(segs[nsegs - 2], lens[nsegs - 2], kind_names[k]))
			break;
	if (k == DOCKER_TAGS_LIST &&
	    !(seg_is(segs[nsegs - 2], lens[nsegs - 2], "tags") &&
	    seg_is(ref, reflen, "list")))
		return 0;
	out->kind = (enum docker_kind)k;
	out->name = segs + 1;
	out->namelens = lens + 1;
	out->nname = nsegs - 3;
	out->ref = ref;
	out->reflen = reflen;
	if (!docker_name_valid(out->name, out->namelens, out->nname))
		*err = DOCKER_PATH_NAME_INVALID;
	else if (out->kind == DOCKER_MANIFESTS &&
	    memchr(ref, ':', reflen) == NULL) {
		if (!docker_tag_valid(ref, reflen))
			*err = DOCKER_PATH_TAG_INVALID;
	} else if (out->kind != DOCKER_TAGS_LIST &&
	    !docker_digest_valid(ref, reflen))
		*err = DOCKER_PATH_DIGEST_INVALID;
	return 1;
}

void
docker_path_image(const struct docker_path *dp, struct buf *out)
{
	size_t	 i;

	for (i = 0; i < dp->nname; i++) {
		if (i > 0)
			buf_addc(out, '/');
		buf_add(out, dp->name[i], dp->namelens[i]);
	}
}

/*
 * Every byte the grammars allow is a path character of RFC 3986 §3.3
 * (unreserved, or the sub-delims '+' '=' and ':'), so the parts go in
 * as they are, without encoding.
 */
void
docker_path_format(const struct docker_path *dp, struct buf *out)
{
	buf_adds(out, "/v2/");
	docker_path_image(dp, out);
	buf_addc(out, '/');
	buf_adds(out, kind_names[dp->kind]);
	buf_addc(out, '/');
	buf_add(out, dp->ref, dp->reflen);
}

const char *
docker_path_errbody(enum docker_path_err e)
{
	switch (e) {
	case DOCKER_PATH_NAME_INVALID:
		return "{\"errors\":[{\"code\":\"NAME_INVALID\","
		    "\"message\":\"invalid repository name\","
		    "\"detail\":\"each '/'-separated component of the name "
		    "must match [a-z0-9]+(([._]|__|-+)[a-z0-9]+)*, the "
		    "whole name at most 255 bytes (OCI distribution "
		    "specification)\"}]}";
	case DOCKER_PATH_TAG_INVALID:
		return "{\"errors\":[{\"code\":\"TAG_INVALID\","
		    "\"message\":\"invalid tag\","
		    "\"detail\":\"a tag must match "
		    "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127} (OCI distribution "
		    "specification)\"}]}";
	case DOCKER_PATH_DIGEST_INVALID:
		return "{\"errors\":[{\"code\":\"DIGEST_INVALID\","
		    "\"message\":\"invalid digest\","
		    "\"detail\":\"a digest must be algorithm:encoded, "
		    "algorithm [a-z0-9]+([+._-][a-z0-9]+)*, encoded "
		    "[a-zA-Z0-9=_-]+; sha256 takes 64 lower-case hex digits "
		    "(OCI image specification)\"}]}";
	case DOCKER_PATH_OK:
		break;
	}
	return "";
}

const char *
docker_path_errstr(enum docker_path_err e)
{
	switch (e) {
	case DOCKER_PATH_NAME_INVALID:
		return "invalid repository name";
	case DOCKER_PATH_TAG_INVALID:
		return "invalid tag";
	case DOCKER_PATH_DIGEST_INVALID:
		return "invalid digest";
	case DOCKER_PATH_OK:
		break;
	}
	return "";
}

/*
 * §3.3: redirect or proxy, with the registry URL of §3.4 made of the
 * registry base, path (rebuilt from the checked parts, or "/v2" or "/v2/"
 * as received) and the raw query, which §3.4 keeps (tags/list pagination,
 * referrers filters): it cannot change the path.  A registry value has no
 * path of its own (docker_registry_base refuses one), so there is no
 * prefix to put in front of /v2.
 */
static void
redirect_or_proxy(const struct manifest *m, const struct rule *r,
    const char *path, const struct gw_request *req,
    struct gw_response *resp, struct gw_event *ev)
{
	const struct docker_rule *dr = DOCKERRULE(r);
	struct buf	 url = BUF_INIT;
	const char	*auth, *ua;
	int		 proxy;

	buf_adds(&url, dr->registry_base);
	buf_adds(&url, path);
	if (req->raw_query[0] != '\0') {
		buf_addc(&url, '?');
		buf_adds(&url, req->raw_query);
	}
	auth = gw_header(req, "HTTP_AUTHORIZATION");
	ua = gw_param(req, "HTTP_USER_AGENT");
	if (dr->always_proxy)
		proxy = 1;
	else if (auth != NULL && strncasecmp(auth, "Basic", 5) == 0 &&
	    (auth[5] == ' ' || auth[5] == '\t' || auth[5] == '\0'))
		proxy = 1;
	else
		proxy = !ua_redirect_capable(m != NULL ? m->redirect_uas :
		    NULL, ua);
	if (proxy) {
		resp->plan = GW_PLAN_PROXY;
		resp->upstream = buf_steal(&url);
		/* redirects are followed only inside the repository */
		resp->upstream_scope = upstream_scope(resp->upstream);
	} else {
		resp_redirect(resp, 307, buf_cstr(&url));
		ev->location = xstrdup(resp_get_header(resp, "Location"));
	}
	buf_free(&url);
}

static void
log_rule(struct gw_event *ev, const struct rule *r, int named)
{
	ev->type = GW_T_DOCKER;
	if (named)
		event_rule(ev, r->index, r->package_id,
		    DOCKERRULE(r)->rule_id);
	else
		event_rule(ev, r->index, NULL, NULL);
}

static int
name_accepted(const struct rule *r, char *const *segs, const size_t *lens,
    size_t n)
{
	const struct docker_rule *dr = DOCKERRULE(r);
	size_t			 i;

	if (dr->pattern != NULL)
		return dpattern_match(dr->pattern, segs, lens, n);
	if (n != dr->nrepo_segs)
		return 0;
	for (i = 0; i < n; i++)
		if (strlen(dr->repo_segs[i]) != lens[i] ||
		    memcmp(dr->repo_segs[i], segs[i], lens[i]) != 0)
			return 0;
	return 1;
}

/*
 * The docker-v1 or docker-v2 rules of a host's set (§3): 1 when one
 * answered.  docker-v1 rules come first in precedence, so when both types
 * are present this runs on the docker-v1 rules, then on the docker-v2
 * ones; only the first run can answer the requests that concern the whole
 * registry (/v2/, _catalog, another method), with its first rule.
 */
static int
docker_answer(const struct rule_match *m, struct gw_response *resp,
    struct gw_event *ev)
{
	const struct gw_request	*req = m->req;
	const struct rule	*first, *r;
	const char		*path = req->raw_path;
	size_t			 ndocker, i;
	struct docker_path	 dp;
	enum docker_path_err	 perr;
	struct buf		 image = BUF_INIT, upath = BUF_INIT;

	if (strcmp(path, "/v2") != 0 && strncmp(path, "/v2/", 4) != 0)
		return 0;
	ndocker = m->nrules;
	first = m->rules[0];

	if (!req->is_get_or_head) {
		resp_json(resp, 405, "{\"errors\":[{\"code\":\"UNSUPPORTED\","
		    "\"detail\":{},\"message\":\"the operation is "
		    "unsupported\"}]}");
		resp_header(resp, "Allow", "GET, HEAD");
		goto whole_registry;
	}
	if (strcmp(path, "/v2/_catalog") == 0) {
		resp->status = 404;
		goto whole_registry;
	}
	if (strcmp(path, "/v2") == 0 || strcmp(path, "/v2/") == 0) {
		redirect_or_proxy(m->manifest, first, path, req, resp, ev);
		goto whole_registry;
	}

	/* §3.1 item 4: parse from the right, and check the parts before
	 * any rule sees them (docker_path_parse) */
	if (!docker_path_parse(m->segs, m->lens, m->nsegs, &dp, &perr))
		return 0;
	if (perr != DOCKER_PATH_OK) {
		/* a 400 rejection: type none (§13), never forwarded */
		resp_json(resp, 400, docker_path_errbody(perr));
		ev->type = GW_T_NONE;
		free(ev->error);
		ev->error = xstrdup(docker_path_errstr(perr));
		return 1;
	}
	for (i = 0; i < ndocker; i++) {
		r = m->rules[i];
		if (name_accepted(r, dp.name, dp.namelens, dp.nname))
			break;
	}
	if (i == ndocker)
		return 0;
	r = m->rules[i];
	docker_path_image(&dp, &image);
	docker_path_format(&dp, &upath);
	redirect_or_proxy(m->manifest, r, buf_cstr(&upath), req, resp,
	    ev);
	log_rule(ev, r, 1);
	event_strn(ev, "image", buf_cstr(&image), image.n);
	event_strn(ev, "reference", dp.ref, dp.reflen);
	event_str(ev, "registry", DOCKERRULE(r)->registry_log);
	buf_free(&image);
	buf_free(&upath);
	return 1;

whole_registry:
	/* §3.6: /v2, /v2/, _catalog and refused methods are logged with the
	 * first docker rule, without an image */
	log_rule(ev, first, 0);
	event_str(ev, "image", "");
	event_str(ev, "reference", "");
	event_str(ev, "registry", DOCKERRULE(first)->registry_log);
	return 1;
}

/* ------------------------------------------------------------------ */
/* The rule types */

/*
 * §1.5 docker registry: host[:port] or http(s)://host[:port], optional
 * trailing '/', nothing else.
 */
static int
docker_registry_ok(const char *s)
{
	const char	*p = s, *h;
	unsigned long	 port = 0;
	int		 nd = 0;

	if (strncasecmp(p, "http://", 7) == 0)
		p += 7;
	else if (strncasecmp(p, "https://", 8) == 0)
		p += 8;
	h = p;
	if (*p == '[') {
		for (p++; mp_is_v6ch((unsigned char)*p); p++)
			;
		if (*p != ']' || p == h + 1)
			return 0;
		p++;
	} else {
		while (mp_is_hostch((unsigned char)*p))
			p++;
		if (p == h)
			return 0;
	}
	if (*p == ':') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			port = port * 10 + (unsigned long)(*p - '0');
			if (++nd > 5)
				return 0;
		}
		if (nd == 0 || port > 65535)
			return 0;
	}
	if (*p == '/')
		p++;
	return *p == '\0';
}

static void
parse_docker_registry(struct mctx *c, struct docker_rule *dr, const char *s)
{
	char	*base, *log;

	if (!docker_registry_ok(s) ||
	    docker_registry_base(s, &base, &log) == -1) {
		mp_err(c, "registry", "invalid registry %s: must be "
		    "host[:port] or http(s)://host[:port] with nothing after "
		    "it", mp_quote(c, s));
		return;
	}
	dr->registry_base = arena_strdup(c->arena, base);
	dr->registry_log = arena_strdup(c->arena, log);
	free(base);
	free(log);
}

/*
 * §1.3 repository-name: non-empty, no empty '/'-separated component.  A
 * name outside the OCI grammar (README, "Docker paths") loads with a
 * warning: no request can reach it.
 */
static void
parse_repository(struct mctx *c, struct docker_rule *r, const char *s)
{
	const char	*p, *e;
	size_t		*lens, i, n = 1;

	if (*s == '\0') {
		mp_err(c, "repository-name", "must not be empty");
		return;
	}
	for (p = s; ; p = e + 1) {
		e = strchr(p, '/');
		if (e == p || *p == '\0') {
			mp_err(c, "repository-name", "empty component in %s",
			    mp_quote(c, s));
			return;
		}
		if (e == NULL)
			break;
	}
	r->repository = arena_strdup(c->arena, s);
	for (p = s; *p != '\0'; p++)
		n += *p == '/';
	r->repo_segs = arena_alloc(c->arena, n * sizeof(*r->repo_segs));
	for (p = s; ; p = e + 1) {
		if ((e = strchr(p, '/')) == NULL)
			e = p + strlen(p);
		r->repo_segs[r->nrepo_segs++] = arena_strndup(c->arena, p,
		    (size_t)(e - p));
		if (*e == '\0')
			break;
	}
	/* docker_answer refuses such a name in a request before any rule */
	lens = xcalloc(r->nrepo_segs, sizeof(*lens));
	for (i = 0; i < r->nrepo_segs; i++)
		lens[i] = strlen(r->repo_segs[i]);
	if (!docker_name_valid(r->repo_segs, lens, r->nrepo_segs))
		mp_warn(c, "repository-name", "%s is not a valid OCI "
		    "repository name; requests for it are refused",
		    mp_quote(c, s));
	free(lens);
}

/* docker-v1 (v2 0) and docker-v2 (v2 1) rules, §3 and §1.3. */
static void
docker_parse(struct mctx *c, const cJSON *o, struct rule *r, int v2)
{
	struct docker_rule	*dr;
	const char		*s, *err = "invalid";
	int			 b;

	r->priv = dr = arena_alloc(c->arena, sizeof(*dr));
	if (!v2) {
		mp_take_str(c, o, "package-id", &r->package_id);
		if (mp_str(c, o, "repository-name", 1, &s) == 1)
			parse_repository(c, dr, s);
	} else {
		mp_take_str(c, o, "rule-id", &dr->rule_id);
		if (mp_str(c, o, "pattern", 1, &s) == 1) {
			dr->pattern_src = arena_strdup(c->arena, s);
			if (dpattern_compile(s, &dr->pattern, &err) == -1) {
				dr->pattern = NULL;
				mp_err(c, "pattern",
				    "invalid image pattern: %s", err);
			}
		}
	}
	if (mp_str(c, o, "registry", 1, &s) == 1)
		parse_docker_registry(c, dr, s);
	if (mp_bool(c, o, "always-proxy", &b) == 1)
		dr->always_proxy = b;
}

static void
docker_v1_parse(struct mctx *c, const cJSON *o, struct rule *r)
{
	docker_parse(c, o, r, 0);
}

static void
docker_v2_parse(struct mctx *c, const cJSON *o, struct rule *r)
{
	docker_parse(c, o, r, 1);
}

static void
docker_v1_dup_key(const struct rule *r, const char **a, const char **b)
{
	(void)b;
	*a = DOCKERRULE(r)->repository;
}

static void
docker_free(struct rule *r)
{
	struct docker_rule	*dr = r->priv;

	if (dr != NULL && dr->pattern != NULL)
		dpattern_free(dr->pattern);
}

extern const struct rule_type docker_v1_type;

/* The compiled image (ruletype.h): the same fields for both types. */
static void
docker_save(struct img_writer *w, const struct rule *r)
{
	const struct docker_rule	*dr = DOCKERRULE(r);
	size_t				 i;

	iw_str(w, dr->rule_id);
	iw_str(w, dr->repository);
	iw_word(w, (uint32_t)dr->nrepo_segs);
	for (i = 0; i < dr->nrepo_segs; i++)
		iw_str(w, dr->repo_segs[i]);
	iw_str(w, dr->pattern_src);
	iw_str(w, dr->registry_base);
	iw_str(w, dr->registry_log);
	iw_word(w, (uint32_t)dr->always_proxy);
}

static void
docker_load(struct img_reader *rd, struct rule *r)
{
	struct docker_rule	*dr;
	size_t			 i;

	r->priv = dr = arena_alloc(rd->arena, sizeof(*dr));
	dr->rule_id = ir_str(rd);
	dr->repository = ir_str(rd);
	dr->nrepo_segs = ir_count(rd, 1);
	if (dr->nrepo_segs > 0)
		dr->repo_segs = arena_alloc(rd->arena, dr->nrepo_segs *
		    sizeof(*dr->repo_segs));
	/* borrowed from the image, never written through */
	for (i = 0; i < dr->nrepo_segs; i++)
		dr->repo_segs[i] = (char *)(uintptr_t)ir_str_req(rd);
	dr->pattern_src = ir_str(rd);
	dr->registry_base = ir_str_req(rd);
	dr->registry_log = ir_str_req(rd);
	dr->always_proxy = (int)ir_uint(rd, 1);
	if (r->type == &docker_v1_type ? dr->repository == NULL ||
	    dr->nrepo_segs == 0 : dr->rule_id == NULL ||
	    dr->pattern_src == NULL)
		rd->bad = 1;
}

/* docker-v2: the pattern, compiled by each process that uses it */
static int
docker_v2_compile(struct rule *r)
{
	struct docker_rule	*dr = r->priv;
	const char		*err;

	if (dpattern_compile(dr->pattern_src, &dr->pattern, &err) == -1) {
		dr->pattern = NULL;
		return -1;
	}
	return 0;
}

const struct rule_type docker_v1_type = {
	.name = "docker-v1",
	.parse = docker_v1_parse,
	.dup_key = docker_v1_dup_key,
	.dup_what = "same repository-name",
	.answer = docker_answer,
	.save = docker_save,
	.load = docker_load,
};

const struct rule_type docker_v2_type = {
	.name = "docker-v2",
	.parse = docker_v2_parse,
	.answer = docker_answer,
	.free = docker_free,
	.save = docker_save,
	.load = docker_load,
	.compile = docker_v2_compile,
};
