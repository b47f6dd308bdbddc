/*
 * The floor for tests/bench/cgi_bench.sh: the least a CGI program can do
 * to answer a redirect (RFC 3875 §6.3), a fixed 307 written with one
 * write(2).  What a real CGI program costs beyond this is its own work:
 * loading its libraries, its configuration, routing, the event line.
 */
#include <string.h>
#include <unistd.h>

int
main(void)
{
	static const char resp[] = "Status: 307 Temporary Redirect\r\n"
	    "Location: https://files.example.net/t10/v1.2.3/tool-1.2.3.tar.gz\r\n"
	    "Content-Length: 0\r\n\r\n";

	return write(STDOUT_FILENO, resp, sizeof(resp) - 1) ==
	    (ssize_t)(sizeof(resp) - 1) ? 0 : 1;
}
