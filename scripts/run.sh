#!/usr/bin/env bash
# The run command: installs what it needs, builds everything (native CLI, WebAssembly engine, the web
# app in web/dist/) and serves the app locally with the COOP/COEP headers threads need; prints its URL.
#   PORT=8080 (default) · HOST=127.0.0.1 (default) · BASE=/ (serve under a sub-path, e.g. /moebius/)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --web
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)" --target moebius
scripts/build-web.sh
exec node scripts/serve.mjs --root web/dist --port "${PORT:-8080}" --host "${HOST:-127.0.0.1}" --base "${BASE:-/}"
