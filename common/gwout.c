/*
 * Writing a whole response through a front end's output (gwout.h).
 */
#include "config.h"

#include "buf.h"
#include "event.h"
#include "gwout.h"
#include "request.h"
#include "response.h"

/* n bytes through out: the number taken before an error. */
static size_t
out_put(struct gw_out *out, const void *p, size_t n)
{
	if (out->put != NULL)
		return out->put(out->ctx, p, n);
	return out->write(out->ctx, p, n) == 0 ? n : 0;
}

int
gw_out_response(struct gw_out *out, const struct gw_request *req,
    const struct gw_response *resp, const char *body, size_t len, int flush,
    struct gw_event *ev)
{
	struct buf	 head = BUF_INIT;
	size_t		 sent = 0;
	int		 rc = 0;

	resp_format_head(resp, &head);
	if (out_put(out, head.p, head.n) < head.n)
		rc = -1;
	else if (req->is_head || resp->status == 304 || len == 0)
		;
	else if (resp->ref_file && body == resp->ref && out->put_file != NULL) {
		/* the head first: put_file writes past any buffer */
		if (out->flush != NULL && out->flush(out->ctx) == -1)
			rc = -1;
		else if ((sent = out->put_file(out->ctx, body, len,
		    resp->ref_fd, resp->ref_off)) < len)
			rc = -1;
	} else if ((sent = out_put(out, body, len)) < len)
		rc = -1;
	if (rc == 0 && flush && out->flush != NULL)
		rc = out->flush(out->ctx);
	ev->status = resp->status;
	ev->bytes = (long long)sent;
	buf_free(&head);
	return rc;
}
