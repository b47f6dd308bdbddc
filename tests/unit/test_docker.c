/* Unit tests for common/docker.c: image patterns (SPEC §3.2), redirect-
 * capable User-Agents (§3.3), registry bases (§3.4). */
#include "config.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "docker.h"
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
	return done_testing();
}
