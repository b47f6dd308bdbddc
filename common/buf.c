#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "utf8.h"
#include "xmalloc.h"

void
buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->n = b->cap = 0;
}

void
buf_reset(struct buf *b)
{
	b->n = 0;
	if (b->p != NULL)
		b->p[0] = '\0';
}

void
buf_reserve(struct buf *b, size_t more)
{
	size_t	 need, ncap;

	need = b->n + more + 1;
	if (need <= b->cap)
		return;
	ncap = b->cap ? b->cap : 64;
	while (ncap < need)
		ncap *= 2;
	b->p = xrealloc(b->p, ncap);
	b->cap = ncap;
}

void
buf_add(struct buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	if (n)
		memcpy(b->p + b->n, p, n);
	b->n += n;
	b->p[b->n] = '\0';
}

void
buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void
buf_addc(struct buf *b, int c)
{
	buf_reserve(b, 1);
	b->p[b->n++] = (char)c;
	b->p[b->n] = '\0';
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;
	int	 len;

	/* formatted once into the room there is (at least 64 bytes), a
	 * second time only when it did not fit */
	buf_reserve(b, 63);
	va_start(ap, fmt);
	len = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
	va_end(ap);
	if (len <= 0) {
		b->p[b->n] = '\0';
		return;
	}
	if ((size_t)len >= b->cap - b->n) {
		buf_reserve(b, (size_t)len);
		va_start(ap, fmt);
		vsnprintf(b->p + b->n, (size_t)len + 1, fmt, ap);
		va_end(ap);
	}
	b->n += (size_t)len;
}

void
buf_addzd(struct buf *b, unsigned long long v, int width)
{
	char	 d[20];
	int	 i;

	for (i = width; i-- > 0; v /= 10)
		d[i] = (char)('0' + v % 10);
	buf_add(b, d, (size_t)width);
}

void
buf_addull(struct buf *b, unsigned long long v)
{
	unsigned long long	 t;
	int			 w;

	for (w = 1, t = v; t >= 10; t /= 10)
		w++;
	buf_addzd(b, v, w);
}

void
buf_addll(struct buf *b, long long v)
{
	if (v < 0) {
		buf_addc(b, '-');
		buf_addull(b, 0ULL - (unsigned long long)v);
	} else
		buf_addull(b, (unsigned long long)v);
}

const char *
buf_cstr(struct buf *b)
{
	if (b->p == NULL)
		return "";
	return b->p;
}

char *
buf_steal(struct buf *b)
{
	char	*p;

	if (b->p == NULL)
		return xstrdup("");
	p = b->p;
	b->p = NULL;
	b->n = b->cap = 0;
	return p;
}

void
buf_add_jstr(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t	 i, run, k;

	buf_addc(b, '"');
	for (i = 0; i < n; ) {
		unsigned char c = u[i];

		if (c >= 0x80) {
			run = utf8_seq_len(u + i, n - i);
			if (run == 0) {
				/* U+FFFD, not \u00XX: that would read as
				 * the Latin-1 character of the same value */
				buf_add(b, "\xef\xbf\xbd", 3);
				i++;
			} else {
				buf_add(b, u + i, run);
				i += run;
			}
			continue;
		}
		switch (c) {
		case '"':
			buf_add(b, "\\\"", 2);
			break;
		case '\\':
			buf_add(b, "\\\\", 2);
			break;
		case '\n':
			buf_add(b, "\\n", 2);
			break;
		case '\r':
			buf_add(b, "\\r", 2);
			break;
		case '\t':
			buf_add(b, "\\t", 2);
			break;
		default:
			if (c < 0x20 || c == 0x7f) {
				buf_printf(b, "\\u00%c%c", hex[c >> 4],
				    hex[c & 15]);
			} else {
				/* copy a run of plain bytes at once */
				for (k = i + 1; k < n && u[k] >= 0x20 &&
				    u[k] < 0x7f && u[k] != '"' && u[k] != '\\';
				    k++)
					;
				buf_add(b, u + i, k - i);
				i = k;
				continue;
			}
		}
		i++;
	}
	buf_addc(b, '"');
}

void
buf_add_jstrz(struct buf *b, const char *s)
{
	if (s == NULL)
		buf_add(b, "null", 4);
	else
		buf_add_jstr(b, s, strlen(s));
}
