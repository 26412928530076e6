#!/usr/bin/env bash
# Builds the WebAssembly engine: build/wasm/moebius.js (ES module glue, default export
# createMoebiusModule) + build/wasm/moebius.wasm, and the pthreads variant build/wasm/moebius-mt.{js,wasm,worker.js}
# (needs cross-origin isolation in browsers). Needs emscripten (Debian: scripts/deps.sh --web).
#   scripts/build-wasm.sh          configure (if needed) and build
#   scripts/build-wasm.sh --test   ... then run the Node tests of both CPU builds (npm run test:wasm, test:wasm-mt)
set -euo pipefail
cd "$(dirname "$0")/.."
# emcc's JS optimizer needs acorn, which Debian installs as a global Node module.
export NODE_PATH=${NODE_PATH:-/usr/share/nodejs}
emcmake cmake -S . -B build/wasm -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/wasm -j"$(nproc)" --target moebius_wasm moebius_wasm_mt
ls -l build/wasm/moebius.js build/wasm/moebius.wasm build/wasm/moebius-mt.*
if [ "${1:-}" = "--test" ]; then
  node tests/wasm/test_wasm_cpu.mjs
  MOEBIUS_WASM=build/wasm/moebius-mt.js node tests/wasm/test_wasm_cpu.mjs
fi
