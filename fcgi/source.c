/*
 * The manifest's source, a file or an http(s) URL, and the state the
 * requests run with (§15): loading, polling for a change, reloading and
 * publishing.  The main thread loads and publishes; every request takes
 * a reference to the state current when it started (state_get).
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
#include "mparse.h"
#include "msource.h"
#include "proxy.h"
#include "xmalloc.h"


/*
 * msource_fetch_fn: the buffered GET of proxy.h with g.fetcher, which the
 * main thread alone uses (loads and reloads run there).
 */
static int
source_fetch(void *arg, const char *url, char *const *headers,
    size_t max_body, struct upstream_resp *out, const char **why)
{
	(void)arg;
	if (g.fetcher == NULL)
		g.fetcher = proxy_new(&g.config);
	if (proxy_fetch(g.fetcher, url, headers, max_body, out) == 0)
		return 0;
	*why = proxy_last_error(g.fetcher);
	return -1;
}

/* Sets up the manifest's source (g.config.manifest). */
void
source_init(void)
{
	msource_init(&g.src, g.config.manifest, source_fetch, NULL);
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
	enum msource_result	 res;

	memset(&d, 0, sizeof(d));
	res = msource_load(&g.src, conditional, &m, &d);
	if (res == MSOURCE_UNCHANGED) {
		if (g.src.last_valid)
			manifest_confirmed();
		goto done;
	}
	msource_print(&d.warnings);
	if (res == MSOURCE_OK) {
		fprintf(stderr, PROG ": manifest reloaded (%s): %s, %zu "
		    "rules\n", why, g.src.where, m->nrules);
		atomic_fetch_add(&g.stats->reloads_ok, 1);
		state_publish(state_new(m, NULL));
		goto done;
	}
	fprintf(stderr, PROG ": manifest reload (%s) failed, the previous "
	    "manifest stays in use:\n", why);
	msource_print(&d.errors);
	atomic_fetch_add(&g.stats->reloads_error, 1);
	cur = state_get();
	old = cur->manifest;
	manifest_ref(old);
	state_put(cur);
	state_publish(state_new(old, msource_first_line(&d.errors,
	    "manifest could not be loaded")));
done:
	manifest_diag_free(&d);
}

/* --check (§14.1): 0 valid, 1 invalid, 2 unreadable. */
int
cmd_check(void)
{
	struct manifest_diag	 d;
	struct manifest		*m = NULL;
	enum msource_result	 res;

	memset(&d, 0, sizeof(d));
	res = msource_load(&g.src, 0, &m, &d);
	msource_print(&d.errors);
	msource_print(&d.warnings);
	manifest_unref(m);
	manifest_diag_free(&d);
	return res == MSOURCE_OK ? 0 : res == MSOURCE_INVALID ? 1 : 2;
}

/*
 * Loads the manifest at start-up; prints why and returns -1 on failure.
 * A file manifest without an image is served parsed: its image is
 * written afterwards by image_complete(), so that the first answer does
 * not wait for the compile (*pending set).  pending NULL: no deferring
 * (explain: a one-off that writes the image as a CGI request does).
 */
struct manifest *
load_startup(int *pending)
{
	struct manifest_diag	 d;
	struct manifest		*m = NULL;
	enum msource_result	 res_startup;

	memset(&d, 0, sizeof(d));
	(void)image_cache_defer(pending != NULL && !g.src.is_url);
	res_startup = msource_load(&g.src, 0, &m, &d);
	if (image_cache_defer(0) && res_startup == MSOURCE_OK)
		*pending = 1;
	if (res_startup != MSOURCE_OK) {
		msource_print(&d.errors);
		manifest_unref(m);
		m = NULL;
	}
	msource_print(&d.warnings);
	manifest_diag_free(&d);
	return m;
}

/*
 * Writes the image load_startup() left for later and serves the manifest
 * from it (its pages shared with the processes that follow, the parsed
 * rules freed): a load of the same file, on the main thread, after the
 * workers have started.  Quiet when it succeeds: the manifest and its
 * warnings were reported at start-up.  A file changed or broken
 * meanwhile is reported as a reload would be.
 */
void
image_complete(void)
{
	struct manifest_diag	 d;
	struct manifest		*m = NULL;
	struct gw_state		*cur;
	int			 same;

	memset(&d, 0, sizeof(d));
	cur = state_get();
	same = cur->manifest != NULL && !msource_changed(&g.src);
	state_put(cur);
	if (!same)
		manifest_reload("changed while starting", 0);
	else if (msource_load(&g.src, 0, &m, &d) == MSOURCE_OK)
		state_publish(state_new(m, NULL));
	else {
		manifest_unref(m);
		manifest_reload("changed while starting", 0);
	}
	manifest_diag_free(&d);
}

/* explain METHOD HOST PATH [NAME:VALUE...]: one JSON object on stdout. */
int
cmd_explain(char *const *av, size_t ac)
{
	struct gw_ctx	 ctx;
	struct manifest	*m;
	struct buf	 out = BUF_INIT;
	if ((m = load_startup(NULL)) == NULL)
		return 1;
	memset(&ctx, 0, sizeof(ctx));
	ctx.manifest = m;
	ctx.config = &g.config;
	ctx.stats = g.stats;
	ctx.now = time(NULL);
	gw_explain(&ctx, av[0], av[1], av[2], av + 3, ac - 3, &out);
	fwrite(out.p, 1, out.n, stdout);
	if (out.n > 0 && out.p[out.n - 1] != '\n')
		putchar('\n');
	buf_free(&out);
	manifest_unref(m);
	return fflush(stdout) == 0 ? 0 : 1;
}
