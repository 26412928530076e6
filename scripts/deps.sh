#!/usr/bin/env bash
# Installs the Debian 12 packages the build and tests need (no-op for those already present).
set -euo pipefail
pkgs=(build-essential cmake pkg-config libopenblas-dev libomp-dev nlohmann-json3-dev libcli11-dev
      libpng-dev libjpeg62-turbo-dev libwebp-dev zlib1g-dev libgtest-dev libcpp-httplib-dev)
if [ "${1:-}" = "--web" ]; then
  pkgs+=(chromium libvulkan1 emscripten node-acorn)
  # Node: keep whatever node/npm the machine has (e.g. NodeSource's nodejs bundles npm); else Debian's.
  command -v node >/dev/null && command -v npm >/dev/null || pkgs+=(nodejs npm)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
