#!/usr/bin/env bash
# A fleet on loopback: three FastCGI gateway nodes (--listen tcp:, the
# manifest from one URL, --poll 1) behind one nginx upstream with
# fastcgi_next_upstream error timeout, the manifest served with an ETag by
# fixtures/manifest_server.py, each node logging its events to its own
# file.  Under a constant load (fixtures/fleet_load.py: 4 keep-alive
# clients, at most 50 requests/s each, from before the first change until
# 3 s after the last, about 25 s):
#
#   ~3 s   the manifest at the URL changes (v1 -> v2): every node must
#          serve v2 within one poll interval + 1 s (2 s; the only timing
#          assertion, the bound the fleet promises; measured per node
#          from the first v2 event), and no answer may come from neither
#          manifest (fixtures/fleet_report.py: each answer's manifest must
#          be the one at the URL at most 2 s before it was sent, or a
#          newer one)
#   ~6 s   node2 gets SIGKILL, and is started again 2 s later: no request
#          fails (nginx retries those the dead node never answered), and
#          node2 serves again
#   ~11 s  the manifest server goes down for 3 s, comes back with the same
#          manifest, then serves broken JSON for 3 s, then v3: meanwhile
#          the nodes keep serving v2, /-/health ("manifest-stale",
#          "last-reload-error") and /-/metrics (gateway_manifest_stale,
#          gateway_manifest_last_success_timestamp_seconds) say so, and
#          they clear once the source is good again; every node serves v3
#          within 2 s
#
# At the end no request may have failed, and the merged node logs must
# hold exactly one event per request in nginx's access log (matched by the
# request id each client puts in the query, which the event logs).  The
# figures (requests, failures, retries, propagation per node) are printed
# as a "# SUMMARY" line; README "Running a fleet" quotes one run.
. "$(dirname "$0")/../lib.sh"

NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || skip_all "nginx not installed"
[ -f /etc/nginx/fastcgi_params ] || skip_all "/etc/nginx/fastcgi_params missing"
command -v cgi-fcgi >/dev/null || skip_all "cgi-fcgi (libfcgi-bin) not installed"
command -v python3 >/dev/null || skip_all "python3 not installed"
[ -x "$FCGI" ] || skip_all "fcgi/scarf-gateway not built"

FIX=$top_srcdir/tests/e2e/fixtures
POLL=1
BOUND=$((POLL + 1))
chmod 0711 "$T"
cd "$T" || exit 1

# --- the manifests ------------------------------------------------------
manifest() {
	cat >"$1" <<JSON
{"rules": [{"type": "file-v1", "domain": "fleet.test",
  "package-id": "fleet-tool", "incoming-path": "/tool/{version}/{file}",
  "outgoing-url": "https://$2/tool/{version}/{file}"}]}
JSON
}
manifest v1.json one.example
manifest v2.json two.example
manifest v3.json three.example
printf '{"rules": [{"type": "file-v1",,]}\n' >broken.json
# serve FILE: what the URL returns from now on (atomic rename)
serve() {
	cp "$1" served.json.tmp && mv -f served.json.tmp served.json
}
tl() {
	echo "$(date +%s.%N) $*" >>timeline
}
serve v1.json

MPORT=$(free_port)
msrv_n=0
msrv_start() {
	msrv_n=$((msrv_n + 1))
	start_bg "msrv$msrv_n" python3 "$FIX/manifest_server.py" \
	    --file "$T/served.json" --log "$T/msrv.log" \
	    --listen "127.0.0.1:$MPORT"
	wait_port "$MPORT"
}
ok "the manifest server listens" msrv_start
URL=http://127.0.0.1:$MPORT/manifest.json

# --- three nodes --------------------------------------------------------
declare -A NP
for i in 1 2 3; do
	NP[$i]=$(free_port)
done
node_start() {
	start_bg "$2" "$FCGI" --listen "tcp:127.0.0.1:${NP[$1]}" \
	    --manifest "$URL" --poll "$POLL" --threads 8 \
	    --log "$T/node$1.events"
	wait_port "${NP[$1]}"
}
for i in 1 2 3; do
	ok "node$i listens" node_start "$i" "node$i"
done

# probe I PATH: the body of PATH straight from node I
probe() {
	fcgi_req "127.0.0.1:${NP[$1]}" GET fleet.test "$2" | body
}

# wait_health I KEY WANT: until node I's /-/health has KEY = WANT (as
# JSON), at most 10 s (a few polls: the state changes at the next poll)
wait_health() {
	local i=0
	while [ "$i" -lt 100 ]; do
		[ "$(probe "$1" /-/health | jget "$2")" = "$3" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	diag "node$1: /-/health $2 never became $3"
	return 1
}

# --- nginx ----------------------------------------------------------------
NPORT=$(free_port)
cp /etc/nginx/fastcgi_params "$T/"
cat >nginx.conf <<EOF
daemon off;
worker_processes 1;
pid $T/nginx.pid;
error_log $T/nginx-error.log warn;
events { worker_connections 1024; }
http {
    log_format fleet escape=json '{"msec":\$msec,"id":"\$request_id",'
        '"status":\$status,"uri":"\$request_uri",'
        '"upstream":"\$upstream_addr","ustatus":"\$upstream_status"}';
    access_log $T/nginx-access.log fleet;
    client_body_temp_path $T/nginx-client-body;
    proxy_temp_path       $T/nginx-proxy;
    fastcgi_temp_path     $T/nginx-fastcgi;
    uwsgi_temp_path       $T/nginx-uwsgi;
    scgi_temp_path        $T/nginx-scgi;
    upstream fleet {
        # a node that failed is left alone for 1 s, then tried again
        server 127.0.0.1:${NP[1]} max_fails=1 fail_timeout=1s;
        server 127.0.0.1:${NP[2]} max_fails=1 fail_timeout=1s;
        server 127.0.0.1:${NP[3]} max_fails=1 fail_timeout=1s;
        keepalive 4;
    }
    server {
        listen 127.0.0.1:$NPORT;
        location / {
            fastcgi_pass fleet;
            fastcgi_keep_conn on;
            # a request a node never answered (refused, reset, closed
            # before the header) goes to the next node
            fastcgi_next_upstream error timeout;
            fastcgi_next_upstream_tries 3;
            fastcgi_connect_timeout 2s;
            fastcgi_read_timeout 10s;
            fastcgi_param HTTP_HOST \$http_host;
            include fastcgi_params;
        }
    }
}
EOF
start_bg nginx-master "$NGINX" -c "$T/nginx.conf"
if ! wait_port "$NPORT"; then
	fail "nginx listens"
	diag "$(cat nginx-master.err nginx-error.log 2>/dev/null)"
	done_testing
fi
pass "nginx listens"
for i in 1 2 3; do
	like "$(probe "$i" /-/health)" '"rules":1' "node$i serves the manifest"
done

# --- the run ------------------------------------------------------------
tl version v1
start_bg load python3 "$FIX/fleet_load.py" --url "http://127.0.0.1:$NPORT" \
    --host fleet.test --out "$T/load.jsonl" --stop "$T/stop-load" \
    --duration 180 --threads 4 --rate 50
LOAD=$(pid_of load)
sleep 3

serve v2.json
tl version v2
sleep 3

kill -KILL "$(pid_of node2)"
tl kill node2
wait "$(pid_of node2)" 2>/dev/null
sleep 2
node_start 2 node2-again
tl restart node2
sleep 3

# the manifest server goes down
stop "msrv$msrv_n" >/dev/null
tl down
for i in 1 2 3; do
	wait_health "$i" manifest-stale true
	h=$(probe "$i" /-/health)
	m=$(probe "$i" /-/metrics)
	is "$(jget manifest-stale <<<"$h")" true \
	    "server down: node$i /-/health says manifest-stale"
	like "$(jget last-reload-error <<<"$h")" 'cannot fetch' \
	    "server down: node$i /-/health says why"
	is "$(jget status <<<"$h")" '"ok"' \
	    "server down: node$i is still healthy (serves the last manifest)"
	like "$m" '^gateway_manifest_stale 1$' \
	    "server down: node$i gateway_manifest_stale 1"
	like "$m" 'gateway_manifest_reloads_total\{result="error"\} [1-9]' \
	    "server down: node$i counts the failed fetches"
done
# ... stays down for a poll or two more, and comes back with the same
# manifest (the nodes get 304s)
sleep 1.5
msrv_start
tl up
t_up=$(date +%s)
for i in 1 2 3; do
	wait_health "$i" manifest-stale false
	h=$(probe "$i" /-/health)
	m=$(probe "$i" /-/metrics)
	is "$(jget manifest-stale <<<"$h")" false \
	    "server back: node$i is no longer stale"
	is "$(jget last-reload-error <<<"$h")" null \
	    "server back: node$i last-reload-error cleared"
	ts=$(sed -n 's/^gateway_manifest_last_success_timestamp_seconds //p' \
	    <<<"$m")
	ok "server back: node$i last success ($ts) after the return ($t_up)" \
	    test "${ts:-0}" -ge "$t_up"
done
# ... then serves broken JSON
serve broken.json
tl broken
for i in 1 2 3; do
	wait_health "$i" manifest-stale true
	h=$(probe "$i" /-/health)
	m=$(probe "$i" /-/metrics)
	is "$(jget manifest-stale <<<"$h")" true \
	    "broken manifest: node$i /-/health says manifest-stale"
	like "$(jget last-reload-error <<<"$h")" 'JSON syntax error' \
	    "broken manifest: node$i /-/health has the syntax error"
	like "$m" '^gateway_manifest_stale 1$' \
	    "broken manifest: node$i gateway_manifest_stale 1"
done
# ... then the next good one
serve v3.json
tl version v3
for i in 1 2 3; do
	ok "v3: node$i is no longer stale" wait_health "$i" manifest-stale false
done
# the load goes on for 3 s more than the bound: the report needs the
# nodes' answers after it
sleep "$((BOUND + 1))"

touch stop-load
ok "the load stops" wait_exit "$LOAD" 30
for n in node1 node2-again node3; do
	stop "$n" >/dev/null
done
stop nginx >/dev/null
for i in 1 2 3; do
	unlike "$(cat "$T/node$i.err" "$T/node$i-again.err" 2>/dev/null)" \
	    'AddressSanitizer|runtime error' "node$i: no sanitizer report"
done

# --- the record -----------------------------------------------------------
python3 "$FIX/fleet_report.py" --load load.jsonl --nginx nginx-access.log \
    --timeline timeline --bound "$BOUND" \
    --node "node1=127.0.0.1:${NP[1]}=$T/node1.events" \
    --node "node2=127.0.0.1:${NP[2]}=$T/node2.events" \
    --node "node3=127.0.0.1:${NP[3]}=$T/node3.events" \
    --version one.example=v1 --version two.example=v2 \
    --version three.example=v3 >report.out 2>&1
rc=$?
n=0
while IFS= read -r line; do
	case $line in
	"ok - "*)	pass "${line#ok - }"; n=$((n + 1)) ;;
	"not ok - "*)	fail "${line#not ok - }"; n=$((n + 1)) ;;
	"#"*)		echo "$line" ;;
	*)		diag "$line" ;;
	esac
done <report.out
ok "fleet_report.py ran to its end (status $rc, $n checks)" \
    test "$rc" -le 1 -a "$n" -gt 10
done_testing
