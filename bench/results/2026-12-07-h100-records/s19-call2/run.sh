source scripts/device-env.sh
F() { grep --line-buffered -v 'warning\|\^\|^ *let\|^ *subgroup\|^ *left\|^ *&\|^$\|Compilation log\|^ *dst\|^ *[0-9]* warning' ; }
T0=$(date +%s)
timeout 60 node bench/probe_gpu.mjs 2>&1 | F | tee $OUT/probe.log
for f in few-outputs "matmul {" lambda_global; do
  MOEBIUS_WEBGPU_F16=1 timeout 150 node tests/webgpu/test_kernels.mjs "$f" 2>&1 | F | grep -v '^ok' >> $OUT/kernels.log
done
grep "passed\|FAIL" $OUT/kernels.log
echo "t=$(( $(date +%s)-T0 ))s"
MOEBIUS_BENCH_F32=0 timeout 60 node tests/webgpu/bench_kernels.mjs "VAE out" 2>&1 | F > $OUT/bench.log
MOEBIUS_BENCH_F32=0 timeout 60 node tests/webgpu/bench_kernels.mjs lambda_global 2>&1 | F >> $OUT/bench.log
MOEBIUS_BENCH_F32=0 MOEBIUS_BENCH_TILES=matrix-direct-32,matrix-direct-32:pipe=1 timeout 90 node tests/webgpu/bench_kernels.mjs conv1x1 2>&1 | F >> $OUT/bench.log
grep "TFLOP\|GB/s" $OUT/bench.log | sed 's/\[.*//'
echo "t=$(( $(date +%s)-T0 ))s"
R() { grep "UNet CFG step (median\|pipelined (no\|whole inpaint (API)\|max |diff" $1 | head -5; }
MOEBIUS_WASM=$PWD/.device/b/base/wasm/moebius.js timeout 80 node .device/b/base/bench/bench_webgpu.mjs --dtype f16 --runs 3 2>&1 | F > $OUT/base.log
echo "== session start (3b0128b)"; R $OUT/base.log
timeout 100 node bench/bench_webgpu.mjs --dtype f16 --runs 3 --fixtures $MOEBIUS_FIXTURES/full 2>&1 | F > $OUT/default.log
echo "== new default (few-outputs 3x3, lambda_global regs, VAE attention as convs)"; R $OUT/default.log
MOEBIUS_GEMM_PIPE=on timeout 80 node bench/bench_webgpu.mjs --dtype f16 --runs 3 2>&1 | F > $OUT/pipe.log
echo "== GEMM pipe"; R $OUT/pipe.log
MOEBIUS_DAWN_FEATURES=$MOEBIUS_DAWN_FEATURES,disable_robustness timeout 80 node bench/bench_webgpu.mjs --dtype f16 --runs 3 2>&1 | F > $OUT/norobust.log
echo "== robustness off"; R $OUT/norobust.log
echo "t=$(( $(date +%s)-T0 ))s"
