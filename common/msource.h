/*
 * Where the manifest comes from (SPEC §15): a file, or an http(s) URL
 * fetched with a conditional GET, and what it looked like at the last
 * load, so that a poll can tell a change (file identity; URL validators
 * and body digest).  Shared by both programs: the CGI program loads once
 * per process from a file, the FastCGI program loads at start and reloads
 * on SIGHUP and --poll.
 */
#ifndef MSOURCE_H
#define MSOURCE_H

#include <sys/types.h>
#include <time.h>

#include "buf.h"

struct manifest;
struct manifest_diag;
struct upstream_resp;

/* A fetched manifest: the buffered GET of proxy.h. */
#define MSOURCE_MAX	(256L * 1024 * 1024)

/*
 * GETs url with the request headers given ("Name: value", NULL-terminated)
 * keeping at most max_body bytes: proxy_fetch() (proxy.h) with its error
 * text.  Returns 0 when an HTTP response arrived, -1 with out->err and
 * *why ("" when the error code says enough) otherwise.
 */
typedef int (*msource_fetch_fn)(void *arg, const char *url,
	    char *const *headers, size_t max_body, struct upstream_resp *out,
	    const char **why);

struct msource {
	const char	*where;		/* path or URL (borrowed) */
	int		 is_url;
	msource_fetch_fn fetch;		/* NULL: no URLs (the CGI program) */
	void		*fetch_arg;
	/* file: identity at the last load attempt (§15) */
	int		 have_id;
	int		 id_ok;		/* stat() succeeded */
	dev_t		 dev;
	ino_t		 ino;
	off_t		 size;
	struct timespec	 mtim;
	/* URL: validators of the last successful fetch (§15) */
	char		*etag;
	char		*last_modified;
	/* URL: digest of the last 200 body, for servers that never say 304 */
	int		 have_digest;
	unsigned char	 digest[32];
	/* the last load attempt that read the source found a valid
	 * manifest: an unchanged source then confirms the served one */
	int		 last_valid;
};

enum msource_result {
	MSOURCE_OK = 0,		/* same values as manifest_load_file() */
	MSOURCE_INVALID = 1,
	MSOURCE_UNREADABLE = 2,
	MSOURCE_UNCHANGED = 3	/* 304 (or the same body) from a URL */
};

/* 1 when s is an http:// or https:// URL (ASCII case aside). */
int	 msource_is_url(const char *s);
/* Sets up src for where (borrowed); fetch may be NULL. */
void	 msource_init(struct msource *, const char *where,
	    msource_fetch_fn fetch, void *fetch_arg);
void	 msource_free(struct msource *);
/*
 * 1 when the file looks different from the last load attempt (always 1
 * for a URL, and before the first load).  A file that cannot be stat()ed
 * counts as a change once (the reload reports it), not on every poll.
 */
int	 msource_changed(const struct msource *);
/*
 * Loads the manifest from its source.  `conditional` only matters for a
 * URL: send the validators of the last successful fetch, and report the
 * same body again as unchanged.  On MSOURCE_OK *out holds one reference;
 * otherwise it is NULL and d->errors says why (not for UNCHANGED).
 */
enum msource_result msource_load(struct msource *, int conditional,
	    struct manifest **out, struct manifest_diag *d);

/* The first line of a diagnostics buffer, or dflt; caller frees. */
char	*msource_first_line(const struct buf *, const char *dflt);
/* Writes a diagnostics buffer (lines) to stderr. */
void	 msource_print(const struct buf *);

#endif
