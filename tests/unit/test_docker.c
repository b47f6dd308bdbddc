/* Unit tests for common/docker.c: image patterns (SPEC §3.2), redirect-
 * capable User-Agents (§3.3), registry bases (§3.4), and the /v2 path
 * grammar (docker_path_parse: OCI names, tags and digests, issue 9). */
#include "config.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "buf.h"
#include "docker.h"
#include "util.h"
#include "xmalloc.h"

/* Splits an image name on '/' and matches it. */
static int
match(const struct dpattern *p, const char *image)
{
	char	*copy = xstrdup(image), *segs[32], *s, *save = NULL;
	size_t	 lens[32], n = 0;
	int	 m;

	/* keep empty segments: split by hand */
	s = copy;
	for (;;) {
		char *slash = strchr(s, '/');
		segs[n] = s;
		lens[n] = slash ? (size_t)(slash - s) : strlen(s);
		n++;
		if (slash == NULL || n == 32)
			break;
		*slash = '\0';
		s = slash + 1;
	}
	(void)save;
	m = dpattern_match(p, segs, lens, n);
	free(copy);
	return m;
}

static const struct {
	int		 line;
	const char	*pattern;
	const char	*image;
	int		 want;
} match_tests[] = {
	{ __LINE__, "library/*", "library/hello", 1 },
	{ __LINE__, "library/*", "library/hello{abc}", 1 },
	{ __LINE__, "library/*", "library", 0 },
	{ __LINE__, "library/*", "library/hello/world", 0 },
	{ __LINE__, "library/*", "library/", 1 },
	{ __LINE__, "l*n*k*er/d{1,2,3,4,5}", "linker/d5", 1 },
	{ __LINE__, "l*n*k*er/d{1,2,3,4,5}", "linker/d6", 0 },
	{ __LINE__, "a*", "a", 1 },
	{ __LINE__, "a**", "a", 0 },
	{ __LINE__, "a**", "ab", 1 },
	{ __LINE__, "a***", "abc", 1 },
	{ __LINE__, "**", "", 0 },
	{ __LINE__, "*", "", 1 },
	{ __LINE__, "lin{t, ker}", "lin ker", 1 },
	{ __LINE__, "lin{t, ker}", "lint", 1 },
	{ __LINE__, "lin{t, ker}", "linker", 0 },
	{ __LINE__, "a{b{c,d},e}f", "abdf", 1 },
	{ __LINE__, "a{b{c,d},e}f", "aef", 1 },
	{ __LINE__, "a{b{c,d},e}f", "abf", 0 },
	{ __LINE__, "x\\*y", "x*y", 1 },
	{ __LINE__, "x\\*y", "xzy", 0 },
	{ __LINE__, "x\\{\\}\\,", "x{},", 1 },
	{ __LINE__, "Library/*", "library/x", 0 },
	{ __LINE__, "*/*/*", "a/b/c", 1 },
	{ __LINE__, "*/*/*", "a/b", 0 },
	{ __LINE__, "a*b*c", "aXXbYYbc", 1 },
	{ __LINE__, "a*b*c", "aXXbYYbcd", 0 },
	{ __LINE__, "{*-dev,*-prod}", "app-dev", 1 },
	{ __LINE__, "{*-dev,*-prod}", "app-test", 0 },
};

static const struct {
	int		 line;
	const char	*pattern;
} bad_patterns[] = {
	{ __LINE__, "" },
	{ __LINE__, "a//b" },
	{ __LINE__, "/a" },
	{ __LINE__, "a/" },
	{ __LINE__, "a{b" },
	{ __LINE__, "a}b" },
	{ __LINE__, "a,b" },
	{ __LINE__, "a{}" },
	{ __LINE__, "a{b,}" },
	{ __LINE__, "a\\b" },
	{ __LINE__, "a\\" },
	{ __LINE__, "{a,b}{c,d}{e,f}{g,h}{i,j}{k,l}{m,n}{o,p}{q,r}" },
};

static const struct {
	int		 line;
	const char	*ua;
	int		 want;
} ua_tests[] = {
	{ __LINE__, "docker/24.0.7 go/go1.20.10 git-commit/311b9ff", 1 },
	{ __LINE__, "Docker-Client/20.10.2 (linux)", 1 },
	{ __LINE__, "containerd/1.4.9", 1 },
	{ __LINE__, "containerd/1.4.10", 1 },
	{ __LINE__, "containerd/1.4.8", 0 },
	{ __LINE__, "containerd/1.5.0", 0 },
	{ __LINE__, "containerd/1.5.4", 0 },
	{ __LINE__, "containerd/1.5.5", 1 },
	{ __LINE__, "containerd/v1.7.24", 1 },
	{ __LINE__, "containerd/2.0.0-rc.1", 1 },
	{ __LINE__, "containerd/1.6.2+unknown", 1 },
	{ __LINE__, "containerd/1.4", 0 },
	{ __LINE__, "containerd/", 0 },
	{ __LINE__, "Watchtower (Docker)", 1 },
	{ __LINE__, "Watchtower (Docker) 2", 0 },
	{ __LINE__, "skopeo/1.9.3", 0 },
	{ __LINE__, "libpod/4.3.1", 0 },
	{ __LINE__, "cri-o/1.28", 0 },
	{ __LINE__, "Docker/1.0", 0 },
	{ __LINE__, "", 0 },
};

static const struct {
	int		 line;
	const char	*registry;
	const char	*base;		/* NULL: invalid */
	const char	*log;
} reg_tests[] = {
	{ __LINE__, "ghcr.io", "https://ghcr.io", "ghcr.io" },
	{ __LINE__, "ghcr.io/", "https://ghcr.io", "ghcr.io" },
	{ __LINE__, "docker.io", "https://registry-1.docker.io",
	    "registry-1.docker.io" },
	{ __LINE__, "Index.Docker.IO", "https://registry-1.docker.io",
	    "registry-1.docker.io" },
	{ __LINE__, "registry.hub.docker.com", "https://registry-1.docker.io",
	    "registry-1.docker.io" },
	{ __LINE__, "https://docker.io", "https://registry-1.docker.io",
	    "https://registry-1.docker.io" },
	{ __LINE__, "http://127.0.0.1:5000/", "http://127.0.0.1:5000",
	    "http://127.0.0.1:5000" },
	{ __LINE__, "localhost:5000", "https://localhost:5000",
	    "localhost:5000" },
	{ __LINE__, "http://[::1]:5000", "http://[::1]:5000",
	    "http://[::1]:5000" },
	{ __LINE__, "https://ghcr.io/v2", NULL, NULL },
	{ __LINE__, "https://ghcr.io?x", NULL, NULL },
	{ __LINE__, "ghcr.io:", NULL, NULL },
	{ __LINE__, "ghcr.io:80a", NULL, NULL },
	{ __LINE__, "", NULL, NULL },
	{ __LINE__, "https://", NULL, NULL },
	{ __LINE__, "gh cr.io", NULL, NULL },
	{ __LINE__, "user@ghcr.io", NULL, NULL },
};

/* 64 and 128 lower-case hex digits */
#define H64 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define H128 H64 H64
/* 32, 64 and 128 bytes of 'a' */
#define A32 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define A64 A32 A32
#define A128 A64 A64

#define NOT_CLAIMED	-1
#define OK		DOCKER_PATH_OK
#define NAME		DOCKER_PATH_NAME_INVALID
#define TAG		DOCKER_PATH_TAG_INVALID
#define DIGEST		DOCKER_PATH_DIGEST_INVALID

/*
 * Raw paths, split and decoded as the gateway does (SPEC §0), and what
 * docker_path_parse makes of them; for valid ones the path rebuilt for
 * the registry (NULL: the same as the input).
 */
static const struct {
	int		 line;
	const char	*path;
	int		 want;
	const char	*rebuilt;
} path_tests[] = {
	/* valid */
	{ __LINE__, "/v2/myorg/app/manifests/latest", OK, NULL },
	{ __LINE__, "/v2/myorg/app/tags/list", OK, NULL },
	{ __LINE__, "/v2/a/manifests/1", OK, NULL },
	{ __LINE__, "/v2/a0.b_c__d---e/x9/manifests/v1.0-rc_1", OK, NULL },
	{ __LINE__, "/v2/acme/manifests/tool/manifests/1.0", OK, NULL },
	{ __LINE__, "/v2/a/b/c/d/e/f/blobs/sha256:" H64, OK, NULL },
	{ __LINE__, "/v2/myorg/app/manifests/sha256:" H64, OK, NULL },
	{ __LINE__, "/v2/myorg/app/referrers/sha256:" H64, OK, NULL },
	{ __LINE__, "/v2/myorg/app/blobs/sha512:" H128, OK, NULL },
	{ __LINE__, "/v2/myorg/app/blobs/blake3:" H64, OK, NULL },
	{ __LINE__, "/v2/myorg/app/blobs/sha256+b64u:"
	    "LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564", OK, NULL },
	{ __LINE__, "/v2/myorg/app/blobs/multihash+base58:"
	    "QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8", OK, NULL },
	{ __LINE__, "/v2/myorg/app/blobs/a.b_c-d+e:x=", OK, NULL },
	{ __LINE__, "/v2/myorg/app/manifests/Latest", OK, NULL },
	{ __LINE__, "/v2/myorg/app/manifests/_x.Y-z", OK, NULL },
	{ __LINE__, "/v2/myorg/app/manifests/" A128, OK, NULL },
	/* 255 bytes of name: 64*3 + 3 slashes + 60 */
	{ __LINE__, "/v2/" A64 "/" A64 "/" A64 "/" A32 "aaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "/tags/list", OK, NULL },
	/* percent-encoded but valid once decoded: rebuilt plain */
	{ __LINE__, "/v2/%6Dyorg/%61pp/manifests/l%61test", OK,
	    "/v2/myorg/app/manifests/latest" },
	{ __LINE__, "/v2/myorg/app/%6Danifests/sha256%3A" H64, OK,
	    "/v2/myorg/app/manifests/sha256:" H64 },
	{ __LINE__, "/v2/myorg/app/tags/%6Cist", OK, "/v2/myorg/app/tags/list" },

	/* not an API path: left to later rules (SPEC §3.1 item 5) */
	{ __LINE__, "/v2/myorg/app", NOT_CLAIMED, NULL },
	{ __LINE__, "/v2/manifests/latest", NOT_CLAIMED, NULL },
	{ __LINE__, "/v2/myorg/app/wrong/x", NOT_CLAIMED, NULL },
	{ __LINE__, "/v2/myorg/app/tags/other", NOT_CLAIMED, NULL },
	{ __LINE__, "/v2/myorg/app/manifests/latest/", NOT_CLAIMED, NULL },
	{ __LINE__, "/v2/myorg/app/blobs/uploads/", NOT_CLAIMED, NULL },
	{ __LINE__, "/v2/myorg/app/manifests%00/latest", NOT_CLAIMED, NULL },
	{ __LINE__, "/v2/myorg/app/tags/list%00", NOT_CLAIMED, NULL },
	{ __LINE__, "/v3/myorg/app/manifests/latest", NOT_CLAIMED, NULL },

	/* names: the attack of issue 9 and its variants */
	{ __LINE__, "/v2/myorg/..%2Fother%2Fsecret/tags/list", NAME, NULL },
	{ __LINE__, "/v2/myorg/..%2fother%2fsecret/tags/list", NAME, NULL },
	{ __LINE__, "/v2/myorg/%2e%2e/other/secret/tags/list", NAME, NULL },
	{ __LINE__, "/v2/myorg/%2E%2E%2Fother/tags/list", NAME, NULL },
	{ __LINE__, "/v2/myorg/.%2E/tags/list", NAME, NULL },
	{ __LINE__, "/v2/myorg/../other/tags/list", NAME, NULL },
	{ __LINE__, "/v2/myorg/./app/tags/list", NAME, NULL },
	{ __LINE__, "/v2/myorg/..%252Fother/tags/list", NAME, NULL },
	{ __LINE__, "/v2/myorg/%252e%252e/tags/list", NAME, NULL },
	{ __LINE__, "/v2/myorg/app%5C..%5Cother/tags/list", NAME, NULL },
	{ __LINE__, "/v2/myorg/app\\..\\other/tags/list", NAME, NULL },
	{ __LINE__, "/v2/myorg/app%00/tags/list", NAME, NULL },
	{ __LINE__, "/v2/myorg/app%00..%2Fother/tags/list", NAME, NULL },
	{ __LINE__, "/v2/myorg/app;x=1/tags/list", NAME, NULL },
	{ __LINE__, "/v2/myorg/app%3Bx/tags/list", NAME, NULL },
	{ __LINE__, "/v2/myorg/app%3Fx/tags/list", NAME, NULL },
	{ __LINE__, "/v2/myorg/app%23x/tags/list", NAME, NULL },
	{ __LINE__, "/v2/myorg/app%20/tags/list", NAME, NULL },
	{ __LINE__, "/v2/myorg/app%2F/tags/list", NAME, NULL },
	{ __LINE__, "/v2/%2Fmyorg/app/tags/list", NAME, NULL },
	{ __LINE__, "/v2/myorg/%C3%A9/tags/list", NAME, NULL },
	{ __LINE__, "/v2/MyOrg/app/tags/list", NAME, NULL },
	{ __LINE__, "/v2/myorg//app/tags/list", NAME, NULL },
	{ __LINE__, "/v2//tags/list", NAME, NULL },
	{ __LINE__, "/v2/myorg/-app/tags/list", NAME, NULL },
	{ __LINE__, "/v2/myorg/app-/tags/list", NAME, NULL },
	{ __LINE__, "/v2/myorg/a..b/tags/list", NAME, NULL },
	{ __LINE__, "/v2/myorg/a___b/tags/list", NAME, NULL },
	{ __LINE__, "/v2/myorg/a._b/tags/list", NAME, NULL },
	{ __LINE__, "/v2/myorg/a-.b/tags/list", NAME, NULL },
	{ __LINE__, "/v2/myorg/_a/tags/list", NAME, NULL },
	{ __LINE__, "/v2/myorg/a:b/tags/list", NAME, NULL },
	{ __LINE__, "/v2/..%2F..%2Fother/secret/manifests/latest", NAME, NULL },
	/* 256 bytes of name */
	{ __LINE__, "/v2/" A64 "/" A64 "/" A64 "/" A32 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "/tags/list", NAME, NULL },
	/* the name is checked first */
	{ __LINE__, "/v2/My/app/blobs/nonsense", NAME, NULL },

	/* tags */
	{ __LINE__, "/v2/myorg/app/manifests/"
	    "..%2F..%2F..%2Fother%2Fsecret%2Fmanifests%2Ftopsecret", TAG, NULL },
	{ __LINE__, "/v2/myorg/app/manifests/..", TAG, NULL },
	{ __LINE__, "/v2/myorg/app/manifests/%2e%2e", TAG, NULL },
	{ __LINE__, "/v2/myorg/app/manifests/.hidden", TAG, NULL },
	{ __LINE__, "/v2/myorg/app/manifests/-x", TAG, NULL },
	{ __LINE__, "/v2/myorg/app/manifests/", TAG, NULL },
	{ __LINE__, "/v2/myorg/app/manifests/lat%00est", TAG, NULL },
	{ __LINE__, "/v2/myorg/app/manifests/latest;x", TAG, NULL },
	{ __LINE__, "/v2/myorg/app/manifests/latest%5C", TAG, NULL },
	{ __LINE__, "/v2/myorg/app/manifests/lat%252Fest", TAG, NULL },
	{ __LINE__, "/v2/myorg/app/manifests/lat%2Fest", TAG, NULL },
	{ __LINE__, "/v2/myorg/app/manifests/%C3%A9", TAG, NULL },
	{ __LINE__, "/v2/myorg/app/manifests/" A128 "a", TAG, NULL },

	/* digests */
	{ __LINE__, "/v2/myorg/app/blobs/sha256:ab", DIGEST, NULL },
	{ __LINE__, "/v2/myorg/app/blobs/latest", DIGEST, NULL },
	{ __LINE__, "/v2/myorg/app/referrers/latest", DIGEST, NULL },
	{ __LINE__, "/v2/myorg/app/manifests/sha256:zz", DIGEST, NULL },
	{ __LINE__, "/v2/myorg/app/blobs/sha256:"
	    "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
	    DIGEST, NULL },
	{ __LINE__, "/v2/myorg/app/blobs/sha256:" H64 "0", DIGEST, NULL },
	{ __LINE__, "/v2/myorg/app/blobs/sha256:"
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
	    DIGEST, NULL },
	{ __LINE__, "/v2/myorg/app/blobs/SHA256:" H64, DIGEST, NULL },
	{ __LINE__, "/v2/myorg/app/blobs/sha512:" H64, DIGEST, NULL },
	{ __LINE__, "/v2/myorg/app/blobs/sha256:..%2F..%2Fx", DIGEST, NULL },
	{ __LINE__, "/v2/myorg/app/blobs/sha256:" H64 "%00", DIGEST, NULL },
	{ __LINE__, "/v2/myorg/app/blobs/sha256:" H64 ";x", DIGEST, NULL },
	{ __LINE__, "/v2/myorg/app/blobs/:abc", DIGEST, NULL },
	{ __LINE__, "/v2/myorg/app/blobs/sha256:", DIGEST, NULL },
	{ __LINE__, "/v2/myorg/app/blobs/sha256+:x", DIGEST, NULL },
	{ __LINE__, "/v2/myorg/app/blobs/a++b:x", DIGEST, NULL },
	{ __LINE__, "/v2/myorg/app/blobs/-a:x", DIGEST, NULL },
	{ __LINE__, "/v2/myorg/app/blobs/foo:a.b", DIGEST, NULL },
	{ __LINE__, "/v2/myorg/app/blobs/foo:a+b", DIGEST, NULL },
	{ __LINE__, "/v2/myorg/app/blobs/foo:a:b", DIGEST, NULL },
	{ __LINE__, "/v2/myorg/app/blobs/", DIGEST, NULL },
};

/* SPEC §0 segments of a raw path, as gateway.c splits them. */
static size_t
split(const char *path, char ***segsp, size_t **lensp)
{
	struct buf	 b = BUF_INIT;
	const char	*s, *e;
	size_t		 n = 0;

	*segsp = NULL;
	*lensp = NULL;
	for (s = path + 1; ; s = e + 1) {
		for (e = s; *e && *e != '/'; e++)
			;
		buf_reset(&b);
		pct_decode(&b, s, (size_t)(e - s), 0);
		*segsp = xreallocarray(*segsp, n + 1, sizeof(**segsp));
		*lensp = xreallocarray(*lensp, n + 1, sizeof(**lensp));
		(*segsp)[n] = xstrndup(buf_cstr(&b), b.n);
		(*lensp)[n] = b.n;
		n++;
		if (*e == '\0')
			break;
	}
	buf_free(&b);
	return n;
}

static const char *const err_codes[] = {
	NULL, "NAME_INVALID", "TAG_INVALID", "DIGEST_INVALID",
};

static void
path_test(int line, const char *path, int want, const char *rebuilt)
{
	struct docker_path	 dp;
	enum docker_path_err	 err;
	struct buf		 b = BUF_INIT;
	char			**segs;
	size_t			*lens, n, i;
	int			 claimed;

	n = split(path, &segs, &lens);
	claimed = docker_path_parse(segs, lens, n, &dp, &err);
	if (want == NOT_CLAIMED)
		is_int_at(line, claimed, 0, "%s: not claimed", path);
	else if (is_int_at(line, claimed, 1, "%s: claimed", path) &&
	    is_int_at(line, err, want, "%s: %s", path,
	    want == OK ? "valid" : err_codes[want]) && want == OK) {
		docker_path_format(&dp, &b);
		is_str_at(line, buf_cstr(&b), rebuilt ? rebuilt : path,
		    "%s: rebuilt", path);
	} else if (claimed && want != OK) {
		cJSON *j = cJSON_Parse(docker_path_errbody(err)), *c;
		c = cJSON_GetObjectItem(cJSON_GetArrayItem(
		    cJSON_GetObjectItem(j, "errors"), 0), "code");
		ok_at(line, cJSON_IsString(c) &&
		    strcmp(c->valuestring, err_codes[want]) == 0,
		    "%s: the body is OCI error JSON with %s", path,
		    err_codes[want]);
		cJSON_Delete(j);
	}
	buf_free(&b);
	for (i = 0; i < n; i++)
		free(segs[i]);
	free(segs);
	free(lens);
}

int
main(void)
{
	struct dpattern	*p;
	struct ua_list	 l;
	const char	*err;
	char		*base, *log, ebuf[256];
	size_t		 i;
	cJSON		*j;

	for (i = 0; i < sizeof(match_tests) / sizeof(match_tests[0]); i++) {
		int rc = dpattern_compile(match_tests[i].pattern, &p, &err);
		if (!ok_at(match_tests[i].line, rc == 0, "compile %s",
		    match_tests[i].pattern))
			continue;
		is_int_at(match_tests[i].line, match(p, match_tests[i].image),
		    match_tests[i].want, "'%s' ~ '%s'", match_tests[i].pattern,
		    match_tests[i].image);
		dpattern_free(p);
	}
	for (i = 0; i < sizeof(bad_patterns) / sizeof(bad_patterns[0]); i++) {
		p = NULL;
		err = NULL;
		ok_at(bad_patterns[i].line,
		    dpattern_compile(bad_patterns[i].pattern, &p, &err) == -1 &&
		    p == NULL && err != NULL, "invalid pattern '%s' (%s)",
		    bad_patterns[i].pattern, err ? err : "-");
	}
	for (i = 0; i < sizeof(ua_tests) / sizeof(ua_tests[0]); i++)
		is_int_at(ua_tests[i].line,
		    ua_redirect_capable(NULL, ua_tests[i].ua), ua_tests[i].want,
		    "default list: '%s'", ua_tests[i].ua);
	ok(!ua_redirect_capable(NULL, NULL), "no User-Agent: proxy");

	/* a custom list replaces the default one */
	j = cJSON_Parse("[{\"prefix\":\"skopeo/\"},{\"product\":\"libpod\","
	    "\"min-version\":\"4\",\"below-version\":\"4.3.1\"}]");
	ok(ua_list_parse(j, &l, ebuf, sizeof(ebuf)) == 0, "custom list parses");
	ok(ua_redirect_capable(&l, "skopeo/1.9.3"), "custom prefix");
	ok(ua_redirect_capable(&l, "libpod/4.3.0"), "custom product in range");
	ok(!ua_redirect_capable(&l, "libpod/4.3.1"), "below-version excluded");
	ok(!ua_redirect_capable(&l, "docker/24.0"), "default list replaced");
	ua_list_free(&l);
	cJSON_Delete(j);
	j = cJSON_Parse("[]");
	ok(ua_list_parse(j, &l, ebuf, sizeof(ebuf)) == 0 && l.n == 0,
	    "empty list parses");
	ok(!ua_redirect_capable(&l, "docker/24.0"), "empty list: never");
	ua_list_free(&l);
	cJSON_Delete(j);
	{
		static const char *const bad[] = {
			"{}", "[1]", "[{}]", "[{\"prefix\":1}]",
			"[{\"prefix\":\"a\",\"equals\":\"b\"}]",
			"[{\"product\":\"x\"}]",
			"[{\"product\":\"x\",\"min-version\":\"1.x\"}]",
		};
		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			j = cJSON_Parse(bad[i]);
			ebuf[0] = '\0';
			ok(ua_list_parse(j, &l, ebuf, sizeof(ebuf)) == -1 &&
			    ebuf[0] != '\0', "bad list %s: %s", bad[i], ebuf);
			cJSON_Delete(j);
		}
	}

	for (i = 0; i < sizeof(reg_tests) / sizeof(reg_tests[0]); i++) {
		int rc = docker_registry_base(reg_tests[i].registry, &base,
		    &log);
		if (reg_tests[i].base == NULL) {
			ok_at(reg_tests[i].line, rc == -1, "invalid registry '%s'",
			    reg_tests[i].registry);
			continue;
		}
		if (!ok_at(reg_tests[i].line, rc == 0, "registry '%s'",
		    reg_tests[i].registry))
			continue;
		is_str_at(reg_tests[i].line, base, reg_tests[i].base,
		    "base of '%s'", reg_tests[i].registry);
		is_str_at(reg_tests[i].line, log, reg_tests[i].log,
		    "log name of '%s'", reg_tests[i].registry);
		free(base);
		free(log);
	}
	for (i = 0; i < sizeof(path_tests) / sizeof(path_tests[0]); i++)
		path_test(path_tests[i].line, path_tests[i].path,
		    path_tests[i].want, path_tests[i].rebuilt);
	/* the image name the event logs: the checked components */
	{
		struct docker_path	 dp;
		enum docker_path_err	 e;
		struct buf		 b = BUF_INIT;
		char			**segs;
		size_t			*lens, k, n;

		n = split("/v2/my%6Frg/a/b/tags/list", &segs, &lens);
		ok(docker_path_parse(segs, lens, n, &dp, &e) == 1 &&
		    e == DOCKER_PATH_OK, "image name parses");
		docker_path_image(&dp, &b);
		is_str(buf_cstr(&b), "myorg/a/b", "image name of the event");
		ok(dp.kind == DOCKER_TAGS_LIST && dp.reflen == 4 &&
		    memcmp(dp.ref, "list", 4) == 0, "tags/list reference");
		buf_free(&b);
		for (k = 0; k < n; k++)
			free(segs[k]);
		free(segs);
		free(lens);
	}
	return done_testing();
}
