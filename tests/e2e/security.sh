#!/usr/bin/env bash
# Issue 9's attacks as a table (security.py), each row sent through nginx
# in front of the FastCGI program (deploy/nginx.conf, as nginx.sh runs it)
# and through the CGI program, against recording upstreams
# (fixtures/recorder.py): the registry the manifest names on
# 127.0.0.1:REG, and two hosts nothing may reach — 127.0.0.1:EVIL and
# 127.0.0.2:REG (another host on the registry's port).  The rows and what
# they expect are documented at the top of security.py; README "Where we
# differ" says which rule stops which attack.  SECURITY_ONLY=ID runs the
# rows whose id contains ID.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib-servers.sh"

[ -x "$FCGI" ] || skip_all "fcgi/scarf-gateway not built"
[ -x "$CGI" ] || skip_all "cgi/scarf-gateway.cgi not built"
command -v python3 >/dev/null || skip_all "python3 not installed"
NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || skip_all "nginx not installed"
[ -f /etc/nginx/fastcgi_params ] || skip_all "/etc/nginx/fastcgi_params missing"

cd "$T" || exit 99
chmod 0711 "$T"
export NO_PROXY=127.0.0.1,127.0.0.2 no_proxy=127.0.0.1,127.0.0.2

# --- the upstreams -------------------------------------------------------------
start_bg registry python3 "$E2E/fixtures/recorder.py" --name registry \
    --listen 127.0.0.1:0 --port-file "$T/reg.port" --log "$T/reg.log" \
    --routes "$T/routes.json"
wait_grep "$T/reg.port" '^[0-9]+$' || done_testing
REG=$(cat "$T/reg.port")
start_bg evil python3 "$E2E/fixtures/recorder.py" --name evil \
    --listen 127.0.0.1:0 --port-file "$T/evil.port" --log "$T/evil.log"
wait_grep "$T/evil.port" '^[0-9]+$' || done_testing
EVIL=$(cat "$T/evil.port")
start_bg evil2 python3 "$E2E/fixtures/recorder.py" --name evil2 \
    --listen "127.0.0.2:$REG" --port-file "$T/evil2.port" \
    --log "$T/evil2.log"
wait_grep "$T/evil2.port" '^[0-9]+$' || done_testing

cat >"$T/manifest.json" <<JSON
{"rules": [
 {"type": "docker-v1", "domain": "d1.test", "package-id": "p-app",
  "repository-name": "myorg/app", "registry": "http://127.0.0.1:$REG",
  "always-proxy": true},
 {"type": "docker-v2", "domain": "d2.test", "rule-id": "r-myorg",
  "pattern": "myorg/*", "registry": "http://127.0.0.1:$REG",
  "always-proxy": true},
 {"type": "npm-v1", "domain": "n.test", "package-id": "p-npm",
  "package-name": "*", "registry": "http://127.0.0.1:$REG/npmprefix"},
 {"type": "file-v1", "domain": "f.test", "package-id": "p-pre",
  "incoming-path": "/pre{+path}",
  "outgoing-url": "https://dl.example.com{+path}"},
 {"type": "file-v1", "domain": "f.test", "package-id": "p-hp",
  "incoming-path": "/hp/{+sub}/p",
  "outgoing-url": "https://{+sub}.example.com/p"},
 {"type": "file-v2", "domain": "f.test", "package-id": "p-re",
  "incoming-path": "^/re(?<rest>.*)$",
  "outgoing-url": "https://dl.example.com{+rest}"},
 {"type": "python-v1", "domain": "py.test", "package-id": "p-py",
  "package-name": "acme-tool", "version": "1.0",
  "file-name": "acme_tool-1.0-py3-none-any.whl",
  "backend-url": "https://files.example.com/acme_tool-1.0-py3-none-any.whl"}
]}
JSON
chmod 0644 "$T/manifest.json"
ok "the attack manifest loads" "$FCGI" --manifest "$T/manifest.json" \
    --check

# --- the FastCGI program behind nginx -------------------------------------------
SOCK=$T/gw.sock
start_bg gateway "$FCGI" --manifest "$T/manifest.json" \
    --listen "unix:$SOCK" --log "$T/events.log" --upstream-timeout 5 \
    --threads 4
GW=$(pid_of gateway)
ok "the gateway listens" wait_socket "$SOCK" 200
nginx_front "$SOCK"

# --- the table ---------------------------------------------------------------------
python3 "$E2E/security.py" --nginx "127.0.0.1:$PORT" --cgi "$CGI" \
    --cgi-log "$T/cgi-events.log" --manifest "$T/manifest.json" \
    --routes "$T/routes.json" --reg-port "$REG" --reg-log "$T/reg.log" \
    --evil-port "$EVIL" --evil-log "$T/evil.log" --evil-log "$T/evil2.log" \
    ${SECURITY_ONLY:+--only "$SECURITY_ONLY"} >"$T/table.out" 2>&1
rc=$?
n=0
plan=none
while IFS= read -r line; do
	case $line in
	"ok "*)		pass "${line#ok * - }"; n=$((n + 1)) ;;
	"not ok "*)	fail "${line#not ok * - }"; n=$((n + 1)) ;;
	1..*)		plan=${line#1..} ;;
	*)		echo "# ${line#\# }" ;;
	esac
done <"$T/table.out"
[ "$rc" -le 1 ] || diag "security.py exited $rc"
is "$plan" "$n" "security.py ran its whole table"

# the program survived the table
ok "the gateway is still running" alive "$GW"
unlike "$(cat "$T/gateway.err")" 'ERROR: AddressSanitizer|runtime error' \
    "no sanitizer report from the FastCGI program"
unlike "$(cat "$T"/cgi-events.log "$T/table.out")" \
    'ERROR: AddressSanitizer|runtime error' \
    "no sanitizer report from the CGI program"
stop_pid "$GW" 10
is "$?" 0 "the gateway exits 0 on SIGTERM"

done_testing
