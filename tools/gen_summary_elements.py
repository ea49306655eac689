#!/usr/bin/env python3
"""Generate profiles/summary-elements.json from the official FHIR R4 (4.0.1) definitions.

Usage: tools/gen_summary_elements.py [DEFINITIONS_DIR] [OUTPUT]

DEFINITIONS_DIR holds Bundle-resources.json (the hl7.fhir.r4 definitions, e.g. the unpacked
npm package hl7.fhir.r4.examples@4.0.1). For every resource type it lists the top-level JSON
element names that `_summary=true` keeps (isSummary) and those every subset keeps because
they are mandatory (min >= 1), as `{"Type": {"summary": [...], "mandatory": [...]}}`.
Choice elements are listed by base name (`value` for `value[x]`); the server expands them.
"""

import json
import sys
from pathlib import Path

defs = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/fhir-pkgs/ex/package")
out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).resolve().parent.parent / "profiles" / "summary-elements.json"

bundle = json.loads((defs / "Bundle-resources.json").read_text())
result = {}
for entry in bundle["entry"]:
    sd = entry["resource"]
    if sd.get("resourceType") != "StructureDefinition" or sd.get("kind") != "resource" or sd.get("abstract"):
        continue
    rt = sd["type"]
    summary, mandatory = [], []
    for el in sd["snapshot"]["element"]:
        path = el["path"]
        parts = path.split(".")
        if len(parts) != 2:
            continue
        name = parts[1].replace("[x]", "")
        if el.get("isSummary"):
            summary.append(name)
        if el.get("min", 0) >= 1:
            mandatory.append(name)
    result[rt] = {"summary": summary, "mandatory": mandatory}

out.write_text(json.dumps(result, separators=(",", ":"), sort_keys=True) + "\n")
print(f"{len(result)} resource types -> {out}")
