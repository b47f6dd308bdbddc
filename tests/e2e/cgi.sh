#!/usr/bin/env bash
# The CGI program run directly, as a web server runs it (SPEC §14.2):
# settings from the environment only, the manifest read per request, the
# response on stdout, the event line only in GATEWAY_LOG, §2.4 for an
# invalid manifest, and a request body read from stdin.
. "$(dirname "$0")/../lib.sh"

[ -x "$CGI" ] || skip_all "cgi/scarf-gateway.cgi not built"
command -v python3 >/dev/null || skip_all "python3 not found"

cd "$T" || exit 99

cat >good.json <<'EOF'
{
  "rules": [
    {"type": "catch-all-v1", "domain": "dl.example.test",
     "package-id": "p-catch", "redirect-target-domain": "mirror.example.net"},
    {"type": "telemetry-v1", "domain": "t.example.test",
     "package-id": "p-tel", "incoming-path": "/events"}
  ]
}
EOF
printf '{"rules": [{"type": "catch-all-v1", "domain": "x.test"}]}\n' >bad.json

# cgi ARGS... NAME=VALUE...: runs the CGI program with exactly these
# variables; stdout in out, stderr in err, $rc
cgi() {
	env -i GATEWAY_INTERFACE=CGI/1.1 SERVER_PROTOCOL=HTTP/1.1 \
	    REMOTE_ADDR=127.0.0.1 "$@" "$CGI" >out 2>err
	rc=$?
}

cgi GATEWAY_MANIFEST=good.json GATEWAY_LOG="$T/events.log" \
    REQUEST_METHOD=GET HTTP_HOST=dl.example.test REQUEST_URI='/a/b?c=1' \
    QUERY_STRING=c=1 HTTP_USER_AGENT=test-agent </dev/null
is "$rc" 0 "a request exits 0"
is "$(status <out)" 307 "a redirect"
is "$(header Location <out)" "https://mirror.example.net/a/b?c=1" \
    "its Location"
is "$(head -n 1 out | tr -d '\r')" "Status: 307 Temporary Redirect" \
    "the Status line comes first"
unlike "$(cat out)" '"path"' "no event line on stdout"
line=$(grep '"path":"/a/b"' events.log)
like "$line" '"status":307' "the event goes to GATEWAY_LOG"
like "$line" '"user-agent":"test-agent"' "the event has the User-Agent"
is "$(jget location <<<"$line")" '"https://mirror.example.net/a/b?c=1"' \
    "the event has the Location"

cgi GATEWAY_MANIFEST=good.json GATEWAY_LOG=stderr REQUEST_METHOD=HEAD \
    HTTP_HOST=dl.example.test REQUEST_URI=/-/ping </dev/null
is "$(status <out)" 200 "HEAD /-/ping"
is "$(body <out)" "" "HEAD has no body"
like "$(cat err)" '"path":"/-/ping"' "GATEWAY_LOG=stderr logs to stderr"

# a query word passed as an argument (RFC 3875 §4.4) is not a flag
env -i GATEWAY_INTERFACE=CGI/1.1 GATEWAY_MANIFEST=good.json \
    GATEWAY_LOG=none REQUEST_METHOD=GET HTTP_HOST=dl.example.test \
    REQUEST_URI='/s?--version' QUERY_STRING=--version \
    "$CGI" --version >out 2>err </dev/null
is "$(header Location <out)" "https://mirror.example.net/s?--version" \
    "argv is ignored under a web server"

# telemetry: the body comes from stdin, at most CONTENT_LENGTH bytes
printf '[{"a":1}]trailing' | cgi GATEWAY_MANIFEST=good.json \
    GATEWAY_LOG="$T/events.log" REQUEST_METHOD=POST \
    HTTP_HOST=t.example.test REQUEST_URI=/events CONTENT_LENGTH=9 \
    CONTENT_TYPE=application/json
is "$(status <out)" 200 "POST with a body"
ok "the POST is logged" grep -q '"path":"/events".*"status":200' events.log

# regression: lighttpd's mod_cgi sends SIGTERM as soon as it has the whole
# response (all Content-Length bytes, or EOF); the event line must still
# be written
python3 - "$CGI" "$T/events.log" <<'PY'
import os, signal, subprocess, sys
env = {"GATEWAY_INTERFACE": "CGI/1.1", "GATEWAY_MANIFEST": "good.json",
       "GATEWAY_LOG": sys.argv[2], "REQUEST_METHOD": "GET",
       "HTTP_HOST": "dl.example.test", "REQUEST_URI": "/sigterm-at-eof"}
p = subprocess.Popen([sys.argv[1]], env=env, stdin=subprocess.DEVNULL,
                     stdout=subprocess.PIPE)
data = b""
while b"\r\n\r\n" not in data:	# the head; Content-Length is 0
    chunk = os.read(p.stdout.fileno(), 4096)
    if not chunk:
        break
    data += chunk
p.send_signal(signal.SIGTERM)
p.wait()
PY
ok "SIGTERM once the response is complete (lighttpd) keeps the event" \
    grep -q '"path":"/sigterm-at-eof"' events.log

# regression: an unread request body broke the response under Apache
# mod_cgid, where stdin and stdout are one Unix socket: closing it with
# unread data resets the connection (AH00574).  The body must be drained.
out=$(python3 - "$CGI" <<'PY'
import socket, subprocess, sys, threading
n = 100 * 1024
a, b = socket.socketpair()
env = {"GATEWAY_INTERFACE": "CGI/1.1", "GATEWAY_MANIFEST": "good.json",
       "GATEWAY_LOG": "none", "REQUEST_METHOD": "POST",
       "HTTP_HOST": "t.example.test", "REQUEST_URI": "/events",
       "CONTENT_LENGTH": str(n), "CONTENT_TYPE": "application/json"}
p = subprocess.Popen([sys.argv[1]], env=env, stdin=b, stdout=b)
b.close()
def write():
    try:
        a.sendall(b"x" * n)
    except OSError:
        pass
t = threading.Thread(target=write)
t.start()
t.join()
p.wait()
data = b""
try:
    while True:
        c = a.recv(65536)
        if not c:
            break
        data += c
except OSError as e:
    print("error:", e)
print(data.split(b"\r\n")[0].decode())
PY
)
is "$out" "Status: 413 Content Too Large" \
    "an unread body on a shared stdin/stdout socket (mod_cgid) is drained"

# §2.4: an invalid manifest gives 500 and an event with an error
cgi GATEWAY_MANIFEST=bad.json GATEWAY_LOG="$T/events.log" \
    REQUEST_METHOD=GET HTTP_HOST=dl.example.test REQUEST_URI=/broken \
    </dev/null
is "$rc" 0 "an invalid manifest still exits 0"
is "$(status <out)" 500 "an invalid manifest gives 500"
is "$(body <out)" "Internal Server Error" "a plain 500 body"
like "$(cat err)" 'required field is missing' \
    "the manifest error goes to stderr"
line=$(grep '"path":"/broken"' events.log)
like "$(jget error <<<"$line")" 'required field is missing' \
    "the event carries the error"
cgi GATEWAY_MANIFEST=bad.json GATEWAY_LOG=none REQUEST_METHOD=GET \
    HTTP_HOST=dl.example.test REQUEST_URI=/-/health </dev/null
is "$(status <out)" 503 "health: 503 without a manifest"

cgi GATEWAY_MANIFEST=http://127.0.0.1:1/m.json GATEWAY_LOG=none \
    REQUEST_METHOD=GET HTTP_HOST=dl.example.test REQUEST_URI=/u </dev/null
is "$(status <out)" 500 "a manifest URL is refused in the CGI build"

cgi GATEWAY_MANIFEST=good.json GATEWAY_LOG=none GATEWAY_POLL=soon \
    REQUEST_METHOD=GET HTTP_HOST=dl.example.test REQUEST_URI=/p </dev/null
is "$(status <out)" 500 "a bad setting gives 500"
like "$(cat err)" 'GATEWAY_POLL' "a bad setting is named on stderr"

# GATEWAY_LOG=stdout (for the FastCGI program in containers) would mix
# the event into the response: refused, the event goes to stderr
cgi GATEWAY_MANIFEST=good.json GATEWAY_LOG=stdout \
    REQUEST_METHOD=GET HTTP_HOST=dl.example.test REQUEST_URI=/a/s </dev/null
is "$(status <out)" 307 "GATEWAY_LOG=stdout: the response is intact"
unlike "$(body <out)" '"path"' "GATEWAY_LOG=stdout: no event in the response"
like "$(cat err)" '"path":"/a/s"' "GATEWAY_LOG=stdout: the event on stderr"

# run by hand
env -i "$CGI" >out 2>err </dev/null
is "$?" 2 "outside a web server: exit 2"
like "$(cat err)" '^usage:' "outside a web server: usage"
env -i "$CGI" --version >out 2>err </dev/null
like "$(cat out)" '^scarf-gateway\.cgi [0-9]' "--version"

done_testing
