#!/usr/bin/env bash
# The test command: installs what the tests need, builds, and runs every test.
#   release build: all tests (unit, parity against ../shared/fixtures, full-size model, CLI)
#   sanitize build: the same minus the slow full-size ones, under AddressSanitizer + UBSan
#   WebAssembly build and the JS/WebGPU/browser tests (npm test)
# Fixtures: $MOEBIUS_FIXTURES, else ../shared/fixtures next to the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --web
jobs=$(nproc)

cmake --preset release >/dev/null
cmake --build --preset release -j"$jobs"
ctest --preset release -j1

cmake --preset sanitize >/dev/null
cmake --build --preset sanitize -j"$jobs"
ctest --preset sanitize -j1

# WebAssembly build + JS tests: WGSL kernels, the WASM engine on the CPU, the WebGPU backend through
# WASM + Dawn (SwiftShader) in Node and in headless Chromium, the web app.
scripts/build-wasm.sh
npm ci --no-audit --no-fund
npm test
echo "all tests passed"
