/*
 * Client tools from the User-Agent: a family from a fixed list and its
 * major version, so the client mix has a bounded number of keys whatever
 * the log holds.  The tools name themselves in the first product token
 * (RFC 9110 §10.1.5): "pip/23.1.2 {json}", "npm/10.2.4 node/v20.10.0 …",
 * "docker/24.0.5 go/go1.20.6 …", "containerd/1.7.2", "skopeo/1.9.3",
 * "containers/5.23.1 (github.com/containers/image)" (podman and buildah
 * through the containers/image library), "cri-o/1.28.1 …", "curl/7.88.1",
 * "Wget/1.21.3"; browsers start with "Mozilla/5.0" and are told apart by
 * their later tokens.
 *
 * CI systems are recognised only where the User-Agent says so: npm, yarn
 * and pnpm append "ci/<name>" (npm's ci-info), pip and uv put "ci": true
 * in their JSON (pip's user_agent()).
 */
#include "config.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "revent.h"

static const struct {
	const char	*token;		/* first product, case-insensitive */
	const char	*family;
} tools[] = {
	{ "pip", "pip" },
	{ "uv", "uv" },
	{ "poetry", "poetry" },
	{ "pdm", "pdm" },
	{ "npm", "npm" },
	{ "yarn", "yarn" },
	{ "pnpm", "pnpm" },
	{ "bun", "bun" },
	{ "docker", "docker" },
	{ "containerd", "containerd" },
	{ "podman", "podman" },
	{ "libpod", "podman" },
	{ "containers", "podman" },	/* containers/image: podman, buildah */
	{ "skopeo", "skopeo" },
	{ "buildah", "buildah" },
	{ "cri-o", "cri-o" },
	{ "curl", "curl" },
	{ "wget", "wget" },
	{ "python-requests", "python-requests" },
	{ "go-http-client", "go-http-client" },
};

/* ci-info names npm reports as "ci/<name>", kept as static strings. */
static const char *const ci_names[] = {
	"github-actions", "gitlab", "circleci", "travis-ci", "jenkins",
	"buildkite", "azure-pipelines", "bitbucket", "drone", "teamcity",
	"appveyor", "codebuild", "google-cloud-build", "woodpecker",
};

/* Case-insensitive search of needle in s[0..n). */
static const char *
find(const char *s, size_t n, const char *needle)
{
	size_t	 k = strlen(needle), i;
	int	 lo, up;

	if (k == 0 || k > n)
		return NULL;
	/* a cheap test of the first byte before the comparison: this runs
	 * over every User-Agent of the log */
	lo = tolower((unsigned char)needle[0]);
	up = toupper((unsigned char)needle[0]);
	for (i = 0; i + k <= n; i++)
		if ((s[i] == lo || s[i] == up) &&
		    strncasecmp(s + i + 1, needle + 1, k - 1) == 0)
			return s + i;
	return NULL;
}

/* The major version in s[0..n) right after "token/": digits, a 'v' first
 * allowed; -1 when there are none.  Capped so keys stay small. */
static int
major_at(const char *s, size_t n)
{
	size_t	 i = 0;
	int	 v = 0;

	if (i < n && (s[i] == 'v' || s[i] == 'V'))
		i++;
	if (i >= n || s[i] < '0' || s[i] > '9')
		return -1;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
		if (v < 100000)
			v = v * 10 + (s[i] - '0');
	return v > 99999 ? 99999 : v;
}

/* Major after token in a browser User-Agent, e.g. "Chrome/" */
static int
major_after(const char *s, size_t n, const char *token)
{
	const char	*p = find(s, n, token);

	if (p == NULL)
		return -1;
	p += strlen(token);
	return major_at(p, n - (size_t)(p - s));
}

static void
ci_of(const char *s, size_t n, struct rua *out)
{
	const char	*p;
	size_t		 i, k, rest;

	if ((p = find(s, n, " ci/")) != NULL) {
		p += 4;
		rest = n - (size_t)(p - s);
		for (k = 0; k < rest && p[k] != ' '; k++)
			;
		out->ci = "ci";
		for (i = 0; i < sizeof(ci_names) / sizeof(ci_names[0]); i++)
			if (strlen(ci_names[i]) == k &&
			    strncasecmp(p, ci_names[i], k) == 0)
				out->ci = ci_names[i];
		return;
	}
	if (find(s, n, "\"ci\":true") != NULL)
		out->ci = "ci";
}

void
report_ua_parse(const char *ua, size_t n, struct rua *out)
{
	size_t	 i, k;

	out->family = "other";
	out->major = -1;
	out->ci = NULL;
	if (ua == NULL || n == 0) {
		out->family = "none";
		return;
	}
	for (i = 0; i < sizeof(tools) / sizeof(tools[0]); i++) {
		k = strlen(tools[i].token);
		if (n > k && ua[k] == '/' &&
		    strncasecmp(ua, tools[i].token, k) == 0) {
			out->family = tools[i].family;
			out->major = major_at(ua + k + 1, n - k - 1);
			ci_of(ua, n, out);
			return;
		}
	}
	if (find(ua, n, "bot") != NULL || find(ua, n, "crawler") != NULL ||
	    find(ua, n, "spider") != NULL) {
		out->family = "bot";
		return;
	}
	if (n >= 8 && strncasecmp(ua, "Mozilla/", 8) == 0) {
		if ((out->major = major_after(ua, n, "Edg/")) >= 0)
			out->family = "edge";
		else if ((out->major = major_after(ua, n, "OPR/")) >= 0)
			out->family = "opera";
		else if ((out->major = major_after(ua, n, "Firefox/")) >= 0 ||
		    (out->major = major_after(ua, n, "FxiOS/")) >= 0)
			out->family = "firefox";
		else if ((out->major = major_after(ua, n, "Chrome/")) >= 0 ||
		    (out->major = major_after(ua, n, "CriOS/")) >= 0)
			out->family = "chrome";
		else if (find(ua, n, "Safari/") != NULL) {
			out->family = "safari";
			out->major = major_after(ua, n, "Version/");
		} else
			out->family = "browser";
	}
}
