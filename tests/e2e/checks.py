#!/usr/bin/env python3
"""The web-server check list (issue 3, item 1), as TAP.

Runs against a web server in front of the gateway that serves
tests/e2e/manifest.json and logs events to LOG:

    checks.py --url http://127.0.0.1:PORT --log LOG --name nginx

Every request goes to the web server with a Host header; every check looks
at what a client sees, then the event log is checked: one line per request
with the right host, status and client address.
"""
import argparse
import http.client
import json
import sys
import time
import urllib.parse

N = 0
FAILED = 0


def tap(cond, name, diag=None):
    global N, FAILED
    N += 1
    print(("ok" if cond else "not ok"), N, "-", name)
    if not cond:
        FAILED += 1
        if diag:
            for line in str(diag).splitlines():
                print("#", line)
    sys.stdout.flush()
    return cond


class Client:
    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.sent = []          # (host, method, path, status)

    def req(self, method, host, target, headers=None, body=None):
        c = http.client.HTTPConnection(self.host, self.port, timeout=20)
        h = {"Host": host}
        h.update(headers or {})
        c.request(method, target, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        path = target.split("?", 1)[0]
        self.sent.append((host, method, path, r.status))
        return r, data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--name", default="server")
    ap.add_argument("--client-ip", default="127.0.0.1")
    a = ap.parse_args()
    n = a.name
    cl = Client(a.url)

    # 1. a file rule answers 307 with the expanded Location
    r, body = cl.req("GET", "dl.e2e.test", "/tool/v1.2.0/tool-linux-amd64.tar.gz")
    tap(r.status == 307 and r.getheader("Location") ==
        "https://releases.example/tool/v1.2.0/tool-linux-amd64.tar.gz",
        "[%s] file rule: 307 + Location" % n,
        "status %d Location %r" % (r.status, r.getheader("Location")))

    # 2. the simple-index page, its type and ETag
    r, page = cl.req("GET", "py.e2e.test", "/simple/demo-pkg/")
    etag = r.getheader("ETag")
    tap(r.status == 200 and r.getheader("Content-Type") == "text/html"
        and b'demo_pkg-1.0-py3-none-any.whl#sha256=' in page and etag,
        "[%s] simple-index page: 200 text/html with ETag" % n,
        "status %d type %r etag %r body %r" % (
            r.status, r.getheader("Content-Type"), etag, page[:200]))
    tap(r.getheader("Vary") == "Accept", "[%s] page: Vary: Accept" % n,
        r.getheader("Vary"))

    # 3. 304 on If-None-Match
    r, body = cl.req("GET", "py.e2e.test", "/simple/demo-pkg/",
                     {"If-None-Match": etag or '"none"'})
    tap(r.status == 304 and body == b"" and r.getheader("ETag") == etag,
        "[%s] If-None-Match: 304, no body, same ETag" % n,
        "status %d body %r etag %r" % (r.status, body[:80], r.getheader("ETag")))

    # 4. HEAD: same status and headers (the Content-Length of the GET
    # body included: docker clients read a blob's size from it), no body
    r, body = cl.req("HEAD", "py.e2e.test", "/simple/demo-pkg/")
    cl_head = r.getheader("Content-Length")
    tap(r.status == 200 and body == b"" and
        r.getheader("Content-Type") == "text/html" and
        cl_head == str(len(page)),
        "[%s] HEAD: 200, headers of GET, no body" % n,
        "status %d length %r (GET body %d)" % (r.status, cl_head, len(page)))

    # 5. %2F reaches the gateway undecoded
    r, body = cl.req("GET", "dl.e2e.test", "/enc/a%2Fb")
    tap(r.status == 307 and r.getheader("Location") ==
        "https://releases.example/enc/a%2Fb",
        "[%s] %%2F routed intact" % n,
        "status %d Location %r" % (r.status, r.getheader("Location")))

    # 6. Authorization reaches the gateway
    ev = b'{"event":"e2e"}'
    r, body = cl.req("POST", "dl.e2e.test", "/events",
                     {"Authorization": "Bearer e2e-token",
                      "Content-Type": "application/json"}, ev)
    tap(r.status == 200, "[%s] telemetry with the token: 200" % n,
        "status %d body %r" % (r.status, body[:200]))
    r, body = cl.req("POST", "dl.e2e.test", "/events",
                     {"Content-Type": "application/json"}, ev)
    tap(r.status == 401 and r.getheader("WWW-Authenticate") == "Bearer",
        "[%s] telemetry without a token: 401 + challenge" % n,
        "status %d WWW-Authenticate %r" % (r.status,
                                           r.getheader("WWW-Authenticate")))
    r, body = cl.req("POST", "dl.e2e.test", "/events",
                     {"Authorization": "Bearer wrong",
                      "Content-Type": "application/json"}, ev)
    tap(r.status == 401, "[%s] telemetry with a wrong token: 401" % n,
        "status %d" % r.status)

    # 7. unknown host
    r, body = cl.req("GET", "unknown.e2e.test", "/")
    tap(r.status == 404 and body == b"Not Found",
        "[%s] unknown host: 404 Not Found" % n,
        "status %d body %r" % (r.status, body[:80]))

    # 8. one event line per request, with host, status and client address
    want = sorted(cl.sent)
    lines = []
    deadline = time.time() + 5
    while time.time() < deadline:
        try:
            with open(a.log, "rb") as f:
                lines = [l for l in f.read().split(b"\n") if l.strip()]
        except OSError:
            lines = []
        if len(lines) >= len(want):
            break
        time.sleep(0.1)
    try:
        events = [json.loads(l) for l in lines]
    except ValueError as e:
        events = []
        tap(False, "[%s] event lines are JSON" % n, e)
    got = sorted((e.get("host"), e.get("method"), e.get("path"),
                  e.get("status")) for e in events)
    tap(got == want, "[%s] one event line per request (host, method, path, "
        "status)" % n, "want %r\ngot  %r" % (want, got))
    ips = sorted(set(e.get("client-ip") for e in events))
    tap(ips == [a.client_ip], "[%s] events carry the client address" % n,
        "client-ip values %r" % ips)
    tel = [e for e in events if e.get("type") == "telemetry" and
           e.get("status") == 200]
    tap(len(tel) == 1 and tel[0].get("body-events") == [{"event": "e2e"}],
        "[%s] the request body reached the gateway" % n,
        tel)
    print("1..%d" % N)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
