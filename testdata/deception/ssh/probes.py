#!/usr/bin/env python3
"""Pre-authentication probes: what an SSH server sends back to odd clients.

Usage:
    python3 probes.py HOST PORT [--grace] [--only NAME[,NAME...]]

Standard library only. Each probe opens a fresh connection, does one odd
thing and records everything the server sends until it closes the
connection (or a per-probe timeout passes): the raw bytes (hex and printable),
the identification line, and a decoded SSH_MSG_DISCONNECT if one can be parsed
from an unencrypted packet. Also the time until the server closed.

Probes:
  garbage_line     sends "GET / HTTP/1.0\\r\\n\\r\\n" instead of an identification line
  ssh1_ident       sends "SSH-1.5-Probe\\r\\n"
  ssh199_ident     sends "SSH-1.99-Probe\\r\\n" (should be accepted as 2.0)
  nul_in_ident     sends "SSH-2.0-Pro\\0be\\r\\n"
  long_ident       sends an identification line of 300 bytes
  bad_packet_len   valid ident, then 0xffffffff as the first packet length
  non_kexinit      valid ident, then an SSH_MSG_IGNORE as the first packet
                   (strict KEX: must be rejected by OpenSSH >= 9.6 / patched builds
                   only when the client also offered kex-strict-c; here it is not)
  non_kexinit_strict  same, but after sending a KEXINIT that offers kex-strict-c-v00
  close_after_ident   valid ident then nothing: records nothing (server waits); 15 s cap
  grace            (only with --grace) connect, read the banner, send nothing, and
                   wait up to 200 s for the server to drop the connection
                   (LoginGraceTime, 120 s by default)
"""

import argparse
import json
import os
import socket
import struct
import sys
import time

IDENT = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u7\r\n"


def sstr(b):
    return struct.pack(">I", len(b)) + b


def packet(payload):
    padlen = 8 - ((5 + len(payload)) % 8)
    if padlen < 4:
        padlen += 8
    return struct.pack(">IB", 1 + len(payload) + padlen, padlen) + payload + b"\0" * padlen


def client_kexinit(strict):
    kex = "curve25519-sha256,ext-info-c"
    if strict:
        kex += ",kex-strict-c-v00@openssh.com"
    lists = [kex, "ssh-ed25519,rsa-sha2-512,rsa-sha2-256,ecdsa-sha2-nistp256",
             "aes128-ctr", "aes128-ctr", "hmac-sha2-256", "hmac-sha2-256",
             "none", "none", "", ""]
    p = bytes([20]) + os.urandom(16)
    for nl in lists:
        p += sstr(nl.encode())
    return packet(p + b"\0\0\0\0\0")


def collect(sock, timeout):
    sock.settimeout(0.5)
    data = b""
    t0 = time.monotonic()
    closed = False
    while time.monotonic() - t0 < timeout:
        try:
            d = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            closed = "reset"
            break
        if not d:
            closed = "fin"
            break
        data += d
    return data, closed, round(time.monotonic() - t0, 3)


def parse_after_ident(data):
    """Split off the identification line and decode unencrypted packets."""
    out = {}
    i = data.find(b"\n")
    if data.startswith(b"SSH-") and i >= 0:
        out["ident"] = data[:i + 1].decode("latin-1")
        rest = data[i + 1:]
    else:
        rest = data
    pkts = []
    while len(rest) >= 5:
        plen, padlen = struct.unpack(">IB", rest[:5])
        if plen > 65536 or len(rest) < 4 + plen:
            break
        payload = rest[5:5 + plen - 1 - padlen]
        rest = rest[4 + plen:]
        if not payload:
            continue
        msg = payload[0]
        if msg == 1:
            reason = struct.unpack(">I", payload[1:5])[0]
            (dl,) = struct.unpack(">I", payload[5:9])
            desc = payload[9:9 + dl].decode("utf-8", "replace")
            lang = b""
            if len(payload) >= 13 + dl:
                (ll,) = struct.unpack(">I", payload[9 + dl:13 + dl])
                lang = payload[13 + dl:13 + dl + ll]
            pkts.append({"msg": 1, "reason": reason, "description": desc,
                         "language": lang.decode("latin-1")})
        else:
            pkts.append({"msg": msg, "len": len(payload)})
    out["packets"] = pkts
    if rest:
        out["trailing_unparsed"] = rest[:200].decode("latin-1")
    return out


def run(host, port, name, send_steps, timeout):
    s = socket.create_connection((host, port), timeout=10)
    try:
        t0 = time.monotonic()
        for step in send_steps:
            if step == "read_ident":
                buf = b""
                s.settimeout(10)
                while b"\n" not in buf:
                    d = s.recv(4096)
                    if not d:
                        break
                    buf += d
                pre = buf
            else:
                s.sendall(step)
        data, closed, secs = collect(s, timeout)
        total = round(time.monotonic() - t0, 3)
    finally:
        s.close()
    allbytes = (pre if "read_ident" in send_steps else b"") + data
    res = {"probe": name, "closed": closed, "seconds_until_close": total if closed else None,
           "bytes": len(allbytes), "printable": allbytes[:600].decode("latin-1"),
           "hex_head": allbytes[:160].hex()}
    res.update(parse_after_ident(allbytes))
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--grace", action="store_true")
    ap.add_argument("--only")
    a = ap.parse_args()
    probes = {
        "garbage_line": ([b"GET / HTTP/1.0\r\n\r\n"], 15),
        "ssh1_ident": ([b"SSH-1.5-Probe\r\n"], 15),
        "ssh199_ident": ([b"SSH-1.99-Probe\r\n"], 5),
        "nul_in_ident": ([b"SSH-2.0-Pro\0be\r\n"], 15),
        "long_ident": ([b"SSH-2.0-" + b"A" * 292 + b"\r\n"], 15),
        "bad_packet_len": ([IDENT, b"\xff\xff\xff\xff" + b"\0" * 12], 15),
        "non_kexinit": ([IDENT, packet(b"\x02" + sstr(b"x"))], 5),
        "non_kexinit_strict": ([IDENT, client_kexinit(True), packet(b"\x02" + sstr(b"x"))], 10),
        "close_after_ident": ([IDENT], 15),
    }
    if a.grace:
        probes = {"grace": (["read_ident"], 200)}
    if a.only:
        probes = {k: v for k, v in probes.items() if k in a.only.split(",")}
    results = []
    for name, (steps, timeout) in probes.items():
        try:
            results.append(run(a.host, a.port, name, steps, timeout))
        except OSError as e:
            results.append({"probe": name, "error": str(e)})
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    sys.exit(main())
