#!/usr/bin/env python3
"""Timing summary of the captures (stdlib only): python3 analyze.py [DIR...]

For every <scenario>.jsonl: time of the first server byte, of "login: ", and each
failed-login delay (from the client's password line to the first server byte that
is not the immediate echo of the line end, i.e. the "\\r\\nLogin incorrect" reply).
"""
import glob
import json
import os
import statistics
import sys


def load(path):
    recs = []
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if "dir" in r:
                recs.append((r["t"], r["dir"], bytes.fromhex(r["hex"])))
    return recs


def analyse(path):
    recs = load(path)
    s2c = b""
    first = login = None
    delays = []
    awaiting_pw = False
    submit = None
    for t, d, b in recs:
        if d == "s2c":
            if first is None:
                first = t
            s2c += b
            if login is None and b"login: " in s2c:
                login = t
            if submit is not None and t - submit > 0.05:
                if b"Login incorrect" in b or b == b"\r\n":
                    delays.append(round(t - submit, 4))
                submit = None
            if s2c.endswith(b"Password: "):
                awaiting_pw = True
        else:
            if awaiting_pw and (b"\r" in b or b"\n" in b or b"\x04" in b):
                awaiting_pw = False
                submit = t
    return first, login, delays


def main():
    dirs = sys.argv[1:] or sorted(d for d in glob.glob(os.path.join(os.path.dirname(__file__) or ".", "*")) if os.path.isdir(d))
    for d in dirs:
        firsts, logins, all_delays = [], [], []
        print("==", d)
        for p in sorted(glob.glob(os.path.join(d, "**", "*.jsonl"), recursive=True)):
            first, login, delays = analyse(p)
            name = os.path.relpath(p, d)
            print("  %-40s first_byte=%s login=%s fail_delays=%s" % (name, first, login, delays))
            if first is not None and "silent" not in name and "raw" not in name:
                firsts.append(first)
            if login is not None:
                logins.append(login)
            all_delays += delays
        for label, v in (("first_byte", firsts), ("login_prompt", logins), ("fail_delay", all_delays)):
            if v:
                print("  %-12s n=%d min=%.4f median=%.4f mean=%.4f max=%.4f" % (
                    label, len(v), min(v), statistics.median(v), statistics.mean(v), max(v)))


if __name__ == "__main__":
    main()
