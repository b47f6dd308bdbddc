/*
 * The response helpers every rule type and the router use (response.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "response.h"
#include "util.h"
#include "xmalloc.h"

void
gw_response_init(struct gw_response *resp)
{
	memset(resp, 0, sizeof(*resp));
	resp->status = 200;
}

void
gw_response_free(struct gw_response *resp)
{
	size_t	 i;

	for (i = 0; i < resp->nhdr; i++)
		free(resp->hdr[i].value);
	buf_free(&resp->body);
	free(resp->upstream);
	free(resp->upstream_scope);
	free(resp->npm_name);
	memset(resp, 0, sizeof(*resp));
}

/*
 * Header safety (SPEC §0): no value may carry CR, LF, NUL or another
 * control byte, whatever the request put into it.  Such bytes are dropped
 * here; Location values are percent-encoded before they get here.
 */
void
resp_header(struct gw_response *resp, const char *name, const char *value)
{
	char	*v;
	size_t	 i, j;

	if (resp->nhdr == GW_MAXHDR)
		return;
	v = xstrdup(value);
	for (i = j = 0; v[i]; i++)
		if ((unsigned char)v[i] >= 0x20 && (unsigned char)v[i] != 0x7f)
			v[j++] = v[i];
		else if (v[i] == '\t')
			v[j++] = ' ';
	v[j] = '\0';
	resp->hdr[resp->nhdr].name = name;
	resp->hdr[resp->nhdr].value = v;
	resp->nhdr++;
}

const char *
resp_get_header(const struct gw_response *resp, const char *name)
{
	size_t	 i;

	for (i = 0; i < resp->nhdr; i++)
		if (strcaseeq(resp->hdr[i].name, name))	/* util.h */
			return resp->hdr[i].value;
	return NULL;
}

void
resp_plain(struct gw_response *resp, int status)
{
	resp->status = status;
	resp_header(resp, "Content-Type", "text/plain");
	buf_reset(&resp->body);
	resp->ref = NULL;
	resp->refn = 0;
	resp->ref_file = 0;
	buf_adds(&resp->body, http_reason(status));
	if (status == 405)
		resp_header(resp, "Allow", "GET, HEAD");
}

/* Drops what gw_serve may have put into resp (status, headers, body). */
void
resp_clear(struct gw_response *resp)
{
	size_t	 i;

	for (i = 0; i < resp->nhdr; i++)
		free(resp->hdr[i].value);
	resp->nhdr = 0;
	buf_reset(&resp->body);
	resp->ref = NULL;
	resp->refn = 0;
	resp->ref_file = 0;
	resp->no_length = 0;
	resp->status = 0;
}

void
resp_json(struct gw_response *resp, int status, const char *body)
{
	resp->status = status;
	resp_header(resp, "Content-Type", "application/json");
	buf_reset(&resp->body);
	resp->ref = NULL;
	resp->refn = 0;
	resp->ref_file = 0;
	buf_adds(&resp->body, body);
}

void
resp_redirect(struct gw_response *resp, int status, const char *location)
{
	char	*loc = url_escape_ctl(location);

	resp->status = status;
	resp_header(resp, "Location", loc);
	free(loc);
	buf_reset(&resp->body);
	resp->ref = NULL;
	resp->refn = 0;
	resp->ref_file = 0;
}

void
resp_body_ref(struct gw_response *resp, const void *p, size_t n)
{
	buf_reset(&resp->body);
	resp->ref = p;
	resp->refn = n;
	resp->ref_file = 0;
}

void
resp_body_file(struct gw_response *resp, int fd, long long off)
{
	resp->ref_file = 1;
	resp->ref_fd = fd;
	resp->ref_off = off;
}

const char *
resp_body(const struct gw_response *resp, size_t *n)
{
	if (resp->ref != NULL) {
		*n = resp->refn;
		return resp->ref;
	}
	*n = resp->body.n;
	return resp->body.p != NULL ? resp->body.p : "";
}

void
resp_format_head(const struct gw_response *resp, struct buf *out)
{
	size_t	 i;

	/* without stdio (buf.h) */
	buf_adds(out, "Status: ");
	buf_addll(out, resp->status);
	buf_addc(out, ' ');
	buf_adds(out, http_reason(resp->status));
	buf_adds(out, "\r\n");
	for (i = 0; i < resp->nhdr; i++) {
		buf_adds(out, resp->hdr[i].name);
		buf_adds(out, ": ");
		buf_adds(out, resp->hdr[i].value);
		buf_adds(out, "\r\n");
	}
	/* 304 has no body and no length of its own (RFC 9110 §15.4.5). */
	if (!resp->no_length && resp->status != 304 &&
	    resp_get_header(resp, "Content-Length") == NULL) {
		buf_adds(out, "Content-Length: ");
		buf_addll(out, (long long)(resp->ref != NULL ? resp->refn :
		    resp->body.n));
		buf_adds(out, "\r\n");
	}
	buf_adds(out, "\r\n");
}
