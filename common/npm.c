/*
 * npm registry rules (SPEC §4): request forms, tarball redirects, the
 * registry API paths, and the proxy decision for registry documents.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "arena.h"
#include "buf.h"
#include "event.h"
#include "image_int.h"
#include "mparse.h"
#include "npm.h"
#include "request.h"
#include "response.h"
#include "ruletype.h"
#include "util.h"
#include "xmalloc.h"

#define NPM_DEFAULT_REGISTRY	"https://registry.npmjs.org"

#define NPMRULE(r)	((const struct npm_rule *)(r)->priv)

/*
 * Appends a decoded path piece, percent-encoding what may not stand in a
 * path segment (RFC 3986 pchar), so a decoded '?' or '#' cannot change
 * the meaning of the redirect target.  '/' is kept when keep_slash.
 */
static void
add_pchars(struct buf *b, const char *s, size_t n, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t	 i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (is_unreserved(c) || (c != '\0' &&
		    strchr("!$&'()*+,;=:@", c) != NULL) ||
		    (keep_slash && c == '/'))
			buf_addc(b, c);
		else {
			buf_addc(b, '%');
			buf_addc(b, hex[c >> 4]);
			buf_addc(b, hex[c & 15]);
		}
	}
}

/*
 * encodeURIComponent() leaves these alone: the "URL-friendly characters"
 * of npm's package-name rules.
 */
static int
is_url_friendly(int c)
{
	return is_unreserved(c) || (c != '\0' && strchr("!'()*", c) != NULL);
}

/* One part of a name (the bare name, or the scope without its '@'). */
static const char *
name_part_invalid(const char *p, size_t n, int no_underscore)
{
	size_t	 i;

	if (n == 0)
		return "empty name or scope";
	if (p[0] == '.')
		return "a name or scope cannot start with '.'";
	if (no_underscore && p[0] == '_')
		return "cannot start with '_'";
	for (i = 0; i < n; i++)
		if (!is_url_friendly((unsigned char)p[i]))
			return "only URL-friendly characters are allowed";
	return NULL;
}

/*
 * npm.h.  The rules of npm's validate-npm-package-name, as they stand for
 * names of packages that exist ("validForOldPackages"), since the gateway
 * serves existing packages: capitals and ~'!()* are allowed there (the
 * registry has JSONStream), with the new-package length limit on top.
 */
const char *
npm_name_invalid(const char *name, size_t n)
{
	const char	*slash, *why;

	if (n == 0)
		return "empty name";
	if (n > NPM_NAME_MAX)
		return "longer than 214 characters";
	if (name[0] == '@') {
		if ((slash = memchr(name, '/', n)) == NULL)
			return "a scoped name is @scope/name";
		/* npm's package.json schema: a scope starts like a name */
		if ((why = name_part_invalid(name + 1,
		    (size_t)(slash - name - 1), 1)) != NULL)
			return why;
		return name_part_invalid(slash + 1,
		    n - (size_t)(slash + 1 - name), 0);
	}
	if ((n == 12 && strncasecmp(name, "node_modules", 12) == 0) ||
	    (n == 11 && strncasecmp(name, "favicon.ico", 11) == 0))
		return "a reserved name";
	return name_part_invalid(name, n, 1);
}

/*
 * npm.h.  A version or dist-tag goes into the upstream path as one
 * segment: it must not climb ("." or "..") nor hold a '/' or '\' that a
 * registry could split at after decoding.
 */
int
npm_version_ok(const char *v, size_t n)
{
	if (n == 0 || (n == 1 && v[0] == '.') ||
	    (n == 2 && v[0] == '.' && v[1] == '.'))
		return 0;
	return memchr(v, '/', n) == NULL && memchr(v, '\\', n) == NULL &&
	    memchr(v, '\0', n) == NULL;
}

static const struct rule *
npm_rule_for(const struct rule_match *m, const char *name)
{
	const struct rule	*r;
	const struct npm_rule	*nr;
	size_t			 i, slen;

	for (i = 0; i < m->nrules; i++) {
		r = m->rules[i];
		nr = NPMRULE(r);
		switch (nr->kind) {
		case NPM_EXACT:
			if (strcmp(nr->name, name) == 0)
				return r;
			break;
		case NPM_SCOPE:
			/* "@scope/" + "*" matches "@scope/<anything>" */
			slen = strlen(nr->name) - 1;
			if (strncmp(nr->name, name, slen) == 0 &&
			    name[slen] != '\0')
				return r;
			break;
		case NPM_ANY:
			return r;
		}
	}
	return NULL;
}

static void
log_npm(struct gw_event *ev, const struct rule *r, const char *name,
    const char *version, size_t vlen, const char *file, size_t flen)
{
	ev->type = GW_T_NPM;
	event_rule(ev, r->index, r->package_id, NULL);
	event_str(ev, "package", name);
	if (version != NULL)
		event_strn(ev, "version", version, vlen);
	else
		event_raw(ev, "version", "null");
	if (file != NULL)
		event_strn(ev, "file-name", file, flen);
	else
		event_raw(ev, "file-name", "null");
}

/* 400 with a JSON error body (a message without quotes or controls). */
static void
bad_request(struct gw_response *resp, struct gw_event *ev,
    const struct rule *r, const char *name, const char *msg)
{
	struct buf	 b = BUF_INIT;

	buf_printf(&b, "{\"error\":\"%s\"}", msg);
	resp_json(resp, 400, buf_cstr(&b));
	log_npm(ev, r, name, NULL, 0, NULL, 0);
	free(ev->error);
	ev->error = xstrdup(msg);
	buf_free(&b);
}

/* §4.5: npm audit and search go to the first npm rule's registry. */
static int
api_path(const struct rule_match *m, const struct gw_request *req,
    struct gw_response *resp, struct gw_event *ev)
{
	const struct rule	*r = m->rules[0];
	struct buf		 loc = BUF_INIT;

	if (strncmp(req->raw_path, "/-/npm/v1/security/", 19) != 0 &&
	    strcmp(req->raw_path, "/-/v1/search") != 0)
		return 0;
	buf_adds(&loc, NPMRULE(r)->registry_base);
	buf_adds(&loc, req->raw_path);
	if (req->raw_query[0] != '\0') {
		buf_addc(&loc, '?');
		buf_adds(&loc, req->raw_query);
	}
	resp_redirect(resp, 307, buf_cstr(&loc));
	ev->type = GW_T_NPM;
	event_rule(ev, r->index, r->package_id, NULL);
	event_raw(ev, "package", "null");
	event_raw(ev, "version", "null");
	event_raw(ev, "file-name", "null");
	ev->location = xstrdup(resp_get_header(resp, "Location"));
	buf_free(&loc);
	return 1;
}

/* The npm-v1 rules of a host's set (§4): 1 when one answered. */
static int
npm_answer(const struct rule_match *m, struct gw_response *resp,
    struct gw_event *ev)
{
	enum { F_PACKUMENT, F_VERSION, F_TARBALL, F_DISTTAGS } form;
	const struct gw_request	*req = m->req;
	char *const		*segs = m->segs;
	const size_t		*lens = m->lens;
	size_t			 nsegs = m->nsegs;
	const struct rule	*r;
	char			*name = NULL;
	size_t			 base = 0, rest, nlen;
	struct buf		 b = BUF_INIT;
	const char		*unscoped, *file, *ver, *why;
	size_t			 flen, vlen;
	int			 disttags = 0;

	if (api_path(m, req, resp, ev))
		return 1;
	if (nsegs == 0)
		return 0;
	/* /-/package/<name>/dist-tags */
	if (strcmp(segs[0], "-") == 0) {
		if (nsegs < 4 || strcmp(segs[1], "package") != 0)
			return 0;
		base = 2;
		disttags = 1;
	} else if (segs[0][0] == '-')
		return 0;
	if (lens[base] == 0 || memchr(segs[base], '\0', lens[base]) != NULL)
		return 0;
	if (segs[base][0] == '@' && strchr(segs[base], '/') == NULL) {
		if (nsegs < base + 2 || lens[base + 1] == 0)
			return 0;
		buf_add(&b, segs[base], lens[base]);
		buf_addc(&b, '/');
		buf_add(&b, segs[base + 1], lens[base + 1]);
		rest = base + 2;
	} else {
		buf_add(&b, segs[base], lens[base]);
		rest = base + 1;
	}
	name = buf_steal(&b);
	nlen = strlen(name);
	if (nlen == 0 || (name[0] == '@' && (name[nlen - 1] == '/' ||
	    name[1] == '/'))) {
		free(name);
		return 0;
	}

	if (disttags) {
		if (nsegs != rest + 1 || strcmp(segs[rest], "dist-tags") != 0)
			goto not_claimed;
		form = F_DISTTAGS;
	} else if (nsegs == rest)
		form = F_PACKUMENT;
	else if (nsegs == rest + 1 && lens[rest] > 0)
		form = F_VERSION;
	else if (nsegs == rest + 2 && strcmp(segs[rest], "-") == 0 &&
	    lens[rest + 1] > 4 &&
	    strcmp(segs[rest + 1] + lens[rest + 1] - 4, ".tgz") == 0)
		form = F_TARBALL;
	else
		goto not_claimed;

	if ((r = npm_rule_for(m, name)) == NULL)
		goto not_claimed;

	if (!req->is_get_or_head) {
		resp_json(resp, 405, "{\"error\":\"method not allowed\"}");
		resp_header(resp, "Allow", "GET, HEAD");
		log_npm(ev, r, name, NULL, 0, NULL, 0);
		goto done;
	}
	/*
	 * The name and the version become upstream path segments: a name
	 * npm would refuse ("..", ".hidden", "a/b") gets a 400 here rather
	 * than a request that climbs out of the registry's path.
	 */
	if ((why = npm_name_invalid(name, nlen)) != NULL) {
		buf_printf(&b, "invalid package name: %s", why);
		bad_request(resp, ev, r, name, buf_cstr(&b));
		goto done;
	}
	if (form == F_VERSION && !npm_version_ok(segs[rest], lens[rest])) {
		bad_request(resp, ev, r, name, "invalid version or tag");
		goto done;
	}

	switch (form) {
	case F_TARBALL:
		/* §4.3 */
		file = segs[rest + 1];
		flen = lens[rest + 1];
		buf_adds(&b, NPMRULE(r)->registry_base);
		buf_addc(&b, '/');
		add_pchars(&b, name, nlen, 1);
		buf_adds(&b, "/-/");
		add_pchars(&b, file, flen, 0);
		resp_redirect(resp, 307, buf_cstr(&b));
		unscoped = name[0] == '@' ? strchr(name, '/') + 1 : name;
		ver = NULL;
		vlen = 0;
		if (strncmp(file, unscoped, strlen(unscoped)) == 0 &&
		    file[strlen(unscoped)] == '-') {
			ver = file + strlen(unscoped) + 1;
			vlen = flen - strlen(unscoped) - 1 - 4;
		}
		log_npm(ev, r, name, ver, vlen, file, flen);
		ev->location = xstrdup(resp_get_header(resp, "Location"));
		break;
	default:
		/* §4.4: documents come from the registry (proxied) */
		buf_adds(&b, NPMRULE(r)->registry_base);
		buf_addc(&b, '/');
		if (form == F_DISTTAGS)
			buf_adds(&b, "-/package/");
		if (name[0] == '@') {
			const char *slash = strchr(name, '/');
			add_pchars(&b, name, (size_t)(slash - name), 0);
			buf_adds(&b, "%2f");
			add_pchars(&b, slash + 1, strlen(slash + 1), 0);
		} else
			add_pchars(&b, name, nlen, 0);
		if (form == F_DISTTAGS)
			buf_adds(&b, "/dist-tags");
		if (form == F_VERSION) {
			buf_addc(&b, '/');
			add_pchars(&b, segs[rest], lens[rest], 0);
			log_npm(ev, r, name, segs[rest], lens[rest], NULL, 0);
		} else
			log_npm(ev, r, name, NULL, 0, NULL, 0);
		resp->plan = GW_PLAN_NPM_DOC;
		resp->npm_kind = form == F_PACKUMENT ? NPM_DOC_PACKUMENT :
		    form == F_VERSION ? NPM_DOC_VERSION : NPM_DOC_PLAIN;
		resp->npm_name = xstrdup(name);
		resp->upstream = buf_steal(&b);
		/* redirects are followed only inside the registry's path */
		buf_adds(&b, NPMRULE(r)->registry_base);
		buf_addc(&b, '/');
		resp->upstream_scope = buf_steal(&b);
		break;
	}
done:
	buf_free(&b);
	free(name);
	return 1;
not_claimed:
	buf_free(&b);
	free(name);
	return 0;
}

/*
 * §4.1 npm package-name: "*", "@scope/" + "*", "@scope/name" or "name".
 * Returns NULL and the kind, or the reason it is invalid.
 */
static const char *
npm_name_check(const char *s, enum npm_kind *kind)
{
	const char	*p, *slash;

	if (strcmp(s, "*") == 0) {
		*kind = NPM_ANY;
		return NULL;
	}
	for (p = s; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return "spaces and control characters are not allowed";
	if (s[0] == '@') {
		if ((slash = strchr(s, '/')) == NULL)
			return "a scoped name must be @scope/name";
		if (slash == s + 1)
			return "empty scope";
		if (slash[1] == '\0')
			return "empty name after the scope";
		if (strchr(slash + 1, '/') != NULL)
			return "more than one '/'";
		if (memchr(s, '*', (size_t)(slash - s)) != NULL ||
		    (strchr(slash + 1, '*') != NULL &&
		    strcmp(slash + 1, "*") != 0))
			return "'*' is only allowed as \"*\" or \"@scope/*\"";
		*kind = strcmp(slash + 1, "*") == 0 ? NPM_SCOPE : NPM_EXACT;
		return NULL;
	}
	/* §4.1: a first segment starting with '-' never names a package */
	if (s[0] == '-')
		return "must not start with '-'";
	if (strchr(s, '/') != NULL)
		return "only a scoped name (@scope/name) may contain '/'";
	if (strchr(s, '*') != NULL)
		return "'*' is only allowed as \"*\" or \"@scope/*\"";
	*kind = NPM_EXACT;
	return NULL;
}

static void
npm_parse(struct mctx *c, const cJSON *o, struct rule *r)
{
	struct npm_rule	*nr;
	const char	*s, *why;
	size_t		 n, off, alen;
	int		 rc;

	r->priv = nr = arena_alloc(c->arena, sizeof(*nr));
	mp_take_str(c, o, "package-id", &r->package_id);
	if (mp_str(c, o, "package-name", 1, &s) == 1) {
		if (*s == '\0')
			mp_err(c, "package-name", "must not be empty");
		else if ((why = npm_name_check(s, &nr->kind)) != NULL)
			mp_err(c, "package-name", "invalid npm package name "
			    "%s: %s", mp_quote(c, s), why);
		else
			nr->name = arena_strdup(c->arena, s);
	}
	if ((rc = mp_str(c, o, "registry", 0, &s)) == -1)
		return;
	if (rc == 0)
		s = NPM_DEFAULT_REGISTRY;
	if (!url_check(s)) {
		mp_err(c, "registry", "must be an absolute http or https URL");
		return;
	}
	if (strchr(s, '?') != NULL || strchr(s, '#') != NULL) {
		mp_err(c, "registry", "must not have a query or fragment");
		return;
	}
	/* §4.1: the registry base is the value without trailing '/' */
	n = strlen(s);
	if (url_authority(s, &off, &alen) == 0)
		while (n > off + alen && s[n - 1] == '/')
			n--;
	nr->registry_base = arena_strndup(c->arena, s, n);
}

/* §2.5: exact names, then scopes ("@scope/" + "*"), then "*". */
static int
npm_cmp(const struct rule *a, const struct rule *b)
{
	enum npm_kind	 ka = NPMRULE(a)->kind, kb = NPMRULE(b)->kind;

	return ka < kb ? -1 : ka > kb;
}

static void
npm_dup_key(const struct rule *r, const char **a, const char **b)
{
	(void)b;
	*a = NPMRULE(r)->name;
}

/* The compiled image (ruletype.h). */
static void
npm_save(struct img_writer *w, const struct rule *r)
{
	iw_str(w, NPMRULE(r)->name);
	iw_word(w, (uint32_t)NPMRULE(r)->kind);
	iw_str(w, NPMRULE(r)->registry_base);
}

static void
npm_load(struct img_reader *rd, struct rule *r)
{
	struct npm_rule	*nr;
	size_t		 n;

	r->priv = nr = arena_alloc(rd->arena, sizeof(*nr));
	nr->name = ir_str_req(rd);
	nr->kind = (enum npm_kind)ir_uint(rd, NPM_ANY);
	nr->registry_base = ir_str_req(rd);
	if (rd->bad)
		return;
	/* the shapes npm_answer relies on (§4.1) */
	n = strlen(nr->name);
	if (nr->kind == NPM_ANY ? strcmp(nr->name, "*") != 0 :
	    nr->kind == NPM_SCOPE ? n < 4 || nr->name[0] != '@' ||
	    strcmp(nr->name + n - 2, "/*") != 0 : n == 0)
		rd->bad = 1;
}

const struct rule_type npm_v1_type = {
	.name = "npm-v1",
	.reads_package_name = 1,
	.parse = npm_parse,
	.cmp = npm_cmp,
	.dup_key = npm_dup_key,
	.dup_what = "same package-name",
	.answer = npm_answer,
	.save = npm_save,
	.load = npm_load,
};
