/*
 * FastCGI record framing done by the program itself (record.h says
 * where and why).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "record.h"

void
record_header(FCGI_Header *hdr, int type, int id, size_t len)
{
	memset(hdr, 0, sizeof(*hdr));
	hdr->version = FCGI_VERSION_1;
	hdr->type = (unsigned char)type;
	hdr->requestIdB1 = (unsigned char)(id >> 8);
	hdr->requestIdB0 = (unsigned char)id;
	hdr->contentLengthB1 = (unsigned char)(len >> 8);
	hdr->contentLengthB0 = (unsigned char)len;
	hdr->paddingLength = 0;
}

int
record_write_stdout(int fd, int id, const char *p, size_t n)
{
	FCGI_Header	 hdr[RECORD_BATCH];
	struct iovec	 iov[2 * RECORD_BATCH], *v;
	size_t		 k, c;
	ssize_t		 w;
	int		 niov;

	while (n > 0) {
		niov = 0;
		for (k = 0; k < RECORD_BATCH && n > 0; k++) {
			c = n > RECORD_MAX ? RECORD_MAX : n;
			record_header(&hdr[k], FCGI_STDOUT, id, c);
			iov[niov].iov_base = &hdr[k];
			iov[niov++].iov_len = sizeof(hdr[k]);
			iov[niov].iov_base = (void *)(uintptr_t)p;
			iov[niov++].iov_len = c;
			p += c;
			n -= c;
		}
		for (v = iov; niov > 0; ) {
			if ((w = writev(fd, v, niov)) == -1) {
				if (errno == EINTR)
					continue;
				return -1;
			}
			for (; niov > 0 && (size_t)w >= v->iov_len; niov--)
				w -= (ssize_t)(v++)->iov_len;
			if (niov > 0) {
				v->iov_base = (char *)v->iov_base + w;
				v->iov_len -= (size_t)w;
			}
		}
	}
	return 0;
}
