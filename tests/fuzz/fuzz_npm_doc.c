/*
 * libFuzzer target for the npm document rewriter (common/npm_doc.c).
 *
 * The input is the document.  It is rewritten as a packument, as a version
 * document and as a dist-tags document, and then:
 *   - whether it is JSON does not depend on the kind;
 *   - a dist-tags rewrite is the input, byte for byte;
 *   - what this scanner takes for JSON, cJSON parses too (input and
 *     output), unless it nests deeper than cJSON's limit or holds a
 *     \uD800-\uDFFF escape (RFC 8259's grammar allows a lone surrogate,
 *     cJSON refuses it; the scanner passes it through);
 *   - rewriting the output again with the same prefix changes nothing
 *     (the cache re-rewrites stored documents for other hosts).
 *
 *	./fuzz_npm_doc tests/fuzz/corpus/npm_doc
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "npm_doc.h"

#define PREFIX	"https://gw.test/@s/p/-/"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
cjson_ok(const char *p, size_t n)
{
	cJSON		*j;
	const char	*end = NULL;
	int		 ok;

	j = cJSON_ParseWithLengthOpts(p, n, &end, 0);
	ok = j != NULL;
	/* cJSON stops after the value: only whitespace may follow */
	if (ok)
		for (; end < p + n; end++)
			if (strchr(" \t\r\n", *end) == NULL)
				ok = 0;
	cJSON_Delete(j);
	return ok;
}

static int
deep(const uint8_t *p, size_t n)
{
	size_t	 i, d = 0, max = 0;

	for (i = 0; i < n; i++)
		if (p[i] == '[' || p[i] == '{')
			max = ++d > max ? d : max;
		else if ((p[i] == ']' || p[i] == '}') && d > 0)
			d--;
	return max >= CJSON_NESTING_LIMIT;
}

/* Whether p[0..n) may hold a surrogate escape (conservatively). */
static int
surrogate(const uint8_t *p, size_t n)
{
	size_t	 i;

	for (i = 0; i + 3 < n; i++)
		if (p[i] == '\\' && p[i + 1] == 'u' &&
		    (p[i + 2] == 'd' || p[i + 2] == 'D') &&
		    strchr("89abcdefABCDEF", p[i + 3]) != NULL && p[i + 3])
			return 1;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum npm_doc_kind kinds[] = {
		NPM_DOC_PACKUMENT, NPM_DOC_VERSION, NPM_DOC_PLAIN
	};
	struct buf	 out = BUF_INIT, again = BUF_INIT;
	const char	*doc = (const char *)data;
	long		 rc[3], rc2;
	size_t		 k;

	for (k = 0; k < 3; k++) {
		buf_reset(&out);
		rc[k] = npm_rewrite_tarballs(doc, size, PREFIX, kinds[k], &out);
		if (rc[k] == -1)
			continue;
		if (kinds[k] == NPM_DOC_PLAIN &&
		    (out.n != size || memcmp(out.p, doc, size) != 0))
			abort();
		if (!deep(data, size) && !surrogate(data, size) &&
		    (!cjson_ok(doc, size) ||
		    !cjson_ok(out.p, out.n))) {
			fprintf(stderr, "scanner took for JSON what cJSON "
			    "does not\n");
			abort();
		}
		buf_reset(&again);
		rc2 = npm_rewrite_tarballs(out.p, out.n, PREFIX, kinds[k],
		    &again);
		if (rc2 != rc[k] || again.n != out.n ||
		    memcmp(again.p, out.p, out.n) != 0) {
			fprintf(stderr, "second rewrite differs\n");
			abort();
		}
	}
	if ((rc[0] == -1) != (rc[1] == -1) || (rc[0] == -1) != (rc[2] == -1))
		abort();
	buf_free(&out);
	buf_free(&again);
	return 0;
}
