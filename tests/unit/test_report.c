/* Unit tests for the report's pieces (common/report_*.c): the User-Agent
 * classifier, the HyperLogLog counter, the event line parser and the one
 * definition of a download. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "report.h"

static const struct {
	int		 line;
	const char	*ua;
	const char	*family;
	int		 major;
	const char	*ci;
} ua_tests[] = {
	{ __LINE__, "pip/23.0.1 {\"ci\":null,\"cpu\":\"x86_64\"}", "pip", 23,
	    NULL },
	{ __LINE__, "pip/24.2 {\"ci\":true,\"cpu\":\"aarch64\"}", "pip", 24,
	    "ci" },
	{ __LINE__, "uv/0.4.18 {\"ci\":true}", "uv", 0, "ci" },
	{ __LINE__, "poetry/1.8.3", "poetry", 1, NULL },
	{ __LINE__, "pdm/2.19.1", "pdm", 2, NULL },
	{ __LINE__, "npm/10.2.4 node/v20.10.0 linux x64 workspaces/false",
	    "npm", 10, NULL },
	{ __LINE__, "npm/9.8.1 node/v18.18.0 linux x64 workspaces/false "
	    "ci/github-actions", "npm", 9, "github-actions" },
	{ __LINE__, "npm/9.8.1 node/v18 ci/somethingnew", "npm", 9, "ci" },
	{ __LINE__, "yarn/1.22.19 npm/? node/v18.16.0 linux x64", "yarn", 1,
	    NULL },
	{ __LINE__, "pnpm/8.15.1 npm/? node/v20.11.0 darwin arm64", "pnpm",
	    8, NULL },
	{ __LINE__, "Bun/1.1.8", "bun", 1, NULL },
	{ __LINE__, "docker/24.0.5 go/go1.20.6 git-commit/a61e2b4 "
	    "UpstreamClient(Docker-Client/24.0.5 \\(linux\\))", "docker", 24,
	    NULL },
	{ __LINE__, "containerd/1.7.2+unknown", "containerd", 1, NULL },
	{ __LINE__, "containers/5.23.1 (github.com/containers/image)",
	    "podman", 5, NULL },
	{ __LINE__, "libpod/4.3.1", "podman", 4, NULL },
	{ __LINE__, "skopeo/1.9.3", "skopeo", 1, NULL },
	{ __LINE__, "Buildah/1.28.2", "buildah", 1, NULL },
	{ __LINE__, "cri-o/1.28.1 go/go1.20.10 os/linux arch/amd64", "cri-o",
	    1, NULL },
	{ __LINE__, "curl/7.88.1", "curl", 7, NULL },
	{ __LINE__, "Wget/1.21.3", "wget", 1, NULL },
	{ __LINE__, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
	    "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", "chrome",
	    120, NULL },
	{ __LINE__, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/"
	    "537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 "
	    "Edg/120.0.2210.61", "edge", 120, NULL },
	{ __LINE__, "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 "
	    "Firefox/121.0", "firefox", 121, NULL },
	{ __LINE__, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) "
	    "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 "
	    "Mobile/15E148 Safari/604.1", "safari", 17, NULL },
	{ __LINE__, "Mozilla/5.0 (compatible; Googlebot/2.1; "
	    "+http://www.google.com/bot.html)", "bot", -1, NULL },
	{ __LINE__, "Mozilla/4.0", "browser", -1, NULL },
	{ __LINE__, "python-requests/2.31.0", "python-requests", 2, NULL },
	{ __LINE__, "Go-http-client/1.1", "go-http-client", 1, NULL },
	/* hostile or odd */
	{ __LINE__, "", "none", -1, NULL },
	{ __LINE__, NULL, "none", -1, NULL },
	{ __LINE__, "pip", "other", -1, NULL },
	{ __LINE__, "pip/", "pip", -1, NULL },
	{ __LINE__, "pip/x.y", "pip", -1, NULL },
	{ __LINE__, "pip/99999999999999999999", "pip", 99999, NULL },
	{ __LINE__, "pipx/1.0", "other", -1, NULL },
	{ __LINE__, "<script>alert(1)</script>", "other", -1, NULL },
	{ __LINE__, "npm/1 ci/", "npm", 1, "ci" },
	{ __LINE__, "Docker/25.0", "docker", 25, NULL },
};

static void
test_ua(void)
{
	struct rua	 u;
	size_t		 i;

	for (i = 0; i < sizeof(ua_tests) / sizeof(ua_tests[0]); i++) {
		report_ua_parse(ua_tests[i].ua, ua_tests[i].ua ?
		    strlen(ua_tests[i].ua) : 0, &u);
		is_str(u.family, ua_tests[i].family, "line %d: family",
		    ua_tests[i].line);
		is_int(u.major, ua_tests[i].major, "line %d: major",
		    ua_tests[i].line);
		is_str(u.ci, ua_tests[i].ci, "line %d: ci", ua_tests[i].line);
	}
}

/*
 * The estimate of n distinct items is within 3 standard errors (the
 * README states one, 1.63 %) for sizes from linear counting's range to
 * far past it, and adding the same items again changes nothing.  The
 * items are hashed strings like the report's (address, agent) pairs.
 */
static void
test_hll(void)
{
	static const unsigned sizes[] = { 1, 10, 100, 1000, 5000, 20000,
	    100000, 1000000 };
	struct rhll	*h;
	char		 item[64], name[128];
	double		 est, err;
	size_t		 k;
	unsigned	 i;
	int		 len;

	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		h = calloc(1, sizeof(*h));
		for (i = 0; i < sizes[k]; i++) {
			len = snprintf(item, sizeof(item),
			    "10.%u.%u.%u|pip/%zu", i >> 16 & 255,
			    i >> 8 & 255, i & 255, k);
			report_hll_add(h, report_hash(item, (size_t)len, 3));
		}
		est = report_hll_count(h);
		err = fabs(est - sizes[k]) / sizes[k];
		snprintf(name, sizeof(name), "%u distinct: estimate %.0f, "
		    "error %.2f %% <= %.2f %%", sizes[k], est, err * 100,
		    3 * RHLL_ERROR * 100);
		ok(err <= 3 * RHLL_ERROR || fabs(est - sizes[k]) < 1, "%s",
		    name);
		for (i = 0; i < sizes[k] && i < 1000; i++) {
			len = snprintf(item, sizeof(item),
			    "10.%u.%u.%u|pip/%zu", i >> 16 & 255,
			    i >> 8 & 255, i & 255, k);
			report_hll_add(h, report_hash(item, (size_t)len, 3));
		}
		snprintf(name, sizeof(name), "%u distinct: repeats do not "
		    "count", sizes[k]);
		ok(report_hll_count(h) == est, "%s", name);
		free(h);
	}
	h = calloc(1, sizeof(*h));
	is_int((long long)report_hll_count(h), 0, "empty counter: 0");
	free(h);
	ok(report_hash("a", 1, 0) != report_hash("b", 1, 0) &&
	    report_hash("a", 1, 0) != report_hash("a", 1, 1),
	    "the hash depends on the bytes and the seed");
}

static const struct {
	int		 line;
	const char	*in;
	enum rbad	 want;
} parse_tests[] = {
	{ __LINE__, "{\"time\":\"2025-03-01T12:00:00.123Z\",\"status\":307,"
	    "\"type\":\"file\"}", RB_OK },
	{ __LINE__, " {\"type\":\"npm\" , \"status\" : 200 ,\"time\":"
	    "\"2025-03-01T12:00:00Z\"} ", RB_OK },
	{ __LINE__, "{\"time\":\"2025-03-01T12:00:00.1+00:00\",\"status\":200,"
	    "\"type\":\"pixel\",\"new-key\":{\"a\":[1,2,{\"b\":null}]}}",
	    RB_OK },
	{ __LINE__, "", RB_NOT_JSON },
	{ __LINE__, "[]", RB_NOT_JSON },
	{ __LINE__, "{\"time\":\"2025-03-01T12:00:00Z\",\"status\":200,"
	    "\"type\":\"file\"", RB_NOT_JSON },
	{ __LINE__, "{\"time\":\"2025-03-01T12:00:00Z\",\"status\":200,"
	    "\"type\":\"file\"}}", RB_NOT_JSON },
	{ __LINE__, "{\"time\":\"2025-03-01T12:00:00Z\",\"status\":200,"
	    "\"type\":\"file\",\"x\":tru}", RB_NOT_JSON },
	{ __LINE__, "{\"time\":\"2025-03-01T12:00:00Z\",\"status\":200,"
	    "\"type\":\"file\",\"user-agent\":\"a\x01\"}", RB_NOT_JSON },
	{ __LINE__, "{\"time\":\"2025-03-01T12:00:00Z\",\"status\":\"200\","
	    "\"type\":\"file\"}", RB_WRONG_TYPE },
	{ __LINE__, "{\"time\":\"2025-03-01T12:00:00Z\",\"status\":200.5,"
	    "\"type\":\"file\"}", RB_WRONG_TYPE },
	{ __LINE__, "{\"time\":\"2025-03-01T12:00:00Z\",\"status\":2000,"
	    "\"type\":\"file\"}", RB_WRONG_TYPE },
	{ __LINE__, "{\"time\":\"yesterday\",\"status\":200,"
	    "\"type\":\"file\"}", RB_WRONG_TYPE },
	{ __LINE__, "{\"time\":\"2025-13-01T12:00:00Z\",\"status\":200,"
	    "\"type\":\"file\"}", RB_WRONG_TYPE },
	{ __LINE__, "{\"time\":\"2025-03-01T12:00:00Z\",\"status\":200,"
	    "\"type\":\"file\",\"proxied\":1}", RB_WRONG_TYPE },
	{ __LINE__, "{\"time\":\"2025-03-01T12:00:00Z\",\"status\":200,"
	    "\"type\":\"file\",\"host\":7}", RB_WRONG_TYPE },
	{ __LINE__, "{\"time\":\"2025-03-01T12:00:00Z\",\"status\":200,"
	    "\"type\":\"quux\"}", RB_UNKNOWN_TYPE },
	{ __LINE__, "{\"time\":\"2025-03-01T12:00:00Z\",\"type\":\"file\"}",
	    RB_MISSING },
	{ __LINE__, "{}", RB_MISSING },
};

static void
test_parse(void)
{
	struct rparser	 p;
	struct revent	 ev;
	char		 name[96];
	size_t		 i;
	const char	*l;

	report_parser_init(&p);
	for (i = 0; i < sizeof(parse_tests) / sizeof(parse_tests[0]); i++) {
		snprintf(name, sizeof(name), "line %d: %s", parse_tests[i].line,
		    report_bad_name(parse_tests[i].want));
		is_int(report_parse_line(&p, parse_tests[i].in,
		    strlen(parse_tests[i].in), &ev), parse_tests[i].want, "%s",
		    name);
	}

	/* values, escapes and the time */
	l = "{\"time\":\"2025-03-01T12:00:00.123Z\","
	    "\"host\":\"dl.example.com\",\"method\":\"GET\","
	    "\"path\":\"/a\\/b\",\"status\":307,\"type\":"
	    "\"python\",\"package-id\":null,\"proxied\":true,\"bytes\":42,"
	    "\"user-agent\":\"x\\\"y\\u00e9\\ud83d\\ude00\\u0000\\ud800z\","
	    "\"client-ip\":\"192.0.2.1\",\"package\":\"p\",\"version\":\"1.0\","
	    "\"file-name\":\"p-1.0.tar.gz\"}";
	is_int(report_parse_line(&p, l, strlen(l), &ev), RB_OK, "a full line");
	is_int(ev.time_ms, 1740830400123LL, "time in ms since the epoch");
	is_int(ev.status, 307, "status");
	is_int(ev.type, RT_PYTHON, "type");
	is_int(ev.proxied, 1, "proxied");
	is_int(ev.bytes, 42, "bytes");
	ok(ev.package_id.p == NULL, "null reads as absent");
	ok(ev.path.n == 4 && memcmp(ev.path.p, "/a/b", 4) == 0,
	    "\\/ is unescaped");
	ok(ev.user_agent.n == 16 && memcmp(ev.user_agent.p,
	    "x\"y\xc3\xa9\xf0\x9f\x98\x80\xef\xbf\xbd\xef\xbf\xbdz", 16) == 0,
	    "escapes, surrogate pairs; \\u0000 and a lone surrogate: U+FFFD");
	ok(ev.file_name.n == 12, "file-name");

	l = "{\"time\":\"2025-03-01T12:00:00Z\",\"status\":200,\"type\":"
	    "\"file\",\"variables\":{\"os\":\"linux\",\"x\":{\"version\":"
	    "\"no\"},\"version\":\"1.4.2\"}}";
	is_int(report_parse_line(&p, l, strlen(l), &ev), RB_OK,
	    "file variables");
	ok(ev.var_version.n == 5 && memcmp(ev.var_version.p, "1.4.2", 5) == 0,
	    "variables.version, not a nested one");
	report_parser_free(&p);
}

static const struct {
	int		 line;
	enum rtype	 type;
	const char	*method, *path;
	int		 status;
	const char	*file;
	enum rkind	 want;
	int		 manifest, digest;
} kind_tests[] = {
	{ __LINE__, RT_DOCKER, "GET", "/v2/a/b/manifests/1.0", 307, NULL,
	    RK_DOWNLOAD, 1, 0 },
	{ __LINE__, RT_DOCKER, "GET", "/v2/a/manifests/sha256:ab", 200, NULL,
	    RK_DOWNLOAD, 1, 1 },
	{ __LINE__, RT_DOCKER, "HEAD", "/v2/a/manifests/1.0", 200, NULL,
	    RK_CHECK, 1, 0 },
	{ __LINE__, RT_DOCKER, "GET", "/v2/a/blobs/sha256:ab", 307, NULL,
	    RK_BLOB, 0, 0 },
	{ __LINE__, RT_DOCKER, "GET", "/v2/a/manifests/1.0", 404, NULL,
	    RK_ERROR, 0, 0 },
	{ __LINE__, RT_DOCKER, "GET", "/v2/", 200, NULL, RK_OTHER, 0, 0 },
	{ __LINE__, RT_DOCKER, "GET", "/v2/a/tags/list", 200, NULL,
	    RK_OTHER, 0, 0 },
	{ __LINE__, RT_PYTHON, "GET", "/simple/p/", 200, NULL, RK_VIEW, 0,
	    0 },
	{ __LINE__, RT_PYTHON, "GET", "/simple/p/p-1.whl", 307, "p-1.whl",
	    RK_DOWNLOAD, 0, 0 },
	{ __LINE__, RT_PYTHON, "GET", "/simple/p/p-1.whl.metadata", 307,
	    "p-1.whl", RK_VIEW, 0, 0 },
	{ __LINE__, RT_PYTHON, "GET", "/simple/p/p-1.whl", 502, "p-1.whl",
	    RK_ERROR, 0, 0 },
	{ __LINE__, RT_NPM, "GET", "/left-pad", 200, NULL, RK_VIEW, 0, 0 },
	{ __LINE__, RT_NPM, "GET", "/left-pad/-/left-pad-1.3.0.tgz", 307,
	    "left-pad-1.3.0.tgz", RK_DOWNLOAD, 0, 0 },
	{ __LINE__, RT_FILE, "GET", "/x", 307, NULL, RK_DOWNLOAD, 0, 0 },
	{ __LINE__, RT_FILE, "HEAD", "/x", 307, NULL, RK_CHECK, 0, 0 },
	{ __LINE__, RT_FILE, "GET", "/x", 101, NULL, RK_OTHER, 0, 0 },
	{ __LINE__, RT_PIXEL, "GET", "/px", 200, NULL, RK_HIT, 0, 0 },
	{ __LINE__, RT_TELEMETRY, "POST", "/t", 200, NULL, RK_HIT, 0, 0 },
	{ __LINE__, RT_CATCHALL, "GET", "/x", 307, NULL, RK_OTHER, 0, 0 },
	{ __LINE__, RT_NONE, "GET", "/x", 404, NULL, RK_ERROR, 0, 0 },
};

static void
test_classify(void)
{
	struct revent	 ev;
	char		 name[96];
	size_t		 i;
	int		 m, d;

	for (i = 0; i < sizeof(kind_tests) / sizeof(kind_tests[0]); i++) {
		memset(&ev, 0, sizeof(ev));
		ev.type = kind_tests[i].type;
		ev.method.p = kind_tests[i].method;
		ev.method.n = strlen(ev.method.p);
		ev.path.p = kind_tests[i].path;
		ev.path.n = strlen(ev.path.p);
		ev.status = kind_tests[i].status;
		if (kind_tests[i].file != NULL) {
			ev.file_name.p = kind_tests[i].file;
			ev.file_name.n = strlen(ev.file_name.p);
		}
		if (ev.type == RT_NPM) {
			ev.package.p = "left-pad";
			ev.package.n = 8;
		}
		snprintf(name, sizeof(name), "line %d: %s", kind_tests[i].line,
		    report_kind_name(kind_tests[i].want));
		ok(report_classify(&ev, &m, &d) == kind_tests[i].want &&
		    m == kind_tests[i].manifest && d == kind_tests[i].digest,
		    "%s", name);
	}
}

int
main(void)
{
	test_ua();
	test_hll();
	test_parse();
	test_classify();
	return done_testing();
}
