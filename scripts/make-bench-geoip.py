#!/usr/bin/env python3
"""Writes GeoLite2-shaped City and ASN databases of production size for benchmarks.

MaxMind's test databases (testdata/geoip) hold a few hundred networks, so lookups in
them are shallow and mostly miss. GeoLite2-City has about 3-4 million networks and a
record of a few hundred bytes with names in eight languages; this writes databases of
that shape (IPv6 tree with IPv4 mapped, about 2 million /18-/24 networks covering all
public IPv4, records laid out as GeoLite2's), from a fixed seed, so the GeoIP overhead
measured with them is the one a production install pays.

    pip install mmdb-writer
    python3 scripts/make-bench-geoip.py OUT_DIR [NETWORKS]
"""
import os
import random
import sys

from mmdb_writer import MMDBWriter, MmdbF64, MmdbU32
from netaddr import IPSet, IPNetwork

LANGS = ["de", "en", "es", "fr", "ja", "pt-BR", "ru", "zh-CN"]


def names(base):
    return {lang: f"{base} ({lang})" if lang != "en" else base for lang in LANGS}


def iso(country):
    return chr(65 + country % 26) + chr(65 + country // 26 % 26)


def main():
    out = sys.argv[1]
    total = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000_000
    rng = random.Random(20261121)
    cities = []
    for i in range(20_000):
        country = rng.randrange(200)
        cities.append({
            "city": {"geoname_id": MmdbU32(1_000_000 + i), "names": names(f"City {i}")},
            "continent": {"code": "EU", "geoname_id": MmdbU32(6255148), "names": names("Europe")},
            "country": {"geoname_id": MmdbU32(2_000_000 + country), "iso_code": iso(country),
                        "names": names(f"Country {country}")},
            "location": {"accuracy_radius": MmdbU32(rng.choice([5, 10, 20, 50, 100, 200])),
                         "latitude": MmdbF64(rng.uniform(-60, 70)), "longitude": MmdbF64(rng.uniform(-180, 180)),
                         "time_zone": "Europe/Berlin"},
            "postal": {"code": f"{rng.randrange(10000, 99999)}"},
            "registered_country": {"geoname_id": MmdbU32(2_000_000 + country), "iso_code": iso(country),
                                   "names": names(f"Country {country}")},
            "subdivisions": [{"geoname_id": MmdbU32(3_000_000 + i), "iso_code": "BE", "names": names(f"Region {i % 500}")}],
        })
    asns = [{"autonomous_system_number": MmdbU32(1000 + i),
             "autonomous_system_organization": f"Example Networks {i} Ltd"} for i in range(60_000)]

    city = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-City",
                      languages=LANGS, description="hpti benchmark City database")
    asn = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-ASN",
                     languages=["en"], description="hpti benchmark ASN database")
    # Cover all of public IPv4 in /18 steps, each one network or split into /20, /22 or
    # /24 networks (GeoLite2's mix: mostly large blocks, some split fine).
    written = 0
    by_city = {}
    by_asn = {}
    step = 1 << 14
    for address in range(1 << 24, 224 << 24, step):
        if written >= total:
            break
        prefix = rng.choices([18, 20, 22, 24], weights=[55, 25, 12, 8])[0]
        size = 1 << (32 - prefix)
        for sub in range(address, address + step, size):
            net = f"{sub >> 24 & 255}.{sub >> 16 & 255}.{sub >> 8 & 255}.{sub & 255}/{prefix}"
            by_city.setdefault(rng.randrange(len(cities)), []).append(net)
            by_asn.setdefault(rng.randrange(len(asns)), []).append(net)
            written += 1
    for index, nets in by_city.items():
        city.insert_network(IPSet(nets), cities[index])
    for index, nets in by_asn.items():
        asn.insert_network(IPSet(nets), asns[index])
    os.makedirs(out, exist_ok=True)
    city.to_db_file(f"{out}/Bench-City.mmdb")
    asn.to_db_file(f"{out}/Bench-ASN.mmdb")
    print(f"{written} networks written to {out}/Bench-City.mmdb and {out}/Bench-ASN.mmdb")


if __name__ == "__main__":
    main()
