/*
 * The type-specific part of the manifest image (image.c): for each rule
 * type, the fields its record holds after the common header (type,
 * index, length, domain, package-id), written by put_<type> and read
 * back by get_<type> in the same order.  All per-type knowledge of the
 * image lives here, one function pair per type.
 *
 * What is not stored: the file-v1 specificity list (only the sort at
 * load used it; the image is already in precedence order), compiled
 * templates (compiled on a rule's first use, as for a parsed manifest;
 * checked when the host is first looked up), the docker-v2 pattern and
 * the file-v2 PCRE2 code (compiled when a process first looks up the
 * host, image_rule_compile(); README says what that costs).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "docker.h"
#include "filerule.h"
#include "image_int.h"
#include "manifest.h"
#include "python.h"
#include "tmpl.h"
#include "xmalloc.h"

/* docker-v1, docker-v2 (SPEC §3) */
static void
put_docker(struct img_writer *w, const struct rule *r)
{
	iw_str(w, r->rule_id);
	iw_str(w, r->repository);
	iw_strv(w, r->repo_segs, r->nrepo_segs);
	iw_str(w, r->pattern_src);
	iw_str(w, r->registry_base);
	iw_str(w, r->registry_log);
	iw_word(w, (uint32_t)r->always_proxy);
}

static void
get_docker(struct img_reader *rd, struct rule *r)
{
	r->rule_id = ir_str(rd);
	r->repository = ir_str(rd);
	r->repo_segs = ir_strv(rd, &r->nrepo_segs);
	r->pattern_src = ir_str(rd);
	r->registry_base = ir_str_req(rd);
	r->registry_log = ir_str_req(rd);
	r->always_proxy = (int)ir_uint(rd, 1);
	if (r->type == RULE_DOCKER_V1 ? r->repository == NULL ||
	    r->nrepo_segs == 0 : r->rule_id == NULL || r->pattern_src == NULL)
		rd->bad = 1;
}

/* npm-v1 (§4) */
static void
put_npm(struct img_writer *w, const struct rule *r)
{
	iw_str(w, r->npm_name);
	iw_word(w, (uint32_t)r->npm_kind);
	iw_str(w, r->registry_base);
}

static void
get_npm(struct img_reader *rd, struct rule *r)
{
	size_t	 n;

	r->npm_name = ir_str_req(rd);
	r->npm_kind = (enum npm_kind)ir_uint(rd, NPM_ANY);
	r->registry_base = ir_str_req(rd);
	if (rd->bad)
		return;
	/* the shapes npm.c relies on (§4.1) */
	n = strlen(r->npm_name);
	if (r->npm_kind == NPM_ANY ? strcmp(r->npm_name, "*") != 0 :
	    r->npm_kind == NPM_SCOPE ? n < 4 || r->npm_name[0] != '@' ||
	    strcmp(r->npm_name + n - 2, "/*") != 0 : n == 0)
		rd->bad = 1;
}

/* file-v1, file-v2 (§5, §6) */
static void
put_file(struct img_writer *w, const struct rule *r)
{
	iw_str(w, r->in_src);
	iw_str(w, r->out_src);
	iw_word(w, (uint32_t)r->out_never);
}

static void
get_file(struct img_reader *rd, struct rule *r)
{
	r->in_src = ir_str_req(rd);
	r->out_src = ir_str(rd);
	r->out_never = (int)ir_uint(rd, 1);
}

/* python-v1 (§7) */
static void
put_python(struct img_writer *w, const struct rule *r)
{
	iw_str(w, r->py_name);
	iw_str(w, r->py_norm);
	iw_str(w, r->file_name);
	iw_str(w, r->version);
	iw_str(w, r->backend_url);
	iw_str(w, r->hash_type);
	iw_str(w, r->hash);
	iw_word(w, (uint32_t)(r->gpg_sig + 1));
	iw_str(w, r->requires_python);
	iw_word(w, (uint32_t)r->yanked);
	iw_str(w, r->yanked_reason);
	iw_word(w, (uint32_t)r->core_md);
	iw_str(w, r->core_md_type);
	iw_str(w, r->core_md_hash);
	iw_str(w, r->backend_index);
}

static void
get_python(struct img_reader *rd, struct rule *r)
{
	r->py_name = ir_str_req(rd);
	r->py_norm = ir_str_req(rd);
	r->file_name = ir_str_req(rd);
	r->version = ir_str_req(rd);
	r->backend_url = ir_str_req(rd);
	r->hash_type = ir_str(rd);
	r->hash = ir_str(rd);
	r->gpg_sig = (int)ir_uint(rd, 2) - 1;
	r->requires_python = ir_str(rd);
	r->yanked = (int)ir_uint(rd, 1);
	r->yanked_reason = ir_str(rd);
	r->core_md = (int)ir_uint(rd, 2);
	r->core_md_type = ir_str(rd);
	r->core_md_hash = ir_str(rd);
	r->backend_index = ir_str(rd);
	if ((r->hash_type == NULL) != (r->hash == NULL) ||
	    (r->core_md == 2) != (r->core_md_type != NULL) ||
	    (r->core_md == 2) != (r->core_md_hash != NULL))
		rd->bad = 1;
}

/* pixel-v1 (§8) */
static void
put_pixel(struct img_writer *w, const struct rule *r)
{
	iw_str(w, r->path);
}

static void
get_pixel(struct img_reader *rd, struct rule *r)
{
	r->path = ir_str_req(rd);
}

/* telemetry-v1 (§9) */
static void
put_telemetry(struct img_writer *w, const struct rule *r)
{
	iw_str(w, r->path);
	iw_strv(w, r->tokens, r->ntokens);
	iw_word(w, (uint32_t)r->tokens_set);
}

static void
get_telemetry(struct img_reader *rd, struct rule *r)
{
	r->path = ir_str_req(rd);
	r->tokens = ir_strv(rd, &r->ntokens);
	r->tokens_set = (int)ir_uint(rd, 1);
}

/* catch-all-v1 (§10) */
static void
put_catchall(struct img_writer *w, const struct rule *r)
{
	iw_str(w, r->target);
}

static void
get_catchall(struct img_reader *rd, struct rule *r)
{
	r->target = ir_str(rd);
}

/*
 * The python pages of a rule set: count, then body (a string of the
 * table), its length and its ETag for each, in pyindex_page() order; a
 * CGI request for a project then copies a ready page.
 */
void
image_pages_put(struct img_writer *w, const struct pyindex *py)
{
	const char	*body, *etag;
	size_t		 n = pyindex_npages(py), i, len;

	iw_word(w, (uint32_t)n);
	for (i = 0; i < n; i++) {
		pyindex_page(py, i, &body, &len, &etag);
		iw_str(w, body);	/* a page has no NUL: strlen is len */
		iw_word(w, (uint32_t)len);
		iw_str(w, etag);
	}
}

int
image_pages_get(struct img_reader *rd, struct pyindex **py,
    struct rule *const *rules, size_t nrules)
{
	struct pypage_src	*v = NULL;
	const char		*b, *e;
	uint32_t		 n, i, len;

	if (rd->p == rd->end && !rd->bad) {
		if (py != NULL)
			*py = pyindex_build(rules, nrules);
		return 0;
	}
	n = ir_word(rd);
	if (rd->bad || n > (size_t)(rd->end - rd->p) / 3)
		return -1;
	if (py != NULL)
		v = xcalloc(n ? n : 1, sizeof(*v));
	for (i = 0; i < n && !rd->bad; i++) {
		b = ir_str_req(rd);
		len = ir_word(rd);
		e = ir_str_req(rd);
		/* the body its length inside the table; an ETag that fits */
		if (rd->bad || len >= rd->nstr - (uint32_t)(b - rd->str) ||
		    b[len] != '\0' || strlen(e) >= 48)
			rd->bad = 1;
		else if (v != NULL) {
			v[i].body = b;
			v[i].len = len;
			v[i].etag = e;
		}
	}
	if (rd->bad) {
		free(v);
		return -1;
	}
	if (py != NULL) {
		*py = pyindex_build_ready(rules, nrules, v, n);
		free(v);
	}
	return 0;
}

void
image_pages_free(struct pyindex *py)
{
	pyindex_free(py);
}

static const struct {
	void	(*put)(struct img_writer *, const struct rule *);
	void	(*get)(struct img_reader *, struct rule *);
} ops[RULE__COUNT] = {
	[RULE_DOCKER_V1] = { put_docker, get_docker },
	[RULE_DOCKER_V2] = { put_docker, get_docker },
	[RULE_NPM_V1] = { put_npm, get_npm },
	[RULE_FILE_V1] = { put_file, get_file },
	[RULE_FILE_V2] = { put_file, get_file },
	[RULE_PYTHON_V1] = { put_python, get_python },
	[RULE_PIXEL_V1] = { put_pixel, get_pixel },
	[RULE_TELEMETRY_V1] = { put_telemetry, get_telemetry },
	[RULE_CATCH_ALL_V1] = { put_catchall, get_catchall },
};

void
image_rule_put(struct img_writer *w, const struct rule *r)
{
	ops[r->type].put(w, r);
}

int
image_rule_get(struct img_reader *rd, struct rule *r)
{
	if ((unsigned)r->type >= RULE__COUNT) {
		rd->bad = 1;
		return -1;
	}
	ops[r->type].get(rd, r);
	return rd->bad ? -1 : 0;
}

/* 1 when src is a template rule_in_tmpl() / rule_out_tmpl() can make */
static int
tmpl_ok(const char *src)
{
	struct tmpl	*t;
	char		 err[256];

	if (tmpl_parse(src, &t, err, sizeof(err)) == -1)
		return 0;
	tmpl_free(t);
	return 1;
}

int
image_rule_compile(struct rule *r)
{
	const char	*err;
	char		 msg[256];

	if (r->type == RULE_DOCKER_V2 &&
	    dpattern_compile(r->pattern_src, &r->pattern, &err) == -1) {
		r->pattern = NULL;
		return -1;
	}
	if (r->type == RULE_FILE_V2 &&
	    (r->re = file_v2_compile(r->in_src, msg, sizeof(msg))) == NULL)
		return -1;
	/* the templates: the handlers take one that cannot fail, so they
	 * are parsed here once; compiled again on the rule's first use, as
	 * those of a parsed manifest (kept, they took 3 KB a rule) */
	if (r->type == RULE_FILE_V1 && !tmpl_ok(r->in_src))
		return -1;
	if ((r->type == RULE_FILE_V1 || r->type == RULE_FILE_V2) &&
	    r->out_src != NULL && !tmpl_ok(r->out_src))
		return -1;
	return 0;
}

void
image_rule_release(struct rule *r)
{
	struct tmpl	*t;

	free(r->repo_segs);
	free(r->tokens);
	if (r->pattern != NULL)
		dpattern_free(r->pattern);
	if (r->re != NULL)
		file_v2_free(r->re);
	if ((t = atomic_load(&r->in_tmpl)) != NULL)
		tmpl_free(t);
	if ((t = atomic_load(&r->out_tmpl)) != NULL)
		tmpl_free(t);
}
