/*
 * The manifest source (common/msource.c): a file's identity and change,
 * a URL through a stand-in fetch (validators sent, 304, the same body
 * again, a failed fetch, a non-200), and a program without URLs.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "manifest.h"
#include "mparse.h"
#include "msource.h"
#include "proxy.h"
#include "xmalloc.h"

#include "../tap.h"

#define GOOD	"{\"rules\":[{\"type\":\"catch-all-v1\",\"domain\":\"a.test\"," \
		"\"package-id\":\"a\"}]}"
#define GOOD2	"{\"rules\":[{\"type\":\"catch-all-v1\",\"domain\":\"b.test\"," \
		"\"package-id\":\"b\"},{\"type\":\"catch-all-v1\"," \
		"\"domain\":\"c.test\",\"package-id\":\"c\"}]}"

/* What the stand-in fetch answers, and what it was sent. */
static struct {
	int		 rc;		/* 0, or -1: no HTTP answer */
	int		 status;
	const char	*body;
	const char	*etag;
	struct buf	 sent;		/* the request headers, one a line */
	int		 calls;
} fk;

static int
fake_fetch(void *arg, const char *url, char *const *headers, size_t max_body,
    struct upstream_resp *out, const char **why)
{
	size_t	 i;

	(void)arg;
	(void)url;
	(void)max_body;
	fk.calls++;
	buf_reset(&fk.sent);
	for (i = 0; headers[i] != NULL; i++)
		buf_printf(&fk.sent, "%s\n", headers[i]);
	if (fk.rc == -1) {
		out->err = UP_CONNECT;
		*why = "refused";
		return -1;
	}
	out->status = fk.status;
	if (fk.body != NULL)
		buf_adds(&out->body, fk.body);
	if (fk.etag != NULL)
		out->etag = xstrdup(fk.etag);
	return 0;
}

static int
write_file(const char *path, const char *text)
{
	FILE	*f;

	if ((f = fopen(path, "w")) == NULL)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* Loads once; returns the result, *nrules (or -1 without a manifest) and
 * the first error line in why (caller frees, or NULL). */
static enum msource_result
load(struct msource *src, int conditional, long *nrules, char **why)
{
	struct manifest_diag	 d;
	struct manifest		*m = NULL;
	enum msource_result	 res;

	memset(&d, 0, sizeof(d));
	res = msource_load(src, conditional, &m, &d);
	*nrules = m != NULL ? (long)m->nrules : -1;
	*why = d.errors.n > 0 ? msource_first_line(&d.errors, "") : NULL;
	manifest_unref(m);
	manifest_diag_free(&d);
	return res;
}

static void
test_file(void)
{
	struct msource	 src;
	char		 path[] = "/tmp/test_msource.XXXXXX";
	char		*why;
	long		 n;
	int		 fd;

	if ((fd = mkstemp(path)) == -1) {
		ok(0, "mkstemp");
		return;
	}
	close(fd);
	write_file(path, GOOD);
	msource_init(&src, path, NULL, NULL);
	ok(!src.is_url, "a path is no URL");
	ok(msource_changed(&src), "changed before the first load");
	is_int(load(&src, 0, &n, &why), MSOURCE_OK, "file: loads");
	is_int(n, 1, "file: its rule");
	ok(src.last_valid, "file: valid");
	ok(!msource_changed(&src), "file: unchanged after the load");
	write_file(path, GOOD2);	/* another size */
	ok(msource_changed(&src), "file: a write is a change");
	is_int(load(&src, 1, &n, &why), MSOURCE_OK, "file: reloads");
	is_int(n, 2, "file: the new rules");
	write_file(path, "{");
	is_int(load(&src, 1, &n, &why), MSOURCE_INVALID, "file: invalid");
	ok(why != NULL && strstr(why, path) != NULL, "file: the error names "
	    "it (%s)", why != NULL ? why : "none");
	free(why);
	ok(!src.last_valid, "file: not valid");
	unlink(path);
	ok(msource_changed(&src), "file: gone is a change");
	is_int(load(&src, 1, &n, &why), MSOURCE_UNREADABLE, "file: gone");
	free(why);
	ok(!msource_changed(&src), "file: still gone is no change");
	msource_free(&src);
}

static void
test_url(void)
{
	struct msource	 src;
	char		*why;
	long		 n;

	msource_init(&src, "HTTPS://m.test/manifest.json", fake_fetch, NULL);
	ok(src.is_url && msource_is_url("http://x/") &&
	    !msource_is_url("httpx://x/"), "URLs are told by their scheme");
	ok(msource_changed(&src), "URL: always worth a look");

	fk.status = 200;
	fk.body = GOOD;
	fk.etag = "\"v1\"";
	is_int(load(&src, 1, &n, &why), MSOURCE_OK, "URL: loads");
	is_int(n, 1, "URL: its rule");
	is_str(buf_cstr(&fk.sent), "", "URL: nothing to validate yet");

	fk.status = 304;
	fk.body = NULL;
	is_int(load(&src, 1, &n, &why), MSOURCE_UNCHANGED, "URL: 304");
	is_str(buf_cstr(&fk.sent), "If-None-Match: \"v1\"\n",
	    "URL: the validator is sent");
	is_int(load(&src, 0, &n, &why), MSOURCE_UNREADABLE,
	    "URL: a 304 to an unconditional GET is no manifest");
	free(why);
	is_str(buf_cstr(&fk.sent), "", "URL: unconditional sends none");

	/* a server that never says 304: the same body is unchanged */
	fk.status = 200;
	fk.body = GOOD2;
	fk.etag = NULL;
	is_int(load(&src, 1, &n, &why), MSOURCE_OK, "URL: a new body loads");
	is_int(n, 2, "URL: the new rules");
	is_str(buf_cstr(&fk.sent), "If-None-Match: \"v1\"\n",
	    "URL: the validator of the last 200 is sent");
	is_int(load(&src, 1, &n, &why), MSOURCE_UNCHANGED,
	    "URL: the same body again is unchanged");
	is_str(buf_cstr(&fk.sent), "", "URL: a 200 without ETag clears it");
	ok(src.last_valid, "URL: the served manifest is still valid");

	fk.rc = -1;
	is_int(load(&src, 1, &n, &why), MSOURCE_UNREADABLE, "URL: no answer");
	is_str(why, "HTTPS://m.test/manifest.json: cannot fetch: refused",
	    "URL: the fetch's reason");
	free(why);
	fk.rc = 0;
	fk.status = 500;
	is_int(load(&src, 1, &n, &why), MSOURCE_UNREADABLE, "URL: a 500");
	is_str(why, "HTTPS://m.test/manifest.json: cannot fetch: HTTP "
	    "status 500", "URL: the status");
	free(why);
	msource_free(&src);

	/* a program without URLs (the CGI program) */
	msource_init(&src, "http://m.test/x", NULL, NULL);
	is_int(load(&src, 0, &n, &why), MSOURCE_UNREADABLE, "no fetch: "
	    "unreadable");
	ok(why != NULL && strstr(why, "files only") != NULL, "no fetch: says "
	    "why (%s)", why != NULL ? why : "none");
	free(why);
	msource_free(&src);
}

int
main(void)
{
	test_file();
	test_url();
	buf_free(&fk.sent);
	return done_testing();
}
