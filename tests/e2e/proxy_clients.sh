#!/usr/bin/env bash
# skopeo and podman pulling THROUGH the gateway (issue 4, item 2): with the
# default settings neither is redirect-capable (SPEC §3.3), so the gateway
# streams every answer from the registry itself (§3.5).  Everything on
# 127.0.0.1 and offline:
#
#   image       built as an OCI layout (fixtures/make_oci.py) and pushed
#               with skopeo once; three docker-registry processes serve the
#               same storage directory, each with its own authentication:
#   (a) anon    none;
#   (b) basic   htpasswd: the clients pass credentials (--src-creds,
#               --creds), whose Basic Authorization forces proxying (§3.3)
#               and is forwarded;
#   (c) token   a Bearer challenge whose realm is fixtures/token_service.py
#               (RS256 JWTs, signed with a key made here with openssl and
#               trusted through the registry's rootcertbundle): the 401 and
#               its WWW-Authenticate pass through the gateway unchanged,
#               the client fetches a token from the realm (directly) and
#               retries through the gateway with Authorization: Bearer.
#               skopeo asks for an anonymous token, podman for one with
#               credentials.
#   front       nginx (deploy/nginx.conf + deploy/nginx-standalone.conf)
#               and the gateway under deploy/spawn-fcgi.sh, as nginx.sh;
#               the manifest's one docker-v1 rule is pointed at each
#               registry in turn (SIGHUP reload), with no
#               docker-redirect-user-agents setting.
#
# Each client's result is verified (skopeo: every file against its digest;
# podman: image digest and layer diff_id), and the event log must show
# every manifest and blob answered with proxied true.
#
# Every process is started here and stopped by its pid; skopeo and podman
# run in sessions of their own, which must be empty when they return.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib-servers.sh"

FIX=$E2E/fixtures
NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
REGISTRY=$(command -v docker-registry 2>/dev/null)
[ -x "$FCGI" ] || skip_all "fcgi/scarf-gateway not built"
[ -x "$NGINX" ] || skip_all "nginx not installed"
[ -f /etc/nginx/fastcgi_params ] || skip_all "/etc/nginx/fastcgi_params missing"
[ -n "$REGISTRY" ] || skip_all "docker-registry not installed"
for t in spawn-fcgi skopeo curl python3 openssl setsid; do
	command -v $t >/dev/null || skip_all "$t not installed"
done
cd "$T" || exit 99
# nginx's workers (nobody) reach the gateway's socket through $T
chmod 0711 "$T"
# skopeo and podman get no credentials of the machine's user: an empty
# auth file (only in their environment: docker-registry would take any
# REGISTRY_* variable for a setting of its own)
NOAUTH=$T/no-auth.json
echo '{"auths": {}}' >"$NOAUTH"

# client_session NAME CMD...: in_session with no stored credentials, so
# skopeo and podman use only those on their command line.  Not exported
# globally: docker-registry reads REGISTRY_* variables as its config.
client_session() {
	REGISTRY_AUTH_FILE=$NOAUTH in_session "$@"
}
USER_PW=e2e:s3cret

# --- helpers (as in clients.sh) ---------------------------------------------

# wait_file FILE: until FILE exists and is not empty (5 s)
wait_file() {
	local i=0
	while [ ! -s "$1" ] && [ $i -lt 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	[ -s "$1" ]
}

# hdr NAME FILE: a header's value in a curl -D dump (last response)
hdr() {
	tr -d '\r' <"$2" | sed -n "s/^$1: //Ip" | tail -n 1
}

# --- the registries -----------------------------------------------------------
# One storage directory; the image is pushed to the anonymous registry
# and the other two serve the same files.

# registry NAME PORT [AUTH-YAML]: starts docker-registry NAME on PORT
registry() {
	cat >"registry-$1.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $T/registry
http:
  addr: 127.0.0.1:$2
  secret: e2e-not-secret
${3:-}
EOF
	start_bg "registry-$1" "$REGISTRY" serve "$T/registry-$1.yml"
	wait_port "$2" 200
}

python3 "$FIX/make_oci.py" "$T/oci" latest >oci.json
CONFIG=$(jfield config <oci.json)
LAYER=$(jfield layer <oci.json)
DIFF_ID=$(jfield diff_id <oci.json)
mkdir -p registry
REG_anon=$(free_port)
ok "(a) the anonymous registry starts" registry anon "$REG_anon"
if REGISTRY_AUTH_FILE=$NOAUTH skopeo --insecure-policy copy \
    --dest-tls-verify=false \
    --digestfile "$T/pushed.digest" "oci:$T/oci:latest" \
    "docker://127.0.0.1:$REG_anon/e2e/hello:latest" >push.out 2>&1; then
	PUSHED=$(cat pushed.digest)
	is "$PUSHED" "$(jfield manifest <oci.json)" \
	    "the registry holds the image as built (manifest digest)"
else
	fail "skopeo pushes the image to the registry"
	diag "$(tail -n 5 push.out)"
	done_testing
fi

# (b) htpasswd (bcrypt: htpasswd -B, or glibc's crypt)
if command -v htpasswd >/dev/null; then
	htpasswd -Bbn "${USER_PW%%:*}" "${USER_PW#*:}" >htpasswd 2>/dev/null
else
	python3 -W ignore -c 'import crypt, sys
u, p = sys.argv[1].split(":", 1)
print(u + ":" + crypt.crypt(p, crypt.mksalt(crypt.METHOD_BLOWFISH)))' \
	    "$USER_PW" >htpasswd
fi
REG_basic=$(free_port)
ok "(b) the htpasswd registry starts" registry basic "$REG_basic" "auth:
  htpasswd:
    realm: e2e-basic-realm
    path: $T/htpasswd"

# (c) the token service and its registry
if ! { openssl genrsa -out token-key.pem 2048 &&
    openssl req -x509 -new -key token-key.pem -out token-cert.pem -days 2 \
    -subj /CN=e2e-token-service; } >openssl.out 2>&1; then
	fail "(c) openssl makes the token service's key and certificate"
	diag "$(cat openssl.out)"
fi
start_bg tokens python3 "$FIX/token_service.py" --key token-key.pem \
    --cert token-cert.pem --issuer e2e-token-issuer --service e2e-registry \
    --user "$USER_PW" --log "$T/tokens.log" --port-file "$T/tokens.port"
wait_file tokens.port
TPORT=$(cat tokens.port 2>/dev/null)
ok "(c) the token service listens" wait_port "${TPORT:-0}"
REALM=http://127.0.0.1:$TPORT/token
REG_token=$(free_port)
ok "(c) the token registry starts" registry token "$REG_token" "auth:
  token:
    realm: $REALM
    service: e2e-registry
    issuer: e2e-token-issuer
    rootcertbundle: $T/token-cert.pem"

# --- the front: the gateway under spawn-fcgi, nginx ----------------------------
PORT=$(free_port)
SOCK=$T/scarf-gateway.sock
BASE=127.0.0.1:$PORT
URL=http://$BASE

# manifest PORT: the manifest, its one docker rule on registry PORT
manifest() {
	cat >manifest.json.new <<EOF
{
  "rules": [
    {"type": "docker-v1", "domain": "127.0.0.1", "package-id": "e2e-hello",
     "repository-name": "e2e/hello", "registry": "http://127.0.0.1:$1"}
  ]
}
EOF
	mv manifest.json.new manifest.json
}
manifest "$REG_anon"
start_bg gateway env GATEWAY_BIN="$FCGI" GATEWAY_MANIFEST="$T/manifest.json" \
    GATEWAY_LOG="$T/events.log" GATEWAY_POLL=0 GATEWAY_THREADS=8 \
    SPAWN_SOCKET="$SOCK" SPAWN_SOCKET_MODE=0666 SPAWN_FOREGROUND=1 \
    sh "$DEPLOY/spawn-fcgi.sh"
GW=$(pid_of gateway)
ok "spawn-fcgi made the gateway's socket" wait_socket "$SOCK"
ok "deploy/nginx.conf renders" render "$DEPLOY/nginx.conf" \
    "$T/nginx-site.conf" BIND=127.0.0.1 PORT="$PORT" UPSTREAM="unix:$SOCK"
ok "deploy/nginx-standalone.conf renders" \
    render "$DEPLOY/nginx-standalone.conf" "$T/nginx.conf" STATEDIR="$T"
cp /etc/nginx/fastcgi_params "$T/"
nginx_start "$PORT"
WORKERS=$(child_pids "$NG")

# The gateway proxies at all (a build without the proxy core answers 502
# "proxying not available in this build")
curl -s -o ping.body -w '%{http_code}' "$URL/v2/" >ping.code 2>/dev/null
if ! is "$(cat ping.code)" 200 "GET /v2/ through the gateway: 200"; then
	diag "$(head -c 300 ping.body)"
	done_testing
fi

# reloads: the gateway's count of successful manifest reloads
reloads() {
	curl -s "$URL/-/metrics" |
	    sed -n 's/^gateway_manifest_reloads_total{result="ok"} //p'
}

# use_registry NAME: the manifest points at registry NAME, reloaded
use_registry() {
	local port n i=0
	eval "port=\$REG_$1"
	n=$(reloads)
	manifest "$port"
	kill -HUP "$GW"
	while [ "$(reloads)" = "$n" ] && [ $i -lt 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	[ "$(reloads)" = $((n + 1)) ]
}

# podman, run as root with its stores in short directories (it refuses a
# --runroot longer than 50 characters), one store per pull
PODDIR=$T/pod
if [ ${#PODDIR} -gt 36 ]; then
	PODDIR=$(mktemp -d /tmp/gw-pod.XXXXXX) || exit 99
	trap 'rm -rf "$PODDIR"; t_cleanup' EXIT
fi
podman_args() {
	echo --root "$PODDIR/$1/root" --runroot "$PODDIR/$1/run" \
	    --tmpdir "$PODDIR/$1/tmp" --network-config-dir "$PODDIR/$1/net" \
	    --storage-driver vfs --cgroup-manager cgroupfs \
	    --events-backend file --log-level error
}
no_podman=
if ! command -v podman >/dev/null; then
	no_podman="podman not installed"
else
	# shellcheck disable=SC2046
	if ! client_session podman-direct podman $(podman_args p0) pull \
	    --tls-verify=false "127.0.0.1:$REG_anon/e2e/hello:latest"; then
		no_podman="podman cannot pull here even from the registry"
		no_podman+=" directly: $(tail -n 2 podman-direct.err | tr '\n' ' ')"
	fi
	left=$(session_left podman-direct)
	[ -z "$left" ] || {
		diag "podman left processes behind: $left"
		# shellcheck disable=SC2206
		T_PIDS+=($left)
	}
fi

# --- the pulls ------------------------------------------------------------------

# pulls P CREDS...: skopeo and podman through the gateway, which points at
# registry P; CREDS (user:password) for the clients that pass some
pulls() {
	local p=$1 sk_creds=$2 pod_creds=$3 port d=$T/$1 out reg m
	eval "port=\$REG_$p"
	reg=http://127.0.0.1:$port
	mkdir -p "$d"
	ok "($p) the manifest now points at this registry (SIGHUP reload)" \
	    use_registry "$p"

	# the registry's /v2/ answer, directly and through the gateway
	curl -s -D "$d/v2-direct.h" -o /dev/null "$reg/v2/"
	curl -s -D "$d/v2-gw.h" -o "$d/v2-gw.body" "$URL/v2/"
	is "$(sed -n '1s/^HTTP[^ ]* \([0-9]*\).*/\1/p' "$d/v2-gw.h")" \
	    "$(sed -n '1s/^HTTP[^ ]* \([0-9]*\).*/\1/p' "$d/v2-direct.h")" \
	    "($p) GET /v2/: the registry's status through the gateway"
	is "$(hdr WWW-Authenticate "$d/v2-gw.h")" \
	    "$(hdr WWW-Authenticate "$d/v2-direct.h")" \
	    "($p) GET /v2/: its WWW-Authenticate, unchanged"
	is "$(hdr Docker-Distribution-Api-Version "$d/v2-gw.h")" \
	    registry/2.0 "($p) GET /v2/: Docker-Distribution-Api-Version passed"

	# skopeo: the image into a dir: layout, every file against its digest
	# shellcheck disable=SC2086
	if client_session "$p-skopeo" skopeo --insecure-policy copy \
	    --src-tls-verify=false ${sk_creds:+--src-creds "$sk_creds"} \
	    "docker://$BASE/e2e/hello:latest" "dir:$d/skopeo"; then
		pass "($p) skopeo copy through the gateway"
		is "$(skopeo_mismatches "$d/skopeo")" "" \
		    "($p) skopeo: manifest and blobs match their digests"
		ok "($p) skopeo: the config and the layer as pushed" \
		    test -f "$d/skopeo/${CONFIG#sha256:}" -a \
		    -f "$d/skopeo/${LAYER#sha256:}"
	else
		fail "($p) skopeo copy through the gateway"
		diag "$(tail -n 5 "$T/$p-skopeo.err")"
	fi
	is "$(session_left "$p-skopeo")" "" "($p) skopeo left no process"

	if [ -n "$no_podman" ]; then
		skip "($p) podman: $no_podman"
	else
		# shellcheck disable=SC2046,SC2086
		if client_session "$p-podman" podman $(podman_args "$p") pull \
		    --tls-verify=false ${pod_creds:+--creds "$pod_creds"} \
		    "$BASE/e2e/hello:latest"; then
			pass "($p) podman pull through the gateway"
			# shellcheck disable=SC2046
			out=$(REGISTRY_AUTH_FILE=$NOAUTH \
			    podman $(podman_args "$p") image inspect \
			    "$BASE/e2e/hello:latest" 2>&1 | python3 -c '
import json, sys
i = json.load(sys.stdin)[0]
print(i["Digest"], ",".join(i["RootFS"]["Layers"]))' 2>&1)
			is "$out" "$PUSHED $DIFF_ID" \
			    "($p) podman: the image digest and layer as pushed"
		else
			fail "($p) podman pull through the gateway"
			diag "$(tail -n 5 "$T/$p-podman.err")"
		fi
		is "$(session_left "$p-podman")" "" "($p) podman left no process"
	fi

	# the event log: every manifest and blob came from the registry
	m='e["type"] == "docker" and e.get("registry") == "'"$reg"'"'
	is "$(count_events events.log "$m and ua.startswith(\"skopeo/\") and
	    e[\"status\"] == 200 and e[\"proxied\"] is True and
	    e[\"path\"] == \"/v2/e2e/hello/manifests/latest\" and
	    e[\"location\"] is None and e[\"bytes\"] > 0")" 1 \
	    "($p) skopeo: the manifest, proxied (event)"
	is "$(count_events events.log "$m and ua.startswith(\"skopeo/\") and
	    e[\"status\"] == 200 and e[\"proxied\"] is True and
	    e[\"path\"] in (\"/v2/e2e/hello/blobs/$CONFIG\",
	    \"/v2/e2e/hello/blobs/$LAYER\") and e[\"bytes\"] > 0")" 2 \
	    "($p) skopeo: both blobs, proxied (events)"
	if [ -z "$no_podman" ]; then
		is "$(count_events events.log "$m and
		    ua.startswith(\"containers/\") and
		    e[\"status\"] == 200 and e[\"proxied\"] is True and
		    (e[\"path\"] == \"/v2/e2e/hello/manifests/latest\" or
		     \"/v2/e2e/hello/blobs/sha256:\" in e[\"path\"])")" 3 \
		    "($p) podman: manifest and both blobs, proxied (events)"
	fi
	is "$(count_events events.log "$m and not e[\"proxied\"]")" 0 \
	    "($p) no docker request was answered without the registry"
	is "$(count_events events.log "$m and e[\"status\"] >= 500")" 0 \
	    "($p) no 5xx"
}

pulls anon "" ""
is "$(count_events events.log 'e["type"] == "docker" and
    e["status"] == 401')" 0 "(a) no 401 from the anonymous registry"

pulls basic "$USER_PW" "$USER_PW"
is "$(count_events events.log 'e.get("registry") == "http://127.0.0.1:'"$REG_basic"'"
    and e["status"] == 200 and "/manifests/" in e["path"]')" \
    "$([ -n "$no_podman" ] && echo 1 || echo 2)" \
    "(b) the credentials reached the registry: 200 for the manifests"
# and with curl: no credentials, 401; Basic credentials, the manifest
MAN=/v2/e2e/hello/manifests/latest
OCI_MT=application/vnd.oci.image.manifest.v1+json
is "$(curl -s -o /dev/null -w '%{http_code}' -H "Accept: $OCI_MT" \
    "$URL$MAN")" 401 "(b) curl without credentials: 401 through the gateway"
curl -s -D basic/curl.h -o basic/curl.body -u "$USER_PW" \
    -H "Accept: $OCI_MT" "$URL$MAN"
is "$(sed -n '1s/^HTTP[^ ]* \([0-9]*\).*/\1/p' basic/curl.h) \
$(hdr Docker-Content-Digest basic/curl.h) sha256:$(sha basic/curl.body)" \
    "200 $PUSHED $PUSHED" \
    "(b) curl -u: the manifest through the gateway, digest header and body"

pulls token "" "$USER_PW"
like "$(hdr WWW-Authenticate token/v2-gw.h)" "^Bearer realm=\"$REALM\"" \
    "(c) the challenge names the token service"
is "$(count_events tokens.log 'ua.startswith("skopeo/") and
    e["status"] == 200 and e["sub"] == "anonymous" and
    "repository:e2e/hello:pull" in e["scope"]')" 1 \
    "(c) skopeo fetched an anonymous pull token from the realm"
if [ -z "$no_podman" ]; then
	is "$(count_events tokens.log 'ua.startswith("containers/") and
	    e["status"] == 200 and e["sub"] == "e2e" and e["auth"] == "Basic" and
	    "repository:e2e/hello:pull" in e["scope"]')" 1 \
	    "(c) podman fetched a pull token with its credentials"
fi
is "$(count_events events.log 'e.get("registry") == "http://127.0.0.1:'"$REG_token"'"
    and e["status"] == 401 and "/manifests/" in e["path"] and
    e["proxied"]')" 0 \
    "(c) no manifest request was refused: the Bearer token went through"
# and with curl: the manifest's challenge, a token from the realm, the
# manifest with it
curl -s -D token/curl-401.h -o /dev/null -H "Accept: $OCI_MT" "$URL$MAN"
ch=$(hdr WWW-Authenticate token/curl-401.h)
is "$ch" "Bearer realm=\"$REALM\",service=\"e2e-registry\",scope=\"repository:e2e/hello:pull\"" \
    "(c) curl without a token: the registry's challenge for the manifest"
tok=$(curl -s "$REALM?service=e2e-registry&scope=repository:e2e/hello:pull" |
    jfield token 2>/dev/null)
curl -s -D token/curl.h -o token/curl.body -H "Authorization: Bearer $tok" \
    -H "Accept: $OCI_MT" "$URL$MAN"
is "$(sed -n '1s/^HTTP[^ ]* \([0-9]*\).*/\1/p' token/curl.h) \
$(hdr Docker-Content-Digest token/curl.h) sha256:$(sha token/curl.body)" \
    "200 $PUSHED $PUSHED" \
    "(c) curl with the token: the manifest through the gateway"

# the layer (over 2 MiB: fixtures/make_oci.py) went through splice(2)
spliced=$(curl -s "$URL/-/metrics" |
    sed -n 's/^gateway_proxy_body_bytes_total{path="splice"} //p')
ok "the layer was spliced on its way to the clients (${spliced:-no} bytes)" \
    test "${spliced:-0}" -gt 2000000

# Authorization values and tokens never reach the event log
unlike "$(cat events.log)" "$(printf %s "$USER_PW" | base64)|eyJ|s3cret" \
    "no credential or token in the event log"

# --- stop ----------------------------------------------------------------------
stop_pid "$NG"
is "$?" 0 "nginx exits 0 on SIGTERM"
# shellcheck disable=SC2086
ok "nginx's workers are gone" none_alive $WORKERS
stop_pid "$GW"
is "$?" 0 "the gateway exits 0 on SIGTERM"
ok "the gateway is gone" none_alive "$GW"
stop tokens
for r in anon basic token; do
	stop "registry-$r"
done

done_testing
