# Session 18, call 2 (prepared, NOT run: the device was not lent again; for the next session, after
# scripts/device-bundle.sh and a wasm-noprefix build of the commit before 2d79fbf, if the comparison is
# still wanted): the split-K rule by waves, the MixFFN's depthwise + GLU kernel, the UNet resnets'
# shortcut adding h in its epilogue, the 4-wide norm loads, the CFG rows' shared prefix (against a build
# without it): f16 kernel tests, kernel benchmarks, whole runs with the fixture check, and a profile.
source scripts/device-env.sh
F() { grep --line-buffered -v 'warning\|\^\|^ *let\|^ *subgroup\|^ *left\|^ *&\|^$\|Compilation log\|^ *dst\|^ *[0-9]* warning' ; }
for f in depthwise lambda_local "conv2d {" _norm; do
  MOEBIUS_WEBGPU_F16=1 timeout 120 node tests/webgpu/test_kernels.mjs "$f" 2>&1 | F | grep -v '^ok' >> $OUT/kernels.log
done
grep "passed\|FAIL" $OUT/kernels.log
MOEBIUS_BENCH_F32=0 timeout 60 node tests/webgpu/bench_kernels.mjs lambda_local 2>&1 | F > $OUT/bench.log
MOEBIUS_BENCH_F32=0 timeout 60 node tests/webgpu/bench_kernels.mjs depthwise 2>&1 | F >> $OUT/bench.log
MOEBIUS_BENCH_F32=0 timeout 60 node tests/webgpu/bench_kernels.mjs _norm 2>&1 | F >> $OUT/bench.log
grep "TFLOP\|GB/s" $OUT/bench.log | sed 's/\[.*//'
timeout 110 node bench/bench_webgpu.mjs --dtype f16 --runs 3 --fixtures $MOEBIUS_FIXTURES/full --json $OUT/default.json 2>&1 | F > $OUT/default.log
echo "== default"; grep "UNet CFG step (median\|pipelined (no\|whole inpaint (API)\|peak during\|max |diff" $OUT/default.log | head -10
MOEBIUS_WASM=$PWD/.device/b/wasm-noprefix/moebius.js timeout 90 node bench/bench_webgpu.mjs --dtype f16 --runs 3 2>&1 | F > $OUT/noprefix.log
echo "== CFG rows without the shared prefix"; grep "UNet CFG step (median\|pipelined (no\|whole inpaint (API)" $OUT/noprefix.log
timeout 90 node bench/bench_webgpu.mjs --dtype f16 --runs 2 --profile 2>&1 | F > $OUT/profile.log
echo "== profile"; grep "UNet CFG step (mean\|VAE encode ×2: \|decode: " $OUT/profile.log
