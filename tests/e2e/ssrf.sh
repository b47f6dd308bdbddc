#!/usr/bin/env bash
# Upstream redirects and SSRF (issue 9; README "Where we differ",
# "Proxying"; common/proxy.c "Redirects and the SSRF policy").
#
# A hostile registry (fixtures/redirector.py) answers the gateway's docker
# and npm requests with redirects to a second stub, the recorder, on
# another port: by its plain address, as localhost, scheme-relative, behind
# userinfo that names the registry, behind a backslash, and in the hex,
# short, decimal, octal and IPv4-mapped forms of 127.0.0.1; to the
# link-local metadata address; to another repository of the same registry
# (plain, through "..", through "%2e%2e"); and with control bytes, a space
# and non-ASCII in the Location.  The recorder logs every request it gets.
#
# Through nginx + the FastCGI program (deploy/nginx.conf) and through the
# CGI program, with the client's Authorization on every request:
#   * every such redirect comes back to the client as a 307 (the Location
#     %XX-escaped where it had control bytes), never followed;
#   * redirects inside the same repository of the same registry are still
#     followed, with the Authorization;
#   * npm names that climb ("/%2e%2e/%2e%2e") get 400 and no request;
#   * at the end NOTHING has reached the recorder, the registry never saw
#     a path outside the repositories the rules name, and no host but the
#     rule's registry ever saw an Authorization header.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib-servers.sh"

[ -x "$FCGI" ] || skip_all "fcgi/scarf-gateway not built"
[ -x "$CGI" ] || skip_all "cgi/scarf-gateway.cgi not built"
for t in python3 curl; do
	command -v $t >/dev/null || skip_all "$t not installed"
done
NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)

cd "$T" || exit 99
# nginx's workers (nobody) reach the gateway's socket through $T
chmod 0711 "$T"
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

# --- the two stubs -----------------------------------------------------------
start_bg recorder python3 "$E2E/fixtures/redirector.py" \
    --port-file "$T/recorder.port" --log "$T/recorder.log"
start_bg hostile python3 "$E2E/fixtures/redirector.py" \
    --port-file "$T/hostile.port" --log "$T/hostile.log" \
    --routes "$T/routes.json"
wait_grep "$T/recorder.port" '^[0-9]+$' || done_testing
wait_grep "$T/hostile.port" '^[0-9]+$' || done_testing
R=$(cat "$T/recorder.port")
H=$(cat "$T/hostile.port")
REPO=/v2/evil/x

# CASES: id|kind|Location the registry sends|expected answer
#   kind   docker: GET $REPO/manifests/<id>; npm: GET /<id> (registry
#          path /npm/<id>); root: GET /v2/
#   answer "307 LOCATION" (handed back, exactly that Location: as the
#          registry wrote it when absolute, resolved when not), or
#          "200 PATH" (followed: the registry got PATH)
CASES=$(cat <<EOF
d-port|docker|http://127.0.0.1:$R$REPO/manifests/ok|307 http://127.0.0.1:$R$REPO/manifests/ok
d-localhost|docker|http://localhost:$R$REPO/manifests/ok|307 http://localhost:$R$REPO/manifests/ok
d-schemerel|docker|//127.0.0.1:$R$REPO/manifests/ok|307 http://127.0.0.1:$R$REPO/manifests/ok
d-userinfo|docker|http://127.0.0.1:$H@127.0.0.1:$R$REPO/manifests/ok|307 http://127.0.0.1:$H@127.0.0.1:$R$REPO/manifests/ok
d-userinfo2|docker|http://reg@127.0.0.1:$R/|307 http://reg@127.0.0.1:$R/
d-backslash|docker|http://127.0.0.1:$H\\\\@127.0.0.1:$R$REPO/manifests/ok|307 http://127.0.0.1:$H\\@127.0.0.1:$R$REPO/manifests/ok
d-hex|docker|http://0x7f000001:$R$REPO/manifests/ok|307 http://0x7f000001:$R$REPO/manifests/ok
d-short|docker|http://127.1:$R$REPO/manifests/ok|307 http://127.1:$R$REPO/manifests/ok
d-decimal|docker|http://2130706433:$R$REPO/manifests/ok|307 http://2130706433:$R$REPO/manifests/ok
d-octal|docker|http://0177.0.0.1:$R$REPO/manifests/ok|307 http://0177.0.0.1:$R$REPO/manifests/ok
d-mapped|docker|http://[::ffff:127.0.0.1]:$R$REPO/manifests/ok|307 http://[::ffff:127.0.0.1]:$R$REPO/manifests/ok
d-hexsame|docker|http://0x7f000001:$H$REPO/manifests/ok|307 http://0x7f000001:$H$REPO/manifests/ok
d-metadata|docker|http://127.0.0.3:9/latest/meta-data/|307 http://127.0.0.3:9/latest/meta-data/
d-otherrepo|docker|/v2/other/secret/manifests/latest|307 http://127.0.0.1:$H/v2/other/secret/manifests/latest
d-dotdot|docker|$REPO/../../other/secret/manifests/a|307 http://127.0.0.1:$H/v2/other/secret/manifests/a
d-encdots|docker|$REPO/%2e%2e/%2E%2e/other/secret/manifests/b|307 http://127.0.0.1:$H$REPO/%2e%2e/%2E%2e/other/secret/manifests/b
d-ctl|docker|http://127.0.0.1:$R/a b\\u0001\\u00e9|307 http://127.0.0.1:$R/a%20b%01%C3%A9
d-same|docker|$REPO/manifests/final|200 $REPO/manifests/final
d-sameabs|docker|HTTP://127.0.0.1:$H$REPO/blobs/sha256:1|200 $REPO/blobs/sha256:1
root-port|root|http://127.0.0.1:$R/v2/|307 http://127.0.0.1:$R/v2/
n-port|npm|http://127.0.0.1:$R/npm/n-port|307 http://127.0.0.1:$R/npm/n-port
n-schemerel|npm|//127.0.0.1:$R/npm/x|307 http://127.0.0.1:$R/npm/x
n-userinfo|npm|http://127.0.0.1:$H@127.0.0.1:$R/npm/x|307 http://127.0.0.1:$H@127.0.0.1:$R/npm/x
n-hex|npm|http://0x7f000001:$R/npm/x|307 http://0x7f000001:$R/npm/x
n-short|npm|http://127.1:$R/npm/x|307 http://127.1:$R/npm/x
n-metadata|npm|http://127.0.0.3:9/latest/meta-data/|307 http://127.0.0.3:9/latest/meta-data/
n-outside|npm|/admin/secret|307 http://127.0.0.1:$H/admin/secret
n-dotdot|npm|/npm/../admin|307 http://127.0.0.1:$H/admin
n-encdots|npm|/npm/%2e%2e/admin|307 http://127.0.0.1:$H/npm/%2e%2e/admin
n-ctl|npm|http://127.0.0.1:$R/a b\\u0001\\u00e9|307 http://127.0.0.1:$R/a%20b%01%C3%A9
n-same|npm|/npm/n-final|200 /npm/n-final
EOF
)

# routes.json for the hostile registry, from CASES
CASES=$CASES python3 - "$T/routes.json" "$REPO" <<'PY'
import json, os, sys
routes = {}
for line in os.environ["CASES"].splitlines():
    cid, kind, loc, _ = line.split("|", 3)
    # the table's JSON escapes (\u0001, \\) become the bytes themselves
    loc = json.loads('"' + loc + '"')
    path = {"docker": sys.argv[2] + "/manifests/" + cid,
            "npm": "/npm/" + cid, "root": "/v2/"}[kind]
    routes[path] = {"status": 307 if cid.endswith("2") else 302,
                    "location": loc}
json.dump(routes, open(sys.argv[1], "w"), indent=1)
PY

cat >"$T/manifest.json" <<EOF
{"rules": [
 {"type": "docker-v2", "domain": "reg.test", "rule-id": "evil",
  "registry": "http://127.0.0.1:$H", "pattern": "evil/*",
  "always-proxy": true},
 {"type": "npm-v1", "domain": "npm.test", "package-id": "all",
  "package-name": "*", "registry": "http://127.0.0.1:$H/npm"}
]}
EOF
chmod 0644 "$T/manifest.json"
ok "the gateway accepts the test manifest" \
    "$FCGI" --manifest "$T/manifest.json" --check

# --- requests ----------------------------------------------------------------

# req FRONT ID HOST PATH: GET through FRONT (nginx or cgi) with
# "Authorization: Bearer tok-FRONT-ID"; sets CODE and LOC (the Location),
# the body in $T/FRONT-ID.body
req() {
	local front=$1 id=$2 host=$3 path=$4 f=$T/$1-$2
	if [ "$front" = nginx ]; then
		CODE=$(curl -s -m 20 -o "$f.body" -D "$f.head" \
		    -w '%{http_code}' -H "Host: $host" \
		    -H "Authorization: Bearer tok-$front-$id" "$URL$path")
		LOC=$(header Location <"$f.head")
	else
		env -i PATH="$PATH" NO_PROXY="$NO_PROXY" no_proxy="$no_proxy" \
		    GATEWAY_INTERFACE=CGI/1.1 SERVER_PROTOCOL=HTTP/1.1 \
		    REQUEST_METHOD=GET HTTP_HOST="$host" REQUEST_URI="$path" \
		    QUERY_STRING= REMOTE_ADDR=127.0.0.1 \
		    HTTP_AUTHORIZATION="Bearer tok-$front-$id" \
		    GATEWAY_MANIFEST="$T/manifest.json" \
		    GATEWAY_LOG="$T/cgi-events.log" GATEWAY_UPSTREAM_TIMEOUT=5 \
		    timeout 30 "$CGI" >"$f.cgi" 2>"$f.cgierr" </dev/null
		CODE=$(status <"$f.cgi")
		LOC=$(header Location <"$f.cgi")
		body <"$f.cgi" >"$f.body"
	fi
}

# hostile_got PATH [AUTH]: the hostile registry got a GET of PATH with that
# Authorization value (none when AUTH is empty)
hostile_got() {
	python3 - "$T/hostile.log" "$1" "${2:-}" <<'PY'
import json, sys
want = [sys.argv[3]] if sys.argv[3] else []
for line in open(sys.argv[1]):
    r = json.loads(line)
    auth = [v for k, v in r["headers"] if k.lower() == "authorization"]
    if r["path"] == sys.argv[2] and auth == want:
        sys.exit(0)
sys.exit(1)
PY
}

# run_cases FRONT: every row of CASES, then the npm names that climb
run_cases() {
	local front=$1 id kind loc want path
	while IFS='|' read -r id kind loc want; do
		case $kind in
		docker)	req "$front" "$id" reg.test "$REPO/manifests/$id" ;;
		root)	req "$front" "$id" reg.test /v2/ ;;
		npm)	req "$front" "$id" npm.test "/$id" ;;
		esac
		case $want in
		"307 "*)
			is "$CODE $LOC" "$want" \
			    "[$front] $id: handed back as a 307, the Location"
			;;
		"200 "*)
			is "$CODE" 200 "[$front] $id: followed inside the repository"
			if [ "$kind" = npm ]; then
				# npm documents never carry it (SPEC §4.4)
				ok "[$front] $id: the registry got ${want#200 }, without Authorization" \
				    hostile_got "${want#200 }"
			else
				ok "[$front] $id: the registry got ${want#200 } with the Authorization" \
				    hostile_got "${want#200 }" "Bearer tok-$front-$id"
			fi
			;;
		esac
	done <<<"$CASES"

	# npm names and versions that would climb out of /npm/ (nginx
	# refuses the first itself: its decoded path climbs above /)
	req "$front" climb npm.test /%2e%2e/%2e%2e
	is "$CODE" 400 "[$front] npm /%2e%2e/%2e%2e: 400"
	if [ "$front" = cgi ]; then
		is "$(cat "$T/$front-climb.body")" "$EDOT" \
		    "[$front] npm /%2e%2e/%2e%2e: the JSON error"
	fi
	req "$front" climbv npm.test /n-same/%2e%2e
	is "$CODE $(cat "$T/$front-climbv.body")" \
	    '400 {"error":"invalid version or tag"}' \
	    "[$front] npm /n-same/%2e%2e: 400, the JSON error"
	req "$front" climbs npm.test /@x%2f%2e%2e
	is "$CODE $(cat "$T/$front-climbs.body")" "400 $EDOT" \
	    "[$front] npm /@x%2f%2e%2e: 400, the JSON error"
}
EDOT='{"error":"invalid package name: a name or scope cannot start with '"'.'"'"}'

# after FRONT: what the stubs saw so far
after() {
	local front=$1
	is "$(lines "$T/recorder.log")" 0 \
	    "[$front] NOTHING reached the recorder"
	[ -s "$T/recorder.log" ] && diag "$(head -n 5 "$T/recorder.log")"
	is "$(python3 - "$T/hostile.log" "$REPO" <<'PY'
import json, sys
bad = []
for line in open(sys.argv[1]):
    p = json.loads(line)["path"]
    if not (p.startswith(sys.argv[2] + "/") or p == "/v2/" or
            p.startswith("/npm/")) or ".." in p or "%2e" in p.lower():
        bad.append(p)
print(" ".join(bad))
PY
)" "" "[$front] the registry saw no path outside the rules' repositories"
	is "$(python3 - "$T/hostile.log" "$REPO" <<'PY'
import json, sys
bad = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    if any(k.lower() == "authorization" for k, v in r["headers"]) and \
            not (r["path"].startswith(sys.argv[2] + "/") or
                 r["path"] == "/v2/"):
        bad.append(r["path"])
print(" ".join(bad))
PY
)" "" "[$front] Authorization went only to the docker repository's paths"
}

# --- nginx + the FastCGI program -------------------------------------------------
if [ -x "$NGINX" ] && [ -f /etc/nginx/fastcgi_params ]; then
	SOCK=$T/gw.sock
	start_bg gateway "$FCGI" --manifest "$T/manifest.json" \
	    --listen "unix:$SOCK" --log "$T/events.log" --upstream-timeout 5 \
	    --threads 4
	ok "[nginx] the gateway listens" wait_socket "$SOCK" 200
	nginx_front "$SOCK"
	run_cases nginx
	after nginx
	# the event of a handed-back redirect: proxied, 307, its Location
	wait_grep "$T/events.log" '"location":"http://127\.0\.0\.3:9/' 100 \
	    >/dev/null
	is "$(grep '"path":"/v2/evil/x/manifests/d-metadata"' "$T/events.log" |
	    head -n 1 | jget status)" 307 "[nginx] event: status 307"
	is "$(grep '"path":"/n-metadata"' "$T/events.log" | head -n 1 |
	    jget location)" '"http://127.0.0.3:9/latest/meta-data/"' \
	    "[nginx] npm event: the Location handed back"
	stop_pid "$NG" 10
	ok "[nginx] the gateway exits 0 on SIGTERM" stop gateway
	unlike "$(cat "$T/gateway.err")" 'Sanitizer|runtime error' \
	    "[nginx] no sanitizer report"
else
	skip "[nginx] nginx not installed"
fi

# --- the CGI program -------------------------------------------------------------
run_cases cgi
after cgi
unlike "$(cat "$T"/cgi-*.cgierr)" 'Sanitizer|runtime error' \
    "[cgi] no sanitizer report"

done_testing
