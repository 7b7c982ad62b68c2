#!/usr/bin/env python3
"""Record the explicit-FTPS (AUTH TLS) behaviour of a real vsftpd 3.0.3 (Debian 12).

Companion of capture.py (same line format, same Session helper, imported from
it).  The control connection is a raw socket that is switched to TLS after the
`234` reply; TLS is done with ssl.MemoryBIO so that every raw byte stays
visible: if the server writes *plaintext* on a connection the client has
already wrapped, the bytes are shown as S:/D: lines with a comment instead of
being lost in an SSLError.  Closing is classified as "TLS close_notify" or
"TCP FIN without close_notify".

Needs two instances (see NOTES.md "Explicit FTPS"):
  vsftpd vsftpd-tls.conf          (127.0.0.1:2196, TLS optional, allow_anon_ssl=YES)
  vsftpd vsftpd-tls-forced.conf   (127.0.0.1:2195, SSL defaults: force_local_*_ssl=YES)
and the local user ftptest/ftptest (as for capture.py) plus /tmp/ftpanon.

Output (into --out, default: the directory of this script):
  tls.txt                 raw-socket captures (C:/S:/D:/# format of capture.py)
  raw-replies-tls.json    every exchange as Python byte reprs + timings
  tls-openssl.txt         openssl s_client runs (versions, ciphers, tickets, ALPN)   [--tools]
  tls-clients.txt         lftp and curl runs against the optional-TLS instance        [--tools]
  nmap-tls.txt            nmap -sV -sC and ssl-enum-ciphers                            [--tools]

Usage:
  python3 capture_tls.py --port 2196 --forced-port 2195 [--tools] [--slow]
--slow adds "AUTH TLS then silence" (waits up to 330 s in a background thread).
Safety: connects only to --host (loopback).
"""
import argparse
import warnings
import hashlib
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capture  # noqa: E402  (Session, write)
from capture import Session, write  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning)  # ssl.TLSVersion.TLSv1 on purpose
RAW = {}
capture.RAW = RAW  # Session() records into capture.RAW -> our dict

CERT_NOTE = "server cert: self-signed RSA-2048, subject CN=localhost (/tmp/ftps/vsftpd-tls.pem)"


def client_ctx(minv=None, maxv=None, ciphers=None, suites=None, alpn=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if minv:
        ctx.minimum_version = minv
    if maxv:
        ctx.maximum_version = maxv
    if ciphers:
        ctx.set_ciphers(ciphers)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


ALERTS = {0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 40: "handshake_failure",
          42: "bad_certificate", 47: "illegal_parameter", 50: "decode_error", 51: "decrypt_error",
          70: "protocol_version", 71: "insufficient_security", 80: "internal_error",
          86: "inappropriate_fallback", 90: "user_canceled", 109: "missing_extension",
          112: "unrecognized_name", 116: "certificate_required", 120: "no_application_protocol"}


def split_tls(raw):
    """Split raw bytes into TLS records; return (descriptions, trailing non-TLS bytes)."""
    desc, i = [], 0
    while i + 5 <= len(raw) and raw[i] in (20, 21, 22, 23) and raw[i + 1] == 3:
        ln = int.from_bytes(raw[i + 3:i + 5], "big")
        if i + 5 + ln > len(raw):
            break
        body = raw[i + 5:i + 5 + ln]
        if raw[i] == 21 and ln == 2:
            desc.append("alert(level %d, %s(%d)) [record version 3,%d]" % (
                body[0], ALERTS.get(body[1], "?"), body[1], raw[i + 2]))
        else:
            desc.append({20: "change_cipher_spec", 22: "handshake", 23: "application_data"}[raw[i]]
                        + "(%d bytes) [record version 3,%d]" % (ln, raw[i + 2]))
        i += 5 + ln
    return desc, raw[i:]


GROUPS = {23: "secp256r1", 24: "secp384r1", 25: "secp521r1", 29: "x25519", 30: "x448",
          256: "ffdhe2048", 257: "ffdhe3072"}
EXTS = {0: "server_name", 5: "status_request", 10: "supported_groups", 11: "ec_point_formats",
        13: "signature_algorithms", 16: "alpn", 22: "encrypt_then_mac", 23: "extended_master_secret",
        35: "session_ticket", 41: "pre_shared_key", 43: "supported_versions", 45: "psk_key_exchange_modes",
        51: "key_share", 65281: "renegotiation_info"}
HS = {1: "ClientHello", 2: "ServerHello", 4: "NewSessionTicket", 8: "EncryptedExtensions",
      11: "Certificate", 12: "ServerKeyExchange", 13: "CertificateRequest", 14: "ServerHelloDone",
      15: "CertificateVerify", 20: "Finished"}
HRR_RANDOM = bytes.fromhex("CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C")


def _describe_hs(t, m):
    name = HS.get(t, "type%d" % t)
    if t == 2:
        rnd = m[2:34]
        sl = m[34]
        k = 35 + sl
        cs = int.from_bytes(m[k:k + 2], "big")
        k += 3
        exts = []
        if k + 2 <= len(m):
            el = int.from_bytes(m[k:k + 2], "big")
            k += 2
            end = k + el
            while k + 4 <= end:
                et, eln = int.from_bytes(m[k:k + 2], "big"), int.from_bytes(m[k + 2:k + 4], "big")
                ed = m[k + 4:k + 4 + eln]
                k += 4 + eln
                desc = EXTS.get(et, str(et))
                if et == 43:
                    desc += "=0x%04x" % int.from_bytes(ed[:2], "big")
                elif et == 51:
                    desc += "=%s" % GROUPS.get(int.from_bytes(ed[:2], "big"), ed[:2].hex())
                elif et == 11:
                    desc += "=%s" % ed.hex()
                exts.append(desc)
        name = "%s(legacy_version 0x%s, session_id %d bytes, cipher 0x%04x, extensions [%s])" % (
            "HelloRetryRequest" if rnd == HRR_RANDOM else "ServerHello", m[:2].hex(), sl, cs, ", ".join(exts))
    elif t == 11:
        name += "(%d bytes)" % len(m)
    elif t == 12 and m[:1] == b"\x03":
        name += "(ECDHE group %s)" % GROUPS.get(int.from_bytes(m[1:3], "big"), m[1:3].hex())
    elif t == 13:
        nct = m[0]
        k = 1 + nct
        sal = int.from_bytes(m[k:k + 2], "big")
        k += 2 + sal
        cal = int.from_bytes(m[k:k + 2], "big")
        name += "(cert types %s, %d sig algs, CA names %d bytes)" % (m[1:1 + nct].hex(), sal // 2, cal)
    elif t == 4:
        name += "(lifetime hint %d s, %d bytes)" % (int.from_bytes(m[:4], "big"), len(m))
    return name


def describe_server_flight(raw):
    """Decode, in order, the plaintext part of what the server sent during a handshake."""
    out, i, hs = [], 0, b""
    tls13 = False
    ccs = False
    while i + 5 <= len(raw):
        typ, ln = raw[i], int.from_bytes(raw[i + 3:i + 5], "big")
        body = raw[i + 5:i + 5 + ln]
        i += 5 + ln
        if typ == 20:
            out.append("ChangeCipherSpec")
            ccs = True
        elif typ == 23 or (typ == 22 and ccs and not tls13):
            out.append("encrypted(%d bytes)" % ln)
        elif typ == 21:
            out.append("alert %s" % body.hex())
        elif typ == 22:
            hs += body
            while len(hs) >= 4 and len(hs) >= 4 + int.from_bytes(hs[1:4], "big"):
                t, ln2 = hs[0], int.from_bytes(hs[1:4], "big")
                m, hs = hs[4:4 + ln2], hs[4 + ln2:]
                d = _describe_hs(t, m)
                if "supported_versions=0x0304" in d:
                    tls13 = True
                out.append(d)
    return "; ".join(out)


class TLSWrap:
    """Socket-like TLS client over a plain socket, via MemoryBIO."""

    def __init__(self, sock, ctx, session=None):
        self.sock = sock
        self.inc = ssl.MemoryBIO()
        self.outb = ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.outb, server_side=False,
                                server_hostname="localhost", session=session)
        self.notes = []
        self.plain = False      # server fell back to plaintext on this socket
        self.unread = []        # raw chunks fed since the last good read
        self.close_kind = None
        self.rawall = []

    def settimeout(self, t):
        self.sock.settimeout(t)

    def _flush(self):
        data = self.outb.read()
        if data:
            self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            self.inc.write_eof()
            return False
        self.unread.append(chunk)
        self.rawall.append(chunk)
        self.inc.write(chunk)
        return True

    def handshake(self):
        while True:
            try:
                self.obj.do_handshake()
                self._flush()
                self.unread = []
                return
            except ssl.SSLWantReadError:
                self._flush()
                self._fill()

    def recv(self, n):
        if self.plain:
            data = self.sock.recv(n)
            if data:
                self.notes.append("!! raw PLAINTEXT bytes received: %r" % data)
            return data
        while True:
            try:
                data = self.obj.read(n)
                self.unread = []
                self._flush()
                if not data:  # Python returns b"" (no exception) on a received close_notify
                    self.close_kind = "close_notify"
                    self.notes.append("(server sent a TLS close_notify alert)")
                return data
            except ssl.SSLWantReadError:
                self._flush()
                self._fill()
            except ssl.SSLZeroReturnError:
                self.close_kind = "close_notify"
                self.notes.append("(server sent a TLS close_notify alert)")
                return b""
            except ssl.SSLEOFError:
                self.close_kind = "fin"
                self.notes.append("(server closed TCP without a TLS close_notify)")
                return b""
            except ssl.SSLError as e:
                raw = b"".join(self.unread)
                self.unread = []
                recs, rest = split_tls(raw)
                if recs:
                    self.notes.append("TLS records in the failing read: " + ", ".join(recs))
                    raw = rest
                if raw and all(32 <= b < 127 or b in (13, 10) for b in raw):
                    self.plain = True
                    self.notes.append("!! client TLS error %s: the server wrote PLAINTEXT on the TLS-wrapped "
                                      "connection, raw bytes: %r" % (e.reason, raw))
                    return raw
                self.notes.append("client TLS error: %s; non-TLS bytes in that read: %r" % (e, raw[:200]))
                self.plain = True
                self.notes.append("(reading on as plaintext)")
                return self.recv(n)

    def sendall(self, data):
        if self.plain:
            self.notes.append("(client sent this through TLS anyway; the server had fallen back to plaintext)")
        try:
            self.obj.write(data)
        except ssl.SSLError as e:
            raise BrokenPipeError("TLS write failed: %s" % e)
        self._flush()

    def close_notify(self):
        try:
            self.obj.unwrap()
        except (ssl.SSLWantReadError, ssl.SSLError):
            pass
        try:
            self._flush()
        except OSError:
            pass

    def close(self):
        self.sock.close()

    def facts(self):
        c = self.obj.cipher()
        return "%s, cipher %s (%s bits), session reused: %s, ALPN: %s" % (
            self.obj.version(), c[0] if c else None, c[2] if c else None,
            self.obj.session_reused, self.obj.selected_alpn_protocol())


class TLSSession(Session):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.tls = None
        self.ctx = client_ctx()

    def connect(self, timeout=5.0):
        self.buf = b""
        self.closed = False
        self.tls = None
        return super().connect(timeout)

    def record(self, *a, **kw):
        super().record(*a, **kw)
        if isinstance(self.sock, TLSWrap):
            for n in self.sock.notes:
                self.c(n)
                self.raw.append({"note": n})
            self.sock.notes = []

    def starttls(self, ctx=None, quiet=False, describe=False):
        ctx = ctx or client_ctx()
        self.ctx = ctx
        if self.buf:
            self.c("!! %d unread bytes before the handshake: %r" % (len(self.buf), self.buf))
        w = TLSWrap(self.sock, ctx)
        t0 = time.monotonic()
        try:
            w.handshake()
        except (ssl.SSLError, OSError) as e:
            self.c("TLS handshake FAILED after %.2f s: %r" % (time.monotonic() - t0, e))
            raw = b"".join(w.rawall)
            recs, rest = split_tls(raw)
            self.c("raw bytes the server sent after 234: %d; TLS records: %s" % (
                len(raw), ", ".join(recs) or "none"))
            self.raw.append({"tls_handshake": "failed", "error": repr(e), "raw": repr(raw[:3000])})
            if rest:
                self.c("followed by %d non-TLS bytes (plaintext), shown as S: lines:" % len(rest))
                self.buf = rest
            self.sock = w.sock
            self.tls = None
            return False
        self.sock = w
        self.tls = w
        if not quiet:
            self.c("TLS handshake on the control connection: " + w.facts())
        if describe:
            self.c("server handshake messages: " + describe_server_flight(b"".join(w.rawall)))
        self.raw.append({"tls_handshake": w.facts(), "seconds": round(time.monotonic() - t0, 3)})
        return True

    def raw_drain(self, timeout=5.0, label="after that"):
        """Read raw bytes until the server closes (or timeout); show TLS records
        as comments and the plaintext remainder as S: lines."""
        t0 = time.monotonic()
        raw = self.buf
        self.buf = b""
        s = self.sock.sock if isinstance(self.sock, TLSWrap) else self.sock
        end = "timeout"
        while True:
            rem = timeout - (time.monotonic() - t0)
            if rem <= 0:
                break
            s.settimeout(rem)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                end = "reset"
                break
            if not chunk:
                end = "closed"
                break
            raw += chunk
        dt = time.monotonic() - t0
        recs, rest = split_tls(raw)
        self.raw.append({"raw_read": repr(raw), "seconds": round(dt, 3), "end": end})
        if recs:
            self.c("%s the server sent TLS record(s): %s" % (label, ", ".join(recs)))
        for l in rest.split(b"\n"):
            if not l:
                continue
            t = l.decode("latin-1")
            if t.endswith("\r"):
                self.out.append("S: " + t[:-1])
            else:
                self.out.append("S: " + t)
                self.c("^ no CRLF")
        if not raw:
            self.c("%s: no bytes from the server" % label)
        self.c({"timeout": "connection still open after %.1f s" % dt,
                "closed": "server closed the connection (%.2f s)" % dt,
                "reset": "connection reset by the server (%.2f s)" % dt}[end])
        self.closed = end != "timeout"

    def drain(self, timeout=5.0, label="then"):
        """Read whatever the server still sends until it closes or timeout."""
        if self.tls is None:
            return self.raw_drain(timeout, label)
        t0 = time.monotonic()
        while not self.closed:
            rem = timeout - (time.monotonic() - t0)
            if rem <= 0:
                break
            lines = self.more(timeout=rem)
            if lines == [None]:
                break
        self.c("(%.2f s after the last client action)" % (time.monotonic() - t0))

    def close(self):
        if self.sock:
            s = self.sock.sock if isinstance(self.sock, TLSWrap) else self.sock
            s.close()
            self.sock = None
        self.tls = None

    # ---- data connections -------------------------------------------------
    def tdata(self, cmd, mode="PASV", tls=True, reuse=True, upload=None,
              close_notify=True, show="text", plain_send=None, wait_read=None,
              ctx=None, hold=0):
        """Data transfer.  tls: do a TLS client handshake on the data socket
        (reuse: offer the control connection's session).  plain_send: instead
        of TLS, send these plaintext bytes on the data socket."""
        dsock = ls = None
        if mode in ("PASV", "EPSV"):
            addr = self.pasv(mode)
            if not addr:
                return
            dsock = socket.create_connection((self.host, addr[1]), timeout=5)
        else:
            ls = self.listen_port()
            p = ls.getsockname()[1]
            if mode == "PORT":
                self.cmd("PORT %s,%d,%d" % (self.host.replace(".", ","), p >> 8, p & 255))
            else:
                self.cmd("EPRT |1|%s|%d|" % (self.host, p))
        lines = self.cmd(cmd)
        code = self.code(lines)
        if code not in (125, 150):
            for s in (dsock, ls):
                if s:
                    s.close()
            return lines
        if ls:
            dsock, _ = ls.accept()
            ls.close()
        dsock.settimeout(5)
        t0 = time.monotonic()
        got_final = None
        if plain_send is not None or wait_read is not None or not tls:
            if not tls and plain_send is None and wait_read is None:
                self.c("(data connection used in plaintext)")
                conn = dsock
            else:
                if wait_read is not None:
                    self.c("client does NOT start TLS on the data connection; just reads for %g s" % wait_read)
                    dsock.settimeout(wait_read)
                    try:
                        got = dsock.recv(65536)
                        self.c("data connection: got %r after %.2f s" % (got[:200], time.monotonic() - t0))
                    except socket.timeout:
                        self.c("data connection: server sent nothing in %.1f s (it waits for a ClientHello)" % wait_read)
                    except OSError as e:
                        self.c("data connection: %r" % e)
                if plain_send is not None:
                    self.c("client sends plaintext on the data connection instead of a ClientHello: %r" % plain_send)
                    try:
                        dsock.sendall(plain_send)
                        dsock.settimeout(5)
                        got = dsock.recv(65536)
                        self.c("data connection: server answered %r after %.2f s" % (got[:200], time.monotonic() - t0))
                        if got:
                            got2 = dsock.recv(65536)
                            self.c("data connection: then %r" % got2[:200])
                    except socket.timeout:
                        self.c("data connection: no answer in 5 s")
                    except OSError as e:
                        self.c("data connection: %r after %.2f s" % (e, time.monotonic() - t0))
                dsock.close()
                self.raw.append({"data_plain_test": True})
                return self.drain(10)
        else:
            w = TLSWrap(dsock, ctx or self.ctx, session=self.tls.obj.session if (reuse and self.tls) else None)
            try:
                w.handshake()
            except (ssl.SSLError, OSError) as e:
                self.c("data TLS handshake FAILED: %r" % e)
                dsock.close()
                return self.more(timeout=10)
            self.c("data connection TLS (%s session reuse offered): %s" % (
                "control" if reuse else "NO", w.facts()))
            self.raw.append({"data_tls": w.facts(), "reuse_offered": reuse})
            conn = w
        if upload is not None:
            conn.sendall(upload)
            for l in upload.decode("latin-1").splitlines():
                self.out.append("D: " + l)
            if conn is not dsock and close_notify:
                conn.close_notify()
                how = "sent a TLS close_notify and a TCP FIN (shutdown SHUT_WR)"
            elif conn is not dsock:
                how = "sent a TCP FIN (shutdown SHUT_WR) WITHOUT a TLS close_notify"
            else:
                how = "sent a TCP FIN (shutdown SHUT_WR)"
            try:
                dsock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            self.c("(client sent %d bytes on the data connection, then %s)" % (len(upload), how))
            # read what the server still sends on the data connection, so that closing
            # the socket later cannot turn into an RST that discards our upload
            dsock.settimeout(3)
            if conn is not dsock:
                while True:
                    try:
                        chunk = conn.recv(65536)
                    except (socket.timeout, OSError) as e:
                        conn.notes.append("(%r)" % e)
                        break
                    if not chunk:
                        break
                    conn.notes.append("(unexpected data %r)" % chunk[:100])
                for n in conn.notes:
                    self.c("data connection: " + n.strip("()") if n.startswith("(") else n)
                conn.notes = []
            else:
                try:
                    rest = dsock.recv(65536)
                    self.c("data connection: server %s" % ("closed it" if not rest else "sent %r" % rest[:100]))
                except (socket.timeout, OSError) as e:
                    self.c("data connection: %r" % e)
            dsock.close()
            self.raw.append({"data_sent": repr(upload), "close": how})
        else:
            data = b""
            while True:
                try:
                    chunk = conn.recv(65536)
                except socket.timeout:
                    self.c("data connection read timed out")
                    break
                except OSError as e:
                    self.c("data connection error %r" % e)
                    break
                if not chunk:
                    break
                data += chunk
            if show == "text":
                text = data.decode("latin-1")
                dl = text.split("\r\n") if "\r\n" in text else text.split("\n")
                if dl and dl[-1] == "":
                    dl = dl[:-1]
                for l in dl[:200]:
                    self.out.append("D: " + l)
                if not data:
                    self.c("(data connection closed with 0 bytes)")
                else:
                    self.c("(data: %d bytes, line terminator %s)" % (
                        len(data), "CRLF" if b"\r\n" in data else "LF"))
            else:
                self.c("(data: %d bytes, sha256 %s)" % (len(data), hashlib.sha256(data).hexdigest()))
            notes = conn.notes if conn is not dsock else []
            for n in notes:
                self.c("data connection: " + n.strip("()") if n.startswith("(") else n)
            notes = []
            if hold:
                self.c("client keeps the data connection open %g s%s:" % (
                    hold, " without answering the close_notify" if conn is not dsock else " after the server's EOF"))
                early, dt = self.read_reply(hold)
                if early == [None]:
                    self.c("(no control reply within %g s while the data connection stays open)" % hold)
                else:
                    self.record("<more>", b"", early, dt, True)
                    got_final = early
            if conn is not dsock and close_notify and conn.close_kind == "close_notify":
                conn.close_notify()
                self.c("(client answered with its own close_notify, then closed TCP)")
            elif conn is not dsock and conn.close_kind == "close_notify":
                self.c("(client closed TCP without answering the close_notify)")
            dsock.close()
            self.raw.append({"data": repr(data[:4000]), "data_len": len(data),
                             "end": conn.close_kind if conn is not dsock else "tcp"})
        if got_final:
            return got_final
        return self.more(timeout=10)


def header(out, title, args, extra="", conf="vsftpd-tls.conf"):
    out.append("# %s" % title)
    out.append("# server: vsftpd 3.0.3 (Debian 12 package 3.0.3-13+b2), config: %s" % conf)
    out.append("# captured %s UTC by capture_tls.py, TZ=UTC, client 127.0.0.1, Python %s / %s" % (
        time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), sys.version.split()[0], ssl.OPENSSL_VERSION))
    out.append("# " + CERT_NOTE)
    out.append("# every S: line arrived terminated by CRLF unless marked otherwise")
    if extra:
        for l in extra.splitlines():
            out.append("# " + l)
    out.append("")


def section(out, title):
    out.append("")
    out.append("#" * 78)
    out.append("# " + title)
    out.append("#" * 78)


# ---------------------------------------------------------------------------
def s_auth_variants(args, out):
    section(out, "1+2. FEAT / AUTH variants (optional-TLS instance, port %d)" % args.port)
    s = TLSSession("auth", args.host, args.port, out)
    s.c("--- plaintext, before login ---")
    s.connect()
    s.cmd("FEAT")
    s.cmd("STAT")
    s.cmd("AUTH")
    s.cmd("AUTH garbage")
    s.cmd("AUTH TLS-X")
    s.cmd("AUTH  TLS")
    s.cmd("AUTH TLS ")
    s.cmd("AUTH KERBEROS_V4")
    s.cmd("AUTH GSSAPI")
    s.cmd("PBSZ 0")
    s.cmd("PBSZ")
    s.cmd("PROT P")
    s.cmd("PROT C")
    s.cmd("PROT")
    s.cmd("CCC")
    s.cmd("ADAT x")
    s.cmd("MIC x")
    s.cmd("CONF x")
    s.cmd("ENC x")
    s.cmd("QUIT")
    s.more(timeout=2)
    s.close()
    s.blank()
    for arg in ("TLS", "SSL", "tls", "ssl", "TLS-C", "TLS-P", "tls-p"):
        s.c("--- fresh connection: AUTH %s ---" % arg)
        s.connect()
        lines = s.cmd("AUTH " + arg, show_timing=True)
        if s.code(lines) == 234:
            s.starttls()
            s.cmd("FEAT")
            s.cmd("AUTH TLS")
            s.cmd("AUTH SSL")
            if arg == "TLS":
                s.cmd("AUTH")
                s.cmd("AUTH garbage")
            s.cmd("USER anonymous")
            s.cmd("PASS a@b")
            s.cmd("STAT")
            s.cmd("AUTH TLS")
            s.cmd("QUIT")
            s.more(timeout=2)
        s.close()
        s.blank()


def s_pbsz_prot(args, out):
    section(out, "3. PBSZ / PROT / CCC in every state (optional-TLS instance)")
    s = TLSSession("pbsz-prot", args.host, args.port, out)
    s.c("--- TLS up, not logged in ---")
    s.connect()
    s.cmd("AUTH TLS")
    s.starttls()
    s.c("PROT before any PBSZ")
    s.cmd("PROT P")
    s.cmd("STAT")
    for c in ("PBSZ 0", "PBSZ 1024", "PBSZ x", "PBSZ", "PBSZ -1", "pbsz 0",
              "PROT C", "PROT P", "PROT S", "PROT E", "PROT x", "PROT", "PROT PP",
              "prot p", "PROT c", "PROT p", "PROT  P", "CCC", "ccc", "SYST", "NOOP", "FOO"):
        s.cmd(c)
    s.c("--- log in as the local user over TLS ---")
    s.cmd("USER ftptest")
    s.cmd("PASS ftptest", show_timing=True)
    s.cmd("FEAT")
    s.cmd("STAT")
    for c in ("PBSZ 0", "PBSZ 1024", "PBSZ x", "PROT C", "STAT", "PROT P", "PROT S", "PROT E",
              "PROT x", "PROT", "prot c", "CCC", "AUTH TLS", "AUTH SSL", "AUTH", "AUTH garbage",
              "REIN", "HELP", "SYST"):
        s.cmd(c)
    s.cmd("QUIT")
    s.more(timeout=2)
    s.close()
    s.blank()

    s.c("--- plaintext login (allowed: force_local_logins_ssl=NO), then PBSZ/PROT/AUTH after login ---")
    s.connect()
    s.cmd("USER ftptest")
    s.cmd("PASS ftptest", show_timing=True)
    s.cmd("FEAT")
    s.cmd("STAT")
    s.cmd("PBSZ 0")
    s.cmd("PROT P")
    s.cmd("CCC")
    s.cmd("AUTH garbage")
    if s.code(s.cmd("AUTH TLS")) == 234 and s.starttls():
        s.cmd("STAT")
        s.cmd("PWD")
        s.cmd("PBSZ 0")
        s.cmd("PROT P")
        s.cmd("STAT")
        s.cmd("TYPE A")
        s.tdata("LIST", "PASV")
        s.cmd("QUIT")
        s.more(timeout=2)
    s.close()
    s.blank()

    s.c("--- plaintext anonymous login, then AUTH TLS after login (allow_anon_ssl=YES) ---")
    s.connect()
    s.cmd("USER anonymous")
    s.cmd("PASS a@b")
    s.cmd("PBSZ 0")
    s.cmd("PROT P")
    if s.code(s.cmd("AUTH TLS")) == 234 and s.starttls():
        s.cmd("PBSZ 0")
        s.cmd("PROT P")
        s.cmd("STAT")
        s.tdata("NLST", "PASV")
        s.cmd("QUIT")
        s.more(timeout=2)
    s.close()
    s.blank()

    s.c("--- USER in plaintext, AUTH TLS between USER and PASS ---")
    s.connect()
    s.cmd("USER ftptest")
    if s.code(s.cmd("AUTH TLS")) == 234 and s.starttls():
        s.cmd("PASS ftptest", show_timing=True)
        s.cmd("USER ftptest")
        s.cmd("PASS ftptest", show_timing=True)
        s.cmd("STAT")
        s.cmd("QUIT")
        s.more(timeout=2)
    s.close()


def s_full_session(args, out):
    section(out, "4. Full TLS sessions (optional-TLS instance)")
    s = TLSSession("full-local", args.host, args.port, out)
    s.c("--- local user ftptest: AUTH TLS, PBSZ 0, PROT P, login, transfers ---")
    s.connect()
    s.cmd("AUTH TLS")
    s.starttls()
    s.cmd("PBSZ 0")
    s.cmd("PROT P")
    s.cmd("USER ftptest")
    s.cmd("PASS ftptest", show_timing=True)
    s.cmd("SYST")
    s.cmd("PWD")
    s.cmd("TYPE I")
    s.c("PASV + LIST")
    s.tdata("LIST", "PASV")
    s.c("LIST again, but the client does not answer the server's close_notify / keep the socket open for 3 s")
    s.tdata("LIST", "PASV", hold=3, close_notify=False)
    s.c("STOR with the client ending the upload with a TLS close_notify")
    s.tdata("STOR tls-upload.txt", "PASV", upload=b"uploaded over TLS\r\nline 2\r\n")
    s.c("STOR with the client just closing TCP (no close_notify; strict_ssl_read_eof=NO)")
    s.tdata("STOR tls-upload2.txt", "PASV", upload=b"second\r\n", close_notify=False)
    s.c("EPSV + NLST")
    s.tdata("NLST", "EPSV")
    s.c("EPSV + LIST -la")
    s.tdata("LIST -la", "EPSV")
    s.cmd("SIZE tls-upload.txt")
    s.c("RETR of what was uploaded")
    s.tdata("RETR tls-upload.txt", "PASV")
    s.tdata("RETR tls-upload.txt", "PASV", hold=3, close_notify=False)
    s.c("plaintext (PROT C) for comparison is further below")
    s.c("active mode: PORT / EPRT + TLS on the data connection (server connects, client is still the TLS client)")
    s.tdata("RETR tls-upload2.txt", "PORT")
    s.tdata("LIST tls-upload.txt", "EPRT")
    s.cmd("STAT")
    s.c("PROT C: plaintext data on a TLS control connection")
    s.cmd("PROT C")
    s.cmd("STAT")
    s.tdata("LIST", "PASV", tls=False)
    s.tdata("LIST", "PASV", tls=False, hold=3)
    s.tdata("RETR tls-upload.txt", "PASV", tls=False)
    s.c("PROT C but the client starts TLS on the data connection anyway (server just sends plaintext)")
    s.tdata("LIST tls-upload.txt", "PASV")
    s.cmd("PROT P")
    s.tdata("LIST tls-upload.txt", "PASV")
    s.cmd("DELE tls-upload.txt")
    s.cmd("DELE tls-upload2.txt")
    s.cmd("QUIT")
    s.more(timeout=2)
    s.close()
    s.blank()

    s = TLSSession("full-anon", args.host, args.port, out)
    s.c("--- anonymous: AUTH TLS, PBSZ 0, PROT P, login, transfers ---")
    s.connect()
    s.cmd("AUTH TLS")
    s.starttls()
    s.cmd("PBSZ 0")
    s.cmd("PROT P")
    s.cmd("USER anonymous")
    s.cmd("PASS IEUser@")
    s.cmd("PWD")
    s.cmd("STAT")
    s.tdata("LIST", "PASV")
    s.tdata("NLST", "EPSV")
    s.tdata("RETR README.txt", "PASV")
    s.tdata("STOR x.txt", "PASV", upload=b"x\r\n")
    s.cmd("PROT C")
    s.tdata("LIST", "PASV", tls=False)
    s.cmd("QUIT")
    s.more(timeout=2)
    s.close()
    s.blank()

    s = TLSSession("full-plain", args.host, args.port, out)
    s.c("--- for comparison: no TLS at all on the optional instance (STAT / transfers) ---")
    s.connect()
    s.cmd("USER anonymous")
    s.cmd("PASS a@b")
    s.cmd("STAT")
    s.tdata("LIST", "PASV", tls=False)
    s.cmd("QUIT")
    s.more(timeout=2)
    s.close()


def s_reuse(args, out):
    section(out, "4b. Data-connection session reuse (require_ssl_reuse=YES default) and PROT P misuse")
    for ver in (None, ssl.TLSVersion.TLSv1_2):
        name = "TLSv1.3" if ver is None else "TLSv1.2"
        for cmd, upload in (("LIST", None), ("STOR noreuse.txt", b"x\r\n"), ("RETR README.txt", None)):
            s = TLSSession("reuse", args.host, args.port, out)
            s.c("--- %s: %s, data TLS handshake WITHOUT offering the control session ---" % (name, cmd))
            s.connect()
            s.cmd("AUTH TLS")
            s.starttls(client_ctx(maxv=ver))
            s.cmd("PBSZ 0")
            s.cmd("PROT P")
            s.cmd("USER anonymous" if cmd.startswith("RETR") else "USER ftptest")
            s.cmd("PASS ftptest", show_timing=True)
            s.tdata(cmd, "PASV", reuse=False, upload=upload)
            if not s.closed:
                s.more(timeout=3)
            if not s.closed:
                s.cmd("NOOP")
            s.close()
            s.blank()

    cleanup(args, out, ["noreuse.txt"])
    s.blank()
    s = TLSSession("reuse", args.host, args.port, out)
    s.c("--- TLSv1.2 control, data offers the control session: reused ---")
    s.connect()
    s.cmd("AUTH TLS")
    s.starttls(client_ctx(maxv=ssl.TLSVersion.TLSv1_2))
    s.cmd("PBSZ 0")
    s.cmd("PROT P")
    s.cmd("USER anonymous")
    s.cmd("PASS a@b")
    s.tdata("LIST", "PASV")
    s.cmd("QUIT")
    s.more(timeout=2)
    s.close()
    s.blank()

    cases = [("client connects to the data port and sends plaintext instead of a ClientHello",
              dict(plain_send=b"hello\r\n")),
             ("client connects to the data port, reads for 4 s without starting TLS, then closes",
              dict(wait_read=4.0)),
             ("client connects to the data port and closes it at once",
              dict(wait_read=0.01))]
    for text, kw in cases:
        s = TLSSession("prot-p-misuse", args.host, args.port, out)
        s.c("--- PROT P, LIST: %s ---" % text)
        s.connect()
        s.cmd("AUTH TLS")
        s.starttls()
        s.cmd("PBSZ 0")
        s.cmd("PROT P")
        s.cmd("USER anonymous")
        s.cmd("PASS a@b")
        s.tdata("LIST", "PASV", **kw)
        if not s.closed:
            s.cmd("NOOP")
        if not s.closed:
            s.cmd("QUIT")
        s.close()
        s.blank()


def cleanup(args, out, names):
    s = TLSSession("cleanup", args.host, args.port, out)
    s.c("--- clean up (plaintext, local user) ---")
    s.connect()
    s.cmd("USER ftptest")
    s.cmd("PASS ftptest")
    for n in names:
        s.cmd("DELE " + n)
    s.cmd("QUIT")
    s.more(timeout=2)
    s.close()


def s_errors(args, out):
    section(out, "6. Control-connection TLS errors (optional-TLS instance)")
    s = TLSSession("tls-errors", args.host, args.port, out)
    s.c("--- AUTH TLS, then a plaintext command instead of a ClientHello ---")
    s.connect()
    s.cmd("AUTH TLS")
    s.send_raw(b"USER anonymous\r\n", "USER anonymous   (plaintext, where the ClientHello should be)",
               expect_reply=False)
    s.raw_drain(10, "then")
    s.close()
    s.blank()

    s.c("--- AUTH TLS, then 100 bytes of binary garbage ---")
    s.connect()
    s.cmd("AUTH TLS")
    s.send_raw(bytes(range(100, 200)), "<bytes 0x64..0xc7>", expect_reply=False)
    s.raw_drain(10, "then")
    s.close()
    s.blank()

    s.c("--- AUTH TLS, then the client closes immediately (see vsftpd-tls.log) ---")
    s.connect()
    s.cmd("AUTH TLS")
    s.sock.shutdown(socket.SHUT_WR)
    s.out.append("C: <TCP FIN (shutdown SHUT_WR)>")
    s.raw_drain(10, "then")
    s.close()
    s.blank()

    s.c("--- AUTH TLS, then a ClientHello offering only TLSv1.0/1.1 (client seclevel 0) ---")
    s.connect()
    s.cmd("AUTH TLS")
    s.starttls(client_ctx(minv=ssl.TLSVersion.TLSv1, maxv=ssl.TLSVersion.TLSv1_1,
                          ciphers="ALL:@SECLEVEL=0"))
    if s.tls is None:
        s.raw_drain(3, "then")
    s.close()
    s.blank()

    s.c("--- AUTH TLS, then a TLSv1.2 ClientHello with only AES128-SHA (not in the server's cipher list) ---")
    s.connect()
    s.cmd("AUTH TLS")
    s.starttls(client_ctx(maxv=ssl.TLSVersion.TLSv1_2, ciphers="AES128-SHA"))
    if s.tls is None:
        s.raw_drain(3, "then")
    s.close()
    s.blank()

    s.c("--- TLS up, then the client sends plaintext on the control connection ---")
    s.connect()
    s.cmd("AUTH TLS")
    s.starttls()
    s.cmd("NOOP")
    s.tls.sock.sendall(b"NOOP\r\n")
    s.out.append("C: NOOP   (raw plaintext bytes on the TLS control connection)")
    s.drain(5)
    s.close()
    s.blank()

    s.c("--- TLS up, QUIT: does the server send close_notify? ---")
    s.connect()
    s.cmd("AUTH TLS")
    s.starttls()
    s.cmd("QUIT")
    s.more(timeout=2)
    s.close()
    s.blank()

    s.c("--- TLS up, the client sends close_notify (SSL_shutdown) on the control connection ---")
    s.connect()
    s.cmd("AUTH TLS")
    s.starttls()
    s.tls.close_notify()
    s.out.append("C: <TLS close_notify>")
    s.drain(5)
    s.close()
    s.blank()

    s.c("--- handshake facts: client key share limited to P-256 (ssl set_ecdh_curve prime256v1): no HelloRetryRequest ---")
    s.connect()
    s.cmd("AUTH TLS")
    cp = client_ctx()
    cp.set_ecdh_curve("prime256v1")
    s.starttls(cp, describe=True)
    s.cmd("QUIT")
    s.more(timeout=2)
    s.close()
    s.blank()

    s.c("--- handshake facts: TLSv1.3 / TLSv1.2 with ALPN 'ftp' offered; 2nd control connection offering the 1st one's session ---")
    s.connect()
    s.cmd("AUTH TLS")
    ctx13 = client_ctx(alpn=["ftp"])
    s.starttls(ctx13, describe=True)
    s.cmd("NOOP")
    sess13 = s.tls.obj.session
    s.c("session ticket(s) received on the control connection: has_ticket=%s, lifetime hint %s s" % (
        sess13.has_ticket, sess13.ticket_lifetime_hint))
    s.cmd("QUIT")
    s.more(timeout=2)
    s.close()
    s.connect()
    s.cmd("AUTH TLS")
    ctx12 = client_ctx(maxv=ssl.TLSVersion.TLSv1_2, alpn=["ftp"])
    s.starttls(ctx12, describe=True)
    s.cmd("NOOP")
    sess12 = s.tls.obj.session
    s.c("TLSv1.2 session: has_ticket=%s, lifetime hint %s s, session id length %d" % (
        sess12.has_ticket, sess12.ticket_lifetime_hint, len(sess12.id)))
    s.cmd("QUIT")
    s.more(timeout=2)
    s.close()
    for label, ctx, sess in (("TLSv1.3", ctx13, sess13), ("TLSv1.2", ctx12, sess12)):
        s.c("new control connection offering the previous %s session:" % label)
        s.connect()
        s.cmd("AUTH TLS")
        w = TLSWrap(s.sock, ctx, session=sess)
        try:
            w.handshake()
            s.sock = w
            s.tls = w
            s.c("TLS handshake: " + w.facts())
            s.cmd("QUIT")
            s.more(timeout=2)
        except (ssl.SSLError, OSError) as e:
            s.c("handshake failed %r" % e)
        s.close()
    s.blank()


def s_silence(args, out, result):
    """AUTH TLS then nothing at all (background thread; up to 330 s)."""
    s = TLSSession("tls-silence", args.host, args.port, out)
    s.c("--- AUTH TLS, then the client sends nothing (no ClientHello); waiting up to 330 s ---")
    s.connect()
    s.cmd("AUTH TLS")
    t0 = time.monotonic()
    s.more(timeout=330, show_timing=True)
    if not s.closed:
        s.raw_drain(3, "then")
    s.c("(total %.1f s after the 234)" % (time.monotonic() - t0))
    s.close()
    result.append(True)


def s_forced(args, out):
    section(out, "7. Forced variant (vsftpd-tls-forced.conf, port %d: force_local_logins_ssl=YES, "
                 "force_local_data_ssl=YES, allow_anon_ssl=NO)" % args.forced_port)
    p = args.forced_port
    s = TLSSession("forced", args.host, p, out)
    s.c("--- plaintext: FEAT, then USER <local user> before AUTH ---")
    s.connect()
    s.cmd("FEAT")
    s.cmd("STAT")
    s.cmd("PBSZ 0")
    s.cmd("PROT P")
    s.cmd("USER ftptest")
    s.drain(5)
    s.close()
    s.blank()
    for u in ("root", "nosuchuser", "FTP"):
        s.c("--- plaintext USER %s ---" % u)
        s.connect()
        s.cmd("USER " + u)
        s.drain(3)
        s.close()
        s.blank()
    s.c("--- plaintext anonymous (force_anon_logins_ssl=NO) ---")
    s.connect()
    s.cmd("USER anonymous")
    s.cmd("PASS a@b")
    s.cmd("STAT")
    s.cmd("PBSZ 0")
    s.cmd("PROT P")
    s.cmd("PROT C")
    s.cmd("AUTH TLS")
    s.c("anonymous keeps plaintext data (force_anon_data_ssl=NO)")
    s.tdata("LIST", "PASV", tls=False)
    s.cmd("QUIT")
    s.more(timeout=2)
    s.close()
    s.blank()

    s.c("--- anonymous after AUTH TLS (allow_anon_ssl=NO) ---")
    s.connect()
    s.cmd("AUTH TLS")
    s.starttls()
    s.cmd("USER anonymous")
    s.cmd("PASS a@b")
    s.cmd("USER ftp")
    s.cmd("USER ftptest")
    s.cmd("PASS ftptest", show_timing=True)
    s.cmd("QUIT")
    s.more(timeout=2)
    s.close()
    s.blank()

    s.c("--- local user over TLS, data without PROT P ---")
    s.connect()
    s.cmd("AUTH TLS")
    s.starttls()
    s.cmd("USER ftptest")
    s.cmd("PASS ftptest", show_timing=True)
    s.cmd("STAT")
    s.cmd("PASV")
    s.cmd("LIST")
    s.cmd("EPSV")
    s.cmd("NLST")
    s.cmd("PORT 127,0,0,1,156,64")
    s.cmd("LIST")
    s.cmd("RETR .profile")
    s.cmd("STOR x.txt")
    s.cmd("PROT C")
    s.cmd("PASV")
    s.cmd("LIST")
    s.cmd("PBSZ 0")
    s.cmd("PROT P")
    s.cmd("STAT")
    s.tdata("LIST", "PASV")
    s.cmd("PROT C")
    s.tdata("LIST", "EPSV", tls=False)
    s.cmd("QUIT")
    s.more(timeout=2)
    s.close()
    s.blank()

    s.c("--- AUTH SSL on the forced instance (sets PROT P implicitly) ---")
    s.connect()
    s.cmd("AUTH SSL")
    s.starttls()
    s.cmd("USER ftptest")
    s.cmd("PASS ftptest", show_timing=True)
    s.cmd("STAT")
    s.tdata("NLST", "PASV")
    s.cmd("QUIT")
    s.more(timeout=2)
    s.close()


# ---------------------------------------------------------------------------
def run_tool(outl, cmd, stdin=None, timeout=120, redact=()):
    outl.append("")
    outl.append("$ " + cmd)
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, shell=True, input=stdin, capture_output=True, timeout=timeout)
        text = (p.stdout + (b"\n[stderr]\n" + p.stderr if p.stderr else b"")).decode("utf-8", "replace")
        rc = p.returncode
    except subprocess.TimeoutExpired as e:
        text = ((e.stdout or b"") + b"\n[stderr]\n" + (e.stderr or b"")).decode("utf-8", "replace")
        rc = "timeout"
    for pat, rep in redact:
        text = re.sub(pat, rep, text)
    outl.extend(text.rstrip("\n").split("\n"))
    outl.append("[exit %s, %.1f s]" % (rc, time.monotonic() - t0))
    return text


def proxied(outl, cmd_tpl, host, port, stdin=None, timeout=60):
    """Run cmd_tpl.format(port=<proxy port>) through a logging TCP proxy to host:port;
    append the per-direction byte log (TLS records summarised) to outl."""
    ls = socket.socket()
    ls.bind((host, 0))
    ls.listen(1)
    pport = ls.getsockname()[1]
    log = []
    t0 = time.monotonic()

    def pump(a, b, tag):
        while True:
            try:
                d = a.recv(65536)
            except OSError:
                d = b""
            if not d:
                log.append((time.monotonic() - t0, tag, "EOF"))
                try:
                    b.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            recs, rest = split_tls(d)
            log.append((time.monotonic() - t0, tag,
                        ("TLS " + ", ".join(recs) if recs else "") + (" %r" % rest if rest else "")))
            b.sendall(d)

    def serve():
        c, _ = ls.accept()
        srv = socket.create_connection((host, port))
        th = [threading.Thread(target=pump, args=(c, srv, "client->server")),
              threading.Thread(target=pump, args=(srv, c, "server->client"))]
        for t in th:
            t.start()
        for t in th:
            t.join()
        c.close()
        srv.close()

    st = threading.Thread(target=serve)
    st.start()
    run_tool(outl, cmd_tpl.format(port=pport), stdin=stdin, timeout=timeout,
             redact=[(r"(Master-Key: |Resumption PSK: )[0-9A-F]+", r"\1<redacted>")])
    st.join(10)
    ls.close()
    outl.append("[proxy log: what actually crossed the wire; TLS records are summarised, "
                "a TLS 'application_data' is encrypted payload]")
    for t, tag, what in log:
        outl.append("  %.3f %s %s" % (t, tag, what))


def tools(args):
    port = args.port
    red = [(r"(Master-Key: )[0-9A-F]+", r"\1<redacted>"),
           (r"(Resumption PSK: )[0-9A-F]+", r"\1<redacted>")]
    o = ["# openssl s_client against vsftpd 3.0.3 explicit FTPS (vsftpd-tls.conf, 127.0.0.1:%d)" % port,
         "# captured %s UTC by capture_tls.py; %s" % (time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
                                                       subprocess.run("openssl version", shell=True, capture_output=True).stdout.decode().strip()),
         "# " + CERT_NOTE,
         "# Output verbatim (stdout, then [stderr]); Master-Key / Resumption PSK values redacted.",
         "# -starttls ftp: s_client reads the 220, sends 'AUTH TLS', reads the reply, then handshakes.",
         "# stdin 'QUIT' + -crlf -ign_eof: sends QUIT after the handshake and prints until the server closes."]
    base = "openssl s_client -starttls ftp -connect 127.0.0.1:%d" % port
    q = b"QUIT\n"
    o.append("\n## 1. default client (TLS 1.3 negotiated), through a byte-logging proxy")
    o.append("# NOTE: the '220 (vsFTPd 3.0.3)' line that s_client prints after the handshake is s_client re-printing")
    o.append("# the greeting it read before AUTH TLS: the proxy log shows vsftpd sends nothing after the handshake")
    o.append("# until the client's QUIT (then one encrypted record = '221 Goodbye.').")
    proxied(o, "openssl s_client -starttls ftp -connect 127.0.0.1:{port} -crlf -ign_eof", "127.0.0.1", port, stdin=q)
    o.append("\n## 2. -tls1_2 (shows the TLS 1.2 cipher, session id/ticket)")
    run_tool(o, base + " -tls1_2 -crlf -ign_eof", stdin=q, redact=red)
    o.append("\n## 3. handshake message list (-msg, hex dumps removed) for TLS 1.3 and TLS 1.2")
    for v in ("-tls1_3", "-tls1_2"):
        t = run_tool([], base + " %s -msg -crlf -ign_eof" % v, stdin=q, redact=red)
        o.append("")
        o.append("$ %s %s -msg -crlf -ign_eof   (only the '>>>'/'<<<' summary lines kept)" % (base, v))
        o.extend(l for l in t.split("\n") if l.startswith((">>>", "<<<")))
    o.append("\n## 4. protocol versions (-brief); -cipher 'ALL:@SECLEVEL=0' on the client so only the server decides")
    for v in ("-ssl3", "-tls1", "-tls1_1", "-tls1_2", "-tls1_3"):
        run_tool(o, base + " %s -cipher 'ALL:@SECLEVEL=0' -brief" % v, stdin=b"")
    o.append("\n## 5. individual ciphers / suites (-brief)")
    for c in ("ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-CHACHA20-POLY1305",
              "AES256-GCM-SHA384", "AES128-SHA", "DHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-SHA384"):
        run_tool(o, base + " -tls1_2 -cipher %s -brief" % c, stdin=b"")
    for c in ("TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256",
              "TLS_AES_128_CCM_SHA256"):
        run_tool(o, base + " -tls1_3 -ciphersuites %s -brief" % c, stdin=b"")
    o.append("\n## 5b. key-exchange groups offered by the client (-groups), TLS 1.3 and TLS 1.2")
    for g in ("X25519", "P-256", "P-384", "P-521", "X448", "ffdhe2048"):
        run_tool(o, base + " -tls1_3 -groups %s -brief" % g, stdin=b"")
    for g in ("X25519", "P-384"):
        run_tool(o, base + " -tls1_2 -groups %s -brief" % g, stdin=b"")
    o.append("\n## 6. ALPN: client offers 'ftp' (TLS 1.3 and 1.2)")
    run_tool(o, base + " -alpn ftp -brief", stdin=b"")
    run_tool(o, base + " -tls1_2 -alpn ftp -brief", stdin=b"")
    o.append("\n## 7. session resumption across two control connections (-sess_out / -sess_in), TLS 1.2 and 1.3")
    for v in ("-tls1_2", "-tls1_3"):
        run_tool(o, base + " %s -sess_out /tmp/ftps/sess.pem -crlf -ign_eof | grep -E '^(New|Reused)|Protocol|TLS session ticket lifetime'" % v, stdin=q)
        run_tool(o, base + " %s -sess_in /tmp/ftps/sess.pem -crlf -ign_eof | grep -E '^(New|Reused)|Protocol'" % v, stdin=q)
    o.append("\n## 8. SNI for another name, and a client certificate request check (-servername example.com)")
    run_tool(o, base + " -servername example.com -brief", stdin=b"")
    write(args, "tls-openssl.txt", o)

    # ---- lftp / curl --------------------------------------------------------
    o = ["# Real clients against vsftpd 3.0.3 explicit FTPS (vsftpd-tls.conf, 127.0.0.1:%d; TLS optional)" % port,
         "# captured %s UTC by capture_tls.py" % time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
         "# lftp %s; %s" % (
             subprocess.run("lftp --version | head -1", shell=True, capture_output=True).stdout.decode().strip(),
             subprocess.run("curl --version | head -1", shell=True, capture_output=True).stdout.decode().strip()),
         "# " + CERT_NOTE,
         "# Output verbatim (stdout, then [stderr]). HOME=/tmp/ftps/home so no user rc files/bookmarks apply."]
    env = "HOME=/tmp/ftps/home "
    os.makedirs("/tmp/ftps/home", exist_ok=True)
    with open("/tmp/ftps/lftp-up.txt", "w") as f:
        f.write("uploaded by lftp\n")
    with open("/tmp/ftps/curl-up.txt", "w") as f:
        f.write("uploaded by curl\n")
    o.append("\n## lftp with default settings (ssl:verify-certificate yes), local user, ls")
    run_tool(o, env + "timeout 60 lftp -u ftptest,ftptest -p %d -e 'set net:max-retries 2; set net:reconnect-interval-base 1; ls; bye' 127.0.0.1" % port)
    o.append("\n## same with -d (debug: the FTP dialogue)")
    run_tool(o, env + "timeout 60 lftp -d -u ftptest,ftptest -p %d -e 'set net:max-retries 2; set net:reconnect-interval-base 1; ls; bye' 127.0.0.1" % port)
    o.append("\n## lftp, ssl:verify-certificate no: login + ls + put + ls + rm")
    run_tool(o, env + "timeout 60 lftp -d -u ftptest,ftptest -p %d -e 'set ssl:verify-certificate no; set net:max-retries 2; ls; put /tmp/ftps/lftp-up.txt; ls; rm lftp-up.txt; bye' 127.0.0.1" % port)
    o.append("\n## lftp, ssl:verify-certificate no, anonymous: ls + cat")
    run_tool(o, env + "timeout 60 lftp -p %d -e 'set ssl:verify-certificate no; set net:max-retries 2; ls; cat README.txt; bye' 127.0.0.1" % port)
    o.append("\n## curl --ssl-reqd without -k (certificate verification)")
    run_tool(o, env + "timeout 60 curl -sS -v --ssl-reqd ftp://ftptest:ftptest@127.0.0.1:%d/" % port)
    o.append("\n## curl --ssl-reqd -k: list")
    run_tool(o, env + "timeout 60 curl -sS -v --ssl-reqd -k ftp://ftptest:ftptest@127.0.0.1:%d/" % port)
    o.append("\n## curl --ssl-reqd -k: upload, download, delete")
    run_tool(o, env + "timeout 60 curl -sS -v --ssl-reqd -k -T /tmp/ftps/curl-up.txt ftp://ftptest:ftptest@127.0.0.1:%d/" % port)
    run_tool(o, env + "timeout 60 curl -sS -v --ssl-reqd -k ftp://ftptest:ftptest@127.0.0.1:%d/curl-up.txt -Q '-DELE curl-up.txt'" % port)
    o.append("\n## curl --ssl-reqd -k --ftp-ssl-control (TLS for login only, plaintext data: PROT C)")
    run_tool(o, env + "timeout 60 curl -sS -v --ftp-ssl-control -k ftp://anonymous:x@127.0.0.1:%d/pub/" % port)
    o.append("\n## curl --ssl-reqd -k --tls-max 1.2 anonymous")
    run_tool(o, env + "timeout 60 curl -sS -v --ssl-reqd -k --tls-max 1.2 ftp://127.0.0.1:%d/pub/hello.txt" % port)
    write(args, "tls-clients.txt", o)

    # ---- nmap ---------------------------------------------------------------
    o = ["# nmap against vsftpd 3.0.3 explicit FTPS (vsftpd-tls.conf, 127.0.0.1:%d; TLS optional, anonymous on)" % port,
         "# captured %s UTC by capture_tls.py; %s (run as root)" % (
             time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
             subprocess.run("nmap --version | head -1", shell=True, capture_output=True).stdout.decode().strip()),
         "# " + CERT_NOTE,
         "# Everything after each $ line is nmap's output verbatim (stdout, then [stderr])."]
    o.append("\n## nmap -sV -sC")
    run_tool(o, "nmap -sV -sC -p %d 127.0.0.1" % port, timeout=300)
    o.append("\n## nmap -sV --script ssl-enum-ciphers (-sV needed: without it the port is 'unknown' and the")
    o.append("## script's portrule does not match, nmap prints nothing)")
    run_tool(o, "nmap -sV -p %d --script ssl-enum-ciphers 127.0.0.1" % port, timeout=300)
    o.append("\n## forced instance (vsftpd-tls-forced.conf): nmap -sV -sC")
    run_tool(o, "nmap -sV -sC -p %d 127.0.0.1" % args.forced_port, timeout=300)
    write(args, "nmap-tls.txt", o)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=2196, help="vsftpd-tls.conf instance")
    ap.add_argument("--forced-port", type=int, default=2195, help="vsftpd-tls-forced.conf instance")
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--tools", action="store_true", help="also run openssl/lftp/curl/nmap")
    ap.add_argument("--slow", action="store_true", help="also wait up to 330 s after a bare AUTH TLS")
    ap.add_argument("--only-tools", action="store_true")
    args = ap.parse_args()
    if not args.only_tools:
        out = []
        header(out, "Explicit FTPS (AUTH TLS)", args,
               "main instance: vsftpd-tls.conf (127.0.0.1:%d: ssl_enable=YES, force_local_logins_ssl=NO,\n"
               "force_local_data_ssl=NO, allow_anon_ssl=YES, other SSL options default);\n"
               "section 7 uses vsftpd-tls-forced.conf (127.0.0.1:%d: only ssl_enable=YES added).\n"
               "After a 'TLS handshake' comment, C:/S: lines are the decrypted TLS payload. D: lines are\n"
               "decrypted data-connection payload when the comment says TLS, plaintext otherwise." % (
                   args.port, args.forced_port))
        slow_out, slow_done = [], []
        th = None
        if args.slow:
            th = threading.Thread(target=s_silence, args=(args, slow_out, slow_done))
            th.start()
        try:
            s_auth_variants(args, out)
            s_pbsz_prot(args, out)
            s_full_session(args, out)
            s_reuse(args, out)
            s_errors(args, out)
            if args.forced_port:
                s_forced(args, out)
        except Exception:
            write(args, "tls.txt", out)
            raise
        if th:
            th.join()
            section(out, "6b. AUTH TLS then silence (ran in parallel with the rest)")
            out.extend(slow_out)
        write(args, "tls.txt", out)
        with open(os.path.join(args.out, "raw-replies-tls.json"), "w") as f:
            json.dump(RAW, f, indent=1)
    if args.tools or args.only_tools:
        tools(args)


if __name__ == "__main__":
    main()
