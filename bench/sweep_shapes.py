#!/usr/bin/env python3
"""Times each search shape of bench/shapes.txt against one running server.

Usage: sweep_shapes.py BASE_URL PATIENT_ID SINCE [SHAPES_FILE]
  BASE_URL    e.g. http://127.0.0.1:8080/fhir
  PATIENT_ID  a Patient id of the loaded data (PAT in the shapes)
  SINCE       an instant a little before the load ended (TS in the shapes: polling shapes)

Prints, per shape, the best and the median of three requests in ms (a request past 5 s is
not repeated), the status, (total, entries) of the answer, and the shape. Run it twice and
keep the second run for warm figures; it is a sweep for outliers, not a benchmark."""
import json
import statistics
import sys
import time
import urllib.error
import urllib.request

base, patient, since = sys.argv[1:4]
shapes = sys.argv[4] if len(sys.argv) > 4 else __file__.rsplit("/", 1)[0] + "/shapes.txt"
for line in open(shapes):
    q = line.strip().replace("PAT", patient).replace("TS", since)
    if not q:
        continue
    times, status, body = [], None, b""
    for _ in range(3):
        t = time.perf_counter()
        try:
            with urllib.request.urlopen(base + "/" + q.replace("|", "%7C"), timeout=120) as r:
                body, status = r.read(), r.status
        except urllib.error.HTTPError as e:
            body, status = e.read(), e.code
        times.append((time.perf_counter() - t) * 1000)
        if times[-1] > 5000:
            break
    try:
        b = json.loads(body)
        seen = (b.get("total"), len(b.get("entry", [])))
    except ValueError:
        seen = None
    print(f"{min(times):9.1f} {statistics.median(times):9.1f} ms {status} {seen} {q}", flush=True)
