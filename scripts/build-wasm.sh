#!/usr/bin/env bash
# Builds the WebAssembly engine: build/wasm/moebius.js (ES module glue, default export
# createMoebiusModule) + build/wasm/moebius.wasm. Needs emscripten (Debian: scripts/deps.sh --web).
#   scripts/build-wasm.sh          configure (if needed) and build
#   scripts/build-wasm.sh --test   ... then run the Node tests of the CPU build (npm run test:wasm)
set -euo pipefail
cd "$(dirname "$0")/.."
# emcc's JS optimizer needs acorn, which Debian installs as a global Node module.
export NODE_PATH=${NODE_PATH:-/usr/share/nodejs}
emcmake cmake -S . -B build/wasm -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/wasm -j"$(nproc)" --target moebius_wasm
ls -l build/wasm/moebius.js build/wasm/moebius.wasm
if [ "${1:-}" = "--test" ]; then
  node tests/wasm/test_wasm_cpu.mjs
fi
