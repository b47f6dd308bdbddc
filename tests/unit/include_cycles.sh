#!/usr/bin/env bash
# No include cycle among the modules of common/ beyond the known ones.
#
# A module is X.c with X.h (either may be missing); X depends on Y when
# X.c or X.h has #include "Y.h" and common/Y.h exists (config.h, made by
# configure, is no module).  Every elementary cycle of that graph is
# written as "a -> b -> ... -> a", starting at its alphabetically first
# module.  tests/unit/include_cycles.known lists the cycles allowed (one a
# line; '#' comments and blank lines ignored), and there are none: any
# cycle fails, and so would a listed cycle that is gone, so the list can
# only shrink.  The last tests plant a cycle in a copy of common/, and a
# cycle that is not there in a copy of the list, and check that both
# fail.
. "$(dirname "$0")/../lib.sh"

command -v python3 >/dev/null || skip_all "python3 not found"

SRC=$top_srcdir/common
KNOWN=$top_srcdir/tests/unit/include_cycles.known

# cycles DIR: every elementary include cycle among DIR's modules, one a
# line, sorted
cycles() {
	python3 - "$1" <<'PY'
import os
import re
import sys

d = sys.argv[1]
inc = re.compile(r'^\s*#\s*include\s*"([^"/]+)\.h"')
graph = {}
for f in sorted(os.listdir(d)):
    stem, dot, ext = f.rpartition(".")
    if not dot or ext not in ("c", "h"):
        continue
    deps = graph.setdefault(stem, set())
    with open(os.path.join(d, f), encoding="utf-8", errors="replace") as fh:
        for line in fh:
            m = inc.match(line)
            if m and m.group(1) != stem and \
                    os.path.exists(os.path.join(d, m.group(1) + ".h")):
                deps.add(m.group(1))
                graph.setdefault(m.group(1), set())

# Each elementary cycle once: from its smallest module, through larger
# ones only (the graph has a few dozen modules; fine without Johnson's).
out = []
def walk(start, path, on):
    for w in sorted(graph[path[-1]]):
        if w == start:
            out.append(" -> ".join(path + [start]))
        elif w > start and w not in on:
            on.add(w)
            path.append(w)
            walk(start, path, on)
            path.pop()
            on.discard(w)
for s in sorted(graph):
    walk(s, [s], {s})
for c in sorted(out):
    print(c)
PY
}

# compare FOUND KNOWN: "new CYCLE" and "gone CYCLE" lines
compare() {
	grep -v '^[[:space:]]*\(#\|$\)' "$2" | sort >"$T/known.sorted"
	comm -23 "$1" "$T/known.sorted" | sed 's/^/new /'
	comm -13 "$1" "$T/known.sorted" | sed 's/^/gone /'
}

if [ "${1:-}" = --list ]; then
	rm -rf "$T"
	cycles "$SRC"
	exit
fi

cycles "$SRC" >"$T/found" ||
    { echo "Bail out! the include scan failed"; exit 1; }
[ -f "$KNOWN" ] || { echo "Bail out! $KNOWN missing"; exit 1; }
diag "$(wc -l <"$T/found") include cycles among the modules of common/"
compare "$T/found" "$KNOWN" >"$T/diff"
while read -r what cycle; do
	case $what in
	new)	fail "a new include cycle: $cycle" ;;
	gone)	fail "a known cycle is gone (update include_cycles.known): $cycle" ;;
	esac
done <"$T/diff"
[ -s "$T/diff" ] ||
    pass "no include cycle among the modules of common/ but the listed ones"

# The check itself: a copy of common/ with a planted cycle (xmalloc.h
# including report.h, while report.c includes xmalloc.h), and a copy of
# the list naming a cycle that does not exist.
mkdir "$T/common"
cp "$SRC"/*.c "$SRC"/*.h "$T/common/"
printf '#include "report.h"\n' >>"$T/common/xmalloc.h"
cycles "$T/common" >"$T/found2"
compare "$T/found2" "$KNOWN" >"$T/diff2"
like "$(cat "$T/diff2")" '^new report -> xmalloc -> report$' \
    "a planted cycle is reported as new"
{ cat "$KNOWN"; echo 'buf -> util -> buf'; } >"$T/known2"
compare "$T/found" "$T/known2" >"$T/diff3"
like "$(cat "$T/diff3")" '^gone buf -> util -> buf$' \
    "a listed cycle that is not there is reported as gone"

done_testing
