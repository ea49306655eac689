#!/usr/bin/env python3
"""Generate profiles/element-types.json from the official FHIR R4 (4.0.1) definitions.

Usage: tools/gen_element_types.py [DEFINITIONS_DIR] [OUTPUT]

DEFINITIONS_DIR holds Bundle-types.json and Bundle-resources.json (the
hl7.fhir.r4 definitions); default /work/corpora/npm/examples/package.
OUTPUT defaults to profiles/element-types.json next to this tools/ folder.

Output layout (compact JSON, keys in definition order):

  {
    "fhirVersion": "4.0.1",
    "resources":  [concrete resource type names, sorted],
    "primitives": [primitive type names, sorted],
    "datatypes":  [concrete complex datatype names, sorted],
    "types": {
      "<TypeName or Backbone.path>": {
        "<element json name>": {"t": "<type>", "m": true}   # "m" only when array
      }
    },
    "choices": {"<TypeName or path>": {"value": ["valueQuantity", ...]}}
  }

"types" has an entry for every resource (including the abstract Resource and
DomainResource), every complex datatype (including the abstract Element and
BackboneElement), every BackboneElement/Element-typed nested element (named by
its path, e.g. "Patient.contact", "Timing.repeat"), and every primitive type
(only its "id" and "extension" children: that is what the JSON "_name" object
of a primitive may carry).  Elements whose type is BackboneElement/Element get
their path as type; contentReference elements (Questionnaire.item.item) get the
referenced path (Questionnaire.item).  Choice elements are expanded to one
entry per allowed type, and the base name is listed under "choices".
"""

import json
import sys
from pathlib import Path

DEFAULT_DEFS = Path("/work/corpora/npm/examples/package")
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "profiles" / "element-types.json"

FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"


def load_structure_definitions(defs_dir):
    sds = []
    for name in ("Bundle-types.json", "Bundle-resources.json"):
        with open(defs_dir / name, encoding="utf-8") as f:
            bundle = json.load(f)
        for entry in bundle["entry"]:
            res = entry["resource"]
            if res["resourceType"] == "StructureDefinition":
                sds.append(res)
    return sds


def type_code(t):
    """The FHIR type name of an ElementDefinition.type entry.

    Elements that are primitive in FHIRPath terms (Element.id, Extension.url,
    the `value` of primitives) are typed with a System.* URL; the actual FHIR
    type is carried by the structuredefinition-fhir-type extension.
    """
    code = t["code"]
    if code.startswith("http://hl7.org/fhirpath/System."):
        for ext in t.get("extension", []):
            if ext["url"] == FHIR_TYPE_EXT:
                return ext["valueUrl"]
        # xhtml.id carries no fhir-type extension: System.String is a string.
        return "string"
    return code


def main(argv):
    defs_dir = Path(argv[1]) if len(argv) > 1 else DEFAULT_DEFS
    out = Path(argv[2]) if len(argv) > 2 else DEFAULT_OUT

    sds = load_structure_definitions(defs_dir)
    # Profiles on types (SimpleQuantity, MoneyQuantity) and the logical
    # MetadataResource are not types an instance can have.
    sds = [
        sd
        for sd in sds
        if sd.get("derivation") != "constraint" and sd["kind"] != "logical"
    ]

    primitives = sorted(sd["type"] for sd in sds if sd["kind"] == "primitive-type")
    resources = sorted(
        sd["type"]
        for sd in sds
        if sd["kind"] == "resource"
        and not sd.get("abstract")
        and sd.get("derivation") == "specialization"
    )
    datatypes = sorted(
        sd["type"]
        for sd in sds
        if sd["kind"] == "complex-type" and not sd.get("abstract")
    )
    resource_like = set(resources) | {"Resource", "DomainResource"}

    types = {}
    choices = {}
    for sd in sds:
        elements = sd["snapshot"]["element"]
        root = elements[0]["path"]
        assert root == sd["type"], (sd["id"], root)
        is_primitive = sd["kind"] == "primitive-type"
        types[root] = {}
        for el in elements[1:]:
            path = el["path"]
            if el.get("max") == "0":
                continue  # prohibited (xhtml.extension)
            parent, name = path.rsplit(".", 1)
            if is_primitive and name == "value":
                continue  # not a JSON property: it is the primitive itself
            table = types.setdefault(parent, {})
            is_array = el["max"] != "1"

            if "contentReference" in el:
                ref = el["contentReference"]
                assert ref.startswith("#"), ref
                entry = {"t": ref[1:]}
                if is_array:
                    entry["m"] = True
                table[name] = entry
                continue

            codes = [type_code(t) for t in el["type"]]
            if name.endswith("[x]"):
                base = name[:-3]
                names = []
                for code in codes:
                    json_name = base + code[0].upper() + code[1:]
                    entry = {"t": code}
                    if is_array:
                        entry["m"] = True
                    table[json_name] = entry
                    names.append(json_name)
                choices.setdefault(parent, {})[base] = names
                continue

            assert len(codes) == 1, path
            code = codes[0]
            if code in ("BackboneElement", "Element"):
                # Anonymous nested type: named after its path.
                code = path
                types.setdefault(path, {})
            # R4 types Resource.id as System.String/"string" although the spec
            # text (resource.html#id) says it is an `id`; enforce the latter.
            if name == "id" and parent == root and root in resource_like:
                code = "id"
            entry = {"t": code}
            if is_array:
                entry["m"] = True
            table[name] = entry

    # Sanity checks: every referenced type has a definition.
    known = set(types) | set(primitives)
    for owner, table in types.items():
        for name, entry in table.items():
            assert entry["t"] in known, (owner, name, entry["t"])
    for r in resources:
        for inherited in ("id", "meta", "implicitRules", "language"):
            assert inherited in types[r], (r, inherited)
    assert len(resources) == 146, len(resources)

    doc = {
        "fhirVersion": "4.0.1",
        "resources": resources,
        "primitives": primitives,
        "datatypes": datatypes,
        "types": types,
        "choices": choices,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(doc, f, separators=(",", ":"), ensure_ascii=False)
        f.write("\n")
    n_elements = sum(len(t) for t in types.values())
    print(
        f"wrote {out}: {len(resources)} resources, {len(primitives)} primitives, "
        f"{len(types)} types, {n_elements} elements",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main(sys.argv)
