#!/usr/bin/env python3
"""Writes the manifests of the issue-10 benchmarks (tests/bench/README.md)
to stdout.

    make_bench_manifest.py files [N]
        N file-v1 rules (default 10) on the host dl.example.test; a
        request for /tN/1.2.3/tool-1.2.3.tar.gz matches the last one
    make_bench_manifest.py python [FILES]
        one host (pypi.example.test), one project (numpy) of FILES files
        (default 2,065), python-v1 rules shaped like PyPI's: a wheel name,
        a files.pythonhosted.org URL, sha256 hash-value and core-metadata,
        requires-python; indented by 4, about 1.7 MB, the size of the
        manifest issue 10 measured.  GET /simple/numpy/ lists every file.
    make_bench_manifest.py fleet [RULES] [HOSTS]
        RULES rules (default 100,000) on HOSTS hosts (default 10,000),
        RULES / HOSTS rules a host; the hosts take turns between file-v1
        (dlN.example.test), docker-v2 (crN), npm-v1 (npmN) and python-v1
        (pyN: two projects a host).  The first host is dl.example.test
        with exactly the rules of `files RULES/HOSTS`, so that one request
        can be timed against both manifests.

Deterministic: the same arguments give the same bytes.
"""

import hashlib
import json
import sys


def hexd(*parts):
    """64 hex digits derived from the parts (stable, looks like a hash)."""
    return hashlib.sha256("/".join(str(p) for p in parts).encode()).hexdigest()


def file_rule(host, i, tag=""):
    return {"type": "file-v1", "domain": host,
            "package-id": "tool%s-%d" % (tag, i),
            "incoming-path": "/t%d/{version}/tool-{version}.tar.gz" % i,
            "outgoing-url": "https://files.example.net/t%s%d/"
                            "v{version}/tool-{version}.tar.gz" % (tag, i)}


PLATFORMS = ["manylinux_2_17_x86_64.manylinux2014_x86_64",
             "manylinux_2_17_aarch64.manylinux2014_aarch64",
             "musllinux_1_1_x86_64", "macosx_10_9_x86_64",
             "macosx_11_0_arm64", "win_amd64", "win32"]
PYTHONS = ["cp39", "cp310", "cp311", "cp312", "pp39"]


def python_rule(host, project, n):
    """The n-th file of project: a wheel of some version/python/platform."""
    per = len(PLATFORMS) * len(PYTHONS)
    ver = "1.%d.%d" % (n // (per * 10), (n // per) % 10)
    py = PYTHONS[(n // len(PLATFORMS)) % len(PYTHONS)]
    plat = PLATFORMS[n % len(PLATFORMS)]
    fname = "%s-%s-%s-%s-%s.whl" % (project, ver, py,
                                     "pypy39_pp73" if py == "pp39" else py,
                                     plat)
    h = hexd(project, fname)
    r = {"type": "python-v1", "domain": host,
         "package-id": "%s-py" % project, "package-name": project,
         "file-name": fname, "version": ver,
         "backend-url": "https://files.pythonhosted.org/packages/"
                        "%s/%s/%s/%s" % (h[:2], h[2:4], h[4:64], fname),
         "hash-value": {"type": "sha256", "hash": h},
         "requires-python": ">=3.9",
         "core-metadata": {"type": "sha256",
                           "hash": hexd("metadata", project, fname)}}
    if n % 97 == 5:
        r["yanked"] = "broken build"
    return r


def files(n):
    return [file_rule("dl.example.test", i) for i in range(1, n + 1)]


def python(n):
    return [python_rule("pypi.example.test", "numpy", i) for i in range(n)]


def fleet(nrules, nhosts):
    per = nrules // nhosts
    rules = files(per)
    for h in range(1, nhosts):
        k = h % 4
        for i in range(1, per + 1):
            if k == 0:
                rules.append(file_rule("dl%d.example.test" % h, i,
                                       "-%d" % h))
            elif k == 1:
                rules.append({"type": "docker-v2",
                              "domain": "cr%d.example.test" % h,
                              "rule-id": "cr%d-%d" % (h, i),
                              "pattern": "org%d/app%d-*" % (h, i),
                              "registry": "https://registry%d.example.net/"
                                          % (h % 50)})
            elif k == 2:
                rules.append({"type": "npm-v1",
                              "domain": "npm%d.example.test" % h,
                              "package-id": "npm%d-%d" % (h, i),
                              "package-name": "@scope%d/pkg-%d" % (h, i),
                              "registry": "https://registry.npmjs.org/"})
            else:
                rules.append(python_rule("py%d.example.test" % h,
                                         "proj%d-%d" % (h, i % 2), i))
    # a remainder (nrules not a multiple of nhosts) goes to the last host
    h = nhosts
    while len(rules) < nrules:
        rules.append(file_rule("dl%d.example.test" % h, len(rules), "-x"))
    return rules


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    args = [int(a) for a in sys.argv[2:]]
    if what == "files":
        rules, indent = files(*(args or [10])), 1
    elif what == "python":
        rules, indent = python(*(args or [2065])), 4
    elif what == "fleet":
        rules, indent = fleet(*(args + [100000, 10000][len(args):])), 1
    else:
        sys.exit(__doc__)
    json.dump({"rules": rules}, sys.stdout, indent=indent)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
