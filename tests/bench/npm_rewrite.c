/*
 * Throughput of the npm packument rewriter (common/npm_doc.c, SPEC §4.4).
 *
 *	npm_rewrite [MEGABYTES [ROUNDS]]	(default 12 MB, 20 rounds)
 *
 * Generates a packument of about MEGABYTES with one version per ~750 bytes
 * (registry-like versions: dist with integrity, shasum, signatures and a
 * tarball, dependencies, a description with escapes) plus a readme, then
 * rewrites it ROUNDS times into a reused buffer and reports the best and
 * the median round in MB/s of input.  For scale it also times cJSON parsing
 * and re-printing the same document once, which is what a tree-based
 * rewrite would at least cost.  Not run by make check.
 */
#include "config.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "npm_doc.h"

static double
now_s(void)
{
	struct timespec	 t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void
gen_version(struct buf *b, size_t i)
{
	size_t	 k;

	buf_printf(b, "\"%zu.%zu.%zu\":{\"name\":\"bench-pkg\",\"version\":"
	    "\"%zu.%zu.%zu\",\"description\":\"release %zu: \\\"fast\\\" "
	    "\\u2603 path\\/to\",\"main\":\"index.js\",\"license\":\"MIT\","
	    "\"dependencies\":{\"left-pad\":\"^1.3.0\",\"lodash\":\"^4.17.%zu\""
	    "},\"_npmUser\":{\"name\":\"bench\",\"email\":\"b@example.org\"},"
	    "\"dist\":{\"integrity\":\"sha512-", i / 1000, i / 10 % 100, i % 10,
	    i / 1000, i / 10 % 100, i % 10, i, i % 21);
	for (k = 0; k < 86; k++)
		buf_addc(b, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"[
		    (i * 31 + k) % 42]);
	buf_printf(b, "==\",\"shasum\":\"%040zx\",\"tarball\":"
	    "\"https://registry.npmjs.org/bench-pkg/-/"
	    "bench-pkg-%zu.%zu.%zu.tgz\",\"fileCount\":%zu,"
	    "\"unpackedSize\":%zu,\"signatures\":[{"
	    "\"keyid\":\"SHA256:jl3bwswu80PjjokCgh0o2w5c2U4LhQAE57gj9cz1kzA\","
	    "\"sig\":\"MEUCIQDgF%zuAiEA\"}]},\"directories\":{},"
	    "\"_hasShrinkwrap\":false}", i * 2654435761u, i / 1000,
	    i / 10 % 100, i % 10, i % 50, i * 977, i);
}

static void
gen_packument(struct buf *b, size_t bytes)
{
	size_t	 i;

	buf_adds(b, "{\"_id\":\"bench-pkg\",\"name\":\"bench-pkg\","
	    "\"dist-tags\":{\"latest\":\"1.0.0\"},\"versions\":{");
	for (i = 0; b->n < bytes * 9 / 10; i++) {
		if (i > 0)
			buf_addc(b, ',');
		gen_version(b, i);
	}
	buf_adds(b, "},\"readme\":\"");
	while (b->n < bytes)
		buf_adds(b, "# bench-pkg\\n\\nSome text with \\\"quotes\\\" "
		    "and unicode \xc3\xa9\\u00e9 to skip over.\\n");
	buf_adds(b, "\"}");
}

static int
cmp_double(const void *a, const void *b)
{
	double	 x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	struct buf	 doc = BUF_INIT, out = BUF_INIT;
	size_t		 mb = 12, rounds = 20, r;
	double		*t, t0, mbs;
	long		 count = 0;
	cJSON		*j;
	char		*s;

	if (argc > 1)
		mb = strtoul(argv[1], NULL, 10);
	if (argc > 2)
		rounds = strtoul(argv[2], NULL, 10);
	if (mb == 0 || rounds == 0) {
		fprintf(stderr, "usage: npm_rewrite [MEGABYTES [ROUNDS]]\n");
		return 2;
	}
	gen_packument(&doc, mb * 1000 * 1000);
	mbs = (double)doc.n / 1e6;
	t = calloc(rounds, sizeof(*t));
	if (t == NULL)
		return 1;
	for (r = 0; r < rounds; r++) {
		buf_reset(&out);
		t0 = now_s();
		count = npm_rewrite_tarballs(doc.p, doc.n,
		    "https://gateway.example.com/bench-pkg/-/",
		    NPM_DOC_PACKUMENT, &out);
		t[r] = now_s() - t0;
	}
	qsort(t, rounds, sizeof(*t), cmp_double);
	printf("packument: %.1f MB, %ld tarballs, rewritten to %.1f MB\n",
	    mbs, count, (double)out.n / 1e6);
	printf("npm_rewrite_tarballs: best %.1f ms (%.0f MB/s), "
	    "median %.1f ms (%.0f MB/s) over %zu rounds\n", t[0] * 1e3,
	    mbs / t[0], t[rounds / 2] * 1e3, mbs / t[rounds / 2], rounds);

	t0 = now_s();
	j = cJSON_ParseWithLength(doc.p, doc.n);
	s = cJSON_PrintUnformatted(j);
	t0 = now_s() - t0;
	printf("for scale, cJSON parse + print: %.1f ms (%.0f MB/s)\n",
	    t0 * 1e3, mbs / t0);
	free(s);
	cJSON_Delete(j);
	free(t);
	buf_free(&doc);
	buf_free(&out);
	return count > 0 ? 0 : 1;
}
