#!/usr/bin/env bash
# The report command (README, "Download analytics"): generated logs whose
# true figures are known (gzip-rotated and plain files given out of order,
# out-of-order lines, hostile User-Agents, broken and truncated lines)
# must give exactly those figures in JSON and CSV, and unique clients
# within the stated error; the same through standard input; filters and
# periods; the docker pull attribution; the event log's --log-client-ip
# modes read back by the report; bad flags.
. "$(dirname "$0")/../lib.sh"

[ -x "$FCGI" ] || skip_all "fcgi/scarf-gateway not built"
command -v python3 >/dev/null || skip_all "python3 not found"
FIX=$top_srcdir/tests/e2e/fixtures
cd "$T" || exit 99

# checks NAME...: runs check_report.py, one test point per line
checks() {
	local line
	while IFS= read -r line; do
		case $line in
		"ok "*) pass "${line#ok }" ;;
		*) fail "${line#not ok }" ;;
		esac
	done < <(python3 "$FIX/check_report.py" "$@" 2>&1 ||
	    echo "not ok check_report.py failed")
}

# --- known truth --------------------------------------------------------
python3 "$FIX/make_events.py" gen --seed 12 --days 5 --scale 4000 ||
	exit 99
L="gen/events.log gen/events.log.2.gz gen/events.log.1.gz"
# shellcheck disable=SC2086
"$FCGI" report --format json -o out.json $L 2>err.txt
is "$?" 0 "report --format json exits 0 despite broken lines"
like "$(cat err.txt)" "11 of [0-9]+ lines skipped \(4 not JSON, 3 wrong type, 1 missing key, 1 unknown type, 1 truncated, 1 too long\), first at gen/events.log[^ ]*:[0-9]+" \
	"stderr counts the skipped lines and names the first"
# shellcheck disable=SC2086
"$FCGI" report --format csv $L >rows.csv 2>/dev/null
checks gen/truth.json out.json rows.csv

# every CSV table holds the JSON table of that name
for tb in periods totals clients ci status files referers; do
	# shellcheck disable=SC2086
	"$FCGI" report --format csv --table $tb $L >t.csv 2>/dev/null
	ok "csv --table $tb equals the json $tb" python3 - "$tb" <<'EOF'
import csv, json, sys
tb = sys.argv[1]
j = json.load(open("out.json"))
rows = j[tb] + ([j["all"]] if tb == "totals" else [])
c = list(csv.DictReader(open("t.csv", newline="", encoding="utf-8")))
def norm(r, keys):
    return tuple("" if r.get(k) is None else str(r.get(k)) for k in keys)
keys = c[0].keys() if c else []
a = sorted(norm(r, keys) for r in rows)
b = sorted(norm(r, keys) for r in c)
sys.exit(not (c and a == b and
              set(keys) <= set().union(*(r.keys() for r in rows))))
EOF
done

# the checker itself catches a wrong figure
python3 - out.json >bad.json <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
r["rows"][len(r["rows"]) // 2]["downloads"] += 1
json.dump(r, sys.stdout)
EOF
like "$(python3 "$FIX/check_report.py" gen/truth.json bad.json)" \
	"not ok every row equals the truth" "a changed figure is caught"

# the same lines through standard input, in time order of the files
{ gzip -dc gen/events.log.2.gz gen/events.log.1.gz; cat gen/events.log; } |
	"$FCGI" report --format json >stdin.json 2>/dev/null
ok "standard input gives the same report" python3 -c '
import json, sys
a, b = json.load(open("out.json")), json.load(open("stdin.json"))
sys.exit(a != b)'
gzip -c gen/events.log >all.gz
# shellcheck disable=SC2086
"$FCGI" report --format json gen/events.log.1.gz gen/events.log.2.gz \
	all.gz >regz.json 2>/dev/null
ok "a gzip stream on standard input is read too" python3 -c '
import json, sys
a = json.load(open("out.json"))
b = json.load(open(sys.argv[1]))
sys.exit(a["rows"] != b["rows"])' regz.json
gzip -dc gen/events.log.1.gz | "$FCGI" report --format json - \
	gen/events.log.2.gz gen/events.log >mixed.json 2>/dev/null
ok "'-' among files reads standard input" python3 -c '
import json, sys
a, b = json.load(open("out.json")), json.load(open("mixed.json"))
sys.exit(a["all"] != b["all"])'

# --- periods and filters ------------------------------------------------
for by in week month; do
	# shellcheck disable=SC2086
	"$FCGI" report --by $by --format json $L >by.json 2>/dev/null
	ok "--by $by: the same totals, periods add up" python3 -c '
import json, sys
a, b = json.load(open("out.json")), json.load(open("by.json"))
s = sum(p["downloads"] for p in b["periods"])
sys.exit(not (a["all"]["downloads"] == b["all"]["downloads"] == s
              and b["by"] == sys.argv[1]))' $by
done
# shellcheck disable=SC2086
"$FCGI" report --by week --format json $L >wk.json 2>/dev/null
is "$(python3 -c 'import json; print([p["period"] for p in
json.load(open("wk.json"))["periods"]])')" "['2026-02-23', '2026-03-02']" \
	"weeks are labelled by their Monday (ISO 8601)"
# shellcheck disable=SC2086
"$FCGI" report --since 2026-03-02 --until 2026-03-03 --format json $L \
	>day.json 2>/dev/null
ok "--since/--until keep exactly those days' rows" python3 -c '
import json, sys
t = json.load(open("gen/truth.json"))
d = json.load(open("day.json"))
want = sum(v.get("downloads", 0) for k, v in t["rows"].items()
           if k[:10] in ("2026-03-02", "2026-03-03"))
got = d["all"]["downloads"]
per = sorted(p["period"] for p in d["periods"])
sys.exit(not (got == want and per == ["2026-03-02", "2026-03-03"]))'
# shellcheck disable=SC2086
"$FCGI" report --package mypkg --host PyPI.example.com --format json $L \
	>pkg.json 2>/dev/null
ok "--package and --host keep one package" python3 -c '
import json, sys
t = json.load(open("gen/truth.json"))
d = json.load(open("pkg.json"))
want = sum(v.get("downloads", 0) for k, v in t["rows"].items()
           if k.split("|")[3] == "mypkg")
pk = {r["package"] for r in d["rows"]}
sys.exit(not (d["all"]["downloads"] == want and pk == {"mypkg"}))'

# --- docker pull attribution (60 s window, same address and agent) ------
python3 - >pull.log <<'EOF'
import json
def ev(t, method, ref, ua="docker/25.0.3 go/go1.21", ip="192.0.2.1",
       status=200, image="acme/app"):
    print(json.dumps({"time": "2026-04-01T10:%02d:%02d.000Z" % divmod(t, 60),
        "host": "r.example", "method": method,
        "path": "/v2/%s/manifests/%s" % (image, ref), "query": "",
        "status": status, "type": "docker", "rule-index": 0,
        "package-id": "app", "user-agent": ua, "client-ip": ip,
        "image": image, "reference": ref, "proxied": False, "bytes": 0}))
D1, D2, D3 = ("sha256:" + c * 64 for c in "123")
ev(0, "HEAD", "1.0"); ev(1, "GET", D1); ev(2, "GET", D2)   # 1.0, follow
ev(100, "GET", D1)                          # > 60 s later: a digest pull
ev(200, "HEAD", "2.0"); ev(201, "GET", D3, ip="192.0.2.9")  # other client
ev(202, "GET", D3, ua="containerd/1.7.2")   # other agent: digest again
ev(203, "GET", D3)                          # same client: 2.0
ev(300, "HEAD", "3.0", status=404); ev(301, "GET", D1)  # 404 gives no tag
ev(400, "GET", "4.0"); ev(401, "GET", D2)   # GET by tag counted; follow
ev(500, "HEAD", "5.0", image="acme/other"); ev(501, "GET", D1)  # image
EOF
"$FCGI" report --format json pull.log >pull.json 2>/dev/null
is "$(python3 -c '
import json
for r in json.load(open("pull.json"))["rows"]:
    n = [k for k in ("downloads", "follows", "checks", "errors") if r[k]]
    print(r["package"], r["version"][:8], *("%s=%d" % (k, r[k]) for k in n))
')" "acme/app 1.0 downloads=1 follows=1 checks=1
acme/app 2.0 downloads=1 checks=1
acme/app 3.0 errors=1
acme/app 4.0 downloads=1 follows=1
acme/app sha256:1 downloads=3
acme/app sha256:3 downloads=2
acme/other 5.0 checks=1" "a digest GET is the pull of the tag its client asked for just before"

# an older line without image and reference: both from the path
printf '%s\n' '{"time":"2026-04-01T10:00:00Z","method":"GET","path":"/v2/acme/old/manifests/2.0","status":307,"type":"docker"}' |
	"$FCGI" report --format csv 2>/dev/null >old.csv
like "$(cat old.csv)" "^2026-04-01,docker,,,acme/old,2.0,1," \
	"an older docker line: the image and tag from the path"

# --- the event log's client address, read back by the report -----------
if [ -x "$CGI" ]; then
	head -c 32 /dev/urandom >key
	cgi() {	# cgi MODE ADDR UA: one request, logged to ev-${MODE%%:*}.log
		GATEWAY_LOG_CLIENT_IP=$1 GATEWAY_LOG=$T/ev-${1%%:*}.log \
		GATEWAY_MANIFEST=$top_srcdir/deploy/examples/manifest.json \
		GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET \
		REQUEST_URI=/tool/1.4.2/tool-1.4.2-linux-amd64.tar.gz \
		HTTP_HOST=dl.example.com REMOTE_ADDR=$2 HTTP_USER_AGENT=$3 \
		"$CGI" >/dev/null 2>&1
	}
	for mode in full truncate hash:$T/key none; do
		m=${mode%%:*}
		for a in 192.0.2.10 192.0.2.11 2001:db8:1:2::5 2001:db8:1:3::5; do
			cgi "$mode" "$a" "curl/8.5.0"
			cgi "$mode" "$a" "Wget/1.21"
		done
		ips=$(python3 -c 'import json,sys
print(" ".join(sorted({json.loads(l)["client-ip"] for l in open(sys.argv[1])})))' "ev-$m.log")
		u=$("$FCGI" report --format json "ev-$m.log" 2>/dev/null |
		    python3 -c 'import json,sys
d = json.load(sys.stdin); print(d["all"]["downloads"], d["all"]["unique-clients"])')
		case $m in
		full) is "$ips" "192.0.2.10 192.0.2.11 2001:db8:1:2::5 2001:db8:1:3::5" \
			"--log-client-ip full logs the address" ;;
		truncate) is "$ips" "192.0.2.0 2001:db8:1::" \
			"--log-client-ip truncate keeps IPv4 /24 and IPv6 /48" ;;
		hash) like "$ips" "^h:[0-9a-f]{16} h:[0-9a-f]{16} h:[0-9a-f]{16} h:[0-9a-f]{16}$" \
			"--log-client-ip hash:FILE logs four distinct keyed hashes"
			unlike "$(cat "ev-$m.log")" "192\.0\.2|2001:db8" \
			"no address is left in a hashed log" ;;
		none) is "$ips" "" "--log-client-ip none logs no address" ;;
		esac
		want=8
		[ "$m" = truncate ] && want=4
		[ "$m" = none ] && want=2
		is "$u" "8 $want" "report on a $m log: 8 downloads, $want unique clients"
	done
	# the key file decides the hash: the same key gives the same value
	cgi "hash:$T/key" 192.0.2.10 x
	is "$(tail -1 ev-hash.log | python3 -c '
import json,sys; print(json.load(sys.stdin)["client-ip"])')" \
		"$(python3 -c 'import json
for l in open("ev-hash.log"):
    e = json.loads(l)
    print(e["client-ip"]); break')" "the same key file gives the same hash"
	out=$(GATEWAY_LOG_CLIENT_IP=bogus GATEWAY_INTERFACE=CGI/1.1 \
	    REQUEST_METHOD=GET REQUEST_URI=/ HTTP_HOST=x REMOTE_ADDR=1.2.3.4 \
	    GATEWAY_MANIFEST=$top_srcdir/deploy/examples/manifest.json \
	    "$CGI" 2>&1)
	like "$out" "GATEWAY_LOG_CLIENT_IP: must be full, truncate, hash" \
		"a bad GATEWAY_LOG_CLIENT_IP is named"
else
	skip "cgi/scarf-gateway.cgi not built"
fi
out=$("$FCGI" --log-client-ip nope --check 2>&1)
is "$?" 2 "--log-client-ip with a bad value exits 2"

# --- memory grows with keys, not lines -----------------------------------
# The same lines ten times over hold the same keys: the peak RSS must not
# grow with them (a generous 4 MiB allowance for allocator noise).
if [ -x /usr/bin/time ]; then
	for i in 1 2 3 4 5 6 7 8 9 10; do cat gen/events.log; done >ten.log
	/usr/bin/time -f %M -o rss1 "$FCGI" report --format json \
		gen/events.log >/dev/null 2>&1
	/usr/bin/time -f %M -o rss10 "$FCGI" report --format json \
		ten.log >/dev/null 2>&1
	r1=$(tail -1 rss1) r10=$(tail -1 rss10)
	ok "ten times the lines, same keys: peak RSS $r1 KiB -> $r10 KiB" \
		test "$r10" -le $((r1 + 4096))
	rm -f ten.log
else
	skip "/usr/bin/time not installed"
fi

# --- the shipped systemd units ------------------------------------------
# Each ExecStart of deploy/systemd/scarf-gateway-report.service, with the
# program, log directory and $STATE_DIRECTORY pointed here, must write its
# file; the units pass systemd-analyze verify where it works.
U=$top_srcdir/deploy/systemd
mkdir -p units state logs
cp gen/events.log logs/events.log
cp gen/events.log.1.gz logs/events.log.1.gz
sed "s|@BINDIR@|$(dirname "$(readlink -f "$FCGI")")|g" \
	"$U/scarf-gateway-report.service" >units/scarf-gateway-report.service
cp "$U/scarf-gateway-report.timer" units/
python3 - units/scarf-gateway-report.service >units/cmds <<'PY'
import sys
text = open(sys.argv[1]).read().replace("\\\n", " ")
for line in text.splitlines():
    if line.startswith("ExecStart=/bin/sh -c '"):
        print(line[len("ExecStart=/bin/sh -c '"):-1])
PY
is "$(wc -l <units/cmds)" 3 "the report unit runs three reports"
while IFS= read -r cmd; do
	cmd=${cmd//\/var\/log\/scarf-gateway/$T/logs}
	STATE_DIRECTORY=$T/state sh -c "$cmd" 2>/dev/null
	is "$?" 0 "unit command: ${cmd:0:60}..."
done <units/cmds
ok "it wrote yesterday.html, last-30-days.html and .json" test -s \
	state/yesterday.html -a -s state/last-30-days.html -a \
	-s state/last-30-days.json
if command -v systemd-analyze >/dev/null &&
    printf '[Unit]\nDescription=p\n[Service]\nExecStart=/bin/true\n' \
    >units/probe.service && systemd-analyze verify units/probe.service \
    >/dev/null 2>&1; then
	out=$(systemd-analyze verify units/scarf-gateway-report.service \
	    units/scarf-gateway-report.timer 2>&1)
	is "$?:$out" "0:" "systemd-analyze verify: the report units are clean"
else
	skip "systemd-analyze verify does not work here"
fi

# --- command line -------------------------------------------------------
"$FCGI" report --format pdf </dev/null >/dev/null 2>&1
is "$?" 2 "an unknown --format exits 2"
"$FCGI" report --since 2026-13-01 </dev/null >/dev/null 2>&1
is "$?" 2 "a bad date exits 2"
"$FCGI" report --help | grep -q -- "--by day|week|month"
is "$?" 0 "report --help prints the usage"
out=$("$FCGI" report --format json missing.log 2>&1 >/dev/null)
is "$?" 2 "an unreadable log exits 2"
like "$out" "missing.log: No such file" "and is named"
printf '' | "$FCGI" report --format json >empty.json
ok "an empty input gives a valid, empty report" python3 -c '
import json, sys
d = json.load(open("empty.json"))
sys.exit(not (d["rows"] == [] and d["first-event"] is None))'
printf '' | "$FCGI" report --format html -o empty.html
ok "an empty input gives a well-formed page" python3 -c '
import xml.etree.ElementTree as E; E.parse("empty.html")'
# bytes that are not UTF-8 (a damaged log) leave every output valid
printf '{"time":"2026-03-01T10:00:00Z","status":307,"type":"file","package-id":"p\xff\xc3","user-agent":"u\xe9"}\n' >raw.log
"$FCGI" report --format json raw.log >raw.json 2>/dev/null
ok "invalid UTF-8 in a log gives valid JSON, as U+FFFD" python3 -c '
import json, sys
d = json.load(open("raw.json", encoding="utf-8"))
sys.exit(d["rows"][0]["package-id"] != "p\ufffd\ufffd")'
"$FCGI" report --format csv raw.log >raw.csv 2>/dev/null
ok "and valid UTF-8 CSV" python3 -c 'open("raw.csv", encoding="utf-8").read()'
"$FCGI" report --format html raw.log >raw.html 2>/dev/null
ok "and a well-formed page" python3 -c '
import xml.etree.ElementTree as E; E.parse("raw.html")'
# shellcheck disable=SC2086
"$FCGI" report $L >text.txt 2>/dev/null
like "$(cat text.txt)" "TOP VERSIONS" "the text report has its tables"
unlike "$(cat text.txt)" $'\x1b' "no control byte reaches the terminal"

done_testing
