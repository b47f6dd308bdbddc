/*
 * fcgi/record.c: the FastCGI records the program frames itself, checked
 * byte by byte, and in the stream serve.c writes: libfcgi's own records
 * (the head), ours straight to the socket (a large body), libfcgi's again
 * (the tail, END_REQUEST), all on one connection that libfcgi accepted
 * from a preset ipcFd, as fcgi/worker.c hands it over.  A reader thread
 * plays the web server and parses what arrives strictly (FastCGI 1.0
 * §3.3: version, type, request id, length, padding).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "../../fcgi/record.h"
#include "../tap.h"

/* What the reader thread found in the stream. */
struct parsed {
	int		 fd;
	unsigned char	*stdout_data;	/* STDOUT contents, joined */
	size_t		 stdout_n;
	int		 records;	/* FCGI_STDOUT records */
	int		 max_len;	/* their largest content length */
	int		 short_before_last; /* < RECORD_MAX, not last */
	int		 bad;		/* a malformed header */
	int		 ids_seen;	/* request ids other than `id` */
	int		 id;
	int		 ended;		/* FCGI_END_REQUEST seen */
	int		 app_status, proto_status;
	size_t		 until;		/* stop after so many bytes
					 * (no END_REQUEST coming) */
};

static int
read_full(int fd, void *p, size_t n)
{
	ssize_t	 r;
	size_t	 got = 0;

	while (got < n) {
		if ((r = read(fd, (char *)p + got, n - got)) <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static void *
reader(void *arg)
{
	struct parsed	*ps = arg;
	FCGI_Header	 h;
	unsigned char	 pad[256], body[FCGI_MAX_LENGTH];
	size_t		 len, last_len = RECORD_MAX;

	for (;;) {
		if (ps->until > 0 && ps->stdout_n >= ps->until)
			break;
		if (read_full(ps->fd, &h, sizeof(h)) == -1)
			break;
		len = (size_t)h.contentLengthB1 << 8 | h.contentLengthB0;
		if (h.version != FCGI_VERSION_1 || h.reserved != 0)
			ps->bad++;
		if ((h.requestIdB1 << 8 | h.requestIdB0) != ps->id)
			ps->ids_seen++;
		if (read_full(ps->fd, body, len) == -1 ||
		    read_full(ps->fd, pad, h.paddingLength) == -1) {
			ps->bad++;
			break;
		}
		if (h.type == FCGI_STDOUT && len > 0) {
			if (last_len < RECORD_MAX)
				ps->short_before_last++;
			last_len = len;
			ps->stdout_data = realloc(ps->stdout_data,
			    ps->stdout_n + len);
			memcpy(ps->stdout_data + ps->stdout_n, body, len);
			ps->stdout_n += len;
			ps->records++;
			if ((int)len > ps->max_len)
				ps->max_len = (int)len;
		} else if (h.type == FCGI_END_REQUEST) {
			FCGI_EndRequestBody *e = (void *)body;

			ps->ended = 1;
			ps->app_status = e->appStatusB3 << 24 |
			    e->appStatusB2 << 16 | e->appStatusB1 << 8 |
			    e->appStatusB0;
			ps->proto_status = e->protocolStatus;
			break;
		} else if (h.type != FCGI_STDOUT && h.type != FCGI_STDERR)
			ps->bad++;
	}
	return NULL;
}

static unsigned char *
pattern(size_t n)
{
	unsigned char	*p = malloc(n ? n : 1);
	size_t		 i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 7 + i / 251);
	return p;
}

/* The header bytes record_header() writes. */
static void
test_header(void)
{
	static const struct {
		int		 line, type, id;
		size_t		 len;
		unsigned char	 want[8];
	} rows[] = {
		{ __LINE__, FCGI_STDOUT, 1, 0,
		    { 1, 6, 0x00, 0x01, 0x00, 0x00, 0, 0 } },
		{ __LINE__, FCGI_STDOUT, 0x1234, RECORD_MAX,
		    { 1, 6, 0x12, 0x34, 0xff, 0xf8, 0, 0 } },
		{ __LINE__, FCGI_STDERR, 0xffff, 1,
		    { 1, 7, 0xff, 0xff, 0x00, 0x01, 0, 0 } },
		{ __LINE__, FCGI_STDOUT, 258, 0x0102,
		    { 1, 6, 0x01, 0x02, 0x01, 0x02, 0, 0 } },
	};
	FCGI_Header	 h;
	size_t		 i;

	is_int(RECORD_MAX, 65528, "RECORD_MAX: 65535 down to a multiple of 8");
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memset(&h, 0xaa, sizeof(h));
		record_header(&h, rows[i].type, rows[i].id, rows[i].len);
		ok_at(rows[i].line, memcmp(&h, rows[i].want, 8) == 0,
		    "record_header(type %d, id %d, %zu bytes)", rows[i].type,
		    rows[i].id, rows[i].len);
	}
}

/* record_write_stdout() alone: n bytes as records of request 9. */
static void
test_write(size_t n)
{
	struct parsed	 ps;
	pthread_t	 t;
	unsigned char	*data = pattern(n);
	int		 sv[2];

	memset(&ps, 0, sizeof(ps));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1) {
		ok(0, "socketpair");
		return;
	}
	ps.fd = sv[0];
	ps.id = 9;
	ps.until = n;
	pthread_create(&t, NULL, reader, &ps);
	is_int(record_write_stdout(sv[1], 9, (const char *)data, n), 0,
	    "%zu bytes: written", n);
	close(sv[1]);
	pthread_join(t, NULL);
	ok(ps.bad == 0 && ps.ids_seen == 0, "%zu bytes: well-formed records "
	    "of request 9", n);
	ok(ps.stdout_n == n && (n == 0 || memcmp(ps.stdout_data, data,
	    n) == 0), "%zu bytes: the same bytes arrive", n);
	is_int(ps.records, (n + RECORD_MAX - 1) / RECORD_MAX,
	    "%zu bytes: records of RECORD_MAX but the last", n);
	ok(ps.short_before_last == 0 && ps.max_len <= RECORD_MAX,
	    "%zu bytes: no short record before the last", n);
	close(sv[0]);
	free(ps.stdout_data);
	free(data);
}

/* A record as a web server sends it. */
static size_t
put_record(unsigned char *p, int type, int id, const void *c, size_t n)
{
	record_header((FCGI_Header *)(void *)p, type, id, n);
	memcpy(p + FCGI_HEADER_LEN, c, n);
	return FCGI_HEADER_LEN + n;
}

/*
 * The whole exchange of serve.c: libfcgi accepts the request from a
 * preset ipcFd, writes the head, our records the body, libfcgi the tail
 * and END_REQUEST; the connection stays open for the next request.
 */
static void
test_with_libfcgi(void)
{
	FCGI_BeginRequestBody	 begin;
	FCGX_Request		 r;
	struct parsed		 ps;
	pthread_t		 t;
	unsigned char		 req[256], *data, *want;
	const char		*v;
	size_t			 n = 0, body = 3 * RECORD_MAX + 1000;
	int			 sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1) {
		ok(0, "socketpair");
		return;
	}
	memset(&begin, 0, sizeof(begin));
	begin.roleB0 = FCGI_RESPONDER;
	begin.flags = FCGI_KEEP_CONN;
	n += put_record(req + n, FCGI_BEGIN_REQUEST, 7, &begin,
	    sizeof(begin));
	n += put_record(req + n, FCGI_PARAMS, 7, "\001\001Ab", 4);
	n += put_record(req + n, FCGI_PARAMS, 7, "", 0);
	n += put_record(req + n, FCGI_STDIN, 7, "", 0);
	ok(write(sv[0], req, n) == (ssize_t)n, "the web server's request");

	FCGX_InitRequest(&r, -1, 0);
	r.ipcFd = sv[1];
	r.keepConnection = 1;
	is_int(FCGX_Accept_r(&r), 0, "libfcgi accepts from the preset ipcFd");
	is_int(r.requestId, 7, "request id 7");
	v = FCGX_GetParam("A", r.envp);
	is_str(v, "b", "its params");
	is_int(r.keepConnection, 1, "FCGI_KEEP_CONN");

	memset(&ps, 0, sizeof(ps));
	ps.fd = sv[0];
	ps.id = 7;
	pthread_create(&t, NULL, reader, &ps);
	data = pattern(body);
	FCGX_PutStr("Status: 200 OK\r\n\r\nhead", 22, r.out);
	ok(FCGX_FFlush(r.out) == 0, "libfcgi's head flushed");
	is_int(record_write_stdout(sv[1], r.requestId, (const char *)data,
	    body), 0, "our body records");
	FCGX_PutStr("tail", 4, r.out);
	FCGX_FClose(r.err);
	FCGX_FClose(r.out);
	is_int(FCGX_GetError(r.out), 0, "libfcgi's tail and END_REQUEST");
	pthread_join(t, NULL);

	ok(ps.bad == 0 && ps.ids_seen == 0,
	    "one well-formed stream of request 7");
	want = malloc(22 + body + 4);
	memcpy(want, "Status: 200 OK\r\n\r\nhead", 22);
	memcpy(want + 22, data, body);
	memcpy(want + 22 + body, "tail", 4);
	ok(ps.stdout_n == 22 + body + 4 && memcmp(ps.stdout_data, want,
	    ps.stdout_n) == 0, "FCGI_STDOUT: head, body, tail in order");
	ok(ps.ended && ps.app_status == 0 &&
	    ps.proto_status == FCGI_REQUEST_COMPLETE,
	    "END_REQUEST, FCGI_REQUEST_COMPLETE, status 0");

	FCGX_Finish_r(&r);
	is_int(r.ipcFd, sv[1], "kept: FCGX_Finish_r leaves the connection "
	    "open (fcgi/worker.c gives it back to the loop)");
	close(sv[0]);
	close(sv[1]);
	free(ps.stdout_data);
	free(data);
	free(want);
}

int
main(void)
{
	static const size_t sizes[] = {
		1, 8, RECORD_MAX - 1, RECORD_MAX, RECORD_MAX + 1,
		RECORD_BATCH * RECORD_MAX, RECORD_BATCH * RECORD_MAX + 3,
	};
	size_t	 i;

	if (FCGX_Init() != 0) {
		printf("1..0 # SKIP FCGX_Init failed\n");
		return 0;
	}
	test_header();
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		test_write(sizes[i]);
	test_with_libfcgi();
	return done_testing();
}
