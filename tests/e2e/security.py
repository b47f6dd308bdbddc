#!/usr/bin/env python3
"""The attack table of tests/e2e/security.sh: every row is one request an
attacker would send, and what the gateway must answer.  Each row is sent
through nginx (the FastCGI program behind deploy/nginx.conf) and through
the CGI program run as a web server runs it, and prints TAP points.

    security.py --nginx HOST:PORT --cgi PATH --manifest FILE --routes FILE
                --reg-port N --reg-log FILE --evil-port N
                --evil-log FILE [--evil-log FILE...] [--only ID]

The upstreams are fixtures/recorder.py instances: the registry the manifest
names (127.0.0.1:REG, its log --reg-log, its redirects from --routes,
which this script writes) and the hosts no request may reach (127.0.0.1:EVIL
and 127.0.0.2:REG, their logs --evil-log).  Every request carries
`Authorization: Bearer tok-<row>`; no evil host may ever see a request, so
no evil host ever sees a token.

What the rows check (issue 9 and README "Where we differ"):
  * docker names and references are checked against the OCI distribution
    grammar before any rule matches: traversal in any encoding is a 400
    with an OCI error body and nothing reaches the registry;
  * a registry's redirect is followed only on the registry's own origin
    and inside the same repository; every other Location is handed back
    to the client as a 307, untouched apart from %XX-escaping of bytes
    that may not appear in a header;
  * npm names are checked against npm's naming rules; nothing outside the
    registry's path prefix is ever fetched; npm document redirects leave
    the registry origin never;
  * a template expansion never changes the scheme and host its template
    fixes: such a request is not matched (404), never redirected;
  * a Host that is not an RFC 3986 host[:port] is a 400.
"""
import argparse
import json
import os
import re
import socket
import subprocess
import sys
import urllib.parse

ARGS = None
N = 0
FAILED = 0


def tap(ok, name, diag=None):
    global N, FAILED
    N += 1
    if not ok:
        FAILED += 1
    print("%s %d - %s" % ("ok" if ok else "not ok", N, name))
    if not ok and diag:
        for line in str(diag).splitlines():
            print("#   " + line)
    sys.stdout.flush()


# --- the two ways in ----------------------------------------------------------

def parse_response(raw, cgi):
    """(status, [(name, value)], body) of an HTTP or a CGI response."""
    head, _, body = raw.partition(b"\r\n\r\n")
    if not _ and b"\n\n" in raw:
        head, _, body = raw.partition(b"\n\n")
    lines = head.decode("latin-1").replace("\r", "").split("\n")
    status = 0
    headers = []
    if not cgi:
        parts = lines[0].split(" ")
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        lines = lines[1:]
    for line in lines:
        if ":" not in line:
            continue
        k, v = line.split(":", 1)
        headers.append((k.strip(), v.strip()))
        if cgi and k.lower() == "status":
            status = int(v.split()[0])
    if cgi and status == 0 and headers:
        status = 302 if any(k.lower() == "location" for k, _ in headers) \
            else 200
    return status, headers, body


def via_nginx(row):
    host, port = ARGS.nginx.rsplit(":", 1)
    req = "%s %s HTTP/1.1\r\n" % (row.get("method", "GET"), row["target"])
    req += "Host: %s\r\n" % row["host"]
    for k, v in row_headers(row):
        req += "%s: %s\r\n" % (k, v)
    req += "Connection: close\r\n\r\n"
    s = socket.create_connection((host, int(port)), timeout=20)
    s.sendall(req.encode("latin-1"))
    raw = b""
    while True:
        c = s.recv(65536)
        if not c:
            break
        raw += c
    s.close()
    return parse_response(raw, False)


def via_cgi(row):
    target = row["target"]
    path, _, query = target.partition("?")
    env = {"GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1",
           "REMOTE_ADDR": "127.0.0.1", "REQUEST_METHOD":
           row.get("method", "GET"), "HTTP_HOST": row["host"],
           "REQUEST_URI": target, "QUERY_STRING": query,
           "SCRIPT_NAME": "",
           "GATEWAY_MANIFEST": ARGS.manifest, "GATEWAY_LOG": ARGS.cgi_log,
           "NO_PROXY": "127.0.0.1,127.0.0.2",
           "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    for k, v in row_headers(row):
        env["HTTP_" + k.upper().replace("-", "_")] = v
    p = subprocess.run([ARGS.cgi], env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=30)
    err = p.stderr.decode("utf-8", "replace")
    if "runtime error" in err or "AddressSanitizer" in err:
        print("# cgi stderr (%s): %s" % (row["id"], err[:2000]))
    if p.returncode != 0:
        return -p.returncode or 999, [], p.stderr
    return parse_response(p.stdout, True)


def row_headers(row):
    h = [("User-Agent", row.get("ua", "skopeo/1.13.3")),
         ("Authorization", "Bearer tok-" + row["id"])]
    return h + row.get("headers", [])


# --- the upstreams' logs -------------------------------------------------------

def log_lines(path):
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(l) for l in f if l.strip()]
    except FileNotFoundError:
        return []


# --- the table -------------------------------------------------------------------

def rows(reg, evil):
    R = "http://127.0.0.1:%d" % reg
    E = "http://127.0.0.1:%d" % evil
    routes = {}
    t = []

    def docker_bad(id, host, target, codes, seen_not=("other", "secret")):
        t.append({"id": id, "host": host, "target": target,
                  "status": {400}, "oci": codes, "upstream": "none",
                  "never": list(seen_not)})

    NAME = {"NAME_INVALID"}
    REF = {"TAG_INVALID", "MANIFEST_INVALID", "DIGEST_INVALID",
           "NAME_INVALID"}
    DIG = {"DIGEST_INVALID", "NAME_INVALID"}
    # 1. names and references: path traversal in every encoding
    docker_bad("d-name-2F", "d2.test",
               "/v2/myorg/..%2Fother%2Fsecret/tags/list", NAME)
    docker_bad("d-name-2f", "d2.test",
               "/v2/myorg/..%2fother%2fsecret/tags/list", NAME)
    docker_bad("d-name-2e2e", "d2.test",
               "/v2/myorg/%2e%2e%2Fother%2Fsecret/tags/list", NAME)
    docker_bad("d-name-2E2e-mixed", "d2.test",
               "/v2/myorg/%2E%2e%2fother%2FSecret/tags/list", NAME)
    docker_bad("d-name-double", "d2.test",
               "/v2/myorg/%252e%252e%252fother%252fsecret/tags/list", NAME)
    docker_bad("d-name-raw-dotdot", "d2.test",
               "/v2/myorg/../other/secret/tags/list", NAME)
    docker_bad("d-name-dot", "d2.test", "/v2/myorg/./tags/list", NAME)
    docker_bad("d-name-backslash", "d2.test",
               "/v2/myorg/x%5C..%5Cother/tags/list", NAME)
    docker_bad("d-name-nul", "d2.test", "/v2/myorg/x%00/tags/list", NAME)
    docker_bad("d-name-upper", "d2.test", "/v2/myorg/Secret/tags/list",
               NAME, ("Secret",))
    docker_bad("d-name-semicolon", "d2.test",
               "/v2/myorg/app;..%2Fother/tags/list", NAME)
    docker_bad("d-ref-2F", "d1.test",
               "/v2/myorg/app/manifests/..%2F..%2F..%2Fother%2Fsecret"
               "%2Fmanifests%2Ftopsecret", REF)
    docker_bad("d-ref-2e2e", "d1.test",
               "/v2/myorg/app/manifests/%2e%2e%2f%2e%2e%2fother%2fsecret"
               "%2fmanifests%2ftopsecret", REF)
    docker_bad("d-ref-double", "d1.test",
               "/v2/myorg/app/manifests/..%252F..%252Fother", REF)
    docker_bad("d-ref-long-tag", "d1.test",
               "/v2/myorg/app/manifests/" + "a" * 129, REF, ())
    docker_bad("d-ref-bad-tag", "d1.test",
               "/v2/myorg/app/manifests/.hidden", REF, ())
    docker_bad("d-blob-2F", "d1.test",
               "/v2/myorg/app/blobs/..%2F..%2F..%2Fother%2Fsecret%2Fblobs"
               "%2Fsha256:" + "a" * 64, DIG)
    docker_bad("d-blob-bad-digest", "d1.test",
               "/v2/myorg/app/blobs/sha256:zz", DIG, ())
    docker_bad("d-blob-short-sha256", "d1.test",
               "/v2/myorg/app/blobs/sha256:abc", DIG, ())
    # the controls: what a client asks for still works, unchanged
    t.append({"id": "d-ok-tag", "host": "d1.test",
              "target": "/v2/myorg/app/manifests/1.4", "status": {200},
              "upstream": ["/v2/myorg/app/manifests/1.4"], "body": "registry"})
    t.append({"id": "d-ok-v2", "host": "d2.test",
              "target": "/v2/myorg/tool/blobs/sha256:" + "b" * 64,
              "status": {200}, "body": "registry",
              "upstream": ["/v2/myorg/tool/blobs/sha256:" + "b" * 64]})

    # 2. where a registry's redirect may lead
    def redir(id, location, expect_loc=None, follow=None):
        p = "/v2/myorg/app/manifests/" + id
        routes[p] = [307, location]
        row = {"id": id, "host": "d1.test", "target": p}
        if follow:
            row.update(status={200}, upstream=[p, follow], body="registry")
        else:
            row.update(status={307}, location=expect_loc or location,
                       upstream=[p])
        t.append(row)

    redir("r-other-port", E + "/v2/myorg/app/manifests/x")
    redir("r-scheme-relative", "//127.0.0.1:%d/v2/myorg/app/manifests/x"
          % evil, E + "/v2/myorg/app/manifests/x")
    redir("r-other-host-same-port",
          "http://127.0.0.2:%d/v2/myorg/app/manifests/x" % reg)
    redir("r-userinfo", "http://user:pw@127.0.0.1:%d/v2/myorg/app/"
          "manifests/userinfo" % reg)
    redir("r-userinfo-evil", "http://127.0.0.1:%d@127.0.0.1:%d/v2/x"
          % (reg, evil))
    redir("r-hex-ip", "http://0x7f000001:%d/v2/myorg/app/manifests/hex"
          % reg)
    redir("r-short-ip", "http://127.1:%d/v2/myorg/app/manifests/short"
          % reg)
    redir("r-localhost", "http://localhost:%d/v2/myorg/app/manifests/lh"
          % reg)
    redir("r-other-repo", "/v2/other/secret/manifests/latest",
          R + "/v2/other/secret/manifests/latest")
    redir("r-repo-dotdot", "/v2/myorg/app/../../other/secret/"
          "manifests/latest", None)
    redir("r-repo-2F", "/v2/myorg/app%2F..%2F..%2Fother/manifests/x",
          None)
    redir("r-https-downgrade", "https://127.0.0.1:%d/v2/myorg/app/"
          "manifests/tls" % reg)
    redir("r-control-bytes", "https://cdn.test/blob?sig=a\x01b c\x7f",
          "https://cdn.test/blob?sig=a%01b%20c%7F")
    redir("r-same-repo", "/v2/myorg/app/manifests/sha256:" + "c" * 64,
          follow="/v2/myorg/app/manifests/sha256:" + "c" * 64)
    # rows whose handed-back Location is not fixed in advance: only
    # "not followed" matters (the registry logs the first request alone)
    for r in t:
        if r["id"] in ("r-repo-dotdot", "r-repo-2F"):
            r["location"] = None
            r["never"] = ["other"]

    # 3. npm: names and the registry's path prefix
    def npm_bad(id, target):
        t.append({"id": id, "host": "n.test", "target": target,
                  "status": {400}, "upstream": "none", "json": True})

    npm_bad("n-dotdot-2e", "/%2e%2e/%2e%2e")
    npm_bad("n-dotdot-2f", "/..%2f..%2fetc")
    npm_bad("n-dotdot-version", "/left-pad/%2e%2e%2f%2e%2e%2fsecret")
    npm_bad("n-scope-dotdot", "/@scope%2f..")
    npm_bad("n-scope-dotdot-raw", "/@scope/%2e%2e")
    npm_bad("n-scope-dot", "/@%2e%2e/x")
    npm_bad("n-leading-dot", "/.hidden")
    npm_bad("n-leading-underscore", "/_private")
    npm_bad("n-too-long", "/" + "a" * 215)
    npm_bad("n-space", "/left%20pad")
    npm_bad("n-backslash", "/..%5C..%5Csecret")
    npm_bad("n-double", "/%252e%252e/%252e%252e")
    npm_bad("n-mixed-case", "/%2E%2e%2F%2e%2E")
    t.append({"id": "n-ok", "host": "n.test", "target": "/left-pad",
              "status": {200}, "upstream": ["/npmprefix/left-pad"],
              "body": "registry"})
    t.append({"id": "n-ok-scoped", "host": "n.test",
              "target": "/@scope/pkg", "status": {200}, "body": "registry",
              "upstream": ["/npmprefix/@scope%2fpkg"]})
    routes["/npmprefix/n-redirect-out"] = [302, E + "/npmprefix/x"]
    t.append({"id": "n-redirect-out", "host": "n.test",
              "target": "/n-redirect-out", "status": {307, 302, 502},
              "upstream": ["/npmprefix/n-redirect-out"], "notbody": "evil"})
    routes["/npmprefix/n-redirect-hex"] = [302, "http://0x7f000001:%d/x"
                                           % reg]
    t.append({"id": "n-redirect-hex", "host": "n.test",
              "target": "/n-redirect-hex", "status": {307, 302, 502},
              "upstream": ["/npmprefix/n-redirect-hex"]})
    routes["/npmprefix/n-redirect-out-prefix"] = [302, "/elsewhere/x"]
    t.append({"id": "n-redirect-out-prefix", "host": "n.test",
              "target": "/n-redirect-out-prefix",
              "status": {307, 302, 502},
              "upstream": ["/npmprefix/n-redirect-out-prefix"]})

    # 4. templates: the scheme and host the template fixes stay fixed
    def tmpl(id, target, status, location=None):
        row = {"id": id, "host": "f.test", "target": target,
               "status": status, "upstream": "none"}
        if location is not None:
            row["location"] = location
        if status == {404}:
            row["location"] = None
            row["nolocation"] = True
        t.append(row)

    bad = {404}
    tmpl("t-at", "/pre@evil.test/x", bad)
    tmpl("t-dot", "/pre.evil.test/x", bad)
    tmpl("t-port-at", "/pre:443@evil.test/x", bad)
    tmpl("t-port", "/pre:8443/x", bad)
    # a decoded "/", "#" or "?" that {+path} writes back literally ends
    # the authority where the template's does: such a redirect is safe,
    # and either answer will do as long as the host stays the same
    either = {307, 404}
    tmpl("t-2F-at", "/pre%2F@evil.test/x", either)
    tmpl("t-5C-at", "/pre%5C@evil.test/x", bad)
    tmpl("t-23-at", "/pre%23@evil.test/x", either)
    tmpl("t-3F-at", "/pre%3F@evil.test/x", either)
    tmpl("t-ok", "/pre/x", {307}, "https://dl.example.com/x")
    tmpl("t-ok-slashes", "/pre//evil.test/x", {307, 404})
    tmpl("t-sub-2F", "/hp/evil.test%2F/p", bad)
    tmpl("t-sub-23", "/hp/evil.test%23/p", bad)
    tmpl("t-sub-3F", "/hp/evil.test%3F/p", bad)
    tmpl("t-sub-at", "/hp/a@evil.test%2F/p", bad)
    tmpl("t-sub-5C", "/hp/evil.test%5C/p", bad)
    tmpl("t-sub-port", "/hp/evil.test:80/p", bad)
    tmpl("t-sub-empty", "/hp//p", bad)
    tmpl("t-sub-ideographic-dot", "/hp/evil%E3%80%82test%2F/p", bad)
    tmpl("t-sub-fullwidth-slash", "/hp/evil.test%EF%BC%8F/p", bad)
    tmpl("t-sub-ok", "/hp/www/p", {307}, "https://www.example.com/p")
    tmpl("t-sub-punycode", "/hp/xn--80ak6aa92e/p", {307},
         "https://xn--80ak6aa92e.example.com/p")
    tmpl("t-re-at", "/re@evil.test/x", bad)
    tmpl("t-re-dot", "/re.evil.test/x", bad)
    tmpl("t-re-ok", "/re/x", {307}, "https://dl.example.com/x")

    # 5. Host: RFC 3986 host, then at most :port
    def host(id, h, status):
        t.append({"id": id, "host": h, "target": "/simple/acme-tool",
                  "status": status, "upstream": "none",
                  "locnot": "evil"})

    host("h-bracket-after-port", "py.test:[evil.test]", {400})
    host("h-two-ports", "py.test:80:80", {400})
    host("h-port-letters", "py.test:8o", {400})
    host("h-ok", "py.test", {301, 308})
    host("h-ok-port", "py.test:8443", {301, 308})
    return t, routes


# --- running a row -----------------------------------------------------------------

def check(way, row, resp):
    status, headers, body = resp
    name = "[%s] %s %s %s" % (way, row["id"], row["host"], row["target"][:60])
    hd = {k.lower(): v for k, v in headers}
    tap(status in row["status"], name + ": status %s" % sorted(row["status"]),
        "got %s %r %r" % (status, headers, body[:300]))
    if status == 400 and b"<center>nginx</center>" in body:
        # nginx refused the request itself (a %00 in the path, a Host it
        # does not accept): the gateway never saw it
        tap(True, name + ": refused by nginx itself")
        return
    if "oci" in row:
        code = None
        try:
            code = json.loads(body)["errors"][0]["code"]
        except (ValueError, KeyError, IndexError, TypeError):
            pass
        tap(code in row["oci"], name + ": OCI error code",
            "got %r" % body[:300])
    if row.get("json"):
        try:
            json.loads(body)
            ok = True
        except ValueError:
            ok = False
        tap(ok, name + ": a JSON error body", "got %r" % body[:300])
    if row.get("location"):
        tap(hd.get("location") == row["location"], name + ": Location",
            "got %r, expected %r" % (hd.get("location"), row["location"]))
    if row.get("nolocation"):
        tap("location" not in hd, name + ": no Location",
            "got %r" % hd.get("location"))
    if row.get("locnot"):
        tap(row["locnot"] not in hd.get("location", ""),
            name + ": Location free of the injected host",
            "got %r" % hd.get("location"))
    if row["host"] == "f.test" and "location" in hd:
        loc = hd["location"]
        auth = loc[len("https://"):] if loc.startswith("https://") else ""
        for c in "/?#":
            auth = auth.split(c, 1)[0]
        good = auth == "dl.example.com" or (
            re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)*\.example\.com", auth)
            is not None)
        tap(good, name + ": the Location's host is the template's",
            "got %r" % loc)
    if row.get("body") == "registry":
        tap(b'"server": "registry"' in body, name + ": the registry's body",
            "got %r" % body[:300])
    if row.get("notbody"):
        tap(row["notbody"].encode() not in body, name + ": not evil's body",
            "got %r" % body[:300])


def upstream_check(way, row, before):
    name = "[%s] %s" % (way, row["id"])
    new = log_lines(ARGS.reg_log)[before:]
    paths = [e["path"] for e in new]
    if row.get("upstream") == "none":
        tap(not paths, name + ": nothing reached the registry",
            "it saw %r" % paths)
    elif isinstance(row.get("upstream"), list):
        tap(paths == row["upstream"], name + ": the registry saw exactly "
            "the expected requests", "saw %r, expected %r"
            % (paths, row["upstream"]))
    for word in row.get("never", []):
        tap(not any(word in urllib.parse.unquote(urllib.parse.unquote(p))
                    for p in paths),
            name + ": no request for %r reached the registry" % word,
            "saw %r" % paths)
    if row["host"] == "n.test":
        tap(all(p.startswith("/npmprefix/") and "/../" not in p + "/"
                for p in paths),
            name + ": npm fetches stay under the registry's prefix",
            "saw %r" % paths)
        tap(not any(k.lower() == "authorization" for e in new
                    for k, _ in e["headers"]),
            name + ": no Authorization to the npm registry (SPEC 4.4)")


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--nginx", required=True)
    p.add_argument("--cgi", required=True)
    p.add_argument("--cgi-log", default="/dev/null")
    p.add_argument("--manifest", required=True)
    p.add_argument("--routes", required=True)
    p.add_argument("--reg-port", type=int, required=True)
    p.add_argument("--reg-log", required=True)
    p.add_argument("--evil-port", type=int, required=True)
    p.add_argument("--evil-log", action="append", default=[])
    p.add_argument("--only")
    ARGS = p.parse_args()
    table, routes = rows(ARGS.reg_port, ARGS.evil_port)
    with open(ARGS.routes + ".tmp", "w") as f:
        json.dump(routes, f)
    os.rename(ARGS.routes + ".tmp", ARGS.routes)
    ways = [("nginx", via_nginx), ("cgi", via_cgi)]
    for row in table:
        if ARGS.only and ARGS.only not in row["id"]:
            continue
        for way, send in ways:
            before = len(log_lines(ARGS.reg_log))
            evil_before = sum(len(log_lines(f)) for f in ARGS.evil_log)
            try:
                resp = send(row)
            except (OSError, subprocess.SubprocessError) as e:
                tap(False, "[%s] %s: answered" % (way, row["id"]), e)
                continue
            check(way, row, resp)
            upstream_check(way, row, before)
            evil = [e for f in ARGS.evil_log for e in log_lines(f)]
            tap(len(evil) == evil_before, "[%s] %s: no request reached a "
                "host the manifest does not name" % (way, row["id"]),
                "%r" % evil[evil_before:])
    evil = [e for f in ARGS.evil_log for e in log_lines(f)]
    tap(not evil, "no host but the rule's registry saw any request, so "
        "none saw an Authorization", "%r" % evil[:5])
    print("1..%d" % N)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
