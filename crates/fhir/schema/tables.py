#!/usr/bin/env python3
"""Derives r4-tables.json from HL7's FHIR R4 definitions.

Usage: tables.py path/to/hl7.fhir.r4.examples/package > r4-tables.json

The input is the `package/` folder of the npm package `hl7.fhir.r4.examples@4.0.1` (CC0;
see README.md for its hash). The output holds, for each of the 145 R4 resource types:

- `compartment`: the search parameters that put a resource of this type in a Patient's
  compartment, from `CompartmentDefinition-patient.json` (absent: the type is not in the
  compartment);
- `summary`: the top-level elements `_summary=true` keeps (`isSummary`; `value*` for a
  choice element);
- `params`: every search parameter of the type from the 1,400 `SearchParameter-*.json`
  (the `Resource` ones, `_id` and friends, apply to every type), with its type
  (token, reference, date, string, quantity, uri, number), its reference targets and its
  FHIRPath expression compiled to JSON paths.

A path is a list of steps, each the JSON member to step into; `member[k=v]` keeps only the
array items whose `k` is `v` (FHIRPath `.where(k='v')`, `.extension('url')`), `member[0]`
the first item. A choice element (`value[x]`) is spelled out per type (`valueQuantity`,
`valueCodeableConcept` …), and `as T` keeps one. `target` is the `.where(resolve() is T)`
filter, and `type` the FHIR data type the path ends on, which decides how a value is
indexed. The few expressions this subset of FHIRPath cannot say are listed under
`unsupported` with the reason, so that the CapabilityStatement never claims them.
"""
import glob
import hashlib
import json
import os
import re
import sys

KINDS = {"token", "reference", "date", "string", "quantity", "uri", "number"}

pkg = sys.argv[1]


def load(name):
    with open(os.path.join(pkg, name), "rb") as f:
        return json.loads(f.read())


digest = hashlib.sha256()
for name in sorted(os.listdir(pkg)):
    if name.startswith(("SearchParameter-", "CompartmentDefinition-patient", "StructureDefinition-")):
        with open(os.path.join(pkg, name), "rb") as f:
            digest.update(name.encode() + b"\0" + f.read())

# Base structures (resources and data types), by type name.
structures = {}
for f in glob.glob(os.path.join(pkg, "StructureDefinition-*.json")):
    sd = json.load(open(f))
    if sd.get("url") != "http://hl7.org/fhir/StructureDefinition/" + sd.get("type", ""):
        continue
    if sd.get("kind") not in ("resource", "complex-type", "primitive-type"):
        continue
    elements = {}
    for e in sd["snapshot"]["element"]:
        elements[e["path"]] = e
    structures[sd["type"]] = elements

compartment = load("CompartmentDefinition-patient.json")
resource_types = sorted(r["code"] for r in compartment["resource"])
in_compartment = {r["code"]: r.get("param", []) for r in compartment["resource"] if r.get("param")}


def cap(t):
    return t[0].upper() + t[1:]


def resolve(resource_type, steps):
    """Walks FHIRPath steps over the structure definitions: a list of
    (json_steps, data_type) alternatives, or raises ValueError."""
    # A context: (structure, element path prefix, json steps so far)
    contexts = [(resource_type, resource_type, [])]
    end_types = None
    for n, (name, flt, as_type) in enumerate(steps):
        nxt = []
        end_types = []
        for struct, prefix, done in contexts:
            elements = structures[struct]
            path = prefix + "." + name
            alternatives = []
            if path in elements:
                e = elements[path]
                if "contentReference" in e:
                    types = [("#" + e["contentReference"][1:], name)]
                else:
                    types = [(t["code"], name) for t in e.get("type", [])]
                    if len(types) > 1:
                        raise ValueError("several types without [x]: " + path)
            elif path + "[x]" in elements:
                e = elements[path + "[x]"]
                types = [(t["code"], name + cap(t["code"])) for t in e.get("type", [])]
                if as_type:
                    types = [t for t in types if t[0] == as_type]
                    if not types:
                        raise ValueError("no choice " + as_type + " at " + path)
            elif name == "extension" and path not in elements:
                types = [("Extension", name)]
            else:
                raise ValueError("no element " + path)
            for code, key in types:
                step = key + (flt or "")
                if code.startswith("#"):
                    target_path = code[1:]
                    nxt.append((target_path.split(".")[0], target_path, done + [step]))
                    end_types.append("BackboneElement")
                elif code in ("BackboneElement", "Element") and any(
                    p.startswith(path + ".") for p in elements
                ):
                    nxt.append((struct, path, done + [step]))
                    end_types.append("BackboneElement")
                else:
                    if code.startswith("http://hl7.org/fhirpath/System."):
                        code = "string"
                    if code not in structures:
                        raise ValueError("unknown type " + code)
                    nxt.append((code, code, done + [step]))
                    end_types.append(code)
        contexts = nxt
    return [(done, t) for (_, _, done), t in zip(contexts, end_types)]


STEP = re.compile(
    r"""\.(?P<name>[a-z][A-Za-z0-9]*)
        (?:\[(?P<index>0)\])?
        (?P<where>\.where\((?P<k>[a-z]+)='(?P<v>[^']*)'\))?
        (?P<ext>\('(?P<url>[^']+)'\))?
        (?P<as>\.as\((?P<as_t>[A-Za-z]+)\))?
        (?P<resolve>\.where\(resolve\(\)\ is\ (?P<target>[A-Za-z]+)\))?""",
    re.X,
)


def compile_expression(part):
    """One `|` alternative of an expression: (resource type, steps, target, tail)."""
    part = part.strip()
    as_type = None
    tail = None
    m = re.fullmatch(r"\((.*) as ([A-Za-z]+)\)(\.text)?", part)
    if m:
        part, as_type, tail = m.group(1), m.group(2), m.group(3)
    m = re.fullmatch(r"([A-Z][A-Za-z]*)((?:\.[^.]+?)+)", part)
    if not m:
        raise ValueError("not a path")
    rtype, rest = m.group(1), m.group(2)
    steps, target, pos = [], None, 0
    while pos < len(rest):
        s = STEP.match(rest, pos)
        if not s or s.end() == pos:
            raise ValueError("unsupported FHIRPath")
        if target:
            raise ValueError("a step after resolve()")
        name = s.group("name")
        flt = None
        if s.group("index"):
            flt = "[0]"
        if s.group("where"):
            flt = "[{}={}]".format(s.group("k"), s.group("v"))
        if s.group("ext"):
            if name != "extension":
                raise ValueError("unsupported FHIRPath")
            flt = "[url={}]".format(s.group("url"))
        steps.append([name, flt, s.group("as_t")])
        target = s.group("target")
        pos = s.end()
    if as_type:
        steps[-1][2] = as_type
    if tail:
        steps.append(["text", None, None])
    return rtype, steps, target


def is_extension(steps):
    return any(name == "extension" for name, _, _ in steps)


out_types = {t: {"params": {}} for t in resource_types}
unsupported = []
for t, params in in_compartment.items():
    out_types[t]["compartment"] = params
# `_summary=true` keeps the elements marked isSummary, top level only (R4 search.html).
for t in resource_types:
    top = [
        (path.split(".", 1)[1], e)
        for path, e in structures[t].items()
        if path.count(".") == 1
    ]
    out_types[t]["summary"] = sorted(
        n.replace("[x]", "*") for n, e in top if e.get("isSummary") and n not in ("id", "meta")
    )

params = []
for f in sorted(glob.glob(os.path.join(pkg, "SearchParameter-*.json"))):
    sp = json.load(open(f))
    if sp.get("resourceType") != "SearchParameter":
        continue
    if "example" in sp["id"]:
        continue  # examples of SearchParameter resources, not definitions
    if "base" in sp:  # a few extension parameters name no base: not of a resource
        params.append(sp)

for sp in params:
    kind, code = sp["type"], sp["code"]
    bases = sp.get("base", [])
    if kind not in KINDS:
        continue
    expression = sp.get("expression")
    if "Resource" in bases or "DomainResource" in bases:
        if not (expression or "").startswith("Resource."):
            continue  # a duplicate spelled without the type (`id`), or none
        if code not in ("_id", "_lastUpdated", "_tag", "_profile", "_security", "_source"):
            unsupported.append({"type": "*", "code": code, "why": "not an indexed common parameter"})
            continue
        for t in resource_types:
            e = expression.replace("Resource.", t + ".")
            paths = [{"path": p, "type": dt} for p, dt in resolve(t, compile_expression(e)[1])]
            out_types[t]["params"][code] = {"type": kind, "paths": paths}
        continue
    by_type = {b: [] for b in bases}
    bad = {}
    for part in (expression or "").split("|"):
        if not part.strip():
            continue
        if part.strip() == "Patient.deceased.exists() and Patient.deceased != false":
            by_type["Patient"].append({"path": ["deceased"], "type": "deceased"})
            continue
        try:
            rtype, steps, target = compile_expression(part)
            if rtype not in by_type:
                continue
            for p, dt in resolve(rtype, steps):
                entry = {"path": p, "type": dt}
                if target:
                    entry["target"] = target
                by_type[rtype].append(entry)
        except (ValueError, KeyError) as e:
            m = re.match(r"\s*\(?([A-Z][A-Za-z]*)", part)
            bad[m.group(1) if m else "?"] = str(e)
    for b in bases:
        if b not in out_types:
            continue
        if b in bad or not by_type[b]:
            unsupported.append({"type": b, "code": code, "why": bad.get(b, "no expression")})
            continue
        entry = {"type": kind, "paths": by_type[b]}
        if kind == "reference":
            entry["targets"] = sorted(sp.get("target", []))
        if sp.get("multipleOr") is False:
            entry["multipleOr"] = False
        if sp.get("multipleAnd") is False:
            entry["multipleAnd"] = False
        out_types[b]["params"][code] = entry

# Every compartment parameter must be a reference parameter of its type.
for t, codes in in_compartment.items():
    for c in codes:
        p = out_types[t]["params"].get(c)
        if c == "{def}":
            continue
        if not p or p["type"] != "reference":
            sys.exit("compartment parameter {}.{} is not a supported reference parameter".format(t, c))

json.dump(
    {
        "source": "hl7.fhir.r4.examples@4.0.1 (CC0), derived by tables.py",
        "inputs_sha256": digest.hexdigest(),
        "types": out_types,
        "unsupported": sorted(unsupported, key=lambda u: (u["type"], u["code"])),
    },
    sys.stdout,
    indent=1,
    sort_keys=True,
)
sys.stdout.write("\n")
