#!/usr/bin/env python3
"""Conformance runner: every case of tests/conformance/cases/ (the shared
vectors) and tests/conformance/cases-local/ (our own) through both
programs, the CGI program (one process per request) and the FastCGI program
(one process per case, requests sent with cgi-fcgi), as described in
tests/conformance/cases/README.md.  Prints TAP, one line per (case, program).

Proxied cases ("proxy": true), as the README's "Proxied cases" says: the
FastCGI program's `explain` command must name the case's upstream (with the
manifest as written), then the request runs against a stub registry on
127.0.0.1 that the manifest's docker registries are pointed at.  The stub
must have received exactly one request, with the case's method, path and
query, the forwarded headers, and nothing else; the client must get the
stub's answer through the header allow-list, and the event proxied true.
Every other case runs with the proxy variables pointing at a closed port,
so that any upstream contact shows.

cases-local/README.md adds a per-case stub answer ("stub"), npm-v1
registries pointed at the stub, the npm forwarded-header set (SPEC 4.4)
and "upstream_method"; the shared cases never use them.

Python 3 standard library only.
"""

import argparse
import concurrent.futures
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

# ---------------------------------------------------------------------------
# Small helpers


def shorten(data, limit=2000):
    """Printable form of some bytes for a diagnostic."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    text = repr(data)[2:-1] if data else "(empty)"
    if len(text) > limit:
        text = text[:limit] + "... (%d bytes in all)" % len(data)
    return text


def json_equal(a, b):
    """JSON value equality: bool is not a number, 1 == 1.0, dicts by key,
    arrays in order."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y)
                                        for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return (set(a) == set(b)
                and all(json_equal(a[k], b[k]) for k in a))
    return False


def jdump(v):
    return json.dumps(v, ensure_ascii=False, sort_keys=True)


def free_port():
    """A port the kernel considers free on 127.0.0.1."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def port_accepts(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(0.5)
    try:
        s.connect(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def closed_port():
    """A loopback port nothing listens on (for the proxy variables)."""
    for _ in range(20):
        p = free_port()
        if not port_accepts(p):
            return p
    return 9


# ---------------------------------------------------------------------------
# The stub registry of proxied cases

STUB_BODY = b'{"stub":"ok"}'
STUB_HEADERS = [
    ("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
    ("Docker-Content-Digest", "sha256:" + "0" * 64),
    ("Docker-Distribution-Api-Version", "registry/2.0"),
    ("X-Stub-Private", "1"),
    ("Set-Cookie", "stub=1"),
    ("Content-Length", str(len(STUB_BODY))),
]
# SPEC 3.5: the only request headers the gateway may send (Host is curl's)
FORWARDED = ("accept", "authorization", "range", "if-none-match",
             "user-agent")


class StubHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self):
        self.server.requests.append({
            "method": self.command,
            "target": self.path,
            "headers": list(self.headers.items()),
        })
        status, headers, body = self.server.answer
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = answer

    def log_message(self, *args):
        pass


class Stub:
    """A registry stand-in on 127.0.0.1 that records every request and
    answers each with the README's fixed response, or with the answer
    last given to set_answer (a case's "stub")."""

    def __init__(self):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     StubHandler)
        self.httpd.daemon_threads = True
        self.httpd.requests = []
        self.httpd.answer = (200, STUB_HEADERS, STUB_BODY)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    @property
    def requests(self):
        return self.httpd.requests

    def set_answer(self, spec):
        """spec: a case's "stub" object (cases-local/README.md), or None
        for the fixed answer."""
        if spec is None:
            self.httpd.answer = (200, STUB_HEADERS, STUB_BODY)
            return
        status = spec.get("status", 200)
        body = spec.get("body", "").encode("utf-8")
        headers = list(spec.get("headers", {}).items())
        if (not any(k.lower() == "content-length" for k, _ in headers)
                and status != 304 and status != 204 and status >= 200):
            headers.append(("Content-Length", str(len(body))))
        if status == 304 or status == 204:
            body = b""
        self.httpd.answer = (status, headers, body)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def stubbed_manifest(manifest, port):
    """The manifest with every docker registry pointed at the stub, and
    every npm-v1 registry (given or default) too, keeping the path prefix
    of a configured npm registry URL."""
    m = json.loads(json.dumps(manifest))
    for rule in m.get("rules", []):
        if rule.get("type") in ("docker-v1", "docker-v2"):
            rule["registry"] = "http://127.0.0.1:%d" % port
        elif rule.get("type") == "npm-v1":
            reg = rule.get("registry")
            prefix = ""
            if isinstance(reg, str):
                prefix = urllib.parse.urlsplit(reg).path.rstrip("/")
            rule["registry"] = "http://127.0.0.1:%d%s" % (port, prefix)
    return m


# SPEC 4.4: what an npm document fetch forwards (never Authorization)
NPM_FORWARDED = ("accept", "if-none-match", "if-modified-since")


def forwarded_set(exp):
    """The request headers the gateway forwards for this expectation: the
    npm set when the expected event is of type npm, else SPEC 3.5's."""
    if (exp.get("event") or {}).get("type") == "npm":
        return NPM_FORWARDED
    return FORWARDED


def check_upstream(req, exp, stub, nprev, diag):
    """The stub's view of one proxied request; appends diagnostics."""
    ok = True
    got = stub.requests[nprev:]
    if len(got) != 1:
        diag.append("the stub received %d requests (expected 1): %s" % (
            len(got), jdump([r["method"] + " " + r["target"] for r in got])))
        return False
    rec = got[0]
    want = urllib.parse.urlsplit(exp["upstream"])
    want_target = want.path + ("?" + want.query if want.query else "")
    want_method = exp.get("upstream_method", req["method"])
    if rec["method"] != want_method:
        ok = False
        diag.append("upstream method: expected %s, got %s" % (
            want_method, rec["method"]))
    if rec["target"] != want_target:
        ok = False
        diag.append("upstream path and query: expected %s, got %s" % (
            want_target, rec["target"]))
    sent = {k.lower(): v for k, v in req.get("headers", {}).items()}
    fwd = forwarded_set(exp)
    for name in fwd:
        values = [v for k, v in rec["headers"] if k.lower() == name]
        if name in sent and sent[name] != "" and values != [sent[name]]:
            ok = False
            diag.append("upstream %s: expected %s, got %s" % (
                name, jdump([sent[name]]), jdump(values)))
    extra = [k for k, _ in rec["headers"]
             if k.lower() not in fwd and k.lower() != "host"]
    if extra:
        ok = False
        diag.append("upstream got headers that are not forwarded: %s"
                    % jdump(extra))
    if not ok:
        diag.append("upstream request: %s" % jdump(rec))
    return ok


# ---------------------------------------------------------------------------
# Cases


class Case:
    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path)[:-len(".json")]
        with open(path, "rb") as f:
            self.data = json.loads(f.read().decode("utf-8"))
        req = self.data["request"]
        exp = self.data["expect"]
        self.two_step = isinstance(req, list)
        self.requests = req if self.two_step else [req]
        self.expects = exp if isinstance(exp, list) else [exp]
        if len(self.requests) != len(self.expects):
            raise ValueError("%s: %d requests but %d expectations" %
                             (self.name, len(self.requests), len(self.expects)))
        self.proxy = any(e.get("proxy") for e in self.expects)
        self.manifest = self.data["manifest"]
        self.stub = self.data.get("stub")	# cases-local extension


def header_get(headers, name):
    for k, v in headers.items():
        if k.lower() == name.lower():
            return v
    return None


def server_name(host):
    """The Host value without any :port."""
    if host.startswith("["):
        end = host.find("]")
        return host[:end + 1] if end >= 0 else host
    return host.split(":", 1)[0]


def request_env(req, manifest_path, log_path):
    """The CGI environment of the README, as bytes, for one request."""
    uri = req["uri"]
    path, _, query = uri.partition("?")
    headers = req.get("headers", {})
    host = header_get(headers, "Host") or ""
    pinfo = urllib.parse.unquote_to_bytes(path)
    if b"\0" in pinfo:
        pinfo = path.encode("utf-8")
    env = {
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_SOFTWARE": "conformance-runner",
        "SERVER_NAME": server_name(host),
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "127.0.0.1",
        "REQUEST_METHOD": req["method"],
        "REQUEST_URI": uri,
        "QUERY_STRING": query,
        "SCRIPT_NAME": "",
        "PATH_INFO": pinfo,
        "GATEWAY_MANIFEST": manifest_path,
        "GATEWAY_LOG": log_path,
    }
    if "body" in req:
        env["CONTENT_LENGTH"] = str(len(req["body"].encode("utf-8")))
    for name, value in headers.items():
        low = name.lower()
        if low == "content-type":
            env["CONTENT_TYPE"] = value
        elif low == "content-length":
            continue
        else:
            env["HTTP_" + name.upper().replace("-", "_")] = value
    out = {}
    for k, v in env.items():
        out[k.encode()] = v if isinstance(v, bytes) else v.encode("utf-8")
    return out


# ---------------------------------------------------------------------------
# Responses


class Response:
    def __init__(self):
        self.status = None
        self.headers = []	# [(name, value bytes)]
        self.body = b""
        self.raw = b""
        self.stderr = b""
        self.rc = None
        self.events = []	# raw event lines (bytes)
        self.error = None	# transport problem, if any

    def get(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]


def parse_cgi(raw, resp):
    """Parses a CGI response (LF or CRLF) into resp; returns an error
    string or None."""
    resp.raw = raw
    pos = 0
    headers = []
    while True:
        nl = raw.find(b"\n", pos)
        if nl < 0:
            return "no blank line ending the header block"
        line = raw[pos:nl]
        pos = nl + 1
        if line.endswith(b"\r"):
            line = line[:-1]
        if line == b"":
            break
        colon = line.find(b":")
        if colon <= 0:
            return "malformed header line %s" % shorten(line)
        name = line[:colon].decode("latin-1")
        value = line[colon + 1:].lstrip(b" \t")
        headers.append((name, value))
    resp.body = raw[pos:]
    status = [v for k, v in headers if k.lower() == "status"]
    if len(status) != 1:
        return "expected exactly one Status header, got %d" % len(status)
    tok = status[0].split(b" ", 1)[0]
    if not tok.isdigit() or len(tok) != 3:
        return "bad Status header %s" % shorten(status[0])
    resp.status = int(tok)
    resp.headers = [(k, v) for k, v in headers if k.lower() != "status"]
    return None


# ---------------------------------------------------------------------------
# Checking


def check_response(req, exp, resp, diag, proxied, stubbed=False):
    """Compares resp with the expectation; appends diagnostics.  For a
    proxied request the event must say proxied true and status 200 (with
    a case's own stub answer: the expected status, and proxied true unless
    the event expectation says otherwise), and its registry (the stub's)
    is not compared."""
    ok = True

    def fail(what, expected, got):
        nonlocal ok
        ok = False
        diag.append("%s differs:" % what)
        diag.append("  - expected: %s" % expected)
        diag.append("  + got:      %s" % got)

    method = req["method"]
    want_status = exp.get("status")
    if want_status is not None and resp.status != want_status:
        fail("status", want_status, resp.status)

    for name, value in exp.get("headers", {}).items():
        got = resp.get(name)
        want = value.encode("utf-8")
        if len(got) != 1 or got[0] != want:
            fail("header %s" % name, shorten(want),
                 " | ".join(shorten(g) for g in got) if got
                 else "(absent)")
    for name in exp.get("absent_headers", []):
        got = resp.get(name)
        if got:
            fail("absent header %s" % name, "(absent)",
                 " | ".join(shorten(g) for g in got))

    body = resp.body
    if method == "HEAD":
        if body:
            fail("HEAD body", "(empty)", shorten(body))
    else:
        if "body" in exp and body != exp["body"].encode("utf-8"):
            fail("body", shorten(exp["body"].encode("utf-8")),
                 shorten(body))
        for sub in exp.get("body_contains", []):
            if sub.encode("utf-8") not in body:
                fail("body_contains", shorten(sub), shorten(body))
        if "json_body" in exp:
            try:
                got = json.loads(body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as e:
                fail("json_body", jdump(exp["json_body"]),
                     "not JSON (%s): %s" % (e, shorten(body)))
            else:
                if not json_equal(got, exp["json_body"]):
                    fail("json_body", jdump(exp["json_body"]),
                         jdump(got))
    # Framing sanity: a Content-Length must describe the GET body.
    cl = resp.get("Content-Length")
    if (len(cl) == 1 and method != "HEAD" and resp.status != 304
            and cl[0].isdigit() and int(cl[0]) != len(body)):
        fail("Content-Length vs body length", len(body),
             cl[0].decode("latin-1"))
    # (cases-local extension 5: a stub's redirect handed back as a 307)
    if proxied and resp.get("Location") and not (
            stubbed and "Location" in exp.get("headers", {})):
        fail("Location on a proxied answer", "(absent)",
             shorten(resp.get("Location")[0]))

    # The one event line.
    want_ev = exp.get("event")
    if len(resp.events) != 1:
        fail("event line count", 1, "%d: %s" % (
            len(resp.events),
            " | ".join(shorten(e, 600) for e in resp.events) or "(none)"))
        return ok
    line = resp.events[0]
    try:
        ev = json.loads(line.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        fail("event line", "a JSON object", "%s: %s" % (e, shorten(line)))
        return ok
    if not isinstance(ev, dict):
        fail("event line", "a JSON object", shorten(line))
        return ok
    checks = dict(want_ev or {})
    if proxied and stubbed:
        checks.pop("registry", None)
        checks.setdefault("proxied", True)
        if want_status is not None:
            checks.setdefault("status", want_status)
    elif proxied:
        checks.pop("registry", None)
        checks["proxied"] = True
        checks["status"] = 200
    for key, value in checks.items():
        if key not in ev:
            fail("event %s" % key, jdump(value), "(missing)")
        elif not json_equal(ev[key], value):
            fail("event %s" % key, jdump(value), jdump(ev[key]))
    if not ok:
        diag.append("event line: %s" % shorten(line, 1500))
    # The event line must go to the log only.
    if line.strip() and (line.strip() in resp.raw
                         or line.strip() in resp.stderr):
        fail("event line destination", "only in GATEWAY_LOG",
             "also on stdout/stderr")
    return ok


def substitute_etag(obj, etag):
    """Deep copy of a request or expectation with {etag} replaced in its
    header values."""
    out = dict(obj)
    if "headers" in out:
        out["headers"] = {k: v.replace("{etag}", etag)
                          for k, v in out["headers"].items()}
    return out


# ---------------------------------------------------------------------------
# The runner


class Runner:
    def __init__(self, args):
        self.args = args
        self.builddir = os.path.abspath(args.builddir)
        self.cgi = os.path.join(self.builddir, "cgi", "scarf-gateway.cgi")
        self.fcgi = os.path.join(self.builddir, "fcgi", "scarf-gateway")
        self.cgi_fcgi = shutil.which("cgi-fcgi")
        self.tmp = tempfile.mkdtemp(prefix="scarf-conformance-")
        self.slow = 10 if args.valgrind else 1
        cp = closed_port()
        proxy = "http://127.0.0.1:%d" % cp
        # Process environment of the programs (not the request): the
        # proxy variables catch any upstream contact; sanitizer options
        # pass through so that CI settings apply.
        self.base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        for k in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                  "http_proxy", "https_proxy", "all_proxy"):
            self.base_env[k] = proxy
        # (and GATEWAY_CACHE_DIR: the suite through compiled images)
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS",
                  "MSAN_OPTIONS", "TSAN_OPTIONS", "VALGRIND_OPTS",
                  "GATEWAY_CACHE_DIR"):
            if k in os.environ:
                self.base_env[k] = os.environ[k]
        self.counter = 0
        self.lock = threading.Lock()

    def scratch(self, case, prog):
        with self.lock:
            self.counter += 1
            n = self.counter
        d = os.path.join(self.tmp, "%s.%s.%d" % (case.name, prog, n))
        os.mkdir(d)
        return d

    def write_manifest(self, manifest, d, name="manifest.json"):
        path = os.path.join(d, name)
        with open(path, "wb") as f:
            f.write(json.dumps(manifest, ensure_ascii=False,
                               indent=1).encode("utf-8"))
        return path

    def env_bytes(self, extra):
        env = {k.encode(): v.encode() for k, v in self.base_env.items()}
        env.update(extra)
        return env

    # -- explain (proxied cases) ------------------------------------------

    def explain(self, case, manifest, diag):
        if not os.access(self.fcgi, os.X_OK):
            diag.append("explain: %s not built; proxy decision not checked"
                        % self.fcgi)
            return True
        ok = True
        for req, exp in zip(case.requests, case.expects):
            if not exp.get("proxy"):
                continue
            headers = req.get("headers", {})
            host = header_get(headers, "Host") or ""
            cmd = [self.fcgi, "--manifest", manifest, "explain",
                   req["method"], host, req["uri"]]
            for k, v in headers.items():
                if k.lower() != "host":
                    cmd.append("%s:%s" % (k, v))
            try:
                p = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                                   capture_output=True,
                                   env=self.env_bytes({}),
                                   timeout=10 * self.slow)
            except subprocess.TimeoutExpired:
                diag.append("explain: timed out: %s" % " ".join(cmd))
                return False
            try:
                out = json.loads(p.stdout.decode("utf-8"))
                if not isinstance(out, dict):
                    raise ValueError("not an object")
            except (ValueError, UnicodeDecodeError) as e:
                diag.append("explain: output is not one JSON object (%s), "
                            "exit %d" % (e, p.returncode))
                diag.append("  stdout: %s" % shorten(p.stdout))
                diag.append("  stderr: %s" % shorten(p.stderr))
                return False
            if p.returncode != 0:
                ok = False
                diag.append("explain: exit status %d (expected 0)"
                            % p.returncode)
            for key, want in (("proxy", True),
                              ("upstream", exp.get("upstream"))):
                if key not in out or not json_equal(out[key], want):
                    ok = False
                    diag.append("explain %s differs:" % key)
                    diag.append("  - expected: %s" % jdump(want))
                    diag.append("  + got:      %s" %
                                (jdump(out[key]) if key in out
                                 else "(missing)"))
            if not ok or self.args.verbose:
                diag.append("explain output: %s" % shorten(p.stdout))
        return ok

    # -- one request through the CGI program ------------------------------

    def cgi_request(self, req, manifest, d, idx, penv):
        resp = Response()
        log = os.path.join(d, "events.%d.log" % idx)
        open(log, "wb").close()
        env = self.env_bytes(request_env(req, manifest, log))
        env.update(penv)
        body = req["body"].encode("utf-8") if "body" in req else None
        cmd = [self.cgi]
        if self.args.valgrind:
            cmd = ["valgrind", "--error-exitcode=99", "-q",
                   "--leak-check=full"] + cmd
        try:
            p = subprocess.Popen(cmd, stdin=subprocess.PIPE if body
                                 is not None else subprocess.DEVNULL,
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=env, cwd=d)
        except OSError as e:
            resp.error = "cannot run %s: %s" % (cmd[0], e)
            return resp
        try:
            out, err = p.communicate(body, timeout=5 * self.slow)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            resp.error = "timed out after %d s" % (5 * self.slow)
        resp.stderr = err
        resp.rc = p.returncode
        perr = parse_cgi(out, resp)
        if perr and not resp.error:
            resp.error = "unparsable CGI output: " + perr
        resp.raw = out
        with open(log, "rb") as f:
            resp.events = f.read().splitlines()
        return resp

    # -- the FastCGI program ----------------------------------------------

    def fcgi_start(self, manifest, d, diag, penv):
        log = os.path.join(d, "events.log")
        open(log, "wb").close()
        errpath = os.path.join(d, "fcgi.stderr")
        for attempt in range(3):
            port = free_port()
            if port_accepts(port):
                continue
            errf = open(errpath, "wb")
            cmd = [self.fcgi, "--manifest", manifest, "--listen",
                   "tcp:127.0.0.1:%d" % port, "--log", log]
            try:
                p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=errf, stderr=errf,
                                     env=self.env_bytes(penv), cwd=d)
            except OSError as e:
                errf.close()
                diag.append("cannot start %s: %s" % (self.fcgi, e))
                return None
            errf.close()
            deadline = time.monotonic() + 5 * self.slow
            while time.monotonic() < deadline:
                if p.poll() is not None:
                    break
                if port_accepts(port):
                    return (p, port, log, errpath)
                time.sleep(0.01)
            if p.poll() is None:
                p.kill()
                p.wait()
                diag.append("FastCGI program never accepted on port %d"
                            % port)
                diag.append("stderr: %s" % shorten(read_file(errpath)))
                return None
            # Exited early: maybe a port clash; try another port.
            last = "exit status %d; stderr: %s" % (
                p.returncode, shorten(read_file(errpath)))
        diag.append("FastCGI program did not start: " + last)
        return None

    def fcgi_stop(self, proc, errpath, diag):
        """SIGTERM by pid; the program must exit 0."""
        ok = True
        if proc.poll() is not None:
            diag.append("FastCGI program died during the case: exit %d"
                        % proc.returncode)
            ok = False
        else:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5 * self.slow)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                diag.append("FastCGI program ignored SIGTERM for %d s "
                            "(killed)" % (5 * self.slow))
                return False
            if proc.returncode != 0:
                diag.append("FastCGI program exit status after SIGTERM: "
                            "%d (expected 0)" % proc.returncode)
                ok = False
        if not ok:
            diag.append("stderr: %s" % shorten(read_file(errpath)))
        return ok

    def fcgi_request(self, req, manifest, port, log, nprev):
        resp = Response()
        env = request_env(req, manifest, log)
        body = req["body"].encode("utf-8") if "body" in req else None
        cmd = ["env", "-i"]
        cmd += [k + b"=" + v for k, v in sorted(env.items())]
        cmd += [self.cgi_fcgi, "-bind", "-connect", "127.0.0.1:%d" % port]
        try:
            p = subprocess.Popen(cmd, stdin=subprocess.PIPE if body
                                 is not None else subprocess.DEVNULL,
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
        except OSError as e:
            resp.error = "cannot run cgi-fcgi: %s" % e
            return resp
        try:
            out, err = p.communicate(body, timeout=5 * self.slow)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            resp.error = "cgi-fcgi timed out after %d s" % (5 * self.slow)
        resp.stderr = err
        resp.rc = p.returncode
        perr = parse_cgi(out, resp)
        if perr and not resp.error:
            resp.error = "unparsable output of cgi-fcgi: " + perr
        resp.raw = out
        # The event is written after the response: wait for it.
        deadline = time.monotonic() + 2 * self.slow
        lines = []
        while True:
            data = read_file(log)
            complete = data[:data.rfind(b"\n") + 1] if b"\n" in data else b""
            lines = complete.splitlines()[nprev:]
            if lines or time.monotonic() > deadline:
                break
            time.sleep(0.005)
        resp.events = lines
        return resp

    # -- one case, one program --------------------------------------------

    def run_case(self, case, prog):
        diag = []
        d = self.scratch(case, prog)
        manifest = self.write_manifest(case.manifest, d)
        ok = True
        stub = None
        penv = {}
        if case.proxy:
            # explain sees the manifest as written; the requests run
            # against the stub, reached without the proxy variables
            ok = self.explain(case, manifest, diag) and ok
            stub = Stub()
            manifest = self.write_manifest(
                stubbed_manifest(case.manifest, stub.port), d,
                "manifest-stub.json")
            penv = {b"NO_PROXY": b"127.0.0.1", b"no_proxy": b"127.0.0.1"}
        proc = None
        if prog == "fcgi":
            started = self.fcgi_start(manifest, d, diag, penv)
            if started is None:
                if stub is not None:
                    stub.stop()
                return False, diag
            proc, port, log, errpath = started
        etag = None
        nlines = 0
        try:
            for idx, (req, exp) in enumerate(zip(case.requests,
                                                 case.expects)):
                label = "request %d: " % (idx + 1) if case.two_step else ""
                if idx > 0 and case.two_step:
                    if etag is None:
                        diag.append(label + "no ETag in the first response;"
                                    " {etag} cannot be substituted")
                        ok = False
                        break
                    req = substitute_etag(req, etag)
                    exp = substitute_etag(exp, etag)
                nstub = len(stub.requests) if stub is not None else 0
                spec = exp.get("stub", case.stub)
                if stub is not None:
                    stub.set_answer(spec)
                if prog == "cgi":
                    resp = self.cgi_request(req, manifest, d, idx, penv)
                else:
                    resp = self.fcgi_request(req, manifest, port, log,
                                             nlines)
                    nlines += len(resp.events)
                rdiag = []
                rok = True
                if resp.error:
                    rdiag.append(resp.error)
                    rok = False
                if resp.rc not in (0, None):
                    rdiag.append("exit status %d (expected 0)" % resp.rc)
                    rok = False
                if not resp.error:
                    rok = check_response(req, exp, resp, rdiag,
                                         bool(exp.get("proxy")),
                                         spec is not None) and rok
                if exp.get("proxy") and stub is not None:
                    rok = check_upstream(req, exp, stub, nstub,
                                         rdiag) and rok
                if idx == 0 and case.two_step:
                    et = resp.get("ETag")
                    etag = et[0].decode("latin-1") if len(et) == 1 else None
                if not rok or self.args.verbose:
                    if not rok:
                        diag.extend(label + x for x in rdiag)
                    diag.append(label + "sent: %s %s %s%s" % (
                        req["method"], req["uri"], jdump(req.get("headers")),
                        " body %d bytes" % len(req["body"].encode("utf-8"))
                        if "body" in req else ""))
                    diag.append(label + "raw output: %s" %
                                shorten(resp.raw, 3000))
                    if resp.stderr:
                        diag.append(label + "stderr: %s" %
                                    shorten(resp.stderr, 3000))
                    if rok:
                        diag.append(label + "events: %s" % " | ".join(
                            shorten(e, 1500) for e in resp.events))
                ok = ok and rok
        finally:
            if stub is not None:
                stub.stop()
            if proc is not None:
                if not self.fcgi_stop(proc, errpath, diag):
                    ok = False
                # No stray lines after the requests.
                total = len(read_file(log).splitlines())
                if total != len(case.requests):
                    diag.append("event log has %d lines for %d requests "
                                "(after exit)" % (total, len(case.requests)))
                    ok = False
        return ok, diag

    def cleanup(self):
        if self.args.keep:
            sys.stdout.write("# scratch files kept in %s\n" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def read_file(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def select_cases(casedirs, only):
    """The cases of every directory, in order of directory then name."""
    out = []
    for casedir in casedirs:
        names = sorted(n for n in os.listdir(casedir)
                       if n.endswith(".json") and n[:1].isdigit())
        if only:
            try:
                rx = re.compile(only)
                names = [n for n in names if rx.search(n)]
            except re.error:
                names = [n for n in names if only in n]
        out += [Case(os.path.join(casedir, n)) for n in names]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--builddir", default=".",
                    help="top build directory (holds cgi/ and fcgi/)")
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--cases", action="append", metavar="DIR",
                    help="directory of NNN-name.json cases; may be given "
                    "more than once (default: cases and cases-local next "
                    "to this script)")
    ap.add_argument("--only", metavar="PATTERN",
                    help="run only cases whose file name matches this "
                    "regular expression (or contains this text)")
    ap.add_argument("--program", choices=("cgi", "fcgi"),
                    help="run only one of the programs")
    ap.add_argument("--verbose", action="store_true",
                    help="print the raw output of passing requests too")
    ap.add_argument("--valgrind", action="store_true",
                    help="run the CGI program under valgrind")
    ap.add_argument("--jobs", type=int, default=0,
                    help="cases run in parallel (default: 2 per CPU, max 8)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the scratch directory")
    args = ap.parse_args()
    if not args.cases:
        args.cases = [os.path.join(here, "cases"),
                      os.path.join(here, "cases-local")]

    try:
        cases = select_cases(args.cases, args.only)
    except (OSError, ValueError) as e:
        print("1..0 # SKIP cannot read the cases: %s" % e)
        return 1
    progs = [args.program] if args.program else ["cgi", "fcgi"]
    runner = Runner(args)
    if args.valgrind and not shutil.which("valgrind"):
        print("Bail out! --valgrind given but valgrind is not installed")
        return 1

    skip = {}
    if not os.access(runner.cgi, os.X_OK):
        skip["cgi"] = "%s not built" % runner.cgi
    if not os.access(runner.fcgi, os.X_OK):
        skip["fcgi"] = "%s not built" % runner.fcgi
    elif runner.cgi_fcgi is None:
        skip["fcgi"] = "cgi-fcgi not installed (Debian: libfcgi-bin)"

    jobs = args.jobs or min(8, 2 * (os.cpu_count() or 1))
    if args.valgrind:
        jobs = max(1, min(jobs, os.cpu_count() or 1))
    print("1..%d" % (len(cases) * len(progs)))
    sys.stdout.flush()

    work = [(c, p) for c in cases for p in progs]
    failed = 0
    t0 = time.monotonic()
    try:
        with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
            futs = []
            for c, p in work:
                if p in skip:
                    futs.append(None)
                else:
                    futs.append(pool.submit(runner.run_case, c, p))
            for n, ((c, p), fut) in enumerate(zip(work, futs), 1):
                title = "%s [%s]" % (c.name, p)
                if fut is None:
                    print("ok %d - %s # SKIP %s" % (n, title, skip[p]))
                    continue
                try:
                    ok, diag = fut.result()
                except Exception as e:	# a runner bug: report, go on
                    ok, diag = False, ["runner error: %r" % (e,)]
                print("%s %d - %s" % ("ok" if ok else "not ok", n, title))
                if not ok:
                    failed += 1
                    diag = ["case: %s" % c.path] + diag
                for line in diag:
                    for sub in line.splitlines() or [""]:
                        print("#   " + sub)
                sys.stdout.flush()
    finally:
        runner.cleanup()
    print("# %d of %d failed (%.1f s)" % (failed, len(work),
                                          time.monotonic() - t0))
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:
        sys.exit(1)
