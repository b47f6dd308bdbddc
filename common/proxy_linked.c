/*
 * The upstream exchanges linked into the program (proxy_module.h): the
 * FastCGI program and the tests call them through the same table as the
 * CGI program calls the module's.
 */
#include "config.h"

#include "npm_doc.h"
#include "proxy_module.h"

const struct proxy_module proxy_linked = {
	PACKAGE_VERSION,
	PROXY_MODULE_ABI,
	NULL,
	proxy_new,
	proxy_serve,
	npm_doc_serve,
	proxy_free,
	NULL
};
