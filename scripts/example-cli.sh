#!/usr/bin/env bash
# Builds the native engine and inpaints an example with the CLI (no browser needed).
#   Model: $MOEBIUS_MODEL (a file made by `moebius convert` from the official weights), else a model with
#   the fixtures' synthetic weights (`moebius synth --config tiny`; its output is noise inside the hole,
#   but every number matches upstream).
#   Image/mask: $MOEBIUS_IMAGE / $MOEBIUS_MASK, else the reference fixtures' example.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)" --target moebius
bin=build/release/moebius
out=build/example
mkdir -p "$out"
fixtures=${MOEBIUS_FIXTURES:-../shared/fixtures}
model=${MOEBIUS_MODEL:-}
if [ -z "$model" ]; then
  model=$out/tiny-synthetic.safetensors
  [ -f "$model" ] || "$bin" synth --config tiny -o "$model"
fi
image=${MOEBIUS_IMAGE:-$fixtures/tiny/image.png}
mask=${MOEBIUS_MASK:-$fixtures/tiny/mask.png}
"$bin" info "$model"
"$bin" inpaint --model "$model" --image "$image" --mask "$mask" -o "$out/result.png" --seed 0
echo "result: $out/result.png"
