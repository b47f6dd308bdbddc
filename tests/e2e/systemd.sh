#!/usr/bin/env bash
# systemd socket activation, emulated with systemd-socket-activate: it
# listens, and on the first connection executes the gateway (no --listen)
# with the socket on fd 3 and LISTEN_FDS=1, LISTEN_PID=<its pid>, as
# deploy/systemd/scarf-gateway.socket + .service do.  The gateway must take
# fd 3 and serve it: over TCP behind nginx (deploy/nginx.conf) with the
# web-server check list, and over a Unix socket through cgi-fcgi.  A
# LISTEN_PID naming another process must be ignored.  The shipped units
# pass `systemd-analyze verify`.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib-servers.sh"

[ -x "$FCGI" ] || skip_all "fcgi/scarf-gateway not built"
SSA=$(command -v systemd-socket-activate 2>/dev/null ||
    echo /usr/bin/systemd-socket-activate)
[ -x "$SSA" ] || skip_all "systemd-socket-activate not installed"
command -v cgi-fcgi >/dev/null || skip_all "cgi-fcgi (libfcgi-bin) not installed"
command -v python3 >/dev/null || skip_all "python3 not installed"
NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
FCGI_EXE=$(readlink -f "$FCGI")

# wait_exe PID: until PID runs the gateway (systemd-socket-activate execs
# it in the same process on the first connection)
wait_exe() {
	local tries=100
	while [ "$tries" -gt 0 ]; do
		[ "$(readlink "/proc/$1/exe" 2>/dev/null)" = "$FCGI_EXE" ] &&
		    return 0
		tries=$((tries - 1))
		sleep 0.05
	done
	return 1
}

# --- the shipped units ----------------------------------------------------
mkdir -p "$T/units"
cp "$DEPLOY/systemd/scarf-gateway.socket" "$T/units/"
ok "scarf-gateway.service renders" \
    render "$DEPLOY/systemd/scarf-gateway.service" \
    "$T/units/scarf-gateway.service" BINDIR="$(dirname "$FCGI_EXE")" \
    MANIFEST="$E2E/manifest.json"
printf '[Unit]\nDescription=probe\n[Service]\nExecStart=/bin/true\n' \
    >"$T/probe.service"
if ! command -v systemd-analyze >/dev/null; then
	skip "systemd-analyze not installed"
elif ! systemd-analyze verify "$T/probe.service" >"$T/probe.out" 2>&1; then
	skip "systemd-analyze verify does not work here: $(head -n 1 "$T/probe.out")"
else
	systemd-analyze verify "$T/units/scarf-gateway.socket" \
	    "$T/units/scarf-gateway.service" >"$T/verify.out" 2>&1
	rc=$?
	is "$rc:$(cat "$T/verify.out")" "0:" \
	    "systemd-analyze verify: the units are clean"
fi

# --- TCP, behind nginx -----------------------------------------------------------
GPORT=$(free_port)
start_bg sa_tcp "$SSA" -l "127.0.0.1:$GPORT" "$FCGI" \
    --manifest "$E2E/manifest.json" --log "$T/events.log" --threads 8
GW=$(pid_of sa_tcp)
ok "systemd-socket-activate listens on 127.0.0.1:$GPORT" wait_port "$GPORT"
ok "the first connection started the gateway in that process" wait_exe "$GW"
like "$(readlink "/proc/$GW/fd/3")" '^socket:' "fd 3 is the socket"
is "$(readlink "/proc/$GW/fd/0")" /dev/null "fd 0 is not (no stdin socket)"

if [ -x "$NGINX" ] && [ -f /etc/nginx/fastcgi_params ]; then
	PORT=$(free_port)
	render "$DEPLOY/nginx.conf" "$T/nginx-site.conf" BIND=127.0.0.1 \
	    PORT="$PORT" UPSTREAM="127.0.0.1:$GPORT" &&
	    render "$DEPLOY/nginx-standalone.conf" "$T/nginx.conf" \
	    STATEDIR="$T" && cp /etc/nginx/fastcgi_params "$T/"
	ok "nginx configuration rendered" test $? -eq 0
	start_bg nginx-master "$NGINX" -c "$T/nginx.conf"
	NG=$(pid_of nginx-master)
	if wait_port "$PORT"; then
		WORKERS=$(child_pids "$NG")
		# the probe connections of wait_port above logged nothing
		run_checks systemd "http://127.0.0.1:$PORT" "$T/events.log"
		stop_pid "$NG"
		is "$?" 0 "nginx exits 0 on SIGTERM"
		# shellcheck disable=SC2086
		ok "nginx's workers are gone" none_alive $WORKERS
	else
		fail "nginx listens"
		diag "$(cat "$T/nginx-master.err" "$T/nginx-error.log" 2>/dev/null)"
	fi
else
	# the subset possible without a web server
	out=$(fcgi_req "127.0.0.1:$GPORT" GET dl.e2e.test /enc/a%2Fb)
	is "$(status <<<"$out") $(header Location <<<"$out")" \
	    "307 https://releases.example/enc/a%2Fb" "a request over fd 3"
	skip "nginx not installed: checks.py not run"
fi
stop_pid "$GW"
is "$?" 0 "the gateway exits 0 on SIGTERM"
ok "it is gone" none_alive "$GW"

# --- a Unix socket, through cgi-fcgi ------------------------------------------
SOCK=$T/activate.sock
start_bg sa_unix "$SSA" -l "$SOCK" "$FCGI" \
    --manifest "$E2E/manifest.json" --log "$T/events-unix.log" --threads 2
GW=$(pid_of sa_unix)
ok "systemd-socket-activate listens on $SOCK" wait_socket "$SOCK"
out=$(fcgi_req "$SOCK" GET dl.e2e.test /tool/v1/u.tgz)
is "$(status <<<"$out") $(header Location <<<"$out")" \
    "307 https://releases.example/tool/v1/u.tgz" \
    "the first request starts the gateway and is answered"
ok "the process is the gateway now" wait_exe "$GW"
out=$(fcgi_req "$SOCK" POST dl.e2e.test /events \
    HTTP_AUTHORIZATION='Bearer e2e-token' CONTENT_TYPE=application/json \
    CONTENT_LENGTH=15 <<<'{"event":"e2e"}')
is "$(status <<<"$out")" 200 "telemetry with the token"
ok "both requests logged" wait_grep "$T/events-unix.log" '"path":"/events"'
is "$(grep -c . "$T/events-unix.log")" 2 "one event line each"
stop_pid "$GW"
is "$?" 0 "the gateway exits 0 on SIGTERM"
ok "it is gone" none_alive "$GW"

# --- LISTEN_PID of another process: fd 3 is not ours -----------------------------
# (fd 0 is /dev/null, so there is nothing to serve: usage error)
env LISTEN_FDS=1 LISTEN_PID=1 "$FCGI" --manifest "$E2E/manifest.json" \
    --log none </dev/null >"$T/wrong.out" 2>&1 3<"$E2E/manifest.json"
rc=$?
ok "LISTEN_PID of another process: fd 3 ignored, exit $rc" test "$rc" -ne 0
like "$(cat "$T/wrong.out")" "no socket to serve on" "and it says why"

done_testing
