/*
 * Unit tests for common/npm_doc.c (SPEC §4.4): the tarball rewriter on
 * small documents (escapes, unicode, dist objects with other keys,
 * tarballs that are not strings, versions without dist, scoped names,
 * abbreviated documents, not-JSON) and on a generated multi-megabyte
 * packument compared byte for byte with the document it must become; the
 * request forms and URL prefixes; the cache (TTL with injected time, keys,
 * replacement, eviction, references); and npm_doc_serve() end to end
 * through gw_serve() with a stand-in for the upstream fetch.  Every table
 * row carries its __LINE__.
 */
#include "config.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "gateway.h"
#include "manifest.h"
#include "npm_doc.h"
#include "proxy.h"
#include "xmalloc.h"

#include "../tap.h"

#define P	"https://gw.test/pkg/-/"

/* --- the rewriter on small documents ------------------------------------ */

static const struct rw_row {
	int			 line;
	enum npm_doc_kind	 kind;
	const char		*in;
	const char		*want;	/* NULL: not JSON */
	long			 count;
} rw_rows[] = {
	/* a packument, compact and pretty */
	{ __LINE__, NPM_DOC_PACKUMENT,
	  "{\"name\":\"pkg\",\"versions\":{\"1.0.0\":{\"dist\":{\"tarball\":"
	  "\"https://r.test/pkg/-/pkg-1.0.0.tgz\",\"shasum\":\"ab\"}}}}",
	  "{\"name\":\"pkg\",\"versions\":{\"1.0.0\":{\"dist\":{\"tarball\":"
	  "\"" P "pkg-1.0.0.tgz\",\"shasum\":\"ab\"}}}}", 1 },
	{ __LINE__, NPM_DOC_PACKUMENT,
	  " {\n  \"versions\" : {\n    \"1.0.0\" : { \"dist\" : {\n"
	  "      \"integrity\" : \"sha512-x==\",\n      \"tarball\" :\t"
	  "\"https://r.test/pkg/-/pkg-1.0.0.tgz\" ,\n      \"n\" : 1 } },\n"
	  "    \"2.0.0\" : { \"dist\" : { \"tarball\" : "
	  "\"https://r.test/pkg/-/pkg-2.0.0.tgz\" } }\n  }\n}\n",
	  " {\n  \"versions\" : {\n    \"1.0.0\" : { \"dist\" : {\n"
	  "      \"integrity\" : \"sha512-x==\",\n      \"tarball\" :\t"
	  "\"" P "pkg-1.0.0.tgz\" ,\n      \"n\" : 1 } },\n"
	  "    \"2.0.0\" : { \"dist\" : { \"tarball\" : "
	  "\"" P "pkg-2.0.0.tgz\" } }\n  }\n}\n", 2 },
	/* escapes in the tarball value: the file is read unescaped and
	 * written back escaped only where JSON needs it */
	{ __LINE__, NPM_DOC_PACKUMENT,
	  "{\"versions\":{\"1\":{\"dist\":{\"tarball\":"
	  "\"https:\\/\\/r.test\\/pkg\\/-\\/pkg-1.tgz\"}}}}",
	  "{\"versions\":{\"1\":{\"dist\":{\"tarball\":"
	  "\"" P "pkg-1.tgz\"}}}}", 1 },
	{ __LINE__, NPM_DOC_PACKUMENT,
	  "{\"versions\":{\"1\":{\"dist\":{\"tarball\":"
	  "\"https://r.test/p/-/caf\\u00e9-\\ud83d\\ude00.tgz\"}}}}",
	  "{\"versions\":{\"1\":{\"dist\":{\"tarball\":"
	  "\"" P "caf\xc3\xa9-\xf0\x9f\x98\x80.tgz\"}}}}", 1 },
	{ __LINE__, NPM_DOC_PACKUMENT,
	  "{\"versions\":{\"1\":{\"dist\":{\"tarball\":"
	  "\"https://r.test/p/-/a\\\"b\\\\c\\u0001.tgz\"}}}}",
	  "{\"versions\":{\"1\":{\"dist\":{\"tarball\":"
	  "\"" P "a\\\"b\\\\c\\u0001.tgz\"}}}}", 1 },
	/* raw UTF-8 and unescaped bytes stay as they were */
	{ __LINE__, NPM_DOC_PACKUMENT,
	  "{\"d\":\"\xe2\x98\x83\",\"versions\":{\"\xc3\xa9\":{\"dist\":"
	  "{\"tarball\":\"https://r.test/p/-/\xe2\x98\x83.tgz\"}}}}",
	  "{\"d\":\"\xe2\x98\x83\",\"versions\":{\"\xc3\xa9\":{\"dist\":"
	  "{\"tarball\":\"" P "\xe2\x98\x83.tgz\"}}}}", 1 },
	/* escaped keys are still the keys */
	{ __LINE__, NPM_DOC_PACKUMENT,
	  "{\"v\\u0065rsions\":{\"1\":{\"di\\u0073t\":{\"t\\u0061rball\":"
	  "\"https://r.test/p/-/p-1.tgz\"}}}}",
	  "{\"v\\u0065rsions\":{\"1\":{\"di\\u0073t\":{\"t\\u0061rball\":"
	  "\"" P "p-1.tgz\"}}}}", 1 },
	/* query and fragment are not part of the file */
	{ __LINE__, NPM_DOC_PACKUMENT,
	  "{\"versions\":{\"1\":{\"dist\":{\"tarball\":"
	  "\"https://r.test/p/-/p-1.tgz?sig=a/b#frag/x\"}}}}",
	  "{\"versions\":{\"1\":{\"dist\":{\"tarball\":"
	  "\"" P "p-1.tgz\"}}}}", 1 },
	/* a bare file name; an empty last segment is left alone */
	{ __LINE__, NPM_DOC_PACKUMENT,
	  "{\"versions\":{\"1\":{\"dist\":{\"tarball\":\"p-1.tgz\"}},"
	  "\"2\":{\"dist\":{\"tarball\":\"https://r.test/p/\"}},"
	  "\"3\":{\"dist\":{\"tarball\":\"\"}}}}",
	  "{\"versions\":{\"1\":{\"dist\":{\"tarball\":\"" P "p-1.tgz\"}},"
	  "\"2\":{\"dist\":{\"tarball\":\"https://r.test/p/\"}},"
	  "\"3\":{\"dist\":{\"tarball\":\"\"}}}}", 1 },
	/* dist objects with other keys, nested values before the tarball */
	{ __LINE__, NPM_DOC_PACKUMENT,
	  "{\"versions\":{\"1\":{\"name\":\"p\",\"dist\":{\"signatures\":"
	  "[{\"keyid\":\"k\",\"tarball\":\"https://x/y.tgz\"}],"
	  "\"sub\":{\"tarball\":\"https://x/z.tgz\"},\"fileCount\":3,"
	  "\"tarball\":\"https://r.test/p/-/p-1.tgz\",\"unpackedSize\":1e3,"
	  "\"ok\":true,\"no\":false,\"nil\":null}}}}",
	  "{\"versions\":{\"1\":{\"name\":\"p\",\"dist\":{\"signatures\":"
	  "[{\"keyid\":\"k\",\"tarball\":\"https://x/y.tgz\"}],"
	  "\"sub\":{\"tarball\":\"https://x/z.tgz\"},\"fileCount\":3,"
	  "\"tarball\":\"" P "p-1.tgz\",\"unpackedSize\":1e3,"
	  "\"ok\":true,\"no\":false,\"nil\":null}}}}", 1 },
	/* tarballs that are not strings stay what they are */
	{ __LINE__, NPM_DOC_PACKUMENT,
	  "{\"versions\":{\"1\":{\"dist\":{\"tarball\":null}},"
	  "\"2\":{\"dist\":{\"tarball\":42}},"
	  "\"3\":{\"dist\":{\"tarball\":{\"tarball\":\"https://x/a.tgz\"}}},"
	  "\"4\":{\"dist\":{\"tarball\":[\"https://x/b.tgz\"]}},"
	  "\"5\":{\"dist\":\"https://x/c.tgz\"}}}",
	  "{\"versions\":{\"1\":{\"dist\":{\"tarball\":null}},"
	  "\"2\":{\"dist\":{\"tarball\":42}},"
	  "\"3\":{\"dist\":{\"tarball\":{\"tarball\":\"https://x/a.tgz\"}}},"
	  "\"4\":{\"dist\":{\"tarball\":[\"https://x/b.tgz\"]}},"
	  "\"5\":{\"dist\":\"https://x/c.tgz\"}}}", 0 },
	/* versions without dist, versions that are not objects, dist and
	 * tarball keys in the wrong places */
	{ __LINE__, NPM_DOC_PACKUMENT,
	  "{\"dist\":{\"tarball\":\"https://x/top.tgz\"},"
	  "\"time\":{\"1\":\"2020\"},\"versions\":{\"1\":{\"name\":\"p\"},"
	  "\"2\":\"https://x/s.tgz\",\"3\":[{\"dist\":{\"tarball\":"
	  "\"https://x/arr.tgz\"}}],\"4\":{\"directories\":{\"dist\":"
	  "{\"tarball\":\"https://x/deep.tgz\"}}}},"
	  "\"other\":{\"1\":{\"dist\":{\"tarball\":\"https://x/o.tgz\"}}}}",
	  "{\"dist\":{\"tarball\":\"https://x/top.tgz\"},"
	  "\"time\":{\"1\":\"2020\"},\"versions\":{\"1\":{\"name\":\"p\"},"
	  "\"2\":\"https://x/s.tgz\",\"3\":[{\"dist\":{\"tarball\":"
	  "\"https://x/arr.tgz\"}}],\"4\":{\"directories\":{\"dist\":"
	  "{\"tarball\":\"https://x/deep.tgz\"}}}},"
	  "\"other\":{\"1\":{\"dist\":{\"tarball\":\"https://x/o.tgz\"}}}}",
	  0 },
	/* versions as an array is no packument shape: nothing replaced */
	{ __LINE__, NPM_DOC_PACKUMENT,
	  "{\"versions\":[{\"dist\":{\"tarball\":\"https://x/a.tgz\"}}]}",
	  "{\"versions\":[{\"dist\":{\"tarball\":\"https://x/a.tgz\"}}]}", 0 },
	/* duplicate keys: both are tarballs */
	{ __LINE__, NPM_DOC_PACKUMENT,
	  "{\"versions\":{\"1\":{\"dist\":{\"tarball\":\"https://x/a.tgz\","
	  "\"tarball\":\"https://x/b.tgz\"}}}}",
	  "{\"versions\":{\"1\":{\"dist\":{\"tarball\":\"" P "a.tgz\","
	  "\"tarball\":\"" P "b.tgz\"}}}}", 2 },
	/* an abbreviated ("corgi") packument */
	{ __LINE__, NPM_DOC_PACKUMENT,
	  "{\"name\":\"pkg\",\"modified\":\"2020-01-01T00:00:00.000Z\","
	  "\"dist-tags\":{\"latest\":\"1.1.0\",\"next\":\"2.0.0-rc.1\"},"
	  "\"versions\":{\"1.1.0\":{\"name\":\"pkg\",\"version\":\"1.1.0\","
	  "\"dependencies\":{\"a\":\"^1\"},\"dist\":{\"integrity\":"
	  "\"sha512-q==\",\"shasum\":\"0a\",\"tarball\":"
	  "\"https://r.test/pkg/-/pkg-1.1.0.tgz\"},\"engines\":{\"node\":"
	  "\">=8\"}},\"2.0.0-rc.1\":{\"name\":\"pkg\",\"version\":"
	  "\"2.0.0-rc.1\",\"dist\":{\"tarball\":"
	  "\"https://r.test/pkg/-/pkg-2.0.0-rc.1.tgz\"}}}}",
	  "{\"name\":\"pkg\",\"modified\":\"2020-01-01T00:00:00.000Z\","
	  "\"dist-tags\":{\"latest\":\"1.1.0\",\"next\":\"2.0.0-rc.1\"},"
	  "\"versions\":{\"1.1.0\":{\"name\":\"pkg\",\"version\":\"1.1.0\","
	  "\"dependencies\":{\"a\":\"^1\"},\"dist\":{\"integrity\":"
	  "\"sha512-q==\",\"shasum\":\"0a\",\"tarball\":"
	  "\"" P "pkg-1.1.0.tgz\"},\"engines\":{\"node\":"
	  "\">=8\"}},\"2.0.0-rc.1\":{\"name\":\"pkg\",\"version\":"
	  "\"2.0.0-rc.1\",\"dist\":{\"tarball\":"
	  "\"" P "pkg-2.0.0-rc.1.tgz\"}}}}", 2 },
	/* a version document: only the top-level dist */
	{ __LINE__, NPM_DOC_VERSION,
	  "{\"name\":\"pkg\",\"version\":\"1.0.0\",\"dist\":{\"tarball\":"
	  "\"https://r.test/pkg/-/pkg-1.0.0.tgz\"},\"versions\":{\"1\":"
	  "{\"dist\":{\"tarball\":\"https://x/v.tgz\"}}}}",
	  "{\"name\":\"pkg\",\"version\":\"1.0.0\",\"dist\":{\"tarball\":"
	  "\"" P "pkg-1.0.0.tgz\"},\"versions\":{\"1\":"
	  "{\"dist\":{\"tarball\":\"https://x/v.tgz\"}}}}", 1 },
	/* dist-tags: unchanged */
	{ __LINE__, NPM_DOC_PLAIN,
	  "{\"latest\":\"1.0.0\",\"dist\":{\"tarball\":\"https://x/a.tgz\"}}",
	  "{\"latest\":\"1.0.0\",\"dist\":{\"tarball\":\"https://x/a.tgz\"}}",
	  0 },
	/* other JSON values are JSON too */
	{ __LINE__, NPM_DOC_PACKUMENT, "[]", "[]", 0 },
	{ __LINE__, NPM_DOC_PACKUMENT, " \"s\" ", " \"s\" ", 0 },
	{ __LINE__, NPM_DOC_PACKUMENT, "-0.5E+3", "-0.5E+3", 0 },
	{ __LINE__, NPM_DOC_PACKUMENT, "null", "null", 0 },
	{ __LINE__, NPM_DOC_PACKUMENT, "{\"a\":[[],{},[1,{\"b\":[]}]]}",
	  "{\"a\":[[],{},[1,{\"b\":[]}]]}", 0 },
	/* not JSON */
	{ __LINE__, NPM_DOC_PACKUMENT, "", NULL, 0 },
	{ __LINE__, NPM_DOC_PACKUMENT, "   ", NULL, 0 },
	{ __LINE__, NPM_DOC_PACKUMENT, "<html>502</html>", NULL, 0 },
	{ __LINE__, NPM_DOC_PACKUMENT, "{", NULL, 0 },
	{ __LINE__, NPM_DOC_PACKUMENT, "{}}", NULL, 0 },
	{ __LINE__, NPM_DOC_PACKUMENT, "{} {}", NULL, 0 },
	{ __LINE__, NPM_DOC_PACKUMENT, "{\"a\":}", NULL, 0 },
	{ __LINE__, NPM_DOC_PACKUMENT, "{\"a\" 1}", NULL, 0 },
	{ __LINE__, NPM_DOC_PACKUMENT, "{\"a\":1,}", NULL, 0 },
	{ __LINE__, NPM_DOC_PACKUMENT, "{a:1}", NULL, 0 },
	{ __LINE__, NPM_DOC_PACKUMENT, "[1,]", NULL, 0 },
	{ __LINE__, NPM_DOC_PACKUMENT, "[1 2]", NULL, 0 },
	{ __LINE__, NPM_DOC_PACKUMENT, "[}", NULL, 0 },
	{ __LINE__, NPM_DOC_PACKUMENT, "{]", NULL, 0 },
	{ __LINE__, NPM_DOC_PACKUMENT, "\"abc", NULL, 0 },
	{ __LINE__, NPM_DOC_PACKUMENT, "\"a\\x\"", NULL, 0 },
	{ __LINE__, NPM_DOC_PACKUMENT, "\"a\\u12g4\"", NULL, 0 },
	{ __LINE__, NPM_DOC_PACKUMENT, "\"a\\u12\"", NULL, 0 },
	{ __LINE__, NPM_DOC_PACKUMENT, "\"a\nb\"", NULL, 0 },
	{ __LINE__, NPM_DOC_PACKUMENT, "\"a\\", NULL, 0 },
	{ __LINE__, NPM_DOC_PACKUMENT, "01", NULL, 0 },
	{ __LINE__, NPM_DOC_PACKUMENT, "1.", NULL, 0 },
	{ __LINE__, NPM_DOC_PACKUMENT, "1e", NULL, 0 },
	{ __LINE__, NPM_DOC_PACKUMENT, "-", NULL, 0 },
	{ __LINE__, NPM_DOC_PACKUMENT, "+1", NULL, 0 },
	{ __LINE__, NPM_DOC_PACKUMENT, "tru", NULL, 0 },
	{ __LINE__, NPM_DOC_PACKUMENT, "nul", NULL, 0 },
	{ __LINE__, NPM_DOC_PACKUMENT, "\xef\xbb\xbf{}", NULL, 0 },
	{ __LINE__, NPM_DOC_PLAIN, "{\"latest\":\"1\"", NULL, 0 },
	{ __LINE__, NPM_DOC_PACKUMENT,
	  "{\"versions\":{\"1\":{\"dist\":{\"tarball\":\"https://x/a.tgz\"}}}",
	  NULL, 0 },
};

static void
test_rewrite_rows(void)
{
	const struct rw_row	*r;
	struct buf		 out = BUF_INIT;
	size_t			 i;
	long			 c;

	for (i = 0; i < sizeof(rw_rows) / sizeof(rw_rows[0]); i++) {
		r = &rw_rows[i];
		buf_reset(&out);
		c = npm_rewrite_tarballs(r->in, strlen(r->in), P, r->kind,
		    &out);
		if (r->want == NULL) {
			is_int_at(r->line, c, -1, "row %zu: not JSON", i);
			continue;
		}
		is_int_at(r->line, c, r->count, "row %zu: tarballs replaced",
		    i);
		is_str_at(r->line, buf_cstr(&out), r->want,
		    "row %zu: the document", i);
	}
	/* the length is the document's, NULs included: a NUL is no JSON */
	buf_reset(&out);
	is_int(npm_rewrite_tarballs("{}\0", 3, P, NPM_DOC_PACKUMENT, &out), -1,
	    "a NUL after the value is not JSON");
	buf_reset(&out);
	is_int(npm_rewrite_tarballs("\"a\0b\"", 5, P, NPM_DOC_PACKUMENT, &out),
	    -1, "a NUL in a string is not JSON");
	/* the prefix is JSON-escaped like the file */
	buf_reset(&out);
	npm_rewrite_tarballs("{\"dist\":{\"tarball\":\"/a.tgz\"}}", 29,
	    "http://h/\"q\"/-/", NPM_DOC_VERSION, &out);
	is_str(buf_cstr(&out), "{\"dist\":{\"tarball\":\"http://h/\\\"q\\\"/-/"
	    "a.tgz\"}}", "prefix escaped");
	buf_free(&out);
}

/* Nesting: NPM_DOC_MAXDEPTH levels are JSON, one more is refused. */
static void
test_depth(void)
{
	struct buf	 in = BUF_INIT, out = BUF_INIT;
	size_t		 i;

	for (i = 0; i < NPM_DOC_MAXDEPTH; i++)
		buf_adds(&in, i % 2 ? "{\"k\":" : "[");
	buf_addc(&in, '0');
	for (i = NPM_DOC_MAXDEPTH; i-- > 0; )
		buf_adds(&in, i % 2 ? "}" : "]");
	ok(npm_rewrite_tarballs(in.p, in.n, P, NPM_DOC_PACKUMENT, &out) == 0 &&
	    out.n == in.n && memcmp(out.p, in.p, in.n) == 0,
	    "%d levels of nesting pass", NPM_DOC_MAXDEPTH);
	buf_reset(&in);
	buf_reset(&out);
	for (i = 0; i <= NPM_DOC_MAXDEPTH; i++)
		buf_addc(&in, '[');
	for (i = 0; i <= NPM_DOC_MAXDEPTH; i++)
		buf_addc(&in, ']');
	is_int(npm_rewrite_tarballs(in.p, in.n, P, NPM_DOC_PACKUMENT, &out), -1,
	    "%d levels are refused", NPM_DOC_MAXDEPTH + 1);
	buf_free(&in);
	buf_free(&out);
}

/* --- a generated multi-megabyte packument ------------------------------ */

/*
 * Version i of the generated packument, its tarball written as the
 * registry would (several spellings) or as the gateway must rewrite it.
 * The rest mixes formatting, escapes, unicode and decoy "dist"/"tarball"
 * keys where the rewriter must not look.
 */
static void
gen_version(struct buf *b, size_t i, const char *prefix)
{
	const char	*nl = i % 3 == 0 ? "\n      " : "";
	const char	*sp = i % 3 == 0 ? " " : "";
	size_t		 k;

	buf_printf(b, "\"1.%zu.%zu\":%s{%s\"name\":%s\"gen\",%s", i / 100,
	    i % 100, sp, nl, sp, nl);
	buf_printf(b, "\"version\":\"1.%zu.%zu\",%s", i / 100, i % 100, nl);
	buf_printf(b, "\"description\":\"v%zu: a \\\"quoted\\\" \\\\ "
	    "back\\/slash \\u2603 \xe2\x98\x83 tarball dist\",%s", i, nl);
	buf_printf(b, "\"scripts\":{\"tarball\":\"https://x.test/s%zu.tgz\","
	    "\"dist\":\"tsc\"},%s", i, nl);
	buf_printf(b, "\"directories\":{\"dist\":{\"tarball\":"
	    "\"https://x.test/d%zu.tgz\"}},%s", i, nl);
	buf_printf(b, "\"dependencies\":{\"dep-%zu\":\"^%zu.0.0\","
	    "\"left-pad\":\"~1.3.0\"},%s", i % 17, i % 5, nl);
	buf_printf(b, "\"keywords\":[\"a\",%s1,%s2.5e-3,%strue,%snull,%s{}],%s",
	    sp, sp, sp, sp, sp, nl);
	buf_printf(b, "\"dist\":%s{%s", sp, nl);
	buf_adds(b, "\"integrity\":\"sha512-");
	for (k = 0; k < 86; k++)
		buf_addc(b, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef+/"[(i + k) % 34]);
	buf_printf(b, "==\",%s\"shasum\":\"%040zx\",%s", nl, i * 7919, nl);
	buf_printf(b, "\"signatures\":[{\"keyid\":\"SHA256:k%zu\","
	    "\"sig\":\"MEUCIQ%zu\",\"tarball\":\"https://x.test/g.tgz\"}],%s",
	    i, i, nl);
	if (i % 7 == 5)
		buf_adds(b, "\"t\\u0061rball\":");	/* an escaped key */
	else
		buf_printf(b, "\"tarball\":%s", sp);
	if (prefix != NULL) {
		buf_printf(b, "\"%sgen-1.%zu.%zu%s.tgz\"", prefix, i / 100,
		    i % 100, i % 5 == 2 ? "-\xc3\xa9" : "");
	} else {
		switch (i % 5) {
		case 0:
			buf_printf(b, "\"https://registry.test/gen/-/"
			    "gen-1.%zu.%zu.tgz\"", i / 100, i % 100);
			break;
		case 1:
			buf_printf(b, "\"https:\\/\\/registry.test\\/gen\\/-\\/"
			    "gen-1.%zu.%zu.tgz\"", i / 100, i % 100);
			break;
		case 2:
			buf_printf(b, "\"https://registry.test/gen/-/"
			    "gen-1.%zu.%zu-\\u00e9.tgz\"", i / 100, i % 100);
			break;
		case 3:
			buf_printf(b, "\"http://127.0.0.1:9/a/b/c/"
			    "gen-1.%zu.%zu.tgz?x=/y#z\"", i / 100, i % 100);
			break;
		default:
			buf_printf(b, "\"gen-1.%zu.%zu.tgz\"", i / 100,
			    i % 100);
			break;
		}
	}
	buf_printf(b, ",%s\"fileCount\":%zu,%s\"unpackedSize\":%zu%s}%s}",
	    nl, i % 40, nl, i * 1031, nl, nl);
}

/* The whole packument: nver versions, readme of readme_kb KiB. */
static void
gen_packument(struct buf *b, size_t nver, size_t readme_kb,
    const char *prefix)
{
	size_t	 i;

	buf_adds(b, "{\"_id\":\"gen\",\"name\":\"gen\",\"dist-tags\":"
	    "{\"latest\":\"1.0.0\"},\"dist\":{\"tarball\":"
	    "\"https://x.test/top.tgz\"},\"versions\":{");
	for (i = 0; i < nver; i++) {
		if (i > 0)
			buf_adds(b, i % 3 == 0 ? ",\n    " : ",");
		gen_version(b, i, prefix);
	}
	buf_adds(b, "},\"time\":{\"created\":\"2020-01-01T00:00:00.000Z\"},"
	    "\"readme\":\"");
	for (i = 0; i < readme_kb * 16; i++)
		buf_adds(b, "# gen \\n\\n\\\"tarball\\\": x "
		    "\\u00e9\xc3\xa9 ... ");
	buf_adds(b, "\"}\n");
}

static void
test_big_packument(void)
{
	struct buf	 in = BUF_INIT, want = BUF_INIT, out = BUF_INIT;
	const size_t	 nver = 9000;
	cJSON		*j, *vs, *v, *t;
	size_t		 seen = 0, bad = 0;
	char		 file[64];
	long		 c;

	gen_packument(&in, nver, 1024, NULL);
	gen_packument(&want, nver, 1024, P);
	ok(in.n > 5 * 1024 * 1024, "generated packument is %zu bytes", in.n);
	c = npm_rewrite_tarballs(in.p, in.n, P, NPM_DOC_PACKUMENT, &out);
	is_int(c, (long)nver, "every version's tarball rewritten");
	is_int(out.n, want.n, "rewritten length");
	ok(out.n == want.n && memcmp(out.p, want.p, out.n) == 0,
	    "byte for byte the document it must become");

	/* and, read as JSON, every tarball points at the gateway */
	j = cJSON_ParseWithLength(out.p, out.n);
	ok(j != NULL, "the rewritten packument parses");
	vs = cJSON_GetObjectItemCaseSensitive(j, "versions");
	cJSON_ArrayForEach(v, vs) {
		t = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(v, "dist"), "tarball");
		snprintf(file, sizeof(file), "%sgen-%s%s.tgz", P, v->string,
		    seen % 5 == 2 ? "-\xc3\xa9" : "");
		if (!cJSON_IsString(t) || strcmp(t->valuestring, file) != 0)
			bad++;
		seen++;
	}
	is_int(seen, nver, "versions in the parsed document");
	is_int(bad, 0, "parsed tarballs that are not the gateway's");
	t = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(j, "dist"), "tarball");
	is_str(cJSON_IsString(t) ? t->valuestring : NULL,
	    "https://x.test/top.tgz", "top-level dist of a packument kept");
	cJSON_Delete(j);

	/* rewriting again for another prefix gives that prefix's document
	 * (the cache relies on it) */
	buf_reset(&want);
	gen_packument(&want, nver, 1024, "http://other.test:8080/pkg/-/");
	buf_reset(&in);
	c = npm_rewrite_tarballs(out.p, out.n, "http://other.test:8080/pkg/-/",
	    NPM_DOC_PACKUMENT, &in);
	ok(c == (long)nver && in.n == want.n &&
	    memcmp(in.p, want.p, in.n) == 0,
	    "a rewritten packument rewrites to another prefix exactly");

	/* truncated anywhere near the end: not JSON */
	buf_reset(&in);
	is_int(npm_rewrite_tarballs(out.p, out.n - 3, P, NPM_DOC_PACKUMENT,
	    &in), -1, "a truncated packument is not JSON");
	buf_free(&in);
	buf_free(&want);
	buf_free(&out);
}

/* --- request forms and prefixes --------------------------------------- */

static const char forms_manifest[] =
    "{\"rules\":[{\"type\":\"npm-v1\",\"domain\":\"npm.test\","
    "\"package-id\":\"np\",\"package-name\":\"*\","
    "\"registry\":\"http://up.test/reg/\"}]}";

/*
 * The plan gw_serve() makes of a document request (npm.c): the kind and
 * the name npm_doc_serve() rewrites for, without reading the path again.
 */
static void
test_forms(void)
{
	static const struct {
		int			 line;
		const char		*path;
		int			 doc;	/* GW_PLAN_NPM_DOC */
		enum npm_doc_kind	 kind;
		const char		*name;
	} t[] = {
	{ __LINE__, "/left-pad", 1, NPM_DOC_PACKUMENT, "left-pad" },
	{ __LINE__, "/left-pad/1.3.0", 1, NPM_DOC_VERSION, "left-pad" },
	{ __LINE__, "/left-pad/latest", 1, NPM_DOC_VERSION, "left-pad" },
	{ __LINE__, "/@scope%2fpkg", 1, NPM_DOC_PACKUMENT, "@scope/pkg" },
	{ __LINE__, "/@scope%2Fpkg/2.0.0", 1, NPM_DOC_VERSION, "@scope/pkg" },
	{ __LINE__, "/@scope/pkg", 1, NPM_DOC_PACKUMENT, "@scope/pkg" },
	{ __LINE__, "/@scope/pkg/next", 1, NPM_DOC_VERSION, "@scope/pkg" },
	{ __LINE__, "/%40scope%2fpkg", 1, NPM_DOC_PACKUMENT, "@scope/pkg" },
	{ __LINE__, "/-/package/left-pad/dist-tags", 1, NPM_DOC_PLAIN,
	  "left-pad" },
	{ __LINE__, "/-/package/@s%2fp/dist-tags", 1, NPM_DOC_PLAIN, "@s/p" },
	/* a tarball is a redirect; the rest no document */
	{ __LINE__, "/left-pad/-/left-pad-1.3.0.tgz", 0, NPM_DOC_PACKUMENT,
	  NULL },
	{ __LINE__, "/", 0, NPM_DOC_PACKUMENT, NULL },
	{ __LINE__, "/@scope", 0, NPM_DOC_PACKUMENT, NULL },
	{ __LINE__, "/a/b/c/d/e", 0, NPM_DOC_PACKUMENT, NULL },
	};
	static const struct {
		int		 line;
		const char	*name;
		const char	*prefix;
	} pre_t[] = {
	{ __LINE__, "left-pad", "https://gw.test/left-pad/-/" },
	{ __LINE__, "@scope/pkg", "https://gw.test/@scope/pkg/-/" },
	/* odd bytes in a name are encoded in the prefix */
	{ __LINE__, "a b", "https://gw.test/a%20b/-/" },
	{ __LINE__, "a/b", "https://gw.test/a%2Fb/-/" },
	{ __LINE__, "@s/a?b", "https://gw.test/@s/a%3Fb/-/" },
	};
	struct manifest_diag	 d;
	struct manifest		*m = NULL;
	struct gw_config	 cfg;
	struct gw_ctx		 ctx;
	struct gw_request	 req;
	struct gw_response	 resp;
	struct gw_event		 ev;
	struct buf		 pre = BUF_INIT, b = BUF_INIT;
	char			*params[4];
	size_t			 i;

	memset(&d, 0, sizeof(d));
	if (!ok(manifest_parse("f.json", forms_manifest,
	    sizeof(forms_manifest) - 1, &m, &d) == 0, "forms manifest: %s",
	    buf_cstr(&d.errors)))
		return;
	manifest_diag_free(&d);
	gw_config_defaults(&cfg);
	memset(&ctx, 0, sizeof(ctx));
	ctx.manifest = m;
	ctx.config = &cfg;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		buf_reset(&b);
		buf_printf(&b, "REQUEST_URI=%s", t[i].path);
		params[0] = (char *)(uintptr_t)"REQUEST_METHOD=GET";
		params[1] = b.p;
		params[2] = (char *)(uintptr_t)"HTTP_HOST=npm.test";
		params[3] = NULL;
		gw_request_init(&req, params, &cfg);
		gw_serve(&ctx, &req, &resp, &ev);
		is_int_at(t[i].line, resp.plan == GW_PLAN_NPM_DOC, t[i].doc,
		    "%s: document plan", t[i].path);
		if (t[i].doc) {
			is_int_at(t[i].line, resp.npm_kind, t[i].kind,
			    "%s: kind", t[i].path);
			is_str_at(t[i].line, resp.npm_name, t[i].name,
			    "%s: name", t[i].path);
		}
		gw_event_free(&ev);
		gw_response_free(&resp);
		gw_request_free(&req);
	}
	for (i = 0; i < sizeof(pre_t) / sizeof(pre_t[0]); i++) {
		buf_reset(&pre);
		npm_doc_prefix(&pre, "https", "gw.test", pre_t[i].name);
		is_str_at(pre_t[i].line, buf_cstr(&pre), pre_t[i].prefix,
		    "%s: prefix", pre_t[i].name);
	}
	buf_reset(&pre);
	npm_doc_prefix(&pre, "http", "127.0.0.1:8080", "@s/p");
	is_str(buf_cstr(&pre), "http://127.0.0.1:8080/@s/p/-/",
	    "prefix keeps scheme and port");
	buf_free(&pre);
	buf_free(&b);
	manifest_unref(m);
}

/* --- the cache ----------------------------------------------------------- */

static const struct npm_cache_entry *
put(struct npm_cache *c, const char *key, const char *body, time_t t)
{
	struct npm_cache_entry	 e;

	memset(&e, 0, sizeof(e));
	e.content_type = "application/json";
	e.etag = "\"e1\"";
	e.prefix = P;
	e.body = body;
	e.len = strlen(body);
	e.fetched = t;
	return npm_cache_put(c, key, &e);
}

static void
test_cache(void)
{
	static const struct {
		int		 line;
		time_t		 now;
		long		 ttl;
		const char	*key;
		int		 hit;
	} t[] = {
	/* stored at t=1000 under "f http://r/a" */
	{ __LINE__, 1000, 10, "f http://r/a", 1 },
	{ __LINE__, 1009, 10, "f http://r/a", 1 },
	{ __LINE__, 1005, 10, "a http://r/a", 0 },	/* abbreviated */
	{ __LINE__, 1005, 10, "f http://r/a/1.0.0", 0 },
	{ __LINE__, 1005, 10, "f http://r2/a", 0 },
	{ __LINE__, 995, 10, "f http://r/a", 1 },	/* clock back a bit */
	{ __LINE__, 1009, 5, "f http://r/a", 0 },	/* TTL now shorter */
	{ __LINE__, 1000, 10, "f http://r/a", 0 },	/* dropped above */
	};
	struct npm_cache		*c;
	const struct npm_cache_entry	*e, *e2, *old;
	size_t				 i, n, bytes;
	char				 key[32], body[64];

	c = npm_cache_new(1024 * 1024);
	npm_cache_release(c, put(c, "f http://r/a", "{\"v\":1}", 1000));
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		e = npm_cache_get(c, t[i].key, t[i].now, t[i].ttl);
		is_int_at(t[i].line, e != NULL, t[i].hit, "%s at %lld ttl %ld",
		    t[i].key, (long long)t[i].now, t[i].ttl);
		if (e != NULL)
			is_str_at(t[i].line, e->body, "{\"v\":1}", "body");
		npm_cache_release(c, e);
	}
	npm_cache_usage(c, &n, &bytes);
	is_int(n, 0, "the stale entry is gone");
	is_int(bytes, 0, "and its bytes");

	/* clock jumped back by more than the TTL */
	npm_cache_release(c, put(c, "k", "{}", 5000));
	ok(npm_cache_get(c, "k", 4000, 60) == NULL,
	    "a clock far behind the entry ends it");

	/* ttl 0: nothing is fresh */
	npm_cache_release(c, put(c, "k", "{}", 5000));
	ok(npm_cache_get(c, "k", 5000, 0) == NULL, "ttl 0: no hit");

	/* replacement keeps a reader's entry alive until it lets go */
	npm_cache_release(c, put(c, "k", "{\"old\":1}", 100));
	old = npm_cache_get(c, "k", 100, 60);
	e = put(c, "k", "{\"new\":1}", 101);
	is_str(old != NULL ? old->body : NULL, "{\"old\":1}",
	    "a replaced entry stays readable");
	e2 = npm_cache_get(c, "k", 102, 60);
	is_str(e2 != NULL ? e2->body : NULL, "{\"new\":1}",
	    "the replacement is served");
	is_str(e2 != NULL ? e2->etag : NULL, "\"e1\"", "entry etag");
	is_str(e2 != NULL ? e2->prefix : NULL, P, "entry prefix");
	npm_cache_usage(c, &n, &bytes);
	is_int(n, 1, "one entry per key");
	npm_cache_release(c, old);
	npm_cache_release(c, e);
	npm_cache_release(c, e2);
	npm_cache_free(c);

	/* the byte cap: least recently used go first; too big: not kept */
	c = npm_cache_new(4096);
	memset(body, 'x', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	for (i = 0; i < 40; i++) {
		snprintf(key, sizeof(key), "k%zu", i);
		npm_cache_release(c, put(c, key, body, 1));
		/* k0 is read all along: it stays recently used */
		npm_cache_release(c, npm_cache_get(c, "k0", 1, 60));
	}
	npm_cache_usage(c, &n, &bytes);
	ok(bytes <= 4096 && n > 0 && n < 40, "cap holds: %zu entries, %zu "
	    "bytes", n, bytes);
	e = npm_cache_get(c, "k39", 1, 60);
	ok(e != NULL, "the newest entry is kept");
	npm_cache_release(c, e);
	ok(npm_cache_get(c, "k1", 1, 60) == NULL, "an old entry went");
	e = npm_cache_get(c, "k0", 1, 60);
	ok(e != NULL, "a recently read entry stayed");
	npm_cache_release(c, e);
	{
		char	big[1100];

		memset(big, 'y', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		ok(put(c, "big", big, 1) == NULL,
		    "a body over a quarter of the cap is not kept");
	}
	npm_cache_free(c);
}

/*
 * Threads reading, replacing and evicting the same few keys: every body a
 * reader holds stays intact until it lets go (ASan sees the rest).
 */
static struct npm_cache	*stress_cache;
static int		 stress_bad;

static void *
stress(void *arg)
{
	const struct npm_cache_entry	*e;
	char				 key[16], body[200];
	size_t				 i, k, seed = (size_t)(uintptr_t)arg;

	for (i = 0; i < 3000; i++) {
		seed = seed * 1103515245 + 12345;
		k = (seed >> 8) % 24;
		snprintf(key, sizeof(key), "k%zu", k);
		if ((seed >> 4) % 3 == 0) {
			memset(body, 'a' + (int)k, sizeof(body) - 1);
			body[sizeof(body) - 1] = '\0';
			e = put(stress_cache, key, body, 1);
		} else
			e = npm_cache_get(stress_cache, key, 1, 60);
		if (e != NULL && (e->len != sizeof(body) - 1 ||
		    e->body[0] != 'a' + (int)k ||
		    e->body[e->len - 1] != 'a' + (int)k))
			__atomic_store_n(&stress_bad, 1, __ATOMIC_RELAXED);
		npm_cache_release(stress_cache, e);
	}
	return NULL;
}

static void
test_cache_threads(void)
{
	pthread_t	 t[8];
	size_t		 i, n, bytes;

	stress_cache = npm_cache_new(8 * 1024);
	for (i = 0; i < 8; i++)
		pthread_create(&t[i], NULL, stress, (void *)(uintptr_t)(i + 1));
	for (i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	npm_cache_usage(stress_cache, &n, &bytes);
	ok(!stress_bad, "8 threads: every entry read whole");
	ok(bytes <= 8 * 1024 && n <= 24, "8 threads: cap held (%zu entries, "
	    "%zu bytes)", n, bytes);
	npm_cache_free(stress_cache);
}

/* --- npm_doc_serve through gw_serve --------------------------------------- */

static struct {
	int		 calls;
	char		 url[256];
	char		 scope[256];
	struct buf	 hdrs;		/* "Name: value\n" each */
	int		 rc;
	enum upstream_err err;
	int		 status;
	const char	*ctype, *etag, *lm, *body;
	const char	*location;	/* a redirect handed back */
} fk;

static int
fake_fetch(struct proxy *px, const char *url, const char *scope,
    char *const *headers, size_t max_body, struct upstream_resp *out)
{
	size_t	 i;

	(void)px;
	fk.calls++;
	snprintf(fk.url, sizeof(fk.url), "%s", url);
	snprintf(fk.scope, sizeof(fk.scope), "%s", scope ? scope : "(null)");
	buf_reset(&fk.hdrs);
	for (i = 0; headers[i] != NULL; i++)
		buf_printf(&fk.hdrs, "%s\n", headers[i]);
	memset(out, 0, sizeof(*out));
	if (fk.rc == -1) {
		out->err = fk.err;
		return -1;
	}
	if (fk.body != NULL && strlen(fk.body) > max_body) {
		out->err = UP_TOO_BIG;
		return -1;
	}
	out->status = fk.status;
	out->content_type = xstrdup_null(fk.ctype);
	out->etag = xstrdup_null(fk.etag);
	out->last_modified = xstrdup_null(fk.lm);
	out->location = xstrdup_null(fk.location);
	if (fk.body != NULL)
		buf_adds(&out->body, fk.body);
	return 0;
}

static void
fake_upstream(int status, const char *ctype, const char *etag,
    const char *body)
{
	fk.rc = 0;
	fk.err = UP_OK;
	fk.status = status;
	fk.ctype = ctype;
	fk.etag = etag;
	fk.lm = etag != NULL ? "Wed, 01 Jan 2020 00:00:00 GMT" : NULL;
	fk.body = body;
	fk.location = NULL;
}

struct sink {
	struct buf	 b;
	int		 fail;
};

static int
sink_write(void *ctx, const void *p, size_t n)
{
	struct sink	*s = ctx;

	if (s->fail)
		return -1;
	buf_add(&s->b, p, n);
	return 0;
}

static int
sink_flush(void *ctx)
{
	(void)ctx;
	return 0;
}

static void
sink_abort(void *ctx)
{
	(void)ctx;
}

/* What one request produced. */
struct got {
	int		 status;
	struct buf	 head;		/* CGI head, CRLFs as LF */
	struct buf	 body;
	struct buf	 event;		/* the event line */
	long long	 bytes;
	int		 proxied;
};

static void
got_free(struct got *g)
{
	buf_free(&g->head);
	buf_free(&g->body);
	buf_free(&g->event);
}

/* "Name: value" from the head, or NULL (static buffer). */
static const char *
got_header(const struct got *g, const char *name)
{
	static char	 v[256];
	const char	*s = g->head.p, *e;
	size_t		 nl = strlen(name);

	for (; s != NULL && *s != '\0'; s = e + 1) {
		if ((e = strchr(s, '\n')) == NULL)
			break;
		if (strncasecmp(s, name, nl) == 0 && s[nl] == ':') {
			snprintf(v, sizeof(v), "%.*s", (int)(e - s - nl - 2),
			    s + nl + 2);
			return v;
		}
	}
	return NULL;
}

/*
 * One request through gw_serve() and npm_doc_serve().  hdrs: extra CGI
 * parameters ("HTTP_ACCEPT=..."), NULL-terminated.
 */
static void
serve(struct gw_ctx *ctx, const char *method, const char *host,
    const char *uri, const char *const *hdrs, int client_gone,
    struct got *g)
{
	struct gw_request	 req;
	struct gw_response	 resp;
	struct gw_event		 ev;
	struct sink		 s;
	struct gw_out		 out = { &s, sink_write, sink_flush,
				    sink_abort, NULL, NULL, NULL };
	struct buf		 b = BUF_INIT;
	char			*params[16];
	size_t			 n = 0, i;
	const char		*sep;

	memset(&s, 0, sizeof(s));
	s.fail = client_gone;
	memset(g, 0, sizeof(*g));
	buf_printf(&b, "REQUEST_METHOD=%s", method);
	params[n++] = buf_steal(&b);
	buf_printf(&b, "REQUEST_URI=%s", uri);
	params[n++] = buf_steal(&b);
	buf_printf(&b, "HTTP_HOST=%s", host);
	params[n++] = buf_steal(&b);
	params[n++] = xstrdup("REMOTE_ADDR=127.0.0.1");
	for (i = 0; hdrs != NULL && hdrs[i] != NULL; i++)
		params[n++] = xstrdup(hdrs[i]);
	params[n] = NULL;

	gw_request_init(&req, params, ctx->config);
	gw_serve(ctx, &req, &resp, &ev);
	if (resp.plan == GW_PLAN_NPM_DOC)
		npm_doc_serve(NULL, ctx, &req, &resp, &ev, &out);
	else
		printf("# %s%s was not proxied\n", host, uri);
	g->bytes = ev.bytes;
	g->proxied = ev.proxied;
	event_format(&ev, &req, &g->event);
	if (g->event.n > 0)
		g->event.p[--g->event.n] = '\0';
	/* split the CGI answer */
	sep = s.b.p != NULL ? strstr(s.b.p, "\r\n\r\n") : NULL;
	if (sep != NULL) {
		for (i = 0; s.b.p + i < sep + 2; i++)
			if (s.b.p[i] != '\r')
				buf_addc(&g->head, s.b.p[i]);
		buf_add(&g->body, sep + 4, s.b.n - (size_t)(sep + 4 - s.b.p));
		sscanf(s.b.p, "Status: %d", &g->status);
	}
	buf_free(&s.b);
	gw_event_free(&ev);
	gw_response_free(&resp);
	gw_request_free(&req);
	for (i = 0; i < n; i++)
		free(params[i]);
}

static const char manifest_text[] =
    "{\"rules\":["
    "{\"type\":\"npm-v1\",\"domain\":\"npm.test\",\"package-id\":\"np\","
    "\"package-name\":\"*\",\"registry\":\"http://up.test/reg/\"},"
    "{\"type\":\"npm-v1\",\"domain\":\"*.mirror.test\",\"package-id\":\"m\","
    "\"package-name\":\"*\",\"registry\":\"http://up.test/reg\"}]}";

#define PACKUMENT \
	"{\"name\":\"pkg\",\"versions\":{\"1.0.0\":{\"dist\":{\"tarball\":" \
	"\"http://up.test/reg/pkg/-/pkg-1.0.0.tgz\",\"integrity\":\"i\"}}}}"
#define PACKUMENT_GW(base) \
	"{\"name\":\"pkg\",\"versions\":{\"1.0.0\":{\"dist\":{\"tarball\":" \
	"\"" base "/pkg/-/pkg-1.0.0.tgz\",\"integrity\":\"i\"}}}}"

static void
test_serve(void)
{
	static const char *const corgi[] = {
		"HTTP_ACCEPT=application/vnd.npm.install-v1+json; q=1.0, "
		"application/json; q=0.8, */*", NULL };
	static const char *const cond[] = {
		"HTTP_ACCEPT=application/json",
		"HTTP_IF_NONE_MATCH=\"e1\"",
		"HTTP_IF_MODIFIED_SINCE=Wed, 01 Jan 2020 00:00:00 GMT",
		"HTTP_AUTHORIZATION=Bearer secret", NULL };
	static const char *const inm_other[] = {
		"HTTP_IF_NONE_MATCH=\"zz\"", NULL };
	static const char *const ims_later[] = {
		"HTTP_IF_MODIFIED_SINCE=Thu, 02 Jan 2020 00:00:00 GMT", NULL };
	static const char *const two_accepts[] = {
		"HTTP_ACCEPT=application/json", "HTTP_ACCEPT=text/x-a\r\nX: y",
		NULL };
	struct manifest_diag	 d;
	struct manifest		*m = NULL;
	struct gw_config	 cfg;
	struct gw_stats		 stats;
	struct gw_ctx		 ctx;
	struct got		 g;
	char			 want[512];

	memset(&d, 0, sizeof(d));
	if (!ok(manifest_parse("t.json", manifest_text,
	    sizeof(manifest_text) - 1, &m, &d) == 0, "test manifest loads: %s",
	    buf_cstr(&d.errors)))
		return;
	manifest_diag_free(&d);
	gw_config_defaults(&cfg);
	cfg.public_scheme = SCHEME_HTTP;
	memset(&stats, 0, sizeof(stats));
	memset(&ctx, 0, sizeof(ctx));
	ctx.manifest = m;
	ctx.config = &cfg;
	ctx.stats = &stats;
	ctx.now = 100000;
	npm_doc_set_fetch(fake_fetch);

	/* --- without a cache --- */
	m->npm_cache_ttl = 0;
	fake_upstream(200, "application/json", "W/\"e1\"", PACKUMENT);
	serve(&ctx, "GET", "npm.test:8080", "/pkg", cond, 0, &g);
	is_int(g.status, 200, "packument: 200");
	is_str(fk.url, "http://up.test/reg/pkg", "packument: upstream URL");
	is_str(fk.scope, "http://up.test/reg/", "packument: redirects are "
	    "followed only under the registry's path");
	is_str(buf_cstr(&fk.hdrs), "Accept: application/json\n"
	    "If-None-Match: \"e1\"\n"
	    "If-Modified-Since: Wed, 01 Jan 2020 00:00:00 GMT\n",
	    "no cache: Accept and the conditionals go upstream, "
	    "Authorization does not");
	is_str(buf_cstr(&g.body), PACKUMENT_GW("http://npm.test:8080"),
	    "packument: tarball rewritten to the public base URL");
	is_str(got_header(&g, "Content-Type"), "application/json",
	    "packument: Content-Type");
	is_str(got_header(&g, "ETag"), "W/\"e1\"", "packument: ETag");
	is_str(got_header(&g, "Last-Modified"),
	    "Wed, 01 Jan 2020 00:00:00 GMT", "packument: Last-Modified");
	is_str(got_header(&g, "Vary"), "Accept", "packument: Vary");
	snprintf(want, sizeof(want), "%zu",
	    strlen(PACKUMENT_GW("http://npm.test:8080")));
	is_str(got_header(&g, "Content-Length"), want,
	    "packument: Content-Length of the rewritten body");
	is_int(g.bytes, strlen(PACKUMENT_GW("http://npm.test:8080")),
	    "event bytes");
	is_int(g.proxied, 1, "event proxied");
	ok(strstr(g.event.p, "\"cache\":null") != NULL,
	    "no cache: \"cache\":null (%s)", g.event.p);
	ok(strstr(g.event.p, "\"error\":null") != NULL,
	    "no error in the event");
	got_free(&g);

	/* HEAD: same head, no body */
	serve(&ctx, "HEAD", "npm.test:8080", "/pkg", NULL, 0, &g);
	is_int(g.status, 200, "HEAD: 200");
	is_str(got_header(&g, "Content-Length"), want,
	    "HEAD: Content-Length of the GET");
	is_int(g.body.n, 0, "HEAD: no body");
	is_int(g.bytes, 0, "HEAD: 0 bytes");
	got_free(&g);

	/* scoped, both forms, and a version document */
	fake_upstream(200, "application/json", NULL,
	    "{\"dist\":{\"tarball\":"
	    "\"http://up.test/reg/@s/p/-/p-2.0.0.tgz\"}}");
	serve(&ctx, "GET", "npm.test", "/@s%2fp/2.0.0", NULL, 0, &g);
	is_str(fk.url, "http://up.test/reg/@s%2fp/2.0.0",
	    "scoped version document: upstream URL");
	is_str(buf_cstr(&g.body), "{\"dist\":{\"tarball\":"
	    "\"http://npm.test/@s/p/-/p-2.0.0.tgz\"}}",
	    "scoped version document: tarball with a literal '/'");
	is_str(got_header(&g, "ETag"), NULL, "no upstream ETag: none");
	ok(strstr(g.event.p, "\"package\":\"@s/p\",\"version\":\"2.0.0\"")
	    != NULL, "event: package and version (%s)", g.event.p);
	got_free(&g);
	fake_upstream(200, "application/json", NULL,
	    "{\"versions\":{\"1\":{\"dist\":{\"tarball\":\"https://x/p-1.tgz\""
	    "}}}}");
	serve(&ctx, "GET", "npm.test", "/@s/p", NULL, 0, &g);
	is_str(fk.url, "http://up.test/reg/@s%2fp", "scoped packument, "
	    "/@scope/name form: upstream URL");
	is_str(buf_cstr(&g.body), "{\"versions\":{\"1\":{\"dist\":{\"tarball\":"
	    "\"http://npm.test/@s/p/-/p-1.tgz\"}}}}",
	    "scoped packument: rewritten");
	got_free(&g);

	/* dist-tags: unchanged */
	fake_upstream(200, "application/json", NULL,
	    "{\"latest\":\"1.0.0\"}");
	serve(&ctx, "GET", "npm.test", "/-/package/pkg/dist-tags", NULL, 0,
	    &g);
	is_str(fk.url, "http://up.test/reg/-/package/pkg/dist-tags",
	    "dist-tags: upstream URL");
	is_str(buf_cstr(&g.body), "{\"latest\":\"1.0.0\"}", "dist-tags body");
	got_free(&g);

	/* Accept values: all of them, control bytes dropped */
	fake_upstream(200, "application/json", NULL, "{}");
	serve(&ctx, "GET", "npm.test", "/pkg", two_accepts, 0, &g);
	is_str(buf_cstr(&fk.hdrs), "Accept: application/json, text/x-aX: y\n",
	    "Accept: every value, no CR/LF");
	got_free(&g);

	/* upstream 304, 404 */
	fake_upstream(304, NULL, "W/\"e1\"", NULL);
	serve(&ctx, "GET", "npm.test", "/pkg", cond, 0, &g);
	is_int(g.status, 304, "upstream 304 passed on");
	is_str(got_header(&g, "ETag"), "W/\"e1\"", "304 carries the ETag");
	is_str(got_header(&g, "Content-Length"), NULL, "304: no length");
	is_int(g.body.n, 0, "304: no body");
	is_int(g.proxied, 1, "304: proxied");
	got_free(&g);
	fake_upstream(404, "application/json", NULL,
	    "{\"error\":\"Not found\"}");
	serve(&ctx, "GET", "npm.test", "/nope", NULL, 0, &g);
	is_int(g.status, 404, "upstream 404 passed on");
	is_str(buf_cstr(&g.body), "{\"error\":\"Not found\"}", "404 body");
	is_str(got_header(&g, "Content-Type"), "application/json",
	    "404 Content-Type");
	got_free(&g);
	/* npm_410_status_unknown: an unpublished package's 410 was written
	 * "Status: 410 Unknown" (a second reason table in proxy.c) */
	fake_upstream(410, "application/json", NULL,
	    "{\"error\":\"Gone\"}");
	serve(&ctx, "GET", "npm.test", "/gone", NULL, 0, &g);
	is_int(g.status, 410, "upstream 410 passed on");
	ok(strncmp(buf_cstr(&g.head), "Status: 410 Gone\n", 17) == 0,
	    "its Status line has RFC 9110's phrase (%.16s)", buf_cstr(&g.head));
	got_free(&g);

	/* a redirect the fetch did not follow: a 307 to the client */
	fake_upstream(302, "text/html", NULL, NULL);
	fk.location = "http://other.test/reg/pkg?x=%01";
	serve(&ctx, "GET", "npm.test", "/pkg", NULL, 0, &g);
	is_int(g.status, 307, "redirect handed back: 307");
	is_str(got_header(&g, "Location"), "http://other.test/reg/pkg?x=%01",
	    "redirect handed back: its Location");
	is_str(got_header(&g, "Content-Type"), NULL,
	    "redirect handed back: no upstream Content-Type");
	is_int(g.body.n, 0, "redirect handed back: no body");
	ok(strstr(g.event.p, "\"location\":\"http://other.test/reg/pkg"
	    "?x=%01\"") != NULL && strstr(g.event.p, "\"status\":307") !=
	    NULL, "redirect handed back: event status and location (%s)",
	    g.event.p);
	got_free(&g);

	/* failures */
	fk.rc = -1;
	fk.err = UP_CONNECT;
	serve(&ctx, "GET", "npm.test", "/pkg", NULL, 0, &g);
	is_int(g.status, 502, "connect failure: 502");
	is_str(buf_cstr(&g.body), "{\"error\":\"upstream registry "
	    "unreachable\"}", "502 body");
	is_str(got_header(&g, "Content-Type"), "application/json",
	    "502 Content-Type");
	is_int(g.proxied, 0, "502: not proxied");
	ok(strstr(g.event.p, "\"error\":\"upstream registry unreachable\"")
	    != NULL, "502: event error");
	is_int(stats.upstream_connect_errors, 1, "connect errors counted");
	got_free(&g);
	fk.err = UP_TIMEOUT;
	serve(&ctx, "GET", "npm.test", "/pkg", NULL, 0, &g);
	is_int(g.status, 504, "timeout: 504");
	is_str(buf_cstr(&g.body), "{\"error\":\"upstream registry timed "
	    "out\"}", "504 body");
	is_int(stats.upstream_timeouts, 1, "timeouts counted");
	got_free(&g);
	fk.err = UP_TOO_BIG;
	serve(&ctx, "GET", "npm.test", "/pkg", NULL, 0, &g);
	is_int(g.status, 502, "too big: 502");
	got_free(&g);
	fake_upstream(200, "text/html", NULL, "<html>oops</html>");
	serve(&ctx, "GET", "npm.test", "/pkg", NULL, 0, &g);
	is_int(g.status, 502, "200 that is not JSON: 502");
	is_str(buf_cstr(&g.body), "{\"error\":\"upstream registry "
	    "unreachable\"}", "not JSON: 502 body");
	ok(strstr(g.event.p, "not JSON") != NULL, "not JSON: event error");
	got_free(&g);

	/* the client gone: logged */
	fake_upstream(200, "application/json", NULL, PACKUMENT);
	serve(&ctx, "GET", "npm.test", "/pkg", NULL, 1, &g);
	ok(strstr(g.event.p, "\"error\":\"client went away\"") != NULL,
	    "client gone: event error");
	is_int(g.bytes, 0, "client gone: no bytes");
	got_free(&g);

	/* --- with a cache --- */
	m->npm_cache_ttl = 60;
	fk.calls = 0;
	fake_upstream(200, "application/json", "\"e1\"", PACKUMENT);
	serve(&ctx, "GET", "npm.test", "/pkg", cond, 0, &g);
	is_int(fk.calls, 1, "cache miss: one fetch");
	is_str(buf_cstr(&fk.hdrs), "Accept: application/json\n",
	    "cache: no conditionals upstream");
	is_int(g.status, 304, "cache miss: If-None-Match answered here");
	ok(strstr(g.event.p, "\"cache\":\"miss\"") != NULL,
	    "event \"cache\":\"miss\" (%s)", g.event.p);
	got_free(&g);
	serve(&ctx, "GET", "npm.test", "/pkg", NULL, 0, &g);
	is_int(fk.calls, 1, "cache hit: no fetch");
	is_int(g.status, 200, "cache hit: 200");
	is_str(buf_cstr(&g.body), PACKUMENT_GW("http://npm.test"),
	    "cache hit: the rewritten body");
	is_str(got_header(&g, "ETag"), "\"e1\"", "cache hit: ETag");
	is_str(got_header(&g, "Vary"), "Accept", "cache hit: Vary");
	snprintf(want, sizeof(want), "%zu",
	    strlen(PACKUMENT_GW("http://npm.test")));
	is_str(got_header(&g, "Content-Length"), want,
	    "cache hit: Content-Length");
	is_int(g.proxied, 1, "cache hit: proxied");
	ok(strstr(g.event.p, "\"cache\":\"hit\"") != NULL,
	    "event \"cache\":\"hit\"");
	got_free(&g);
	serve(&ctx, "GET", "npm.test", "/pkg", cond, 0, &g);
	is_int(g.status, 304, "cache hit: If-None-Match equal: 304");
	is_str(got_header(&g, "ETag"), "\"e1\"", "cache 304: ETag");
	is_int(g.body.n, 0, "cache 304: no body");
	got_free(&g);
	serve(&ctx, "GET", "npm.test", "/pkg", inm_other, 0, &g);
	is_int(g.status, 200, "cache hit: other If-None-Match: 200");
	got_free(&g);
	serve(&ctx, "GET", "npm.test", "/pkg", ims_later, 0, &g);
	is_int(g.status, 304, "cache hit: If-Modified-Since later: 304");
	got_free(&g);
	serve(&ctx, "HEAD", "npm.test", "/pkg", NULL, 0, &g);
	is_str(got_header(&g, "Content-Length"), want,
	    "cache hit, HEAD: Content-Length");
	is_int(g.body.n, 0, "cache hit, HEAD: no body");
	got_free(&g);
	/* the /@scope/name and %2f forms share the document */
	fake_upstream(200, "application/json", NULL,
	    "{\"versions\":{\"1\":{\"dist\":{\"tarball\":\"https://x/p-1.tgz\""
	    "}}}}");
	serve(&ctx, "GET", "npm.test", "/@s%2Fp", NULL, 0, &g);
	got_free(&g);
	serve(&ctx, "GET", "npm.test", "/@s/p", NULL, 0, &g);
	is_int(fk.calls, 2, "scoped: both forms, one fetch");
	is_str(buf_cstr(&g.body), "{\"versions\":{\"1\":{\"dist\":{\"tarball\":"
	    "\"http://npm.test/@s/p/-/p-1.tgz\"}}}}", "scoped: from the cache");
	got_free(&g);
	fk.calls = 1;
	/* another host on the same registry: a hit, its own URLs */
	serve(&ctx, "GET", "a.mirror.test", "/pkg", NULL, 0, &g);
	is_int(fk.calls, 1, "another host, same registry: a hit");
	is_str(buf_cstr(&g.body), PACKUMENT_GW("http://a.mirror.test"),
	    "another host: tarballs point at it");
	got_free(&g);
	/* abbreviated is another key */
	serve(&ctx, "GET", "npm.test", "/pkg", corgi, 0, &g);
	is_int(fk.calls, 2, "abbreviated form: a miss of its own");
	ok(strstr(buf_cstr(&fk.hdrs), "application/vnd.npm.install-v1+json")
	    != NULL, "abbreviated Accept forwarded");
	got_free(&g);
	serve(&ctx, "GET", "npm.test", "/pkg", corgi, 0, &g);
	is_int(fk.calls, 2, "abbreviated form: then a hit");
	got_free(&g);
	/* the TTL runs out */
	ctx.now += 60;
	serve(&ctx, "GET", "npm.test", "/pkg", NULL, 0, &g);
	is_int(fk.calls, 3, "after the TTL: fetched again");
	ok(strstr(g.event.p, "\"cache\":\"miss\"") != NULL,
	    "after the TTL: a miss");
	got_free(&g);
	/* redirects handed back are not cached either */
	fake_upstream(307, NULL, NULL, NULL);
	fk.location = "https://elsewhere.test/moved";
	serve(&ctx, "GET", "npm.test", "/moved", NULL, 0, &g);
	is_int(g.status, 307, "cache: a redirect handed back");
	got_free(&g);
	serve(&ctx, "GET", "npm.test", "/moved", NULL, 0, &g);
	is_int(fk.calls, 5, "cache: a redirect handed back is not cached");
	got_free(&g);
	fk.calls -= 2;
	/* errors are not cached */
	fake_upstream(404, "application/json", NULL, "{}");
	serve(&ctx, "GET", "npm.test", "/gone", NULL, 0, &g);
	got_free(&g);
	serve(&ctx, "GET", "npm.test", "/gone", NULL, 0, &g);
	is_int(fk.calls, 5, "a 404 is not cached");
	got_free(&g);
	is_int(stats.npm_cache_hits, 8, "hits counted");
	is_int(stats.npm_cache_misses, 8, "misses counted");

	npm_doc_set_fetch(NULL);
	buf_free(&fk.hdrs);
	manifest_unref(m);
}

int
main(void)
{
	test_rewrite_rows();
	test_depth();
	test_big_packument();
	test_forms();
	test_cache();
	test_cache_threads();
	test_serve();
	return done_testing();
}
