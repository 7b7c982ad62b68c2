#!/usr/bin/env python3
"""Record the exact control-channel replies of a real vsftpd 3.0.3 (Debian 12).

Raw sockets only (no ftplib), so every reply byte is kept: multi-line replies,
leading/trailing spaces and the line terminators.  Every server line seen in
these captures ended in CRLF; a line that did not would be marked `# no CRLF`.

Output (into --out, default: the directory of this script):
  pre-login.txt, line-length.txt, failed-login.txt, anonymous.txt,
  anonymous-epsv-all.txt, local-user.txt, limits.txt (needs --limits-port),
  ipv6-listener.txt (needs --ipv6-port)
  raw-replies.json  every exchange as Python byte reprs + timings

Line format of the .txt files:
  C: <what the client sent, without the CRLF>
  S: <one reply line, verbatim, without the CRLF>
  D: <one line received (or sent) on the data connection>
  # comment (timings, connection state, notes)

Usage (see vsftpd.conf and NOTES.md beside this file for the server setup):
  python3 capture.py --host 127.0.0.1 --port 2199 \
      [--limits-port 2198] [--ipv6-port 2197] [--local-user ftptest --local-pass ftptest]
Safety: the only addresses ever connected to are --host and ::1 (loopback).  The
third-party PORT/EPRT addresses are sent as text only; vsftpd refuses them and
the script never issues a transfer after them.
"""
import argparse
import hashlib
import json
import os
import re
import socket
import time

RAW = {}


class Closed(Exception):
    pass


class Session:
    def __init__(self, name, host, port, out, source=None, note=None):
        self.name, self.host, self.port = name, host, port
        self.out = out  # list of text lines for the scenario file
        self.source = source
        self.buf = b""
        self.sock = None
        self.closed = False
        self.raw = RAW.setdefault(name, [])
        if note:
            self.c(note)

    # ---- output helpers -------------------------------------------------
    def c(self, text):
        for line in text.splitlines() or [""]:
            self.out.append("# " + line if line else "#")

    def blank(self):
        self.out.append("")

    # ---- control connection ---------------------------------------------
    def connect(self, timeout=5.0):
        t0 = time.monotonic()
        self.sock = socket.create_connection(
            (self.host, self.port), timeout=timeout,
            source_address=(self.source, 0) if self.source else None)
        self.c("connect %s:%d%s" % (self.host, self.port,
                                    " from %s" % self.source if self.source else ""))
        lines, dt = self.read_reply(timeout, t0)
        self.record("<connect>", b"", lines, dt)
        return lines

    def _readline(self, deadline):
        while b"\n" not in self.buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout()
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                if self.buf:
                    line, self.buf = self.buf, b""
                    return line
                raise Closed()
            self.buf += chunk
        i = self.buf.index(b"\n") + 1
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def read_reply(self, timeout=5.0, t0=None):
        """Return (list_of_raw_lines, seconds_until_last_line).
        Stops at the end of one complete (possibly multi-line) reply, on
        timeout, or when the server closes."""
        t0 = t0 or time.monotonic()
        deadline = time.monotonic() + timeout
        lines = []
        try:
            first = self._readline(deadline)
            lines.append(first)
            m = re.match(rb"^(\d{3})-", first)
            if m:
                code = m.group(1)
                while True:
                    line = self._readline(deadline)
                    lines.append(line)
                    if line.startswith(code + b" "):
                        break
        except socket.timeout:
            lines.append(None)  # marker: timed out
        except Closed:
            lines.append(False)  # marker: server closed
            self.closed = True
        return lines, time.monotonic() - t0

    def record(self, cmd_text, sent, lines, dt, show_timing=False):
        rec = {"sent": repr(sent), "reply": [repr(l) if l else l for l in lines],
               "seconds": round(dt, 3)}
        self.raw.append(rec)
        for l in lines:
            if l is None:
                self.c("(no reply within %.1f s)" % dt)
                dt = 0
            elif l is False:
                self.c("server closed the control connection")
            else:
                text = l.decode("latin-1")
                if text.endswith("\r\n"):
                    self.out.append("S: " + text[:-2])
                else:
                    self.out.append("S: " + text.rstrip("\n"))
                    self.c("^ line above did NOT end in CRLF (raw %r)" % l[-4:])
        if show_timing or dt > 0.3:
            self.c("reply after %.2f s" % dt)

    def send_raw(self, data, label=None, timeout=5.0, show_timing=False,
                 expect_reply=True):
        label = label if label is not None else data.rstrip(b"\r\n").decode("latin-1")
        self.out.append("C: " + label)
        t0 = time.monotonic()
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            self.c("send failed: connection already closed")
            self.closed = True
            return [False]
        if not expect_reply:
            self.raw.append({"sent": repr(data), "reply": [], "seconds": 0})
            return []
        lines, dt = self.read_reply(timeout, t0)
        self.record(label, data, lines, dt, show_timing)
        return lines

    def cmd(self, text, **kw):
        return self.send_raw(text.encode("latin-1") + b"\r\n", text, **kw)

    def more(self, timeout=5.0, show_timing=False):
        """Read one more reply without sending anything."""
        t0 = time.monotonic()
        lines, dt = self.read_reply(timeout, t0)
        self.record("<more>", b"", lines, dt, show_timing)
        return lines

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None

    # ---- data connections ------------------------------------------------
    @staticmethod
    def code(lines):
        for l in lines:
            if l:
                return int(l[:3])
        return None

    def pasv(self, cmd="PASV"):
        lines = self.cmd(cmd)
        text = lines[0].decode() if lines and lines[0] else ""
        m = re.search(r"\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)", text)
        if m:
            h = ".".join(m.group(i) for i in range(1, 5))
            return h, int(m.group(5)) * 256 + int(m.group(6))
        m = re.search(r"\(\|\|\|(\d+)\|\)", text)
        if m:
            return self.host, int(m.group(1))
        return None

    def listen_port(self):
        ls = socket.socket()
        ls.bind((self.host, 0))
        ls.listen(1)
        ls.settimeout(5)
        return ls

    def transfer(self, cmd, mode="PASV", upload=None, show="text",
                 maxlines=200):
        """Set up a data channel with PASV / EPSV / PORT / EPRT, send cmd,
        read 1xx, move the data, read the final reply."""
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
        lines = self.cmd(cmd)
        c = self.code(lines)
        if c not in (125, 150):
            if dsock:
                dsock.close()
            if ls:
                ls.close()
            return lines
        if ls:
            dsock, _ = ls.accept()
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
                if not data:
                    self.c("(data connection closed with 0 bytes)")
                else:
                    self.c("(data: %d bytes, line terminator %s)" % (
                        len(data), "CRLF" if b"\r\n" in data else "LF"))
            else:
                self.c("(data: %d bytes, sha256 %s)" % (
                    len(data), hashlib.sha256(data).hexdigest()))
        return self.more(timeout=10)


# ---------------------------------------------------------------------------
def header(out, title, args, extra="", conf="vsftpd.conf"):
    out.append("# %s" % title)
    out.append("# server: vsftpd 3.0.3 (Debian 12 package 3.0.3-13+b2), config: %s" % conf)
    out.append("# captured %s UTC by capture.py, TZ=UTC, client 127.0.0.1" %
               time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()))
    out.append("# every S: line arrived terminated by CRLF unless marked otherwise")
    if extra:
        for l in extra.splitlines():
            out.append("# " + l)
    out.append("")


def write(args, fname, out):
    with open(os.path.join(args.out, fname), "w") as f:
        f.write("\n".join(out).rstrip("\n") + "\n")
    print("wrote", fname, len(out), "lines")


def pre_login(args):
    out = []
    header(out, "Commands before login (no USER/PASS)", args)
    s = Session("pre-login", args.host, args.port, out)
    s.connect()
    for cmd in ["SYST", "syst", "FEAT", "HELP", "STAT", "PWD", "XPWD", "CWD /",
                "LIST", "NLST", "NOOP", "FOO", "MLSD", "MLST", "TYPE I",
                "PASV", "EPSV", "PORT 127,0,0,1,200,10", "SIZE README.txt",
                "RETR README.txt", "MODE S", "STRU F", "ALLO 10", "ABOR",
                "REIN", "ACCT x", "SITE HELP", "QUIT2"]:
        s.cmd(cmd)
    s.c("empty line (just CRLF)")
    s.send_raw(b"\r\n", "", timeout=2)
    s.c("a single space + CRLF")
    s.send_raw(b" \r\n", "<one space>", timeout=2)
    s.c("600-byte line: 'A' * 600")
    s.send_raw(b"A" * 600 + b"\r\n", "<'A' * 600>")
    s.c("600-byte line starting with a real command: 'USER ' + 'u' * 595")
    s.send_raw(b"USER " + b"u" * 595 + b"\r\n", "USER <'u' * 595>")
    s.c("USER without argument")
    s.cmd("USER")
    s.c("PASS before (a successful) USER; the previous USER 'uuu...' may count")
    s.cmd("PASS secret")
    s.cmd("OPTS UTF8 ON")
    s.cmd("OPTS UTF8 OFF")
    s.cmd("OPTS FOO")
    s.cmd("AUTH TLS")
    s.cmd("AUTH SSL")
    s.cmd("PBSZ 0")
    s.cmd("PROT P")
    s.cmd("CCC")
    s.cmd("HOST example.com")
    s.cmd("LANG en")
    s.cmd("QUIT")
    s.more(timeout=2)
    s.close()
    s.blank()

    # PASS before USER on a fresh connection
    s.c("fresh connection: PASS as the first command")
    s.connect()
    s.cmd("PASS secret")
    s.cmd("QUIT")
    s.close()
    write(args, "pre-login.txt", out)


def line_length(args):
    out = []
    header(out, "Line length, terminators and odd input (before login)", args,
           "VSFTP_MAX_COMMAND_LINE is 4096 in the source (defs.h); each length test uses a fresh connection")
    cases = [(b"A" * 600 + b"\r\n", "<'A' * 600><CRLF>  (602 bytes)"),
             (b"A" * 4094 + b"\r\n", "<'A' * 4094><CRLF>  (4096 bytes)"),
             (b"A" * 4095 + b"\n", "<'A' * 4095><LF>  (4096 bytes)"),
             (b"A" * 4095 + b"\r\n", "<'A' * 4095><CRLF>  (4097 bytes)"),
             (b"A" * 4096, "<'A' * 4096>  (4096 bytes, no line terminator yet)"),
             (b"A" * 5000 + b"\r\n", "<'A' * 5000><CRLF>"),
             (b"USER " + b"u" * 4200 + b"\r\n", "USER <'u' * 4200><CRLF>")]
    for data, label in cases:
        s = Session("line-length", args.host, args.port, out)
        s.connect()
        s.send_raw(data, label, timeout=2, show_timing=True)
        if not s.closed:
            more, dt = s.read_reply(1.0)
            if more != [None]:
                s.record("<more>", b"", more, dt)
        if not s.closed:
            s.cmd("NOOP", timeout=2)
        s.close()
        s.blank()

    s = Session("line-length", args.host, args.port, out)
    s.c("odd input on one connection (before login everything but USER/PASS/QUIT/FEAT/OPTS gets 530,")
    s.c("so the parsing tests are done after an anonymous login)")
    s.connect()
    s.send_raw(b"USER  anonymous\r\n", "USER<2 spaces>anonymous")
    s.send_raw(b"PASS x\r\n", "PASS x", show_timing=True)
    s.send_raw(b"user anonymous\r\n", "user anonymous")
    s.send_raw(b"pass x\r\n", "pass x")
    s.c("bare LF terminator")
    s.send_raw(b"NOOP\n", "NOOP<LF only>")
    s.c("bare CR (no LF) -> vsftpd waits for LF")
    s.send_raw(b"NOOP\r", "NOOP<CR only>", timeout=1.5)
    s.send_raw(b"\n", "<LF>")
    s.c("empty line and a single space after login")
    s.send_raw(b"\r\n", "", timeout=1.5)
    s.send_raw(b" \r\n", "<one space>", timeout=1.5)
    s.c("trailing spaces / lower case / tab / leading spaces")
    s.send_raw(b"NOOP   \r\n", "NOOP<3 spaces>")
    s.send_raw(b"PWD x\r\n", "PWD x")
    s.send_raw(b"noop\r\n", "noop")
    s.send_raw(b"NoOp\r\n", "NoOp")
    s.send_raw(b"SYST\tx\r\n", "SYST<TAB>x")
    s.send_raw(b"  NOOP\r\n", "<2 spaces>NOOP")
    s.send_raw(b"CWD  pub\r\n", "CWD<2 spaces>pub")
    s.send_raw(b"CWD /\r\n", "CWD /")
    s.c("Telnet IAC IP + IAC DM (what BSD 'ftp' sends before ABOR) then ABOR")
    s.send_raw(b"\xff\xf4\xff\xf2ABOR\r\n", "<IAC IP IAC DM>ABOR")
    s.c("NUL byte inside a command")
    s.send_raw(b"NO\x00OP\r\n", "NO<NUL>OP")
    s.c("8-bit bytes")
    s.send_raw(b"\xc3\xa9T\xc3\xa9\r\n", "<UTF-8 'éTé'>")
    s.send_raw(b"CWD \xc3\xa9\r\n", "CWD <UTF-8 'é'>")
    s.c("two commands in one packet")
    s.send_raw(b"NOOP\r\nSYST\r\n", "NOOP<CRLF>SYST")
    s.more(timeout=2)
    s.c("600-byte unknown command after login")
    s.send_raw(b"A" * 600 + b"\r\n", "<'A' * 600>")
    s.c("over-long line after login")
    s.send_raw(b"A" * 4095 + b"\r\n", "<'A' * 4095><CRLF>  (4097 bytes)", timeout=2)
    if not s.closed:
        s.more(timeout=2)
    s.close()
    write(args, "line-length.txt", out)


def failed_login(args):
    out = []
    header(out, "Failed logins", args,
           "delay_failed_login=1 and max_login_fails=3 are the vsftpd defaults (not set in vsftpd.conf)\n"
           "root is listed in /etc/ftpusers (Debian's PAM: pam_listfile sense=deny)")
    s = Session("failed-login", args.host, args.port, out)
    s.connect()
    for i, (user, pw) in enumerate((("root", "wrong"), ("ftptest", "wrong"), ("nosuchuser", "x"))):
        s.cmd("USER " + user)
        s.cmd("PASS " + pw, show_timing=True, timeout=10)
        if i < 2:
            s.cmd("NOOP")
    s.c("after the 3rd failure (max_login_fails=3): wait for the server, sending nothing")
    s.more(timeout=3, show_timing=True)
    s.close()
    s.blank()

    s.c("delay samples: 2 more connections x 3 failures (local users go through PAM)")
    delays = []
    for conn in range(2):
        s.connect()
        for user in ("nosuchuser", "ftptest", "admin"):
            s.cmd("USER " + user)
            t0 = time.monotonic()
            s.cmd("PASS password%d" % conn, show_timing=True, timeout=10)
            delays.append(time.monotonic() - t0)
        s.more(timeout=3, show_timing=True)
        s.close()
    s.c("PAM-path delays: " + ", ".join("%.2f" % d for d in delays))
    s.blank()

    s.c("a username with a bad first char is rejected by vsftpd before PAM (only delay_failed_login); a 33-char one still goes to PAM")
    s.connect()
    for user in ("-root", "a" * 33):
        s.cmd("USER " + user)
        s.cmd("PASS x", show_timing=True, timeout=10)
    s.cmd("QUIT")
    s.close()
    s.blank()

    s.c("fresh connection: state after one failure, PASS again without USER")
    s.connect()
    s.cmd("USER root")
    s.cmd("PASS toor", show_timing=True, timeout=10)
    s.cmd("PASS toor", show_timing=True, timeout=10)
    s.cmd("PWD")
    s.cmd("USER ftptest")
    s.cmd("USER anonymous")
    s.cmd("PASS", show_timing=True, timeout=10)
    s.cmd("PWD")
    s.cmd("QUIT")
    s.close()
    s.blank()

    s.c("fresh connection: USER ftp (alias of anonymous), empty password")
    s.connect()
    s.cmd("USER ftp")
    s.cmd("PASS")
    s.cmd("PWD")
    s.cmd("USER root")
    s.cmd("PASS x")
    s.cmd("QUIT")
    s.close()
    s.blank()

    s.c("fresh connection: the nmap/ftp-anon style login, USER anonymous / PASS IEUser@")
    s.connect()
    s.cmd("USER anonymous")
    s.cmd("PASS IEUser@")
    s.cmd("QUIT")
    s.close()
    s.blank()

    s.c("fresh connection: USER with a real local user, then a 2nd USER before PASS")
    s.connect()
    s.cmd("USER ftptest")
    s.cmd("USER root")
    s.cmd("PASS ftptest", show_timing=True, timeout=10)
    s.cmd("QUIT")
    s.close()
    s.blank()

    s.c("fresh connection: correct local password but wrong case user")
    s.connect()
    s.cmd("USER FTPTEST")
    s.cmd("PASS ftptest", show_timing=True, timeout=10)
    s.cmd("QUIT")
    s.close()
    write(args, "failed-login.txt", out)


def anonymous(args):
    out = []
    header(out, "Anonymous session", args,
           "anon_root=/tmp/ftpanon containing README.txt, incoming/ (mtime 2021-11-02),\n"
           "pub/data.bin (6756 bytes), pub/hello.txt, pub/old-release.tar.gz (mtime 2019-03-14); all root:root")
    s = Session("anonymous", args.host, args.port, out)
    s.connect()
    s.cmd("USER anonymous")
    s.cmd("PASS a@b", show_timing=True)
    for cmd in ["SYST", "FEAT", "HELP", "HELP RETR", "STAT", "PWD", "XPWD",
                "CWD pub", "PWD", "CWD missing", "CDUP", "PWD", "CWD /pub", "XCUP",
                "XCWD incoming", "CDUP", "CDUP", "CWD ..", "PWD",
                "TYPE A", "TYPE I", "TYPE X", "TYPE L 8", "TYPE A N", "TYPE", "MODE S", "MODE B",
                "MODE Z", "STRU F", "STRU R", "STRU P"]:
        s.cmd(cmd)
    s.blank()
    s.c("--- data connection not set up ---")
    s.cmd("LIST")
    s.cmd("NLST")
    s.cmd("RETR README.txt")
    s.blank()
    s.c("--- PASV / EPSV replies ---")
    s.cmd("PASV")
    s.cmd("PASV")
    s.cmd("EPSV")
    s.cmd("EPSV 1")
    s.cmd("EPSV 2")
    s.cmd("EPSV 3")
    s.blank()
    s.c("--- PORT / EPRT ---")
    s.cmd("PORT 127,0,0,1,156,64")
    s.c("third-party address (bounce): refused, nothing is connected")
    s.cmd("PORT 10,1,2,3,156,64")
    s.cmd("PORT 127,0,0,1,0,21")
    s.cmd("PORT 127,0,0,1,4,0")
    s.cmd("PORT 1,2,3")
    s.cmd("PORT 300,0,0,1,1,1")
    s.cmd("PORT")
    s.cmd("EPRT |1|127.0.0.1|40064|")
    s.cmd("EPRT |1|10.1.2.3|40064|")
    s.cmd("EPRT |2|::1|40064|")
    s.cmd("EPRT |3|127.0.0.1|40064|")
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
    s.cmd("LIST", timeout=10, show_timing=True)
    s.blank()
    s.c("--- listings (TYPE A) ---")
    s.cmd("TYPE A")
    s.c("LIST over PASV")
    s.transfer("LIST", "PASV")
    s.c("LIST over PORT")
    s.transfer("LIST", "PORT")
    s.c("LIST over EPSV")
    s.transfer("LIST -la", "EPSV")
    s.c("LIST over EPRT")
    s.transfer("LIST -a", "EPRT")
    s.transfer("LIST pub", "PASV")
    s.transfer("LIST -l pub", "PASV")
    s.transfer("LIST pub/hello.txt", "PASV")
    s.transfer("LIST missing", "PASV")
    s.transfer("LIST -R", "PASV")
    s.transfer("NLST", "PASV")
    s.transfer("NLST pub", "PASV")
    s.transfer("NLST -l", "PASV")
    s.transfer("NLST missing", "PASV")
    s.transfer("MLSD", "PASV")
    s.cmd("MLST")
    s.cmd("MLST README.txt")
    s.blank()
    s.c("--- STAT with arguments (listing on the control connection) ---")
    s.cmd("STAT .")
    s.cmd("STAT pub")
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
    s.cmd("MDTM 20200101000000 README.txt")
    s.blank()
    s.c("--- RETR ---")
    s.c("RETR in ASCII mode")
    s.transfer("RETR README.txt", "PASV")
    s.cmd("TYPE I")
    s.c("RETR in binary mode")
    s.transfer("RETR pub/hello.txt", "PASV")
    s.transfer("RETR pub/data.bin", "PASV", show="hash")
    s.cmd("REST 100")
    s.transfer("RETR pub/data.bin", "PASV", show="hash")
    s.cmd("REST 100")
    s.cmd("REST 0")
    s.cmd("REST abc")
    s.cmd("REST -5")
    s.cmd("REST")
    s.cmd("TYPE A")
    s.cmd("REST 10")
    s.transfer("RETR README.txt", "PASV")
    s.cmd("TYPE I")
    s.transfer("RETR missing", "PASV")
    s.transfer("RETR pub", "PASV")
    s.cmd("RETR")
    s.blank()
    s.c("--- write commands (anonymous: anon_upload_enable=NO) ---")
    s.transfer("STOR up.txt", "PASV", upload=b"x\r\n")
    s.cmd("STOR up.txt")
    s.cmd("APPE README.txt")
    s.cmd("STOU")
    s.cmd("STOU up.txt")
    s.cmd("DELE README.txt")
    s.cmd("DELE missing")
    s.cmd("MKD newdir")
    s.cmd("XMKD newdir")
    s.cmd("RMD pub")
    s.cmd("XRMD pub")
    s.cmd("RNFR README.txt")
    s.cmd("RNTO x.txt")
    s.cmd("RNFR missing")
    s.cmd("SITE CHMOD 777 README.txt")
    s.cmd("SITE UMASK 077")
    s.cmd("SITE HELP")
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
    s.cmd("OPTS MLST type;size;")
    s.cmd("AUTH TLS")
    s.cmd("PBSZ 0")
    s.cmd("PROT P")
    s.cmd("USER root")
    s.cmd("PASS x")
    s.cmd("FOO")
    s.cmd("QUIT")
    s.more(timeout=2)
    s.close()
    write(args, "anonymous.txt", out)


def anonymous_epsv_all(args):
    out = []
    header(out, "Anonymous session: EPSV ALL and what it locks out", args)
    s = Session("anonymous-epsv-all", args.host, args.port, out)
    s.connect()
    s.cmd("USER anonymous")
    s.cmd("PASS a@b")
    s.cmd("EPSV ALL")
    s.cmd("PASV")
    s.cmd("PORT 127,0,0,1,156,64")
    s.cmd("EPRT |1|127.0.0.1|40064|")
    s.transfer("LIST", "EPSV")
    s.cmd("epsv all")
    s.cmd("QUIT")
    s.close()
    write(args, "anonymous-epsv-all.txt", out)


def local_user(args):
    out = []
    header(out, "Local user session (%s)" % args.local_user, args,
           "home /home/ftptest: .bash_logout .bashrc .profile (2025-04-18), docs/ (today),\n"
           "notes.txt (mtime 2018-07-04), big.bin (50 MiB sparse), huge.iso (12 GiB sparse),\n"
           "future.txt (mtime 2027-06-01), recent-150d.txt, old-200d.txt, link-to-notes -> notes.txt,\n"
           "dangling-link -> /nonexistent, 'my file.txt', suid.sh (mode 4755); not chrooted (chroot_local_user unset), local_umask=022")
    u = args.local_user
    s = Session("local-user", args.host, args.port, out)
    s.connect()
    s.cmd("USER " + u)
    s.cmd("PASS " + args.local_pass, show_timing=True)
    for cmd in ["SYST", "FEAT", "HELP", "STAT", "PWD", "XPWD", "CWD docs", "PWD",
                "CDUP", "CWD /nonexistent", "CWD /etc", "PWD", "CWD ~", "PWD",
                "CWD /home/" + u, "TYPE I"]:
        s.cmd(cmd)
    s.blank()
    s.c("--- listing before uploads ---")
    s.transfer("LIST", "PASV")
    s.transfer("LIST -a", "PASV")
    s.blank()
    s.c("--- uploads ---")
    s.transfer("STOR upload.txt", "PASV", upload=b"line one\r\nline two\r\n")
    s.transfer("APPE upload.txt", "PASV", upload=b"appended\r\n")
    s.transfer("STOU", "PASV", upload=b"unique 1\n")
    s.transfer("STOU", "PASV", upload=b"unique 2\n")
    s.transfer("STOU upload.txt", "PASV", upload=b"unique 3\n")
    s.transfer("STOU upload.txt", "PASV", upload=b"unique 4\n")
    s.transfer("STOR /etc/forbidden.txt", "PASV", upload=b"x\n")
    s.transfer("STOR", "PASV", upload=b"x\n")
    s.cmd("TYPE A")
    s.transfer("STOR ascii.txt", "PASV", upload=b"a\r\nb\r\n")
    s.cmd("TYPE I")
    s.cmd("REST 5")
    s.transfer("STOR upload.txt", "PASV", upload=b"REPLACED\r\n")
    s.cmd("SIZE upload.txt")
    s.cmd("MDTM upload.txt")
    s.blank()
    s.c("--- directory ops ---")
    s.cmd("MKD newdir")
    s.cmd("MKD newdir")
    s.cmd("XMKD /home/%s/newdir2" % u)
    s.cmd("MKD /etc/nope")
    s.transfer("STOR newdir/inner.txt", "PASV", upload=b"inner\n")
    s.cmd("RMD newdir")
    s.cmd("DELE newdir/inner.txt")
    s.cmd("RMD newdir")
    s.cmd("XRMD newdir2")
    s.cmd("RMD missing")
    s.blank()
    s.c("--- rename / delete / site ---")
    s.cmd("RNTO nothing.txt")
    s.cmd("RNFR missing.txt")
    s.cmd("RNFR upload.txt")
    s.cmd("NOOP")
    s.cmd("RNTO renamed.txt")
    s.cmd("RNFR renamed.txt")
    s.cmd("RNTO /etc/renamed.txt")
    s.cmd("SITE CHMOD 600 renamed.txt")
    s.cmd("SITE CHMOD 600 missing.txt")
    s.cmd("SITE CHMOD 999 renamed.txt")
    s.cmd("SITE CHMOD")
    s.cmd("SITE UMASK")
    s.cmd("SITE UMASK 077")
    s.cmd("SITE UMASK")
    s.cmd("SITE HELP")
    s.cmd("SITE FOO")
    s.cmd("SITE")
    s.cmd("SITE EXEC id")
    s.cmd("MDTM 20200101120000 renamed.txt")
    s.cmd("MDTM renamed.txt")
    s.cmd("MDTM 2020 renamed.txt")
    s.blank()
    s.c("--- listings after the uploads (recent vs old dates) ---")
    s.cmd("MKD emptydir")
    s.transfer("LIST", "PASV")
    s.transfer("NLST", "PASV")
    s.transfer("LIST link-to-notes", "PASV")
    s.transfer("LIST my file.txt", "PASV")
    s.transfer("LIST *.txt", "PASV")
    s.transfer("NLST *.txt", "PASV")
    s.transfer("LIST /tmp/ftpanon/pub", "PASV")
    s.cmd("SIZE huge.iso")
    s.cmd("MDTM future.txt")
    s.cmd("STAT .")
    s.cmd("STAT renamed.txt")
    s.cmd("STAT")
    s.blank()
    s.c("--- ABOR while a download is running (client sends ABOR then closes the data socket) ---")
    addr = s.pasv("PASV")
    d = socket.create_connection((args.host, addr[1]), timeout=5)
    s.cmd("RETR big.bin")
    time.sleep(0.2)
    s.send_raw(b"\xff\xf4\xff\xf2ABOR\r\n", "<IAC IP IAC DM>ABOR (plain, not MSG_OOB)", timeout=3)
    s.c("client now closes the data connection without having read from it")
    d.close()
    s.more(timeout=3)
    s.more(timeout=2)
    s.cmd("NOOP")
    s.blank()
    s.c("--- clean up ---")
    for f in ("renamed.txt", "ascii.txt", "STOU", "STOU.1", "STOU.2", "upload.txt.1", "upload.txt.2"):
        s.cmd("DELE " + f)
    s.cmd("RMD emptydir")
    s.cmd("RETR")
    s.cmd("QUIT")
    s.more(timeout=2)
    s.close()
    write(args, "local-user.txt", out)


def limits(args):
    out = []
    header(out, "Connection limits and timeouts (second instance, vsftpd-limits.conf)", args,
           "max_per_ip=2 max_clients=3 idle_session_timeout=3 data_connection_timeout=3 accept_timeout=2\n"
           "(defaults are max_per_ip=0 max_clients=0 i.e. unlimited, idle_session_timeout=300,\n"
           " data_connection_timeout=300, accept_timeout=60, connect_timeout=60)",
           conf="vsftpd-limits.conf")
    port = args.limits_port
    keep = []
    for i in (1, 2):
        s = Session("limits", args.host, port, out)
        s.connect()
        keep.append(s)
    s.c("third connection from the same address (max_per_ip=2):")
    s = Session("limits", args.host, port, out)
    s.connect()
    s.more(timeout=1)
    s.close()
    time.sleep(1.0)  # let the parent reap the refused child before counting again
    s.c("connection from 127.0.0.2 (total now 3 = max_clients):")
    s2 = Session("limits", args.host, port, out, source="127.0.0.2")
    s2.connect()
    keep.append(s2)
    s.c("connection from 127.0.0.3 (would be client #4 > max_clients=3):")
    s3 = Session("limits", args.host, port, out, source="127.0.0.3")
    s3.connect()
    s3.more(timeout=1)
    s3.close()
    for k in keep:
        k.close()
    time.sleep(0.5)
    s.blank()

    s.c("idle timeout: log in, then say nothing")
    s = Session("limits", args.host, port, out)
    s.connect()
    s.cmd("USER anonymous")
    s.cmd("PASS a@b")
    s.more(timeout=10, show_timing=True)
    s.more(timeout=1)
    s.close()
    s.blank()

    s.c("idle timeout before login")
    s = Session("limits", args.host, port, out)
    s.connect()
    s.more(timeout=10, show_timing=True)
    s.more(timeout=1)
    s.close()
    s.blank()

    s.c("PASV, then LIST without ever connecting to the passive port (accept_timeout=2)")
    s = Session("limits", args.host, port, out)
    s.connect()
    s.cmd("USER anonymous")
    s.cmd("PASS a@b")
    s.cmd("PASV")
    s.cmd("LIST", timeout=10, show_timing=True)
    s.cmd("QUIT")
    s.close()
    s.blank()

    s.c("data connection stalls: RETR then never read (data_connection_timeout=3)")
    s = Session("limits", args.host, port, out)
    s.connect()
    s.cmd("USER anonymous")
    s.cmd("PASS a@b")
    s.cmd("TYPE I")
    addr = s.pasv("PASV")
    d = socket.socket()
    d.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    d.connect((args.host, addr[1]))
    s.cmd("RETR big.bin", show_timing=True)
    s.more(timeout=15, show_timing=True)
    s.more(timeout=2)
    d.close()
    s.close()
    write(args, "limits.txt", out)


def ipv6_listener(args):
    out = []
    header(out, "Dual-stack listener (Debian stock listen=NO / listen_ipv6=YES), IPv4 client", args,
           "server socket [::]:%d, client connects to 127.0.0.1 (IPv4-mapped on the server side)\n"
           "then a second connection over IPv6 loopback [::1]" % args.ipv6_port,
           conf="vsftpd-ipv6.conf")
    s = Session("ipv6-listener", "127.0.0.1", args.ipv6_port, out)
    s.connect()
    s.cmd("USER anonymous")
    s.cmd("PASS a@b")
    s.cmd("STAT")
    s.cmd("PASV")
    s.cmd("EPSV")
    s.cmd("PORT 127,0,0,1,156,64")
    s.cmd("EPRT |1|127.0.0.1|40064|")
    s.cmd("EPRT |2|::1|40064|")
    s.transfer("LIST", "PASV")
    s.transfer("LIST", "EPSV")
    s.cmd("QUIT")
    s.close()
    s.blank()
    s = Session("ipv6-listener", "::1", args.ipv6_port, out)
    s.connect()
    s.cmd("USER anonymous")
    s.cmd("PASS a@b")
    s.cmd("STAT")
    s.cmd("PASV")
    s.cmd("EPSV")
    s.cmd("EPSV 2")
    s.cmd("PORT 127,0,0,1,156,64")
    s.cmd("EPRT |2|::1|40064|")
    s.cmd("EPRT |1|127.0.0.1|40064|")
    s.transfer("LIST", "EPSV")
    s.cmd("QUIT")
    s.close()
    write(args, "ipv6-listener.txt", out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=2199)
    ap.add_argument("--limits-port", type=int, default=0,
                    help="port of a 2nd instance running vsftpd-limits.conf (limits.txt)")
    ap.add_argument("--ipv6-port", type=int, default=0,
                    help="port of a 3rd instance running vsftpd-ipv6.conf (ipv6-listener.txt)")
    ap.add_argument("--local-user", default="ftptest")
    ap.add_argument("--local-pass", default="ftptest")
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    scen = [("pre-login", pre_login), ("line-length", line_length),
            ("failed-login", failed_login), ("anonymous", anonymous),
            ("anonymous-epsv-all", anonymous_epsv_all), ("local-user", local_user)]
    if args.limits_port:
        scen.append(("limits", limits))
    if args.ipv6_port:
        scen.append(("ipv6-listener", ipv6_listener))
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
