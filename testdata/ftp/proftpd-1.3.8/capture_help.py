#!/usr/bin/env python3
"""Record ProFTPD 1.3.8's `HELP <command>` syntax lines, `SITE HELP <sub>` and the
STAT "Total bytes transferred" line (-> help.txt beside this file).

Raw sockets only; the PSession class (CRLF handling, <xx> escapes, second-reply
drain, data transfers) and header conventions come from capture.py (which in
turn imports ../vsftpd-3.0.3/capture.py).

Usage (server set up as in NOTES.md "Re-running", main instance on port 2194):
  ip netns exec ftpcap python3 capture_help.py --port 2194 [--raw /tmp/help-raw.json]
"""
import argparse
import importlib.util
import json
import os
import time

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("proftpd_capture", os.path.join(HERE, "capture.py"))
pc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pc)

# the command words of ProFTPD's HELP block, in its order
HELP_WORDS = ("CWD XCWD CDUP XCUP SMNT QUIT PORT PASV EPRT EPSV ALLO RNFR RNTO DELE MDTM RMD "
              "XRMD MKD XMKD PWD XPWD SIZE SYST HELP NOOP FEAT OPTS HOST CLNT AUTH CCC CONF "
              "ENC MIC PBSZ PROT TYPE STRU MODE RETR STOR STOU APPE REST ABOR RANG USER PASS "
              "ACCT REIN LIST NLST STAT SITE MLSD MLST").split()
EXTRA = ["HELP MFMT", "HELP MFF", "HELP CSID", "HELP LANG", "HELP help", "HELP FOO", "HELP foo",
         "HELP RETR STOR"]
SITE_SUBS = "CHMOD CHGRP CPFR CPTO UTIME SYMLINK RMDIR MKDIR RATIO QUOTA HELP COPY FOO".split()


def header(out):
    out.append("# HELP <command> syntax lines (before and after login), SITE HELP <sub>, STAT after a transfer")
    out.append("# server: ProFTPD 1.3.8 (Debian 12 package proftpd-basic 1.3.8+dfsg-4+deb12u5), config: proftpd.conf")
    out.append("# captured %s UTC by capture_help.py, TZ=UTC, client 127.0.0.1 (server socket: stock dual-stack [::])" %
               time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()))
    out.append("# every S: line arrived terminated by CRLF unless marked otherwise")
    out.append("")


def help_list(s):
    for w in HELP_WORDS:
        s.cmd("HELP " + w)
    for c in EXTRA:
        s.cmd(c)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=2194)
    ap.add_argument("--out", default=os.path.join(HERE, "help.txt"))
    ap.add_argument("--raw", default="", help="also dump the raw byte reprs here (JSON)")
    args = ap.parse_args()

    out = []
    header(out)
    s = pc.PSession("help", args.host, args.port, out)
    s.c("--- 1. before login: HELP <word> for every word of the HELP block, then a few others ---")
    s.connect()
    help_list(s)
    s.blank()

    s.c("--- 2. anonymous login, the same HELP list again ---")
    s.cmd("USER anonymous")
    s.cmd("PASS x@")
    help_list(s)
    s.blank()

    s.c("--- SITE HELP <sub> (logged in) ---")
    for sub in SITE_SUBS:
        s.cmd("SITE HELP " + sub)
    s.blank()

    s.c("--- 3. STAT before any transfer, after one PASV + RETR welcome.msg, and after TYPE I ---")
    s.cmd("STAT")
    s.transfer("RETR welcome.msg", "PASV")
    s.cmd("STAT")
    s.cmd("TYPE I")
    s.cmd("STAT")
    s.cmd("QUIT")
    s.more(timeout=2)
    s.close()

    with open(args.out, "w") as f:
        f.write("\n".join(out).rstrip("\n") + "\n")
    print("wrote", args.out, len(out), "lines", flush=True)
    if args.raw:
        with open(args.raw, "w") as f:
            json.dump(pc.RAW, f, indent=1)


if __name__ == "__main__":
    main()
