#!/usr/bin/env python3
"""Record the exact control-channel replies of a real ProFTPD 1.3.8 (Debian 12,
proftpd-basic 1.3.8+dfsg-4+deb12u5).

Raw sockets only (no ftplib), so every reply byte is kept: multi-line replies,
leading/trailing spaces and the line terminators.  The Session class (socket
handling, C:/S:/D:/# output, raw-replies records) is imported unchanged from
../vsftpd-3.0.3/capture.py; PSession below only adds a few things ProFTPD
needs (active-mode peer address, ABOR with TCP urgent data, timers).

Output (into --out, default: the directory of this script):
  pre-login.txt, line-length.txt, failed-login.txt, anonymous.txt,
  anonymous-epsv-all.txt, local-user.txt, limits.txt (needs --limits-port),
  slow-timeouts.txt (needs --slow: Debian's real TimeoutLogin/TimeoutNoTransfer, ~15 min)
  raw-replies.json  every exchange as Python byte reprs + timings

Line format of the .txt files:
  C: <what the client sent, without the CRLF>
  S: <one reply line, verbatim, without the CRLF>
  D: <one line received (or sent) on the data connection>
  # comment (timings, connection state, notes)

Usage (see proftpd.conf, setup.sh and NOTES.md beside this file):
  sh setup.sh up
  ip netns exec ftpcap proftpd -n -c $PWD/proftpd.conf &          # (or via /tmp/proftpd-run.sh,
  ip netns exec ftpcap proftpd -n -c $PWD/proftpd-limits.conf &   #  see NOTES.md "Re-running")
  ip netns exec ftpcap python3 capture.py --port 2194 --limits-port 2190 [--slow]
Safety: runs inside a network namespace that only has "lo"; the only addresses
ever connected to are 127.0.0.x.  The third-party PORT/EPRT addresses are sent as
text only; ProFTPD refuses them and the script never issues a transfer after them.
"""
import argparse
import hashlib
import importlib.util
import json
import os
import re
import socket
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "vsftpd_capture", os.path.join(HERE, "..", "vsftpd-3.0.3", "capture.py"))
vc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(vc)
RAW = vc.RAW


class PSession(vc.Session):
    # After every complete reply keep listening this long: ProFTPD sometimes sends
    # a second reply to one command (e.g. two "530" lines for a pre-login SITE CHMOD).
    DRAIN = 0.25

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.drain = self.DRAIN
        self.extra = 0

    def read_reply(self, timeout=5.0, t0=None):
        lines, dt = super().read_reply(timeout, t0)
        self.extra = 0
        if self.drain and lines and lines[-1] not in (None, False):
            while True:
                more, _ = super().read_reply(self.drain)
                if more == [None]:
                    break
                lines += more
                self.extra += len([l for l in more if l])
                if more[-1] is False or more[-1] is None:
                    break
        return lines, dt

    @staticmethod
    def printable(b):
        """Server bytes as text: bytes < 0x20, 0x7f and >= 0x80 are shown as <xx>
        (hex); the exact bytes are in raw-replies.json."""
        return "".join(chr(c) if 0x20 <= c < 0x7f else "<%02x>" % c for c in b)

    def record(self, cmd_text, sent, lines, dt, show_timing=False):
        extra = self.extra
        self.extra = 0
        rec = {"sent": repr(sent), "reply": [repr(l) if l else l for l in lines],
               "seconds": round(dt, 3)}
        self.raw.append(rec)
        timed_out = False
        for l in lines:
            if l is None:
                self.c("(no reply within %.1f s)" % dt)
                timed_out = True
            elif l is False:
                self.c("server closed the control connection")
            elif l.endswith(b"\r\n"):
                self.out.append("S: " + self.printable(l[:-2]))
            else:
                self.out.append("S: " + self.printable(l.rstrip(b"\n")))
                self.c("^ line above did NOT end in CRLF (raw %r)" % l[-4:])
        if not timed_out and (show_timing or dt > 0.3):
            self.c("reply after %.2f s" % dt)
        if extra:
            self.raw[-1]["extra_reply_lines"] = extra
            self.c("^ the last %d S: line(s) arrived after the first complete reply, before the client sent anything else "
                   "(a second reply)" % extra)

    def transfer(self, cmd, mode="PASV", upload=None, show="text",
                 maxlines=200, final_timeout=10):
        """Like vsftpd's Session.transfer, plus: the source address of an
        active-mode (PORT/EPRT) data connection is noted."""
        dsock = ls = None
        if mode in ("PASV", "EPSV"):
            addr = self.pasv(mode)
            if not addr:
                return
            if addr[0] != self.host:
                self.c("passive address %s is not the server host; not connecting" % addr[0])
                return
            dsock = socket.create_connection((self.host, addr[1]), timeout=5)
        elif mode in ("PORT", "EPRT"):
            ls = self.listen_port()
            p = ls.getsockname()[1]
            if mode == "PORT":
                self.cmd("PORT %s,%d,%d" % (self.host.replace(".", ","), p >> 8, p & 255))
            else:
                self.cmd("EPRT |1|%s|%d|" % (self.host, p))
        elif mode == "EPRT6":
            ls = socket.socket(socket.AF_INET6)
            ls.bind(("::1", 0))
            ls.listen(1)
            ls.settimeout(5)
            self.cmd("EPRT |2|::1|%d|" % ls.getsockname()[1])
        self.drain = 0  # the 226 may follow the 150 immediately; read it after the data
        lines = self.cmd(cmd)
        self.drain = self.DRAIN
        c = self.code(lines)
        if c not in (125, 150):
            if dsock:
                dsock.close()
            if ls:
                ls.close()
            return lines
        if ls:
            try:
                dsock, peer = ls.accept()
                self.c("(active data connection came from %s:%d)" % peer[:2])
            except socket.timeout:
                self.c("(server never connected to the PORT address)")
                ls.close()
                return self.more(timeout=final_timeout)
            ls.close()
        dsock.settimeout(5)
        if upload is not None:
            dsock.sendall(upload)
            for l in upload.decode("latin-1").splitlines():
                self.out.append("D: " + l)
            self.c("(client sent %d bytes on the data connection, then closed it)" % len(upload))
            dsock.close()
        else:
            data = b""
            while True:
                try:
                    chunk = dsock.recv(65536)
                except socket.timeout:
                    self.c("data connection read timed out")
                    break
                except ConnectionResetError:
                    self.c("data connection reset")
                    break
                if not chunk:
                    break
                data += chunk
            dsock.close()
            self.raw.append({"data": repr(data[:4000]), "data_len": len(data)})
            if show == "text":
                text = data.decode("latin-1")
                dl = text.split("\r\n") if "\r\n" in text else text.split("\n")
                if dl and dl[-1] == "":
                    dl = dl[:-1]
                for l in dl[:maxlines]:
                    self.out.append("D: " + l)
                if len(dl) > maxlines:
                    self.c("(%d more data lines not shown)" % (len(dl) - maxlines))
                if not data:
                    self.c("(data connection closed with 0 bytes)")
                else:
                    self.c("(data: %d bytes, line terminator %s)" % (
                        len(data), "CRLF" if b"\r\n" in data else
                        ("LF" if b"\n" in data else "none")))
            else:
                self.c("(data: %d bytes, sha256 %s)" % (
                    len(data), hashlib.sha256(data).hexdigest()))
        return self.more(timeout=final_timeout)

    def connect(self, timeout=5.0):
        self.closed = False
        self.buf = b""
        return super().connect(timeout)

    def more(self, timeout=5.0, show_timing=False):
        if self.closed:
            return [False]
        return super().more(timeout, show_timing)

    def silent(self, seconds, show_timing=True):
        """Send nothing; report whatever the server sends within `seconds`."""
        t0 = time.monotonic()
        got = []
        while not self.closed:
            left = seconds - (time.monotonic() - t0)
            if left <= 0:
                break
            lines, dt = self.read_reply(left, t0)
            if lines == [None]:
                break
            self.record("<wait>", b"", lines, dt, show_timing)
            got.append(lines)
        if not got:
            self.c("(nothing from the server within %.1f s)" % seconds)
        return got


# ---------------------------------------------------------------------------
CONF = "proftpd.conf"


def header(out, title, extra="", conf=None):
    out.append("# %s" % title)
    out.append("# server: ProFTPD 1.3.8 (Debian 12 package proftpd-basic 1.3.8+dfsg-4+deb12u5), config: %s" % (conf or CONF))
    out.append("# captured %s UTC by capture.py, TZ=UTC, client 127.0.0.1 (server socket: stock dual-stack [::])" %
               time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()))
    out.append("# every S: line arrived terminated by CRLF unless marked otherwise")
    if extra:
        for l in extra.splitlines():
            out.append("# " + l)
    out.append("")


def write(args, fname, out):
    with open(os.path.join(args.out, fname), "w") as f:
        f.write("\n".join(out).rstrip("\n") + "\n")
    print("wrote", fname, len(out), "lines", flush=True)


def S(name, args, out, port=None, note=None, host=None):
    return PSession(name, host or args.host, port or args.port, out, note=note)


# ---------------------------------------------------------------------------
def pre_login(args):
    out = []
    header(out, "Commands before login (no USER/PASS)")
    s = S("pre-login", args, out)
    s.connect()
    for cmd in ["SYST", "syst", "FEAT", "HELP", "HELP USER", "HELP FOO", "STAT", "STAT /",
                "PWD", "XPWD", "CWD /", "CDUP", "XCUP", "LIST", "NLST", "MLSD", "MLST", "NOOP",
                "FOO", "TYPE I", "MODE S", "STRU F", "PASV", "EPSV", "EPSV ALL",
                "PORT 127,0,0,1,200,10", "EPRT |1|127.0.0.1|40064|",
                "SIZE README.txt", "MDTM README.txt", "RETR README.txt", "STOR x",
                "APPE x", "STOU", "DELE x", "MKD x", "RMD x", "RNFR x", "RNTO y",
                "REST 0", "ALLO 10", "ABOR", "REIN", "ACCT x", "SMNT /",
                "SITE HELP", "SITE CHMOD 777 x", "SITE CPFR /etc/passwd",
                "SITE CPTO /tmp/x", "SITE", "OPTS UTF8 ON", "OPTS UTF8 OFF",
                "OPTS utf8 on", "OPTS FOO", "OPTS", "OPTS MLST type;",
                "AUTH TLS", "AUTH SSL", "PBSZ 0", "PROT P", "CCC", "ADAT x",
                "LANG", "LANG en", "LANG fr", "LANG C.UTF-8",
                "CLNT foo/1.0", "CLNT", "CSID Name=test; Version=1;", "RANG 0 10",
                "MFMT 20200101000000 x", "MFF modify=20200101000000; x",
                "XMKD x", "XRMD x", "LPRT 4,4,127,0,0,1,2,156,64", "LPSV", "QUIT2"]:
        s.cmd(cmd)
    s.c("empty line (just CRLF)")
    s.send_raw(b"\r\n", "", timeout=2)
    s.c("a single space + CRLF")
    s.send_raw(b" \r\n", "<one space>", timeout=2)
    s.c("600-byte line: 'A' * 600")
    s.send_raw(b"A" * 600 + b"\r\n", "<'A' * 600>")
    s.c("USER without argument")
    s.cmd("USER")
    s.c("PASS without a preceding USER (the USER above had no argument)")
    s.cmd("PASS secret")
    s.cmd("QUIT")
    s.more(timeout=2)
    s.close()
    s.blank()

    s.c("fresh connection: PASS as the first command")
    s.connect()
    s.cmd("PASS secret")
    s.cmd("PASS")
    s.cmd("QUIT")
    s.close()
    s.blank()

    s.c("fresh connection: HOST before USER (RFC 7151), then after USER")
    s.connect()
    s.cmd("HOST")
    s.cmd("HOST example.com")
    s.cmd("HOST localhost")
    s.cmd("HOST 127.0.0.1")
    s.cmd("HOST [::ffff:127.0.0.1]")
    s.cmd("USER anonymous")
    s.cmd("HOST localhost")
    s.cmd("PASS a@b")
    s.cmd("HOST localhost")
    s.cmd("QUIT")
    s.close()
    s.blank()

    s.c("fresh connection: QUIT right away, what exactly comes back")
    s.connect()
    s.cmd("QUIT")
    s.more(timeout=2)
    s.close()
    write(args, "pre-login.txt", out)


def line_length(args):
    out = []
    header(out, "Line length, terminators and odd input",
           "each length test uses a fresh connection and is followed by NOOP (if still open)")
    cases = [(b"A" * 510 + b"\r\n", "<'A' * 510><CRLF>  (512 bytes)"),
             (b"A" * 1022 + b"\r\n", "<'A' * 1022><CRLF>  (1024 bytes)"),
             (b"A" * 4094 + b"\r\n", "<'A' * 4094><CRLF>  (4096 bytes)"),
             (b"A" * 4100 + b"\r\n", "<'A' * 4100><CRLF>  (4102 bytes)"),
             (b"A" * 4101 + b"\r\n", "<'A' * 4101><CRLF>  (4103 bytes)"),
             (b"A" * 4102 + b"\r\n", "<'A' * 4102><CRLF>  (4104 bytes)"),
             (b"A" * 4096, "<'A' * 4096>  (4096 bytes, no line terminator yet)"),
             (b"A" * 5000 + b"\r\n", "<'A' * 5000><CRLF>"),
             (b"A" * 12300 + b"\r\n", "<'A' * 12300><CRLF>  (12302 bytes)"),
             (b"A" * 12310 + b"\r\n", "<'A' * 12310><CRLF>  (12312 bytes)"),
             (b"A" * 20000 + b"\r\n", "<'A' * 20000><CRLF>"),
             (b"NOOP " + b"x" * 1100 + b"\r\n", "NOOP <'x' * 1100><CRLF>"),
             (b"USER " + b"u" * 4200 + b"\r\n", "USER <'u' * 4200><CRLF>")]
    for data, label in cases:
        s = S("line-length", args, out)
        s.connect()
        s.send_raw(data, label, timeout=2, show_timing=True)
        if not s.closed:
            more, dt = s.read_reply(1.0)
            if more != [None]:
                s.record("<more>", b"", more, dt)
        for follow in ("NOOP", "SYST"):
            if not s.closed:
                s.cmd(follow, timeout=2, show_timing=True)
        s.close()
        s.blank()

    s = S("line-length", args, out)
    s.c("commands of other protocols (HTTP / SMTP / SSH), each on a fresh connection")
    for data in (b"GET / HTTP/1.0\r\n\r\n", b"get / HTTP/1.0\r\n", b"POST / HTTP/1.1\r\n",
                 b"HEAD / HTTP/1.0\r\n", b"OPTIONS / HTTP/1.0\r\n", b"CONNECT example.com:443 HTTP/1.1\r\n",
                 b"PUT /x HTTP/1.1\r\n", b"EHLO example.com\r\n", b"HELO example.com\r\n",
                 b"MAIL FROM:<a@b>\r\n", b"helo x\r\n", b"SSH-2.0-OpenSSH_9.2\r\n",
                 b"SSH-1.99-x\r\n"):
        s.connect()
        s.send_raw(data, data.decode()[:-2].replace("\r\n", "<CRLF>"), timeout=2, show_timing=True)
        if not s.closed:
            s.cmd("NOOP", timeout=2)
        s.close()
        s.blank()

    s = S("line-length", args, out)
    s.c("a command split over several TCP segments (0.3 s apart)")
    s.connect()
    for parts, label in (([b"NO", b"OP\r\n"], "NO | OP<CRLF>"),
                         ([b"NOOP\r", b"\n"], "NOOP<CR> | <LF>   (CR and LF in different segments)"),
                         ([b"SYST\r\n"], "SYST"),
                         ([b"NOOP", b"\r\n"], "NOOP | <CRLF>")):
        s.out.append("C: " + label)
        t0 = time.monotonic()
        for i, p in enumerate(parts):
            if i:
                time.sleep(0.3)
            s.sock.sendall(p)
        lines, dt = s.read_reply(2.0, t0)
        s.record(label, b"".join(parts), lines, dt, True)
    s.close()
    s.blank()

    s = S("line-length", args, out)
    s.c("bare LF / bare CR terminators, each on a fresh connection, followed by SYST<CRLF>")
    for data, label in ((b"NOOP\n", "NOOP<LF only>"), (b"NOOP\r", "NOOP<CR only>"),
                        (b"NOOP\n\r\n", "NOOP<LF><CR><LF>"), (b"NOOP\r\r\n", "NOOP<CR><CR><LF>"),
                        (b"NOOP\r\n\r\n", "NOOP<CRLF><CRLF>")):
        s.connect()
        s.send_raw(data, label, timeout=1.5)
        s.cmd("SYST", timeout=1.5)
        if not s.closed:
            s.more(timeout=1)
        s.close()
        s.blank()

    s = S("line-length", args, out)
    s.c("odd input on one connection, before login")
    s.connect()
    s.send_raw(b"  NOOP\r\n", "<2 spaces>NOOP")
    s.send_raw(b"NOOP   \r\n", "NOOP<3 spaces>")
    s.send_raw(b"SYST\tx\r\n", "SYST<TAB>x")
    s.send_raw(b"\tSYST\r\n", "<TAB>SYST")
    s.send_raw(b"\r\n", "", timeout=1.5)
    s.send_raw(b"\x00\r\n", "<NUL>", timeout=1.5)
    s.send_raw(b"NO\x00OP\r\n", "NO<NUL>OP")
    s.send_raw(b"\xff\xf4\xff\xf2NOOP\r\n", "<IAC IP IAC DM>NOOP")
    s.send_raw(b"\xff\xff\r\n", "<IAC IAC>", timeout=1.5)
    s.send_raw(b"\xff\xfb\x01NOOP\r\n", "<IAC WILL ECHO>NOOP")
    s.send_raw(b"\xff\xfd\x03NOOP\r\n", "<IAC DO SGA>NOOP")
    s.send_raw(b"\x16\x03\x01\x00\x05hello\r\n", "<TLS-record-like binary>hello")
    s.send_raw(b"\xc3\xa9T\xc3\xa9\r\n", "<UTF-8 'éTé'>")
    s.c("pipelining: two and three commands in one packet")
    s.send_raw(b"NOOP\r\nSYST\r\n", "NOOP<CRLF>SYST")
    s.more(timeout=2)
    s.send_raw(b"USER anonymous\r\nPASS a@b\r\nPWD\r\n", "USER anonymous<CRLF>PASS a@b<CRLF>PWD")
    s.more(timeout=2)
    s.more(timeout=2)
    s.close()
    s.blank()

    s = S("line-length", args, out)
    s.c("odd input on one connection, after an anonymous login")
    s.connect()
    s.send_raw(b"user anonymous\r\n", "user anonymous")
    s.send_raw(b"pass x@\r\n", "pass x@")
    s.send_raw(b"\r\n", "", timeout=1.5)
    s.send_raw(b" \r\n", "<one space>", timeout=1.5)
    s.send_raw(b"  NOOP\r\n", "<2 spaces>NOOP")
    s.send_raw(b"NOOP   \r\n", "NOOP<3 spaces>")
    s.send_raw(b"PWD x\r\n", "PWD x")
    s.send_raw(b"noop\r\n", "noop")
    s.send_raw(b"NoOp\r\n", "NoOp")
    s.send_raw(b"SYST\tx\r\n", "SYST<TAB>x")
    s.send_raw(b"CWD  pub\r\n", "CWD<2 spaces>pub")
    s.send_raw(b"CWD pub \r\n", "CWD pub<1 trailing space>")
    s.send_raw(b"CWD /\r\n", "CWD /")
    s.send_raw(b"CWD\tpub\r\n", "CWD<TAB>pub")
    s.send_raw(b"CWD /\r\n", "CWD /")
    s.send_raw(b"SIZE  README.txt\r\n", "SIZE<2 spaces>README.txt")
    s.send_raw(b"SIZE README.txt \r\n", "SIZE README.txt<1 trailing space>")
    s.send_raw(b"TYPE  I\r\n", "TYPE<2 spaces>I")
    s.send_raw(b"TYPE i\r\n", "TYPE i")
    s.send_raw(b"MODE s\r\n", "MODE s")
    s.send_raw(b"\xff\xf4\xff\xf2ABOR\r\n", "<IAC IP IAC DM>ABOR")
    s.send_raw(b"NO\x00OP\r\n", "NO<NUL>OP")
    s.send_raw(b"SIZE READ\x00ME.txt\r\n", "SIZE READ<NUL>ME.txt")
    s.send_raw(b"SIZE README.txt\x00junk\r\n", "SIZE README.txt<NUL>junk")
    s.send_raw(b"SIZE READ\xff\xffME.txt\r\n", "SIZE READ<IAC IAC>ME.txt")
    s.send_raw(b"\xc3\xa9T\xc3\xa9\r\n", "<UTF-8 'éTé'>")
    s.send_raw(b"CWD \xc3\xa9\r\n", "CWD <UTF-8 'é'>")
    s.send_raw(b"CWD \xe9\r\n", "CWD <latin-1 'é' (invalid UTF-8)>")
    s.send_raw(b"NOOP\r\nSYST\r\n", "NOOP<CRLF>SYST")
    s.more(timeout=2)
    s.send_raw(b"A" * 600 + b"\r\n", "<'A' * 600>")
    s.send_raw(b"A" * 4095 + b"\r\n", "<'A' * 4095><CRLF>  (4097 bytes)", timeout=2)
    if not s.closed:
        more, dt = s.read_reply(1.0)
        if more != [None]:
            s.record("<more>", b"", more, dt)
    if not s.closed:
        s.cmd("NOOP", timeout=2)
    s.close()
    write(args, "line-length.txt", out)


def failed_login(args):
    out = []
    header(out, "Failed logins",
           "MaxLoginAttempts is not set by Debian (ProFTPD default 3); mod_delay: DelayEngine on\n"
           "root is in /etc/ftpusers (UseFtpUsers default on; also RootLogin default off);\n"
           "PAM (/etc/pam.d/proftpd: pam_listfile /etc/ftpusers + common-auth = pam_unix)")
    s = S("failed-login", args, out)
    s.connect()
    for user, pw in (("root", "wrong"), ("ftptest", "wrong"), ("nosuchuser", "x")):
        s.cmd("USER " + user)
        s.cmd("PASS " + pw, show_timing=True, timeout=15)
        if not s.closed:
            s.cmd("NOOP")
    if not s.closed:
        s.c("wait for the server, sending nothing")
        s.silent(3)
    if not s.closed:
        s.cmd("USER ftptest")
        s.cmd("PASS ftptest", show_timing=True, timeout=15)
        s.cmd("QUIT")
    s.close()
    s.blank()

    s.c("delay samples: 3 more connections x up to 3 failures")
    delays = {}
    for conn in range(3):
        s.connect()
        for user in ("nosuchuser", "ftptest", "admin"):
            if s.closed:
                break
            s.cmd("USER " + user)
            t0 = time.monotonic()
            s.cmd("PASS password%d" % conn, show_timing=True, timeout=15)
            delays.setdefault(user, []).append(s.raw[-1]["seconds"])
        if not s.closed:
            s.silent(2)
        s.close()
    for k, v in delays.items():
        s.c("PASS->530 delays for %s: %s" % (k, ", ".join("%.2f" % d for d in v)))
    s.blank()

    s.c("odd user names")
    s.connect()
    for user in ("-root", "a" * 33):
        s.cmd("USER " + user)
        s.cmd("PASS x", show_timing=True, timeout=15)
    s.close()
    s.blank()

    s.c("fresh connection: state after one failure, PASS again without USER")
    s.connect()
    s.cmd("USER root")
    s.cmd("PASS toor", show_timing=True, timeout=15)
    s.cmd("PASS toor", show_timing=True, timeout=15)
    s.cmd("PWD")
    s.cmd("QUIT")
    s.close()
    s.blank()

    s.c("fresh connection: USER twice, the 2nd replaces the 1st?")
    s.connect()
    s.cmd("USER ftptest")
    s.cmd("USER root")
    s.cmd("PASS ftptest", show_timing=True, timeout=15)
    s.cmd("QUIT")
    s.close()
    s.blank()

    s.c("fresh connection: USER root then USER ftptest then the right password")
    s.connect()
    s.cmd("USER root")
    s.cmd("USER ftptest")
    s.cmd("PASS ftptest", show_timing=True, timeout=15)
    s.cmd("PWD")
    s.c("USER / PASS again while logged in")
    s.cmd("USER ftptest")
    s.cmd("PASS ftptest")
    s.cmd("USER anonymous")
    s.cmd("PASS x@")
    s.cmd("PWD")
    s.cmd("QUIT")
    s.close()
    s.blank()

    s.c("fresh connection: correct password, wrong case user")
    s.connect()
    s.cmd("USER FTPTEST")
    s.cmd("PASS ftptest", show_timing=True, timeout=15)
    s.cmd("QUIT")
    s.close()
    s.blank()

    s.c("fresh connection: anonymous variants: USER ftp / empty password")
    s.connect()
    s.cmd("USER ftp")
    s.cmd("PASS", show_timing=True)
    s.cmd("PWD")
    s.cmd("QUIT")
    s.close()
    s.blank()
    s.connect()
    s.cmd("USER anonymous")
    s.send_raw(b"PASS \r\n", "PASS<space>", show_timing=True)
    s.cmd("PWD")
    s.cmd("QUIT")
    s.close()
    s.blank()
    s.c("USER ANONYMOUS / Anonymous (upper/mixed case)")
    s.connect()
    s.cmd("USER ANONYMOUS")
    s.cmd("PASS a@b", show_timing=True, timeout=15)
    s.cmd("USER Anonymous")
    s.cmd("PASS a@b", show_timing=True, timeout=15)
    s.close()
    s.blank()
    s.c("the nmap/ftp-anon style login, USER anonymous / PASS IEUser@")
    s.connect()
    s.cmd("USER anonymous")
    s.cmd("PASS IEUser@", show_timing=True)
    s.cmd("QUIT")
    s.close()
    s.blank()
    s.c("user 'ftp' with a wrong-looking password is still anonymous; local user with an empty password")
    s.connect()
    s.cmd("USER ftptest")
    s.cmd("PASS", show_timing=True, timeout=15)
    s.cmd("QUIT")
    s.close()
    s.blank()
    s.c("system account that exists but has no valid shell/password (nobody, in /etc/ftpusers), and 'proftpd'")
    s.connect()
    s.cmd("USER nobody")
    s.cmd("PASS x", show_timing=True, timeout=15)
    s.cmd("USER proftpd")
    s.cmd("PASS x", show_timing=True, timeout=15)
    s.close()
    write(args, "failed-login.txt", out)


ANON_NOTE = ("anonymous root = ~ftp = /srv/ftp (chroot): welcome.msg (Debian's, 170 bytes, root:root),\n"
             "README.txt (49 bytes), incoming/ (mtime 2021-11-02), pub/ with .message, data.bin (6756 bytes),\n"
             "hello.txt, old-release.tar.gz (mtime 2019-03-14); all root:root except / (ftp:nogroup);\n"
             "<Anonymous> has DirFakeUser/DirFakeGroup on ftp and <Limit WRITE> DenyAll")


def anonymous(args):
    out = []
    header(out, "Anonymous session", ANON_NOTE)
    s = S("anonymous", args, out)
    s.connect()
    s.cmd("USER anonymous")
    s.cmd("PASS a@b", show_timing=True)
    for cmd in ["SYST", "FEAT", "HELP", "HELP RETR", "HELP SITE", "HELP FOO", "STAT", "PWD", "XPWD",
                "CWD pub", "PWD", "CWD missing", "CDUP", "PWD", "CWD /pub", "XCUP",
                "XCWD incoming", "CDUP", "CDUP", "CWD ..", "CWD /..", "PWD", "CWD ~", "PWD", "CWD",
                "PWD", "CWD README.txt", "CWD /etc", "CWD /",
                "TYPE A", "TYPE I", "TYPE X", "TYPE L 8", "TYPE L 7", "TYPE A N", "TYPE A T",
                "TYPE E", "TYPE", "MODE S", "MODE B", "MODE C", "MODE Z", "MODE", "STRU F",
                "STRU R", "STRU P", "STRU"]:
        s.cmd(cmd)
    s.blank()
    s.c("--- data connection not set up ---")
    s.cmd("LIST", timeout=8, show_timing=True)
    s.cmd("NLST", timeout=8)
    s.cmd("RETR README.txt", timeout=8)
    s.cmd("MLSD", timeout=8)
    s.blank()
    s.c("--- PASV / EPSV replies ---")
    s.cmd("PASV")
    s.cmd("PASV")
    s.cmd("EPSV")
    s.cmd("EPSV 1")
    s.cmd("EPSV 2")
    s.cmd("EPSV 3")
    s.cmd("EPSV foo")
    s.blank()
    s.c("--- PORT / EPRT ---")
    s.cmd("PORT 127,0,0,1,156,64")
    s.c("third-party address (bounce): refused?  (nothing is connected: no transfer command follows)")
    s.cmd("PORT 10,1,2,3,156,64")
    s.cmd("PORT 127,0,0,2,156,64")
    s.c("privileged ports")
    s.cmd("PORT 127,0,0,1,0,21")
    s.cmd("PORT 127,0,0,1,3,255")
    s.cmd("PORT 127,0,0,1,4,0")
    s.c("malformed")
    s.cmd("PORT 1,2,3")
    s.cmd("PORT 300,0,0,1,1,1")
    s.cmd("PORT 127,0,0,1,300,1")
    s.cmd("PORT 127,0,0,1,0,0")
    s.cmd("PORT")
    s.cmd("EPRT |1|127.0.0.1|40064|")
    s.cmd("EPRT |1|10.1.2.3|40064|")
    s.cmd("EPRT |1|127.0.0.1|21|")
    s.cmd("EPRT |2|::1|40064|")
    s.cmd("EPRT |2|::ffff:127.0.0.1|40064|")
    s.cmd("EPRT |3|127.0.0.1|40064|")
    s.cmd("EPRT !1!127.0.0.1!40064!")
    s.cmd("EPRT 127.0.0.1")
    s.cmd("EPRT")
    s.cmd("LPRT 4,4,127,0,0,1,2,156,64")
    s.cmd("LPSV")
    s.blank()
    s.c("--- PORT to a closed local port, then LIST ---")
    ls = s.listen_port()
    p = ls.getsockname()[1]
    ls.close()
    s.cmd("PORT 127,0,0,1,%d,%d" % (p >> 8, p & 255))
    if s.code(s.cmd("LIST", timeout=10, show_timing=True)) in (150, 125):
        s.more(timeout=10, show_timing=True)
    s.blank()
    s.c("--- listings (TYPE A) ---")
    s.cmd("TYPE A")
    s.c("LIST over PASV")
    s.transfer("LIST", "PASV")
    s.c("LIST over PORT")
    s.transfer("LIST", "PORT")
    s.c("LIST -la over EPSV")
    s.transfer("LIST -la", "EPSV")
    s.c("LIST -a over EPRT")
    s.transfer("LIST -a", "EPRT")
    s.transfer("LIST pub", "PASV")
    s.transfer("LIST -l pub", "PASV")
    s.transfer("LIST pub/hello.txt", "PASV")
    s.transfer("LIST missing", "PASV")
    s.transfer("LIST -R", "PASV")
    s.transfer("LIST -t", "PASV")
    s.transfer("LIST *.txt", "PASV")
    s.transfer("LIST /etc", "PASV")
    s.transfer("LIST ../..", "PASV")
    s.transfer("NLST", "PASV")
    s.transfer("NLST pub", "PASV")
    s.transfer("NLST -l", "PASV")
    s.transfer("NLST -a", "PASV")
    s.transfer("NLST missing", "PASV")
    s.transfer("NLST *.txt", "PASV")
    s.transfer("MLSD", "PASV")
    s.transfer("MLSD pub", "PASV")
    s.transfer("MLSD README.txt", "PASV")
    s.transfer("MLSD missing", "PASV")
    s.cmd("MLST")
    s.cmd("MLST README.txt")
    s.cmd("MLST pub")
    s.cmd("MLST /pub/hello.txt")
    s.cmd("MLST missing")
    s.cmd("OPTS MLST type;size;")
    s.cmd("MLST README.txt")
    s.cmd("OPTS MLST")
    s.cmd("MLST README.txt")
    s.cmd("OPTS MLST modify;perm;size;type;unique;UNIX.group;UNIX.groupname;UNIX.mode;UNIX.owner;UNIX.ownername;")
    s.blank()
    s.c("--- STAT with arguments (listing on the control connection) ---")
    s.cmd("STAT .")
    s.cmd("STAT pub")
    s.cmd("STAT -la")
    s.cmd("STAT README.txt")
    s.cmd("STAT missing")
    s.blank()
    s.c("--- SIZE / MDTM ---")
    s.cmd("TYPE I")
    s.cmd("SIZE README.txt")
    s.cmd("SIZE pub/data.bin")
    s.cmd("SIZE missing")
    s.cmd("SIZE pub")
    s.cmd("SIZE")
    s.cmd("TYPE A")
    s.cmd("SIZE README.txt")
    s.cmd("MDTM README.txt")
    s.cmd("MDTM pub/old-release.tar.gz")
    s.cmd("MDTM missing")
    s.cmd("MDTM pub")
    s.cmd("MDTM")
    s.cmd("MDTM 20200101000000 README.txt")
    s.cmd("MFMT 20200101000000 README.txt")
    s.cmd("MFF modify=20200101000000; README.txt")
    s.blank()
    s.c("--- RETR ---")
    s.c("RETR in ASCII mode")
    s.transfer("RETR README.txt", "PASV")
    s.cmd("TYPE I")
    s.c("RETR in binary mode")
    s.transfer("RETR pub/hello.txt", "PASV")
    s.transfer("RETR pub/data.bin", "PASV", show="hash")
    s.transfer("RETR /pub/data.bin", "EPRT", show="hash")
    s.cmd("REST 100")
    s.transfer("RETR pub/data.bin", "PASV", show="hash")
    s.cmd("REST 100")
    s.cmd("REST 0")
    s.cmd("REST abc")
    s.cmd("REST -5")
    s.cmd("REST 99999999")
    s.transfer("RETR pub/data.bin", "PASV", show="hash")
    s.cmd("REST")
    s.cmd("TYPE A")
    s.cmd("REST 10")
    s.transfer("RETR README.txt", "PASV")
    s.cmd("TYPE I")
    s.transfer("RETR missing", "PASV")
    s.transfer("RETR pub", "PASV")
    s.cmd("RETR")
    s.cmd("RANG 0 9")
    s.transfer("RETR README.txt", "PASV")
    s.cmd("RANG 5 1")
    s.cmd("RANG")
    s.blank()
    s.c("--- write commands (anonymous: <Limit WRITE> DenyAll) ---")
    s.transfer("STOR up.txt", "PASV", upload=b"x\r\n")
    s.cmd("STOR up.txt")
    s.cmd("STOR incoming/up.txt")
    s.cmd("APPE README.txt")
    s.cmd("STOU")
    s.cmd("STOU up.txt")
    s.cmd("DELE README.txt")
    s.cmd("DELE missing")
    s.cmd("MKD newdir")
    s.cmd("XMKD newdir")
    s.cmd("MKD pub")
    s.cmd("RMD pub")
    s.cmd("XRMD pub")
    s.cmd("RMD missing")
    s.cmd("RNFR README.txt")
    s.cmd("RNTO x.txt")
    s.cmd("RNFR missing")
    s.cmd("RNTO x.txt")
    s.cmd("SITE HELP")
    s.cmd("SITE CHMOD 777 README.txt")
    s.cmd("SITE CHGRP ftp README.txt")
    s.cmd("SITE UMASK 077")
    s.cmd("SITE MKDIR x")
    s.cmd("SITE RMDIR pub")
    s.cmd("SITE SYMLINK README.txt r2")
    s.cmd("SITE UTIME 20200101000000 README.txt")
    s.cmd("SITE CPFR README.txt")
    s.cmd("SITE CPTO /incoming/r.txt")
    s.cmd("SITE COPY README.txt r3")
    s.cmd("SITE")
    s.cmd("SITE FOO")
    s.blank()
    s.c("--- misc ---")
    s.cmd("ABOR")
    s.cmd("ACCT x")
    s.cmd("ALLO 1000")
    s.cmd("ALLO")
    s.cmd("NOOP")
    s.cmd("SMNT /")
    s.cmd("REIN")
    s.cmd("OPTS UTF8 ON")
    s.cmd("OPTS UTF8 OFF")
    s.cmd("OPTS UTF8")
    s.cmd("OPTS FOO")
    s.cmd("AUTH TLS")
    s.cmd("PBSZ 0")
    s.cmd("PROT P")
    s.cmd("CCC")
    s.cmd("HOST localhost")
    s.cmd("LANG")
    s.cmd("LANG en")
    s.cmd("LANG C.UTF-8")
    s.cmd("CLNT foo/1.0")
    s.cmd("CSID Name=test; Version=1;")
    s.cmd("FOO")
    s.cmd("STAT")
    s.cmd("USER root")
    s.cmd("PASS x")
    s.cmd("PWD")
    s.cmd("QUIT")
    s.more(timeout=2)
    s.close()
    write(args, "anonymous.txt", out)


def anonymous_epsv_all(args):
    out = []
    header(out, "Anonymous session: EPSV ALL and what it locks out")
    s = S("anonymous-epsv-all", args, out)
    s.connect()
    s.cmd("USER ftp")
    s.cmd("PASS a@b")
    s.cmd("EPSV ALL")
    s.cmd("PASV")
    s.cmd("PORT 127,0,0,1,156,64")
    s.cmd("EPRT |1|127.0.0.1|40064|")
    s.transfer("LIST", "EPSV")
    s.cmd("epsv all")
    s.cmd("EPSV all")
    s.cmd("QUIT")
    s.close()
    write(args, "anonymous-epsv-all.txt", out)


def local_user(args):
    out = []
    header(out, "Local user session (%s)" % args.local_user,
           "home /home/ftptest: .bash_logout .bashrc .profile (2025-04-18), docs/ (today),\n"
           "notes.txt (mtime 2018-07-04), big.bin (50 MiB sparse), huge.iso (12 GiB sparse),\n"
           "future.txt (mtime 2027-06-01), recent-150d.txt, old-200d.txt, link-to-notes -> notes.txt,\n"
           "dangling-link -> /nonexistent, 'my file.txt', suid.sh (mode 4755); not chrooted\n"
           "(Debian: '# DefaultRoot ~' commented out), Umask 022 022, AllowOverwrite on")
    u = args.local_user
    s = S("local-user", args, out)
    s.connect()
    s.cmd("USER " + u)
    s.cmd("PASS " + args.local_pass, show_timing=True, timeout=10)
    for cmd in ["SYST", "FEAT", "HELP", "STAT", "PWD", "XPWD", "CWD docs", "PWD",
                "CDUP", "XCWD docs", "XCUP", "CWD /nonexistent", "CWD /etc", "PWD", "CWD ~", "PWD",
                "CWD /root", "CWD ~root", "CWD ~ftp", "PWD", "CWD ~nosuchuser",
                "CWD /home/" + u, "OPTS UTF8 ON", "OPTS UTF8 OFF", "TYPE I"]:
        s.cmd(cmd)
    s.blank()
    s.c("--- listings before uploads ---")
    s.transfer("LIST", "PASV")
    s.transfer("LIST -la", "PASV")
    s.transfer("LIST -a", "PASV")
    s.transfer("LIST -l /home/%s/docs" % u, "PASV")
    s.transfer("MLSD", "PASV")
    s.cmd("MLST")
    s.cmd("MLST notes.txt")
    s.cmd("MLST link-to-notes")
    s.cmd("MLST dangling-link")
    s.cmd("MLST docs")
    s.cmd("MLST suid.sh")
    s.cmd("MLST my file.txt")
    s.cmd("MLST /etc/passwd")
    s.blank()
    s.c("--- uploads ---")
    s.transfer("STOR upload.txt", "PASV", upload=b"line one\r\nline two\r\n")
    s.transfer("APPE upload.txt", "PASV", upload=b"appended\r\n")
    s.transfer("STOU", "PASV", upload=b"unique 1\n")
    s.transfer("STOU", "PASV", upload=b"unique 2\n")
    s.transfer("STOU upload.txt", "PASV", upload=b"unique 3\n")
    s.transfer("STOR /etc/forbidden.txt", "PASV", upload=b"x\n")
    s.transfer("STOR", "PASV", upload=b"x\n")
    s.transfer("STOR docs", "PASV", upload=b"x\n")
    s.cmd("TYPE A")
    s.transfer("STOR ascii.txt", "PASV", upload=b"a\r\nb\nc\r\n")
    s.cmd("TYPE I")
    s.transfer("RETR ascii.txt", "PASV")
    s.cmd("TYPE A")
    s.transfer("RETR ascii.txt", "PASV")
    s.cmd("SIZE ascii.txt")
    s.cmd("TYPE I")
    s.cmd("SIZE ascii.txt")
    s.cmd("REST 5")
    s.transfer("STOR upload.txt", "PASV", upload=b"REPLACED\r\n")
    s.transfer("RETR upload.txt", "PASV")
    s.cmd("SIZE upload.txt")
    s.cmd("MDTM upload.txt")
    s.cmd("REST 4")
    s.transfer("APPE upload.txt", "PASV", upload=b"X")
    s.transfer("STOR upload.txt", "PORT", upload=b"line one\r\nline two\r\n")
    s.cmd("ALLO 1000")
    s.cmd("ALLO 1000 R 10")
    s.cmd("ALLO x")
    s.blank()
    s.c("--- directory ops ---")
    s.cmd("MKD newdir")
    s.cmd("MKD newdir")
    s.cmd("XMKD /home/%s/newdir2" % u)
    s.cmd("MKD /etc/nope")
    s.cmd("MKD")
    s.cmd("MKD with space")
    s.cmd('MKD q"uote')
    s.transfer("STOR newdir/inner.txt", "PASV", upload=b"inner\n")
    s.cmd("RMD newdir")
    s.cmd("DELE newdir/inner.txt")
    s.cmd("RMD newdir")
    s.cmd("XRMD newdir2")
    s.cmd("RMD with space")
    s.cmd('RMD q"uote')
    s.cmd("RMD missing")
    s.cmd("RMD notes.txt")
    s.cmd("DELE docs")
    s.cmd("DELE missing")
    s.cmd("DELE")
    s.blank()
    s.c("--- rename / delete / site ---")
    s.cmd("RNTO nothing.txt")
    s.cmd("RNFR missing.txt")
    s.cmd("RNFR upload.txt")
    s.cmd("NOOP")
    s.cmd("RNTO renamed.txt")
    s.cmd("RNFR upload.txt")
    s.cmd("RNFR renamed.txt")
    s.cmd("RNTO /etc/renamed.txt")
    s.cmd("RNFR renamed.txt")
    s.cmd("RNTO")
    s.cmd("SITE HELP")
    s.cmd("SITE HELP CHMOD")
    s.cmd("SITE CHMOD 600 renamed.txt")
    s.cmd("SITE CHMOD 600 missing.txt")
    s.cmd("SITE CHMOD 999 renamed.txt")
    s.cmd("SITE CHMOD abc renamed.txt")
    s.cmd("SITE CHMOD 600")
    s.cmd("SITE CHMOD")
    s.cmd("SITE chmod 644 renamed.txt")
    s.cmd("SITE CHGRP ftptest renamed.txt")
    s.cmd("SITE CHGRP root renamed.txt")
    s.cmd("SITE CHGRP")
    s.cmd("SITE UMASK")
    s.cmd("SITE UMASK 077")
    s.cmd("SITE MKDIR sitedir/sub")
    s.cmd("SITE RMDIR sitedir")
    s.cmd("SITE SYMLINK renamed.txt sym.txt")
    s.cmd("SITE SYMLINK")
    s.cmd("SITE UTIME 20200101120000 renamed.txt")
    s.cmd("SITE UTIME renamed.txt 20200101120000 20200101120000 20200101120000 UTC")
    s.cmd("SITE UTIME")
    s.cmd("SITE CPFR renamed.txt")
    s.cmd("SITE CPTO copy.txt")
    s.cmd("SITE CPTO copy2.txt")
    s.cmd("SITE CPFR /etc/passwd")
    s.cmd("SITE CPTO passwd.copy")
    s.cmd("SITE COPY renamed.txt copy3.txt")
    s.cmd("SITE EXEC id")
    s.cmd("SITE QUOTA")
    s.cmd("SITE RATIO")
    s.cmd("SITE DESCRIBE x")
    s.cmd("SITE FOO")
    s.cmd("SITE")
    s.cmd("MDTM 20200101120000 renamed.txt")
    s.cmd("MDTM renamed.txt")
    s.cmd("MFMT 20210202121212 renamed.txt")
    s.cmd("MDTM renamed.txt")
    s.cmd("MFMT 2021 renamed.txt")
    s.cmd("MFF modify=20220303131313;UNIX.mode=0640; renamed.txt")
    s.cmd("MLST renamed.txt")
    s.blank()
    s.c("--- listings after the uploads (recent vs old dates) ---")
    s.cmd("MKD emptydir")
    s.transfer("LIST", "PASV")
    s.transfer("NLST", "PASV")
    s.transfer("LIST link-to-notes", "PASV")
    s.transfer("LIST dangling-link", "PASV")
    s.transfer("LIST my file.txt", "PASV")
    s.transfer("LIST *.txt", "PASV")
    s.transfer("NLST *.txt", "PASV")
    s.transfer("LIST emptydir", "PASV")
    s.transfer("NLST emptydir", "PASV")
    s.transfer("LIST /srv/ftp/pub", "PASV")
    s.transfer("LIST -R docs", "PASV")
    s.transfer("MLSD /srv/ftp/pub", "PASV")
    s.c("date format boundaries: /tmp/proftpd-dates has files with mtime N days in the past / future (see setup.sh)")
    s.transfer("LIST -t /tmp/proftpd-dates", "PASV")
    s.cmd("SIZE huge.iso")
    s.cmd("SIZE link-to-notes")
    s.cmd("MDTM future.txt")
    s.cmd("MDTM link-to-notes")
    s.cmd("STAT .")
    s.cmd("STAT renamed.txt")
    s.cmd("STAT emptydir")
    s.cmd("STAT")
    s.blank()
    s.c("--- ABOR while a download is running ---")
    s.c("(a) client reads nothing, sends <IAC IP><IAC DM>ABOR inline (no TCP urgent data)")
    addr = s.pasv("PASV")
    d = socket.create_connection((args.host, addr[1]), timeout=5)
    d.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.cmd("RETR big.bin")
    time.sleep(0.3)
    s.send_raw(b"\xff\xf4\xff\xf2ABOR\r\n", "<IAC IP IAC DM>ABOR (inline)", timeout=3, show_timing=True)
    s.more(timeout=3, show_timing=True)
    s.c("client now closes the data connection without having read from it")
    d.close()
    s.more(timeout=3, show_timing=True)
    s.more(timeout=2)
    s.cmd("NOOP")
    s.blank()
    s.c("(b) BSD-ftp style: IAC IP inline, IAC DM as TCP urgent (MSG_OOB) data, then ABOR; client reads nothing")
    addr = s.pasv("PASV")
    d = socket.create_connection((args.host, addr[1]), timeout=5)
    s.cmd("RETR big.bin")
    time.sleep(0.3)
    s.out.append("C: <IAC IP><IAC (urgent) DM>ABOR")
    t0 = time.monotonic()
    s.sock.send(b"\xff\xf4\xff")
    s.sock.send(b"\xf2", socket.MSG_OOB)
    s.sock.send(b"ABOR\r\n")
    lines, dt = s.read_reply(3, t0)
    s.record("<IAC IP><IAC DM urgent>ABOR", b"\xff\xf4\xff[OOB \xf2]ABOR\r\n", lines, dt, True)
    s.more(timeout=3, show_timing=True)
    d.close()
    s.more(timeout=2, show_timing=True)
    s.cmd("NOOP")
    s.blank()
    s.c("(c) plain 'ABOR' while the client is reading the data (it keeps reading until EOF)")
    addr = s.pasv("PASV")
    d = socket.create_connection((args.host, addr[1]), timeout=5)
    s.cmd("RETR big.bin")
    got = d.recv(65536)
    s.cmd("ABOR", timeout=3, show_timing=True)
    total = len(got)
    try:
        while True:
            c = d.recv(65536)
            if not c:
                break
            total += len(c)
    except (socket.timeout, ConnectionResetError) as e:
        s.c("data socket: %r" % e)
    d.close()
    s.c("(client received %d of 52428800 bytes before the data connection ended)" % total)
    s.more(timeout=3, show_timing=True)
    s.more(timeout=2)
    s.cmd("NOOP")
    s.blank()
    s.c("(d) STAT during a download (control command while the data connection is busy)")
    addr = s.pasv("PASV")
    d = socket.create_connection((args.host, addr[1]), timeout=5)
    s.cmd("RETR big.bin")
    d.recv(65536)
    s.cmd("STAT", timeout=3)
    s.cmd("NOOP", timeout=3)
    d.close()
    s.more(timeout=3, show_timing=True)
    s.more(timeout=2)
    s.blank()
    s.c("--- clean up ---")
    for f in ("renamed.txt", "ascii.txt", "copy.txt", "copy2.txt", "copy3.txt", "passwd.copy",
              "sym.txt", "upload.txt"):
        s.cmd("DELE " + f)
    s.transfer("NLST", "PASV")
    s.cmd("RMD emptydir")
    s.cmd("REIN")
    s.cmd("ACCT x")
    s.cmd("SMNT /")
    s.cmd("AUTH TLS")
    s.cmd("HOST localhost")
    s.cmd("LANG")
    s.cmd("LANG en")
    s.cmd("LANG C.UTF-8")
    s.cmd("CLNT lftp/4.9.2")
    s.cmd("NOOP")
    s.cmd("QUIT")
    s.more(timeout=2)
    s.close()
    # remove STOU leftovers (names are random) via a second session
    s2 = PSession("local-user-cleanup", args.host, args.port, [])
    s2.connect()
    s2.cmd("USER " + u)
    s2.cmd("PASS " + args.local_pass, timeout=10)
    for name in os.listdir("/home/" + u) if os.path.isdir("/home/" + u) else []:
        if name.startswith(("upload.txt.", "ftp")) or re.match(r"^[A-Za-z0-9]{6,}$", name):
            if name not in ("notes.txt", "big.bin", "huge.iso", "future.txt", "suid.sh", "docs"):
                s2.cmd("DELE " + name)
    s2.cmd("QUIT")
    s2.close()
    RAW.pop("local-user-cleanup", None)
    write(args, "local-user.txt", out)


def bounce(args):
    """PORT/EPRT to third-party addresses and privileged ports (local user)."""
    out = []
    header(out, "Bounce / foreign-address PORT and EPRT (local user, AllowForeignAddress default off)",
           "runs in a network namespace that only has lo (127.0.0.0/8, ::1): nothing outside can be reached")
    s = S("bounce", args, out)
    s.connect()
    s.cmd("USER " + args.local_user)
    s.cmd("PASS " + args.local_pass, timeout=10)
    for cmd in ["PORT 8,8,8,8,156,64", "PORT 1,2,3,4,0,80", "PORT 127,0,0,2,156,64",
                "PORT 10,0,0,1,80,80", "PORT 192,168,1,1,156,64", "PORT 172,16,0,1,156,64",
                "PORT 172,32,0,1,156,64", "PORT 100,64,0,1,156,64", "PORT 169,254,1,1,156,64",
                "PORT 0,0,0,0,156,64", "PORT 255,255,255,255,156,64",
                "PORT 127,0,0,1,0,25", "PORT 127,0,0,1,3,255", "PORT 127,0,0,1,4,0",
                "PORT 10,0,0,1,0,25",
                "EPRT |1|8.8.8.8|80|", "EPRT |1|10.0.0.1|80|", "EPRT |1|192.168.1.1|40064|",
                "EPRT |1|127.0.0.2|40064|", "EPRT |1|127.0.0.1|25|", "EPRT |1|127.0.0.1|1023|",
                "EPRT |1|127.0.0.1|1024|", "EPRT |2|::1|40064|", "EPRT |2|2001:db8::1|40064|",
                "EPRT |1|0.0.0.0|40064|"]:
        s.cmd(cmd)
    s.blank()
    s.c("An accepted PORT with a private (RFC 1918) address: where does the server really connect?")
    s.c("The client listens on 127.0.0.1:<p> and sends PORT 10,1,2,3,<p>; then LIST.")
    ls = s.listen_port()
    p = ls.getsockname()[1]
    s.cmd("PORT 10,1,2,3,%d,%d" % (p >> 8, p & 255))
    lines = s.cmd("LIST")
    try:
        d, peer = ls.accept()
        s.c("(a data connection arrived at 127.0.0.1:%d from %s:%d, i.e. the server used the"
            " control connection's client address instead of 10.1.2.3)" % (p, peer[0], peer[1]))
        data = b""
        d.settimeout(5)
        while True:
            c = d.recv(65536)
            if not c:
                break
            data += c
        d.close()
        s.c("(%d bytes of listing received)" % len(data))
    except socket.timeout:
        s.c("(no data connection arrived at 127.0.0.1:%d)" % p)
    ls.close()
    s.more(timeout=5)
    s.blank()
    s.c("same with EPRT |1|192.168.7.7|<p>|")
    ls = s.listen_port()
    p = ls.getsockname()[1]
    s.cmd("EPRT |1|192.168.7.7|%d|" % p)
    s.cmd("NLST")
    try:
        d, peer = ls.accept()
        s.c("(a data connection arrived at 127.0.0.1:%d from %s:%d)" % (p, peer[0], peer[1]))
        d.settimeout(5)
        while d.recv(65536):
            pass
        d.close()
    except socket.timeout:
        s.c("(no data connection arrived at 127.0.0.1:%d)" % p)
    ls.close()
    s.more(timeout=5)
    s.blank()
    s.c("a refused PORT leaves no data address: LIST right after 'PORT 8,8,8,8,...' (500)")
    s.cmd("PORT 8,8,8,8,156,64")
    s.cmd("LIST", timeout=5, show_timing=True)
    s.cmd("QUIT")
    s.close()
    write(args, "bounce.txt", out)


def addresses(args):
    """Client address as the server shows it: IPv4 with and without a hosts entry, and IPv6."""
    out = []
    header(out, "Client/server addresses in replies: 127.0.0.2 (no /etc/hosts name) and IPv6 [::1]",
           "the stock listener is one dual-stack [::] socket (UseIPv6 on); /etc/hosts maps 127.0.0.1 and ::1\n"
           "to localhost; 127.0.0.2 has no name")
    s = S("addresses", args, out)
    s.source = "127.0.0.2"
    s.connect()
    s.cmd("USER anonymous")
    s.cmd("PASS a@b")
    s.cmd("STAT")
    s.cmd("PASV")
    s.cmd("EPSV")
    s.cmd("QUIT")
    s.close()
    s.blank()
    s = S("addresses", args, out, host="::1")
    s.connect()
    s.cmd("USER anonymous")
    s.cmd("PASS a@b")
    s.cmd("STAT")
    s.cmd("PASV")
    s.cmd("EPSV")
    s.cmd("EPSV 1")
    s.cmd("EPSV 2")
    s.cmd("PORT 127,0,0,1,156,64")
    s.cmd("EPRT |1|127.0.0.1|40064|")
    s.cmd("EPRT |2|::1|40064|")
    s.transfer("LIST", "EPSV")
    s.transfer("NLST", "EPRT6")
    s.cmd("QUIT")
    s.close()
    write(args, "addresses.txt", out)


def limits(args):
    out = []
    header(out, "Connection limits and timeouts (second instance, proftpd-limits.conf)",
           "proftpd-limits.conf = proftpd.conf with: MaxInstances 5, MaxClientsPerHost 2, anonymous\n"
           "MaxClients 3 (Debian: 10), TimeoutLogin 3, TimeoutIdle 4, TimeoutNoTransfer 8, TimeoutStalled 5\n"
           "(Debian: MaxInstances 30, no MaxClientsPerHost, TimeoutIdle 1200, TimeoutNoTransfer 600,\n"
           " TimeoutStalled 600, TimeoutLogin unset = ProFTPD default 300)",
           conf="proftpd-limits.conf")
    port = args.limits_port

    def sess(src=None):
        x = PSession("limits", args.host, port, out)
        x.source = src
        return x

    keep = []
    s = sess()
    s.c("--- MaxClientsPerHost 2: two anonymous logins from 127.0.0.1, then a third ---")
    for i in (1, 2):
        x = sess()
        x.connect()
        x.cmd("USER anonymous")
        x.cmd("PASS a@b")
        keep.append(x)
    x = sess()
    x.connect()
    x.cmd("USER anonymous")
    x.cmd("PASS a@b")
    if not x.closed:
        x.silent(1)
    x.close()
    s.c("same, as local user (MaxClientsPerHost is server-wide)")
    x = sess()
    x.connect()
    x.cmd("USER " + args.local_user)
    x.cmd("PASS " + args.local_pass, timeout=10)
    if not x.closed:
        x.silent(1)
    x.close()
    s.blank()
    s.c("--- anonymous MaxClients 3: third anon login from 127.0.0.2, fourth from 127.0.0.3 ---")
    x = sess("127.0.0.2")
    x.connect()
    x.cmd("USER anonymous")
    x.cmd("PASS a@b")
    keep.append(x)
    x = sess("127.0.0.3")
    x.connect()
    x.cmd("USER anonymous")
    x.cmd("PASS a@b")
    if not x.closed:
        x.silent(1)
    x.close()
    s.blank()
    time.sleep(0.5)
    s.c("--- MaxInstances 5: 3 sessions are open; open more unauthenticated connections ---")
    for src in ("127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7"):
        x = sess(src)
        try:
            x.connect()
        except OSError as e:
            x.c("connect failed: %r" % e)
            continue
        if x.closed:
            x.close()
        else:
            keep.append(x)
    for k in keep:
        k.close()
    time.sleep(1.0)
    s.blank()

    s = sess()
    s.c("--- TimeoutLogin 3: connect and say nothing ---")
    s.connect()
    s.silent(8)
    s.close()
    s.blank()
    s.c("--- TimeoutLogin 3: connect, USER, then nothing ---")
    s.connect()
    s.cmd("USER anonymous")
    s.silent(8)
    s.close()
    s.blank()
    s.c("--- TimeoutLogin 3: commands before login keep the connection alive? (NOOP every 1 s) ---")
    s.connect()
    for i in range(5):
        if s.closed:
            break
        time.sleep(1)
        s.cmd("NOOP")
    if not s.closed:
        s.silent(6)
    s.close()
    s.blank()
    s.c("--- TimeoutIdle 4: log in, then say nothing ---")
    s.connect()
    s.cmd("USER anonymous")
    s.cmd("PASS a@b")
    s.silent(12)
    s.close()
    s.blank()
    s.c("--- TimeoutNoTransfer 8: log in, NOOP every 2 s (keeps TimeoutIdle 4 from firing) ---")
    s.connect()
    s.cmd("USER anonymous")
    s.cmd("PASS a@b")
    t0 = time.monotonic()
    while not s.closed and time.monotonic() - t0 < 14:
        got = s.silent(2, show_timing=False)
        if s.closed or got:
            break
        s.cmd("NOOP")
    s.c("(%.1f s after the login)" % (time.monotonic() - t0))
    s.close()
    s.blank()
    s.c("--- TimeoutNoTransfer 8: does PASV / a LIST reset it? (LIST at ~3 s, then NOOP every 2 s) ---")
    s.connect()
    s.cmd("USER anonymous")
    s.cmd("PASS a@b")
    t0 = time.monotonic()
    time.sleep(2)
    s.cmd("NOOP")
    time.sleep(1)
    s.transfer("LIST", "PASV")
    while not s.closed and time.monotonic() - t0 < 20:
        got = s.silent(2, show_timing=False)
        if s.closed or got:
            break
        s.cmd("NOOP")
    s.c("(%.1f s after the login)" % (time.monotonic() - t0))
    s.close()
    s.blank()

    s.c("--- PASV, then LIST without ever connecting to the passive port ---")
    s.connect()
    s.cmd("USER anonymous")
    s.cmd("PASS a@b")
    s.cmd("PASV")
    if s.code(s.cmd("LIST", timeout=15, show_timing=True)) in (150, 125) and not s.closed:
        s.more(timeout=15, show_timing=True)
    if not s.closed:
        s.cmd("QUIT")
    s.close()
    s.blank()

    s.c("--- TimeoutStalled 5: RETR of a 50 MiB file, the client never reads ---")
    s.connect()
    s.cmd("USER " + args.local_user)
    s.cmd("PASS " + args.local_pass, timeout=10)
    s.cmd("TYPE I")
    addr = s.pasv("PASV")
    d = socket.socket()
    d.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    d.connect((args.host, addr[1]))
    s.cmd("RETR big.bin", show_timing=True)
    s.silent(20)
    d.close()
    s.close()
    s.blank()

    s.c("--- TimeoutStalled 5: STOR, the client sends 10 bytes and then nothing (keeps the socket open) ---")
    s.connect()
    s.cmd("USER " + args.local_user)
    s.cmd("PASS " + args.local_pass, timeout=10)
    s.cmd("TYPE I")
    addr = s.pasv("PASV")
    d = socket.create_connection((args.host, addr[1]), timeout=5)
    s.cmd("STOR stalled.bin", show_timing=True)
    d.sendall(b"0123456789")
    s.silent(20)
    d.close()
    s.close()
    s2 = PSession("limits-cleanup", args.host, port, [])
    s2.connect()
    s2.cmd("USER " + args.local_user)
    s2.cmd("PASS " + args.local_pass, timeout=10)
    s2.cmd("DELE stalled.bin")
    s2.cmd("QUIT")
    s2.close()
    RAW.pop("limits-cleanup", None)
    write(args, "limits.txt", out)


def slow_timeouts(args):
    """Debian's real timeouts on the main instance (runs ~11 min)."""
    out = []
    header(out, "Debian's real timeouts (main instance, proftpd.conf)",
           "TimeoutLogin unset (ProFTPD default 300 s), TimeoutNoTransfer 600, TimeoutIdle 1200,\n"
           "both connections run in parallel")
    o1, o2 = [], []

    def pre():
        s = PSession("slow-timeouts-login", args.host, args.port, o1)
        s.c("connect and say nothing (TimeoutLogin)")
        s.connect()
        s.silent(330)
        s.close()

    def post():
        s = PSession("slow-timeouts-notransfer", args.host, args.port, o2)
        s.c("anonymous login, then say nothing (TimeoutNoTransfer 600 < TimeoutIdle 1200)")
        s.connect()
        s.cmd("USER anonymous")
        s.cmd("PASS a@b")
        s.silent(640)
        s.close()

    t = [threading.Thread(target=pre), threading.Thread(target=post)]
    for x in t:
        x.start()
    for x in t:
        x.join()
    out += o1 + [""] + o2
    write(args, "slow-timeouts.txt", out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=2194)
    ap.add_argument("--limits-port", type=int, default=0,
                    help="port of a 2nd instance running proftpd-limits.conf (limits.txt)")
    ap.add_argument("--slow", action="store_true",
                    help="also measure Debian's 300 s / 600 s timeouts (slow-timeouts.txt)")
    ap.add_argument("--local-user", default="ftptest")
    ap.add_argument("--local-pass", default="ftptest")
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    scen = [("pre-login", pre_login), ("line-length", line_length),
            ("failed-login", failed_login), ("anonymous", anonymous),
            ("anonymous-epsv-all", anonymous_epsv_all), ("local-user", local_user),
            ("bounce", bounce), ("addresses", addresses)]
    if args.limits_port:
        scen.append(("limits", limits))
    if args.slow:
        scen.append(("slow-timeouts", slow_timeouts))
    for name, fn in scen:
        if args.only and name not in args.only:
            continue
        fn(args)
    rawpath = os.path.join(args.out, "raw-replies.json")
    old = {}
    if args.only and os.path.exists(rawpath):
        old = json.load(open(rawpath))
    old.update(RAW)
    with open(rawpath, "w") as f:
        json.dump(old, f, indent=1)


if __name__ == "__main__":
    main()
