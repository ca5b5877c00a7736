#!/usr/bin/env bash
# Compiles every example contract to integer-only WebAssembly.
#   contracts/build.sh [OUT_DIR]     (default: contracts/build)
# Needs `npm ci --prefix contracts` first. The flags are the ABI's build path (ADR 015):
# the stub runtime (a bump allocator, no GC, no floats), the SDK's abort handler.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/build}"
asc="$here/node_modules/.bin/asc"
if [ ! -x "$asc" ]; then
  echo "AssemblyScript compiler missing: run 'npm ci --prefix contracts'" >&2
  exit 1
fi
mkdir -p "$out"
cd "$here"
for dir in examples/*/; do
  name="$(basename "$dir")"
  "$asc" "examples/$name/index.ts" \
    --runtime stub -O3 \
    --use abort=sdk/index/contractAbort \
    --outFile "$out/$name.wasm"
  echo "built $out/$name.wasm"
done
