/*
 * The upstream exchanges (proxy.h) as a module the CGI program loads with
 * dlopen(3) only when a request is proxied.
 *
 * The CGI program is one process per request and proxies almost never:
 * linked with libcurl it mapped libcurl and its thirty-odd libraries
 * (libssl, libnghttp2, libidn2, libssh2, ...) on every redirect, which
 * cost more than the redirect itself (README, "Performance").  So proxy.c
 * and npm_doc.c are also built into a shared object,
 * scarf-gateway-proxy.so (installed under $(pkglibdir)), that alone
 * needs libcurl; the CGI program links neither and loads the module at
 * its first proxied request.  The module finds every other function it
 * calls (buf_*, resp_*, event_*, ...) in the executable, which exports
 * its symbols for it (-Wl,--export-dynamic).  The FastCGI program links
 * proxy.c directly: it loads once and proxies often.
 */
#ifndef PROXY_MODULE_H
#define PROXY_MODULE_H

#include "gateway.h"
#include "proxy.h"

/* The module's file name, and the variable that names another file. */
#define PROXY_MODULE_FILE	"scarf-gateway-proxy.so"
#define PROXY_MODULE_ENV	"GATEWAY_PROXY_MODULE"
/* The one symbol the module exports: a const struct proxy_module. */
#define PROXY_MODULE_SYMBOL	"scarf_gateway_proxy_module"

/*
 * What the module and the program must agree on beyond the function
 * signatures: the layout of the structures they pass each other.  A module
 * of another build (another version, or the same version with other
 * structures) is refused rather than called.
 */
#define PROXY_MODULE_ABI_MIX(h, n)	((h) * 1000003UL + (unsigned long)(n))
#define PROXY_MODULE_ABI						\
	PROXY_MODULE_ABI_MIX(PROXY_MODULE_ABI_MIX(PROXY_MODULE_ABI_MIX(	\
	PROXY_MODULE_ABI_MIX(PROXY_MODULE_ABI_MIX(PROXY_MODULE_ABI_MIX(	\
	PROXY_MODULE_ABI_MIX(2UL,					\
	sizeof(struct gw_config)), sizeof(struct gw_stats)),		\
	sizeof(struct gw_request)), sizeof(struct gw_response)),	\
	sizeof(struct gw_event)), sizeof(struct gw_ctx)),		\
	sizeof(struct gw_out))

struct proxy_module {
	const char	*version;	/* PACKAGE_VERSION of its build */
	unsigned long	 abi;		/* PROXY_MODULE_ABI of its build */
	/* curl_global_init(); 0, or -1 when libcurl cannot start */
	int		 (*init)(void);
	/* proxy.h */
	struct proxy	*(*proxy_new)(const struct gw_config *);
	void		 (*proxy_serve)(struct proxy *, const struct gw_ctx *,
			    const struct gw_request *, struct gw_response *,
			    struct gw_event *, struct gw_out *);
	/* npm_doc.h */
	void		 (*npm_doc_serve)(struct proxy *,
			    const struct gw_ctx *, const struct gw_request *,
			    struct gw_response *, struct gw_event *,
			    struct gw_out *);
	void		 (*proxy_free)(struct proxy *);
	/* curl_global_cleanup() */
	void		 (*cleanup)(void);
};

/*
 * The same functions linked into the program (proxy_linked.c: the FastCGI
 * program, the tests), init and cleanup NULL: the program starts and ends
 * libcurl itself.
 */
extern const struct proxy_module proxy_linked;

/*
 * Loads the module (once per process; later calls return the first
 * result).  The file is $GATEWAY_PROXY_MODULE when that is set and not
 * empty, else the first that exists of PROXY_MODULE_FILE next to the
 * running executable (the build tree, or a copy deployed beside the
 * program) and in PKGLIBDIR (the installed one).  Returns the module's
 * table, or NULL with *why (static storage, or the process's own copy:
 * never freed) saying what failed: not found, dlopen's message (a missing
 * library, or a symbol the program lacks: the module is linked with -z
 * now, so that fails here and never mid-request), no table, another
 * build, or libcurl failing to start.
 */
const struct proxy_module *proxy_module_load(const char **why);

/*
 * Answers a request whose proxy module could not be loaded: 502 with the
 * JSON body of its kind (docker: an OCI error; npm: {"error":...}), and
 * the event's error "proxy module: WHY".  Replaces what gw_serve() put in
 * resp, which the caller then writes like any other response.
 */
void	 proxy_module_fail(struct gw_response *, struct gw_event *,
	    const char *why);

#endif
