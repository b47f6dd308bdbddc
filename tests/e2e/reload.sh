#!/usr/bin/env bash
# The FastCGI program serving through cgi-fcgi (no web server): manifest
# reload by polling and by SIGHUP (SPEC §15), a rejected manifest, the
# event log file and its reopen (§13), SIGTERM with and without a request
# in flight, and the ways to get a socket: --listen tcp:, --listen unix:,
# fd 0 from spawn-fcgi and fd 3 from systemd (LISTEN_FDS, as
# fcgi/listen.c's listener_open reads them).
. "$(dirname "$0")/../lib.sh"

[ -x "$FCGI" ] || skip_all "fcgi/scarf-gateway not built"
command -v cgi-fcgi >/dev/null || skip_all "cgi-fcgi not found (libfcgi-bin)"
command -v python3 >/dev/null || skip_all "python3 not found"

cd "$T" || exit 99
for v in MANIFEST LISTEN THREADS LOG TRUST_FORWARDED_HOST PUBLIC_SCHEME \
    METRICS_ALLOW UPSTREAM_TIMEOUT POLL; do
	unset "GATEWAY_$v"
done

# manifest FILE TARGET: a catch-all for dl.example.test redirecting to
# TARGET, plus an open telemetry endpoint; written next to FILE and
# renamed over it, as deployment tools do
manifest() {
	cat >"$1.new" <<EOF
{
  "rules": [
    {"type": "catch-all-v1", "domain": "dl.example.test",
     "package-id": "p-$2", "redirect-target-domain": "$2"},
    {"type": "telemetry-v1", "domain": "t.example.test",
     "package-id": "p-tel", "incoming-path": "/events"}
  ]
}
EOF
	mv "$1.new" "$1"
}
invalid_manifest() {
	printf '{"rules": [{"type": "catch-all-v1", "domain": "x.test"}]}\n' \
	    >"$1.new"
	mv "$1.new" "$1"
}

# location ADDR PATH: the Location answered for dl.example.test
location() {
	fcgi_req "$1" GET dl.example.test "$2" | header Location
}

# wait_location ADDR PATH WANT: until the answer is WANT (about 5 s)
wait_location() {
	local i=0
	while [ "$i" -lt 50 ]; do
		[ "$(location "$1" "$2")" = "$3" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# --- tcp listener, polling --------------------------------------------------

port=$(free_port)
addr=127.0.0.1:$port
manifest m.json one.example
start_bg gw "$FCGI" --manifest m.json --listen "tcp:$addr" --poll 1 \
    --threads 2 --log "$T/events.log"
ok "tcp: the program listens" wait_port "$port"

resp=$(fcgi_req "$addr" GET dl.example.test '/pkg/a.tgz?v=1')
is "$(status <<<"$resp")" 307 "tcp: a redirect"
is "$(header Location <<<"$resp")" "https://one.example/pkg/a.tgz?v=1" \
    "tcp: its Location"
like "$(header Content-Length <<<"$resp")" '^0$' "tcp: Content-Length 0"
ok "tcp: the event is logged to the --log file" \
    wait_grep events.log '"path":"/pkg/a.tgz".*"status":307'
unlike "$(cat gw.out)" '"path"' "tcp: no event line on stdout"

health=$(fcgi_req "$addr" GET dl.example.test /-/health | body)
is "$(jget last-reload-error <<<"$health")" null "health: no reload error yet"

manifest m.json two.example
ok "poll: a new manifest is picked up" \
    wait_location "$addr" /x "https://two.example/x"
ok "poll: the reload is reported on stderr" \
    wait_grep gw.err 'manifest reloaded'

invalid_manifest m.json
ok "poll: an invalid manifest is reported on stderr" \
    wait_grep gw.err 'required field is missing'
is "$(location "$addr" /x)" "https://two.example/x" \
    "poll: the previous manifest keeps serving"
health=$(fcgi_req "$addr" GET dl.example.test /-/health | body)
like "$(jget last-reload-error <<<"$health")" 'required field is missing' \
    "health: last-reload-error"
metrics=$(fcgi_req "$addr" GET dl.example.test /-/metrics | body)
like "$metrics" 'gateway_manifest_reloads_total\{result="error"\} 1' \
    "metrics: the failed reload is counted"
like "$metrics" 'gateway_manifest_reloads_total\{result="ok"\} 1' \
    "metrics: the good reload is counted"

manifest m.json three.example
ok "poll: a fixed manifest is picked up" \
    wait_location "$addr" /x "https://three.example/x"
health=$(fcgi_req "$addr" GET dl.example.test /-/health | body)
is "$(jget last-reload-error <<<"$health")" null \
    "health: a good reload clears last-reload-error"

# log rotation: SIGUSR1 reopens the file
mv events.log events.log.1
kill -USR1 "$(pid_of gw)"
i=0
while [ ! -s events.log ] && [ "$i" -lt 50 ]; do
	fcgi_req "$addr" GET dl.example.test /after-rotation >/dev/null
	sleep 0.1
	i=$((i + 1))
done
ok "log: new lines go to the new file" \
    wait_grep events.log '"path":"/after-rotation"'

# SIGTERM with a request in flight: a telemetry POST whose body trickles
# in; the request completes, then the program exits 0
body='[{"event":"x"}]'
{
	printf '%s' "${body:0:5}"
	sleep 1.5
	printf '%s' "${body:5}"
} | fcgi_req "$addr" POST t.example.test /events \
    CONTENT_LENGTH="${#body}" CONTENT_TYPE=application/json >slow.out &
slow=$!
sleep 0.5
kill -TERM "$(pid_of gw)"
sleep 0.3
ok "drain: still running while a request is in flight" alive "$(pid_of gw)"
wait "$slow"
is "$(status <slow.out)" 200 "drain: the in-flight request completes"
wait_exit "$(pid_of gw)"
is "$?" 0 "drain: SIGTERM exits 0"
ok "drain: the in-flight request is logged" \
    grep -q '"path":"/events".*"status":200' events.log
like "$(grep '"path":"/events"' events.log)" '"duration_ms":[1-9][0-9]{3,}' \
    "drain: the request was really in flight (its body took over 1 s)"
# the port is closed now
ok "drain: the listener is closed" \
    bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null"

# --- unix listener, SIGHUP --------------------------------------------------

sock=$T/gw.sock
manifest u.json one.example
start_bg gwu "$FCGI" --manifest u.json --listen "unix:$sock" --poll 0 \
    --threads 1 --log none
ok "unix: the socket appears" wait_socket "$sock"
is "$(stat -c %a "$sock")" 666 "unix: the socket is mode 0666"
is "$(location "$sock" /y)" "https://one.example/y" "unix: a redirect"
manifest u.json two.example
sleep 1.2
is "$(location "$sock" /y)" "https://one.example/y" \
    "unix: --poll 0 does not poll"
kill -HUP "$(pid_of gwu)"
ok "SIGHUP: the new manifest is loaded" \
    wait_location "$sock" /y "https://two.example/y"
invalid_manifest u.json
kill -HUP "$(pid_of gwu)"
ok "SIGHUP: an invalid manifest is reported" \
    wait_grep gwu.err 'required field is missing'
is "$(location "$sock" /y)" "https://two.example/y" \
    "SIGHUP: the previous manifest keeps serving"
stop gwu
is "$?" 0 "unix: SIGTERM exits 0"
ok "unix: the socket file is removed" test ! -e "$sock"

# a second program on a live socket refuses to start
manifest u.json one.example
start_bg gwu2 "$FCGI" --manifest u.json --listen "unix:$sock" --threads 1
wait_socket "$sock"
"$FCGI" --manifest u.json --listen "unix:$sock" >/dev/null 2>dup.err
is "$?" 1 "unix: a socket in use is not taken over"
stop gwu2

# --- a manifest URL: fetched at start-up, polled with If-Modified-Since ------

hport=$(free_port)
mkdir -p web
manifest web/m.json one.example
start_bg web python3 -m http.server --bind 127.0.0.1 --directory web "$hport"
ok "url: the manifest server listens" wait_port "$hport"
url=http://127.0.0.1:$hport/m.json
"$FCGI" --manifest "$url" --check >/dev/null 2>url.err
is "$?" 0 "url: --check fetches and validates"
"$FCGI" --manifest "http://127.0.0.1:$hport/none.json" --check \
    >/dev/null 2>url.err
is "$?" 2 "url: --check of a missing URL exits 2"
like "$(cat url.err)" 'HTTP status 404' "url: the HTTP status is reported"
port=$(free_port)
start_bg gwurl "$FCGI" --manifest "$url" --listen "tcp:127.0.0.1:$port" \
    --poll 1 --threads 1 --log none
ok "url: serving" wait_port "$port"
is "$(location "127.0.0.1:$port" /w)" "https://one.example/w" \
    "url: the fetched manifest answers"
sleep 1.1	# http.server's Last-Modified has whole seconds
manifest web/m.json two.example
ok "url: a changed manifest is picked up" \
    wait_location "127.0.0.1:$port" /w "https://two.example/w"
ok "url: unchanged polls get 304" wait_grep web.err '"GET /m.json HTTP/1.1" 304'
stop gwurl
is "$?" 0 "url: SIGTERM exits 0"
stop web

# --- spawn-fcgi: the socket on fd 0 -------------------------------------------

if command -v spawn-fcgi >/dev/null; then
	port=$(free_port)
	manifest s.json one.example
	# -n: no fork, so the recorded pid is the program's own
	start_bg spawn env GATEWAY_MANIFEST=s.json GATEWAY_THREADS=2 \
	    GATEWAY_LOG=none spawn-fcgi -n -a 127.0.0.1 -p "$port" -- "$FCGI"
	ok "spawn-fcgi: the socket is open" wait_port "$port"
	is "$(location "127.0.0.1:$port" /z)" "https://one.example/z" \
	    "spawn-fcgi: a redirect"
	stop spawn
	is "$?" 0 "spawn-fcgi: SIGTERM exits 0"
else
	skip "spawn-fcgi not found"
fi

# --- systemd socket activation: LISTEN_FDS, the socket on fd 3 ----------------

if command -v systemd-socket-activate >/dev/null; then
	port=$(free_port)
	manifest a.json one.example
	# it listens, then execs the program (same pid) on the first connection
	start_bg sa systemd-socket-activate -l "127.0.0.1:$port" \
	    -E GATEWAY_MANIFEST=a.json -E GATEWAY_LOG=none -- \
	    "$FCGI" --threads 1
	ok "systemd: the socket is open" wait_port "$port"
	is "$(location "127.0.0.1:$port" /s)" "https://one.example/s" \
	    "systemd: a redirect"
	stop sa
	is "$?" 0 "systemd: SIGTERM exits 0"
else
	skip "systemd-socket-activate not found"
fi

done_testing
