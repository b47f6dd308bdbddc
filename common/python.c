/*
 * The Python simple index of a rule set (SPEC §7).
 *
 * All python-v1 rules of a rule set form one index.  It is built once, when
 * the manifest is loaded: projects are grouped by their PEP 503 normalised
 * name, duplicates dropped, and every page (the root and each project, in
 * HTML and in PEP 691 JSON) is rendered with its ETag.  Serving a page is
 * then a binary search, a negotiation over the Accept values and one copy
 * of a ready body.  The index borrows the rules (and their strings) from
 * the manifest, which outlives it.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "arena.h"
#include "buf.h"
#include "event.h"
#include "image_int.h"
#include "mparse.h"
#include "python.h"
#include "request.h"
#include "response.h"
#include "ruletype.h"
#include "sha256.h"
#include "util.h"
#include "xmalloc.h"

#define PYRULE(r)	((const struct py_rule *)(r)->priv)

#define PY_CT_HTML	"text/html"
#define PY_CT_JSON	"application/vnd.pypi.simple.v1+json"
#define PY_ETAGLEN	48
/* Repeated Accept / If-None-Match values looked at; web servers merge
 * repeated headers into one value anyway. */
#define PY_MAXVALS	16

struct pypage {
	char		*body;		/* owned, unless the index borrows */
	size_t		 len;
	char		 etag[PY_ETAGLEN];
	/* the lazily checked image the body is in (image_bytes_ok()), or
	 * NULL */
	const struct image *im;
};

struct pyfile {
	const struct rule *rule;	/* borrowed */
	size_t		 pos;		/* position in the rules given */
	size_t		 namelen;	/* strlen(rule->file_name) */
	char		*md_url;	/* owned: §7.2 metadata URL, or NULL */
};

struct pyproject {
	const struct rule *first;	/* display name; NULL: light index */
	int		 first_index;	/* its rule-index and package-id, */
	const char	*first_pkgid;	/* for the event */
	size_t		 pos;		/* position of the first rule */
	const char	*norm;		/* borrowed: first->py_norm */
	size_t		 normlen;
	char		*path;		/* owned: "/simple/<encoded norm>/" */
	struct pyfile	*files;		/* manifest order, no duplicates */
	size_t		 nfiles;
	struct pyfile  **byname;	/* the same, sorted by file name */
	struct pypage	 html, json;
};

struct pyindex {
	struct pyproject *projects;	/* sorted by norm (strcmp) */
	size_t		 nprojects;
	struct pyproject **order;	/* the same in manifest order */
	int		 first_index;	/* rule-index of the first rule */
	int		 ix_index;	/* of the first with backend_index */
	const char	*backend_index;	/* its backend-index, or NULL */
	struct pypage	 html, json;	/* the root page */
	int		 borrowed;	/* the page bodies are not ours */
	/* read from an image without the rules (index_load_alone): the
	 * projects have no files, their paths are borrowed too */
	int		 light;
};

/* A rule and its position, for the sorts of the build. */
struct pyent {
	const struct rule *r;
	size_t		 pos;
};

/*
 * §7.5 media types: each belongs to the JSON or the HTML representation.
 */
static const struct {
	const char	*name;
	int		 json;
} py_mtypes[] = {
	{ "application/vnd.pypi.simple.v1+json", 1 },
	{ "application/vnd.pypi.simple.latest+json", 1 },
	{ "text/html", 0 },
	{ "application/vnd.pypi.simple.v1+html", 0 },
	{ "application/vnd.pypi.simple.latest+html", 0 },
};
#define PY_NMTYPES	(sizeof(py_mtypes) / sizeof(py_mtypes[0]))

static int
py_is_ows(int c)
{
	return c == ' ' || c == '\t';
}

static int
py_is_sep(int c)
{
	return c == '-' || c == '_' || c == '.';
}

static int
py_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/*
 * Appends s[0..n) as one path segment of a file URL (§7.1): unreserved
 * characters and ! $ & ' ( ) * + , ; = : @ stay, every other byte becomes
 * %XX with upper-case hex.
 */
static void
py_enc_segment(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t	 i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (is_unreserved(c) ||
		    (c != '\0' && strchr("!$&'()*+,;=:@", c) != NULL))
			buf_addc(b, c);
		else {
			buf_addc(b, '%');
			buf_addc(b, hex[c >> 4]);
			buf_addc(b, hex[c & 15]);
		}
	}
}

/* Appends s HTML-escaped (§7.3): & < > " ' become entities. */
static void
py_html(struct buf *b, const char *s)
{
	const char	*run;

	for (run = s; *s != '\0'; s++) {
		const char *ent;

		switch (*s) {
		case '&':
			ent = "&amp;";
			break;
		case '<':
			ent = "&lt;";
			break;
		case '>':
			ent = "&gt;";
			break;
		case '"':
			ent = "&quot;";
			break;
		case '\'':
			ent = "&#39;";
			break;
		default:
			continue;
		}
		buf_add(b, run, (size_t)(s - run));
		buf_adds(b, ent);
		run = s + 1;
	}
	buf_add(b, run, (size_t)(s - run));
}

/*
 * Compares the PEP 503 normalisation of raw[0..n) (lower-case ASCII, every
 * run of - _ . as one -) with norm[0..normlen), as strcmp would compare the
 * normalised strings.  Allocation-free, so that a request name can be
 * looked up without normalising it first.
 */
static int
py_normcmp(const char *raw, size_t n, const char *norm, size_t normlen)
{
	size_t	 i = 0, j = 0;
	int	 c, d;

	while (i < n) {
		if (py_is_sep((unsigned char)raw[i])) {
			while (i < n && py_is_sep((unsigned char)raw[i]))
				i++;
			c = '-';
		} else
			c = py_lower((unsigned char)raw[i++]);
		if (j == normlen)
			return 1;
		d = (unsigned char)norm[j++];
		if (c != d)
			return c < d ? -1 : 1;
	}
	return j == normlen ? 0 : -1;
}

/* Appends the PEP 503 normalisation of raw[0..n) (see py_normcmp). */
static void
py_normalise(struct buf *b, const char *raw, size_t n)
{
	size_t	 i = 0;

	while (i < n) {
		if (py_is_sep((unsigned char)raw[i])) {
			while (i < n && py_is_sep((unsigned char)raw[i]))
				i++;
			buf_addc(b, '-');
		} else
			buf_addc(b, py_lower((unsigned char)raw[i++]));
	}
}

/* memcmp-style order of (a, an) and the C string b of length bn. */
static int
py_bytecmp(const char *a, size_t an, const char *b, size_t bn)
{
	int	 c;

	c = memcmp(a, b, an < bn ? an : bn);
	if (c != 0)
		return c;
	return an < bn ? -1 : an > bn;
}

static int
py_ent_cmp_norm(const void *a, const void *b)
{
	const struct pyent *x = a, *y = b;
	int	 c;

	if ((c = strcmp(PYRULE(x->r)->py_norm, PYRULE(y->r)->py_norm)) != 0)
		return c;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int
py_file_cmp_name(const void *a, const void *b)
{
	const struct pyfile *const *x = a, *const *y = b;
	int	 c;

	if ((c = strcmp(PYRULE((*x)->rule)->file_name,
	    PYRULE((*y)->rule)->file_name)) != 0)
		return c;
	return (*x)->pos < (*y)->pos ? -1 : (*x)->pos > (*y)->pos;
}

static int
py_project_cmp_pos(const void *a, const void *b)
{
	const struct pyproject *const *x = a, *const *y = b;

	return (*x)->pos < (*y)->pos ? -1 : (*x)->pos > (*y)->pos;
}

/* Moves a rendered body into a page and computes its ETag. */
static void
py_page_set(struct pypage *pg, struct buf *b)
{
	pg->len = b->n;
	pg->body = buf_steal(b);
	etag_of(pg->body, pg->len, pg->etag, sizeof(pg->etag));
}

/*
 * The §7.2 metadata target of a file: backend-url without its fragment,
 * with ".metadata" appended to the path, before any query.  Caller frees.
 */
static char *
py_md_url(const char *url)
{
	struct buf	 b = BUF_INIT;
	size_t		 end, path;
	const char	*q;

	end = strcspn(url, "#");
	q = memchr(url, '?', end);
	path = q != NULL ? (size_t)(q - url) : end;
	buf_add(&b, url, path);
	buf_adds(&b, ".metadata");
	buf_add(&b, url + path, end - path);
	return buf_steal(&b);
}

/* The root page, HTML and JSON (§7.3, §7.4). */
static void
py_render_root(struct pyindex *idx)
{
	struct buf	 h = BUF_INIT, j = BUF_INIT;
	size_t		 i;

	buf_adds(&h, "<!DOCTYPE html><html><body>\n");
	buf_adds(&j, "{\"meta\":{\"api-version\":\"1.0\"},\"projects\":[");
	for (i = 0; i < idx->nprojects; i++) {
		const struct pyproject *p = idx->order[i];

		buf_adds(&h, "<a href=\"");
		py_html(&h, p->path);
		buf_adds(&h, "\">");
		py_html(&h, PYRULE(p->first)->py_name);
		buf_adds(&h, "</a><br>\n");

		if (i > 0)
			buf_addc(&j, ',');
		buf_adds(&j, "{\"name\":");
		buf_add_jstrz(&j, PYRULE(p->first)->py_name);
		buf_addc(&j, '}');
	}
	buf_adds(&h, "</body></html>");
	buf_adds(&j, "]}");
	py_page_set(&idx->html, &h);
	py_page_set(&idx->json, &j);
}

/* One file line of a project's HTML page (§7.3). */
static void
py_render_file_html(struct buf *h, const struct pyproject *p,
    const struct pyfile *f, struct buf *tmp)
{
	const struct py_rule *r = PYRULE(f->rule);

	buf_reset(tmp);
	buf_adds(tmp, p->path);
	py_enc_segment(tmp, r->file_name, f->namelen);
	buf_adds(h, "<a href=\"");
	py_html(h, buf_cstr(tmp));
	if (r->hash_type != NULL && r->hash != NULL) {
		buf_addc(h, '#');
		py_html(h, r->hash_type);
		buf_addc(h, '=');
		py_html(h, r->hash);
	}
	buf_addc(h, '"');
	if (r->gpg_sig >= 0)
		buf_adds(h, r->gpg_sig ? " data-gpg-sig=\"true\"" :
		    " data-gpg-sig=\"false\"");
	if (r->requires_python != NULL) {
		buf_adds(h, " data-requires-python=\"");
		py_html(h, r->requires_python);
		buf_addc(h, '"');
	}
	if (r->yanked) {
		buf_adds(h, " data-yanked=\"");
		if (r->yanked_reason != NULL)
			py_html(h, r->yanked_reason);
		buf_addc(h, '"');
	}
	if (r->core_md == 1)
		buf_adds(h, " data-core-metadata=\"true\""
		    " data-dist-info-metadata=\"true\"");
	else if (r->core_md == 2) {
		buf_reset(tmp);
		py_html(tmp, r->core_md_type);
		buf_addc(tmp, '=');
		py_html(tmp, r->core_md_hash);
		buf_adds(h, " data-core-metadata=\"");
		buf_add(h, tmp->p, tmp->n);
		buf_adds(h, "\" data-dist-info-metadata=\"");
		buf_add(h, tmp->p, tmp->n);
		buf_addc(h, '"');
	}
	buf_addc(h, '>');
	py_html(h, r->file_name);
	buf_adds(h, "</a><br>\n");
}

/* One file object of a project's JSON page (§7.4). */
static void
py_render_file_json(struct buf *j, const struct pyproject *p,
    const struct pyfile *f, struct buf *tmp)
{
	const struct py_rule *r = PYRULE(f->rule);

	buf_reset(tmp);
	buf_adds(tmp, p->path);
	py_enc_segment(tmp, r->file_name, f->namelen);
	buf_adds(j, "{\"filename\":");
	buf_add_jstrz(j, r->file_name);
	buf_adds(j, ",\"url\":");
	buf_add_jstr(j, tmp->p, tmp->n);
	buf_adds(j, ",\"hashes\":{");
	if (r->hash_type != NULL && r->hash != NULL) {
		buf_add_jstrz(j, r->hash_type);
		buf_addc(j, ':');
		buf_add_jstrz(j, r->hash);
	}
	buf_addc(j, '}');
	if (r->requires_python != NULL) {
		buf_adds(j, ",\"requires-python\":");
		buf_add_jstrz(j, r->requires_python);
	}
	if (r->gpg_sig >= 0)
		buf_adds(j, r->gpg_sig ? ",\"gpg-sig\":true" :
		    ",\"gpg-sig\":false");
	if (r->yanked) {
		/* PEP 691: a reason must be a non-empty string. */
		buf_adds(j, ",\"yanked\":");
		if (r->yanked_reason != NULL && r->yanked_reason[0] != '\0')
			buf_add_jstrz(j, r->yanked_reason);
		else
			buf_adds(j, "true");
	}
	if (r->core_md == 1)
		buf_adds(j, ",\"core-metadata\":true");
	else if (r->core_md == 2) {
		buf_adds(j, ",\"core-metadata\":{");
		buf_add_jstrz(j, r->core_md_type);
		buf_addc(j, ':');
		buf_add_jstrz(j, r->core_md_hash);
		buf_addc(j, '}');
	}
	buf_addc(j, '}');
}

/* A project page, HTML and JSON (§7.3, §7.4). */
static void
py_render_project(struct pyproject *p)
{
	struct buf	 h = BUF_INIT, j = BUF_INIT, tmp = BUF_INIT;
	size_t		 i;

	buf_adds(&h, "<!DOCTYPE html><html><body><h1>");
	py_html(&h, PYRULE(p->first)->py_name);
	buf_adds(&h, "</h1>\n");
	buf_adds(&j, "{\"meta\":{\"api-version\":\"1.0\"},\"name\":");
	buf_add_jstr(&j, p->norm, p->normlen);
	buf_adds(&j, ",\"files\":[");
	for (i = 0; i < p->nfiles; i++) {
		py_render_file_html(&h, p, &p->files[i], &tmp);
		if (i > 0)
			buf_addc(&j, ',');
		py_render_file_json(&j, p, &p->files[i], &tmp);
	}
	buf_adds(&h, "</body></html>");
	buf_adds(&j, "]}");
	py_page_set(&p->html, &h);
	py_page_set(&p->json, &j);
	buf_free(&tmp);
}

/*
 * Fills a project from its rules ents[0..n) (one normalised name, in
 * manifest order): the first rule names it; a file name seen before is
 * dropped (§7.1).
 */
static void
py_project_init(struct pyproject *p, const struct pyent *ents, size_t n)
{
	struct buf	 b = BUF_INIT;
	struct pyfile  **sorted, *kept;
	size_t		 i, k;

	p->first = ents[0].r;
	p->first_index = p->first->index;
	p->first_pkgid = p->first->package_id;
	p->pos = ents[0].pos;
	p->norm = PYRULE(p->first)->py_norm;
	p->normlen = strlen(p->norm);
	buf_adds(&b, "/simple/");
	py_enc_segment(&b, p->norm, p->normlen);
	buf_addc(&b, '/');
	p->path = buf_steal(&b);

	/* All candidates, then drop the later of each duplicate name. */
	p->files = xcalloc(n, sizeof(*p->files));
	sorted = xcalloc(n, sizeof(*sorted));
	for (i = 0; i < n; i++) {
		p->files[i].rule = ents[i].r;
		p->files[i].pos = ents[i].pos;
		p->files[i].namelen = strlen(PYRULE(ents[i].r)->file_name);
		sorted[i] = &p->files[i];
	}
	qsort(sorted, n, sizeof(*sorted), py_file_cmp_name);
	for (i = 1, kept = sorted[0]; i < n; i++)
		if (strcmp(PYRULE(sorted[i]->rule)->file_name,
		    PYRULE(kept->rule)->file_name) == 0)
			sorted[i]->rule = NULL;		/* a later duplicate */
		else
			kept = sorted[i];
	for (i = k = 0; i < n; i++)
		if (p->files[i].rule != NULL)
			p->files[k++] = p->files[i];
	p->nfiles = k;
	free(sorted);

	p->byname = xcalloc(p->nfiles, sizeof(*p->byname));
	for (i = 0; i < p->nfiles; i++) {
		struct pyfile *f = &p->files[i];

		p->byname[i] = f;
		if (PYRULE(f->rule)->core_md != 0)
			f->md_url = py_md_url(PYRULE(f->rule)->backend_url);
	}
	qsort(p->byname, p->nfiles, sizeof(*p->byname), py_file_cmp_name);
}

/*
 * Builds the index from the python-v1 rules of a rule set, given in
 * manifest order.  The rules must outlive the index.  Sorting by
 * (normalised name, position) groups each project with its files in
 * manifest order; the groups come out sorted by name for the look-ups.
 */
static struct pyindex *
py_build(struct rule *const *rules, size_t nrules)
{
	struct pyindex	*idx;
	struct pyent	*ents;
	size_t		 i, a, np;

	idx = xcalloc(1, sizeof(*idx));
	idx->first_index = nrules > 0 ? rules[0]->index : -1;
	idx->ix_index = -1;
	ents = xcalloc(nrules ? nrules : 1, sizeof(*ents));
	for (i = 0; i < nrules; i++) {
		ents[i].r = rules[i];
		ents[i].pos = i;
		if (idx->backend_index == NULL &&
		    PYRULE(rules[i])->backend_index != NULL) {
			idx->backend_index = PYRULE(rules[i])->backend_index;
			idx->ix_index = rules[i]->index;
		}
	}
	qsort(ents, nrules, sizeof(*ents), py_ent_cmp_norm);

	for (i = np = 0; i < nrules; i++)
		if (i == 0 || strcmp(PYRULE(ents[i].r)->py_norm,
		    PYRULE(ents[i - 1].r)->py_norm) != 0)
			np++;
	idx->projects = xcalloc(np ? np : 1, sizeof(*idx->projects));
	idx->order = xcalloc(np ? np : 1, sizeof(*idx->order));
	for (a = i = 0; a < nrules; a = i) {
		for (i = a + 1; i < nrules && strcmp(PYRULE(ents[i].r)->py_norm,
		    PYRULE(ents[a].r)->py_norm) == 0; i++)
			;
		py_project_init(&idx->projects[idx->nprojects], ents + a,
		    i - a);
		idx->order[idx->nprojects] = &idx->projects[idx->nprojects];
		idx->nprojects++;
	}
	qsort(idx->order, idx->nprojects, sizeof(*idx->order),
	    py_project_cmp_pos);
	free(ents);
	return idx;
}

struct pyindex *
pyindex_build(struct rule *const *rules, size_t nrules)
{
	struct pyindex	*idx;
	size_t		 i;

	idx = py_build(rules, nrules);
	for (i = 0; i < idx->nprojects; i++)
		py_render_project(&idx->projects[i]);
	py_render_root(idx);
	return idx;
}

/*
 * The rendered pages of an index, for the compiled image (ruletype.h,
 * index_save): pyindex_npages() of them, page 0 the root's HTML, 1 its
 * JSON, then the HTML and JSON of each project by normalised name.
 * Bodies and ETags ("\"...\"") live as long as the index.
 * pyindex_build_ready() builds the index of the same rules around such
 * pages (borrowed: they must outlive it), rendering them itself when
 * their count is not its.
 */
struct pypage_src {
	const char	*body;
	size_t		 len;
	const char	*etag;
	const struct image *im;
};

/* Page i of the order pyindex_npages() documents. */
static struct pypage *
py_page_at(const struct pyindex *idx, size_t i)
{
	struct pyindex	*w = (struct pyindex *)(uintptr_t)idx;

	if (i < 2)
		return i == 0 ? &w->html : &w->json;
	i -= 2;
	return i % 2 == 0 ? &w->projects[i / 2].html :
	    &w->projects[i / 2].json;
}

static size_t
pyindex_npages(const struct pyindex *idx)
{
	return 2 * (idx->nprojects + 1);
}

static void
pyindex_page(const struct pyindex *idx, size_t i, const char **body,
    size_t *len, const char **etag)
{
	const struct pypage	*pg = py_page_at(idx, i);

	*body = pg->body;
	*len = pg->len;
	*etag = pg->etag;
}

/* Points the pages of idx (pyindex_npages() of them) at pages[]. */
static void
py_pages_borrow(struct pyindex *idx, const struct pypage_src *pages,
    size_t n)
{
	struct pypage	*pg;
	size_t		 i;

	idx->borrowed = 1;
	for (i = 0; i < n; i++) {
		pg = py_page_at(idx, i);
		pg->body = (char *)(uintptr_t)pages[i].body;
		pg->len = pages[i].len;
		pg->im = pages[i].im;
		snprintf(pg->etag, sizeof(pg->etag), "%s", pages[i].etag);
	}
}

static struct pyindex *
pyindex_build_ready(struct rule *const *rules, size_t nrules,
    const struct pypage_src *pages, size_t npages)
{
	struct pyindex	*idx;

	idx = py_build(rules, nrules);
	if (npages != pyindex_npages(idx)) {
		pyindex_free(idx);
		return pyindex_build(rules, nrules);
	}
	py_pages_borrow(idx, pages, npages);
	return idx;
}

void
pyindex_free(struct pyindex *idx)
{
	size_t	 i, k;

	if (idx == NULL)
		return;
	for (i = 0; i < idx->nprojects; i++) {
		struct pyproject *p = &idx->projects[i];

		for (k = 0; k < p->nfiles; k++)
			free(p->files[k].md_url);
		free(p->files);
		free(p->byname);
		if (!idx->light)
			free(p->path);
		if (!idx->borrowed) {
			free(p->html.body);
			free(p->json.body);
		}
	}
	free(idx->projects);
	free(idx->order);
	if (!idx->borrowed) {
		free(idx->html.body);
		free(idx->json.body);
	}
	free(idx);
}

/* The project whose normalised name is that of raw[0..n), or NULL. */
static const struct pyproject *
py_find_project(const struct pyindex *idx, const char *raw, size_t n)
{
	size_t	 lo = 0, hi = idx->nprojects, mid;
	int	 c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = py_normcmp(raw, n, idx->projects[mid].norm,
		    idx->projects[mid].normlen);
		if (c == 0)
			return &idx->projects[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* The file of p named exactly name[0..n), or NULL. */
static const struct pyfile *
py_find_file(const struct pyproject *p, const char *name, size_t n)
{
	size_t	 lo = 0, hi = p->nfiles, mid;
	int	 c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = py_bytecmp(name, n, PYRULE(p->byname[mid]->rule)->file_name,
		    p->byname[mid]->namelen);
		if (c == 0)
			return p->byname[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/*
 * qvalue (RFC 9110 §12.4.2) of s[0..n) in thousandths, or -1 when it is
 * malformed or above 1.  Lenient on the digit counts (".5", "0.5000").
 */
static int
py_qvalue(const char *s, size_t n)
{
	size_t	 i = 0, digits = 0;
	int	 v = 0, scale = 100;

	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++)
		if ((v = v * 10 + (s[i] - '0')) > 1)
			return -1;
	v *= 1000;
	if (i < n && s[i] == '.')
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
			v += (s[i] - '0') * scale;
			scale /= 10;
		}
	if (i != n || digits == 0 || v > 1000)
		return -1;
	return v;
}

/*
 * How the media range r[0..n) covers the media type t: 2 when it names it,
 * 1 for "type/ *", 0 for "* / *" (or a bare "*", as old Java clients send),
 * -1 when it does not cover it.  Media types compare case-insensitively.
 */
static int
py_covers(const char *r, size_t n, const char *t)
{
	size_t	 tl, sl;

	tl = strlen(t);
	sl = (size_t)(strchr(t, '/') - t);
	if ((n == 3 && memcmp(r, "*/*", 3) == 0) || (n == 1 && r[0] == '*'))
		return 0;
	if (n == sl + 2 && strncasecmp(r, t, sl + 1) == 0 && r[sl + 1] == '*')
		return 1;
	if (n == tl && strncasecmp(r, t, tl) == 0)
		return 2;
	return -1;
}

/* Skips a quoted-string starting at s (on the '"'); returns past it. */
static const char *
py_skip_quoted(const char *s)
{
	for (s++; *s != '\0' && *s != '"'; s++)
		if (*s == '\\' && s[1] != '\0')
			s++;
	return *s == '"' ? s + 1 : s;
}

/*
 * Reads one Accept value (RFC 9110 §12.5.1: a comma list of media ranges
 * with parameters) and records, for each §7.5 media type, the q-value of
 * the most specific entry covering it (the first one among equally
 * specific entries).  Entries with a malformed q are ignored; parameters
 * other than q are ignored.
 */
static void
py_accept_scan(const char *s, int spec[], int q[])
{
	const char	*r, *name, *val;
	size_t		 rn, namelen, vn, t;
	int		 qv, bad, seen_q, c;

	for (;;) {
		while (py_is_ows(*s) || *s == ',')
			s++;
		if (*s == '\0')
			break;
		r = s;
		while (*s != '\0' && *s != ',' && *s != ';' && !py_is_ows(*s))
			s++;
		rn = (size_t)(s - r);
		qv = 1000;
		bad = seen_q = 0;
		for (;;) {
			while (py_is_ows(*s))
				s++;
			if (*s != ';')
				break;
			for (s++; py_is_ows(*s); s++)
				;
			name = s;
			while (*s != '\0' && strchr(",;= \t", *s) == NULL)
				s++;
			namelen = (size_t)(s - name);
			while (py_is_ows(*s))
				s++;
			val = NULL;
			vn = 0;
			if (*s == '=') {
				for (s++; py_is_ows(*s); s++)
					;
				if (*s == '"') {
					val = s + 1;
					s = py_skip_quoted(s);
					vn = (size_t)(s - val);
					if (vn > 0 && s[-1] == '"')
						vn--;
				} else {
					val = s;
					while (*s != '\0' &&
					    strchr(",; \t", *s) == NULL)
						s++;
					vn = (size_t)(s - val);
				}
			}
			if (namelen == 1 && (*name == 'q' || *name == 'Q') &&
			    !seen_q) {
				seen_q = 1;
				qv = val != NULL ? py_qvalue(val, vn) : -1;
				if (qv < 0)
					bad = 1;
			}
		}
		/* Junk after the entry: skip it, and the entry too. */
		while (*s != '\0' && *s != ',') {
			bad = 1;
			s = *s == '"' ? py_skip_quoted(s) : s + 1;
		}
		if (bad || rn == 0)
			continue;
		for (t = 0; t < PY_NMTYPES; t++) {
			c = py_covers(r, rn, py_mtypes[t].name);
			if (c > spec[t]) {
				spec[t] = c;
				q[t] = qv;
			}
		}
	}
}

/*
 * §7.5.  Each media type takes the q of its most specific covering entry;
 * a representation takes the best of its media types, and whether that
 * best was named by an exact entry.  Higher q wins, then exact beats
 * wildcard; anything else (a tie, nothing acceptable) gives HTML, which
 * every client of a simple index understands.
 */
int
python_negotiate_json(const char *const *accepts, size_t n)
{
	int	 spec[PY_NMTYPES], q[PY_NMTYPES];
	int	 best[2] = { 0, 0 }, exact[2] = { 0, 0 };
	size_t	 i, t;
	int	 k;

	if (n == 0)
		return 0;	/* missing: * / *, a tie, HTML */
	for (t = 0; t < PY_NMTYPES; t++) {
		spec[t] = -1;
		q[t] = 0;
	}
	for (i = 0; i < n; i++)
		if (accepts[i] != NULL)
			py_accept_scan(accepts[i], spec, q);
	for (t = 0; t < PY_NMTYPES; t++) {
		if (spec[t] < 0 || q[t] == 0)
			continue;
		k = py_mtypes[t].json;
		if (q[t] > best[k]) {
			best[k] = q[t];
			exact[k] = spec[t] == 2;
		} else if (q[t] == best[k] && spec[t] == 2)
			exact[k] = 1;
	}
	if (best[1] != best[0])
		return best[1] > best[0];
	return best[1] > 0 && exact[1] && !exact[0];
}

/*
 * One If-None-Match element e[0..n) against the quoted etag (§7.6): "*",
 * the ETag itself, the ETag without its quotes, or W/ + the ETag.
 */
static int
py_etag_elem(const char *e, size_t n, const char *etag, size_t elen)
{
	if (n == 1 && e[0] == '*')
		return 1;
	if (n == elen && memcmp(e, etag, n) == 0)
		return 1;
	if (elen >= 2 && etag[0] == '"' && etag[elen - 1] == '"' &&
	    n == elen - 2 && memcmp(e, etag + 1, n) == 0)
		return 1;
	return n == elen + 2 && e[0] == 'W' && e[1] == '/' &&
	    memcmp(e + 2, etag, elen) == 0;
}

/*
 * §7.6: any element of any If-None-Match value matches.  Elements are
 * split on commas outside quotes, with optional whitespace around them.
 */
int
etag_matches(const char *const *inm, size_t n, const char *etag)
{
	const char	*s, *start, *end;
	size_t		 i, elen;

	elen = strlen(etag);
	for (i = 0; i < n; i++) {
		if ((s = inm[i]) == NULL)
			continue;
		for (;;) {
			while (py_is_ows(*s) || *s == ',')
				s++;
			if (*s == '\0')
				break;
			start = s;
			while (*s != '\0' && *s != ',')
				s = *s == '"' ? py_skip_quoted(s) : s + 1;
			for (end = s; end > start && py_is_ows(end[-1]); end--)
				;
			if (py_etag_elem(start, (size_t)(end - start), etag,
			    elen))
				return 1;
		}
	}
	return 0;
}

/*
 * §7.6: the ETag is the SHA-256 of the body in base64url (with its '='
 * padding), quoted: 46 characters.  With outlen below 47, out gets "".
 */
void
etag_of(const void *body, size_t len, char *out, size_t outlen)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char	 d[32];
	char		 tmp[PY_ETAGLEN];
	size_t		 i, o = 0;
	unsigned long	 v;

	if (outlen == 0)
		return;
	sha256(body, len, d);
	tmp[o++] = '"';
	for (i = 0; i + 3 <= sizeof(d); i += 3) {
		v = (unsigned long)d[i] << 16 | (unsigned long)d[i + 1] << 8 |
		    d[i + 2];
		tmp[o++] = b64[(v >> 18) & 63];
		tmp[o++] = b64[(v >> 12) & 63];
		tmp[o++] = b64[(v >> 6) & 63];
		tmp[o++] = b64[v & 63];
	}
	/* 32 = 3 * 10 + 2: the last two bytes give three digits and '='. */
	v = (unsigned long)d[30] << 16 | (unsigned long)d[31] << 8;
	tmp[o++] = b64[(v >> 18) & 63];
	tmp[o++] = b64[(v >> 12) & 63];
	tmp[o++] = b64[(v >> 6) & 63];
	tmp[o++] = '=';
	tmp[o++] = '"';
	tmp[o] = '\0';
	if (outlen < o + 1) {
		out[0] = '\0';
		return;
	}
	memcpy(out, tmp, o + 1);
}

/*
 * Collects up to max values of a repeated request header into v; returns
 * how many.
 */
static size_t
py_values(const struct gw_request *req, const char *name,
    const char **v, size_t max)
{
	size_t	 n;

	for (n = 0; n < max; n++)
		if ((v[n] = gw_param_nth(req, name, n)) == NULL)
			break;
	return n;
}

/*
 * The common python event fields (§7.8, §13): rule-index ri (-1: none);
 * pkgid the package-id (NULL: null); package[0..plen) the project (NULL:
 * null); f the file (NULL: version and file-name null).
 */
static void
py_event(struct gw_event *ev, int ri, const char *pkgid,
    const char *package, size_t plen, const struct rule *f)
{
	ev->type = GW_T_PYTHON;
	event_rule(ev, ri, pkgid, NULL);
	if (package != NULL)
		event_strn(ev, "package", package, plen);
	else
		event_raw(ev, "package", "null");
	if (f != NULL) {
		event_str(ev, "version", PYRULE(f)->version);
		event_str(ev, "file-name", PYRULE(f)->file_name);
	} else {
		event_raw(ev, "version", "null");
		event_raw(ev, "file-name", "null");
	}
}

/* A redirect and its logged location (the Location as sent). */
static void
py_redirect(struct gw_response *resp, struct gw_event *ev, int status,
    const char *location)
{
	const char	*sent;

	resp_redirect(resp, status, location);
	sent = resp_get_header(resp, "Location");
	free(ev->location);
	ev->location = xstrdup(sent != NULL ? sent : location);
}

/*
 * The §7.2 canonicalisation redirect: 301 to the public base URL + path,
 * with the raw query kept.
 */
static void
py_redirect_canonical(const struct gw_request *req,
    struct gw_response *resp, struct gw_event *ev, const char *path)
{
	struct buf	 b = BUF_INIT;

	buf_adds(&b, req->scheme != NULL ? req->scheme : "https");
	buf_adds(&b, "://");
	if (req->authority != NULL)
		buf_adds(&b, req->authority);
	buf_adds(&b, path);
	if (req->raw_query != NULL && req->raw_query[0] != '\0') {
		buf_addc(&b, '?');
		buf_adds(&b, req->raw_query);
	}
	py_redirect(resp, ev, 301, buf_cstr(&b));
	buf_free(&b);
}

/*
 * Serves a page (§7.5, §7.6): negotiates the representation, answers 304
 * when If-None-Match matches its ETag, else 200 with the body.  Both carry
 * Vary: Accept.  A 304 sends no Content-Length: RFC 9110 §8.6 allows one
 * only with the length of the selected representation.
 */
static void
py_serve_page(const struct gw_request *req, const struct pypage *html,
    const struct pypage *json, struct gw_response *resp,
    struct gw_event *ev)
{
	const char		*v[PY_MAXVALS];
	const struct pypage	*pg;
	size_t			 n;
	long long		 off;
	int			 is_json, fd;

	n = py_values(req, "HTTP_ACCEPT", v, PY_MAXVALS);
	is_json = python_negotiate_json(v, n);
	pg = is_json ? json : html;
	n = py_values(req, "HTTP_IF_NONE_MATCH", v, PY_MAXVALS);
	if (etag_matches(v, n, pg->etag)) {
		resp->status = 304;
		resp->no_length = 1;
		resp_header(resp, "ETag", pg->etag);
		resp_header(resp, "Vary", "Accept");
		return;
	}
	if (image_bytes_ok(pg->im, pg->body, pg->len) == -1) {
		/* the CGI program answers again from the JSON */
		resp_plain(resp, 500);
		free(ev->error);
		ev->error = xstrdup("the manifest image is damaged");
		return;
	}
	resp->status = 200;
	resp_header(resp, "Content-Type", is_json ? PY_CT_JSON : PY_CT_HTML);
	resp_header(resp, "Vary", "Accept");
	resp_header(resp, "ETag", pg->etag);
	/* the index outlives the exchange (response.h) */
	resp_body_ref(resp, pg->body, pg->len);
	if (image_bytes_file(pg->im, pg->body, &fd, &off) == 0)
		resp_body_file(resp, fd, off);
}

/*
 * /simple/<N>/<F> (§7.2): a file of a known project, or the metadata of
 * one (F = <file>.metadata) with core-metadata.  A file literally named
 * "….metadata" wins.
 */
static int
py_handle_file(const struct pyproject *p, const char *name, size_t n,
    struct gw_response *resp, struct gw_event *ev)
{
	static const char sfx[] = ".metadata";
	const size_t	 sl = sizeof(sfx) - 1;
	const struct pyfile *f;

	if ((f = py_find_file(p, name, n)) != NULL) {
		py_redirect(resp, ev, 307, PYRULE(f->rule)->backend_url);
		py_event(ev, f->rule->index, f->rule->package_id, p->norm,
		    p->normlen, f->rule);
		return 1;
	}
	if (n > sl && memcmp(name + n - sl, sfx, sl) == 0 &&
	    (f = py_find_file(p, name, n - sl)) != NULL &&
	    f->md_url != NULL) {
		py_redirect(resp, ev, 307, f->md_url);
		py_event(ev, f->rule->index, f->rule->package_id, p->norm,
		    p->normlen, f->rule);
		return 1;
	}
	return 0;
}

/*
 * §7.7: an unknown project goes to the upstream index as
 * <index URL>[/]<normalised>/, the name segment encoded as in §7.1.
 */
static void
py_handle_upstream(const struct pyindex *idx, const char *raw, size_t n,
    struct gw_response *resp, struct gw_event *ev)
{
	struct buf	 norm = BUF_INIT, loc = BUF_INIT;
	const char	*base = idx->backend_index;
	size_t		 bl = strlen(base);

	py_normalise(&norm, raw, n);
	buf_add(&loc, base, bl);
	if (bl == 0 || base[bl - 1] != '/')
		buf_addc(&loc, '/');
	py_enc_segment(&loc, norm.p, norm.n);
	buf_addc(&loc, '/');
	py_redirect(resp, ev, 307, buf_cstr(&loc));
	py_event(ev, idx->ix_index, NULL, buf_cstr(&norm), norm.n, NULL);
	buf_free(&norm);
	buf_free(&loc);
}

/*
 * The §7.2 table, first applicable row wins.  segs[0] is "simple"; then
 * nsegs 1: /simple; 2 with "" : the root; 2 or 3 with "" last: a project
 * page form; 3: a file.  Everything else is not ours (return 0).
 */
int
python_handle(const struct pyindex *idx, const struct gw_request *req,
    char *const *segs, const size_t *lens, size_t nsegs,
    struct gw_response *resp, struct gw_event *ev)
{
	const struct pyproject *p;

	if (idx == NULL || req->method == NULL ||
	    (strcmp(req->method, "GET") != 0 &&
	    strcmp(req->method, "HEAD") != 0))
		return 0;
	if (nsegs < 1 || nsegs > 3 || lens[0] != 6 ||
	    memcmp(segs[0], "simple", 6) != 0)
		return 0;
	if (nsegs == 1) {
		py_redirect_canonical(req, resp, ev, "/simple/");
		py_event(ev, idx->first_index, NULL, NULL, 0, NULL);
		return 1;
	}
	if (nsegs == 2 && lens[1] == 0) {
		py_serve_page(req, &idx->html, &idx->json, resp, ev);
		py_event(ev, idx->first_index, NULL, NULL, 0, NULL);
		return 1;
	}
	if (lens[1] == 0)
		return 0;	/* /simple//…: no project has an empty name */
	p = py_find_project(idx, segs[1], lens[1]);

	if (nsegs == 3 && lens[2] > 0) {
		if (p != NULL && idx->light)
			return -1;	/* the files are in the rules */
		return p != NULL &&
		    py_handle_file(p, segs[2], lens[2], resp, ev);
	}

	/* /simple/<N>/ or /simple/<N> */
	if (p == NULL) {
		if (idx->backend_index == NULL)
			return 0;
		py_handle_upstream(idx, segs[1], lens[1], resp, ev);
		return 1;
	}
	if (nsegs == 3 && lens[1] == p->normlen &&
	    memcmp(segs[1], p->norm, p->normlen) == 0)
		py_serve_page(req, &p->html, &p->json, resp, ev);
	else
		py_redirect_canonical(req, resp, ev, p->path);
	py_event(ev, p->first_index, p->first_pkgid, p->norm, p->normlen,
	    NULL);
	return 1;
}

/* ------------------------------------------------------------------ */
/* The rule type */

/* PEP 503: lower-case (ASCII), every run of - _ . becomes one '-'. */
char *
pep503_normalise(const char *name, size_t len)
{
	char	*out;
	size_t	 i, o = 0;
	int	 run = 0;

	out = xmalloc(len + 1);
	for (i = 0; i < len; i++) {
		char ch = name[i];

		if (ch == '-' || ch == '_' || ch == '.') {
			if (!run)
				out[o++] = '-';
			run = 1;
			continue;
		}
		run = 0;
		out[o++] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
	}
	out[o] = '\0';
	return out;
}

/* {"type": string, "hash": string}, both required. */
static int
parse_hashobj(struct mctx *c, const cJSON *it, const char *key,
    const char **type, const char **hash)
{
	static const char *const names[2] = { "type", "hash" };
	const cJSON	*m;
	const char	*v[2];
	int		 i, bad = 0;

	for (i = 0; i < 2; i++) {
		m = mp_field(c, it, names[i]);
		v[i] = NULL;
		if (m == NULL) {
			mp_err(c, key, "member \"%s\": required field is "
			    "missing", names[i]);
			bad = 1;
		} else if (!cJSON_IsString(m)) {
			mp_err(c, key, "member \"%s\": must be a string "
			    "(got %s)", names[i], mp_jtype(m));
			bad = 1;
		} else
			v[i] = m->valuestring;
	}
	if (bad)
		return -1;
	*type = arena_strdup(c->arena, v[0]);
	*hash = arena_strdup(c->arena, v[1]);
	return 0;
}

static void
python_parse(struct mctx *c, const cJSON *o, struct rule *rule)
{
	struct py_rule	*r;
	const cJSON	*it;
	const char	*s;
	char		*norm;
	int		 b;

	rule->priv = r = arena_alloc(c->arena, sizeof(*r));
	r->gpg_sig = -1;
	mp_take_str(c, o, "package-id", &rule->package_id);
	if (mp_str(c, o, "package-name", 1, &s) == 1) {
		if (*s == '\0')
			mp_err(c, "package-name", "must not be empty");
		else {
			r->py_name = arena_strdup(c->arena, s);
			norm = pep503_normalise(s, strlen(s));
			r->py_norm = arena_strdup(c->arena, norm);
			free(norm);
		}
	}
	if (mp_str(c, o, "file-name", 1, &s) == 1) {
		if (*s == '\0')
			mp_err(c, "file-name", "must not be empty");
		else if (strchr(s, '/') != NULL)
			mp_err(c, "file-name", "must not contain '/'");
		else
			r->file_name = arena_strdup(c->arena, s);
	}
	mp_take_str(c, o, "version", &r->version);
	if (mp_str(c, o, "backend-url", 1, &s) == 1) {
		if (!url_check(s))
			mp_err(c, "backend-url",
			    "must be an absolute http or https URL");
		else
			r->backend_url = arena_strdup(c->arena, s);
	}
	it = mp_field(c, o, "hash-value");
	if (it != NULL && !cJSON_IsNull(it)) {
		if (!cJSON_IsObject(it))
			mp_err(c, "hash-value", "must be an object (got %s)",
			    mp_jtype(it));
		else
			parse_hashobj(c, it, "hash-value", &r->hash_type,
			    &r->hash);
	}
	if (mp_bool(c, o, "gpg-sig", &b) == 1)
		r->gpg_sig = b;
	mp_take_opt_str(c, o, "requires-python", &r->requires_python);
	it = mp_field(c, o, "yanked");
	if (it != NULL && !cJSON_IsNull(it)) {
		if (cJSON_IsBool(it))
			r->yanked = cJSON_IsTrue(it) ? 1 : 0;
		else if (cJSON_IsString(it)) {
			r->yanked = 1;
			r->yanked_reason = arena_strdup(c->arena,
			    it->valuestring);
		} else
			mp_err(c, "yanked", "must be a boolean or a string "
			    "(got %s)", mp_jtype(it));
	}
	/* `false` is accepted as "no metadata", as PEP 714's JSON has it */
	it = mp_field(c, o, "core-metadata");
	if (it != NULL && !cJSON_IsNull(it)) {
		if (cJSON_IsBool(it))
			r->core_md = cJSON_IsTrue(it) ? 1 : 0;
		else if (cJSON_IsObject(it)) {
			if (parse_hashobj(c, it, "core-metadata",
			    &r->core_md_type, &r->core_md_hash) == 0)
				r->core_md = 2;
		} else
			mp_err(c, "core-metadata", "must be an object or true "
			    "(got %s)", mp_jtype(it));
	}
	if (mp_str(c, o, "backend-simple-index-url", 0, &s) == 1) {
		if (!url_check(s))
			mp_err(c, "backend-simple-index-url",
			    "must be an absolute http or https URL");
		else
			r->backend_index = arena_strdup(c->arena, s);
	}
}

static void
python_dup_key(const struct rule *r, const char **a, const char **b)
{
	*a = PYRULE(r)->py_norm;
	*b = PYRULE(r)->file_name;
}

static void *
python_index(struct rule *const *rules, size_t n)
{
	return pyindex_build(rules, n);
}

static void
python_index_free(void *idx)
{
	pyindex_free(idx);
}

static int
python_answer(const struct rule_match *m, struct gw_response *resp,
    struct gw_event *ev)
{
	return python_handle(m->index, m->req, m->segs, m->lens, m->nsegs,
	    resp, ev);
}

/*
 * The compiled image (ruletype.h).  A record: the fields of struct
 * py_rule in order (gpg_sig + 1).  The index: the rule-index of the
 * first rule, and of the first with a backend-index and that URL; the
 * rendered pages: count, then body (a string of the table: a page has no
 * NUL), length and ETag for each, in pyindex_page() order; then for each
 * project in that order its normalised name, path, and the rule-index
 * and package-id of its first rule.  A CGI request for a project page
 * reads only that (index_load_alone) and sends a ready page from the
 * mapping.
 */
static void
python_save(struct img_writer *w, const struct rule *rule)
{
	const struct py_rule	*r = PYRULE(rule);

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
python_load(struct img_reader *rd, struct rule *rule)
{
	struct py_rule	*r;

	rule->priv = r = arena_alloc(rd->arena, sizeof(*r));
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

static void
python_index_save(struct img_writer *w, const void *ix)
{
	const struct pyindex	*idx = ix;
	const struct pyproject	*p;
	const char		*body, *etag;
	size_t			 n = pyindex_npages(ix), i, len;

	iw_word(w, idx->first_index < 0 ? IMG_NONE :
	    (uint32_t)idx->first_index);
	iw_word(w, idx->ix_index < 0 ? IMG_NONE : (uint32_t)idx->ix_index);
	iw_str(w, idx->backend_index);
	iw_word(w, (uint32_t)n);
	for (i = 0; i < n; i++) {
		pyindex_page(ix, i, &body, &len, &etag);
		iw_str(w, body);	/* a page has no NUL: strlen is len */
		iw_word(w, (uint32_t)len);
		iw_str(w, etag);
	}
	for (i = 0; i < idx->nprojects; i++) {
		p = &idx->projects[i];
		iw_str(w, p->norm);
		iw_str(w, p->path);
		iw_word(w, (uint32_t)p->first_index);
		iw_str(w, p->first_pkgid);
	}
}

/* A rule-index of the index data: IMG_NONE is -1. */
static int
py_ir_index(struct img_reader *rd)
{
	uint32_t	 v = ir_word(rd);

	if (v == IMG_NONE)
		return -1;
	if (v > INT32_MAX)
		rd->bad = 1;
	return (int)(v & INT32_MAX);
}

/* A page of the index data into pg; its body is checked when sent. */
static void
py_ir_page(struct img_reader *rd, struct pypage_src *pg)
{
	pg->body = ir_blob(rd, &pg->len);
	pg->etag = ir_str_req(rd);
	pg->im = rd->im;
	if (!rd->bad && strlen(pg->etag) >= PY_ETAGLEN)
		rd->bad = 1;
}

/*
 * The index data up to the projects: the rule-indexes into idx, the
 * number of pages into *npages (even, at least 2 when rd is not bad),
 * the pages into *pages (allocated; pages NULL: only checked).
 */
static void
py_ir_head(struct img_reader *rd, struct pyindex *idx,
    struct pypage_src **pages, size_t *npages)
{
	struct pypage_src	 pg, *v = NULL;
	uint32_t		 n, i;

	*npages = 0;
	idx->first_index = py_ir_index(rd);
	idx->ix_index = py_ir_index(rd);
	idx->backend_index = ir_str(rd);
	n = ir_count(rd, 3);
	/* a root page, HTML and JSON, then two per project */
	if (n < 2 || n % 2 != 0 || (idx->backend_index == NULL) !=
	    (idx->ix_index == -1))
		rd->bad = 1;
	if (rd->bad)
		return;
	if (pages != NULL)
		v = xcalloc(n, sizeof(*v));
	for (i = 0; i < n && !rd->bad; i++)
		py_ir_page(rd, v != NULL ? &v[i] : &pg);
	if (pages != NULL)
		*pages = v;
	*npages = n;
}

/* One project of the index data (pr NULL: only checked). */
static void
py_ir_project(struct img_reader *rd, struct pyproject *pr)
{
	struct pyproject	 tmp;

	if (pr == NULL)
		pr = &tmp;
	pr->norm = ir_str_req(rd);
	pr->path = (char *)(uintptr_t)ir_str_req(rd);
	pr->first_index = py_ir_index(rd);
	pr->first_pkgid = ir_str(rd);
	if (!rd->bad && (pr->first_index < 0 || pr->norm[0] == '\0'))
		rd->bad = 1;
	if (!rd->bad)
		pr->normlen = strlen(pr->norm);
}

static int
python_index_load(struct img_reader *rd, struct rule *const *rules,
    size_t nrules, void **out)
{
	struct pyindex		 head;
	struct pypage_src	*v = NULL;
	size_t			 n = 0, i;

	memset(&head, 0, sizeof(head));
	py_ir_head(rd, &head, out != NULL ? &v : NULL, &n);
	for (i = 0; !rd->bad && i + 1 < n / 2; i++)
		py_ir_project(rd, NULL);
	if (rd->bad) {
		free(v);
		return -1;
	}
	if (out != NULL) {
		*out = pyindex_build_ready(rules, nrules, v, n);
		free(v);
	}
	return 0;
}

static int
python_index_load_alone(struct img_reader *rd, void **out)
{
	struct pyindex		*idx;
	struct pypage_src	*v = NULL;
	size_t			 n = 0, i;

	idx = xcalloc(1, sizeof(*idx));
	idx->light = 1;
	idx->borrowed = 1;
	py_ir_head(rd, idx, &v, &n);
	if (!rd->bad && n >= 2) {
		idx->nprojects = n / 2 - 1;
		idx->projects = xcalloc(idx->nprojects ? idx->nprojects : 1,
		    sizeof(*idx->projects));
	}
	for (i = 0; !rd->bad && i < idx->nprojects; i++)
		py_ir_project(rd, &idx->projects[i]);
	/* sorted by name, as py_find_project() searches them */
	for (i = 1; !rd->bad && i < idx->nprojects; i++)
		if (strcmp(idx->projects[i - 1].norm,
		    idx->projects[i].norm) >= 0)
			rd->bad = 1;
	if (!rd->bad)
		py_pages_borrow(idx, v, n);
	free(v);
	if (rd->bad) {
		pyindex_free(idx);
		return -1;
	}
	*out = idx;
	return 0;
}

const struct rule_type python_v1_type = {
	.name = "python-v1",
	.reads_package_name = 1,
	.parse = python_parse,
	.dup_key = python_dup_key,
	.dup_what = "same normalised package-name and file-name",
	.index = python_index,
	.index_free = python_index_free,
	.answer = python_answer,
	.save = python_save,
	.load = python_load,
	.index_save = python_index_save,
	.index_load = python_index_load,
	.index_load_alone = python_index_load_alone,
};
