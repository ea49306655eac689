"""What one search shape costs a MongoDB-wire server, in its own CPU time per query.

    python scripts/probe/mongo_query_cost.py MONGODB_URI DB QUERIES_FILE [N]

DB is a database fhird has loaded (e.g. the benchmark's, `bench/search_bench.sh --keep-data`, or
one loaded with `bench/load_ndjson.py`); QUERIES_FILE is a benchmark token query list
(`queries-token.txt`: `Patient?identifier=SYSTEM|VALUE`). The server must run on this machine:
its CPU time is read from /proc. Each shape runs N queries (default 3,000) over the listed
identifiers, twice, on `fhir.Patient`:

- the filter fhird sends (key or overflow marker, `$or` with the entry test), with and without
  the liveness test `m`;
- the key alone, and the key with its marker (`$in`, no `$or`);
- each with the page projection fhird uses (the fields a page needs) and with the entry
  arrays left out instead.

docs/mongodb.md quotes its results. Needs `pymongo`.
"""
import subprocess
import sys
import time

import pymongo

uri, db_name, queries = sys.argv[1], sys.argv[2], sys.argv[3]
n = int(sys.argv[4]) if len(sys.argv) > 4 else 3000
coll = pymongo.MongoClient(uri)[db_name]["fhir.Patient"]
port = uri.rsplit(":", 1)[1].split("/")[0]
pid = next(
    int(p)
    for p in subprocess.check_output(["pgrep", "-f", "secantusd|mongod"]).split()
    if port.encode() in open(f"/proc/{int(p)}/cmdline", "rb").read()
)
TICKS = 100  # os.sysconf("SC_CLK_TCK") on Linux


def cpu_seconds():
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


values = [l.strip().split("=", 1)[1] for l in open(queries) if l.strip()]
MARKER = "~|identifier"


def key(v):
    return "ts|identifier|" + v


def entry(v):
    system, code = v.split("|", 1)
    return {
        "xt.p": "identifier",
        "xt.c": code,
        "xt.s": system,
        "xt": {"$elemMatch": {"p": "identifier", "c": code, "s": system}},
    }


def fhird(v):
    return {"$and": [{"k": {"$in": [key(v), MARKER]}}, {"$or": [{"k": key(v)}, entry(v)]}]}


shapes = {
    "fhird's filter": fhird,
    "fhird's filter + m": lambda v: {"$and": [{"m": {"$ne": "DELETE"}}, fhird(v)]},
    "key and marker ($in)": lambda v: {"k": {"$in": [key(v), MARKER]}},
    "key alone": lambda v: {"k": key(v)},
}
page = {"v": 1, "t": 1, "m": 1, "res": 1, "rz": 1}
without_entries = {f: 0 for f in ["xs", "xt", "xd", "xn", "xr", "xu", "k"]}
assert list(coll.find(fhird(values[0]), page)), "the first identifier finds nothing"
for round_ in (1, 2):
    for name, shape in shapes.items():
        for pname, projection in (("page fields", page), ("arrays left out", without_entries)):
            wall, cpu = time.time(), cpu_seconds()
            for i in range(n):
                list(coll.find(shape(values[i % len(values)]), projection).sort("_id", 1).limit(21))
            wall, cpu = time.time() - wall, cpu_seconds() - cpu
            print(f"round {round_}  {name:24} {pname:16} wall {1e6 * wall / n:6.0f} µs"
                  f"  server CPU {1e6 * cpu / n:6.0f} µs/query")
