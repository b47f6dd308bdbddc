#!/usr/bin/env bash
# Apache with deploy/apache-fcgid.conf as shipped: mod_fcgid spawns the
# FastCGI program itself.  Renders the config into a private Apache
# instance with a free port, runs the web-server checks (checks.py) and a
# few Apache-specific ones (request body limits), then stops Apache by its
# pid and checks that every program process mod_fcgid spawned is gone.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib-servers.sh"
. "$(dirname "$0")/apachelib.sh"

[ -x "$FCGI" ] || skip_all "fcgi/scarf-gateway not built"
command -v curl >/dev/null || skip_all "curl not found"
apache_init alias fcgid
apache_stage "$FCGI"
port=$(free_port)
apache_site "$top_srcdir/deploy/apache-fcgid.conf" "$port"
apache_start "$port" || done_testing

run_checks apache-fcgid "http://127.0.0.1:$port" "$T/events.log"

gw=$(pids_of_exe "$T/bin/scarf-gateway")
like "$gw" '^[0-9]+' "mod_fcgid spawned the program"
nb=0
for g in $gw; do
	below "$g" "$APACHE_PID" || nb=$((nb + 1))
done
is "$nb" 0 "every program process runs below Apache"
ok "the program got GATEWAY_THREADS=1" \
    grep -qz '^GATEWAY_THREADS=1$' "/proc/${gw%%[!0-9]*}/environ"

apache_path_checks "$port"

# request bodies: the program answers 413 beyond 64 KiB; mod_fcgid refuses
# more than FcgidMaxRequestLen (128 KiB) itself
head -c 100000 /dev/zero | tr '\0' x >"$T/body-100k"
is "$(http_code -H 'Host: dl.e2e.test' -H 'Authorization: Bearer e2e-token' \
    -H 'Content-Type: application/json' --data-binary "@$T/body-100k" \
    "http://127.0.0.1:$port/events")" 413 \
    "a 100 KB telemetry body: 413 from the program"
ok "the program logged that 413" wait_grep "$T/events.log" '"status":413'
head -c 200000 /dev/zero | tr '\0' x >"$T/body-200k"
is "$(http_code -H 'Host: dl.e2e.test' -H 'Authorization: Bearer e2e-token' \
    -H 'Content-Type: application/json' -H 'Expect:' \
    --data-binary "@$T/body-200k" "http://127.0.0.1:$port/events")" 500 \
    "a 200 KB body (over FcgidMaxRequestLen): 500 from mod_fcgid"
is "$(grep -c '"path":"/events"' "$T/events.log")" 4 \
    "... which never reached the program (checks.py's 3 + the 413)"

kids=$(descendants "$APACHE_PID")
apache_stop
# shellcheck disable=SC2086
is "$(still_alive $kids)" "" "no process Apache started is left"
is "$(pids_of_exe "$T/bin/scarf-gateway")" "" "no program process is left"
like "$(cat "$T/apache-error.log")" 'serving' \
    "the program started normally (its stderr is Apache's error log)"
unlike "$(cat "$T/apache-error.log")" 'shared metrics' \
    "no process warned about the shared metrics area"
ok "the processes counted into $T/state/metrics.v1" \
    test -s "$T/state/metrics.v1"
apache_error_log_clean

done_testing
