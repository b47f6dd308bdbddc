#!/usr/bin/env bash
# pip through the gateway's Python index behind nginx and lighttpd (issue 5,
# item 1; SPEC §7), everything on 127.0.0.1 and offline:
#
#   upstream   a static PEP 503/691 index with wheels built here
#              (fixtures/make_pypi.py, fixtures/static_server.py --pep691),
#              each wheel's METADATA also served as <wheel>.metadata;
#   manifest   python-v1 rules with their sha256 (pip checks them): toppkg
#              (Requires-Dist: depkg; core-metadata with the .metadata
#              file's sha256; backend-simple-index-url to the static index),
#              yankpkg 1.0 and 2.0 (yanked, with a reason), pypkg 1.0
#              (requires-python ">=3.7,<4") and 2.0 (requires-python ">=4"),
#              badmeta (a wrong core-metadata hash); depkg is NOT in the
#              manifest, only in the static index;
#   servers    lighttpd (deploy/lighttpd-fastcgi.conf, spawning the gateway)
#              and nginx (deploy/nginx.conf + nginx-standalone.conf, the
#              gateway under deploy/spawn-fcgi.sh), each rendered twice: as
#              shipped, where pip negotiates PEP 691 JSON, and with a
#              test-only snippet forcing "Accept: text/html" on the way to
#              the gateway, where it gets the PEP 503 HTML pages;
#   checks     pip's own log names the representation it fetched ("Fetched
#              page URL as TYPE"); depkg resolves through the upstream-index
#              fall-through (SPEC §7.7, a 307 in the event log); pip fetches
#              toppkg's metadata from <file>.metadata (PEP 658/714, a 307)
#              and refuses metadata whose hash differs; the yanked 2.0 is
#              passed over unless pinned (then installed with pip's
#              warning); the 2.0 needing Python >= 4 is skipped.
#
# pip runs with --isolated --no-cache-dir against the web server only and
# installs into a fresh --target directory for every run.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib-servers.sh"

FIX=$E2E/fixtures
[ -x "$FCGI" ] || skip_all "fcgi/scarf-gateway not built"
command -v python3 >/dev/null || skip_all "python3 not installed"
command -v curl >/dev/null || skip_all "curl not installed"
cd "$T" || exit 99
# python3 resolved once, for this script and lib.sh: a version manager's
# shim (pyenv) costs 0.1 s a call, and there are some hundred calls
py3=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
if [ -x "$py3" ] && mkdir -p "$T/bin" && ln -s "$py3" "$T/bin/python3"; then
	PATH=$T/bin:$PATH
fi
# nginx's workers (nobody) reach the gateway's socket through $T
chmod 0711 "$T"

# pip, in a virtual environment of its own (as clients.sh: borrowing the
# system's pip takes a second where ensurepip takes ten)
if python3 -m venv --without-pip --system-site-packages venv \
    >venv.out 2>&1 && venv/bin/python -m pip --version >>venv.out 2>&1; then
	:
elif rm -rf venv && python3 -m venv venv >venv.out 2>&1 &&
    venv/bin/python -m pip --version >>venv.out 2>&1; then
	:
else
	skip_all "no pip for a venv (python3-venv, python3-pip): $(tail -n 1 venv.out)"
fi
PY=$T/venv/bin/python
# pip's version decides what it reads from the index: PEP 691 JSON from
# 22.2; PEP 658 metadata from 22.3, announced as data-dist-info-metadata
# (HTML) or "dist-info-metadata" (JSON); the PEP 714 names
# data-core-metadata and "core-metadata" from 23.2.  The gateway's JSON
# carries only "core-metadata" (SPEC §7.4), its HTML both attributes, so a
# pip before 23.2 (Debian 12 has 23.0.1) takes metadata files from the
# HTML pages only.
PIPV=$("$PY" -c 'import pip; print(pip.__version__)')
# pip_at_least MAJOR MINOR
pip_at_least() {
	"$PY" -c 'import sys
v = tuple(int(x) for x in sys.argv[1].split(".")[:2])
sys.exit(v < (int(sys.argv[2]), int(sys.argv[3])))' "$PIPV" "$1" "$2"
}
pip_at_least 22 3 ||
    skip_all "pip $PIPV is older than 22.3 (no PEP 691 and PEP 658)"
PEP714=
pip_at_least 23 2 && PEP714=1
diag "pip $PIPV, $("$PY" -V)"

# --- the upstream: a static index, wheels and their .metadata ---------------
python3 "$FIX/make_pypi.py" \
    --metadata toppkg "Requires-Dist: depkg" \
    --metadata pypkg==1.0 "Requires-Python: >=3.7,<4" \
    --metadata pypkg==2.0 "Requires-Python: >=4" \
    "$T/up" toppkg 1.0 depkg 0.5 yankpkg 1.0 yankpkg 2.0 pypkg 1.0 \
    pypkg 2.0 badmeta 1.0 >pypi.json

# w KEY FIELD: a field of make_pypi's output
w() {
	python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))[sys.argv[2]][sys.argv[3]])' \
	    "$T/pypi.json" "$1" "$2"
}
ok "fixtures: the wheels and their .metadata files" \
    test -s "up/packages/$(w toppkg file).metadata" -a \
    -s "up/simple/depkg/index.json"

start_bg static python3 "$FIX/static_server.py" --root "$T/up" \
    --log "$T/static.log" --port-file "$T/static.port" --pep691
i=0
while [ ! -s static.port ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
SPORT=$(cat static.port 2>/dev/null)
if ! wait_port "${SPORT:-0}"; then
	diag "$(cat static.err)"
	skip_all "the static upstream did not start"
fi
UP=http://127.0.0.1:$SPORT

# --- the manifest ------------------------------------------------------------
# rule KEY ID [MORE]: one python-v1 rule for make_pypi's wheel KEY (name or
# name==version); MORE is appended to the object
rule() {
	local f
	f=$(w "$1" file)
	printf '    {"type": "python-v1", "domain": "127.0.0.1", "package-id": "%s",
     "package-name": "%s", "version": "%s", "file-name": "%s",
     "backend-url": "%s/packages/%s",
     "hash-value": {"type": "sha256", "hash": "%s"}%s}' \
	    "$2" "${1%%==*}" "$(w "$1" version)" "$f" "$UP" "$f" \
	    "$(w "$1" sha256)" "${3:+, $3}"
}
BAD_SHA=0000000000000000000000000000000000000000000000000000000000000000
{
	echo '{"rules": ['
	rule toppkg e2e-toppkg '"core-metadata": {"type": "sha256", "hash": "'"$(w toppkg metadata-sha256)"'"},
     "backend-simple-index-url": "'"$UP"'/simple/"'
	echo ,
	rule yankpkg==1.0 e2e-yank
	echo ,
	rule yankpkg==2.0 e2e-yank '"yanked": "broken release"'
	echo ,
	rule pypkg==1.0 e2e-py '"requires-python": ">=3.7,<4"'
	echo ,
	rule pypkg==2.0 e2e-py '"requires-python": ">=4"'
	echo ,
	rule badmeta e2e-badmeta '"core-metadata": {"type": "sha256", "hash": "'"$BAD_SHA"'"}'
	printf '\n]}\n'
} >manifest.json
ok "the gateway accepts the test manifest" \
    "$FCGI" --manifest "$T/manifest.json" --check ||
    diag "$(cat manifest.json)"

# --- helpers -----------------------------------------------------------------

# paths LOG FROM EXPR: the distinct paths of those events, sorted, one a line
paths() {
	python3 -c 'import json, sys
p = set()
for i, line in enumerate(open(sys.argv[1])):
    if i >= int(sys.argv[2]) and line.strip():
        e = json.loads(line)
        ua = e.get("user-agent") or ""
        if eval("(" + sys.argv[3] + ")"):
            p.add(e["path"])
print("\n".join(sorted(p)))' "$1" "$2" "$3" 2>&1
}

# upstream FROM EXPR: upstream_count over static.log
upstream() {
	upstream_count "$T/static.log" "$1" "$2"
}

# pip_in DIR URL ARGS...: pip install ARGS from the index URL into the
# fresh directory DIR/site; pip's debug log in DIR/pip.log, its output in
# DIR/pip.out; returns pip's status
pip_in() {
	local dir=$1 url=$2
	shift 2
	rm -rf "$dir"
	mkdir -p "$dir"
	timeout 120 "$PY" -m pip install --no-cache-dir --isolated \
	    --disable-pip-version-check --no-input --no-compile \
	    --progress-bar off --retries 0 --timeout 20 \
	    --index-url "$url" --target "$dir/site" --log "$dir/pip.log" \
	    "$@" >"$dir/pip.out" 2>&1 </dev/null
}

# versions DIR MODULE...: "name version" of each module installed in DIR
versions() {
	local dir=$1
	shift
	PYTHONPATH=$dir/site "$PY" -c 'import importlib, sys
for m in sys.argv[2:]:
    mod = importlib.import_module(m)
    where = "" if mod.__file__.startswith(sys.argv[1]) else " (elsewhere)"
    print(m, mod.__version__, mod.hello() + where)' "$dir/site/" "$@" 2>&1
}

# The Accept header pip 23 sends for index pages (pip/_internal/index/
# collector.py): JSON first, HTML as the fallback
PIP_ACCEPT='application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01'

# --- the test list, against one web server -----------------------------------
# pip_checks NAME PORT LOG REPR: REPR is json (the server as shipped) or
# html (Accept forced to text/html in front of the gateway)
pip_checks() {
	local n=$1 log=$3 repr=$4 d=$T/$1 f0 r0 out want p meta
	local gw=http://127.0.0.1:$2
	local top yank1 yank2 py1 py2
	top=$(w toppkg file)
	yank1=$(w yankpkg==1.0 file)
	yank2=$(w yankpkg==2.0 file)
	py1=$(w pypkg==1.0 file)
	py2=$(w pypkg==2.0 file)
	case $repr in
	json) want=application/vnd.pypi.simple.v1+json ;;
	*) want=text/html ;;
	esac
	mkdir -p "$d"

	# 0. what pip is going to see, asked with pip's own Accept
	curl -s -D "$d/page.h" -o "$d/page.body" -H "Accept: $PIP_ACCEPT" \
	    "$gw/simple/yankpkg/"
	like "$(tr -d '\r' <"$d/page.h")" "^[Cc]ontent-[Tt]ype: ${want//+/\\+}" \
	    "[$n] a project page asked with pip's Accept is $want"
	like "$(tr -d '\r' <"$d/page.h")" '^[Vv]ary: Accept' \
	    "[$n] with Vary: Accept"
	if [ "$repr" = json ]; then
		is "$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(" ".join("%s:%s:%s" % (f["filename"], f["hashes"].get("sha256"),
    f.get("yanked")) for f in d["files"]))' "$d/page.body" 2>&1)" \
		    "$yank1:$(w yankpkg==1.0 sha256):None $yank2:$(w yankpkg==2.0 sha256):broken release" \
		    "[$n] JSON: the manifest's hashes and the yanked reason"
	else
		like "$(cat "$d/page.body")" \
		    "href=\"/simple/yankpkg/$yank2#sha256=$(w yankpkg==2.0 sha256)\" data-yanked=\"broken release\"" \
		    "[$n] HTML: the manifest's hash and data-yanked"
	fi

	# 1. toppkg (depkg through the upstream index), yankpkg, pypkg
	f0=$(lines "$log")
	r0=$(lines "$T/static.log")
	if pip_in "$d/one" "$gw/simple/" toppkg yankpkg pypkg; then
		pass "[$n] pip install toppkg yankpkg pypkg"
	else
		fail "[$n] pip install toppkg yankpkg pypkg"
		diag "$(tail -n 15 "$d/one/pip.out")"
	fi
	is "$(versions "$d/one" toppkg depkg yankpkg pypkg)" \
	    "toppkg 1.0 hello from toppkg
depkg 0.5 hello from depkg
yankpkg 1.0 hello from yankpkg
pypkg 1.0 hello from pypkg" \
	    "[$n] all four import: depkg pulled in, yankpkg and pypkg 1.0"
	out=$(grep -o 'Fetched page .*' "$d/one/pip.log" | sort)
	is "$out" "Fetched page $gw/simple/depkg/ as application/vnd.pypi.simple.v1+json
Fetched page $gw/simple/pypkg/ as $want
Fetched page $gw/simple/toppkg/ as $want
Fetched page $gw/simple/yankpkg/ as $want" \
	    "[$n] pip fetched the gateway's pages as $want (depkg: the upstream's JSON)"
	is "$(events "$log" "$f0" 'ua.startswith("pip/") and
	    e["type"] == "python" and e["status"] == 200 and
	    e["path"] in ("/simple/toppkg/", "/simple/yankpkg/",
	    "/simple/pypkg/")')" 3 \
	    "[$n] the gateway served the three project pages"
	is "$(events "$log" "$f0" 'ua.startswith("pip/") and
	    e["type"] == "python" and e["status"] == 307 and
	    e["path"] == "/simple/depkg/" and e["package"] == "depkg" and
	    e["package-id"] is None and
	    e["location"] == "'"$UP"'/simple/depkg/"')" 1 \
	    "[$n] depkg (not in the manifest): a 307 to the upstream index"
	is "$(upstream "$r0" 'r["path"] == "/simple/depkg/" and
	    r["status"] == 200')" 1 \
	    "[$n] pip followed it to the upstream index"
	if [ "$repr" = json ] && [ -z "$PEP714" ]; then
		meta="pip $PIPV reads no \"core-metadata\" in JSON (PEP 714: 23.2)"
		skip "[$n] .metadata (PEP 658/714): $meta"
		is "$(events "$log" "$f0" 'e["path"].endswith(".metadata")')" 0 \
		    "[$n] so it asked for no .metadata file"
	else
		meta=
		like "$(cat "$d/one/pip.log")" \
		    "Obtaining dependency information for toppkg from $gw/simple/toppkg/$top\\.metadata" \
		    "[$n] pip took toppkg's dependencies from its .metadata (PEP 658/714)"
		is "$(events "$log" "$f0" 'ua.startswith("pip/") and
		    e["type"] == "python" and e["status"] == 307 and
		    e["path"] == "/simple/toppkg/'"$top"'.metadata" and
		    e["file-name"] == "'"$top"'" and e["version"] == "1.0" and
		    e["package-id"] == "e2e-toppkg" and
		    e["location"] == "'"$UP"'/packages/'"$top"'.metadata"')" 1 \
		    "[$n] the .metadata request: a 307 to <backend-url>.metadata"
		is "$(upstream "$r0" 'r["path"] == "/packages/'"$top"'.metadata" and
		    r["status"] == 200')" 1 \
		    "[$n] pip fetched it from the upstream (its sha256 checked)"
	fi
	# (pip 23.0 downloads a wheel resolved from its .metadata twice)
	is "$(paths "$log" "$f0" 'ua.startswith("pip/") and
	    e["type"] == "python" and e["status"] == 307 and
	    (e["path"], e["location"], e["version"]) in [
	    ("/simple/toppkg/'"$top"'", "'"$UP/packages/$top"'", "1.0"),
	    ("/simple/yankpkg/'"$yank1"'", "'"$UP/packages/$yank1"'", "1.0"),
	    ("/simple/pypkg/'"$py1"'", "'"$UP/packages/$py1"'", "1.0")]')" \
	    "/simple/pypkg/$py1
/simple/toppkg/$top
/simple/yankpkg/$yank1" \
	    "[$n] the three wheels: 307s to their backend-url"
	is "$(events "$log" "$f0" '"'"$yank2"'" in e["path"] or
	    "'"$py2"'" in e["path"]')" 0 \
	    "[$n] neither the yanked 2.0 nor the one for Python >= 4 was fetched"
	like "$(cat "$d/one/pip.log")" \
	    "Link requires a different Python \\([0-9.]+ not in: '>=4'\\): $gw/simple/pypkg/$py2" \
	    "[$n] pip skipped pypkg 2.0 for its requires-python"
	is "$(upstream "$r0" 'r["path"].startswith("/packages/") and
	    not r["path"].startswith("/packages/depkg-")')" \
	    "$(events "$log" "$f0" 'e["status"] == 307 and
	    e["path"].startswith("/simple/") and
	    e["location"].startswith("'"$UP"'/packages/")')" \
	    "[$n] every manifest file the upstream served went through the gateway"

	# 2. the yanked version, pinned: installed, with pip's warning
	f0=$(lines "$log")
	if pip_in "$d/two" "$gw/simple/" yankpkg==2.0; then
		pass "[$n] pip install yankpkg==2.0"
	else
		fail "[$n] pip install yankpkg==2.0"
		diag "$(tail -n 15 "$d/two/pip.out")"
	fi
	is "$(versions "$d/two" yankpkg)" "yankpkg 2.0 hello from yankpkg" \
	    "[$n] the yanked 2.0 is installed when pinned"
	out=$(tr '\n' ' ' <"$d/two/pip.out")
	like "$out" "WARNING: The candidate selected for download or install is a yanked version: 'yankpkg' candidate \\(version 2\\.0 at $gw/simple/yankpkg/$yank2.*\\) Reason for being yanked: broken release" \
	    "[$n] with pip's warning and the manifest's reason"
	is "$(events "$log" "$f0" 'ua.startswith("pip/") and
	    e["status"] == 307 and
	    e["path"] == "/simple/yankpkg/'"$yank2"'" and
	    e["package-id"] == "e2e-yank"')" 1 \
	    "[$n] its wheel: a 307"

	# 3. metadata whose hash differs from the manifest's: pip refuses it
	if [ -n "$meta" ]; then
		skip "[$n] a wrong .metadata hash: $meta"
	elif pip_in "$d/bad" "$gw/simple/" badmeta; then
		fail "[$n] pip refuses .metadata whose hash differs"
	else
		like "$(cat "$d/bad/pip.out")" 'DO NOT MATCH THE HASHES' \
		    "[$n] pip refuses .metadata whose hash differs"
		p=$(w badmeta file)
		is "$(events "$log" "$f0" 'e["status"] == 307 and
		    e["path"] == "/simple/badmeta/'"$p"'.metadata"')" 1 \
		    "[$n] (that .metadata was a 307 too)"
	fi

	is "$(events "$log" 0 'e["status"] >= 400')" 0 \
	    "[$n] the gateway answered no request with an error"
}

# --- the test-only snippets ----------------------------------------------------
# accept_snippets DIR: writes DIR/accept-html.{nginx,lighttpd}.  They are
# test devices that make the web server replace the client's Accept with
# text/html on the way to the gateway, so that pip (which asks for JSON
# first) gets the HTML representation.  NOT deployment settings: they
# break content negotiation for every client.
accept_snippets() {
	cat >"$1/accept-html.nginx" <<'EOF'
# TEST DEVICE (tests/e2e/pip.sh), not a deployment setting: every request
# reaches the gateway with "Accept: text/html", whatever the client sent
# (nginx passes an HTTP_* fastcgi_param instead of that request header).
fastcgi_param HTTP_ACCEPT "text/html";
EOF
	cat >"$1/accept-html.lighttpd" <<'EOF'
# TEST DEVICE (tests/e2e/pip.sh), not a deployment setting: every request
# reaches the gateway with "Accept: text/html", whatever the client sent.
server.modules += ( "mod_setenv" )
setenv.set-request-header = ( "Accept" => "text/html" )
EOF
}

# --- lighttpd, spawning the gateway itself ---------------------------------------
# run_lighttpd REPR
run_lighttpd() {
	local repr=$1 n=lighttpd-$1 d=$T/lighttpd-$1 port pid kids lighttpd
	lighttpd=$(command -v lighttpd 2>/dev/null || echo /usr/sbin/lighttpd)
	if [ ! -x "$lighttpd" ]; then
		skip "[$n] lighttpd not installed"
		return
	fi
	port=$(free_port)
	mkdir -p "$d/www"
	ok "[$n] deploy/lighttpd-fastcgi.conf renders" \
	    render "$DEPLOY/lighttpd-fastcgi.conf" "$d/lighttpd.conf" \
	    BINDIR="$top_builddir/fcgi" MANIFEST="$T/manifest.json" \
	    STATEDIR="$d" BIND=127.0.0.1 PORT="$port"
	if [ "$repr" = html ]; then
		accept_snippets "$d"
		echo "include \"$d/accept-html.lighttpd\"" >>"$d/lighttpd.conf"
	fi
	start_bg "$n" "$lighttpd" -D -f "$d/lighttpd.conf"
	pid=$(pid_of "$n")
	if ! wait_port "$port" 200 || ! wait_socket "$d/scarf-gateway.sock-0"
	then
		fail "[$n] starts"
		diag "$(cat "$T/$n.err" "$d/lighttpd-error.log" 2>/dev/null)"
		stop_pid "$pid" 5
		return
	fi
	pass "[$n] starts"
	kids=$(descendants "$pid")
	pip_checks "$n" "$port" "$d/events.log" "$repr"
	stop_pid "$pid" 15
	is "$?" 0 "[$n] exits 0 on SIGTERM"
	# shellcheck disable=SC2086
	ok "[$n] the gateway it spawned is gone" gone $kids
}

# --- nginx, the gateway under deploy/spawn-fcgi.sh -------------------------------
# nginx_accept_html NAME DIR: the test-only Accept snippet into
# DIR/nginx-site.conf, in the location right after fastcgi_pass (a
# start_nginx_gateway HOOK)
# shellcheck disable=SC2317
nginx_accept_html() {
	local n=$1 d=$2
	accept_snippets "$d"
	sed -i "/^ *fastcgi_pass scarf_gateway;/a\\
        include $d/accept-html.nginx;" "$d/nginx-site.conf"
	ok "[$n] the test-only Accept snippet is included" \
	    grep -q "include $d/accept-html.nginx;" "$d/nginx-site.conf"
}

# run_nginx REPR
run_nginx() {
	local repr=$1 n=nginx-$1 d=$T/nginx-$1 port gw pid hook=:
	need_nginx_gateway "$n" || return
	port=$(free_port)
	[ "$repr" = html ] && hook=nginx_accept_html
	start_nginx_gateway "$n" "$d" "$port" "$hook" || return
	pid=$NGINX_PID gw=$NGINX_GW
	pip_checks "$n" "$port" "$d/events.log" "$repr"
	stop_pid "$pid" 15
	is "$?" 0 "[$n] exits 0 on SIGTERM"
	stop_pid "$gw" 15
	is "$?" 0 "[$n] the gateway exits 0 on SIGTERM"
}

run_lighttpd json
run_lighttpd html
run_nginx json
run_nginx html

stop_pid "$(pid_of static)" 10
ok "the static upstream is stopped" none_alive "$(pid_of static)"

done_testing
