#!/usr/bin/env python3
"""nmap and real FTP clients against the ProFTPD capture instance.

Writes (into --out, default: this directory):
  nmap.txt        `nmap -sV -sC -p PORT 127.0.0.1` verbatim (+ notes written by hand in NOTES.md)
  nmap-trace.txt  per-connection NSE traffic (`-v --script-trace`, via nmap_trace.py) and the
                  service-detection probe sequence (`-sV --version-trace`)
  clients.txt     lftp 4.9.2 (-d), curl 7.88.1 (-v), Python ftplib (debuglevel 2, passive and active)

Run inside the capture network namespace (see NOTES.md):
  ip netns exec ftpcap python3 capture_tools.py --port 2194
Needs the fixtures of setup.sh (user ftptest, /srv/ftp content).
"""
import argparse
import os
import subprocess
import sys
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, timeout=120, shell=False):
    t0 = time.monotonic()
    p = subprocess.run(cmd, shell=shell, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout)
    return p.stdout.decode("utf-8", "replace"), p.returncode, time.monotonic() - t0


def header(title, lines=()):
    out = ["# " + title,
           "# server: ProFTPD 1.3.8 (Debian 12 package proftpd-basic 1.3.8+dfsg-4+deb12u5), config: proftpd.conf",
           "# captured %s UTC by capture_tools.py, TZ=UTC, client 127.0.0.1" %
           time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())]
    out += ["# " + l for l in lines]
    return out


def block(out, title, cmd, text, rc, dt):
    out.append("")
    out.append("# ==== %s" % title)
    out.append("# command: %s" % (cmd if isinstance(cmd, str) else " ".join(cmd)))
    out.append("# exit status %d, %.1f s; output (stdout+stderr) verbatim below" % (rc, dt))
    out.extend(text.rstrip("\n").split("\n"))


def nmap(args):
    port = str(args.port)
    out = header("nmap 7.93 (Debian 12 package 7.93+dfsg1-1) against ProFTPD 1.3.8 on 127.0.0.1:%s" % port,
                 ["command: nmap -sV -sC -p %s 127.0.0.1      (run as root, so a SYN scan)" % port,
                  "Everything below the ---- line is nmap's output verbatim (stdout+stderr).",
                  "----"])
    text, rc, dt = run(["nmap", "-sV", "-sC", "-p", port, "127.0.0.1"], timeout=300)
    out.extend(text.rstrip("\n").split("\n"))
    with open(os.path.join(args.out, "nmap.txt"), "w") as f:
        f.write("\n".join(out) + "\n")
    print("wrote nmap.txt")

    raw, rc, dt = run(["nmap", "-sV", "-sC", "-p", port, "-v", "--script-trace", "127.0.0.1"], timeout=300)
    rawpath = "/tmp/proftpd-nmap-trace.raw"
    with open(rawpath, "w") as f:
        f.write(raw)
    trace, _, _ = run([sys.executable, os.path.join(HERE, "nmap_trace.py"), rawpath, port])
    vt, _, _ = run(["nmap", "-sV", "--version-trace", "-p", port, "127.0.0.1"], timeout=300)
    keep = [l for l in vt.split("\n")
            if l.startswith("Service scan") or "READ SUCCESS" in l or "READ TIMEOUT" in l
            or "nsock_write()" in l or "CONNECT SUCCESS" in l or l.startswith("PORT")
            or "/tcp" in l]
    out = ["# Service detection (`nmap -sV --version-trace -p %s 127.0.0.1`), relevant lines verbatim:" % port]
    out += ["#   " + l for l in keep]
    out.append("#")
    out += trace.rstrip("\n").split("\n")
    with open(os.path.join(args.out, "nmap-trace.txt"), "w") as f:
        f.write("\n".join(out) + "\n")
    print("wrote nmap-trace.txt")


FTPLIB = r'''
import ftplib, io, sys
host, port, passive = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "passive"
f = ftplib.FTP()
f.set_debuglevel(2)
print(f.connect(host, port))
print(f.login("ftptest", "ftptest"))
f.set_pasv(passive)
print(f.sendcmd("SYST"))
print(f.pwd())
print(f.nlst())
f.retrlines("LIST")
print(f.storbinary("STOR ftplib-up.txt", io.BytesIO(b"uploaded by ftplib\n")))
buf = io.BytesIO()
print(f.retrbinary("RETR ftplib-up.txt", buf.write), buf.getvalue())
print(f.size("ftplib-up.txt"))
print(list(f.mlsd(facts=["type", "size"]))[:3])
print(f.delete("ftplib-up.txt"))
print(f.quit())
'''


def clients(args):
    port = str(args.port)
    url = "ftp://127.0.0.1:%s" % port
    out = header("Real FTP clients against ProFTPD 1.3.8 (127.0.0.1:%s)" % port,
                 ["lftp 4.9.2 (-d: '--->' = sent by lftp, '<---' = received), curl 7.88.1 (-v: '>' sent, '<' received),",
                  "Python %s ftplib (debuglevel 2: '*put*' sent, '*get*' received)." % sys.version.split()[0]])
    with open("/tmp/proftpd-client-up.txt", "w") as f:
        f.write("hello from a client\n")
    for stale in ("/tmp/proftpd-lftp-down.txt", "/tmp/proftpd-lftp-hello.txt"):
        if os.path.exists(stale):
            os.unlink(stale)   # lftp's get refuses to overwrite (xfer:clobber off)

    cmd = ["lftp", "-d", "-u", "ftptest,ftptest", "-e",
           "ls; put /tmp/proftpd-client-up.txt -o lftp-up.txt; get lftp-up.txt -o /tmp/proftpd-lftp-down.txt; "
           "cls -l; rm lftp-up.txt; quit", url]
    block(out, "lftp, local user: ls, put, get, cls -l, rm", cmd, *run(cmd, timeout=60))
    cmd = ["lftp", "-d", "-e", "ls; cd pub; ls; get hello.txt -o /tmp/proftpd-lftp-hello.txt; "
           "put /tmp/proftpd-client-up.txt -o x.txt; quit", url]
    block(out, "lftp, anonymous (lftp's default login: anonymous / lftp@): ls, cd, get, put (refused)",
          cmd, *run(cmd, timeout=60))
    cmd = ["lftp", "-d", "-u", "ftptest,wrong", "-e", "set net:max-retries 1; ls; quit", url]
    block(out, "lftp, wrong password", cmd, *run(cmd, timeout=60))

    cmd = ["curl", "-v", "-sS", url + "/"]
    block(out, "curl, anonymous directory listing", cmd, *run(cmd))
    cmd = ["curl", "-v", "-sS", url + "/pub/hello.txt"]
    block(out, "curl, anonymous download", cmd, *run(cmd))
    cmd = ["curl", "-v", "-sS", "-T", "/tmp/proftpd-client-up.txt", url + "/curl-anon.txt"]
    block(out, "curl, anonymous upload (refused)", cmd, *run(cmd))
    cmd = ["curl", "-v", "-sS", "-u", "ftptest:ftptest", "-T", "/tmp/proftpd-client-up.txt", url + "/curl-up.txt"]
    block(out, "curl, local user upload", cmd, *run(cmd))
    cmd = ["curl", "-v", "-sS", "-u", "ftptest:ftptest", "--ftp-port", "-", "-l", url + "/"]
    block(out, "curl, local user name list in active mode (--ftp-port -, i.e. EPRT/PORT)", cmd, *run(cmd))
    cmd = ["curl", "-v", "-sS", "-u", "ftptest:ftptest", "-Q", "DELE curl-up.txt", url + "/"]
    block(out, "curl, local user: DELE via -Q, then the listing", cmd, *run(cmd))
    cmd = ["curl", "-v", "-sS", "-u", "ftptest:wrong", url + "/"]
    block(out, "curl, wrong password", cmd, *run(cmd))

    for mode in ("passive", "active"):
        cmd = [sys.executable, "-c", FTPLIB, "127.0.0.1", port, mode]
        text, rc, dt = run(cmd, timeout=60)
        block(out, "Python ftplib, %s mode" % mode,
              "python3 -c '<script below>' 127.0.0.1 %s %s" % (port, mode), text, rc, dt)
    out.append("")
    out.append("# ==== the ftplib script used above")
    out += ["# " + l for l in textwrap.dedent(FTPLIB).strip("\n").split("\n")]
    with open(os.path.join(args.out, "clients.txt"), "w") as f:
        f.write("\n".join(out) + "\n")
    print("wrote clients.txt")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=2194)
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    for name, fn in (("nmap", nmap), ("clients", clients)):
        if args.only and name not in args.only:
            continue
        fn(args)


if __name__ == "__main__":
    main()
