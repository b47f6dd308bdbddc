#!/usr/bin/env bash
# The gateway under spawn-fcgi, started by the shipped deploy/spawn-fcgi.sh:
#   - forking mode (-F 2 -P pidfile): two processes share one socket (fd 0),
#     both serve it, and stopping one leaves the socket to the other;
#   - TCP (-a 127.0.0.1 -p PORT);
# requests through cgi-fcgi.  Every process is stopped by its pid.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib-servers.sh"

command -v spawn-fcgi >/dev/null || skip_all "spawn-fcgi not installed"
command -v cgi-fcgi >/dev/null || skip_all "cgi-fcgi (libfcgi-bin) not installed"
[ -x "$FCGI" ] || skip_all "fcgi/scarf-gateway not built"

SOCK=$T/scarf-gateway.sock
# the environment of deploy/spawn-fcgi.sh: env ... VAR=VALUE... sh FILE
# (no shell function, so that start_bg's pid is the process chain's own)
SPAWN=(env GATEWAY_BIN="$FCGI" GATEWAY_MANIFEST="$E2E/manifest.json"
    GATEWAY_LOG="$T/events.log" GATEWAY_THREADS=2)

# get ADDR PATH: status and Location of a GET for dl.e2e.test
get() {
	fcgi_req "$1" GET dl.e2e.test "$2" >"$T/resp" 2>"$T/resp.err"
	echo "$(status <"$T/resp") $(header Location <"$T/resp")"
}

# --- -F 2 -P pidfile on one Unix socket ----------------------------------------
"${SPAWN[@]}" SPAWN_SOCKET="$SOCK" SPAWN_CHILDREN=2 \
    SPAWN_PIDFILE="$T/spawn.pid" sh "$DEPLOY/spawn-fcgi.sh" \
    >"$T/spawn.out" 2>&1
is "$?" 0 "spawn-fcgi -F 2 returns once the children run"
mapfile -t PIDS <"$T/spawn.pid"
# the children are not ours (spawn-fcgi exited): remember them for cleanup
T_PIDS+=("${PIDS[@]}")
is "${#PIDS[@]}" 2 "the pid file lists two children"
ok "both run the gateway" test "$(readlink "/proc/${PIDS[0]}/exe")" = \
    "$(readlink -f "$FCGI")" -a "$(readlink "/proc/${PIDS[1]}/exe")" = \
    "$(readlink -f "$FCGI")"
s0=$(readlink "/proc/${PIDS[0]}/fd/0")
s1=$(readlink "/proc/${PIDS[1]}/fd/0")
like "$s0" '^socket:' "fd 0 is a socket"
is "$s1" "$s0" "both serve the same socket"

is "$(get "$SOCK" /tool/v1/a.tgz)" \
    "307 https://releases.example/tool/v1/a.tgz" "a request: 307 + Location"
is "$(get "$SOCK" /enc/a%2Fb)" "307 https://releases.example/enc/a%2Fb" \
    "%2F intact"
out=$(fcgi_req "$SOCK" POST dl.e2e.test /events \
    HTTP_AUTHORIZATION='Bearer e2e-token' CONTENT_TYPE=application/json \
    CONTENT_LENGTH=15 <<<'{"event":"e2e"}')
is "$(status <<<"$out")" 200 "telemetry with the token (body on stdin)"
out=$(fcgi_req "$SOCK" GET unknown.e2e.test /)
is "$(status <<<"$out") $(body <<<"$out")" "404 Not Found" "unknown host: 404"
got="" want=""
for i in $(seq 10); do
	got+="$(get "$SOCK" "/tool/v$i/b.tgz");"
	want+="307 https://releases.example/tool/v$i/b.tgz;"
done
is "$got" "$want" "ten more requests"
ok "one event line per request (14)" \
    wait_grep "$T/events.log" '"path":"/tool/v10/b.tgz"'
is "$(grep -c . "$T/events.log")" 14 "14 event lines"
# /-/metrics from either child: both add into the area of their socket
# (a request is counted before its event line is written: wait for the
# line before the next scrape)
for i in 1 2 3; do
	fcgi_req "$SOCK" GET dl.e2e.test /-/metrics | body |
	    awk '/^gateway_requests_total/ { n += $2 } END { print n }'
	for _ in $(seq 200); do
		[ "$(grep -c . "$T/events.log")" -ge $((14 + i)) ] && break
		sleep 0.05
	done
done >"$T/sums"
is "$(tr '\n' ' ' <"$T/sums")" "14 15 16 " \
    "every scrape, whichever child answers, has the 14 requests of both"

# Stop the first child: the second one keeps serving the shared socket (a
# stopping gateway never shuts down a listener it inherited)
stop_pid "${PIDS[0]}"
ok "child 1 stops on SIGTERM" none_alive "${PIDS[0]}"
ok "child 2 still runs" alive "${PIDS[1]}"
is "$(get "$SOCK" /tool/v2/after.tgz)" \
    "307 https://releases.example/tool/v2/after.tgz" \
    "child 2 alone still serves the socket"
stop_pid "${PIDS[1]}"
ok "child 2 stops on SIGTERM" none_alive "${PIDS[1]}"
# nothing answers any more (cgi-fcgi fails to connect)
fcgi_req "$SOCK" GET dl.e2e.test /x >/dev/null 2>&1
ok "nobody serves the socket afterwards" test $? -ne 0

# --- TCP on 127.0.0.1, foreground (-n) ------------------------------------------
GPORT=$(free_port)
start_bg tcp "${SPAWN[@]}" SPAWN_TCP="127.0.0.1:$GPORT" SPAWN_FOREGROUND=1 \
    sh "$DEPLOY/spawn-fcgi.sh"
GW=$(pid_of tcp)
ok "spawn-fcgi -n on tcp 127.0.0.1:$GPORT" wait_port "$GPORT"
is "$(readlink "/proc/$GW/exe")" "$(readlink -f "$FCGI")" \
    "spawn-fcgi -n: the pid is the gateway's own"
bound=$(python3 -c 'import sys
for l in open("/proc/net/tcp").read().splitlines()[1:]:
    f = l.split()
    if int(f[1].split(":")[1], 16) == int(sys.argv[1]) and f[3] == "0A":
        print(f[1].split(":")[0])' "$GPORT")
is "$bound" 0100007F "it listens on 127.0.0.1 only (not 0.0.0.0)"
is "$(get "127.0.0.1:$GPORT" /tool/v3/c.tgz)" \
    "307 https://releases.example/tool/v3/c.tgz" "a request over TCP"
stop_pid "$GW"
is "$?" 0 "the gateway exits 0 on SIGTERM"
ok "it is gone" none_alive "$GW"

done_testing
