#!/usr/bin/env python3
"""Measure SSH password-authentication reply times and the MaxAuthTries disconnect.

Usage:
    python3 authtiming.py HOST PORT USER WRONG_PASSWORD [--good GOOD_PASSWORD]
                          [--single N] [--multi N] [--out FILE.json]

Needs paramiko (pip install paramiko). For each measured request the time is
taken from just before paramiko sends SSH_MSG_USERAUTH_REQUEST (method
"password") to the moment it has parsed the reply (FAILURE 51 or SUCCESS 52).

--single N : N connections, one wrong password each (the usual brute-forcer).
--multi N  : N connections that send "none" and then wrong passwords until the
             server disconnects; records how many attempts were answered, the
             disconnect reason code and text.
--good     : also time 10 successful logins.
"""

import argparse
import json
import logging
import socket
import statistics
import time

import paramiko


class _DisconnectCatcher(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record.getMessage())


def _transport(host, port):
    sock = socket.create_connection((host, port), timeout=30)
    t = paramiko.Transport(sock)
    t.banner_timeout = 30
    t.auth_timeout = 60
    t.start_client(timeout=30)
    return t


def _timed_password(t, user, pw):
    t0 = time.monotonic()
    try:
        t.auth_password(user, pw, fallback=False)
        ok = True
    except paramiko.BadAuthenticationType as e:
        ok = "badtype:" + ",".join(e.allowed_types)
    except paramiko.AuthenticationException as e:
        ok = False
    except paramiko.SSHException as e:
        ok = "error:" + str(e)
    return time.monotonic() - t0, ok


def _timed_none(t, user):
    t0 = time.monotonic()
    try:
        methods = t.auth_none(user)
    except paramiko.BadAuthenticationType as e:
        methods = e.allowed_types
    return time.monotonic() - t0, methods


def summary(xs):
    xs = sorted(xs)
    if not xs:
        return {}
    return {
        "n": len(xs),
        "min_ms": round(xs[0] * 1000, 1),
        "p10_ms": round(xs[int(0.1 * (len(xs) - 1))] * 1000, 1),
        "median_ms": round(statistics.median(xs) * 1000, 1),
        "p90_ms": round(xs[int(0.9 * (len(xs) - 1))] * 1000, 1),
        "max_ms": round(xs[-1] * 1000, 1),
        "mean_ms": round(statistics.mean(xs) * 1000, 1),
        "all_ms": [round(x * 1000, 1) for x in xs],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("user")
    ap.add_argument("wrong")
    ap.add_argument("--good")
    ap.add_argument("--single", type=int, default=40)
    ap.add_argument("--multi", type=int, default=3)
    ap.add_argument("--out")
    a = ap.parse_args()

    catcher = _DisconnectCatcher()
    lg = logging.getLogger("paramiko")
    lg.setLevel(logging.DEBUG)
    lg.addHandler(catcher)

    res = {"host": a.host, "port": a.port, "user": a.user}

    single = []
    none_times = []
    for _ in range(a.single):
        t = _transport(a.host, a.port)
        dt_none, methods = _timed_none(t, a.user)
        none_times.append(dt_none)
        res["none_methods"] = methods
        dt, ok = _timed_password(t, a.user, a.wrong)
        if ok is not False:
            res.setdefault("single_unexpected", []).append(str(ok))
        single.append(dt)
        t.close()
    res["wrong_password_single"] = summary(single)
    res["none_request"] = summary(none_times)

    multi = []
    for _ in range(a.multi):
        catcher.records.clear()
        t = _transport(a.host, a.port)
        seq = []
        dt_none, _m = _timed_none(t, a.user)
        seq.append({"method": "none", "ms": round(dt_none * 1000, 1)})
        for i in range(20):
            dt, ok = _timed_password(t, a.user, a.wrong)
            seq.append({"method": "password", "ms": round(dt * 1000, 1),
                        "result": ok if isinstance(ok, str) else ("success" if ok else "failure"),
                        "active_after": t.is_active()})
            if not t.is_active() or (isinstance(ok, str) and ok.startswith("error")):
                break
        disc = [r for r in catcher.records if "isconnect" in r or "EOF" in r]
        multi.append({"sequence": seq, "paramiko_log_disconnect": disc})
        t.close()
    res["wrong_password_until_disconnect"] = multi

    if a.good:
        good = []
        for _ in range(10):
            t = _transport(a.host, a.port)
            _timed_none(t, a.user)
            dt, ok = _timed_password(t, a.user, a.good)
            assert ok is True, ok
            good.append(dt)
            t.close()
        res["good_password"] = summary(good)

    text = json.dumps(res, indent=2)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
