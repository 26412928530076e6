# Session 19, call 4 (robustness off, device-env's defaults): the resnets' time-embedding fold and the
# group norms without a combine pass (against 6b21b64's engine and JS), and a per-op profile.
source scripts/device-env.sh
F() { grep --line-buffered -v 'warning\|\^\|^ *let\|^ *subgroup\|^ *left\|^ *&\|^$\|Compilation log\|^ *dst\|^ *[0-9]* warning' ; }
R() { grep "UNet CFG step (median\|pipelined (no\|whole inpaint (API)\|max |diff\|VAE encode ×2 (API\|VAE decode (API" $1 | head -7; }
T0=$(date +%s)
MOEBIUS_WEBGPU_F16=1 timeout 60 node tests/webgpu/test_kernels.mjs group_norm 2>&1 | F | grep -v '^ok' > $OUT/kernels.log; grep "passed\|FAIL" $OUT/kernels.log
MOEBIUS_WASM=$PWD/.device/b/prev/moebius.js timeout 70 node .device/b/prev/bench/bench_webgpu.mjs --dtype f16 --runs 3 2>&1 | F > $OUT/prev.log
echo "== before the temb fold (6b21b64: engine and JS)"; R $OUT/prev.log
timeout 90 node bench/bench_webgpu.mjs --dtype f16 --runs 3 --fixtures $MOEBIUS_FIXTURES/full --json $OUT/default.json 2>&1 | F > $OUT/default.log
echo "== default"; R $OUT/default.log
echo "t=$(( $(date +%s)-T0 ))s"
timeout 90 node bench/bench_webgpu.mjs --dtype f16 --runs 2 --profile 2>&1 | F > $OUT/profile.log
echo "== profile"; grep "UNet CFG step (mean\|VAE encode ×2: \|decode: " $OUT/profile.log
echo "t=$(( $(date +%s)-T0 ))s"
