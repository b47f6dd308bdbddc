/*
 * Manifest sources: a file or an http(s) URL (msource.h).
 */
#include "config.h"

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "image.h"
#include "manifest.h"
#include "mparse.h"
#include "msource.h"
#include "proxy.h"
#include "sha256.h"
#include "util.h"
#include "xmalloc.h"

/* not strncasecmp(3): util.h, strcaseprefix */
int
msource_is_url(const char *s)
{
	return strcaseprefix(s, "http://") || strcaseprefix(s, "https://");
}

void
msource_init(struct msource *src, const char *where, msource_fetch_fn fetch,
    void *fetch_arg)
{
	memset(src, 0, sizeof(*src));
	src->where = where;
	src->is_url = msource_is_url(where);
	src->fetch = fetch;
	src->fetch_arg = fetch_arg;
}

void
msource_free(struct msource *src)
{
	free(src->etag);
	free(src->last_modified);
	src->etag = src->last_modified = NULL;
}

/* Records the file's identity (§15: modification time, size, inode). */
static void
source_stat(struct msource *src)
{
	struct stat	 st;

	src->have_id = 1;
	src->id_ok = stat(src->where, &st) == 0;
	if (!src->id_ok)
		return;
	src->dev = st.st_dev;
	src->ino = st.st_ino;
	src->size = st.st_size;
	src->mtim = st.st_mtim;
}

int
msource_changed(const struct msource *src)
{
	struct stat	 st;
	int		 ok;

	if (src->is_url || !src->have_id)
		return 1;
	ok = stat(src->where, &st) == 0;
	if (ok != src->id_ok)
		return 1;
	if (!ok)
		return 0;
	return st.st_dev != src->dev || st.st_ino != src->ino ||
	    st.st_size != src->size ||
	    st.st_mtim.tv_sec != src->mtim.tv_sec ||
	    st.st_mtim.tv_nsec != src->mtim.tv_nsec;
}

/* upstream_resp_free() without linking proxy.c (and libcurl) in. */
static void
fetched_free(struct upstream_resp *r)
{
	free(r->content_type);
	free(r->etag);
	free(r->last_modified);
	free(r->location);
	buf_free(&r->body);
	memset(r, 0, sizeof(*r));
}

/*
 * Fetches a manifest URL.  With `conditional`, sends the validators of
 * the last successful fetch (§15).  Returns MSOURCE_OK with the text in
 * up->body, MSOURCE_UNCHANGED on 304, or MSOURCE_UNREADABLE with a line
 * in d->errors.
 */
static enum msource_result
source_fetch(struct msource *src, int conditional, struct upstream_resp *up,
    struct manifest_diag *d)
{
	static const char *const why[] = {
		[UP_OK] = "", [UP_CONNECT] = "cannot connect",
		[UP_TIMEOUT] = "timed out", [UP_TOO_BIG] = "larger than 256 MiB",
		[UP_PROTOCOL] = "invalid HTTP response",
	};
	struct buf		 inm = BUF_INIT, ims = BUF_INIT;
	char			*hdrs[3];
	const char		*e = "";
	size_t			 n = 0;
	enum msource_result	 res = MSOURCE_UNREADABLE;

	if (src->fetch == NULL) {
		buf_printf(&d->errors, "%s: cannot fetch: this program "
		    "loads manifests from files only\n", src->where);
		return res;
	}
	if (conditional && src->etag != NULL) {
		buf_printf(&inm, "If-None-Match: %s", src->etag);
		hdrs[n++] = inm.p;
	}
	if (conditional && src->last_modified != NULL) {
		buf_printf(&ims, "If-Modified-Since: %s", src->last_modified);
		hdrs[n++] = ims.p;
	}
	hdrs[n] = NULL;
	if (src->fetch(src->fetch_arg, src->where, hdrs, MSOURCE_MAX, up,
	    &e) == -1)
		buf_printf(&d->errors, "%s: cannot fetch: %s\n", src->where,
		    up->err != UP_TOO_BIG && *e ? e : why[up->err]);
	else if (up->status == 304 && conditional)
		res = MSOURCE_UNCHANGED;
	else if (up->status != 200)
		buf_printf(&d->errors, "%s: cannot fetch: HTTP status %d\n",
		    src->where, up->status);
	else {
		/* a 200 sets the validators even if the text is invalid:
		 * a broken manifest is reported once, not on every poll */
		free(src->etag);
		free(src->last_modified);
		src->etag = up->etag;
		src->last_modified = up->last_modified;
		up->etag = up->last_modified = NULL;
		res = MSOURCE_OK;
	}
	buf_free(&inm);
	buf_free(&ims);
	return res;
}

enum msource_result
msource_load(struct msource *src, int conditional, struct manifest **out,
    struct manifest_diag *d)
{
	struct upstream_resp	 f;
	enum msource_result	 res;
	unsigned char		 digest[32];

	*out = NULL;
	if (!src->is_url) {
		/* before reading: a write during the read shows up as one
		 * more change at the next poll */
		source_stat(src);
		res = (enum msource_result)manifest_load_file(src->where, out,
		    d);
		src->last_valid = res == MSOURCE_OK;
		return res;
	}
	memset(&f, 0, sizeof(f));
	res = source_fetch(src, conditional, &f, d);
	if (res == MSOURCE_OK) {
		sha256(f.body.p != NULL ? f.body.p : "", f.body.n, digest);
		if (conditional && src->have_digest &&
		    memcmp(digest, src->digest, sizeof(digest)) == 0)
			res = MSOURCE_UNCHANGED;
		memcpy(src->digest, digest, sizeof(digest));
		src->have_digest = 1;
	}
	if (res == MSOURCE_OK && image_parse_cached(src->where, f.body.p ?
	    f.body.p : "", f.body.n, out, d) == -1)
		res = MSOURCE_INVALID;
	if (res == MSOURCE_OK || res == MSOURCE_INVALID)
		src->last_valid = res == MSOURCE_OK;
	fetched_free(&f);
	return res;
}

char *
msource_first_line(const struct buf *b, const char *dflt)
{
	const char	*nl;

	if (b->n == 0)
		return xstrdup(dflt);
	nl = memchr(b->p, '\n', b->n);
	return xstrndup(b->p, nl != NULL ? (size_t)(nl - b->p) : b->n);
}

void
msource_print(const struct buf *b)
{
	if (b->n == 0)
		return;
	fwrite(b->p, 1, b->n, stderr);
	if (b->p[b->n - 1] != '\n')
		fputc('\n', stderr);
}
