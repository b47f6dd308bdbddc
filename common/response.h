/*
 * The answer to one request (response.c): status, headers and body as
 * rule types and the router build them, or the URL a proxied answer
 * fetches; the front ends write it.
 */
#ifndef RESPONSE_H
#define RESPONSE_H

#include <stddef.h>

#include "buf.h"

#define GW_MAXHDR 24

/*
 * What the front end does with a response once gw_serve() has built it
 * (exchange.h carries it out).
 */
enum gw_plan {
	GW_PLAN_ANSWER = 0,	/* status, headers and body are the answer */
	GW_PLAN_PROXY,		/* stream upstream's answer (docker §3.5):
				 * proxy_serve(), proxy.h */
	GW_PLAN_NPM_DOC		/* fetch, rewrite and answer an npm document
				 * (§4.4): npm_doc_serve(), npm_doc.h */
};

/* Where an npm document keeps the tarball URLs the rewriter replaces. */
enum npm_doc_kind {
	NPM_DOC_PACKUMENT,	/* versions.<v>.dist.tarball */
	NPM_DOC_VERSION,	/* top-level dist.tarball */
	NPM_DOC_PLAIN		/* dist-tags: nothing replaced */
};

struct gw_header {
	const char	*name;		/* static string */
	char		*value;		/* owned */
};

struct gw_response {
	int		 status;
	size_t		 nhdr;
	struct gw_header hdr[GW_MAXHDR];
	struct buf	 body;		/* the GET body, also built for HEAD */
	/* or, when ref is set, the body is ref[0..refn), borrowed from the
	 * manifest (a rendered page), which outlives the exchange; with
	 * ref_file, the same bytes are those of file ref_fd at ref_off
	 * (a mapped image), which a front end may send with sendfile(2) */
	const char	*ref;
	size_t		 refn;
	int		 ref_file;
	int		 ref_fd;
	long long	 ref_off;
	int		 no_length;	/* do not send Content-Length */
	enum gw_plan	 plan;
	/* GW_PLAN_PROXY and GW_PLAN_NPM_DOC: the URL to fetch (owned) */
	char		*upstream;
	/* owned: "scheme://host[:port]/path" of the registry the rule
	 * names; the proxy follows only redirects inside it (proxy.c,
	 * "Redirects"), NULL: none */
	char		*upstream_scope;
	/* GW_PLAN_NPM_DOC: the document's kind, and the package name
	 * (decoded; a scoped name with its literal '/'; owned) whose
	 * tarball URLs the rewritten document points at */
	enum npm_doc_kind npm_kind;
	char		*npm_name;
};

void	 gw_response_init(struct gw_response *);
void	 gw_response_free(struct gw_response *);
/* Adds a header; the value is copied with control bytes removed. */
void	 resp_header(struct gw_response *, const char *name, const char *value);
/* Sets status and a plain body that is the reason phrase (SPEC §0). */
void	 resp_plain(struct gw_response *, int status);
/* Sets a redirect: status, Location (bytes outside 0x21-0x7E as %XX). */
void	 resp_redirect(struct gw_response *, int status, const char *location);
/* Sets status, Content-Type: application/json and the given body. */
void	 resp_json(struct gw_response *, int status, const char *body);
/* Sets the body to p[0..n), borrowed: p must outlive the exchange. */
void	 resp_body_ref(struct gw_response *, const void *p, size_t n);
/* The borrowed body is also bytes off.. of file fd (resp_body_ref first). */
void	 resp_body_file(struct gw_response *, int fd, long long off);
/* The body, whichever way it is held ("" when there is none). */
const char *resp_body(const struct gw_response *, size_t *n);
/* Drops what gw_serve may have put into resp (status, headers, body). */
void	 resp_clear(struct gw_response *);
const char *resp_get_header(const struct gw_response *, const char *name);
/*
 * Writes the CGI response head ("Status: ...\r\n", headers, Content-Length
 * unless no_length, blank line) into out.
 */
void	 resp_format_head(const struct gw_response *, struct buf *out);

#endif
