/*
 * The table of scarf-gateway-proxy.so (proxy_module.h): built only into
 * the module, next to its own copies of proxy.c and npm_doc.c.
 */
#include "config.h"

#include <curl/curl.h>

#include "npm_doc.h"
#include "proxy_module.h"

/* Declared here, defined here: the one symbol the module exports. */
extern const struct proxy_module scarf_gateway_proxy_module;

static int
entry_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static void
entry_cleanup(void)
{
	curl_global_cleanup();
}

const struct proxy_module scarf_gateway_proxy_module = {
	PACKAGE_VERSION,
	PROXY_MODULE_ABI,
	entry_init,
	proxy_new,
	proxy_serve,
	npm_doc_serve,
	proxy_free,
	entry_cleanup
};
