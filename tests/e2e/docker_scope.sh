#!/usr/bin/env bash
# Regression for issue 9 (docker): a proxied request must stay inside the
# repository its rule names.  The attack: rules docker-v1 myorg/app on one
# host and docker-v2 myorg/* on another, proxying to a private registry;
#   GET /v2/myorg/..%2Fother%2Fsecret/tags/list
#   GET /v2/myorg/app/manifests/..%2F..%2F..%2Fother%2Fsecret%2Fmanifests%2Ftopsecret
# answered 200 with other/secret's tags and manifest: the decoded name or
# reference carried '/' and "..", the raw path went upstream, the registry
# 301'd to the cleaned path and the gateway followed it.
#
#   registry    docker-registry holding myorg/app:latest and
#               other/secret:topsecret (fixtures/make_oci.py, pushed with
#               skopeo through a second registry process on the same
#               storage, so the serving one's access log has only what
#               the gateway sends it);
#   front       nginx (deploy/nginx.conf + nginx-standalone.conf) and the
#               FastCGI program under deploy/spawn-fcgi.sh, as nginx.sh;
#               rules: docker-v1 myorg/app on 127.0.0.1 and docker-v2
#               myorg/* on v2.test, both always-proxy, and docker-v2
#               myorg/* on redir.test in redirect mode;
#   CGI         the CGI program run directly (as cgi.sh) on the same
#               manifest, proxying itself.
#
# Every variant of the attack must get 400 with an OCI error body, none
# may reach the registry (its access log names no other/secret), and
# legitimate pulls (skopeo, curl) still work.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib-servers.sh"

FIX=$E2E/fixtures
REGISTRY=$(command -v docker-registry 2>/dev/null)
[ -x "$FCGI" ] || skip_all "fcgi/scarf-gateway not built"
[ -x "$CGI" ] || skip_all "cgi/scarf-gateway.cgi not built"
[ -n "$REGISTRY" ] || skip_all "docker-registry not installed"
for t in skopeo curl python3 setsid; do
	command -v $t >/dev/null || skip_all "$t not installed"
done
cd "$T" || exit 99
chmod 0711 "$T"
NOAUTH=$T/no-auth.json
echo '{"auths": {}}' >"$NOAUTH"

# hdr NAME FILE: a header's value in a curl -D dump
hdr() {
	tr -d '\r' <"$2" | sed -n "s/^$1: //Ip" | tail -n 1
}

# errcode FILE: errors[0].code of an OCI error body, or what went wrong
errcode() {
	python3 -c 'import json, sys
try:
    print(json.load(open(sys.argv[1]))["errors"][0]["code"])
except Exception as e:
    print("not an OCI error body: %r" % open(sys.argv[1], "rb").read()[:200])' "$1"
}

# --- the registry ----------------------------------------------------------

# registry NAME PORT: docker-registry NAME on PORT, access log on
registry() {
	cat >"registry-$1.yml" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $T/registry
http:
  addr: 127.0.0.1:$2
  secret: e2e-not-secret
EOF
	start_bg "registry-$1" "$REGISTRY" serve "$T/registry-$1.yml"
	wait_port "$2" 200
}

python3 "$FIX/make_oci.py" "$T/oci" latest >oci.json
LAYER=$(jfield layer <oci.json)
MDIGEST=$(jfield manifest <oci.json)
mkdir -p registry
REG_push=$(free_port)
ok "the registry for pushing starts" registry push "$REG_push"
push() {
	REGISTRY_AUTH_FILE=$NOAUTH skopeo --insecure-policy copy \
	    --dest-tls-verify=false "oci:$T/oci:latest" \
	    "docker://127.0.0.1:$REG_push/$1" >>push.out 2>&1
}
if ! ok "skopeo pushes myorg/app:latest" push myorg/app:latest ||
    ! ok "skopeo pushes other/secret:topsecret" push other/secret:topsecret
then
	diag "$(tail -n 5 push.out)"
	done_testing
fi
# what the gateway used to forward: the registry cleans the raw path and
# redirects to the other repository
curl -s -o /dev/null -D direct.h \
    "http://127.0.0.1:$REG_push/v2/myorg/..%2Fother%2Fsecret/tags/list"
like "$(head -n 1 direct.h) $(hdr Location direct.h)" \
    '^HTTP/[0-9.]+ 30[1278] .*/v2/other/secret/tags/list' \
    "the registry itself redirects the raw attack path to other/secret"
stop registry-push

REG=$(free_port)
ok "the serving registry starts" registry serve "$REG"
# the access log goes to stdout, the rest of its log to stderr
RLOG=("$T/registry-serve.out" "$T/registry-serve.err")

# --- the gateway behind nginx ------------------------------------------------
cat >manifest.json <<EOF
{
  "rules": [
    {"type": "docker-v1", "domain": "127.0.0.1", "package-id": "app",
     "repository-name": "myorg/app", "registry": "http://127.0.0.1:$REG",
     "always-proxy": true},
    {"type": "docker-v2", "domain": "v2.test", "rule-id": "myorg-all",
     "pattern": "myorg/*", "registry": "http://127.0.0.1:$REG",
     "always-proxy": true},
    {"type": "docker-v2", "domain": "redir.test", "rule-id": "myorg-redir",
     "pattern": "myorg/*", "registry": "http://127.0.0.1:$REG"}
  ]
}
EOF
need_nginx_gateway nginx || done_testing
PORT=$(free_port)
URL=http://127.0.0.1:$PORT
start_nginx_gateway nginx "$T/ng" "$PORT" : || done_testing
EVLOG=$T/ng/events.log

# --- legitimate pulls ----------------------------------------------------------
if REGISTRY_AUTH_FILE=$NOAUTH in_session skopeo skopeo --insecure-policy \
    copy --src-tls-verify=false "docker://127.0.0.1:$PORT/myorg/app:latest" \
    "dir:$T/pulled"; then
	pass "skopeo pulls myorg/app:latest through nginx and the gateway"
	# shellcheck disable=SC2034 # read by skopeo_mismatches
	PUSHED=$MDIGEST
	is "$(skopeo_mismatches "$T/pulled")" "" \
	    "skopeo: manifest and blobs match their digests"
else
	fail "skopeo pulls myorg/app:latest through nginx and the gateway"
	diag "$(tail -n 5 skopeo.err)"
fi
is "$(session_left skopeo)" "" "skopeo left no process"

OCI_MT=application/vnd.oci.image.manifest.v1+json
# legit HOST PATH: curl through nginx; sets CODE, the body in legit.body
legit() {
	CODE=$(curl -s -m 20 -o legit.body -D legit.h -w '%{http_code}' \
	    -H "Host: $1" -H "Accept: $OCI_MT" "$URL$2")
}
for h in "127.0.0.1:$PORT" v2.test; do
	legit "$h" /v2/myorg/app/manifests/latest
	is "$CODE sha256:$(sha legit.body)" "200 $MDIGEST" \
	    "[$h] the manifest of myorg/app:latest"
	legit "$h" "/v2/myorg/app/blobs/$LAYER"
	is "$CODE sha256:$(sha legit.body)" "200 $LAYER" \
	    "[$h] the layer of myorg/app"
	legit "$h" "/v2/myorg/app/tags/list?n=10"
	is "$CODE $(tr -d ' \n' <legit.body)" \
	    '200 {"name":"myorg/app","tags":["latest"]}' \
	    "[$h] the tags of myorg/app (query kept)"
done
# percent-encoded but valid: rebuilt plain, so the registry sees the name
legit v2.test /v2/my%6Frg/%61pp/manifests/l%61test
is "$CODE sha256:$(sha legit.body)" "200 $MDIGEST" \
    "an encoded valid name and tag are decoded and rebuilt"
# redirect mode: the Location is rebuilt as well
CODE=$(curl -s -o /dev/null -D redir.h -w '%{http_code}' -H 'Host: redir.test' \
    -A docker/27.0 "$URL/v2/myorg/%61pp/manifests/latest")
is "$CODE $(hdr Location redir.h)" \
    "307 http://127.0.0.1:$REG/v2/myorg/app/manifests/latest" \
    "redirect mode: the Location is rebuilt from the checked parts"

# --- the attacks ------------------------------------------------------------------
S=..%2F..%2F..%2Fother%2Fsecret
# HOST CODE PATH: each must be answered 400 with that OCI error code
ATTACKS=(
	"v2.test NAME_INVALID /v2/myorg/..%2Fother%2Fsecret/tags/list"
	"127.0.0.1 NAME_INVALID /v2/myorg/..%2Fother%2Fsecret/tags/list"
	"v2.test NAME_INVALID /v2/myorg/..%2fother%2fsecret/tags/list"
	"v2.test NAME_INVALID /v2/myorg/%2e%2e%2fother%2fsecret/tags/list"
	"v2.test NAME_INVALID /v2/myorg/%2E%2e%2Fother%2fsecret/tags/list"
	"v2.test NAME_INVALID /v2/myorg/..%252Fother%252Fsecret/tags/list"
	"v2.test NAME_INVALID /v2/myorg/..%5Cother%5Csecret/tags/list"
	"v2.test NAME_INVALID /v2/myorg/app%3B%2F..%2F..%2Fother%2Fsecret/tags/list"
	"v2.test NAME_INVALID /v2/myorg/app;p=%2F..%2F..%2Fother%2Fsecret/tags/list"
	"v2.test NAME_INVALID /v2/myorg/app%00%2F..%2F..%2Fother%2Fsecret/tags/list"
	"v2.test NAME_INVALID /v2/myorg/%2e%2e/other/secret/tags/list"
	"v2.test NAME_INVALID /v2/myorg/..%2Fother%2Fsecret/manifests/topsecret"
	"v2.test NAME_INVALID /v2/myorg/..%2Fother%2Fsecret/blobs/$LAYER"
	"127.0.0.1 TAG_INVALID /v2/myorg/app/manifests/$S%2Fmanifests%2Ftopsecret"
	"127.0.0.1 TAG_INVALID /v2/myorg/app/manifests/$S%2fmanifests%2ftopsecret"
	"127.0.0.1 TAG_INVALID /v2/myorg/app/manifests/..%252F..%252F..%252Fother%252Fsecret%252Fmanifests%252Ftopsecret"
	"127.0.0.1 TAG_INVALID /v2/myorg/app/manifests/..%5C..%5C..%5Cother%5Csecret%5Cmanifests%5Ctopsecret"
	"127.0.0.1 TAG_INVALID /v2/myorg/app/manifests/topsecret%00$S"
	"v2.test TAG_INVALID /v2/myorg/app/manifests/$S%2Fmanifests%2Ftopsecret"
	"127.0.0.1 DIGEST_INVALID /v2/myorg/app/blobs/$S%2Fblobs%2F$LAYER"
	"127.0.0.1 DIGEST_INVALID /v2/myorg/app/manifests/$S%2Fmanifests%2F$MDIGEST"
	"127.0.0.1 DIGEST_INVALID /v2/myorg/app/referrers/$S%2Freferrers%2F$MDIGEST"
	"127.0.0.1 DIGEST_INVALID /v2/myorg/app/blobs/${LAYER^^}"
	"redir.test NAME_INVALID /v2/myorg/..%2Fother%2Fsecret/tags/list"
	"redir.test TAG_INVALID /v2/myorg/app/manifests/$S%2Fmanifests%2Ftopsecret"
)
n0=$(lines "$EVLOG")
nul=0
for a in "${ATTACKS[@]}"; do
	read -r host want path <<<"$a"
	[ "$host" = 127.0.0.1 ] && host=127.0.0.1:$PORT
	case $path in
	*%00*)	# nginx refuses a NUL in the URI itself (its own 400
		# page): the CGI part below checks the gateway's answer
		nul=$((nul + 1))
		CODE=$(curl -s -m 20 -o /dev/null -w '%{http_code}' \
		    -H "Host: $host" "$URL$path")
		is "$CODE" 400 "[$host] GET $path: 400 (from nginx)"
		continue ;;
	esac
	for m in GET HEAD; do
		if [ $m = HEAD ]; then
			CODE=$(curl -s -m 20 -I -o /dev/null -D att.h \
			    -w '%{http_code}' -H "Host: $host" -A docker/27.0 \
			    "$URL$path")
			is "$CODE" 400 "[$host] HEAD $path: 400"
			continue
		fi
		CODE=$(curl -s -m 20 -o att.body -D att.h -w '%{http_code}' \
		    -H "Host: $host" -A docker/27.0 "$URL$path")
		is "$CODE $(hdr Content-Type att.h) $(errcode att.body)" \
		    "400 application/json $want" "[$host] GET $path: 400 $want"
	done
done
n=${#ATTACKS[@]}
is "$(events "$EVLOG" "$n0" 'e["status"] == 400 and e["type"] == "none"
    and e["proxied"] is False and e["location"] is None
    and e["error"].startswith("invalid ")')" $((2 * (n - nul))) \
    "every attack is logged: 400, type none, not proxied, with the reason"
# a raw ../ that nginx passes on as it came (REQUEST_URI): same answer
CODE=$(curl -s --path-as-is -o att.body -w '%{http_code}' -H 'Host: v2.test' \
    "$URL/v2/myorg/../other/secret/tags/list")
is "$CODE $(errcode att.body)" "400 NAME_INVALID" \
    "a raw ../ in the name: 400 NAME_INVALID"

# --- the CGI program, on the same manifest and registry ---------------------------
# cgi HOST URI: the CGI program as a web server runs it; out, $rc
cgi() {
	local q=
	case $2 in *\?*) q=${2#*\?} ;; esac
	env -i GATEWAY_INTERFACE=CGI/1.1 SERVER_PROTOCOL=HTTP/1.1 \
	    REMOTE_ADDR=127.0.0.1 GATEWAY_MANIFEST="$T/manifest.json" \
	    GATEWAY_LOG="$T/cgi-events.log" REQUEST_METHOD=GET \
	    HTTP_HOST="$1" REQUEST_URI="$2" QUERY_STRING="$q" \
	    HTTP_ACCEPT="$OCI_MT" HTTP_USER_AGENT=docker/27.0 \
	    "$CGI" >cgi.out 2>cgi.err </dev/null
	rc=$?
	cat cgi.err >>cgi-all.err
}
cgi 127.0.0.1 /v2/myorg/app/manifests/latest
body <cgi.out >cgi.body
is "$rc $(status <cgi.out) sha256:$(sha cgi.body)" "0 200 $MDIGEST" \
    "CGI: the manifest of myorg/app:latest, proxied"
for a in "${ATTACKS[@]}"; do
	read -r host want path <<<"$a"
	cgi "$host" "$path"
	body <cgi.out >cgi.body
	is "$(status <cgi.out) $(header Content-Type <cgi.out) $(errcode cgi.body)" \
	    "400 application/json $want" "CGI [$host] $path: 400 $want"
done

# --- what reached the registry ----------------------------------------------------
# (the registry writes its access log when a request ends: wait for the
# last legitimate one, the CGI's manifest)
wait_grep "${RLOG[0]}" 'GET /v2/myorg/app/manifests/latest.*docker/27'
got=$(cat "${RLOG[@]}" | grep -c '"GET /v2/myorg/app/')
ok "the registry's access log has the legitimate requests ($got)" \
    test "$got" -ge 8
is "$(cat "${RLOG[@]}" | grep -Eci 'secret|other|%2f|%5c|\.\.')" 0 \
    "the registry's access log names no other/secret, no encoded / or .."
is "$(cat "${RLOG[@]}" | grep -Ec 'HTTP/[0-9.]+" 30[1278] ')" 0 \
    "the registry redirected nothing"
is "$(count_events "$EVLOG" '"secret" in (e.get("image") or "") or
    ("secret" in e["path"] and e["status"] != 400)')" 0 \
    "no event names other/secret as an image, none answered it"
# skopeo's manifest and two blobs, curl's 3 on each host and the encoded one
got=$(count_events "$EVLOG" 'e["type"] == "docker" and e["status"] == 200
    and e["image"] == "myorg/app" and e["proxied"]')
ok "the legitimate requests are logged with the image myorg/app ($got)" \
    test "$got" -ge 10

stop_pid "$NGINX_PID"
is "$?" 0 "nginx exits 0 on SIGTERM"
stop_pid "$NGINX_GW"
is "$?" 0 "the gateway exits 0 on SIGTERM"
stop registry-serve
# (meaningful in a --enable-sanitizers build)
unlike "$(cat nginx-gateway.err cgi-all.err)" 'Sanitizer|runtime error|LeakSan' \
    "no sanitizer report from either program"
done_testing
