#!/usr/bin/env python3
"""Generate countries.json (SVG path data per country) from world-atlas TopoJSON.

Deterministic, Python 3 standard library only. Run from anywhere:

    python3 make_paths.py            # reads/writes next to this script

Inputs (next to this script):
  countries-110m.json  world-atlas@2.0.2 TopoJSON (Natural Earth 1:110m)
  iso3166.json         {"<3-digit ISO numeric>": "<alpha-2>"} from i18n-iso-countries

Output:
  countries.json       {"<ALPHA-2>": {"name": "...", "d": "M..Z M..Z"}}, keys sorted,
                       compact. Equirectangular projection into a 1000x500 viewBox:
                       x = (lon + 180) / 360 * 1000, y = (90 - lat) / 180 * 500,
                       1 decimal. One M...Z subpath per polygon ring (exterior rings
                       and holes; render with fill-rule="evenodd" or the default
                       nonzero, the TopoJSON winding keeps holes opposite).

Skipped: Antarctica (010), features without an id (printed to stderr).
Rings that collapse to fewer than 3 distinct points after rounding are dropped
(printed to stderr).
"""

import json
import os
import re
import sys

WIDTH = 1000.0
HEIGHT = 500.0
SKIP_IDS = {"010"}  # Antarctica

HERE = os.path.dirname(os.path.abspath(__file__))


def fmt(v):
    s = "%.1f" % v
    if s.endswith(".0"):
        s = s[:-2]
    if s == "-0":
        s = "0"
    return s


def project(lon, lat):
    return fmt((lon + 180.0) / 360.0 * WIDTH), fmt((90.0 - lat) / 180.0 * HEIGHT)


def decode_arcs(topo):
    """Return arcs as lists of (lon, lat) floats (delta decoding + transform)."""
    tr = topo.get("transform")
    out = []
    for arc in topo["arcs"]:
        pts = []
        if tr:
            sx, sy = tr["scale"]
            tx, ty = tr["translate"]
            x = y = 0
            for p in arc:
                x += p[0]
                y += p[1]
                pts.append((x * sx + tx, y * sy + ty))
        else:
            pts = [(p[0], p[1]) for p in arc]
        out.append(pts)
    return out


def ring_points(ring, arcs):
    """Stitch arc indices into one ring of (lon, lat); ~i means arc i reversed."""
    pts = []
    for i in ring:
        a = arcs[i] if i >= 0 else arcs[~i][::-1]
        # Consecutive arcs share their joint point: skip it after the first arc.
        pts.extend(a if not pts else a[1:])
    return pts


def ring_path(ring, arcs):
    """SVG subpath 'Mx,yLx,y...Z' or None if degenerate after rounding."""
    proj = []
    for lon, lat in ring_points(ring, arcs):
        p = project(lon, lat)
        if not proj or proj[-1] != p:
            proj.append(p)
    if len(proj) > 1 and proj[0] == proj[-1]:
        proj.pop()  # closed by Z
    if len(set(proj)) < 3:
        return None
    return "M" + "L".join("%s,%s" % p for p in proj) + "Z"


def polygons(geom):
    t = geom.get("type")
    if t == "Polygon":
        return [geom["arcs"]]
    if t == "MultiPolygon":
        return geom["arcs"]
    return []


PATH_RE = re.compile(r"M[0-9.]+,[0-9.]+(?:L[0-9.]+,[0-9.]+)+Z")
NUM_RE = re.compile(r"[ML]([0-9.]+),([0-9.]+)")


def check(d):
    subpaths = d.split(" ")
    for sp in subpaths:
        if not PATH_RE.fullmatch(sp):
            raise ValueError("bad subpath: %r" % sp[:80])
        for xs, ys in NUM_RE.findall(sp):
            x, y = float(xs), float(ys)
            if not (0 <= x <= WIDTH and 0 <= y <= HEIGHT):
                raise ValueError("point out of viewBox: %s,%s" % (xs, ys))


def main():
    topo_path = os.path.join(HERE, "countries-110m.json")
    iso_path = os.path.join(HERE, "iso3166.json")
    out_path = os.path.join(HERE, "countries.json")

    with open(topo_path, encoding="utf-8") as f:
        topo = json.load(f)
    with open(iso_path, encoding="utf-8") as f:
        num2a2 = json.load(f)

    arcs = decode_arcs(topo)
    result = {}
    dropped = 0
    for g in topo["objects"]["countries"]["geometries"]:
        gid = g.get("id")
        name = (g.get("properties") or {}).get("name", "")
        if gid is None or gid == "":
            print("skip (no id): %s" % name, file=sys.stderr)
            continue
        gid = str(gid).zfill(3)
        if gid in SKIP_IDS:
            print("skip (excluded): %s %s" % (gid, name), file=sys.stderr)
            continue
        a2 = num2a2.get(gid)
        if a2 is None:
            print("skip (no alpha-2 for %s): %s" % (gid, name), file=sys.stderr)
            continue
        a2 = a2.upper()
        subpaths = []
        for poly in polygons(g):
            for ring in poly:
                sp = ring_path(ring, arcs)
                if sp is None:
                    dropped += 1
                    print("drop degenerate ring: %s" % a2, file=sys.stderr)
                else:
                    subpaths.append(sp)
        if not subpaths:
            print("skip (empty after rounding): %s %s" % (a2, name), file=sys.stderr)
            continue
        if a2 in result:  # several features for one code: merge
            result[a2]["d"] += " " + " ".join(subpaths)
        else:
            result[a2] = {"name": name, "d": " ".join(subpaths)}

    for a2, v in result.items():
        check(v["d"])

    with open(out_path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(result, f, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        f.write("\n")
    print(
        "wrote %s: %d countries, %d bytes, %d degenerate rings dropped"
        % (out_path, len(result), os.path.getsize(out_path), dropped),
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
