#!/usr/bin/env bash
# The CGI program maps libcurl only for a request it proxies
# (common/proxy_module.h): the program itself needs no libcurl (ELF
# DT_NEEDED, ldd), a redirect opens none of it (strace), a proxied request
# loads scarf-gateway-proxy.so and libcurl and answers, and a module that
# cannot be loaded gives a clean 502 with the reason in the event line.
# libcjson and libpcre2 likewise (cgi/lazylibs.c): not needed by the
# program, loaded by the first call that needs them (parsing the JSON, a
# file-v2 rule's regex), not at all by a redirect served from the
# manifest's image.
. "$(dirname "$0")/../lib.sh"

E2E=$top_srcdir/tests/e2e
MOD=$top_builddir/cgi/scarf-gateway-proxy.so
# libcurl and the libraries it alone brings along
CURLISH='lib(curl|ssl|crypto|nghttp2|idn2|ssh2|psl|rtmp|gssapi|ldap|brotli|'
CURLISH+='zstd|gnutls)'

[ -x "$CGI" ] || skip_all "cgi/scarf-gateway.cgi not built"
[ -f "$MOD" ] || skip_all "cgi/scarf-gateway-proxy.so not built"
command -v python3 >/dev/null || skip_all "python3 not found"
command -v readelf >/dev/null || skip_all "readelf not found (binutils)"

cd "$T" || exit 99

# --- the files ---
needed=$(readelf -d "$CGI" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
diag "the CGI program needs: $(echo $needed)"
like "$needed" '^libc\.so' "readelf sees the CGI program's libraries"
unlike "$needed" "$CURLISH" "the CGI program needs no libcurl (DT_NEEDED)"
unlike "$needed" 'libcjson|libpcre2' \
    "nor libcjson or libpcre2 (DT_NEEDED): loaded at their first call"
if command -v ldd >/dev/null; then
	libs=$(ldd "$CGI")
	like "$libs" 'libc\.so' "ldd lists the CGI program's libraries"
	unlike "$libs" "$CURLISH" "ldd: nothing of libcurl's, directly or not"
else
	skip "ldd not installed"
	skip "ldd not installed"
fi
like "$(readelf -d "$MOD" | grep NEEDED)" 'libcurl' "the module needs libcurl"
is "$(readelf --dyn-syms -W "$MOD" | awk '$7 != "UND" && $5 == "GLOBAL" \
    { print $8 }' | sort -u | tr '\n' ' ')" "scarf_gateway_proxy_module " \
    "the module exports its table and nothing else"

# --- an upstream and a manifest ---
start_bg upstream python3 "$E2E/fixtures/bad_upstream.py" \
    --port-file "$T/upstream.port" --log "$T/upstream.log"
wait_grep "$T/upstream.port" '^[0-9]+$' || done_testing
UP=$(cat "$T/upstream.port")
{
	printf '{"rules": [\n'
	for i in 1 2 3 4 5 6 7 8 9; do
		printf ' {"type": "file-v1", "domain": "dl.test", '
		printf '"package-id": "p%d", "incoming-path": ' "$i"
		printf '"/t%d/{version}/tool-{version}.tar.gz", ' "$i"
		printf '"outgoing-url": "https://files.example.net/t%d/' "$i"
		printf 'v{version}/tool-{version}.tar.gz"},\n'
	done
	printf ' {"type": "docker-v2", "domain": "reg.test", '
	printf '"rule-id": "stub", "registry": "http://127.0.0.1:%s", ' "$UP"
	printf '"pattern": "*/*"}\n]}\n'
} >manifest.json

# cgi ID METHOD HOST URI [NAME=VALUE...]: one run with exactly these
# variables, under $WRAP if set; stdout in ID.out, stderr in ID.err, the
# event line in ID.log, exit status in $rc
cgi() {
	local id=$1 method=$2 host=$3 uri=$4
	shift 4
	env -i PATH="$PATH" NO_PROXY=127.0.0.1 no_proxy=127.0.0.1 \
	    GATEWAY_INTERFACE=CGI/1.1 SERVER_PROTOCOL=HTTP/1.1 \
	    REQUEST_METHOD="$method" HTTP_HOST="$host" REQUEST_URI="$uri" \
	    REMOTE_ADDR=127.0.0.1 GATEWAY_MANIFEST="$T/manifest.json" \
	    GATEWAY_LOG="$T/$id.log" GATEWAY_UPSTREAM_TIMEOUT=5 "$@" \
	    timeout 30 ${WRAP:-} "$CGI" >"$id.out" 2>"$id.err" </dev/null
	rc=$?
}

# opened ID: the files run ID opened (strace), one a line
opened() {
	sed -n 's/.*open[a-z]*(.*"\([^"]*\)".*= [0-9].*/\1/p' "$1.strace"
}

J502='{"errors":[{"code":"UNAVAILABLE","detail":{},"message":"upstream '
J502+='registry unreachable"}]}'

# --- what a request maps ---
if command -v strace >/dev/null; then
	# LeakSanitizer cannot run under ptrace (a sanitizer build)
	WRAP="strace -f -qq -e trace=open,openat -o $T/redir.strace" \
	    cgi redir GET dl.test /t3/1.2/tool-1.2.tar.gz \
	    ASAN_OPTIONS=detect_leaks=0
	is "$rc $(status <redir.out)" "0 307" "a redirect under strace"
	is "$(header Location <redir.out)" \
	    "https://files.example.net/t3/v1.2/tool-1.2.tar.gz" "its Location"
	like "$(opened redir)" 'libc\.so' "strace sees the libraries it opens"
	like "$(opened redir)" 'libcjson' \
	    "a redirect parsing the JSON loads libcjson"
	unlike "$(opened redir)" 'libpcre2' "and no libpcre2 (no file-v2 rule)"
	unlike "$(opened redir)" "$CURLISH|scarf-gateway-proxy" \
	    "a redirect opens no libcurl and no proxy module"

	# a file-v2 rule's regex loads libpcre2, and the rule works
	sed 's/^\]}$/, {"type": "file-v2", "domain": "re.test", "package-id": "re", "incoming-path": "^\/re\/(?<v>[0-9.]+)$", "outgoing-url": "https:\/\/files.example.net\/re-{v}"}\n]}/' \
	    manifest.json >re.json
	WRAP="strace -f -qq -e trace=open,openat -o $T/re.strace" \
	    cgi re GET re.test /re/4.5 GATEWAY_MANIFEST="$T/re.json" \
	    ASAN_OPTIONS=detect_leaks=0
	is "$rc $(status <re.out) $(header Location <re.out)" \
	    "0 307 https://files.example.net/re-4.5" "a file-v2 redirect"
	like "$(opened re)" 'libpcre2' "its regex loaded libpcre2"
	# the manifest's image (common/image.h): the warm path loads neither
	if "$CGI" --help 2>&1 | grep -q GATEWAY_CACHE_DIR; then
		mkdir -m 700 cache
		cgi warm0 GET re.test /re/4.5 GATEWAY_MANIFEST="$T/re.json" \
		    GATEWAY_CACHE_DIR="$T/cache"
		WRAP="strace -f -qq -e trace=open,openat -o $T/warm.strace" \
		    cgi warm GET dl.test /t3/1.2/tool-1.2.tar.gz \
		    GATEWAY_MANIFEST="$T/re.json" GATEWAY_CACHE_DIR="$T/cache" \
		    ASAN_OPTIONS=detect_leaks=0
		is "$rc $(status <warm.out)" "0 307" "a redirect from the image"
		unlike "$(opened warm)" 'libcjson|libpcre2|re\.json' \
		    "it opens no libcjson, no libpcre2, not the JSON"
	else
		skip "no manifest image in this build"
		skip "no manifest image in this build"
	fi

	WRAP="strace -f -qq -e trace=open,openat -o $T/prox.strace" \
	    cgi prox GET reg.test /v2/ok/x/manifests/latest \
	    ASAN_OPTIONS=detect_leaks=0
	is "$rc $(status <prox.out)" "0 200" "a proxied request under strace"
	is "$(body <prox.out)" '{"stub":"ok"}' "the upstream's body"
	like "$(opened prox)" '/scarf-gateway-proxy\.so$' \
	    "a proxied request loads the module"
	like "$(opened prox)" '/libcurl[^/]*\.so' "and libcurl with it"
else
	for i in 1 2 3 4 5 6 7 8; do skip "strace not installed"; done
fi

# --- proxying without strace, and its event ---
cgi blob GET reg.test "/v2/ok/x/blobs/sha256:$(printf '%064d' 7)?size=300000"
is "$rc $(status <blob.out) $(header Content-Length <blob.out)" \
    "0 200 300000" "a proxied blob"
is "$(body <blob.out | wc -c)" 300000 "all of it"
like "$(cat blob.log)" '"status":200.*"proxied":true' "its event line"
cgi head HEAD reg.test /v2/ok/x/manifests/latest
is "$rc $(status <head.out) $(header Content-Length <head.out)" "0 200 13" \
    "a proxied HEAD"

# --- a module that cannot be loaded: 502, never a crash ---
# not_loaded ID WHY-REGEX NAME [NAME=VALUE...]
not_loaded() {
	local id=$1 re=$2 name=$3
	shift 3
	cgi "$id" GET reg.test /v2/ok/x/manifests/latest "$@"
	is "$rc $(status <"$id.out")" "0 502" "$name: 502"
	is "$(body <"$id.out")" "$J502" "$name: the OCI error body"
	like "$(jget error <"$id.log")" "^\"proxy module: .*$re" \
	    "$name: the event says why"
	like "$(cat "$id.err")" "$re" "$name: so does stderr"
}
not_loaded missing 'no-such\.so' "a missing module" \
    GATEWAY_PROXY_MODULE="$T/no-such.so"
printf 'not an ELF file\n' >"$T/text.so"
not_loaded text 'text\.so' "a file that is no shared object" \
    GATEWAY_PROXY_MODULE="$T/text.so"
other=$(ldd "$MOD" 2>/dev/null | sed -n 's/.*libcurl[^ ]* => \([^ ]*\).*/\1/p')
if [ -n "$other" ]; then
	not_loaded other 'no scarf_gateway_proxy_module' \
	    "another shared object" GATEWAY_PROXY_MODULE="$other"
else
	for i in 1 2 3 4; do skip "libcurl not found by ldd"; done
fi

# a module that needs a function the program lacks fails at load (it is
# linked with -z now, like scarf-gateway-proxy.so), not mid-request
if command -v "${CC:-cc}" >/dev/null; then
	printf '%s\n' 'extern void gw_no_such_function(void);' \
	    'void (*const scarf_gateway_proxy_module)(void) =' \
	    '    gw_no_such_function;' >lacking.c
	"${CC:-cc}" -shared -fPIC -Wl,-z,now -o lacking.so lacking.c
	not_loaded lacking 'gw_no_such_function' \
	    "a module needing a function the program lacks" \
	    GATEWAY_PROXY_MODULE="$T/lacking.so"
	# a module of another build: refused before anything of it is called
	printf '%s\n' 'const struct { const char *v; unsigned long abi; }' \
	    'scarf_gateway_proxy_module = { "0.0.0-other", 1 };' >other.c
	"${CC:-cc}" -shared -fPIC -o otherbuild.so other.c
	not_loaded otherbuild 'built for 0\.0\.0-other \(abi 1\), not for' \
	    "a module of another build" \
	    GATEWAY_PROXY_MODULE="$T/otherbuild.so"
else
	for i in 1 2 3 4 5 6 7 8; do skip "no C compiler"; done
fi

# the program copied elsewhere finds a module beside it, or the installed
# one, or says where it looked
mkdir bin alone
cp "$CGI" "$MOD" bin/
cp "$CGI" alone/
CGI=$T/bin/scarf-gateway.cgi cgi copy GET reg.test /v2/ok/x/manifests/latest
is "$rc $(status <copy.out)" "0 200" "a copy with the module beside it"
pkglibdir=$(sed -n 's/^pkglibdir = //p' "$top_builddir/Makefile")
if [ -f "$pkglibdir/scarf-gateway-proxy.so" ]; then
	for i in 1 2 3 4; do skip "a module is installed in $pkglibdir"; done
else
	CGI=$T/alone/scarf-gateway.cgi not_loaded alone \
	    "not found \\(looked in $T/alone/scarf-gateway-proxy\\.so and " \
	    "a copy with no module anywhere"
fi

done_testing
