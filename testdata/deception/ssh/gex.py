#!/usr/bin/env python3
"""Ask an SSH server for Diffie-Hellman group-exchange groups (RFC 4419).

Usage:
    python3 gex.py HOST PORT MIN N MAX [--tries K] [--kex NAME] [--timeout S]

Standard library only. For each try it opens a connection, exchanges
identification lines and KEXINITs (offering only the one group-exchange KEX
method, default diffie-hellman-group-exchange-sha256), sends
SSH_MSG_KEX_DH_GEX_REQUEST (34) with MIN/N/MAX and reads the reply. A reply of
SSH_MSG_KEX_DH_GEX_GROUP (31) is parsed into the prime's bit length, the
generator and a SHA-256 of the prime (to count distinct primes); anything else
(SSH_MSG_DISCONNECT, a closed connection) is reported as it came. No DH
computation is done; the connection is closed after the reply.

Prints one JSON object: the request, per-try results and a summary
(bit lengths seen, generators seen, number of distinct primes).
"""

import argparse
import collections
import hashlib
import json
import os
import socket
import struct
import sys
import time

MSG_DISCONNECT = 1
MSG_KEXINIT = 20
MSG_KEX_DH_GEX_GROUP = 31
MSG_KEX_DH_GEX_REQUEST = 34

CLIENT_ID = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u7"

HOSTKEYS = ("ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,"
            "rsa-sha2-512,rsa-sha2-256,ssh-rsa")
CIPHERS = ("chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,"
           "aes128-gcm@openssh.com,aes256-gcm@openssh.com,aes128-cbc,aes256-cbc")
MACS = ("hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,"
        "hmac-sha2-256,hmac-sha2-512,hmac-sha1")
COMP = "none,zlib@openssh.com"


class ProtoError(Exception):
    pass


class Conn:
    def __init__(self, host, port, timeout):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""

    def _fill(self):
        try:
            d = self.sock.recv(65536)
        except socket.timeout:
            raise ProtoError("timeout")
        if not d:
            raise ProtoError("connection closed")
        self.buf += d

    def exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def line(self):
        while b"\n" not in self.buf:
            if len(self.buf) > 8192:
                raise ProtoError("line too long")
            self._fill()
        i = self.buf.index(b"\n")
        out, self.buf = self.buf[:i], self.buf[i + 1:]
        return out.rstrip(b"\r")

    def packet(self):
        plen, padlen = struct.unpack(">IB", self.exact(5))
        if plen < 5 or plen > 256 * 1024 or padlen >= plen:
            raise ProtoError("bad framing %d/%d" % (plen, padlen))
        body = self.exact(plen - 1)
        return body[:plen - 1 - padlen]

    def send(self, payload):
        padlen = 8 - ((5 + len(payload)) % 8)
        if padlen < 4:
            padlen += 8
        self.sock.sendall(struct.pack(">IB", 1 + len(payload) + padlen, padlen)
                          + payload + b"\0" * padlen)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def sstr(b):
    return struct.pack(">I", len(b)) + b


def get_string(p, off):
    (n,) = struct.unpack(">I", p[off:off + 4])
    if off + 4 + n > len(p):
        raise ProtoError("truncated string")
    return p[off + 4:off + 4 + n], off + 4 + n


def mpint(b):
    return int.from_bytes(b, "big", signed=True) if b else 0


def describe_disconnect(p):
    reason = struct.unpack(">I", p[1:5])[0]
    desc, off = get_string(p, 5)
    lang = b""
    if off < len(p):
        lang, _ = get_string(p, off)
    return {"type": "disconnect", "reason": reason,
            "description": desc.decode("utf-8", "replace"),
            "language": lang.decode("utf-8", "replace")}


def one_try(host, port, mn, n, mx, kex, timeout):
    c = Conn(host, port, timeout)
    try:
        c.sock.sendall(CLIENT_ID + b"\r\n")
        while True:
            ln = c.line()
            if ln.startswith(b"SSH-"):
                break
        banner = ln.decode("latin-1")
        kexinit = bytes([MSG_KEXINIT]) + os.urandom(16)
        for nl in (kex, HOSTKEYS, CIPHERS, CIPHERS, MACS, MACS, COMP, COMP, "", ""):
            kexinit += sstr(nl.encode())
        kexinit += b"\0\0\0\0\0"
        c.send(kexinit)
        p = c.packet()
        if p[0] == MSG_DISCONNECT:
            return dict(describe_disconnect(p), stage="kexinit", banner=banner)
        if p[0] != MSG_KEXINIT:
            raise ProtoError("expected KEXINIT, got %d" % p[0])
        t0 = time.monotonic()
        c.send(bytes([MSG_KEX_DH_GEX_REQUEST]) + struct.pack(">III", mn, n, mx))
        try:
            p = c.packet()
        except ProtoError as e:
            return {"type": "error", "error": str(e), "stage": "gex_request",
                    "ms": round((time.monotonic() - t0) * 1000, 1)}
        ms = round((time.monotonic() - t0) * 1000, 1)
        if p[0] == MSG_DISCONNECT:
            return dict(describe_disconnect(p), stage="gex_request", ms=ms)
        if p[0] != MSG_KEX_DH_GEX_GROUP:
            return {"type": "unexpected", "msg": p[0], "ms": ms}
        pb, off = get_string(p, 1)
        gb, off = get_string(p, off)
        prime, gen = mpint(pb), mpint(gb)
        return {"type": "group", "bits": prime.bit_length(), "generator": gen,
                "prime_sha256": hashlib.sha256(pb).hexdigest()[:16], "ms": ms}
    finally:
        c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("min", type=int)
    ap.add_argument("n", type=int)
    ap.add_argument("max", type=int)
    ap.add_argument("--tries", type=int, default=20)
    ap.add_argument("--kex", default="diffie-hellman-group-exchange-sha256")
    ap.add_argument("--timeout", type=float, default=15.0)
    a = ap.parse_args()
    results = []
    for _ in range(a.tries):
        try:
            results.append(one_try(a.host, a.port, a.min, a.n, a.max, a.kex, a.timeout))
        except (ProtoError, OSError) as e:
            results.append({"type": "error", "error": str(e)})
    groups = [r for r in results if r.get("type") == "group"]
    summary = {
        "request": {"min": a.min, "n": a.n, "max": a.max},
        "tries": a.tries,
        "replies": dict(collections.Counter(r["type"] for r in results)),
        "bits": dict(collections.Counter(r["bits"] for r in groups)),
        "generators": dict(collections.Counter(r["generator"] for r in groups)),
        "distinct_primes": len({r["prime_sha256"] for r in groups}),
        "other": [r for r in results if r.get("type") != "group"][:3],
    }
    print(json.dumps({"summary": summary, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
