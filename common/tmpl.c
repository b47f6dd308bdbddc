/*
 * RFC 6570 (level 4) URI templates as SPEC §5 uses them.
 *
 * A template is parsed once (tmpl_parse) into a list of elements (literal
 * runs and expressions) and a match plan:
 *
 *  - the path part, matched against the raw path (or, for a query part of
 *    an unusual shape, the whole template against "path?query");
 *  - the query part, read as a set of items (§5.2): optional items from
 *    {?...} / {&...} variables and required `key=value-template` or bare
 *    `key` items from the remaining text.
 *
 * Matching (tmpl_match) is one depth-first search over the path part and
 * then the query items in template order, so a repeated variable is checked
 * during the search and a disagreement in the query backtracks into the
 * path.  For every variable the candidates are tried in the order §5.2
 * fixes: non-empty values from shortest to longest, then the empty string,
 * then undefined.
 *
 * Hostile paths can make that search exponential (`/{a}-{b}-{c}-{d}` on a
 * long run of dashes with no match).  Three bounds keep it cheap; the first
 * two are set up only once a search gets past TMPL_ACCEL_AFTER steps, so
 * ordinary requests pay nothing for them:
 *
 *  - a reachability table, computed right to left over the path part in
 *    O(variables x path length): for each (variable, first-in-expression,
 *    position) state, could the rest of the path part match at all?  It
 *    ignores UTF-8 validity, :N prefixes, repeated names and the query, so
 *    it is only a necessary condition, and the search merely skips states
 *    it rules out: the first match found is unchanged.  A path that cannot
 *    match is then rejected in linear time;
 *  - when no variable name occurs twice, whether the rest of the template
 *    matches from a state does not depend on the earlier captures, so
 *    failed path states are memoised in a bit set;
 *  - every search gives up after TMPL_MAXSTEPS steps, and giving up counts
 *    as no match.  Real templates on real paths need a few hundred steps.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "tmpl.h"
#include "util.h"
#include "xmalloc.h"

#define TMPL_MAXEXPRS	128		/* expressions per template */
#define TMPL_MAXOCC	128		/* variable occurrences per template */
#ifndef TMPL_MAXSTEPS
#define TMPL_MAXSTEPS	100000UL	/* search steps per match */
#endif
#ifndef TMPL_ACCEL_AFTER
#define TMPL_ACCEL_AFTER 1024UL		/* steps before memo and reach */
#endif
#define TMPL_ACCEL_MAX	(32UL * 1024 * 1024)	/* their size cap, in bits */
#define TMPL_ACCEL_MAXLEN 65536UL	/* longest subject for them */

enum tel_kind { TEL_LIT, TEL_EXPR };

/* One variable occurrence of an expression. */
struct tvar {
	char	*name;		/* as written (may hold %XX); owned */
	size_t	 namelen;
	char	*key;		/* name percent-decoded (query items); owned */
	size_t	 keylen;
	int	 maxlen;	/* :N prefix modifier, 0 = none */
	int	 explode;	/* '*' modifier */
	size_t	 slot;		/* index of the distinct name */
};

struct texpr {
	int	 op;		/* 0, or one of + # . / ; ? & */
	size_t	 var0, nvar;	/* range in tmpl.vars */
};

/* A template element: a literal run or an expression. */
struct telem {
	enum tel_kind	 kind;
	size_t		 off, len;	/* TEL_LIT: slice of tmpl.src */
	size_t		 expr;		/* TEL_EXPR: index in tmpl.exprs */
};

enum mnode_kind { MN_LIT, MN_EXPR };

/* A node of a match sequence (path part, or a query item's value). */
struct mnode {
	enum mnode_kind	 kind;
	const char	*lit;		/* MN_LIT: raw slice of src (path part)
					 * or decoded text in qtext (query) */
	size_t		 litlen;
	size_t		 loff;		/* MN_LIT of a query value: offset of
					 * lit in qtext while planning */
	size_t		 expr;		/* MN_EXPR */
	size_t		 id;		/* MN_EXPR: memo id of its first var */
};

enum qitem_kind { QI_OPT, QI_REQ };

/* A query item (§5.2, query part as a set). */
struct qitem {
	enum qitem_kind	 kind;
	const char	*key;		/* QI_REQ: decoded, in qtext */
	size_t		 keylen;
	size_t		 koff;		/* QI_REQ: key offset while planning */
	size_t		 var;		/* QI_OPT: index in tmpl.vars */
	int		 has_value;	/* QI_REQ: `key=value-template` */
	size_t		 n0, n1;	/* QI_REQ: value nodes in tmpl.qnodes */
};

enum qmode {
	Q_NONE,		/* no query part: the request's query is ignored */
	Q_SET,		/* query part as a set of items */
	Q_INLINE	/* whole template against raw path + '?' + raw query */
};

struct tmpl {
	char		*src;
	struct telem	*el;
	size_t		 nel;
	struct texpr	*exprs;
	size_t		 nexpr;
	struct tvar	*vars;
	size_t		 nvar;
	const char	*names[TMPL_MAXVARS];	/* distinct names (in vars) */
	size_t		 nslot;
	int		 repeated;	/* some name occurs more than once */

	enum qmode	 qmode;
	struct mnode	*pnodes;	/* path part (Q_INLINE: everything) */
	size_t		 npnodes;
	size_t		 nids;		/* memo ids used by pnodes */
	struct qitem	*items;
	size_t		 nitems;
	struct mnode	*qnodes;	/* values of QI_REQ items */
	size_t		 nqnodes;
	struct buf	 qtext;		/* decoded query literals and keys */
};

/* ------------------------------------------------------------------ */
/* Operators (§5.1 table) */

static int
op_prefix(int op)
{
	return (op == 0 || op == '+') ? 0 : op;
}

static int
op_sep(int op)
{
	switch (op) {
	case '.':
	case '/':
	case ';':
		return op;
	case '?':
	case '&':
		return '&';
	default:
		return ',';
	}
}

static int
op_named(int op)
{
	return op == ';' || op == '?' || op == '&';
}

/* 1 when the operator lets c (a byte) stand unencoded in a value. */
static int
op_allows(int op, int c)
{
	if (is_unreserved(c))
		return 1;
	return (op == '+' || op == '#') && is_reserved(c);
}

/* ------------------------------------------------------------------ */
/* Variable sets */

void
tmpl_vars_free(struct tmpl_vars *vs)
{
	size_t	 i;

	for (i = 0; i < vs->n; i++) {
		free(vs->v[i].name);
		free(vs->v[i].value);
	}
	vs->n = 0;
}

const char *
tmpl_vars_get(const struct tmpl_vars *vs, const char *name, size_t *len)
{
	size_t	 i;

	for (i = 0; i < vs->n; i++)
		if (strcmp(vs->v[i].name, name) == 0) {
			if (vs->v[i].value != NULL && len != NULL)
				*len = vs->v[i].len;
			return vs->v[i].value;
		}
	return NULL;
}

/* A full set (TMPL_MAXVARS names) silently ignores a new name. */
void
tmpl_vars_set(struct tmpl_vars *vs, const char *name, const char *value,
    size_t len)
{
	size_t	 i;
	char	*copy;

	copy = xmalloc(len + 1);
	if (len)
		memcpy(copy, value, len);
	copy[len] = '\0';
	for (i = 0; i < vs->n; i++)
		if (strcmp(vs->v[i].name, name) == 0) {
			free(vs->v[i].value);
			vs->v[i].value = copy;
			vs->v[i].len = len;
			return;
		}
	if (vs->n == TMPL_MAXVARS) {
		free(copy);
		return;
	}
	vs->v[vs->n].name = xstrdup(name);
	vs->v[vs->n].value = copy;
	vs->v[vs->n].len = len;
	vs->n++;
}

/* ------------------------------------------------------------------ */
/* Parsing (§5.1) */

/*
 * Array p of n elements of size bytes, with room for one more: its
 * capacity doubles (4, 8, 16, ...), so parsing a template reallocates
 * each array once or twice, not once per element.  n back at 0 starts
 * again from 4.
 */
static void *
grow(void *p, size_t n, size_t size)
{
	if (n == 0)
		return xreallocarray(p, 4, size);
	if (n < 4 || (n & (n - 1)) != 0)
		return p;
	return xreallocarray(p, n * 2, size);
}

static int
is_varchar(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '_';
}

static int
is_triplet(const char *s, size_t i, size_t n)
{
	return i + 2 < n && s[i] == '%' &&
	    hexval((unsigned char)s[i + 1]) >= 0 &&
	    hexval((unsigned char)s[i + 2]) >= 0;
}

static void
perr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
perr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* "'x'" for a printable byte, "0xNN" otherwise, written into b. */
static const char *
show_char(char *b, size_t blen, int c)
{
	if (c > 0x20 && c < 0x7f)
		snprintf(b, blen, "'%c'", c);
	else
		snprintf(b, blen, "0x%02X", (unsigned)(c & 0xff));
	return b;
}

/* Adds a variable occurrence; -1 with err when there are too many. */
static int
add_var(struct tmpl *t, const char *name, size_t namelen, int maxlen,
    int explode, char *err, size_t errlen)
{
	struct tvar	*v;
	struct buf	 key = BUF_INIT;
	size_t		 i;

	if (t->nvar == TMPL_MAXOCC) {
		perr(err, errlen, "too many variables (max %d)", TMPL_MAXOCC);
		return -1;
	}
	t->vars = grow(t->vars, t->nvar, sizeof(*t->vars));
	v = &t->vars[t->nvar];
	v->name = xstrndup(name, namelen);
	v->namelen = namelen;
	pct_decode(&key, name, namelen, 0);
	v->keylen = key.n;
	v->key = buf_steal(&key);
	v->maxlen = maxlen;
	v->explode = explode;
	for (i = 0; i < t->nslot; i++)
		if (strcmp(t->names[i], v->name) == 0)
			break;
	if (i == t->nslot) {
		if (t->nslot == TMPL_MAXVARS) {
			free(v->name);
			free(v->key);
			perr(err, errlen, "too many variable names (max %d)",
			    TMPL_MAXVARS);
			return -1;
		}
		t->names[t->nslot++] = v->name;
	} else
		t->repeated = 1;
	v->slot = i;
	t->nvar++;
	return 0;
}

/*
 * Parses the expression whose '{' is at src[start]; on success *end is the
 * offset just past its '}'.
 */
static int
parse_expr(struct tmpl *t, const char *src, size_t n, size_t start,
    size_t *end, char *err, size_t errlen)
{
	struct texpr	*e;
	size_t		 i = start + 1, name0, name1, nd;
	int		 op = 0, maxlen, explode;
	char		 cb[8];

	if (t->nexpr == TMPL_MAXEXPRS) {
		perr(err, errlen, "too many expressions (max %d)",
		    TMPL_MAXEXPRS);
		return -1;
	}
	if (i < n && strchr("+#./;?&", src[i]) != NULL)
		op = src[i++];
	else if (i < n && strchr("=,!@|", src[i]) != NULL) {
		perr(err, errlen, "reserved operator '%c' at offset %zu",
		    src[i], i);
		return -1;
	}
	t->exprs = grow(t->exprs, t->nexpr, sizeof(*t->exprs));
	e = &t->exprs[t->nexpr];
	e->op = op;
	e->var0 = t->nvar;
	e->nvar = 0;
	for (;;) {
		/* varname = varchar *( ["."] varchar ) */
		name0 = i;
		for (;;) {
			if (i < n && is_varchar((unsigned char)src[i]))
				i++;
			else if (is_triplet(src, i, n))
				i += 3;
			else
				break;
			if (i + 1 < n && src[i] == '.' &&
			    (is_varchar((unsigned char)src[i + 1]) ||
			    is_triplet(src, i + 1, n)))
				i++;
		}
		if (i == name0) {
			if (i >= n)
				goto unclosed;
			if (src[i] == '}' && e->nvar == 0)
				perr(err, errlen,
				    "empty expression at offset %zu", start);
			else if (src[i] == '%')
				perr(err, errlen, "invalid percent-encoding "
				    "at offset %zu", i);
			else
				perr(err, errlen, "invalid variable name "
				    "at offset %zu", i);
			return -1;
		}
		name1 = i;
		maxlen = explode = 0;
		if (i < n && src[i] == '*') {
			explode = 1;
			i++;
		} else if (i < n && src[i] == ':') {
			i++;
			for (nd = 0; i + nd < n && nd < 5 &&
			    src[i + nd] >= '0' && src[i + nd] <= '9'; nd++)
				maxlen = maxlen * 10 + (src[i + nd] - '0');
			if (nd == 0 || nd > 4 || src[i] == '0') {
				perr(err, errlen, "invalid prefix length at "
				    "offset %zu (1 to 9999)", i);
				return -1;
			}
			i += nd;
		}
		if (add_var(t, src + name0, name1 - name0, maxlen, explode,
		    err, errlen) == -1)
			return -1;
		e = &t->exprs[t->nexpr];
		e->nvar++;
		if (i >= n)
			goto unclosed;
		if (src[i] == '}')
			break;
		if (src[i] == '%') {
			perr(err, errlen, "invalid percent-encoding at offset "
			    "%zu", i);
			return -1;
		}
		if (src[i] != ',') {
			perr(err, errlen, "invalid character %s in expression "
			    "at offset %zu", show_char(cb, sizeof(cb),
			    (unsigned char)src[i]), i);
			return -1;
		}
		i++;
	}
	t->nexpr++;
	*end = i + 1;
	return 0;

unclosed:
	perr(err, errlen, "unclosed expression at offset %zu", start);
	return -1;
}

static void
add_elem(struct tmpl *t, enum tel_kind kind, size_t off, size_t len,
    size_t expr)
{
	struct telem	*el;

	t->el = grow(t->el, t->nel, sizeof(*t->el));
	el = &t->el[t->nel++];
	el->kind = kind;
	el->off = off;
	el->len = len;
	el->expr = expr;
}

static int
parse_elements(struct tmpl *t, char *err, size_t errlen)
{
	const char	*s = t->src;
	size_t		 n = strlen(s), i = 0, lit0 = 0, end, l;
	unsigned char	 c;
	char		 cb[8];

	while (i < n) {
		c = (unsigned char)s[i];
		if (c == '{') {
			if (i > lit0)
				add_elem(t, TEL_LIT, lit0, i - lit0, 0);
			if (parse_expr(t, s, n, i, &end, err, errlen) == -1)
				return -1;
			add_elem(t, TEL_EXPR, i, end - i, t->nexpr - 1);
			i = lit0 = end;
			continue;
		}
		if (c == '%') {
			if (!is_triplet(s, i, n)) {
				perr(err, errlen, "invalid percent-encoding "
				    "at offset %zu", i);
				return -1;
			}
			i += 3;
			continue;
		}
		if (c >= 0x80) {
			if ((l = utf8_seq_len((const unsigned char *)s + i,
			    n - i)) == 0) {
				perr(err, errlen, "invalid UTF-8 at offset %zu",
				    i);
				return -1;
			}
			i += l;
			continue;
		}
		if (c == '}') {
			perr(err, errlen, "unmatched '}' at offset %zu", i);
			return -1;
		}
		if (c <= 0x20 || c == 0x7f || strchr("\"'<>\\^`|", c) != NULL) {
			perr(err, errlen, "invalid character %s at offset %zu",
			    show_char(cb, sizeof(cb), c), i);
			return -1;
		}
		i++;
	}
	if (i > lit0)
		add_elem(t, TEL_LIT, lit0, i - lit0, 0);
	return 0;
}

static void
push_node(struct mnode **v, size_t *n, enum mnode_kind kind, const char *lit,
    size_t litlen, size_t expr)
{
	struct mnode	*nd;

	*v = grow(*v, *n, sizeof(**v));
	nd = &(*v)[(*n)++];
	nd->kind = kind;
	nd->lit = lit;
	nd->litlen = litlen;
	nd->loff = 0;
	nd->expr = expr;
	nd->id = 0;
}

/* Path nodes for elements [0, nel) plus a literal head of element nel. */
static void
plan_path(struct tmpl *t, size_t nel, size_t headlen)
{
	size_t	 i;

	for (i = 0; i < nel; i++) {
		if (t->el[i].kind == TEL_LIT) {
			push_node(&t->pnodes, &t->npnodes, MN_LIT,
			    t->src + t->el[i].off, t->el[i].len, 0);
			continue;
		}
		push_node(&t->pnodes, &t->npnodes, MN_EXPR, NULL, 0,
		    t->el[i].expr);
		t->pnodes[t->npnodes - 1].id = t->nids;
		t->nids += t->exprs[t->el[i].expr].nvar;
	}
	if (headlen > 0)
		push_node(&t->pnodes, &t->npnodes, MN_LIT,
		    t->src + t->el[nel].off, headlen, 0);
}

/*
 * A piece of the query part's remaining text: a run of literal text (raw
 * slice of src) or an expression.  Pieces are collected up to a literal
 * '&'.
 */
struct qpiece {
	int		 is_expr;
	const char	*s;
	size_t		 len;
	size_t		 expr;
};

/* A value literal: decoded (+ as space, as the request's query) into qtext. */
static void
plan_value_lit(struct tmpl *t, const char *s, size_t n)
{
	size_t	 off = t->qtext.n, len;

	len = pct_decode(&t->qtext, s, n, 1);
	push_node(&t->qnodes, &t->nqnodes, MN_LIT, NULL, len, 0);
	t->qnodes[t->nqnodes - 1].loff = off;
}

/*
 * One '&'-separated piece of the query part: a required item, `key=value`
 * or a bare `key`.  Returns 0, or -1 when its shape asks for the in-order
 * match (§5.2: an expression inside a key, another operator, a
 * multi-variable value).
 */
static int
plan_piece(struct tmpl *t, const struct qpiece *pc, size_t npc)
{
	struct qitem	*it;
	const struct texpr *e;
	const char	*eq = NULL;
	size_t		 i, j, koff, klen = 0, skip;

	if (npc == 0)
		return 0;
	/* the key: literal text up to the first literal '=' */
	for (i = 0; i < npc; i++) {
		if (pc[i].is_expr)
			return -1;
		if ((eq = memchr(pc[i].s, '=', pc[i].len)) != NULL)
			break;
	}
	koff = t->qtext.n;
	for (j = 0; j < npc && j <= i; j++)
		klen += pct_decode(&t->qtext, pc[j].s,
		    j < i ? pc[j].len : (size_t)(eq - pc[j].s), 1);
	t->items = grow(t->items, t->nitems, sizeof(*t->items));
	it = &t->items[t->nitems++];
	memset(it, 0, sizeof(*it));
	it->kind = QI_REQ;
	it->koff = koff;
	it->keylen = klen;
	it->has_value = i < npc;
	it->n0 = it->n1 = t->nqnodes;
	if (i == npc)
		return 0;
	/* the value template: the rest of piece i, then the next pieces */
	skip = (size_t)(eq + 1 - pc[i].s);
	if (skip < pc[i].len)
		plan_value_lit(t, eq + 1, pc[i].len - skip);
	for (j = i + 1; j < npc; j++) {
		if (!pc[j].is_expr) {
			plan_value_lit(t, pc[j].s, pc[j].len);
			continue;
		}
		e = &t->exprs[pc[j].expr];
		if ((e->op != 0 && e->op != '+') || e->nvar != 1)
			return -1;
		push_node(&t->qnodes, &t->nqnodes, MN_EXPR, NULL, 0,
		    pc[j].expr);
	}
	t->items[t->nitems - 1].n1 = t->nqnodes;
	return 0;
}

/* Points keys and value literals into qtext, which no longer grows. */
static void
plan_fix_qtext(struct tmpl *t)
{
	const char	*base = buf_cstr(&t->qtext);
	size_t		 i;

	for (i = 0; i < t->nitems; i++)
		if (t->items[i].kind == QI_REQ)
			t->items[i].key = base + t->items[i].koff;
	for (i = 0; i < t->nqnodes; i++)
		if (t->qnodes[i].kind == MN_LIT)
			t->qnodes[i].lit = base + t->qnodes[i].loff;
}

/*
 * Reads the query part, starting at element qel (a literal whose '?' is at
 * qoff, or a {?...} expression when qoff is (size_t)-1), as a set of items.
 * Returns -1 when it has another shape.
 */
static int
plan_query(struct tmpl *t, size_t qel, size_t qoff)
{
	struct qpiece	*pc = NULL;
	size_t		 npc = 0, i, k, start, pos, amp;
	const struct telem *el;
	const struct texpr *e;
	struct qitem	*it;
	int		 ret = -1;

	for (i = qel; i < t->nel; i++) {
		el = &t->el[i];
		if (el->kind == TEL_EXPR) {
			e = &t->exprs[el->expr];
			if (e->op == '?' || e->op == '&') {
				/* optional items; the expression is removed
				 * from the text around it */
				for (k = 0; k < e->nvar; k++) {
					t->items = grow(t->items, t->nitems,
					    sizeof(*t->items));
					it = &t->items[t->nitems++];
					memset(it, 0, sizeof(*it));
					it->kind = QI_OPT;
					it->var = e->var0 + k;
				}
				continue;
			}
			pc = grow(pc, npc, sizeof(*pc));
			pc[npc].is_expr = 1;
			pc[npc].s = NULL;
			pc[npc].len = 0;
			pc[npc++].expr = el->expr;
			continue;
		}
		start = (i == qel) ? qoff + 1 : 0;
		for (pos = start; pos <= el->len; pos = amp + 1) {
			const char *s = t->src + el->off;
			const char *a = memchr(s + pos, '&', el->len - pos);

			amp = a ? (size_t)(a - s) : el->len;
			if (amp > pos) {
				pc = grow(pc, npc, sizeof(*pc));
				pc[npc].is_expr = 0;
				pc[npc].s = s + pos;
				pc[npc].len = amp - pos;
				pc[npc++].expr = 0;
			}
			if (a == NULL)
				break;
			if (plan_piece(t, pc, npc) == -1)
				goto done;
			npc = 0;
		}
	}
	if (plan_piece(t, pc, npc) == -1)
		goto done;
	ret = 0;
done:
	free(pc);
	return ret;
}

static void
plan_reset_query(struct tmpl *t)
{
	free(t->items);
	t->items = NULL;
	t->nitems = 0;
	free(t->qnodes);
	t->qnodes = NULL;
	t->nqnodes = 0;
	buf_reset(&t->qtext);
}

/* Builds the match plan (§5.2) from the parsed elements. */
static void
plan_build(struct tmpl *t)
{
	size_t		 i, qel = t->nel, qoff = (size_t)-1;
	const char	*q;

	for (i = 0; i < t->nel && qel == t->nel; i++) {
		if (t->el[i].kind == TEL_LIT) {
			q = memchr(t->src + t->el[i].off, '?', t->el[i].len);
			if (q != NULL) {
				qel = i;
				qoff = (size_t)(q - (t->src + t->el[i].off));
			}
		} else if (t->exprs[t->el[i].expr].op == '?')
			qel = i;
	}
	if (qel == t->nel) {
		t->qmode = Q_NONE;
		plan_path(t, t->nel, 0);
		return;
	}
	if (qoff != (size_t)-1 && qel == t->nel - 1 &&
	    qoff == t->el[qel].len - 1) {
		/* only a bare '?': no query part */
		t->qmode = Q_NONE;
		plan_path(t, qel, qoff);
		return;
	}
	if (plan_query(t, qel, qoff) == 0) {
		t->qmode = Q_SET;
		plan_fix_qtext(t);
		plan_path(t, qel, qoff == (size_t)-1 ? 0 : qoff);
		return;
	}
	plan_reset_query(t);
	t->qmode = Q_INLINE;
	plan_path(t, t->nel, 0);
}

int
tmpl_parse(const char *src, struct tmpl **out, char *err, size_t errlen)
{
	struct tmpl	*t;

	*out = NULL;
	t = xcalloc(1, sizeof(*t));
	t->src = xstrdup(src);
	if (parse_elements(t, err, errlen) == -1) {
		tmpl_free(t);
		return -1;
	}
	plan_build(t);
	*out = t;
	return 0;
}

void
tmpl_free(struct tmpl *t)
{
	size_t	 i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nvar; i++) {
		free(t->vars[i].name);
		free(t->vars[i].key);
	}
	free(t->vars);
	free(t->exprs);
	free(t->el);
	free(t->pnodes);
	free(t->items);
	free(t->qnodes);
	buf_free(&t->qtext);
	free(t->src);
	free(t);
}

int
tmpl_has_exprs(const struct tmpl *t)
{
	return t->nexpr > 0;
}

int
tmpl_uses(const struct tmpl *t, const char *name)
{
	size_t	 i;

	for (i = 0; i < t->nslot; i++)
		if (strcmp(t->names[i], name) == 0)
			return 1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Matching (§5.2) */

struct mslot {
	int	 def;
	size_t	 off, len;	/* value in mctx.arena */
};

struct mctx {
	const struct tmpl	*t;
	const char		*subj;		/* path part subject */
	size_t			 slen;
	const struct qparam	**qp;		/* per item: first parameter */
	struct mslot		 slot[TMPL_MAXVARS];
	struct buf		 arena;		/* captured values, a stack */
	unsigned long		 steps;
	int			 aborted;
	unsigned char		*memo;		/* failed path states */
	unsigned char		*reach;		/* path states that may match */
	int			 accel_tried;
	struct tmpl_vars	*out;
};

/* Bit of a path state in the memo and reach tables. */
static size_t
m_bit(const struct mctx *m, size_t id, int first, size_t pos)
{
	return (id * 2 + (size_t)first) * (m->slen + 1) + pos;
}

static int
bit_get(const unsigned char *v, size_t bit)
{
	return (v[bit / 8] >> (bit % 8)) & 1;
}

static void
bit_set(unsigned char *v, size_t bit)
{
	v[bit / 8] |= (unsigned char)(1u << (bit % 8));
}

static int	 m_reach_build(struct mctx *);

/* Sets up the memo and the reach table once a search gets long. */
static void
m_accel(struct mctx *m)
{
	size_t	 bytes;

	if (m->accel_tried)
		return;
	m->accel_tried = 1;
	if (m->t->nids == 0 || m->slen > TMPL_ACCEL_MAXLEN ||
	    m->slen + 1 > TMPL_ACCEL_MAX / (m->t->nids * 2))
		return;
	bytes = m->t->nids * 2 * (m->slen + 1) / 8 + 1;
	if (!m->t->repeated)
		m->memo = xcalloc(bytes, 1);
	m->reach = xcalloc(bytes, 1);
	/* the path part cannot match at all: stop now (no match) */
	if (!m_reach_build(m))
		m->aborted = 1;
}

/*
 * Counts a search step; 1 when the search must give up.  A long search gets
 * its memo and reach tables here.
 */
static int
m_step(struct mctx *m)
{
	if (m->aborted)
		return 1;
	if (++m->steps == TMPL_ACCEL_AFTER)
		m_accel(m);
	if (m->aborted || m->steps > TMPL_MAXSTEPS) {
		m->aborted = 1;
		return 1;
	}
	return 0;
}

static int	 m_item(struct mctx *, size_t);
static int	 m_nodes(struct mctx *, size_t, size_t, size_t);
static int	 m_var(struct mctx *, size_t, size_t, size_t, int, size_t);

/*
 * The node list, its end and the subject of a segment (0 = path part,
 * i + 1 = value of query item i).
 */
static const struct mnode *
m_seg(const struct mctx *m, size_t seg, size_t *end, const char **s,
    size_t *n)
{
	const struct qparam *p;

	if (seg == 0) {
		*end = m->t->npnodes;
		*s = m->subj;
		*n = m->slen;
		return m->t->pnodes;
	}
	*end = m->t->items[seg - 1].n1;
	p = m->qp[seg - 1];
	*s = p->val != NULL ? p->val : "";
	*n = p->val != NULL ? p->vallen : 0;
	return m->t->qnodes;
}

/*
 * A template literal against the raw subject at pos (§5.2): ASCII bytes
 * exactly, a %XX literal with the same hex case, a non-ASCII byte as a %XX
 * triplet of either case.  Returns the end, or (size_t)-1.
 */
static size_t
lit_match_raw(const char *lit, size_t litlen, const char *s, size_t n,
    size_t pos)
{
	size_t		 i;
	unsigned char	 c;

	for (i = 0; i < litlen; i++) {
		c = (unsigned char)lit[i];
		if (c == '%') {
			if (n - pos < 3 || memcmp(s + pos, lit + i, 3) != 0)
				return (size_t)-1;
			pos += 3;
			i += 2;
		} else if (c >= 0x80) {
			if (!is_triplet(s, pos, n) ||
			    hexval((unsigned char)s[pos + 1]) * 16 +
			    hexval((unsigned char)s[pos + 2]) != c)
				return (size_t)-1;
			pos += 3;
		} else {
			if (pos >= n || (unsigned char)s[pos] != c)
				return (size_t)-1;
			pos++;
		}
	}
	return pos;
}

static int
m_nodes(struct mctx *m, size_t seg, size_t node, size_t pos)
{
	const struct mnode *nodes, *nd;
	const char	*s;
	size_t		 end, n, np;

	if (m_step(m))
		return 0;
	nodes = m_seg(m, seg, &end, &s, &n);
	if (node == end)
		return pos == n && m_item(m, seg);
	nd = &nodes[node];
	if (nd->kind == MN_EXPR)
		return m_var(m, seg, node, 0, 1, pos);
	if (seg == 0) {
		if ((np = lit_match_raw(nd->lit, nd->litlen, s, n, pos)) ==
		    (size_t)-1)
			return 0;
	} else {
		if (n - pos < nd->litlen ||
		    memcmp(s + pos, nd->lit, nd->litlen) != 0)
			return 0;
		np = pos + nd->litlen;
	}
	return m_nodes(m, seg, node + 1, np);
}

/* Expected length of a UTF-8 sequence from its lead byte, 0 if invalid. */
static size_t
utf8_lead_len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return 2;
	if (c >= 0xe0 && c <= 0xef)
		return 3;
	if (c >= 0xf0 && c <= 0xf4)
		return 4;
	return 0;
}

/*
 * Advances over the complete UTF-8 characters of d[*done..n).  Returns 1
 * when d[0..n) is valid, 0 when it ends in a sequence that more bytes may
 * complete, -1 when no extension can make it valid.
 */
static int
utf8_advance(const unsigned char *d, size_t n, size_t *done, size_t *ncp)
{
	size_t	 need, i;

	while (*done < n) {
		if ((need = utf8_lead_len(d[*done])) == 0)
			return -1;
		if (n - *done < need) {
			for (i = *done + 1; i < n; i++)
				if ((d[i] & 0xc0) != 0x80)
					return -1;
			return 0;
		}
		if (utf8_seq_len(d + *done, need) == 0)
			return -1;
		*done += need;
		(*ncp)++;
	}
	return 1;
}

/*
 * Binds variable v to arena[off..off+len) and goes on with the next
 * variable of the expression at pos.
 */
static int
m_bind(struct mctx *m, size_t seg, size_t node, size_t k,
    const struct tvar *v, size_t off, size_t len, size_t pos)
{
	struct mslot	 save = m->slot[v->slot];
	int		 r;

	m->slot[v->slot].def = 1;
	m->slot[v->slot].off = off;
	m->slot[v->slot].len = len;
	r = m_var(m, seg, node, k + 1, 0, pos);
	m->slot[v->slot] = save;
	return r;
}

/*
 * Value candidates of variable v starting at vs: non-empty values from
 * shortest to longest, then the empty string.  A unit is one character the
 * operator allows or one %XX triplet in the raw path (§5.2), one byte of
 * decoded text in a query value; only values whose decoded bytes are valid
 * UTF-8, fit the :N prefix and equal an earlier capture of the same name
 * are tried.  Like every search function: 1 on a complete match, 0 on
 * failure or when the search gave up (m->aborted).
 */
static int
m_values(struct mctx *m, size_t seg, size_t node, size_t k, int op,
    const struct tvar *v, size_t vs)
{
	const struct mslot *bound = &m->slot[v->slot];
	const char	*s;
	size_t		 end, n, e = vs, top = m->arena.n, done = 0, ncp = 0;
	size_t		 len;
	int		 st, c;

	(void)m_seg(m, seg, &end, &s, &n);
	for (;;) {
		if (seg == 0 && is_triplet(s, e, n)) {
			c = hexval((unsigned char)s[e + 1]) * 16 +
			    hexval((unsigned char)s[e + 2]);
			e += 3;
		} else if (e < n && (seg != 0 ||
		    op_allows(op, (unsigned char)s[e])))
			c = (unsigned char)s[e++];
		else
			break;
		buf_addc(&m->arena, c);
		len = m->arena.n - top;
		/* bytes compared one at a time as the candidate grows */
		if (bound->def && (len > bound->len ||
		    m->arena.p[top + len - 1] !=
		    m->arena.p[bound->off + len - 1]))
			break;
		st = utf8_advance((const unsigned char *)m->arena.p + top, len,
		    &done, &ncp);
		if (st == -1 || (v->maxlen > 0 && ncp > (size_t)v->maxlen))
			break;
		if (st == 0 || (bound->def && len != bound->len))
			continue;
		if (m_bind(m, seg, node, k, v, top, len, e)) {
			m->arena.n = top;
			return 1;
		}
		if (m->aborted)
			break;
	}
	m->arena.n = top;
	if (m->aborted || (bound->def && bound->len != 0))
		return 0;
	return m_bind(m, seg, node, k, v, top, 0, vs);
}

/* The candidates of variable k of an expression node (§5.2 order). */
static int
m_var_try(struct mctx *m, size_t seg, size_t node, size_t k, int first,
    size_t pos)
{
	const struct mnode *nodes;
	const struct texpr *e;
	const struct tvar *v;
	const char	*s;
	size_t		 end, n, hp = pos;
	int		 c;

	nodes = m_seg(m, seg, &end, &s, &n);
	e = &m->t->exprs[nodes[node].expr];
	v = &m->t->vars[e->var0 + k];
	if (v->explode)
		goto undefined;		/* never captures */
	if (seg != 0) {
		/* a query value: one variable, no operator or '+', any text */
		if (m_values(m, seg, node, k, '+', v, pos))
			return 1;
		goto undefined;
	}
	/* prefix (first defined variable) or separator */
	if ((c = first ? op_prefix(e->op) : op_sep(e->op)) != 0) {
		if (hp >= n || s[hp] != c)
			goto undefined;
		hp++;
	}
	if (!op_named(e->op)) {
		if (m_values(m, seg, node, k, e->op, v, hp))
			return 1;
		goto undefined;
	}
	/* ; ? &: name=value, or for ';' a bare name for the empty string */
	if (n - hp < v->namelen || memcmp(s + hp, v->name, v->namelen) != 0)
		goto undefined;
	hp += v->namelen;
	if (hp < n && s[hp] == '=' &&
	    m_values(m, seg, node, k, e->op, v, hp + 1))
		return 1;
	if (m->aborted)
		return 0;
	if (e->op == ';' &&
	    (!m->slot[v->slot].def || m->slot[v->slot].len == 0) &&
	    m_bind(m, seg, node, k, v, m->arena.n, 0, hp))
		return 1;
undefined:
	if (m->aborted)
		return 0;
	return m_var(m, seg, node, k + 1, first, pos);
}

static int
m_var(struct mctx *m, size_t seg, size_t node, size_t k, int first,
    size_t pos)
{
	const struct mnode *nodes;
	const char	*s;
	size_t		 end, n, bit = (size_t)-1;
	int		 r;

	if (m_step(m))
		return 0;
	nodes = m_seg(m, seg, &end, &s, &n);
	if (k == m->t->exprs[nodes[node].expr].nvar)
		return m_nodes(m, seg, node + 1, pos);
	if (seg == 0 && m->reach != NULL) {
		bit = m_bit(m, nodes[node].id + k, first, pos);
		if (!bit_get(m->reach, bit) ||
		    (m->memo != NULL && bit_get(m->memo, bit)))
			return 0;
	}
	r = m_var_try(m, seg, node, k, first, pos);
	if (!r && !m->aborted && m->memo != NULL && bit != (size_t)-1)
		bit_set(m->memo, bit);
	return r;
}

/*
 * The reach table (see the top of this file).  States are filled from the
 * last variable of the path part to the first; for variable k of an
 * expression, "next" is the state after it: variable k + 1, or the start of
 * the following node.
 *
 * A value may run from its start vs to any position up to the end of the
 * maximal run of characters the operator allows (and %XX triplets), so
 * "some end e in [vs, run[vs]] where the next state may match" is answered
 * with nt[], the first position >= p where it may.  Returns 0 when the path
 * part cannot match from position 0.
 */
static int
m_reach_build(struct mctx *m)
{
	const struct tmpl *t = m->t;
	const char	*s = m->subj;
	size_t		 n = m->slen, *runu, *runr, *nt, *run;
	size_t		 node, p, k, hp, vs, np;
	unsigned char	*after;		/* start of node + 1 may match */
	const struct mnode *nd;
	const struct texpr *e;
	const struct tvar *v;
	int		 f, c, ok;

	runu = xreallocarray(NULL, n + 1, sizeof(*runu));
	runr = xreallocarray(NULL, n + 1, sizeof(*runr));
	nt = xreallocarray(NULL, n + 1, sizeof(*nt));
	after = xcalloc(n + 1, 1);
	runu[n] = runr[n] = n;
	for (p = n; p-- > 0; ) {
		if (is_triplet(s, p, n)) {
			runu[p] = runu[p + 3];
			runr[p] = runr[p + 3];
			continue;
		}
		runu[p] = op_allows(0, (unsigned char)s[p]) ? runu[p + 1] : p;
		runr[p] = op_allows('+', (unsigned char)s[p]) ?
		    runr[p + 1] : p;
	}
	/* after the last node: the end of the subject */
	memset(after, 0, n + 1);
	after[n] = 1;
	for (node = t->npnodes; node-- > 0; ) {
		nd = &t->pnodes[node];
		if (nd->kind == MN_LIT) {
			/* after[] becomes "node may match from p" */
			for (p = 0; p <= n; p++) {
				np = lit_match_raw(nd->lit, nd->litlen, s, n,
				    p);
				after[p] = np != (size_t)-1 && after[np];
			}
			continue;
		}
		e = &t->exprs[nd->expr];
		for (k = e->nvar; k-- > 0; ) {
			v = &t->vars[e->var0 + k];
			run = (e->op == '+' || e->op == '#') ? runr : runu;
			/* nt[p]: first p' >= p where "k + 1, not first" may
			 * match */
			for (p = n + 1; p-- > 0; ) {
				ok = k + 1 == e->nvar ? after[p] :
				    bit_get(m->reach, m_bit(m, nd->id + k + 1,
				    0, p));
				nt[p] = ok ? p : (p < n ? nt[p + 1] : n + 1);
			}
			for (f = 0; f <= 1; f++)
				for (p = 0; p <= n; p++) {
					/* undefined */
					ok = k + 1 == e->nvar ? after[p] :
					    bit_get(m->reach, m_bit(m,
					    nd->id + k + 1, f, p));
					if (ok || v->explode)
						goto set;
					hp = p;
					c = f ? op_prefix(e->op) :
					    op_sep(e->op);
					if (c != 0) {
						if (hp >= n || s[hp] != c)
							goto set;
						hp++;
					}
					if (!op_named(e->op)) {
						ok = nt[hp] <= run[hp];
						goto set;
					}
					if (n - hp < v->namelen ||
					    memcmp(s + hp, v->name,
					    v->namelen) != 0)
						goto set;
					hp += v->namelen;
					/* a bare ";name", or name=value */
					if (e->op == ';' && nt[hp] == hp)
						ok = 1;
					if (!ok && hp < n && s[hp] == '=') {
						vs = hp + 1;
						ok = nt[vs] <= run[vs];
					}
set:
					if (ok)
						bit_set(m->reach, m_bit(m,
						    nd->id + k, f, p));
				}
		}
		/* after[] becomes "this expression may match from p" */
		for (p = 0; p <= n; p++)
			after[p] = e->nvar == 0 ||
			    bit_get(m->reach, m_bit(m, nd->id, 1, p));
	}
	ok = after[0];
	free(runu);
	free(runr);
	free(nt);
	free(after);
	return ok;
}

/* Copies the current captures into the caller's variable set. */
static void
m_collect(struct mctx *m)
{
	size_t	 i;

	for (i = 0; i < m->t->nslot; i++)
		if (m->slot[i].def)
			tmpl_vars_set(m->out, m->t->names[i],
			    m->arena.p == NULL ? "" : m->arena.p +
			    m->slot[i].off, m->slot[i].len);
}

/* Query item i onwards (all items done: a complete match). */
static int
m_item(struct mctx *m, size_t i)
{
	const struct qitem *it;
	const struct qparam *p;
	const struct tvar *v;
	const struct mslot *bound;
	size_t		 top, done = 0, ncp = 0;
	int		 r;

	if (i == m->t->nitems) {
		m_collect(m);
		return 1;
	}
	if (m_step(m))
		return 0;
	it = &m->t->items[i];
	p = m->qp[i];
	if (it->kind == QI_REQ) {
		if (!it->has_value)
			return m_item(m, i + 1);
		return m_nodes(m, i + 1, it->n0, 0);
	}
	v = &m->t->vars[it->var];
	if (p == NULL || v->explode)
		return m_item(m, i + 1);	/* undefined */
	/* present: the variable is the whole decoded value */
	bound = &m->slot[v->slot];
	top = m->arena.n;
	if (p->val != NULL)
		buf_add(&m->arena, p->val, p->vallen);
	if (utf8_advance((const unsigned char *)buf_cstr(&m->arena) + top,
	    m->arena.n - top, &done, &ncp) != 1 ||
	    (v->maxlen > 0 && ncp > (size_t)v->maxlen) ||
	    (bound->def && (bound->len != m->arena.n - top ||
	    (bound->len != 0 && memcmp(m->arena.p + bound->off,
	    m->arena.p + top, bound->len) != 0)))) {
		m->arena.n = top;
		return 0;
	}
	{
		struct mslot save = *bound;

		m->slot[v->slot].def = 1;
		m->slot[v->slot].off = top;
		m->slot[v->slot].len = m->arena.n - top;
		r = m_item(m, i + 1);
		m->slot[v->slot] = save;
	}
	m->arena.n = top;
	return r;
}

/*
 * The template's first element is a literal whose head (up to a '%' or a
 * non-ASCII byte, which lit_match_raw() compares otherwise) is matched
 * byte for byte at the start of the subject in every query mode: the path
 * part starts with it (it stops before a '?'), and a Q_INLINE subject
 * "path?query" starts with it only if the path does, as it holds no '?'.
 */
int
tmpl_head_may_match(const char *src, const char *path, size_t pathlen)
{
	size_t		 i;
	unsigned char	 c;

	for (i = 0; (c = (unsigned char)src[i]) != '\0'; i++) {
		if (c == '{' || c == '%' || c == '?' || c <= 0x20 || c >= 0x7f)
			break;
		if (i >= pathlen || (unsigned char)path[i] != c)
			return 0;
	}
	return 1;
}

/* First parameter whose decoded key is key[0..len), or NULL. */
static const struct qparam *
q_first(const struct query *q, const char *key, size_t len)
{
	size_t	 i;

	for (i = 0; i < q->n; i++)
		if (q->v[i].keylen == len &&
		    (len == 0 || memcmp(q->v[i].key, key, len) == 0))
			return &q->v[i];
	return NULL;
}

/*
 * Matches the raw path and raw query (§5.2).  The search is bounded (see
 * the top of this file): a search that gives up is no match.
 */
int
tmpl_match(const struct tmpl *t, const char *path, size_t pathlen,
    const char *query, size_t querylen, struct tmpl_vars *vars)
{
	struct mctx	 m;
	struct query	 q = { NULL, 0 };
	struct buf	 subj = BUF_INIT;
	size_t		 i;
	int		 r = 0;

	vars->n = 0;
	memset(&m, 0, sizeof(m));
	m.t = t;
	m.out = vars;
	m.subj = path;
	m.slen = pathlen;
	if (t->qmode == Q_INLINE) {
		buf_add(&subj, path, pathlen);
		buf_addc(&subj, '?');
		buf_add(&subj, query, querylen);
		m.subj = subj.p;
		m.slen = subj.n;
	}
	/* a raw path with bytes >= 0x80 never matches */
	for (i = 0; i < m.slen; i++)
		if ((unsigned char)m.subj[i] >= 0x80)
			goto done;
	if (t->qmode == Q_SET && t->nitems > 0) {
		query_parse(&q, query, querylen);
		m.qp = xcalloc(t->nitems, sizeof(*m.qp));
		for (i = 0; i < t->nitems; i++) {
			const struct qitem *it = &t->items[i];

			if (it->kind == QI_OPT)
				m.qp[i] = q_first(&q, t->vars[it->var].key,
				    t->vars[it->var].keylen);
			else if ((m.qp[i] = q_first(&q, it->key,
			    it->keylen)) == NULL)
				goto done;	/* a required key is absent */
		}
	}
	r = m_nodes(&m, 0, 0, 0);
	if (!r) {
		tmpl_vars_free(vars);
		r = 0;
	}
done:
	free(m.qp);
	free(m.memo);
	free(m.reach);
	buf_free(&m.arena);
	buf_free(&subj);
	query_free(&q);
	return r;
}

/* ------------------------------------------------------------------ */
/* Expansion (§5.4) */

static void
add_pct(struct buf *out, unsigned char c)
{
	static const char hex[] = "0123456789ABCDEF";

	buf_addc(out, '%');
	buf_addc(out, hex[c >> 4]);
	buf_addc(out, hex[c & 15]);
}

/* Copies a literal run: %XX as written, non-ASCII bytes as %XX. */
static void
expand_lit(struct buf *out, const char *s, size_t n)
{
	size_t	 i, run;

	for (i = 0; i < n; i += run) {
		if ((unsigned char)s[i] >= 0x80) {
			add_pct(out, (unsigned char)s[i]);
			run = 1;
			continue;
		}
		for (run = 1; i + run < n && (unsigned char)s[i + run] < 0x80;
		    run++)
			;
		buf_add(out, s + i, run);
	}
}

/* A value: the first maxlen characters, encoded for the operator. */
static void
expand_value(struct buf *out, int op, int maxlen, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t	 i, l, ncp = 0;

	if (maxlen > 0) {
		for (i = 0; i < n && ncp < (size_t)maxlen; i += l, ncp++)
			if ((l = utf8_seq_len(u + i, n - i)) == 0)
				l = 1;
		n = i;
	}
	for (i = 0; i < n; i++) {
		if (u[i] < 0x80 && op_allows(op, u[i]))
			buf_addc(out, u[i]);
		else
			add_pct(out, u[i]);	/* '%' always becomes %25 */
	}
}

/*
 * Expands into out.  With ends (room for t->nel entries), ends[i] is the
 * length of out after element i.
 */
static int
expand(const struct tmpl *t, const struct tmpl_vars *vs, struct buf *out,
    size_t *ends)
{
	const struct texpr *e;
	const struct tvar *v;
	const char	*val;
	size_t		 i, k, len = 0;
	int		 c;

	for (i = 0; i < t->nel; i++) {
		if (ends != NULL && i > 0)
			ends[i - 1] = out->n;
		if (t->el[i].kind == TEL_LIT) {
			expand_lit(out, t->src + t->el[i].off, t->el[i].len);
			continue;
		}
		e = &t->exprs[t->el[i].expr];
		for (k = 0; k < e->nvar; k++) {
			v = &t->vars[e->var0 + k];
			if (vs == NULL) {
				val = "";
				len = 0;
			} else if ((val = tmpl_vars_get(vs, v->name,
			    &len)) == NULL)
				return -1;
			c = k == 0 ? op_prefix(e->op) : op_sep(e->op);
			if (c != 0)
				buf_addc(out, c);
			if (op_named(e->op)) {
				buf_add(out, v->name, v->namelen);
				if (e->op == ';' && len == 0)
					continue;
				buf_addc(out, '=');
			}
			expand_value(out, e->op, v->maxlen, val, len);
		}
	}
	if (ends != NULL && t->nel > 0)
		ends[t->nel - 1] = out->n;
	return 0;
}

int
tmpl_expand(const struct tmpl *t, const struct tmpl_vars *vs,
    struct buf *out)
{
	return expand(t, vs, out, NULL);
}

void
tmpl_expand_empty(const struct tmpl *t, struct buf *out)
{
	(void)expand(t, NULL, out, NULL);
}

/* ------------------------------------------------------------------ */
/*
 * The authority of an outgoing-url (README "Where we differ").
 *
 * A template like "https://dl.example.com{+path}" is meant to fix the
 * host and let the request choose the path, but RFC 6570 expansion is
 * plain text substitution: {+path} = "@evil.test/x" or ".evil.test/x"
 * moves the redirect to another host, and "https://{+sub}.example.com/p"
 * with sub = "evil.test/" gives "https://evil.test/.example.com/p".  So the
 * expanded URL is parsed again (authority up to the first '/', '?', '#'
 * or '\', which WHATWG URL parsers also end it at) and checked against
 * what the template's literal text fixes:
 *
 *  - the scheme and "://" must be literal text before the first
 *    expression (so no expression can reach the scheme);
 *  - when the authority ends within that literal text (the next byte,
 *    literal or expanded, is '/', '?', '#' or the end), it is exactly the
 *    template's: accepted;
 *  - otherwise an expression reaches into the authority.  Its last byte
 *    must then come from literal text S of the template (the suffix the
 *    template fixes, ".example.com"), S must hold a whole label of the host
 *    (it starts with '.' or follows a '.'), and the whole authority must be
 *    a valid host[:port] of letters, digits, '-', '_' and '.' (ldh_host:
 *    no userinfo, no %XX, no sub-delims) or a bracketed IPv6 literal.
 *    So a variable can add labels in front of S, never change or extend
 *    the host's end.
 *
 * check_authority() finds the element that wrote a byte from the output
 * offsets expand() records, so text a variable happens to share with the
 * template's literal never counts as literal.  Literal runs and
 * expressions alternate, so a template has at most 2 * TMPL_MAXEXPRS + 1
 * elements (the size of the offsets array of tmpl_expand_url).
 */

static int
auth_end(int c)
{
	return c == '/' || c == '?' || c == '#' || c == '\\';
}

/*
 * A host a variable helped to write holds letters, digits, '-', '_' and
 * '.' only (or is a bracketed IPv6 literal), before an optional ":port".
 * RFC 3986 also admits sub-delims and %XX in a reg-name, but a browser
 * percent-decodes the host and maps it through IDNA (WHATWG URL, "host
 * parsing"), where U+FF0F FULLWIDTH SOLIDUS becomes '/' and U+3002
 * IDEOGRAPHIC FULL STOP becomes '.': what such a host names is not what
 * the bytes say.  An internationalised name reaches a template as its
 * punycode (xn--) form.
 */
static int
ldh_host(const char *s, size_t n)
{
	size_t	 i;

	if (n > 0 && s[0] == '[')
		return 1;	/* host_port_valid checked it */
	for (i = 0; i < n && s[i] != ':'; i++)
		if (!(s[i] >= 'a' && s[i] <= 'z') &&
		    !(s[i] >= 'A' && s[i] <= 'Z') &&
		    !(s[i] >= '0' && s[i] <= '9') && s[i] != '-' &&
		    s[i] != '_' && s[i] != '.')
			return 0;
	return 1;
}

/* Length of "http://" or "https://" at the start of s[0..n), or 0. */
static size_t
scheme_len(const char *s, size_t n)
{
	if (n >= 7 && strcaseprefix(s, "http://"))
		return 7;
	if (n >= 8 && strcaseprefix(s, "https://"))
		return 8;
	return 0;
}

/*
 * The check on an expansion u[0..n) of t, where ends[i] is the length of u
 * after element i.  0, or -1 with a static reason in *why.
 */
static int
check_authority(const struct tmpl *t, const char *u, size_t n,
    const size_t *ends, const char **why)
{
	size_t	 a0, a1, k, s0, hl, i;

	if (t->nexpr == 0)
		return 0;	/* literal: the §1.5 check applies */
	if (t->el[0].kind != TEL_LIT ||
	    (a0 = scheme_len(u, ends[0])) == 0) {
		*why = "an expression can reach the scheme";
		return -1;
	}
	for (a1 = a0; a1 < n && !auth_end((unsigned char)u[a1]); a1++)
		;
	if (a1 < n && u[a1] == '\\') {
		*why = "a '\\' in the authority";
		return -1;
	}
	if (a1 == a0) {
		*why = "the expanded host is empty";
		return -1;
	}
	if (a1 <= ends[0])
		return 0;	/* the authority is the template's literal */
	/* the element that wrote the authority's last byte */
	for (k = 1; ends[k] < a1; k++)
		;
	if (t->el[k].kind != TEL_LIT) {
		*why = "a variable would write the end of the host";
		return -1;
	}
	s0 = ends[k - 1];
	if (!host_port_valid(u + a0, a1 - a0) || !ldh_host(u + a0, a1 - a0)) {
		*why = "the expanded authority is not a plain host[:port]";
		return -1;
	}
	/* s0 == a0: earlier expressions were empty, all of it is literal */
	if (s0 == a0)
		return 0;
	/* S = u[s0..a1) must begin a label and hold one whole label */
	if (u[s0] != '.' && u[s0 - 1] != '.') {
		*why = "a variable would share a label with the template's "
		    "host";
		return -1;
	}
	for (hl = 0; s0 + hl < a1 && u[s0 + hl] != ':'; hl++)
		;
	i = u[s0] == '.' ? 1 : 0;
	if (i >= hl || u[s0 + i] == '.') {
		*why = "the template fixes no label of the host";
		return -1;
	}
	return 0;
}

int
tmpl_expand_url(const struct tmpl *t, const struct tmpl_vars *vs,
    struct buf *out, const char **why)
{
	size_t	 ends[2 * TMPL_MAXEXPRS + 1], base = out->n, k;

	*why = NULL;
	if (expand(t, vs, out, ends) == -1)
		return -1;
	for (k = 0; k < t->nel; k++)
		ends[k] -= base;
	if (check_authority(t, out->p != NULL ? out->p + base : "",
	    out->n - base, ends, why) == -1)
		return -2;
	return 0;
}

int
tmpl_authority_reach(const struct tmpl *t, char *msg, size_t msglen)
{
	const struct telem *e1, *el;
	const char	*lit, *sfx = NULL;
	size_t		 a0, i, k, len, sfxlen = 0;

	if (t->nexpr == 0)
		return 0;
	e1 = &t->el[t->el[0].kind == TEL_LIT ? 1 : 0];
	lit = t->src;
	len = t->el[0].kind == TEL_LIT ? t->el[0].len : 0;
	if ((a0 = scheme_len(lit, len)) == 0) {
		snprintf(msg, msglen, "expression %.*s at offset %zu can set "
		    "the scheme and host; every expansion is refused (start "
		    "the template with a literal http:// or https:// URL)",
		    (int)e1->len, t->src + e1->off, e1->off);
		return 1;
	}
	for (i = a0; i < len; i++)
		if (auth_end((unsigned char)lit[i])) {
			if (i > a0)
				return 0;
			snprintf(msg, msglen, "the host is empty; every "
			    "expansion is refused");
			return 1;
		}
	/* literal text after an expression, before the authority ends */
	for (k = (size_t)(e1 - t->el) + 1; k < t->nel; k++) {
		el = &t->el[k];
		if (el->kind != TEL_LIT)
			continue;
		for (i = 0; i < el->len &&
		    !auth_end((unsigned char)t->src[el->off + i]); i++)
			;
		if (i > 0) {
			sfx = t->src + el->off;
			sfxlen = i;
		}
		if (i < el->len)
			break;
	}
	if (sfx != NULL)
		snprintf(msg, msglen, "expression %.*s at offset %zu is inside "
		    "the host; an expansion is refused (404) unless it is a "
		    "plain host name ending in the literal \"%.*s\"",
		    (int)e1->len, t->src + e1->off, e1->off, (int)sfxlen, sfx);
	else
		snprintf(msg, msglen, "expression %.*s at offset %zu can "
		    "change the host \"%.*s\"; an expansion that changes it is "
		    "refused (404); write a literal '/' after the host",
		    (int)e1->len, t->src + e1->off, e1->off,
		    (int)(len - a0), lit + a0);
	return 1;
}
