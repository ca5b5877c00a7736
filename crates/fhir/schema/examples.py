#!/usr/bin/env python3
"""Collects HL7's official R4 examples into tests/data/r4-examples.ndjson.gz.

Usage: examples.py path/to/hl7.fhir.r4.examples/package tests/data/r4-examples.ndjson.gz

The input is the `package/` folder of the npm package `hl7.fhir.r4.examples@4.0.1` (CC0;
see README.md for its hash). Kept: every resource that is an example, one per line,
minified, in file-name order; left out: the specification's own definitions (the
SearchParameter, ValueSet, CodeSystem, StructureDefinition … resources that define R4,
unless their id says `example`) and the ten Bundles of definitions over 1 MB.
"""
import glob
import gzip
import json
import os
import sys

DEFINITIONS = {
    "SearchParameter", "ValueSet", "CodeSystem", "StructureDefinition", "ConceptMap",
    "OperationDefinition", "CompartmentDefinition", "CapabilityStatement", "NamingSystem",
    "ImplementationGuide", "StructureMap", "GraphDefinition", "MessageDefinition",
    "TerminologyCapabilities",
}
LARGEST = 1_000_000

pkg, out = sys.argv[1], sys.argv[2]
lines = []
for path in sorted(glob.glob(os.path.join(pkg, "*.json"))):
    if os.path.basename(path) == "package.json" or os.path.getsize(path) > LARGEST:
        continue
    r = json.load(open(path, encoding="utf-8"))
    if r.get("resourceType") in DEFINITIONS and "example" not in r.get("id", ""):
        continue
    lines.append(json.dumps(r, separators=(",", ":"), ensure_ascii=False, sort_keys=True))
# mtime 0: the same input gives the same bytes.
with open(out, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as z:
    z.write(("\n".join(lines) + "\n").encode("utf-8"))
print(f"{len(lines)} examples", file=sys.stderr)
