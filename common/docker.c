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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "docker.h"
#include "gateway.h"
#include "manifest.h"
#include "xmalloc.h"

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

/*
 * §3.3 default list of redirect-capable clients.  Writable arrays because
 * struct ua_rule holds plain char pointers (parsed lists own theirs).
 */
static char d_docker[] = "docker/", d_client[] = "Docker-Client",
    d_containerd[] = "containerd", d_149[] = "1.4.9", d_15[] = "1.5",
    d_155[] = "1.5.5", d_watchtower[] = "Watchtower (Docker)";
static struct ua_rule default_rules[] = {
	{ UA_PREFIX, d_docker, NULL, NULL },
	{ UA_CONTAINS, d_client, NULL, NULL },
	{ UA_PRODUCT, d_containerd, d_149, d_15 },
	{ UA_PRODUCT, d_containerd, d_155, NULL },
	{ UA_EQUALS, d_watchtower, NULL, NULL },
};
static const struct ua_list default_list = {
	default_rules, sizeof(default_rules) / sizeof(default_rules[0]),
};

#define MAXVER 8

/* Parses N[.N]...; returns the number of components, 0 if none. */
static size_t
version_parse(const char *s, unsigned long v[MAXVER])
{
	size_t	 n = 0;

	memset(v, 0, MAXVER * sizeof(v[0]));
	while (isdigit((unsigned char)*s)) {
		unsigned long x = 0;
		while (isdigit((unsigned char)*s)) {
			if (x < 100000000UL)
				x = x * 10 + (unsigned long)(*s - '0');
			s++;
		}
		if (n < MAXVER)
			v[n] = x;
		n++;
		if (*s != '.' || !isdigit((unsigned char)s[1]))
			break;
		s++;
	}
	return n;
}

static int
version_cmp(const unsigned long *a, const unsigned long *b)
{
	size_t	 i;

	for (i = 0; i < MAXVER; i++)
		if (a[i] != b[i])
			return a[i] < b[i] ? -1 : 1;
	return 0;
}

static int
product_match(const struct ua_rule *r, const char *ua)
{
	unsigned long	 v[MAXVER], lo[MAXVER], hi[MAXVER];
	size_t		 plen = strlen(r->s);
	const char	*p, *q;

	version_parse(r->min, lo);
	if (r->below != NULL)
		version_parse(r->below, hi);
	for (p = strstr(ua, r->s); p != NULL; p = strstr(p + 1, r->s)) {
		q = p + plen;
		if (*q != '/')
			continue;
		q++;
		if (*q == 'v')
			q++;
		if (version_parse(q, v) == 0)
			continue;
		if (version_cmp(v, lo) >= 0 &&
		    (r->below == NULL || version_cmp(v, hi) < 0))
			return 1;
	}
	return 0;
}

int
ua_redirect_capable(const struct ua_list *l, const char *ua)
{
	size_t			 i;
	const struct ua_rule	*r;

	if (l == NULL)
		l = &default_list;
	if (ua == NULL)
		return 0;
	for (i = 0; i < l->n; i++) {
		r = &l->v[i];
		switch (r->kind) {
		case UA_PREFIX:
			if (strncmp(ua, r->s, strlen(r->s)) == 0)
				return 1;
			break;
		case UA_CONTAINS:
			if (strstr(ua, r->s) != NULL)
				return 1;
			break;
		case UA_EQUALS:
			if (strcmp(ua, r->s) == 0)
				return 1;
			break;
		case UA_PRODUCT:
			if (product_match(r, ua))
				return 1;
			break;
		}
	}
	return 0;
}

void
ua_list_free(struct ua_list *l)
{
	size_t	 i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++) {
		free(l->v[i].s);
		free(l->v[i].min);
		free(l->v[i].below);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int
valid_version(const char *s)
{
	unsigned long	 v[MAXVER];
	size_t		 n;
	const char	*p = s;

	if ((n = version_parse(s, v)) == 0)
		return 0;
	/* the whole string must be the version */
	while (isdigit((unsigned char)*p) || *p == '.')
		p++;
	return *p == '\0' && p[-1] != '.';
}

static const char *
str_member(const cJSON *o, const char *key, int *bad)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, key);

	if (m == NULL || cJSON_IsNull(m))
		return NULL;
	if (!cJSON_IsString(m)) {
		*bad = 1;
		return NULL;
	}
	return m->valuestring;
}

int
ua_list_parse(const cJSON *arr, struct ua_list *out, char *err,
    size_t errlen)
{
	const cJSON	*e;
	size_t		 i = 0;
	int		 bad;

	memset(out, 0, sizeof(*out));
	if (!cJSON_IsArray(arr)) {
		snprintf(err, errlen, "must be an array");
		return -1;
	}
	cJSON_ArrayForEach(e, arr) {
		struct ua_rule	 r;
		const char	*pre, *con, *equ, *pro, *min, *bel;
		int		 forms;

		memset(&r, 0, sizeof(r));
		bad = 0;
		if (!cJSON_IsObject(e)) {
			snprintf(err, errlen, "[%lu]: must be an object",
			    (unsigned long)i);
			goto fail;
		}
		pre = str_member(e, "prefix", &bad);
		con = str_member(e, "contains", &bad);
		equ = str_member(e, "equals", &bad);
		pro = str_member(e, "product", &bad);
		min = str_member(e, "min-version", &bad);
		bel = str_member(e, "below-version", &bad);
		if (bad) {
			snprintf(err, errlen, "[%lu]: values must be strings",
			    (unsigned long)i);
			goto fail;
		}
		forms = (pre != NULL) + (con != NULL) + (equ != NULL) +
		    (pro != NULL);
		if (forms != 1) {
			snprintf(err, errlen, "[%lu]: must have exactly one of "
			    "\"prefix\", \"contains\", \"equals\", \"product\"",
			    (unsigned long)i);
			goto fail;
		}
		if (pro != NULL) {
			if (min == NULL || !valid_version(min) ||
			    (bel != NULL && !valid_version(bel))) {
				snprintf(err, errlen, "[%lu]: \"product\" needs "
				    "a numeric \"min-version\" (and an optional "
				    "numeric \"below-version\")",
				    (unsigned long)i);
				goto fail;
			}
			r.kind = UA_PRODUCT;
			r.s = xstrdup(pro);
			r.min = xstrdup(min);
			r.below = xstrdup_null(bel);
		} else {
			r.kind = pre ? UA_PREFIX : con ? UA_CONTAINS : UA_EQUALS;
			r.s = xstrdup(pre ? pre : con ? con : equ);
		}
		out->v = xreallocarray(out->v, out->n + 1, sizeof(*out->v));
		out->v[out->n++] = r;
		i++;
	}
	return 0;
fail:
	ua_list_free(out);
	return -1;
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

/* §3.3: redirect or proxy, with the registry URL of §3.4. */
static void
redirect_or_proxy(const struct gw_ctx *ctx, const struct rule *r,
    const struct gw_request *req, struct gw_response *resp,
    struct gw_event *ev)
{
	struct buf	 url = BUF_INIT;
	const char	*auth, *ua;
	int		 proxy;

	buf_adds(&url, r->registry_base);
	buf_adds(&url, req->raw_path);
	if (req->raw_query[0] != '\0') {
		buf_addc(&url, '?');
		buf_adds(&url, req->raw_query);
	}
	auth = gw_header(req, "HTTP_AUTHORIZATION");
	ua = gw_param(req, "HTTP_USER_AGENT");
	if (r->always_proxy)
		proxy = 1;
	else if (auth != NULL && strncasecmp(auth, "Basic", 5) == 0 &&
	    (auth[5] == ' ' || auth[5] == '\t' || auth[5] == '\0'))
		proxy = 1;
	else
		proxy = !ua_redirect_capable(ctx->manifest ?
		    ctx->manifest->redirect_uas : NULL, ua);
	if (proxy) {
		resp->proxy = 1;
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
		event_rule(ev, r->index, r->package_id, r->rule_id);
	else
		event_rule(ev, r->index, NULL, NULL);
}

static int
is_keyword(const char *s)
{
	return strcmp(s, "manifests") == 0 || strcmp(s, "blobs") == 0 ||
	    strcmp(s, "referrers") == 0;
}

static int
name_accepted(const struct rule *r, char *const *segs, const size_t *lens,
    size_t n)
{
	size_t	 i;

	if (r->type == RULE_DOCKER_V2)
		return dpattern_match(r->pattern, segs, lens, n);
	if (n != r->nrepo_segs)
		return 0;
	for (i = 0; i < n; i++)
		if (strlen(r->repo_segs[i]) != lens[i] ||
		    memcmp(r->repo_segs[i], segs[i], lens[i]) != 0)
			return 0;
	return 1;
}

int
docker_handle(const struct gw_ctx *ctx, const struct ruleset *rs,
    const struct gw_request *req, char *const *segs, const size_t *lens,
    size_t nsegs, struct gw_response *resp, struct gw_event *ev)
{
	const struct rule	*first, *r;
	const char		*path = req->raw_path;
	size_t			 ndocker, i, nname, nref;
	struct buf		 image = BUF_INIT;

	if (strcmp(path, "/v2") != 0 && strncmp(path, "/v2/", 4) != 0)
		return 0;
	ndocker = rs->count[RULE_DOCKER_V1] + rs->count[RULE_DOCKER_V2];
	first = rs->rules[0];	/* docker types come first in precedence */

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
		redirect_or_proxy(ctx, first, req, resp, ev);
		goto whole_registry;
	}

	/* §3.1 item 4: parse from the right */
	if (nsegs < 4)
		return 0;
	if (is_keyword(segs[nsegs - 2]))
		nref = 2;
	else if (strcmp(segs[nsegs - 2], "tags") == 0 &&
	    strcmp(segs[nsegs - 1], "list") == 0)
		nref = 2;
	else
		return 0;
	nname = nsegs - 1 - nref;
	for (i = 0; i < ndocker; i++) {
		r = rs->rules[i];
		if (name_accepted(r, segs + 1, lens + 1, nname))
			break;
	}
	if (i == ndocker)
		return 0;
	r = rs->rules[i];
	for (i = 0; i < nname; i++) {
		if (i)
			buf_addc(&image, '/');
		buf_add(&image, segs[1 + i], lens[1 + i]);
	}
	redirect_or_proxy(ctx, r, req, resp, ev);
	log_rule(ev, r, 1);
	event_strn(ev, "image", buf_cstr(&image), image.n);
	event_strn(ev, "reference", segs[nsegs - 1], lens[nsegs - 1]);
	event_str(ev, "registry", r->registry_log);
	buf_free(&image);
	return 1;

whole_registry:
	/* §3.6: /v2, /v2/, _catalog and refused methods are logged with the
	 * first docker rule, without an image */
	log_rule(ev, first, 0);
	event_str(ev, "image", "");
	event_str(ev, "reference", "");
	event_str(ev, "registry", first->registry_log);
	return 1;
}
