#!/usr/bin/env python3
"""Deterministic, realistic R4 Patient resources for the HTTP benchmark (bench/http_bench.sh).

    gen_patients.py --count N --out DIR [--seed S] [--create-bodies M]

writes, in DIR:
  ids.txt            one Patient id per line (the N preloaded patients, ids bench-000001 ...)
  preload.ndjson     the N preloaded Patients, one compact JSON per line, each with its id
  create.ndjson      M Patients without id (bodies for POST Patient), one per line

Every Patient has identifiers (MRN and a national id), an official and a usual name, telecom
(home phone, mobile, e-mail), gender, birthDate, a home address with a period, marital status,
and a preferred language: about 1.2 KB of compact JSON. Only base R4
elements are used and no references, so every FHIR R4 server accepts them as they are.
The same --seed always gives byte-identical files.
"""

import argparse
import json
import os
import random

FAMILY = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
          "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson",
          "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson",
          "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker",
          "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores"]
GIVEN_F = ["Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica",
           "Sarah", "Karen", "Lisa", "Nancy", "Betty", "Margaret", "Sandra", "Ashley", "Emily",
           "Donna", "Michelle", "Carol", "Amanda", "Melissa", "Deborah", "Stephanie"]
GIVEN_M = ["James", "Robert", "John", "Michael", "David", "William", "Richard", "Joseph",
           "Thomas", "Charles", "Christopher", "Daniel", "Matthew", "Anthony", "Mark",
           "Donald", "Steven", "Paul", "Andrew", "Joshua", "Kenneth", "Kevin", "Brian", "George"]
STREETS = ["Maple", "Oak", "Pine", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park",
           "Main", "Church", "Highland", "Sunset", "Railroad", "Jackson", "Cherry", "Lincoln"]
STREET_KINDS = ["Street", "Avenue", "Road", "Lane", "Drive", "Court", "Boulevard", "Way"]
CITIES = [("Springfield", "IL", "627"), ("Madison", "WI", "537"), ("Franklin", "TN", "370"),
          ("Greenville", "SC", "296"), ("Bristol", "CT", "060"), ("Clinton", "IA", "527"),
          ("Salem", "OR", "973"), ("Fairview", "OK", "737"), ("Georgetown", "TX", "786"),
          ("Arlington", "VA", "222"), ("Burlington", "VT", "054"), ("Dayton", "OH", "454")]
MARITAL = [("M", "Married"), ("S", "Never Married"), ("D", "Divorced"), ("W", "Widowed")]
LANGS = [("en-US", "English (United States)"), ("es", "Spanish"), ("vi", "Vietnamese"),
         ("zh", "Chinese"), ("fr", "French")]


def phone(rng):
    return "(%03d) %03d-%04d" % (rng.randint(201, 989), rng.randint(200, 999), rng.randint(0, 9999))


def patient(rng, n, with_id):
    gender = rng.choice(["male", "female"])
    given = rng.sample(GIVEN_M if gender == "male" else GIVEN_F, 2)
    family = rng.choice(FAMILY)
    city, state, zip3 = rng.choice(CITIES)
    year = rng.randint(1935, 2020)
    birth = "%04d-%02d-%02d" % (year, rng.randint(1, 12), rng.randint(1, 28))
    marital = rng.choice(MARITAL)
    lang = rng.choice(LANGS)
    p = {"resourceType": "Patient"}
    if with_id:
        p["id"] = "bench-%06d" % n
    p.update({
        "identifier": [
            {"use": "usual",
             "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                  "code": "MR", "display": "Medical record number"}]},
             "system": "http://hospital.example.org/mrn",
             "value": "MRN%08d" % (10_000_000 + n * 7 + rng.randint(0, 6))},
            {"use": "official",
             "system": "http://hl7.org/fhir/sid/us-ssn",
             "value": "%03d-%02d-%04d" % (rng.randint(100, 899), rng.randint(10, 99),
                                          rng.randint(1000, 9999))},
        ],
        "active": True,
        "name": [
            {"use": "official", "family": family, "given": given,
             "prefix": ["Mr." if gender == "male" else "Ms."]},
            {"use": "usual", "given": [given[0][:3] if len(given[0]) > 4 else given[0]]},
        ],
        "telecom": [
            {"system": "phone", "value": phone(rng), "use": "home"},
            {"system": "phone", "value": phone(rng), "use": "mobile", "rank": 1},
            {"system": "email", "value": "%s.%s%d@example.com" % (given[0].lower(), family.lower(), n),
             "use": "home"},
        ],
        "gender": gender,
        "birthDate": birth,
        "address": [
            {"use": "home", "type": "both",
             "line": ["%d %s %s" % (rng.randint(1, 9999), rng.choice(STREETS), rng.choice(STREET_KINDS)),
                      "Apt %d" % rng.randint(1, 400)],
             "city": city, "state": state,
             "postalCode": "%s%02d" % (zip3, rng.randint(0, 99)), "country": "US",
             "period": {"start": "%04d-%02d-%02d" % (max(year, 2000) + rng.randint(0, 5),
                                                     rng.randint(1, 12), rng.randint(1, 28))}},
        ],
        "maritalStatus": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus",
            "code": marital[0], "display": marital[1]}]},
        "communication": [
            {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": lang[0],
                                      "display": lang[1]}]},
             "preferred": True},
        ],
    })
    return p


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--create-bodies", type=int, default=200)
    ap.add_argument("--seed", type=int, default=4242)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = random.Random(a.seed)
    dump = lambda r: json.dumps(r, separators=(",", ":"), ensure_ascii=False)
    sizes = []
    with open(os.path.join(a.out, "preload.ndjson"), "w") as pre, \
            open(os.path.join(a.out, "ids.txt"), "w") as ids:
        for n in range(1, a.count + 1):
            p = patient(rng, n, True)
            line = dump(p)
            sizes.append(len(line.encode()))
            pre.write(line + "\n")
            ids.write(p["id"] + "\n")
    with open(os.path.join(a.out, "create.ndjson"), "w") as cr:
        for n in range(1, a.create_bodies + 1):
            line = dump(patient(rng, 1_000_000 + n, False))
            sizes.append(len(line.encode()))
            cr.write(line + "\n")
    print("generated %d preload + %d create Patients in %s, %d-%d bytes (mean %d)"
          % (a.count, a.create_bodies, a.out, min(sizes), max(sizes), sum(sizes) // len(sizes)))


if __name__ == "__main__":
    main()
