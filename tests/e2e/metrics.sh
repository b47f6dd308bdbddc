#!/usr/bin/env bash
# /-/metrics across processes (README, "Metrics"):
#   - three FastCGI processes on one listening socket (as spawn-fcgi -F 3
#     starts them): 300 requests spread over them, then every scrape,
#     whichever process answers it, shows the totals; a process killed
#     (SIGKILL) and started again on the socket keeps them; the area in
#     /dev/shm goes when the last process stops;
#   - every exposition parsed by a real Prometheus text parser
#     (python3-prometheus-client), the histogram and the in-flight gauge
#     included;
#   - the CGI program shares counters through GATEWAY_STATE_DIR, and falls
#     back to its own (one warning, the request still answered) when the
#     file there is a planted symbolic link.
. "$(dirname "$0")/../lib.sh"

[ -x "$FCGI" ] || skip_all "fcgi/scarf-gateway not built"
[ -x "$CGI" ] || skip_all "cgi/scarf-gateway.cgi not built"
# the parser from Debian's python3-prometheus-client: the system python
# when the python3 on PATH is another one (pyenv, a venv)
PROM_PY=python3
$PROM_PY -c 'import prometheus_client.parser' 2>/dev/null ||
    PROM_PY=/usr/bin/python3
$PROM_PY -c 'import prometheus_client.parser' 2>/dev/null ||
    skip_all "python3-prometheus-client not installed"
E2E=$top_srcdir/tests/e2e

# check: reads the fixture's JSON lines on stdin, parses every exposition
# with prometheus_client and prints "name value" facts, one a line
check() {
	$PROM_PY -c '
import json, sys
from prometheus_client.parser import text_string_to_metric_families as parse

def facts(text):
    req, hist, infl = {}, {}, None
    fams = list(parse(text))       # raises on anything malformed
    for f in fams:
        for s in f.samples:
            if s.name == "gateway_requests_total":
                k = s.labels["type"]
                req[k] = req.get(k, 0) + s.value
            elif s.name == "gateway_request_duration_seconds_bucket":
                hist.setdefault(s.labels["type"], []).append(
                    (float(s.labels["le"]), s.value))
            elif s.name == "gateway_request_duration_seconds_count":
                hist.setdefault("count:" + s.labels["type"], s.value)
            elif s.name == "gateway_inflight_requests":
                infl = s.value
    types = {f.name: f.type for f in fams}
    mono = all(all(a[1] <= b[1] for a, b in zip(v, v[1:])) and
               v[-1][0] == float("inf") and
               v[-1][1] == hist["count:" + k]
               for k, v in hist.items() if not k.startswith("count:"))
    return req, hist, infl, types, mono

n = 0
for line in sys.stdin:
    d = json.loads(line)
    if d["step"] == "spread":
        print("spread", min(d["lines"]) > 0, sum(d["lines"]), len(d["fails"]))
    elif d["step"] in ("scrape", "alone"):
        req, hist, infl, types, mono = facts(d["text"])
        tag = d["step"] if d["step"] == "alone" else "scrape%d" % n
        n += d["step"] == "scrape"
        print(tag, int(sum(req.values())), int(req.get("file", 0)),
              int(hist.get("count:file", -1)), int(infl), mono,
              types.get("gateway_request_duration_seconds", "-"),
              types.get("gateway_inflight_requests", "-"))
        if d["step"] == "alone":
            print("warnings", sum(e.count("warning") for e in d["errs"]))
    elif d["step"] == "stopped":
        print("area-left", len(d["area"]))
'
}

# --- three FastCGI processes on one socket --------------------------------
python3 "$E2E/fixtures/metrics_procs.py" "$FCGI" "$E2E/manifest.json" "$T" \
    >"$T/procs.json" 2>"$T/procs.err"
is "$?" 0 "the three-process run completed"
[ -s "$T/procs.err" ] && diag "$(cat "$T/procs.err")"
check <"$T/procs.json" >"$T/facts" 2>"$T/facts.err"
is "$?" 0 "every exposition parses (prometheus_client)"
[ -s "$T/facts.err" ] && diag "$(cat "$T/facts.err")"
fact() { sed -n "s/^$1 //p" "$T/facts"; }
is "$(fact spread)" "True 300 0" \
    "300 requests answered 307, every process served some"
# scrape N: all requests, file 307s, file histogram count, in flight (the
# scrape itself), buckets cumulative up to +Inf = count, families' types
is "$(fact scrape0)" "300 300 300 1 True histogram gauge" \
    "first scrape: the totals of all three processes"
is "$(fact scrape1)" "301 300 300 1 True histogram gauge" \
    "second scrape: the first one counted too"
is "$(fact scrape2)" "302 300 300 1 True histogram gauge" \
    "third scrape, whichever process answered"
is "$(fact alone)" "303 300 300 1 True histogram gauge" \
    "one killed and restarted, the others stopped: the totals stay"
is "$(fact warnings)" 0 "no process warned about the area"
is "$(fact area-left)" 0 "the last process to stop removed the area"

# --- CGI with a state directory ----------------------------------------------
# cgi URI [NAME=VALUE...]: one CGI request; response in $T/cgi.out
cgi() {
	local uri=$1
	shift
	env -i GATEWAY_INTERFACE=CGI/1.1 SERVER_PROTOCOL=HTTP/1.1 \
	    REMOTE_ADDR=127.0.0.1 REQUEST_METHOD=GET HTTP_HOST=dl.e2e.test \
	    REQUEST_URI="$uri" QUERY_STRING= GATEWAY_LOG=none \
	    GATEWAY_MANIFEST="$E2E/manifest.json" "$@" "$CGI" \
	    >"$T/cgi.out" 2>>"$T/cgi.err"
}
for i in 1 2 3 4 5; do
	cgi "/tool/v$i/c.tgz" GATEWAY_STATE_DIR="$T/state"
done
cgi /-/metrics GATEWAY_STATE_DIR="$T/state"
tr -d '\r' <"$T/cgi.out" | sed '1,/^$/d' >"$T/cgi.metrics"
total=$($PROM_PY -c '
import sys
from prometheus_client.parser import text_string_to_metric_families as parse
print(int(sum(s.value for f in parse(open(sys.argv[1]).read())
              for s in f.samples if s.name == "gateway_requests_total")))' \
    "$T/cgi.metrics")
is "$total" 5 "CGI: five processes counted in one area"
ok "the state directory's file is 0600" \
    test "$(stat -c %a "$T/state/metrics.v1")" = 600
is "$(grep -c warning "$T/cgi.err")" 0 "no warnings"

# a planted symbolic link: refused, counted privately, still answered
mkdir -p "$T/planted"
ln -s "$T/state/metrics.v1" "$T/planted/metrics.v1"
: >"$T/cgi.err"
cgi /tool/v9/c.tgz GATEWAY_STATE_DIR="$T/planted"
is "$(tr -d '\r' <"$T/cgi.out" | sed -n 's/^Status: //p')" \
    "307 Temporary Redirect" "a planted symlink: the request is answered"
is "$(grep -c 'warning: shared metrics .*symbolic link' "$T/cgi.err")" 1 \
    "one warning names the reason"
cgi /-/metrics GATEWAY_STATE_DIR="$T/state"
tr -d '\r' <"$T/cgi.out" | sed '1,/^$/d' >"$T/cgi.metrics"
like "$(grep 'type="file"' "$T/cgi.metrics" | grep requests_total)" \
    ' 5$' "the link's target was not written through"

done_testing
