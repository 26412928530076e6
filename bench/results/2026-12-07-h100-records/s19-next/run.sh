# Session 19's suggestion for the next session's first call (prepared, NOT run): after
# scripts/device-bundle.sh, with .device/b/prev/ holding 6b21b64's engine and JS (git archive 6b21b64 src bench
# tests web package.json | tar -x -C .device/b/prev, plus that commit's build/wasm/moebius.{js,wasm}):
# the f16 kernel tests with and without Dawn's robustness pass, the time-embedding fold on its own
# (against 6b21b64), and a per-op profile. Robustness is off by default (scripts/device-env.sh).
source scripts/device-env.sh
F() { grep --line-buffered -v 'warning\|\^\|^ *let\|^ *subgroup\|^ *left\|^ *&\|^$\|Compilation log\|^ *dst\|^ *[0-9]* warning' ; }
R() { grep "UNet CFG step (median\|pipelined (no\|whole inpaint (API)\|max |diff" $1 | head -5; }
MOEBIUS_WEBGPU_F16=1 timeout 100 node tests/webgpu/test_kernels.mjs 2>&1 | F | grep -v '^ok' > $OUT/kernels.log
MOEBIUS_DAWN_FEATURES=allow_unsafe_apis,vulkan_enable_f16_on_nvidia MOEBIUS_WEBGPU_F16=1 timeout 100 node tests/webgpu/test_kernels.mjs 2>&1 | F | grep -v '^ok' > $OUT/kernels_robust.log
grep "passed\|FAIL" $OUT/kernels*.log
for i in 1 2; do
  MOEBIUS_WASM=$PWD/.device/b/prev/moebius.js timeout 45 node .device/b/prev/bench/bench_webgpu.mjs --dtype f16 --runs 3 2>&1 | F > $OUT/prev$i.log
  echo "== 6b21b64 ($i)"; R $OUT/prev$i.log
  timeout 45 node bench/bench_webgpu.mjs --dtype f16 --runs 3 2>&1 | F > $OUT/new$i.log
  echo "== this build ($i)"; R $OUT/new$i.log
done
timeout 90 node bench/bench_webgpu.mjs --dtype f16 --runs 2 --profile --fixtures $MOEBIUS_FIXTURES/full 2>&1 | F > $OUT/profile.log
echo "== profile"; grep "UNet CFG step (mean\|VAE encode ×2: \|decode: \|max |diff" $OUT/profile.log
