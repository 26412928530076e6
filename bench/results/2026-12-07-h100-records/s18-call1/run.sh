# Session 18, call 1: split-K for the per-tap matrix convs (small grids), GroupNorm partial chunks by
# grid size, the UNet's upsamplers through upsample_nearest2x_conv2d: f16 kernel tests (conv2d,
# group_norm, plans), kernel benchmarks, whole runs (auto against conv split off) and a profile.
source scripts/device-env.sh
F() { grep --line-buffered -v 'warning\|\^\|^ *let\|^ *subgroup\|^ *left\|^ *&\|^$\|Compilation log\|^ *dst\|^ *[0-9]* warning' ; }
for f in conv2d group_norm plan; do
  MOEBIUS_WEBGPU_F16=1 timeout 120 node tests/webgpu/test_kernels.mjs $f 2>&1 | F | grep -v '^ok' > $OUT/kernels-$f.log; tail -3 $OUT/kernels-$f.log
done
MOEBIUS_BENCH_F32=0 MOEBIUS_BENCH_TILES="matrix-staged-128:csplit=off,matrix-staged-128,matrix-staged-128:csplit=2,matrix-staged-128:csplit=4,matrix-direct:csplit=off,matrix-direct:csplit=3" \
  timeout 150 node tests/webgpu/bench_kernels.mjs conv3x3 2>&1 | F > $OUT/bench-conv.log
MOEBIUS_BENCH_F32=0 timeout 40 node tests/webgpu/bench_kernels.mjs group_norm 2>&1 | F > $OUT/bench-gn.log
grep -c TFLOP $OUT/bench-conv.log; grep -c GB/s $OUT/bench-gn.log
timeout 110 node bench/bench_webgpu.mjs --dtype f16 --runs 3 --fixtures $MOEBIUS_FIXTURES/full --json $OUT/auto.json 2>&1 | F > $OUT/auto.log
echo "== auto"; grep "UNet CFG step (median\|pipelined (no\|whole inpaint (API)\|peak during\|max |diff\|latents\|decoded" $OUT/auto.log | head -10
MOEBIUS_CONV_SPLIT_K=off timeout 90 node bench/bench_webgpu.mjs --dtype f16 --runs 3 --json $OUT/off.json 2>&1 | F > $OUT/off.log
echo "== conv split off"; grep "UNet CFG step (median\|pipelined (no\|whole inpaint (API)\|peak during" $OUT/off.log
timeout 90 node bench/bench_webgpu.mjs --dtype f16 --runs 2 --profile --json $OUT/profile.json 2>&1 | F > $OUT/profile.log
echo "== profile"; grep "UNet CFG step (mean\|VAE encode ×2: \|decode: " $OUT/profile.log
