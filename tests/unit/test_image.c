/*
 * The compiled manifest image (common/image.c): every integrity check of
 * image_open() and of the cache, and the round trip (the manifests of
 * tests/e2e and every conformance case answer the same from JSON and
 * from their image).
 */
#include "config.h"

#include <sys/stat.h>

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../tap.h"
#include "buf.h"
#include "catchall.h"
#include "docker.h"
#include "filerule.h"
#include "gateway.h"
#include "image.h"
#include "image_int.h"
#include "manifest.h"
#include "npm.h"
#include "pixel.h"
#include "python.h"
#include "ruletype.h"
#include "telemetry.h"
#include "xmalloc.h"

static const char *top;
static char tmpdir[] = "/tmp/test_image.XXXXXX";

static char *
read_file(const char *path, size_t *lenp)
{
	struct buf	 b = BUF_INIT;
	char		 tmp[65536];
	size_t		 n;
	FILE		*f;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		buf_add(&b, tmp, n);
	fclose(f);
	buf_addc(&b, '\0');
	*lenp = b.n - 1;
	return b.p;
}

static void
write_file(const char *path, const char *text)
{
	FILE	*f = fopen(path, "w");

	if (f == NULL) {
		perror(path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
}

/* The image of manifest text, in 8-aligned allocated memory. */
static void *
compile(const char *text, size_t len, size_t *n, struct manifest **jm)
{
	struct manifest_diag	 d;
	void			*p;

	memset(&d, 0, sizeof(d));
	*n = 0;
	if (manifest_parse("m.json", text, len, jm, &d) != 0) {
		manifest_diag_free(&d);
		return NULL;
	}
	p = image_compile(*jm, "m.json", text, len, d.warnings.p,
	    d.warnings.n, n);
	manifest_diag_free(&d);
	return p;
}

/* ------------------------------------------------------------------ */
/* Round trip								*/
/* ------------------------------------------------------------------ */

static int
str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static int
strv_eq(const char *const *a, size_t na, const char *const *b, size_t nb)
{
	size_t	 i;

	if (na != nb)
		return 0;
	for (i = 0; i < na; i++)
		if (!str_eq(a[i], b[i]))
			return 0;
	return 1;
}

#define IS(r, t)	((r)->type == rule_type_find(t))

/* Every field of a type's record a request can reach. */
static int
priv_eq(const struct rule *ra, const struct rule *rb)
{
	if (IS(ra, "docker-v1") || IS(ra, "docker-v2")) {
		const struct docker_rule *a = ra->priv, *b = rb->priv;

		return str_eq(a->rule_id, b->rule_id) &&
		    str_eq(a->repository, b->repository) &&
		    strv_eq((const char *const *)a->repo_segs, a->nrepo_segs,
		    (const char *const *)b->repo_segs, b->nrepo_segs) &&
		    str_eq(a->pattern_src, b->pattern_src) &&
		    (a->pattern == NULL) == (b->pattern == NULL) &&
		    str_eq(a->registry_base, b->registry_base) &&
		    str_eq(a->registry_log, b->registry_log) &&
		    a->always_proxy == b->always_proxy;
	}
	if (IS(ra, "npm-v1")) {
		const struct npm_rule *a = ra->priv, *b = rb->priv;

		return str_eq(a->name, b->name) && a->kind == b->kind &&
		    str_eq(a->registry_base, b->registry_base);
	}
	if (IS(ra, "file-v1") || IS(ra, "file-v2")) {
		const struct file_rule *a = ra->priv, *b = rb->priv;

		return str_eq(a->in_src, b->in_src) &&
		    (a->re == NULL) == (b->re == NULL) &&
		    str_eq(a->out_src, b->out_src) &&
		    a->out_never == b->out_never;
	}
	if (IS(ra, "python-v1")) {
		const struct py_rule *a = ra->priv, *b = rb->priv;

		return str_eq(a->py_name, b->py_name) &&
		    str_eq(a->py_norm, b->py_norm) &&
		    str_eq(a->file_name, b->file_name) &&
		    str_eq(a->version, b->version) &&
		    str_eq(a->backend_url, b->backend_url) &&
		    str_eq(a->hash_type, b->hash_type) &&
		    str_eq(a->hash, b->hash) && a->gpg_sig == b->gpg_sig &&
		    str_eq(a->requires_python, b->requires_python) &&
		    a->yanked == b->yanked &&
		    str_eq(a->yanked_reason, b->yanked_reason) &&
		    a->core_md == b->core_md &&
		    str_eq(a->core_md_type, b->core_md_type) &&
		    str_eq(a->core_md_hash, b->core_md_hash) &&
		    str_eq(a->backend_index, b->backend_index);
	}
	if (IS(ra, "pixel-v1"))
		return str_eq(((const struct pixel_rule *)ra->priv)->path,
		    ((const struct pixel_rule *)rb->priv)->path);
	if (IS(ra, "telemetry-v1")) {
		const struct telemetry_rule *a = ra->priv, *b = rb->priv;

		return str_eq(a->path, b->path) &&
		    strv_eq(a->tokens, a->ntokens, b->tokens, b->ntokens) &&
		    a->tokens_set == b->tokens_set;
	}
	if (IS(ra, "catch-all-v1"))
		return str_eq(((const struct catchall_rule *)ra->priv)->target,
		    ((const struct catchall_rule *)rb->priv)->target);
	return 0;
}

/* Every field a request can reach. */
static int
rule_eq(const struct rule *a, const struct rule *b)
{
	return a->type == b->type && a->rank == b->rank &&
	    a->index == b->index && str_eq(a->domain, b->domain) &&
	    str_eq(a->package_id, b->package_id) && priv_eq(a, b);
}

/* 1 when the two sets have the same types in the same places */
static int
spans_eq(const struct ruleset *a, const struct ruleset *b)
{
	size_t	 i;

	if (a->nspans != b->nspans)
		return 0;
	for (i = 0; i < a->nspans; i++)
		if (a->spans[i].type != b->spans[i].type ||
		    a->spans[i].first != b->spans[i].first ||
		    a->spans[i].count != b->spans[i].count ||
		    (a->spans[i].index == NULL) != (b->spans[i].index == NULL))
			return 0;
	return 1;
}

/* The explain line and, for a GET, the body of one request. */
static void
answer(struct manifest *m, const char *method, const char *host,
    const char *target, char *const *hdrs, size_t nh, struct buf *out)
{
	struct gw_config	 cfg;
	struct gw_ctx		 ctx;
	struct gw_request	 req;
	struct gw_response	 resp;
	struct gw_event		 ev;
	char			*params[5];
	struct buf		 t = BUF_INIT;
	const char		*b;
	size_t			 i, bn;

	gw_config_defaults(&cfg);
	memset(&ctx, 0, sizeof(ctx));
	ctx.manifest = m;
	ctx.config = &cfg;
	ctx.now = 1000;
	buf_reset(out);
	gw_explain(&ctx, method, host, target, hdrs, nh, out);
	buf_printf(&t, "REQUEST_METHOD=%s", method);
	params[0] = buf_steal(&t);
	buf_printf(&t, "REQUEST_URI=%s", target);
	params[1] = buf_steal(&t);
	buf_printf(&t, "HTTP_HOST=%s", host);
	params[2] = buf_steal(&t);
	params[3] = xstrdup("REMOTE_ADDR=127.0.0.1");
	params[4] = NULL;
	gw_request_init(&req, params, &cfg);
	gw_serve(&ctx, &req, &resp, &ev);
	if (resp.plan == GW_PLAN_ANSWER) {
		b = resp_body(&resp, &bn);
		buf_add(out, b, bn);
	}
	gw_event_free(&ev);
	gw_response_free(&resp);
	gw_request_free(&req);
	for (i = 0; i < 4; i++)
		free(params[i]);
	buf_free(&t);
}

/* Requests that reach rule r (and some that do not). */
static void
targets_of(const struct rule *r, struct buf *out)
{
	const char	*p;
	int		 in = 0;

	buf_reset(out);
	if (IS(r, "docker-v1"))
		buf_printf(out, "/v2/%s/manifests/latest\n/v2/%s/blobs/"
		    "sha256:0000000000000000000000000000000000000000000000000"
		    "000000000000000\n",
		    ((const struct docker_rule *)r->priv)->repository,
		    ((const struct docker_rule *)r->priv)->repository);
	else if (IS(r, "docker-v2"))
		buf_adds(out, "/v2/library/x/manifests/1\n/v2/a/b/tags/list\n");
	else if (IS(r, "npm-v1"))
		buf_printf(out, "/%s\n/%s/-/x-1.0.0.tgz\n",
		    ((const struct npm_rule *)r->priv)->name,
		    ((const struct npm_rule *)r->priv)->name);
	else if (IS(r, "file-v1")) {
		for (p = ((const struct file_rule *)r->priv)->in_src; *p;
		    p++) {
			if (*p == '{')
				in = 1;
			else if (*p == '}') {
				in = 0;
				buf_adds(out, "v1");
			} else if (!in)
				buf_addc(out, *p);
		}
		buf_adds(out, "\n/x/y\n");
	} else if (IS(r, "python-v1"))
		/* the pages first: a lazily opened image answers them from
		 * a partial set, then a file makes the whole one */
		buf_printf(out, "/simple/\n/simple/%s/\n/simple/%s\n"
		    "/simple/zz-unknown/\n/simple/%s/%s\n"
		    "/simple/%s/%s.metadata\n",
		    ((const struct py_rule *)r->priv)->py_norm,
		    ((const struct py_rule *)r->priv)->py_name,
		    ((const struct py_rule *)r->priv)->py_norm,
		    ((const struct py_rule *)r->priv)->file_name,
		    ((const struct py_rule *)r->priv)->py_norm,
		    ((const struct py_rule *)r->priv)->file_name);
	else if (IS(r, "pixel-v1"))
		buf_printf(out, "%s\n%s?a=b\n",
		    ((const struct pixel_rule *)r->priv)->path,
		    ((const struct pixel_rule *)r->priv)->path);
	else if (IS(r, "telemetry-v1"))
		buf_printf(out, "%s\n%s?a=b\n",
		    ((const struct telemetry_rule *)r->priv)->path,
		    ((const struct telemetry_rule *)r->priv)->path);
	else
		buf_adds(out, "/\n/some/path?q=1\n");
}

/*
 * One manifest both ways: every rule set of the JSON manifest is found
 * in the image with the same rules, and answers the same requests the
 * same, from the image opened completely and lazily (image_open_lazy(),
 * which must not find it damaged).  Returns the number of requests
 * compared.
 */
static int
roundtrip(const char *name, const char *text, size_t len, char *const *hdrs,
    size_t nh, const char *extra_host, const char *extra_target)
{
	struct manifest		*jm = NULL, *im = NULL, *lm = NULL;
	const struct ruleset	*js, *is;
	struct buf		 a = BUF_INIT, b = BUF_INIT, t = BUF_INIT;
	struct buf		 c = BUF_INIT;
	const char		*why = "", *p, *e;
	char			*tg, host[300];
	void			*img, *limg;
	size_t			 n, i, k;
	int			 bad = 0, nreq = 0;

	if ((img = compile(text, len, &n, &jm)) == NULL) {
		manifest_unref(jm);
		return 0;		/* an invalid manifest: no image */
	}
	limg = xmalloc(n);
	memcpy(limg, img, n);
	if (image_open(img, n, 0, &im, &why, NULL) == -1 ||
	    image_open_lazy(limg, n, 0, &lm, &why, NULL) == -1) {
		ok(0, "%s: image opens (%s)", name, why);
		if (im == NULL)
			free(img);
		free(limg);
		manifest_unref(im);
		manifest_unref(jm);
		return 0;
	}
	if (im->nrules != jm->nrules || im->npm_cache_ttl !=
	    jm->npm_cache_ttl || (im->redirect_uas == NULL) !=
	    (jm->redirect_uas == NULL))
		bad++;
	for (i = 0; i < jm->nsets; i++) {
		js = &jm->sets[i];
		/* a wildcard through a host it covers */
		if (js->domain[0] == '*')
			snprintf(host, sizeof(host), "x%s", js->domain + 1);
		else
			snprintf(host, sizeof(host), "%s", js->domain);
		if (manifest_lookup(jm, host) != js)
			continue;	/* "x.suffix" has its own rules */
		is = manifest_lookup(im, host);
		if (is != NULL && strcmp(is->domain, js->domain) != 0)
			is = NULL;
		if (is == NULL || is->nrules != js->nrules ||
		    !spans_eq(is, js)) {
			printf("# %s: set %s differs\n", name, js->domain);
			bad++;
			continue;
		}
		for (k = 0; k < js->nrules; k++)
			if (!rule_eq(js->rules[k], is->rules[k])) {
				printf("# %s: %s rule %zu differs\n", name,
				    js->domain, k);
				bad++;
			}
		for (k = 0; k < js->nrules; k++) {
			targets_of(js->rules[k], &t);
			for (p = buf_cstr(&t); *p; p = e + 1) {
				e = strchr(p, '\n');
				tg = xstrndup(p, (size_t)(e - p));
				answer(jm, "GET", host, tg, hdrs, nh, &a);
				answer(im, "GET", host, tg, hdrs, nh, &b);
				answer(lm, "GET", host, tg, hdrs, nh, &c);
				nreq++;
				if (a.n != b.n || memcmp(a.p, b.p, a.n) != 0 ||
				    a.n != c.n || memcmp(a.p, c.p, a.n) != 0) {
					printf("# %s: GET %s %s:\n#  %s\n"
					    "#  %s\n#  lazily: %s\n", name,
					    host, tg, buf_cstr(&a),
					    buf_cstr(&b), buf_cstr(&c));
					bad++;
				}
				free(tg);
			}
		}
	}
	if (extra_host != NULL) {
		answer(jm, "GET", extra_host, extra_target, hdrs, nh, &a);
		answer(im, "GET", extra_host, extra_target, hdrs, nh, &b);
		nreq++;
		if (a.n != b.n || memcmp(a.p, b.p, a.n) != 0) {
			printf("# %s: GET %s %s:\n#  %s\n#  %s\n", name,
			    extra_host, extra_target, buf_cstr(&a),
			    buf_cstr(&b));
			bad++;
		}
	}
	if (manifest_damaged(lm)) {
		printf("# %s: the lazily opened image is damaged\n", name);
		bad++;
	}
	ok(bad == 0, "%s: the same from JSON and from the image, opened "
	    "completely and lazily (%d requests)", name, nreq);
	buf_free(&a);
	buf_free(&b);
	buf_free(&c);
	buf_free(&t);
	manifest_unref(lm);
	manifest_unref(im);
	manifest_unref(jm);
	return nreq;
}

static void
test_roundtrip(void)
{
	static const char *const dirs[2] = { "cases", "cases-local" };
	char		 path[2048], **hdrs;
	const cJSON	*req, *h, *it;
	cJSON		*root;
	struct dirent	*de;
	DIR		*dp;
	const char	*uri;
	char		*text, *mt;
	size_t		 len, n, nh, d;
	int		 total = 0, cases = 0;

	snprintf(path, sizeof(path), "%s/tests/e2e/manifest.json", top);
	if ((text = read_file(path, &len)) == NULL) {
		ok(0, "read tests/e2e/manifest.json");
		return;
	}
	total += roundtrip("tests/e2e/manifest.json", text, len, NULL, 0,
	    NULL, NULL);
	free(text);
	for (d = 0; d < 2; d++) {
		snprintf(path, sizeof(path), "%s/tests/conformance/%s", top,
		    dirs[d]);
		if ((dp = opendir(path)) == NULL) {
			ok(0, "open tests/conformance/%s", dirs[d]);
			continue;
		}
		while ((de = readdir(dp)) != NULL) {
			n = strlen(de->d_name);
			if (n < 5 || strcmp(de->d_name + n - 5, ".json") != 0)
				continue;
			snprintf(path, sizeof(path), "%s/tests/conformance/"
			    "%s/%s", top, dirs[d], de->d_name);
			if ((text = read_file(path, &len)) == NULL)
				continue;
			root = cJSON_Parse(text);
			free(text);
			it = cJSON_GetObjectItem(root, "manifest");
			if (it == NULL) {
				cJSON_Delete(root);
				continue;
			}
			mt = cJSON_IsString(it) ? xstrdup(it->valuestring) :
			    cJSON_Print(it);
			req = cJSON_GetObjectItem(root, "request");
			h = req ? cJSON_GetObjectItem(req, "headers") : NULL;
			nh = 0;
			hdrs = xcalloc(64, sizeof(*hdrs));
			for (it = h ? h->child : NULL; it && nh < 63;
			    it = it->next)
				if (cJSON_IsString(it) &&
				    strcasecmp(it->string, "host") != 0) {
					hdrs[nh] = xmalloc(strlen(it->string) +
					    strlen(it->valuestring) + 3);
					sprintf(hdrs[nh++], "%s: %s",
					    it->string, it->valuestring);
				}
			it = h ? cJSON_GetObjectItem(h, "Host") : NULL;
			uri = req && cJSON_GetObjectItem(req, "uri") &&
			    cJSON_IsString(cJSON_GetObjectItem(req, "uri")) ?
			    cJSON_GetObjectItem(req, "uri")->valuestring : "/";
			total += roundtrip(de->d_name, mt, strlen(mt), hdrs, nh,
			    it && cJSON_IsString(it) ? it->valuestring : NULL,
			    uri);
			cases++;
			while (nh > 0)
				free(hdrs[--nh]);
			free(hdrs);
			free(mt);
			cJSON_Delete(root);
		}
		closedir(dp);
	}
	ok(cases > 90, "%d conformance manifests compared", cases);
	printf("# %d requests answered both ways\n", total);
}

/* ------------------------------------------------------------------ */
/* image_open() integrity checks					*/
/* ------------------------------------------------------------------ */

static const char sample[] =
    "{\"settings\": {\"npm-cache-ttl\": 60, \"docker-redirect-user-agents\":"
    " [{\"prefix\": \"docker/\"}]},\n"
    " \"rules\": [\n"
    "  {\"type\": \"file-v1\", \"domain\": \"dl.example\", \"package-id\":"
    " \"t\", \"incoming-path\": \"/t/{v}\", \"outgoing-url\":"
    " \"https://r.example/t/{v}\"},\n"
    "  {\"type\": \"file-v2\", \"domain\": \"*.example\", \"package-id\":"
    " \"r\", \"incoming-path\": \"^/r/(?<v>[0-9]+)$\", \"outgoing-url\":"
    " \"https://r.example/{v}\"},\n"
    "  {\"type\": \"docker-v2\", \"domain\": \"cr.example\", \"rule-id\":"
    " \"x\", \"registry\": \"ghcr.io\", \"pattern\": \"library/*\"},\n"
    "  {\"type\": \"python-v1\", \"domain\": \"py.example\", \"package-id\":"
    " \"p\", \"package-name\": \"Foo_Bar\", \"file-name\": \"f-1.whl\","
    " \"version\": \"1\", \"backend-url\": \"https://b.example/f-1.whl\","
    " \"hash-value\": {\"type\": \"sha256\", \"hash\": \"ab\"}},\n"
    "  {\"type\": \"telemetry-v1\", \"domain\": \"dl.example\","
    " \"package-id\": \"e\", \"incoming-path\": \"/ev\", \"access-tokens\":"
    " [\"k1\", \"k2\"]},\n"
    "  {\"type\": \"catch-all-v1\", \"domain\": \"dl.example\","
    " \"package-id\": \"c\"},\n"
    "  {\"type\": \"catch-all-v1\", \"domain\": \"dl.example\","
    " \"package-id\": \"dup\"}\n"
    " ]}\n";

/* image_open() of a copy of img with fix applied, then sealed (seal 1:
 * build and checksum made right again, so the later checks run). */
static const char *
open_mutated(const void *img, size_t n, size_t cut, size_t at,
    const void *val, size_t vlen, int seal)
{
	struct manifest	*m = NULL;
	const char	*why = NULL;
	void		*p;

	p = xmalloc(n + 8);
	memcpy(p, img, n);
	if (val != NULL)
		memcpy((char *)p + at, val, vlen);
	if (seal)
		image_seal(p, n - cut);
	if (image_open(p, n - cut, 0, &m, &why, NULL) == 0) {
		manifest_unref(m);	/* frees p */
		return NULL;
	}
	free(p);
	return why;
}

static void
test_open_checks(void)
{
	struct manifest_diag	 d;
	struct manifest		*jm = NULL, *m = NULL;
	struct img_hdr		 h;
	struct img_set		 s;
	const struct ruleset	*rs;
	const struct rule_span	*sp;
	const char		*why = NULL;
	unsigned char		 x;
	uint32_t		 v;
	void			*img, *p;
	size_t			 n, i;
	int			 rejected, flips;

	img = compile(sample, strlen(sample), &n, &jm);
	ok(img != NULL && n > sizeof(h), "sample compiles (%zu bytes)", n);
	if (img == NULL)
		return;
	memcpy(&h, img, sizeof(h));
	p = xmalloc(n);
	memcpy(p, img, n);
	memset(&d, 0, sizeof(d));
	rejected = image_open(p, n, 0, &m, &why, &d);
	ok(rejected == 0, "intact image opens%s%s", rejected ? ": " : "",
	    rejected ? why : "");
	ok(m != NULL && m->nrules == 7 && m->npm_cache_ttl == 60 &&
	    m->redirect_uas != NULL && m->redirect_uas->n == 1,
	    "its settings and count");
	ok(strstr(buf_cstr(&d.warnings), "duplicate of rules[5]") != NULL,
	    "its load warnings come back");
	manifest_diag_free(&d);
	rs = manifest_lookup(m, "a.b.example");
	ok(rs != NULL && strcmp(rs->domain, "*.example") == 0 &&
	    rs->nrules == 1 &&
	    ((const struct file_rule *)rs->rules[0]->priv)->re != NULL,
	    "wildcard lookup, regex compiled on first use");
	ok(manifest_lookup(m, "a.b.example") == rs, "made once");
	rs = manifest_lookup(m, "dl.example");
	ok(rs != NULL && rs->nrules == 4 && (sp = ruleset_span(rs,
	    rule_type_find("catch-all-v1"))) != NULL && sp->count == 2 &&
	    ((const struct telemetry_rule *)rs->rules[1]->priv)->ntokens == 2,
	    "exact lookup, precedence order");
	ok(manifest_lookup(m, "example") == NULL &&
	    manifest_lookup(m, "nope.test") == NULL, "no match");
	rs = manifest_lookup(m, "py.example");
	ok(rs != NULL && (sp = ruleset_span(rs,
	    rule_type_find("python-v1"))) != NULL && sp->index != NULL,
	    "python index built");
	manifest_unref(m);

	/* truncated, at several points */
	for (i = 1, rejected = 0, flips = 0; i < n; i += 1 + i / 3, flips++)
		rejected += open_mutated(img, n, i, 0, NULL, 0, 0) != NULL;
	ok(rejected == flips && rejected > 5,
	    "truncated images rejected (%d of %d lengths)", rejected, flips);
	why = open_mutated(img, n, n - 10, 0, NULL, 0, 0);
	is_str(why, "truncated", "a 10-byte image: truncated");
	why = open_mutated(img, n, 8, 0, NULL, 0, 0);
	is_str(why, "truncated", "8 bytes short: truncated");
	/* wrong magic, version, build */
	why = open_mutated(img, n, 0, 0, "SGWIMG\r\r", 8, 0);
	is_str(why, "not an image", "wrong magic");
	v = IMAGE_VERSION + 1;
	why = open_mutated(img, n, 0, offsetof(struct img_hdr, version), &v,
	    4, 0);
	is_str(why, "another format version", "wrong version");
	why = open_mutated(img, n, 0, offsetof(struct img_hdr, version), &v,
	    4, 1);
	is_str(why, "another format version", "wrong version, sealed");
	x = h.build[5] ^ 1;
	why = open_mutated(img, n, 0, offsetof(struct img_hdr, build) + 5, &x,
	    1, 0);
	is_str(why, "written by another build", "wrong build");
	/* a flipped byte anywhere after the header */
	for (i = sizeof(h), flips = 0, rejected = 0; i < n; i += 7, flips++) {
		x = ((unsigned char *)img)[i] ^ 0x10;
		why = open_mutated(img, n, 0, i, &x, 1, 0);
		rejected += why != NULL &&
		    strcmp(why, "checksum mismatch") == 0;
	}
	ok(rejected == flips, "flipped bytes: checksum mismatch (%d of %d)",
	    rejected, flips);
	x = ((unsigned char *)img)[offsetof(struct img_hdr, nsets)] ^ 1;
	why = open_mutated(img, n, 0, offsetof(struct img_hdr, nsets), &x, 1,
	    0);
	is_str(why, "checksum mismatch", "flipped header byte");
	/* total length */
	{
		uint64_t tl = n - 8;

		why = open_mutated(img, n, 0, offsetof(struct img_hdr,
		    total_len), &tl, 8, 1);
		is_str(why, "wrong length", "total length short of the file");
		tl = n + 8;
		why = open_mutated(img, n, 0, offsetof(struct img_hdr,
		    total_len), &tl, 8, 1);
		is_str(why, "truncated", "total length past the file");
	}
	/* offsets out of range (sealed: only the bounds checks catch them) */
	v = h.nstr + 3;
	why = open_mutated(img, n, 0, h.sets_off + offsetof(struct img_set,
	    domain), &v, 4, 1);
	is_str(why, "domain out of range", "set domain offset out of range");
	v = h.nwords;
	why = open_mutated(img, n, 0, h.sets_off + offsetof(struct img_set,
	    rec), &v, 4, 1);
	is_str(why, "rule records out of range", "record offset out of range");
	v = 0xfffffff0U;
	why = open_mutated(img, n, 0, h.sets_off + offsetof(struct img_set,
	    nwords), &v, 4, 1);
	is_str(why, "rule records out of range", "record length out of range");
	v = h.nstr;		/* the first record's domain string */
	why = open_mutated(img, n, 0, h.words_off + 3 * 4, &v, 4, 1);
	is_str(why, "malformed rule record", "string offset out of range");
	v = 1000;		/* the first record's length */
	why = open_mutated(img, n, 0, h.words_off + 2 * 4, &v, 4, 1);
	is_str(why, "malformed rule record", "record length past its set");
	v = (uint32_t)rule_ntypes;
	why = open_mutated(img, n, 0, h.words_off, &v, 4, 1);
	is_str(why, "malformed rule record", "unknown rule type");
	v = h.nwords * 4 + 1;
	why = open_mutated(img, n, 0, offsetof(struct img_hdr, nwords), &v, 4,
	    1);
	is_str(why, "section out of range", "word section out of range");
	v = n;
	why = open_mutated(img, n, 0, offsetof(struct img_hdr, nstr), &v, 4,
	    1);
	is_str(why, "section out of range", "string section out of range");
	v = h.nwords + 9;
	why = open_mutated(img, n, 0, offsetof(struct img_hdr, uas), &v, 4, 1);
	is_str(why, "malformed user-agent list", "UA list out of range");
	v = h.nstr;
	why = open_mutated(img, n, 0, offsetof(struct img_hdr, warnings), &v,
	    4, 1);
	is_str(why, "string out of range", "warnings out of range");
	/* python pages out of range (py.example is the fourth set) */
	v = h.nwords;
	why = open_mutated(img, n, 0, h.sets_off + 3 * sizeof(s) +
	    offsetof(struct img_set, pages), &v, 4, 1);
	is_str(why, "malformed index data", "pages offset out of range");
	memcpy(&s, (char *)img + h.sets_off + 3 * sizeof(s), sizeof(s));
	ok(s.pages != IMG_NONE && s.pages + 2 < h.nwords, "py set has pages");
	if (s.pages != IMG_NONE && s.pages + 2 < h.nwords) {
		v = h.nstr;	/* the first page's body */
		why = open_mutated(img, n, 0, h.words_off + (s.pages + 1) * 4,
		    &v, 4, 1);
		is_str(why, "malformed index data", "page body out of range");
		v = h.nstr;	/* its length */
		why = open_mutated(img, n, 0, h.words_off + (s.pages + 2) * 4,
		    &v, 4, 1);
		is_str(why, "malformed index data", "page length past the "
		    "table");
	}
	/* the host index out of order */
	memcpy(&s, (char *)img + h.sets_off, sizeof(s));
	why = open_mutated(img, n, 0, h.sets_off + sizeof(s), &s, sizeof(s),
	    1);
	ok(why != NULL, "host index out of order (%s)", why ? why : "opened");
	/* misaligned */
	p = xmalloc(n + 8);
	memcpy((char *)p + 1, img, n);
	ok(image_open((char *)p + 1, n, 0, &m, &why, NULL) == -1 &&
	    strcmp(why, "misaligned") == 0, "misaligned image refused");
	free(p);
	free(img);
	manifest_unref(jm);
}

/* ------------------------------------------------------------------ */
/* The cache								*/
/* ------------------------------------------------------------------ */

static int nwarn;	/* lines on stderr during the last load() */

static int
nlines(const struct buf *b)
{
	size_t	 i;
	int	 c = 0;

	for (i = 0; i < b->n; i++)
		c += b->p[i] == '\n';
	return c;
}

static char cdir[1100];	/* the cache directory */

/*
 * Loads path through manifest_load_file() with stderr captured into
 * errbuf.  Returns 0 when the manifest came from JSON, 1 from an image
 * already there (warm), 2 from an image this load wrote (cold or
 * rebuilt: the directory changed), -1 when it did not load.
 */
static int
load(const char *path, struct buf *errbuf)
{
	struct manifest	*m = NULL;
	struct stat	 before, after;
	char		 ep[1100], tmp[4096];
	int		 saved, fd, rc;
	ssize_t		 k;

	memset(&before, 0, sizeof(before));
	memset(&after, 0, sizeof(after));
	stat(cdir, &before);

	snprintf(ep, sizeof(ep), "%s/stderr", tmpdir);
	fflush(stderr);
	saved = dup(2);
	fd = open(ep, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 2);
	close(fd);
	rc = manifest_load_file(path, &m, NULL);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	buf_reset(errbuf);
	if ((fd = open(ep, O_RDONLY)) != -1) {
		while ((k = read(fd, tmp, sizeof(tmp))) > 0)
			buf_add(errbuf, tmp, (size_t)k);
		close(fd);
	}
	buf_addc(errbuf, '\0');
	errbuf->n--;
	/* one line each: counted, then shown on one TAP line */
	nwarn = nlines(errbuf);
	for (k = 0; k < (ssize_t)errbuf->n; k++)
		if (errbuf->p[k] == '\n')
			errbuf->p[k] = ' ';
	if (rc != 0)
		return -1;
	stat(cdir, &after);
	rc = m->backing == NULL ? 0 : before.st_mtim.tv_sec !=
	    after.st_mtim.tv_sec || before.st_mtim.tv_nsec !=
	    after.st_mtim.tv_nsec ? 2 : 1;
	manifest_unref(m);
	return rc;
}

static int
count_files(const char *dir, const char *sfx)
{
	struct dirent	*de;
	DIR		*dp;
	size_t		 n, k = strlen(sfx);
	int		 c = 0;

	if ((dp = opendir(dir)) == NULL)
		return -1;
	while ((de = readdir(dp)) != NULL)
		if ((n = strlen(de->d_name)) > k &&
		    strcmp(de->d_name + n - k, sfx) == 0)
			c++;
	closedir(dp);
	return c;
}

/* The path of the only file ending in sfx in dir (static buffer). */
static const char *
only_file(const char *dir, const char *sfx)
{
	static char	 path[2048];
	struct dirent	*de;
	DIR		*dp;
	size_t		 n, k = strlen(sfx);

	path[0] = '\0';
	if ((dp = opendir(dir)) == NULL)
		return path;
	while ((de = readdir(dp)) != NULL)
		if ((n = strlen(de->d_name)) > k &&
		    strcmp(de->d_name + n - k, sfx) == 0)
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
	closedir(dp);
	return path;
}


static void
test_cache(void)
{
	struct buf	 err = BUF_INIT;
	char		 mpath[1100], p2[1100], img[2048];
	struct stat	 st;
	int		 i;

	snprintf(cdir, sizeof(cdir), "%s/cache", tmpdir);
	snprintf(mpath, sizeof(mpath), "%s/manifest.json", tmpdir);
	write_file(mpath, sample);

	/* images off until image_cache_set() */
	ok(load(mpath, &err) == 0 && count_files(tmpdir, ".img") == 0,
	    "no cache set: from JSON");
	/* a missing directory: in memory, one warning */
	image_cache_set(cdir);
	ok(load(mpath, &err) == 0, "missing cache dir: from JSON");
	ok(nwarn == 1 && strstr(err.p, "compiled in memory") != NULL,
	    "one warning (%s)", err.p);
	/* the default directory, missing: silent */
	image_cache_set(NULL);
	if (stat(IMAGE_CACHE_DEFAULT, &st) == -1) {
		ok(load(mpath, &err) == 0 && err.n == 0,
		    "missing default dir: from JSON, no warning");
	} else
		ok(1, "# SKIP " IMAGE_CACHE_DEFAULT " exists");
	image_cache_set("none");
	ok(load(mpath, &err) == 0 && err.n == 0, "none: from JSON, silent");

	mkdir(cdir, 0700);
	image_cache_set(cdir);
	ok(load(mpath, &err) == 2 && err.n == 0,
	    "cold: parsed, written, served from the new image, silent");
	ok(count_files(cdir, ".img") == 1 && count_files(cdir, ".idx") == 1,
	    "one image and one index written");
	ok(load(mpath, &err) == 1 && err.n == 0, "warm: from the image");
	snprintf(img, sizeof(img), "%s", only_file(cdir, ".img"));
	ok(stat(img, &st) == 0 && (st.st_mode & 0777) == 0644,
	    "image mode 0644");

	/* group-writable image: not trusted, rebuilt */
	chmod(img, 0664);
	ok(load(mpath, &err) == 2, "group-writable image: rebuilt");
	ok(nwarn == 1 && strstr(err.p, "writable by group or others"),
	    "one warning (%s)", err.p);
	ok(load(mpath, &err) == 1 && err.n == 0, "warm again");
	chmod(img, 0646);
	ok(load(mpath, &err) == 2 && strstr(err.p, "writable by group"),
	    "world-writable image: rebuilt");
	ok(load(mpath, &err) == 1, "warm again");

	/* another owner (root only: chown) */
	if (geteuid() == 0) {
		ok(chown(img, 4242, 4242) == 0, "chown the image to uid 4242");
		ok(load(mpath, &err) == 2 && nwarn == 1 &&
		    strstr(err.p, "owned by another user"),
		    "wrong owner: rebuilt, one warning");
		ok(stat(img, &st) == 0 && st.st_uid == 0, "rebuilt as root");
		ok(load(mpath, &err) == 1, "warm again");
		chown(only_file(cdir, ".idx"), 4242, 4242);
		ok(load(mpath, &err) == 2 && strstr(err.p, "index") &&
		    strstr(err.p, "owned by another user"),
		    "index of another owner: rebuilt");
		ok(load(mpath, &err) == 1, "warm again");
	} else {
		ok(1, "# SKIP not root: no chown");
		ok(1, "# SKIP not root");
		ok(1, "# SKIP not root");
		ok(1, "# SKIP not root");
		ok(1, "# SKIP not root");
		ok(1, "# SKIP not root");
	}

	/* a symbolic link in place of the image */
	snprintf(p2, sizeof(p2), "%s/elsewhere.img", tmpdir);
	rename(img, p2);
	ok(symlink(p2, img) == 0, "image replaced by a symbolic link");
	ok(load(mpath, &err) == 2 && strstr(err.p, "symbolic link"),
	    "symbolic link not followed, rebuilt");
	ok(lstat(img, &st) == 0 && S_ISREG(st.st_mode), "rebuilt in place");
	unlink(p2);

	/* a damaged image (a flipped byte) */
	{
		FILE	*f = fopen(img, "r+b");
		int	 c;

		fseek(f, -3, SEEK_END);
		c = fgetc(f);
		fseek(f, -3, SEEK_END);
		fputc(c ^ 0x40, f);
		fclose(f);
	}
	ok(load(mpath, &err) == 2 && strstr(err.p, "checksum mismatch"),
	    "damaged image: rebuilt");
	ok(load(mpath, &err) == 1, "warm again");
	/* another build's, another version's: the header bytes changed */
	{
		static const struct {
			size_t		 at;
			const char	*why;
		} hdr[] = {
			{ offsetof(struct img_hdr, build) + 3,
			    "written by another build" },
			{ offsetof(struct img_hdr, version),
			    "another format version" },
		};
		size_t	 h;
		FILE	*f;
		int	 c;

		for (h = 0; h < sizeof(hdr) / sizeof(hdr[0]); h++) {
			f = fopen(img, "r+b");
			fseek(f, (long)hdr[h].at, SEEK_SET);
			c = fgetc(f);
			fseek(f, (long)hdr[h].at, SEEK_SET);
			fputc(c ^ 0x01, f);
			fclose(f);
			ok(load(mpath, &err) == 2 && nwarn == 1 &&
			    strstr(err.p, hdr[h].why), "image file %s: rebuilt",
			    hdr[h].why);
			ok(load(mpath, &err) == 1, "warm again");
		}
	}
	/* a truncated one */
	ok(truncate(img, 100) == 0, "truncate the image");
	ok(load(mpath, &err) == 2 && strstr(err.p, "truncated"),
	    "truncated image: rebuilt");
	ok(load(mpath, &err) == 1, "warm again");

	/* a group-writable directory */
	chmod(cdir, 0770);
	ok(load(mpath, &err) == 0 && strstr(err.p, "writable by group"),
	    "group-writable cache dir: not used (%s)", err.p);
	chmod(cdir, 01777);
	ok(load(mpath, &err) == 1, "sticky world-writable dir: used");
	chmod(cdir, 0700);
	if (geteuid() == 0) {
		chown(cdir, 4242, 4242);
		ok(load(mpath, &err) == 0 && nwarn == 1 &&
		    strstr(err.p, "owned by another user"),
		    "cache dir of another owner: not used");
		chown(cdir, 0, 0);
	} else
		ok(1, "# SKIP not root: no chown");

	/* the manifest changes: a new image, the old one removed */
	write_file(mpath, "{\"rules\": [{\"type\": \"catch-all-v1\", "
	    "\"domain\": \"x.test\", \"package-id\": \"c\"}]}");
	ok(load(mpath, &err) == 2, "changed manifest: rebuilt");
	ok(count_files(cdir, ".img") == 1 && access(img, F_OK) == -1,
	    "its old image removed");
	ok(load(mpath, &err) == 1, "warm");
	/* a bad manifest: nothing written, the image stays */
	write_file(mpath, "{\"rules\": 1}");
	ok(load(mpath, &err) == -1, "invalid manifest fails");
	ok(count_files(cdir, ".img") == 1, "its image stays");

	/* a read-only directory: in memory, one warning */
	write_file(mpath, sample);
	if (geteuid() != 0) {
		chmod(cdir, 0500);
		ok(load(mpath, &err) == 0 && nwarn == 1 &&
		    strstr(err.p, "cannot write"),
		    "read-only dir: one warning (%s)", err.p);
		chmod(cdir, 0700);
	} else
		ok(1, "# SKIP root writes into a read-only directory");

	/* bounded: many manifests, at most 16 images */
	for (i = 0; i < 24; i++) {
		char	 text[256];

		snprintf(p2, sizeof(p2), "%s/m%d.json", tmpdir, i);
		snprintf(text, sizeof(text), "{\"rules\": [{\"type\": "
		    "\"catch-all-v1\", \"domain\": \"h%d.test\", "
		    "\"package-id\": \"c\"}]}", i);
		write_file(p2, text);
		load(p2, &err);
	}
	ok(count_files(cdir, ".img") <= 16 && count_files(cdir, ".idx") <= 64,
	    "the directory stays bounded (%d images, %d indexes)",
	    count_files(cdir, ".img"), count_files(cdir, ".idx"));
	image_cache_set("none");
	buf_free(&err);
}

/* Threads looking up the same hosts at once: one rule set each. */
struct look {
	struct manifest		*m;
	const struct ruleset	*got[4];
};

static const char *const look_hosts[4] = {
	"dl.example", "a.b.example", "py.example", "cr.example"
};

static void *
look_run(void *arg)
{
	struct look	*l = arg;
	int		 i;

	for (i = 0; i < 4; i++)
		l->got[i] = manifest_lookup(l->m, look_hosts[(i + 1) % 4]);
	return NULL;
}

static void
test_threads(void)
{
	struct manifest	*jm = NULL, *m = NULL;
	struct look	 l[8];
	pthread_t	 t[8];
	const char	*why;
	void		*img;
	size_t		 n;
	int		 i, k, same = 1;

	img = compile(sample, strlen(sample), &n, &jm);
	if (img == NULL || image_open(img, n, 0, &m, &why, NULL) == -1) {
		ok(0, "sample opens");
		free(img);
		manifest_unref(jm);
		return;
	}
	for (i = 0; i < 8; i++) {
		l[i].m = m;
		pthread_create(&t[i], NULL, look_run, &l[i]);
	}
	for (i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	for (i = 1; i < 8; i++)
		for (k = 0; k < 4; k++)
			same &= l[i].got[k] == l[0].got[k] && l[0].got[k] !=
			    NULL;
	ok(same, "8 threads made each host's rule set once and share it");
	manifest_unref(m);
	manifest_unref(jm);
}

/* ------------------------------------------------------------------ */
/* image_open_lazy(): what is checked when				*/
/* ------------------------------------------------------------------ */

/* The status of GET host target from m (the explain line's). */
static int
status_of(struct manifest *m, const char *host, const char *target)
{
	struct buf	 out = BUF_INIT;
	const char	*p;
	int		 st = -1;

	answer(m, "GET", host, target, NULL, 0, &out);
	if ((p = strstr(buf_cstr(&out), "\"status\":")) != NULL)
		st = atoi(p + 9);
	buf_free(&out);
	return st;
}

/* A lazily opened copy of img with byte at flipped (at 0: none), sealed
 * again when seal (the checksums then pass; what is left is bounds). */
static struct manifest *
lazy_mutated(const void *img, size_t n, size_t at, const void *val,
    size_t vlen, int seal, const char **why)
{
	struct manifest	*m = NULL;
	void		*p;

	p = xmalloc(n);
	memcpy(p, img, n);
	if (val != NULL)
		memcpy((char *)p + at, val, vlen);
	else if (at != 0)
		((unsigned char *)p)[at] ^= 0x20;
	if (seal)
		image_seal(p, n);
	*why = NULL;
	if (image_open_lazy(p, n, 0, &m, why, NULL) == -1) {
		free(p);
		return NULL;
	}
	return m;
}

/* The offset of the first s in p[0..n) at or after from, or 0. */
static size_t
find_in(const void *p, size_t n, size_t from, const char *s)
{
	const char	*q = memmem((const char *)p + from, n - from, s,
			    strlen(s));

	return q != NULL ? (size_t)(q - (const char *)p) : 0;
}

/*
 * The sample with 300 more files of its python project: an image of
 * several chunks (IMG_CHUNK), the rule records of dl.example, the UA
 * list and the project page each in another.
 */
static char *
lazy_sample(void)
{
	struct buf	 b = BUF_INIT;
	const char	*end = strrchr(sample, ']');
	int		 i;

	buf_add(&b, sample, (size_t)(end - sample));
	for (i = 0; i < 300; i++)
		buf_printf(&b, ",\n  {\"type\": \"python-v1\", \"domain\": "
		    "\"py.example\", \"package-id\": \"p\", \"package-name\": "
		    "\"Foo_Bar\", \"file-name\": \"foo_bar-1.%d-py3-none-any."
		    "whl\", \"version\": \"1.%d\", \"backend-url\": "
		    "\"https://files.example/packages/%04d/foo_bar-1.%d-py3-"
		    "none-any.whl\"}", i, i, i, i);
	buf_adds(&b, end);
	return buf_steal(&b);
}

static void
test_lazy_checks(void)
{
	struct manifest		*jm = NULL, *m;
	const struct ruleset	*rs;
	struct img_hdr		 h;
	const char		*why;
	char			*text;
	void			*img;
	size_t			 n, at, seta;
	uint32_t		 v;
	int			 st;

	text = lazy_sample();
	img = compile(text, strlen(text), &n, &jm);
	free(text);
	if (img == NULL) {
		ok(0, "sample compiles");
		return;
	}
	memcpy(&h, img, sizeof(h));
	ok(h.nchunks >= 4 && h.words_off + h.uas * 4 > sizeof(h) + IMG_CHUNK,
	    "a sample of %u chunks, the UA list past the first", h.nchunks);

	m = lazy_mutated(img, n, 0, NULL, 0, 0, &why);
	rs = m != NULL ? manifest_lookup(m, "py.example") : NULL;
	ok(rs != NULL && rs->partial && rs->rules == NULL,
	    "lazily: a python-only host gets a partial set");
	ok(m != NULL && status_of(m, "py.example", "/simple/foo-bar/") ==
	    200 && status_of(m, "py.example", "/simple/foo-bar/f-1.whl") ==
	    307 && !manifest_damaged(m),
	    "lazily: its page from the index data, its file from the rules");
	ok(m != NULL && manifest_whole_set(m, rs) != rs &&
	    manifest_whole_set(m, rs) == manifest_whole_set(m, rs) &&
	    !manifest_whole_set(m, rs)->partial,
	    "lazily: the whole set is made once");
	ok(m != NULL && status_of(m, "dl.example", "/t/1") == 307 &&
	    !manifest_lookup(m, "dl.example")->partial,
	    "lazily: a host with other types gets its whole set");
	manifest_unref(m);

	/* a byte in the middle of the project page (45 KB): in a chunk of
	 * its own, read only to send it */
	at = find_in(img, n, h.str_off, "<h1>Foo_Bar</h1>");
	at = at == 0 ? 0 : (at + find_in(img, n, at, "</body>")) / 2;
	ok(at != 0, "the project page is in the string table");
	m = lazy_mutated(img, n, at + 4, NULL, 0, 0, &why);
	ok(m != NULL, "lazily: a damaged page does not stop the open");
	ok(m != NULL && status_of(m, "dl.example", "/t/1") == 307 &&
	    !manifest_damaged(m), "lazily: another host still answers");
	st = m != NULL ? status_of(m, "py.example", "/simple/foo-bar/") : -1;
	ok(st == 500 && manifest_damaged(m),
	    "lazily: the damaged page answers 500 and marks it damaged");
	manifest_unref(m);
	is_str(open_mutated(img, n, 0, at + 4, "X", 1, 0),
	    "checksum mismatch", "completely: the damaged page, at open");

	/* a word of a rule record */
	m = lazy_mutated(img, n, h.words_off + 8, NULL, 0, 0, &why);
	ok(m != NULL && manifest_lookup(m, "dl.example") == NULL &&
	    manifest_damaged(m),
	    "lazily: a damaged record: no set, marked damaged");
	manifest_unref(m);

	/* the host index */
	m = lazy_mutated(img, n, h.sets_off + 1, NULL, 0, 0, &why);
	ok(m != NULL && manifest_lookup(m, "py.example") == NULL &&
	    manifest_lookup(m, "dl.example") == NULL && manifest_damaged(m),
	    "lazily: a damaged host index: no set, marked damaged");
	manifest_unref(m);

	/* the chunk checksums, the header: at open */
	m = lazy_mutated(img, n, h.chunks_off + 3, NULL, 0, 0, &why);
	ok(m == NULL && why != NULL && strcmp(why, "checksum mismatch") == 0,
	    "lazily: a damaged chunk checksum: refused at open");
	manifest_unref(m);
	m = lazy_mutated(img, n, offsetof(struct img_hdr, nsets), NULL, 0, 0,
	    &why);
	ok(m == NULL && why != NULL && strcmp(why, "checksum mismatch") == 0,
	    "lazily: a damaged header: refused at open");
	manifest_unref(m);

	/* offsets out of range, the checksums made right: the bounds */
	for (seta = 0; seta < h.nsets; seta++) {
		struct img_set	 s;

		memcpy(&s, (char *)img + h.sets_off + seta * sizeof(s),
		    sizeof(s));
		if (strcmp((char *)img + h.str_off + s.domain, "dl.example")
		    == 0)
			break;
	}
	at = h.sets_off + seta * sizeof(struct img_set);
	v = h.nwords + 5;
	m = lazy_mutated(img, n, at + offsetof(struct img_set, rec), &v, 4,
	    1, &why);
	ok(m != NULL && manifest_lookup(m, "dl.example") == NULL &&
	    manifest_damaged(m), "lazily: records out of range");
	manifest_unref(m);
	v = h.nstr + 1;
	m = lazy_mutated(img, n, at + offsetof(struct img_set, domain), &v,
	    4, 1, &why);
	ok(m != NULL && manifest_lookup(m, "dl.example") == NULL &&
	    manifest_damaged(m), "lazily: a domain out of range");
	manifest_unref(m);
	v = 0x7f;
	m = lazy_mutated(img, n, at + offsetof(struct img_set, types), &v,
	    4, 1, &why);
	ok(m != NULL && manifest_lookup(m, "dl.example") == NULL &&
	    manifest_damaged(m), "lazily: rule types that do not match");
	manifest_unref(m);
	free(img);
	manifest_unref(jm);
}

/*
 * Every rule type can be kept in an image (ruletype.h: without save and
 * load, image_compile() declines and every manifest is served parsed).
 */
static void
test_types(void)
{
	size_t	 i;

	for (i = 0; i < rule_ntypes; i++)
		ok(rule_types[i]->save != NULL && rule_types[i]->load != NULL &&
		    (rule_types[i]->index == NULL ||
		    (rule_types[i]->index_save == NULL) ==
		    (rule_types[i]->index_load == NULL)),
		    "%s: save and load%s", rule_types[i]->name,
		    rule_types[i]->index_save != NULL ?
		    ", index_save and index_load" : "");
}

int
main(void)
{
	char	 cmd[1200];

	if ((top = getenv("top_srcdir")) == NULL)
		top = ".";
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_types();
	test_open_checks();
	test_lazy_checks();
	test_threads();
	test_cache();
	test_roundtrip();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", tmpdir);
	return done_testing();
}
