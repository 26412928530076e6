#!/usr/bin/env bash
# Packs what a GPU machine without Node or internet needs to run the WebGPU tests and benchmarks of
# this checkout (tests/gpu/full_model.mjs, tests/webgpu/*.mjs, bench/bench_webgpu.mjs) into ignored
# folders: .gl (the Vulkan/GL loader debs) and .device/b (node, npm webgpu for linux-x64 and pngjs,
# the wasm engine, the full-model fixture files those scripts read). ~40 MB. Run here after
# scripts/build-wasm.sh; on the GPU machine, carry [".gl", ".device/b"] and start the command with
#   source scripts/device-env.sh
# which unpacks them and exports the Dawn/Vulkan environment (see NOTES.md, "WebGPU on the H100").
# Extra files for a comparison build can go to .device/b/<name>/ by hand (e.g. an older moebius.wasm).
set -euo pipefail
cd "$(dirname "$0")/.."
fixtures=${MOEBIUS_FIXTURES:-../shared/fixtures}
b=.device/b
for p in /.device/ /.gl/; do
    grep -qxF "$p" .gitignore .git/info/exclude 2>/dev/null || echo "$p" >> .git/info/exclude
done
[[ -f build/wasm/moebius.wasm ]] || { echo "build/wasm/moebius.wasm missing: run scripts/build-wasm.sh" >&2; exit 1; }
[[ -d node_modules/webgpu/dist/linux-x64 ]] || { echo "node_modules/webgpu missing: run npm ci" >&2; exit 1; }

if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
    mkdir -p .gl /tmp/amd64/partial
    o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
    apt-get $o update >/dev/null
    (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi

rm -rf "$b"
mkdir -p "$b/node_modules/webgpu/dist" "$b/wasm" "$b/fixtures/full"
xz -T0 -9 -c "$(command -v node)" > "$b/node.xz"
cp node_modules/webgpu/{package.json,index.js,types.d.ts} "$b/node_modules/webgpu/"
mkdir -p "$b/node_modules/webgpu/dist/linux-x64"
xz -T0 -9 -c node_modules/webgpu/dist/linux-x64/dawn.node > "$b/dawn.node.xz"  # unpacked by device-env.sh
cp -r node_modules/pngjs "$b/node_modules/"
cp build/wasm/moebius.js build/wasm/moebius.wasm "$b/wasm/"
for f in unet_in.npy unet_ids.npy unet_out.npy noise.npy latents_steps.npy decoded.npy \
         vae_moments_image.npy vae_moments_masked.npy keys_unet.json keys_vae.json \
         image.png mask.png result.png meta.json model_config.json; do
    cp "$fixtures/full/$f" "$b/fixtures/full/"
done
du -sh .gl "$b"
