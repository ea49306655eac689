"""Eight concurrent writers on four resources (PUT, PUT with If-Match, JSON Patch, two-entry
transactions, conditional creates, plain creates), each write carrying a unique marker:
prints the statuses seen (never 5xx), and per resource the successful writes whose marker is
missing from its history ("lost"), markers in the history no successful write carried
("phantom") and duplicated versions; conditional creates must make exactly one resource per
identifier. Session 12: none lost, phantom or duplicated on either store.

    python scripts/probe/write_races.py http://127.0.0.1:8080/fhir RUN_PREFIX
"""
import sys, json, requests, threading, collections, random
base = sys.argv[1]
RUN = sys.argv[2] if len(sys.argv) > 2 else "a"
H = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
def pat(i, m): return {"resourceType": "Patient", "id": f"{RUN}race{i}", "name": [{"family": f"R{m}"}], "gender": "male"}
markers = collections.defaultdict(set)
statuses = collections.Counter(); bad = []
lock = threading.Lock()
def note(kind, r):
    with lock:
        statuses[(kind, r.status_code)] += 1
        if r.status_code >= 500 and len(bad) < 5: bad.append((kind, r.status_code, r.text[:300]))
for i in range(4): requests.put(f"{base}/Patient/{RUN}race{i}", json=pat(i, 0), headers=H)
ok_updates = collections.Counter()
def worker(t):
    s = requests.Session(); rnd = random.Random(t)
    for n in range(150):
        m = f"t{t}n{n}"; i = rnd.randrange(4); kind = rnd.choice(["put", "ifmatch", "patch", "cond", "txn", "delete-create"])
        if kind == "put":
            r = s.put(f"{base}/Patient/{RUN}race{i}", json=pat(i, m), headers=H); note(kind, r)
            if r.status_code in (200, 201): 
                with lock: ok_updates[i] += 1; markers[i].add(m)
        elif kind == "ifmatch":
            g = s.get(f"{base}/Patient/{RUN}race{i}", headers=H)
            et = g.headers.get("ETag", 'W/"1"')
            r = s.put(f"{base}/Patient/{RUN}race{i}", json=pat(i, m), headers={**H, "If-Match": et}); note(kind, r)
            if r.status_code in (200, 201):
                with lock: ok_updates[i] += 1; markers[i].add(m)
        elif kind == "patch":
            r = s.patch(f"{base}/Patient/{RUN}race{i}", data=json.dumps([{"op": "replace", "path": "/name/0/family", "value": f"R{m}"}]),
                        headers={**H, "Content-Type": "application/json-patch+json"}); note(kind, r)
            if r.status_code in (200, 201):
                with lock: ok_updates[i] += 1; markers[i].add(m)
        elif kind == "cond":
            body = {"resourceType": "Patient", "identifier": [{"system": "urn:race", "value": f"c{i}"}], "gender": "female"}
            r = s.post(f"{base}/Patient", json=body, headers={**H, "If-None-Exist": f"identifier=urn:race|c{i}"}); note(kind, r)
        elif kind == "txn":
            b = {"resourceType": "Bundle", "type": "transaction", "entry": [
                {"resource": pat(i, m), "request": {"method": "PUT", "url": f"Patient/{RUN}race{i}"}},
                {"resource": pat((i + 1) % 4, m), "request": {"method": "PUT", "url": f"Patient/{RUN}race{(i + 1) % 4}"}}]}
            r = s.post(base, json=b, headers=H); note(kind, r)
            if r.status_code == 200:
                with lock: ok_updates[i] += 1; markers[i].add(m); ok_updates[(i + 1) % 4] += 1; markers[(i + 1) % 4].add(m)
        else:
            r = s.post(f"{base}/Patient", json={"resourceType": "Patient", "identifier": [{"system": "urn:race2", "value": f"d{t}-{n}"}]}, headers=H); note(kind, r)
ts = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
print(sorted(statuses.items()))
for b in bad: print("BAD", b)
for i in range(4):
    h = requests.get(f"{base}/Patient/{RUN}race{i}/_history?_count=1000", headers=H).json()
    seen = [e["resource"]["name"][0]["family"][1:] for e in h.get("entry", []) if "resource" in e]
    seen_set = set(seen) - {"0"}
    print(i, "versions", len(seen), "ok writes", ok_updates[i], "lost", sorted(markers[i] - seen_set)[:5], "phantom", sorted(seen_set - markers[i])[:5], "dupes", len(seen) - len(set(seen)))
c = requests.get(f"{base}/Patient?identifier=urn:race|c0,urn:race|c1,urn:race|c2,urn:race|c3&_summary=count", headers=H).json()["total"]
print("conditional creates made", c, "(expect 4)")
