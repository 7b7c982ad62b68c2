#!/usr/bin/env python3
"""Byte-exact, timestamped capture of a real telnetd (stdlib only).

Every byte the server sends (dir "s2c") and every byte the client sends
(dir "c2s") is logged with a timestamp in seconds relative to the moment the
TCP connection was established (for the proxy: the moment the proxied client
was accepted).  Output per scenario run:

  <out>.jsonl     one JSON object per read()/send(): {"t":0.0123,"dir":"s2c","hex":"fffd18"}
                  plus {"t":..,"event":"..."} lines (connect, eof, note, ...)
  <out>.txt       human readable decode (IAC commands named, text escaped)
  <out>.tty.txt   (pty driven real clients only) what the user's terminal showed

Scenarios (subcommand `scenario NAME`):
  silent        connect, send nothing, record --duration seconds (default 70)
  refuse        answer every DO with WONT and every WILL with DONT, then log in
  raw           send "root\\r\\n" right after connect (no negotiation), then a password
  idle-login    like refuse, but stay silent once "login: " appears (login timeout)
  idle-after-fail  user at 10 s, wrong password at 20 s, then silent (login timer reset?)
  maxtries      like refuse, but always give a wrong password until disconnect
  ctrl-c        like refuse; at "login: " send 0x03 (raw ^C)
  ctrl-d        like refuse; at "login: " send 0x04 (raw ^D)
  iac-ip        like refuse; at "login: " send IAC IP
  accept        agree to every option, answer SB SEND requests (xterm, 38400, 80x24), log in
  accept-noauth like accept, but DONT AUTHENTICATION / DONT ENCRYPT / WONT OLD-ENVIRON
                (inetutils telnetd hangs when a client says WILL to both ENVIRON options)
  accept-nosb   agree to every option but never send a subnegotiation; record --duration
  mirai         answer as Mirai does (DO->WONT except NAWS, WILL->DO), log in
  unknown-user  a non-existent user, then root, both with a wrong password
  pipelined     at "login: " send "anna\\r\\nsecret123\\r\\n" in one segment (bot style)
  ayt           at "login: " send IAC AYT, then IAC EC / IAC EL
  timing        --count quiet connections (refusing client): first byte and "login: " times

Real client (subcommand `pty`): run --client (default "telnet 127.0.0.1 {port}") in a
pty through the built-in logging proxy (--listen 2324 -> --host:--port) and drive it
like a user with --script login | ctrl-c | empty | user-env | maxtries | none.

Proxy only (subcommand `proxy`): listen on --listen (2324), forward to
--host:--port (127.0.0.1:2323), log both directions of ONE connection, exit.
(The proxy re-sends TCP urgent data as ordinary data.)

Examples:
  python3 capture.py --out inetutils-telnetd/a_silent_1 --duration 70 scenario silent
  python3 capture.py --out inetutils-telnetd/b_telnet_1 --duration 10 pty --script login
  python3 capture.py --out x/d_busybox pty --client "busybox telnet 127.0.0.1 {port}"
"""
import argparse
import json
import os
import pty
import re
import select
import signal
import socket
import sys
import threading
import time

IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240
CMDS = {240: "SE", 241: "NOP", 242: "DM", 243: "BRK", 244: "IP", 245: "AO",
        246: "AYT", 247: "EC", 248: "EL", 249: "GA", 250: "SB", 251: "WILL",
        252: "WONT", 253: "DO", 254: "DONT", 255: "IAC"}
OPTS = {0: "BINARY", 1: "ECHO", 2: "RCP", 3: "SUPPRESS-GO-AHEAD", 4: "NAME",
        5: "STATUS", 6: "TIMING-MARK", 7: "RCTE", 8: "NAOL", 9: "NAOP",
        10: "NAOCRD", 11: "NAOHTS", 12: "NAOHTD", 13: "NAOFFD", 14: "NAOVTS",
        15: "NAOVTD", 16: "NAOLFD", 17: "EXTEND-ASCII", 18: "LOGOUT",
        19: "BYTE-MACRO", 20: "DATA-ENTRY-TERMINAL", 21: "SUPDUP",
        22: "SUPDUP-OUTPUT", 23: "SEND-LOCATION", 24: "TERMINAL-TYPE",
        25: "END-OF-RECORD", 26: "TUID", 27: "OUTMRK", 28: "TTYLOC",
        29: "3270-REGIME", 30: "X.3-PAD", 31: "NAWS", 32: "TERMINAL-SPEED",
        33: "TOGGLE-FLOW-CONTROL", 34: "LINEMODE", 35: "X-DISPLAY-LOCATION",
        36: "OLD-ENVIRON", 37: "AUTHENTICATION", 38: "ENCRYPT",
        39: "NEW-ENVIRON", 255: "EXOPL"}


def opt_name(o):
    return OPTS.get(o, str(o))


def esc_text(b):
    out = []
    for c in b:
        if c == 13:
            out.append("\\r")
        elif c == 10:
            out.append("\\n")
        elif c == 0:
            out.append("\\0")
        elif c == 9:
            out.append("\\t")
        elif c == 0x22:
            out.append('\\"')
        elif c == 0x5c:
            out.append("\\\\")
        elif 32 <= c < 127:
            out.append(chr(c))
        else:
            out.append("\\x%02x" % c)
    return '"' + "".join(out) + '"'


def decode_sb(data):
    """Name a subnegotiation payload (already IAC-unescaped, without IAC SB/IAC SE)."""
    if not data:
        return "SB <empty>"
    opt, rest = data[0], data[1:]
    name = opt_name(opt)
    if opt in (24, 32, 35):  # TTYPE / TSPEED / XDISPLOC
        if rest[:1] == b"\x01":
            return "SB %s SEND" % name
        if rest[:1] == b"\x00":
            return "SB %s IS %s" % (name, esc_text(rest[1:]))
    if opt == 31 and len(rest) == 4:
        return "SB NAWS %dx%d" % (rest[0] * 256 + rest[1], rest[2] * 256 + rest[3])
    if opt in (36, 39):
        sub = {0: "IS", 1: "SEND", 2: "INFO"}.get(rest[0], str(rest[0])) if rest else ""
        parts, cur = [], bytearray()
        tags = {0: "VAR", 1: "VALUE", 2: "ESC", 3: "USERVAR"}
        for c in rest[1:]:
            if c in tags:
                if cur:
                    parts.append(esc_text(cur))
                    cur = bytearray()
                parts.append(tags[c])
            else:
                cur.append(c)
        if cur:
            parts.append(esc_text(cur))
        return "SB %s %s %s" % (name, sub, " ".join(parts))
    if opt == 34 and rest:
        if rest[0] == 1 and len(rest) >= 2:
            return "SB LINEMODE MODE 0x%02x" % rest[1]
        if rest[0] in (251, 252, 253, 254) and len(rest) >= 2:
            return "SB LINEMODE %s %d" % (CMDS[rest[0]], rest[1])
        if rest[0] == 3:
            return "SB LINEMODE SLC %s" % rest[1:].hex()
    if opt == 37 and rest:
        sub = {0: "IS", 1: "SEND", 2: "REPLY", 3: "NAME"}.get(rest[0], str(rest[0]))
        return "SB AUTHENTICATION %s %s" % (sub, rest[1:].hex())
    if opt == 38 and rest:
        sub = {0: "IS", 1: "SUPPORT", 2: "REPLY", 3: "START", 4: "END",
               5: "REQUEST-START", 6: "REQUEST-END", 7: "ENC_KEYID",
               8: "DEC_KEYID"}.get(rest[0], str(rest[0]))
        return "SB ENCRYPT %s %s" % (sub, rest[1:].hex())
    return "SB %s %s" % (name, rest.hex())


class Decoder:
    """Stateful telnet stream decoder (one per direction)."""

    def __init__(self):
        self.state = "data"
        self.sb = bytearray()
        self.text = bytearray()

    def feed(self, data):
        toks = []

        def flush():
            if self.text:
                toks.append(esc_text(self.text))
                self.text = bytearray()

        for c in data:
            st = self.state
            if st == "data":
                if c == IAC:
                    self.state = "iac"
                else:
                    self.text.append(c)
            elif st == "iac":
                if c == IAC:
                    self.text.append(255)
                    self.state = "data"
                elif c in (WILL, WONT, DO, DONT):
                    self.state = c
                elif c == SB:
                    self.sb = bytearray()
                    self.state = "sb"
                else:
                    flush()
                    toks.append("IAC " + CMDS.get(c, str(c)))
                    self.state = "data"
            elif st in (WILL, WONT, DO, DONT):
                flush()
                toks.append("IAC %s %s" % (CMDS[st], opt_name(c)))
                self.state = "data"
            elif st == "sb":
                if c == IAC:
                    self.state = "sb_iac"
                else:
                    self.sb.append(c)
            elif st == "sb_iac":
                if c == SE:
                    flush()
                    toks.append("IAC " + decode_sb(bytes(self.sb)) + " IAC SE")
                    self.state = "data"
                elif c == IAC:
                    self.sb.append(255)
                    self.state = "sb"
                else:  # protocol violation, show it
                    self.sb.append(IAC)
                    self.sb.append(c)
                    self.state = "sb"
        flush()
        return toks


class Recorder:
    def __init__(self, out, t0=None):
        self.out = out
        self.t0 = t0 if t0 is not None else time.monotonic()
        self.lock = threading.Lock()
        self.jf = open(out + ".jsonl", "w")
        self.tf = open(out + ".txt", "w")
        self.dec = {"s2c": Decoder(), "c2s": Decoder()}

    def now(self):
        return time.monotonic() - self.t0

    def data(self, d, b, t=None):
        t = self.now() if t is None else t
        with self.lock:
            self.jf.write(json.dumps({"t": round(t, 4), "dir": d, "hex": b.hex()}) + "\n")
            toks = self.dec[d].feed(b)
            self.tf.write("[%9.4f] %s %s\n" % (t, d, "  ".join(toks) if toks else "(partial)"))
            self.jf.flush()
            self.tf.flush()

    def event(self, name, **kw):
        t = self.now()
        with self.lock:
            rec = {"t": round(t, 4), "event": name}
            rec.update(kw)
            self.jf.write(json.dumps(rec) + "\n")
            extra = " ".join("%s=%s" % kv for kv in kw.items())
            self.tf.write("[%9.4f] ### %s %s\n" % (t, name, extra))
            self.jf.flush()
            self.tf.flush()

    def close(self):
        self.jf.close()
        self.tf.close()


# --------------------------------------------------------------------------
# raw socket client
# --------------------------------------------------------------------------
class Client:
    def __init__(self, host, port, out, policy):
        self.policy = policy  # "silent" | "refuse"
        t_start = time.monotonic()
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # TCP urgent data (telnetd sends IAC DM as urgent after ^C / IAC IP) stays in
        # the byte stream instead of being pulled out of band
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_OOBINLINE, 1)
        self.rec = Recorder(out)
        self.rec.event("connect", connect_seconds=round(self.rec.t0 - t_start, 6))
        self.plain = bytearray()  # server data with telnet commands stripped
        self.pstate = "data"
        self.eof = False
        self.seen = set()
        self.sbbuf = bytearray()
        self.first_s2c = None
        self.login_t = None
        self.out_prefix = out

    def send(self, b):
        self.sock.sendall(b)
        self.rec.data("c2s", b)

    def _process(self, b):
        replies = bytearray()
        for c in b:
            st = self.pstate
            if st == "data":
                if c == IAC:
                    self.pstate = "iac"
                else:
                    self.plain.append(c)
            elif st == "iac":
                if c in (WILL, WONT, DO, DONT):
                    self.pstate = c
                elif c == SB:
                    self.pstate = "sb"
                    self.sbbuf = bytearray()
                elif c == IAC:
                    self.plain.append(255)
                    self.pstate = "data"
                else:
                    self.pstate = "data"
            elif st in (WILL, WONT, DO, DONT):
                key = (st, c)
                first = key not in self.seen  # answer each request once (no loops)
                self.seen.add(key)
                if first and self.policy == "refuse":
                    if st == DO:
                        replies += bytes([IAC, WONT, c])
                    elif st == WILL:
                        replies += bytes([IAC, DONT, c])
                elif first and self.policy == "accept-noauth" and st == WILL and c in (37, 38):
                    replies += bytes([IAC, DONT, c])
                elif first and self.policy == "accept-noauth" and st == DO and c == 36:
                    replies += bytes([IAC, WONT, c])
                elif first and self.policy in ("accept", "accept-nosb", "accept-noauth"):
                    if st == DO:
                        replies += bytes([IAC, WILL, c])
                        if c == 31 and self.policy in ("accept", "accept-noauth"):
                            replies += bytes([IAC, SB, 31, 0, 80, 0, 24, IAC, SE])
                    elif st == WILL:
                        replies += bytes([IAC, DO, c])
                elif first and self.policy == "mirai":
                    # Mirai: WILL -> DO; DO NAWS -> WILL NAWS + 80x24; other DO -> WONT
                    if st == DO and c == 31:
                        replies += bytes([IAC, WILL, 31, IAC, SB, 31, 0, 80, 0, 24, IAC, SE])
                    elif st == DO:
                        replies += bytes([IAC, WONT, c])
                    elif st == WILL:
                        replies += bytes([IAC, DO, c])
                self.pstate = "data"
            elif st == "sb":
                if c == IAC:
                    self.pstate = "sb_iac"
                else:
                    self.sbbuf.append(c)
            elif st == "sb_iac":
                if c == SE:
                    self.pstate = "data"
                    sbd = bytes(self.sbbuf)
                    self.sbbuf = bytearray()
                    if self.policy in ("accept", "accept-noauth") and len(sbd) >= 2 and sbd[1] == 1:
                        answer = {24: b"\x00xterm", 32: b"\x0038400,38400",
                                  35: b"\x00", 39: b"\x00", 36: b"\x00"}.get(sbd[0])
                        if answer is not None:
                            replies += bytes([IAC, SB, sbd[0]]) + answer + bytes([IAC, SE])
                else:
                    self.pstate = "sb"
        if replies:
            self.send(bytes(replies))

    def pump(self, timeout):
        """Read for up to `timeout` seconds (returns early on EOF)."""
        end = time.monotonic() + timeout
        while not self.eof:
            left = end - time.monotonic()
            if left <= 0:
                return
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                return
            try:
                b = self.sock.recv(65536)
            except ConnectionResetError:
                self.rec.event("reset")
                self.eof = True
                return
            if not b:
                self.rec.event("eof")
                self.eof = True
                return
            t = self.rec.now()
            self.rec.data("s2c", b, t)
            if self.first_s2c is None:
                self.first_s2c = round(t, 4)
            self._process(b)
            if self.login_t is None and re.search(LOGIN_RX, bytes(self.plain)):
                self.login_t = round(t, 4)

    def wait_for(self, pattern, timeout=30.0, since=0):
        """Wait until regex `pattern` (bytes) matches the plain server text after offset `since`."""
        end = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            m = rx.search(bytes(self.plain), since)
            if m:
                return m.end()
            if self.eof:
                return None
            left = end - time.monotonic()
            if left <= 0:
                self.rec.event("wait_timeout", pattern=pattern.decode("latin1"))
                return None
            self.pump(min(left, 0.05))

    def finish(self, linger=5.0):
        self.pump(linger)
        self.rec.event("close_by_client" if not self.eof else "closed")
        self.sock.close()
        self.rec.close()


LOGIN_RX = rb"login: $"
PASS_RX = rb"Password: $"
SHELL_RX = rb"\$ $"


def login_flow(c, attempts, after_shell=(b"echo hi", b"exit"), eol=b"\r\n"):
    """attempts: list of (user, password). Each waits for its prompt."""
    pos = 0
    for user, pw in attempts:
        pos = c.wait_for(LOGIN_RX, 90, pos)
        if pos is None:
            return
        time.sleep(0.3)
        c.send(user + eol)
        pos = c.wait_for(PASS_RX, 30, pos)
        if pos is None:
            return
        time.sleep(0.3)
        c.send(pw + eol)
    pos = c.wait_for(SHELL_RX, 30, pos)
    if pos is None:
        return
    for cmd in after_shell:
        time.sleep(0.5)
        c.send(cmd + eol)
        c.pump(1.0)


def run_scenario(a):
    name = a.name
    out = a.out
    if name == "silent":
        c = Client(a.host, a.port, out, "silent")
        c.pump(a.duration)
        c.finish(0)
    elif name == "refuse":
        c = Client(a.host, a.port, out, "refuse")
        login_flow(c, [(b"anna", b"wrongpass1"), (b"anna", b"secret123")])
        c.finish(5)
    elif name == "raw":
        c = Client(a.host, a.port, out, "silent")
        c.send(b"root\r\n")
        # a bot waits for anything that looks like a password prompt, else sends blind
        if c.wait_for(rb"[Pp]assword: ?$", 15) is None:
            c.rec.event("note", text="no Password: prompt within 15s, sending password blind")
        c.send(b"admin\r\n")
        c.pump(20)
        c.finish(0)
    elif name == "idle-login":
        c = Client(a.host, a.port, out, "refuse")
        c.wait_for(LOGIN_RX, 30)
        c.pump(a.duration)
        c.finish(0)
    elif name == "idle-after-fail":
        # one failed attempt, then silence: is the 60 s login timer reset by activity?
        c = Client(a.host, a.port, out, "refuse")
        pos = c.wait_for(LOGIN_RX, 30)
        for user, pw in ((b"anna", b"wrong"),):
            time.sleep(10)
            c.send(user + b"\r\n")
            pos = c.wait_for(PASS_RX, 30, pos)
            time.sleep(10)
            c.send(pw + b"\r\n")
        c.pump(a.duration)
        c.finish(0)
    elif name == "maxtries":
        c = Client(a.host, a.port, out, "refuse")
        pos = 0
        for i in range(10):
            pos = c.wait_for(LOGIN_RX, 30, pos)
            if pos is None:
                break
            c.send(b"anna\r\n")
            pos = c.wait_for(PASS_RX, 30, pos)
            if pos is None:
                break
            c.send(b"wrong%d\r\n" % i)
        c.finish(5)
    elif name in ("ctrl-c", "ctrl-d", "iac-ip"):
        c = Client(a.host, a.port, out, "refuse")
        pos = c.wait_for(LOGIN_RX, 30)
        key = {"ctrl-c": b"\x03", "ctrl-d": b"\x04", "iac-ip": bytes([IAC, 244])}[name]
        c.send(key)
        c.pump(5)
        if not c.eof:
            c.send(key)  # a second one
            c.pump(5)
        if not c.eof:
            c.send(b"\r\n")  # an empty line at the login prompt
            c.pump(5)
        if not c.eof:
            c.send(b"x\r\n")
            c.pump(6)
        c.finish(0)
    elif name == "unknown-user":
        # a user name that does not exist, then root with a wrong password
        c = Client(a.host, a.port, out, "refuse")
        pos = 0
        for user in (b"nosuchuser", b"root"):
            pos = c.wait_for(LOGIN_RX, 30, pos)
            if pos is None:
                break
            c.send(user + b"\r\n")
            pos = c.wait_for(PASS_RX, 30, pos)
            if pos is None:
                break
            c.send(b"admin\r\n")
        c.wait_for(LOGIN_RX, 30, pos or 0)
        c.finish(1)
    elif name == "pipelined":
        # a bot that sends user and password in one segment once "login: " shows
        c = Client(a.host, a.port, out, "refuse")
        c.wait_for(LOGIN_RX, 30)
        c.send(b"anna\r\nsecret123\r\n")
        c.pump(8)
        if not c.eof:
            c.send(b"secret123\r\n")  # the password again, after "Password: "
            c.pump(3)
        if not c.eof:
            c.send(b"echo hi\r\nexit\r\n")
            c.pump(3)
        c.finish(0)
    elif name == "ayt":
        c = Client(a.host, a.port, out, "refuse")
        c.wait_for(LOGIN_RX, 30)
        c.send(bytes([IAC, 246]))  # Are You There
        c.pump(3)
        c.send(b"an" + bytes([IAC, 247]) + b"x" + bytes([IAC, 248]))  # EC, EL
        c.pump(3)
        c.finish(0)
    elif name == "timing":
        # N quiet connections: time to first byte and to "login: " for a refusing
        # client (one jsonl/txt per run: <out>_NN) plus a summary <out>.summary.json
        rows = []
        for i in range(a.count):
            c = Client(a.host, a.port, "%s_%02d" % (out, i + 1), "refuse")
            c.wait_for(LOGIN_RX, 30)
            rows.append({"run": i + 1, "first_byte": c.first_s2c, "login_prompt": c.login_t})
            c.sock.close()
            c.rec.event("close_by_client")
            c.rec.close()
            time.sleep(1.0)
        with open(out + ".summary.json", "w") as f:
            json.dump(rows, f, indent=1)
        print(json.dumps(rows))
    elif name in ("accept", "accept-noauth", "mirai"):
        c = Client(a.host, a.port, out, name)
        login_flow(c, [(b"anna", b"secret123")])
        c.finish(3)
    elif name == "accept-nosb":
        c = Client(a.host, a.port, out, name)
        c.pump(a.duration)
        c.finish(0)
    else:
        sys.exit("unknown scenario " + name)


# --------------------------------------------------------------------------
# logging proxy + pty driven real client
# --------------------------------------------------------------------------
class Proxy(threading.Thread):
    def __init__(self, listen_port, upstream, out, t0_holder):
        super().__init__(daemon=True)
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", listen_port))
        self.ls.listen(1)
        self.upstream = upstream
        self.out = out
        self.rec = None
        self.done = threading.Event()
        self.t0_holder = t0_holder

    def run(self):
        cs, _ = self.ls.accept()
        self.ls.close()
        t0 = time.monotonic()
        self.t0_holder.append(t0)
        self.rec = Recorder(self.out, t0)
        us = socket.create_connection(self.upstream)
        self.rec.event("accept_and_upstream_connected",
                       upstream_connect_seconds=round(time.monotonic() - t0, 6))
        for s in (cs, us):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_OOBINLINE, 1)
        peer = {cs: us, us: cs}
        dirn = {cs: "c2s", us: "s2c"}
        open_ = {cs, us}
        while open_:
            r, _, _ = select.select(list(open_), [], [], 1.0)
            for s in r:
                try:
                    b = s.recv(65536)
                except OSError:
                    b = b""
                t = self.rec.now()
                if not b:
                    self.rec.event("eof", side="client" if s is cs else "server")
                    open_.discard(s)
                    try:
                        peer[s].shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    if s is us:  # server closed: we are done
                        open_.clear()
                    continue
                self.rec.data(dirn[s], b, t)
                try:
                    peer[s].sendall(b)
                except OSError:
                    open_.clear()
        cs.close()
        us.close()
        self.rec.close()
        self.done.set()


class PtyClient:
    def __init__(self, argv, out, t0_holder):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.environ["TERM"] = "xterm"
            os.environ.pop("USER", None)
            os.execvp(argv[0], argv)
        self.screen = bytearray()
        self.out = out
        self.lines = []  # (monotonic time, text); written relative to the proxy's t0
        self.t0_holder = t0_holder
        self.tstart = time.monotonic()
        self.eof = False
    def close(self):
        t0 = self.t0_holder[0] if self.t0_holder else self.tstart
        with open(self.out + ".tty.txt", "w") as f:
            f.write("# times relative to the proxy's accept (negative: before the TCP connection)\n")
            for mono, text in self.lines:
                f.write("[%9.4f] %s" % (mono - t0, text))

    def t(self):
        return time.monotonic()

    def pump(self, timeout):
        end = time.monotonic() + timeout
        while not self.eof:
            left = end - time.monotonic()
            if left <= 0:
                return
            r, _, _ = select.select([self.fd], [], [], left)
            if not r:
                return
            try:
                b = os.read(self.fd, 65536)
            except OSError:
                b = b""
            if not b:
                self.eof = True
                self.lines.append((self.t(), "<pty EOF>\n"))
                return
            self.screen += b
            self.lines.append((self.t(), "screen %s\n" % esc_text(b)))

    def type(self, b):
        self.lines.append((self.t(), "keys   %s\n" % esc_text(b)))
        os.write(self.fd, b)

    def wait_for(self, pattern, timeout, since=0):
        end = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            m = rx.search(bytes(self.screen), since)
            if m:
                return m.end()
            if self.eof or time.monotonic() > end:
                self.lines.append((self.t(), "<wait_for %r failed>\n" % pattern))
                return None
            self.pump(0.05)


def run_pty(a):
    t0_holder = []
    proxy = Proxy(a.listen, (a.host, a.port), a.out, t0_holder)
    proxy.start()
    argv = a.client.format(port=a.listen).split()
    p = PtyClient(argv, a.out, t0_holder)
    script = a.script
    pos = 0

    def login(user, pw, expect_ok):
        nonlocal pos
        pos = p.wait_for(rb"login: ", 90, pos)
        if pos is None:
            return False
        time.sleep(0.5)
        p.type(user + b"\r")
        pos = p.wait_for(rb"Password: ", 30, pos)
        if pos is None:
            return False
        time.sleep(0.5)
        p.type(pw + b"\r")
        return True

    if script == "login":
        ok = (login(b"anna", b"wrongpass1", False) and login(b"anna", b"wrongpass2", False)
              and login(b"anna", b"secret123", True))
        if ok:
            pos = p.wait_for(rb"\$ ", 30, pos)
            if pos is not None:
                time.sleep(0.5)
                p.type(b"echo hi\r")
                p.pump(1.5)
                p.type(b"exit\r")
    elif script == "ctrl-c":
        pos = p.wait_for(rb"login: ", 90, pos)
        if pos is not None:
            time.sleep(0.5)
            p.type(b"an")
            p.pump(0.5)
            p.type(b"\x03")
            p.pump(5)
            p.type(b"\x04")
            p.pump(5)
    elif script == "empty":
        pos = p.wait_for(rb"login: ", 90, pos)
        if pos is not None:
            time.sleep(0.5)
            p.type(b"\r")  # empty user name
            pos = p.wait_for(rb"(Password: |login: )", 30, pos)
            time.sleep(0.5)
            p.type(b"x\r")
            p.pump(6)
            p.type(b"anna\r")
            pos = p.wait_for(rb"Password: ", 30, pos)
            time.sleep(0.5)
            p.type(b"\x04")  # ^D at the password prompt
            p.pump(6)
    elif script == "user-env":  # client run with -l anna: USER via NEW-ENVIRON
        pos = p.wait_for(rb"Password: ", 30, pos)
        if pos is not None:
            time.sleep(0.5)
            p.type(b"secret123\r")
            pos = p.wait_for(rb"\$ ", 30, pos)
            time.sleep(0.5)
            p.type(b"exit\r")
    elif script == "maxtries":
        for i in range(8):
            if not login(b"anna", b"bad%d" % i, False):
                break
    p.pump(a.duration)
    proxy.done.wait(10)
    try:
        os.kill(p.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(p.pid, 0)
    except ChildProcessError:
        pass
    p.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=2323)
    ap.add_argument("--out", required=True, help="output path prefix")
    ap.add_argument("--duration", type=float, default=70.0)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("scenario")
    s.add_argument("name")
    s.add_argument("--count", type=int, default=20, help="runs of the timing scenario")
    p = sub.add_parser("pty")
    p.add_argument("--listen", type=int, default=2324)
    p.add_argument("--client", default="telnet 127.0.0.1 {port}")
    p.add_argument("--script", default="login", choices=["login", "ctrl-c", "empty", "user-env", "maxtries", "none"])
    x = sub.add_parser("proxy")
    x.add_argument("--listen", type=int, default=2324)
    a = ap.parse_args()
    if a.cmd == "scenario":
        run_scenario(a)
    elif a.cmd == "pty":
        run_pty(a)
    else:
        t0h = []
        pr = Proxy(a.listen, (a.host, a.port), a.out, t0h)
        pr.start()
        pr.done.wait()


if __name__ == "__main__":
    main()
