/*
 * The report's reading of one event line (SPEC §13) and the one definition
 * of what each event counts as (README, "What counts as a download").
 *
 * The parser is a single pass over the line that picks out the keys the
 * report uses and skips the rest without building a tree: the log is read
 * at hundreds of thousands of lines a second, and a DOM parser spends most
 * of its time allocating nodes for keys nobody asked for.  Strings without
 * escapes are returned as slices of the line itself; escaped ones are
 * decoded into a scratch buffer that is sized once per line, so no slice
 * moves while the line is parsed.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "revent.h"
#include "xmalloc.h"

#define MAX_DEPTH	32	/* nesting the skipper follows */

static const char *const type_names[RT__COUNT] = {
	"none", "docker", "npm", "file", "python", "pixel", "telemetry",
	"catch-all", "reserved",
};

static const char *const bad_names[RB__COUNT] = {
	"ok", "not JSON", "wrong type", "missing key", "unknown type",
	"truncated", "too long",
};

static const char *const kind_names[RK__COUNT] = {
	"download", "view", "check", "follow", "blob", "hit", "error", "other",
};

const char *
report_bad_name(enum rbad b)
{
	return (unsigned)b < RB__COUNT ? bad_names[b] : "?";
}

const char *
report_kind_name(enum rkind k)
{
	return (unsigned)k < RK__COUNT ? kind_names[k] : "?";
}

void
report_parser_init(struct rparser *p)
{
	memset(p, 0, sizeof(*p));
}

void
report_parser_free(struct rparser *p)
{
	free(p->scratch);
	memset(p, 0, sizeof(*p));
}

/* ------------------------------------------------------------------ */
/* Scanning                                                             */

struct scan {
	const char	*s;
	size_t		 n, i;
	struct rparser	*p;
};

static void
ws(struct scan *c)
{
	while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t' ||
	    c->s[c->i] == '\r' || c->s[c->i] == '\n'))
		c->i++;
}

static int
hex4(const char *s, unsigned *out)
{
	unsigned	 v = 0;
	int		 k, d;

	for (k = 0; k < 4; k++) {
		d = s[k];
		if (d >= '0' && d <= '9')
			d -= '0';
		else if (d >= 'a' && d <= 'f')
			d -= 'a' - 10;
		else if (d >= 'A' && d <= 'F')
			d -= 'A' - 10;
		else
			return -1;
		v = v << 4 | (unsigned)d;
	}
	*out = v;
	return 0;
}

static size_t
put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * A string starting at the opening quote.  With out, its decoded value
 * (a slice of the line when it has no escapes, else of the scratch
 * buffer).  A lone surrogate or \u0000 becomes U+FFFD: the report never
 * prints a NUL, and the gateway never writes either.  Raw control bytes
 * are not JSON.  Returns 0 or -1.
 */
static int
str(struct scan *c, struct rslice *out)
{
	const char	*s = c->s;
	size_t		 i = c->i + 1, start = i;
	char		*o;
	unsigned	 cp, lo;

	for (; i < c->n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			break;
		if ((unsigned char)s[i] < 0x20)
			return -1;
	}
	if (i >= c->n)
		return -1;
	if (s[i] == '"') {
		if (out != NULL) {
			out->p = s + start;
			out->n = i - start;
		}
		c->i = i + 1;
		return 0;
	}
	/* escapes: decode from the start into the scratch buffer */
	o = c->p->scratch + c->p->used;
	memcpy(o, s + start, i - start);
	o += i - start;
	while (i < c->n && s[i] != '"') {
		if ((unsigned char)s[i] < 0x20)
			return -1;
		if (s[i] != '\\') {
			*o++ = s[i++];
			continue;
		}
		if (++i >= c->n)
			return -1;
		switch (s[i]) {
		case '"': case '\\': case '/':
			*o++ = s[i++];
			continue;
		case 'b': *o++ = '\b'; i++; continue;
		case 'f': *o++ = '\f'; i++; continue;
		case 'n': *o++ = '\n'; i++; continue;
		case 'r': *o++ = '\r'; i++; continue;
		case 't': *o++ = '\t'; i++; continue;
		case 'u':
			break;
		default:
			return -1;
		}
		if (i + 5 > c->n || hex4(s + i + 1, &cp) == -1)
			return -1;
		i += 5;
		if (cp >= 0xd800 && cp < 0xdc00 && i + 6 <= c->n &&
		    s[i] == '\\' && s[i + 1] == 'u' &&
		    hex4(s + i + 2, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			i += 6;
		} else if ((cp >= 0xd800 && cp < 0xe000) || cp == 0)
			cp = 0xfffd;
		o += put_utf8(o, cp);
	}
	if (i >= c->n)
		return -1;
	if (out != NULL) {
		out->p = c->p->scratch + c->p->used;
		out->n = (size_t)(o - out->p);
		c->p->used += out->n;
	}
	c->i = i + 1;
	return 0;
}

/* A JSON number; *iv its value when it is an integer that fits. */
static int
num(struct scan *c, long long *iv, int *is_int)
{
	const char	*s = c->s;
	size_t		 i = c->i;
	long long	 v = 0;
	int		 neg = 0, big = 0, integral = 1;

	if (i < c->n && s[i] == '-') {
		neg = 1;
		i++;
	}
	if (i >= c->n || s[i] < '0' || s[i] > '9')
		return -1;
	if (s[i] == '0' && i + 1 < c->n && s[i + 1] >= '0' && s[i + 1] <= '9')
		return -1;
	for (; i < c->n && s[i] >= '0' && s[i] <= '9'; i++) {
		if (v > (0x7fffffffffffffffLL - 9) / 10)
			big = 1;
		else
			v = v * 10 + (s[i] - '0');
	}
	if (i < c->n && s[i] == '.') {
		integral = 0;
		if (++i >= c->n || s[i] < '0' || s[i] > '9')
			return -1;
		while (i < c->n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if (i < c->n && (s[i] == 'e' || s[i] == 'E')) {
		integral = 0;
		i++;
		if (i < c->n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= c->n || s[i] < '0' || s[i] > '9')
			return -1;
		while (i < c->n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	c->i = i;
	if (iv != NULL)
		*iv = neg ? -v : v;
	if (is_int != NULL)
		*is_int = integral && !big;
	return 0;
}

static int
lit(struct scan *c, const char *w)
{
	size_t	 n = strlen(w);

	if (c->n - c->i < n || memcmp(c->s + c->i, w, n) != 0)
		return -1;
	c->i += n;
	return 0;
}

/* Skips one value of any kind, checking its syntax. */
static int
skip(struct scan *c, int depth)
{
	char	 close;

	ws(c);
	if (c->i >= c->n)
		return -1;
	switch (c->s[c->i]) {
	case '"':
		return str(c, NULL);
	case 't':
		return lit(c, "true");
	case 'f':
		return lit(c, "false");
	case 'n':
		return lit(c, "null");
	case '{':
	case '[':
		break;
	default:
		return num(c, NULL, NULL);
	}
	if (depth >= MAX_DEPTH)
		return -1;
	close = c->s[c->i] == '{' ? '}' : ']';
	c->i++;
	ws(c);
	if (c->i < c->n && c->s[c->i] == close) {
		c->i++;
		return 0;
	}
	for (;;) {
		ws(c);
		if (close == '}') {
			if (c->i >= c->n || c->s[c->i] != '"' ||
			    str(c, NULL) == -1)
				return -1;
			ws(c);
			if (c->i >= c->n || c->s[c->i] != ':')
				return -1;
			c->i++;
		}
		if (skip(c, depth + 1) == -1)
			return -1;
		ws(c);
		if (c->i >= c->n)
			return -1;
		if (c->s[c->i] == ',') {
			c->i++;
			continue;
		}
		if (c->s[c->i] != close)
			return -1;
		c->i++;
		return 0;
	}
}

/* ------------------------------------------------------------------ */
/* Values of known keys                                                 */

/* A string or null.  Returns RB_OK, RB_NOT_JSON or RB_WRONG_TYPE. */
static enum rbad
opt_str(struct scan *c, struct rslice *out)
{
	ws(c);
	if (c->i < c->n && c->s[c->i] == '"')
		return str(c, out) == 0 ? RB_OK : RB_NOT_JSON;
	if (c->i < c->n && c->s[c->i] == 'n') {
		out->p = NULL;
		out->n = 0;
		return lit(c, "null") == 0 ? RB_OK : RB_NOT_JSON;
	}
	return skip(c, 0) == 0 ? RB_WRONG_TYPE : RB_NOT_JSON;
}

static enum rbad
int_val(struct scan *c, long long *out)
{
	int	 is_int;

	ws(c);
	if (c->i < c->n && (c->s[c->i] == '-' ||
	    (c->s[c->i] >= '0' && c->s[c->i] <= '9'))) {
		if (num(c, out, &is_int) == -1)
			return RB_NOT_JSON;
		return is_int ? RB_OK : RB_WRONG_TYPE;
	}
	return skip(c, 0) == 0 ? RB_WRONG_TYPE : RB_NOT_JSON;
}

/* "variables" (file rules): an object whose "version" the report uses. */
static enum rbad
variables(struct scan *c, struct rslice *version)
{
	struct rslice	 k;

	ws(c);
	if (c->i >= c->n)
		return RB_NOT_JSON;
	if (c->s[c->i] != '{')
		return skip(c, 0) == 0 ? RB_OK : RB_NOT_JSON;
	c->i++;
	ws(c);
	if (c->i < c->n && c->s[c->i] == '}') {
		c->i++;
		return RB_OK;
	}
	for (;;) {
		ws(c);
		if (c->i >= c->n || c->s[c->i] != '"' || str(c, &k) == -1)
			return RB_NOT_JSON;
		ws(c);
		if (c->i >= c->n || c->s[c->i] != ':')
			return RB_NOT_JSON;
		c->i++;
		ws(c);
		if (k.n == 7 && memcmp(k.p, "version", 7) == 0 &&
		    c->i < c->n && c->s[c->i] == '"') {
			if (str(c, version) == -1)
				return RB_NOT_JSON;
		} else if (skip(c, 1) == -1)
			return RB_NOT_JSON;
		ws(c);
		if (c->i >= c->n)
			return RB_NOT_JSON;
		if (c->s[c->i] == ',') {
			c->i++;
			continue;
		}
		if (c->s[c->i] != '}')
			return RB_NOT_JSON;
		c->i++;
		return RB_OK;
	}
}

static int
dig2(const char *s)
{
	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
		return -1;
	return (s[0] - '0') * 10 + (s[1] - '0');
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
long long
report_days_from_civil(long long y, unsigned m, unsigned d)
{
	long long	 era;
	unsigned	 yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long long)doe - 719468;
}

/*
 * "YYYY-MM-DDTHH:MM:SS[.fff…]Z" (SPEC §13; "+00:00" accepted too) to ms
 * since the epoch.  Returns -1 when it is not such a time.
 */
static int
parse_time(const char *s, size_t n, long long *ms)
{
	int		 y1, y2, mo, d, h, mi, se, frac = 0, k;
	size_t		 i;

	if (n < 20 || s[4] != '-' || s[7] != '-' ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    s[13] != ':' || s[16] != ':')
		return -1;
	if ((y1 = dig2(s)) < 0 || (y2 = dig2(s + 2)) < 0 ||
	    (mo = dig2(s + 5)) < 1 || mo > 12 || (d = dig2(s + 8)) < 1 ||
	    d > 31 || (h = dig2(s + 11)) < 0 || h > 23 ||
	    (mi = dig2(s + 14)) < 0 || mi > 59 || (se = dig2(s + 17)) < 0 ||
	    se > 60)
		return -1;
	i = 19;
	if (s[i] == '.') {
		for (i++, k = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++, k++)
			if (k < 3)
				frac = frac * 10 + (s[i] - '0');
		if (k == 0)
			return -1;
		for (; k < 3; k++)
			frac *= 10;
	}
	if (!((i + 1 == n && (s[i] == 'Z' || s[i] == 'z')) ||
	    (i + 6 == n && memcmp(s + i, "+00:00", 6) == 0)))
		return -1;
	*ms = ((report_days_from_civil(y1 * 100 + y2, (unsigned)mo, (unsigned)d) *
	    86400 + h * 3600 + mi * 60 + se) * 1000) + frac;
	return 0;
}

static int
key_is(const struct rslice *k, const char *w, size_t n)
{
	return k->n == n && memcmp(k->p, w, n) == 0;
}
#define KEY(k, lit)	key_is((k), (lit), sizeof(lit) - 1)

/* The value of key k, stored in ev when the report uses it. */
static enum rbad
field(struct scan *c, const struct rslice *k, struct revent *ev,
    int *seen)
{
	struct rslice	 t;
	long long	 v;
	enum rbad	 r;
	int		 i;

	switch (k->n) {
	case 4:
		if (KEY(k, "time")) {
			if ((r = opt_str(c, &t)) != RB_OK)
				return r;
			if (t.p == NULL || parse_time(t.p, t.n, &ev->time_ms))
				return RB_WRONG_TYPE;
			*seen |= 1;
			return RB_OK;
		}
		if (KEY(k, "host"))
			return opt_str(c, &ev->host);
		if (KEY(k, "path"))
			return opt_str(c, &ev->path);
		if (KEY(k, "type")) {
			if ((r = opt_str(c, &t)) != RB_OK)
				return r;
			if (t.p == NULL)
				return RB_WRONG_TYPE;
			for (i = 0; i < RT__COUNT; i++)
				if (strlen(type_names[i]) == t.n &&
				    memcmp(type_names[i], t.p, t.n) == 0)
					break;
			if (i == RT__COUNT)
				return RB_UNKNOWN_TYPE;
			ev->type = (enum rtype)i;
			*seen |= 4;
			return RB_OK;
		}
		break;
	case 5:
		if (KEY(k, "bytes")) {
			if ((r = int_val(c, &v)) != RB_OK)
				return r;
			ev->bytes = v < 0 ? 0 : v;
			return RB_OK;
		}
		if (KEY(k, "image"))
			return opt_str(c, &ev->image);
		break;
	case 6:
		if (KEY(k, "method"))
			return opt_str(c, &ev->method);
		if (KEY(k, "status")) {
			if ((r = int_val(c, &v)) != RB_OK)
				return r;
			if (v < 100 || v > 999)
				return RB_WRONG_TYPE;
			ev->status = (int)v;
			*seen |= 2;
			return RB_OK;
		}
		break;
	case 7:
		if (KEY(k, "referer"))
			return opt_str(c, &ev->referer);
		if (KEY(k, "package"))
			return opt_str(c, &ev->package);
		if (KEY(k, "version"))
			return opt_str(c, &ev->version);
		if (KEY(k, "proxied")) {
			ws(c);
			if (lit(c, "true") == 0)
				ev->proxied = 1;
			else if (lit(c, "false") == 0)
				ev->proxied = 0;
			else
				return skip(c, 0) == 0 ? RB_WRONG_TYPE :
				    RB_NOT_JSON;
			return RB_OK;
		}
		break;
	case 9:
		if (KEY(k, "client-ip"))
			return opt_str(c, &ev->client_ip);
		if (KEY(k, "reference"))
			return opt_str(c, &ev->reference);
		if (KEY(k, "file-name"))
			return opt_str(c, &ev->file_name);
		if (KEY(k, "variables"))
			return variables(c, &ev->var_version);
		break;
	case 10:
		if (KEY(k, "package-id"))
			return opt_str(c, &ev->package_id);
		if (KEY(k, "user-agent"))
			return opt_str(c, &ev->user_agent);
		break;
	}
	return skip(c, 0) == 0 ? RB_OK : RB_NOT_JSON;
}

enum rbad
report_parse_line(struct rparser *p, const char *s, size_t n,
    struct revent *ev)
{
	struct scan	 c = { s, n, 0, p };
	struct rslice	 k;
	enum rbad	 r, wrong = RB_OK;
	int		 seen = 0;

	memset(ev, 0, sizeof(*ev));
	/* decoded strings never outgrow their escaped form */
	if (p->cap < n + 1) {
		free(p->scratch);
		p->cap = n + 1 > 256 ? n + 1 : 256;
		p->scratch = xmalloc(p->cap);
	}
	p->used = 0;
	ws(&c);
	if (c.i >= n || s[c.i] != '{')
		return RB_NOT_JSON;
	c.i++;
	ws(&c);
	if (c.i < n && s[c.i] == '}') {
		c.i++;
		goto end;
	}
	for (;;) {
		ws(&c);
		if (c.i >= n || s[c.i] != '"' || str(&c, &k) == -1)
			return RB_NOT_JSON;
		ws(&c);
		if (c.i >= n || s[c.i] != ':')
			return RB_NOT_JSON;
		c.i++;
		/* a wrong type is only reported once the line is known to
		 * be JSON: a truncated line is "not JSON" whatever came
		 * before */
		r = field(&c, &k, ev, &seen);
		if (r == RB_NOT_JSON)
			return r;
		if (r != RB_OK && wrong == RB_OK)
			wrong = r;
		ws(&c);
		if (c.i >= n)
			return RB_NOT_JSON;
		if (s[c.i] == ',') {
			c.i++;
			continue;
		}
		if (s[c.i] != '}')
			return RB_NOT_JSON;
		c.i++;
		break;
	}
end:
	ws(&c);
	if (c.i != n)
		return RB_NOT_JSON;
	if (wrong != RB_OK)
		return wrong;
	if (seen != 7)
		return RB_MISSING;
	return RB_OK;
}

/* ------------------------------------------------------------------ */
/* What counts                                                          */

static int
slice_is(const struct rslice *s, const char *w)
{
	return s->p != NULL && s->n == strlen(w) && memcmp(s->p, w, s->n) == 0;
}

/*
 * The single definition of a download (README, "What counts as a
 * download"); report.c counts whatever this returns.
 *
 * - Any 4xx/5xx is an error, never a download; 1xx is "other".
 * - HEAD of anything is a check (nothing was transferred).
 * - docker: GET /v2/<name>/manifests/<ref> is a download; a pull by tag
 *   whose manifest is then fetched by digest is merged into one download
 *   by report.c ("pull attribution"), which is why *is_digest is returned.
 *   Blobs are layers of a pull already counted.
 * - python: a distribution file is a download; its PEP 658 ".metadata"
 *   and every index page are views.
 * - npm: a tarball (file-name set) is a download, a packument a view.
 * - file: every matched file rule answer is a download.
 * - pixel and telemetry: hits, counted on their own.
 */
enum rkind
report_classify(const struct revent *ev, int *is_manifest, int *is_digest)
{
	const char	*p, *seg[3];
	size_t		 n, i, len[3];
	int		 k;

	*is_manifest = 0;
	*is_digest = 0;
	if (ev->status >= 400)
		return RK_ERROR;
	if (ev->status < 200)
		return RK_OTHER;
	switch (ev->type) {
	case RT_DOCKER:
		/* the last two path segments: manifests|blobs, reference */
		if ((p = ev->path.p) == NULL || ev->path.n < 4 ||
		    memcmp(p, "/v2/", 4) != 0)
			return RK_OTHER;
		n = ev->path.n;
		for (k = 0; k < 3 && n > 0; k++) {
			for (i = n; i > 0 && p[i - 1] != '/'; i--)
				;
			seg[k] = p + i;
			len[k] = n - i;
			n = i > 0 ? i - 1 : 0;
		}
		if (k < 3 || len[0] == 0)
			return RK_OTHER;
		if (len[1] == 5 && memcmp(seg[1], "blobs", 5) == 0)
			return slice_is(&ev->method, "HEAD") ? RK_CHECK :
			    RK_BLOB;
		if (len[1] != 9 || memcmp(seg[1], "manifests", 9) != 0)
			return RK_OTHER;
		*is_manifest = 1;
		*is_digest = memchr(seg[0], ':', len[0]) != NULL;
		if (slice_is(&ev->method, "HEAD"))
			return RK_CHECK;
		return slice_is(&ev->method, "GET") ? RK_DOWNLOAD : RK_OTHER;
	case RT_PYTHON:
		if (slice_is(&ev->method, "HEAD"))
			return RK_CHECK;
		if (ev->file_name.p == NULL || ev->file_name.n == 0)
			return RK_VIEW;
		if (ev->path.n >= 9 && memcmp(ev->path.p + ev->path.n - 9,
		    ".metadata", 9) == 0 && !(ev->file_name.n >= 9 &&
		    memcmp(ev->file_name.p + ev->file_name.n - 9,
		    ".metadata", 9) == 0))
			return RK_VIEW;
		return RK_DOWNLOAD;
	case RT_NPM:
		if (slice_is(&ev->method, "HEAD"))
			return RK_CHECK;
		if (ev->file_name.p != NULL && ev->file_name.n > 0)
			return RK_DOWNLOAD;
		return ev->package.p != NULL ? RK_VIEW : RK_OTHER;
	case RT_FILE:
		return slice_is(&ev->method, "HEAD") ? RK_CHECK : RK_DOWNLOAD;
	case RT_PIXEL:
	case RT_TELEMETRY:
		return RK_HIT;
	default:
		return RK_OTHER;
	}
}
