/*
 * A strict JSON (RFC 8259) syntax scanner with precise error positions.
 * cJSON accepts more than the RFC and says nothing about why a text is not
 * JSON; the manifest loader needs "line:column: reason" (SPEC §1.5) and
 * the body-event parser (§5.6) needs to find where one value ends.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "util.h"

#define JSON_MAXDEPTH		512


struct jscan {
	const unsigned char	*s;
	size_t			 n, i;
	size_t			 erri;		/* offset of the error */
	int			 depth;
	char			 msg[96];
};

static int	js_value(struct jscan *);

static int
js_fail(struct jscan *j, size_t at, const char *msg)
{
	j->erri = at;
	snprintf(j->msg, sizeof(j->msg), "%s", msg);
	return -1;
}

/*
 * Reports that something else was expected at the current position.  Two
 * common slips get their own message: comments and single quotes.
 */
static int
js_expect(struct jscan *j, const char *what)
{
	j->erri = j->i;
	if (j->i >= j->n)
		snprintf(j->msg, sizeof(j->msg),
		    "unexpected end of input (expected %s)", what);
	else if (j->s[j->i] == '/')
		snprintf(j->msg, sizeof(j->msg),
		    "comments are not allowed in JSON");
	else if (j->s[j->i] == '\'')
		snprintf(j->msg, sizeof(j->msg),
		    "strings must be in double quotes");
	else
		snprintf(j->msg, sizeof(j->msg), "expected %s", what);
	return -1;
}

static void
js_ws(struct jscan *j)
{
	while (j->i < j->n && (j->s[j->i] == ' ' || j->s[j->i] == '\t' ||
	    j->s[j->i] == '\n' || j->s[j->i] == '\r'))
		j->i++;
}

static int
js_peek(const struct jscan *j)
{
	return j->i < j->n ? j->s[j->i] : -1;
}

static int
js_isdigit(int c)
{
	return c >= '0' && c <= '9';
}

static int
js_hex4(const struct jscan *j, size_t at, unsigned *cp)
{
	size_t	 k;
	int	 h;

	if (at > j->n || j->n - at < 4)
		return -1;
	*cp = 0;
	for (k = 0; k < 4; k++) {
		if ((h = hexval(j->s[at + k])) < 0)
			return -1;
		*cp = *cp * 16 + (unsigned)h;
	}
	return 0;
}

/*
 * A string, j->i at its opening quote.  Unescaped control characters,
 * invalid UTF-8 and lone surrogate escapes are errors (RFC 8259 §7, §8.1).
 * So is \u0000: every string of the manifest ends up as a C string.
 */
static int
js_string(struct jscan *j)
{
	size_t		 start = j->i, l;
	unsigned	 cp, lo;
	unsigned char	 c;

	j->i++;
	for (;;) {
		if (j->i >= j->n)
			return js_fail(j, start, "unterminated string");
		c = j->s[j->i];
		if (c == '"') {
			j->i++;
			return 0;
		}
		if (c == '\n' || c == '\r')
			return js_fail(j, start,
			    "unterminated string (line break inside a string)");
		if (c < 0x20)
			return js_fail(j, j->i,
			    "control character in a string (escape it)");
		if (c >= 0x80) {
			l = utf8_seq_len(j->s + j->i, j->n - j->i);
			if (l == 0)
				return js_fail(j, j->i,
				    "invalid UTF-8 in a string");
			j->i += l;
			continue;
		}
		if (c != '\\') {
			j->i++;
			continue;
		}
		if (j->i + 1 >= j->n)
			return js_fail(j, start, "unterminated string");
		c = j->s[j->i + 1];
		if (c != 'u') {
			if (strchr("\"\\/bfnrt", c) == NULL || c == '\0')
				return js_fail(j, j->i,
				    "invalid escape sequence in a string");
			j->i += 2;
			continue;
		}
		if (js_hex4(j, j->i + 2, &cp) == -1)
			return js_fail(j, j->i,
			    "invalid \\u escape (four hex digits expected)");
		if (cp == 0)
			return js_fail(j, j->i, "\\u0000 is not allowed");
		if (cp >= 0xdc00 && cp <= 0xdfff)
			return js_fail(j, j->i, "unpaired surrogate in \\u "
			    "escape");
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (j->i + 12 > j->n || j->s[j->i + 6] != '\\' ||
			    j->s[j->i + 7] != 'u' ||
			    js_hex4(j, j->i + 8, &lo) == -1 ||
			    lo < 0xdc00 || lo > 0xdfff)
				return js_fail(j, j->i, "unpaired surrogate "
				    "in \\u escape");
			j->i += 6;
		}
		j->i += 6;
	}
}

static int
js_number(struct jscan *j)
{
	size_t	 start = j->i;

	if (js_peek(j) == '-')
		j->i++;
	if (js_peek(j) == '0') {
		j->i++;
		if (js_isdigit(js_peek(j)))
			return js_fail(j, start,
			    "invalid number (leading zero)");
	} else if (js_isdigit(js_peek(j))) {
		while (js_isdigit(js_peek(j)))
			j->i++;
	} else
		return js_fail(j, start, "invalid number");
	if (js_peek(j) == '.') {
		j->i++;
		if (!js_isdigit(js_peek(j)))
			return js_fail(j, start, "invalid number");
		while (js_isdigit(js_peek(j)))
			j->i++;
	}
	if (js_peek(j) == 'e' || js_peek(j) == 'E') {
		j->i++;
		if (js_peek(j) == '+' || js_peek(j) == '-')
			j->i++;
		if (!js_isdigit(js_peek(j)))
			return js_fail(j, start, "invalid number");
		while (js_isdigit(js_peek(j)))
			j->i++;
	}
	return 0;
}

static int
js_literal(struct jscan *j, const char *lit)
{
	size_t	 l = strlen(lit);

	if (j->n - j->i < l || memcmp(j->s + j->i, lit, l) != 0)
		return js_fail(j, j->i,
		    "invalid literal (expected true, false or null)");
	j->i += l;
	return 0;
}

static int
js_object(struct jscan *j)
{
	j->i++;
	js_ws(j);
	if (js_peek(j) == '}') {
		j->i++;
		return 0;
	}
	for (;;) {
		if (js_peek(j) != '"')
			return js_expect(j, "a string key in double quotes");
		if (js_string(j) == -1)
			return -1;
		js_ws(j);
		if (js_peek(j) != ':')
			return js_expect(j, "':' after the key");
		j->i++;
		if (js_value(j) == -1)
			return -1;
		js_ws(j);
		if (js_peek(j) == ',') {
			j->i++;
			js_ws(j);
			if (js_peek(j) == '}')
				return js_fail(j, j->i,
				    "trailing comma before '}'");
			continue;
		}
		if (js_peek(j) == '}') {
			j->i++;
			return 0;
		}
		return js_expect(j, "',' or '}'");
	}
}

static int
js_array(struct jscan *j)
{
	j->i++;
	js_ws(j);
	if (js_peek(j) == ']') {
		j->i++;
		return 0;
	}
	for (;;) {
		if (js_value(j) == -1)
			return -1;
		js_ws(j);
		if (js_peek(j) == ',') {
			j->i++;
			js_ws(j);
			if (js_peek(j) == ']')
				return js_fail(j, j->i,
				    "trailing comma before ']'");
			continue;
		}
		if (js_peek(j) == ']') {
			j->i++;
			return 0;
		}
		return js_expect(j, "',' or ']'");
	}
}

static int
js_value(struct jscan *j)
{
	int	 c, rc;

	js_ws(j);
	c = js_peek(j);
	switch (c) {
	case '{':
	case '[':
		if (++j->depth > JSON_MAXDEPTH)
			return js_fail(j, j->i, "nesting too deep");
		rc = c == '{' ? js_object(j) : js_array(j);
		j->depth--;
		return rc;
	case '"':
		return js_string(j);
	case 't':
		return js_literal(j, "true");
	case 'f':
		return js_literal(j, "false");
	case 'n':
		return js_literal(j, "null");
	default:
		if (c == '-' || js_isdigit(c))
			return js_number(j);
		return js_expect(j, "a value");
	}
}

/*
 * Checks that s[0..n) is one JSON value (RFC 8259), with optional
 * whitespace and an optional UTF-8 byte order mark before it.  Beyond the
 * RFC: nesting deeper than JSON_MAXDEPTH and \u0000 are rejected.  Returns
 * 0, or -1 with the byte offset of the problem in *erroff and a message.
 */
int
json_scan(const char *s, size_t n, size_t *erroff, char *msg, size_t msglen)
{
	struct jscan	 j;

	memset(&j, 0, sizeof(j));
	j.s = (const unsigned char *)s;
	j.n = n;
	if (n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
		j.i = 3;
	js_ws(&j);
	if (j.i >= n)
		js_fail(&j, j.i, "empty document (expected a JSON object)");
	else if (js_value(&j) == 0) {
		js_ws(&j);
		if (j.i >= n)
			return 0;
		js_fail(&j, j.i, "unexpected text after the JSON value");
	}
	*erroff = j.erri;
	snprintf(msg, msglen, "%s", j.msg);
	return -1;
}

/* 1-based line and column (in code points) of byte offset off. */
void
json_linecol(const char *s, size_t off, size_t *line, size_t *col)
{
	size_t	 i = 0;

	*line = 1;
	*col = 1;
	if (off >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	for (; i < off; i++) {
		if (s[i] == '\n') {
			(*line)++;
			*col = 1;
		} else if (((unsigned char)s[i] & 0xc0) != 0x80)
			(*col)++;
	}
}

int
json_scan_value(const char *s, size_t n, size_t *pos, size_t *erroff,
    char *msg, size_t msglen)
{
	struct jscan	 j;

	memset(&j, 0, sizeof(j));
	j.s = (const unsigned char *)s;
	j.n = n;
	j.i = *pos;
	if (js_value(&j) == 0) {
		*pos = j.i;
		return 0;
	}
	if (erroff != NULL)
		*erroff = j.erri;
	if (msg != NULL)
		snprintf(msg, msglen, "%s", j.msg);
	return -1;
}

void
json_compact(struct buf *out, const char *s, size_t n)
{
	size_t	 i;
	int	 in_str = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (in_str) {
			if (c == 0x7f)
				buf_adds(out, "\\u007f");
			else
				buf_addc(out, c);
			if (c == '\\' && i + 1 < n)
				buf_addc(out, s[++i]);
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
			buf_addc(out, c);
		} else if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			buf_addc(out, c);
	}
}
