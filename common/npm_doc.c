/*
 * npm registry documents (SPEC §4.4): fetch, rewrite, cache, answer.
 *
 * A packument of a popular package is several megabytes of JSON, and every
 * `npm install` asks for it.  It is never parsed into a tree nor
 * re-serialised: one pass over the bytes checks the JSON grammar, follows
 * the key path down to each tarball string, and copies the document into
 * one output buffer with those strings spliced in.  Everything outside the
 * replaced strings stays byte for byte what the registry sent, so the
 * registry's integrity data, key order and formatting survive.
 *
 * The rewritten document can then be kept for settings.npm-cache-ttl
 * seconds, so a burst of installs costs the registry one fetch.
 */
#include "config.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway.h"
#include "manifest.h"
#include "npm_doc.h"
#include "proxy.h"
#include "python.h"
#include "util.h"
#include "xmalloc.h"

#define NPM_CT_CORGI	"application/vnd.npm.install-v1+json"
#define NPM_CACHE_BYTES	((size_t)128 * 1024 * 1024)
#define NPM_BUCKETS	1024
#define NPM_MAXVALS	16	/* repeated Accept / If-None-Match looked at */

static const char err_unreachable[] =
    "{\"error\":\"upstream registry unreachable\"}";
static const char err_timeout[] = "{\"error\":\"upstream registry timed out\"}";

/* ---------------------------------------------------------------------- */
/* The rewriter                                                           */

/*
 * What an object is, seen from the top of the document: the role decides
 * which of its keys lead towards a tarball.
 */
enum npm_role {
	ROLE_OTHER,
	ROLE_ROOT,	/* the top-level object */
	ROLE_VERSIONS,	/* packument "versions" */
	ROLE_VERSION,	/* one entry of "versions" */
	ROLE_DIST	/* a "dist" object holding the tarball */
};

struct npm_frame {
	unsigned char	 obj;	/* 1: object, 0: array */
	unsigned char	 role;	/* enum npm_role of an object */
};

struct npm_scan {
	const unsigned char	*p;
	size_t			 n;
	size_t			 i;		/* next byte */
	struct buf		 tmp;		/* unescaped strings */
};

static void
scan_ws(struct npm_scan *s)
{
	while (s->i < s->n && (s->p[s->i] == ' ' || s->p[s->i] == '\n' ||
	    s->p[s->i] == '\r' || s->p[s->i] == '\t'))
		s->i++;
}

/* Bytes that end a run of plain string bytes: controls, '"' and '\'. */
#define S8(x)	x, x, x, x, x, x, x, x
static const unsigned char str_stop[256] = {
	S8(1), S8(1), S8(1), S8(1),	/* 0x00-0x1f */
	['"'] = 1, ['\\'] = 1,
};
#undef S8

/*
 * Skips the string starting at the '"' at s->i; s->i ends after its
 * closing quote.  *esc tells whether it holds escapes.  Returns 0, or -1
 * on a control byte, a bad escape or a missing closing quote.
 */
static int
scan_string(struct npm_scan *s, int *esc)
{
	const unsigned char	*p = s->p;
	size_t			 i = s->i + 1, n = s->n, k;
	unsigned char		 c;

	*esc = 0;
	for (;;) {
		/* the hot loop: plain bytes */
		while (i < n && !str_stop[p[i]])
			i++;
		if (i >= n)
			return -1;
		c = p[i];
		if (c == '"')
			break;
		if (c < 0x20)
			return -1;
		*esc = 1;
		if (i + 1 >= n)
			return -1;
		switch (p[i + 1]) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n':
		case 'r': case 't':
			i += 2;
			break;
		case 'u':
			if (i + 6 > n)
				return -1;
			for (k = 2; k < 6; k++)
				if (hexval(p[i + k]) < 0)
					return -1;
			i += 6;
			break;
		default:
			return -1;
		}
	}
	s->i = i + 1;
	return 0;
}

static unsigned
hex4(const unsigned char *p)
{
	return (unsigned)(hexval(p[0]) << 12 | hexval(p[1]) << 8 |
	    hexval(p[2]) << 4 | hexval(p[3]));
}

static void
put_utf8(struct buf *b, unsigned cp)
{
	char	 u[4];

	if (cp < 0x80) {
		buf_addc(b, (int)cp);
		return;
	}
	if (cp < 0x800) {
		u[0] = (char)(0xC0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3F));
		buf_add(b, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | cp >> 12);
		u[1] = (char)(0x80 | (cp >> 6 & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		buf_add(b, u, 3);
	} else {
		u[0] = (char)(0xF0 | cp >> 18);
		u[1] = (char)(0x80 | (cp >> 12 & 0x3F));
		u[2] = (char)(0x80 | (cp >> 6 & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		buf_add(b, u, 4);
	}
}

/*
 * The text of an already checked string body p[0..n) (between its quotes)
 * into b, escapes resolved.  A surrogate pair becomes its code point; a
 * lone surrogate becomes U+FFFD.
 */
static void
json_unescape(const unsigned char *p, size_t n, struct buf *b)
{
	size_t		 i = 0, run;
	unsigned	 cp, lo;

	buf_reset(b);
	while (i < n) {
		for (run = i; run < n && p[run] != '\\'; run++)
			;
		buf_add(b, p + i, run - i);
		if ((i = run) >= n)
			break;
		switch (p[i + 1]) {
		case 'b': buf_addc(b, '\b'); i += 2; break;
		case 'f': buf_addc(b, '\f'); i += 2; break;
		case 'n': buf_addc(b, '\n'); i += 2; break;
		case 'r': buf_addc(b, '\r'); i += 2; break;
		case 't': buf_addc(b, '\t'); i += 2; break;
		case 'u':
			cp = hex4(p + i + 2);
			i += 6;
			if (cp >= 0xD800 && cp < 0xDC00 && i + 6 <= n &&
			    p[i] == '\\' && p[i + 1] == 'u' &&
			    (lo = hex4(p + i + 2)) >= 0xDC00 && lo < 0xE000) {
				cp = 0x10000 + ((cp - 0xD800) << 10) +
				    (lo - 0xDC00);
				i += 6;
			} else if (cp >= 0xD800 && cp < 0xE000)
				cp = 0xFFFD;
			put_utf8(b, cp);
			break;
		default:	/* " \ / */
			buf_addc(b, p[i + 1]);
			i += 2;
			break;
		}
	}
}

/*
 * Appends s[0..n) as the inside of a JSON string: only '"', '\' and
 * control bytes are escaped; every other byte is copied, so text that came
 * out of the document goes back in as it was.
 */
static void
json_put(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t		 i, run;
	unsigned char	 c;

	for (i = 0; i < n; ) {
		for (run = i; run < n && (c = (unsigned char)s[run]) >= 0x20 &&
		    c != '"' && c != '\\'; run++)
			;
		buf_add(b, s + i, run - i);
		if ((i = run) >= n)
			break;
		c = (unsigned char)s[i++];
		switch (c) {
		case '"': buf_add(b, "\\\"", 2); break;
		case '\\': buf_add(b, "\\\\", 2); break;
		case '\n': buf_add(b, "\\n", 2); break;
		case '\r': buf_add(b, "\\r", 2); break;
		case '\t': buf_add(b, "\\t", 2); break;
		default:
			buf_add(b, "\\u00", 4);
			buf_addc(b, hex[c >> 4]);
			buf_addc(b, hex[c & 15]);
			break;
		}
	}
}

/* Whether the key string p[start..end) (quotes included) is word. */
static int
key_is(struct npm_scan *s, size_t start, size_t end, int esc,
    const char *word)
{
	size_t	 wl = strlen(word);

	if (!esc)
		return end - start - 2 == wl &&
		    memcmp(s->p + start + 1, word, wl) == 0;
	/* an escaped key is short if it is one of ours */
	if (end - start - 2 > 6 * wl)
		return 0;
	json_unescape(s->p + start + 1, end - start - 2, &s->tmp);
	return s->tmp.n == wl && memcmp(s->tmp.p, word, wl) == 0;
}

/*
 * The tarball string p[start..end) (quotes included): when its URL has a
 * non-empty last segment, writes the document up to start and the new
 * string, and moves *copied past the old one.  Returns 1 if replaced.
 */
static int
splice_tarball(struct npm_scan *s, size_t start, size_t end, int esc,
    const char *prefix, size_t *copied, struct buf *out)
{
	const char	*u, *file, *cut;
	size_t		 ul, fl;

	if (esc) {
		json_unescape(s->p + start + 1, end - start - 2, &s->tmp);
		u = s->tmp.p != NULL ? s->tmp.p : "";
		ul = s->tmp.n;
	} else {
		u = (const char *)s->p + start + 1;
		ul = end - start - 2;
	}
	/* the path's last segment: no #fragment, no ?query */
	if ((cut = memchr(u, '#', ul)) != NULL)
		ul = (size_t)(cut - u);
	if ((cut = memchr(u, '?', ul)) != NULL)
		ul = (size_t)(cut - u);
	for (file = u + ul; file > u && file[-1] != '/'; file--)
		;
	if ((fl = (size_t)(u + ul - file)) == 0)
		return 0;

	buf_add(out, s->p + *copied, start - *copied);
	buf_addc(out, '"');
	json_put(out, prefix, strlen(prefix));
	json_put(out, file, fl);
	buf_addc(out, '"');
	*copied = end;
	return 1;
}

/*
 * The role of the value under key p[ks..ke) in an object of role parent,
 * and whether that value is a tarball.
 */
static enum npm_role
child_role(struct npm_scan *s, enum npm_doc_kind kind, enum npm_role parent,
    size_t ks, size_t ke, int esc, int *tarball)
{
	*tarball = 0;
	switch (parent) {
	case ROLE_ROOT:
		if (kind == NPM_DOC_PACKUMENT &&
		    key_is(s, ks, ke, esc, "versions"))
			return ROLE_VERSIONS;
		if (kind == NPM_DOC_VERSION && key_is(s, ks, ke, esc, "dist"))
			return ROLE_DIST;
		break;
	case ROLE_VERSIONS:
		return ROLE_VERSION;
	case ROLE_VERSION:
		if (key_is(s, ks, ke, esc, "dist"))
			return ROLE_DIST;
		break;
	case ROLE_DIST:
		*tarball = key_is(s, ks, ke, esc, "tarball");
		break;
	case ROLE_OTHER:
		break;
	}
	return ROLE_OTHER;
}

/* A JSON number at s->i (RFC 8259 §6).  Returns 0 or -1. */
static int
scan_number(struct npm_scan *s)
{
	const unsigned char	*p = s->p;
	size_t			 i = s->i, n = s->n, d;

	if (i < n && p[i] == '-')
		i++;
	if (i < n && p[i] == '0')
		i++;
	else if (i < n && p[i] >= '1' && p[i] <= '9')
		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++;
	else
		return -1;
	if (i < n && p[i] == '.') {
		for (d = ++i; i < n && p[i] >= '0' && p[i] <= '9'; i++)
			;
		if (i == d)
			return -1;
	}
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		i++;
		if (i < n && (p[i] == '+' || p[i] == '-'))
			i++;
		for (d = i; i < n && p[i] >= '0' && p[i] <= '9'; i++)
			;
		if (i == d)
			return -1;
	}
	s->i = i;
	return 0;
}

static int
scan_word(struct npm_scan *s, const char *w, size_t wl)
{
	if (s->n - s->i < wl || memcmp(s->p + s->i, w, wl) != 0)
		return -1;
	s->i += wl;
	return 0;
}

long
npm_rewrite_tarballs(const char *doc, size_t n, const char *prefix,
    enum npm_doc_kind kind, struct buf *out)
{
	struct npm_frame	 st[NPM_DOC_MAXDEPTH];
	struct npm_scan		 s;
	enum { S_VALUE, S_AFTER, S_KEY } state = S_VALUE;
	enum npm_role		 role;
	size_t			 depth = 0, copied = 0, start, ks;
	int			 esc, tarball = 0;
	long			 count = 0;

	memset(&s, 0, sizeof(s));
	s.p = (const unsigned char *)doc;
	s.n = n;
	role = kind == NPM_DOC_PLAIN ? ROLE_OTHER : ROLE_ROOT;
	/* replacements are about as long as what they replace */
	buf_reserve(out, n + 256);

	for (;;) {
		scan_ws(&s);
		if (s.i >= s.n)
			goto bad;
		switch (state) {
		case S_VALUE:
			state = S_AFTER;
			switch (s.p[s.i]) {
			case '{':
			case '[':
				if (depth == NPM_DOC_MAXDEPTH)
					goto bad;
				st[depth].obj = s.p[s.i] == '{';
				st[depth].role = (unsigned char)role;
				depth++;
				s.i++;
				scan_ws(&s);
				if (s.i < s.n && s.p[s.i] ==
				    (st[depth - 1].obj ? '}' : ']')) {
					s.i++;
					depth--;
				} else if (st[depth - 1].obj)
					state = S_KEY;
				else {
					state = S_VALUE;
					role = ROLE_OTHER;
					tarball = 0;
				}
				break;
			case '"':
				start = s.i;
				if (scan_string(&s, &esc) == -1)
					goto bad;
				if (tarball)
					count += splice_tarball(&s, start, s.i,
					    esc, prefix, &copied, out);
				break;
			case 't':
				if (scan_word(&s, "true", 4) == -1)
					goto bad;
				break;
			case 'f':
				if (scan_word(&s, "false", 5) == -1)
					goto bad;
				break;
			case 'n':
				if (scan_word(&s, "null", 4) == -1)
					goto bad;
				break;
			default:
				if (scan_number(&s) == -1)
					goto bad;
				break;
			}
			break;
		case S_KEY:
			if (s.p[s.i] != '"')
				goto bad;
			ks = s.i;
			if (scan_string(&s, &esc) == -1)
				goto bad;
			start = s.i;
			scan_ws(&s);
			if (s.i >= s.n || s.p[s.i] != ':')
				goto bad;
			s.i++;
			role = child_role(&s, kind,
			    (enum npm_role)st[depth - 1].role, ks, start, esc,
			    &tarball);
			state = S_VALUE;
			break;
		case S_AFTER:
			if (s.p[s.i] == ',') {
				s.i++;
				if (st[depth - 1].obj)
					state = S_KEY;
				else {
					state = S_VALUE;
					role = ROLE_OTHER;
					tarball = 0;
				}
			} else if (s.p[s.i] ==
			    (st[depth - 1].obj ? '}' : ']')) {
				s.i++;
				depth--;
			} else
				goto bad;
			break;
		}
		if (state == S_AFTER && depth == 0)
			break;
	}
	scan_ws(&s);
	if (s.i != s.n)
		goto bad;
	buf_add(out, s.p + copied, n - copied);
	buf_free(&s.tmp);
	return count;
bad:
	buf_free(&s.tmp);
	return -1;
}

/* ---------------------------------------------------------------------- */
/* Request forms and URLs                                                 */

/* A decoded path piece as a path segment (RFC 3986 pchar, %XX upper). */
static void
add_segment(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t		 i;
	unsigned char	 c;

	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (is_unreserved(c) || (c != '\0' &&
		    strchr("!$&'()*+,;=:@", c) != NULL))
			buf_addc(b, c);
		else {
			buf_addc(b, '%');
			buf_addc(b, hex[c >> 4]);
			buf_addc(b, hex[c & 15]);
		}
	}
}

void
npm_doc_prefix(struct buf *out, const char *scheme, const char *authority,
    const char *name)
{
	const char	*slash = NULL;

	buf_adds(out, scheme != NULL ? scheme : "https");
	buf_adds(out, "://");
	buf_adds(out, authority != NULL ? authority : "");
	buf_addc(out, '/');
	if (name[0] == '@')
		slash = strchr(name, '/');
	if (slash != NULL) {
		add_segment(out, name, (size_t)(slash - name));
		buf_addc(out, '/');
		add_segment(out, slash + 1, strlen(slash + 1));
	} else
		add_segment(out, name, strlen(name));
	buf_adds(out, "/-/");
}

/* ---------------------------------------------------------------------- */
/* The cache                                                              */

struct npm_centry {
	struct npm_cache_entry	 pub;	/* first: the caller's view */
	char			*key;
	char			*ct, *etag, *lm, *prefix, *body;
	size_t			 hash;
	size_t			 size;	/* what it counts against the cap */
	int			 refs;	/* the table's + the readers' */
	int			 linked;
	struct npm_centry	*hnext;
	struct npm_centry	*prev, *next;	/* LRU, head = most recent */
};

struct npm_cache {
	pthread_mutex_t		 mu;
	struct npm_centry	*bucket[NPM_BUCKETS];
	struct npm_centry	*head, *tail;
	size_t			 entries, bytes, max_bytes;
};

/* FNV-1a */
static size_t
key_hash(const char *k)
{
	size_t	 h = (size_t)14695981039346656037ULL;

	while (*k != '\0')
		h = (h ^ (unsigned char)*k++) * (size_t)1099511628211ULL;
	return h;
}

static void
centry_free(struct npm_centry *e)
{
	free(e->key);
	free(e->ct);
	free(e->etag);
	free(e->lm);
	free(e->prefix);
	free(e->body);
	free(e);
}

struct npm_cache *
npm_cache_new(size_t max_bytes)
{
	struct npm_cache	*c;

	c = xcalloc(1, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
	c->max_bytes = max_bytes;
	return c;
}

/* Takes e out of the table and the LRU list; under the lock.  Returns e
 * when its last reference went with it (the caller frees it). */
static struct npm_centry *
cache_unlink(struct npm_cache *c, struct npm_centry *e)
{
	struct npm_centry	**pp;

	pp = &c->bucket[e->hash % NPM_BUCKETS];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->linked = 0;
	c->entries--;
	c->bytes -= e->size;
	return --e->refs == 0 ? e : NULL;
}

void
npm_cache_free(struct npm_cache *c)
{
	struct npm_centry	*e, *dead;

	if (c == NULL)
		return;
	/* readers must be gone: entries still referenced are leaked */
	while ((e = c->head) != NULL)
		if ((dead = cache_unlink(c, e)) != NULL)
			centry_free(dead);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* The linked entry for key, or NULL; under the lock. */
static struct npm_centry *
cache_find(struct npm_cache *c, const char *key, size_t h)
{
	struct npm_centry	*e;

	for (e = c->bucket[h % NPM_BUCKETS]; e != NULL; e = e->hnext)
		if (e->hash == h && strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

static void
lru_front(struct npm_cache *c, struct npm_centry *e)
{
	if (c->head == e)
		return;
	/* out of the list (e is not the head, so it has a prev) */
	e->prev->next = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = NULL;
	e->next = c->head;
	c->head->prev = e;
	c->head = e;
}

const struct npm_cache_entry *
npm_cache_get(struct npm_cache *c, const char *key, time_t now, long ttl)
{
	struct npm_centry	*e, *dead = NULL;
	size_t			 h = key_hash(key);
	double			 age;

	pthread_mutex_lock(&c->mu);
	if ((e = cache_find(c, key, h)) != NULL) {
		age = difftime(now, e->pub.fetched);
		/* fresh for ttl seconds; a clock that jumped back by more
		 * than the TTL also ends it */
		if (ttl <= 0 || age >= (double)ttl || -age > (double)ttl) {
			dead = cache_unlink(c, e);
			e = NULL;
		} else {
			e->refs++;
			lru_front(c, e);
		}
	}
	pthread_mutex_unlock(&c->mu);
	if (dead != NULL)
		centry_free(dead);
	return e != NULL ? &e->pub : NULL;
}

const struct npm_cache_entry *
npm_cache_put(struct npm_cache *c, const char *key,
    const struct npm_cache_entry *src)
{
	struct npm_centry	*e, *old, *dead, *gone = NULL;

	if (src->len > c->max_bytes / 4)
		return NULL;
	e = xcalloc(1, sizeof(*e));
	e->key = xstrdup(key);
	e->ct = xstrdup_null(src->content_type);
	e->etag = xstrdup_null(src->etag);
	e->lm = xstrdup_null(src->last_modified);
	e->prefix = xstrdup(src->prefix != NULL ? src->prefix : "");
	e->body = xmalloc(src->len + 1);
	memcpy(e->body, src->body, src->len);
	e->body[src->len] = '\0';
	e->pub.content_type = e->ct;
	e->pub.etag = e->etag;
	e->pub.last_modified = e->lm;
	e->pub.prefix = e->prefix;
	e->pub.body = e->body;
	e->pub.len = src->len;
	e->pub.fetched = src->fetched;
	e->hash = key_hash(key);
	e->size = src->len + strlen(key) + strlen(e->prefix) + sizeof(*e);
	e->refs = 2;		/* the table's and the caller's */
	e->linked = 1;

	pthread_mutex_lock(&c->mu);
	if ((old = cache_find(c, key, e->hash)) != NULL &&
	    (dead = cache_unlink(c, old)) != NULL) {
		dead->hnext = gone;
		gone = dead;
	}
	e->hnext = c->bucket[e->hash % NPM_BUCKETS];
	c->bucket[e->hash % NPM_BUCKETS] = e;
	e->next = c->head;
	if (c->head != NULL)
		c->head->prev = e;
	c->head = e;
	if (c->tail == NULL)
		c->tail = e;
	c->entries++;
	c->bytes += e->size;
	/* over the cap: the least recently used go (never e itself) */
	while (c->bytes > c->max_bytes && c->tail != e)
		if ((dead = cache_unlink(c, c->tail)) != NULL) {
			dead->hnext = gone;
			gone = dead;
		}
	pthread_mutex_unlock(&c->mu);
	while ((dead = gone) != NULL) {
		gone = dead->hnext;
		centry_free(dead);
	}
	return &e->pub;
}

void
npm_cache_release(struct npm_cache *c, const struct npm_cache_entry *pub)
{
	struct npm_centry	*e;
	int			 last;

	if (pub == NULL)
		return;
	/* pub is the first member of its entry */
	e = (struct npm_centry *)(uintptr_t)pub;
	pthread_mutex_lock(&c->mu);
	last = --e->refs == 0;
	pthread_mutex_unlock(&c->mu);
	if (last)
		centry_free(e);
}

void
npm_cache_usage(struct npm_cache *c, size_t *entries, size_t *bytes)
{
	pthread_mutex_lock(&c->mu);
	*entries = c->entries;
	*bytes = c->bytes;
	pthread_mutex_unlock(&c->mu);
}

static struct npm_cache	*the_cache;
static pthread_once_t	 the_cache_once = PTHREAD_ONCE_INIT;

static void
the_cache_init(void)
{
	the_cache = npm_cache_new(NPM_CACHE_BYTES);
}

struct npm_cache *
npm_doc_cache(void)
{
	pthread_once(&the_cache_once, the_cache_init);
	return the_cache;
}

static npm_fetch_fn	 fetch_hook;

void
npm_doc_set_fetch(npm_fetch_fn fn)
{
	fetch_hook = fn;
}

/* ---------------------------------------------------------------------- */
/* Serving                                                                */

/* Whether s contains word, ASCII case-insensitively. */
static int
contains_ci(const char *s, const char *word)
{
	size_t	 wl = strlen(word);

	for (; *s != '\0'; s++)
		if (strncasecmp(s, word, wl) == 0)
			return 1;
	return 0;
}

/* The non-empty values of a possibly repeated request header. */
static size_t
header_values(const struct gw_request *req, const char *param,
    const char **v, size_t max)
{
	const char	*s;
	size_t		 i, n = 0;

	for (i = 0; n < max && (s = gw_param_nth(req, param, i)) != NULL; i++)
		if (s[0] != '\0')
			v[n++] = s;
	return n;
}

/* Appends "Name: v1, v2" to a header vector, control bytes dropped. */
static void
add_upstream_header(char **hdrs, size_t *nh, const char *name,
    const char *const *v, size_t n)
{
	struct buf	 b = BUF_INIT;
	size_t		 i;
	const char	*s;

	if (n == 0)
		return;
	buf_adds(&b, name);
	buf_adds(&b, ": ");
	for (i = 0; i < n; i++) {
		if (i > 0)
			buf_adds(&b, ", ");
		for (s = v[i]; *s != '\0'; s++)
			if ((unsigned char)*s >= 0x20 && *s != 0x7f)
				buf_addc(&b, *s);
	}
	hdrs[(*nh)++] = buf_steal(&b);
}

/*
 * Whether a conditional request is answered 304 by a document with this
 * ETag and Last-Modified: If-None-Match (any element, §7.6 matching) when
 * present, otherwise If-Modified-Since against Last-Modified (RFC 9110
 * §13.2.2 order).
 */
static int
not_modified(const struct gw_request *req, const char *etag, const char *lm)
{
	const char	*v[NPM_MAXVALS], *ims;
	size_t		 n;
	time_t		 t_lm, t_ims;

	if ((n = header_values(req, "HTTP_IF_NONE_MATCH", v, NPM_MAXVALS)) > 0)
		return etag != NULL && etag_matches(v, n, etag);
	if ((ims = gw_header(req, "HTTP_IF_MODIFIED_SINCE")) == NULL ||
	    lm == NULL)
		return 0;
	t_lm = curl_getdate(lm, NULL);
	t_ims = curl_getdate(ims, NULL);
	return t_lm != -1 && t_ims != -1 && t_lm <= t_ims;
}

/*
 * Writes resp with body[0..len) (gwout.h), flushed.  A client gone away
 * becomes ev->error.
 */
static void
send_resp(const struct gw_request *req, struct gw_response *resp,
    const char *body, size_t len, struct gw_event *ev, struct gw_out *out)
{
	if (gw_out_response(out, req, resp, body, len, 1, ev) != 0 &&
	    ev->error == NULL)
		ev->error = xstrdup("client went away");
}

/* A gateway-made failure (§4.4): 502/504 with its JSON body. */
static void
send_failure(const struct gw_request *req, struct gw_response *resp,
    int status, const char *why, struct gw_event *ev, struct gw_out *out)
{
	resp_clear(resp);
	resp_json(resp, status, status == 504 ? err_timeout : err_unreachable);
	free(ev->error);
	ev->error = xstrdup(why);
	ev->proxied = 0;
	send_resp(req, resp, resp->body.p, resp->body.n, ev, out);
}

/*
 * The answer for a 200 document (fresh from the registry or from the
 * cache): 200 with the body, or 304 when conditional says so.
 */
static void
send_doc(const struct gw_request *req, struct gw_response *resp,
    const char *ct, const char *etag, const char *lm, const char *body,
    size_t len, int conditional, struct gw_event *ev, struct gw_out *out)
{
	char	 num[32];

	resp_clear(resp);
	if (conditional && not_modified(req, etag, lm)) {
		resp->status = 304;
		if (etag != NULL)
			resp_header(resp, "ETag", etag);
		resp_header(resp, "Vary", "Accept");
		send_resp(req, resp, NULL, 0, ev, out);
		return;
	}
	resp->status = 200;
	resp_header(resp, "Content-Type", ct != NULL ? ct : "application/json");
	if (etag != NULL)
		resp_header(resp, "ETag", etag);
	if (lm != NULL)
		resp_header(resp, "Last-Modified", lm);
	resp_header(resp, "Vary", "Accept");
	snprintf(num, sizeof(num), "%zu", len);
	resp_header(resp, "Content-Length", num);
	send_resp(req, resp, body, len, ev, out);
}

void
npm_doc_serve(struct proxy *px, const struct gw_ctx *ctx,
    const struct gw_request *req, struct gw_response *resp,
    struct gw_event *ev, struct gw_out *out)
{
	struct upstream_resp		 up;
	struct npm_cache_entry		 ne;
	const struct npm_cache_entry	*ce = NULL;
	struct npm_cache		*cache = NULL;
	struct buf			 prefix = BUF_INIT;
	struct buf			 key = BUF_INIT, doc = BUF_INIT;
	enum npm_doc_kind		 kind;
	const char			*v[NPM_MAXVALS];
	char				*hdrs[4];
	size_t				 nh = 0, n, i;
	long				 ttl, count;
	int				 abbrev = 0, rc;
	npm_fetch_fn			 fetch;

	memset(&up, 0, sizeof(up));
	resp_clear(resp);
	free(ev->error);
	ev->error = NULL;
	ev->proxied = 0;
	ev->bytes = 0;
	if (resp->upstream == NULL) {
		send_failure(req, resp, 502, "no upstream URL", ev, out);
		goto done;
	}

	kind = resp->npm_kind;
	npm_doc_prefix(&prefix, req->scheme, req->authority,
	    resp->npm_name != NULL ? resp->npm_name : "");
	n = header_values(req, "HTTP_ACCEPT", v, NPM_MAXVALS);
	for (i = 0; i < n; i++)
		if (contains_ci(v[i], NPM_CT_CORGI))
			abbrev = 1;
	add_upstream_header(hdrs, &nh, "Accept", v, n);
	ttl = ctx->manifest != NULL ? ctx->manifest->npm_cache_ttl : 0;

	if (ttl > 0) {
		cache = npm_doc_cache();
		buf_printf(&key, "%c %s", abbrev ? 'a' : 'f', resp->upstream);
		ce = npm_cache_get(cache, key.p, ctx->now, ttl);
		event_str(ev, "cache", ce != NULL ? "hit" : "miss");
		if (ctx->stats != NULL)
			atomic_fetch_add(ce != NULL ?
			    &ctx->stats->npm_cache_hits :
			    &ctx->stats->npm_cache_misses, 1);
		if (ce != NULL) {
			ev->proxied = 1;
			if (strcmp(ce->prefix, prefix.p) == 0)
				send_doc(req, resp, ce->content_type, ce->etag,
				    ce->last_modified, ce->body, ce->len, 1,
				    ev, out);
			else {
				/* another host with the same registry: the
				 * cached tarball URLs are rewritten again */
				npm_rewrite_tarballs(ce->body, ce->len,
				    prefix.p, kind, &doc);
				send_doc(req, resp, ce->content_type, ce->etag,
				    ce->last_modified, doc.p, doc.n, 1, ev,
				    out);
			}
			npm_cache_release(cache, ce);
			goto done;
		}
	} else {
		/* without a cache the registry answers the conditional */
		event_raw(ev, "cache", "null");
		n = header_values(req, "HTTP_IF_NONE_MATCH", v, NPM_MAXVALS);
		add_upstream_header(hdrs, &nh, "If-None-Match", v, n);
		n = header_values(req, "HTTP_IF_MODIFIED_SINCE", v, 1);
		add_upstream_header(hdrs, &nh, "If-Modified-Since", v, n);
	}
	hdrs[nh] = NULL;

	fetch = fetch_hook != NULL ? fetch_hook : proxy_fetch_scoped;
	rc = fetch(px, resp->upstream, resp->upstream_scope, hdrs,
	    NPM_DOC_MAXBODY, &up);
	if (rc == -1) {
		switch (up.err) {
		case UP_TIMEOUT:
			if (ctx->stats != NULL)
				atomic_fetch_add(&ctx->stats->upstream_timeouts,
				    1);
			send_failure(req, resp, 504,
			    "upstream registry timed out", ev, out);
			break;
		case UP_TOO_BIG:
			send_failure(req, resp, 502,
			    "upstream document over 64 MiB", ev, out);
			break;
		case UP_PROTOCOL:
			send_failure(req, resp, 502,
			    "upstream protocol error", ev, out);
			break;
		case UP_CONNECT:
		case UP_OK:
		default:
			if (ctx->stats != NULL)
				atomic_fetch_add(
				    &ctx->stats->upstream_connect_errors, 1);
			send_failure(req, resp, 502,
			    "upstream registry unreachable", ev, out);
			break;
		}
		goto done;
	}

	if (up.location != NULL) {
		/*
		 * A redirect the proxy does not follow (another host, port or
		 * scheme, or outside the registry's path: proxy.c,
		 * "Redirects"): the client gets it as a 307, as docker
		 * clients do.  npm follows it (make-fetch-happen, without
		 * its Authorization when the host changes); the document is
		 * then the registry's own, tarball URLs not rewritten.
		 */
		ev->proxied = 1;
		resp_clear(resp);
		resp->status = 307;
		resp_header(resp, "Location", up.location);
		free(ev->location);
		ev->location = xstrdup(up.location);
		send_resp(req, resp, NULL, 0, ev, out);
	} else if (up.status == 200) {
		count = npm_rewrite_tarballs(up.body.p != NULL ? up.body.p :
		    "", up.body.n, prefix.p, kind, &doc);
		if (count < 0) {
			send_failure(req, resp, 502,
			    "upstream document is not JSON", ev, out);
			goto done;
		}
		ev->proxied = 1;
		if (cache != NULL) {
			memset(&ne, 0, sizeof(ne));
			ne.content_type = up.content_type;
			ne.etag = up.etag;
			ne.last_modified = up.last_modified;
			ne.prefix = prefix.p;
			ne.body = buf_cstr(&doc);
			ne.len = doc.n;
			ne.fetched = ctx->now;
			npm_cache_release(cache, npm_cache_put(cache, key.p,
			    &ne));
		}
		/* with a cache the conditional was not sent upstream */
		send_doc(req, resp, up.content_type, up.etag,
		    up.last_modified, buf_cstr(&doc), doc.n, cache != NULL, ev,
		    out);
	} else if (up.status == 304) {
		ev->proxied = 1;
		resp_clear(resp);
		resp->status = 304;
		if (up.etag != NULL)
			resp_header(resp, "ETag", up.etag);
		resp_header(resp, "Vary", "Accept");
		send_resp(req, resp, NULL, 0, ev, out);
	} else {
		/* other statuses pass on with their body and type */
		ev->proxied = 1;
		resp_clear(resp);
		resp->status = up.status;
		if (up.content_type != NULL)
			resp_header(resp, "Content-Type", up.content_type);
		buf_add(&resp->body, up.body.p != NULL ? up.body.p : "",
		    up.body.n);
		send_resp(req, resp, resp->body.p, resp->body.n, ev, out);
	}
done:
	for (i = 0; i < nh; i++)
		free(hdrs[i]);
	upstream_resp_free(&up);
	buf_free(&prefix);
	buf_free(&key);
	buf_free(&doc);
}
