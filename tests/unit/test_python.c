/*
 * Unit tests for common/python.c (SPEC §7) and common/sha256.c: SHA-256
 * against the FIPS 180-4 examples, the ETag format, Accept negotiation,
 * If-None-Match matching, and the whole §7.2 table driven through
 * python_handle() with in-memory requests (the conformance pages byte for
 * byte).  Every table row carries its __LINE__.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "gateway.h"
#include "manifest.h"
#include "python.h"
#include "ruletype.h"
#include "sha256.h"
#include "util.h"
#include "xmalloc.h"

#include "../tap.h"

static void
hex32(const unsigned char d[32], char out[65])
{
	static const char hx[] = "0123456789abcdef";
	int	 i;

	for (i = 0; i < 32; i++) {
		out[2 * i] = hx[d[i] >> 4];
		out[2 * i + 1] = hx[d[i] & 15];
	}
	out[64] = '\0';
}

/* FIPS 180-4 examples (NIST CSRC "SHA256.pdf") and the usual extras. */
static void
test_sha256(void)
{
	static const struct {
		int		 line;
		const char	*msg;
		const char	*want;
	} t[] = {
	{ __LINE__, "",
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
	{ __LINE__, "abc",
	  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
	{ __LINE__, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	{ __LINE__, "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
	  "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
	  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1" },
	{ __LINE__, "The quick brown fox jumps over the lazy dog",
	  "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592" },
	/* 55, 56 and 64 bytes: the padding boundaries. */
	{ __LINE__, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	  "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318" },
	{ __LINE__, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	  "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a" },
	{ __LINE__, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaa",
	  "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb" },
	};
	unsigned char	 d[32];
	char		 hex[65];
	struct sha256	 s;
	size_t		 i, k, len;
	static char	 chunk[1000];

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		len = strlen(t[i].msg);
		sha256(t[i].msg, len, d);
		hex32(d, hex);
		is_str_at(t[i].line, hex, t[i].want,
		    "sha256 one shot, %zu bytes", len);
		/* the same message fed byte by byte, then split at every
		 * offset */
		sha256_init(&s);
		for (k = 0; k < len; k++)
			sha256_update(&s, t[i].msg + k, 1);
		sha256_final(&s, d);
		hex32(d, hex);
		is_str_at(t[i].line, hex, t[i].want,
		    "sha256 bytewise, %zu bytes", len);
		for (k = 0; k <= len; k++) {
			sha256_init(&s);
			sha256_update(&s, t[i].msg, k);
			sha256_update(&s, t[i].msg + k, len - k);
			sha256_final(&s, d);
			hex32(d, hex);
			if (strcmp(hex, t[i].want) != 0)
				break;
		}
		ok_at(t[i].line, k == len + 1, "sha256 split at every offset "
		    "(%zu bytes)", len);
	}

	/* FIPS 180-4: one million 'a'. */
	memset(chunk, 'a', sizeof(chunk));
	sha256_init(&s);
	for (i = 0; i < 1000; i++)
		sha256_update(&s, chunk, sizeof(chunk));
	sha256_final(&s, d);
	hex32(d, hex);
	is_str(hex,
	    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
	    "sha256 of one million 'a'");
}

static void
test_etag_of(void)
{
	char	 a[48], b[48], c[48];
	size_t	 i, n;
	int	 good;

	etag_of("abc", 3, a, sizeof(a));
	/* base64url of SHA-256("abc") = ba7816bf...15ad, with padding */
	is_str(a, "\"ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0=\"",
	    "etag_of(\"abc\")");
	etag_of("abc", 3, b, sizeof(b));
	is_str(b, a, "etag_of is stable");
	etag_of("abd", 3, c, sizeof(c));
	ok(strcmp(a, c) != 0, "etag_of differs for another body");
	etag_of("", 0, c, sizeof(c));
	n = strlen(c);
	is_int(n, 46, "etag length");
	good = c[0] == '"' && c[n - 1] == '"';
	for (i = 1; i + 1 < n; i++)
		if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789-_=", c[i]) == NULL)
			good = 0;
	ok(good, "etag is quoted and uses only A-Z a-z 0-9 - _ =");
	etag_of("abc", 3, c, 46);
	is_str(c, "", "etag_of with a too small buffer gives \"\"");
	etag_of("abc", 3, c, 47);
	is_str(c, a, "etag_of with exactly 47 bytes");
}

/* SPEC §7.5. */
static void
test_negotiate(void)
{
	static const struct {
		int		 line;
		const char	*a1, *a2;	/* NULL: fewer values */
		int		 json;
	} t[] = {
	/* the Accept header of pip 23.2.1's index requests */
	{ __LINE__, "application/vnd.pypi.simple.v1+json, "
	  "application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01",
	  NULL, 1 },
	{ __LINE__, "*/*", NULL, 0 },
	{ __LINE__, "", NULL, 0 },
	{ __LINE__, "application/json", NULL, 0 },
	{ __LINE__, "text/html", NULL, 0 },
	{ __LINE__, "application/vnd.pypi.simple.v1+json", NULL, 1 },
	{ __LINE__, "application/vnd.pypi.simple.latest+json", NULL, 1 },
	{ __LINE__, "application/vnd.pypi.simple.v1+html", NULL, 0 },
	{ __LINE__, "application/vnd.pypi.simple.latest+html", NULL, 0 },
	{ __LINE__, "APPLICATION/VND.PYPI.SIMPLE.V1+JSON", NULL, 1 },
	/* wildcards cover what they name; ties give HTML */
	{ __LINE__, "application/*", NULL, 0 },
	{ __LINE__, "text/*", NULL, 0 },
	{ __LINE__, "*", NULL, 0 },
	{ __LINE__, "text/*;q=0.5, application/*", NULL, 0 },
	{ __LINE__, "application/*;q=0.5, text/*;q=0.4", NULL, 0 },
	{ __LINE__, "application/*;q=0.5, text/*;q=0.6", NULL, 0 },
	{ __LINE__, "application/*, text/html;q=0", NULL, 0 },
	/* exact beats wildcard on a tie */
	{ __LINE__, "*/*, application/vnd.pypi.simple.v1+json", NULL, 1 },
	{ __LINE__, "application/vnd.pypi.simple.v1+json, */*", NULL, 1 },
	{ __LINE__, "application/vnd.pypi.simple.v1+json;q=0.5, */*;q=0.5",
	  NULL, 1 },
	{ __LINE__, "text/html, application/vnd.pypi.simple.v1+json", NULL, 0 },
	{ __LINE__, "text/html;q=0.5, application/vnd.pypi.simple.v1+json;"
	  "q=0.5", NULL, 0 },
	{ __LINE__, "text/*, application/vnd.pypi.simple.v1+json", NULL, 1 },
	{ __LINE__, "application/*, application/vnd.pypi.simple.v1+html",
	  NULL, 0 },
	/* a wildcard at a higher q beats an exact entry */
	{ __LINE__, "application/vnd.pypi.simple.v1+json;q=0.5, */*;q=0.8",
	  NULL, 0 },
	{ __LINE__, "text/html;q=0.5, */*;q=0.8, "
	  "application/vnd.pypi.simple.latest+json", NULL, 1 },
	/* the most specific entry decides a type's q, even when lower;
	 * application/ * also covers the +html types: a wildcard tie */
	{ __LINE__, "application/vnd.pypi.simple.v1+json;q=0.2, "
	  "application/*;q=0.9, text/html;q=0.3", NULL, 0 },
	{ __LINE__, "application/vnd.pypi.simple.v1+json;q=0.2, "
	  "application/*;q=0.9, text/html;q=0.3, "
	  "application/vnd.pypi.simple.v1+html;q=0.3, "
	  "application/vnd.pypi.simple.latest+html;q=0.3", NULL, 1 },
	{ __LINE__, "text/html;q=0.1, */*;q=1, "
	  "application/vnd.pypi.simple.v1+json;q=0.2", NULL, 0 },
	/* q=0: unacceptable */
	{ __LINE__, "application/vnd.pypi.simple.v1+json;q=0", NULL, 0 },
	{ __LINE__, "text/html;q=0, application/vnd.pypi.simple.v1+json;"
	  "q=0.001", NULL, 1 },
	{ __LINE__, "text/html;q=0", NULL, 0 },
	{ __LINE__, "*/*;q=0", NULL, 0 },
	{ __LINE__, "*/*;q=0, application/vnd.pypi.simple.v1+json", NULL, 1 },
	{ __LINE__, "text/*;q=0, application/*;q=0.1", NULL, 0 },
	{ __LINE__, "text/*;q=0, application/*;q=0.1, "
	  "application/vnd.pypi.simple.v1+html;q=0", NULL, 0 },
	{ __LINE__, "text/*;q=0, application/*;q=0.1, "
	  "application/vnd.pypi.simple.v1+html;q=0, "
	  "application/vnd.pypi.simple.latest+html;q=0", NULL, 1 },
	{ __LINE__, "application/vnd.pypi.simple.v1+json;q=0.0, */*", NULL, 0 },
	/* q syntax: spaces, case, precision, leniency, junk */
	{ __LINE__, "application/vnd.pypi.simple.v1+json ; Q = 0.9 , "
	  "text/html;q=0.8", NULL, 1 },
	{ __LINE__, "application/vnd.pypi.simple.v1+json;q=1.000, "
	  "text/html;q=0.999", NULL, 1 },
	{ __LINE__, "application/vnd.pypi.simple.v1+json;q=0.9999, "
	  "text/html;q=0.999", NULL, 0 },
	{ __LINE__, "application/vnd.pypi.simple.v1+json;q=.5, text/html;q=.4",
	  NULL, 1 },
	{ __LINE__, "application/vnd.pypi.simple.v1+json;q=2", NULL, 0 },
	{ __LINE__, "application/vnd.pypi.simple.v1+json;q=abc", NULL, 0 },
	{ __LINE__, "application/vnd.pypi.simple.v1+json;q=", NULL, 0 },
	{ __LINE__, "application/vnd.pypi.simple.v1+json;q=-1", NULL, 0 },
	{ __LINE__, "application/vnd.pypi.simple.v1+json junk", NULL, 0 },
	{ __LINE__, "application/vnd.pypi.simple.v1+json;charset=utf-8", NULL,
	  1 },
	{ __LINE__, "application/vnd.pypi.simple.v1+json;x=\"a,b;q=0\";q=0.9, "
	  "text/html;q=0.5", NULL, 1 },
	{ __LINE__, "application/vnd.pypi.simple.v1+json;q=0.9;ext=1, "
	  "text/html;q=0.5", NULL, 1 },
	{ __LINE__, ",,, application/vnd.pypi.simple.v1+json ,,", NULL, 1 },
	{ __LINE__, "application/vnd.pypi.simple.v1+jsonx", NULL, 0 },
	{ __LINE__, "application/vnd.pypi.simple.v1", NULL, 0 },
	{ __LINE__, "*/json", NULL, 0 },
	/* the first of equally specific entries counts */
	{ __LINE__, "application/vnd.pypi.simple.v1+json;q=0.1, "
	  "application/vnd.pypi.simple.v1+json;q=0.9, text/html;q=0.5", NULL,
	  0 },
	/* several header values are one list */
	{ __LINE__, "text/html;q=0.1", "application/vnd.pypi.simple.v1+json",
	  1 },
	{ __LINE__, "application/vnd.pypi.simple.v1+json;q=0.1", "text/html",
	  0 },
	{ __LINE__, "*/*", "application/vnd.pypi.simple.v1+json", 1 },
	};
	size_t	 i, n;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *v[2] = { t[i].a1, t[i].a2 };

		n = t[i].a2 != NULL ? 2 : 1;
		is_int_at(t[i].line, python_negotiate_json(v, n), t[i].json,
		    "negotiate [%s]%s%s", t[i].a1, t[i].a2 ? " + " : "",
		    t[i].a2 ? t[i].a2 : "");
	}
	is_int(python_negotiate_json(NULL, 0), 0, "no Accept: HTML");
}

/* SPEC §7.6. */
static void
test_etag_matches(void)
{
	static const char etag[] = "\"abc-_=\"";
	static const struct {
		int		 line;
		const char	*v1, *v2;
		int		 match;
	} t[] = {
	{ __LINE__, "\"abc-_=\"", NULL, 1 },
	{ __LINE__, "abc-_=", NULL, 1 },
	{ __LINE__, "W/\"abc-_=\"", NULL, 1 },
	{ __LINE__, "*", NULL, 1 },
	{ __LINE__, " * ", NULL, 1 },
	{ __LINE__, "\"x\", *", NULL, 1 },
	{ __LINE__, "\"x\", \"abc-_=\"", NULL, 1 },
	{ __LINE__, "\"x\",\"abc-_=\",\"y\"", NULL, 1 },
	{ __LINE__, "  \"abc-_=\"  ,", NULL, 1 },
	{ __LINE__, "\"x\", W/\"abc-_=\"", NULL, 1 },
	{ __LINE__, "\"x\"", "\"abc-_=\"", 1 },
	{ __LINE__, "\"x\"", "*", 1 },
	{ __LINE__, "\"x\"", NULL, 0 },
	{ __LINE__, "", NULL, 0 },
	{ __LINE__, ",, ,", NULL, 0 },
	{ __LINE__, "\"x\"", "\"y\"", 0 },
	{ __LINE__, "\"abc-_\"", NULL, 0 },
	{ __LINE__, "\"abc-_=x\"", NULL, 0 },
	{ __LINE__, "\"ABC-_=\"", NULL, 0 },
	{ __LINE__, "w/\"abc-_=\"", NULL, 0 },
	{ __LINE__, "W/abc-_=", NULL, 0 },
	{ __LINE__, "W/ \"abc-_=\"", NULL, 0 },
	{ __LINE__, "**", NULL, 0 },
	{ __LINE__, "\"*\"", NULL, 0 },
	/* a quoted comma does not split an element */
	{ __LINE__, "\"x, *, y\"", NULL, 0 },
	{ __LINE__, "\"x, *, y\", \"abc-_=\"", NULL, 1 },
	{ __LINE__, "\"unterminated, *", NULL, 0 },
	/* the original's ETag (conformance case 031) */
	{ __LINE__, "\"agnhjMSIWv0_F5FCrBDmit2jdkTb4QLM7v4tnUKUs-U=\"", NULL,
	  0 },
	};
	size_t	 i, n;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *v[2] = { t[i].v1, t[i].v2 };

		n = t[i].v2 != NULL ? 2 : 1;
		is_int_at(t[i].line, etag_matches(v, n, etag), t[i].match,
		    "If-None-Match [%s]%s%s", t[i].v1, t[i].v2 ? " + " : "",
		    t[i].v2 ? t[i].v2 : "");
	}
	is_int(etag_matches(NULL, 0, etag), 0, "no If-None-Match");
}

/* Rule fixtures: python-v1 fields as the loader would set them. */
struct rspec {
	const char	*name, *file, *version, *url, *pkgid;
	const char	*htype, *hash;
	int		 gpg;		/* -1 absent */
	const char	*rp;
	int		 yanked;
	const char	*yreason;
	int		 core_md;	/* 0, 1 true, 2 hash */
	const char	*mdtype, *mdhash;
	const char	*index;
};

#define URL13 "https://files.pythonhosted.org/packages/ab/67/" \
	"19e93e3f8c3e077dcf6fc54e84e1cff609c4a7e0a3ce14f70794dde60063/" \
	"numpy-1.3.0.tar.gz#sha256=" \
	"7524687cce85aa78103046db5e617c626b0ef871a203a049159f88f35647c90d"
#define SHA_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define SHA_B "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

/* 031, 038, 061: numpy twice (the second with a stray quote), cipy. */
static const struct rspec fx_cool[] = {
	{ "numpy", "numpy-1.3.0.tar.gz", "1.3.0", URL13, "123",
	  NULL, NULL, -1, NULL, 0, NULL, 0, NULL, NULL, NULL },
	{ "numpy", "numpy-1.4.0.tar.gz", "1.4.0", URL13 "\"", "123",
	  NULL, NULL, -1, NULL, 0, NULL, 0, NULL, NULL, NULL },
	{ "cipy", "cipy-1.0.tar.gz", "1.0", URL13 "\"", "456",
	  NULL, NULL, -1, NULL, 0, NULL, 0, NULL, NULL, NULL },
	{ NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, 0, NULL, 0, NULL,
	  NULL, NULL }
};

/* 033, 060: hashes, gpg-sig, requires-python. */
static const struct rspec fx_hash[] = {
	{ "numpy", "numpy-1.3.0.tar.gz", "1.3.0.tar.gz", URL13, "123",
	  "md5", "68b329da9893e34099c7d8ad5cb9c940", 1, NULL, 0, NULL, 0,
	  NULL, NULL, NULL },
	{ "numpy", "numpy-1.4.0.tar.gz", "1.4.0.tar.gz", URL13 "\"", "123",
	  "md5", "60b725f10c9c85c70d97880dfe8191b3", -1,
	  ">=2.7,!=3.0.*,!=3.1.*,!=3.2.*,!=3.3.*", 0, NULL, 0, NULL, NULL,
	  NULL },
	{ NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, 0, NULL, 0, NULL,
	  NULL, NULL }
};

/* 067, 068: merged spellings, escaping, yanked, core metadata; plus
 * duplicates, odd names, core-metadata true and an upstream index. */
static const struct rspec fx_demo[] = {
	{ "Demo_Pkg", "demo_pkg-2.0-py3-none-any.whl", "2.0",
	  "https://files.example/packages/demo_pkg-2.0-py3-none-any.whl"
	  "#sha256=" SHA_A, "demo-1", "sha256", SHA_A, -1, ">=3.8,<4", 1,
	  "bad build & <missing> files", 2, "sha256", SHA_B, NULL },
	{ "demo-pkg", "demo_pkg-1.0.tar.gz", "1.0",
	  "https://files.example/packages/demo_pkg-1.0.tar.gz", "demo-2",
	  NULL, NULL, 0, NULL, 1, NULL, 0, NULL, NULL, NULL },
	/* a later duplicate file name (twice): ignored */
	{ "DEMO.PKG", "demo_pkg-1.0.tar.gz", "9.9",
	  "https://evil.example/x", "demo-3", NULL, NULL, -1, NULL, 0, NULL,
	  0, NULL, NULL, NULL },
	{ "demo-pkg", "demo_pkg-1.0.tar.gz", "9.8",
	  "https://evil.example/y", "demo-4", NULL, NULL, -1, NULL, 0, NULL,
	  0, NULL, NULL, NULL },
	{ "Odd Name&Co", "o'dd #1.whl", "1",
	  "https://files.example/o?sig=a%20b#frag", "odd", NULL, NULL, -1,
	  NULL, 0, NULL, 1, NULL, NULL, "https://pypi.example.org/simple" },
	{ "other", "other-1.whl.metadata", "1",
	  "https://files.example/literal.metadata", "oth", NULL, NULL, -1,
	  NULL, 0, NULL, 0, NULL, NULL, "https://second.example/" },
	{ "other", "other-1.whl", "1", "https://files.example/other-1.whl",
	  "oth2", NULL, NULL, -1, NULL, 1, "", 1, NULL, NULL, NULL },
	{ NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, 0, NULL, 0, NULL,
	  NULL, NULL }
};

/* 062, 069: an index URL without a trailing slash. */
static const struct rspec fx_zope[] = {
	{ "zope.interface", "zope.interface-6.4.tar.gz", "6.4",
	  "https://files.example/packages/zope.interface-6.4.tar.gz", "zope",
	  NULL, NULL, -1, NULL, 0, NULL, 0, NULL, NULL, NULL },
	{ "x", "x-1.whl", "1", "https://files.example/x-1.whl", "x",
	  NULL, NULL, -1, NULL, 0, NULL, 0, NULL, NULL,
	  "https://pypi.org/simple/" },
	{ NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, 0, NULL, 0, NULL,
	  NULL, NULL }
};

/* Rules as the loader builds them; rule->index is 10 + position so that
 * the tests tell the manifest index from the position. */
static struct rule **
rules_make(const struct rspec *fx, size_t *np)
{
	struct rule	**v;
	size_t		  n, i;

	for (n = 0; fx[n].name != NULL; n++)
		;
	v = xcalloc(n, sizeof(*v));
	for (i = 0; i < n; i++) {
		struct rule *r = xcalloc(1, sizeof(*r));
		struct py_rule *p = xcalloc(1, sizeof(*p));

		r->type = rule_type_find("python-v1");
		r->priv = p;
		r->index = 10 + (int)i;
		r->domain = "pypi.example";
		r->package_id = fx[i].pkgid;
		p->py_name = fx[i].name;
		p->py_norm = pep503_normalise(fx[i].name, strlen(fx[i].name));
		p->file_name = fx[i].file;
		p->version = fx[i].version;
		p->backend_url = fx[i].url;
		p->hash_type = fx[i].htype;
		p->hash = fx[i].hash;
		p->gpg_sig = fx[i].gpg;
		p->requires_python = fx[i].rp;
		p->yanked = fx[i].yanked;
		p->yanked_reason = fx[i].yreason;
		p->core_md = fx[i].core_md;
		p->core_md_type = fx[i].mdtype;
		p->core_md_hash = fx[i].mdhash;
		p->backend_index = fx[i].index;
		v[i] = r;
	}
	*np = n;
	return v;
}

/* The strings are the fixture's, but for the normalised name. */
static void
rules_free(struct rule **v, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		struct py_rule *p = v[i]->priv;

		free((void *)(uintptr_t)p->py_norm);
		free(p);
		free(v[i]);
	}
	free(v);
}

/* One request through python_handle, the way gw_serve would call it. */
struct exch {
	struct gw_request	 req;
	struct gw_response	 resp;
	struct gw_event		 ev;
	int			 handled;
	char			*params[4];
};

static void
exch_run(struct exch *x, const struct pyindex *idx, const char *method,
    const char *uri, const char *accept, const char *inm)
{
	struct buf	 seg = BUF_INIT;
	char		**segs = NULL;
	size_t		*lens = NULL, nsegs = 0, np = 0, i;
	const char	*q, *p, *e, *end;

	memset(x, 0, sizeof(*x));
	q = strchr(uri, '?');
	x->req.method = xstrdup(method);
	x->req.raw_path = q ? xstrndup(uri, (size_t)(q - uri)) : xstrdup(uri);
	x->req.raw_query = xstrdup(q ? q + 1 : "");
	x->req.host = xstrdup("pypi.example");
	x->req.authority = xstrdup("pypi.example:8443");
	x->req.scheme = "https";
	x->req.is_head = strcmp(method, "HEAD") == 0;
	x->req.is_get_or_head = x->req.is_head || strcmp(method, "GET") == 0;
	x->req.content_length = -1;
	if (accept != NULL) {
		buf_printf(&seg, "HTTP_ACCEPT=%s", accept);
		x->params[np++] = buf_steal(&seg);
	}
	if (inm != NULL) {
		buf_printf(&seg, "HTTP_IF_NONE_MATCH=%s", inm);
		x->params[np++] = buf_steal(&seg);
	}
	x->params[np] = NULL;
	x->req.params = x->params;
	gw_response_init(&x->resp);
	gw_event_init(&x->ev);

	/* SPEC §0 segments: split on '/', percent-decode each piece. */
	p = x->req.raw_path + 1;
	end = p + strlen(p);
	if (strcmp(x->req.raw_path, "/") != 0)
		for (;;) {
			e = memchr(p, '/', (size_t)(end - p));
			if (e == NULL)
				e = end;
			segs = xreallocarray(segs, nsegs + 1, sizeof(*segs));
			lens = xreallocarray(lens, nsegs + 1, sizeof(*lens));
			buf_reset(&seg);
			pct_decode(&seg, p, (size_t)(e - p), 0);
			lens[nsegs] = seg.n;
			segs[nsegs++] = buf_steal(&seg);
			if (e == end)
				break;
			p = e + 1;
		}
	x->handled = python_handle(idx, &x->req, segs, lens, nsegs, &x->resp,
	    &x->ev);
	/* a page is borrowed from the index (resp_body_ref()): the checks
	 * below read what a front end would send, in resp.body */
	if (x->resp.ref != NULL) {
		size_t		 n;
		const char	*b = resp_body(&x->resp, &n);

		x->resp.ref = NULL;
		buf_add(&x->resp.body, b, n);
	}
	for (i = 0; i < nsegs; i++)
		free(segs[i]);
	free(segs);
	free(lens);
	buf_free(&seg);
}

static void
exch_free(struct exch *x)
{
	size_t	 i;

	for (i = 0; x->params[i] != NULL; i++)
		free(x->params[i]);
	free(x->req.method);
	free(x->req.raw_path);
	free(x->req.raw_query);
	free(x->req.host);
	free(x->req.authority);
	gw_response_free(&x->resp);
	gw_event_free(&x->ev);
}

static int
header_count(const struct gw_response *r, const char *name)
{
	size_t	 i;
	int	 n = 0;

	for (i = 0; i < r->nhdr; i++)
		if (strcasecmp(r->hdr[i].name, name) == 0)
			n++;
	return n;
}

#define CT_HTML "text/html"
#define CT_JSON "application/vnd.pypi.simple.v1+json"
#define PJ "application/vnd.pypi.simple.v1+json, " \
	"application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
#define EV_NULLS ",\"version\":null,\"file-name\":null"

#define ROOT_COOL "<!DOCTYPE html><html><body>\n" \
	"<a href=\"/simple/numpy/\">numpy</a><br>\n" \
	"<a href=\"/simple/cipy/\">cipy</a><br>\n</body></html>"
#define NUMPY_COOL "<!DOCTYPE html><html><body><h1>numpy</h1>\n" \
	"<a href=\"/simple/numpy/numpy-1.3.0.tar.gz\">numpy-1.3.0.tar.gz" \
	"</a><br>\n<a href=\"/simple/numpy/numpy-1.4.0.tar.gz\">" \
	"numpy-1.4.0.tar.gz</a><br>\n</body></html>"
#define NUMPY_HASH "<!DOCTYPE html><html><body><h1>numpy</h1>\n" \
	"<a href=\"/simple/numpy/numpy-1.3.0.tar.gz" \
	"#md5=68b329da9893e34099c7d8ad5cb9c940\" data-gpg-sig=\"true\">" \
	"numpy-1.3.0.tar.gz</a><br>\n<a href=\"/simple/numpy/" \
	"numpy-1.4.0.tar.gz#md5=60b725f10c9c85c70d97880dfe8191b3\" " \
	"data-requires-python=\"&gt;=2.7,!=3.0.*,!=3.1.*,!=3.2.*,!=3.3.*\">" \
	"numpy-1.4.0.tar.gz</a><br>\n</body></html>"
#define NUMPY_HASH_JSON "{\"meta\":{\"api-version\":\"1.0\"},\"name\":" \
	"\"numpy\",\"files\":[{\"filename\":\"numpy-1.3.0.tar.gz\",\"url\":" \
	"\"/simple/numpy/numpy-1.3.0.tar.gz\",\"hashes\":{\"md5\":" \
	"\"68b329da9893e34099c7d8ad5cb9c940\"},\"gpg-sig\":true}," \
	"{\"filename\":\"numpy-1.4.0.tar.gz\",\"url\":" \
	"\"/simple/numpy/numpy-1.4.0.tar.gz\",\"hashes\":{\"md5\":" \
	"\"60b725f10c9c85c70d97880dfe8191b3\"},\"requires-python\":" \
	"\">=2.7,!=3.0.*,!=3.1.*,!=3.2.*,!=3.3.*\"}]}"
#define DEMO_HTML "<!DOCTYPE html><html><body><h1>Demo_Pkg</h1>\n" \
	"<a href=\"/simple/demo-pkg/demo_pkg-2.0-py3-none-any.whl#sha256=" \
	SHA_A "\" data-requires-python=\"&gt;=3.8,&lt;4\" data-yanked=\"bad " \
	"build &amp; &lt;missing&gt; files\" data-core-metadata=\"sha256=" \
	SHA_B "\" data-dist-info-metadata=\"sha256=" SHA_B "\">" \
	"demo_pkg-2.0-py3-none-any.whl</a><br>\n<a href=\"/simple/demo-pkg/" \
	"demo_pkg-1.0.tar.gz\" data-gpg-sig=\"false\" data-yanked=\"\">" \
	"demo_pkg-1.0.tar.gz</a><br>\n</body></html>"
#define DEMO_JSON "{\"meta\":{\"api-version\":\"1.0\"},\"name\":" \
	"\"demo-pkg\",\"files\":[{\"filename\":" \
	"\"demo_pkg-2.0-py3-none-any.whl\",\"url\":\"/simple/demo-pkg/" \
	"demo_pkg-2.0-py3-none-any.whl\",\"hashes\":{\"sha256\":\"" SHA_A \
	"\"},\"requires-python\":\">=3.8,<4\",\"yanked\":\"bad build & " \
	"<missing> files\",\"core-metadata\":{\"sha256\":\"" SHA_B "\"}}," \
	"{\"filename\":\"demo_pkg-1.0.tar.gz\",\"url\":" \
	"\"/simple/demo-pkg/demo_pkg-1.0.tar.gz\",\"hashes\":{}," \
	"\"gpg-sig\":false,\"yanked\":true}]}"
#define DEMO_ROOT "<!DOCTYPE html><html><body>\n" \
	"<a href=\"/simple/demo-pkg/\">Demo_Pkg</a><br>\n" \
	"<a href=\"/simple/odd%20name&amp;co/\">Odd Name&amp;Co</a><br>\n" \
	"<a href=\"/simple/other/\">other</a><br>\n</body></html>"
#define ODD_HTML "<!DOCTYPE html><html><body><h1>Odd Name&amp;Co</h1>\n" \
	"<a href=\"/simple/odd%20name&amp;co/o&#39;dd%20%231.whl\" " \
	"data-core-metadata=\"true\" data-dist-info-metadata=\"true\">" \
	"o&#39;dd #1.whl</a><br>\n</body></html>"
#define ODD_JSON "{\"meta\":{\"api-version\":\"1.0\"},\"name\":" \
	"\"odd name&co\",\"files\":[{\"filename\":\"o'dd #1.whl\",\"url\":" \
	"\"/simple/odd%20name&co/o'dd%20%231.whl\",\"hashes\":{}," \
	"\"core-metadata\":true}]}"

/*
 * The §7.2 table.  location/ctype/body NULL: not checked (body "" means
 * empty).  etag: 1 = an ETag header must be present.  inm "{etag}" is
 * replaced by the ETag of the same page fetched first (two-step cases).
 */
static const struct {
	int		 line;
	const struct rspec *fx;
	const char	*method, *uri, *accept, *inm;
	int		 handled, status;
	const char	*location, *ctype, *body;
	int		 rule_index;		/* -1: null */
	const char	*pkgid, *extra;		/* event */
} rt[] = {
	/* 038, 037: the root page, GET and HEAD */
	{ __LINE__, fx_cool, "GET", "/simple/", NULL, NULL, 1, 200, NULL,
	  CT_HTML, ROOT_COOL, 10, NULL, ",\"package\":null" EV_NULLS },
	{ __LINE__, fx_cool, "HEAD", "/simple/", NULL, NULL, 1, 200, NULL,
	  CT_HTML, ROOT_COOL, 10, NULL, ",\"package\":null" EV_NULLS },
	{ __LINE__, fx_cool, "GET", "/simple/?x=1", "*/*", NULL, 1, 200,
	  NULL, CT_HTML, ROOT_COOL, 10, NULL, NULL },
	/* 061: latest+json answered as v1+json */
	{ __LINE__, fx_cool, "GET", "/simple/",
	  "application/vnd.pypi.simple.latest+json", NULL, 1, 200, NULL,
	  CT_JSON, "{\"meta\":{\"api-version\":\"1.0\"},\"projects\":"
	  "[{\"name\":\"numpy\"},{\"name\":\"cipy\"}]}", 10, NULL, NULL },
	/* 031: someone else's ETag, then ours; 064 weak; 065 star */
	{ __LINE__, fx_cool, "GET", "/simple/", NULL,
	  "\"agnhjMSIWv0_F5FCrBDmit2jdkTb4QLM7v4tnUKUs-U=\"", 1, 200, NULL,
	  CT_HTML, ROOT_COOL, 10, NULL, NULL },
	{ __LINE__, fx_cool, "GET", "/simple/", NULL, "{etag}", 1, 304, NULL,
	  NULL, "", 10, NULL, ",\"package\":null" EV_NULLS },
	{ __LINE__, fx_cool, "HEAD", "/simple/", NULL, "{etag}", 1, 304, NULL,
	  NULL, "", 10, NULL, NULL },
	{ __LINE__, fx_cool, "GET", "/simple/numpy/", NULL, "W/{etag}", 1,
	  304, NULL, NULL, "", 10, "123", NULL },
	{ __LINE__, fx_cool, "GET", "/simple/numpy/", NULL, "*", 1, 304, NULL,
	  NULL, "", 10, "123", ",\"package\":\"numpy\"" EV_NULLS },
	{ __LINE__, fx_cool, "GET", "/simple/numpy/", PJ, "{etag}", 1, 304,
	  NULL, NULL, "", 10, "123", NULL },
	/* 036, 035: project page GET and HEAD */
	{ __LINE__, fx_cool, "GET", "/simple/numpy/", NULL, NULL, 1, 200,
	  NULL, CT_HTML, NUMPY_COOL, 10, "123",
	  ",\"package\":\"numpy\"" EV_NULLS },
	{ __LINE__, fx_cool, "HEAD", "/simple/numpy/", NULL, NULL, 1, 200,
	  NULL, CT_HTML, NUMPY_COOL, 10, "123", NULL },
	{ __LINE__, fx_cool, "GET", "/simple/cipy/", NULL, NULL, 1, 200, NULL,
	  CT_HTML, "<!DOCTYPE html><html><body><h1>cipy</h1>\n<a href=\""
	  "/simple/cipy/cipy-1.0.tar.gz\">cipy-1.0.tar.gz</a><br>\n"
	  "</body></html>", 12, "456", ",\"package\":\"cipy\"" EV_NULLS },
	/* 032, 066: file redirects, byte for byte, GET and HEAD */
	{ __LINE__, fx_cool, "GET", "/simple/numpy/numpy-1.3.0.tar.gz", NULL,
	  NULL, 1, 307, URL13, NULL, "", 10, "123",
	  ",\"package\":\"numpy\",\"version\":\"1.3.0\",\"file-name\":"
	  "\"numpy-1.3.0.tar.gz\"" },
	{ __LINE__, fx_cool, "HEAD", "/simple/numpy/numpy-1.4.0.tar.gz", NULL,
	  NULL, 1, 307, URL13 "\"", NULL, "", 11, "123",
	  ",\"package\":\"numpy\",\"version\":\"1.4.0\",\"file-name\":"
	  "\"numpy-1.4.0.tar.gz\"" },
	/* a file under a non-normalised project name still redirects */
	{ __LINE__, fx_cool, "GET", "/simple/NumPy/numpy-1.3.0.tar.gz?q",
	  NULL, NULL, 1, 307, URL13, NULL, "", 10, "123", NULL },
	{ __LINE__, fx_cool, "GET", "/simple/cipy/numpy-1.3.0.tar.gz", NULL,
	  NULL, 0, 0, NULL, NULL, NULL, 0, NULL, NULL },
	/* 034: unknown file; no metadata without core-metadata */
	{ __LINE__, fx_cool, "GET", "/simple/numpy/numpy-1.2.0.tar.gz", NULL,
	  NULL, 0, 0, NULL, NULL, NULL, 0, NULL, NULL },
	{ __LINE__, fx_cool, "GET", "/simple/numpy/numpy-1.3.0.tar.gz.metadata",
	  NULL, NULL, 0, 0, NULL, NULL, NULL, 0, NULL, NULL },
	{ __LINE__, fx_cool, "GET", "/simple/numpy/NUMPY-1.3.0.tar.gz", NULL,
	  NULL, 0, 0, NULL, NULL, NULL, 0, NULL, NULL },
	/* 063: /simple; canonical redirects keep the raw query */
	{ __LINE__, fx_cool, "GET", "/simple", NULL, NULL, 1, 301,
	  "https://pypi.example:8443/simple/", NULL, "", 10, NULL,
	  ",\"package\":null" EV_NULLS },
	{ __LINE__, fx_cool, "HEAD", "/simple?a=%20b&c", NULL, NULL, 1, 301,
	  "https://pypi.example:8443/simple/?a=%20b&c", NULL, "", 10, NULL,
	  NULL },
	{ __LINE__, fx_cool, "GET", "/simple/numpy", NULL, NULL, 1, 301,
	  "https://pypi.example:8443/simple/numpy/", NULL, "", 10, "123",
	  ",\"package\":\"numpy\"" EV_NULLS },
	{ __LINE__, fx_cool, "GET", "/simple/NumPy/?x", NULL, NULL, 1, 301,
	  "https://pypi.example:8443/simple/numpy/?x", NULL, "", 10, "123",
	  NULL },
	{ __LINE__, fx_cool, "GET", "/simple/Num_._py", NULL, NULL, 0, 0,
	  NULL, NULL, NULL, 0, NULL, NULL },
	{ __LINE__, fx_cool, "GET", "/simple/C.I.P.Y", NULL, NULL, 0, 0,
	  NULL, NULL, NULL, 0, NULL, NULL },
	{ __LINE__, fx_cool, "GET", "/simple/CIPY", NULL, NULL, 1, 301,
	  "https://pypi.example:8443/simple/cipy/", NULL, "", 12, "456",
	  ",\"package\":\"cipy\"" EV_NULLS },
	/* not ours: other methods, unknown projects without an index URL,
	 * other paths */
	{ __LINE__, fx_cool, "POST", "/simple/", NULL, NULL, 0, 0, NULL, NULL,
	  NULL, 0, NULL, NULL },
	{ __LINE__, fx_cool, "PUT", "/simple/numpy/numpy-1.3.0.tar.gz", NULL,
	  NULL, 0, 0, NULL, NULL, NULL, 0, NULL, NULL },
	{ __LINE__, fx_cool, "get", "/simple/", NULL, NULL, 0, 0, NULL, NULL,
	  NULL, 0, NULL, NULL },
	{ __LINE__, fx_cool, "GET", "/simple/requests/", NULL, NULL, 0, 0,
	  NULL, NULL, NULL, 0, NULL, NULL },
	{ __LINE__, fx_cool, "GET", "/simple/requests", NULL, NULL, 0, 0,
	  NULL, NULL, NULL, 0, NULL, NULL },
	{ __LINE__, fx_cool, "GET", "/", NULL, NULL, 0, 0, NULL, NULL, NULL, 0,
	  NULL, NULL },
	{ __LINE__, fx_cool, "GET", "/simplex/", NULL, NULL, 0, 0, NULL, NULL,
	  NULL, 0, NULL, NULL },
	{ __LINE__, fx_cool, "GET", "/Simple/", NULL, NULL, 0, 0, NULL, NULL,
	  NULL, 0, NULL, NULL },
	{ __LINE__, fx_cool, "GET", "/simple//", NULL, NULL, 0, 0, NULL, NULL,
	  NULL, 0, NULL, NULL },
	{ __LINE__, fx_cool, "GET", "/simple/numpy//", NULL, NULL, 0, 0, NULL,
	  NULL, NULL, 0, NULL, NULL },
	{ __LINE__, fx_cool, "GET", "/simple/numpy/numpy-1.3.0.tar.gz/", NULL,
	  NULL, 0, 0, NULL, NULL, NULL, 0, NULL, NULL },
	{ __LINE__, fx_cool, "GET", "/x/simple/", NULL, NULL, 0, 0, NULL, NULL,
	  NULL, 0, NULL, NULL },
	{ __LINE__, fx_cool, "GET", "/simple/num%2Fpy/", NULL, NULL, 0, 0,
	  NULL, NULL, NULL, 0, NULL, NULL },
	{ __LINE__, fx_cool, "GET", "/simple%2F", NULL, NULL, 0, 0, NULL, NULL,
	  NULL, 0, NULL, NULL },

	/* 033, 060: hashes; JSON with pip's Accept */
	{ __LINE__, fx_hash, "GET", "/simple/numpy/", NULL, NULL, 1, 200, NULL,
	  CT_HTML, NUMPY_HASH, 10, "123", NULL },
	{ __LINE__, fx_hash, "GET", "/simple/numpy/", PJ, NULL, 1, 200, NULL,
	  CT_JSON, NUMPY_HASH_JSON, 10, "123",
	  ",\"package\":\"numpy\"" EV_NULLS },
	{ __LINE__, fx_hash, "GET", "/simple/numpy/", "application/json",
	  NULL, 1, 200, NULL, CT_HTML, NUMPY_HASH, 10, "123", NULL },
	{ __LINE__, fx_hash, "GET", "/simple/numpy/",
	  "application/vnd.pypi.simple.v1+json", "{etag}", 1, 304, NULL, NULL,
	  "", 10, "123", NULL },
	{ __LINE__, fx_hash, "GET", "/simple/numpy/", NULL,
	  "\"notit\", {etag}", 1, 304, NULL, NULL, "", 10, "123", NULL },

	/* 067: merged spellings, escaping, yanked, core metadata */
	{ __LINE__, fx_demo, "GET", "/simple/demo-pkg/", "text/html", NULL, 1,
	  200, NULL, CT_HTML, DEMO_HTML, 10, "demo-1",
	  ",\"package\":\"demo-pkg\"" EV_NULLS },
	{ __LINE__, fx_demo, "GET", "/simple/demo-pkg/", PJ, NULL, 1, 200,
	  NULL, CT_JSON, DEMO_JSON, 10, "demo-1", NULL },
	{ __LINE__, fx_demo, "GET", "/simple/", NULL, NULL, 1, 200, NULL,
	  CT_HTML, DEMO_ROOT, 10, NULL, NULL },
	{ __LINE__, fx_demo, "GET", "/simple/", PJ, NULL, 1, 200, NULL,
	  CT_JSON, "{\"meta\":{\"api-version\":\"1.0\"},\"projects\":["
	  "{\"name\":\"Demo_Pkg\"},{\"name\":\"Odd Name&Co\"},"
	  "{\"name\":\"other\"}]}", 10, NULL, NULL },
	{ __LINE__, fx_demo, "GET", "/simple/Demo_Pkg/", NULL, NULL, 1, 301,
	  "https://pypi.example:8443/simple/demo-pkg/", NULL, "", 10,
	  "demo-1", ",\"package\":\"demo-pkg\"" EV_NULLS },
	/* 068: <file>.metadata; the duplicate file is the first one */
	{ __LINE__, fx_demo, "GET",
	  "/simple/demo-pkg/demo_pkg-2.0-py3-none-any.whl.metadata", NULL,
	  NULL, 1, 307, "https://files.example/packages/"
	  "demo_pkg-2.0-py3-none-any.whl.metadata", NULL, "", 10, "demo-1",
	  ",\"package\":\"demo-pkg\",\"version\":\"2.0\",\"file-name\":"
	  "\"demo_pkg-2.0-py3-none-any.whl\"" },
	{ __LINE__, fx_demo, "GET", "/simple/demo.pkg/demo_pkg-1.0.tar.gz",
	  NULL, NULL, 1, 307, "https://files.example/packages/"
	  "demo_pkg-1.0.tar.gz", NULL, "", 11, "demo-2",
	  ",\"package\":\"demo-pkg\",\"version\":\"1.0\",\"file-name\":"
	  "\"demo_pkg-1.0.tar.gz\"" },
	{ __LINE__, fx_demo, "GET",
	  "/simple/demo-pkg/demo_pkg-1.0.tar.gz.metadata", NULL, NULL, 0, 0,
	  NULL, NULL, NULL, 0, NULL, NULL },
	/* odd names: encoded segments, metadata before the query */
	{ __LINE__, fx_demo, "GET", "/simple/odd%20name&co/", NULL, NULL, 1,
	  200, NULL, CT_HTML, ODD_HTML, 14, "odd", NULL },
	{ __LINE__, fx_demo, "GET", "/simple/odd%20name&co/", PJ, NULL, 1,
	  200, NULL, CT_JSON, ODD_JSON, 14, "odd", NULL },
	{ __LINE__, fx_demo, "GET", "/simple/Odd%20Name&Co", NULL, NULL, 1,
	  301, "https://pypi.example:8443/simple/odd%20name&co/", NULL, "", 14,
	  "odd", ",\"package\":\"odd name&co\"" EV_NULLS },
	{ __LINE__, fx_demo, "GET", "/simple/odd%20name%26co/o'dd%20%231.whl",
	  NULL, NULL, 1, 307, "https://files.example/o?sig=a%20b#frag", NULL,
	  "", 14, "odd", NULL },
	{ __LINE__, fx_demo, "GET",
	  "/simple/odd%20name&co/o'dd%20%231.whl.metadata", NULL, NULL, 1, 307,
	  "https://files.example/o.metadata?sig=a%20b", NULL, "", 14, "odd",
	  NULL },
	/* a file literally named ….metadata wins */
	{ __LINE__, fx_demo, "GET", "/simple/other/other-1.whl.metadata", NULL,
	  NULL, 1, 307, "https://files.example/literal.metadata", NULL, "",
	  15, "oth", NULL },
	{ __LINE__, fx_demo, "GET", "/simple/other/", PJ, NULL, 1, 200, NULL,
	  CT_JSON, "{\"meta\":{\"api-version\":\"1.0\"},\"name\":\"other\","
	  "\"files\":[{\"filename\":\"other-1.whl.metadata\",\"url\":"
	  "\"/simple/other/other-1.whl.metadata\",\"hashes\":{}},"
	  "{\"filename\":\"other-1.whl\",\"url\":\"/simple/other/other-1.whl\","
	  "\"hashes\":{},\"yanked\":true,\"core-metadata\":true}]}", 15, "oth",
	  NULL },
	/* §7.7: the first index URL of the rule set (a trailing '/' added) */
	{ __LINE__, fx_demo, "GET", "/simple/Requests/", NULL, NULL, 1, 307,
	  "https://pypi.example.org/simple/requests/", NULL, "", 14, NULL,
	  ",\"package\":\"requests\"" EV_NULLS },
	{ __LINE__, fx_demo, "HEAD", "/simple/Foo__Bar.baz?x=1", NULL, NULL, 1,
	  307, "https://pypi.example.org/simple/foo-bar-baz/", NULL, "", 14,
	  NULL, ",\"package\":\"foo-bar-baz\"" EV_NULLS },
	{ __LINE__, fx_demo, "GET", "/simple/a%2Fb%3F/", NULL, NULL, 1, 307,
	  "https://pypi.example.org/simple/a%2Fb%3F/", NULL, "", 14, NULL,
	  ",\"package\":\"a/b?\"" EV_NULLS },
	{ __LINE__, fx_demo, "GET", "/simple/requests/x.whl", NULL, NULL, 0, 0,
	  NULL, NULL, NULL, 0, NULL, NULL },

	/* 062, 069 */
	{ __LINE__, fx_zope, "GET", "/simple/zope.interface/", NULL, NULL, 1,
	  301, "https://pypi.example:8443/simple/zope-interface/", NULL, "",
	  10, "zope", ",\"package\":\"zope-interface\"" EV_NULLS },
	{ __LINE__, fx_zope, "GET", "/simple/zope-interface/", NULL, NULL, 1,
	  200, NULL, CT_HTML, NULL, 10, "zope", NULL },
	{ __LINE__, fx_zope, "GET", "/simple/Requests/", NULL, NULL, 1, 307,
	  "https://pypi.org/simple/requests/", NULL, "", 11, NULL,
	  ",\"package\":\"requests\"" EV_NULLS },
};

static void
test_handle(void)
{
	const struct rspec *fx = NULL;
	struct rule	**rules = NULL;
	struct pyindex	*idx = NULL;
	struct exch	 x, pre;
	struct buf	 inm = BUF_INIT;
	size_t		 i, nrules = 0;
	const char	*loc, *want_inm, *at, *etag;
	char		 lenbuf[32], pre_etag[64];

	for (i = 0; i < sizeof(rt) / sizeof(rt[0]); i++) {
		int line = rt[i].line;

		if (rt[i].fx != fx) {
			pyindex_free(idx);
			if (rules != NULL)
				rules_free(rules, nrules);
			fx = rt[i].fx;
			rules = rules_make(fx, &nrules);
			idx = pyindex_build(rules, nrules);
		}
		want_inm = rt[i].inm;
		pre_etag[0] = '\0';
		if (want_inm != NULL &&
		    (at = strstr(want_inm, "{etag}")) != NULL) {
			exch_run(&pre, idx, "GET", rt[i].uri, rt[i].accept,
			    NULL);
			etag = resp_get_header(&pre.resp, "ETag");
			buf_reset(&inm);
			buf_add(&inm, want_inm, (size_t)(at - want_inm));
			buf_adds(&inm, etag ? etag : "?");
			buf_adds(&inm, at + 6);
			snprintf(pre_etag, sizeof(pre_etag), "%s",
			    etag ? etag : "?");
			exch_free(&pre);
			want_inm = buf_cstr(&inm);
		}
		exch_run(&x, idx, rt[i].method, rt[i].uri, rt[i].accept,
		    want_inm);
		is_int_at(line, x.handled, rt[i].handled, "%s %s: handled",
		    rt[i].method, rt[i].uri);
		if (!rt[i].handled || !x.handled) {
			exch_free(&x);
			continue;
		}
		is_int_at(line, x.resp.status, rt[i].status, "%s %s: status",
		    rt[i].method, rt[i].uri);
		loc = resp_get_header(&x.resp, "Location");
		is_str_at(line, loc, rt[i].location, "%s %s: Location",
		    rt[i].method, rt[i].uri);
		is_str_at(line, x.ev.location, rt[i].location,
		    "%s %s: logged location", rt[i].method, rt[i].uri);
		if (rt[i].status == 200 || rt[i].status == 304) {
			is_str_at(line, resp_get_header(&x.resp, "Vary"),
			    "Accept", "%s %s: Vary", rt[i].method, rt[i].uri);
			ok_at(line, header_count(&x.resp, "ETag") == 1,
			    "%s %s: one ETag", rt[i].method, rt[i].uri);
		} else
			ok_at(line, header_count(&x.resp, "ETag") == 0 &&
			    header_count(&x.resp, "Vary") == 0,
			    "%s %s: no ETag or Vary", rt[i].method, rt[i].uri);
		if (rt[i].status == 304) {
			if (pre_etag[0] != '\0')
				is_str_at(line, resp_get_header(&x.resp,
				    "ETag"), pre_etag, "%s %s: 304 ETag",
				    rt[i].method, rt[i].uri);
			ok_at(line, x.resp.no_length, "%s %s: 304 without "
			    "Content-Length", rt[i].method, rt[i].uri);
		}
		is_str_at(line, resp_get_header(&x.resp, "Content-Type"),
		    rt[i].ctype, "%s %s: Content-Type", rt[i].method,
		    rt[i].uri);
		if (rt[i].body != NULL) {
			is_str_at(line, buf_cstr(&x.resp.body), rt[i].body,
			    "%s %s: body", rt[i].method, rt[i].uri);
			if (rt[i].status == 200) {
				snprintf(lenbuf, sizeof(lenbuf), "%zu",
				    strlen(rt[i].body));
				ok_at(line, x.resp.body.n == strlen(rt[i].body),
				    "%s %s: length %s", rt[i].method,
				    rt[i].uri, lenbuf);
			}
		}
		is_int_at(line, x.ev.type, GW_T_PYTHON, "%s %s: event type",
		    rt[i].method, rt[i].uri);
		is_int_at(line, x.ev.rule_index, rt[i].rule_index,
		    "%s %s: rule-index", rt[i].method, rt[i].uri);
		is_str_at(line, x.ev.package_id, rt[i].pkgid,
		    "%s %s: package-id", rt[i].method, rt[i].uri);
		if (rt[i].extra != NULL)
			is_str_at(line, buf_cstr(&x.ev.extra), rt[i].extra,
			    "%s %s: python event fields", rt[i].method,
			    rt[i].uri);
		exch_free(&x);
	}
	pyindex_free(idx);
	rules_free(rules, nrules);
	buf_free(&inm);
}

/*
 * §7.6: HTML and JSON have their own ETags; one does not validate the
 * other, and an ETag stays the same across index builds.
 */
static void
test_etag_per_representation(void)
{
	struct rule	**rules;
	struct pyindex	*idx, *idx2;
	struct exch	 x;
	char		 html[64], json[64];
	size_t		 n;

	rules = rules_make(fx_hash, &n);
	idx = pyindex_build(rules, n);
	exch_run(&x, idx, "GET", "/simple/numpy/", NULL, NULL);
	snprintf(html, sizeof(html), "%s", resp_get_header(&x.resp, "ETag"));
	exch_free(&x);
	exch_run(&x, idx, "GET", "/simple/numpy/", PJ, NULL);
	snprintf(json, sizeof(json), "%s", resp_get_header(&x.resp, "ETag"));
	exch_free(&x);
	ok(strcmp(html, json) != 0, "HTML and JSON ETags differ");
	exch_run(&x, idx, "GET", "/simple/numpy/", PJ, html);
	is_int(x.resp.status, 200, "HTML ETag on the JSON page: 200");
	exch_free(&x);
	exch_run(&x, idx, "GET", "/simple/numpy/", NULL, json);
	is_int(x.resp.status, 200, "JSON ETag on the HTML page: 200");
	exch_free(&x);
	exch_run(&x, idx, "GET", "/simple/", NULL, html);
	is_int(x.resp.status, 200, "project ETag on the root page: 200");
	exch_free(&x);

	idx2 = pyindex_build(rules, n);
	exch_run(&x, idx2, "GET", "/simple/numpy/", NULL, html);
	is_int(x.resp.status, 304, "ETag stable across builds");
	exch_free(&x);
	pyindex_free(idx2);
	pyindex_free(idx);
	rules_free(rules, n);
}

/* The Content-Length values the conformance cases give. */
static void
test_lengths(void)
{
	static const struct {
		int		 line;
		const char	*uri;
		size_t		 len;
	} t[] = {
		{ __LINE__, "/simple/", 118 },		/* 031, 038 */
		{ __LINE__, "/simple/numpy/", 196 },	/* 036, 064 */
		{ __LINE__, "/simple/cipy/", 118 },
	};
	struct rule	**rules;
	struct pyindex	*idx;
	struct exch	 x;
	size_t		 i, n;

	rules = rules_make(fx_cool, &n);
	idx = pyindex_build(rules, n);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		exch_run(&x, idx, "GET", t[i].uri, NULL, NULL);
		is_int_at(t[i].line, x.resp.body.n, t[i].len, "length of %s",
		    t[i].uri);
		exch_free(&x);
	}
	pyindex_free(idx);
	rules_free(rules, n);

	/* 037, 035: one numpy rule */
	rules = rules_make(fx_cool, &n);
	idx = pyindex_build(rules, 1);
	exch_run(&x, idx, "HEAD", "/simple/", NULL, NULL);
	is_int(x.resp.body.n, 81, "037: root length with one project");
	exch_free(&x);
	exch_run(&x, idx, "HEAD", "/simple/numpy/", NULL, NULL);
	is_int(x.resp.body.n, 126, "035: project length with one file");
	exch_free(&x);
	pyindex_free(idx);

	/* 033 and 067 */
	idx = pyindex_build(rules, 0);
	exch_run(&x, idx, "GET", "/simple/", NULL, NULL);
	is_str(buf_cstr(&x.resp.body),
	    "<!DOCTYPE html><html><body>\n</body></html>",
	    "an empty index still has a root page");
	is_int(x.ev.rule_index, -1, "empty index: rule-index null");
	exch_free(&x);
	pyindex_free(idx);
	rules_free(rules, n);
	is_int(strlen(NUMPY_HASH), 354, "033: length 354");
	is_int(strlen(DEMO_HTML), 618, "067: length 618");
}

/*
 * Many projects: every one is found by its normalised and its spelled
 * name, the root lists them in manifest order, unknown names are not
 * found.  Checks the sorted look-up against a linear reference.
 */
static void
test_big(void)
{
	enum { NP = 1500, NF = 3 };
	struct rspec	*fx;
	struct rule	**rules;
	struct pyindex	*idx;
	struct exch	 x;
	struct buf	 b = BUF_INIT, want = BUF_INIT;
	char		 name[64], file[64];
	size_t		 i, n, bad = 0, badloc = 0;
	unsigned	 h;

	fx = xcalloc(NP * NF + 1, sizeof(*fx));
	buf_adds(&want, "<!DOCTYPE html><html><body>\n");
	for (i = 0; i < NP * NF; i++) {
		size_t p = i % NP;

		/* a scrambled but deterministic name per project */
		h = (unsigned)(p * 2654435761u);
		snprintf(name, sizeof(name), "Pkg_%08x.%zu", h, p);
		snprintf(file, sizeof(file), "f%zu-%zu.whl", p, i / NP);
		fx[i].name = xstrdup(name);
		fx[i].file = xstrdup(file);
		fx[i].version = "1";
		fx[i].pkgid = "p";
		buf_reset(&b);
		buf_printf(&b, "https://files.example/%s", file);
		fx[i].url = buf_steal(&b);
		fx[i].gpg = -1;
		if (i < NP)
			buf_printf(&want, "<a href=\"/simple/pkg-%08x-%zu/\">"
			    "%s</a><br>\n", h, p, name);
	}
	buf_adds(&want, "</body></html>");
	rules = rules_make(fx, &n);
	idx = pyindex_build(rules, n);

	exch_run(&x, idx, "GET", "/simple/", NULL, NULL);
	ok(strcmp(buf_cstr(&x.resp.body), buf_cstr(&want)) == 0,
	    "big index: root in manifest order");
	exch_free(&x);
	for (i = 0; i < NP * NF; i++) {
		size_t p = i % NP;

		h = (unsigned)(p * 2654435761u);
		buf_reset(&b);
		buf_printf(&b, "/simple/PKG-%08X_-_%zu/f%zu-%zu.whl", h, p, p,
		    i / NP);
		exch_run(&x, idx, "GET", buf_cstr(&b), NULL, NULL);
		if (x.resp.status != 307)
			bad++;
		else if (strcmp(resp_get_header(&x.resp, "Location"),
		    fx[i].url) != 0 || x.ev.rule_index != 10 + (int)i)
			badloc++;
		exch_free(&x);
	}
	is_int(bad, 0, "big index: every file found");
	is_int(badloc, 0, "big index: right file and rule");
	for (i = 0; i < 200; i++) {
		buf_reset(&b);
		buf_printf(&b, "/simple/pkg-%08x-%zu/", (unsigned)(i * 7919u),
		    i + NP);
		exch_run(&x, idx, "GET", buf_cstr(&b), NULL, NULL);
		if (x.handled)
			bad++;
		exch_free(&x);
	}
	is_int(bad, 0, "big index: unknown names not found");

	pyindex_free(idx);
	rules_free(rules, n);
	for (i = 0; i < NP * NF; i++) {
		free((char *)(uintptr_t)fx[i].name);
		free((char *)(uintptr_t)fx[i].file);
		free((char *)(uintptr_t)fx[i].url);
	}
	free(fx);
	buf_free(&b);
	buf_free(&want);
}

int
main(void)
{
	test_sha256();
	test_etag_of();
	test_negotiate();
	test_etag_matches();
	test_handle();
	test_etag_per_representation();
	test_lengths();
	test_big();
	return done_testing();
}
