#!/usr/bin/env bash
# Offload mode (--offload-prefix, deploy/nginx-offload.conf): nginx in
# front of the gateway started with GATEWAY_OFFLOAD_PREFIX; a local
# docker-registry holds one blob (pushed with curl through the registry's
# upload API).  A client the gateway proxies for (curl's User-Agent) gets
# the blob through nginx, which fetched it itself after the gateway's
# X-Accel-Redirect: bytes and digest, HEAD, Range, the internal location
# refused to clients (404), and the gateway's event line ("offloaded").
#
# Registries nginx reaches by name or over TLS (the offload snippet's
# @RESOLVER@ and @CA_FILE@), with more docker-v2 rules (Host headers):
#
#   name.test      http://registry.e2e.test:REG, the same docker-registry by
#                  a name that fixtures/dns_stub.py resolves (nginx uses
#                  its `resolver`, never /etc/hosts); nxname.test: a name
#                  the stub does not know, nginx's 502
#   (with openssl; certificates made here, CA_FILE holds two of them)
#   tls.test       https://127.0.0.1:PORT, fixtures/bad_upstream.py with a
#                  certificate for 127.0.0.1 (trusted): bytes, HEAD, event
#   tlsname.test   https://registry.e2e.test:PORT, `openssl s_server` that
#                  presents the trusted certificate for registry.e2e.test
#                  only to a client sending that name (SNI), an untrusted
#                  one otherwise: bytes, the stub's log
#   untrusted.test https://127.0.0.1:PORT, bad_upstream.py with a
#                  certificate not in CA_FILE: nginx's 502, none of the bytes
#   mismatch.test  https://registry.e2e.test:PORT of tls.test: a trusted
#                  certificate for another name, nginx's 502
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib-servers.sh"

NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
REGISTRY=$(command -v docker-registry 2>/dev/null)
[ -x "$FCGI" ] || skip_all "fcgi/scarf-gateway not built"
[ -x "$NGINX" ] || skip_all "nginx not installed"
[ -f /etc/nginx/fastcgi_params ] || skip_all "/etc/nginx/fastcgi_params missing"
[ -n "$REGISTRY" ] || skip_all "docker-registry not installed"
for t in spawn-fcgi curl python3 sha256sum; do
	command -v $t >/dev/null || skip_all "$t not installed"
done
cd "$T" || exit 99
chmod 0711 "$T"
PREFIX=/_gw_offload

# --- the setting ----------------------------------------------------------------
echo '{"rules": []}' >empty.json
"$FCGI" --manifest empty.json --offload-prefix _gw --check >bad.out 2>&1
rc=$?
ok "--offload-prefix without a leading /: refused" [ "$rc" -ne 0 ]
like "$(cat bad.out)" "offload" "the message names the setting"
GATEWAY_OFFLOAD_PREFIX=/_gw/ "$FCGI" --manifest empty.json --check \
    >bad.out 2>&1
rc=$?
ok "GATEWAY_OFFLOAD_PREFIX with a trailing /: refused" [ "$rc" -ne 0 ]
like "$(cat bad.out)" "GATEWAY_OFFLOAD_PREFIX" "the message names the variable"
"$FCGI" --manifest empty.json --offload-prefix /_gw_offload --check \
    >good.out 2>&1
is "$?" 0 "--offload-prefix /_gw_offload: accepted"

# --- the registry, and one blob in it ------------------------------------
REG=$(free_port)
mkdir -p registry
cat >registry.yml <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $T/registry
http:
  addr: 127.0.0.1:$REG
  secret: e2e-not-secret
EOF
start_bg registry "$REGISTRY" serve "$T/registry.yml"
ok "the registry starts" wait_port "$REG" 200
RURL=http://127.0.0.1:$REG

# 300 KiB of random bytes: several buffers' worth
head -c 307200 /dev/urandom >blob
DIGEST=sha256:$(sha256sum blob | cut -d' ' -f1)
loc=$(curl -s -o /dev/null -w '%header{location}' -X POST \
    "$RURL/v2/e2e/hello/blobs/uploads/")
case $loc in
http*) ;;
*) loc=$RURL$loc ;;
esac
case $loc in
*\?*) put="$loc&digest=$DIGEST" ;;
*) put="$loc?digest=$DIGEST" ;;
esac
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT \
    -H 'Content-Type: application/octet-stream' --data-binary @blob "$put")
is "$code" 201 "the blob is pushed to the registry"

# --- DNS: a stub that knows registry.e2e.test ------------------------------
RNAME=registry.e2e.test
start_bg dns python3 "$E2E/fixtures/dns_stub.py" --port-file "$T/dns.port" \
    --log "$T/dns.log" --name "$RNAME"
ok "the DNS stub listens" wait_grep "$T/dns.port" '^[0-9]+$'
DNSPORT=$(cat "$T/dns.port" 2>/dev/null)

# --- TLS registries (with openssl) -------------------------------------------
# cert NAME SUBJECT SAN: a self-signed EC certificate $T/NAME.pem, key
# $T/NAME.key
cert() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	    -nodes -keyout "$T/$1.key" -out "$T/$1.pem" -days 2 -subj "$2" \
	    -addext "subjectAltName=$3" >>"$T/openssl.out" 2>&1
}
# nginx (1.22) checks the name with X509_check_host() only: an IP SAN alone
# does not match an upstream named by address, the CN 127.0.0.1 does.
CA_FILE=/etc/ssl/certs/ca-certificates.crt
if ! command -v openssl >/dev/null; then
	NOTLS="openssl not installed"
elif ! { cert ip /CN=127.0.0.1 IP:127.0.0.1 &&
    cert name /CN=$RNAME DNS:$RNAME &&
    cert bad /CN=127.0.0.1 IP:127.0.0.1; }; then
	NOTLS="openssl could not make the certificates"
	fail "$NOTLS"
	diag "$(cat "$T/openssl.out")"
else
	NOTLS=
	# trusted: ip and name, not bad
	cat "$T/ip.pem" "$T/name.pem" >"$T/ca.pem"
	CA_FILE=$T/ca.pem
	start_bg tls python3 "$E2E/fixtures/bad_upstream.py" \
	    --port-file "$T/tls.port" --log "$T/tls.log" \
	    --cert "$T/ip.pem" --key "$T/ip.key"
	start_bg untrusted python3 "$E2E/fixtures/bad_upstream.py" \
	    --port-file "$T/untrusted.port" --log "$T/untrusted.log" \
	    --cert "$T/bad.pem" --key "$T/bad.key"
	# s_server -HTTP serves files of its directory that hold a whole
	# HTTP response (GET only; no ':' in the path, so a tag, not a
	# digest): 100 KiB of random bytes
	SNIPORT=$(free_port)
	head -c 102400 /dev/urandom >sni.blob
	SNIDIGEST=sha256:$(sha sni.blob)
	mkdir -p "www/v2/e2e/sni/manifests"
	{
		printf 'HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n'
		printf 'Content-Length: 102400\r\nDocker-Content-Digest: %s\r\n\r\n' \
		    "$SNIDIGEST"
		cat sni.blob
	} >"www/v2/e2e/sni/manifests/v1"
	# shellcheck disable=SC2016
	start_bg sni sh -c 'cd "$0" && exec "$@"' "$T/www" openssl s_server \
	    -accept "127.0.0.1:$SNIPORT" -cert "$T/bad.pem" -key "$T/bad.key" \
	    -servername "$RNAME" -cert2 "$T/name.pem" -key2 "$T/name.key" -HTTP
	if wait_grep "$T/tls.port" '^[0-9]+$' &&
	    wait_grep "$T/untrusted.port" '^[0-9]+$' && wait_port "$SNIPORT"
	then
		TLS=$(cat "$T/tls.port")
		UNTRUSTED=$(cat "$T/untrusted.port")
	else
		NOTLS="the TLS registries did not start"
		fail "$NOTLS"
		diag "$(cat "$T/tls.err" "$T/untrusted.err" "$T/sni.err")"
	fi
fi

# --- the gateway, offloading ------------------------------------------------
PORT=$(free_port)
SOCK=$T/scarf-gateway.sock
URL=http://127.0.0.1:$PORT
TLSRULES=
[ -z "$NOTLS" ] && TLSRULES=",
    {\"type\": \"docker-v2\", \"domain\": \"tls.test\", \"rule-id\": \"tls\",
     \"registry\": \"https://127.0.0.1:$TLS\", \"pattern\": \"*/*\"},
    {\"type\": \"docker-v2\", \"domain\": \"tlsname.test\", \"rule-id\": \"tlsname\",
     \"registry\": \"https://$RNAME:$SNIPORT\", \"pattern\": \"*/*\"},
    {\"type\": \"docker-v2\", \"domain\": \"untrusted.test\",
     \"rule-id\": \"untrusted\", \"registry\": \"https://127.0.0.1:$UNTRUSTED\",
     \"pattern\": \"*/*\"},
    {\"type\": \"docker-v2\", \"domain\": \"mismatch.test\",
     \"rule-id\": \"mismatch\", \"registry\": \"https://$RNAME:$TLS\",
     \"pattern\": \"*/*\"}"
cat >manifest.json <<EOF
{
  "rules": [
    {"type": "docker-v1", "domain": "127.0.0.1", "package-id": "e2e-hello",
     "repository-name": "e2e/hello", "registry": "$RURL"},
    {"type": "docker-v2", "domain": "name.test", "rule-id": "name",
     "registry": "http://$RNAME:$REG", "pattern": "*/*"},
    {"type": "docker-v2", "domain": "nxname.test", "rule-id": "nxname",
     "registry": "http://nowhere.e2e.test:$REG", "pattern": "*/*"}$TLSRULES
  ]
}
EOF
start_bg gateway env GATEWAY_BIN="$FCGI" GATEWAY_MANIFEST="$T/manifest.json" \
    GATEWAY_LOG="$T/events.log" GATEWAY_POLL=0 GATEWAY_THREADS=8 \
    GATEWAY_OFFLOAD_PREFIX="$PREFIX" \
    SPAWN_SOCKET="$SOCK" SPAWN_SOCKET_MODE=0666 SPAWN_FOREGROUND=1 \
    sh "$DEPLOY/spawn-fcgi.sh"
ok "spawn-fcgi made the gateway's socket" wait_socket "$SOCK"

# --- nginx: deploy/nginx.conf with deploy/nginx-offload.conf included -------
ok "deploy/nginx-offload.conf renders" render "$DEPLOY/nginx-offload.conf" \
    "$T/nginx-offload.conf" PREFIX="$PREFIX" RESOLVER="127.0.0.1:$DNSPORT" \
    CA_FILE="$CA_FILE"
ok "deploy/nginx.conf renders" render "$DEPLOY/nginx.conf" \
    "$T/nginx-site.conf.in" BIND=127.0.0.1 PORT="$PORT" UPSTREAM="unix:$SOCK"
# the snippet goes into the server block, next to `location /`
sed "s|^\( *\)client_max_body_size .*|&\n\1include $T/nginx-offload.conf;|" \
    "$T/nginx-site.conf.in" >"$T/nginx-site.conf"
like "$(cat "$T/nginx-site.conf")" "include $T/nginx-offload.conf;" \
    "the snippet is included in the server block"
ok "deploy/nginx-standalone.conf renders" \
    render "$DEPLOY/nginx-standalone.conf" "$T/nginx.conf" STATEDIR="$T"
cp /etc/nginx/fastcgi_params "$T/"
if "$NGINX" -t -q -c "$T/nginx.conf" >nginx-t.out 2>&1; then
	pass "nginx -t accepts the configuration"
else
	fail "nginx -t accepts the configuration"
	diag "$(cat nginx-t.out)"
fi
nginx_start "$PORT"

BLOB=$URL/v2/e2e/hello/blobs/$DIGEST

# --- GET: the whole blob ------------------------------------------------------
code=$(curl -s -D get.head -o got -w '%{http_code}' "$BLOB")
is "$code" 200 "GET blob through nginx (offloaded): 200"
is "$(sha256sum <got | cut -d' ' -f1)" "${DIGEST#sha256:}" \
    "GET blob: the bytes match the digest"
is "$(wc -c <got | tr -d ' ')" 307200 "GET blob: all 307200 bytes"
like "$(tr -d '\r' <get.head)" "Docker-Content-Digest: $DIGEST" \
    "GET blob: the registry's Docker-Content-Digest reaches the client"
unlike "$(tr -d '\r' <get.head)" "X-Accel-Redirect" \
    "GET blob: no X-Accel-Redirect reaches the client"

# the event line: offloaded, status 200 as handed over, bytes 0
ok "the gateway logged the GET" wait_grep "$T/events.log" '"offloaded":true'
line=$(grep '"offloaded":true' events.log | head -n 1)
like "$line" '"proxied":true' "event: proxied true"
like "$line" '"status":200' "event: status 200 (as handed over)"
like "$line" '"bytes":0' "event: bytes 0 (nginx sent them)"
like "$line" '"type":"docker"' "event: type docker"
like "$line" '"error":null' "event: no error (nginx took the answer)"

# every offloaded answer: the gateway's events carry no error
for _ in 1 2 3 4 5; do curl -s -o /dev/null "$BLOB"; done
sleep 0.3
is "$(grep '"offloaded":true' events.log | grep -vc '"error":null')" 0 \
    "six offloaded GETs: no event with an error"

# --- HEAD ---------------------------------------------------------------------
code=$(curl -s -I -o head.head -w '%{http_code}' "$BLOB")
is "$code" 200 "HEAD blob: 200"
like "$(tr -d '\r' <head.head)" "Content-Length: 307200" \
    "HEAD blob: the registry's Content-Length"

# --- Range --------------------------------------------------------------------
code=$(curl -s -o part -w '%{http_code}' -H 'Range: bytes=1000-1999' "$BLOB")
is "$code" 206 "GET blob with Range: 206"
is "$(cmp -s part <(tail -c +1001 blob | head -c 1000) && echo same)" same \
    "GET blob with Range: bytes 1000-1999"

# --- an unknown blob: the registry's 404 ---------------------------------------
code=$(curl -s -o unknown.body -w '%{http_code}' \
    "$URL/v2/e2e/hello/blobs/sha256:$(printf '%064d' 0)")
is "$code" 404 "unknown blob: the registry's 404"
like "$(cat unknown.body)" "BLOB_UNKNOWN" "unknown blob: the registry's body"

# --- the internal location is not reachable from outside -------------------------
code=$(curl -s -o /dev/null -w '%{http_code}' \
    "$URL$PREFIX/http/127.0.0.1:$REG/v2/e2e/hello/blobs/$DIGEST")
is "$code" 404 "direct request to $PREFIX/...: nginx's 404 (internal)"
code=$(curl -s -o /dev/null -w '%{http_code}' \
    "$URL$PREFIX/http/127.0.0.1:$REG/v2/")
is "$code" 404 "direct request to $PREFIX/.../v2/: 404"

# --- a redirect-capable client still gets the gateway's 307 ---------------------
code=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' \
    -A 'docker/24.0.0 go/go1.20' "$BLOB")
is "$code" "307 $RURL/v2/e2e/hello/blobs/$DIGEST" \
    "docker's User-Agent: 307 to the registry (no offload)"

# --- registries by name, over TLS ----------------------------------------------

# hget HOST ID PATH [CURL ARGS...]: GET $URL$PATH with that Host (at most
# 10 s); sets CODE and SIZE, the body in $T/ID.body, the head in $T/ID.head
hget() {
	local host=$1 id=$2 path=$3 out
	shift 3
	out=$(curl -s -m 10 -o "$T/$id.body" -D "$T/$id.head" \
	    -w '%{http_code} %{size_download}' -H "Host: $host" "$@" "$URL$path")
	read -r CODE SIZE <<<"$out"
}

# event_of HOST: the gateway's last event line for that Host
event_of() {
	wait_grep "$T/events.log" "\"host\":\"$1\"" >/dev/null &&
	    grep -F "\"host\":\"$1\"" "$T/events.log" | tail -n 1
}

# dns_queries NAME [TYPE]: how many queries for NAME (of TYPE) the stub got
dns_queries() {
	upstream_count "$T/dns.log" 0 \
	    "r.get('name', '').lower() == '$1' and '${2:-}' in ('', r.get('type'))"
}

nerr0=$(lines nginx-error.log)

# plain http, by name: the stub resolves registry.e2e.test
hget name.test name "/v2/e2e/hello/blobs/$DIGEST"
is "$CODE $SIZE" "200 307200" \
    "name.test (http://$RNAME:$REG): GET blob, 200 and 307200 bytes"
is "$(sha name.body)" "${DIGEST#sha256:}" "name.test: the bytes match the digest"
like "$(event_of name.test)" '"offloaded":true' "name.test: the gateway offloaded it"
n=$(dns_queries "$RNAME" A)
ok "name.test: nginx asked the DNS stub for $RNAME (A: $n)" test "$n" -ge 1
diag "DNS stub: $(upstream_count "$T/dns.log" 0 True) queries, types" \
    "$(python3 -c 'import json, sys
print(sorted({json.loads(l).get("type") for l in open(sys.argv[1])}))' "$T/dns.log")"
code=$(curl -s -m 10 -I -o name-head.head -w '%{http_code}' \
    -H 'Host: name.test' "$URL/v2/e2e/hello/blobs/$DIGEST")
is "$code" 200 "name.test: HEAD blob, 200"

# a name nobody knows: nginx cannot resolve it
hget nxname.test nxname "/v2/e2e/hello/blobs/$DIGEST"
is "$CODE" 502 "nxname.test (http://nowhere.e2e.test): nginx's 502"
n=$(dns_queries nowhere.e2e.test)
nx=$(upstream_count "$T/dns.log" 0 \
    "r.get('name') == 'nowhere.e2e.test' and r.get('rcode') == 3")
ok "nxname.test: nginx asked the stub, which answered NXDOMAIN ($nx of $n)" \
    test "$n" -ge 1 -a "$nx" = "$n"
like "$(tail -n +$((nerr0 + 1)) nginx-error.log)" \
    'nowhere\.e2e\.test could not be resolved' \
    "nxname.test: nginx's error log says why"

if [ -n "$NOTLS" ]; then
	for _ in $(seq 20); do skip "TLS registries: $NOTLS"; done
	done_testing
fi

# --- https, by address: bad_upstream.py, certificate for 127.0.0.1 in CA_FILE
N=200000
NSHA=$(sha_of "$N")
TPATH="/v2/ok/x/blobs/sha256:$NSHA?size=$N"
hget tls.test tls "$TPATH"
is "$CODE $SIZE" "200 $N" "tls.test (https://127.0.0.1:$TLS): GET blob, 200 and $N bytes"
is "$(sha tls.body)" "$NSHA" "tls.test: the bytes match"
like "$(tr -d '\r' <tls.head)" "Docker-Content-Digest: sha256:0{64}" \
    "tls.test: the registry's Docker-Content-Digest reaches the client"
line=$(event_of tls.test)
like "$line" '"offloaded":true' "tls.test: event offloaded"
like "$line" '"bytes":0' "tls.test: event bytes 0 (nginx sent them)"
is "$(upstream_count tls.log 0 "r.get('event') == 'request' and
    r['method'] == 'GET' and ['Host', '127.0.0.1:$TLS'] in r['headers']")" 1 \
    "tls.test: the registry got one GET, Host 127.0.0.1:$TLS"
code=$(curl -s -m 10 -I -o tls-head.head -w '%{http_code}' \
    -H 'Host: tls.test' "$URL$TPATH")
is "$code" 200 "tls.test: HEAD blob, 200"
like "$(tr -d '\r' <tls-head.head)" "Content-Length: $N" \
    "tls.test: HEAD, the registry's Content-Length"

# --- https, by name: s_server presents the trusted certificate only with SNI
hget tlsname.test tlsname /v2/e2e/sni/manifests/v1
is "$CODE $SIZE" "200 102400" \
    "tlsname.test (https://$RNAME:$SNIPORT): GET, 200 and 102400 bytes"
like "$(event_of tlsname.test)" '"offloaded":true' \
    "tlsname.test: the gateway offloaded it"
is "sha256:$(sha tlsname.body)" "$SNIDIGEST" "tlsname.test: the bytes match"
# (nginx keeps the answer for name.test's request: valid=300s)
n=$(dns_queries "$RNAME" A)
ok "tlsname.test: $RNAME is known to nginx from the DNS stub only ($n A queries)" \
    test "$n" -ge 1
# without SNI the same server presents the untrusted certificate: the 200
# above means nginx sent the name
fp=$(timeout 10 openssl s_client -connect "127.0.0.1:$SNIPORT" -noservername \
    </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256 2>/dev/null)
is "$fp" "$(openssl x509 -in bad.pem -noout -fingerprint -sha256)" \
    "tlsname.test: without SNI the server presents the untrusted certificate"

# --- https, certificate not in CA_FILE: 502, never the bytes -----------------------
hget untrusted.test untrusted "$TPATH"
is "$CODE" 502 "untrusted.test (https://127.0.0.1:$UNTRUSTED): nginx's 502"
unlike "$(head -c 64 untrusted.body)" '0123456789abcdef' \
    "untrusted.test: none of the blob's bytes (a $SIZE-byte error page)"
# (bad_upstream.py writes its log at the first request: none, no log)
is "$(grep -c '"event": "request"' untrusted.log 2>/dev/null)" "" \
    "untrusted.test: no request was sent to the registry"
like "$(tail -n +$((nerr0 + 1)) nginx-error.log)" \
    'upstream SSL certificate verify error' \
    "untrusted.test: nginx's error log says the certificate did not verify"

# --- https, trusted certificate for another name: 502 -------------------------------
n0=$(lines tls.log)
hget mismatch.test mismatch "$TPATH"
is "$CODE" 502 "mismatch.test (https://$RNAME:$TLS, certificate for 127.0.0.1): 502"
is "$(upstream_count tls.log "$n0" "r.get('event') == 'request'")" 0 \
    "mismatch.test: no request was sent to the registry"
like "$(tail -n +$((nerr0 + 1)) nginx-error.log)" \
    "upstream SSL certificate does not match \"$RNAME\"" \
    "mismatch.test: nginx's error log says the name did not match"

done_testing
