#!/usr/bin/env bash
# The report's HTML page (README, "Download analytics"): well-formed
# (parsed as XML), self-contained (no script, nothing to fetch), hostile
# strings from the log escaped, and rendered by headless Chromium at a
# phone and a wide-screen width into screenshots that are not blank
# (png_check.py counts colours and inked pixels).  A blank page must fail
# the same check.  Set KEEP_TMP=1 to keep the screenshots for a look.
. "$(dirname "$0")/../lib.sh"

[ -x "$FCGI" ] || skip_all "fcgi/scarf-gateway not built"
command -v python3 >/dev/null || skip_all "python3 not found"
FIX=$top_srcdir/tests/e2e/fixtures
cd "$T" || exit 99

python3 "$FIX/make_events.py" gen --seed 5 --days 9 --scale 2500 || exit 99
"$FCGI" report --format html -o report.html gen/events.log \
	gen/events.log.1.gz gen/events.log.2.gz 2>/dev/null
is "$?" 0 "report --format html -o writes the page"
ok "the page is well-formed XML (XHTML syntax)" python3 -c '
import xml.etree.ElementTree as E; E.parse("report.html")'
unlike "$(grep -Eio '<script|(src|href)="|url\(|@import' report.html)" . \
	"no script, nothing fetched"
unlike "$(cat report.html)" '<img src=x>' "a hostile referer is escaped"
like "$(cat report.html)" 'evil.example/&quot;&gt;&lt;img src=x&gt;' \
	"and shown as text"
for h in "Downloads over time" "Top versions" "Client tools" \
    "Unique clients per day" "Errors"; do
	like "$(cat report.html)" "<h2>$h" "the page has \"$h\""
done
like "$(cat report.html)" '<ul class="legend">' "charts have legends"

# a report through --by month and one package is well-formed too
"$FCGI" report --format html --by month --package mypkg \
	gen/events.log >month.html 2>/dev/null
ok "a one-package monthly page is well-formed" python3 -c '
import xml.etree.ElementTree as E; E.parse("month.html")'

CHROMIUM=$(command -v chromium || command -v chromium-browser ||
	command -v google-chrome)
if [ -z "$CHROMIUM" ]; then
	skip "chromium not found: no screenshots"
	done_testing
fi
# shot FILE.html FILE.png WIDTH,HEIGHT
shot() {
	local prof
	prof=$(mktemp -d "$T/prof.XXXXXX")
	timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu \
		--disable-quic --no-first-run --disable-background-networking \
		--disable-component-update --disable-sync \
		--user-data-dir="$prof" --screenshot="$2" --window-size="$3" \
		"file://$1" >/dev/null 2>&1
}
for size in 390,1600 1440,1800; do
	w=${size%%,*}
	shot "$T/report.html" "$T/shot-$w.png" "$size"
	ok "a $w px wide screenshot is produced" test -s "shot-$w.png"
	res=$(python3 "$FIX/png_check.py" "shot-$w.png" 200 0.08)
	is "$?" 0 "the $w px screenshot is not blank ($res: colours, ink)"
	like "$res" "^$w"x "it is $w px wide"
done
printf '<!DOCTYPE html><html><body></body></html>' >blank.html
shot "$T/blank.html" "$T/blank.png" 390,600
python3 "$FIX/png_check.py" blank.png 200 0.08 >/dev/null
is "$?" 1 "a blank page fails the same check"

done_testing
