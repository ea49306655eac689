#!/usr/bin/env python3
"""The same searches one at a time and N at once against one server: every answer (entries
with their search modes, total, link relations) must be the same. For changes that make
concurrent searches share work (MongoDB key look-ups read together, docs/mongodb.md).

    concurrent_answers.py BASE_URL QUERIES_FILE... [--first 400] [--threads 16]

QUERIES_FILE: search_bench.sh query lists (DATA/queries-KIND.txt); the first --first of each.
Exit status 1 when any answer differs."""
import argparse
import json
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor

ap = argparse.ArgumentParser()
ap.add_argument("base")
ap.add_argument("files", nargs="+")
ap.add_argument("--first", type=int, default=400)
ap.add_argument("--threads", type=int, default=16)
a = ap.parse_args()
queries = []
for f in a.files:
    queries += [line.strip() for line in open(f) if line.strip()][: a.first]


def answer(q):
    with urllib.request.urlopen(f"{a.base}/{q}") as r:
        b = json.load(r)
    entries = [(e["search"]["mode"], e["fullUrl"]) for e in b.get("entry", [])]
    return entries, b.get("total"), [link["relation"] for link in b.get("link", [])]


alone = [answer(q) for q in queries]
with ThreadPoolExecutor(a.threads) as ex:
    together = list(ex.map(answer, queries))
differ = [(q, x, y) for q, x, y in zip(queries, alone, together) if x != y]
entries = sum(len(x[0]) for x in alone)
print(f"{len(queries)} searches, {entries} entries, {len(differ)} answers differ")
for q, x, y in differ[:5]:
    print(q, x, y, sep="\n  ")
sys.exit(1 if differ else 0)
