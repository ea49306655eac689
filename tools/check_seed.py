#!/usr/bin/env python3
"""Validate fhird's seed Bundles (seed/default, seed/payer/PAY00x).

    /work/venvs/r4/bin/python tools/check_seed.py [SEED_DIR]

Needs the strict R4 models of PyPI `fhir.resources==6.4.0` (the last release modelling FHIR 4.0.1):
    python3 -m venv /work/venvs/r4
    /work/venvs/r4/bin/pip install "fhir.resources==6.4.0" "pydantic[email]<2"

Checks:
  * layout: NN-name.json files, one transaction Bundle each; every entry has fullUrl `Type/id`,
    a resource with a valid id, request PUT `Type/id`;
  * every Bundle and every resource parses with the strict R4 pydantic models (unknown elements,
    wrong types, missing required elements are errors);
  * dateTime/instant values with a time carry a time zone;
  * ids unique per type per partition; every relative reference resolves within its own partition
    and points at a resource loaded earlier (files in name order, entries in order);
  * content and counts: payer Organizations PAY001-3 (type pay) in the default partition, a facility,
    >= 10 Practitioners/PractitionerRoles, >= 50 Patients each with a Coverage at one of the payers,
    Appointments, Schedules, Slots, MedicationRequests (RxNorm), lab and vital-sign Observations
    (LOINC, UCUM), ICD-10 Conditions, Encounters, no Claims; in each payer partition its own
    Organization, exactly one InsurancePlan matching its Coverages, members identical to the default
    partition, Claims addressed to it (ICD-10 / CPT), >= 40 claims in total and a few preauthorizations;
  * NPIs carry a valid check digit; every fhird extension URL is documented in seed/README.md.
Prints a summary and exits non-zero on any problem.
"""
from __future__ import annotations

import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

try:
    from fhir.resources import __fhir_version__, construct_fhir_element
except ImportError:  # pragma: no cover
    sys.exit("check_seed: needs fhir.resources==6.4.0 (see the docstring for the venv)")

ROOT = Path(__file__).resolve().parent.parent
SEED = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT / "seed"
PAYERS = ["PAY001", "PAY002", "PAY003"]

ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
CPT = "http://www.ama-assn.org/go/cpt"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NPI = "http://hl7.org/fhir/sid/us-npi"
UCUM = "http://unitsofmeasure.org"
ORG_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
OBS_CAT = "http://terminology.hl7.org/CodeSystem/observation-category"
EXT_BASE = "http://fhird.example.org/fhir/StructureDefinition/"

ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
FILE_RE = re.compile(r"^\d{2}-[a-z0-9-]+\.json$")
REL_REF_RE = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$")
DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$")
TZ_RE = re.compile(r"(Z|[+-]\d{2}:\d{2})$")
ICD10_RE = re.compile(r"^[A-TV-Z][0-9][0-9AB](\.[0-9A-TV-Z]{1,4})?$")
CPT_RE = re.compile(r"^\d{4}[0-9FTU]$")

problems: list[str] = []


def problem(msg):
    problems.append(msg)


def npi_ok(npi: str) -> bool:
    if not re.fullmatch(r"\d{10}", npi):
        return False
    total = 0
    for i, ch in enumerate(reversed("80840" + npi[:9])):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10 == int(npi[9])


def walk(obj, path=""):
    """Yield (path, key, value) for every scalar in a JSON tree."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from walk(v, f"{path}.{k}" if path else k) if isinstance(v, (dict, list)) else [(path, k, v)]
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from walk(v, f"{path}[{i}]")


def codings(cc):
    return (cc or {}).get("coding", []) if isinstance(cc, dict) else []


def has_code(ccs, system, code=None):
    if isinstance(ccs, dict):
        ccs = [ccs]
    return any(c.get("system") == system and (code is None or c.get("code") == code)
               for cc in ccs or [] for c in codings(cc))


def load_partition(name: str, directory: Path):
    """Returns ({(type, id): resource}, [file names]); index keeps load order."""
    index = {}
    files = sorted(p.name for p in directory.iterdir() if p.is_file())
    if not files:
        problem(f"{name}: no files in {directory}")
    for fname in files:
        where = f"{name}/{fname}"
        if not FILE_RE.match(fname):
            problem(f"{where}: file name is not NN-name.json")
            continue
        raw = (directory / fname).read_text(encoding="utf-8")
        try:
            bundle = json.loads(raw)
        except json.JSONDecodeError as e:
            problem(f"{where}: not JSON: {e}")
            continue
        if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "transaction":
            problem(f"{where}: not a transaction Bundle")
        try:
            construct_fhir_element("Bundle", bundle)
        except Exception as e:  # noqa: BLE001 - report every validation error
            problem(f"{where}: Bundle fails R4 validation: {str(e)[:2000]}")
        for i, entry in enumerate(bundle.get("entry", [])):
            res = entry.get("resource") or {}
            rtype, rid = res.get("resourceType"), res.get("id")
            at = f"{where} entry[{i}] {rtype}/{rid}"
            if not rid or not ID_RE.match(rid):
                problem(f"{at}: missing or invalid id")
                continue
            if entry.get("fullUrl") != f"{rtype}/{rid}":
                problem(f"{at}: fullUrl {entry.get('fullUrl')!r} is not {rtype}/{rid}")
            req = entry.get("request") or {}
            if req.get("method") != "PUT" or req.get("url") != f"{rtype}/{rid}":
                problem(f"{at}: request is not PUT {rtype}/{rid}: {req}")
            if set(entry) - {"fullUrl", "resource", "request"}:
                problem(f"{at}: unexpected entry keys {sorted(set(entry) - {'fullUrl', 'resource', 'request'})}")
            try:
                construct_fhir_element(rtype, res)
            except Exception as e:  # noqa: BLE001
                problem(f"{at}: fails R4 validation: {str(e)[:2000]}")
            if (rtype, rid) in index:
                problem(f"{at}: duplicate id {rtype}/{rid} in partition {name}")
            index[(rtype, rid)] = res
            for path, key, value in walk(res):
                if isinstance(value, str) and DATETIME_RE.match(value) and not TZ_RE.search(value):
                    problem(f"{at}: {path + '.' if path else ''}{key} = {value!r} has a time but no time zone")
                if key == "url" and isinstance(value, str) and value.startswith(EXT_BASE):
                    EXTENSIONS_USED.add(value)
    return index, files


EXTENSIONS_USED: set[str] = set()


def check_references(name, index):
    """Every reference resolves in the partition and points at a resource loaded earlier (load order)."""
    loaded = set()
    for (rtype, rid), res in index.items():
        loaded.add((rtype, rid))
        for path, key, value in walk(res):
            if key != "reference":
                continue
            m = REL_REF_RE.match(value)
            if not m:
                problem(f"{name}: {rtype}/{rid} {path}: reference {value!r} is not a relative Type/id reference")
                continue
            if (m.group(1), m.group(2)) not in index:
                problem(f"{name}: {rtype}/{rid} {path}: reference {value} does not resolve in partition {name}")
            elif (m.group(1), m.group(2)) not in loaded:
                problem(f"{name}: {rtype}/{rid} {path}: reference {value} points forward (loaded later)")


def by_type(index, rtype):
    return [r for (t, _), r in sorted(index.items()) if t == rtype]


def at_least(name, what, n, minimum):
    if n < minimum:
        problem(f"{name}: {what}: {n} < {minimum}")


def check_codes_common(name, index):
    for prac in by_type(index, "Practitioner") + by_type(index, "Organization"):
        for ident in prac.get("identifier", []):
            if ident.get("system") == NPI and not npi_ok(ident.get("value", "")):
                problem(f"{name}: {prac['resourceType']}/{prac['id']}: NPI {ident.get('value')} has a bad check digit")
    for claim in by_type(index, "Claim"):
        for d in claim.get("diagnosis", []):
            for c in codings(d.get("diagnosisCodeableConcept")):
                if c.get("system") != ICD10 or not ICD10_RE.match(c.get("code", "")):
                    problem(f"{name}: Claim/{claim['id']}: diagnosis {c} is not ICD-10-CM")
        for item in claim.get("item", []):
            cs = codings(item.get("productOrService"))
            if not cs or any(c.get("system") != CPT or not CPT_RE.match(c.get("code", "")) for c in cs):
                problem(f"{name}: Claim/{claim['id']} item {item.get('sequence')}: productOrService is not CPT")
    for cond in by_type(index, "Condition"):
        if not has_code(cond.get("code"), ICD10):
            problem(f"{name}: Condition/{cond['id']}: code is not ICD-10-CM")
    for mr in by_type(index, "MedicationRequest"):
        if not has_code(mr.get("medicationCodeableConcept"), RXNORM):
            problem(f"{name}: MedicationRequest/{mr['id']}: medication is not RxNorm")
    for obs in by_type(index, "Observation"):
        if not has_code(obs.get("code"), LOINC):
            problem(f"{name}: Observation/{obs['id']}: code is not LOINC")
        quantities = [obs.get("valueQuantity")] + [c.get("valueQuantity") for c in obs.get("component", [])]
        for q in quantities:
            if q is not None and q.get("system") != UCUM:
                problem(f"{name}: Observation/{obs['id']}: quantity without UCUM system")


def check_default(index):
    name = "default"
    orgs = {r["id"]: r for r in by_type(index, "Organization")}
    for pid in PAYERS:
        org = orgs.get(pid)
        if org is None:
            problem(f"default: payer Organization/{pid} missing")
            continue
        if not has_code(org.get("type"), ORG_TYPE, "pay"):
            problem(f"default: Organization/{pid} lacks organization-type 'pay'")
        for need in ("identifier", "address", "telecom", "name"):
            if not org.get(need):
                problem(f"default: Organization/{pid} lacks {need}")
    facilities = [o for o in orgs.values() if has_code(o.get("type"), ORG_TYPE, "prov")]
    at_least(name, "facility Organizations (type prov)", len(facilities), 1)
    at_least(name, "Locations", len(by_type(index, "Location")), 1)
    pracs = by_type(index, "Practitioner")
    at_least(name, "Practitioners", len(pracs), 10)
    for p in pracs:
        if not has_npi(p):
            problem(f"default: Practitioner/{p['id']} has no NPI")
    roles = by_type(index, "PractitionerRole")
    at_least(name, "PractitionerRoles", len(roles), 10)
    for r in roles:
        if not r.get("specialty"):
            problem(f"default: PractitionerRole/{r['id']} has no specialty")
    patients = by_type(index, "Patient")
    at_least(name, "Patients", len(patients), 50)
    at_least(name, "RelatedPersons", len(by_type(index, "RelatedPerson")), 1)
    covered = defaultdict(list)
    for cov in by_type(index, "Coverage"):
        payors = [p.get("reference") for p in cov.get("payor", [])]
        if not any(p in {f"Organization/{x}" for x in PAYERS} for p in payors):
            problem(f"default: Coverage/{cov['id']} payor {payors} is not one of the payers")
        if cov.get("status") != "active":
            problem(f"default: Coverage/{cov['id']} is not active")
        for need in ("subscriberId", "class", "relationship", "period"):
            if not cov.get(need):
                problem(f"default: Coverage/{cov['id']} lacks {need}")
        covered[cov["beneficiary"]["reference"]].append(cov)
    for p in patients:
        if not covered.get(f"Patient/{p['id']}"):
            problem(f"default: Patient/{p['id']} has no Coverage")
        if not any(i.get("system") == "http://fhird.example.org/mrn" for i in p.get("identifier", [])):
            problem(f"default: Patient/{p['id']} has no MRN identifier")
    for rtype, minimum in [("Appointment", 20), ("Schedule", 2), ("Slot", 10), ("MedicationRequest", 10),
                           ("Condition", 10), ("Encounter", 20)]:
        at_least(name, f"{rtype}s", len(by_type(index, rtype)), minimum)
    for appt in by_type(index, "Appointment"):
        if not any(p.get("actor", {}).get("reference", "").startswith("Patient/") for p in appt["participant"]):
            problem(f"default: Appointment/{appt['id']} has no patient participant")
        if not any(p.get("actor", {}).get("reference", "").startswith("Practitioner/") for p in appt["participant"]):
            problem(f"default: Appointment/{appt['id']} has no practitioner participant")
    obs = by_type(index, "Observation")
    labs = [o for o in obs if has_code(o.get("category"), OBS_CAT, "laboratory")]
    vitals = [o for o in obs if has_code(o.get("category"), OBS_CAT, "vital-signs")]
    at_least(name, "laboratory Observations", len(labs), 10)
    at_least(name, "vital-signs Observations", len(vitals), 10)
    for code in ("8867-4", "85354-9", "29463-7"):
        at_least(name, f"vital-signs Observations with LOINC {code}",
                 sum(1 for o in vitals if has_code(o.get("code"), LOINC, code)), 1)
    for o in obs:
        if has_code(o.get("code"), LOINC, "85354-9"):
            comps = {c["code"]["coding"][0]["code"] for c in o.get("component", [])}
            if not {"8480-6", "8462-4"} <= comps:
                problem(f"default: Observation/{o['id']}: blood pressure panel without systolic/diastolic")
    if by_type(index, "Claim"):
        problem("default: the clinic partition holds Claims (only payer partitions should)")


def has_npi(res):
    return any(i.get("system") == NPI for i in res.get("identifier", []))


def check_payer(pid, index, default_index):
    org = index.get(("Organization", pid))
    if org is None:
        problem(f"{pid}: its own Organization/{pid} is missing")
    elif org != default_index.get(("Organization", pid)):
        problem(f"{pid}: Organization/{pid} differs from the default partition's copy")
    for other in PAYERS:
        if other != pid and ("Organization", other) in index:
            problem(f"{pid}: holds another payer's Organization/{other}")
    plans = by_type(index, "InsurancePlan")
    if len(plans) != 1:
        problem(f"{pid}: {len(plans)} InsurancePlans, expected exactly 1")
    plan_ids = {p["id"] for p in plans}
    for plan in plans:
        if plan.get("ownedBy", {}).get("reference") != f"Organization/{pid}":
            problem(f"{pid}: InsurancePlan/{plan['id']} is not owned by Organization/{pid}")
        urls = Counter(e["url"] for e in plan.get("extension", []))
        for suffix in ("insuranceplan-covered-code", "insuranceplan-excluded-code", "insuranceplan-prior-auth-code"):
            if not urls.get(EXT_BASE + suffix):
                problem(f"{pid}: InsurancePlan/{plan['id']} has no {suffix} extension")
        costs = [c["type"]["coding"][0]["code"] for sc in plan.get("plan", [{}])[0].get("specificCost", [])
                 for b in sc.get("benefit", []) for c in b.get("cost", [])]
        for need in ("deductible", "maxoutofpocket", "copay", "copaypct"):
            if need not in costs:
                problem(f"{pid}: InsurancePlan/{plan['id']} has no {need} cost")
        if not plan.get("coverage", [{}])[0].get("benefit"):
            problem(f"{pid}: InsurancePlan/{plan['id']} has no coverage benefits")
    coverages = {c["id"]: c for c in by_type(index, "Coverage")}
    members = set()
    for cov in coverages.values():
        if [p.get("reference") for p in cov.get("payor", [])] != [f"Organization/{pid}"]:
            problem(f"{pid}: Coverage/{cov['id']} payor is not Organization/{pid}")
        plan_values = [c["value"] for c in cov.get("class", [])
                       if has_code(c.get("type"), "http://terminology.hl7.org/CodeSystem/coverage-class", "plan")]
        if not plan_values or plan_values[0] not in plan_ids:
            problem(f"{pid}: Coverage/{cov['id']} plan class {plan_values} does not name this payer's InsurancePlan")
        if cov != default_index.get(("Coverage", cov["id"])):
            problem(f"{pid}: Coverage/{cov['id']} differs from (or is missing in) the default partition")
        members.add(cov["beneficiary"]["reference"])
    for (rtype, rid), res in index.items():
        if rtype in ("Patient", "Practitioner", "Organization", "Location", "RelatedPerson") and \
                res != default_index.get((rtype, rid)):
            problem(f"{pid}: {rtype}/{rid} differs from (or is missing in) the default partition")
    for p in by_type(index, "Patient"):
        if f"Patient/{p['id']}" not in members:
            problem(f"{pid}: Patient/{p['id']} is not a member (no Coverage in this partition)")
    # every default-partition coverage issued by this payer is present here
    for (rtype, rid), res in default_index.items():
        if rtype == "Coverage" and any(p.get("reference") == f"Organization/{pid}" for p in res.get("payor", [])):
            if rid not in coverages:
                problem(f"{pid}: member Coverage/{rid} from the default partition is missing")
    claims = by_type(index, "Claim")
    for c in claims:
        if c.get("insurer", {}).get("reference") != f"Organization/{pid}":
            problem(f"{pid}: Claim/{c['id']} insurer is not Organization/{pid}")
        if c.get("status") != "active":
            problem(f"{pid}: Claim/{c['id']} status is not active")
        if not has_code(c.get("type"), "http://terminology.hl7.org/CodeSystem/claim-type", "professional"):
            problem(f"{pid}: Claim/{c['id']} type is not professional")
        if not c.get("provider", {}).get("reference", "").startswith("Practitioner/"):
            problem(f"{pid}: Claim/{c['id']} provider is not a Practitioner")
        cov_ref = c["insurance"][0]["coverage"]["reference"]
        cov = coverages.get(cov_ref.split("/", 1)[1])
        if cov is None:
            problem(f"{pid}: Claim/{c['id']} insurance coverage {cov_ref} is not in this partition")
        elif cov["beneficiary"]["reference"] != c["patient"]["reference"]:
            problem(f"{pid}: Claim/{c['id']} patient differs from its Coverage's beneficiary")
        total = round(sum(i["net"]["value"] for i in c.get("item", [])), 2)
        if not c.get("item") or c.get("total", {}).get("value") != total:
            problem(f"{pid}: Claim/{c['id']} total {c.get('total')} is not the sum of item nets {total}")
        for i in c.get("item", []):
            expected = round(i["quantity"]["value"] * i["unitPrice"]["value"], 2)
            if i["net"]["value"] != expected or not i.get("servicedDate"):
                problem(f"{pid}: Claim/{c['id']} item {i['sequence']}: net or servicedDate wrong")
    for rtype in ("Appointment", "Encounter", "Observation", "Condition", "MedicationRequest", "Schedule", "Slot"):
        if by_type(index, rtype):
            problem(f"{pid}: holds clinic-only {rtype} resources")
    return claims


def main():
    print(f"fhir.resources models: FHIR {__fhir_version__}")
    if __fhir_version__ != "4.0.1":
        problem(f"fhir.resources models FHIR {__fhir_version__}, not 4.0.1")
    partitions = {"default": SEED / "default"}
    for pid in PAYERS:
        partitions[pid] = SEED / "payer" / pid
    extra = sorted(p.name for p in (SEED / "payer").iterdir()) if (SEED / "payer").is_dir() else []
    for d in extra:
        if d not in PAYERS:
            problem(f"seed/payer/{d}: unexpected partition directory")
    indexes, file_lists = {}, {}
    for name, directory in partitions.items():
        if not directory.is_dir():
            problem(f"{name}: directory {directory} missing")
            indexes[name], file_lists[name] = {}, []
            continue
        indexes[name], file_lists[name] = load_partition(name, directory)
    for name, index in indexes.items():
        check_references(name, index)
        check_codes_common(name, index)
    check_default(indexes["default"])
    all_claims = []
    for pid in PAYERS:
        all_claims += check_payer(pid, indexes[pid], indexes["default"])
    at_least("all payers", "Claims", len(all_claims), 40)
    preauth = [c for c in all_claims if c.get("use") == "preauthorization"]
    at_least("all payers", "preauthorization Claims", len(preauth), 3)

    readme = SEED / "README.md"
    documented = readme.read_text(encoding="utf-8") if readme.exists() else ""
    for url in sorted(EXTENSIONS_USED):
        if url not in documented:
            problem(f"extension {url} is used but not documented in seed/README.md")

    # summary
    for name, index in indexes.items():
        counts = Counter(t for t, _ in index)
        print(f"{name}: {len(file_lists[name])} files, {len(index)} resources")
        print("    " + ", ".join(f"{t} {n}" for t, n in sorted(counts.items())))
    print(f"claims: {len(all_claims) - len(preauth)} use=claim + {len(preauth)} use=preauthorization")
    print(f"extensions: {', '.join(sorted(EXTENSIONS_USED))}")
    if problems:
        print(f"\n{len(problems)} problem(s):")
        for p in problems[:200]:
            print(f"  - {p}")
        if len(problems) > 200:
            print(f"  ... and {len(problems) - 200} more")
        print("check_seed: FAILED")
        return 1
    print("check_seed: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
