#!/usr/bin/env bash
# Offload mode (--offload-prefix, deploy/nginx-offload.conf): nginx in
# front of the gateway started with GATEWAY_OFFLOAD_PREFIX; a local
# docker-registry holds one blob (pushed with curl through the registry's
# upload API).  A client the gateway proxies for (curl's User-Agent) gets
# the blob through nginx, which fetched it itself after the gateway's
# X-Accel-Redirect: bytes and digest, HEAD, Range, the internal location
# refused to clients (404), and the gateway's event line ("offloaded").
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

# --- the gateway, offloading ------------------------------------------------
PORT=$(free_port)
SOCK=$T/scarf-gateway.sock
URL=http://127.0.0.1:$PORT
cat >manifest.json <<EOF
{
  "rules": [
    {"type": "docker-v1", "domain": "127.0.0.1", "package-id": "e2e-hello",
     "repository-name": "e2e/hello", "registry": "$RURL"}
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
    "$T/nginx-offload.conf" PREFIX="$PREFIX" RESOLVER=127.0.0.1 \
    CA_FILE=/etc/ssl/certs/ca-certificates.crt
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

done_testing
