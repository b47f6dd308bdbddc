/*
 * Finding and loading the proxy module (proxy_module.h).
 */
#include "config.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "gateway.h"
#include "proxy_module.h"
#include "xmalloc.h"

#ifndef PKGLIBDIR
#define PKGLIBDIR	"/usr/local/lib/scarf-gateway"
#endif

/* The npm document errors of npm_doc.c (§4.4) and docker's of proxy.c
 * (§3.5), for a request neither could serve. */
static const char fail_npm[] = "{\"error\":\"upstream registry unreachable\"}";
static const char fail_docker[] = "{\"errors\":[{\"code\":\"UNAVAILABLE\","
    "\"detail\":{},\"message\":\"upstream registry unreachable\"}]}";

/*
 * The module next to the running executable, or NULL: its directory from
 * /proc/self/exe (Linux; valgrind answers it for the program it runs).
 * Caller frees.
 */
static char *
beside_self(void)
{
	char		 exe[PATH_MAX];
	struct buf	 b = BUF_INIT;
	ssize_t		 n;
	char		*slash;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	if ((slash = strrchr(exe, '/')) == NULL)
		return NULL;
	buf_add(&b, exe, (size_t)(slash - exe) + 1);
	buf_adds(&b, PROXY_MODULE_FILE);
	return buf_steal(&b);
}

/* Opens path and checks its table.  NULL with *why (owned by the process). */
static const struct proxy_module *
module_open(const char *path, const char **why)
{
	const struct proxy_module	*pm;
	struct buf			 b = BUF_INIT;
	void				*h;
	const char			*e;

	/*
	 * The module is linked with -z now: a symbol the executable lacks
	 * fails here, with its name, never as a crash in the middle of a
	 * response.  Its libraries (libcurl, OpenSSL, ...) bind lazily, as
	 * they did when the program linked them: RTLD_NOW would resolve all
	 * of their symbols at once (about 0.5 ms more, tests/bench/README.md).
	 * The handle is never closed: libcurl and OpenSSL stay until exit.
	 */
	if ((h = dlopen(path, RTLD_LAZY | RTLD_LOCAL)) == NULL) {
		e = dlerror();
		buf_printf(&b, "%s", e != NULL ? e : path);
		goto fail;
	}
	pm = dlsym(h, PROXY_MODULE_SYMBOL);
	if (pm == NULL) {
		buf_printf(&b, "%s: no " PROXY_MODULE_SYMBOL, path);
		goto fail;
	}
	if (pm->version == NULL || strcmp(pm->version, PACKAGE_VERSION) != 0 ||
	    pm->abi != PROXY_MODULE_ABI) {
		buf_printf(&b, "%s: built for %s (abi %lx), not for this "
		    "program (%s, abi %lx)", path,
		    pm->version != NULL ? pm->version : "?", pm->abi,
		    PACKAGE_VERSION, (unsigned long)PROXY_MODULE_ABI);
		goto fail;
	}
	if (pm->init() == -1) {
		buf_printf(&b, "%s: libcurl failed to initialise", path);
		goto fail;
	}
	return pm;
fail:
	*why = buf_steal(&b);
	return NULL;
}

const struct proxy_module *
proxy_module_load(const char **why)
{
	static const struct proxy_module	*pm;
	static const char			*err;
	static int				 done;
	const char				*env;
	char					*self = NULL;
	struct buf				 b = BUF_INIT;

	if (done) {
		*why = err;
		return pm;
	}
	done = 1;
	if ((env = getenv(PROXY_MODULE_ENV)) != NULL && *env != '\0')
		pm = module_open(env, &err);
	else if ((self = beside_self()) != NULL && access(self, F_OK) == 0) {
		pm = module_open(self, &err);
		free(self);
	} else if (access(PKGLIBDIR "/" PROXY_MODULE_FILE, F_OK) == 0) {
		free(self);
		pm = module_open(PKGLIBDIR "/" PROXY_MODULE_FILE, &err);
	} else {
		buf_printf(&b, PROXY_MODULE_FILE " not found (looked in %s "
		    "and " PKGLIBDIR "; " PROXY_MODULE_ENV " names another)",
		    self != NULL ? self : "the program's directory");
		free(self);
		err = buf_steal(&b);
	}
	*why = err;
	return pm;
}

void
proxy_module_fail(struct gw_response *resp, struct gw_event *ev,
    const char *why)
{
	struct buf	 b = BUF_INIT;

	resp_clear(resp);
	resp->plan = GW_PLAN_ANSWER;
	resp_json(resp, 502, ev->type == GW_T_NPM ? fail_npm : fail_docker);
	buf_printf(&b, "proxy module: %s", why);
	free(ev->error);
	ev->error = buf_steal(&b);
	ev->proxied = 0;
}
