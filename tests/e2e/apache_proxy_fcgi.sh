#!/usr/bin/env bash
# Apache with deploy/apache-proxy-fcgi.conf as shipped: mod_proxy_fcgi
# connects to the FastCGI program, which runs on its own under the shipped
# deploy/spawn-fcgi.sh (spawn-fcgi -n) on a Unix socket owned by Apache's
# group.  Renders the config into a private Apache instance with a free
# port, runs the web-server checks (checks.py), then stops Apache and the
# program by their pids: stopping Apache must leave the program running,
# and SIGTERM then ends it.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib-servers.sh"
. "$(dirname "$0")/apachelib.sh"

[ -x "$FCGI" ] || skip_all "fcgi/scarf-gateway not built"
command -v curl >/dev/null || skip_all "curl not found"
command -v spawn-fcgi >/dev/null || skip_all "spawn-fcgi not installed"
apache_init proxy proxy_fcgi env
# a copy under $T: only this test's program runs it (pids_of_exe)
apache_stage "$FCGI"
SOCK=$T/scarf-gateway.sock
port=$(free_port)

# --- the program, as deploy/apache-proxy-fcgi.conf's comment shows ---------
# (-n: spawn-fcgi execs the program, so the pid is the program's own; the
# socket is 0660 and, when root, group www-data: Apache's children connect)
if [ "$(id -u)" = 0 ]; then
	set -- SPAWN_SOCKET_GROUP="$APACHE_GROUP"
else
	set --
fi
start_bg gateway env GATEWAY_BIN="$T/bin/scarf-gateway" \
    GATEWAY_MANIFEST="$T/manifest.json" GATEWAY_LOG="$T/events.log" \
    GATEWAY_THREADS=4 SPAWN_SOCKET="$SOCK" SPAWN_FOREGROUND=1 "$@" \
    sh "$DEPLOY/spawn-fcgi.sh"
GW=$(pid_of gateway)
ok "spawn-fcgi made the socket" wait_socket "$SOCK" 200
is "$(readlink "/proc/$GW/exe")" "$T/bin/scarf-gateway" \
    "spawn-fcgi -n: the pid is the program's own"

# --- Apache -------------------------------------------------------------------
apache_site "$DEPLOY/apache-proxy-fcgi.conf" "$port" SOCKET="$SOCK"
apache_start "$port" || done_testing
is "$(pids_of_exe "$T/bin/scarf-gateway")" "$GW" \
    "Apache started no program process of its own"

run_checks apache-proxy-fcgi "http://127.0.0.1:$port" "$T/events.log"

apache_path_checks "$port"
# a body over the program's 64 KiB limit reaches it, and it answers 413
head -c 100000 /dev/zero | tr '\0' x >"$T/body-100k"
is "$(http_code -H 'Host: dl.e2e.test' -H 'Authorization: Bearer e2e-token' \
    -H 'Content-Type: application/json' --data-binary "@$T/body-100k" \
    "http://127.0.0.1:$port/events")" 413 \
    "a 100 KB telemetry body: 413 from the program"

# --- stop -------------------------------------------------------------------------
kids=$(descendants "$APACHE_PID")
apache_stop
# shellcheck disable=SC2086
is "$(still_alive $kids)" "" "no process Apache started is left"
ok "the program outlives Apache" alive "$GW"
stop_pid "$GW" 15
is "$?" 0 "the program exits 0 on SIGTERM"
is "$(pids_of_exe "$T/bin/scarf-gateway")" "" "no program process is left"
like "$(cat "$T/gateway.err")" 'serving' "the program started normally"
apache_error_log_clean

done_testing
