#!/usr/bin/env bash
# nginx in front of the FastCGI program: the shipped deploy/nginx.conf
# (inside deploy/nginx-standalone.conf, a private nginx) passing requests to
# the gateway started by the shipped deploy/spawn-fcgi.sh (spawn-fcgi -n)
# on a Unix socket.  Runs the web-server check list (checks.py), then
# checks FastCGI keep-alive: nginx keeps its connections to the gateway
# open (FCGI_KEEP_CONN) and sends request after request over them.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib-servers.sh"

NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || skip_all "nginx not installed"
[ -f /etc/nginx/fastcgi_params ] || skip_all "/etc/nginx/fastcgi_params missing"
command -v spawn-fcgi >/dev/null || skip_all "spawn-fcgi not installed"
command -v curl >/dev/null || skip_all "curl not installed"
command -v python3 >/dev/null || skip_all "python3 not installed"
[ -x "$FCGI" ] || skip_all "fcgi/scarf-gateway not built"

# Started as root, nginx runs its workers as nobody, and they are the ones
# connecting to the gateway: let them through $T (search permission only)
# to a 0666 socket.  No `user root;` needed.
chmod 0711 "$T"
PORT=$(free_port)
SOCK=$T/scarf-gateway.sock
URL=http://127.0.0.1:$PORT

# --- the gateway under spawn-fcgi -n ------------------------------------
# 8 threads > 1 nginx worker x keepalive 4 (the sizing rule in nginx.conf)
start_bg gateway env GATEWAY_BIN="$FCGI" \
    GATEWAY_MANIFEST="$E2E/manifest.json" GATEWAY_LOG="$T/events.log" \
    GATEWAY_THREADS=8 SPAWN_SOCKET="$SOCK" SPAWN_SOCKET_MODE=0666 \
    SPAWN_FOREGROUND=1 sh "$DEPLOY/spawn-fcgi.sh"
GW=$(pid_of gateway)
ok "spawn-fcgi made the socket" wait_socket "$SOCK"
# spawn-fcgi -n execs the program: the pid we hold is the gateway's
is "$(readlink "/proc/$GW/exe")" "$(readlink -f "$FCGI")" \
    "spawn-fcgi -n: the pid is the gateway's own"

# --- nginx ----------------------------------------------------------------
ok "deploy/nginx.conf renders" render "$DEPLOY/nginx.conf" \
    "$T/nginx-site.conf" BIND=127.0.0.1 PORT="$PORT" UPSTREAM="unix:$SOCK"
ok "deploy/nginx-standalone.conf renders" \
    render "$DEPLOY/nginx-standalone.conf" "$T/nginx.conf" STATEDIR="$T"
# `include fastcgi_params` is looked up next to the -c file; Debian's copy
# (with its HTTP_HOST $host line) is what users have
cp /etc/nginx/fastcgi_params "$T/"
if "$NGINX" -t -q -c "$T/nginx.conf" >"$T/nginx-t.out" 2>&1; then
	pass "nginx -t accepts the configuration"
else
	fail "nginx -t accepts the configuration"
	diag "$(cat "$T/nginx-t.out")"
fi
nginx_start "$PORT"
WORKERS=$(child_pids "$NG")
[ -n "$WORKERS" ] || diag "no nginx worker found"

# --- the check list ---------------------------------------------------------
run_checks nginx "$URL" "$T/events.log"

# The Host reached the gateway with its port (the gateway takes the first
# HTTP_HOST; Debian's fastcgi_params sends a second one without the port).
# python-v1's bare project URL answers 301 to the canonical URL built from
# the public base URL, so the port shows up in the Location.
loc=$(curl -s -o /dev/null -w '%{redirect_url}' \
    -H "Host: py.e2e.test:$PORT" "$URL/simple/demo-pkg")
is "$loc" "https://py.e2e.test:$PORT/simple/demo-pkg/" \
    "HTTP_HOST keeps the port (\$http_host before fastcgi_params)"

# --- FastCGI keep-alive --------------------------------------------------------
# Every request so far went over kept connections; with one nginx worker
# and one request at a time, over a single one, which the gateway still
# holds open between requests.
before=$(conn_sockets "$GW")
is "$(printf '%s\n' "$before" | grep -c .)" 1 \
    "the gateway holds one kept-alive connection from nginx"
codes=
for i in $(seq 20); do
	codes+=$(curl -s -o /dev/null -w '%{http_code} ' \
	    -H 'Host: dl.e2e.test' "$URL/tool/v$i/t.tgz")
done
is "$codes" "$(printf '307 %.0s' $(seq 20))" "20 requests in a row: 307"
after=$(conn_sockets "$GW")
is "$after" "$before" "all 20 went over that same connection"

# Concurrent requests: nginx opens more connections, keeps at most
# `keepalive` (4) of them afterwards, and the gateway (8 threads) serves
# every one of them.
seq 24 | xargs -P 8 -I{} curl -s -o /dev/null -w '%{http_code}\n' \
    -H 'Host: dl.e2e.test' "$URL/tool/c{}/t.tgz" >"$T/par.out"
is "$(sort "$T/par.out" | uniq -c | awk '{ print $1 "x" $2 }')" "24x307" \
    "24 requests, 8 at a time: all 307"
n=$(conn_sockets "$GW" | grep -c .)
ok "at most keepalive=4 connections stay open ($n)" \
    test "$n" -ge 1 -a "$n" -le 4
# and the pool still works
is "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: dl.e2e.test' \
    "$URL/tool/v9/t.tgz")" 307 "a request after the burst: 307"
is "$(grep -c '"path":"/tool/' "$T/events.log")" 46 \
    "every request has its event line (checks.py's 1 + 20 + 24 + 1)"

# --- stop ------------------------------------------------------------------------
stop_pid "$NG"
is "$?" 0 "nginx exits 0 on SIGTERM"
# shellcheck disable=SC2086
ok "nginx's workers are gone" none_alive $WORKERS
stop_pid "$GW"
is "$?" 0 "the gateway exits 0 on SIGTERM"
ok "the gateway is gone" none_alive "$GW"

done_testing
