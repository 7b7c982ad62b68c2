#!/usr/bin/env python3
"""Fetch an SSH server's identification line and SSH_MSG_KEXINIT, print them as JSON.

Usage:
    python3 kexinit.py HOST PORT [--timeout SECONDS] [--client-id ID]
                                 [--no-client-kexinit] [--compact]

Standard library only. It connects, reads the server's identification line
(skipping any lines the server sends before it, RFC 4253 section 4.2), sends
its own identification line, reads the first binary packet (which must be an
unencrypted SSH_MSG_KEXINIT, message 20), optionally answers with a client
KEXINIT, and disconnects without doing any key exchange.

The JSON it prints holds the ten name-lists in wire order, the flags after
them, framing facts of the packet (packet length, padding length, whether the
padding bytes are all zero: OpenSSH zeroes the padding of unencrypted packets)
and HASSHServer as defined by salesforce/hassh:

    hasshServerAlgorithms = kex_algorithms;encryption_algorithms_server_to_client;
                            mac_algorithms_server_to_client;
                            compression_algorithms_server_to_client
    hasshServer = md5(hasshServerAlgorithms)

Exit status: 0 on success, 2 on a protocol or network error (a JSON object
with an "error" key is printed on stdout in that case too).

It can also be imported: fetch_kexinit(host, port) returns the same dict.
"""

import argparse
import hashlib
import json
import os
import socket
import struct
import sys
import time

SSH_MSG_DISCONNECT = 1
SSH_MSG_KEXINIT = 20

NAME_LISTS = (
    "kex_algorithms",
    "server_host_key_algorithms",
    "encryption_algorithms_client_to_server",
    "encryption_algorithms_server_to_client",
    "mac_algorithms_client_to_server",
    "mac_algorithms_server_to_client",
    "compression_algorithms_client_to_server",
    "compression_algorithms_server_to_client",
    "languages_client_to_server",
    "languages_server_to_client",
)

# RFC 4253 6.1: implementations must support packets of 35000 bytes.
MAX_PACKET = 256 * 1024
# RFC 4253 4.2: identification line at most 255 bytes including CR LF.
MAX_LINE = 8192
MAX_PRE_BANNER_LINES = 1024

DEFAULT_CLIENT_ID = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u7"

# A client KEXINIT offering everything commonly deployed, so that a server
# which insists on reading one before it answers gets it.
CLIENT_KEXINIT_LISTS = (
    "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,"
    "ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,"
    "diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,"
    "diffie-hellman-group14-sha256,diffie-hellman-group14-sha1,ext-info-c",
    "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,"
    "rsa-sha2-512,rsa-sha2-256,ssh-rsa",
    "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,"
    "aes128-gcm@openssh.com,aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,"
    "aes128-gcm@openssh.com,aes256-gcm@openssh.com",
    "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,"
    "hmac-sha2-256,hmac-sha2-512,hmac-sha1",
    "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,"
    "hmac-sha2-256,hmac-sha2-512,hmac-sha1",
    "none,zlib@openssh.com",
    "none,zlib@openssh.com",
    "",
    "",
)


class ProtocolError(Exception):
    pass


class _Reader:
    """Buffered reads from a socket with an overall deadline."""

    def __init__(self, sock, deadline):
        self.sock = sock
        self.deadline = deadline
        self.buf = b""

    def _fill(self):
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise ProtocolError("timed out")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise ProtocolError("timed out")
        if not chunk:
            raise ProtocolError("connection closed by server")
        self.buf += chunk

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_line(self):
        """One line ending in LF (CR LF accepted); returns bytes without the EOL."""
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 1:]
                return line[:-1] if line.endswith(b"\r") else line
            if len(self.buf) > MAX_LINE:
                raise ProtocolError("identification line too long")
            self._fill()


def _name_list(payload, off):
    if off + 4 > len(payload):
        raise ProtocolError("truncated name-list length")
    (n,) = struct.unpack(">I", payload[off:off + 4])
    off += 4
    if off + n > len(payload):
        raise ProtocolError("truncated name-list")
    raw = payload[off:off + n]
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise ProtocolError("non-ASCII name-list")
    return (text.split(",") if text else []), off + n


def _ssh_string(b):
    return struct.pack(">I", len(b)) + b


def _packet(payload, block=8):
    # Unencrypted framing: padding >= 4, total a multiple of max(8, block).
    padlen = block - ((5 + len(payload)) % block)
    if padlen < 4:
        padlen += block
    return struct.pack(">IB", 1 + len(payload) + padlen, padlen) + payload + b"\0" * padlen


def build_client_kexinit():
    payload = bytes([SSH_MSG_KEXINIT]) + os.urandom(16)
    for nl in CLIENT_KEXINIT_LISTS:
        payload += _ssh_string(nl.encode("ascii"))
    payload += b"\0" + b"\0\0\0\0"
    return _packet(payload)


def parse_kexinit(payload):
    """Parse an SSH_MSG_KEXINIT payload (message byte included)."""
    if not payload or payload[0] != SSH_MSG_KEXINIT:
        raise ProtocolError("not a KEXINIT payload")
    if len(payload) < 17:
        raise ProtocolError("truncated KEXINIT")
    out = {"cookie_hex": payload[1:17].hex()}
    off = 17
    for name in NAME_LISTS:
        out[name], off = _name_list(payload, off)
    if off + 5 > len(payload):
        raise ProtocolError("truncated KEXINIT trailer")
    out["first_kex_packet_follows"] = bool(payload[off])
    (out["reserved"],) = struct.unpack(">I", payload[off + 1:off + 5])
    out["trailing_bytes"] = len(payload) - (off + 5)
    return out


def hassh_server(kex):
    algs = ";".join([
        ",".join(kex["kex_algorithms"]),
        ",".join(kex["encryption_algorithms_server_to_client"]),
        ",".join(kex["mac_algorithms_server_to_client"]),
        ",".join(kex["compression_algorithms_server_to_client"]),
    ])
    return algs, hashlib.md5(algs.encode("ascii")).hexdigest()


def hassh_client_style(kex):
    """HASSH computed over the c2s lists (what hassh calls the client fingerprint)."""
    algs = ";".join([
        ",".join(kex["kex_algorithms"]),
        ",".join(kex["encryption_algorithms_client_to_server"]),
        ",".join(kex["mac_algorithms_client_to_server"]),
        ",".join(kex["compression_algorithms_client_to_server"]),
    ])
    return algs, hashlib.md5(algs.encode("ascii")).hexdigest()


def fetch_kexinit(host, port, timeout=10.0, client_id=DEFAULT_CLIENT_ID,
                  send_client_kexinit=True):
    deadline = time.monotonic() + timeout
    t0 = time.monotonic()
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    try:
        rd = _Reader(sock, deadline)
        # Send our identification right away (OpenSSH clients do the same;
        # OpenSSH's sshd sends its own without waiting for ours).
        sock.sendall(client_id.encode("ascii") + b"\r\n")
        pre = []
        while True:
            line = rd.read_line()
            if line.startswith(b"SSH-"):
                break
            pre.append(line.decode("latin-1"))
            if len(pre) > MAX_PRE_BANNER_LINES:
                raise ProtocolError("no identification line")
        banner = line.decode("latin-1")
        t_banner = time.monotonic()

        header = rd.read_exact(5)
        packet_length, padding_length = struct.unpack(">IB", header)
        if packet_length < 5 or packet_length > MAX_PACKET:
            raise ProtocolError("implausible packet length %d" % packet_length)
        body = rd.read_exact(packet_length - 1)
        if padding_length < 4 or padding_length >= packet_length:
            raise ProtocolError("bad padding length %d" % padding_length)
        payload = body[:packet_length - 1 - padding_length]
        padding = body[packet_length - 1 - padding_length:]
        if payload and payload[0] == SSH_MSG_DISCONNECT:
            reason = struct.unpack(">I", payload[1:5])[0] if len(payload) >= 5 else None
            raise ProtocolError("server sent DISCONNECT reason=%r %r" % (reason, payload[9:]))
        out = {"host": host, "port": int(port), "banner": banner,
               "pre_banner_lines": pre}
        out.update(parse_kexinit(payload))
        out["packet_length"] = packet_length
        out["padding_length"] = padding_length
        out["padding_all_zero"] = not any(padding)
        out["packet_total_length_mod_8"] = (4 + packet_length) % 8
        out["seconds_to_banner"] = round(t_banner - t0, 6)
        out["seconds_to_kexinit"] = round(time.monotonic() - t0, 6)
        if send_client_kexinit:
            try:
                sock.sendall(build_client_kexinit())
            except OSError:
                pass
        out["hasshServerAlgorithms"], out["hasshServer"] = hassh_server(out)
        out["hasshC2SAlgorithms"], out["hasshC2S"] = hassh_client_style(out)
        out["ext_info_s"] = "ext-info-s" in out["kex_algorithms"]
        out["kex_strict_s"] = "kex-strict-s-v00@openssh.com" in out["kex_algorithms"]
        return out
    finally:
        try:
            sock.close()
        except OSError:
            pass


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--client-id", default=DEFAULT_CLIENT_ID,
                    help="identification line to send (without CR LF)")
    ap.add_argument("--no-client-kexinit", action="store_true",
                    help="do not send a client KEXINIT after reading the server's")
    ap.add_argument("--compact", action="store_true", help="one-line JSON")
    args = ap.parse_args(argv)
    try:
        out = fetch_kexinit(args.host, args.port, args.timeout, args.client_id,
                            not args.no_client_kexinit)
        rc = 0
    except (ProtocolError, OSError) as e:
        out = {"host": args.host, "port": args.port, "error": str(e)}
        rc = 2
    if args.compact:
        print(json.dumps(out, sort_keys=False))
    else:
        print(json.dumps(out, indent=2, sort_keys=False))
    return rc


if __name__ == "__main__":
    sys.exit(main())
