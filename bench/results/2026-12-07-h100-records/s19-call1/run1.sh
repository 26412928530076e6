source scripts/device-env.sh
F() { grep --line-buffered -v 'warning\|\^\|^ *let\|^ *subgroup\|^ *left\|^ *&\|^$\|Compilation log\|^ *dst\|^ *[0-9]* warning' ; }
T0=$(date +%s)
for f in depthwise lambda_local "conv2d {" _norm; do
  MOEBIUS_WEBGPU_F16=1 timeout 120 node tests/webgpu/test_kernels.mjs "$f" 2>&1 | F | grep -v '^ok' >> $OUT/kernels.log
done
grep "passed\|FAIL" $OUT/kernels.log
MOEBIUS_BENCH_F32=0 timeout 60 node tests/webgpu/bench_kernels.mjs lambda_local 2>&1 | F > $OUT/bench.log
MOEBIUS_BENCH_F32=0 timeout 60 node tests/webgpu/bench_kernels.mjs depthwise 2>&1 | F >> $OUT/bench.log
MOEBIUS_BENCH_F32=0 timeout 60 node tests/webgpu/bench_kernels.mjs _norm 2>&1 | F >> $OUT/bench.log
grep "TFLOP\|GB/s" $OUT/bench.log | sed 's/\[.*//'
echo "t=$(( $(date +%s)-T0 ))s"
timeout 110 node bench/bench_webgpu.mjs --dtype f16 --runs 3 --fixtures $MOEBIUS_FIXTURES/full --json $OUT/default.json 2>&1 | F > $OUT/default.log
echo "== default"; grep "UNet CFG step (median\|pipelined (no\|whole inpaint (API)\|peak during\|max |diff" $OUT/default.log | head -10
echo "t=$(( $(date +%s)-T0 ))s"
