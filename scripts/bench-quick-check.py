#!/usr/bin/env python3
"""The cost of the integrity check hpti's SQLite sink runs at start (`PRAGMA
quick_check`, issue 20), on a database of the size given (default 1 GB), from a cold page
cache (dropped first; needs root) and a warm one.

    python3 scripts/bench-quick-check.py [GB]

It measures SQLite's own check through Python's sqlite3 module: the same pragma hpti
runs, on a table with two indexes like `events`. `integrity_check = false` in a sink's
table skips it.
"""
import os
import sqlite3
import sys
import tempfile
import time

gb = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
rows = int(2_000_000 * gb)
with tempfile.TemporaryDirectory() as dir:
    path = os.path.join(dir, "qc.db")
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("CREATE TABLE e (id INTEGER PRIMARY KEY, ts INTEGER, ip TEXT, doc TEXT)")
    db.execute("CREATE INDEX e_ts ON e (ts)")
    db.execute("CREATE INDEX e_ip ON e (ip)")
    db.executemany(
        "INSERT INTO e VALUES (?, ?, ?, ?)",
        ((i, i * 1000, f"198.51.{i % 250}.{i % 200}", "x" * 400) for i in range(rows)),
    )
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    size = os.path.getsize(path) / 1e9
    os.system("sync")
    try:
        with open("/proc/sys/vm/drop_caches", "w") as caches:
            caches.write("3\n")
        cold = True
    except OSError:
        cold = False
    db = sqlite3.connect(path)
    for run in ("cold" if cold else "first", "warm"):
        started = time.perf_counter()
        result = db.execute("PRAGMA quick_check").fetchall()
        took = time.perf_counter() - started
        print(f"{size:.2f} GB, {run}: {took:.2f} s ({took / size:.2f} s/GB) -> {result[0][0]}")
