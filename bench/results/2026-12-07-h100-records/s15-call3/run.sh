# Session 15, call 3: staged GEMM (f16 tests, kernel times), layer-norm widths, whole runs: default (first batch 8,
# reduce-k content lambda) with profile+timeline+fixtures; MOEBIUS_MATRIX_GEMM=staged-64x128; first batch 128.
source scripts/device-env.sh
F() { grep --line-buffered -v 'warning\|\^\|^ *let\|^ *subgroup\|^ *left\|^ *&\|^$\|Compilation log\|^ *dst\|^ *[0-9]* warning' ; }
for f in matmul conv2d; do MOEBIUS_WEBGPU_F16=1 timeout 80 node tests/webgpu/test_kernels.mjs $f 2>&1 | F | grep -v '^ok' | tail -12; done | tee $OUT/kernels.log
MOEBIUS_BENCH_TILES=matrix-direct-32,matrix-staged-64x128 timeout 60 node tests/webgpu/bench_kernels.mjs conv1x1 2>&1 | F | grep "^f16" | tee $OUT/bk1.log
MOEBIUS_BENCH_TILES=none timeout 40 node tests/webgpu/bench_kernels.mjs layer_norm 2>&1 | F | grep "^f16" | tee $OUT/ln.log
timeout 150 node bench/bench_webgpu.mjs --dtype f16 --runs 3 --profile --timeline --fixtures $MOEBIUS_FIXTURES/full --json $OUT/new.json 2>&1 | F > $OUT/new.log; sed -n '/^## f16/,/^- GPU memory/p' $OUT/new.log; grep -A4 "^| stage | batches" $OUT/new.log | head -5; grep "^events\|matmul B2 80x1024\|^| matmul" $OUT/new.log
if grep -q 'FAIL' $OUT/kernels.log; then echo "kernel failures: no staged GEMM run"; else
MOEBIUS_MATRIX_GEMM=staged-64x128 timeout 100 node bench/bench_webgpu.mjs --dtype f16 --runs 3 --fixtures $MOEBIUS_FIXTURES/full --json $OUT/sgemm.json 2>&1 | F > $OUT/sgemm.log; sed -n '/^## f16/,/^- vs the fixtures/p' $OUT/sgemm.log; fi
MOEBIUS_FIRST_BATCH=128 timeout 90 node bench/bench_webgpu.mjs --dtype f16 --runs 3 --timeline --json $OUT/fb128.json 2>&1 | F > $OUT/fb128.log; sed -n '/^## f16/,/^- runs/p' $OUT/fb128.log; grep -A4 "^| stage | batches" $OUT/fb128.log | head -5; grep "^events" $OUT/fb128.log
