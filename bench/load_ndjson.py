#!/usr/bin/env python3
"""Loads an NDJSON file of resources into a FHIR server with PUT (ids kept), in parallel.

    load_ndjson.py BASE_URL FILE [--workers 6]

BASE_URL is the FHIR base (http://127.0.0.1:8080/fhir for fhird, http://127.0.0.1:8090 for
Helios). Prints resources/s at the end; any answer other than 200/201 is printed and makes
the exit status 1. Line order is kept per worker (lines are dealt round robin).
"""

import argparse
import http.client
import json
import multiprocessing
import sys
import time
import urllib.parse


def worker(args):
    base, path, wid, workers = args
    u = urllib.parse.urlsplit(base)
    prefix = u.path.rstrip("/")
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    ok = bad = 0
    with open(path, "rb") as f:
        for n, line in enumerate(f):
            if n % workers != wid or not line.strip():
                continue
            r = json.loads(line)
            url = "%s/%s/%s" % (prefix, r["resourceType"], urllib.parse.quote(r["id"]))
            for attempt in range(3):
                try:
                    conn.request("PUT", url, body=line.rstrip(b"\n"),
                                 headers={"Content-Type": "application/fhir+json",
                                          "Accept": "application/fhir+json",
                                          "Prefer": "return=minimal"})
                    resp = conn.getresponse()
                    body = resp.read()
                    break
                except (ConnectionError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
            else:
                bad += 1
                continue
            if resp.status in (200, 201):
                ok += 1
            else:
                bad += 1
                if bad <= 5:
                    sys.stderr.write("PUT %s -> %d %s\n" % (url, resp.status, body[:300]))
    return ok, bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("file")
    ap.add_argument("--workers", type=int, default=6)
    a = ap.parse_args()
    t0 = time.time()
    with multiprocessing.Pool(a.workers) as pool:
        results = pool.map(worker, [(a.base, a.file, w, a.workers) for w in range(a.workers)])
    ok = sum(r[0] for r in results)
    bad = sum(r[1] for r in results)
    dt = time.time() - t0
    print("loaded %d resources in %.1f s (%.0f/s), %d failed" % (ok, dt, ok / dt if dt else 0, bad))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
