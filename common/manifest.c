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
 *     shows all of them at once.
 *  4. Only when nothing failed: rules are sorted by (domain, precedence)
 *     into one rule set per domain, duplicate-key warnings are computed
 *     and the Python indexes are built.
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
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "docker.h"
#include "filerule.h"
#include "json.h"
#include "manifest.h"
#include "python.h"
#include "tmpl.h"
#include "util.h"
#include "xmalloc.h"

#define MANIFEST_MAXSIZE	(64UL * 1024 * 1024)
#define MANIFEST_MAXERRORS	100
#define MANIFEST_MAXWARNINGS	1000
#define ECHO_MAX		80
#define NPM_DEFAULT_REGISTRY	"https://registry.npmjs.org"
#define PIXEL_DEFAULT_PATH	"/a.png"

const struct manifest_cache *manifest_cache;

static const char *const type_names[RULE__COUNT] = {
	"docker-v1", "docker-v2", "npm-v1", "file-v1", "file-v2",
	"python-v1", "pixel-v1", "telemetry-v1", "catch-all-v1",
};

const char *
rule_type_name(enum rule_type t)
{
	if ((unsigned)t >= RULE__COUNT)
		return "unknown";
	return type_names[t];
}

/* ------------------------------------------------------------------ */
/* Diagnostics								*/
/* ------------------------------------------------------------------ */

struct mctx {
	const char		*name;
	struct manifest_diag	*d;
	int			 nerrors;
	int			 nwarnings;
	int			 idx;		/* rule index, -1 outside */
	const char		*tname;		/* type of that rule, or NULL */
	int			 in_settings;
	struct buf		 q;		/* qv() */
};

/* s quoted as a JSON string, cut after ECHO_MAX bytes.  Valid until the
 * next call. */
static const char *
qv(struct mctx *c, const char *s)
{
	size_t	 n = strlen(s), cut = n;

	buf_reset(&c->q);
	if (n > ECHO_MAX) {
		cut = ECHO_MAX;
		while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
			cut--;
	}
	buf_add_jstr(&c->q, s, cut);
	if (cut < n)
		buf_adds(&c->q, "...");
	return buf_cstr(&c->q);
}

static const char *
jtype(const cJSON *it)
{
	if (cJSON_IsNull(it))
		return "null";
	if (cJSON_IsBool(it))
		return "boolean";
	if (cJSON_IsNumber(it))
		return "number";
	if (cJSON_IsString(it))
		return "string";
	if (cJSON_IsArray(it))
		return "array";
	if (cJSON_IsObject(it))
		return "object";
	return "invalid";
}

static void __attribute__((format(printf, 4, 0)))
diag_vline(struct mctx *c, struct buf *out, const char *field,
    const char *fmt, va_list ap)
{
	char	 msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	buf_printf(out, "%s: ", c->name);
	if (c->idx >= 0) {
		buf_printf(out, "rules[%d]", c->idx);
		if (c->tname != NULL)
			buf_printf(out, " (%s)", c->tname);
		buf_adds(out, ": ");
	} else if (c->in_settings)
		buf_adds(out, "settings: ");
	if (field != NULL)
		buf_printf(out, "\"%s\": ", field);
	buf_adds(out, msg);
	buf_addc(out, '\n');
}

/* One error line in the current context; field may be NULL. */
static void __attribute__((format(printf, 3, 4)))
rerr(struct mctx *c, const char *field, const char *fmt, ...)
{
	va_list	 ap;

	c->nerrors++;
	if (c->nerrors > MANIFEST_MAXERRORS) {
		if (c->nerrors == MANIFEST_MAXERRORS + 1)
			buf_printf(&c->d->errors,
			    "%s: too many errors, giving up\n", c->name);
		return;
	}
	va_start(ap, fmt);
	diag_vline(c, &c->d->errors, field, fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 3, 4)))
rwarn(struct mctx *c, const char *field, const char *fmt, ...)
{
	va_list	 ap;

	if (++c->nwarnings > MANIFEST_MAXWARNINGS)
		return;
	va_start(ap, fmt);
	diag_vline(c, &c->d->warnings, field, fmt, ap);
	va_end(ap);
}

void
manifest_diag_free(struct manifest_diag *d)
{
	if (d == NULL)
		return;
	buf_free(&d->errors);
	buf_free(&d->warnings);
}

/* ------------------------------------------------------------------ */
/* Typed field access							*/
/* ------------------------------------------------------------------ */

/* The member key of obj, or NULL.  The last of repeated keys wins. */
static const cJSON *
field(struct mctx *c, const cJSON *obj, const char *key)
{
	const cJSON	*it, *found = NULL;
	int		 n = 0;

	for (it = obj->child; it != NULL; it = it->next)
		if (it->string != NULL && strcmp(it->string, key) == 0) {
			found = it;
			n++;
		}
	if (n > 1)
		rwarn(c, key, "key appears %d times; the last one is used", n);
	return found;
}

/*
 * A string member.  Returns 1 with *out (borrowed from the tree), 0 when
 * it is missing or null (an error when required), -1 after a type error.
 */
static int
get_str(struct mctx *c, const cJSON *obj, const char *key, int required,
    const char **out)
{
	const cJSON	*it;

	*out = NULL;
	it = field(c, obj, key);
	if (it == NULL || (cJSON_IsNull(it) && !required)) {
		if (required) {
			rerr(c, key, "required field is missing");
			return -1;
		}
		return 0;
	}
	if (!cJSON_IsString(it)) {
		rerr(c, key, "must be a string (got %s)", jtype(it));
		return -1;
	}
	*out = it->valuestring;
	return 1;
}

/* A boolean member: 1 with *out, 0 when missing or null, -1 on error. */
static int
get_bool(struct mctx *c, const cJSON *obj, const char *key, int *out)
{
	const cJSON	*it;

	it = field(c, obj, key);
	if (it == NULL || cJSON_IsNull(it))
		return 0;
	if (!cJSON_IsBool(it)) {
		rerr(c, key, "must be a boolean (got %s)", jtype(it));
		return -1;
	}
	*out = cJSON_IsTrue(it) ? 1 : 0;
	return 1;
}

/* Copies a required string member into *dst (unchanged on failure). */
static int
take_str(struct mctx *c, const cJSON *obj, const char *key, char **dst)
{
	const char	*s;
	int		 rc;

	if ((rc = get_str(c, obj, key, 1, &s)) == 1)
		*dst = xstrdup(s);
	return rc;
}

/* Optional string member into *dst. */
static int
take_opt_str(struct mctx *c, const cJSON *obj, const char *key, char **dst)
{
	const char	*s;
	int		 rc;

	if ((rc = get_str(c, obj, key, 0, &s)) == 1)
		*dst = xstrdup(s);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Value checks								*/
/* ------------------------------------------------------------------ */

static int
is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

static int
is_hostch(int c)
{
	return is_alnum(c) || c == '-' || c == '_' || c == '.';
}

static int
is_v6ch(int c)
{
	return hexval(c) >= 0 || c == ':' || c == '.';
}

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
			if (!is_v6ch((unsigned char)*p)) {
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
			rwarn(c, "domain", "port %s ignored (rules match any "
			    "port)", qv(c, port));
		*port = '\0';
	}
	n = strlen(d);
	if (n > 0 && d[n - 1] == '.')
		d[--n] = '\0';
	if (n == 0) {
		rerr(c, "domain", "must not be empty");
		free(d);
		return;
	}
	if (d[0] == '[')
		;	/* checked above */
	else if (strchr(d, ':') != NULL) {
		for (p = d; *p; p++)
			if (!is_v6ch((unsigned char)*p)) {
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
			if (!is_hostch((unsigned char)*p)) {
				why = "only letters, digits, '-', '_' and '.' "
				    "are allowed";
				goto bad;
			}
		}
	}
	r->domain = d;
	return;
bad:
	rerr(c, "domain", "invalid domain %s: %s", qv(c, src), why);
	free(d);
}

/*
 * §1.5 docker registry: host[:port] or http(s)://host[:port], optional
 * trailing '/', nothing else.
 */
static int
docker_registry_ok(const char *s)
{
	const char	*p = s, *h;
	unsigned long	 port = 0;
	int		 nd = 0;

	if (strncasecmp(p, "http://", 7) == 0)
		p += 7;
	else if (strncasecmp(p, "https://", 8) == 0)
		p += 8;
	h = p;
	if (*p == '[') {
		for (p++; is_v6ch((unsigned char)*p); p++)
			;
		if (*p != ']' || p == h + 1)
			return 0;
		p++;
	} else {
		while (is_hostch((unsigned char)*p))
			p++;
		if (p == h)
			return 0;
	}
	if (*p == ':') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			port = port * 10 + (unsigned long)(*p - '0');
			if (++nd > 5)
				return 0;
		}
		if (nd == 0 || port > 65535)
			return 0;
	}
	if (*p == '/')
		p++;
	return *p == '\0';
}

static void
parse_docker_registry(struct mctx *c, struct rule *r, const char *s)
{
	if (!docker_registry_ok(s) ||
	    docker_registry_base(s, &r->registry_base, &r->registry_log) == -1)
		rerr(c, "registry", "invalid registry %s: must be host[:port] "
		    "or http(s)://host[:port] with nothing after it", qv(c, s));
}

/*
 * §1.3 repository-name: non-empty, no empty '/'-separated component.  A
 * name outside the OCI grammar (README, "Docker paths") loads with a
 * warning: no request can reach it.
 */
static void
parse_repository(struct mctx *c, struct rule *r, const char *s)
{
	const char	*p, *e;
	size_t		*lens, i;

	if (*s == '\0') {
		rerr(c, "repository-name", "must not be empty");
		return;
	}
	for (p = s; ; p = e + 1) {
		e = strchr(p, '/');
		if (e == p || *p == '\0') {
			rerr(c, "repository-name", "empty component in %s",
			    qv(c, s));
			return;
		}
		if (e == NULL)
			break;
	}
	r->repository = xstrdup(s);
	for (p = s; ; p = e + 1) {
		if ((e = strchr(p, '/')) == NULL)
			e = p + strlen(p);
		r->repo_segs = xreallocarray(r->repo_segs, r->nrepo_segs + 1,
		    sizeof(*r->repo_segs));
		r->repo_segs[r->nrepo_segs++] = xstrndup(p, (size_t)(e - p));
		if (*e == '\0')
			break;
	}
	/* docker.c refuses such a name in a request before any rule */
	lens = xcalloc(r->nrepo_segs, sizeof(*lens));
	for (i = 0; i < r->nrepo_segs; i++)
		lens[i] = strlen(r->repo_segs[i]);
	if (!docker_name_valid(r->repo_segs, lens, r->nrepo_segs))
		rwarn(c, "repository-name", "%s is not a valid OCI repository "
		    "name; requests for it are refused", qv(c, s));
	free(lens);
}

/*
 * §4.1 npm package-name: "*", "@scope/" + "*", "@scope/name" or "name".
 * Returns NULL and the kind, or the reason it is invalid.
 */
static const char *
npm_name_check(const char *s, enum npm_kind *kind)
{
	const char	*p, *slash;

	if (strcmp(s, "*") == 0) {
		*kind = NPM_ANY;
		return NULL;
	}
	for (p = s; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return "spaces and control characters are not allowed";
	if (s[0] == '@') {
		if ((slash = strchr(s, '/')) == NULL)
			return "a scoped name must be @scope/name";
		if (slash == s + 1)
			return "empty scope";
		if (slash[1] == '\0')
			return "empty name after the scope";
		if (strchr(slash + 1, '/') != NULL)
			return "more than one '/'";
		if (memchr(s, '*', (size_t)(slash - s)) != NULL ||
		    (strchr(slash + 1, '*') != NULL &&
		    strcmp(slash + 1, "*") != 0))
			return "'*' is only allowed as \"*\" or \"@scope/*\"";
		*kind = strcmp(slash + 1, "*") == 0 ? NPM_SCOPE : NPM_EXACT;
		return NULL;
	}
	/* §4.1: a first segment starting with '-' never names a package */
	if (s[0] == '-')
		return "must not start with '-'";
	if (strchr(s, '/') != NULL)
		return "only a scoped name (@scope/name) may contain '/'";
	if (strchr(s, '*') != NULL)
		return "'*' is only allowed as \"*\" or \"@scope/*\"";
	*kind = NPM_EXACT;
	return NULL;
}

/*
 * §2.5 file-v1 specificity: the template expanded with every variable
 * empty, split on '/', empty pieces dropped.
 */
static void
spec_build(struct rule *r, const struct tmpl *t)
{
	struct buf	 b = BUF_INIT;
	const char	*p, *e;

	tmpl_expand_empty(t, &b);
	for (p = buf_cstr(&b); ; p = e + 1) {
		if ((e = strchr(p, '/')) == NULL)
			e = p + strlen(p);
		if (e > p) {
			r->spec = xreallocarray(r->spec, r->nspec + 1,
			    sizeof(*r->spec));
			r->spec[r->nspec++] = xstrndup(p, (size_t)(e - p));
		}
		if (*e == '\0')
			break;
	}
	buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* Rules								*/
/* ------------------------------------------------------------------ */

static void
parse_docker(struct mctx *c, const cJSON *o, struct rule *r)
{
	const char	*s, *err = "invalid";
	int		 b;

	if (r->type == RULE_DOCKER_V1) {
		take_str(c, o, "package-id", &r->package_id);
		if (get_str(c, o, "repository-name", 1, &s) == 1)
			parse_repository(c, r, s);
	} else {
		take_str(c, o, "rule-id", &r->rule_id);
		if (get_str(c, o, "pattern", 1, &s) == 1) {
			r->pattern_src = xstrdup(s);
			if (dpattern_compile(s, &r->pattern, &err) == -1) {
				r->pattern = NULL;
				rerr(c, "pattern", "invalid image pattern: %s",
				    err);
			}
		}
	}
	if (get_str(c, o, "registry", 1, &s) == 1)
		parse_docker_registry(c, r, s);
	if (get_bool(c, o, "always-proxy", &b) == 1)
		r->always_proxy = b;
}

static void
parse_npm(struct mctx *c, const cJSON *o, struct rule *r)
{
	const char	*s, *why;
	size_t		 n, off, alen;
	int		 rc;

	take_str(c, o, "package-id", &r->package_id);
	if (get_str(c, o, "package-name", 1, &s) == 1) {
		if (*s == '\0')
			rerr(c, "package-name", "must not be empty");
		else if ((why = npm_name_check(s, &r->npm_kind)) != NULL)
			rerr(c, "package-name", "invalid npm package name "
			    "%s: %s", qv(c, s), why);
		else
			r->npm_name = xstrdup(s);
	}
	if ((rc = get_str(c, o, "registry", 0, &s)) == -1)
		return;
	if (rc == 0)
		s = NPM_DEFAULT_REGISTRY;
	if (!url_check(s)) {
		rerr(c, "registry", "must be an absolute http or https URL");
		return;
	}
	if (strchr(s, '?') != NULL || strchr(s, '#') != NULL) {
		rerr(c, "registry", "must not have a query or fragment");
		return;
	}
	/* §4.1: the registry base is the value without trailing '/' */
	n = strlen(s);
	if (url_authority(s, &off, &alen) == 0)
		while (n > off + alen && s[n - 1] == '/')
			n--;
	r->registry_base = xstrndup(s, n);
}

/* file-v1: a template (§5.1); file-v2: a regular expression (§6). */
static void
parse_incoming(struct mctx *c, struct rule *r, const char *s)
{
	struct tmpl	*t;
	char		 err[256];

	r->in_src = xstrdup(s);
	err[0] = '\0';
	if (r->type == RULE_FILE_V2) {
		if ((r->re = file_v2_compile(s, err, sizeof(err))) == NULL)
			rerr(c, "incoming-path", "invalid regular expression: "
			    "%s", err);
		return;
	}
	if (tmpl_parse(s, &t, err, sizeof(err)) == -1) {
		rerr(c, "incoming-path", "invalid template: %s", err);
		return;
	}
	spec_build(r, t);
	tmpl_free(t);		/* rule_in_tmpl() makes it again */
}

static void
parse_file(struct mctx *c, const cJSON *o, struct rule *r)
{
	const cJSON	*it;
	const char	*s;
	struct tmpl	*t;
	char		 err[512];
	struct buf	 b = BUF_INIT;

	take_str(c, o, "package-id", &r->package_id);
	if (get_str(c, o, "incoming-path", 1, &s) == 1)
		parse_incoming(c, r, s);
	it = field(c, o, "outgoing-url");
	if (it == NULL) {
		rerr(c, "outgoing-url", "required field is missing (use null "
		    "to only log)");
		return;
	}
	if (cJSON_IsNull(it))
		return;
	if (!cJSON_IsString(it)) {
		rerr(c, "outgoing-url", "must be a string or null (got %s)",
		    jtype(it));
		return;
	}
	r->out_src = xstrdup(it->valuestring);
	err[0] = '\0';
	if (tmpl_parse(r->out_src, &t, err, sizeof(err)) == -1) {
		rerr(c, "outgoing-url", "invalid template: %s", err);
		return;
	}
	/*
	 * §1.5: a literal target that can never be a valid redirect is only
	 * a warning (the original redirected to relative targets); one with
	 * expressions is checked after each expansion (§5.3).
	 */
	if (!tmpl_has_exprs(t)) {
		tmpl_expand_empty(t, &b);
		if (!url_check(buf_cstr(&b))) {
			rwarn(c, "outgoing-url", "must be an absolute http or "
			    "https URL; this rule never matches");
			r->out_never = 1;
		}
		buf_free(&b);
	} else if (tmpl_authority_reach(t, err, sizeof(err)))
		rwarn(c, "outgoing-url", "%s", err);	/* README */
	tmpl_free(t);		/* rule_out_tmpl() makes it again */
}

/* {"type": string, "hash": string}, both required. */
static int
parse_hashobj(struct mctx *c, const cJSON *it, const char *key, char **type,
    char **hash)
{
	static const char *const names[2] = { "type", "hash" };
	const cJSON	*m;
	const char	*v[2];
	int		 i, bad = 0;

	for (i = 0; i < 2; i++) {
		m = field(c, it, names[i]);
		v[i] = NULL;
		if (m == NULL) {
			rerr(c, key, "member \"%s\": required field is missing",
			    names[i]);
			bad = 1;
		} else if (!cJSON_IsString(m)) {
			rerr(c, key, "member \"%s\": must be a string (got %s)",
			    names[i], jtype(m));
			bad = 1;
		} else
			v[i] = m->valuestring;
	}
	if (bad)
		return -1;
	*type = xstrdup(v[0]);
	*hash = xstrdup(v[1]);
	return 0;
}

static void
parse_python(struct mctx *c, const cJSON *o, struct rule *r)
{
	const cJSON	*it;
	const char	*s;
	int		 b;

	take_str(c, o, "package-id", &r->package_id);
	if (get_str(c, o, "package-name", 1, &s) == 1) {
		if (*s == '\0')
			rerr(c, "package-name", "must not be empty");
		else {
			r->py_name = xstrdup(s);
			r->py_norm = pep503_normalise(s, strlen(s));
		}
	}
	if (get_str(c, o, "file-name", 1, &s) == 1) {
		if (*s == '\0')
			rerr(c, "file-name", "must not be empty");
		else if (strchr(s, '/') != NULL)
			rerr(c, "file-name", "must not contain '/'");
		else
			r->file_name = xstrdup(s);
	}
	take_str(c, o, "version", &r->version);
	if (get_str(c, o, "backend-url", 1, &s) == 1) {
		if (!url_check(s))
			rerr(c, "backend-url",
			    "must be an absolute http or https URL");
		else
			r->backend_url = xstrdup(s);
	}
	it = field(c, o, "hash-value");
	if (it != NULL && !cJSON_IsNull(it)) {
		if (!cJSON_IsObject(it))
			rerr(c, "hash-value", "must be an object (got %s)",
			    jtype(it));
		else
			parse_hashobj(c, it, "hash-value", &r->hash_type,
			    &r->hash);
	}
	r->gpg_sig = -1;
	if (get_bool(c, o, "gpg-sig", &b) == 1)
		r->gpg_sig = b;
	take_opt_str(c, o, "requires-python", &r->requires_python);
	it = field(c, o, "yanked");
	if (it != NULL && !cJSON_IsNull(it)) {
		if (cJSON_IsBool(it))
			r->yanked = cJSON_IsTrue(it) ? 1 : 0;
		else if (cJSON_IsString(it)) {
			r->yanked = 1;
			r->yanked_reason = xstrdup(it->valuestring);
		} else
			rerr(c, "yanked", "must be a boolean or a string "
			    "(got %s)", jtype(it));
	}
	/* `false` is accepted as "no metadata", as PEP 714's JSON has it */
	it = field(c, o, "core-metadata");
	if (it != NULL && !cJSON_IsNull(it)) {
		if (cJSON_IsBool(it))
			r->core_md = cJSON_IsTrue(it) ? 1 : 0;
		else if (cJSON_IsObject(it)) {
			if (parse_hashobj(c, it, "core-metadata",
			    &r->core_md_type, &r->core_md_hash) == 0)
				r->core_md = 2;
		} else
			rerr(c, "core-metadata", "must be an object or true "
			    "(got %s)", jtype(it));
	}
	if (get_str(c, o, "backend-simple-index-url", 0, &s) == 1) {
		if (!url_check(s))
			rerr(c, "backend-simple-index-url",
			    "must be an absolute http or https URL");
		else
			r->backend_index = xstrdup(s);
	}
}

static void
parse_pixel(struct mctx *c, const cJSON *o, struct rule *r)
{
	const char	*s;
	int		 rc;

	take_str(c, o, "package-id", &r->package_id);
	if ((rc = get_str(c, o, "incoming-path", 0, &s)) == -1)
		return;
	if (rc == 0)
		s = PIXEL_DEFAULT_PATH;
	if (s[0] != '/')
		rerr(c, "incoming-path", "must start with '/'");
	else
		r->path = xstrdup(s);
}

static void
parse_telemetry(struct mctx *c, const cJSON *o, struct rule *r)
{
	const cJSON	*it, *e;
	const char	*s;
	size_t		 i;

	take_str(c, o, "package-id", &r->package_id);
	if (get_str(c, o, "incoming-path", 1, &s) == 1) {
		if (s[0] != '/')
			rerr(c, "incoming-path", "must start with '/'");
		else
			r->path = xstrndup(s, strcspn(s, "?"));
	}
	it = field(c, o, "access-tokens");
	if (it == NULL || cJSON_IsNull(it))
		return;
	if (!cJSON_IsArray(it)) {
		rerr(c, "access-tokens", "must be an array (got %s)",
		    jtype(it));
		return;
	}
	r->tokens_set = 1;
	for (e = it->child, i = 0; e != NULL; e = e->next, i++) {
		if (!cJSON_IsString(e)) {
			rerr(c, "access-tokens", "item %zu: must be a string "
			    "(got %s)", i, jtype(e));
			continue;
		}
		if (e->valuestring[0] == '\0')
			rwarn(c, "access-tokens", "item %zu is empty", i);
		r->tokens = xreallocarray(r->tokens, r->ntokens + 1,
		    sizeof(*r->tokens));
		r->tokens[r->ntokens++] = xstrdup(e->valuestring);
	}
}

static void
parse_catchall(struct mctx *c, const cJSON *o, struct rule *r)
{
	struct buf	 b = BUF_INIT;
	const char	*s;
	size_t		 n;

	take_str(c, o, "package-id", &r->package_id);
	if (get_str(c, o, "redirect-target-domain", 0, &s) != 1)
		return;
	buf_adds(&b, "https://");
	buf_adds(&b, s);
	if (!url_check(buf_cstr(&b)))
		rerr(c, "redirect-target-domain", "\"https://\" + value must "
		    "be an absolute URL with a host");
	else if (strchr(s, '?') != NULL || strchr(s, '#') != NULL)
		rerr(c, "redirect-target-domain",
		    "must not have a query or fragment");
	else {
		/* §10: one trailing '/' is removed */
		n = strlen(s);
		if (n > 0 && s[n - 1] == '/')
			n--;
		r->target = xstrndup(s, n);
	}
	buf_free(&b);
}

static int
type_from_name(const char *s, enum rule_type *t)
{
	int	 i;

	for (i = 0; i < RULE__COUNT; i++)
		if (strcmp(s, type_names[i]) == 0) {
			*t = (enum rule_type)i;
			return 0;
		}
	return -1;
}

/* Fills r from object o (rule c->idx).  Errors go to c. */
static void
parse_rule(struct mctx *c, const cJSON *o, struct rule *r)
{
	const char	*s;

	c->tname = NULL;
	if (get_str(c, o, "type", 1, &s) != 1)
		return;
	if (type_from_name(s, &r->type) == -1) {
		rerr(c, "type", "unknown rule type %s", qv(c, s));
		return;
	}
	c->tname = rule_type_name(r->type);
	if (get_str(c, o, "domain", 1, &s) == 1)
		parse_domain(c, r, s);
	/* §1.2: accepted and ignored, but typed */
	get_str(c, o, "owner", 0, &s);
	if (r->type != RULE_NPM_V1 && r->type != RULE_PYTHON_V1)
		get_str(c, o, "package-name", 0, &s);
	switch (r->type) {
	case RULE_DOCKER_V1:
	case RULE_DOCKER_V2:
		parse_docker(c, o, r);
		break;
	case RULE_NPM_V1:
		parse_npm(c, o, r);
		break;
	case RULE_FILE_V1:
	case RULE_FILE_V2:
		parse_file(c, o, r);
		break;
	case RULE_PYTHON_V1:
		parse_python(c, o, r);
		break;
	case RULE_PIXEL_V1:
		parse_pixel(c, o, r);
		break;
	case RULE_TELEMETRY_V1:
		parse_telemetry(c, o, r);
		break;
	case RULE_CATCH_ALL_V1:
		parse_catchall(c, o, r);
		break;
	case RULE__COUNT:
		break;
	}
}

static void
free_strv(char **v, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
rule_free(struct rule *r)
{
	struct tmpl	*t;

	free(r->domain);
	free(r->package_id);
	free(r->rule_id);
	free(r->repository);
	free_strv(r->repo_segs, r->nrepo_segs);
	free(r->pattern_src);
	if (r->pattern != NULL)
		dpattern_free(r->pattern);
	free(r->registry_base);
	free(r->registry_log);
	free(r->npm_name);
	free(r->in_src);
	if ((t = atomic_load(&r->in_tmpl)) != NULL)
		tmpl_free(t);
	if (r->re != NULL)
		file_v2_free(r->re);
	free(r->out_src);
	if ((t = atomic_load(&r->out_tmpl)) != NULL)
		tmpl_free(t);
	free_strv(r->spec, r->nspec);
	free(r->py_name);
	free(r->py_norm);
	free(r->file_name);
	free(r->version);
	free(r->backend_url);
	free(r->hash_type);
	free(r->hash);
	free(r->requires_python);
	free(r->yanked_reason);
	free(r->core_md_type);
	free(r->core_md_hash);
	free(r->backend_index);
	free(r->path);
	free_strv(r->tokens, r->ntokens);
	free(r->target);
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
		rerr(c, "settings", "must be an object (got %s)", jtype(s));
		return;
	}
	c->in_settings = 1;
	for (it = s->child; it != NULL; it = it->next)
		if (strcmp(it->string, "docker-redirect-user-agents") != 0 &&
		    strcmp(it->string, "npm-cache-ttl") != 0)
			rwarn(c, NULL, "unknown key %s ignored",
			    qv(c, it->string));
	it = field(c, s, "docker-redirect-user-agents");
	if (it != NULL && !cJSON_IsNull(it)) {
		if (!cJSON_IsArray(it))
			rerr(c, "docker-redirect-user-agents",
			    "must be an array (got %s)", jtype(it));
		else {
			m->redirect_uas = xcalloc(1, sizeof(*m->redirect_uas));
			err[0] = '\0';
			if (ua_list_parse(it, m->redirect_uas, err,
			    sizeof(err)) == -1) {
				rerr(c, "docker-redirect-user-agents", "%s",
				    err);
				ua_list_free(m->redirect_uas);
				free(m->redirect_uas);
				m->redirect_uas = NULL;
			}
		}
	}
	it = field(c, s, "npm-cache-ttl");
	if (it != NULL && !cJSON_IsNull(it)) {
		v = cJSON_IsNumber(it) ? it->valuedouble : -1;
		if (!(v >= 0 && v <= 2147483647.0) || v != (double)(long)v)
			rerr(c, "npm-cache-ttl", "must be an integer between 0 "
			    "and 2147483647");
		else
			m->npm_cache_ttl = (long)v;
	}
	c->in_settings = 0;
}

/* ------------------------------------------------------------------ */
/* Index								*/
/* ------------------------------------------------------------------ */

/* §2.5: specificity lists compared descending (greater first). */
static int
spec_cmp(const struct rule *a, const struct rule *b)
{
	size_t	 i;
	int	 r;

	for (i = 0; i < a->nspec && i < b->nspec; i++)
		if ((r = strcmp(a->spec[i], b->spec[i])) != 0)
			return r > 0 ? -1 : 1;
	if (a->nspec != b->nspec)
		return a->nspec > b->nspec ? -1 : 1;
	return 0;
}

/*
 * Orders rules by domain, then precedence (§2.5): type, then the
 * type's own key, then manifest order, so that the sort is stable.
 */
static int
rule_cmp(const void *pa, const void *pb)
{
	const struct rule	*a = *(const struct rule *const *)pa;
	const struct rule	*b = *(const struct rule *const *)pb;
	int			 r;

	if ((r = strcmp(a->domain, b->domain)) != 0)
		return r;
	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	switch (a->type) {
	case RULE_NPM_V1:
		if (a->npm_kind != b->npm_kind)
			return a->npm_kind < b->npm_kind ? -1 : 1;
		break;
	case RULE_FILE_V1:
		if ((r = spec_cmp(a, b)) != 0)
			return r;
		break;
	case RULE_FILE_V2:
		if ((r = strcmp(a->in_src, b->in_src)) != 0)
			return r;
		break;
	default:
		break;
	}
	return a->index < b->index ? -1 : a->index > b->index;
}

static void
index_build(struct manifest *m)
{
	struct rule	**all;
	struct ruleset	 *set;
	size_t		  i, j, k, ns;
	int		  t;

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
		set->domain = xstrdup(all[i]->domain);
		set->nrules = j - i;
		set->rules = xreallocarray(NULL, set->nrules,
		    sizeof(*set->rules));
		memcpy(set->rules, all + i, set->nrules * sizeof(*all));
		for (t = 0, k = 0; t < RULE__COUNT; t++) {
			set->first[t] = k;
			while (k < set->nrules && (int)set->rules[k]->type == t)
				k++;
			set->count[t] = k - set->first[t];
		}
		if (set->count[RULE_PYTHON_V1] > 0)
			set->py = pyindex_build(set->rules +
			    set->first[RULE_PYTHON_V1],
			    set->count[RULE_PYTHON_V1]);
	}
	free(all);
}

/* Duplicate detection (§1.5 warnings). */
struct dupkey {
	const char	*a, *b;
	int		 index;
};

struct dup {
	int		 index, first;
	enum rule_type	 type;
	const char	*domain;
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

static const char *
dup_what(enum rule_type t)
{
	switch (t) {
	case RULE_DOCKER_V1:
		return "same repository-name";
	case RULE_NPM_V1:
		return "same package-name";
	case RULE_FILE_V1:
	case RULE_PIXEL_V1:
	case RULE_TELEMETRY_V1:
		return "same incoming-path";
	case RULE_PYTHON_V1:
		return "same normalised package-name and file-name";
	case RULE_CATCH_ALL_V1:
		return "one catch-all-v1 per domain";
	default:
		return "same key";
	}
}

/*
 * Warns about rules that can never be used because an earlier rule of the
 * same type on the same domain has the same key (§1.5).  Reported in
 * manifest order of the unused rule.
 */
static void
dup_warnings(struct mctx *c, const struct manifest *m)
{
	static const enum rule_type types[] = {
		RULE_DOCKER_V1, RULE_NPM_V1, RULE_FILE_V1, RULE_PYTHON_V1,
		RULE_PIXEL_V1, RULE_TELEMETRY_V1, RULE_CATCH_ALL_V1,
	};
	struct dupkey	*keys = NULL;
	struct dup	*dups = NULL;
	size_t		 ndups = 0, s, ti, i, k, n, run;
	const struct ruleset *set;
	const struct rule *r;

	for (s = 0; s < m->nsets; s++) {
		set = &m->sets[s];
		for (ti = 0; ti < sizeof(types) / sizeof(types[0]); ti++) {
			n = set->count[types[ti]];
			if (n < 2)
				continue;
			keys = xreallocarray(keys, n, sizeof(*keys));
			for (i = 0; i < n; i++) {
				r = set->rules[set->first[types[ti]] + i];
				keys[i].index = r->index;
				keys[i].a = keys[i].b = NULL;
				switch (r->type) {
				case RULE_DOCKER_V1:
					keys[i].a = r->repository;
					break;
				case RULE_NPM_V1:
					keys[i].a = r->npm_name;
					break;
				case RULE_FILE_V1:
					keys[i].a = r->in_src;
					break;
				case RULE_PYTHON_V1:
					keys[i].a = r->py_norm;
					keys[i].b = r->file_name;
					break;
				case RULE_PIXEL_V1:
				case RULE_TELEMETRY_V1:
					keys[i].a = r->path;
					break;
				default:
					break;
				}
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
				dups[ndups].type = types[ti];
				dups[ndups].domain = set->domain;
				ndups++;
			}
		}
	}
	if (ndups > 0)
		qsort(dups, ndups, sizeof(*dups), dup_cmp);
	for (i = 0; i < ndups; i++) {
		c->idx = dups[i].index;
		c->tname = rule_type_name(dups[i].type);
		rwarn(c, NULL, "duplicate of rules[%d] on domain %s (%s); "
		    "this rule is never used", dups[i].first,
		    qv(c, dups[i].domain), dup_what(dups[i].type));
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
	size_t	 i;

	if (m->backing != NULL) {
		/* the rule sets, the UA list and the image */
		m->backing->release(m);
		free(m);
		return;
	}
	for (i = 0; i < m->nsets; i++) {
		if (m->sets[i].py != NULL)
			pyindex_free(m->sets[i].py);
		free(m->sets[i].rules);
		free(m->sets[i].domain);
	}
	free(m->sets);
	for (i = 0; i < m->nrules; i++)
		rule_free(&m->rules[i]);
	free(m->rules);
	if (m->redirect_uas != NULL) {
		ua_list_free(m->redirect_uas);
		free(m->redirect_uas);
	}
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
		r->gpg_sig = -1;
		m->nrules++;
		c->idx = r->index;
		c->tname = NULL;
		it = cJSON_ParseWithLength(text + start, pos - start);
		if (it == NULL)
			rerr(c, NULL, "cannot parse");
		else if (!cJSON_IsObject(it))
			rerr(c, NULL, "must be an object (got %s)", jtype(it));
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
		rerr(&c, NULL, "top level must be a JSON object (got %s)",
		    jtype(top));
		goto done;
	}
	m = xcalloc(1, sizeof(*m));
	atomic_init(&m->refs, 1);
	parse_settings(&c, m, field(&c, root, "settings"));
	if (nrules_keys > 1)
		rwarn(&c, "rules", "key appears %d times; the last one is "
		    "used", nrules_keys);
	if (rules_off == (size_t)-1)
		rerr(&c, "rules", "required field is missing");
	else if (text[rules_off] != '[') {
		size_t	 e = rules_off;
		cJSON	*v;

		(void)json_scan_value(text, len, &e, NULL, NULL, 0);
		v = cJSON_ParseWithLength(text + rules_off, e - rules_off);
		rerr(&c, "rules", "must be an array (got %s)", jtype(v));
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
	    S_ISREG(st.st_mode) && manifest_cache->find(path, &st, out, d) == 0) {
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

/* strcmp(pfx + s, dom) without building the concatenation. */
static int
domain_cmp(const char *pfx, const char *s, const char *dom)
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
		r = domain_cmp(pfx, s, m->sets[mid].domain);
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

/*
 * A template slot of a rule, compiled from src on first use.  Two threads
 * may both compile it: the first to store it wins, the other frees its
 * copy.  The manifest is immutable otherwise; this is a cache of what
 * the load already checked (tmpl_parse cannot fail here).
 */
static const struct tmpl *
rule_tmpl(_Atomic(struct tmpl *) *slot, const char *src)
{
	struct tmpl	*t, *none = NULL;
	char		 err[256];

	if ((t = atomic_load(slot)) != NULL || src == NULL)
		return t;
	if (tmpl_parse(src, &t, err, sizeof(err)) == -1)
		return NULL;
	if (!atomic_compare_exchange_strong(slot, &none, t)) {
		tmpl_free(t);
		t = none;
	}
	return t;
}

const struct tmpl *
rule_in_tmpl(const struct rule *r)
{
	struct rule	*w = (struct rule *)(uintptr_t)r;

	/* in_src is the regular expression of a file-v2 rule */
	return rule_tmpl(&w->in_tmpl, r->type == RULE_FILE_V1 ? r->in_src :
	    NULL);
}

const struct tmpl *
rule_out_tmpl(const struct rule *r)
{
	struct rule	*w = (struct rule *)(uintptr_t)r;

	return rule_tmpl(&w->out_tmpl, r->out_src);
}
