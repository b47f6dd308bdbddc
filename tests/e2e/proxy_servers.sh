#!/usr/bin/env bash
# Proxied docker bodies (SPEC §3.5) behind every web server that deploy/
# has a configuration for.  A body of 1 MiB or more with a Content-Length
# from an http:// registry is spliced (common/proxy.c splice_rest(),
# common/relay.c): upstream socket -> pipe -> the web server's connection,
# as FCGI_STDOUT records (fcgi/serve.c fcgi_out_relay) or onto the CGI
# program's stdout (cgi/main.c cgi_out_relay).  proxy_faults.sh tests that
# path in depth behind nginx; this script runs a short list of checks
# through each front end, against fixtures/bad_upstream.py:
#
#   nginx            deploy/nginx.conf in nginx-standalone.conf, the
#                    program under deploy/spawn-fcgi.sh (Unix socket)
#   lighttpd         deploy/lighttpd-fastcgi-socket.conf, the program on
#                    its own (--listen unix:)
#   caddy            deploy/Caddyfile, the program on --listen tcp:
#   apache-proxy-fcgi  deploy/apache-proxy-fcgi.conf, the program under
#                    deploy/spawn-fcgi.sh (Unix socket)
#   apache-fcgid     deploy/apache-fcgid.conf, mod_fcgid spawns the program
#   apache-cgid      deploy/apache-cgid.conf, mod_cgid runs the CGI program
#   lighttpd-cgi     deploy/lighttpd-cgi.conf, mod_cgi runs the CGI program
#
# each skipped, with its reason, when its server (or module) is missing.
# The checks, each request with a time limit:
#
#   1. GET of a 20 MB blob: 200, every byte, the fixture's sha256;
#   2. it was spliced: the program's gateway_proxy_body_bytes_total
#      {path="splice"} (/-/metrics, through the same server) grew by at
#      least 19 MB; the CGI program has no metrics: its event has
#      bytes 20000000;
#   3. HEAD of it: 200, Content-Length 20000000, no body (a raw request);
#   4. an 8 MiB body whose upstream sends half, then a TCP reset, after
#      the splice took over: the client must see a truncated transfer
#      (never curl exit 0) of the body's own bytes, without a hang; and
#      the same for a 1100-byte body (copied), 550 bytes sent;
#   5. a small answer through the same server afterwards: 200
#      {"stub":"ok"};
#   6. one event line per request, proxied true.
#
# What the client sees at 4, measured (2026-11-27, Debian 12 packages,
# curl 7.88.1: exit 18 = partial transfer; body bytes received of the
# 8388608 promised, of which the upstream sent 4194304; time of the whole
# request, the upstream's own 0.2 s before its reset included), with
# deploy/'s configurations as shipped.  The same with --splice 0 /
# GATEWAY_SPLICE=0 wherever it was tried:
#
#	                         curl  Content-Length  bytes      time
#	nginx 1.22.1              18    8388608         4194304    0.2 s
#	lighttpd 1.4.69           18    8388608         4194304    0.2 s
#	Caddy 2.6.2               18    8388608         4194304    0.2 s
#	Apache 2.4 proxy_fcgi     18    8388608         4194304    5.2 s
#	Apache 2.4 fcgid          18    8388608         4194304    5.2 s
#	Apache 2.4 mod_cgid       18    8388608         4194304    5.2 s
#	lighttpd 1.4.69 mod_cgi   18    8388608         4194304    6.2 s
#
# The time limit is 10 s for the last four, 5 s for the others.  What
# this script found, and what deploy/ does about it:
#   - mod_proxy_fcgi and mod_cgid (since Apache 2.4.59, the
#     CVE-2024-24795 fix) drop the program's Content-Length from every
#     answer unless `SetEnv ap_trust_cgilike_cl 1`: GETs went out chunked
#     and a HEAD had no Content-Length.  The shipped files set it.
#   - mod_fcgid answers the program's usual abort (a bad record, then a
#     shut-down connection) by appending Apache's 571-byte "500 Internal
#     Server Error" page to the 200 body under way: foreign bytes after
#     the real ones, and a complete, corrupted body (curl exit 0) when
#     fewer than 571 were missing.  deploy/apache-fcgid.conf sets
#     GATEWAY_ABORT_MODE=end: the program ends the request short of its
#     Content-Length, and Apache closes the connection after its
#     KeepAliveTimeout (5 s).
#   - Apache (after END_REQUEST or the CGI program's exit) and lighttpd's
#     mod_cgi take the end of the program's output for the end of the
#     response and keep the connection for the next request: the client
#     sees the truncation when the server's keep-alive timeout (5 s)
#     closes it, at once with Connection: close, and a request pipelined
#     behind gets its answer inside the short body.  Whatever the program
#     does (exit 1, killed by a signal) makes no difference.
#
# Every process is started here and stopped by its pid.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib-servers.sh"

# A well-formed blob digest: the gateway answers 400 to a sha256 digest
# that is not 64 lower-case hex digits (README, "Docker paths").
dg() { printf 'sha256:%064d' "$1"; }
. "$(dirname "$0")/apachelib.sh"

command -v python3 >/dev/null || skip_all "python3 not installed"
command -v curl >/dev/null || skip_all "curl not installed"
[ -x "$FCGI" ] || [ -x "$CGI" ] || skip_all "neither program is built"
cd "$T" || exit 99
# unprivileged workers (nginx's nobody, Apache's www-data) reach the
# sockets and files below $T
chmod 0711 "$T"
# the programs reach 127.0.0.1 directly, whatever the environment says
export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1

BIG=20000000
BIG_SHA=$(sha_of "$BIG")
HALF=8388608

# --- the upstream and the manifest ------------------------------------------
start_bg upstream python3 "$E2E/fixtures/bad_upstream.py" \
    --port-file "$T/upstream.port" --log "$T/upstream.log"
wait_grep "$T/upstream.port" '^[0-9]+$' || done_testing
UP=$(cat "$T/upstream.port")
cat >"$T/manifest.json" <<EOF
{"rules": [
 {"type": "docker-v2", "domain": "reg.test", "rule-id": "bad",
  "registry": "http://127.0.0.1:$UP", "pattern": "*/*"}
]}
EOF
chmod 0644 "$T/manifest.json"

# --- helpers --------------------------------------------------------------------

# hdr ID NAME: a response header of request ID
hdr() {
	tr -d '\r' <"$T/$1.head" | sed -n "s/^$2: //Ip" | head -n 1
}

# raw_head PORT PATH: "STATUS CONTENT-LENGTH BYTES-AFTER-THE-HEAD" of a
# HEAD request on its own connection (Connection: close), read to the end
raw_head() {
	python3 - "$@" <<'EOF' 2>&1
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
s.sendall(("HEAD %s HTTP/1.1\r\nHost: reg.test\r\nConnection: close\r\n\r\n"
           % sys.argv[2]).encode())
data = b""
while True:
    c = s.recv(65536)
    if not c:
        break
    data += c
head, _, rest = data.partition(b"\r\n\r\n")
lines = head.decode("latin-1").split("\r\n")
cl = [l.split(":", 1)[1].strip() for l in lines[1:]
      if l.lower().startswith("content-length:")]
print(lines[0].split()[1], cl[0] if cl else "none", len(rest))
EOF
}

# splice_bytes: gateway_proxy_body_bytes_total{path="splice"} of the
# program behind $URL
splice_bytes() {
	curl -s -m 5 -H 'Host: reg.test' "$URL/-/metrics" |
	    sed -n 's/^gateway_proxy_body_bytes_total{path="splice"} //p'
}

# lt A B: A < B for decimal numbers
# shellcheck disable=SC2317	# (called through ok)
lt() {
	python3 -c 'import sys
sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)' "$1" "$2"
}

# ev LOG ID: "COUNT PROXIED BYTES ERROR" of request ID's event lines in
# LOG (how many, then the keys of the last one, as JSON); waits for one
ev() {
	wait_grep "$1" "\"query\":\"[^\"]*id=$2[\"&]" 100 >/dev/null
	python3 -c 'import json, re, sys
es = [e for e in map(json.loads, filter(str.strip, open(sys.argv[1])))
      if re.search(r"(?:^|&)id=" + re.escape(sys.argv[2]) + r"(?:&|$)",
                   e["query"])]
last = es[-1] if es else {}
print(len(es), *(json.dumps(last.get(k)) for k in
      ("proxied", "bytes", "error")))' "$1" "$2" 2>&1
}

# proxy_checks NAME PORT LOG KIND LIMIT: checks 1-6 through the web server
# NAME on PORT whose program logs to LOG; KIND is fcgi (splice counter from
# /-/metrics) or cgi (the event's bytes); LIMIT, in seconds, for the reset.
# The counters are per process: where the web server may start several
# (mod_fcgid), ONE_EXE names the program's executable, and one process must
# have been the only one from the first /-/metrics to the second.
proxy_checks() {
	local n=$1 port=$2 log=$3 kind=$4 limit=$5 s0='' s1 p0='' p1 id at
	local URL=http://127.0.0.1:$2

	# 1, 2: a 20 MB body, spliced
	if [ "$kind" = fcgi ]; then
		s0=$(splice_bytes)
		like "$s0" '^[0-9]+$' "[$n] /-/metrics has the splice counter"
		[ -n "${ONE_EXE:-}" ] && p0=$(pids_of_exe "$ONE_EXE")
	fi
	fetch "$n-big" "/v2/ok/x/blobs/$(dg 6)?size=$BIG"
	is "$CODE $RC $SIZE" "200 0 $BIG" "[$n] 20 MB: 200, complete"
	is "$(sha "$T/$n-big.body")" "$BIG_SHA" "[$n] 20 MB: the same bytes"
	rm -f "$T/$n-big.body"
	if [ "$kind" = fcgi ]; then
		s1=$(splice_bytes)
		ok "[$n] 20 MB: spliced ($((s1 - s0)) bytes by splice(2))" \
		    test $((s1 - s0)) -ge 19000000
		if [ -n "${ONE_EXE:-}" ]; then
			p1=$(pids_of_exe "$ONE_EXE")
			ok "[$n] ... all in one program process ($p1)" \
			    test "$(echo "$p1" | grep -c .)" = 1 -a "$p0" = "$p1"
		fi
	else
		is "$(ev "$log" "$n-big" | cut -d' ' -f3)" "$BIG" \
		    "[$n] 20 MB: the CGI program's event has bytes $BIG"
	fi

	# 3: HEAD
	is "$(raw_head "$port" "/v2/ok/x/blobs/$(dg 6)?size=$BIG&id=$n-head")" \
	    "200 $BIG 0" "[$n] HEAD: 200, Content-Length $BIG, no body"

	# 4: a reset mid-body, after the splice took over
	fetch "$n-reset" "/v2/reset/x/blobs/$(dg 1)?size=$HALF"
	diag "[$n] reset mid-body: curl $RC, HTTP $CODE, Content-Length" \
	    "$(hdr "$n-reset" Content-Length), $SIZE bytes, $SECS s"
	is "$CODE" 200 "[$n] reset mid-body: the head was 200"
	ok "[$n] reset mid-body: a truncated transfer (curl $RC, $SIZE bytes)" \
	    test "$RC" -ne 0 -a "$SIZE" -lt "$HALF"
	if cmp "$T/$n-reset.body" <(pattern "$SIZE") >"$T/$n-reset.cmp" 2>&1
	then
		pass "[$n] reset mid-body: what arrived is the body's start, nothing else"
	else
		fail "[$n] reset mid-body: what arrived is the body's start, nothing else"
		at=$(sed -n 's/.* differ: byte \([0-9]*\).*/\1/p' "$T/$n-reset.cmp")
		diag "$(cat "$T/$n-reset.cmp")" "from there: $(tail -c +"${at:-1}" \
		    "$T/$n-reset.body" | head -c 120 | tr '\n' ' ')"
	fi
	ok "[$n] reset mid-body: no hang ($SECS s < $limit s)" \
	    lt "$SECS" "$limit"

	# 4b: the same on a small body (copied, not spliced), 550 of 1100
	# bytes sent: the client must not get a complete body either
	fetch "$n-reset2" "/v2/reset/x/blobs/$(dg 1)?size=1100"
	diag "[$n] small reset: curl $RC, HTTP $CODE, $SIZE bytes, $SECS s"
	ok "[$n] small reset: a truncated transfer (curl $RC, $SIZE bytes)" \
	    test "$RC" -ne 0 -a "$SIZE" -lt 1100
	ok "[$n] small reset: what arrived is the body's start" \
	    cmp -s "$T/$n-reset2.body" <(pattern "$SIZE")

	# 5: a small answer after that
	fetch "$n-small" /v2/ok/x/manifests/latest
	is "$CODE $RC $(cat "$T/$n-small.body")" '200 0 {"stub":"ok"}' \
	    "[$n] then a small answer: 200 {\"stub\":\"ok\"}"

	# 6: the event log
	for id in big head small; do
		like "$(ev "$log" "$n-$id")" '^1 true ' \
		    "[$n] $id: one event line, proxied"
	done
	for id in reset reset2; do
		like "$(ev "$log" "$n-$id")" '^1 true .*mid-body' \
		    "[$n] $id: one event line, proxied, the error"
	done
}

# up NAME PORT SOCKET PID...: waits for the Unix socket SOCKET (- for
# none) and for PORT: test point "[NAME] starts"; when they do not come,
# the logs as a diagnostic, the PIDs stopped, and status 1
up() {
	local n=$1 port=$2 sock=$3 pid
	shift 3
	if { [ "$sock" = - ] || wait_socket "$sock" 200; } &&
	    wait_port "$port" 200; then
		pass "[$n] starts"
		return 0
	fi
	fail "[$n] starts"
	diag "$(tail -n 20 "$T/$n"-*.err "$T/$n"/*error.log 2>/dev/null)"
	for pid in "$@"; do
		stop_pid "$pid" 5
	done
	return 1
}

# stopped NAME WHAT PID [RCS]: SIGTERM to PID, which must end with a status
# matching the regex RCS (default 0), leaving no process it started
stopped() {
	local n=$1 what=$2 pid=$3 rcs=${4:-0} kids rc i=0
	kids=$(descendants "$pid")
	stop_pid "$pid" 15
	rc=$?
	like "$rc" "^($rcs)\$" "[$n] $what stops on SIGTERM (status $rc)"
	# (a server may exit before the children it signalled)
	# shellcheck disable=SC2086
	while [ -n "$(still_alive $kids)" ] && [ $i -lt 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	# shellcheck disable=SC2086
	is "$(still_alive $kids)" "" "[$n] no process $what started is left"
}

# clean NAME FILE...: no sanitizer report in the programs' stderr
clean() {
	local n=$1
	shift
	if grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error|UndefinedBehavior' \
	    "$@" 2>/dev/null; then
		fail "[$n] no sanitizer report from the program"
		diag "$(grep -hE -A5 'Sanitizer|runtime error' "$@" | head -40)"
	else
		pass "[$n] no sanitizer report from the program"
	fi
}

# no_fcgi NAME: true (after one skip) when the FastCGI program is not built
no_fcgi() {
	[ -x "$FCGI" ] && return 1
	skip "[$1] fcgi/scarf-gateway not built"
}

# lighttpd_missing NAME: true (after one skip) without lighttpd; sets
# LIGHTTPD
lighttpd_missing() {
	LIGHTTPD=$(command -v lighttpd 2>/dev/null || echo /usr/sbin/lighttpd)
	[ -x "$LIGHTTPD" ] && return 1
	skip "[$1] lighttpd not installed"
}

# apache_missing NAME MODULE...: true (after one skip) when apache_init
# MODULE... would skip; it skips the whole script, so it is tried in a
# subshell first
apache_missing() {
	local n=$1 why
	shift
	why=$(apache_init "$@")
	[ -z "$why" ] && return 1
	skip "[$n] ${why#1..0 # SKIP }"
}

# --- the front ends -----------------------------------------------------------------

run_nginx() {
	local n=nginx d=$T/nginx port
	diag "--- $n ---"
	if no_fcgi "$n" || ! need_nginx_gateway "$n"; then
		return
	fi
	port=$(free_port)
	start_nginx_gateway "$n" "$d" "$port" : GATEWAY_UPSTREAM_TIMEOUT=2 ||
	    return
	proxy_checks "$n" "$port" "$d/events.log" fcgi 5
	stopped "$n" nginx "$NGINX_PID"
	stopped "$n" "the program" "$NGINX_GW"
	clean "$n" "$T/$n-gateway.err"
}

# lighttpd connecting to the program's socket
run_lighttpd() {
	local n=lighttpd d=$T/lighttpd port gw pid
	diag "--- $n ---"
	if no_fcgi "$n" || lighttpd_missing "$n"; then
		return
	fi
	port=$(free_port)
	mkdir -p "$d/www"
	start_bg "$n-gateway" "$FCGI" --manifest "$T/manifest.json" \
	    --listen "unix:$d/scarf-gateway.sock" --log "$d/events.log" \
	    --upstream-timeout 2 --threads 4
	gw=$(pid_of "$n-gateway")
	ok "[$n] deploy/lighttpd-fastcgi-socket.conf renders" \
	    render "$DEPLOY/lighttpd-fastcgi-socket.conf" "$d/lighttpd.conf" \
	    BINDIR="$top_builddir/fcgi" MANIFEST="$T/manifest.json" \
	    STATEDIR="$d" BIND=127.0.0.1 PORT="$port"
	start_bg "$n-server" "$LIGHTTPD" -D -f "$d/lighttpd.conf"
	pid=$(pid_of "$n-server")
	up "$n" "$port" "$d/scarf-gateway.sock" "$pid" "$gw" || return
	proxy_checks "$n" "$port" "$d/events.log" fcgi 5
	stopped "$n" lighttpd "$pid"
	stopped "$n" "the program" "$gw"
	clean "$n" "$T/$n-gateway.err"
}

run_caddy() {
	local n=caddy d=$T/caddy port gport gw pid caddy
	diag "--- $n ---"
	no_fcgi "$n" && return
	caddy=$(command -v caddy 2>/dev/null || echo /usr/bin/caddy)
	if [ ! -x "$caddy" ]; then
		skip "[$n] caddy not installed"
		return
	fi
	port=$(free_port)
	gport=$(free_port)
	mkdir -p "$d/home" "$d/data" "$d/config"
	start_bg "$n-gateway" "$FCGI" --manifest "$T/manifest.json" \
	    --listen "tcp:127.0.0.1:$gport" --log "$d/events.log" \
	    --upstream-timeout 2 --threads 4
	gw=$(pid_of "$n-gateway")
	ok "[$n] deploy/Caddyfile renders" render "$DEPLOY/Caddyfile" \
	    "$d/Caddyfile" BIND=127.0.0.1 PORT="$port" \
	    UPSTREAM="127.0.0.1:$gport" STATEDIR="$d"
	# Caddy keeps autosave.json and its data under these
	start_bg "$n-server" env HOME="$d/home" XDG_DATA_HOME="$d/data" \
	    XDG_CONFIG_HOME="$d/config" "$caddy" run \
	    --config "$d/Caddyfile" --adapter caddyfile
	pid=$(pid_of "$n-server")
	wait_port "$gport" 200 >/dev/null
	up "$n" "$port" - "$pid" "$gw" || return
	proxy_checks "$n" "$port" "$d/events.log" fcgi 5
	# (Caddy 2.6 exits 1 on SIGTERM after a clean shutdown)
	stopped "$n" Caddy "$pid" '0|1'
	stopped "$n" "the program" "$gw"
	clean "$n" "$T/$n-gateway.err"
}

# Apache, a private instance (apachelib.sh) in $T/NAME: the local T
run_apache_proxy_fcgi() {
	local n=apache-proxy-fcgi T=$T/apache-proxy-fcgi port gw grp=()
	diag "--- $n ---"
	no_fcgi "$n" && return
	if ! command -v spawn-fcgi >/dev/null; then
		skip "[$n] spawn-fcgi not installed"
		return
	fi
	mkdir -p "$T"
	apache_missing "$n" proxy proxy_fcgi env && return
	apache_init proxy proxy_fcgi env
	apache_stage "$FCGI"
	# ours, instead of the check list's
	install -m 0644 "$T/../manifest.json" "$T/manifest.json"
	[ "$(id -u)" = 0 ] && grp=(SPAWN_SOCKET_GROUP="$APACHE_GROUP")
	start_bg gateway env GATEWAY_BIN="$T/bin/scarf-gateway" \
	    GATEWAY_MANIFEST="$T/manifest.json" GATEWAY_LOG="$T/events.log" \
	    GATEWAY_THREADS=4 GATEWAY_UPSTREAM_TIMEOUT=2 \
	    SPAWN_SOCKET="$T/scarf-gateway.sock" SPAWN_FOREGROUND=1 \
	    "${grp[@]}" sh "$DEPLOY/spawn-fcgi.sh"
	gw=$(pid_of gateway)
	if ! wait_socket "$T/scarf-gateway.sock" 200; then
		fail "[$n] the program listens"
		diag "$(cat "$T/gateway.err")"
		stop_pid "$gw" 5
		return
	fi
	port=$(free_port)
	apache_site "$DEPLOY/apache-proxy-fcgi.conf" "$port" \
	    SOCKET="$T/scarf-gateway.sock"
	if ! apache_start "$port"; then
		stop_pid "$APACHE_PID" 15
		stop_pid "$gw" 5
		return
	fi
	proxy_checks "$n" "$port" "$T/events.log" fcgi 10
	stopped "$n" Apache "$APACHE_PID"
	stopped "$n" "the program" "$gw"
	clean "$n" "$T/gateway.err"
	# (the bad record of the abort, fcgi/serve.c fcgi_out_abort())
	apache_error_log_clean 'AH01068: Got bogus version 0|AH01075: Error dispatching request'
}

run_apache_fcgid() {
	local n=apache-fcgid T=$T/apache-fcgid port gw ONE_EXE
	diag "--- $n ---"
	no_fcgi "$n" && return
	mkdir -p "$T"
	apache_missing "$n" alias fcgid && return
	apache_init alias fcgid
	apache_stage "$FCGI"
	install -m 0644 "$T/../manifest.json" "$T/manifest.json"
	port=$(free_port)
	apache_site "$DEPLOY/apache-fcgid.conf" "$port"
	# mod_fcgid passes the program none of Apache's environment
	sed -i 's|^</VirtualHost>|    FcgidInitialEnv GATEWAY_UPSTREAM_TIMEOUT 2\
    FcgidInitialEnv NO_PROXY 127.0.0.1\
    FcgidInitialEnv no_proxy 127.0.0.1\
&|' "$T/site.conf"
	if ! apache_start "$port"; then
		stop_pid "$APACHE_PID" 15
		return
	fi
	ONE_EXE=$T/bin/scarf-gateway
	# (the abort's END_REQUEST, GATEWAY_ABORT_MODE=end: Apache closes
	# the connection after its KeepAliveTimeout, 5 s)
	proxy_checks "$n" "$port" "$T/events.log" fcgi 10
	# (mod_fcgid starts a new process for the request after the aborted
	# one: it retires a process after a protocol error)
	gw=$(pids_of_exe "$T/bin/scarf-gateway")
	diag "[$n] program processes now: $(echo "$gw" | tr '\n' ' ')"
	ok "[$n] the program got GATEWAY_UPSTREAM_TIMEOUT=2" \
	    grep -qz '^GATEWAY_UPSTREAM_TIMEOUT=2$' "/proc/${gw%%[!0-9]*}/environ"
	stopped "$n" Apache "$APACHE_PID"
	is "$(pids_of_exe "$T/bin/scarf-gateway")" "" \
	    "[$n] no program process is left"
	apache_error_log_clean
}

# lighttpd running the CGI program
run_lighttpd_cgi() {
	local n=lighttpd-cgi d=$T/lighttpd-cgi port pid
	diag "--- $n ---"
	if [ ! -x "$CGI" ]; then
		skip "[$n] cgi/scarf-gateway.cgi not built"
		return
	fi
	lighttpd_missing "$n" && return
	if [ ! -e /usr/lib/lighttpd/mod_cgi.so ]; then
		skip "[$n] lighttpd has no mod_cgi"
		return
	fi
	port=$(free_port)
	mkdir -p "$d/www"
	ok "[$n] deploy/lighttpd-cgi.conf renders" \
	    render "$DEPLOY/lighttpd-cgi.conf" "$d/lighttpd.conf" \
	    BINDIR="$top_builddir/cgi" MANIFEST="$T/manifest.json" \
	    STATEDIR="$d" BIND=127.0.0.1 PORT="$port"
	cat >>"$d/lighttpd.conf" <<'EOF'
# proxy_servers.sh: the program's settings, as mod_cgi gives it no other
# environment (keys are case-insensitive: one no_proxy)
setenv.add-environment += ( "GATEWAY_UPSTREAM_TIMEOUT" => "2",
                            "no_proxy" => "127.0.0.1" )
EOF
	start_bg "$n-server" "$LIGHTTPD" -D -f "$d/lighttpd.conf"
	pid=$(pid_of "$n-server")
	up "$n" "$port" - "$pid" || return
	# (mod_cgi keeps the connection after the program's exit until
	# server.max-keep-alive-idle, 5 s: see above)
	proxy_checks "$n" "$port" "$d/events.log" cgi 10
	stopped "$n" lighttpd "$pid"
	# (mod_cgi gives the program lighttpd's own stderr)
	clean "$n" "$T/$n-server.err" "$d/lighttpd-error.log"
}

# Apache mod_cgid running the CGI program
run_apache_cgid() {
	local n=apache-cgid T=$T/apache-cgid port
	diag "--- $n ---"
	if [ ! -x "$CGI" ]; then
		skip "[$n] cgi/scarf-gateway.cgi not built"
		return
	fi
	mkdir -p "$T"
	apache_missing "$n" alias cgid env && return
	apache_init alias cgid env
	apache_stage "$CGI"
	install -m 0644 "$T/../manifest.json" "$T/manifest.json"
	port=$(free_port)
	apache_site "$DEPLOY/apache-cgid.conf" "$port"
	sed -i 's|^</VirtualHost>|    SetEnv GATEWAY_UPSTREAM_TIMEOUT 2\
    SetEnv no_proxy 127.0.0.1\
&|' "$T/site.conf"
	if ! apache_start "$port"; then
		stop_pid "$APACHE_PID" 15
		return
	fi
	proxy_checks "$n" "$port" "$T/events.log" cgi 10
	stopped "$n" Apache "$APACHE_PID"
	is "$(pids_of_exe "$T/bin/scarf-gateway.cgi")" "" \
	    "[$n] no program process is left"
	clean "$n" "$T/apache-error.log"
	apache_error_log_clean
}

run_nginx
run_lighttpd
run_caddy
run_apache_proxy_fcgi
run_apache_fcgid
run_apache_cgid
run_lighttpd_cgi

stop_pid "$(pid_of upstream)" 5
ok "the upstream is stopped" none_alive "$(pid_of upstream)"

done_testing
