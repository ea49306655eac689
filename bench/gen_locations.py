#!/usr/bin/env python3
"""Locations for the `near` benchmark: a provider directory's worth of positions and a list of
`near` searches around them.

    gen_locations.py OUT_DIR [--count 100000] [--queries 1000] [--km 10] [--seed 7]

Writes OUT_DIR/locations.ndjson (Location resources with ids, names and positions spread
over the contiguous United States, half of them in 40 city clusters, as directories are)
and OUT_DIR/queries-near.txt (`Location?near=lat|lng|KM|km`, each centred a few km from a
stored Location, so most searches find some). Load the NDJSON with load_ndjson.py and
measure the queries with ab_cpu.sh or wrk and search.lua.
"""

import argparse
import json
import os
import random

# (south, north, west, east) of the contiguous United States, roughly.
BOX = (25.0, 49.0, -124.5, -67.0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=1_000)
    ap.add_argument("--km", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    south, north, west, east = BOX
    cities = [(rnd.uniform(south, north), rnd.uniform(west, east)) for _ in range(40)]
    os.makedirs(a.out, exist_ok=True)
    positions = []
    with open(os.path.join(a.out, "locations.ndjson"), "w") as f:
        for i in range(a.count):
            if i % 2:
                lat, lng = rnd.choice(cities)
                lat, lng = lat + rnd.gauss(0, 0.3), lng + rnd.gauss(0, 0.3)
            else:
                lat, lng = rnd.uniform(south, north), rnd.uniform(west, east)
            lat, lng = round(lat, 6), round(lng, 6)
            positions.append((lat, lng))
            f.write(json.dumps({
                "resourceType": "Location",
                "id": f"loc-{i:07d}",
                "status": "active",
                "name": f"Clinic {i}",
                "position": {"latitude": lat, "longitude": lng},
            }) + "\n")
    with open(os.path.join(a.out, "queries-near.txt"), "w") as f:
        for _ in range(a.queries):
            lat, lng = rnd.choice(positions)
            # A centre up to ~3 km from a stored Location (0.03 degrees).
            lat += rnd.uniform(-0.03, 0.03)
            lng += rnd.uniform(-0.03, 0.03)
            f.write(f"Location?near={lat:.5f}|{lng:.5f}|{a.km:g}|km\n")


if __name__ == "__main__":
    main()
