#!/usr/bin/env python3
"""Raw-socket HTTP response capture for honeypot persona fixtures.

Sends exact request bytes to a server and stores the exact response bytes
(status line, headers in order and case, body) unmodified.

Usage: capture.py PRODUCT HOST PORT OUTDIR

  PRODUCT  apache | nginx | tomcat   (selects product-specific extra cases)

For every case NAME it writes:
  OUTDIR/NAME.http     raw response bytes, exactly as received (binary)
  OUTDIR/NAME.request  raw request bytes, exactly as sent (binary)
and appends a line to OUTDIR/INDEX.tsv:
  name, first response line, response byte count, how the connection ended
  ("server-closed" = server sent FIN right after the response,
   "open" = server kept the connection open, "timeout" = no complete
   response within the read timeout).
"""
import base64
import re
import socket
import sys
import time

READ_TIMEOUT = 8.0      # overall per-response budget
CLOSE_PROBE = 0.4       # how long to wait for FIN after a complete response


def _parse_headers(head):
    lines = head.split(b"\r\n")
    status = lines[0]
    hdrs = []
    for ln in lines[1:]:
        if b":" in ln:
            k, v = ln.split(b":", 1)
            hdrs.append((k.strip().lower(), v.strip()))
    return status, hdrs


def _complete(buf, method):
    """Return the length of the first complete HTTP response in buf, or None."""
    if not buf.startswith(b"HTTP/"):
        return None  # HTTP/0.9 style answer or garbage: read until close
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    hlen = end + 4
    status, hdrs = _parse_headers(buf[:end])
    m = re.match(rb"HTTP/\d\.\d (\d{3})", status)
    code = int(m.group(1)) if m else 0
    if method == b"HEAD" or code in (204, 304) or 100 <= code < 200:
        return hlen
    h = dict(hdrs)
    if b"chunked" in h.get(b"transfer-encoding", b"").lower():
        pos = hlen
        while True:
            crlf = buf.find(b"\r\n", pos)
            if crlf < 0:
                return None
            size = int(buf[pos:crlf].split(b";")[0], 16)
            pos = crlf + 2
            if size == 0:
                trail = buf.find(b"\r\n\r\n", pos - 2)
                return trail + 4 if trail >= 0 else None
            pos += size + 2
            if pos > len(buf):
                return None
    if b"content-length" in h:
        total = hlen + int(h[b"content-length"])
        return total if len(buf) >= total else None
    return None  # no framing: body ends at close


def read_response(sock, method, budget=READ_TIMEOUT):
    """Read one response. Returns (bytes, state)."""
    buf = b""
    deadline = time.monotonic() + budget
    while True:
        n = _complete(buf, method)
        if n is not None:
            extra = buf[n:]
            resp = buf[:n]
            if extra:
                return resp + extra, "extra-bytes"
            sock.settimeout(CLOSE_PROBE)
            try:
                more = sock.recv(65536)
                if more == b"":
                    return resp, "server-closed"
                return resp + more, "extra-bytes"
            except socket.timeout:
                return resp, "open"
            except ConnectionResetError:
                return resp, "server-reset"
        left = deadline - time.monotonic()
        if left <= 0:
            return buf, "timeout"
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return buf, "timeout"
        except ConnectionResetError:
            return buf, "server-reset"
        if chunk == b"":
            return buf, "server-closed"
        buf += chunk


def exchange(host, port, requests):
    """Send each request in order on one connection, reading a response after each."""
    out, req_all, state = b"", b"", ""
    s = socket.create_connection((host, port), timeout=READ_TIMEOUT)
    try:
        for req in requests:
            method = req.split(b" ", 1)[0]
            s.sendall(req)
            req_all += req
            resp, state = read_response(s, method)
            out += resp
            if state != "open":
                break
    finally:
        s.close()
    return req_all, out, state


def build_cases(product, hostport):
    H = hostport.encode()
    UA = b"User-Agent: curl/7.88.1\r\nAccept: */*\r\n"

    def get(path, extra=b"", method=b"GET", ver=b"HTTP/1.1"):
        return method + b" " + path + b" " + ver + b"\r\nHost: " + H + b"\r\n" + UA + extra + b"\r\n"

    form = b"user=admin&pass=admin"
    c = [
        ("get-root", [get(b"/")]),
        ("get-root-close", [get(b"/", b"Connection: close\r\n")]),
        ("get-root-gzip", [get(b"/", b"Accept-Encoding: gzip, deflate\r\n")]),
        ("head-root", [get(b"/", method=b"HEAD")]),
        ("get-index-html", [get(b"/index.html")]),
        ("get-nonexistent", [get(b"/nonexistent")]),
        ("head-nonexistent", [get(b"/nonexistent", method=b"HEAD")]),
        ("get-favicon", [get(b"/favicon.ico")]),
        ("get-robots", [get(b"/robots.txt")]),
        ("git-config", [get(b"/.git/config")]),
        ("env", [get(b"/.env")]),
        ("htaccess", [get(b"/.htaccess")]),
        ("htpasswd", [get(b"/.htpasswd")]),
        ("server-status", [get(b"/server-status")]),
        ("server-info", [get(b"/server-info")]),
        ("cgi-bin-dir", [get(b"/cgi-bin/")]),
        ("cgi-bin-test", [get(b"/cgi-bin/test.cgi")]),
        ("icons-dir", [get(b"/icons/")]),
        ("options-star", [b"OPTIONS * HTTP/1.1\r\nHost: " + H + b"\r\n" + UA + b"\r\n"]),
        ("options-root", [get(b"/", method=b"OPTIONS")]),
        ("post-root", [b"POST / HTTP/1.1\r\nHost: " + H + b"\r\n" + UA +
                       b"Content-Type: application/x-www-form-urlencoded\r\n"
                       b"Content-Length: " + str(len(form)).encode() + b"\r\n\r\n" + form]),
        ("put-root", [b"PUT /test.txt HTTP/1.1\r\nHost: " + H + b"\r\n" + UA +
                      b"Content-Length: 5\r\n\r\nhello"]),
        ("delete-root", [get(b"/", method=b"DELETE")]),
        ("http10-nohost", [b"GET / HTTP/1.0\r\n\r\n"]),
        ("http10-nohost-head", [b"HEAD / HTTP/1.0\r\n\r\n"]),
        ("http11-nohost", [b"GET / HTTP/1.1\r\n" + UA + b"\r\n"]),
        ("invalid-method", [get(b"/", method=b"FOO")]),
        ("lowercase-method", [get(b"/", method=b"get")]),
        ("malformed-request-line", [b"GET /\r\n"]),
        ("malformed-http09-crlf2", [b"GET /\r\n\r\n"]),
        ("malformed-garbage", [b"GARBAGE\r\n\r\n"]),
        ("malformed-extra-token", [b"GET / HTTP/1.1 extra\r\nHost: " + H + b"\r\n\r\n"]),
        ("bad-version-9", [b"GET / HTTP/9.9\r\nHost: " + H + b"\r\n\r\n"]),
        ("bad-version-2", [b"GET / HTTP/2.0\r\nHost: " + H + b"\r\n\r\n"]),
        ("binary-tls-hello", [bytes.fromhex("16030100a5010000a10303") + b"\x00" * 32 + b"\r\n\r\n"]),
        ("header-10k", [get(b"/", b"X-Long: " + b"A" * 10240 + b"\r\n")]),
        ("header-200", [get(b"/", b"".join(b"X-H%d: v\r\n" % i for i in range(200)))]),
        ("header-no-colon", [get(b"/", b"BrokenHeaderLine\r\n")]),
        ("uri-10000", [get(b"/" + b"a" * 10000)]),
        ("traversal-raw", [get(b"/../../etc/passwd")]),
        ("traversal-encoded", [get(b"/%2e%2e/%2e%2e/etc/passwd")]),
        ("traversal-icons", [get(b"/icons/../../../../etc/passwd")]),
        ("traversal-cgi-cve-2021-41773", [get(b"/cgi-bin/.%2e/.%2e/.%2e/.%2e/etc/passwd")]),
        ("traversal-icons-cve-2021-41773", [get(b"/icons/.%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd")]),
        ("traversal-double-encoded", [get(b"/%252e%252e/%252e%252e/etc/passwd")]),
        ("encoded-slash", [get(b"/foo%2fbar")]),
        ("null-byte", [get(b"/index.html%00.txt")]),
        ("query-string-404", [get(b"/nonexistent?a=<script>alert(1)</script>")]),
        ("absolute-uri", [b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n" + UA + b"\r\n"]),
        ("connect", [b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n" + UA + b"\r\n"]),
        ("keepalive-pair", [get(b"/"), get(b"/nonexistent", b"Connection: close\r\n")]),
        ("keepalive-pair-explicit", [get(b"/", b"Connection: keep-alive\r\n"),
                                     get(b"/nonexistent", b"Connection: keep-alive\r\n"),
                                     get(b"/", b"Connection: close\r\n")]),
        ("get-root-keepalive", [get(b"/", b"Connection: keep-alive\r\n")]),
        ("keepalive-http10", [b"GET / HTTP/1.0\r\nHost: " + H + b"\r\nConnection: keep-alive\r\n\r\n"]),
        ("range-0-10", [get(b"/", b"Range: bytes=0-10\r\n")]),
        ("range-multi", [get(b"/", b"Range: bytes=0-1,5-6\r\n")]),
        ("range-unsatisfiable", [get(b"/", b"Range: bytes=999999-\r\n")]),
        ("trace-root", [get(b"/", b"X-Trace-Probe: 1\r\n", method=b"TRACE")]),
        ("track-root", [get(b"/", method=b"TRACK")]),
        # nmap -sV probes (nmap-service-probes): the responses nmap fingerprints
        ("nmap-genericlines", [b"\r\n\r\n"]),
        ("nmap-getrequest", [b"GET / HTTP/1.0\r\n\r\n"]),
        ("nmap-httpoptions", [b"OPTIONS / HTTP/1.0\r\n\r\n"]),
        ("nmap-rtsprequest", [b"OPTIONS / RTSP/1.0\r\n\r\n"]),
        ("nmap-fourohfour", [b"GET /nice%20ports%2C/Tri%6Eity.txt%2ebak HTTP/1.0\r\n\r\n"]),
        ("expect-100", [b"POST / HTTP/1.1\r\nHost: " + H + b"\r\n" + UA +
                        b"Content-Length: 4\r\nExpect: 100-continue\r\n\r\n"]),
    ]
    if product == "apache":
        c += [
            ("icons-no-slash", [get(b"/icons")]),
            ("dir-no-slash", [get(b"/dir")]),
            ("dir-no-slash-query", [get(b"/dir?x=1")]),
            ("dir-with-slash-autoindex", [get(b"/dir/")]),
            ("icons-small-dir", [get(b"/icons/small/")]),
            ("icons-readme", [get(b"/icons/README")]),
            ("icons-png", [get(b"/icons/apache_pb.png", method=b"HEAD")]),
            ("dir-no-slash-http10", [b"GET /dir HTTP/1.0\r\n\r\n"]),
        ]
    if product == "nginx":
        c += [
            ("dir-no-slash", [get(b"/dir")]),
            ("dir-no-slash-query", [get(b"/dir?x=1")]),
            ("dir-no-slash-http10", [b"GET /dir HTTP/1.0\r\n\r\n"]),
            ("dir-with-slash-noindex", [get(b"/dir/")]),
        ]
    if product == "tomcat":
        auth = b"Authorization: Basic " + base64.b64encode(b"admin:wrongpass") + b"\r\n"
        c = [
            ("get-root", [get(b"/")]),
            ("head-root", [get(b"/", method=b"HEAD")]),
            ("get-nonexistent", [get(b"/nonexistent")]),
            ("manager-html", [get(b"/manager/html")]),
            ("manager-html-wrongauth", [get(b"/manager/html", auth)]),
            ("manager-status", [get(b"/manager/status")]),
            ("manager-text", [get(b"/manager/text/list")]),
            ("manager-no-slash", [get(b"/manager")]),
            ("host-manager-html", [get(b"/host-manager/html")]),
            ("docs", [get(b"/docs/")]),
            ("examples", [get(b"/examples/")]),
            ("options-star", [b"OPTIONS * HTTP/1.1\r\nHost: " + H + b"\r\n" + UA + b"\r\n"]),
            ("options-root", [get(b"/", method=b"OPTIONS")]),
            ("trace-root", [get(b"/", method=b"TRACE")]),
            ("invalid-method", [get(b"/", method=b"FOO")]),
            ("http10-nohost", [b"GET / HTTP/1.0\r\n\r\n"]),
            ("http11-nohost", [b"GET / HTTP/1.1\r\n" + UA + b"\r\n"]),
            ("malformed-request-line", [b"GET /\r\n"]),
            ("header-10k", [get(b"/", b"X-Long: " + b"A" * 10240 + b"\r\n")]),
            ("uri-10000", [get(b"/" + b"a" * 10000)]),
            ("traversal-encoded", [get(b"/%2e%2e/%2e%2e/etc/passwd")]),
            ("post-root", [b"POST / HTTP/1.1\r\nHost: " + H + b"\r\n" + UA +
                           b"Content-Type: application/x-www-form-urlencoded\r\n"
                           b"Content-Length: " + str(len(form)).encode() + b"\r\n\r\n" + form]),
            ("keepalive-pair", [get(b"/"), get(b"/nonexistent", b"Connection: close\r\n")]),
        ]
    return c, get


def main():
    product, host, port, outdir = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    hostport = "%s:%d" % ("localhost", port)
    cases, get = build_cases(product, hostport)
    index = []

    def run(name, reqs):
        req, resp, state = exchange(host, port, reqs)
        with open("%s/%s.request" % (outdir, name), "wb") as f:
            f.write(req)
        with open("%s/%s.http" % (outdir, name), "wb") as f:
            f.write(resp)
        if not resp:
            first = "(no bytes)"
        elif resp.startswith(b"HTTP/"):
            first = resp.split(b"\r\n", 1)[0][:80].decode("latin-1")
        else:
            first = "(no status line: raw body) " + repr(resp[:40])[2:-1]
        index.append("%s\t%s\t%d\t%s" % (name, first, len(resp), state))
        print(index[-1], flush=True)
        return resp

    root = b""
    for name, reqs in cases:
        resp = run(name, reqs)
        if name == "get-root":
            root = resp
        time.sleep(0.05)

    # Conditional requests need the validators of the real root resource.
    if root:
        hdrs = dict(_parse_headers(root.split(b"\r\n\r\n", 1)[0])[1])
        if b"last-modified" in hdrs:
            run("if-modified-since", [get(b"/", b"If-Modified-Since: " + hdrs[b"last-modified"] + b"\r\n")])
        if b"etag" in hdrs:
            run("if-none-match", [get(b"/", b"If-None-Match: " + hdrs[b"etag"] + b"\r\n")])
            run("if-range-match", [get(b"/", b"Range: bytes=0-10\r\nIf-Range: " + hdrs[b"etag"] + b"\r\n")])

    with open("%s/INDEX.tsv" % outdir, "w") as f:
        f.write("name\tfirst_line\tbytes\tconnection\n" + "\n".join(index) + "\n")


if __name__ == "__main__":
    main()
