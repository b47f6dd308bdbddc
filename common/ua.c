/*
 * The redirect-capable User-Agents of SPEC §3.3 (ua.h): the default list
 * and the manifest's settings.docker-redirect-user-agents.
 */
#include "config.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ua.h"
#include "xmalloc.h"

/*
 * §3.3 default list of redirect-capable clients.  Writable arrays because
 * struct ua_rule holds plain char pointers (parsed lists own theirs).
 */
static char d_docker[] = "docker/", d_client[] = "Docker-Client",
    d_containerd[] = "containerd", d_149[] = "1.4.9", d_15[] = "1.5",
    d_155[] = "1.5.5", d_watchtower[] = "Watchtower (Docker)";
static struct ua_rule default_rules[] = {
	{ UA_PREFIX, d_docker, NULL, NULL },
	{ UA_CONTAINS, d_client, NULL, NULL },
	{ UA_PRODUCT, d_containerd, d_149, d_15 },
	{ UA_PRODUCT, d_containerd, d_155, NULL },
	{ UA_EQUALS, d_watchtower, NULL, NULL },
};
static const struct ua_list default_list = {
	default_rules, sizeof(default_rules) / sizeof(default_rules[0]),
};

#define MAXVER 8

/* Parses N[.N]...; returns the number of components, 0 if none. */
static size_t
version_parse(const char *s, unsigned long v[MAXVER])
{
	size_t	 n = 0;

	memset(v, 0, MAXVER * sizeof(v[0]));
	while (isdigit((unsigned char)*s)) {
		unsigned long x = 0;
		while (isdigit((unsigned char)*s)) {
			if (x < 100000000UL)
				x = x * 10 + (unsigned long)(*s - '0');
			s++;
		}
		if (n < MAXVER)
			v[n] = x;
		n++;
		if (*s != '.' || !isdigit((unsigned char)s[1]))
			break;
		s++;
	}
	return n;
}

static int
version_cmp(const unsigned long *a, const unsigned long *b)
{
	size_t	 i;

	for (i = 0; i < MAXVER; i++)
		if (a[i] != b[i])
			return a[i] < b[i] ? -1 : 1;
	return 0;
}

static int
product_match(const struct ua_rule *r, const char *ua)
{
	unsigned long	 v[MAXVER], lo[MAXVER], hi[MAXVER];
	size_t		 plen = strlen(r->s);
	const char	*p, *q;

	version_parse(r->min, lo);
	if (r->below != NULL)
		version_parse(r->below, hi);
	for (p = strstr(ua, r->s); p != NULL; p = strstr(p + 1, r->s)) {
		q = p + plen;
		if (*q != '/')
			continue;
		q++;
		if (*q == 'v')
			q++;
		if (version_parse(q, v) == 0)
			continue;
		if (version_cmp(v, lo) >= 0 &&
		    (r->below == NULL || version_cmp(v, hi) < 0))
			return 1;
	}
	return 0;
}

int
ua_redirect_capable(const struct ua_list *l, const char *ua)
{
	size_t			 i;
	const struct ua_rule	*r;

	if (l == NULL)
		l = &default_list;
	if (ua == NULL)
		return 0;
	for (i = 0; i < l->n; i++) {
		r = &l->v[i];
		switch (r->kind) {
		case UA_PREFIX:
			if (strncmp(ua, r->s, strlen(r->s)) == 0)
				return 1;
			break;
		case UA_CONTAINS:
			if (strstr(ua, r->s) != NULL)
				return 1;
			break;
		case UA_EQUALS:
			if (strcmp(ua, r->s) == 0)
				return 1;
			break;
		case UA_PRODUCT:
			if (product_match(r, ua))
				return 1;
			break;
		}
	}
	return 0;
}

void
ua_list_free(struct ua_list *l)
{
	size_t	 i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++) {
		free(l->v[i].s);
		free(l->v[i].min);
		free(l->v[i].below);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int
valid_version(const char *s)
{
	unsigned long	 v[MAXVER];
	size_t		 n;
	const char	*p = s;

	if ((n = version_parse(s, v)) == 0)
		return 0;
	/* the whole string must be the version */
	while (isdigit((unsigned char)*p) || *p == '.')
		p++;
	return *p == '\0' && p[-1] != '.';
}

static const char *
str_member(const cJSON *o, const char *key, int *bad)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, key);

	if (m == NULL || cJSON_IsNull(m))
		return NULL;
	if (!cJSON_IsString(m)) {
		*bad = 1;
		return NULL;
	}
	return m->valuestring;
}

int
ua_list_parse(const cJSON *arr, struct ua_list *out, char *err,
    size_t errlen)
{
	const cJSON	*e;
	size_t		 i = 0;
	int		 bad;

	memset(out, 0, sizeof(*out));
	if (!cJSON_IsArray(arr)) {
		snprintf(err, errlen, "must be an array");
		return -1;
	}
	cJSON_ArrayForEach(e, arr) {
		struct ua_rule	 r;
		const char	*pre, *con, *equ, *pro, *min, *bel;
		int		 forms;

		memset(&r, 0, sizeof(r));
		bad = 0;
		if (!cJSON_IsObject(e)) {
			snprintf(err, errlen, "[%lu]: must be an object",
			    (unsigned long)i);
			goto fail;
		}
		pre = str_member(e, "prefix", &bad);
		con = str_member(e, "contains", &bad);
		equ = str_member(e, "equals", &bad);
		pro = str_member(e, "product", &bad);
		min = str_member(e, "min-version", &bad);
		bel = str_member(e, "below-version", &bad);
		if (bad) {
			snprintf(err, errlen, "[%lu]: values must be strings",
			    (unsigned long)i);
			goto fail;
		}
		forms = (pre != NULL) + (con != NULL) + (equ != NULL) +
		    (pro != NULL);
		if (forms != 1) {
			snprintf(err, errlen, "[%lu]: must have exactly one of "
			    "\"prefix\", \"contains\", \"equals\", \"product\"",
			    (unsigned long)i);
			goto fail;
		}
		if (pro != NULL) {
			if (min == NULL || !valid_version(min) ||
			    (bel != NULL && !valid_version(bel))) {
				snprintf(err, errlen, "[%lu]: \"product\" needs "
				    "a numeric \"min-version\" (and an optional "
				    "numeric \"below-version\")",
				    (unsigned long)i);
				goto fail;
			}
			r.kind = UA_PRODUCT;
			r.s = xstrdup(pro);
			r.min = xstrdup(min);
			r.below = xstrdup_null(bel);
		} else {
			r.kind = pre ? UA_PREFIX : con ? UA_CONTAINS : UA_EQUALS;
			r.s = xstrdup(pre ? pre : con ? con : equ);
		}
		out->v = xreallocarray(out->v, out->n + 1, sizeof(*out->v));
		out->v[out->n++] = r;
		i++;
	}
	return 0;
fail:
	ua_list_free(out);
	return -1;
}
