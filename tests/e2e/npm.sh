#!/usr/bin/env bash
# npm through the gateway behind nginx and lighttpd (issue 5, item 1; SPEC
# §4), everything on 127.0.0.1 and offline:
#
#   upstream   fixtures/npm_registry.py: tinypkg (three versions, dist-tags
#              latest and next), @e2e/scoped (depends on tinypkg), badpkg
#              (a wrong dist.integrity); real tarballs, ETags, 304s, the
#              abbreviated form;
#   manifest   npm-v1 rules on 127.0.0.1: an exact name, an @e2e/* scope and
#              a "*", with npm-cache-ttl 300; the gateway runs with
#              GATEWAY_PUBLIC_SCHEME=http, since npm talks plain http here;
#   servers    lighttpd (deploy/lighttpd-fastcgi.conf, spawning the
#              gateway) and nginx (deploy/nginx.conf + nginx-standalone.conf,
#              the gateway under deploy/spawn-fcgi.sh);
#   clients    npm install of an unscoped and a scoped package (npm checks
#              every tarball's integrity; the wrong one must fail), and a
#              second install with an empty npm cache, which the gateway
#              answers from its packument cache; npm view, npm dist-tag ls,
#              npm ping; curl for the /@scope/name form, the abbreviated
#              form, version documents, ETag/304 and HEAD.
#
# Every tarball npm downloads must have come through the gateway: the
# packuments npm sees point at it, and the event log shows each tarball as
# a 307 with its name and version.  npm runs with an empty environment
# (no proxy, no user config) and --registry pointing at the web server.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib-servers.sh"

FIX=$E2E/fixtures
[ -x "$FCGI" ] || skip_all "fcgi/scarf-gateway not built"
command -v python3 >/dev/null || skip_all "python3 not installed"
command -v curl >/dev/null || skip_all "curl not installed"
command -v cgi-fcgi >/dev/null || skip_all "cgi-fcgi not installed"
NPM=$(command -v npm 2>/dev/null) || skip_all "npm not installed"
NODE=$(command -v node 2>/dev/null) || skip_all "node not installed"
cd "$T" || exit 99
# nginx's workers (nobody) reach the gateway's socket through $T
chmod 0711 "$T"

# --- the registry ------------------------------------------------------------
start_bg registry python3 "$FIX/npm_registry.py" --log "$T/registry.log" \
    --port-file "$T/registry.port"
i=0
while [ ! -s registry.port ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
RPORT=$(cat registry.port 2>/dev/null)
if ! wait_port "${RPORT:-0}"; then
	diag "$(cat registry.err)"
	skip_all "the registry fixture did not start"
fi
REG=http://127.0.0.1:$RPORT
# what npm must end up checking: the registry's own integrity of tinypkg
INTEGRITY=$(curl -s "$REG/tinypkg" | python3 -c 'import json, sys
print(json.load(sys.stdin)["versions"]["1.1.0"]["dist"]["integrity"])')
: >registry.log

# --- the manifest ------------------------------------------------------------
cat >manifest.json <<EOF
{
  "settings": {"npm-cache-ttl": 300},
  "rules": [
    {"type": "npm-v1", "domain": "127.0.0.1", "package-id": "e2e-any",
     "package-name": "*", "registry": "$REG"},
    {"type": "npm-v1", "domain": "127.0.0.1", "package-id": "e2e-scope",
     "package-name": "@e2e/*", "registry": "$REG/"},
    {"type": "npm-v1", "domain": "127.0.0.1", "package-id": "e2e-tinypkg",
     "package-name": "tinypkg", "registry": "$REG"}
  ]
}
EOF
ok "the gateway accepts the test manifest" \
    "$FCGI" --manifest "$T/manifest.json" --check

# Until the front end proxies (common/proxy.c wired into fcgi/), §4.4
# documents are a 502 "proxying not available": nothing here can run.
PPORT=$(free_port)
start_bg probe "$FCGI" --manifest "$T/manifest.json" \
    --listen "tcp:127.0.0.1:$PPORT" --log "$T/probe.log" --threads 1
wait_port "$PPORT" >/dev/null
probe=$(fcgi_req "127.0.0.1:$PPORT" GET 127.0.0.1 /tinypkg 2>&1)
stop_pid "$(pid_of probe)"
case $(printf '%s' "$probe" | status) in
200) pass "the gateway proxies npm documents" ;;
*)
	diag "$(printf '%s' "$probe" | head -n 12)"
	if printf '%s' "$probe" | grep -q 'proxying not available'; then
		skip "this build does not proxy yet"
		done_testing
	fi
	fail "the gateway proxies npm documents"
	done_testing
	;;
esac

# --- helpers -----------------------------------------------------------------

# npm_in DIR CACHE REGISTRY ARGS...: npm in DIR with an empty environment,
# output in DIR/npm.out (appended); returns npm's status
npm_in() {
	local dir=$1 cache=$2 reg=$3
	shift 3
	mkdir -p "$dir" "$T/home"
	(cd "$dir" && env -i PATH="$PATH" HOME="$T/home" \
	    timeout 180 "$NPM" "$@" --registry "$reg/" --cache "$cache" \
	    --userconfig "$T/home/npmrc" --no-audit --no-fund \
	    --no-update-notifier --fetch-retries=0) >>"$dir/npm.out" 2>&1
}

# project DIR: an empty package in DIR
project() {
	mkdir -p "$1"
	echo '{"name": "e2e-project", "version": "1.0.0", "private": true}' \
	    >"$1/package.json"
}

# upstream FROM EXPR: upstream_count over registry.log
upstream() {
	upstream_count "$T/registry.log" "$1" "$2"
}

# jq_py EXPR: a Python expression over the JSON document d on stdin
jq_py() {
	python3 -c 'import json, sys
d = json.load(sys.stdin)
v = eval("(" + sys.argv[1] + ")")
print(v if isinstance(v, str) else json.dumps(v, sort_keys=True))' "$1" 2>&1
}

TARBALL='e["type"] == "npm" and e["status"] == 307 and e["file-name"]'

# --- the test list, against one web server -------------------------------------
# npm_checks NAME PORT LOG
npm_checks() {
	local n=$1 gw=http://127.0.0.1:$2 log=$3 d=$T/$1 f0 r0 rs out h etag
	mkdir -p "$d"
	rs=$(lines "$T/registry.log")

	is "$(cd "$T" && env -i PATH="$PATH" HOME="$T/home" timeout 60 \
	    "$NPM" ping --registry "$gw/" --userconfig "$T/home/npmrc" \
	    --no-update-notifier >/dev/null 2>&1; echo $?)" 0 \
	    "[$n] npm ping (the reserved /-/ping)"

	# 1. first install: packuments fetched, tarballs through the gateway
	f0=$(lines "$log")
	r0=$(lines "$T/registry.log")
	project "$d/one"
	if npm_in "$d/one" "$d/cache1" "$gw" install tinypkg @e2e/scoped; then
		pass "[$n] npm install tinypkg @e2e/scoped"
	else
		fail "[$n] npm install tinypkg @e2e/scoped"
		diag "$(tail -n 15 "$d/one/npm.out")"
	fi
	is "$(cd "$d/one" && "$NODE" -e 'console.log(require("tinypkg")() +
	    " / " + require("@e2e/scoped")())' 2>&1)" \
	    "hello from tinypkg 1.1.0 / hello from @e2e/scoped 1.0.1" \
	    "[$n] both packages installed, the latest versions"
	is "$(jq_py '[d["packages"][k]["resolved"] for k in
	    ("node_modules/tinypkg", "node_modules/@e2e/scoped")]' \
	    <"$d/one/package-lock.json")" \
	    "[\"$gw/tinypkg/-/tinypkg-1.1.0.tgz\", \"$gw/@e2e/scoped/-/scoped-1.0.1.tgz\"]" \
	    "[$n] the lock file resolves the tarballs at the gateway"
	is "$(jq_py 'd["packages"]["node_modules/tinypkg"]["integrity"]' \
	    <"$d/one/package-lock.json")" \
	    "$INTEGRITY" \
	    "[$n] with the registry's integrity, unchanged"
	is "$(events "$log" "$f0" 'e["type"] == "npm" and
	    e["status"] == 200 and e["proxied"] and e["cache"] == "miss" and
	    (e["path"], e["package"], e["package-id"]) in
	    [("/tinypkg", "tinypkg", "e2e-tinypkg"),
	     ("/@e2e%2fscoped", "@e2e/scoped", "e2e-scope")]')" 2 \
	    "[$n] both packuments proxied from the registry (cache misses)"
	is "$(events "$log" "$f0" "$TARBALL"' and
	    (e["package"], e["version"], e["file-name"], e["location"]) in
	    [("tinypkg", "1.1.0", "tinypkg-1.1.0.tgz",
	      "'"$REG"'/tinypkg/-/tinypkg-1.1.0.tgz"),
	     ("@e2e/scoped", "1.0.1", "scoped-1.0.1.tgz",
	      "'"$REG"'/@e2e/scoped/-/scoped-1.0.1.tgz")]')" 2 \
	    "[$n] each tarball a 307 logged with name, version and file"
	is "$(upstream "$r0" '"/-/" in r["path"]')" \
	    "$(events "$log" "$f0" "$TARBALL")" \
	    "[$n] every tarball the registry served went through the gateway"
	is "$(upstream "$r0" 'r["path"] in ("/tinypkg", "/@e2e%2fscoped")')" 2 \
	    "[$n] the registry saw each packument once"
	is "$(events "$log" "$f0" 'e["status"] >= 400')" 0 \
	    "[$n] no error answers"

	# 2. second install, npm's cache empty: the packuments come from the
	# gateway's cache, the tarballs still through the gateway
	f0=$(lines "$log")
	r0=$(lines "$T/registry.log")
	project "$d/two"
	if npm_in "$d/two" "$d/cache2" "$gw" install tinypkg @e2e/scoped; then
		pass "[$n] second npm install, empty npm cache"
	else
		fail "[$n] second npm install, empty npm cache"
		diag "$(tail -n 15 "$d/two/npm.out")"
	fi
	is "$(events "$log" "$f0" 'e["type"] == "npm" and
	    e["status"] == 200 and e["cache"] == "hit" and e["proxied"] and
	    e["path"] in ("/tinypkg", "/@e2e%2fscoped")')" 2 \
	    "[$n] both packuments served from the gateway's cache"
	is "$(upstream "$r0" 'not "/-/" in r["path"]')" 0 \
	    "[$n] the registry saw no document request"
	is "$(events "$log" "$f0" "$TARBALL")" 2 \
	    "[$n] the tarballs: 307s again"
	is "$(upstream "$r0" '"/-/" in r["path"]')" 2 \
	    "[$n] and fetched from the registry after them"
	out=$(curl -s "$gw/-/metrics")
	if printf '%s\n' "$out" | grep -qi 'npm.*cache'; then
		like "$(printf '%s\n' "$out" | grep -i 'npm.*cache.*hit' |
		    grep -v '^#')" ' [1-9][0-9]*$' \
		    "[$n] /-/metrics counts the cache hits"
	else
		skip "[$n] /-/metrics has no npm cache counters"
	fi

	# 3. integrity: npm refuses a tarball whose digest differs
	project "$d/bad"
	if npm_in "$d/bad" "$d/cache3" "$gw" install badpkg; then
		fail "[$n] npm refuses a tarball with the wrong integrity"
	else
		like "$(cat "$d/bad/npm.out")" 'EINTEGRITY' \
		    "[$n] npm refuses a tarball with the wrong integrity"
	fi

	# 4. npm view (full packument), npm dist-tag ls (the dist-tags form)
	out=$(npm_in "$d/view" "$d/cache4" "$gw" view tinypkg@1.0.0 \
	    dist.tarball && tail -n 1 "$d/view/npm.out")
	is "$out" "$gw/tinypkg/-/tinypkg-1.0.0.tgz" \
	    "[$n] npm view: dist.tarball points at the gateway"
	npm_in "$d/tags" "$d/cache5" "$gw" dist-tag ls tinypkg
	is "$(sort "$d/tags/npm.out")" "latest: 1.1.0
next: 2.0.0-beta.1" "[$n] npm dist-tag ls"
	is "$(events "$log" 0 'e["path"] == "/-/package/tinypkg/dist-tags" and
	    e["status"] == 200 and e["proxied"]')" 1 \
	    "[$n] the dist-tags document was proxied"

	# 5. the other request forms, with curl
	out=$(curl -s "$gw/@e2e/scoped")
	is "$(printf '%s' "$out" | jq_py 'sorted(v["dist"]["tarball"] for v in
	    d["versions"].values())')" \
	    "[\"$gw/@e2e/scoped/-/scoped-1.0.0.tgz\", \"$gw/@e2e/scoped/-/scoped-1.0.1.tgz\"]" \
	    "[$n] /@scope/name form: the scoped packument, rewritten"
	curl -s -D "$d/corgi.h" -o "$d/corgi.json" \
	    -H 'Accept: application/vnd.npm.install-v1+json' "$gw/tinypkg"
	like "$(cat "$d/corgi.h")" \
	    '[Cc]ontent-[Tt]ype: application/vnd.npm.install-v1\+json' \
	    "[$n] abbreviated form: its Content-Type"
	is "$(jq_py '["readme" in d, sorted(v["dist"]["tarball"] for v in
	    d["versions"].values())[0]]' <"$d/corgi.json")" \
	    "[false, \"$gw/tinypkg/-/tinypkg-1.0.0.tgz\"]" \
	    "[$n] abbreviated form: the abbreviated document, rewritten"
	is "$(upstream "$rs" 'r["path"] == "/tinypkg" and
	    "application/vnd.npm.install-v1+json" in (r["accept"] or "")')" 1 \
	    "[$n] abbreviated form: asked of the registry once (then cached)"
	is "$(curl -s "$gw/tinypkg/latest" | jq_py '[d["version"],
	    d["dist"]["tarball"]]')" "[\"1.1.0\", \"$gw/tinypkg/-/tinypkg-1.1.0.tgz\"]" \
	    "[$n] version document by tag, rewritten"
	is "$(curl -s "$gw/@e2e%2fscoped/1.0.0" | jq_py 'd["dist"]["tarball"]')" \
	    "$gw/@e2e/scoped/-/scoped-1.0.0.tgz" \
	    "[$n] scoped version document, rewritten"
	h=$(curl -s -D - -o "$d/full.json" "$gw/tinypkg" | tr -d '\r')
	etag=$(printf '%s\n' "$h" | sed -n 's/^[Ee][Tt][Aa][Gg]: //p')
	like "$etag" '^"[0-9a-f]{40}"$' "[$n] packument: the registry's ETag"
	is "$(printf '%s\n' "$h" | sed -n 's/^[Cc]ontent-[Ll]ength: //p')" \
	    "$(wc -c <"$d/full.json" | tr -d ' ')" \
	    "[$n] packument: Content-Length of the rewritten body"
	like "$h" '[Vv]ary: Accept' "[$n] packument: Vary: Accept"
	like "$h" '[Ll]ast-[Mm]odified: Wed, 01 Jan 2020' \
	    "[$n] packument: Last-Modified"
	is "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" \
	    "$gw/tinypkg")" 304 "[$n] If-None-Match with that ETag: 304"
	is "$(curl -s -I "$gw/tinypkg" | tr -d '\r' |
	    sed -n 's/^[Cc]ontent-[Ll]ength: //p')" \
	    "$(wc -c <"$d/full.json" | tr -d ' ')" \
	    "[$n] HEAD: the same Content-Length"
	is "$(curl -s -o /dev/null -w '%{http_code}' "$gw/no-such-pkg")" 404 \
	    "[$n] an unknown package: the registry's 404"
}

# --- lighttpd, spawning the gateway itself ---------------------------------------
run_lighttpd() {
	local d=$T/lighttpd port pid lighttpd
	lighttpd=$(command -v lighttpd 2>/dev/null || echo /usr/sbin/lighttpd)
	if [ ! -x "$lighttpd" ]; then
		skip "[lighttpd] lighttpd not installed"
		return
	fi
	port=$(free_port)
	mkdir -p "$d/www"
	ok "[lighttpd] deploy/lighttpd-fastcgi.conf renders" \
	    render "$DEPLOY/lighttpd-fastcgi.conf" "$d/lighttpd.conf" \
	    BINDIR="$top_builddir/fcgi" MANIFEST="$T/manifest.json" \
	    STATEDIR="$d" BIND=127.0.0.1 PORT="$port"
	# lighttpd hands its environment to the program it spawns
	start_bg lighttpd-server env GATEWAY_PUBLIC_SCHEME=http \
	    "$lighttpd" -D -f "$d/lighttpd.conf"
	pid=$(pid_of lighttpd-server)
	if ! wait_port "$port" 200 || ! wait_socket "$d/scarf-gateway.sock-0"
	then
		fail "[lighttpd] starts"
		diag "$(cat "$T/lighttpd-server.err" "$d/lighttpd-error.log" 2>/dev/null)"
		stop_pid "$pid" 5
		return
	fi
	pass "[lighttpd] starts"
	npm_checks lighttpd "$port" "$d/events.log"
	stop_pid "$pid" 15
	is "$?" 0 "[lighttpd] exits 0 on SIGTERM"
}

# --- nginx, the gateway under deploy/spawn-fcgi.sh -------------------------------
run_nginx() {
	local d=$T/nginx port gw pid
	need_nginx_gateway nginx || return
	port=$(free_port)
	start_nginx_gateway nginx "$d" "$port" : GATEWAY_PUBLIC_SCHEME=http ||
	    return
	pid=$NGINX_PID gw=$NGINX_GW
	npm_checks nginx "$port" "$d/events.log"
	stop_pid "$pid" 15
	is "$?" 0 "[nginx] exits 0 on SIGTERM"
	stop_pid "$gw" 15
	is "$?" 0 "[nginx] the gateway exits 0 on SIGTERM"
}

run_lighttpd
run_nginx

stop_pid "$(pid_of registry)" 10
ok "the registry fixture is stopped" none_alive "$(pid_of registry)"

done_testing
