/*
 * The floor for tests/bench/fcgi_bench.sh: the least a libfcgi responder
 * does to answer a redirect, a fixed 307 (RFC 3875 §6.3) written with
 * FCGX_PutStr, in THREADS threads that each FCGX_Accept_r on one
 * listening socket, the way libfcgi's examples/threaded.c serves.  No
 * routing, no event line, no time limits: what the gateway costs beyond
 * this is its own work.
 *
 *	trivial_fcgi SOCKET [THREADS]
 *
 * SOCKET is a Unix socket path or ":PORT" (FCGX_OpenSocket); THREADS
 * defaults to 4.  Runs until killed.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <fcgiapp.h>

static int	 listen_fd;

static void *
serve(void *arg)
{
	static const char	 resp[] = "Status: 307 Temporary Redirect\r\n"
	    "Location: https://files.example.net/t10/v1.2.3/"
	    "tool-1.2.3.tar.gz\r\n"
	    "Content-Length: 0\r\n\r\n";
	FCGX_Request		 r;

	(void)arg;
	if (FCGX_InitRequest(&r, listen_fd, 0) != 0)
		return NULL;
	while (FCGX_Accept_r(&r) >= 0) {
		FCGX_PutStr(resp, (int)sizeof(resp) - 1, r.out);
		FCGX_Finish_r(&r);
	}
	return NULL;
}

int
main(int argc, char *argv[])
{
	pthread_t	*t;
	int		 i, n;

	if (argc < 2) {
		fprintf(stderr, "usage: trivial_fcgi SOCKET [THREADS]\n");
		return 2;
	}
	n = argc > 2 ? atoi(argv[2]) : 4;
	if (n < 1 || n > 1024)
		n = 4;
	if (FCGX_Init() != 0 ||
	    (listen_fd = FCGX_OpenSocket(argv[1], 1024)) < 0) {
		fprintf(stderr, "trivial_fcgi: cannot listen on %s\n", argv[1]);
		return 1;
	}
	if ((t = calloc((size_t)n, sizeof(*t))) == NULL)
		return 1;
	for (i = 0; i < n; i++)
		pthread_create(&t[i], NULL, serve, NULL);
	for (i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	free(t);
	return 0;
}
