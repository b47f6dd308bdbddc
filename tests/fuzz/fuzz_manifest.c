/*
 * libFuzzer harness for the manifest loader (common/manifest.c): JSON
 * syntax scan, validation of every rule type, indexing, host lookup and
 * freeing.  Seeds: tests/fuzz/corpus/manifest/ (conformance manifests).
 *
 *	fuzz_manifest -dict=tests/fuzz/manifest.dict \
 *	    tests/fuzz/corpus/manifest
 *
 * Besides the sanitizers, it checks the loader's own invariants and aborts
 * when one fails: a failed load has at least one error line, every
 * diagnostic is single-line text, each rule set is in precedence order
 * with consistent spans, and every set is found by lookup.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "ruletype.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(c) do { if (!(c)) abort(); } while (0)

/* Lines of text, each ending in LF, no other control bytes. */
static void
check_lines(const struct buf *b)
{
	size_t	 i;

	CHECK(b->n == 0 || b->p[b->n - 1] == '\n');
	for (i = 0; i < b->n; i++)
		CHECK(b->p[i] == '\n' || (unsigned char)b->p[i] >= 0x20 ||
		    b->p[i] == '\t');
}

static void
check_manifest(const struct manifest *m)
{
	const struct ruleset	*s;
	const struct rule	*r;
	char			 host[512];
	const struct rule_span	*sp;
	size_t			 i, j, k, total = 0;

	for (i = 0; i < m->nsets; i++) {
		s = &m->sets[i];
		CHECK(i == 0 || strcmp(m->sets[i - 1].domain, s->domain) < 0);
		CHECK(s->nrules > 0);
		total += s->nrules;
		for (k = 0; k < s->nrules; k++) {
			r = s->rules[k];
			CHECK(strcmp(r->domain, s->domain) == 0);
			CHECK(r->type == rule_types[r->rank]);
			CHECK(k == 0 || s->rules[k - 1]->rank <= r->rank);
		}
		for (j = 0, k = 0; j < s->nspans; j++) {
			sp = &s->spans[j];
			CHECK(sp->first == k && sp->count > 0);
			CHECK(j == 0 || s->spans[j - 1].type != sp->type);
			CHECK(s->rules[sp->first]->type == sp->type);
			CHECK((sp->index != NULL) == (sp->type->index != NULL));
			k += sp->count;
		}
		CHECK(k == s->nrules);
		CHECK(manifest_lookup(m, s->domain) == s);
		if (s->domain[0] == '*' && strlen(s->domain) < 500) {
			host[0] = 'a';
			strcpy(host + 1, s->domain + 1);
			CHECK(manifest_lookup(m, host) != NULL);
		}
	}
	CHECK(total == m->nrules);
	for (i = 0; i < m->nrules; i++) {
		r = &m->rules[i];
		CHECK(r->index == (int)i && r->domain != NULL);
		CHECK(r->package_id != NULL ||
		    strcmp(r->type->name, "docker-v2") == 0);
	}
	(void)manifest_lookup(m, "");
	(void)manifest_lookup(m, "a.b.c.example.com");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct manifest_diag	 d = { BUF_INIT, BUF_INIT };
	struct manifest		*m = NULL;

	if (manifest_parse("fuzz.json", (const char *)data, size, &m,
	    &d) == 0) {
		CHECK(m != NULL && d.errors.n == 0);
		check_manifest(m);
		manifest_ref(m);
		manifest_unref(m);
		manifest_unref(m);
	} else {
		CHECK(m == NULL && d.errors.n > 0);
		/* the syntax scan and cJSON must agree on what is JSON */
		if (strncmp(d.errors.p, "fuzz.json:", 10) == 0 &&
		    d.errors.p[10] >= '0' && d.errors.p[10] <= '9') {
			static const char cp[] = ": cannot parse\n";

			CHECK(d.errors.n < sizeof(cp) || strcmp(d.errors.p +
			    d.errors.n - (sizeof(cp) - 1), cp) != 0);
		}
	}
	check_lines(&d.errors);
	check_lines(&d.warnings);
	manifest_diag_free(&d);
	return 0;
}
