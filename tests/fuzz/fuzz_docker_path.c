/*
 * libFuzzer target for the docker /v2 path parser (common/docker.c,
 * docker_path_parse; issue 9).  Three properties:
 *
 *  1. The hand-written grammar checks agree with the regular expressions
 *     of the OCI distribution specification (v1.1, "Pulling manifests")
 *     and the OCI image specification ("Digests"), run by PCRE2, on the
 *     input taken whole as a name, a tag and a digest.
 *  2. "/v2/" + input, split and decoded as SPEC §0 says: a path parsed as
 *     valid is rebuilt into a path of plain path characters, with no '%',
 *     '\', '?', '#', ';', empty, "." or ".." segment, which parses again
 *     to the same path.
 *  3. The same path through gw_serve() on a host with the rules of the
 *     attack (docker-v1 myorg/app, docker-v2 myorg/<any>), redirected and
 *     proxied: the registry URL is the base, then "/v2" or "/v2/" or a
 *     path that property 2 holds for, then at most "?" and a query; the
 *     event's image is a valid name.
 */
#include "config.h"

#define PCRE2_CODE_UNIT_WIDTH 8

#include <cjson/cJSON.h>
#include <pcre2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "docker.h"
#include "gateway.h"
#include "manifest.h"
#include "util.h"
#include "xmalloc.h"

#define BASE	"http://127.0.0.1:9"

static const char manifest_text[] =
"{\"rules\":["
"{\"type\":\"docker-v1\",\"domain\":\"d.test\",\"package-id\":\"app\","
" \"repository-name\":\"myorg/app\",\"registry\":\"" BASE "\"},"
"{\"type\":\"docker-v2\",\"domain\":\"d.test\",\"rule-id\":\"all\","
" \"pattern\":\"myorg/*\",\"registry\":\"" BASE "\"},"
"{\"type\":\"docker-v2\",\"domain\":\"d.test\",\"rule-id\":\"deep\","
" \"pattern\":\"*/*/*\",\"registry\":\"" BASE "\"}"
"]}";

static const char *const regex_src[] = {
	/* name (the length is checked apart) */
	("\\A[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*"
	    "(/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*\\z"),
	/* tag */
	"\\A[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}\\z",
	/* digest; the registered algorithms below */
	"\\A[a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+\\z",
	"\\A(sha256|blake3):[a-f0-9]{64}\\z",
	"\\Asha512:[a-f0-9]{128}\\z",
	"\\A(sha256|blake3|sha512):",
};
#define NREGEX	(sizeof(regex_src) / sizeof(regex_src[0]))

static pcre2_code		*re[NREGEX];
static pcre2_match_data		*md;
static pcre2_match_context	*mctx;
static struct manifest		*m;

static int
re_match(size_t i, const char *s, size_t n)
{
	int	 rc;

	rc = pcre2_match(re[i], (PCRE2_SPTR)s, n, 0, 0, md, mctx);
	if (rc < 0 && rc != PCRE2_ERROR_NOMATCH)
		abort();	/* match limit: the patterns are linear */
	return rc >= 0;
}

static void
setup(void)
{
	struct manifest_diag	 d;
	PCRE2_SIZE		 off;
	size_t			 i;
	int			 e;

	for (i = 0; i < NREGEX; i++)
		if ((re[i] = pcre2_compile((PCRE2_SPTR)regex_src[i],
		    PCRE2_ZERO_TERMINATED, 0, &e, &off, NULL)) == NULL)
			abort();
	md = pcre2_match_data_create(16, NULL);
	mctx = pcre2_match_context_create(NULL);
	pcre2_set_match_limit(mctx, 1000000);
	memset(&d, 0, sizeof(d));
	if (manifest_parse("fuzz.json", manifest_text,
	    sizeof(manifest_text) - 1, &m, &d) != 0)
		abort();
	manifest_diag_free(&d);
}

/* Splits s on '/' without decoding, into pointers to s; caller frees. */
static size_t
split_raw(char *s, size_t n, char ***comps, size_t **lens)
{
	size_t	 k = 0, i, start = 0;

	*comps = xcalloc(n + 1, sizeof(**comps));
	*lens = xcalloc(n + 1, sizeof(**lens));
	for (i = 0; i <= n; i++)
		if (i == n || s[i] == '/') {
			(*comps)[k] = s + start;
			(*lens)[k++] = i - start;
			start = i + 1;
		}
	return k;
}

/* Property 1. */
static void
check_grammar(const char *s, size_t n)
{
	char	**comps, *copy = xstrndup(s, n);
	size_t	 *lens, k;
	int	  want, got;

	k = split_raw(copy, n, &comps, &lens);
	want = n <= DOCKER_NAME_MAX && re_match(0, s, n);
	got = docker_name_valid(comps, lens, k);
	if (want != got)
		abort();
	free(comps);
	free(lens);
	free(copy);
	if (docker_tag_valid(s, n) != re_match(1, s, n))
		abort();
	want = re_match(2, s, n) && (re_match(5, s, n) ?
	    re_match(3, s, n) || re_match(4, s, n) : 1);
	if (docker_digest_valid(s, n) != want)
		abort();
}

/* A rebuilt path is plain, and parses again to itself. */
static void
check_rebuilt(const char *p)
{
	struct docker_path	 dp;
	enum docker_path_err	 err;
	struct buf		 b = BUF_INIT;
	char			**segs;
	size_t			*lens, n, i;

	if (strncmp(p, "/v2/", 4) != 0 || strstr(p, "//") != NULL ||
	    strstr(p, "/./") != NULL || strstr(p, "/../") != NULL ||
	    strpbrk(p, "%\\?#;") != NULL)
		abort();
	for (i = 0; p[i] != '\0'; i++)
		if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
			abort();
	n = gw_split_path(p, &segs, &lens);
	for (i = 0; i < n; i++)
		if (lens[i] == 0 || (lens[i] == 1 && segs[i][0] == '.') ||
		    (lens[i] == 2 && memcmp(segs[i], "..", 2) == 0))
			abort();
	if (docker_path_parse(segs, lens, n, &dp, &err) != 1 ||
	    err != DOCKER_PATH_OK)
		abort();
	docker_path_format(&dp, &b);
	if (strcmp(buf_cstr(&b), p) != 0)
		abort();
	buf_free(&b);
	gw_free_path(segs, lens, n);
}

/* Property 2. */
static void
check_parse(const char *path)
{
	struct docker_path	 dp;
	enum docker_path_err	 err;
	struct buf		 b = BUF_INIT;
	char			**segs;
	size_t			*lens, n;

	n = gw_split_path(path, &segs, &lens);
	if (docker_path_parse(segs, lens, n, &dp, &err) == 1) {
		if (err == DOCKER_PATH_OK) {
			docker_path_format(&dp, &b);
			check_rebuilt(buf_cstr(&b));
		} else if (docker_path_errbody(err)[0] != '{')
			abort();
	}
	buf_free(&b);
	gw_free_path(segs, lens, n);
}

/* Property 3, for one registry URL (Location or upstream). */
static void
check_url(const char *url)
{
	char	*path;
	size_t	 n;

	if (strncmp(url, BASE "/v2", sizeof(BASE "/v2") - 1) != 0)
		abort();
	url += sizeof(BASE) - 1;
	n = strcspn(url, "?");
	path = xstrndup(url, n);
	if (strcmp(path, "/v2") != 0 && strcmp(path, "/v2/") != 0)
		check_rebuilt(path);
	free(path);
}

static void
check_serve(const char *uri, const char *ua)
{
	struct gw_config	 cfg;
	struct gw_stats		 stats;
	struct gw_ctx		 ctx;
	struct gw_request	 req;
	struct gw_response	 resp;
	struct gw_event		 ev;
	struct buf		 b = BUF_INIT;
	char			*params[6];
	const char		*loc;
	size_t			 i, n = 0;
	cJSON			*j, *img;

	buf_adds(&b, "REQUEST_METHOD=GET");
	params[n++] = buf_steal(&b);
	buf_adds(&b, "REQUEST_URI=");
	buf_adds(&b, uri);
	params[n++] = buf_steal(&b);
	params[n++] = xstrdup("HTTP_HOST=d.test");
	params[n++] = xstrdup("REMOTE_ADDR=127.0.0.1");
	if (ua != NULL)
		params[n++] = xstrdup(ua);
	params[n] = NULL;

	memset(&cfg, 0, sizeof(cfg));
	gw_config_defaults(&cfg);
	memset(&stats, 0, sizeof(stats));
	memset(&ctx, 0, sizeof(ctx));
	ctx.manifest = m;
	ctx.config = &cfg;
	ctx.stats = &stats;
	gw_request_init(&req, params, &cfg);
	gw_serve(&ctx, &req, &resp, &ev);
	if ((loc = resp_get_header(&resp, "Location")) != NULL)
		check_url(loc);
	if (resp.plan != GW_PLAN_ANSWER)
		check_url(resp.upstream);
	if (resp.status == 400 && ev.type != GW_T_NONE)
		abort();
	ev.status = resp.status;
	event_format(&ev, &req, &b);
	if ((j = cJSON_ParseWithLength(b.p, b.n)) == NULL)
		abort();
	img = cJSON_GetObjectItemCaseSensitive(j, "image");
	if (img != NULL && (!cJSON_IsString(img) ||
	    (img->valuestring[0] != '\0' &&
	    !re_match(0, img->valuestring, strlen(img->valuestring)))))
		abort();
	cJSON_Delete(j);
	buf_free(&b);
	gw_event_free(&ev);
	gw_response_free(&resp);
	gw_request_free(&req);
	for (i = 0; i < n; i++)
		free(params[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf	 b = BUF_INIT;
	char		*path;
	size_t		 n;

	if (m == NULL)
		setup();
	if (size > 4096)
		return 0;
	check_grammar((const char *)data, size);

	/* as a path after /v2/: up to a NUL (a C string), without the
	 * query (SPEC §0) for the parser itself */
	n = strnlen((const char *)data, size);
	buf_adds(&b, "/v2/");
	buf_add(&b, data, n);
	check_serve(buf_cstr(&b), "HTTP_USER_AGENT=docker/27.0");
	check_serve(buf_cstr(&b), NULL);
	path = xstrndup(buf_cstr(&b), strcspn(buf_cstr(&b), "?"));
	check_parse(path);
	free(path);
	buf_free(&b);
	return 0;
}
