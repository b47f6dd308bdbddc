#!/usr/bin/env bash
# Caddy in front of the FastCGI program: the shipped deploy/Caddyfile
# (reverse_proxy with the fastcgi transport) passing requests to the
# gateway serving its own TCP socket (--listen tcp:127.0.0.1:PORT).  Runs
# the web-server check list (checks.py) and a check that the Host reaches
# the gateway with its port.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib-servers.sh"

CADDY=$(command -v caddy 2>/dev/null || echo /usr/bin/caddy)
[ -x "$CADDY" ] || skip_all "caddy not installed"
command -v curl >/dev/null || skip_all "curl not installed"
command -v python3 >/dev/null || skip_all "python3 not installed"
[ -x "$FCGI" ] || skip_all "fcgi/scarf-gateway not built"

PORT=$(free_port)
GPORT=$(free_port)
URL=http://127.0.0.1:$PORT

# --- the gateway on its own TCP socket -------------------------------------
start_bg gateway "$FCGI" --manifest "$E2E/manifest.json" \
    --listen "tcp:127.0.0.1:$GPORT" --log "$T/events.log" --threads 4
GW=$(pid_of gateway)
ok "the gateway listens on 127.0.0.1:$GPORT" wait_port "$GPORT"

# --- Caddy --------------------------------------------------------------------
ok "deploy/Caddyfile renders" render "$DEPLOY/Caddyfile" "$T/Caddyfile" \
    BIND=127.0.0.1 PORT="$PORT" UPSTREAM="127.0.0.1:$GPORT" STATEDIR="$T"
# Caddy writes autosave.json and its data under these: keep them private
mkdir -p "$T/home" "$T/data" "$T/config"
caddy_env=(env HOME="$T/home" XDG_DATA_HOME="$T/data"
    XDG_CONFIG_HOME="$T/config")
if "${caddy_env[@]}" "$CADDY" validate --config "$T/Caddyfile" \
    --adapter caddyfile >"$T/validate.out" 2>&1; then
	pass "caddy validate accepts the configuration"
else
	fail "caddy validate accepts the configuration"
	diag "$(tail -n 5 "$T/validate.out")"
fi
start_bg caddy "${caddy_env[@]}" "$CADDY" run --config "$T/Caddyfile" \
    --adapter caddyfile
CD=$(pid_of caddy)
if ! wait_port "$PORT"; then
	fail "caddy listens"
	diag "$(tail -n 20 "$T/caddy.err")"
	done_testing
fi

# --- the check list ---------------------------------------------------------
run_checks caddy "$URL" "$T/events.log"

# python-v1's bare project URL answers 301 to a URL built from the Host
# header: the port shows that Caddy passed it unchanged
loc=$(curl -s -o /dev/null -w '%{redirect_url}' \
    -H "Host: Py.E2E.test:$PORT" "$URL/simple/demo-pkg")
is "$loc" "https://py.e2e.test:$PORT/simple/demo-pkg/" \
    "HTTP_HOST arrives as sent, port included"

# a chunked request body (Caddy streams it, CONTENT_LENGTH=-1) reaches the
# gateway too
code=$(printf '{"event":"chunked"}' | curl -s -o /dev/null -w '%{http_code}' \
    -H 'Host: dl.e2e.test' -H 'Authorization: Bearer e2e-token' \
    -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' \
    --data-binary @- "$URL/events")
is "$code" 200 "a chunked POST: 200"
ok "its body reached the gateway" \
    wait_grep "$T/events.log" '"body-events":\[\{"event":"chunked"\}\]' 40

# --- stop ----------------------------------------------------------------------
stop_pid "$CD"
rc=$?
ok "caddy stops on SIGTERM (status $rc)" test "$rc" -ne 255
ok "caddy is gone" none_alive "$CD"
stop_pid "$GW"
is "$?" 0 "the gateway exits 0 on SIGTERM"
ok "the gateway is gone" none_alive "$GW"

done_testing
