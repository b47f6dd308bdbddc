/*
 * The manifest's source, a file or an http(s) URL, and the state the
 * requests run with (§15): loading, polling for a change, reloading and
 * publishing.  The main thread loads and publishes; every request takes
 * a reference to the state current when it started (state_get).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#ifdef HAVE_MALLOC_TRIM
#include <malloc.h>
#endif

#include "buf.h"
#include "fcgi.h"
#include "gateway.h"
#include "image.h"
#include "manifest.h"
#include "metrics.h"
#include "proxy.h"
#include "sha256.h"
#include "xmalloc.h"

#define MANIFEST_MAX	(256L * 1024 * 1024)	/* a fetched manifest */


int
is_url(const char *s)
{
	return strncasecmp(s, "http://", 7) == 0 ||
	    strncasecmp(s, "https://", 8) == 0;
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

/*
 * 1 when the file looks different from the last load attempt.  A file
 * that cannot be stat()ed counts as a change once (the reload reports
 * it), not on every poll.
 */
int
source_changed(const struct msource *src)
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

/*
 * Fetches a manifest URL with the proxy module's buffered GET (its redirect
 * and protocol limits apply).  With `conditional`, sends the validators of
 * the last successful fetch (§15).  Returns LOAD_OK with the text in
 * up->body, LOAD_UNCHANGED on 304, or LOAD_UNREADABLE with a line in
 * d->errors.  Runs on the main thread only, which owns g.fetcher.
 */
static enum load_result
source_fetch(struct msource *src, int conditional, struct upstream_resp *up,
    struct manifest_diag *d)
{
	static const char *const why[] = {
		[UP_OK] = "", [UP_CONNECT] = "cannot connect",
		[UP_TIMEOUT] = "timed out", [UP_TOO_BIG] = "larger than 256 MiB",
		[UP_PROTOCOL] = "invalid HTTP response",
	};
	struct buf	 inm = BUF_INIT, ims = BUF_INIT;
	char		*hdrs[3];
	size_t		 n = 0;
	enum load_result res = LOAD_UNREADABLE;

	if (g.fetcher == NULL)
		g.fetcher = proxy_new(&g.config);
	if (conditional && src->etag != NULL) {
		buf_printf(&inm, "If-None-Match: %s", src->etag);
		hdrs[n++] = inm.p;
	}
	if (conditional && src->last_modified != NULL) {
		buf_printf(&ims, "If-Modified-Since: %s", src->last_modified);
		hdrs[n++] = ims.p;
	}
	hdrs[n] = NULL;
	if (proxy_fetch(g.fetcher, src->where, hdrs, MANIFEST_MAX, up) == -1) {
		const char *e = proxy_last_error(g.fetcher);
		buf_printf(&d->errors, "%s: cannot fetch: %s\n", src->where,
		    up->err != UP_TOO_BIG && *e ? e : why[up->err]);
	} else if (up->status == 304 && conditional)
		res = LOAD_UNCHANGED;
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
		res = LOAD_OK;
	}
	buf_free(&inm);
	buf_free(&ims);
	return res;
}

/*
 * Loads the manifest from its source.  `conditional` only matters for a
 * URL.  Returns a load_result; on LOAD_OK *out holds one reference.
 */
static enum load_result
source_load(struct msource *src, int conditional, struct manifest **out,
    struct manifest_diag *d)
{
	struct upstream_resp	 f;
	enum load_result	 res;
	unsigned char		 digest[32];

	*out = NULL;
	if (!src->is_url) {
		/* before reading: a write during the read shows up as one
		 * more change at the next poll */
		source_stat(src);
		res = (enum load_result)manifest_load_file(src->where, out, d);
		src->last_valid = res == LOAD_OK;
		return res;
	}
	memset(&f, 0, sizeof(f));
	res = source_fetch(src, conditional, &f, d);
	if (res == LOAD_OK) {
		sha256(f.body.p != NULL ? f.body.p : "", f.body.n, digest);
		if (conditional && src->have_digest &&
		    memcmp(digest, src->digest, sizeof(digest)) == 0)
			res = LOAD_UNCHANGED;
		memcpy(src->digest, digest, sizeof(digest));
		src->have_digest = 1;
	}
	if (res == LOAD_OK && image_parse_cached(src->where, f.body.p ?
	    f.body.p : "", f.body.n, out, d) == -1)
		res = LOAD_INVALID;
	if (res == LOAD_OK || res == LOAD_INVALID)
		src->last_valid = res == LOAD_OK;
	upstream_resp_free(&f);
	return res;
}

/* Prints a diagnostics buffer (lines) to stderr. */
static void
print_lines(const struct buf *b)
{
	if (b->n == 0)
		return;
	fwrite(b->p, 1, b->n, stderr);
	if (b->p[b->n - 1] != '\n')
		fputc('\n', stderr);
}

/* The first line of the errors, for /-/health; caller frees. */
static char *
first_line(const struct buf *b)
{
	const char	*nl;

	if (b->n == 0)
		return xstrdup("manifest could not be loaded");
	nl = memchr(b->p, '\n', b->n);
	return xstrndup(b->p, nl != NULL ? (size_t)(nl - b->p) : b->n);
}

/* ------------------------------------------------------------------ */
/* Published state                                                      */
/* ------------------------------------------------------------------ */

struct gw_state *
state_new(struct manifest *m, char *reload_error)
{
	struct gw_state	*st;

	st = xcalloc(1, sizeof(*st));
	st->refs = 1;
	st->manifest = m;
	st->reload_error = reload_error;
	return st;
}

/* The current state, with a reference the caller drops by state_put. */
struct gw_state *
state_get(void)
{
	struct gw_state	*st;

	pthread_mutex_lock(&g.mu);
	st = g.cur;
	st->refs++;
	pthread_mutex_unlock(&g.mu);
	return st;
}

void
state_put(struct gw_state *st)
{
	int	 last;

	if (st == NULL)
		return;
	pthread_mutex_lock(&g.mu);
	last = --st->refs == 0;
	pthread_mutex_unlock(&g.mu);
	if (!last)
		return;
	manifest_unref(st->manifest);
	free(st->reload_error);
	free(st);
	atomic_store(&g.trim, 1);
}

/*
 * Gives the memory of freed manifests back to the system.  glibc keeps
 * freed memory for reuse: after a reload from a 160,000-rule manifest
 * (390 MiB) to a small one the process kept its size for good.
 * malloc_trim(0) returns every free page of every arena (glibc 2.8 and
 * later).  On the main thread, after the last request holding the old
 * state let go of it (state_put), so that no request waits for it; the
 * control loop calls this every second.
 */
void
memory_trim(void)
{
	if (!atomic_exchange(&g.trim, 0))
		return;
#ifdef HAVE_MALLOC_TRIM
	malloc_trim(0);
#endif
}

/* Publishes st (its reference moves to g.cur) and drops the old one. */
static void
state_publish(struct gw_state *st)
{
	struct gw_state	*old;

	pthread_mutex_lock(&g.mu);
	old = g.cur;
	g.cur = st;
	pthread_mutex_unlock(&g.mu);
	state_put(old);
}

/*
 * The source still holds the served manifest (a 304, the same body, an
 * unchanged file): recorded for /-/metrics; an error left by an earlier
 * failed fetch (the server was down) no longer applies and is cleared.
 */
void
manifest_confirmed(void)
{
	struct gw_state	*cur;

	atomic_store(&g.stats->manifest_confirmed, (long long)time(NULL));
	cur = state_get();
	if (cur->reload_error != NULL) {
		fprintf(stderr, PROG ": %s: the source holds the served "
		    "manifest again\n", g.src.where);
		manifest_ref(cur->manifest);
		state_publish(state_new(cur->manifest, NULL));
	}
	state_put(cur);
}

/*
 * Reloads the manifest (§15): parse and validate it completely, then swap
 * it in; running requests keep theirs.  A bad manifest is reported on
 * stderr, counted, and kept as last-reload-error; the old one stays.
 * A successful reload clears the error.
 */
void
manifest_reload(const char *why, int conditional)
{
	struct manifest_diag	 d;
	struct manifest		*m, *old;
	struct gw_state		*cur;
	enum load_result	 res;

	memset(&d, 0, sizeof(d));
	res = source_load(&g.src, conditional, &m, &d);
	if (res == LOAD_UNCHANGED) {
		if (g.src.last_valid)
			manifest_confirmed();
		goto done;
	}
	print_lines(&d.warnings);
	if (res == LOAD_OK) {
		fprintf(stderr, PROG ": manifest reloaded (%s): %s, %zu "
		    "rules\n", why, g.src.where, m->nrules);
		atomic_fetch_add(&g.stats->reloads_ok, 1);
		state_publish(state_new(m, NULL));
		goto done;
	}
	fprintf(stderr, PROG ": manifest reload (%s) failed, the previous "
	    "manifest stays in use:\n", why);
	print_lines(&d.errors);
	atomic_fetch_add(&g.stats->reloads_error, 1);
	cur = state_get();
	old = cur->manifest;
	manifest_ref(old);
	state_put(cur);
	state_publish(state_new(old, first_line(&d.errors)));
done:
	manifest_diag_free(&d);
}

/* --check (§14.1): 0 valid, 1 invalid, 2 unreadable. */
int
cmd_check(void)
{
	struct manifest_diag	 d;
	struct manifest		*m = NULL;
	enum load_result	 res;

	memset(&d, 0, sizeof(d));
	res = source_load(&g.src, 0, &m, &d);
	print_lines(&d.errors);
	print_lines(&d.warnings);
	manifest_unref(m);
	manifest_diag_free(&d);
	return res == LOAD_OK ? 0 : res == LOAD_INVALID ? 1 : 2;
}

/* Loads the manifest at start-up; prints why and returns -1 on failure. */
struct manifest *
load_startup(void)
{
	struct manifest_diag	 d;
	struct manifest		*m = NULL;

	memset(&d, 0, sizeof(d));
	if (source_load(&g.src, 0, &m, &d) != LOAD_OK) {
		print_lines(&d.errors);
		manifest_unref(m);
		m = NULL;
	}
	print_lines(&d.warnings);
	manifest_diag_free(&d);
	return m;
}

/* explain METHOD HOST PATH [NAME:VALUE...]: one JSON object on stdout. */
