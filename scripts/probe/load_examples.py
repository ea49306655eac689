"""PUTs every official example (EXAMPLES_DIR = the unpacked hl7.fhir.r4.examples package/)
into a running server.

    python scripts/probe/load_examples.py http://127.0.0.1:8080/fhir EXAMPLES_DIR
"""
import sys, json, os, requests, concurrent.futures as cf
base, d = sys.argv[1], sys.argv[2]
def put(f):
    try: j = json.load(open(os.path.join(d, f)))
    except Exception: return None
    if not isinstance(j, dict) or "resourceType" not in j or "id" not in j: return None
    r = requests.put(f"{base}/{j['resourceType']}/{j['id']}", json=j, headers={"Content-Type": "application/fhir+json"})
    return r.status_code
from collections import Counter
files = [f for f in os.listdir(d) if f.endswith(".json") and not f.startswith(".") and f != "package.json"]
with cf.ThreadPoolExecutor(4) as ex: c = Counter(ex.map(put, files))
print(c)
