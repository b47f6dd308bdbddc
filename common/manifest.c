/*
 * The manifest (SPEC §1): JSON text in, an immutable, reference-counted,
 * host-indexed rule table out (§2.2, §2.5).
 *
 * Loading happens in four steps, and is all-or-nothing:
 *
 *  1. A strict JSON syntax scan of our own (RFC 8259 plus two limits, see
 *     json_scan()).  cJSON reports no reason for a failure, and it accepts
 *     things RFC 8259 does not (leading zeros, raw control characters,
 *     invalid UTF-8), so the scanner both rejects those and produces the
 *     "<name>:<line>:<col>: JSON syntax error: <message>" line of §1.5.
 *  2. cJSON builds the tree.
 *  3. Every rule is checked field by field; every problem is reported (up
 *     to MANIFEST_MAXERRORS lines), not only the first, so that --check
 *     shows all of them at once.  The common fields are checked here, a
 *     type's own by the parse operation of its row in the rule type table
 *     (ruletype.h); this file names no rule type.
 *  4. Only when nothing failed: rules are sorted by (domain, precedence)
 *     into one rule set per domain, duplicate-key warnings are computed
 *     and each type's index of a set is built (ruletype.h).
 *
 * Messages.  One line each, no trailing period.  Prefixes:
 *
 *	<name>: <message>				top level
 *	<name>: "<key>": <message>			top-level key
 *	<name>: settings: "<key>": <message>		inside "settings"
 *	<name>: rules[<i>]: <message>			rule of unknown type
 *	<name>: rules[<i>] (<type>): "<field>": <message>
 *	<name>:<line>:<col>: JSON syntax error: <message>
 *
 * <line> and <col> are 1-based; <col> counts characters (UTF-8 code
 * points), a tab counting as one.  Values quoted in messages are written as
 * JSON strings and cut after ECHO_MAX bytes ("...").
 *
 * Errors (field level; "<T>" is a JSON type: null, boolean, number,
 * string, array, object):
 *
 *	required field is missing
 *	required field is missing (use null to only log)	outgoing-url
 *	must be a string (got <T>)			also: a boolean, an
 *							array, an object, ...
 *	must be a string or null (got <T>)		outgoing-url
 *	must be a boolean or a string (got <T>)		yanked
 *	must be an object or true (got <T>)		core-metadata
 *	member "<k>": required field is missing		hash-value,
 *	member "<k>": must be a string (got <T>)	core-metadata
 *	item <n>: must be a string (got <T>)		access-tokens
 *	unknown rule type "<v>"				type
 *	must not be empty
 *	invalid domain "<v>": only letters, digits, '-', '_' and '.' are
 *	    allowed
 *	invalid domain "<v>": bad port
 *	invalid domain "<v>": bad IPv6 literal
 *	invalid domain "<v>": '*' must be the whole first label, as in
 *	    "*.example.com"
 *	empty component in "<v>"			repository-name
 *	invalid registry "<v>": must be host[:port] or http(s)://host[:port]
 *	    with nothing after it			docker registry
 *	must be an absolute http or https URL		npm registry,
 *							backend-url,
 *							backend-simple-index-url
 *	must not have a query or fragment		npm registry
 *	invalid image pattern: <docker.c message>	pattern
 *	invalid template: <tmpl.c message>		incoming-path,
 *							outgoing-url
 *	invalid regular expression: <filerule.c message>
 *							file-v2 incoming-path
 *	invalid npm package name "<v>": <reason>	npm package-name
 *	must not contain '/'				file-name
 *	must start with '/'				pixel, telemetry
 *	"https://" + value must be an absolute URL with a host
 *							redirect-target-domain
 *	must not have a query or fragment		redirect-target-domain
 *	must be an integer between 0 and 2147483647	npm-cache-ttl
 *	<docker.c message>			docker-redirect-user-agents
 * Top level:
 *	top level must be a JSON object (got <T>)
 *	"rules": required field is missing
 *	"rules": must be an array (got <T>)
 *	"settings": must be an object (got <T>)
 *	rules[<i>]: must be an object (got <T>)
 *	too many errors, giving up
 *	<path>: <strerror>				manifest_load_file, 2
 *	<path>: file too large (the limit is 64 MiB)	manifest_load_file, 1
 *
 * Warnings (never fatal; §1.5):
 *
 *	rules[i] (t): "domain": port ":<p>" ignored (rules match any port)
 *	rules[i] (t): "outgoing-url": must be an absolute http or https URL;
 *	    this rule never matches
 *	rules[i] (t): duplicate of rules[j] on domain "<d>" (same <key>);
 *	    this rule is never used
 *	rules[i] (catch-all-v1): duplicate of rules[j] on domain "<d>" (one
 *	    catch-all-v1 per domain); this rule is never used
 *	rules[i] (t): "<field>": key appears <n> times; the last one is used
 *	rules[i] (telemetry-v1): "access-tokens": item <n> is empty
 *	rules[i] (docker-v1): "repository-name": "<v>" is not a valid OCI
 *	    repository name; requests for it are refused
 *	settings: unknown key "<k>" ignored
 *	<n> more warnings not shown
 *
 * Repeated JSON keys: the last occurrence wins, as with JSON.parse() in
 * JavaScript and json.loads() in Python, with a warning.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#ifdef HAVE_MALLOC_TRIM
#include <malloc.h>
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "arena.h"
#include "buf.h"
#include "json.h"
#include "manifest.h"
#include "mparse.h"
#include "ruletype.h"
#include "ua.h"
#include "util.h"
#include "xmalloc.h"

#define MANIFEST_MAXSIZE	(64UL * 1024 * 1024)

const struct manifest_cache *manifest_cache;

void
manifest_diag_free(struct manifest_diag *d)
{
	if (d == NULL)
		return;
	buf_free(&d->errors);
	buf_free(&d->warnings);
}

/* ------------------------------------------------------------------ */
/* Value checks								*/
/* ------------------------------------------------------------------ */

/*
 * §1.2 domain: lower-case, strip a :port (a warning) and one trailing dot,
 * then check the characters.  A host name: letters, digits, - _ . ; an
 * IPv6 literal: "[...]" (or bare, as request hosts may be); a wildcard:
 * "*." followed by a host name.  Sets r->domain, or reports an error.
 */
static void
parse_domain(struct mctx *c, struct rule *r, const char *src)
{
	char		*d, *port = NULL, *p, *close;
	size_t		 n, i;
	const char	*why = NULL;

	d = xstrdup(src);
	for (p = d; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	if (d[0] == '[') {
		if ((close = strchr(d, ']')) == NULL || close == d + 1) {
			why = "bad IPv6 literal";
			goto bad;
		}
		for (p = d + 1; p < close; p++)
			if (!mp_is_v6ch((unsigned char)*p)) {
				why = "bad IPv6 literal";
				goto bad;
			}
		if (close[1] == ':')
			port = close + 1;
		else if (close[1] != '\0') {
			why = "bad IPv6 literal";
			goto bad;
		}
	} else if ((p = strchr(d, ':')) != NULL && strchr(p + 1, ':') == NULL)
		port = p;
	if (port != NULL) {
		for (i = 1; port[i]; i++)
			if (port[i] < '0' || port[i] > '9' || i > 5) {
				why = "bad port";
				goto bad;
			}
		if (port[1] != '\0')
			mp_warn(c, "domain", "port %s ignored (rules match any "
			    "port)", mp_quote(c, port));
		*port = '\0';
	}
	n = strlen(d);
	if (n > 0 && d[n - 1] == '.')
		d[--n] = '\0';
	if (n == 0) {
		mp_err(c, "domain", "must not be empty");
		free(d);
		return;
	}
	if (d[0] == '[')
		;	/* checked above */
	else if (strchr(d, ':') != NULL) {
		for (p = d; *p; p++)
			if (!mp_is_v6ch((unsigned char)*p)) {
				why = "bad IPv6 literal";
				goto bad;
			}
	} else {
		p = d;
		if (d[0] == '*' && d[1] == '.' && d[2] != '\0' && d[2] != '.')
			p = d + 2;
		for (; *p; p++) {
			if (*p == '*') {
				why = "'*' must be the whole first label, as "
				    "in \"*.example.com\"";
				goto bad;
			}
			if (!mp_is_hostch((unsigned char)*p)) {
				why = "only letters, digits, '-', '_' and '.' "
				    "are allowed";
				goto bad;
			}
		}
	}
	r->domain = arena_strdup(c->arena, d);
	free(d);
	return;
bad:
	mp_err(c, "domain", "invalid domain %s: %s", mp_quote(c, src), why);
	free(d);
}

/* ------------------------------------------------------------------ */
/* Rules								*/
/* ------------------------------------------------------------------ */

/*
 * Fills r from object o (rule c->idx): the type, the common fields, then
 * the type's own through its parse operation.  Errors go to c.
 */
static void
parse_rule(struct mctx *c, const cJSON *o, struct rule *r)
{
	const struct rule_type	*t;
	const char		*s;

	c->tname = NULL;
	if (mp_str(c, o, "type", 1, &s) != 1)
		return;
	if ((t = rule_type_find(s)) == NULL) {
		mp_err(c, "type", "unknown rule type %s", mp_quote(c, s));
		return;
	}
	c->tname = t->name;
	if (mp_str(c, o, "domain", 1, &s) == 1)
		parse_domain(c, r, s);
	/* §1.2: accepted and ignored, but typed */
	mp_str(c, o, "owner", 0, &s);
	if (!t->reads_package_name)
		mp_str(c, o, "package-name", 0, &s);
	r->type = t;
	for (r->rank = 0; rule_types[r->rank] != t; r->rank++)
		;
	t->parse(c, o, r);
}

static void
rule_free(struct rule *r)
{
	/* the strings are in the manifest's arena */
	if (r->type != NULL && r->type->free != NULL)
		r->type->free(r);
}

/* ------------------------------------------------------------------ */
/* Settings								*/
/* ------------------------------------------------------------------ */

static void
parse_settings(struct mctx *c, struct manifest *m, const cJSON *s)
{
	const cJSON	*it;
	char		 err[256];
	double		 v;

	if (s == NULL || cJSON_IsNull(s))
		return;
	if (!cJSON_IsObject(s)) {
		mp_err(c, "settings", "must be an object (got %s)",
		    mp_jtype(s));
		return;
	}
	c->in_settings = 1;
	for (it = s->child; it != NULL; it = it->next)
		if (strcmp(it->string, "docker-redirect-user-agents") != 0 &&
		    strcmp(it->string, "npm-cache-ttl") != 0)
			mp_warn(c, NULL, "unknown key %s ignored",
			    mp_quote(c, it->string));
	it = mp_field(c, s, "docker-redirect-user-agents");
	if (it != NULL && !cJSON_IsNull(it)) {
		if (!cJSON_IsArray(it))
			mp_err(c, "docker-redirect-user-agents",
			    "must be an array (got %s)", mp_jtype(it));
		else {
			m->redirect_uas = xcalloc(1, sizeof(*m->redirect_uas));
			err[0] = '\0';
			if (ua_list_parse(it, m->redirect_uas, err,
			    sizeof(err)) == -1) {
				mp_err(c, "docker-redirect-user-agents", "%s",
				    err);
				ua_list_free(m->redirect_uas);
				free(m->redirect_uas);
				m->redirect_uas = NULL;
			}
		}
	}
	it = mp_field(c, s, "npm-cache-ttl");
	if (it != NULL && !cJSON_IsNull(it)) {
		v = cJSON_IsNumber(it) ? it->valuedouble : -1;
		if (!(v >= 0 && v <= 2147483647.0) || v != (double)(long)v)
			mp_err(c, "npm-cache-ttl", "must be an integer "
			    "between 0 and 2147483647");
		else
			m->npm_cache_ttl = (long)v;
	}
	c->in_settings = 0;
}

/* ------------------------------------------------------------------ */
/* Index								*/
/* ------------------------------------------------------------------ */

/*
 * Orders rules by domain, then precedence (§2.5): type, then the
 * type's own order, then manifest order, so that the sort is stable.
 */
static int
rule_cmp(const void *pa, const void *pb)
{
	const struct rule	*a = *(const struct rule *const *)pa;
	const struct rule	*b = *(const struct rule *const *)pb;
	int			 r;

	if ((r = strcmp(a->domain, b->domain)) != 0)
		return r;
	if (a->rank != b->rank)
		return a->rank < b->rank ? -1 : 1;
	if (a->type->cmp != NULL && (r = a->type->cmp(a, b)) != 0)
		return r;
	return a->index < b->index ? -1 : a->index > b->index;
}

/*
 * One rule set per domain, its rules in precedence order, with a span
 * (and the type's index) for each type present.
 */
static void
index_build(struct manifest *m)
{
	struct rule		**all;
	struct ruleset		 *set;
	struct rule_span	 *sp;
	const struct rule_type	 *t;
	size_t			  i, j, k, ns;

	all = xreallocarray(NULL, m->nrules ? m->nrules : 1, sizeof(*all));
	for (i = 0; i < m->nrules; i++)
		all[i] = &m->rules[i];
	qsort(all, m->nrules, sizeof(*all), rule_cmp);
	for (i = 0, ns = 0; i < m->nrules; i++)
		if (i == 0 || strcmp(all[i]->domain, all[i - 1]->domain) != 0)
			ns++;
	m->sets = xcalloc(ns ? ns : 1, sizeof(*m->sets));
	m->nsets = ns;
	for (i = 0, set = m->sets; i < m->nrules; i = j, set++) {
		for (j = i + 1; j < m->nrules &&
		    strcmp(all[j]->domain, all[i]->domain) == 0; j++)
			;
		set->domain = all[i]->domain;
		set->nrules = j - i;
		set->rules = xreallocarray(NULL, set->nrules,
		    sizeof(*set->rules));
		memcpy(set->rules, all + i, set->nrules * sizeof(*all));
		for (k = 0; k < set->nrules; k++)
			if (k == 0 || set->rules[k]->type !=
			    set->rules[k - 1]->type)
				set->nspans++;
		set->spans = xcalloc(set->nspans, sizeof(*set->spans));
		for (k = 0, sp = set->spans; k < set->nrules; sp++) {
			t = set->rules[k]->type;
			sp->type = t;
			sp->first = k;
			while (k < set->nrules && set->rules[k]->type == t)
				k++;
			sp->count = k - sp->first;
			if (t->index != NULL)
				sp->index = t->index(set->rules + sp->first,
				    sp->count);
		}
	}
	free(all);
}

/* Duplicate detection (§1.5 warnings). */
struct dupkey {
	const char	*a, *b;
	int		 index;
};

struct dup {
	int			 index, first;
	const struct rule_type	*type;
	const char		*domain;
};

static int
nullcmp(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a != NULL) - (b != NULL);
	return strcmp(a, b);
}

static int
dupkey_cmp(const void *pa, const void *pb)
{
	const struct dupkey	*a = pa, *b = pb;
	int			 r;

	if ((r = nullcmp(a->a, b->a)) != 0 || (r = nullcmp(a->b, b->b)) != 0)
		return r;
	return a->index < b->index ? -1 : a->index > b->index;
}

static int
dup_cmp(const void *pa, const void *pb)
{
	const struct dup	*a = pa, *b = pb;

	return a->index < b->index ? -1 : a->index > b->index;
}

/*
 * Warns about rules that can never be used because an earlier rule of the
 * same type on the same domain has the same key (the type's dup_key).
 * Reported in manifest order of the unused rule.
 */
static void
dup_warnings(struct mctx *c, const struct manifest *m)
{
	struct dupkey		*keys = NULL;
	struct dup		*dups = NULL;
	size_t			 ndups = 0, s, si, i, k, n, run;
	const struct ruleset	*set;
	const struct rule_span	*sp;
	const struct rule	*r;

	for (s = 0; s < m->nsets; s++) {
		set = &m->sets[s];
		for (si = 0; si < set->nspans; si++) {
			sp = &set->spans[si];
			if ((n = sp->count) < 2 || sp->type->dup_key == NULL)
				continue;
			keys = xreallocarray(keys, n, sizeof(*keys));
			for (i = 0; i < n; i++) {
				r = set->rules[sp->first + i];
				keys[i].index = r->index;
				keys[i].a = keys[i].b = NULL;
				sp->type->dup_key(r, &keys[i].a, &keys[i].b);
			}
			qsort(keys, n, sizeof(*keys), dupkey_cmp);
			for (run = 0, k = 1; k < n; k++) {
				if (nullcmp(keys[k].a, keys[run].a) != 0 ||
				    nullcmp(keys[k].b, keys[run].b) != 0) {
					run = k;
					continue;
				}
				dups = xreallocarray(dups, ndups + 1,
				    sizeof(*dups));
				dups[ndups].index = keys[k].index;
				dups[ndups].first = keys[run].index;
				dups[ndups].type = sp->type;
				dups[ndups].domain = set->domain;
				ndups++;
			}
		}
	}
	if (ndups > 0)
		qsort(dups, ndups, sizeof(*dups), dup_cmp);
	for (i = 0; i < ndups; i++) {
		c->idx = dups[i].index;
		c->tname = dups[i].type->name;
		mp_warn(c, NULL, "duplicate of rules[%d] on domain %s (%s); "
		    "this rule is never used", dups[i].first,
		    mp_quote(c, dups[i].domain), dups[i].type->dup_what);
	}
	c->idx = -1;
	c->tname = NULL;
	free(keys);
	free(dups);
}

/* ------------------------------------------------------------------ */
/* Public interface							*/
/* ------------------------------------------------------------------ */

static void
manifest_free(struct manifest *m)
{
	const struct rule_span	*sp;
	size_t			 i, k;

	if (m->backing != NULL) {
		/* the rule sets, the UA list and the image */
		m->backing->release(m);
		free(m);
		return;
	}
	for (i = 0; i < m->nsets; i++) {
		for (k = 0; k < m->sets[i].nspans; k++) {
			sp = &m->sets[i].spans[k];
			if (sp->index != NULL && sp->type->index_free != NULL)
				sp->type->index_free(sp->index);
		}
		free(m->sets[i].spans);
		free(m->sets[i].rules);
	}
	free(m->sets);
	for (i = 0; i < m->nrules; i++)
		rule_free(&m->rules[i]);
	free(m->rules);
	if (m->redirect_uas != NULL) {
		ua_list_free(m->redirect_uas);
		free(m->redirect_uas);
	}
	arena_free(&m->arena);
	free(m);
}

/* Skips JSON white space (RFC 8259 §2) from pos; returns the new pos. */
static size_t
skip_ws(const char *s, size_t n, size_t pos)
{
	while (pos < n && (s[pos] == ' ' || s[pos] == '\t' ||
	    s[pos] == '\n' || s[pos] == '\r'))
		pos++;
	return pos;
}

/*
 * Parses the elements of the rules array, text[off..] starting at its
 * '[' (json_scan() has checked the whole text).  One rule at a time: each
 * element is parsed into its own small cJSON tree, compiled and freed, so
 * the trees of the whole document are never in memory (cJSON takes about
 * 3.7 times the text; with them, a 160,000-rule manifest of 46 MB peaked
 * at 393 MiB, tests/bench/manifest_mem.sh).
 */
static void
parse_rules(struct mctx *c, struct manifest *m, const char *text,
    size_t len, size_t off)
{
	cJSON		*it;
	size_t		 n = 0, pos, start;
	struct rule	*r;

	/* count first, to allocate the rules once */
	pos = skip_ws(text, len, off + 1);
	if (pos < len && text[pos] != ']')
		for (;;) {
			if (json_scan_value(text, len, &pos, NULL, NULL, 0) ==
			    -1)
				break;
			n++;
			pos = skip_ws(text, len, pos);
			if (pos >= len || text[pos] != ',')
				break;
			pos++;
		}
	m->rules = xcalloc(n ? n : 1, sizeof(*m->rules));
	pos = skip_ws(text, len, off + 1);
	while (m->nrules < n) {
		if (c->nerrors > MANIFEST_MAXERRORS)
			break;
		start = skip_ws(text, len, pos);
		if (json_scan_value(text, len, &pos, NULL, NULL, 0) == -1)
			break;		/* not after json_scan() */
		r = &m->rules[m->nrules];
		r->index = (int)m->nrules;
		m->nrules++;
		c->idx = r->index;
		c->tname = NULL;
		it = cJSON_ParseWithLength(text + start, pos - start);
		if (it == NULL)
			mp_err(c, NULL, "cannot parse");
		else if (!cJSON_IsObject(it))
			mp_err(c, NULL, "must be an object (got %s)",
			    mp_jtype(it));
		else
			parse_rule(c, it, r);
		cJSON_Delete(it);
		pos = skip_ws(text, len, pos);
		if (pos < len && text[pos] == ',')
			pos++;
	}
	c->idx = -1;
	c->tname = NULL;
}

/*
 * The top-level object without its "rules" member, as a cJSON object (the
 * other members are small), and where the value of the last "rules" is
 * (*rules_off, or (size_t)-1 when there is none) and how many there are.
 * text[0..len) is one valid JSON value (json_scan()), starting after any
 * byte order mark at bom.  NULL when the top level is not an object: *top
 * is then the whole value, for the error message.
 */
static cJSON *
top_members(const char *text, size_t len, size_t bom, size_t *rules_off,
    int *nrules_keys, cJSON **top)
{
	cJSON		*root, *key, *val;
	size_t		 pos, kstart, vstart;

	*rules_off = (size_t)-1;
	*nrules_keys = 0;
	*top = NULL;
	pos = skip_ws(text, len, bom);
	if (pos >= len || text[pos] != '{') {
		*top = cJSON_ParseWithLength(text + bom, len - bom);
		return NULL;
	}
	root = cJSON_CreateObject();
	pos = skip_ws(text, len, pos + 1);
	while (pos < len && text[pos] == '"') {
		kstart = pos;
		if (json_scan_value(text, len, &pos, NULL, NULL, 0) == -1)
			break;
		key = cJSON_ParseWithLength(text + kstart, pos - kstart);
		pos = skip_ws(text, len, pos) + 1;	/* the ':' */
		vstart = skip_ws(text, len, pos);
		if (key == NULL || json_scan_value(text, len, &pos, NULL, NULL,
		    0) == -1) {
			cJSON_Delete(key);
			break;
		}
		if (strcmp(key->valuestring, "rules") == 0) {
			*rules_off = vstart;
			(*nrules_keys)++;
		} else if ((val = cJSON_ParseWithLength(text + vstart,
		    pos - vstart)) != NULL)
			cJSON_AddItemToObject(root, key->valuestring, val);
		cJSON_Delete(key);
		pos = skip_ws(text, len, pos);
		if (pos < len && text[pos] == ',')
			pos = skip_ws(text, len, pos + 1);
	}
	return root;
}

int
manifest_parse(const char *name, const char *text, size_t len,
    struct manifest **out, struct manifest_diag *d)
{
	struct manifest_diag	 local = { BUF_INIT, BUF_INIT };
	struct mctx		 c;
	struct manifest		*m = NULL;
	cJSON			*root = NULL, *top = NULL;
	char			 msg[128];
	size_t			 off, line, col, bom = 0, rules_off;
	int			 rc = -1, nrules_keys;

	*out = NULL;
	memset(&c, 0, sizeof(c));
	c.name = name;
	c.d = d != NULL ? d : &local;
	c.idx = -1;
	if (json_scan(text, len, &off, msg, sizeof(msg)) == -1) {
		json_linecol(text, off, &line, &col);
		buf_printf(&c.d->errors, "%s:%zu:%zu: JSON syntax error: %s\n",
		    name, line, col, msg);
		goto done;
	}
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		bom = 3;
	root = top_members(text, len, bom, &rules_off, &nrules_keys, &top);
	if (root == NULL) {
		if (top == NULL) {
			/* not expected after json_scan(); cJSON has its own
			 * limits */
			buf_printf(&c.d->errors, "%s: JSON syntax error: "
			    "cannot parse\n", name);
			goto done;
		}
		mp_err(&c, NULL, "top level must be a JSON object (got %s)",
		    mp_jtype(top));
		goto done;
	}
	m = xcalloc(1, sizeof(*m));
	c.arena = &m->arena;
	atomic_init(&m->refs, 1);
	parse_settings(&c, m, mp_field(&c, root, "settings"));
	if (nrules_keys > 1)
		mp_warn(&c, "rules", "key appears %d times; the last one is "
		    "used", nrules_keys);
	if (rules_off == (size_t)-1)
		mp_err(&c, "rules", "required field is missing");
	else if (text[rules_off] != '[') {
		size_t	 e = rules_off;
		cJSON	*v;

		(void)json_scan_value(text, len, &e, NULL, NULL, 0);
		v = cJSON_ParseWithLength(text + rules_off, e - rules_off);
		mp_err(&c, "rules", "must be an array (got %s)", mp_jtype(v));
		cJSON_Delete(v);
	} else
		parse_rules(&c, m, text, len, rules_off);
	if (c.nerrors > 0)
		goto done;
	index_build(m);
	dup_warnings(&c, m);
	m->loaded_at = time(NULL);
	*out = m;
	m = NULL;
	rc = 0;
done:
	if (c.nwarnings > MANIFEST_MAXWARNINGS)
		buf_printf(&c.d->warnings, "%s: %d more warnings not shown\n",
		    name, c.nwarnings - MANIFEST_MAXWARNINGS);
	if (m != NULL)
		manifest_free(m);
	cJSON_Delete(root);
	cJSON_Delete(top);
	buf_free(&c.q);
	manifest_diag_free(&local);
	return rc;
}

int
manifest_load_file(const char *path, struct manifest **out,
    struct manifest_diag *d)
{
	struct manifest_diag	 local = { BUF_INIT, BUF_INIT };
	struct manifest		*img;
	struct buf		 b = BUF_INIT;
	struct stat		 st;
	ssize_t			 n;
	int			 fd, rc;

	*out = NULL;
	if (d == NULL)
		d = &local;
	/* the warm path: the file's identity names its image */
	if (manifest_cache != NULL && stat(path, &st) == 0 &&
	    S_ISREG(st.st_mode) &&
	    manifest_cache->find(path, &st, out, d) == 0) {
		manifest_diag_free(&local);
		return 0;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		buf_printf(&d->errors, "%s: %s\n", path, strerror(errno));
		manifest_diag_free(&local);
		return 2;
	}
	if (fstat(fd, &st) == -1)
		st.st_mode = 0;		/* no identity: no image */
	if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > MANIFEST_MAXSIZE)
		goto toolarge;
	for (;;) {
		buf_reserve(&b, 65536);
		n = read(fd, b.p + b.n, 65536);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			buf_printf(&d->errors, "%s: %s\n", path,
			    strerror(errno));
			rc = 2;
			goto done;
		}
		if (n == 0)
			break;
		b.n += (size_t)n;
		b.p[b.n] = '\0';
		if (b.n > MANIFEST_MAXSIZE)
			goto toolarge;
	}
	rc = manifest_parse(path, buf_cstr(&b), b.n, out, d) == 0 ? 0 : 1;
	/* written: served from the image, as the next process will be
	 * (its pages shared, the parsed rules freed) */
	if (rc == 0 && manifest_cache != NULL && S_ISREG(st.st_mode) &&
	    (uintmax_t)st.st_size == b.n && manifest_cache->store(path, &st,
	    buf_cstr(&b), b.n, *out, d) == 0 &&
	    manifest_cache->find(path, &st, &img, NULL) == 0) {
		manifest_unref(*out);
		*out = img;
#ifdef HAVE_MALLOC_TRIM
		malloc_trim(0);		/* the parsed rules' memory */
#endif
	}
	goto done;
toolarge:
	buf_printf(&d->errors, "%s: file too large (the limit is %lu MiB)\n",
	    path, MANIFEST_MAXSIZE / (1024 * 1024));
	rc = 1;
done:
	close(fd);
	buf_free(&b);
	manifest_diag_free(&local);
	return rc;
}

void
manifest_ref(struct manifest *m)
{
	atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
}

void
manifest_unref(struct manifest *m)
{
	if (m == NULL)
		return;
	if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1)
		manifest_free(m);
}

/* manifest.h */
int
manifest_domain_cmp(const char *pfx, const char *s, const char *dom)
{
	for (; *pfx != '\0'; pfx++, dom++)
		if (*pfx != *dom)
			return (unsigned char)*pfx - (unsigned char)*dom;
	return strcmp(s, dom);
}

static const struct ruleset *
set_find(const struct manifest *m, const char *pfx, const char *s)
{
	size_t	 lo = 0, hi = m->nsets, mid;
	int	 r;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		r = manifest_domain_cmp(pfx, s, m->sets[mid].domain);
		if (r == 0)
			return &m->sets[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/*
 * §2.2: the exact domain, else the longest wildcard "*.suffix" whose
 * suffix ends the host with at least one label before it.  No allocation.
 */
const struct ruleset *
manifest_whole_set(const struct manifest *m, const struct ruleset *set)
{
	if (set == NULL || !set->partial)
		return set;
	return m->backing->whole(m, set);
}

int
manifest_damaged(const struct manifest *m)
{
	return m != NULL && m->backing != NULL && m->backing->damaged(m);
}

const struct ruleset *
manifest_lookup(const struct manifest *m, const char *host)
{
	const struct ruleset	*set;
	const char		*p;

	if (m == NULL || host == NULL || *host == '\0')
		return NULL;
	if (m->backing != NULL)
		return m->backing->lookup(m, host);
	if ((set = set_find(m, "", host)) != NULL)
		return set;
	for (p = strchr(host + 1, '.'); p != NULL; p = strchr(p + 1, '.'))
		if (p[1] != '\0' && (set = set_find(m, "*", p)) != NULL)
			return set;
	return NULL;
}
