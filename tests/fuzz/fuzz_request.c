/*
 * libFuzzer target for the whole request path: intake (§2.1), routing and
 * every handler of a manifest that has each rule type, the response head
 * and the event line.  Asserts: no control byte in any header, the event
 * line is one line of valid JSON, and nothing crashes or leaks.
 *
 * Input: lines "METHOD", "URI", "HOST", then "NAME=value" CGI parameters,
 * then an optional body after an empty line.
 */
#include "config.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "manifest.h"
#include "xmalloc.h"

static const char manifest_text[] =
"{\"rules\":["
"{\"type\":\"docker-v1\",\"domain\":\"d.test\",\"package-id\":\"p1\","
" \"repository-name\":\"library/hello\",\"registry\":\"docker.io\"},"
"{\"type\":\"docker-v2\",\"domain\":\"d.test\",\"rule-id\":\"r2\","
" \"pattern\":\"acme/{a,b*}/*\",\"registry\":\"http://127.0.0.1:9\"},"
"{\"type\":\"npm-v1\",\"domain\":\"n.test\",\"package-id\":\"n1\","
" \"package-name\":\"*\"},"
"{\"type\":\"file-v1\",\"domain\":\"f.test\",\"package-id\":\"f1\","
" \"incoming-path\":\"/{pkg}/{version}/{file}{?q,r}\","
" \"outgoing-url\":\"https://x.test/{pkg}/{+version}/{file}\"},"
"{\"type\":\"file-v1\",\"domain\":\"f.test\",\"package-id\":\"f2\","
" \"incoming-path\":\"/raw/{+path}\",\"outgoing-url\":null},"
"{\"type\":\"file-v2\",\"domain\":\"f.test\",\"package-id\":\"f3\","
" \"incoming-path\":\"^/re/(?<a>[^/]+)-(?<b>.*)$\","
" \"outgoing-url\":\"https://y.test/{a}/{b}\"},"
"{\"type\":\"python-v1\",\"domain\":\"p.test\",\"package-id\":\"py\","
" \"package-name\":\"Demo_Pkg\",\"file-name\":\"demo-1.0.tar.gz\","
" \"version\":\"1.0\",\"backend-url\":\"https://files.test/demo-1.0.tar.gz\","
" \"core-metadata\":true,\"backend-simple-index-url\":\"https://pypi.test/simple\"},"
"{\"type\":\"pixel-v1\",\"domain\":\"f.test\",\"package-id\":\"px\"},"
"{\"type\":\"telemetry-v1\",\"domain\":\"f.test\",\"package-id\":\"t\","
" \"incoming-path\":\"/events\",\"access-tokens\":[\"tok\"]},"
"{\"type\":\"catch-all-v1\",\"domain\":\"*.c.test\",\"package-id\":\"c\","
" \"redirect-target-domain\":\"z.test/base\"}"
"]}";

static struct manifest *m;

struct body {
	const char	*p;
	size_t		 n;
};

static ssize_t
read_body(void *ctx, char *buf, size_t n)
{
	struct body *b = ctx;

	if (n > b->n)
		n = b->n;
	memcpy(buf, b->p, n);
	b->p += n;
	b->n -= n;
	return (ssize_t)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct manifest_diag	 d;
	struct gw_config	 cfg;
	struct gw_stats		 stats;
	struct gw_ctx		 ctx;
	struct gw_request	 req;
	struct gw_response	 resp;
	struct gw_event		 ev;
	struct buf		 line = BUF_INIT, head = BUF_INIT;
	struct body		 body = { "", 0 };
	char			*text, *params[32], *s, *nl;
	static const char *const names[] = {
		"REQUEST_METHOD=", "REQUEST_URI=", "HTTP_HOST=",
	};
	size_t			 np = 0, i;
	cJSON			*j;

	if (m == NULL) {
		memset(&d, 0, sizeof(d));
		if (manifest_parse("fuzz.json", manifest_text,
		    sizeof(manifest_text) - 1, &m, &d) != 0)
			abort();
		manifest_diag_free(&d);
	}
	text = xstrndup((const char *)data, size);
	for (s = text; s != NULL && np < 31; s = nl) {
		if ((nl = strchr(s, '\n')) != NULL)
			*nl++ = '\0';
		if (*s == '\0' && np >= 3) {
			body.p = nl ? nl : "";
			body.n = nl ? strlen(nl) : 0;
			break;
		}
		if (np < 3) {
			buf_adds(&line, names[np]);
			buf_adds(&line, s);
			params[np++] = buf_steal(&line);
		} else if (strchr(s, '=') != NULL)
			params[np++] = xstrdup(s);
	}
	params[np] = NULL;

	memset(&cfg, 0, sizeof(cfg));
	gw_config_defaults(&cfg);
	memset(&stats, 0, sizeof(stats));
	memset(&ctx, 0, sizeof(ctx));
	ctx.manifest = m;
	ctx.config = &cfg;
	ctx.stats = &stats;
	gw_request_init(&req, params, &cfg);
	req.read_body = read_body;
	req.body_ctx = &body;
	gw_serve(&ctx, &req, &resp, &ev);

	resp_format_head(&resp, &head);
	/* every line of the head ends in CRLF and holds no other control */
	for (i = 0; i < head.n; i++) {
		unsigned char c = (unsigned char)head.p[i];
		if (c == '\r') {
			if (i + 1 >= head.n || head.p[i + 1] != '\n')
				abort();
			i++;
		} else if (c < 0x20 || c == 0x7f)
			abort();
	}
	ev.status = resp.status;
	event_format(&ev, &req, &line);
	if (line.n == 0 || line.p[line.n - 1] != '\n' ||
	    memchr(line.p, '\n', line.n - 1) != NULL)
		abort();
	if ((j = cJSON_ParseWithLength(line.p, line.n)) == NULL)
		abort();
	cJSON_Delete(j);

	gw_event_free(&ev);
	gw_response_free(&resp);
	gw_request_free(&req);
	buf_free(&line);
	buf_free(&head);
	for (i = 0; i < np; i++)
		free(params[i]);
	free(text);
	return 0;
}
