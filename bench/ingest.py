#!/usr/bin/env python3
"""Helper of bench/ingest_bench.sh: POSTs Synthea transaction Bundles to a FHIR base.

    ingest.py plan DIR --out PLAN.json [--limit N]
        Lists DIR/*.json (or DIR/fhir/*.json), reads every Bundle once and prints what its
        requests contain (bundle type, entry methods and URLs, ifNoneExist/ifMatch/..., fullUrl
        and reference forms, sizes). The shared hospitalInformation*/practitionerInformation*
        Bundles, if the generator wrote them, go to the plan's "preload" list; the others, the
        first N by file name, to "bundles", queued largest first (so the longest ones do not
        start last and leave the other clients idle at the end).
    ingest.py preload BASE PLAN.json
        POSTs the plan's preload Bundles one after the other (not timed).
    ingest.py load BASE PLAN.json --conns C --result RESULT.json [--prefer minimal]
        C client threads, each with one keep-alive HTTP/1.1 connection, take Bundles from one
        shared queue and POST each one to BASE (Content-Type: application/fhir+json). A Bundle
        counts as loaded only when the answer is 2xx AND is a transaction-response Bundle with
        one entry per request entry, each with a 2xx status; its entries then count as loaded
        resources. Anything else is a failure, reported with the status and the first 200
        characters of the body (the OperationOutcome). The clock runs from the first request
        to the last answer; bodies are read into memory before it starts.
    ingest.py verify BASE PLAN.json RESULT.json --types Patient,Observation --summary FILE [--preloaded]
        How many resources of each TYPE the server holds (TYPE?_summary=count, or when the
        answer has no total, paging through TYPE?_count=1000&_elements=id) against the number
        in the Bundles that loaded (plus the preload ones). Exit status 1 on a mismatch.

Standard library only (http.client, the same client as preload.py and load_ndjson.py): the
request body is sent with one sendall and the answer read in C, so a client thread costs little
CPU next to the server; the client's own CPU time is measured and reported.
"""

import argparse
import collections
import glob
import http.client
import json
import math
import os
import queue
import re
import resource
import sys
import threading
import time
import urllib.parse

PRELOAD_PATTERNS = ("hospitalInformation", "practitionerInformation")


def bundle_files(src):
    d = src
    if not glob.glob(os.path.join(d, "*.json")) and os.path.isdir(os.path.join(d, "fhir")):
        d = os.path.join(d, "fhir")
    return sorted(glob.glob(os.path.join(d, "*.json")))


def walk_refs(o, out):
    if isinstance(o, dict):
        for k, v in o.items():
            if k == "reference" and isinstance(v, str):
                out.append(v)
            else:
                walk_refs(v, out)
    elif isinstance(o, list):
        for x in o:
            walk_refs(x, out)


def ref_kind(v):
    if v.startswith("urn:uuid:"):
        return "urn:uuid"
    if v.startswith("#"):
        return "#contained"
    if "?" in v:
        return "conditional %s?%s" % (v.split("?")[0], v.split("?", 1)[1].split("=")[0])
    if "://" in v:
        return "absolute URL"
    return "relative %s/id" % v.split("/")[0]


def cmd_plan(a):
    files = bundle_files(a.src)
    if not files:
        sys.exit("no *.json Bundles in %s (or %s/fhir)" % (a.src, a.src))
    preload = [f for f in files if os.path.basename(f).startswith(PRELOAD_PATTERNS)]
    rest = [f for f in files if f not in preload]
    if a.limit:
        rest = rest[:a.limit]
    btype = collections.Counter()
    requests = collections.Counter()   # (method, url form, request fields)
    refs = collections.Counter()
    types = collections.Counter()
    full_urls = collections.Counter()
    seen_full_urls = collections.defaultdict(set)
    dangling = 0
    plan = {"src": os.path.dirname(files[0]), "preload": [], "bundles": []}
    for f in preload + rest:
        raw = open(f, "rb").read()
        b = json.loads(raw)
        btype[b.get("type")] += 1
        entries = b.get("entry", [])
        in_bundle = {e.get("fullUrl") for e in entries}
        per_type = collections.Counter()
        for e in entries:
            r = e.get("resource", {})
            rt = r.get("resourceType", "?")
            per_type[rt] += 1
            types[rt] += 1
            req = e.get("request", {})
            url = req.get("url", "")
            form = "Type?query" if "?" in url else ("Type/id" if "/" in url else "Type")
            extra = ",".join(sorted(k for k in req if k not in ("method", "url")))
            requests[(req.get("method"), form, extra or "-")] += 1
            fu = e.get("fullUrl", "")
            full_urls["urn:uuid:" if fu.startswith("urn:uuid:") else fu.split("/")[0] or "(none)"] += 1
            seen_full_urls[fu].add(f)
            out = []
            walk_refs(r, out)
            for v in out:
                refs[ref_kind(v)] += 1
                if v.startswith("urn:uuid:") and v not in in_bundle:
                    dangling += 1
        item = {"path": f, "bytes": len(raw), "entries": len(entries), "types": dict(per_type)}
        (plan["preload"] if f in preload else plan["bundles"]).append(item)
    plan["bundles"].sort(key=lambda x: -x["bytes"])
    json.dump(plan, open(a.out, "w"), indent=1)

    bs = sorted(plan["bundles"], key=lambda x: x["entries"])
    n_ent = sum(x["entries"] for x in bs)
    print("Synthea input: %d Bundles (of %d files in %s%s), %d resources, %.1f MB; "
          "%d shared preload Bundles%s"
          % (len(bs), len(files) - len(preload), plan["src"],
             ", first %d by name" % a.limit if a.limit else "", n_ent,
             sum(x["bytes"] for x in bs) / 1e6, len(preload),
             " (%s)" % ", ".join(os.path.basename(x["path"]) for x in plan["preload"]) if preload else
             " (no hospitalInformation*/practitionerInformation* files)"))
    if bs:
        big = max(bs, key=lambda x: x["bytes"])
        print("  entries per Bundle: min %d, median %d, max %d; largest file %s, %.2f MB"
              % (bs[0]["entries"], bs[len(bs) // 2]["entries"], bs[-1]["entries"],
                 os.path.basename(big["path"]), big["bytes"] / 1e6))
    print("  Bundle.type: %s" % dict(btype))
    print("  requests (method, url form, other request fields): %s"
          % ", ".join("%s %s [%s] x%d" % (k[0], k[1], k[2], v) for k, v in requests.most_common()))
    print("  fullUrl forms: %s" % dict(full_urls))
    print("  references: %s; urn:uuid references not resolvable inside their Bundle: %d"
          % (dict(refs.most_common()), dangling))
    shared = collections.Counter()
    for fu, fs in seen_full_urls.items():
        if len(fs) > 1:
            shared[fu] = len(fs)
    print("  fullUrls repeated in more than one Bundle: %d (posted again by each Bundle: duplicates, not updates)"
          % len(shared))
    print("  resource types: %s" % ", ".join("%s %d" % kv for kv in types.most_common()))


class SendFailed(Exception):
    """The connection broke while the request was being sent and no answer could be read."""


def post(conn, path, body, prefer):
    headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
    if prefer:
        headers["Prefer"] = "return=" + prefer
    try:
        conn.request("POST", path, body=body, headers=headers)
    except (BrokenPipeError, ConnectionResetError) as e:
        # a server may answer (413, 501, ...) and close before reading the whole body: read
        # that answer if it arrived
        try:
            r = conn.getresponse()
            return r.status, r.read()
        except (OSError, http.client.HTTPException):
            raise SendFailed(repr(e)) from e
    r = conn.getresponse()
    return r.status, r.read()


def check(status, data, entries):
    """None when the Bundle was loaded, else why not (status + first 200 characters)."""
    text = re.sub(r"\s+", " ", data[:400].decode("utf-8", errors="replace"))[:200]
    if not 200 <= status < 300:
        return "%d %s" % (status, text)
    try:
        b = json.loads(data)
    except ValueError:
        return "%d but not JSON: %s" % (status, text)
    if b.get("resourceType") != "Bundle" or b.get("type") != "transaction-response":
        return "%d but not a transaction-response Bundle: %s" % (status, text)
    got = b.get("entry", [])
    if len(got) != entries:
        return "%d but %d response entries for %d request entries" % (status, len(got), entries)
    bad = [e.get("response", {}).get("status", "") for e in got
           if not str(e.get("response", {}).get("status", "")).startswith("2")]
    if bad:
        return "%d but %d entries answered %s" % (status, len(bad), collections.Counter(bad).most_common(3))
    return None


def connect(base, timeout):
    u = urllib.parse.urlsplit(base)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=timeout), (u.path.rstrip("/") or "/")


def cmd_preload(a):
    plan = json.load(open(a.plan))
    conn, path = connect(a.base, a.timeout)
    failed = 0
    for item in plan["preload"]:
        t0 = time.time()
        try:
            status, data = post(conn, path, open(item["path"], "rb").read(), a.prefer)
            why = check(status, data, item["entries"])
        except (OSError, http.client.HTTPException) as e:
            why = "no answer: %r" % e
            conn.close()
            conn, path = connect(a.base, a.timeout)
        print("preload %s (%d entries): %s in %.2f s" % (os.path.basename(item["path"]), item["entries"],
                                                      "FAILED " + why if why else "loaded", time.time() - t0))
        failed += why is not None
    sys.exit(1 if failed else 0)


def cmd_load(a):
    plan = json.load(open(a.plan))
    items = plan["bundles"]
    bodies = [open(x["path"], "rb").read() for x in items]
    q = queue.Queue()
    for i in range(len(items)):
        q.put(i)
    results = [None] * len(items)
    counters = {"minimal_ignored": 0, "resent": 0}
    lock = threading.Lock()

    def client():
        conn, path = connect(a.base, a.timeout)
        used = False  # the connection has carried a request: the server may have closed it since
        while True:
            try:
                i = q.get_nowait()
            except queue.Empty:
                break
            t0 = time.perf_counter()
            while True:
                try:
                    status, data = post(conn, path, bodies[i], a.prefer)
                    used = True
                    why = check(status, data, items[i]["entries"])
                    if why is None and a.prefer == "minimal" and b'"resource"' in data:
                        with lock:
                            counters["minimal_ignored"] += 1
                except SendFailed as e:
                    conn.close()
                    conn, path = connect(a.base, a.timeout)
                    if used:
                        # the server closed a kept-alive connection (after answering the previous
                        # request without reading its body, say): it never saw this request, so
                        # send it again on a new connection, as HTTP clients do
                        used = False
                        with lock:
                            counters["resent"] += 1
                        continue
                    status, why = None, ("no answer: %s (the server closed the connection while the "
                                         "Bundle was being sent, and no answer could be read)" % e)
                except (OSError, http.client.HTTPException) as e:
                    status, why = None, "no answer: %r" % e
                    conn.close()
                    conn, path = connect(a.base, a.timeout)
                    used = False
                break
            results[i] = (time.perf_counter() - t0, status, why)
        conn.close()

    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(a.conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)

    ok = [i for i, r in enumerate(results) if r[2] is None]
    bad = [i for i, r in enumerate(results) if r[2] is not None]
    lat = sorted(results[i][0] for i in range(len(items)))
    loaded_types = collections.Counter()
    for i in ok:
        loaded_types.update(items[i]["types"])

    def pct(p):  # nearest rank: with few Bundles p99 is the slowest one
        if not lat:
            return None
        return lat[min(len(lat), max(1, math.ceil(p / 100.0 * len(lat)))) - 1] * 1000

    resources = sum(items[i]["entries"] for i in ok)
    out = {
        "bundles": len(items), "loaded_bundles": len(ok), "failed_bundles": len(bad),
        "resources": resources, "failed_resources": sum(items[i]["entries"] for i in bad),
        "wall_s": wall, "resources_per_s": resources / wall if wall > 0 else 0,
        "p50_ms": pct(50), "p99_ms": pct(99), "max_ms": lat[-1] * 1000 if lat else None,
        "client_cpu_s": (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime),
        "process_cpu_s": sum(os.times()[:2]),
        "conns": a.conns, "prefer": a.prefer, "bytes": sum(x["bytes"] for x in items),
        "loaded_types": dict(loaded_types),
        "minimal_ignored": counters["minimal_ignored"], "resent": counters["resent"],
        "failures": [{"file": os.path.basename(items[i]["path"]), "entries": items[i]["entries"],
                      "status": results[i][1], "seconds": round(results[i][0], 3), "why": results[i][2]}
                     for i in bad],
    }
    json.dump(out, open(a.result, "w"), indent=1)
    # read by the shell right after this process ends, without starting another interpreter
    open(a.result + ".cpu", "w").write("%.2f\n" % out["process_cpu_s"])
    print("loaded %d of %d Bundles, %d resources in %.2f s = %.0f resources/s; per-Bundle p50 %.0f ms, "
          "p99 %.0f ms, max %.0f ms; client CPU %.2f s (%.2f s with reading the files); %d failed Bundles "
          "(%d resources not loaded)"
          % (len(ok), len(items), resources, wall, out["resources_per_s"], out["p50_ms"] or 0,
             out["p99_ms"] or 0, out["max_ms"] or 0, out["client_cpu_s"], out["process_cpu_s"], len(bad),
             out["failed_resources"]))
    if counters["minimal_ignored"]:
        print("NOTE: %d answers carried resources although Prefer: return=minimal was sent"
              % counters["minimal_ignored"])
    if counters["resent"]:
        print("NOTE: %d Bundles were sent again on a new connection: the server had closed the kept-alive "
              "one (after answering a Bundle without reading all of it, for instance)" % counters["resent"])
    if bad:
        by = collections.Counter(results[i][2] for i in bad)
        print("failures (count, status and first 200 characters of the answer):")
        for why, n in by.most_common(5):
            print("  %d x %s" % (n, why))
        for i in bad[:3]:
            print("  e.g. %s (%d entries): %s after %.2f s" % (os.path.basename(items[i]["path"]),
                                                             items[i]["entries"], results[i][1], results[i][0]))


def count(base, rtype, timeout):
    """(total, how) for the resources of rtype the server holds."""
    conn, path = connect(base, timeout)
    prefix = path.rstrip("/")
    hdr = {"Accept": "application/fhir+json"}
    conn.request("GET", "%s/%s?_summary=count" % (prefix, rtype), headers=hdr)
    r = conn.getresponse()
    data = r.read()
    total, how = None, "_summary=count"
    if r.status == 200:
        total = json.loads(data).get("total")
    if total is None:
        how = "paging _count=1000 (_summary=count answered %d without a total)" % r.status
        total, url = 0, "%s/%s?_count=1000&_elements=id" % (prefix, rtype)
        while url:
            conn.request("GET", url, headers=hdr)
            r = conn.getresponse()
            data = r.read()
            if r.status != 200:
                return None, "paging failed: %d %s" % (r.status, data[:200])
            b = json.loads(data)
            total += sum(1 for e in b.get("entry", []) if e.get("search", {}).get("mode", "match") == "match")
            url = next((l["url"] for l in b.get("link", []) if l.get("relation") == "next"), None)
            if url and "://" in url:
                u = urllib.parse.urlsplit(url)
                url = u.path + ("?" + u.query if u.query else "")
    conn.close()
    return total, how


def cmd_verify(a):
    """Counts on the server against what the plan's loaded Bundles (and preload) contain."""
    plan = json.load(open(a.plan))
    loaded = json.load(open(a.result))["loaded_types"]
    summary, bad = [], 0
    for rtype in a.types.split(","):
        expect = loaded.get(rtype, 0)
        if a.preloaded:
            expect += sum(x["types"].get(rtype, 0) for x in plan["preload"])
        try:
            total, how = count(a.base, rtype, a.timeout)
        except (OSError, http.client.HTTPException, ValueError) as e:
            total, how = None, "no answer: %r" % e
        ok = total == expect
        bad += not ok
        print("verify %s: server holds %s (%s), the loaded Bundles have %d: %s"
              % (rtype, total, how, expect, "OK" if ok else "MISMATCH"))
        summary.append("%s %s/%d%s" % (rtype, total, expect, "" if ok else " MISMATCH"))
    open(a.summary, "w").write(", ".join(summary) + "\n")
    sys.exit(1 if bad else 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("plan")
    p.add_argument("src")
    p.add_argument("--out", required=True)
    p.add_argument("--limit", type=int, default=0)
    for name in ("preload", "load"):
        p = sub.add_parser(name)
        p.add_argument("base")
        p.add_argument("plan")
        p.add_argument("--prefer", default="minimal", choices=["minimal", "representation", "none"])
        p.add_argument("--timeout", type=float, default=900)
        if name == "load":
            p.add_argument("--conns", type=int, default=4)
            p.add_argument("--result", required=True)
    p = sub.add_parser("verify")
    p.add_argument("base")
    p.add_argument("plan")
    p.add_argument("result")
    p.add_argument("--types", default="Patient,Observation")
    p.add_argument("--preloaded", action="store_true")
    p.add_argument("--summary", required=True)
    p.add_argument("--timeout", type=float, default=300)
    a = ap.parse_args()
    if getattr(a, "prefer", None) == "none":
        a.prefer = None
    {"plan": cmd_plan, "preload": cmd_preload, "load": cmd_load, "verify": cmd_verify}[a.cmd](a)


if __name__ == "__main__":
    main()
