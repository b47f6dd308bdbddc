#!/usr/bin/env bash
# The docker proxy (SPEC §3.5) against a misbehaving registry
# (fixtures/bad_upstream.py), issue 4 item 3:
#
#   1. the FastCGI program behind nginx (deploy/nginx.conf inside
#      deploy/nginx-standalone.conf, as nginx.sh runs it) with
#      --upstream-timeout 2: refused port, slow headers, reset and stall
#      mid-body, garbage status line, huge header block, redirects (to the
#      client, followed, one too many), HEAD, 304, 401 with its challenge,
#      forwarded headers (six Accept lines, Authorization), gzip bytes
#      relayed as they are, chunked and large bodies, connection reuse,
#      and a client that goes away mid-body; large bodies both spliced
#      (proxy.c "Splicing": reset, stall, client gone, the exact bytes)
#      and copied (chunked, and a second program with --splice 0);
#   2. the same program through cgi-fcgi (no web server): the joined
#      Accept form and the absent Accept;
#   3. the CGI program on the same upstream; with PROXY_FAULTS_VALGRIND=1
#      (or --valgrind) every CGI run is under valgrind, which must stay
#      silent (no error, no definite or possible leak);
#   4. TLS (with openssl): a registry whose certificate is in no trust
#      store is refused (502), and trusted through SSL_CERT_FILE or
#      SSL_CERT_DIR.
#
# The FastCGI program must leave nothing on stderr that a sanitizer wrote
# (build with --enable-sanitizers to make that mean something) and exit 0
# on SIGTERM.  Every request has a time limit: nothing may hang.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib-servers.sh"

# A well-formed blob digest: the gateway answers 400 to a sha256 digest
# that is not 64 lower-case hex digits (README, "Docker paths").
dg() { printf 'sha256:%064d' "$1"; }

VALGRIND=${PROXY_FAULTS_VALGRIND:-}
[ "${1:-}" = --valgrind ] && VALGRIND=1

[ -x "$FCGI" ] || skip_all "fcgi/scarf-gateway not built"
[ -x "$CGI" ] || skip_all "cgi/scarf-gateway.cgi not built"
for t in python3 curl cgi-fcgi; do
	command -v $t >/dev/null || skip_all "$t not installed"
done
if [ -n "$VALGRIND" ]; then
	command -v valgrind >/dev/null || skip_all "valgrind not installed"
	if ldd "$CGI" 2>/dev/null | grep -q 'libasan'; then
		skip_all "valgrind cannot run a sanitizer build of the CGI program"
	fi
fi
NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || skip_all "nginx not installed"
[ -f /etc/nginx/fastcgi_params ] || skip_all "/etc/nginx/fastcgi_params missing"

cd "$T" || exit 99
# nginx's workers (nobody) reach the gateway's socket through $T
chmod 0711 "$T"
# the gateway reaches 127.0.0.1 directly, whatever the environment says
export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1

# --- the upstream and the manifest ----------------------------------------
start_bg upstream python3 "$E2E/fixtures/bad_upstream.py" \
    --port-file "$T/upstream.port" --log "$T/upstream.log"
wait_grep "$T/upstream.port" '^[0-9]+$' || done_testing
UP=$(cat "$T/upstream.port")
CLOSED=$(free_port)
# the same upstream over TLS, with a certificate of its own
TLS=
if command -v openssl >/dev/null &&
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" \
    -out "$T/cert.pem" -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 >"$T/openssl.out" 2>&1; then
	start_bg tls-upstream python3 "$E2E/fixtures/bad_upstream.py" \
	    --port-file "$T/tls.port" --log "$T/tls.log" \
	    --cert "$T/cert.pem" --key "$T/key.pem"
	wait_grep "$T/tls.port" '^[0-9]+$' && TLS=$(cat "$T/tls.port")
fi
cat >"$T/manifest.json" <<EOF
{"rules": [
 {"type": "docker-v2", "domain": "reg.test", "rule-id": "bad",
  "registry": "http://127.0.0.1:$UP", "pattern": "*/*"},
 {"type": "docker-v2", "domain": "refused.test", "rule-id": "refused",
  "registry": "http://127.0.0.1:$CLOSED", "pattern": "*/*"},
 {"type": "docker-v2", "domain": "tls.test", "rule-id": "tls",
  "registry": "https://127.0.0.1:${TLS:-$CLOSED}", "pattern": "*/*"}
]}
EOF
chmod 0644 "$T/manifest.json"

# --- the FastCGI program and nginx ----------------------------------------
SOCK=$T/gw.sock
start_bg gateway "$FCGI" --manifest "$T/manifest.json" \
    --listen "unix:$SOCK" --log "$T/events.log" --upstream-timeout 2 \
    --threads 8
GW=$(pid_of gateway)
ok "the gateway listens" wait_socket "$SOCK" 200
nginx_front "$SOCK"

# --- helpers -----------------------------------------------------------------

# get ID PATH [CURL ARGS...]: GET (or whatever the args say) through nginx
# with Host reg.test, at most 15 s.  ID is added to the query (?id=ID) to
# find the request's event line and upstream log lines.  Sets CODE, RC
# (curl's exit status), SIZE (body bytes), SECS; the body is $T/ID.body,
# the response head $T/ID.head.
IDS=()
get() {
	IDS+=("$1")
	FETCH_MAX=15 fetch "$@"
}

# hdr ID NAME: a response header of request ID (first one)
hdr() {
	tr -d '\r' <"$T/$1.head" | sed -n "s/^$2: //Ip" | head -n 1
}

# has_hdr ID NAME: 0 when the response head of ID has that header
has_hdr() {
	tr -d '\r' <"$T/$1.head" | grep -qi "^$2:"
}

# event ID [LOG]: the event line of request ID (waits for it)
event() {
	local log=${2:-$T/events.log}
	wait_grep "$log" "\"query\":\"[^\"]*id=$1[\"&]" 100 >/dev/null ||
	    return 1
	grep -E "\"query\":\"[^\"]*id=$1[\"&]" "$log" | tail -n 1
}

# ev ID KEY: one key of the event line of request ID, as JSON
ev() {
	event "$1" | jget "$2"
}

# upstream_requests ID: how many requests of ID reached the upstream
upstream_requests() {
	grep '"event": "request"' "$T/upstream.log" |
	    grep -cE "\"query\": \"[^\"]*id=$1(\"|&)"
}

# lt A B: A < B for decimal numbers
lt() {
	python3 -c 'import sys
sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)' "$1" "$2"
}

# metric PATH: gateway_proxy_body_bytes_total{path=PATH} of the program
# behind nginx (or of the one on the socket given as $2, over cgi-fcgi)
metric() {
	if [ -n "${2:-}" ]; then
		fcgi_req "$2" GET reg.test /-/metrics
	else
		curl -s -m 5 -H 'Host: reg.test' "$URL/-/metrics"
	fi | sed -n "s/^gateway_proxy_body_bytes_total{path=\"$1\"} //p"
}

J502='{"errors":[{"code":"UNAVAILABLE","detail":{},"message":"upstream registry unreachable"}]}'
J504='{"errors":[{"code":"UNAVAILABLE","detail":{},"message":"upstream registry timed out"}]}'

# --- a plain answer ------------------------------------------------------------
get ok1 /v2/ok/x/manifests/latest
is "$CODE $RC" "200 0" "ok: 200"
is "$(cat "$T/ok1.body")" '{"stub":"ok"}' "ok: the body"
is "$(hdr ok1 Content-Type)" application/vnd.oci.image.manifest.v1+json \
    "ok: Content-Type passed"
is "$(hdr ok1 Docker-Content-Digest)" "sha256:$(printf '0%.0s' $(seq 64))" \
    "ok: Docker-Content-Digest passed"
is "$(hdr ok1 Docker-Distribution-Api-Version)" registry/2.0 \
    "ok: Docker-Distribution-Api-Version passed"
ok "ok: X-Stub-Private not passed" sh -c "! grep -qi '^X-Stub-Private' '$T/ok1.head'"
ok "ok: Set-Cookie not passed" sh -c "! grep -qi '^Set-Cookie' '$T/ok1.head'"
is "$(ev ok1 proxied) $(ev ok1 status) $(ev ok1 bytes) $(ev ok1 error)" \
    "true 200 13 null" "ok: event proxied, 200, 13 bytes, no error"

# connection reuse: nginx keeps its FastCGI connection, so one gateway
# thread serves these one after the other, over one upstream connection
get reuse1 /v2/ok/x/manifests/a
get reuse2 /v2/ok/x/manifests/b
get reuse3 /v2/ok/x/manifests/c
conns=$(grep '"event": "request"' "$T/upstream.log" | grep -E 'id=reuse[123]' |
    python3 -c 'import json, sys
print(" ".join(str(json.loads(l)["conn"]) for l in sys.stdin))')
ok "three requests in a row reuse one upstream connection ($conns)" \
    test "$(echo "$conns" | tr ' ' '\n' | sort -u | grep -c .)" = 1

# --- failures before the answer ---------------------------------------------------
out=$(curl -s -m 15 -D "$T/refused.head" -o "$T/refused.body" \
    -w '%{http_code}' -H 'Host: refused.test' \
    "$URL/v2/any/thing/manifests/latest?id=refused")
is "$out" 502 "refused port: 502"
is "$(cat "$T/refused.body")" "$J502" "refused port: the OCI error body"
is "$(hdr refused Content-Type)" application/json "refused port: JSON"
is "$(ev refused status) $(ev refused proxied)" "502 true" \
    "refused port: event 502, proxied"
like "$(ev refused error)" 'refused|connect' "refused port: event error says why"

get slow /v2/slowheaders/x/manifests/latest?delay=10
is "$CODE" 504 "no headers within --upstream-timeout 2: 504"
is "$(cat "$T/slow.body")" "$J504" "slow headers: the OCI error body"
ok "slow headers: answered after 2 s, not 10 ($SECS s)" \
    eval 'lt 1.9 "$SECS" && lt "$SECS" 5'
like "$(ev slow error)" 'no response headers within 2 s' \
    "slow headers: event error"

get garbage /v2/garbage/x/manifests/latest
is "$CODE" 502 "garbage status line: 502"
is "$(cat "$T/garbage.body")" "$J502" "garbage status line: the OCI error body"

get huge /v2/hugeheader/x/manifests/latest
is "$CODE" 502 "a 256 KiB header block: 502"
like "$(ev huge error)" 'header block too large' "huge header: event error"

# what passes the allow-list must fit the web server's header buffer
# (16k in deploy/nginx.conf): 4 KiB of Link lines do, 20 KiB are refused
# by the gateway itself with its JSON 502, not by nginx with its HTML one
get link4 "/v2/hugeheader/x/manifests/latest?kib=4&name=Link"
is "$CODE $(grep -ci '^Link:' "$T/link4.head")" "200 4" \
    "4 KiB of allowed headers: passed"
get link20 "/v2/hugeheader/x/manifests/latest?kib=20&name=Link"
is "$CODE $(cat "$T/link20.body")" "502 $J502" \
    "20 KiB of allowed headers: the gateway's 502"

# a certificate no trust store knows (the gateway runs without
# SSL_CERT_FILE): a TLS failure, 502
if [ -n "$TLS" ]; then
	out=$(curl -s -m 15 -o "$T/tls1.body" -w '%{http_code}' \
	    -H 'Host: tls.test' "$URL/v2/ok/x/manifests/latest?id=tls1")
	is "$out $(cat "$T/tls1.body")" "502 $J502" \
	    "TLS: an unknown certificate authority, 502"
	like "$(ev tls1 error)" 'certificate|SSL' "TLS: event error says why"
else
	skip "TLS: openssl not installed"
	skip "TLS: openssl not installed"
fi

# --- failures mid-body ---------------------------------------------------------------
get reset /v2/reset/x/blobs/$(dg 1)
is "$CODE" 200 "reset mid-body: the head was 200"
is "$(hdr reset Content-Length)" 1048576 "reset mid-body: Content-Length forwarded"
is "$RC" 18 "reset mid-body: the client sees a truncated transfer (curl 18)"
ok "reset mid-body: less than promised ($SIZE bytes)" test "$SIZE" -lt 1048576
ok "reset mid-body: no hang ($SECS s)" lt "$SECS" 5
like "$(ev reset error)" 'failed mid-body' "reset mid-body: event error"

get stall "/v2/stall/x/blobs/$(dg 2)?size=100000&delay=20"
is "$CODE $RC" "200 18" "stall mid-body: aborted, the client sees truncation"
ok "stall mid-body: after about 2 s ($SECS s)" lt "$SECS" 6
like "$(ev stall error)" 'stalled mid-body: no data for 2 s' \
    "stall mid-body: event error"

# --- redirects -------------------------------------------------------------------------
get out1 "/v2/redirect-out/x/blobs/$(dg 3)?to=https://cdn.example.test/blob%3Fsig%3D1"
is "$CODE" 307 "redirect outside /v2: 307 to the client"
is "$(hdr out1 Location)" "https://cdn.example.test/blob?sig=1" \
    "redirect outside /v2: the Location"
is "$SIZE" 0 "redirect outside /v2: no body"
ok "redirect outside /v2: no upstream Content-Length" \
    test "$(hdr out1 Content-Length)" != 13
is "$(ev out1 location)" '"https://cdn.example.test/blob?sig=1"' \
    "redirect outside /v2: event location"

get out2 "/v2/redirect-out/x/blobs/$(dg 3)?to=/cdn/blob%3Fsig%3D2"
is "$(hdr out2 Location)" "http://127.0.0.1:$UP/cdn/blob?sig=2" \
    "a relative Location outside /v2: made absolute"

get chain3 "/v2/chain/x/manifests/latest?n=3"
is "$CODE $(cat "$T/chain3.body")" '200 {"stub":"ok"}' \
    "three relative redirects under /v2: followed"
is "$(upstream_requests chain3)" 4 "three redirects: four upstream requests"
get chain10 "/v2/chain/x/manifests/latest?n=10&abs=1"
is "$CODE" 200 "ten absolute redirects under /v2: followed"
get chain11 "/v2/chain/x/manifests/latest?n=11"
is "$CODE" 502 "an eleventh redirect: 502"
is "$(upstream_requests chain11)" 11 "an eleventh redirect: eleven requests"
like "$(ev chain11 error)" 'more than 10 redirects' "eleventh redirect: event error"

# --- HEAD, 304, 401 ---------------------------------------------------------------------
get head /v2/ok/x/manifests/latest -I
is "$CODE" 200 "HEAD: 200"
is "$(hdr head Content-Length)" 13 "HEAD: the upstream Content-Length"
is "$(hdr head Docker-Content-Digest)" "sha256:$(printf '0%.0s' $(seq 64))" \
    "HEAD: Docker-Content-Digest"
is "$(grep '"event": "request"' "$T/upstream.log" | grep -F 'id=head' |
    jget method)" '"HEAD"' "HEAD: HEAD upstream"

get nm /v2/notmodified/x/manifests/latest -H 'If-None-Match: "v1"'
is "$CODE $SIZE" "304 0" "If-None-Match forwarded: 304, no body"
is "$(hdr nm ETag)" '"v1"' "304: ETag passed"

get auth1 /v2/auth/x/manifests/latest
is "$CODE" 401 "401 passed through"
is "$(hdr auth1 WWW-Authenticate)" \
    'Bearer realm="http://127.0.0.1:1/token",service="registry.test",scope="repository:auth/x:pull"' \
    "401: WWW-Authenticate unchanged"
like "$(cat "$T/auth1.body")" UNAUTHORIZED "401: the registry's body"
get auth2 /v2/auth/x/manifests/latest -H 'Authorization: Bearer good-token'
is "$CODE" 200 "the retry with Authorization: Bearer: 200"

# --- forwarded request headers ---------------------------------------------------------
ACCEPTS=(application/vnd.oci.image.manifest.v1+json
    application/vnd.docker.distribution.manifest.v2+json
    application/vnd.docker.distribution.manifest.list.v2+json
    application/vnd.oci.image.index.v1+json
    application/vnd.docker.distribution.manifest.v1+prettyjws
    application/json)
args=()
for a in "${ACCEPTS[@]}"; do args+=(-H "Accept: $a"); done
get echo1 /v2/echo/x/manifests/latest "${args[@]}" \
    -H 'Authorization: Basic ZTJlOnMzY3JldA==' -H 'User-Agent: skopeo/1.9.3' \
    -H 'Range: bytes=0-' -H 'Cookie: secret=1' -H 'X-Other: 1'
got=$(python3 -c 'import json, sys
h = json.load(open(sys.argv[1]))
print("\n".join(v for k, v in h if k.lower() == "accept"))' "$T/echo1.body")
is "$got" "$(printf '%s\n' "${ACCEPTS[@]}")" "six Accept lines reach the registry, in order"
names=$(python3 -c 'import json, sys
h = json.load(open(sys.argv[1]))
print(" ".join(sorted(set(k.lower() for k, v in h))))' "$T/echo1.body")
is "$names" "accept authorization host range user-agent" \
    "only Accept, Authorization, Range, User-Agent (and Host) forwarded"
like "$(cat "$T/echo1.body")" '"Authorization", "Basic ZTJlOnMzY3JldA=="' \
    "Authorization forwarded"
unlike "$(event echo1)" 'ZTJlOnMzY3JldA' "the credentials are not logged"

# --- bodies ------------------------------------------------------------------------------------
get gz /v2/gzip/x/blobs/$(dg 4)?size=100000
is "$(hdr gz Content-Encoding)" gzip "gzip: Content-Encoding passed"
is "$(python3 -c 'import gzip, sys
print(len(gzip.decompress(open(sys.argv[1], "rb").read())))' "$T/gz.body")" \
    100000 "gzip: the bytes arrive compressed, as sent (never decoded)"
is "$SIZE" "$(hdr gz Content-Length)" "gzip: Content-Length of the compressed bytes"

get chunked /v2/chunked/x/blobs/$(dg 5)?size=100000
is "$CODE $SIZE" "200 100000" "a chunked upstream body: complete"
ok "chunked: no Content-Length invented" sh -c "! grep -qi '^Content-Length' '$T/chunked.head'"

# 1 MiB and more with a Content-Length from an http:// registry: spliced
s0=$(metric splice) c0=$(metric copy)
get big /v2/ok/x/blobs/$(dg 6)?size=20000000
is "$CODE $SIZE" "200 20000000" "20 MB: complete"
is "$(sha256sum <"$T/big.body" | cut -d' ' -f1)" "$(sha_of 20000000)" \
    "20 MB: the same bytes"
s1=$(metric splice) c1=$(metric copy)
ok "20 MB: spliced, all but the first chunk and the last 8 KiB ($((s1 - s0)) bytes)" \
    test $((s1 - s0)) -ge 19000000 -a $((s1 - s0)) -lt 20000000
is $((s1 - s0 + c1 - c0)) 20000000 "20 MB: spliced + copied = the body"
is "$(ev big bytes) $(ev big error)" "20000000 null" \
    "20 MB: event bytes, no error"
# the connection that carried it is closed after a splice (libcurl lost
# track of it); the next request opens a new one and works
get afterbig /v2/ok/x/manifests/latest
is "$CODE $(cat "$T/afterbig.body")" '200 {"stub":"ok"}' \
    "after a spliced body: the next request is answered"

# chunked: libcurl decodes the framing, so every byte is copied
s1=$(metric splice) c1=$(metric copy)
get bigchunked /v2/chunked/x/blobs/$(dg 6)?size=5000000
is "$CODE $SIZE" "200 5000000" "5 MB chunked: complete"
is "$(sha256sum <"$T/bigchunked.body" | cut -d' ' -f1)" "$(sha_of 5000000)" \
    "5 MB chunked: the same bytes"
s2=$(metric splice) c2=$(metric copy)
is "$((s2 - s1)) $((c2 - c1))" "0 5000000" "5 MB chunked: copied, not spliced"

# failures after the splice took over: the same outcomes as copied
get bigreset "/v2/reset/x/blobs/$(dg 1)?size=8388608"
is "$CODE $(hdr bigreset Content-Length)" "200 8388608" \
    "spliced, reset mid-body: the head was 200 with the length"
is "$RC" 18 "spliced, reset mid-body: the client sees a truncated transfer"
ok "spliced, reset mid-body: about half arrived ($SIZE bytes)" \
    test "$SIZE" -ge 4000000 -a "$SIZE" -lt 8388608
like "$(ev bigreset error)" 'failed mid-body' \
    "spliced, reset mid-body: event error"
get bigstall "/v2/stall/x/blobs/$(dg 2)?size=8388608&delay=20"
is "$CODE $RC" "200 18" "spliced, stall mid-body: aborted, truncated"
ok "spliced, stall mid-body: after about 2 s ($SECS s)" lt "$SECS" 6
like "$(ev bigstall error)" 'stalled mid-body: no data for 2 s' \
    "spliced, stall mid-body: event error"
ok "spliced, failures: bytes were spliced" test "$(metric splice)" -gt "$s2"

# --- the client goes away ----------------------------------------------------------------
# 64 MiB at 64 KiB every 20 ms takes 20 s (spliced); the client leaves
# after 1 s
curl -s -m 1 -o /dev/null -H 'Host: reg.test' \
    "$URL/v2/trickle/x/blobs/$(dg 7)?id=gone"
gone_rc=$?
t_gone=$(date +%s.%N)
is "$gone_rc" 28 "the client gave up after 1 s"
if wait_grep "$T/upstream.log" '"event": "send-failed", "mode": "trickle"' 60; then
	t_fail=$(grep '"event": "send-failed", "mode": "trickle"' \
	    "$T/upstream.log" | head -n 1 | jget t)
	ok "the upstream read stopped within a second of the client ($t_fail - $t_gone)" \
	    lt "$(python3 -c "print($t_fail - $t_gone)")" 1.0
else
	fail "the upstream read stopped within a second of the client"
fi
ok "the upstream never finished sending" \
    sh -c "! grep -q trickle-done '$T/upstream.log'"
is "$(ev gone error)" '"client went away"' "client gone: event error"
ok "client gone: event bytes below 64 MiB" \
    test "$(ev gone bytes)" -lt 67108864
# the same below the splice threshold (copied): 900000 bytes at 64 KiB
# every 200 ms take about 3 s
n_before=$(grep -c 'send-failed' "$T/upstream.log")
curl -s -m 1 -o /dev/null -H 'Host: reg.test' \
    "$URL/v2/trickle/x/blobs/$(dg 7)?size=900000&ms=200&id=gone2"
t_gone=$(date +%s.%N)
for _ in $(seq 60); do
	[ "$(grep -c 'send-failed' "$T/upstream.log")" -gt "$n_before" ] &&
	    break
	sleep 0.05
done
if [ "$(grep -c 'send-failed' "$T/upstream.log")" -gt "$n_before" ]; then
	t_fail=$(grep '"event": "send-failed", "mode": "trickle"' \
	    "$T/upstream.log" | tail -n 1 | jget t)
	ok "copied: the upstream read stopped within a second of the client ($t_fail - $t_gone)" \
	    lt "$(python3 -c "print($t_fail - $t_gone)")" 1.0
else
	fail "copied: the upstream read stopped within a second of the client"
fi
is "$(ev gone2 error)" '"client went away"' "copied, client gone: event error"

# --- metrics ----------------------------------------------------------------------------------
metrics=$(curl -s -m 5 -H 'Host: reg.test' "$URL/-/metrics")
like "$metrics" 'gateway_upstream_errors_total\{kind="timeout"\} 3$' \
    "metrics: timeouts counted (slow headers, two stalls)"
nconnect=7		# one more with the TLS refusal
[ -n "$TLS" ] && nconnect=8
like "$metrics" "gateway_upstream_errors_total\\{kind=\"connect\"\\} $nconnect\$" \
    "metrics: the other failures counted (refused, TLS, garbage, two header blocks, two resets, redirects)"

# --- through cgi-fcgi: the joined Accept form, no Accept at all ------------------------------
direct() {
	fcgi_req "$SOCK" GET reg.test "$@"
}
direct "/v2/echo/x/manifests/latest?id=joined" \
    "HTTP_ACCEPT=application/vnd.oci.image.manifest.v1+json, application/json" \
    HTTP_AUTHORIZATION= >"$T/joined.out"
is "$(body <"$T/joined.out")" \
    '[["Host", "127.0.0.1:'"$UP"'"], ["Accept", "application/vnd.oci.image.manifest.v1+json, application/json"]]' \
    "a joined Accept reaches the registry as one line; an empty Authorization is absent"
direct "/v2/echo/x/manifests/latest?id=noaccept" >"$T/noaccept.out"
is "$(body <"$T/noaccept.out")" '[["Host", "127.0.0.1:'"$UP"'"]]' \
    "no Accept from the client: none upstream (not libcurl's own)"

# --- a second program with --splice 0: the same large body, copied -------------------------
# cgi_sha FILE: the sha256 of the body of a CGI response in FILE
cgi_sha() {
	python3 -c 'import hashlib, sys
d = open(sys.argv[1], "rb").read()
print(hashlib.sha256(d[d.index(b"\r\n\r\n") + 4:]).hexdigest())' "$1"
}
SOCK0=$T/gw0.sock
start_bg gateway0 "$FCGI" --manifest "$T/manifest.json" \
    --listen "unix:$SOCK0" --log "$T/events0.log" --upstream-timeout 2 \
    --threads 2 --splice 0
GW0=$(pid_of gateway0)
ok "--splice 0: the program listens" wait_socket "$SOCK0" 200
fcgi_req "$SOCK0" GET reg.test "/v2/ok/x/blobs/$(dg 6)?size=20000000" \
    >"$T/nosplice.out"
is "$(status <"$T/nosplice.out") $(cgi_sha "$T/nosplice.out")" \
    "200 $(sha_of 20000000)" "--splice 0: the same 20 MB"
is "$(metric splice "$SOCK0") $(metric copy "$SOCK0")" "0 20000000" \
    "--splice 0: every byte copied"
stop_pid "$GW0" 20
is "$?" 0 "--splice 0: the program exits 0 on SIGTERM"

# --- the FastCGI program: clean stop ----------------------------------------------------------
stop_pid "$NG"
stop_pid "$GW" 20
is "$?" 0 "the gateway exits 0 on SIGTERM"
if grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error|UndefinedBehavior' \
    "$T/gateway.err"; then
	fail "no sanitizer report from the FastCGI program"
	diag "$(grep -E -A5 'Sanitizer|runtime error' "$T/gateway.err" | head -40)"
else
	pass "no sanitizer report from the FastCGI program"
fi
is "$(python3 -c 'import json, re, sys
seen = {}
for line in open(sys.argv[1]):
    m = re.search(r"(?:^|&)id=([^&]*)", json.loads(line)["query"])
    if m:
        seen[m.group(1)] = seen.get(m.group(1), 0) + 1
print(" ".join(i for i in sys.argv[2:] if seen.get(i) != 1) or "all")' \
    "$T/events.log" "${IDS[@]}" refused gone gone2 joined noaccept \
    ${TLS:+tls1})" all \
    "exactly one event line for every request"

# --- the CGI program ----------------------------------------------------------------------------
# cgi ID METHOD HOST URI [NAME=VALUE...]: one run, stdout in $T/ID.cgi,
# exit status in CGI_RC; under valgrind with PROXY_FAULTS_VALGRIND=1, and
# under the command in CGI_WRAP (if set) outside of that
CGI_RUNS=0
cgi() {
	local id=$1 method=$2 host=$3 uri=$4 query= vg=()
	shift 4
	CGI_RUNS=$((CGI_RUNS + 1))
	uri="$uri$(case $uri in *\?*) echo '&' ;; *) echo '?' ;; esac)id=$id"
	query=${uri#*\?}
	if [ -n "$VALGRIND" ]; then
		vg=(valgrind -q --error-exitcode=99 --leak-check=full
		    --log-file="$T/$id.vg")
	fi
	env -i PATH="$PATH" NO_PROXY=127.0.0.1 no_proxy=127.0.0.1 \
	    GATEWAY_INTERFACE=CGI/1.1 SERVER_PROTOCOL=HTTP/1.1 \
	    REQUEST_METHOD="$method" HTTP_HOST="$host" REQUEST_URI="$uri" \
	    QUERY_STRING="$query" REMOTE_ADDR=127.0.0.1 \
	    GATEWAY_MANIFEST="$T/manifest.json" \
	    GATEWAY_LOG="$T/cgi-events.log" GATEWAY_UPSTREAM_TIMEOUT=2 "$@" \
	    timeout 30 ${CGI_WRAP:-} "${vg[@]}" "$CGI" >"$T/$id.cgi" \
	    2>"$T/$id.cgierr" </dev/null
	CGI_RC=$?
	if [ -n "$VALGRIND" ] && [ -s "$T/$id.vg" ]; then
		diag "valgrind on $id:" "$(head -n 30 "$T/$id.vg")"
		CGI_RC=99
	fi
}

cgi cok GET reg.test /v2/ok/x/manifests/latest HTTP_ACCEPT=a/b
is "$CGI_RC $(status <"$T/cok.cgi")" "0 200" "CGI: 200"
is "$(body <"$T/cok.cgi")" '{"stub":"ok"}' "CGI: the body"
cgi chead HEAD reg.test /v2/ok/x/manifests/latest
is "$CGI_RC $(status <"$T/chead.cgi") $(header Content-Length <"$T/chead.cgi")" \
    "0 200 13" "CGI: HEAD with the upstream Content-Length"
is "$(body <"$T/chead.cgi")" "" "CGI: HEAD without a body"
cgi crefused GET refused.test /v2/a/b/manifests/latest
is "$CGI_RC $(status <"$T/crefused.cgi")" "0 502" "CGI: refused port, 502"
is "$(body <"$T/crefused.cgi")" "$J502" "CGI: refused port, the OCI body"
cgi cslow GET reg.test "/v2/slowheaders/x/manifests/latest?delay=8"
is "$CGI_RC $(status <"$T/cslow.cgi")" "0 504" "CGI: slow headers, 504"
cgi creset GET reg.test /v2/reset/x/blobs/$(dg 1)
is "$(status <"$T/creset.cgi")" 200 "CGI: reset mid-body, head 200"
is "$CGI_RC" 1 "CGI: reset mid-body, exit status 1 (no clean end)"
ok "CGI: reset mid-body, body shorter than its Content-Length" \
    test "$(body <"$T/creset.cgi" | wc -c)" -lt 1048576
# large bodies: spliced onto stdout, or copied with GATEWAY_SPLICE=0
# (strace counts the splice(2) calls that moved them, when installed;
# LeakSanitizer cannot run under ptrace, so a sanitizer build's leak check
# is off for these two runs: the reset run below covers the same path)
STRACE=
command -v strace >/dev/null && STRACE=strace
CGI_WRAP=${STRACE:+strace -f -qq -e trace=splice -o $T/cbig.strace} \
    cgi cbig GET reg.test "/v2/ok/x/blobs/$(dg 6)?size=5000000" \
    ${STRACE:+ASAN_OPTIONS=detect_leaks=0}
is "$CGI_RC $(status <"$T/cbig.cgi") $(cgi_sha "$T/cbig.cgi")" \
    "0 200 $(sha_of 5000000)" "CGI: 5 MB spliced onto stdout, the same bytes"
CGI_WRAP=${STRACE:+strace -f -qq -e trace=splice -o $T/cbig0.strace} \
    cgi cbig0 GET reg.test "/v2/ok/x/blobs/$(dg 6)?size=5000000" \
    GATEWAY_SPLICE=0 ${STRACE:+ASAN_OPTIONS=detect_leaks=0}
is "$CGI_RC $(status <"$T/cbig0.cgi") $(cgi_sha "$T/cbig0.cgi")" \
    "0 200 $(sha_of 5000000)" "CGI: 5 MB copied (GATEWAY_SPLICE=0), the same bytes"
if [ -n "$STRACE" ]; then
	ok "CGI: splice(2) moved the 5 MB ($(grep -c 'splice(' "$T/cbig.strace") calls)" \
	    test "$(grep -c 'splice(' "$T/cbig.strace")" -gt 2
	is "$(grep -c 'splice(' "$T/cbig0.strace")" 0 \
	    "CGI: GATEWAY_SPLICE=0, no splice(2) at all"
else
	skip "CGI: splice(2) calls: strace not installed"
	skip "CGI: splice(2) calls: strace not installed"
fi
cgi cbigreset GET reg.test "/v2/reset/x/blobs/$(dg 1)?size=8388608"
is "$CGI_RC $(status <"$T/cbigreset.cgi")" "1 200" \
    "CGI: spliced, reset mid-body: head 200, exit status 1"
ok "CGI: spliced, reset mid-body: body shorter than its Content-Length" \
    test "$(($(wc -c <"$T/cbigreset.cgi") - $(sed '/^\r$/q' "$T/cbigreset.cgi" | wc -c)))" -lt 8388608
cgi cout GET reg.test "/v2/redirect-out/x/blobs/$(dg 3)"
is "$CGI_RC $(status <"$T/cout.cgi") $(header Location <"$T/cout.cgi")" \
    "0 307 https://cdn.example.test/blob?sig=1" "CGI: redirect outside /v2, 307"
cgi cchain GET reg.test "/v2/chain/x/manifests/latest?n=11"
is "$CGI_RC $(status <"$T/cchain.cgi")" "0 502" "CGI: eleven redirects, 502"
cgi cauth GET reg.test /v2/auth/x/manifests/latest
is "$CGI_RC $(status <"$T/cauth.cgi")" "0 401" "CGI: 401 passed"
cgi cgarbage GET reg.test /v2/garbage/x/manifests/latest
is "$CGI_RC $(status <"$T/cgarbage.cgi")" "0 502" "CGI: garbage, 502"
cgi chuge GET reg.test /v2/hugeheader/x/manifests/latest
is "$CGI_RC $(status <"$T/chuge.cgi")" "0 502" "CGI: huge header block, 502"
if [ -n "$TLS" ]; then
	# (a handshake under valgrind takes seconds: a longer timeout)
	cgi ctls1 GET tls.test /v2/ok/x/manifests/latest \
	    GATEWAY_UPSTREAM_TIMEOUT=30
	is "$CGI_RC $(status <"$T/ctls1.cgi")" "0 502" \
	    "CGI, TLS: an unknown certificate authority, 502"
	cgi ctls2 GET tls.test /v2/ok/x/manifests/latest \
	    GATEWAY_UPSTREAM_TIMEOUT=30 SSL_CERT_FILE="$T/cert.pem"
	is "$CGI_RC $(status <"$T/ctls2.cgi") $(body <"$T/ctls2.cgi")" \
	    '0 200 {"stub":"ok"}' "CGI, TLS: trusted through SSL_CERT_FILE"
	mkdir -p "$T/certs"
	cp "$T/cert.pem" "$T/certs/"
	if openssl rehash "$T/certs" >/dev/null 2>&1; then
		cgi ctls3 GET tls.test /v2/ok/x/manifests/latest \
		    GATEWAY_UPSTREAM_TIMEOUT=30 SSL_CERT_DIR="$T/certs"
		is "$CGI_RC $(status <"$T/ctls3.cgi")" "0 200" \
		    "CGI, TLS: trusted through SSL_CERT_DIR"
	else
		skip "CGI, TLS: openssl rehash failed"
	fi
else
	skip "CGI, TLS: openssl not installed"
fi

# the web server stops reading after 100 KB: the CGI program stops the
# upstream transfer, logs it, and exits
n_before=$(grep -c 'send-failed' "$T/upstream.log")
(
	uri="/v2/trickle/x/blobs/$(dg 8)?size=67108864&ms=5&id=cgone"
	env -i PATH="$PATH" NO_PROXY=127.0.0.1 no_proxy=127.0.0.1 \
	    GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET HTTP_HOST=reg.test \
	    REQUEST_URI="$uri" QUERY_STRING="${uri#*\?}" REMOTE_ADDR=127.0.0.1 \
	    GATEWAY_MANIFEST="$T/manifest.json" \
	    GATEWAY_LOG="$T/cgi-events.log" GATEWAY_UPSTREAM_TIMEOUT=2 \
	    timeout 30 ${VALGRIND:+valgrind -q --error-exitcode=99 --leak-check=full --log-file=$T/cgone.vg} \
	    "$CGI" 2>"$T/cgone.cgierr" </dev/null | head -c 100000 >/dev/null
	echo "${PIPESTATUS[0]}" >"$T/cgone.rc"
)
cgone_rc=$(cat "$T/cgone.rc")
ok "CGI: a reader that goes away ends the program (exit $cgone_rc)" \
    test "$cgone_rc" != 124 -a "$cgone_rc" != 99
# (the upstream notices at its next send: wait a little)
for _ in $(seq 40); do
	[ "$(grep -c 'send-failed' "$T/upstream.log")" -gt "$n_before" ] &&
	    break
	sleep 0.05
done
ok "CGI: ... and the upstream transfer" test \
    "$(grep -c 'send-failed' "$T/upstream.log")" -gt "$n_before"
is "$(event cgone "$T/cgi-events.log" | jget error)" '"client went away"' \
    "CGI: event error"
if [ -n "$VALGRIND" ]; then
	ok "CGI: valgrind silent for the disconnect" test ! -s "$T/cgone.vg"
	is "$(cat "$T"/*.vg 2>/dev/null | grep -c .)" 0 \
	    "CGI: valgrind silent on every run"
else
	skip "valgrind runs: set PROXY_FAULTS_VALGRIND=1"
fi
is "$(grep -c . "$T/cgi-events.log")" $((CGI_RUNS + 1)) \
    "CGI: one event line per run"

done_testing
