/*
 * Unit tests for common/tmpl.c (URI templates, SPEC §5) and
 * common/filerule.c (file-v1 / file-v2 handlers, query forwarding, body
 * events).  Table-driven; every row carries its own __LINE__.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "filerule.h"
#include "gateway.h"
#include "manifest.h"
#include "ruletype.h"
#include "tmpl.h"
#include "util.h"
#include "xmalloc.h"

#include "../tap.h"

/* ------------------------------------------------------------------ */
/* tmpl_parse errors (§5.1) */

static const struct {
	int		 line;
	const char	*src;
	const char	*err;		/* NULL: parses */
} parse_rows[] = {
	{ __LINE__, "/a/{b}", NULL },
	{ __LINE__, "", NULL },
	{ __LINE__, "/{a.b}/{a%20b}/{c*}/{d:9999}", NULL },
	{ __LINE__, "{+a,b:3,c*}{#x}{.x}{/x}{;x}{?x}{&x}", NULL },
	{ __LINE__, "/caf\xc3\xa9/%2f%2F", NULL },
	{ __LINE__, "https://x.example/a?b=c&d=e#f!$()*+,;=:@[]~", NULL },
	{ __LINE__, "/a/{b", "unclosed expression at offset 3" },
	{ __LINE__, "/a/{", "unclosed expression at offset 3" },
	{ __LINE__, "/a/{b,", "unclosed expression at offset 3" },
	{ __LINE__, "/a}", "unmatched '}' at offset 2" },
	{ __LINE__, "/a b", "invalid character 0x20 at offset 2" },
	{ __LINE__, "/a\"b", "invalid character '\"' at offset 2" },
	{ __LINE__, "/a|b", "invalid character '|' at offset 2" },
	{ __LINE__, "/a'b", "invalid character ''' at offset 2" },
	{ __LINE__, "/a%2", "invalid percent-encoding at offset 2" },
	{ __LINE__, "/a%zz", "invalid percent-encoding at offset 2" },
	{ __LINE__, "/\xff", "invalid UTF-8 at offset 1" },
	{ __LINE__, "/\xc3", "invalid UTF-8 at offset 1" },
	{ __LINE__, "/{=x}", "reserved operator '=' at offset 2" },
	{ __LINE__, "/{,x}", "reserved operator ',' at offset 2" },
	{ __LINE__, "/{!x}", "reserved operator '!' at offset 2" },
	{ __LINE__, "/{@x}", "reserved operator '@' at offset 2" },
	{ __LINE__, "/{|x}", "reserved operator '|' at offset 2" },
	{ __LINE__, "/{}", "empty expression at offset 1" },
	{ __LINE__, "/{+}", "empty expression at offset 1" },
	{ __LINE__, "/{a,}", "invalid variable name at offset 4" },
	{ __LINE__, "/{-a}", "invalid variable name at offset 2" },
	{ __LINE__, "/{a%2}", "invalid percent-encoding at offset 3" },
	{ __LINE__, "/{a b}",
	    "invalid character 0x20 in expression at offset 3" },
	{ __LINE__, "/{a.}",
	    "invalid character '.' in expression at offset 3" },
	{ __LINE__, "/{a:0}",
	    "invalid prefix length at offset 4 (1 to 9999)" },
	{ __LINE__, "/{a:}",
	    "invalid prefix length at offset 4 (1 to 9999)" },
	{ __LINE__, "/{a:10000}",
	    "invalid prefix length at offset 4 (1 to 9999)" },
	{ __LINE__, "/{a:01}",
	    "invalid prefix length at offset 4 (1 to 9999)" },
	{ __LINE__, "/{a*:3}",
	    "invalid character ':' in expression at offset 4" },
};

static void
test_parse(void)
{
	struct tmpl	*t;
	char		 err[128];
	size_t		 i;
	int		 r;

	for (i = 0; i < sizeof(parse_rows) / sizeof(parse_rows[0]); i++) {
		err[0] = '\0';
		r = tmpl_parse(parse_rows[i].src, &t, err, sizeof(err));
		is_int_at(parse_rows[i].line, r, parse_rows[i].err ? -1 : 0,
		    "parse '%s' result", parse_rows[i].src);
		if (parse_rows[i].err != NULL) {
			is_str_at(parse_rows[i].line, err, parse_rows[i].err,
			    "parse '%s' message", parse_rows[i].src);
			ok_at(parse_rows[i].line, t == NULL, "no template");
		}
		tmpl_free(t);
	}
}

static void
test_limits(void)
{
	struct buf	 b = BUF_INIT;
	struct tmpl	*t;
	char		 err[128];
	int		 i;

	for (i = 0; i < 33; i++)
		buf_printf(&b, "/{v%d}", i);
	is_int(tmpl_parse(buf_cstr(&b), &t, err, sizeof(err)), -1,
	    "33 variable names");
	is_str(err, "too many variable names (max 32)", "33 names message");
	buf_reset(&b);
	for (i = 0; i < 129; i++)
		buf_adds(&b, "/{v}");
	is_int(tmpl_parse(buf_cstr(&b), &t, err, sizeof(err)), -1,
	    "129 expressions");
	is_str(err, "too many expressions (max 128)", "129 exprs message");
	buf_free(&b);

	is_int(tmpl_parse("/x/{a}/{b}", &t, err, sizeof(err)), 0, "parse");
	ok(tmpl_has_exprs(t), "has expressions");
	ok(tmpl_uses(t, "a") && tmpl_uses(t, "b") && !tmpl_uses(t, "c"),
	    "tmpl_uses");
	tmpl_free(t);
	is_int(tmpl_parse("https://x/", &t, err, sizeof(err)), 0, "parse");
	ok(!tmpl_has_exprs(t), "no expressions");
	tmpl_free(t);
}

/* ------------------------------------------------------------------ */
/* tmpl_match (§5.2) */

static const struct {
	int		 line;
	const char	*tmpl;
	const char	*path;
	const char	*query;
	const char	*vars;		/* "a=x|b=y" in template order; NULL:
					 * no match */
} match_rows[] = {
	/* §5.2 examples and conformance cases 051-053 */
	{ __LINE__, "/{package}-{os}-{arch}", "/minikube-linux-amd64-hallo", "",
	    "package=minikube|os=linux|arch=amd64-hallo" },
	{ __LINE__, "/{package}-{os}-{arch}", "/minikube-linux", "", NULL },
	{ __LINE__, "/{package}-{version}.{ext}", "/minikube-1.0.tar.gz", "",
	    "package=minikube|version=1|ext=0.tar.gz" },
	{ __LINE__, "/{+path}", "/a%2Fb", "", "path=a/b" },
	{ __LINE__, "/{+path}", "/some-nice-path/very-nice/really+nice", "",
	    "path=some-nice-path/very-nice/really+nice" },
	{ __LINE__, "/some-nice-path/very-nice/{+variable}",
	    "/some-nice-path/very-nice/really+nice", "",
	    "variable=really+nice" },
	{ __LINE__, "/{+path}", "/blah/blah", "prefix=foo", "path=blah/blah" },
	{ __LINE__, "/{+path}", "/a%2541", "", "path=a%41" },
	{ __LINE__, "/{a}/{b}", "/api/data", "", "a=api|b=data" },
	{ __LINE__, "/some-nice-path/{var1}", "/some-nice-path", "", NULL },
	{ __LINE__, "/some-nice-path", "/some-nice-path", "", "" },
	{ __LINE__, "/some-nice-path", "/some-bad-path", "", NULL },
	{ __LINE__, "/data/{x}", "/data/xxx", "drilldowns=Nation", "x=xxx" },
	{ __LINE__, "/avisstoragebox/{platform}/{version}",
	    "/avisstoragebox/darwin/1.0", "", "platform=darwin|version=1.0" },
	{ __LINE__, "/dl/{+file}", "/dl/a%0D%0ASet-Cookie:%20evil=1", "",
	    "file=a\r\nSet-Cookie: evil=1" },
	/* operators: only their characters, or triplets */
	{ __LINE__, "/{path}", "/a/b", "", NULL },
	{ __LINE__, "/{path}", "/a+b", "", NULL },
	{ __LINE__, "/{path}", "/a%2Bb", "", "path=a+b" },
	{ __LINE__, "/{+path}", "/a|b", "", NULL },
	{ __LINE__, "/{a}", "/", "", "a=" },
	{ __LINE__, "/{a,b}", "/1,2", "", "a=1|b=2" },
	{ __LINE__, "/{a,b}", "/,2", "", "a=|b=2" },
	{ __LINE__, "/{a,b}", "/12", "", "a=12" },
	{ __LINE__, "/{+a,b}", "/x,y", "", "a=x|b=y" },
	{ __LINE__, "/{a}{b}", "/xy", "", "a=x|b=y" },
	{ __LINE__, "/a{/b}", "/a/x", "", "b=x" },
	{ __LINE__, "/a{/b}", "/a", "", "" },
	{ __LINE__, "/a{/b}", "/a/", "", "b=" },
	{ __LINE__, "/a{/b,c}", "/a/x/y", "", "b=x|c=y" },
	{ __LINE__, "{/a,b}", "/x", "", "a=x" },
	{ __LINE__, "/a{/b}/c", "/a/c", "", "" },
	{ __LINE__, "/f{.ext}", "/f.tar.gz", "", "ext=tar.gz" },
	{ __LINE__, "/f{.a,b}", "/f.tar.gz", "", "a=tar|b=gz" },
	{ __LINE__, "/a{;x,y}", "/a;x=1;y=2", "", "x=1|y=2" },
	{ __LINE__, "/a{;x,y}", "/a;y=2", "", "y=2" },
	{ __LINE__, "/a{;x}", "/a;x", "", "x=" },
	{ __LINE__, "/a{;x}", "/a;x=", "", "x=" },
	{ __LINE__, "/a{;x}", "/a;z=1", "", NULL },
	{ __LINE__, "/a{#f}", "/a#b", "", "f=b" },
	{ __LINE__, "/x{&a}", "/x&a=1", "", "a=1" },
	{ __LINE__, "/x{&a}", "/x&a", "", NULL },
	/* prefix and explode modifiers */
	{ __LINE__, "/{a:2}{b}", "/abcd", "", "a=a|b=bcd" },
	{ __LINE__, "/{a:2}-{b}", "/abc-d", "", NULL },
	{ __LINE__, "/{a:2}-{b}", "/ab-d", "", "a=ab|b=d" },
	{ __LINE__, "/{a:1}-", "/%C3%A9-", "", "a=\xc3\xa9" },
	{ __LINE__, "/{a*}x", "/x", "", "" },
	{ __LINE__, "/{a*}x", "/yx", "", NULL },
	/* decoding, UTF-8, literal encodings */
	{ __LINE__, "/x/{v}", "/x/%C3%A9", "", "v=\xc3\xa9" },
	{ __LINE__, "/x/{v}", "/x/%c3%a9", "", "v=\xc3\xa9" },
	{ __LINE__, "/x/{v}", "/x/%C3", "", NULL },
	{ __LINE__, "/x/{v}", "/x/%FF", "", NULL },
	{ __LINE__, "/x/{v}", "/x/%ED%A0%80", "", NULL },
	{ __LINE__, "/x/{v}", "/x/\xc3\xa9", "", NULL },
	{ __LINE__, "/{+v}", "/a/\xc3\xa9", "", NULL },
	{ __LINE__, "/x/{v}-{w}", "/x/%C3%A9-%C3%A0", "",
	    "v=\xc3\xa9|w=\xc3\xa0" },
	{ __LINE__, "/caf\xc3\xa9/{v}", "/caf%C3%A9/1", "", "v=1" },
	{ __LINE__, "/caf\xc3\xa9/{v}", "/caf%c3%a9/1", "", "v=1" },
	{ __LINE__, "/caf\xc3\xa9/{v}", "/cafe/1", "", NULL },
	{ __LINE__, "/%2F{v}", "/%2Fa", "", "v=a" },
	{ __LINE__, "/%2F{v}", "/%2fa", "", NULL },
	{ __LINE__, "/%2F{v}", "//a", "", NULL },
	{ __LINE__, "/a", "/A", "", NULL },
	/* repeated variables, checked during the search */
	{ __LINE__, "/pkg/{name}/-/{name}-{version}.tgz",
	    "/pkg/left-pad/-/left-pad-1.3.0.tgz", "",
	    "name=left-pad|version=1.3.0" },
	{ __LINE__, "/pkg/{name}/-/{name}-{version}.tgz",
	    "/pkg/left-pad/-/right-pad-1.tgz", "", NULL },
	{ __LINE__, "/{a}/{a}", "/x/x", "", "a=x" },
	{ __LINE__, "/{a}/{a}", "/x/y", "", NULL },
	{ __LINE__, "/{a}/{a}", "/%41/A", "", "a=A" },
	{ __LINE__, "/{a}{/a}", "/x", "", "a=x" },
	{ __LINE__, "/{a}{/a}", "/x/x", "", "a=x" },
	/* query part as a set of items (§5.2) */
	{ __LINE__, "/data{?x}", "/data", "", "" },
	{ __LINE__, "/data{?x}", "/data", "y=2", "" },
	{ __LINE__, "/data{?x}", "/data", "x=1&y=2", "x=1" },
	{ __LINE__, "/data{?x}", "/data", "y=2&x=1&x=3", "x=1" },
	{ __LINE__, "/data{?x}", "/data", "x", "x=" },
	{ __LINE__, "/data{?x,y}", "/data", "y=b&x=a", "x=a|y=b" },
	{ __LINE__, "/data{?x}", "/datax", "", NULL },
	{ __LINE__, "/data?drilldowns={drilldowns}&measures={measures}",
	    "/data", "drilldowns=Nation&measures=Population",
	    "drilldowns=Nation|measures=Population" },
	{ __LINE__, "/data?drilldowns={drilldowns}&measures={measures}",
	    "/data", "measures=Population&drilldowns=Nation",
	    "drilldowns=Nation|measures=Population" },
	{ __LINE__, "/data?drilldowns={drilldowns}&measures={measures}",
	    "/data", "measures=Population", NULL },
	{ __LINE__, "/data?drilldowns={drilldowns}&measures={measures}",
	    "/data", "drilldowns=Nation&measures=Population&extra=1",
	    "drilldowns=Nation|measures=Population" },
	{ __LINE__, "/{drilldowns}?measures={measures}", "/Nation",
	    "measures=Population", "drilldowns=Nation|measures=Population" },
	{ __LINE__, "/data?drilldowns=Nation&measures=Population", "/data",
	    "drilldowns=Nation&measures=Population", "" },
	{ __LINE__, "/data?drilldowns=Nation&measures=Population", "/data",
	    "drilldowns=Nation&measures=People", NULL },
	{ __LINE__, "/data?a=1", "/data", "b=2;a=1", "" },
	{ __LINE__, "/data?a=1", "/data", "a=2&a=1", NULL },
	{ __LINE__, "/data?flag", "/data", "flag", "" },
	{ __LINE__, "/data?flag", "/data", "flag=1", "" },
	{ __LINE__, "/data?flag", "/data", "", NULL },
	{ __LINE__, "/data?a=", "/data", "a", "" },
	{ __LINE__, "/data?a=", "/data", "a=1", NULL },
	{ __LINE__, "/data?q=a+b", "/data", "q=a%20b", "" },
	{ __LINE__, "/data?q=a%2Bb", "/data", "q=a%2bb", "" },
	{ __LINE__, "/data?q=a%2Bb", "/data", "q=a+b", NULL },
	{ __LINE__, "/data?k%20y={v}", "/data", "k+y=1", "v=1" },
	{ __LINE__, "/data?v={x}.{y}", "/data", "v=1.2.3", "x=1|y=2.3" },
	{ __LINE__, "/data?v={x}", "/data", "v=a/b c", "x=a/b c" },
	{ __LINE__, "/data?v={+x}", "/data", "v=a%26b", "x=a&b" },
	{ __LINE__, "/data?v=v{x}", "/data", "v=v", "x=" },
	{ __LINE__, "/data?v={x:2}", "/data", "v=abc", NULL },
	{ __LINE__, "/data?v={x}", "/data", "v=%C3%A9", "x=\xc3\xa9" },
	{ __LINE__, "/data?v={x}", "/data", "v=\xc3\xa9", "x=\xc3\xa9" },
	{ __LINE__, "/data?v={x}", "/data", "v=%FF", NULL },
	{ __LINE__, "/data{?x}", "/data", "x=%FF", NULL },
	{ __LINE__, "/data?a=1{&b}", "/data", "a=1", "" },
	{ __LINE__, "/data?a=1{&b}", "/data", "b=2&a=1", "b=2" },
	{ __LINE__, "/{x}?v={x}", "/a", "v=a", "x=a" },
	{ __LINE__, "/{x}?v={x}", "/a", "v=b", NULL },
	{ __LINE__, "/{x}-{y}?v={x}", "/a-b-c", "v=a-b", "x=a-b|y=c" },
	{ __LINE__, "/{x}{?x}", "/a", "x=a", "x=a" },
	{ __LINE__, "/{x}{?x}", "/a", "x=b", NULL },
	{ __LINE__, "/{x}{?x}", "/a", "", "x=a" },
	{ __LINE__, "/data?", "/data", "anything=1", "" },
	{ __LINE__, "/data", "/data", "anything=1", "" },
	{ __LINE__, "/data?&", "/data", "", "" },
	/* other shapes: the whole template against path?query */
	{ __LINE__, "/data?{k}=1", "/data", "foo=1", "k=foo" },
	{ __LINE__, "/data?{k}=1", "/data", "foo=2", NULL },
	{ __LINE__, "/data?a={x,y}", "/data", "a=1,2", "x=1|y=2" },
	{ __LINE__, "/data?a={x,y}", "/data", "a=1&b=2", NULL },
	{ __LINE__, "/data?a={/x}", "/data", "a=/1", "x=1" },
	{ __LINE__, "/data?{k}", "/data", "", "k=" },
	{ __LINE__, "/data?{k}", "/data", "a%C3%A9", "k=a\xc3\xa9" },
	{ __LINE__, "/data?{k}", "/data", "\xc3\xa9", NULL },
};

/* "name=value|..." of a variable set. */
static void
vars_str(const struct tmpl_vars *vs, struct buf *out)
{
	size_t	 i;

	for (i = 0; i < vs->n; i++) {
		if (i > 0)
			buf_addc(out, '|');
		buf_adds(out, vs->v[i].name);
		buf_addc(out, '=');
		buf_add(out, vs->v[i].value, vs->v[i].len);
	}
}

static void
test_match(void)
{
	struct tmpl	*t;
	struct tmpl_vars vs;
	struct buf	 got = BUF_INIT;
	char		 err[128];
	size_t		 i;
	int		 r, line;

	for (i = 0; i < sizeof(match_rows) / sizeof(match_rows[0]); i++) {
		line = match_rows[i].line;
		if (tmpl_parse(match_rows[i].tmpl, &t, err, sizeof(err)) ==
		    -1) {
			ok_at(line, 0, "parse '%s': %s", match_rows[i].tmpl,
			    err);
			continue;
		}
		r = tmpl_match(t, match_rows[i].path,
		    strlen(match_rows[i].path), match_rows[i].query,
		    strlen(match_rows[i].query), &vs);
		buf_reset(&got);
		if (r)
			vars_str(&vs, &got);
		is_str_at(line, r ? buf_cstr(&got) : NULL, match_rows[i].vars,
		    "'%s' on '%s?%s'", match_rows[i].tmpl, match_rows[i].path,
		    match_rows[i].query);
		if (r)
			tmpl_vars_free(&vs);
		tmpl_free(t);
	}
	buf_free(&got);
}

/*
 * tmpl_head_may_match() never rules out a path the template matches:
 * every template of match_rows against every path and query there; and
 * it rules out a path that differs in the literal head.
 */
static void
test_head(void)
{
	static const struct {
		int		 line;
		const char	*tmpl, *path;
		int		 may;
	} rows[] = {
		{ __LINE__, "/t1/{v}/x", "/t10/1/x", 0 },
		{ __LINE__, "/t1/{v}/x", "/t1/1/x", 1 },
		{ __LINE__, "/t1/{v}/x", "/t", 0 },
		{ __LINE__, "/abc", "/ab", 0 },
		{ __LINE__, "/abc", "/abcd", 1 },
		{ __LINE__, "{v}/abc", "/x", 1 },
		{ __LINE__, "/a%41{v}", "/aB", 1 },	/* stops at '%' */
		{ __LINE__, "/a%41{v}", "/b", 0 },
		{ __LINE__, "/a?x={v}", "/a", 1 },	/* stops at '?' */
		{ __LINE__, "/a?x={v}", "/b", 0 },
		{ __LINE__, "/\xc3\xa9{v}", "/%C3%A9x", 1 },
		{ __LINE__, "", "/x", 1 },
	};
	struct tmpl	*t;
	struct tmpl_vars vs;
	char		 err[128];
	size_t		 i, j, nmatch = 0, bad = 0;
	const char	*path;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		is_int_at(rows[i].line, tmpl_head_may_match(rows[i].tmpl,
		    rows[i].path, strlen(rows[i].path)), rows[i].may,
		    "head of '%s' on '%s'", rows[i].tmpl, rows[i].path);
	for (i = 0; i < sizeof(match_rows) / sizeof(match_rows[0]); i++) {
		if (tmpl_parse(match_rows[i].tmpl, &t, err, sizeof(err)) == -1)
			continue;
		for (j = 0; j < sizeof(match_rows) / sizeof(match_rows[0]);
		    j++) {
			path = match_rows[j].path;
			if (!tmpl_match(t, path, strlen(path),
			    match_rows[j].query, strlen(match_rows[j].query),
			    &vs))
				continue;
			tmpl_vars_free(&vs);
			nmatch++;
			if (!tmpl_head_may_match(match_rows[i].tmpl, path,
			    strlen(path))) {
				printf("# '%s' matches '%s' but its head does "
				    "not\n", match_rows[i].tmpl, path);
				bad++;
			}
		}
		tmpl_free(t);
	}
	ok(nmatch > 50 && bad == 0, "the head rules out none of %zu matches "
	    "of match_rows' templates and paths", nmatch);
}

/* Captured values are decoded text, NUL included. */
static void
test_match_nul(void)
{
	struct tmpl	*t;
	struct tmpl_vars vs;
	char		 err[64];

	tmpl_parse("/x/{v}", &t, err, sizeof(err));
	is_int(tmpl_match(t, "/x/a%00b", 8, "", 0, &vs), 1, "%%00 matches");
	is_int(vs.v[0].len, 3, "value length counts the NUL");
	ok(memcmp(vs.v[0].value, "a\0b", 3) == 0, "value bytes");
	tmpl_vars_free(&vs);
	tmpl_free(t);
}

static double
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/*
 * Hostile paths: the search is memoised (no repeated names) or capped;
 * either way it ends quickly.  Legitimate long matches still match.
 */
static void
test_match_bounds(void)
{
	static const struct {
		int		 line;
		const char	*tmpl;
		const char	*fill;		/* repeated */
		size_t		 count;
		const char	*tail;
		int		 match;
	} rows[] = {
		{ __LINE__, "/{a}-{b}-{c}-{d}-{e}-{f}-{g}", "-", 4000, "!", 0 },
		{ __LINE__, "/{a}-{a}-{b}-{c}-{d}-{e}", "-", 4000, "!", 0 },
		{ __LINE__, "/{a}{b}{c}{d}{e}{f}{g}{h}.x", "a", 3000, ".y", 0 },
		{ __LINE__, "/{+a}/{+b}/{+c}/{+d}/end", "/", 3000, "x", 0 },
		{ __LINE__, "/{+path}", "ab/", 3000, "", 1 },
		{ __LINE__, "/{+path}/download", "ab/", 3000, "download", 1 },
		{ __LINE__, "/{a}-{b}", "a", 5000, "-b", 1 },
		{ __LINE__, "/{v}", "%41", 3000, "", 1 },
	};
	struct tmpl	*t;
	struct tmpl_vars vs;
	struct buf	 path = BUF_INIT;
	char		 err[64];
	double		 t0, ms;
	size_t		 i, k;
	int		 r;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		buf_reset(&path);
		buf_addc(&path, '/');
		for (k = 0; k < rows[i].count; k++)
			buf_adds(&path, rows[i].fill);
		buf_adds(&path, rows[i].tail);
		tmpl_parse(rows[i].tmpl, &t, err, sizeof(err));
		t0 = now_ms();
		r = tmpl_match(t, path.p, path.n, "", 0, &vs);
		ms = now_ms() - t0;
		is_int_at(rows[i].line, r, rows[i].match, "hostile '%s'",
		    rows[i].tmpl);
		ok_at(rows[i].line, ms < 2000, "'%s' took %.1f ms",
		    rows[i].tmpl, ms);
		if (r)
			tmpl_vars_free(&vs);
		tmpl_free(t);
	}
	buf_free(&path);
}

/* ------------------------------------------------------------------ */
/* tmpl_expand (§5.4), with the RFC 6570 test values */

static const char *const rfc_vars[] = {
	"var", "value", "hello", "Hello World!", "path", "/foo/bar",
	"empty", "", "x", "1024", "y", "768", "semi", ";", "dub", "me/too",
	"half", "50%", "base", "http://example.com/home/", "who", "fred",
	"v", "6", "crlf", "a\r\nb", "plus", "really+nice",
	"u", "\xc3\xa9\xc3\xa0x", "pct", "a%2541", NULL
};

static const struct {
	int		 line;
	const char	*tmpl;
	const char	*want;		/* NULL: -1 (undefined variable) */
} expand_rows[] = {
	{ __LINE__, "{var}", "value" },
	{ __LINE__, "{hello}", "Hello%20World%21" },
	{ __LINE__, "{half}", "50%25" },
	{ __LINE__, "O{empty}X", "OX" },
	{ __LINE__, "{x,y}", "1024,768" },
	{ __LINE__, "{x,hello,y}", "1024,Hello%20World%21,768" },
	{ __LINE__, "?{x,empty}", "?1024," },
	{ __LINE__, "{+var}", "value" },
	{ __LINE__, "{+hello}", "Hello%20World!" },
	{ __LINE__, "{+half}", "50%25" },
	{ __LINE__, "{base}index", "http%3A%2F%2Fexample.com%2Fhome%2Findex" },
	{ __LINE__, "{+base}index", "http://example.com/home/index" },
	{ __LINE__, "{+path}/here", "/foo/bar/here" },
	{ __LINE__, "here?ref={+path}", "here?ref=/foo/bar" },
	{ __LINE__, "{+x,hello,y}", "1024,Hello%20World!,768" },
	{ __LINE__, "{#var}", "#value" },
	{ __LINE__, "{#hello}", "#Hello%20World!" },
	{ __LINE__, "{#path,x}/here", "#/foo/bar,1024/here" },
	{ __LINE__, "X{.var}", "X.value" },
	{ __LINE__, "X{.x,y}", "X.1024.768" },
	{ __LINE__, "{.who,who}", ".fred.fred" },
	{ __LINE__, "{/who}", "/fred" },
	{ __LINE__, "{/who,who}", "/fred/fred" },
	{ __LINE__, "{/half,who}", "/50%25/fred" },
	{ __LINE__, "{/who,dub}", "/fred/me%2Ftoo" },
	{ __LINE__, "{/var,x}/here", "/value/1024/here" },
	{ __LINE__, "{;who}", ";who=fred" },
	{ __LINE__, "{;half}", ";half=50%25" },
	{ __LINE__, "{;empty}", ";empty" },
	{ __LINE__, "{;v,empty,who}", ";v=6;empty;who=fred" },
	{ __LINE__, "{;x,y,empty}", ";x=1024;y=768;empty" },
	{ __LINE__, "{?who}", "?who=fred" },
	{ __LINE__, "{?half}", "?half=50%25" },
	{ __LINE__, "{?x,y}", "?x=1024&y=768" },
	{ __LINE__, "{?x,y,empty}", "?x=1024&y=768&empty=" },
	{ __LINE__, "{&who}", "&who=fred" },
	{ __LINE__, "?fixed=yes{&x}", "?fixed=yes&x=1024" },
	{ __LINE__, "{&x,y,empty}", "&x=1024&y=768&empty=" },
	{ __LINE__, "{var:3}", "val" },
	{ __LINE__, "{var:30}", "value" },
	{ __LINE__, "{+path:6}/here", "/foo/b/here" },
	{ __LINE__, "{#path:6}/here", "#/foo/b/here" },
	{ __LINE__, "{;hello:5}", ";hello=Hello" },
	{ __LINE__, "{?var:3}", "?var=val" },
	{ __LINE__, "{u:2}", "%C3%A9%C3%A0" },
	{ __LINE__, "{var*}", "value" },
	/* §5.4 specifics */
	{ __LINE__, "{+plus}", "really+nice" },
	{ __LINE__, "{plus}", "really%2Bnice" },
	{ __LINE__, "https://x/{+crlf}", "https://x/a%0D%0Ab" },
	{ __LINE__, "https://x/{+pct}", "https://x/a%252541" },
	{ __LINE__, "https://x/caf\xc3\xa9/{var}",
	    "https://x/caf%C3%A9/value" },
	{ __LINE__, "https://x/%2f%2F", "https://x/%2f%2F" },
	{ __LINE__, "{undef}", NULL },
	{ __LINE__, "https://x/{var}{?undef}", NULL },
	{ __LINE__, "{var,undef}", NULL },
};

static void
test_expand(void)
{
	struct tmpl_vars vs;
	struct tmpl	*t;
	struct buf	 out = BUF_INIT;
	char		 err[64];
	size_t		 i;
	int		 r;

	vs.n = 0;
	for (i = 0; rfc_vars[i] != NULL; i += 2)
		tmpl_vars_set(&vs, rfc_vars[i], rfc_vars[i + 1],
		    strlen(rfc_vars[i + 1]));
	for (i = 0; i < sizeof(expand_rows) / sizeof(expand_rows[0]); i++) {
		if (tmpl_parse(expand_rows[i].tmpl, &t, err, sizeof(err)) ==
		    -1) {
			ok_at(expand_rows[i].line, 0, "parse: %s", err);
			continue;
		}
		buf_reset(&out);
		r = tmpl_expand(t, &vs, &out);
		is_str_at(expand_rows[i].line, r == 0 ? buf_cstr(&out) : NULL,
		    expand_rows[i].want, "expand '%s'", expand_rows[i].tmpl);
		tmpl_free(t);
	}
	tmpl_vars_free(&vs);
	buf_free(&out);
}

static void
test_vars(void)
{
	struct tmpl_vars vs;
	size_t		 len = 0;
	int		 i;
	char		 name[16];

	vs.n = 0;
	tmpl_vars_set(&vs, "a", "xyz", 2);
	is_str(tmpl_vars_get(&vs, "a", &len), "xy", "get");
	is_int(len, 2, "get length");
	tmpl_vars_set(&vs, "a", "q", 1);
	is_str(tmpl_vars_get(&vs, "a", NULL), "q", "replaced");
	is_int(vs.n, 1, "replaced in place");
	ok(tmpl_vars_get(&vs, "b", NULL) == NULL, "undefined");
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "v%d", i);
		tmpl_vars_set(&vs, name, "1", 1);
	}
	is_int(vs.n, TMPL_MAXVARS, "a full set ignores new names");
	tmpl_vars_free(&vs);
	is_int(vs.n, 0, "freed");
}

/* §2.5: every variable set to the empty string. */
static const struct {
	int		 line;
	const char	*tmpl;
	const char	*want;
} empty_rows[] = {
	{ __LINE__, "/avisstoragebox/{platform}/{version}",
	    "/avisstoragebox//" },
	{ __LINE__, "/something-here/windows/ver1.0.tar.gz",
	    "/something-here/windows/ver1.0.tar.gz" },
	{ __LINE__, "/{+path}", "/" },
	{ __LINE__, "/data{?x}", "/data?x=" },
	{ __LINE__, "/data{?x,y}", "/data?x=&y=" },
	{ __LINE__, "/a{;x}{/y}{.z}{#f}{&g}", "/a;x/.#&g=" },
	{ __LINE__, "/{x,y}", "/," },
	{ __LINE__, "/caf\xc3\xa9{x:3}", "/caf%C3%A9" },
};

static void
test_expand_empty(void)
{
	struct tmpl	*t;
	struct buf	 out = BUF_INIT;
	char		 err[64];
	size_t		 i;

	for (i = 0; i < sizeof(empty_rows) / sizeof(empty_rows[0]); i++) {
		tmpl_parse(empty_rows[i].tmpl, &t, err, sizeof(err));
		buf_reset(&out);
		tmpl_expand_empty(t, &out);
		is_str_at(empty_rows[i].line, buf_cstr(&out),
		    empty_rows[i].want, "empty expansion of '%s'",
		    empty_rows[i].tmpl);
		tmpl_free(t);
	}
	buf_free(&out);
}

/* ------------------------------------------------------------------ */
/* url_forward_query (§5.5) */

static const struct {
	int		 line;
	const char	*loc;
	const char	*query;
	const char	*want;
} fwd_rows[] = {
	{ __LINE__, "https://x/a", "", "https://x/a" },
	{ __LINE__, "https://x/a?b=1", "", "https://x/a?b=1" },
	{ __LINE__, "https://x/a", "&&;", "https://x/a" },
	{ __LINE__, "https://x/a", "b=1", "https://x/a?b=1" },
	{ __LINE__, "https://datausa.io/api/data",
	    "drilldowns=Nation&measures=Population",
	    "https://datausa.io/api/data?drilldowns=Nation"
	    "&measures=Population" },
	{ __LINE__,
	    "https://datausa.io/api/data?drilldowns=Nation&measures=Population",
	    "measures=Population&drilldowns=Nation",
	    "https://datausa.io/api/data?drilldowns=Nation"
	    "&measures=Population" },
	{ __LINE__,
	    "https://user:secret@files.example/d/tool.tgz?src=gw&sig=a/b",
	    "src=evil&x=1+2&x=3;y=4",
	    "https://user:secret@files.example/d/tool.tgz?src=gw&sig=a/b"
	    "&x=1%202&y=4" },
	{ __LINE__, "https://x/a?", "b=1", "https://x/a?b=1" },
	{ __LINE__, "https://x/a?#f", "b=1", "https://x/a?b=1#f" },
	{ __LINE__, "https://x/a#frag", "b=1", "https://x/a?b=1#frag" },
	{ __LINE__, "https://x/a#x?y", "b=1", "https://x/a?b=1#x?y" },
	{ __LINE__, "https://x/a?c=1#frag", "b", "https://x/a?c=1&b#frag" },
	{ __LINE__, "https://x/a", "b=", "https://x/a?b=" },
	{ __LINE__, "https://x/a", "b", "https://x/a?b" },
	{ __LINE__, "https://x/a", "k%20y=%7E+x/%",
	    "https://x/a?k%20y=~%20x%2F%25" },
	{ __LINE__, "https://x/a", "%C3%A9=%c3%a9",
	    "https://x/a?%C3%A9=%C3%A9" },
	{ __LINE__, "https://x/a?a+b=1", "a%20b=2", "https://x/a?a+b=1" },
	{ __LINE__, "https://x/a?A=1", "a=2", "https://x/a?A=1&a=2" },
	{ __LINE__, "https://x/a?s=%2f", "t=%2f", "https://x/a?s=%2f&t=%2F" },
	{ __LINE__, "https://x/a", "=v&=w", "https://x/a?=v" },
	{ __LINE__, "https://x/a", "a&a=1", "https://x/a?a" },
};

static void
test_forward(void)
{
	struct buf	 loc = BUF_INIT;
	size_t		 i;

	for (i = 0; i < sizeof(fwd_rows) / sizeof(fwd_rows[0]); i++) {
		buf_reset(&loc);
		buf_adds(&loc, fwd_rows[i].loc);
		url_forward_query(&loc, fwd_rows[i].query);
		is_str_at(fwd_rows[i].line, buf_cstr(&loc), fwd_rows[i].want,
		    "'%s' + '%s'", fwd_rows[i].loc, fwd_rows[i].query);
	}
	buf_free(&loc);
	/* an empty buffer */
	url_forward_query(&loc, "a=1");
	is_str(buf_cstr(&loc), "?a=1", "empty target");
	buf_free(&loc);
}

/* ------------------------------------------------------------------ */
/* body_events (§5.6) */

static const struct {
	int		 line;
	const char	*body;
	const char	*want;
} body_rows[] = {
	{ __LINE__, "", "[]" },
	{ __LINE__, "   \n", "[]" },
	{ __LINE__, "{ \"x\": \"Hello\" }\n{ \"y\": \"World\" }",
	    "[{\"x\":\"Hello\"},{\"y\":\"World\"}]" },
	{ __LINE__, "{\"a\":1}{\"b\":2}", "[{\"a\":1},{\"b\":2}]" },
	{ __LINE__, "1 \"a\" [1] true null {\"a\":1}", "[{\"a\":1}]" },
	{ __LINE__, "{\"a\":1} garbage {\"b\":2}", "[{\"a\":1}]" },
	{ __LINE__, "{\"a\":1} {\"b\":", "[{\"a\":1}]" },
	{ __LINE__, "{\"a\" : [ 1 , -2.5e-3 , true , null, {} ] , \"b\":{\"c\":"
	    "\"d\"}}",
	    "[{\"a\":[1,-2.5e-3,true,null,{}],\"b\":{\"c\":\"d\"}}]" },
	{ __LINE__, "{\"a\":\"\\u00e9\\n\\\"\\\\\\/\"}",
	    "[{\"a\":\"\\u00e9\\n\\\"\\\\\\/\"}]" },
	{ __LINE__, "{\"a\":\"caf\xc3\xa9\"}", "[{\"a\":\"caf\xc3\xa9\"}]" },
	{ __LINE__, "{\"a\":\"\x7f\"}", "[{\"a\":\"\\u007f\"}]" },
	{ __LINE__, "{\"a\":\"\xff\"}", "[]" },
	{ __LINE__, "{\"a\":\"x\ny\"}", "[]" },
	{ __LINE__, "{\"a\":\"\\x\"}", "[]" },
	{ __LINE__, "{\"a\":\"\\u12\"}", "[]" },
	{ __LINE__, "{\"a\":01}", "[]" },
	{ __LINE__, "{\"a\":1.}", "[]" },
	{ __LINE__, "{\"a\":+1}", "[]" },
	{ __LINE__, "{\"a\":1,}", "[]" },
	{ __LINE__, "{a:1}", "[]" },
	{ __LINE__, "{\"a\" 1}", "[]" },
	{ __LINE__, "[1,]", "[]" },
	{ __LINE__, "tru {\"a\":1}", "[]" },
	{ __LINE__, "{}{}{}{}{}{}{}{}{}{}{}{}",
	    "[{},{},{},{},{},{},{},{},{},{}]" },
	{ __LINE__, "0{\"a\":1}", "[{\"a\":1}]" },
};

static void
test_body_events(void)
{
	struct buf	 out = BUF_INIT, body = BUF_INIT;
	size_t		 i;

	for (i = 0; i < sizeof(body_rows) / sizeof(body_rows[0]); i++) {
		buf_reset(&out);
		body_events(body_rows[i].body, strlen(body_rows[i].body), &out);
		is_str_at(body_rows[i].line, buf_cstr(&out), body_rows[i].want,
		    "body events of '%s'", body_rows[i].body);
	}
	/* the 256-byte limit: an object ending at byte 256 is kept, one
	 * cut by the limit is lost */
	for (i = 0; i < 249; i++)
		buf_addc(&body, ' ');
	buf_adds(&body, "{\"a\":1}");
	buf_reset(&out);
	body_events(body.p, body.n, &out);
	is_str(buf_cstr(&out), "[{\"a\":1}]", "object ending at byte 256");
	buf_reset(&body);
	for (i = 0; i < 250; i++)
		buf_addc(&body, ' ');
	buf_adds(&body, "{\"a\":1}");
	buf_reset(&out);
	body_events(body.p, body.n, &out);
	is_str(buf_cstr(&out), "[]", "object cut at byte 256");
	/* deep nesting within 256 bytes */
	buf_reset(&body);
	for (i = 0; i < 128; i++)
		buf_addc(&body, '[');
	for (i = 0; i < 128; i++)
		buf_addc(&body, ']');
	buf_reset(&out);
	body_events(body.p, body.n, &out);
	is_str(buf_cstr(&out), "[]", "deep array");
	buf_free(&body);
	buf_free(&out);
}

/* ------------------------------------------------------------------ */
/* file_v1_handle / file_v2_handle, with the conformance cases */

struct body_src {
	const char	*s;
	size_t		 n, off;
	int		 reads;
};

/* Hands out the body 7 bytes at a time. */
static ssize_t
read_body(void *ctx, char *b, size_t n)
{
	struct body_src	*src = ctx;
	size_t		 k = src->n - src->off;

	src->reads++;
	if (k > n)
		k = n;
	if (k > 7)
		k = 7;
	memcpy(b, src->s + src->off, k);
	src->off += k;
	return (ssize_t)k;
}

static const struct {
	int		 line;
	int		 type;		/* 1: file-v1, 2: file-v2 */
	const char	*in;
	const char	*out;		/* NULL: outgoing-url null */
	const char	*uri;
	const char	*body;		/* NULL: no body */
	int		 status;	/* 0: the rule does not match */
	const char	*location;
	const char	*variables;
	const char	*events;
} handler_rows[] = {
	/* 009 */
	{ __LINE__, 1, "/{+path}", "https://output.com/{+path}",
	    "/some-nice-path/very-nice/really+nice", NULL, 307,
	    "https://output.com/some-nice-path/very-nice/really+nice",
	    "{\"path\":\"some-nice-path/very-nice/really+nice\"}", "[]" },
	/* 010 */
	{ __LINE__, 1, "/some-nice-path/very-nice/{+variable}",
	    "https://output.com/{variable}",
	    "/some-nice-path/very-nice/really+nice", NULL, 307,
	    "https://output.com/really%2Bnice",
	    "{\"variable\":\"really+nice\"}", "[]" },
	/* 011 */
	{ __LINE__, 1, "/collect", NULL, "/collect",
	    "{ \"x\": \"Hello\" }\n{ \"y\": \"World\" }", 200, NULL, "{}",
	    "[{\"x\":\"Hello\"},{\"y\":\"World\"}]" },
	/* 012 */
	{ __LINE__, 1, "/some-nice-path/{somevar}/{somevar2}", NULL,
	    "/some-nice-path/very-nice/really-nice", NULL, 200, NULL,
	    "{\"somevar\":\"very-nice\",\"somevar2\":\"really-nice\"}", "[]" },
	/* 013, 014 */
	{ __LINE__, 1, "/some-nice-path", NULL, "/some-bad-path", NULL, 0,
	    NULL, NULL, NULL },
	{ __LINE__, 1, "/some-nice-path/{var1}", NULL, "/some-nice-path",
	    NULL, 0, NULL, NULL, NULL },
	/* 015 */
	{ __LINE__, 1, "/some-nice-path", NULL, "/some-nice-path", NULL, 200,
	    NULL, "{}", "[]" },
	/* 016, 017, 018 */
	{ __LINE__, 1, "/data?drilldowns={drilldowns}&measures={measures}",
	    "https://datausa.io/api/data?drilldowns={drilldowns}&measures="
	    "{measures}", "/data?drilldowns=Nation&measures=Population", NULL,
	    307, "https://datausa.io/api/data?drilldowns=Nation&measures="
	    "Population",
	    "{\"drilldowns\":\"Nation\",\"measures\":\"Population\"}", "[]" },
	{ __LINE__, 1, "/{drilldowns}?measures={measures}",
	    "https://datausa.io/api/data?drilldowns={drilldowns}&measures="
	    "{measures}", "/Nation?measures=Population", NULL, 307,
	    "https://datausa.io/api/data?drilldowns=Nation&measures="
	    "Population",
	    "{\"drilldowns\":\"Nation\",\"measures\":\"Population\"}", "[]" },
	{ __LINE__, 1, "/data?drilldowns={drilldowns}&measures={measures}",
	    "https://datausa.io/api/data?drilldowns={drilldowns}&measures="
	    "{measures}", "/data?measures=Population&drilldowns=Nation", NULL,
	    307, "https://datausa.io/api/data?drilldowns=Nation&measures="
	    "Population",
	    "{\"drilldowns\":\"Nation\",\"measures\":\"Population\"}", "[]" },
	/* 019 */
	{ __LINE__, 1, "/{a}/{b}", "https://datausa.io/{a}/{b}", "/api/data",
	    NULL, 307, "https://datausa.io/api/data",
	    "{\"a\":\"api\",\"b\":\"data\"}", "[]" },
	/* 020 */
	{ __LINE__, 1, "/some-nice-path/{somevar}", NULL,
	    "/some-nice-path/very-nice", NULL, 200, NULL,
	    "{\"somevar\":\"very-nice\"}", "[]" },
	/* 021, 022 */
	{ __LINE__, 1, "/data/{x}", "https://datausa.io/api/data",
	    "/data/xxx?drilldowns=Nation&measures=Population", NULL, 307,
	    "https://datausa.io/api/data?drilldowns=Nation&measures="
	    "Population", "{\"x\":\"xxx\"}", "[]" },
	{ __LINE__, 1, "/data", "https://datausa.io/api/data",
	    "/data?drilldowns=Nation&measures=Population", NULL, 307,
	    "https://datausa.io/api/data?drilldowns=Nation&measures="
	    "Population", "{}", "[]" },
	/* 023, 024 */
	{ __LINE__, 1, "/data?drilldowns=Nation&measures=Population",
	    "https://datausa.io/api/data?drilldowns=Nation&measures="
	    "Population", "/data?drilldowns=Nation&measures=Population", NULL,
	    307, "https://datausa.io/api/data?drilldowns=Nation&measures="
	    "Population", "{}", "[]" },
	/* 025 */
	{ __LINE__, 1, "/data", "https://datausa.io/api/data?drilldowns="
	    "Nation&measures=Population", "/data?", NULL, 307,
	    "https://datausa.io/api/data?drilldowns=Nation&measures="
	    "Population", "{}", "[]" },
	/* 026 */
	{ __LINE__, 1, "/data", "https://datausa.io/api/data", "/data", NULL,
	    307, "https://datausa.io/api/data", "{}", "[]" },
	/* 027, 028 */
	{ __LINE__, 1, "/{+path}", "https://some.host/{+path}",
	    "/blah/blah?prefix=foo", NULL, 307,
	    "https://some.host/blah/blah?prefix=foo",
	    "{\"path\":\"blah/blah\"}", "[]" },
	{ __LINE__, 1, "/{+path}", "https://some.engineering/{+path}",
	    "/blah/blah", NULL, 307, "https://some.engineering/blah/blah",
	    "{\"path\":\"blah/blah\"}", "[]" },
	/* 039, 040 */
	{ __LINE__, 2, "/(?<a>.*)/(?<b>.*)", "https://datausa.io/{a}/{b}",
	    "/api/data", NULL, 307, "https://datausa.io/api/data",
	    "{\"a\":\"api\",\"b\":\"data\"}", "[]" },
	{ __LINE__, 2, "/packages/(?<packageName>.*)-(?<version>[0-9].*)",
	    "https://datausa.io/{packageName}/{version}",
	    "/packages/some-example-package-0.1.2.4-head", NULL, 307,
	    "https://datausa.io/some-example-package/0.1.2.4-head",
	    "{\"packageName\":\"some-example-package\",\"version\":"
	    "\"0.1.2.4-head\"}", "[]" },
	/* 051, 052, 053, 054 */
	{ __LINE__, 1, "/{package}-{os}-{arch}",
	    "https://some-backend-1/downloads/{package}/{os}/{arch}",
	    "/minikube-linux-amd64-hallo", NULL, 307,
	    "https://some-backend-1/downloads/minikube/linux/amd64-hallo",
	    "{\"package\":\"minikube\",\"os\":\"linux\",\"arch\":"
	    "\"amd64-hallo\"}", "[]" },
	{ __LINE__, 1, "/{package}-{os}-{arch}",
	    "https://some-backend-1/downloads/{package}/{os}/{arch}",
	    "/minikube-linux", NULL, 0, NULL, NULL, NULL },
	{ __LINE__, 1, "/{package}-{version}.{ext}",
	    "https://some-backend-1/downloads/{package}/{version}/{ext}",
	    "/minikube-1.0.tar.gz", NULL, 307,
	    "https://some-backend-1/downloads/minikube/1/0.tar.gz",
	    "{\"package\":\"minikube\",\"version\":\"1\",\"ext\":"
	    "\"0.tar.gz\"}", "[]" },
	{ __LINE__, 1, "/avisstoragebox/{platform}/{version}",
	    "https://github.com/aviaviavi/curl-runnings/releases/download/"
	    "{version}/curl-runnings-{version}-{platform}.tar.gz",
	    "/avisstoragebox/darwin/1.0", NULL, 307,
	    "https://github.com/aviaviavi/curl-runnings/releases/download/"
	    "1.0/curl-runnings-1.0-darwin.tar.gz",
	    "{\"platform\":\"darwin\",\"version\":\"1.0\"}", "[]" },
	{ __LINE__, 1, "/something-here/windows/ver1.0.tar.gz",
	    "https://bucket.s3.aws.amazon.com/something-here/windows/"
	    "ver1.0.tar.gz", "/avisstoragebox/darwin/1.0", NULL, 0, NULL,
	    NULL, NULL },
	/* 087 */
	{ __LINE__, 1, "/dl/{+file}", "https://files.example/{+file}",
	    "/dl/a%0D%0ASet-Cookie:%20evil=1", NULL, 307,
	    "https://files.example/a%0D%0ASet-Cookie:%20evil=1",
	    "{\"file\":\"a\\r\\nSet-Cookie: evil=1\"}", "[]" },
	/* 088 */
	{ __LINE__, 1, "/get/{name}",
	    "https://user:secret@files.example/d/{name}?src=gw&sig=a/b",
	    "/get/tool.tgz?src=evil&x=1+2&x=3;y=4", NULL, 307,
	    "https://user:secret@files.example/d/tool.tgz?src=gw&sig=a/b"
	    "&x=1%202&y=4", "{\"name\":\"tool.tgz\"}", "[]" },
	/* 089 (each rule on its own) */
	{ __LINE__, 1, "/dl/{file}", "https://a.example/{file}",
	    "/dl/tool.tgz", NULL, 307, "https://a.example/tool.tgz",
	    "{\"file\":\"tool.tgz\"}", "[]" },

	/* §5.3: undefined outgoing variable, not a URL, unused variable */
	{ __LINE__, 1, "/data{?x}", "https://x.example/{x}", "/data", NULL, 0,
	    NULL, NULL, NULL },
	{ __LINE__, 1, "/data{?x}", "https://x.example/{x}", "/data?x=1",
	    NULL, 307, "https://x.example/1?x=1", "{\"x\":\"1\"}", "[]" },
	{ __LINE__, 1, "/data{?x}", NULL, "/data", NULL, 200, NULL, "{}",
	    "[]" },
	{ __LINE__, 1, "/{+u}", "{+u}", "/foo", NULL, 0, NULL, NULL, NULL },
	/* the scheme and host from the request: refused (README) */
	{ __LINE__, 1, "/{+u}", "{+u}", "/https://h.example/", NULL, 0,
	    NULL, NULL, NULL },
	{ __LINE__, 1, "/r/{+u}", "https://{+u}", "/r/", NULL, 0, NULL,
	    NULL, NULL },
	{ __LINE__, 1, "/r/{u}", "https://x.example/{u}", "/r/a%20b", NULL,
	    307, "https://x.example/a%20b", "{\"u\":\"a b\"}", "[]" },
	{ __LINE__, 1, "/r/{u}", "https://x.example/{u}", "/r/%22%00", NULL,
	    307, "https://x.example/%22%00", "{\"u\":\"\\\"\\u0000\"}", "[]" },
	{ __LINE__, 1, "/r/{+u}", "https://x.example/{+u}", "/r/a%2541",
	    NULL, 307, "https://x.example/a%2541", "{\"u\":\"a%41\"}", "[]" },
	/* body events are read for any method, only on a match */
	{ __LINE__, 1, "/e", "https://x.example/", "/e",
	    "{\"a\":1} [2] {\"b\":\"c\"}", 307, "https://x.example/", "{}",
	    "[{\"a\":1},{\"b\":\"c\"}]" },
	{ __LINE__, 1, "/e", "https://x.example/", "/f", "{\"a\":1}", 0,
	    NULL, NULL, NULL },

	/* file-v2 (§6) */
	{ __LINE__, 2, "/(?<v>.*)", "https://x.example/{v}", "/a%20b", NULL,
	    307, "https://x.example/a%20b", "{\"v\":\"a b\"}", "[]" },
	{ __LINE__, 2, "/(?<v>.*)", "https://x.example/{v}", "/a%C3", NULL, 0,
	    NULL, NULL, NULL },
	{ __LINE__, 2, "/(?<v>.*)", "https://x.example/{v}", "/\xff", NULL, 0,
	    NULL, NULL, NULL },
	{ __LINE__, 2, "/(?<v>.*)", "https://x.example/{v}", "/caf\xc3\xa9",
	    NULL, 307, "https://x.example/caf%C3%A9",
	    "{\"v\":\"caf\xc3\xa9\"}", "[]" },
	{ __LINE__, 2, "/(?<a>x)?(?<b>y)", "https://x.example/{b}", "/y",
	    NULL, 307, "https://x.example/y", "{\"b\":\"y\"}", "[]" },
	{ __LINE__, 2, "/(?<a>x)?(?<b>y)", "https://x.example/{a}", "/y",
	    NULL, 0, NULL, NULL, NULL },
	{ __LINE__, 2, "  /foo\n", NULL, "/a/foo/b", NULL, 200, NULL, "{}",
	    "[]" },
	{ __LINE__, 2, "^/foo$", NULL, "/a/foo/b", NULL, 0, NULL, NULL,
	    NULL },
	{ __LINE__, 2, "x*", NULL, "/abc", NULL, 0, NULL, NULL, NULL },
	{ __LINE__, 2, "(?<v>a*)", NULL, "/abc", NULL, 200, NULL,
	    "{\"v\":\"a\"}", "[]" },
	{ __LINE__, 2, "/Foo", NULL, "/foo", NULL, 0, NULL, NULL, NULL },
	{ __LINE__, 2, "/d", "https://x.example/d", "/d?q=1", NULL, 307,
	    "https://x.example/d?q=1", "{}", "[]" },
	{ __LINE__, 2, "\\?q=1", NULL, "/d?q=1", NULL, 0, NULL, NULL, NULL },
	{ __LINE__, 2, "/e", "https://x.example/", "/e", "{\"a\":1}", 307,
	    "https://x.example/", "{}", "[]" },
	{ __LINE__, 2, "^/(a|aa)+$", NULL,
	    "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
	    NULL, 0, NULL, NULL, NULL },
};

/* The value of `"key":` in a `,"key":value` run: up to the next ,"
 * at depth 0. */
static char *
extra_get(const char *extra, const char *key)
{
	char		 pat[64];
	const char	*p, *q;
	int		 depth = 0, instr = 0;

	snprintf(pat, sizeof(pat), ",\"%s\":", key);
	if ((p = strstr(extra, pat)) == NULL)
		return NULL;
	p += strlen(pat);
	for (q = p; *q; q++) {
		if (instr) {
			if (*q == '\\')
				q++;
			else if (*q == '"')
				instr = 0;
			continue;
		}
		if (*q == '"')
			instr = 1;
		else if (*q == '{' || *q == '[')
			depth++;
		else if (*q == '}' || *q == ']')
			depth--;
		else if (*q == ',' && depth == 0)
			break;
	}
	return xstrndup(p, (size_t)(q - p));
}

/* One rule through its type's answer operation, as the router calls it. */
static int
answer_one(struct rule *r, const struct gw_request *req,
    struct gw_response *resp, struct gw_event *ev)
{
	struct rule		*rules[1] = { r };
	struct rule_match	 m;

	memset(&m, 0, sizeof(m));
	m.req = req;
	m.rules = rules;
	m.nrules = 1;
	return r->type->answer(&m, resp, ev);
}

static void
test_handlers(void)
{
	struct rule	 r;
	struct file_rule fl;
	struct tmpl	*t;
	struct gw_request req;
	struct gw_response resp;
	struct gw_event	 ev;
	struct body_src	 src;
	char		 err[128], *path, *q, *v;
	size_t		 i;
	int		 got, line;

	for (i = 0; i < sizeof(handler_rows) / sizeof(handler_rows[0]); i++) {
		line = handler_rows[i].line;
		memset(&r, 0, sizeof(r));
		memset(&fl, 0, sizeof(fl));
		r.type = rule_type_find(handler_rows[i].type == 1 ?
		    "file-v1" : "file-v2");
		r.priv = &fl;
		r.index = 3;
		r.package_id = "pkg";
		if (handler_rows[i].type == 1) {
			if (tmpl_parse(handler_rows[i].in, &t, err,
			    sizeof(err)) == -1)
				ok_at(line, 0, "parse in: %s", err);
			else
				fl.in_tmpl = t;
		} else if ((fl.re = file_v2_compile(handler_rows[i].in, err,
		    sizeof(err))) == NULL)
			ok_at(line, 0, "compile: %s", err);
		if (handler_rows[i].out != NULL) {
			fl.out_src = handler_rows[i].out;
			if (tmpl_parse(handler_rows[i].out, &t, err,
			    sizeof(err)) == -1)
				ok_at(line, 0, "parse out: %s", err);
			else
				fl.out_tmpl = t;
		}

		memset(&req, 0, sizeof(req));
		path = xstrdup(handler_rows[i].uri);
		q = strchr(path, '?');
		req.raw_query = xstrdup(q ? q + 1 : "");
		if (q)
			*q = '\0';
		req.raw_path = path;
		req.method = xstrdup("GET");
		req.content_length = -1;
		memset(&src, 0, sizeof(src));
		if (handler_rows[i].body != NULL) {
			src.s = handler_rows[i].body;
			src.n = strlen(src.s);
			req.read_body = read_body;
			req.body_ctx = &src;
			req.content_length = (long long)src.n;
		}
		gw_response_init(&resp);
		gw_event_init(&ev);
		got = answer_one(&r, &req, &resp, &ev);
		is_int_at(line, got, handler_rows[i].status != 0,
		    "'%s' on '%s' answers", handler_rows[i].in,
		    handler_rows[i].uri);
		if (!got) {
			ok_at(line, src.reads == 0, "body not read");
		} else {
			is_int_at(line, resp.status, handler_rows[i].status,
			    "status");
			is_str_at(line, resp_get_header(&resp, "Location"),
			    handler_rows[i].location, "Location");
			is_str_at(line, ev.location, handler_rows[i].location,
			    "event location");
			ok_at(line, resp_get_header(&resp, "Content-Type") ==
			    NULL && resp.body.n == 0, "no body, no type");
			is_int_at(line, ev.type, GW_T_FILE, "event type");
			is_int_at(line, ev.rule_index, 3, "rule-index");
			is_str_at(line, ev.package_id, "pkg", "package-id");
			v = extra_get(buf_cstr(&ev.extra), "variables");
			is_str_at(line, v, handler_rows[i].variables,
			    "variables");
			free(v);
			v = extra_get(buf_cstr(&ev.extra), "body-events");
			is_str_at(line, v, handler_rows[i].events,
			    "body-events");
			free(v);
			if (handler_rows[i].type != 1)
				ok_at(line, src.reads == 0,
				    "file-v2 never reads the body");
		}
		gw_response_free(&resp);
		gw_event_free(&ev);
		free(req.raw_path);
		free(req.raw_query);
		free(req.method);
		tmpl_free(fl.in_tmpl);
		tmpl_free(fl.out_tmpl);
		file_v2_free(fl.re);
	}
}

/*
 * The authority check of outgoing-url expansions (README "Where we
 * differ"): vars as "name=value" joined by '|'; want 0 (the URL in url),
 * -1 (undefined variable) or -2 (refused).
 */
static const struct {
	int		 line;
	const char	*tmpl, *vars;
	int		 want;
	const char	*url;
} auth_rows[] = {
	/* literal host, then the expression: the host must stay */
	{ __LINE__, "https://dl.example.com{+path}", "path=/x", 0,
	    "https://dl.example.com/x" },
	{ __LINE__, "https://dl.example.com{+path}", "path=", 0,
	    "https://dl.example.com" },
	{ __LINE__, "https://dl.example.com{+path}", "path=?a=1", 0,
	    "https://dl.example.com?a=1" },
	{ __LINE__, "https://dl.example.com{+path}", "path=#f", 0,
	    "https://dl.example.com#f" },
	{ __LINE__, "https://dl.example.com{+path}", "path=//evil.test/x", 0,
	    "https://dl.example.com//evil.test/x" },
	{ __LINE__, "https://dl.example.com{+path}", "path=@evil.test/x", -2,
	    NULL },
	{ __LINE__, "https://dl.example.com{+path}", "path=.evil.test/x", -2,
	    NULL },
	{ __LINE__, "https://dl.example.com{+path}", "path=:8080/x", -2, NULL },
	{ __LINE__, "https://dl.example.com{+path}", "path=:1@evil.test/", -2,
	    NULL },
	{ __LINE__, "https://dl.example.com{+path}", "path=.", -2, NULL },
	{ __LINE__, "https://dl.example.com{+path}", "path=\\evil.test", -2,
	    NULL },	/* '\' is encoded: %5Cevil.test joins the host */
	{ __LINE__, "https://dl.example.com{+path}", "path=%2F", -2, NULL },
	{ __LINE__, "https://dl.example.com{/path}", "path=evil.test", 0,
	    "https://dl.example.com/evil.test" },
	{ __LINE__, "https://dl.example.com{?q}", "q=@evil", 0,
	    "https://dl.example.com?q=%40evil" },
	{ __LINE__, "https://dl.example.com{#f}", "f=@evil", 0,
	    "https://dl.example.com#@evil" },
	{ __LINE__, "https://dl.example.com{.tld}/x", "tld=evil", -2, NULL },
	{ __LINE__, "https://dl.example.com{x}", "x=", 0,
	    "https://dl.example.com" },
	{ __LINE__, "HTTPS://DL.Example.COM{+p}", "p=/a", 0,
	    "HTTPS://DL.Example.COM/a" },
	{ __LINE__, "https://dl.example.com{+p}", "p=\xc3\xa9", -2, NULL },
	/* the host closed by literal text: anything goes after it */
	{ __LINE__, "https://dl.example.com/{+path}", "path=@evil.test/x", 0,
	    "https://dl.example.com/@evil.test/x" },
	{ __LINE__, "https://user:pw@files.example/d/{+n}", "n=a", 0,
	    "https://user:pw@files.example/d/a" },
	{ __LINE__, "https://a.example?{+q}", "q=@b", 0,
	    "https://a.example?@b" },
	{ __LINE__, "https://a.example#{+q}", "q=/b", 0,
	    "https://a.example#/b" },
	/* an expression inside the host, before a literal suffix */
	{ __LINE__, "https://{+sub}.example.com/p", "sub=mirror", 0,
	    "https://mirror.example.com/p" },
	{ __LINE__, "https://{+sub}.example.com/p", "sub=a.b-c_d", 0,
	    "https://a.b-c_d.example.com/p" },
	{ __LINE__, "https://{+sub}.example.com/p", "sub=XN--BCHER-KVA", 0,
	    "https://XN--BCHER-KVA.example.com/p" },
	{ __LINE__, "https://{+sub}.example.com/p", "sub=xn--bcher-kva", 0,
	    "https://xn--bcher-kva.example.com/p" },
	/* an IDN only as punycode: a browser would decode and map %XX
	 * (U+FF0F becomes '/', U+3002 '.'; tmpl.c, ldh_host) */
	{ __LINE__, "https://{+sub}.example.com/p", "sub=b\xc3\xbc" "cher", -2,
	    NULL },
	{ __LINE__, "https://{+sub}.example.com/p",
	    "sub=evil.test\xef\xbc\x8f", -2, NULL },
	{ __LINE__, "https://{+sub}.example.com/p", "sub=a%2Cb", -2, NULL },
	{ __LINE__, "https://{+sub}.example.com/p", "sub=evil.test/", -2,
	    NULL },
	{ __LINE__, "https://{+sub}.example.com/p", "sub=evil.test?", -2,
	    NULL },
	{ __LINE__, "https://{+sub}.example.com/p", "sub=evil.test#", -2,
	    NULL },
	{ __LINE__, "https://{+sub}.example.com/p", "sub=u@evil.test", -2,
	    NULL },
	{ __LINE__, "https://{+sub}.example.com/p", "sub=evil.test:1", -2,
	    NULL },
	{ __LINE__, "https://{+sub}.example.com/p", "sub=evil.test\\", -2,
	    NULL },
	{ __LINE__, "https://{+sub}.example.com/p", "sub=[::1]", -2, NULL },
	{ __LINE__, "https://{+sub}.example.com/p", "sub=", -2, NULL },
	{ __LINE__, "https://{+sub}.example.com/p", "sub=a.", -2, NULL },
	{ __LINE__, "https://{sub}.example.com/p", "sub=evil.test/", -2,
	    NULL },	/* %2F in a host */
	{ __LINE__, "https://{sub}.example.com/p", "sub=evil%2Etest", -2,
	    NULL },	/* %252E */
	{ __LINE__, "https://{sub}.example.com/p", "sub=a b", -2, NULL },
	{ __LINE__, "https://{sub}.example.com:8443/p", "sub=m", 0,
	    "https://m.example.com:8443/p" },
	{ __LINE__, "https://{sub}example.com/p", "sub=evil", -2, NULL },
	{ __LINE__, "https://{sub}example.com/p", "sub=", 0,
	    "https://example.com/p" },
	{ __LINE__, "https://{+sub}example.com/p", "sub=a.", 0,
	    "https://a.example.com/p" },
	{ __LINE__, "https://dl{sub}.example.com/p", "sub=-eu", 0,
	    "https://dl-eu.example.com/p" },
	{ __LINE__, "https://{a}.{b}.example.com/p", "a=x|b=y", 0,
	    "https://x.y.example.com/p" },
	{ __LINE__, "https://{+sub}.example.com{+path}", "sub=m|path=/x", 0,
	    "https://m.example.com/x" },
	{ __LINE__, "https://{+sub}.example.com{+path}",
	    "sub=m|path=.evil.test/x", -2, NULL },
	{ __LINE__, "https://{+sub}.example.com{+path}",
	    "sub=evil.test/|path=", -2, NULL },
	/* the template fixes no label of the host */
	{ __LINE__, "https://{host}/p", "host=evil.test", -2, NULL },
	{ __LINE__, "https://{host}:8443/p", "host=evil.test", -2, NULL },
	{ __LINE__, "https://{host}./p", "host=evil.test", -2, NULL },
	{ __LINE__, "https://{+h}", "h=evil.test", -2, NULL },
	{ __LINE__, "https://{+h}", "h=/evil.test", -2, NULL },
	{ __LINE__, "https://{+h}/x", "h=", -2, NULL },
	{ __LINE__, "https://?{sub}exle.com@/p", "sub=evil", -2, NULL },
	/* the scheme not fixed */
	{ __LINE__, "{+u}", "u=https://evil.test/", -2, NULL },
	{ __LINE__, "http{s}://a.example/", "s=s", -2, NULL },
	{ __LINE__, "https:/{+u}", "u=/evil.test", -2, NULL },
	{ __LINE__, "ftp://a.example{+u}", "u=/x", -2, NULL },
	/* undefined */
	{ __LINE__, "https://a.example{+u}", "", -1, NULL },
	/* no expression: not this check's business (§1.5) */
	{ __LINE__, "https://a.example", "", 0, "https://a.example" },
};

static void
test_authority(void)
{
	struct tmpl_vars vs;
	struct tmpl	*t;
	struct buf	 out = BUF_INIT;
	const char	*why, *p, *eq, *bar;
	char		 err[64];
	size_t		 i;
	int		 r, line;

	for (i = 0; i < sizeof(auth_rows) / sizeof(auth_rows[0]); i++) {
		line = auth_rows[i].line;
		if (tmpl_parse(auth_rows[i].tmpl, &t, err, sizeof(err)) ==
		    -1) {
			ok_at(line, 0, "parse: %s", err);
			continue;
		}
		vs.n = 0;
		for (p = auth_rows[i].vars; *p != '\0'; p = *bar ? bar + 1 :
		    bar) {
			bar = strchr(p, '|');
			if (bar == NULL)
				bar = p + strlen(p);
			eq = strchr(p, '=');
			{
				char *name = xstrndup(p, (size_t)(eq - p));
				tmpl_vars_set(&vs, name, eq + 1,
				    (size_t)(bar - eq - 1));
				free(name);
			}
		}
		buf_reset(&out);
		r = tmpl_expand_url(t, &vs, &out, &why);
		is_int_at(line, r, auth_rows[i].want, "'%s' with %s: %s",
		    auth_rows[i].tmpl, auth_rows[i].vars, r == -2 ? why :
		    buf_cstr(&out));
		if (auth_rows[i].want == 0)
			is_str_at(line, buf_cstr(&out), auth_rows[i].url,
			    "'%s' with %s: URL", auth_rows[i].tmpl,
			    auth_rows[i].vars);
		ok_at(line, (r == -2) == (why != NULL), "a reason iff refused");
		tmpl_vars_free(&vs);
		tmpl_free(t);
	}
	buf_free(&out);
}

/* tmpl_authority_reach: which templates --check warns about. */
static const struct {
	int		 line;
	const char	*tmpl;
	const char	*msg;	/* NULL: no warning; else a substring */
} reach_rows[] = {
	{ __LINE__, "https://a.example/{x}", NULL },
	{ __LINE__, "https://a.example?{x}", NULL },
	{ __LINE__, "https://a.example#{x}", NULL },
	{ __LINE__, "https://a.example", NULL },
	{ __LINE__, "https://u@a.example/{x}", NULL },
	{ __LINE__, "https://a.example{+p}", "{+p} at offset 17 can change "
	    "the host \"a.example\"" },
	{ __LINE__, "https://a.example{/p}", "can change the host" },
	{ __LINE__, "https://a.example:{port}/", "can change the host "
	    "\"a.example:\"" },
	{ __LINE__, "https://{+sub}.example.com/p", "is inside the host; "
	    "an expansion is refused (404) unless it is a plain host name "
	    "ending in the literal \".example.com\"" },
	{ __LINE__, "https://{a}.{b}.example.com:8443/p", "ending in the "
	    "literal \".example.com:8443\"" },
	{ __LINE__, "https://{h}/p", "{h} at offset 8 can change the host "
	    "\"\"" },
	{ __LINE__, "{+url}", "can set the scheme and host" },
	{ __LINE__, "{x}https://a.example/", "can set the scheme" },
	{ __LINE__, "http{s}://a.example/", "{s} at offset 4 can set" },
	/* fuzz_tmpl_authority: the runtime refused, --check was silent */
	{ __LINE__, "https://?{sub}exle.com@/p", "the host is empty" },
	{ __LINE__, "https:///{x}", "the host is empty" },
};

static void
test_reach(void)
{
	struct tmpl	*t;
	char		 err[64], msg[512];
	size_t		 i;
	int		 r;

	for (i = 0; i < sizeof(reach_rows) / sizeof(reach_rows[0]); i++) {
		if (tmpl_parse(reach_rows[i].tmpl, &t, err, sizeof(err)) ==
		    -1) {
			ok_at(reach_rows[i].line, 0, "parse: %s", err);
			continue;
		}
		msg[0] = '\0';
		r = tmpl_authority_reach(t, msg, sizeof(msg));
		is_int_at(reach_rows[i].line, r, reach_rows[i].msg != NULL,
		    "'%s' reaches the authority (%s)", reach_rows[i].tmpl, msg);
		if (r && reach_rows[i].msg != NULL)
			ok_at(reach_rows[i].line, strstr(msg,
			    reach_rows[i].msg) != NULL, "'%s': '%s' in '%s'",
			    reach_rows[i].tmpl, reach_rows[i].msg, msg);
		tmpl_free(t);
	}
}

/*
 * The findings of issue 9 through file_v1_handle: no match, and a warning
 * naming the rule in the event.
 */
static const struct {
	int		 line;
	const char	*in, *out, *uri;
	const char	*location;	/* NULL: refused */
} refuse_rows[] = {
	{ __LINE__, "/pre{+path}", "https://dl.example.com{+path}",
	    "/pre/x", "https://dl.example.com/x" },
	{ __LINE__, "/pre{+path}", "https://dl.example.com{+path}",
	    "/pre@evil.test/x", NULL },
	{ __LINE__, "/pre{+path}", "https://dl.example.com{+path}",
	    "/pre.evil.test/x", NULL },
	{ __LINE__, "/pre{+path}", "https://dl.example.com{+path}",
	    "/pre%40evil.test/x", NULL },
	{ __LINE__, "/pre{+path}", "https://dl.example.com{+path}",
	    "/pre:443%40evil.test/x", NULL },
	{ __LINE__, "/hp/{+sub}/p", "https://{+sub}.example.com/p",
	    "/hp/evil.test%2F/p", NULL },
	{ __LINE__, "/hp/{+sub}/p", "https://{+sub}.example.com/p",
	    "/hp/evil.test%23/p", NULL },
	{ __LINE__, "/hp/{+sub}/p", "https://{+sub}.example.com/p",
	    "/hp/evil.test%3F/p", NULL },
	{ __LINE__, "/hp/{+sub}/p", "https://{+sub}.example.com/p",
	    "/hp/mirror/p?x=1", "https://mirror.example.com/p?x=1" },
};

static void
test_refuse(void)
{
	struct rule	 r;
	struct file_rule fl;
	struct tmpl	*t;
	struct gw_request req;
	struct gw_response resp;
	struct gw_event	 ev;
	char		 err[64], *q;
	size_t		 i;
	int		 got, line;

	for (i = 0; i < sizeof(refuse_rows) / sizeof(refuse_rows[0]); i++) {
		line = refuse_rows[i].line;
		memset(&r, 0, sizeof(r));
		memset(&fl, 0, sizeof(fl));
		r.type = rule_type_find("file-v1");
		r.priv = &fl;
		r.index = 5;
		if (tmpl_parse(refuse_rows[i].in, &t, err,
		    sizeof(err)) == -1) {
			ok_at(line, 0, "parse: %s", err);
			continue;
		}
		fl.in_tmpl = t;
		fl.out_src = refuse_rows[i].out;
		if (tmpl_parse(fl.out_src, &t, err, sizeof(err)) == -1) {
			ok_at(line, 0, "parse: %s", err);
			tmpl_free(fl.in_tmpl);
			continue;
		}
		fl.out_tmpl = t;
		memset(&req, 0, sizeof(req));
		req.raw_path = xstrdup(refuse_rows[i].uri);
		q = strchr(req.raw_path, '?');
		req.raw_query = xstrdup(q != NULL ? q + 1 : "");
		if (q != NULL)
			*q = '\0';
		req.method = xstrdup("GET");
		gw_response_init(&resp);
		gw_event_init(&ev);
		got = answer_one(&r, &req, &resp, &ev);
		is_int_at(line, got, refuse_rows[i].location != NULL,
		    "%s answers", refuse_rows[i].uri);
		if (got)
			is_str_at(line, resp_get_header(&resp, "Location"),
			    refuse_rows[i].location, "%s Location",
			    refuse_rows[i].uri);
		if (refuse_rows[i].location == NULL)
			ok_at(line, strncmp(buf_cstr(&ev.warnings),
			    "{\"rule-index\":5,\"field\":\"outgoing-url\","
			    "\"message\":\"expansion refused: ", 69) == 0,
			    "%s: warning %s", refuse_rows[i].uri,
			    buf_cstr(&ev.warnings));
		else
			is_int_at(line, (int)ev.warnings.n, 0, "no warning");
		gw_response_free(&resp);
		gw_event_free(&ev);
		free(req.raw_path);
		free(req.raw_query);
		free(req.method);
		tmpl_free(fl.in_tmpl);
		tmpl_free(fl.out_tmpl);
	}
}

/* A literal outgoing-url that fails the URL check never matches. */
static void
test_out_never(void)
{
	struct tmpl	*t;
	struct rule	 r;
	struct file_rule fl;
	struct gw_request req;
	struct gw_response resp;
	struct gw_event	 ev;
	char		 err[64];

	memset(&r, 0, sizeof(r));
	memset(&fl, 0, sizeof(fl));
	r.type = rule_type_find("file-v1");
	r.priv = &fl;
	fl.out_src = "/relative";
	if (tmpl_parse("/x", &t, err, sizeof(err)) == 0)
		fl.in_tmpl = t;
	if (tmpl_parse(fl.out_src, &t, err, sizeof(err)) == 0)
		fl.out_tmpl = t;
	fl.out_never = 1;
	memset(&req, 0, sizeof(req));
	req.raw_path = xstrdup("/x");
	req.raw_query = xstrdup("");
	gw_response_init(&resp);
	gw_event_init(&ev);
	is_int(answer_one(&r, &req, &resp, &ev), 0, "out_never");
	free(req.raw_path);
	free(req.raw_query);
	gw_response_free(&resp);
	gw_event_free(&ev);
	tmpl_free(fl.in_tmpl);
	tmpl_free(fl.out_tmpl);
}

static const struct {
	int		 line;
	const char	*src;
	const char	*err;		/* substring; NULL: compiles */
} re_rows[] = {
	{ __LINE__, "/(?<a>.*)", NULL },
	{ __LINE__, "  /x  ", NULL },
	{ __LINE__, "/(?<a>.*", "at offset 8" },
	{ __LINE__, "  /(?<a>.*", "at offset 10" },
	{ __LINE__, "/[a", "missing terminating ] for character class" },
	{ __LINE__, "/\xff", "UTF-8 error" },
	{ __LINE__, "(?<a0>.)(?<a1>.)(?<a2>.)(?<a3>.)(?<a4>.)(?<a5>.)(?<a6>.)"
	    "(?<a7>.)(?<a8>.)(?<a9>.)(?<b0>.)(?<b1>.)(?<b2>.)(?<b3>.)"
	    "(?<b4>.)(?<b5>.)(?<b6>.)(?<b7>.)(?<b8>.)(?<b9>.)(?<c0>.)"
	    "(?<c1>.)(?<c2>.)(?<c3>.)(?<c4>.)(?<c5>.)(?<c6>.)(?<c7>.)"
	    "(?<c8>.)(?<c9>.)(?<d0>.)(?<d1>.)(?<d2>.)",
	    "too many named groups (max 32)" },
};

static void
test_compile(void)
{
	char	 err[256];
	void	*re;
	size_t	 i;

	for (i = 0; i < sizeof(re_rows) / sizeof(re_rows[0]); i++) {
		err[0] = '\0';
		re = file_v2_compile(re_rows[i].src, err, sizeof(err));
		if (re_rows[i].err == NULL)
			ok_at(re_rows[i].line, re != NULL, "'%s' compiles: %s",
			    re_rows[i].src, err);
		else
			ok_at(re_rows[i].line, re == NULL &&
			    strstr(err, re_rows[i].err) != NULL,
			    "'%s' fails with '%s' (got '%s')", re_rows[i].src,
			    re_rows[i].err, err);
		file_v2_free(re);
	}
}

int
main(void)
{
	test_parse();
	test_limits();
	test_match();
	test_head();
	test_match_nul();
	test_match_bounds();
	test_vars();
	test_expand();
	test_expand_empty();
	test_forward();
	test_body_events();
	test_handlers();
	test_out_never();
	test_authority();
	test_reach();
	test_refuse();
	test_compile();
	return done_testing();
}
