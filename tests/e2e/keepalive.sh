#!/usr/bin/env bash
# Kept-alive FastCGI connections pin no thread (fcgi/conn.c, README
# "Thread count"), issue 11 item 1: a gateway with --threads 4 behind
#   1. nginx, 4 workers x `keepalive 64` (`fastcgi_keep_conn on`),
#   2. lighttpd (deploy/lighttpd-fastcgi-socket.conf),
#   3. Apache mod_proxy_fcgi with connection reuse (`enablereuse=on`),
# each with 256 concurrent clients for KEEPALIVE_SECS (default 20) seconds
# (wrk, every connection sending a redirect request every 100 ms, about
# 2,500 requests a second): no failed and no stalled request (wrk's
# time-out is 2 s), and p99 below 50 ms.  Before the event loop, nginx's
# run stalled: 256 clients, 72 time-outs and p99 2.1 s (issue 11).
#
# Timing limit: the issue asks for p99 < 50 ms; under a sanitizer build
# (libasan or libtsan linked) or KEEPALIVE_P99_MS set, the limit is
# 500 ms (or that value): the sanitizers make every request several times
# slower, and this test is about stalls, which last seconds.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib-servers.sh"
. "$(dirname "$0")/apachelib.sh"

[ -x "$FCGI" ] || skip_all "fcgi/scarf-gateway not built"
command -v wrk >/dev/null || skip_all "wrk not installed"
command -v curl >/dev/null || skip_all "curl not found"

# web servers' workers (nobody, www-data) reach the sockets in $T
chmod 0711 "$T"

SECS=${KEEPALIVE_SECS:-20}
# which of the three (all by default)
SERVERS=${KEEPALIVE_SERVERS:-nginx lighttpd apache}
CLIENTS=256
THREADS=4
P99_MS=${KEEPALIVE_P99_MS:-50}
if [ -z "${KEEPALIVE_P99_MS:-}" ] && ldd "$FCGI" 2>/dev/null |
    grep -Eq "lib(a|t)san"; then
	P99_MS=500
fi

# every connection: one request, then 100 ms of quiet; a summary line
cat >"$T/pace.lua" <<'EOF'
wrk.headers["Host"] = "dl.e2e.test"
function delay()
	return 100
end
function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("RESULT %d %d %d %d %d %d %d %d\n",
	    summary.requests, e.connect, e.read, e.write, e.timeout,
	    e.status, latency:percentile(99), latency.max))
end
EOF

# gateway NAME SOCK: the gateway on the Unix socket SOCK, --threads 4,
# its events in $T/events.log, stderr in $T/gw-NAME.err; sets GW
gateway() {
	start_bg "gw-$1" "$FCGI" --manifest "$E2E/manifest.json" \
	    --listen "unix:$2" --threads "$THREADS" --log "$T/events.log"
	GW=$(pid_of "gw-$1")
	wait_socket "$2" 200
}

# most_conns PID SECS: the most connections PID held open at once, looked
# at every 0.5 s for SECS seconds (the listening socket left out)
most_conns() {
	local pid=$1 n max=0 i lfd
	lfd=$(for f in /proc/"$pid"/fd/*; do
		readlink "$f" | grep -q '^socket:' && { echo "${f##*/}"; break; }
	done)
	for ((i = 0; i < $2 * 2; i++)); do
		n=$(conn_sockets "$pid" "$lfd" | wc -l)
		[ "$n" -gt "$max" ] && max=$n
		sleep 0.5
	done
	echo "$max"
}

# load NAME URL: wrk against URL; test points for NAME
load() {
	local name=$1 url=$2 res reqs econn eread ewrite etime estat p99 max
	local conns from
	from=$(lines "$T/events.log")
	wrk -t2 -c"$CLIENTS" -d"${SECS}s" --timeout 2s --latency \
	    -s "$T/pace.lua" "$url/tool/v1/t.tgz" >"$T/$name.wrk" 2>&1 &
	local wpid=$!
	conns=$(most_conns "$GW" $((SECS / 2)))
	wait "$wpid"
	res=$(sed -n 's/^RESULT //p' "$T/$name.wrk")
	read -r reqs econn eread ewrite etime estat p99 max <<<"$res"
	if [ -z "$reqs" ]; then
		fail "[$name] wrk ran"
		diag "$(cat "$T/$name.wrk")"
		return
	fi
	diag "$name: $reqs requests in ${SECS} s, p99 $((p99 / 1000)) ms," \
	    "max $((max / 1000)) ms, time-outs $etime, up to $conns" \
	    "connections open at the gateway"
	# (a stalled client shows here: wrk's paced connections each make
	# 10 requests a second only while they are answered; before the
	# loop, nginx's run made 1,002 of about 51,000, and wrk counted no
	# time-out)
	ok "[$name] no stalled client: over half the paced requests made" \
	    [ "$reqs" -ge $((CLIENTS * SECS * 5)) ]
	is "$econn $eread $ewrite" "0 0 0" "[$name] no failed request"
	is "$etime" 0 "[$name] no stalled request (2 s)"
	is "$estat" 0 "[$name] no error status"
	ok "[$name] p99 $((p99 / 1000)) ms < $P99_MS ms" \
	    [ "$p99" -lt $((P99_MS * 1000)) ]
	is "$(events "$T/events.log" "$from" 'e.get("status") != 307 or e.get("error")')" \
	    0 "[$name] every event a 307 without error"
	ok "[$name] an event for every request" \
	    [ "$(events "$T/events.log" "$from" 'True')" -ge "$reqs" ]
	echo "$conns" >"$T/$name.conns"
}

# --- 1. nginx: 4 workers x keepalive 64 ------------------------------------
if [[ " $SERVERS " != *" nginx "* ]]; then
	skip "[nginx] not in KEEPALIVE_SERVERS"
elif need_nginx_gateway nginx; then
	gateway nginx "$T/gw.sock"
	PORT=$(free_port)
	render "$DEPLOY/nginx.conf" "$T/nginx-site.conf.in" BIND=127.0.0.1 \
	    PORT="$PORT" UPSTREAM="unix:$T/gw.sock"
	sed 's/^\( *\)keepalive 4;/\1keepalive 64;/' \
	    "$T/nginx-site.conf.in" >"$T/nginx-site.conf"
	render "$DEPLOY/nginx-standalone.conf" "$T/nginx.conf.in" STATEDIR="$T"
	sed -e 's/^worker_processes 1;/worker_processes 4;/' \
	    -e 's/worker_connections 512;/worker_connections 2048;/' \
	    "$T/nginx.conf.in" >"$T/nginx.conf"
	ok "[nginx] keepalive 64" grep -q 'keepalive 64;' "$T/nginx-site.conf"
	ok "[nginx] fastcgi_keep_conn on" \
	    grep -q 'fastcgi_keep_conn on;' "$T/nginx-site.conf"
	ok "[nginx] 4 workers" grep -q 'worker_processes 4;' "$T/nginx.conf"
	cp /etc/nginx/fastcgi_params "$T/"
	nginx_start "$PORT"
	load nginx "http://127.0.0.1:$PORT"
	ok "[nginx] more connections were open than the gateway has threads" \
	    [ "$(cat "$T/nginx.conns")" -gt "$THREADS" ]
	stop_pid "$NG" 5
	stop_pid "$GW" 10
	is "$?" 0 "[nginx] the gateway exits 0 on SIGTERM"
	rm -f "$T/gw.sock"
fi

# --- 2. lighttpd ---------------------------------------------------------------
LIGHTTPD=$(command -v lighttpd 2>/dev/null || echo /usr/sbin/lighttpd)
if [[ " $SERVERS " != *" lighttpd "* ]]; then
	skip "[lighttpd] not in KEEPALIVE_SERVERS"
elif [ -x "$LIGHTTPD" ]; then
	gateway lighttpd "$T/scarf-gateway.sock"
	PORT=$(free_port)
	mkdir -p "$T/www"
	render "$DEPLOY/lighttpd-fastcgi-socket.conf" "$T/lighttpd.conf" \
	    STATEDIR="$T" BIND=127.0.0.1 PORT="$PORT" BINDIR="${FCGI%/*}" \
	    MANIFEST="$E2E/manifest.json"
	start_bg server "$LIGHTTPD" -D -f "$T/lighttpd.conf"
	LPID=$(pid_of server)
	if wait_port "$PORT" 200; then
		load lighttpd "http://127.0.0.1:$PORT"
	else
		fail "[lighttpd] listens"
		diag "$(cat "$T/server.err" "$T/lighttpd-error.log" 2>/dev/null)"
	fi
	stop_pid "$LPID" 5
	stop_pid "$GW" 10
	is "$?" 0 "[lighttpd] the gateway exits 0 on SIGTERM"
	rm -f "$T/scarf-gateway.sock"
else
	skip "[lighttpd] not installed"
fi

# --- 3. Apache mod_proxy_fcgi, enablereuse=on ------------------------------
if [[ " $SERVERS " != *" apache "* ]]; then
	skip "[apache] not in KEEPALIVE_SERVERS"
elif [ -x "$APACHE" ] && [ -e "$APACHE_MODDIR/mod_proxy_fcgi.so" ]; then
	apache_init proxy proxy_fcgi env
	apache_stage
	# room for every client in one child (256 threads), so that no
	# child closes wrk's connections for being over its share, and up to
	# 256 connections kept to the gateway (enablereuse keeps one per
	# thread)
	sed -i -e 's/^\( *StartServers *\).*/\11/' \
	    -e 's/^\( *ServerLimit *\).*/\11/' \
	    -e 's/^\( *\)ThreadsPerChild *.*/\1ThreadLimit 256\n\1ThreadsPerChild 256/' \
	    -e 's/^\( *MaxRequestWorkers *\).*/\1256/' \
	    -e 's/^\( *MaxSpareThreads *\).*/\1256/' "$T/httpd.conf"
	echo 'MaxKeepAliveRequests 0' >>"$T/httpd.conf"
	gateway apache "$T/run/gw.sock"
	PORT=$(free_port)
	apache_site "$DEPLOY/apache-proxy-fcgi.conf" "$PORT" \
	    SOCKET="$T/run/gw.sock"
	sed -i 's|^\( *ProxyPass "/" "unix:[^"]*" flushpackets=on timeout=300\)$|\1 enablereuse=on|' \
	    "$T/site.conf"
	ok "[apache] ProxyPass with enablereuse=on" \
	    grep -q 'enablereuse=on$' "$T/site.conf"
	if apache_start "$PORT"; then
		load apache "http://127.0.0.1:$PORT"
		ok "[apache] more connections were open than the gateway has threads" \
		    [ "$(cat "$T/apache.conns")" -gt "$THREADS" ]
		apache_stop
	fi
	stop_pid "$GW" 10
	is "$?" 0 "[apache] the gateway exits 0 on SIGTERM"
else
	skip "[apache] apache2 or mod_proxy_fcgi not installed"
fi

unlike "$(cat "$T"/gw-*.err)" 'Sanitizer|runtime error' \
    "nothing from a sanitizer"
done_testing
