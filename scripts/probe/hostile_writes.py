"""Sends mutated official examples (fields removed, retyped, replaced by odd values), cut-off
bodies, JSON Patch and FHIRPath Patch garbage, malformed batch/transaction Bundles, odd
conditional headers, odd history and vread paths, deeply nested bodies; reports any server
error or any 4xx without an OperationOutcome. Session 12: 10,000 on SQLite and 6,000 on
MongoDB found none.

    python scripts/probe/hostile_writes.py http://127.0.0.1:8080/fhir EXAMPLES_DIR [SEED] [N]
"""
import sys, json, os, random, copy, requests, concurrent.futures as cf
base, d = sys.argv[1], sys.argv[2]
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
N = int(sys.argv[4]) if len(sys.argv) > 4 else 20000
rnd = random.Random(seed)
files = sorted(f for f in os.listdir(d) if f.endswith(".json") and f != "package.json" and not f.startswith("."))
def load(f):
    try: return json.load(open(os.path.join(d, f)))
    except Exception: return None
ODD = [None, "", 0, -1, 1e308, 12345678901234567890123, True, [], {}, [None], "\x00", "x" * 3000,
       "2020-13-45", "2020-02-30T25:00:00Z", {"reference": "Patient/"}, {"reference": "urn:uuid:nope"},
       {"reference": "#nope"}, {"reference": "http://"}, [{"url": None}], "😀", 1.5, "Patient?identifier=x",
       {"resourceType": "Patient"}, [[[]]], {"extension": [{}]}, "..", "a" * 70]
def paths(o, p=()):
    if isinstance(o, dict):
        for k, v in o.items():
            yield p + (k,)
            yield from paths(v, p + (k,))
    elif isinstance(o, list):
        for i, v in enumerate(o):
            yield p + (i,)
            yield from paths(v, p + (i,))
def mutate(j):
    j = copy.deepcopy(j)
    ps = list(paths(j))
    for _ in range(rnd.randint(1, 4)):
        if not ps: break
        p = rnd.choice(ps)
        o = j
        try:
            for k in p[:-1]: o = o[k]
            r = rnd.random()
            if r < 0.2 and isinstance(o, dict): del o[p[-1]]
            elif r < 0.3 and isinstance(o, dict): o["_" + str(p[-1])] = copy.deepcopy(rnd.choice(ODD))
            elif r < 0.4 and isinstance(o, dict): o[str(p[-1]) + "x"] = copy.deepcopy(rnd.choice(ODD))
            else: o[p[-1]] = copy.deepcopy(rnd.choice(ODD))
        except Exception: pass
    return j
def nest(n):
    o = {"resourceType": "Basic", "code": {"text": "x"}, "extension": []}
    cur = o["extension"]
    for _ in range(n):
        e = {"url": "http://x", "extension": []}
        cur.append(e); cur = e["extension"]
    return o
HDRS = [{}, {"If-Match": "garbage"}, {"If-Match": 'W/"999"'}, {"If-None-Exist": "garbage=1"},
        {"If-None-Exist": "identifier=a|b&&"}, {"Prefer": "return=representation"}, {"Prefer": "return=OperationOutcome"},
        {"If-None-Match": "*"}, {"If-None-Match": "garbage"}, {"If-Modified-Since": "garbage"},
        {"Content-Type": "application/json"}, {"Content-Type": "text/plain"}, {"Content-Type": "application/fhir+json; charset=latin1"},
        {"Content-Type": "application/json-patch+json"}, {"Content-Type": "application/fhir+xml"}]
def req():
    f = rnd.choice(files); j = load(f)
    if not isinstance(j, dict) or "resourceType" not in j: return None
    rt = j["resourceType"]; rid = j.get("id", "x")
    kind = rnd.random()
    h = dict(rnd.choice(HDRS)); h.setdefault("Content-Type", "application/fhir+json"); h["Accept"] = "application/fhir+json"
    if kind < 0.35:
        m = mutate(j); return ("PUT", f"{rt}/{rid}", json.dumps(m), h)
    if kind < 0.5:
        m = mutate(j); m.pop("id", None); return ("POST", rt, json.dumps(m), h)
    if kind < 0.55:
        body = json.dumps(j); cut = rnd.randint(0, len(body)); return ("POST", rt, body[:cut], h)
    if kind < 0.65:
        ops = [{"op": rnd.choice(["add", "remove", "replace", "move", "copy", "test", "bogus"]),
                "path": rnd.choice(["/name", "/name/0/given/-", "/id", "/meta", "/resourceType", "", "/", "/x~2y", "/name/99", "/birthDate"]),
                "from": rnd.choice(["/name", "/nope", "", "/name/0"]), "value": copy.deepcopy(rnd.choice(ODD))} for _ in range(rnd.randint(1, 3))]
        if rnd.random() < 0.2: ops = copy.deepcopy(rnd.choice(ODD))
        h["Content-Type"] = "application/json-patch+json"
        return ("PATCH", f"{rt}/{rid}", json.dumps(ops), h)
    if kind < 0.72:
        params = {"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [
            {"name": "type", "valueCode": rnd.choice(["add", "insert", "delete", "replace", "move", "bogus"])},
            {"name": "path", "valueString": rnd.choice([rt, f"{rt}.name", f"{rt}.name[0].given", "(", f"{rt}.where(", "%x", f"{rt}.extension('x')"])},
            {"name": "name", "valueString": rnd.choice(["given", "x", ""])},
            {"name": "value", rnd.choice(["valueString", "valueInteger", "valueHumanName", "valueBogus"]): copy.deepcopy(rnd.choice(ODD))},
            {"name": "index", "valueInteger": rnd.choice([0, -1, 99, 1.5])}]}]}
        return ("PATCH", f"{rt}/{rid}", json.dumps(params), h)
    if kind < 0.85:
        entries = []
        for _ in range(rnd.randint(1, 5)):
            g = load(rnd.choice(files))
            if not isinstance(g, dict) or "resourceType" not in g: continue
            method = rnd.choice(["POST", "PUT", "DELETE", "GET", "PATCH", "HEAD", "BOGUS"])
            url = rnd.choice([g["resourceType"], f"{g['resourceType']}/{g.get('id','x')}", f"{g['resourceType']}?identifier=x", "", "/", "metadata", f"{g['resourceType']}/x/_history/1", "urn:uuid:1"])
            e = {"fullUrl": rnd.choice([f"urn:uuid:{rnd.randint(1,3)}", None, "x", "http://a/b"]), "resource": mutate(g) if rnd.random() < 0.5 else g,
                 "request": {"method": method, "url": url}}
            if rnd.random() < 0.2: e["request"]["ifNoneExist"] = rnd.choice(["identifier=x", "garbage", ""])
            if rnd.random() < 0.2: e["request"]["ifMatch"] = rnd.choice(['W/"1"', "garbage"])
            entries.append(mutate(e) if rnd.random() < 0.2 else e)
        b = {"resourceType": "Bundle", "type": rnd.choice(["transaction", "batch", "collection", "bogus", None]), "entry": entries}
        return ("POST", "", json.dumps(b), h)
    if kind < 0.9:
        return ("GET", rnd.choice([f"{rt}/_history", "_history", f"{rt}/{rid}/_history"]) + "?" + rnd.choice(
            ["_since=garbage", "_since=2020", "_count=-1", "_count=x", "_at=2020", "_list=x", "_sort=x", "_since=9999-12-31", "_count=0", "page=x", "_cursor=x"]), None, h)
    if kind < 0.93:
        return ("GET", rnd.choice([f"{rt}/{rid}/_history/{v}" for v in ["0", "-1", "x", "99999999999999999999", ""]] + [f"{rt}/{'a'*70}", f"{rt}/%00", f"{rt}/..", f"{rt}/a%2Fb"]), None, h)
    if kind < 0.96:
        return ("DELETE", rnd.choice([rt + "?" + q for q in ["", "identifier=x", "_id=" + rid, "garbage=1", "_count=5"]] + [f"{rt}/{rid}", f"{rt}/..."]), None, h)
    if kind < 0.98:
        n = rnd.choice([50, 300, 5000, 100000])
        body = '{"resourceType":"Basic","code":{"text":"x"},"extension":[' + '{"url":"http://x","extension":[' * n + ']}' * n + ']}'
        return ("POST", rt, body, h)
    return ("POST", rnd.choice(["$reindex", f"{rt}/$reindex", f"{rt}/{rid}/$reindex", f"{rt}/$validate", "$export"]), rnd.choice(["", "{}", json.dumps(j)]), h)
items = [r for r in (req() for _ in range(N)) if r]
def go(it):
    m, p, body, h = it
    try:
        r = requests.request(m, f"{base}/{p}", data=body.encode() if isinstance(body, str) else body, headers=h, timeout=120)
    except Exception as e:
        return it, "EXC " + repr(e)[:200]
    if r.status_code >= 500: return it, f"{r.status_code} {r.text[:400]}"
    if r.status_code >= 400:
        try:
            if r.json().get("resourceType") != "OperationOutcome": return it, f"{r.status_code} not OO"
        except Exception: return it, f"{r.status_code} non-json {r.text[:100]}"
    return it, None
bad = {}
with cf.ThreadPoolExecutor(6) as ex:
    for it, b in ex.map(go, items, chunksize=16):
        if b:
            k = b[:90]
            if k not in bad:
                bad[k] = 1
                print("BAD", it[0], it[1], (it[2] or "")[:300], it[3], "=>", b, flush=True)
print("done", len(items), "distinct bad", len(bad))
