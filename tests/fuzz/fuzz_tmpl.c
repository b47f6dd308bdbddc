/*
 * libFuzzer target for the URI templates (common/tmpl.c) and the file-rule
 * helpers (common/filerule.c).
 *
 * Input: "template LF path LF query", the last parts optional.  The
 * template is parsed; when it parses, it is matched against path and query
 * twice (the results must be identical), and expanded with its own
 * captures, with every variable set to the path bytes, and with every
 * variable empty: no expansion may contain a byte outside 0x21-0x7E (so
 * never CR, LF or NUL), and neither may the expansion after query
 * forwarding.  The whole input is also fed to body_events(), whose output
 * must be one line of valid JSON (an array).
 *
 *	./fuzz_tmpl tests/fuzz/corpus/tmpl
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "filerule.h"
#include "tmpl.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_safe(const struct buf *b, const char *what)
{
	size_t	 i;

	for (i = 0; i < b->n; i++)
		if ((unsigned char)b->p[i] < 0x21 ||
		    (unsigned char)b->p[i] > 0x7e) {
			fprintf(stderr, "%s: byte 0x%02x at %zu in '%.*s'\n",
			    what, (unsigned char)b->p[i], i, (int)b->n, b->p);
			abort();
		}
}

/* Expands t with vs (NULL: every variable empty); checks the result and
 * the result after query forwarding. */
static void
check_expand(const struct tmpl *t, const struct tmpl_vars *vs,
    const char *query)
{
	struct buf	 out = BUF_INIT;

	if (vs == NULL)
		tmpl_expand_empty(t, &out);
	else if (tmpl_expand(t, vs, &out) == -1) {
		buf_free(&out);
		return;
	}
	check_safe(&out, "expansion");
	url_forward_query(&out, query);
	check_safe(&out, "forwarded expansion");
	buf_free(&out);
}

static int
vars_equal(const struct tmpl_vars *a, const struct tmpl_vars *b)
{
	size_t	 i;

	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i].name, b->v[i].name) != 0 ||
		    a->v[i].len != b->v[i].len ||
		    memcmp(a->v[i].value, b->v[i].value, a->v[i].len) != 0)
			return 0;
	return 1;
}

static void
check_body_events(const uint8_t *data, size_t size)
{
	struct buf	 out = BUF_INIT;
	cJSON		*j;

	body_events((const char *)data, size, &out);
	if (memchr(out.p, '\n', out.n) != NULL ||
	    memchr(out.p, '\r', out.n) != NULL ||
	    (j = cJSON_ParseWithLength(out.p, out.n)) == NULL ||
	    !cJSON_IsArray(j) || cJSON_GetArraySize(j) > 10) {
		fprintf(stderr, "body_events: bad output '%s'\n", out.p);
		abort();
	}
	cJSON_Delete(j);
	buf_free(&out);
}

/*
 * Sets every variable named in the template source to value: names are
 * read from the text between '{' and '}' (after an operator, split on ',',
 * without a modifier); tmpl_uses() confirms each.
 */
static void
set_all(const struct tmpl *t, const char *src, const char *value,
    size_t len, struct tmpl_vars *vs)
{
	const char	*s = src, *e;
	char		 name[256];
	size_t		 n;

	vs->n = 0;
	while ((s = strchr(s, '{')) != NULL) {
		s++;
		if (*s != '\0' && strchr("+#./;?&", *s) != NULL)
			s++;
		for (;;) {
			n = strcspn(s, ",}:*");
			if (n < sizeof(name)) {
				memcpy(name, s, n);
				name[n] = '\0';
				if (tmpl_uses(t, name))
					tmpl_vars_set(vs, name, value, len);
			}
			s += n;
			if (*s == ':' || *s == '*')
				s += strcspn(s, ",}");
			if (*s != ',')
				break;
			s++;
		}
		if ((e = strchr(s, '}')) == NULL)
			break;
		s = e + 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*p = (const char *)data, *nl;
	char		*src, *query;
	const char	*path;
	size_t		 srclen, pathlen = 0, querylen = 0, i;
	struct tmpl	*t;
	struct tmpl_vars a, b, all;
	char		 err[128];
	int		 ra, rb;

	check_body_events(data, size);

	nl = memchr(p, '\n', size);
	srclen = nl ? (size_t)(nl - p) : size;
	src = strndup(p, srclen);	/* stops at a NUL, as a JSON string */
	path = nl ? nl + 1 : p + size;
	if (nl != NULL) {
		pathlen = size - srclen - 1;
		if ((nl = memchr(path, '\n', pathlen)) != NULL) {
			querylen = pathlen - (size_t)(nl - path) - 1;
			pathlen = (size_t)(nl - path);
		}
	}
	/* the raw query is a C string in a request */
	query = strndup(nl ? nl + 1 : "", querylen);

	if (tmpl_parse(src, &t, err, sizeof(err)) == -1) {
		if (err[0] == '\0' || strlen(err) >= sizeof(err) - 1)
			abort();	/* a message, short and complete */
		free(src);
		free(query);
		return 0;
	}
	ra = tmpl_match(t, path, pathlen, query, strlen(query), &a);
	rb = tmpl_match(t, path, pathlen, query, strlen(query), &b);
	if (ra != rb || (ra && !vars_equal(&a, &b))) {
		fprintf(stderr, "matching is not deterministic\n");
		abort();
	}
	if (ra) {
		for (i = 0; i < a.n; i++)
			if (a.v[i].value == NULL)
				abort();	/* only defined variables */
		check_expand(t, &a, query);
		tmpl_vars_free(&a);
		tmpl_vars_free(&b);
	}
	/* every variable the template uses set to the raw path bytes */
	set_all(t, src, path, pathlen, &all);
	check_expand(t, &all, query);
	tmpl_vars_free(&all);
	check_expand(t, NULL, query);

	tmpl_free(t);
	free(src);
	free(query);
	return 0;
}
