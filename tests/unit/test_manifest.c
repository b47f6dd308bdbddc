/*
 * Unit tests for common/manifest.c: validation errors and warnings (exact
 * lines, SPEC §1.5), JSON syntax errors, rule fields, host lookup (§2.2),
 * precedence (§2.5), loading files and reference counting.
 *
 * Manifests in the tables are written with ' for " (see jq()); the JSON
 * syntax table uses real JSON text.
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "catchall.h"
#include "docker.h"
#include "filerule.h"
#include "manifest.h"
#include "npm.h"
#include "pixel.h"
#include "python.h"
#include "ruletype.h"
#include "telemetry.h"
#include "xmalloc.h"

#include "../tap.h"

#define NAME	"m.json"
#define ONE(x)	"{'rules':[{" x "}]}"
#define PIX	"'type':'pixel-v1','package-id':'p',"

/* The records of the rule types behind struct rule. */
#define DOCKER(r)	((const struct docker_rule *)(r)->priv)
#define NPM(r)		((const struct npm_rule *)(r)->priv)
#define FILER(r)	((const struct file_rule *)(r)->priv)
#define PY(r)		((const struct py_rule *)(r)->priv)
#define PIXEL(r)	((const struct pixel_rule *)(r)->priv)
#define TELE(r)		((const struct telemetry_rule *)(r)->priv)
#define CATCH(r)	((const struct catchall_rule *)(r)->priv)

/* s with every ' turned into "; caller frees. */
static char *
jq(const char *s)
{
	char	*o, *p;

	o = xstrdup(s);
	for (p = o; *p; p++)
		if (*p == '\'')
			*p = '"';
	return o;
}

/* Parses jq(src); returns the manifest or NULL, diag in *d. */
static struct manifest *
load(const char *src, struct manifest_diag *d)
{
	struct manifest	*m;
	char		*t;

	t = jq(src);
	memset(d, 0, sizeof(*d));
	if (manifest_parse(NAME, t, strlen(t), &m, d) == -1)
		m = NULL;
	free(t);
	return m;
}

/* ------------------------------------------------------------------ */

static const struct {
	int		 line;
	const char	*src;
	const char	*errors;	/* exact, every line */
} invalid[] = {
	{ __LINE__, "[]",
	    NAME ": top level must be a JSON object (got array)\n" },
	{ __LINE__, "'x'",
	    NAME ": top level must be a JSON object (got string)\n" },
	{ __LINE__, "{}",
	    NAME ": \"rules\": required field is missing\n" },
	{ __LINE__, "{'rules':{}}",
	    NAME ": \"rules\": must be an array (got object)\n" },
	{ __LINE__, "{'rules':null}",
	    NAME ": \"rules\": must be an array (got null)\n" },
	{ __LINE__, "{'rules':[1]}",
	    NAME ": rules[0]: must be an object (got number)\n" },
	{ __LINE__, "{'rules':[{}]}",
	    NAME ": rules[0]: \"type\": required field is missing\n" },
	{ __LINE__, "{'rules':[{'type':5}]}",
	    NAME ": rules[0]: \"type\": must be a string (got number)\n" },
	{ __LINE__, "{'rules':[{'type':null}]}",
	    NAME ": rules[0]: \"type\": must be a string (got null)\n" },
	{ __LINE__, ONE("'type':'file-v3','domain':'a'"),
	    NAME ": rules[0]: \"type\": unknown rule type \"file-v3\"\n" },
	{ __LINE__, ONE("'type':'pixel-v1','package-id':'p'"),
	    NAME ": rules[0] (pixel-v1): \"domain\": required field is "
	    "missing\n" },
	{ __LINE__, ONE(PIX "'domain':42"),
	    NAME ": rules[0] (pixel-v1): \"domain\": must be a string "
	    "(got number)\n" },
	{ __LINE__, ONE(PIX "'domain':''"),
	    NAME ": rules[0] (pixel-v1): \"domain\": must not be empty\n" },
	{ __LINE__, ONE(PIX "'domain':'.'"),
	    NAME ": rules[0] (pixel-v1): \"domain\": must not be empty\n" },
	{ __LINE__, ONE(PIX "'domain':'exa mple.com'"),
	    NAME ": rules[0] (pixel-v1): \"domain\": invalid domain "
	    "\"exa mple.com\": only letters, digits, '-', '_' and '.' are "
	    "allowed\n" },
	{ __LINE__, ONE(PIX "'domain':'b\\u00fccher.example'"),
	    NAME ": rules[0] (pixel-v1): \"domain\": invalid domain "
	    "\"b\xc3\xbc" "cher.example\": only letters, digits, '-', '_' "
	    "and '.' are allowed\n" },
	{ __LINE__, ONE(PIX "'domain':'a.*.example'"),
	    NAME ": rules[0] (pixel-v1): \"domain\": invalid domain "
	    "\"a.*.example\": '*' must be the whole first label, as in "
	    "\"*.example.com\"\n" },
	{ __LINE__, ONE(PIX "'domain':'*example.com'"),
	    NAME ": rules[0] (pixel-v1): \"domain\": invalid domain "
	    "\"*example.com\": '*' must be the whole first label, as in "
	    "\"*.example.com\"\n" },
	{ __LINE__, ONE(PIX "'domain':'*'"),
	    NAME ": rules[0] (pixel-v1): \"domain\": invalid domain "
	    "\"*\": '*' must be the whole first label, as in "
	    "\"*.example.com\"\n" },
	{ __LINE__, ONE(PIX "'domain':'example.com:80x'"),
	    NAME ": rules[0] (pixel-v1): \"domain\": invalid domain "
	    "\"example.com:80x\": bad port\n" },
	{ __LINE__, ONE(PIX "'domain':'[zz::1]'"),
	    NAME ": rules[0] (pixel-v1): \"domain\": invalid domain "
	    "\"[zz::1]\": bad IPv6 literal\n" },
	{ __LINE__, ONE(PIX "'domain':'a','owner':5"),
	    NAME ": rules[0] (pixel-v1): \"owner\": must be a string "
	    "(got number)\n" },
	{ __LINE__, ONE("'type':'pixel-v1','domain':'a'"),
	    NAME ": rules[0] (pixel-v1): \"package-id\": required field is "
	    "missing\n" },
	{ __LINE__, ONE("'type':'pixel-v1','domain':'a','package-id':null"),
	    NAME ": rules[0] (pixel-v1): \"package-id\": must be a string "
	    "(got null)\n" },
	{ __LINE__, ONE("'type':'docker-v1','domain':'a','package-id':'p',"
	    "'repository-name':'library//x','registry':'ghcr.io'"),
	    NAME ": rules[0] (docker-v1): \"repository-name\": empty "
	    "component in \"library//x\"\n" },
	{ __LINE__, ONE("'type':'docker-v1','domain':'a','package-id':'p',"
	    "'repository-name':'x/','registry':'ghcr.io'"),
	    NAME ": rules[0] (docker-v1): \"repository-name\": empty "
	    "component in \"x/\"\n" },
	{ __LINE__, ONE("'type':'docker-v1','domain':'a','package-id':'p',"
	    "'repository-name':'','registry':'ghcr.io'"),
	    NAME ": rules[0] (docker-v1): \"repository-name\": must not be "
	    "empty\n" },
	{ __LINE__, ONE("'type':'docker-v1','domain':'a','package-id':'p',"
	    "'repository-name':'x','registry':'ghcr.io/v2'"),
	    NAME ": rules[0] (docker-v1): \"registry\": invalid registry "
	    "\"ghcr.io/v2\": must be host[:port] or http(s)://host[:port] "
	    "with nothing after it\n" },
	{ __LINE__, ONE("'type':'docker-v1','domain':'a','package-id':'p',"
	    "'repository-name':'x','registry':'ftp://ghcr.io'"),
	    NAME ": rules[0] (docker-v1): \"registry\": invalid registry "
	    "\"ftp://ghcr.io\": must be host[:port] or http(s)://host[:port] "
	    "with nothing after it\n" },
	{ __LINE__, ONE("'type':'docker-v1','domain':'a','package-id':'p',"
	    "'repository-name':'x','registry':'https://ghcr.io:99999'"),
	    NAME ": rules[0] (docker-v1): \"registry\": invalid registry "
	    "\"https://ghcr.io:99999\": must be host[:port] or "
	    "http(s)://host[:port] with nothing after it\n" },
	{ __LINE__, ONE("'type':'docker-v1','domain':'a','package-id':'p',"
	    "'repository-name':'x','registry':'https://u@ghcr.io'"),
	    NAME ": rules[0] (docker-v1): \"registry\": invalid registry "
	    "\"https://u@ghcr.io\": must be host[:port] or "
	    "http(s)://host[:port] with nothing after it\n" },
	{ __LINE__, ONE("'type':'docker-v1','domain':'a','package-id':'p',"
	    "'repository-name':'x','registry':'ghcr.io',"
	    "'always-proxy':'yes'"),
	    NAME ": rules[0] (docker-v1): \"always-proxy\": must be a "
	    "boolean (got string)\n" },
	{ __LINE__, ONE("'type':'docker-v2','domain':'a','pattern':'x/*',"
	    "'registry':'ghcr.io'"),
	    NAME ": rules[0] (docker-v2): \"rule-id\": required field is "
	    "missing\n" },
	{ __LINE__, ONE("'type':'docker-v2','domain':'a','rule-id':'r',"
	    "'pattern':'x/*'"),
	    NAME ": rules[0] (docker-v2): \"registry\": required field is "
	    "missing\n" },
	{ __LINE__, ONE("'type':'npm-v1','domain':'a','package-id':'p',"
	    "'package-name':'@scope'"),
	    NAME ": rules[0] (npm-v1): \"package-name\": invalid npm package "
	    "name \"@scope\": a scoped name must be @scope/name\n" },
	{ __LINE__, ONE("'type':'npm-v1','domain':'a','package-id':'p',"
	    "'package-name':'left*'"),
	    NAME ": rules[0] (npm-v1): \"package-name\": invalid npm package "
	    "name \"left*\": '*' is only allowed as \"*\" or \"@scope/*\"\n" },
	{ __LINE__, ONE("'type':'npm-v1','domain':'a','package-id':'p',"
	    "'package-name':'a/b'"),
	    NAME ": rules[0] (npm-v1): \"package-name\": invalid npm package "
	    "name \"a/b\": only a scoped name (@scope/name) may contain "
	    "'/'\n" },
	{ __LINE__, ONE("'type':'npm-v1','domain':'a','package-id':'p',"
	    "'package-name':'-x'"),
	    NAME ": rules[0] (npm-v1): \"package-name\": invalid npm package "
	    "name \"-x\": must not start with '-'\n" },
	{ __LINE__, ONE("'type':'npm-v1','domain':'a','package-id':'p',"
	    "'package-name':'x','registry':'registry.npmjs.org'"),
	    NAME ": rules[0] (npm-v1): \"registry\": must be an absolute http "
	    "or https URL\n" },
	{ __LINE__, ONE("'type':'npm-v1','domain':'a','package-id':'p',"
	    "'package-name':'x','registry':'https://r.example/?a=1'"),
	    NAME ": rules[0] (npm-v1): \"registry\": must not have a query "
	    "or fragment\n" },
	{ __LINE__, ONE("'type':'file-v1','domain':'a','package-id':'p',"
	    "'incoming-path':'/x'"),
	    NAME ": rules[0] (file-v1): \"outgoing-url\": required field is "
	    "missing (use null to only log)\n" },
	{ __LINE__, ONE("'type':'file-v2','domain':'a','package-id':'p',"
	    "'incoming-path':'/x','outgoing-url':5"),
	    NAME ": rules[0] (file-v2): \"outgoing-url\": must be a string or "
	    "null (got number)\n" },
	{ __LINE__, ONE("'type':'file-v1','domain':'a','package-id':'p',"
	    "'outgoing-url':null"),
	    NAME ": rules[0] (file-v1): \"incoming-path\": required field is "
	    "missing\n" },
	{ __LINE__, ONE("'type':'python-v1','domain':'a','package-id':'p',"
	    "'package-name':'n','file-name':'a/b.whl','version':'1',"
	    "'backend-url':'https://f.example/a'"),
	    NAME ": rules[0] (python-v1): \"file-name\": must not contain "
	    "'/'\n" },
	{ __LINE__, ONE("'type':'python-v1','domain':'a','package-id':'p',"
	    "'package-name':'','file-name':'','version':'1',"
	    "'backend-url':'https://f.example/a'"),
	    NAME ": rules[0] (python-v1): \"package-name\": must not be "
	    "empty\n"
	    NAME ": rules[0] (python-v1): \"file-name\": must not be "
	    "empty\n" },
	{ __LINE__, ONE("'type':'python-v1','domain':'a','package-id':'p',"
	    "'package-name':'n','file-name':'f','version':1,"
	    "'backend-url':'files.example/f'"),
	    NAME ": rules[0] (python-v1): \"version\": must be a string "
	    "(got number)\n"
	    NAME ": rules[0] (python-v1): \"backend-url\": must be an "
	    "absolute http or https URL\n" },
	{ __LINE__, ONE("'type':'python-v1','domain':'a','package-id':'p',"
	    "'package-name':'n','file-name':'f','version':'1',"
	    "'backend-url':'https://f.example/f','hash-value':{'type':'md5'}"),
	    NAME ": rules[0] (python-v1): \"hash-value\": member \"hash\": "
	    "required field is missing\n" },
	{ __LINE__, ONE("'type':'python-v1','domain':'a','package-id':'p',"
	    "'package-name':'n','file-name':'f','version':'1',"
	    "'backend-url':'https://f.example/f','hash-value':'md5:00'"),
	    NAME ": rules[0] (python-v1): \"hash-value\": must be an object "
	    "(got string)\n" },
	{ __LINE__, ONE("'type':'python-v1','domain':'a','package-id':'p',"
	    "'package-name':'n','file-name':'f','version':'1',"
	    "'backend-url':'https://f.example/f','yanked':1,"
	    "'core-metadata':'yes','gpg-sig':'no'"),
	    NAME ": rules[0] (python-v1): \"gpg-sig\": must be a boolean "
	    "(got string)\n"
	    NAME ": rules[0] (python-v1): \"yanked\": must be a boolean or "
	    "a string (got number)\n"
	    NAME ": rules[0] (python-v1): \"core-metadata\": must be an "
	    "object or true (got string)\n" },
	{ __LINE__, ONE("'type':'python-v1','domain':'a','package-id':'p',"
	    "'package-name':'n','file-name':'f','version':'1',"
	    "'backend-url':'https://f.example/f',"
	    "'core-metadata':{'type':1,'hash':'h'}"),
	    NAME ": rules[0] (python-v1): \"core-metadata\": member \"type\": "
	    "must be a string (got number)\n" },
	{ __LINE__, ONE("'type':'python-v1','domain':'a','package-id':'p',"
	    "'package-name':'n','file-name':'f','version':'1',"
	    "'backend-url':'https://f.example/f',"
	    "'backend-simple-index-url':'pypi.org/simple/'"),
	    NAME ": rules[0] (python-v1): \"backend-simple-index-url\": must "
	    "be an absolute http or https URL\n" },
	{ __LINE__, ONE(PIX "'domain':'a','incoming-path':'a.png'"),
	    NAME ": rules[0] (pixel-v1): \"incoming-path\": must start with "
	    "'/'\n" },
	{ __LINE__, ONE("'type':'telemetry-v1','domain':'a','package-id':'p'"),
	    NAME ": rules[0] (telemetry-v1): \"incoming-path\": required "
	    "field is missing\n" },
	{ __LINE__, ONE("'type':'telemetry-v1','domain':'a','package-id':'p',"
	    "'incoming-path':'/e','access-tokens':['a',1]"),
	    NAME ": rules[0] (telemetry-v1): \"access-tokens\": item 1: must "
	    "be a string (got number)\n" },
	{ __LINE__, ONE("'type':'telemetry-v1','domain':'a','package-id':'p',"
	    "'incoming-path':'/e','access-tokens':'abc'"),
	    NAME ": rules[0] (telemetry-v1): \"access-tokens\": must be an "
	    "array (got string)\n" },
	{ __LINE__, ONE("'type':'catch-all-v1','domain':'a','package-id':'p',"
	    "'redirect-target-domain':'mirror.example/?x=1'"),
	    NAME ": rules[0] (catch-all-v1): \"redirect-target-domain\": "
	    "must not have a query or fragment\n" },
	{ __LINE__, ONE("'type':'catch-all-v1','domain':'a','package-id':'p',"
	    "'redirect-target-domain':''"),
	    NAME ": rules[0] (catch-all-v1): \"redirect-target-domain\": "
	    "\"https://\" + value must be an absolute URL with a host\n" },
	{ __LINE__, ONE("'type':'catch-all-v1','domain':'a','package-id':'p',"
	    "'redirect-target-domain':'mirror example'"),
	    NAME ": rules[0] (catch-all-v1): \"redirect-target-domain\": "
	    "\"https://\" + value must be an absolute URL with a host\n" },
	{ __LINE__, "{'rules':[],'settings':[]}",
	    NAME ": \"settings\": must be an object (got array)\n" },
	{ __LINE__, "{'rules':[],'settings':{'npm-cache-ttl':-1}}",
	    NAME ": settings: \"npm-cache-ttl\": must be an integer between 0 "
	    "and 2147483647\n" },
	{ __LINE__, "{'rules':[],'settings':{'npm-cache-ttl':1.5}}",
	    NAME ": settings: \"npm-cache-ttl\": must be an integer between 0 "
	    "and 2147483647\n" },
	{ __LINE__, "{'rules':[],'settings':{'npm-cache-ttl':'60'}}",
	    NAME ": settings: \"npm-cache-ttl\": must be an integer between 0 "
	    "and 2147483647\n" },
	{ __LINE__, "{'rules':[],'settings':"
	    "{'docker-redirect-user-agents':{}}}",
	    NAME ": settings: \"docker-redirect-user-agents\": must be an "
	    "array (got object)\n" },
	/* several errors: all reported, in order; valid rules are silent */
	{ __LINE__, "{'rules':[{" PIX "'domain':'a'},{'type':'pixel-v1',"
	    "'domain':'a b'},{" PIX "'domain':'c'},7]}",
	    NAME ": rules[1] (pixel-v1): \"domain\": invalid domain \"a b\": "
	    "only letters, digits, '-', '_' and '.' are allowed\n"
	    NAME ": rules[1] (pixel-v1): \"package-id\": required field is "
	    "missing\n"
	    NAME ": rules[3]: must be an object (got number)\n" },
	/* values are quoted as JSON strings, control characters escaped */
	{ __LINE__, ONE("'type':'x\\ny\\\"','domain':'a'"),
	    NAME ": rules[0]: \"type\": unknown rule type \"x\\ny\\\"\"\n" },
};

/* Errors that carry another module's message: only the prefix is ours. */
static const struct {
	int		 line;
	const char	*src;
	const char	*prefix;
} invalid_prefix[] = {
	{ __LINE__, ONE("'type':'docker-v2','domain':'a','rule-id':'r',"
	    "'pattern':'a//b','registry':'ghcr.io'"),
	    NAME ": rules[0] (docker-v2): \"pattern\": invalid image pattern: "
	},
	{ __LINE__, ONE("'type':'docker-v2','domain':'a','rule-id':'r',"
	    "'pattern':'','registry':'ghcr.io'"),
	    NAME ": rules[0] (docker-v2): \"pattern\": invalid image pattern: "
	},
	{ __LINE__, ONE("'type':'file-v1','domain':'a','package-id':'p',"
	    "'incoming-path':'/{x','outgoing-url':null"),
	    NAME ": rules[0] (file-v1): \"incoming-path\": invalid template: "
	},
	{ __LINE__, ONE("'type':'file-v1','domain':'a','package-id':'p',"
	    "'incoming-path':'/x','outgoing-url':'https://x/{y'"),
	    NAME ": rules[0] (file-v1): \"outgoing-url\": invalid template: "
	},
	{ __LINE__, ONE("'type':'file-v2','domain':'a','package-id':'p',"
	    "'incoming-path':'/(x','outgoing-url':null"),
	    NAME ": rules[0] (file-v2): \"incoming-path\": invalid regular "
	    "expression: " },
	{ __LINE__, "{'rules':[],'settings':"
	    "{'docker-redirect-user-agents':[{'foo':'x'}]}}",
	    NAME ": settings: \"docker-redirect-user-agents\": " },
};

static void
test_invalid(void)
{
	struct manifest_diag	 d;
	struct manifest		*m;
	size_t			 i;

	for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		m = load(invalid[i].src, &d);
		ok_at(invalid[i].line, m == NULL, "invalid row %d rejected",
		    invalid[i].line);
		is_str_at(invalid[i].line, buf_cstr(&d.errors),
		    invalid[i].errors, "invalid row %d message",
		    invalid[i].line);
		manifest_unref(m);
		manifest_diag_free(&d);
	}
	for (i = 0; i < sizeof(invalid_prefix) / sizeof(invalid_prefix[0]);
	    i++) {
		const char *e, *want = invalid_prefix[i].prefix;

		m = load(invalid_prefix[i].src, &d);
		e = buf_cstr(&d.errors);
		if (!ok_at(invalid_prefix[i].line, m == NULL &&
		    strncmp(e, want, strlen(want)) == 0 &&
		    strlen(e) > strlen(want) + 1 &&
		    strchr(e, '\n') == e + strlen(e) - 1,
		    "invalid row %d: one line starting '%s'",
		    invalid_prefix[i].line, want))
			printf("#        got: '%s'\n", e);
		manifest_unref(m);
		manifest_diag_free(&d);
	}
}

/* The error count is capped. */
static void
test_too_many_errors(void)
{
	struct manifest_diag	 d;
	struct manifest		*m;
	struct buf		 b = BUF_INIT;
	const char		*p;
	int			 i, lines = 0;

	buf_adds(&b, "{'rules':[");
	for (i = 0; i < 500; i++)
		buf_adds(&b, i ? ",1" : "1");
	buf_adds(&b, "]}");
	m = load(buf_cstr(&b), &d);
	for (p = buf_cstr(&d.errors); (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	ok(m == NULL, "500 bad rules rejected");
	is_int(lines, 101, "error lines capped at 100 + 1");
	ok(strstr(buf_cstr(&d.errors), NAME ": too many errors, giving up\n")
	    != NULL, "cap line present");
	manifest_diag_free(&d);
	buf_free(&b);
}

/* ------------------------------------------------------------------ */

static const struct {
	int		 line;
	const char	*src;		/* real JSON */
	const char	*error;
} syntax[] = {
	{ __LINE__, "", NAME ":1:1: JSON syntax error: empty document "
	    "(expected a JSON object)\n" },
	{ __LINE__, "  \n ", NAME ":2:2: JSON syntax error: empty document "
	    "(expected a JSON object)\n" },
	{ __LINE__, "{", NAME ":1:2: JSON syntax error: unexpected end of "
	    "input (expected a string key in double quotes)\n" },
	{ __LINE__, "{\"rules\": [}", NAME ":1:12: JSON syntax error: "
	    "expected a value\n" },
	{ __LINE__, "{\n  \"rules\": []\n  \"settings\": {}\n}",
	    NAME ":3:3: JSON syntax error: expected ',' or '}'\n" },
	{ __LINE__, "{\"rules\": [1 2]}", NAME ":1:14: JSON syntax error: "
	    "expected ',' or ']'\n" },
	{ __LINE__, "{\"rules\": [1,]}", NAME ":1:14: JSON syntax error: "
	    "trailing comma before ']'\n" },
	{ __LINE__, "{\"a\":1,}", NAME ":1:8: JSON syntax error: "
	    "trailing comma before '}'\n" },
	{ __LINE__, "{\"a\" 1}", NAME ":1:6: JSON syntax error: "
	    "expected ':' after the key\n" },
	{ __LINE__, "{'rules': []}", NAME ":1:2: JSON syntax error: "
	    "strings must be in double quotes\n" },
	{ __LINE__, "// manifest\n{}", NAME ":1:1: JSON syntax error: "
	    "comments are not allowed in JSON\n" },
	{ __LINE__, "{\"a\": tru}", NAME ":1:7: JSON syntax error: "
	    "invalid literal (expected true, false or null)\n" },
	{ __LINE__, "{\"a\": True}", NAME ":1:7: JSON syntax error: "
	    "expected a value\n" },
	{ __LINE__, "{\"a\": 01}", NAME ":1:7: JSON syntax error: "
	    "invalid number (leading zero)\n" },
	{ __LINE__, "{\"a\":-}", NAME ":1:6: JSON syntax error: "
	    "invalid number\n" },
	{ __LINE__, "{\"a\":1.}", NAME ":1:6: JSON syntax error: "
	    "invalid number\n" },
	{ __LINE__, "{\"a\":1e}", NAME ":1:6: JSON syntax error: "
	    "invalid number\n" },
	{ __LINE__, "{\"a\": \"x\ny\"}", NAME ":1:7: JSON syntax error: "
	    "unterminated string (line break inside a string)\n" },
	{ __LINE__, "{\"a\": \"abc", NAME ":1:7: JSON syntax error: "
	    "unterminated string\n" },
	{ __LINE__, "{\"a\": \"\\q\"}", NAME ":1:8: JSON syntax error: "
	    "invalid escape sequence in a string\n" },
	{ __LINE__, "{\"a\": \"\\u12\"}", NAME ":1:8: JSON syntax error: "
	    "invalid \\u escape (four hex digits expected)\n" },
	{ __LINE__, "{\"a\": \"\\u0000\"}", NAME ":1:8: JSON syntax error: "
	    "\\u0000 is not allowed\n" },
	{ __LINE__, "{\"a\": \"\\ud800\"}", NAME ":1:8: JSON syntax error: "
	    "unpaired surrogate in \\u escape\n" },
	{ __LINE__, "{\"a\": \"\\udc00\\ud800\"}", NAME ":1:8: JSON syntax "
	    "error: unpaired surrogate in \\u escape\n" },
	{ __LINE__, "{\"a\": \"\t\"}", NAME ":1:8: JSON syntax error: "
	    "control character in a string (escape it)\n" },
	{ __LINE__, "{\"a\": \"\xff\"}", NAME ":1:8: JSON syntax error: "
	    "invalid UTF-8 in a string\n" },
	{ __LINE__, "{\"a\": \"\xc3\"}", NAME ":1:8: JSON syntax error: "
	    "invalid UTF-8 in a string\n" },
	{ __LINE__, "{\"a\":\t\x01}", NAME ":1:7: JSON syntax error: "
	    "expected a value\n" },
	{ __LINE__, "{} x", NAME ":1:4: JSON syntax error: "
	    "unexpected text after the JSON value\n" },
	{ __LINE__, "{\"rules\":[]}\n\n  ]", NAME ":3:3: JSON syntax "
	    "error: unexpected text after the JSON value\n" },
	/* columns count characters, not bytes */
	{ __LINE__, "{\"\xc3\xa9\xe2\x82\xac\": 1 2}", NAME ":1:10: JSON "
	    "syntax error: expected ',' or '}'\n" },
	{ __LINE__, "\xef\xbb\xbf{\"a\" 1}", NAME ":1:6: JSON syntax error: "
	    "expected ':' after the key\n" },
	/* a NUL byte inside the text */
	{ __LINE__, "{\"rules\":[]}\0", NAME ":1:13: JSON syntax error: "
	    "unexpected text after the JSON value\n" },
};

static void
test_syntax(void)
{
	struct manifest_diag	 d;
	struct manifest		*m;
	size_t			 i, len;
	struct buf		 deep = BUF_INIT;
	const char		*bom;

	for (i = 0; i < sizeof(syntax) / sizeof(syntax[0]); i++) {
		memset(&d, 0, sizeof(d));
		len = strlen(syntax[i].src);
		if (strcmp(syntax[i].src, "{\"rules\":[]}") == 0)
			len++;		/* the row with the NUL */
		m = NULL;
		ok_at(syntax[i].line, manifest_parse(NAME, syntax[i].src, len,
		    &m, &d) == -1 && m == NULL, "syntax row %d rejected",
		    syntax[i].line);
		is_str_at(syntax[i].line, buf_cstr(&d.errors), syntax[i].error,
		    "syntax row %d message", syntax[i].line);
		manifest_diag_free(&d);
	}

	/* nesting is limited (cJSON's own limit is 1000) */
	memset(&d, 0, sizeof(d));
	buf_adds(&deep, "{\"rules\":[],\"x\":");
	for (i = 0; i < 2000; i++)
		buf_addc(&deep, '[');
	ok(manifest_parse(NAME, deep.p, deep.n, &m, &d) == -1,
	    "deep nesting rejected");
	is_str(buf_cstr(&d.errors), NAME ":1:528: JSON syntax error: nesting "
	    "too deep\n", "deep nesting message");
	manifest_diag_free(&d);
	buf_free(&deep);

	/* a byte order mark is skipped; a valid surrogate pair is fine */
	memset(&d, 0, sizeof(d));
	bom = "\xef\xbb\xbf{\"rules\":[], \"x\": \"\\ud83d\\ude00\"}";
	ok(manifest_parse(NAME, bom, strlen(bom), &m, &d) == 0,
	    "BOM and surrogate pair accepted: %s", buf_cstr(&d.errors));
	manifest_unref(m);
	manifest_diag_free(&d);
}

/* ------------------------------------------------------------------ */

static const struct {
	int		 line;
	const char	*src;
	const char	*warnings;	/* exact */
} warns[] = {
	{ __LINE__, ONE(PIX "'domain':'a.example:8080'"),
	    NAME ": rules[0] (pixel-v1): \"domain\": port \":8080\" ignored "
	    "(rules match any port)\n" },
	{ __LINE__, ONE(PIX "'domain':'[::1]:8080'"),
	    NAME ": rules[0] (pixel-v1): \"domain\": port \":8080\" ignored "
	    "(rules match any port)\n" },
	{ __LINE__, ONE(PIX "'domain':'A.Example.'"), "" },
	{ __LINE__, ONE("'type':'docker-v1','domain':'a','package-id':'p',"
	    "'registry':'r.test','repository-name':'MyOrg/app'"),
	    NAME ": rules[0] (docker-v1): \"repository-name\": \"MyOrg/app\" "
	    "is not a valid OCI repository name; requests for it are "
	    "refused\n" },
	{ __LINE__, ONE("'type':'docker-v1','domain':'a','package-id':'p',"
	    "'registry':'r.test','repository-name':'my-org/a__b.c'"), "" },
	{ __LINE__, ONE("'type':'file-v1','domain':'a','package-id':'p',"
	    "'incoming-path':'/x','outgoing-url':'/relative/x'"),
	    NAME ": rules[0] (file-v1): \"outgoing-url\": must be an absolute "
	    "http or https URL; this rule never matches\n" },
	{ __LINE__, ONE("'type':'file-v2','domain':'a','package-id':'p',"
	    "'incoming-path':'/x','outgoing-url':'https:///x'"),
	    NAME ": rules[0] (file-v2): \"outgoing-url\": must be an absolute "
	    "http or https URL; this rule never matches\n" },
	/* with expressions: checked after expansion; a warning when an
	 * expression can reach the scheme or host (README) */
	{ __LINE__, ONE("'type':'file-v1','domain':'a','package-id':'p',"
	    "'incoming-path':'/{x}','outgoing-url':'{x}'"),
	    NAME ": rules[0] (file-v1): \"outgoing-url\": expression {x} at "
	    "offset 0 can set the scheme and host; every expansion is refused "
	    "(start the template with a literal http:// or https:// URL)\n" },
	{ __LINE__, ONE("'type':'file-v1','domain':'a','package-id':'p',"
	    "'incoming-path':'/{x}','outgoing-url':'https://a.example/{x}'"),
	    "" },
	{ __LINE__, ONE("'type':'file-v1','domain':'a','package-id':'p',"
	    "'incoming-path':'/{x}','outgoing-url':'https://a.example?{x}'"),
	    "" },
	{ __LINE__, ONE("'type':'file-v1','domain':'a','package-id':'p',"
	    "'incoming-path':'/pre{+path}',"
	    "'outgoing-url':'https://dl.example.com{+path}'"),
	    NAME ": rules[0] (file-v1): \"outgoing-url\": expression {+path} "
	    "at offset 22 can change the host \"dl.example.com\"; an expansion "
	    "that changes it is refused (404); write a literal '/' after the "
	    "host\n" },
	{ __LINE__, "{'rules':[{'type':'file-v1','domain':'a','package-id':'p',"
	    "'incoming-path':'/x','outgoing-url':'https://a.example/'},"
	    "{'type':'file-v2','domain':'a','package-id':'p',"
	    "'incoming-path':'/hp/(?<sub>[^/]*)',"
	    "'outgoing-url':'https://{+sub}.example.com/p'}]}",
	    NAME ": rules[1] (file-v2): \"outgoing-url\": expression {+sub} at "
	    "offset 8 is inside the host; an expansion is refused (404) unless "
	    "it is a plain host name ending in the literal "
	    "\".example.com\"\n" },
	{ __LINE__, ONE("'type':'file-v1','domain':'a','package-id':'p',"
	    "'incoming-path':'/{v}','outgoing-url':'http{v}://a.example/'"),
	    NAME ": rules[0] (file-v1): \"outgoing-url\": expression {v} at "
	    "offset 4 can set the scheme and host; every expansion is refused "
	    "(start the template with a literal http:// or https:// URL)\n" },
	{ __LINE__, "{'rules':[],'settings':{'foo':1,'npm-cache-ttl':5}}",
	    NAME ": settings: unknown key \"foo\" ignored\n" },
	{ __LINE__, ONE(PIX "'domain':'a','domain':'b'"),
	    NAME ": rules[0] (pixel-v1): \"domain\": key appears 2 times; the "
	    "last one is used\n" },
	{ __LINE__, ONE("'type':'telemetry-v1','domain':'a','package-id':'p',"
	    "'incoming-path':'/e','access-tokens':['x','']"),
	    NAME ": rules[0] (telemetry-v1): \"access-tokens\": item 1 is "
	    "empty\n" },
	/* duplicates on one domain (§1.5) */
	{ __LINE__, "{'rules':["
	    "{'type':'docker-v1','domain':'d','package-id':'1',"
	    "'repository-name':'lib/x','registry':'ghcr.io'},"
	    "{'type':'docker-v1','domain':'d','package-id':'2',"
	    "'repository-name':'lib/y','registry':'ghcr.io'},"
	    "{'type':'docker-v1','domain':'D.','package-id':'3',"
	    "'repository-name':'lib/x','registry':'quay.io'},"
	    "{'type':'docker-v1','domain':'*.d','package-id':'4',"
	    "'repository-name':'lib/x','registry':'quay.io'}]}",
	    NAME ": rules[2] (docker-v1): duplicate of rules[0] on domain "
	    "\"d\" (same repository-name); this rule is never used\n" },
	{ __LINE__, "{'rules':["
	    "{'type':'python-v1','domain':'p','package-id':'1',"
	    "'package-name':'Zope.Interface','file-name':'z-1.tar.gz',"
	    "'version':'1','backend-url':'https://f/1'},"
	    "{'type':'python-v1','domain':'p','package-id':'2',"
	    "'package-name':'zope_interface','file-name':'z-2.tar.gz',"
	    "'version':'2','backend-url':'https://f/2'},"
	    "{'type':'python-v1','domain':'p','package-id':'3',"
	    "'package-name':'zope--interface','file-name':'z-1.tar.gz',"
	    "'version':'1','backend-url':'https://f/3'}]}",
	    NAME ": rules[2] (python-v1): duplicate of rules[0] on domain "
	    "\"p\" (same normalised package-name and file-name); this rule is "
	    "never used\n" },
	{ __LINE__, "{'rules':["
	    "{'type':'npm-v1','domain':'n','package-id':'1',"
	    "'package-name':'*'},"
	    "{'type':'npm-v1','domain':'n','package-id':'2',"
	    "'package-name':'left-pad'},"
	    "{'type':'npm-v1','domain':'n','package-id':'3',"
	    "'package-name':'*','registry':'https://r.example'},"
	    "{'type':'npm-v1','domain':'n','package-id':'4',"
	    "'package-name':'left-pad'}]}",
	    NAME ": rules[2] (npm-v1): duplicate of rules[0] on domain \"n\" "
	    "(same package-name); this rule is never used\n"
	    NAME ": rules[3] (npm-v1): duplicate of rules[1] on domain \"n\" "
	    "(same package-name); this rule is never used\n" },
	{ __LINE__, "{'rules':["
	    "{'type':'pixel-v1','domain':'x','package-id':'1'},"
	    "{'type':'pixel-v1','domain':'x','package-id':'2',"
	    "'incoming-path':'/a.png'},"
	    "{'type':'telemetry-v1','domain':'x','package-id':'3',"
	    "'incoming-path':'/a.png'},"
	    "{'type':'telemetry-v1','domain':'x','package-id':'4',"
	    "'incoming-path':'/a.png?v=2'}]}",
	    NAME ": rules[1] (pixel-v1): duplicate of rules[0] on domain \"x\" "
	    "(same incoming-path); this rule is never used\n"
	    NAME ": rules[3] (telemetry-v1): duplicate of rules[2] on domain "
	    "\"x\" (same incoming-path); this rule is never used\n" },
	{ __LINE__, "{'rules':["
	    "{'type':'file-v1','domain':'f','package-id':'1',"
	    "'incoming-path':'/dl/{file}','outgoing-url':null},"
	    "{'type':'file-v1','domain':'f','package-id':'2',"
	    "'incoming-path':'/dl','outgoing-url':null},"
	    "{'type':'file-v1','domain':'f','package-id':'3',"
	    "'incoming-path':'/dl/{file}','outgoing-url':'https://x/'},"
	    "{'type':'file-v2','domain':'f','package-id':'4',"
	    "'incoming-path':'/dl/{file}','outgoing-url':null}]}",
	    NAME ": rules[2] (file-v1): duplicate of rules[0] on domain \"f\" "
	    "(same incoming-path); this rule is never used\n" },
	{ __LINE__, "{'rules':["
	    "{'type':'catch-all-v1','domain':'c','package-id':'1'},"
	    "{'type':'catch-all-v1','domain':'c','package-id':'2',"
	    "'redirect-target-domain':'m.example'},"
	    "{'type':'catch-all-v1','domain':'*.c','package-id':'3'},"
	    "{'type':'catch-all-v1','domain':'c','package-id':'4'}]}",
	    NAME ": rules[1] (catch-all-v1): duplicate of rules[0] on domain "
	    "\"c\" (one catch-all-v1 per domain); this rule is never used\n"
	    NAME ": rules[3] (catch-all-v1): duplicate of rules[0] on domain "
	    "\"c\" (one catch-all-v1 per domain); this rule is never used\n" },
	/* docker-v2 and file-v2 have no duplicate warnings */
	{ __LINE__, "{'rules':["
	    "{'type':'docker-v2','domain':'d','rule-id':'1',"
	    "'pattern':'lib/*','registry':'ghcr.io'},"
	    "{'type':'docker-v2','domain':'d','rule-id':'2',"
	    "'pattern':'lib/*','registry':'ghcr.io'}]}", "" },
};

static void
test_warnings(void)
{
	struct manifest_diag	 d;
	struct manifest		*m;
	size_t			 i;

	for (i = 0; i < sizeof(warns) / sizeof(warns[0]); i++) {
		m = load(warns[i].src, &d);
		ok_at(warns[i].line, m != NULL, "warn row %d loads: %s",
		    warns[i].line, buf_cstr(&d.errors));
		is_str_at(warns[i].line, buf_cstr(&d.warnings),
		    warns[i].warnings, "warn row %d warnings", warns[i].line);
		manifest_unref(m);
		manifest_diag_free(&d);
	}

	/* warnings are reported for invalid manifests too */
	m = load("{'rules':[{" PIX "'domain':'a:1'},{'type':'pixel-v1'}],"
	    "'settings':{'x':1}}", &d);
	ok(m == NULL, "invalid manifest with warnings rejected");
	is_str(buf_cstr(&d.warnings),
	    NAME ": settings: unknown key \"x\" ignored\n"
	    NAME ": rules[0] (pixel-v1): \"domain\": port \":1\" ignored "
	    "(rules match any port)\n", "warnings kept on failure");
	manifest_diag_free(&d);
}

/* ------------------------------------------------------------------ */

static const char *const lookup_manifest =
    "{'rules':["
    "{" PIX "'domain':'Example.COM'},"
    "{" PIX "'domain':'*.example.com'},"
    "{" PIX "'domain':'*.b.example.com'},"
    "{" PIX "'domain':'a.b.example.com'},"
    "{" PIX "'domain':'port.example:8443'},"
    "{" PIX "'domain':'dot.example.'},"
    "{" PIX "'domain':'[::1]:80'},"
    "{" PIX "'domain':'*.EXAMPLE.org.'},"
    "{" PIX "'domain':'10.0.0.1'},"
    "{" PIX "'domain':'under_score.example'}]}";

static const struct {
	int		 line;
	const char	*host;
	const char	*want;		/* set domain, NULL for none */
} lookups[] = {
	{ __LINE__, "example.com", "example.com" },
	{ __LINE__, "x.example.com", "*.example.com" },
	{ __LINE__, "x.y.example.com", "*.example.com" },
	{ __LINE__, "b.example.com", "*.example.com" },
	{ __LINE__, "x.b.example.com", "*.b.example.com" },
	{ __LINE__, "y.x.b.example.com", "*.b.example.com" },
	{ __LINE__, "a.b.example.com", "a.b.example.com" },
	{ __LINE__, "x.a.b.example.com", "*.b.example.com" },
	{ __LINE__, "port.example", "port.example" },
	{ __LINE__, "dot.example", "dot.example" },
	{ __LINE__, "[::1]", "[::1]" },
	{ __LINE__, "foo.example.org", "*.example.org" },
	{ __LINE__, "10.0.0.1", "10.0.0.1" },
	{ __LINE__, "under_score.example", "under_score.example" },
	{ __LINE__, "example.org", NULL },
	{ __LINE__, "xexample.com", NULL },
	{ __LINE__, ".example.com", NULL },
	{ __LINE__, "com", NULL },
	{ __LINE__, "example.co", NULL },
	{ __LINE__, "", NULL },
	{ __LINE__, "*.example.org.x", NULL },
};

static void
test_lookup(void)
{
	struct manifest_diag	 d;
	struct manifest		*m;
	const struct ruleset	*s;
	size_t			 i;

	m = load(lookup_manifest, &d);
	ok(m != NULL, "lookup manifest loads: %s", buf_cstr(&d.errors));
	if (m == NULL)
		return;
	is_int(m->nsets, 10, "ten rule sets");
	for (i = 1; i < m->nsets; i++)
		ok(strcmp(m->sets[i - 1].domain, m->sets[i].domain) < 0,
		    "sets sorted at %zu", i);
	for (i = 0; i < sizeof(lookups) / sizeof(lookups[0]); i++) {
		s = manifest_lookup(m, lookups[i].host);
		is_str_at(lookups[i].line, s ? s->domain : NULL,
		    lookups[i].want, "lookup '%s'", lookups[i].host);
	}
	ok(manifest_lookup(NULL, "example.com") == NULL, "NULL manifest");
	manifest_unref(m);
	manifest_diag_free(&d);
}

/* ------------------------------------------------------------------ */

/* Rule sets in precedence order: the package-ids, comma-separated. */
static const struct {
	int		 line;
	const char	*src;
	const char	*order;
} orders[] = {
	/* §2.5 examples */
	{ __LINE__, "{'rules':["
	    "{'type':'file-v1','domain':'f','package-id':'avis',"
	    "'incoming-path':'/avisstoragebox/{platform}/{version}',"
	    "'outgoing-url':null},"
	    "{'type':'file-v1','domain':'f','package-id':'something',"
	    "'incoming-path':'/something-here/windows/ver1.0.tar.gz',"
	    "'outgoing-url':null}]}", "something,avis" },
	{ __LINE__, "{'rules':["
	    "{'type':'file-v1','domain':'f','package-id':'path',"
	    "'incoming-path':'/{+path}','outgoing-url':null},"
	    "{'type':'file-v1','domain':'f','package-id':'install',"
	    "'incoming-path':'/install','outgoing-url':null}]}",
	    "install,path" },
	{ __LINE__, "{'rules':["
	    "{'type':'file-v1','domain':'f','package-id':'datax',"
	    "'incoming-path':'/data/{x}','outgoing-url':null},"
	    "{'type':'file-v1','domain':'f','package-id':'data',"
	    "'incoming-path':'/data','outgoing-url':null}]}", "datax,data" },
	{ __LINE__, "{'rules':["
	    "{'type':'file-v1','domain':'f','package-id':'data',"
	    "'incoming-path':'/data','outgoing-url':null},"
	    "{'type':'file-v1','domain':'f','package-id':'datax',"
	    "'incoming-path':'/data/{x}','outgoing-url':null}]}",
	    "data,datax" },
	/* a list that extends an equal list is greater */
	{ __LINE__, "{'rules':["
	    "{'type':'file-v1','domain':'f','package-id':'a',"
	    "'incoming-path':'/a','outgoing-url':null},"
	    "{'type':'file-v1','domain':'f','package-id':'ab',"
	    "'incoming-path':'/a/b','outgoing-url':null},"
	    "{'type':'file-v1','domain':'f','package-id':'b',"
	    "'incoming-path':'/b','outgoing-url':null},"
	    "{'type':'file-v1','domain':'f','package-id':'az',"
	    "'incoming-path':'//a//z//','outgoing-url':null}]}",
	    "b,az,ab,a" },
	/* query operators expand to "?x=", code point order */
	{ __LINE__, "{'rules':["
	    "{'type':'file-v1','domain':'f','package-id':'plain',"
	    "'incoming-path':'/a','outgoing-url':null},"
	    "{'type':'file-v1','domain':'f','package-id':'query',"
	    "'incoming-path':'/a{?x}','outgoing-url':null},"
	    "{'type':'file-v1','domain':'f','package-id':'upper',"
	    "'incoming-path':'/A','outgoing-url':null}]}",
	    "query,plain,upper" },
	{ __LINE__, "{'rules':["
	    "{'type':'file-v1','domain':'f','package-id':'1',"
	    "'incoming-path':'/dl/{file}','outgoing-url':null},"
	    "{'type':'file-v1','domain':'f','package-id':'2',"
	    "'incoming-path':'/dl/{name}','outgoing-url':null},"
	    "{'type':'file-v1','domain':'f','package-id':'3',"
	    "'incoming-path':'/dl','outgoing-url':null},"
	    "{'type':'file-v1','domain':'f','package-id':'4',"
	    "'incoming-path':'/x/{a}/y','outgoing-url':null},"
	    "{'type':'file-v1','domain':'f','package-id':'5',"
	    "'incoming-path':'/x/{b}','outgoing-url':null}]}",
	    "4,5,1,2,3" },
	/* file-v2: source text ascending, untrimmed; ties keep order */
	{ __LINE__, "{'rules':["
	    "{'type':'file-v2','domain':'f','package-id':'b',"
	    "'incoming-path':'/b','outgoing-url':null},"
	    "{'type':'file-v2','domain':'f','package-id':'a1',"
	    "'incoming-path':'/a','outgoing-url':null},"
	    "{'type':'file-v2','domain':'f','package-id':'sp',"
	    "'incoming-path':' /a','outgoing-url':null},"
	    "{'type':'file-v2','domain':'f','package-id':'a2',"
	    "'incoming-path':'/a','outgoing-url':null},"
	    "{'type':'file-v2','domain':'f','package-id':'Z',"
	    "'incoming-path':'/Z','outgoing-url':null}]}",
	    "sp,Z,a1,a2,b" },
	/* npm: exact, @scope/ *, *, then manifest order */
	{ __LINE__, "{'rules':["
	    "{'type':'npm-v1','domain':'n','package-id':'any1',"
	    "'package-name':'*'},"
	    "{'type':'npm-v1','domain':'n','package-id':'scope',"
	    "'package-name':'@acme/*'},"
	    "{'type':'npm-v1','domain':'n','package-id':'leftpad',"
	    "'package-name':'left-pad'},"
	    "{'type':'npm-v1','domain':'n','package-id':'widget',"
	    "'package-name':'@acme/widget'},"
	    "{'type':'npm-v1','domain':'n','package-id':'any2',"
	    "'package-name':'*'},"
	    "{'type':'npm-v1','domain':'n','package-id':'scope2',"
	    "'package-name':'@other/*'}]}",
	    "leftpad,widget,scope,scope2,any1,any2" },
	/* types in enum order; same-type ties in manifest order */
	{ __LINE__, "{'rules':["
	    "{'type':'catch-all-v1','domain':'t','package-id':'catch'},"
	    "{'type':'pixel-v1','domain':'t','package-id':'pixel'},"
	    "{'type':'python-v1','domain':'t','package-id':'py2',"
	    "'package-name':'b','file-name':'b-1.tar.gz','version':'1',"
	    "'backend-url':'https://f/b'},"
	    "{'type':'python-v1','domain':'t','package-id':'py1',"
	    "'package-name':'a','file-name':'a-1.tar.gz','version':'1',"
	    "'backend-url':'https://f/a'},"
	    "{'type':'file-v2','domain':'t','package-id':'re',"
	    "'incoming-path':'^/x','outgoing-url':null},"
	    "{'type':'file-v1','domain':'t','package-id':'tmpl',"
	    "'incoming-path':'/{+p}','outgoing-url':null},"
	    "{'type':'npm-v1','domain':'t','package-id':'npm',"
	    "'package-name':'*'},"
	    "{'type':'docker-v2','domain':'t','rule-id':'d2',"
	    "'pattern':'*/*','registry':'ghcr.io'},"
	    "{'type':'docker-v1','domain':'t','package-id':'d1b',"
	    "'repository-name':'b/b','registry':'ghcr.io'},"
	    "{'type':'docker-v1','domain':'t','package-id':'d1a',"
	    "'repository-name':'a/a','registry':'ghcr.io'},"
	    "{'type':'telemetry-v1','domain':'t','package-id':'tele',"
	    "'incoming-path':'/e'},"
	    "{'type':'pixel-v1','domain':'other','package-id':'elsewhere'}]}",
	    "d1b,d1a,d2,npm,tmpl,re,py2,py1,pixel,tele,catch" },
};

static void
test_order(void)
{
	struct manifest_diag	 d;
	struct manifest		*m;
	const struct ruleset	*s;
	struct buf		 b = BUF_INIT;
	size_t			 i, k;

	for (i = 0; i < sizeof(orders) / sizeof(orders[0]); i++) {
		m = load(orders[i].src, &d);
		ok_at(orders[i].line, m != NULL, "order row %d loads: %s",
		    orders[i].line, buf_cstr(&d.errors));
		if (m == NULL) {
			manifest_diag_free(&d);
			continue;
		}
		s = &m->sets[m->nsets - 1];
		buf_reset(&b);
		for (k = 0; k < s->nrules; k++) {
			const struct rule *r = s->rules[k];

			if (k > 0)
				buf_addc(&b, ',');
			buf_adds(&b, r->package_id ? r->package_id :
			    DOCKER(r)->rule_id);
		}
		is_str_at(orders[i].line, buf_cstr(&b), orders[i].order,
		    "order row %d", orders[i].line);
		manifest_unref(m);
		manifest_diag_free(&d);
	}
	buf_free(&b);
}

/* The spans (first, count) of the mixed rule set, and the python index. */
static void
test_first_count(void)
{
	static const size_t want_first[] = {
		0, 2, 3, 4, 5, 6, 8, 9, 10 };
	static const size_t want_count[] = {
		2, 1, 1, 1, 1, 2, 1, 1, 1 };
	struct manifest_diag	 d;
	struct manifest		*m;
	const struct ruleset	*s;
	const struct rule_span	*sp;
	const char		*name;
	size_t			 t;

	is_int(rule_ntypes, sizeof(want_first) / sizeof(want_first[0]),
	    "nine rule types");
	m = load(orders[sizeof(orders) / sizeof(orders[0]) - 1].src, &d);
	ok(m != NULL, "mixed manifest loads");
	if (m == NULL)
		return;
	s = manifest_lookup(m, "t");
	ok(s != NULL && s->nrules == 11, "mixed set has 11 rules");
	for (t = 0; s != NULL && t < rule_ntypes; t++) {
		name = rule_types[t]->name;
		sp = ruleset_span(s, rule_types[t]);
		is_int(sp != NULL ? sp->first : 0, want_first[t], "first[%s]",
		    name);
		is_int(sp != NULL ? sp->count : 0, want_count[t], "count[%s]",
		    name);
		if (sp != NULL)
			ok(s->rules[sp->first]->type == rule_types[t],
			    "rules[first[%s]] has that type", name);
	}
	sp = ruleset_span(s, rule_type_find("python-v1"));
	ok(sp != NULL && sp->index != NULL, "python index built");
	s = manifest_lookup(m, "other");
	sp = ruleset_span(s, rule_type_find("pixel-v1"));
	ok(s != NULL && ruleset_span(s, rule_type_find("python-v1")) == NULL &&
	    sp != NULL && sp->count == 1 && sp->first == 0 &&
	    ruleset_span(s, rule_type_find("docker-v1")) == NULL,
	    "set without python rules");
	manifest_unref(m);
	manifest_diag_free(&d);
}

/* ------------------------------------------------------------------ */

static void
test_fields(void)
{
	struct manifest_diag		 d;
	struct manifest			*m;
	const struct rule		*r;
	const struct docker_rule	*dk;
	const struct npm_rule		*np;
	struct file_rule		*fl;
	const struct py_rule		*py;
	const struct telemetry_rule	*tl;

	m = load("{'rules':["
	    /* 0 */ "{'type':'docker-v1','domain':'D.example:5000',"
	    "'package-id':'p0','repository-name':'library/hello-world',"
	    "'registry':'docker.io','always-proxy':true,'owner':'o'},"
	    /* 1 */ "{'type':'docker-v2','domain':'d.example','rule-id':'r1',"
	    "'pattern':'library/*','registry':'http://127.0.0.1:5000/',"
	    "'package-id':'ignored'},"
	    /* 2 */ "{'type':'docker-v1','domain':'d.example',"
	    "'package-id':'p2','repository-name':'a','registry':'ghcr.io/'},"
	    /* 3 */ "{'type':'npm-v1','domain':'n','package-id':'p3',"
	    "'package-name':'@acme/*',"
	    "'registry':'https://npm.pkg.example/api/npm/'},"
	    /* 4 */ "{'type':'npm-v1','domain':'n','package-id':'p4',"
	    "'package-name':'left-pad','registry':null},"
	    /* 5 */ "{'type':'file-v1','domain':'f','package-id':'p5',"
	    "'incoming-path':'/{a}/x/{b}','outgoing-url':null},"
	    /* 6 */ "{'type':'file-v2','domain':'f','package-id':'p6',"
	    "'incoming-path':' ^/(?<a>.*)$ ',"
	    "'outgoing-url':'https://x.example/{a}'},"
	    /* 7 */ "{'type':'python-v1','domain':'p','package-id':'p7',"
	    "'package-name':'Demo_Pkg','file-name':'demo.whl','version':'2',"
	    "'backend-url':'https://f.example/demo.whl#sha256=00\\\"',"
	    "'hash-value':{'type':'sha256','hash':'00'},'gpg-sig':false,"
	    "'requires-python':'>=3.8','yanked':'bad','core-metadata':"
	    "{'type':'sha256','hash':'ff'},"
	    "'backend-simple-index-url':'https://pypi.org/simple/'},"
	    /* 8 */ "{'type':'python-v1','domain':'p','package-id':'p8',"
	    "'package-name':'x','file-name':'x.whl','version':'1',"
	    "'backend-url':'https://f/x','hash-value':null,'gpg-sig':null,"
	    "'requires-python':null,'yanked':true,'core-metadata':true},"
	    /* 9 */ "{'type':'python-v1','domain':'p','package-id':'p9',"
	    "'package-name':'y','file-name':'y.whl','version':'1',"
	    "'backend-url':'https://f/y','yanked':false,'gpg-sig':true,"
	    "'core-metadata':false},"
	    /* 10 */ "{'type':'pixel-v1','domain':'x','package-id':'p10'},"
	    /* 11 */ "{'type':'pixel-v1','domain':'x','package-id':'p11',"
	    "'incoming-path':'/p/logo.png'},"
	    /* 12 */ "{'type':'telemetry-v1','domain':'x','package-id':'p12',"
	    "'incoming-path':'/events?x=1','access-tokens':['t1','t2']},"
	    /* 13 */ "{'type':'telemetry-v1','domain':'y','package-id':'p13',"
	    "'incoming-path':'/e','access-tokens':null},"
	    /* 14 */ "{'type':'telemetry-v1','domain':'z','package-id':'p14',"
	    "'incoming-path':'/e','access-tokens':[]},"
	    /* 15 */ "{'type':'catch-all-v1','domain':'c1','package-id':'p15',"
	    "'redirect-target-domain':'mirror.example/dl/'},"
	    /* 16 */ "{'type':'catch-all-v1','domain':'c2','package-id':'p16',"
	    "'redirect-target-domain':null},"
	    /* 17 */ "{'type':'catch-all-v1','domain':'c3','package-id':'p17',"
	    "'redirect-target-domain':'mirror.example:8443'},"
	    /* 18 */ "{'type':'file-v1','domain':'f','package-id':'p18',"
	    "'incoming-path':'/lit','outgoing-url':'https://x.example/lit'}"
	    "],'settings':{'npm-cache-ttl':300,"
	    "'docker-redirect-user-agents':[{'prefix':'containers/'}]}}", &d);
	ok(m != NULL, "fields manifest loads: %s", buf_cstr(&d.errors));
	if (m == NULL)
		return;
	is_int(m->nrules, 19, "nrules");
	is_int(m->npm_cache_ttl, 300, "npm-cache-ttl");
	ok(m->redirect_uas != NULL && m->redirect_uas->n == 1,
	    "redirect user agents");
	ok(m->loaded_at > 0, "loaded_at set");

	r = &m->rules[0];
	is_int(r->index, 0, "index");
	is_str(r->type->name, "docker-v1", "type");
	is_str(r->domain, "d.example", "domain normalised");
	is_str(r->package_id, "p0", "package-id");
	dk = DOCKER(r);
	is_str(dk->repository, "library/hello-world", "repository");
	ok(dk->nrepo_segs == 2 && strcmp(dk->repo_segs[0], "library") == 0 &&
	    strcmp(dk->repo_segs[1], "hello-world") == 0, "repo_segs");
	is_str(dk->registry_base, "https://registry-1.docker.io",
	    "docker.io base");
	is_str(dk->registry_log, "registry-1.docker.io", "docker.io log");
	is_int(dk->always_proxy, 1, "always-proxy");
	r = &m->rules[1];
	dk = DOCKER(r);
	ok(r->package_id == NULL && dk->pattern != NULL, "docker-v2 pattern, "
	    "no package-id");
	is_str(dk->rule_id, "r1", "rule-id");
	is_str(dk->registry_base, "http://127.0.0.1:5000", "http base");
	is_str(dk->registry_log, "http://127.0.0.1:5000", "http log");
	is_int(dk->always_proxy, 0, "always-proxy default");
	dk = DOCKER(&m->rules[2]);
	is_str(dk->registry_base, "https://ghcr.io", "bare host, slash");
	is_str(dk->registry_log, "ghcr.io", "bare host log");

	np = NPM(&m->rules[3]);
	is_int(np->kind, NPM_SCOPE, "npm scope");
	is_str(np->name, "@acme/*", "npm name");
	is_str(np->registry_base, "https://npm.pkg.example/api/npm",
	    "npm registry without trailing /");
	np = NPM(&m->rules[4]);
	is_int(np->kind, NPM_EXACT, "npm exact");
	is_str(np->registry_base, "https://registry.npmjs.org",
	    "npm default registry");

	r = &m->rules[5];
	fl = r->priv;
	ok(atomic_load(&fl->in_tmpl) == NULL, "file-v1: no template compiled "
	    "at load");
	ok(rule_in_tmpl(r) != NULL && rule_out_tmpl(r) == NULL &&
	    fl->out_src == NULL && fl->out_never == 0, "file-v1 null outgoing");
	ok(atomic_load(&fl->in_tmpl) == rule_in_tmpl(r), "file-v1: compiled "
	    "on first use, once");
	is_str(fl->in_src, "/{a}/x/{b}", "in_src");
	ok(fl->nspec == 1 && strcmp(fl->spec[0], "x") == 0, "spec list [x]");
	r = &m->rules[6];
	fl = r->priv;
	ok(fl->re != NULL && rule_in_tmpl(r) == NULL &&
	    rule_out_tmpl(r) != NULL, "file-v2 compiled");
	is_str(fl->in_src, " ^/(?<a>.*)$ ", "file-v2 source untrimmed");
	is_str(fl->out_src, "https://x.example/{a}", "out_src");
	r = &m->rules[18];
	ok(rule_out_tmpl(r) != NULL && FILER(r)->out_never == 0,
	    "literal valid URL");

	py = PY(&m->rules[7]);
	is_str(py->py_name, "Demo_Pkg", "py_name");
	is_str(py->py_norm, "demo-pkg", "py_norm");
	is_str(py->file_name, "demo.whl", "file-name");
	is_str(py->version, "2", "version");
	is_str(py->backend_url, "https://f.example/demo.whl#sha256=00\"",
	    "backend-url with stray quote");
	is_str(py->hash_type, "sha256", "hash type");
	is_str(py->hash, "00", "hash");
	is_int(py->gpg_sig, 0, "gpg-sig false");
	is_str(py->requires_python, ">=3.8", "requires-python");
	is_int(py->yanked, 1, "yanked reason");
	is_str(py->yanked_reason, "bad", "yanked_reason");
	is_int(py->core_md, 2, "core-metadata hash");
	is_str(py->core_md_type, "sha256", "core_md_type");
	is_str(py->core_md_hash, "ff", "core_md_hash");
	is_str(py->backend_index, "https://pypi.org/simple/", "backend index");
	py = PY(&m->rules[8]);
	ok(py->hash_type == NULL && py->hash == NULL && py->gpg_sig == -1 &&
	    py->requires_python == NULL && py->yanked == 1 &&
	    py->yanked_reason == NULL && py->core_md == 1 &&
	    py->backend_index == NULL, "python nulls, yanked true, core true");
	py = PY(&m->rules[9]);
	ok(py->yanked == 0 && py->gpg_sig == 1 && py->core_md == 0,
	    "python yanked false, gpg true, core false");

	is_str(PIXEL(&m->rules[10])->path, "/a.png", "pixel default path");
	is_str(PIXEL(&m->rules[11])->path, "/p/logo.png", "pixel path");
	tl = TELE(&m->rules[12]);
	is_str(tl->path, "/events", "telemetry ?query dropped");
	ok(tl->tokens_set == 1 && tl->ntokens == 2 &&
	    strcmp(tl->tokens[1], "t2") == 0, "telemetry tokens");
	tl = TELE(&m->rules[13]);
	ok(tl->tokens_set == 0 && tl->ntokens == 0, "telemetry open");
	tl = TELE(&m->rules[14]);
	ok(tl->tokens_set == 1 && tl->ntokens == 0, "telemetry closed");
	is_str(CATCH(&m->rules[15])->target, "mirror.example/dl",
	    "catch-all target");
	is_str(CATCH(&m->rules[16])->target, NULL, "catch-all null target");
	is_str(CATCH(&m->rules[17])->target, "mirror.example:8443",
	    "target port");
	manifest_unref(m);
	manifest_diag_free(&d);
}

/* ------------------------------------------------------------------ */

static const struct {
	int		 line;
	const char	*in, *out;
} pep503[] = {
	{ __LINE__, "numpy", "numpy" },
	{ __LINE__, "Zope.Interface", "zope-interface" },
	{ __LINE__, "Demo_Pkg", "demo-pkg" },
	{ __LINE__, "a-_.-b", "a-b" },
	{ __LINE__, "a__b..c--d", "a-b-c-d" },
	{ __LINE__, "_leading.", "-leading-" },
	{ __LINE__, "ABC123", "abc123" },
	{ __LINE__, "", "" },
	{ __LINE__, "caf\xc3\xa9", "caf\xc3\xa9" },
};

static void
test_pep503(void)
{
	size_t	 i;
	char	*s;

	for (i = 0; i < sizeof(pep503) / sizeof(pep503[0]); i++) {
		s = pep503_normalise(pep503[i].in, strlen(pep503[i].in));
		is_str_at(pep503[i].line, s, pep503[i].out, "pep503 '%s'",
		    pep503[i].in);
		free(s);
	}
	s = pep503_normalise("Foo.Bar-baz", 3);
	is_str(s, "foo", "pep503 uses len");
	free(s);
}

static void
test_type_names(void)
{
	is_str(rule_types[0]->name, "docker-v1", "type name 0");
	is_str(rule_types[8]->name, "catch-all-v1", "type name 8");
	ok(rule_type_find("unknown") == NULL, "no type named unknown");
}

/* ------------------------------------------------------------------ */

/* Every conformance manifest must load without error. */
static void
test_conformance(void)
{
	const char		*top;
	char			 dir[4096], path[8192];
	DIR			*dp;
	struct dirent		*de;
	struct manifest_diag	 d;
	struct manifest		*m;
	FILE			*f;
	struct buf		 b = BUF_INIT;
	cJSON			*root;
	char			*text;
	size_t			 n;
	int			 count = 0;

	if ((top = getenv("top_srcdir")) == NULL)
		top = ".";
	snprintf(dir, sizeof(dir), "%s/tests/conformance/cases", top);
	if ((dp = opendir(dir)) == NULL) {
		printf("# cannot open %s\n", dir);
		ok(0, "open the conformance cases directory");
		return;
	}
	while ((de = readdir(dp)) != NULL) {
		n = strlen(de->d_name);
		if (n < 5 || strcmp(de->d_name + n - 5, ".json") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		buf_reset(&b);
		if ((f = fopen(path, "r")) != NULL) {
			char	 tmp[4096];
			size_t	 k;

			while ((k = fread(tmp, 1, sizeof(tmp), f)) > 0)
				buf_add(&b, tmp, k);
			fclose(f);
		}
		root = cJSON_ParseWithLength(buf_cstr(&b), b.n);
		text = root ? cJSON_PrintUnformatted(
		    cJSON_GetObjectItemCaseSensitive(root, "manifest")) : NULL;
		memset(&d, 0, sizeof(d));
		m = NULL;
		ok(text != NULL && manifest_parse(de->d_name, text,
		    strlen(text), &m, &d) == 0 && d.errors.n == 0,
		    "conformance %s loads: %s", de->d_name,
		    buf_cstr(&d.errors));
		manifest_unref(m);
		manifest_diag_free(&d);
		cJSON_free(text);
		cJSON_Delete(root);
		count++;
	}
	closedir(dp);
	buf_free(&b);
	ok(count >= 90, "found %d conformance cases", count);
}

/* ------------------------------------------------------------------ */

static void
test_load_file(void)
{
	char			 dir[] = "/tmp/test_manifest.XXXXXX";
	char			 path[256], want[512];
	struct manifest_diag	 d;
	struct manifest		*m;
	int			 fd;
	const char		*good = "{\"rules\":[{\"type\":\"pixel-v1\","
	    "\"domain\":\"a\",\"package-id\":\"p\"}]}";

	if (mkdtemp(dir) == NULL) {
		ok(0, "mkdtemp");
		return;
	}

	memset(&d, 0, sizeof(d));
	snprintf(path, sizeof(path), "%s/missing.json", dir);
	is_int(manifest_load_file(path, &m, &d), 2, "missing file: 2");
	snprintf(want, sizeof(want), "%s: No such file or directory\n", path);
	is_str(buf_cstr(&d.errors), want, "missing file message");
	ok(m == NULL, "no manifest");
	manifest_diag_free(&d);

	memset(&d, 0, sizeof(d));
	is_int(manifest_load_file(dir, &m, &d), 2, "directory: 2");
	snprintf(want, sizeof(want), "%s: Is a directory\n", dir);
	is_str(buf_cstr(&d.errors), want, "directory message");
	manifest_diag_free(&d);

	snprintf(path, sizeof(path), "%s/good.json", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ok(fd != -1 && write(fd, good, strlen(good)) ==
	    (ssize_t)strlen(good), "write good.json");
	close(fd);
	memset(&d, 0, sizeof(d));
	is_int(manifest_load_file(path, &m, &d), 0, "good file: 0");
	ok(m != NULL && m->nrules == 1, "good file loaded");
	manifest_unref(m);
	manifest_diag_free(&d);

	fd = open(path, O_WRONLY | O_TRUNC);
	ok(fd != -1 && write(fd, "{\n}", 3) == 3, "write bad json");
	close(fd);
	memset(&d, 0, sizeof(d));
	is_int(manifest_load_file(path, &m, &d), 1, "invalid file: 1");
	snprintf(want, sizeof(want), "%s: \"rules\": required field is "
	    "missing\n", path);
	is_str(buf_cstr(&d.errors), want, "invalid file message uses path");
	manifest_diag_free(&d);

	/* sparse: the size check needs no data */
	fd = open(path, O_WRONLY | O_TRUNC);
	ok(fd != -1 && ftruncate(fd, 65L * 1024 * 1024) == 0,
	    "make a 65 MiB file");
	close(fd);
	memset(&d, 0, sizeof(d));
	is_int(manifest_load_file(path, &m, &d), 1, "too large: 1");
	snprintf(want, sizeof(want), "%s: file too large (the limit is 64 "
	    "MiB)\n", path);
	is_str(buf_cstr(&d.errors), want, "too large message");
	manifest_diag_free(&d);

	unlink(path);
	rmdir(dir);
}

static void
test_refcount(void)
{
	struct manifest_diag	 d;
	struct manifest		*m;

	m = load(ONE(PIX "'domain':'a'"), &d);
	ok(m != NULL, "refcount manifest loads");
	if (m == NULL)
		return;
	is_int(atomic_load(&m->refs), 1, "one reference after load");
	manifest_ref(m);
	manifest_ref(m);
	is_int(atomic_load(&m->refs), 3, "three after two refs");
	manifest_unref(m);
	manifest_unref(m);
	is_int(atomic_load(&m->refs), 1, "one after two unrefs");
	ok(manifest_lookup(m, "a") != NULL, "still usable");
	manifest_unref(m);	/* freed: ASan/valgrind check the rest */
	manifest_unref(NULL);
	ok(1, "unref NULL is a no-op");
	manifest_diag_free(&d);
}

/* An empty rules array is a valid (empty) manifest. */
static void
test_empty(void)
{
	struct manifest_diag	 d;
	struct manifest		*m;

	m = load("{'rules':[],'other':{'ignored':[1,2,{}]}}", &d);
	ok(m != NULL && m->nrules == 0 && m->nsets == 0 &&
	    m->redirect_uas == NULL && m->npm_cache_ttl == 0,
	    "empty manifest");
	ok(manifest_lookup(m, "a") == NULL, "empty lookup");
	is_str(buf_cstr(&d.warnings), "", "no warnings");
	manifest_unref(m);
	manifest_diag_free(&d);

	/* a NULL diag is allowed */
	m = NULL;
	ok(manifest_parse(NAME, "[]", 2, &m, NULL) == -1 && m == NULL,
	    "NULL diag");
}

int
main(void)
{
	test_invalid();
	test_too_many_errors();
	test_syntax();
	test_warnings();
	test_lookup();
	test_order();
	test_first_count();
	test_fields();
	test_pep503();
	test_type_names();
	test_conformance();
	test_load_file();
	test_refcount();
	test_empty();
	return done_testing();
}
