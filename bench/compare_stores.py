#!/usr/bin/env python3
"""Runs each search shape of bench/shapes.txt against two servers holding the same data and
reports every difference in the answers: the accurate total, the matches walked page by page
through the `next` links (a match seen twice is a paging fault on its own), their order when
the shape sorts, and the included resources; and, for each server, whether walking back from
the last page through the `previous` links gives the same matches in the same order.

Usage: compare_stores.py BASE_A BASE_B PATIENT_ID [SHAPES_FILE] [--cap N] [--count N]
  BASE_A, BASE_B  e.g. http://127.0.0.1:8301/fhir http://127.0.0.1:8302/fhir
  PATIENT_ID      a Patient id of the loaded data (PAT in the shapes)
Shapes with TS (polling since a load time) are skipped: the two loads ran at different times.
Pages hold --count matches (default 100; a shape's own smaller `_count` is raised to it so that
a long answer is walked in reasonable time). Each walk stops after --cap matches (default 2000); both walks then compare that prefix, so a
shape in the default order (which is the store's own) is compared as a set only when both
walks are complete. Exit status 1 when anything differs."""
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

args = [a for a in sys.argv[1:] if not a.startswith("--")]


def option(name, default):
    if name not in sys.argv:
        return default
    value = sys.argv[sys.argv.index(name) + 1]
    args.remove(value)
    return int(value)


cap, count = option("--cap", 2000), option("--count", 100)
base_a, base_b, patient = args[:3]
shapes = args[3] if len(args) > 3 else __file__.rsplit("/", 1)[0] + "/shapes.txt"


def get(url):
    try:
        with urllib.request.urlopen(urllib.parse.quote(url, safe=":/?&=,%"), timeout=300) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def with_params(query, **extra):
    path, _, qs = query.partition("?")
    pairs = [p for p in qs.split("&") if p and p.split("=")[0] not in extra]
    pairs += [f"{k}={v}" for k, v in extra.items()]
    return path + "?" + "&".join(pairs)


def relink(base, url):
    """A link names the server's own base; keep asking the server we walk."""
    u = urllib.parse.urlsplit(url)
    b = urllib.parse.urlsplit(base)
    return f"{b.scheme}://{b.netloc}{u.path}?{u.query}"


def link_of(page, relation):
    return next((l["url"] for l in page.get("link", []) if l["relation"] == relation), None)


def match_keys(page):
    return [f"{e['resource']['resourceType']}/{e['resource']['id']}"
            for e in page.get("entry", []) if e.get("search", {}).get("mode") == "match"]


def walk_back(base, page):
    """The matches of every page before `page` (itself included), through `previous` links."""
    pages = [match_keys(page)]
    while (prev := link_of(page, "previous")) is not None:
        status, page = get(relink(base, prev))
        if status != 200:
            return None
        pages.append(match_keys(page))
    return [k for p in reversed(pages) for k in p]


def walk(base, query):
    """Follows `next` from the first page; returns (status, total, matches, includes, dupes,
    the matches walked back from the last page through `previous` links (None when the walk
    stopped at the cap or failed))."""
    own = re.search(r"[?&]_count=(\d+)", query)
    extra = {"_total": "accurate"}
    if own is None or int(own.group(1)) < count:
        extra["_count"] = str(count)
    status, page = get(base + "/" + with_params(query, **extra))
    if status != 200:
        return status, None, [], set(), [], None
    total, matches, includes, seen, dupes = page.get("total"), [], set(), set(), []
    while True:
        for e in page.get("entry", []):
            r = e.get("resource", {})
            key = f"{r.get('resourceType')}/{r.get('id')}"
            mode = e.get("search", {}).get("mode")
            if mode == "outcome":
                continue
            if mode == "include":
                includes.add(key)
            elif key in seen:
                dupes.append(key)
            else:
                seen.add(key)
                matches.append(key)
        nxt = link_of(page, "next")
        if nxt is None:
            return status, total, matches, includes, dupes, walk_back(base, page)
        if len(matches) >= cap:
            return status, total, matches, includes, dupes, None
        status, page = get(relink(base, nxt))
        if status != 200:
            return status, total, matches, includes, dupes, None


differ = 0
for line in open(shapes):
    q = line.strip().replace("PAT", patient)
    if not q or "TS" in q:
        continue
    sa, ta, ma, ia, da, ba = walk(base_a, q)
    sb, tb, mb, ib, db, bb = walk(base_b, q)
    complete = len(ma) < cap and len(mb) < cap
    sorted_shape = "_sort=" in q
    problems = []
    if sa != sb:
        problems.append(f"status {sa} vs {sb}")
    if ta != tb:
        problems.append(f"total {ta} vs {tb}")
    if da or db:
        problems.append(f"matches seen twice: {da[:3]} / {db[:3]}")
    if complete and ta is not None and len(ma) != ta and "_summary=count" not in q:
        problems.append(f"A walked {len(ma)} of total {ta}")
    if complete and tb is not None and len(mb) != tb and "_summary=count" not in q:
        problems.append(f"B walked {len(mb)} of total {tb}")
    if complete and set(ma) != set(mb):
        only_a, only_b = set(ma) - set(mb), set(mb) - set(ma)
        problems.append(f"matches differ: only A {sorted(only_a)[:3]} ({len(only_a)}), "
                        f"only B {sorted(only_b)[:3]} ({len(only_b)})")
    elif sorted_shape and ma != mb:
        at = next(i for i, (x, y) in enumerate(zip(ma + [None], mb + [None])) if x != y)
        problems.append(f"order differs at {at}: {ma[at:at + 2]} vs {mb[at:at + 2]}")
    for name, forward, back in (("A", ma, ba), ("B", mb, bb)):
        if back is not None and back != forward:
            problems.append(f"{name}: walked back through previous links, the matches differ "
                            f"({len(back)} vs {len(forward)} forward)")
    if complete and ia != ib:
        problems.append(f"includes differ: only A {sorted(ia - ib)[:3]}, only B {sorted(ib - ia)[:3]}")
    verdict = "DIFF" if problems else "same"
    differ += bool(problems)
    print(f"{verdict} {q}  [{ta} / {len(ma)} walked]", flush=True)
    for p in problems:
        print("     ", p, flush=True)
sys.exit(1 if differ else 0)
