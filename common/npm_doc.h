/*
 * npm registry documents (SPEC §4.4): packuments, version documents and
 * dist-tags, fetched from the registry, their tarball URLs rewritten to
 * point at the gateway, and kept for a while in a process-wide cache.
 *
 * npm_doc_serve() carries out a GW_PLAN_NPM_DOC (exchange.h); the other
 * pieces are here for the unit tests and the benchmark.
 */
#ifndef NPM_DOC_H
#define NPM_DOC_H

#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "gwout.h"
#include "response.h"

struct gw_ctx;
struct gw_event;
struct gw_request;
struct proxy;
struct upstream_resp;

/*
 * Answers a request gw_serve() planned GW_PLAN_NPM_DOC (§4.4): the
 * document resp->upstream, fetched inside resp->upstream_scope (or taken
 * from the cache), its tarball URLs rewritten for resp->npm_kind and
 * resp->npm_name, written through out.  Fills ev->status, ev->bytes,
 * ev->proxied and ev->error.
 */
void	 npm_doc_serve(struct proxy *, const struct gw_ctx *,
	    const struct gw_request *, struct gw_response *, struct gw_event *,
	    struct gw_out *);


/* Nesting deeper than this is refused as not-JSON (an explicit stack). */
#define NPM_DOC_MAXDEPTH	512
/* Upstream documents above this size are refused with 502. */
#define NPM_DOC_MAXBODY		(64 * 1024 * 1024)

/*
 * Appends doc[0..n) to out, byte for byte, except that every tarball value
 * of the document kind that is a JSON string becomes the JSON string
 * prefix + <file>, <file> being the last '/'-separated segment of the
 * original URL (after JSON unescaping, without any ?query or #fragment).
 * A tarball whose <file> is empty is left alone.  The prefix is the
 * gateway's "<public base URL>/<name>/-/" and is written as given (JSON
 * escaped where needed).
 *
 * The same single pass checks that doc is exactly one JSON value (RFC 8259
 * grammar; bytes inside strings are not checked as UTF-8), so the result
 * also answers "is the upstream body JSON" (§4.4).  Linear in n: the
 * untouched runs are copied with one memcpy each into out, which is sized
 * once up front.
 *
 * Returns the number of tarball values replaced (>= 0), or -1 when doc is
 * not JSON or nests deeper than NPM_DOC_MAXDEPTH; out then holds a
 * truncated copy the caller throws away.
 */
long	 npm_rewrite_tarballs(const char *doc, size_t n, const char *prefix,
	    enum npm_doc_kind kind, struct buf *out);

/*
 * Appends the rewriter prefix "<public base>/<name>/-/" for a decoded name:
 * the scope and the bare name percent-encoded as path segments (RFC 3986
 * pchar), joined with a literal '/'.
 */
void	 npm_doc_prefix(struct buf *out, const char *scheme,
	    const char *authority, const char *name);

/*
 * The document cache (§4.4, settings.npm-cache-ttl).  Keys are
 * (abbreviated-or-full, upstream URL), the upstream URL being the registry
 * base + the document path.  An entry holds a 200 answer: its body already
 * rewritten for one prefix, the prefix, and the upstream Content-Type,
 * ETag and Last-Modified.  Entries are immutable and reference-counted: a
 * reader keeps its reference while it writes the body to the client,
 * without the lock.  Freshness is judged at lookup against the TTL in
 * force then (a reload may change it); the cache holds at most max_bytes
 * of bodies and evicts the least recently used entries beyond that.
 * Thread-safe.
 */
struct npm_cache;
struct npm_cache_entry {
	const char	*content_type;	/* or NULL */
	const char	*etag;		/* or NULL */
	const char	*last_modified;	/* or NULL */
	const char	*prefix;	/* the rewriter prefix of body */
	const char	*body;
	size_t		 len;
	time_t		 fetched;
};

struct npm_cache *npm_cache_new(size_t max_bytes);
void		 npm_cache_free(struct npm_cache *);
/*
 * The fresh entry for key (now < fetched + ttl), with a reference the
 * caller gives back with npm_cache_release(), or NULL.  A stale entry
 * found on the way is dropped.
 */
const struct npm_cache_entry *npm_cache_get(struct npm_cache *,
	    const char *key, time_t now, long ttl);
/*
 * Stores a copy of e under key (replacing an older entry) and returns the
 * stored entry with a reference for the caller, or NULL when the body is
 * too large for the cache (more than a quarter of max_bytes).
 */
const struct npm_cache_entry *npm_cache_put(struct npm_cache *,
	    const char *key, const struct npm_cache_entry *e);
void		 npm_cache_release(struct npm_cache *,
	    const struct npm_cache_entry *);
/* Entries and body bytes held (tests, metrics). */
void		 npm_cache_usage(struct npm_cache *, size_t *entries,
	    size_t *bytes);

/* The process-wide cache npm_doc_serve() uses (created on first use). */
struct npm_cache *npm_doc_cache(void);

/*
 * The upstream GET npm_doc_serve() uses: proxy_fetch_scoped() unless a
 * test puts a stand-in here (NULL restores proxy_fetch_scoped).
 */
typedef int (*npm_fetch_fn)(struct proxy *, const char *url,
	    const char *scope, char *const *headers, size_t max_body,
	    struct upstream_resp *out);
void		 npm_doc_set_fetch(npm_fetch_fn);

#endif
