#!/usr/bin/env python3
"""Preloads Patients into a FHIR server with PUT (client-assigned ids), then reads each back.

    preload.py BASE_URL preload.ndjson [--workers 4]

BASE_URL is the FHIR base, e.g. http://127.0.0.1:8080/fhir (fhird) or http://127.0.0.1:8090
(Helios). Every PUT must answer 200 or 201 and every GET 200 with the same id; otherwise the
exact request and the response are printed and the exit status is 1.
"""

import argparse
import http.client
import json
import sys
import threading
import time
import urllib.parse


def worker(base, lines, errors, lock):
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    prefix = u.path.rstrip("/")
    for line in lines:
        rid = json.loads(line)["id"]
        path = "%s/Patient/%s" % (prefix, rid)
        for method, body in (("PUT", line.encode()), ("GET", None)):
            headers = {"Accept": "application/fhir+json"}
            if body is not None:
                headers["Content-Type"] = "application/fhir+json"
            try:
                conn.request(method, path, body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
            except Exception as e:  # connection trouble is an error too
                conn.close()
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
                status, data = None, str(e).encode()
            else:
                status = r.status
            ok = status in (200, 201) if method == "PUT" else status == 200
            if ok and method == "GET":
                try:
                    ok = json.loads(data).get("id") == rid
                except ValueError:
                    ok = False
            if not ok:
                with lock:
                    errors.append("%s %s://%s%s -> %s %s" % (method, u.scheme, u.netloc, path, status,
                                                          data[:600].decode(errors="replace")))
                if len(errors) > 5:
                    return
    conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("ndjson")
    ap.add_argument("--workers", type=int, default=4)
    a = ap.parse_args()
    lines = [l for l in open(a.ndjson).read().splitlines() if l.strip()]
    errors, lock = [], threading.Lock()
    t0 = time.time()
    threads = [threading.Thread(target=worker, args=(a.base, lines[i::a.workers], errors, lock))
               for i in range(a.workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        print("preload FAILED (%d errors); first ones:" % len(errors))
        for e in errors[:5]:
            print("  " + e)
        sys.exit(1)
    print("preloaded %d Patients with PUT and read each back in %.1f s"
          % (len(lines), time.time() - t0))


if __name__ == "__main__":
    main()
