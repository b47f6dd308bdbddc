/*
 * libFuzzer harness for the manifest image loader (common/image.c):
 * image_open()'s checks, then every rule set made (each type's load of
 * every record, the docker patterns and regexes compiled, the python
 * indexes built), a request answered on each host, and freeing.  Seeds:
 * tests/fuzz/corpus/image/ (images the gateway wrote for the e2e and
 * conformance manifests: tests/fuzz/image_seeds.sh, run again when the
 * format version changes).
 *
 * Each input is sealed first (image_seal(): this build's identity and
 * the checksums made right), or mutations would stop at the checksum;
 * what is left to catch them is the bounds and record checks, which
 * must hold under ASan whatever the bytes.  Then the same bytes are
 * opened lazily (image_open_lazy(): offsets and records are checked as
 * they are read), sometimes with a byte flipped after sealing, so that
 * a chunk fails its checksum in the middle of a request.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "gateway.h"
#include "image.h"
#include "image_int.h"
#include "manifest.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(c) do { if (!(c)) abort(); } while (0)

/* A request on host, answered (never contacting anything). */
static void
ask(struct manifest *m, const char *host, const char *target)
{
	struct gw_config	 cfg;
	struct gw_ctx		 ctx;
	struct buf		 out = BUF_INIT;

	gw_config_defaults(&cfg);
	memset(&ctx, 0, sizeof(ctx));
	ctx.manifest = m;
	ctx.config = &cfg;
	gw_explain(&ctx, "GET", host, target, NULL, 0, &out);
	buf_free(&out);
}

/* The lazy way: nothing but the header and the sections' bounds was
 * checked at open, so the harness checks what it reads itself. */
static void
lazy(const uint8_t *data, size_t size)
{
	struct manifest		*m = NULL;
	struct img_hdr		 h;
	struct img_set		 s;
	const char		*why, *dom;
	char			 host[600];
	void			*p;
	size_t			 at;
	uint32_t		 i;

	p = malloc(size);
	CHECK(p != NULL);
	memcpy(p, data, size);
	image_seal(p, size);
	memcpy(&h, p, sizeof(h));
	if ((data[size - 1] & 1) && size > sizeof(h) + 1) {
		at = sizeof(h) + data[size - 2] * 131u % (size - sizeof(h));
		((unsigned char *)p)[at] ^= 0x10;
	}
	if (image_open_lazy(p, size, 0, &m, &why, NULL) == -1) {
		CHECK(why != NULL);
		free(p);
		return;
	}
	for (i = 0; i < h.nsets; i++) {
		memcpy(&s, (const char *)p + h.sets_off + i * sizeof(s),
		    sizeof(s));
		if (s.domain >= h.nstr)
			continue;
		dom = (const char *)p + h.str_off + s.domain;
		if (strlen(dom) + 2 > sizeof(host))
			continue;
		snprintf(host, sizeof(host), "%s%s", dom[0] == '*' ? "x" : "",
		    dom + (dom[0] == '*'));
		(void)manifest_lookup(m, host);
		ask(m, host, "/simple/");
		ask(m, host, "/simple/numpy/");
		ask(m, host, "/simple/numpy/numpy-1.0.whl");
		ask(m, host, "/simple/x/");
		ask(m, host, "/v2/library/x/manifests/1");
		ask(m, host, "/a.png");
	}
	manifest_unref(m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct manifest		*m = NULL;
	struct img_hdr		 h;
	struct img_set		 s;
	const struct ruleset	*rs;
	const char		*why, *dom;
	char			 host[600];
	void			*p;
	uint32_t		 i;

	if (size < sizeof(h) || size > (1 << 20))
		return 0;
	lazy(data, size);
	p = malloc(size);		/* 8-aligned, as a mapping is */
	CHECK(p != NULL);
	memcpy(p, data, size);
	image_seal(p, size);
	if (image_open(p, size, 0, &m, &why, NULL) == -1) {
		CHECK(why != NULL);
		free(p);
		return 0;
	}
	/* opened: every offset was checked, so the index may be walked */
	memcpy(&h, p, sizeof(h));
	for (i = 0; i < h.nsets; i++) {
		memcpy(&s, (const char *)p + h.sets_off + i * sizeof(s),
		    sizeof(s));
		dom = (const char *)p + h.str_off + s.domain;
		if (strlen(dom) + 2 > sizeof(host))
			continue;
		if (dom[0] == '*')
			snprintf(host, sizeof(host), "x%s", dom + 1);
		else
			snprintf(host, sizeof(host), "%s", dom);
		rs = manifest_lookup(m, host);
		/* the index is sorted (checked): an exact domain is found */
		CHECK(dom[0] == '*' || (rs != NULL && rs->nrules <= s.nrules));
		ask(m, host, "/");
		ask(m, host, "/simple/");
		ask(m, host, "/v2/library/x/manifests/1");
		ask(m, host, "/@s/n/-/n-1.0.0.tgz");
		ask(m, host, "/a.png");
	}
	(void)manifest_lookup(m, "a.b.c.example.com");
	manifest_unref(m);
	return 0;
}
