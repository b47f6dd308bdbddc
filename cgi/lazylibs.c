/*
 * The CGI program's cJSON and PCRE2, loaded at their first call.
 *
 * A CGI program is started for every request, and the dynamic loader's
 * work for each shared library it names (open, map, relocate) is paid
 * every time: measured with perf stat, a trivial C CGI linked with
 * libcjson and libpcre2-8 took 1.5x the CPU of the same program without
 * them (README, "Performance").  On the warm path (the manifest's
 * compiled image, common/image.h) a request parses no JSON and a
 * redirect compiles no regex, so the program names neither library:
 * these definitions of the functions common/ calls stand in for them and
 * dlopen(3) the real library on the first call, by the soname configure
 * found (CJSON_SONAME, PCRE2_SONAME).
 *
 * The program is single-threaded; the proxy module (proxy_module.h),
 * which it may dlopen later, resolves its calls of these functions to
 * these definitions too (the program exports its symbols).  A library
 * that cannot be loaded is an installation fault with no useful answer:
 * the program says so on stderr, as a CGI program's errors go to the web
 * server's error log, and exits with status 1 (the web server answers
 * 500).  tests/e2e/cgi_lazy.sh checks that a redirect maps neither
 * library and that a file-v2 rule and a cold start still work.
 */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#ifndef CJSON_SONAME
#define CJSON_SONAME	"libcjson.so.1"
#endif
#ifndef PCRE2_SONAME
#define PCRE2_SONAME	"libpcre2-8.so.0"
#endif

struct lazylib {
	const char	*soname;
	void		*handle;
};

static struct lazylib cjson = { CJSON_SONAME, NULL };
static struct lazylib pcre2 = { PCRE2_SONAME, NULL };

/* The address of name in lib, loading lib first; never NULL. */
static void *
lazy_sym(struct lazylib *lib, const char *name)
{
	void	*p;

	if (lib->handle == NULL &&
	    (lib->handle = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL)) ==
	    NULL) {
		fprintf(stderr, "scarf-gateway.cgi: cannot load %s: %s\n",
		    lib->soname, dlerror());
		exit(1);
	}
	if ((p = dlsym(lib->handle, name)) == NULL) {
		fprintf(stderr, "scarf-gateway.cgi: %s has no %s\n",
		    lib->soname, name);
		exit(1);
	}
	return p;
}

/*
 * One forwarding definition: ret name(params) { return fn(args); }, fn
 * resolved on the first call.  A data pointer converted to a function
 * pointer is what POSIX requires dlsym(3) to allow.
 */
#define LAZY(lib, ret, name, params, args)				\
ret									\
name params								\
{									\
	static ret	(*fn) params;					\
									\
	if (fn == NULL)							\
		*(void **)&fn = lazy_sym(&lib, #name);			\
	return fn args;							\
}

#define LAZY_VOID(lib, name, params, args)				\
void									\
name params								\
{									\
	static void	(*fn) params;					\
									\
	if (fn == NULL)							\
		*(void **)&fn = lazy_sym(&lib, #name);			\
	fn args;							\
}

LAZY(cjson, cJSON *, cJSON_ParseWithLength,
    (const char *value, size_t len), (value, len))
LAZY_VOID(cjson, cJSON_Delete, (cJSON *item), (item))
LAZY(cjson, int, cJSON_GetArraySize, (const cJSON *array), (array))
LAZY(cjson, cJSON *, cJSON_GetObjectItemCaseSensitive,
    (const cJSON * const object, const char * const string),
    (object, string))
LAZY(cjson, cJSON_bool, cJSON_IsTrue, (const cJSON * const item), (item))
LAZY(cjson, cJSON_bool, cJSON_IsBool, (const cJSON * const item), (item))
LAZY(cjson, cJSON_bool, cJSON_IsNull, (const cJSON * const item), (item))
LAZY(cjson, cJSON_bool, cJSON_IsNumber, (const cJSON * const item), (item))
LAZY(cjson, cJSON_bool, cJSON_IsString, (const cJSON * const item), (item))
LAZY(cjson, cJSON_bool, cJSON_IsArray, (const cJSON * const item), (item))
LAZY(cjson, cJSON_bool, cJSON_IsObject, (const cJSON * const item), (item))
LAZY(cjson, cJSON *, cJSON_CreateObject, (void), ())
LAZY(cjson, cJSON_bool, cJSON_AddItemToObject,
    (cJSON *object, const char *string, cJSON *item),
    (object, string, item))

LAZY(pcre2, pcre2_code *, pcre2_compile_8,
    (PCRE2_SPTR pattern, PCRE2_SIZE length, uint32_t options,
    int *errorcode, PCRE2_SIZE *erroroffset, pcre2_compile_context *ccontext),
    (pattern, length, options, errorcode, erroroffset, ccontext))
LAZY_VOID(pcre2, pcre2_code_free_8, (pcre2_code *code), (code))
LAZY(pcre2, int, pcre2_get_error_message_8,
    (int errorcode, PCRE2_UCHAR *buffer, PCRE2_SIZE bufflen),
    (errorcode, buffer, bufflen))
LAZY(pcre2, uint32_t, pcre2_get_ovector_count_8,
    (pcre2_match_data *match_data), (match_data))
LAZY(pcre2, PCRE2_SIZE *, pcre2_get_ovector_pointer_8,
    (pcre2_match_data *match_data), (match_data))
LAZY(pcre2, int, pcre2_match_8,
    (const pcre2_code *code, PCRE2_SPTR subject, PCRE2_SIZE length,
    PCRE2_SIZE startoffset, uint32_t options, pcre2_match_data *match_data,
    pcre2_match_context *mcontext),
    (code, subject, length, startoffset, options, match_data, mcontext))
LAZY(pcre2, pcre2_match_context *, pcre2_match_context_create_8,
    (pcre2_general_context *gcontext), (gcontext))
LAZY_VOID(pcre2, pcre2_match_context_free_8,
    (pcre2_match_context *mcontext), (mcontext))
LAZY(pcre2, pcre2_match_data *, pcre2_match_data_create_from_pattern_8,
    (const pcre2_code *code, pcre2_general_context *gcontext),
    (code, gcontext))
LAZY_VOID(pcre2, pcre2_match_data_free_8, (pcre2_match_data *match_data),
    (match_data))
LAZY(pcre2, int, pcre2_pattern_info_8,
    (const pcre2_code *code, uint32_t what, void *where),
    (code, what, where))
LAZY(pcre2, int, pcre2_set_match_limit_8,
    (pcre2_match_context *mcontext, uint32_t value), (mcontext, value))
