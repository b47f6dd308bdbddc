/*
 * Diagnostics and typed member access for manifest loading (mparse.h).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "arena.h"
#include "buf.h"
#include "mparse.h"
#include "util.h"

/* s quoted as a JSON string, cut after MP_ECHO_MAX bytes.  Valid until the
 * next call. */
const char *
mp_quote(struct mctx *c, const char *s)
{
	size_t	 n = strlen(s), cut = n;

	buf_reset(&c->q);
	if (n > MP_ECHO_MAX) {
		cut = MP_ECHO_MAX;
		while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
			cut--;
	}
	buf_add_jstr(&c->q, s, cut);
	if (cut < n)
		buf_adds(&c->q, "...");
	return buf_cstr(&c->q);
}

const char *
mp_jtype(const cJSON *it)
{
	if (cJSON_IsNull(it))
		return "null";
	if (cJSON_IsBool(it))
		return "boolean";
	if (cJSON_IsNumber(it))
		return "number";
	if (cJSON_IsString(it))
		return "string";
	if (cJSON_IsArray(it))
		return "array";
	if (cJSON_IsObject(it))
		return "object";
	return "invalid";
}

static void __attribute__((format(printf, 4, 0)))
diag_vline(struct mctx *c, struct buf *out, const char *field,
    const char *fmt, va_list ap)
{
	char	 msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	buf_printf(out, "%s: ", c->name);
	if (c->idx >= 0) {
		buf_printf(out, "rules[%d]", c->idx);
		if (c->tname != NULL)
			buf_printf(out, " (%s)", c->tname);
		buf_adds(out, ": ");
	} else if (c->in_settings)
		buf_adds(out, "settings: ");
	if (field != NULL)
		buf_printf(out, "\"%s\": ", field);
	buf_adds(out, msg);
	buf_addc(out, '\n');
}

/* One error line in the current context; field may be NULL. */
void
mp_err(struct mctx *c, const char *field, const char *fmt, ...)
{
	va_list	 ap;

	c->nerrors++;
	if (c->nerrors > MANIFEST_MAXERRORS) {
		if (c->nerrors == MANIFEST_MAXERRORS + 1)
			buf_printf(&c->d->errors,
			    "%s: too many errors, giving up\n", c->name);
		return;
	}
	va_start(ap, fmt);
	diag_vline(c, &c->d->errors, field, fmt, ap);
	va_end(ap);
}

void
mp_warn(struct mctx *c, const char *field, const char *fmt, ...)
{
	va_list	 ap;

	if (++c->nwarnings > MANIFEST_MAXWARNINGS)
		return;
	va_start(ap, fmt);
	diag_vline(c, &c->d->warnings, field, fmt, ap);
	va_end(ap);
}

/* The member key of obj, or NULL.  The last of repeated keys wins. */
const cJSON *
mp_field(struct mctx *c, const cJSON *obj, const char *key)
{
	const cJSON	*it, *found = NULL;
	int		 n = 0;

	for (it = obj->child; it != NULL; it = it->next)
		if (it->string != NULL && strcmp(it->string, key) == 0) {
			found = it;
			n++;
		}
	if (n > 1)
		mp_warn(c, key, "key appears %d times; the last one is used",
		    n);
	return found;
}

/*
 * A string member.  Returns 1 with *out (borrowed from the tree), 0 when
 * it is missing or null (an error when required), -1 after a type error.
 */
int
mp_str(struct mctx *c, const cJSON *obj, const char *key, int required,
    const char **out)
{
	const cJSON	*it;

	*out = NULL;
	it = mp_field(c, obj, key);
	if (it == NULL || (cJSON_IsNull(it) && !required)) {
		if (required) {
			mp_err(c, key, "required field is missing");
			return -1;
		}
		return 0;
	}
	if (!cJSON_IsString(it)) {
		mp_err(c, key, "must be a string (got %s)", mp_jtype(it));
		return -1;
	}
	*out = it->valuestring;
	return 1;
}

/* A boolean member: 1 with *out, 0 when missing or null, -1 on error. */
int
mp_bool(struct mctx *c, const cJSON *obj, const char *key, int *out)
{
	const cJSON	*it;

	it = mp_field(c, obj, key);
	if (it == NULL || cJSON_IsNull(it))
		return 0;
	if (!cJSON_IsBool(it)) {
		mp_err(c, key, "must be a boolean (got %s)", mp_jtype(it));
		return -1;
	}
	*out = cJSON_IsTrue(it) ? 1 : 0;
	return 1;
}

/* Copies a required string member into *dst (unchanged on failure). */
int
mp_take_str(struct mctx *c, const cJSON *obj, const char *key,
    const char **dst)
{
	const char	*s;
	int		 rc;

	if ((rc = mp_str(c, obj, key, 1, &s)) == 1)
		*dst = arena_strdup(c->arena, s);
	return rc;
}

/* Optional string member into *dst. */
int
mp_take_opt_str(struct mctx *c, const cJSON *obj, const char *key,
    const char **dst)
{
	const char	*s;
	int		 rc;

	if ((rc = mp_str(c, obj, key, 0, &s)) == 1)
		*dst = arena_strdup(c->arena, s);
	return rc;
}

static int
is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

int
mp_is_hostch(int c)
{
	return is_alnum(c) || c == '-' || c == '_' || c == '.';
}

int
mp_is_v6ch(int c)
{
	return hexval(c) >= 0 || c == ':' || c == '.';
}
