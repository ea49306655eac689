"""Sends every listed search parameter of every type malformed, extreme and nonsensical
values and modifiers (plus result parameters), and reports any answer that is a server error,
a 4xx without an OperationOutcome, or a 200 without a Bundle. Found, in session 12: a NUL and
an over-long `:contains` value (500 on MongoDB), 999 ORed values or 1,200 repeated parameters
(500 on SQLite). tests/search/hostile.rs runs a sample of it in CI.

    python scripts/probe/hostile_searches.py http://127.0.0.1:8080/fhir [SEED] [SAMPLE_SIZE]

Needs `requests`. ~255,000 requests, ~5 min against a release build; load data first
(load_examples.py) so the searches reach the stores' query code.
"""
import sys, json, itertools, random, requests, concurrent.futures as cf
base = sys.argv[1]
cap = requests.get(base + "/metadata", headers={"Accept": "application/fhir+json"}).json()
MODS = ["", "missing", "exact", "contains", "text", "not", "above", "below", "in", "not-in",
        "of-type", "identifier", "Patient", "Foo", "iterate", "", "a:b", "text-advanced", "code-text"]
VALS = ["", "|", "||", "a|b|c", "\\", "a\\", "\\,", ",", ",,", "$", "a$b", "$$", "ge", "gt2020-13-01",
        "2020-02-30", "2020-01-01T25:00:00Z", "2020-01-01T10:00", "eq1e400", "NaN", "inf", "-0",
        "1e-400", "99999999999999999999999999", "ap0", "lt-1e308", "5||", "5|x", "http://x|y|z",
        "Patient/", "/", "Patient/a/_history/1", "http://", "urn:uuid:", "\x00", "é", "x" * 5000,
        "*", "true", "false", "null", "1.", ".5", "1e5", "0x10", "+1", "sa", "eb2020", "2020-", "20201",
        "T10:00", "2020-01-01T10:00:00+25:00", "9999-12-31", "0001-01-01", "10000-01-01", "-2020",
        "ne1e308", "gt9223372036854775807", "lt-9223372036854775808", "1|2$3|4", "a$", "$a",
        "ap2020", "sa9999-12-31T23:59:59.999999999Z", "eb0001", "eq0.0000000000000000000000000001",
        "http://loinc.org|", "|x", "Patient/1,Patient/2", "ValueSet/none", "http://none/vs",
        "1 2", "%", "%25", "\ud7ff", "a,b\\,c", "0001-01-01T00:00:00-14:00", "2020-01-01T00:00:00+14:00"]
RESULT = ["_count=-1", "_count=0", "_count=abc", "_count=1e9", "_count=99999999999", "_sort=-",
          "_sort=,", "_sort=foo", "_sort=--date", "_sort=_id,_id", "_include=garbage",
          "_include=Observation:subject:Foo", "_include:iterate=*", "_include=*:*", "_revinclude=*",
          "_revinclude=Foo:bar", "_elements=,,", "_elements=*", "_summary=foo", "_summary=count&_summary=true",
          "_total=foo", "_type=Foo", "_type=", "_lastUpdated=garbage", "_lastUpdated=eq", "_id=", "_tag=|",
          "_profile=", "_text=x", "_content=x", "_filter=name eq x", "_query=x", "_list=x", "_has=x",
          "_has:Observation=x", "_has:Observation:subject=x", "_has:Foo:bar:baz=x",
          "_has:Observation:subject:_has:Foo=x", "_has:Observation:patient:code:not=x",
          "_has:Observation:subject:_has=1", "subject.unknown=x", "subject:Foo.name=x",
          "subject.name.given.x=y", "general-practitioner.organization.partof.partof.partof.name=x",
          "_count=5&_count=6", "_security:not=x", "_source=", "_sort=-_lastUpdated,-_id,_score",
          "_summary=text&_elements=id", "_contained=true", "_containedType=x", "_format=xml",
          "page=2", "_cursor=garbage", "_page_token=garbage", "_offset=-5", "_at=2020"]
def urls():
    for r in cap["rest"][0]["resource"]:
        t = r["type"]
        params = [p["name"] for p in r.get("searchParam", [])]
        for p in params:
            for m in MODS:
                yield f"{t}", {f"{p}:{m}" if m else p: random.choice(VALS)}
            for v in VALS:
                yield f"{t}", {p: v}
        for q in RESULT:
            yield t, q
    for q in RESULT:
        yield "", q
def go(item):
    path, q = item
    u = base + "/" + path if path else base
    s = requests.Session()
    try:
        if isinstance(q, str):
            r = s.get(u + "?" + q, headers={"Accept": "application/fhir+json"}, timeout=60)
        else:
            if random.random() < 0.3 and path:
                r = s.post(u + "/_search", data=q, headers={"Accept": "application/fhir+json"}, timeout=60)
            else:
                r = s.get(u, params=q, headers={"Accept": "application/fhir+json"}, timeout=60)
    except Exception as e:
        return (item, "EXC " + repr(e))
    bad = None
    if r.status_code >= 500:
        bad = f"{r.status_code} {r.text[:300]}"
    else:
        try:
            j = r.json()
            rt = j.get("resourceType")
            if r.status_code == 200 and rt != "Bundle": bad = f"200 not bundle {rt}"
            if r.status_code >= 400 and rt != "OperationOutcome": bad = f"{r.status_code} not OO"
        except Exception:
            bad = f"{r.status_code} non-json {r.text[:100]}"
    return (item, bad)
random.seed(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
items = list(urls())
if len(sys.argv) > 3: items = random.sample(items, int(sys.argv[3]))
print(len(items), "requests", file=sys.stderr)
n = 0; bads = {}
with cf.ThreadPoolExecutor(8) as ex:
    for item, bad in ex.map(go, items, chunksize=64):
        n += 1
        if bad:
            key = bad[:80]
            if key not in bads:
                bads[key] = item
                print("BAD", item if len(str(item)) < 400 else str(item)[:400], bad, flush=True)
print("done", n, "distinct bad", len(bads))
