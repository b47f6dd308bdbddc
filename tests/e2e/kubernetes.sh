#!/usr/bin/env bash
# deploy/kubernetes/, offline: the structure check of fixtures/k8s_check.py
# (probes, resources, selectors, the ConfigMap mount; see there), the
# check catching broken copies, `scarf-gateway --check` on the ConfigMap's
# manifest, and the program following a ConfigMap update the way the
# kubelet makes it: the mounted name is a symlink into `..data`, itself a
# symlink to a timestamped directory, and an update writes a new directory
# and renames a new `..data` symlink over the old one.  The new file can
# have the same size and modification time as the old one: only its inode
# differs (the program stat()s through the symlinks).
. "$(dirname "$0")/../lib.sh"

command -v python3 >/dev/null || skip_all "python3 not installed"
python3 -c 'import yaml' 2>/dev/null || skip_all "python3-yaml not installed"
[ -x "$FCGI" ] || skip_all "fcgi/scarf-gateway not built"
command -v cgi-fcgi >/dev/null || skip_all "cgi-fcgi (libfcgi-bin) not installed"

K8S=$top_srcdir/deploy/kubernetes
CHECK=$top_srcdir/tests/e2e/fixtures/k8s_check.py

# fold_tap FILE: the "ok - " / "not ok - " lines of FILE as test points
fold_tap() {
	local line
	while IFS= read -r line; do
		case $line in
		"ok - "*)	pass "${line#ok - }" ;;
		"not ok - "*)	fail "${line#not ok - }" ;;
		"#"*)		echo "$line" ;;
		esac
	done <"$1"
}

python3 "$CHECK" "$K8S" --extract-manifest "$T/manifest.json" >"$T/check.out" 2>&1
rc=$?
fold_tap "$T/check.out"
is "$rc" 0 "k8s_check.py: deploy/kubernetes passes"
"$FCGI" --manifest "$T/manifest.json" --check >"$T/mcheck.out" 2>&1
is "$?" 0 "the ConfigMap's manifest passes scarf-gateway --check"
[ -s "$T/mcheck.out" ] && diag "$(cat "$T/mcheck.out")"

# --- the check is not blind: broken copies fail the right point --------
# broken NAME EXPECTED-FAILURE SCRIPT: SCRIPT (python, editing the copy's
# files in the current directory) must make k8s_check.py print
# "not ok - EXPECTED-FAILURE..."
broken() {
	local name=$1 want=$2 script=$3 d=$T/broken
	rm -rf "$d" && cp -r "$K8S" "$d"
	(cd "$d" && python3 -c "$script") || { fail "$name: edit"; return; }
	python3 "$CHECK" "$d" >"$T/broken.out" 2>&1
	if grep -qF "not ok - $want" "$T/broken.out"; then
		pass "$name: caught"
	else
		fail "$name: caught"
		diag "$(grep -v '^ok' "$T/broken.out")"
	fi
}
EDIT='import sys
def edit(f, a, b):
    s = open(f).read()
    assert a in s, (f, a)
    open(f, "w").write(s.replace(a, b, 1))
'
broken "readiness on another path" "Deployment: readinessProbe" \
    "$EDIT"'edit("deployment.yaml", "path: /-/health", "path: /healthz")'
broken "liveness on an undeclared port" "Deployment: livenessProbe" \
    "$EDIT"'edit("deployment.yaml", "path: /-/ping\n              port: http",
    "path: /-/ping\n              port: 9090")'
broken "ConfigMap mounted with subPath" "Deployment: the ConfigMap is mounted as a directory" \
    "$EDIT"'edit("deployment.yaml", "mountPath: /etc/scarf-gateway/manifest\n",
    "mountPath: /etc/scarf-gateway/manifest\n              subPath: manifest.json\n")'
broken "manifest file not in the ConfigMap" "Deployment: GATEWAY_MANIFEST" \
    "$EDIT"'edit("deployment.yaml", "manifest/manifest.json", "manifest/m.json")'
broken "PDB selecting other pods" "PodDisruptionBudget: selector" \
    "$EDIT"'edit("pdb.yaml", "matchLabels:\n      app.kubernetes.io/name: scarf-gateway",
    "matchLabels:\n      app.kubernetes.io/name: other")'
broken "PDB allowing no disruption" "PodDisruptionBudget: one pod" \
    "$EDIT"'edit("pdb.yaml", "maxUnavailable: 1", "maxUnavailable: 0")'
broken "Service selecting other pods" "Service: selector" \
    "$EDIT"'edit("service.yaml", "selector:\n    app.kubernetes.io/name: scarf-gateway",
    "selector:\n    app: gw")'
broken "no memory request" "Deployment: CPU and memory requests" \
    "$EDIT"'edit("deployment.yaml", "              memory: 64Mi\n", "")'
broken "a file left out of kustomization.yaml" "kustomization.yaml lists" \
    "$EDIT"'edit("kustomization.yaml", "  - pdb.yaml\n", "")'

# --- a ConfigMap update as the kubelet writes it ------------------------
mnt=$T/mnt
mkdir -p "$mnt/..2026_01_01_00_00_00.1" "$mnt/..2026_01_01_00_01_00.2"
# two manifests of the same length
mk() {
	printf '{"rules": [{"type": "file-v1", "domain": "k.test", "package-id": "k", "incoming-path": "/{f}", "outgoing-url": "https://%s.example/{f}"}]}\n' "$2" >"$1"
}
mk "$mnt/..2026_01_01_00_00_00.1/manifest.json" one
mk "$T/new.json" two
ln -s ..2026_01_01_00_00_00.1 "$mnt/..data"
ln -s ..data/manifest.json "$mnt/manifest.json"
port=$(free_port)
start_bg gw "$FCGI" --manifest "$mnt/manifest.json" --poll 1 \
    --listen "tcp:127.0.0.1:$port" --threads 2 --log none
ok "the program serves the mounted manifest" wait_port "$port"
loc() {
	fcgi_req "127.0.0.1:$port" GET k.test /x | header Location
}
is "$(loc)" "https://one.example/x" "before the update"
# the update: a new directory whose file has the old one's size and
# modification time, then ..data swapped with rename(2), the old directory
# removed (what the kubelet's atomic writer does)
cp "$T/new.json" "$mnt/..2026_01_01_00_01_00.2/manifest.json"
touch -r "$mnt/..2026_01_01_00_00_00.1/manifest.json" \
    "$mnt/..2026_01_01_00_01_00.2/manifest.json"
is "$(stat -c %s "$mnt/..2026_01_01_00_01_00.2/manifest.json")" \
    "$(stat -c %s "$mnt/..2026_01_01_00_00_00.1/manifest.json")" \
    "the new file has the same size"
ln -s ..2026_01_01_00_01_00.2 "$mnt/..data_tmp"
mv -T "$mnt/..data_tmp" "$mnt/..data"
rm -rf "$mnt/..2026_01_01_00_00_00.1"
got=
for _ in $(seq 60); do
	got=$(loc)
	[ "$got" = "https://two.example/x" ] && break
	sleep 0.1
done
is "$got" "https://two.example/x" \
    "the ..data swap is picked up (within 6 s with --poll 1)"
ok "the reload is reported" wait_grep "$T/gw.err" 'manifest reloaded'
h=$(fcgi_req "127.0.0.1:$port" GET k.test /-/health | body)
is "$(jget manifest-stale <<<"$h")" false "health: not stale"
stop gw >/dev/null

done_testing
