#!/usr/bin/env bash
# Apache with deploy/apache-cgid.conf as shipped: mod_cgid runs the CGI
# build (cgi/scarf-gateway.cgi) for every path of every Host.  Renders the
# config into a private Apache instance with a free port, runs the
# web-server checks (checks.py), then stops Apache by its pid and checks
# that no process it started (the cgid daemon, a CGI program) is left.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib-servers.sh"
. "$(dirname "$0")/apachelib.sh"

[ -x "$CGI" ] || skip_all "cgi/scarf-gateway.cgi not built"
command -v curl >/dev/null || skip_all "curl not found"
apache_init alias cgid env
# the program runs as Apache's User, which appends to $T/events.log
apache_stage "$CGI"
port=$(free_port)
apache_site "$DEPLOY/apache-cgid.conf" "$port"
apache_start "$port" || done_testing

run_checks apache-cgid "http://127.0.0.1:$port" "$T/events.log"

apache_path_checks "$port"
# a body over the program's 64 KiB limit reaches it, and it answers 413
head -c 100000 /dev/zero | tr '\0' x >"$T/body-100k"
is "$(http_code -H 'Host: dl.e2e.test' -H 'Authorization: Bearer e2e-token' \
    -H 'Content-Type: application/json' --data-binary "@$T/body-100k" \
    "http://127.0.0.1:$port/events")" 413 \
    "a 100 KB telemetry body: 413 from the program"
is "$(stat -c %U "$T/events.log")" "$APACHE_USER" \
    "the event log still belongs to $APACHE_USER"

kids=$(descendants "$APACHE_PID")
apache_stop
# shellcheck disable=SC2086
is "$(still_alive $kids)" "" "no process Apache started is left"
is "$(pids_of_exe "$T/bin/scarf-gateway.cgi")" "" "no CGI process is left"
unlike "$(cat "$T/apache-error.log")" 'scarf-gateway' \
    "the program wrote nothing to Apache's error log"
apache_error_log_clean

done_testing
