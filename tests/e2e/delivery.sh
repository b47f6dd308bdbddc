#!/usr/bin/env bash
# Delivered answers are logged as delivered (issue 11): the event log is
# what downloads are counted from, so an answer that reached the client
# whole must never carry "response not delivered", and one cut short by
# the client must.
#
# What broke: a proxied answer is pushed to the web server before the
# FastCGI END_REQUEST record (a HEAD's head, an npm document's head and
# body: common/proxy.c and common/npm_doc.c flush them), and the web
# server may close the connection as soon as it has what it needs (nginx
# after a HEAD's head; lighttpd once it has Content-Length bytes).  The
# END_REQUEST write that follows then failed with EPIPE, and the event
# said "response not delivered: Broken pipe" for an answer the client had
# received whole: about 1 in 4 HEADs of an npm document through nginx.
#
# For nginx (deploy/nginx.conf, the gateway under deploy/spawn-fcgi.sh on
# a Unix socket), lighttpd (deploy/lighttpd-fastcgi-socket.conf, the
# gateway on its own Unix socket) and nginx again with the gateway on a
# TCP socket (--listen tcp:127.0.0.1:PORT), in front of fixtures/npm_registry.py
# and fixtures/bad_upstream.py, 100 requests each of:
#
#   HEAD and GET of an npm document (/tinypkg, fetched and rewritten),
#   HEAD and GET of a docker blob (alternately 200,000 bytes, copied, and
#   2,000,000 bytes, spliced),
#
# each request's outcome taken from curl itself (exit status, status code,
# body bytes against Content-Length); every request that curl received
# whole must have one event, with no error.  Then a client killed after
# some bytes of a 64 MiB blob (fixtures/bad_upstream.py trickle, the
# client reading at 1 MB/s): its event must say the answer was not
# delivered ("response not delivered" or proxy.c's "client went away"),
# with fewer bytes than the blob's.
#
# Every process is started here and stopped by its pid.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib-servers.sh"

N=${DELIVERY_N:-100}
FIX=$E2E/fixtures
[ -x "$FCGI" ] || skip_all "fcgi/scarf-gateway not built"
command -v python3 >/dev/null || skip_all "python3 not installed"
command -v curl >/dev/null || skip_all "curl not installed"
cd "$T" || exit 99
# nginx's workers (nobody) reach the gateway's socket through $T
chmod 0711 "$T"
export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1

# --- the upstreams and the manifest -----------------------------------------
start_bg registry python3 "$FIX/npm_registry.py" --log "$T/registry.log" \
    --port-file "$T/registry.port"
start_bg upstream python3 "$FIX/bad_upstream.py" \
    --port-file "$T/upstream.port" --log "$T/upstream.log"
if ! wait_grep "$T/registry.port" '^[0-9]+$' >/dev/null ||
    ! wait_grep "$T/upstream.port" '^[0-9]+$' >/dev/null; then
	skip_all "the upstream fixtures did not start"
fi
REG=http://127.0.0.1:$(cat "$T/registry.port")
UP=$(cat "$T/upstream.port")
cat >"$T/manifest.json" <<EOF
{"rules": [
 {"type": "docker-v2", "domain": "reg.test", "rule-id": "blobs",
  "registry": "http://127.0.0.1:$UP", "pattern": "*/*"},
 {"type": "npm-v1", "domain": "npm.test", "package-id": "any",
  "package-name": "*", "registry": "$REG"}
]}
EOF
chmod 0644 "$T/manifest.json"
ok "the gateway accepts the test manifest" \
    "$FCGI" --manifest "$T/manifest.json" --check

DG=sha256:$(printf '%064d' 7)

# --- helpers -------------------------------------------------------------------

# batch NAME PORT: N requests of each kind through the web server on PORT,
# one curl per kind (a config file of N URLs, the connection kept alive
# between them); one line per request in $T/NAME.res:
#	ID EXITCODE HTTPCODE SIZE CONTENT-LENGTH
# (SIZE is the body bytes received; for a HEAD, Content-Length is what the
# answer announced and SIZE is 0)
batch() {
	local n=$1 port=$2 kind i sz path cfg host method
	: >"$T/$n.res"
	for kind in npm-head npm-get blob-head blob-get; do
		cfg=$T/$n-$kind.curl
		: >"$cfg"
		for ((i = 0; i < N; i++)); do
			case $kind in
			npm-*)	path="/tinypkg?id=$n-$kind-$i" ;;
			blob-*)	sz=$((i % 2 ? 200000 : 2000000))
				path="/v2/ok/x/blobs/$DG?size=$sz&id=$n-$kind-$i" ;;
			esac
			printf 'url = "http://127.0.0.1:%s%s"\noutput = "/dev/null"\n' \
			    "$port" "$path" >>"$cfg"
		done
		method=()
		case $kind in *-head) method=(-I) ;; esac
		case $kind in
		npm-*)	host=npm.test ;;
		*)	host=reg.test ;;
		esac
		curl -s -m 60 "${method[@]}" -H "Host: $host" -K "$cfg" \
		    -w '%{url} %{exitcode} %{http_code} %{size_download} %header{content-length}\n' \
		    2>/dev/null |
		    sed 's/^[^ ]*id=\([^ &]*\)/\1/' >>"$T/$n.res"
	done
}

# check NAME LOG: the test points over $T/NAME.res and the event log LOG
check() {
	local n=$1 log=$2 kind whole
	for kind in npm-head npm-get blob-head blob-get; do
		is "$(grep -c "^$n-$kind-" "$T/$n.res")" "$N" \
		    "[$n] $kind: curl ran all $N requests"
		# whole: curl exit 0, 200, and for GET every announced byte
		whole=$(awk -v k="$n-$kind-" 'index($1, k) == 1 && $2 == 0 &&
		    $3 == 200 && ($4 == $5 || k ~ /-head-$/) { c++ }
		    END { print c + 0 }' "$T/$n.res")
		is "$whole" "$N" "[$n] $kind: the client received all $N whole"
	done
	# the events of the requests received whole: one each, no error
	python3 - "$T/$n.res" "$log" <<'EOF' >"$T/$n.check" 2>&1
import json, re, sys
whole = set()
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) >= 4 and f[1] == "0" and f[2] == "200":
        whole.add(f[0])
ev = {}
for line in open(sys.argv[2]):
    if not line.strip():
        continue
    e = json.loads(line)
    m = re.search(r"(?:^|&)id=([^&]+)", e.get("query") or "")
    if m:
        ev.setdefault(m.group(1), []).append(e)
bad = []
for i in sorted(whole):
    es = ev.get(i, [])
    if len(es) != 1 or es[0].get("error"):
        bad.append("%s: %s" % (i, [x.get("error") for x in es]))
print(len(whole), len(bad))
kinds = {}
for b in bad:
    k = b.split(":")[0].rsplit("-", 1)[0]
    kinds[k] = kinds.get(k, 0) + 1
print("by kind:", ", ".join("%s %d" % kv for kv in sorted(kinds.items())))
for b in bad[:5]:
    print(b)
EOF
	read -r got nbad <"$T/$n.check"
	ok "[$n] every answer received whole has one event ($got)" \
	    test "${got:-0}" -eq $((4 * N))
	if [ "${nbad:-1}" = 0 ]; then
		pass "[$n] no event calls an answer received whole undelivered"
	else
		fail "[$n] no event calls an answer received whole undelivered"
		diag "$nbad of $got events have an error:" \
		    "$(tail -n +2 "$T/$n.check")"
	fi
}

# cut NAME PORT LOG: a client killed after some bytes of a 64 MiB blob
cut_short() {
	local n=$1 port=$2 log=$3 pid i=0 size e
	start_bg "$n-cut" curl -s --limit-rate 1M -H 'Host: reg.test' \
	    -o "$T/$n-cut.body" \
	    "http://127.0.0.1:$port/v2/trickle/x/blobs/$DG?size=67108864&ms=5&id=$n-cut"
	pid=$(pid_of "$n-cut")
	while size=$(stat -c %s "$T/$n-cut.body" 2>/dev/null || echo 0) &&
	    [ "$size" -lt 1000000 ] && [ $i -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	ok "[$n] cut: the client got some bytes ($size) before it was killed" \
	    test "$size" -ge 1000000
	wait_grep "$log" '"query":"[^"]*id='"$n"'-cut' 400 >/dev/null
	e=$(grep "id=$n-cut" "$log" | tail -n 1)
	like "$(printf '%s' "$e" | jfield error 2>&1)" \
	    'response not delivered|went away' \
	    "[$n] cut: the event says the answer was not delivered"
	ok "[$n] cut: and logs fewer bytes than the blob's" \
	    test "$(printf '%s' "$e" | jfield bytes 2>/dev/null || echo x)" \
	    -lt 67108864
}

# clean FILE: the program's stderr exists and holds no sanitizer report
clean() {
	[ -f "$1" ] && ! grep -Eq 'Sanitizer|runtime error' "$1"
}

# exercise NAME PORT DIR SERVER_PID GATEWAY_PID: the batch, its events,
# the client cut short, then both stopped; the gateway must exit 0 with
# nothing from a sanitizer
exercise() {
	local n=$1 port=$2 d=$3
	batch "$n" "$port"
	check "$n" "$d/events.log"
	cut_short "$n" "$port" "$d/events.log"
	stop_pid "$4" 10
	stop_pid "$5" 10
	ok "[$n] the gateway exits 0" test $? -eq 0
	ok "[$n] nothing from a sanitizer" clean "$T/$n-gateway.err"
}

# --- nginx ------------------------------------------------------------------------
run_nginx() {
	local n=nginx d=$T/nginx port
	diag "--- $n ---"
	need_nginx_gateway "$n" || return
	port=$(free_port)
	start_nginx_gateway "$n" "$d" "$port" : || return
	exercise "$n" "$port" "$d" "$NGINX_PID" "$NGINX_GW"
}

# --- lighttpd ---------------------------------------------------------------------
run_lighttpd() {
	local n=lighttpd d=$T/lighttpd port gw pid lt
	diag "--- $n ---"
	lt=$(command -v lighttpd 2>/dev/null || echo /usr/sbin/lighttpd)
	if [ ! -x "$lt" ]; then
		skip "[$n] lighttpd not installed"
		return
	fi
	port=$(free_port)
	mkdir -p "$d/www"
	start_bg "$n-gateway" "$FCGI" --manifest "$T/manifest.json" \
	    --listen "unix:$d/scarf-gateway.sock" --log "$d/events.log" \
	    --threads 8
	gw=$(pid_of "$n-gateway")
	ok "[$n] deploy/lighttpd-fastcgi-socket.conf renders" \
	    render "$DEPLOY/lighttpd-fastcgi-socket.conf" "$d/lighttpd.conf" \
	    BINDIR="$top_builddir/fcgi" MANIFEST="$T/manifest.json" \
	    STATEDIR="$d" BIND=127.0.0.1 PORT="$port"
	start_bg "$n-server" "$lt" -D -f "$d/lighttpd.conf"
	pid=$(pid_of "$n-server")
	if ! wait_socket "$d/scarf-gateway.sock" 200 ||
	    ! wait_port "$port" 200; then
		fail "[$n] starts"
		diag "$(cat "$T/$n-server.err" "$d/lighttpd-error.log" \
		    "$T/$n-gateway.err" 2>/dev/null)"
		stop_pid "$pid" 5
		stop_pid "$gw" 5
		return
	fi
	pass "[$n] starts"
	exercise "$n" "$port" "$d" "$pid" "$gw"
}

# --- nginx, the gateway on a TCP socket -----------------------------------------
# (relay_peer_took_all's TCP half: a reset, or bytes not acknowledged)
run_nginx_tcp() {
	local n=nginx-tcp d=$T/nginx-tcp port gport gw pid
	diag "--- $n ---"
	need_nginx_gateway "$n" || return
	port=$(free_port)
	gport=$(free_port)
	mkdir -p "$d"
	start_bg "$n-gateway" "$FCGI" --manifest "$T/manifest.json" \
	    --listen "tcp:127.0.0.1:$gport" --log "$d/events.log" --threads 8
	gw=$(pid_of "$n-gateway")
	ok "[$n] deploy/nginx.conf renders" render "$DEPLOY/nginx.conf" \
	    "$d/nginx-site.conf" BIND=127.0.0.1 PORT="$port" \
	    UPSTREAM="127.0.0.1:$gport"
	render "$DEPLOY/nginx-standalone.conf" "$d/nginx.conf" STATEDIR="$d"
	cp /etc/nginx/fastcgi_params "$d/"
	start_bg "$n-server" "$NGINX" -c "$d/nginx.conf"
	pid=$(pid_of "$n-server")
	if ! wait_port "$gport" 200 || ! wait_port "$port" 200; then
		fail "[$n] starts"
		diag "$(cat "$T/$n-server.err" "$d/nginx-error.log" \
		    "$T/$n-gateway.err" 2>/dev/null)"
		stop_pid "$pid" 5
		stop_pid "$gw" 5
		return
	fi
	pass "[$n] starts"
	exercise "$n" "$port" "$d" "$pid" "$gw"
}

run_nginx
run_lighttpd
run_nginx_tcp
done_testing
