#!/bin/sh
# TAP: replays each fuzz target's corpus (seeds and committed crashers)
# through the normally built target, without libFuzzer.
b=${top_builddir:-.}/tests/fuzz
s=${top_srcdir:-.}/tests/fuzz/corpus
n=0
fail=0
# the targets: one fuzz_<name>.c each, its seeds in corpus/<name>/
for t in $(cd "$s/.." && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//'); do
	n=$((n + 1))
	files=$(find "$s/$t" -type f 2>/dev/null | sort)
	if [ -z "$files" ]; then
		echo "not ok $n - $t: no corpus in $s/$t"
		fail=1
		continue
	fi
	# shellcheck disable=SC2086
	if "$b/replay_$t" $files >"$b/replay_$t.out" 2>&1; then
		echo "ok $n - $t: $(echo "$files" | wc -l) inputs replayed"
	else
		echo "not ok $n - $t: replay failed"
		sed 's/^/# /' "$b/replay_$t.out" | head -40
		fail=1
	fi
done
echo "1..$n"
exit $fail
