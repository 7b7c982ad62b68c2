#!/usr/bin/env python3
"""Turn `nmap -sV -sC -v --script-trace` output into per-connection C:/S: lines.

  nmap -sV -sC -p 2194 -v --script-trace 127.0.0.1 > nmap-verbose-trace.raw
  python3 nmap_trace.py nmap-verbose-trace.raw 2194 > nmap-trace.txt
(copy of ../vsftpd-3.0.3/nmap_trace.py with the server port as an argument)

nmap prints each NSE send/receive either as text (`| 227 Entering ...`) or as
a hex dump (`| 00000000: 32 32 30 ...` plus `00000010: ...` continuation
lines).  The bytes are reassembled per client port and split into lines.
"""
import re
import sys

HEX = re.compile(r"^([0-9a-f]{8}): ((?:[0-9a-f]{2} ){1,16})")
EV = re.compile(r"^NSE: TCP (\S+):(\d+) ([<>]) (\S+):(\d+) \| (.*)$")


def main(path, port="2194"):
    conns = {}   # client port -> list of (dir, bytes)
    order = []
    cur = None
    for raw in open(path, encoding="latin-1"):
        line = raw.rstrip("\n")
        m = EV.match(line)
        if m:
            cport, direction, sport, rest = m.group(2), m.group(3), m.group(5), m.group(6)
            key = (cport, sport)
            if key not in conns:
                conns[key] = []
                order.append(key)
            cur = None
            if rest in ("CONNECT", "SEND", "CLOSE"):
                conns[key].append((direction, rest))
                continue
            h = HEX.match(rest)
            if h:
                data = bytes.fromhex(h.group(2).replace(" ", ""))
                conns[key].append([direction, data])
                cur = conns[key][-1]
            else:
                # printable payload: nmap prints it as text (CRLF shown as line
                # breaks) and ends it with an empty line
                conns[key].append([direction, rest.encode("latin-1") + b"\r\n"])
                cur = conns[key][-1]
                cur.append("text")
            continue
        if cur is not None and len(cur) == 3:
            if line == "":
                cur = None
            else:
                cur[1] += line.encode("latin-1") + b"\r\n"
            continue
        h = HEX.match(line)
        if h and cur is not None:
            cur[1] += bytes.fromhex(h.group(2).replace(" ", ""))
            continue
        cur = None
    out = ["# Per-connection NSE traffic of `nmap -sV -sC -p %s -v --script-trace 127.0.0.1`" % port,
           "# reassembled by nmap_trace.py; C: = sent by nmap, S: = sent by ProFTPD,",
           "# D: = data connection (PASV port).  Script names inferred from the commands."]
    for key in order:
        out.append("")
        out.append("# connection 127.0.0.1:%s -> 127.0.0.1:%s" % key)
        for ev in conns[key]:
            d, payload = ev[0], ev[1]
            if isinstance(payload, str):
                if payload == "CLOSE":
                    out.append("# client closed")
                continue
            prefix = "C: " if d == ">" else ("S: " if key[1] == port else "D: ")
            if key[1] != port:
                prefix = "D: "
            text = payload.decode("latin-1")
            if not text.endswith("\n"):
                out.append(prefix + repr(payload)[2:-1] + "   # (binary / no newline)")
                continue
            for l in text.split("\r\n")[:-1] if text.endswith("\r\n") else text.split("\n")[:-1]:
                out.append(prefix + l)
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1], *sys.argv[2:3])
