# Session 15, call 1: staged conv (f16 tests, kernel times), whole runs default vs staged-128, timeline.
source scripts/device-env.sh
F() { grep --line-buffered -v 'warning\|\^\|^ *let\|^ *subgroup\|^ *left\|^ *&\|^$\|Compilation log\|^ *dst\|^ *[0-9]* warning' ; }
MOEBIUS_WEBGPU_F16=1 timeout 150 node tests/webgpu/test_kernels.mjs conv2d 2>&1 | F | grep -v '^ok' | tee $OUT/kernels.log | tail -40
MOEBIUS_BENCH_TILES=matrix-direct-wide,matrix-staged-128 timeout 80 node tests/webgpu/bench_kernels.mjs conv3x3 2>&1 | F | tee $OUT/bk3.log
MOEBIUS_BENCH_TILES=matrix-direct-32,matrix-staged-128 timeout 40 node tests/webgpu/bench_kernels.mjs conv1x1 2>&1 | F | tee $OUT/bk1.log
timeout 130 node bench/bench_webgpu.mjs --dtype f16 --runs 3 --timeline --fixtures $MOEBIUS_FIXTURES/full --json $OUT/default.json 2>&1 | F > $OUT/default.log; sed -n '/^## f16/,/^## Targets/p' $OUT/default.log | head -30; grep -A4 "^| stage | batches" $OUT/default.log
if grep -q 'FAIL.*staged\|compile.*FAIL\|FAIL compile' $OUT/kernels.log; then echo "staged kernel failed its tests: no staged whole run"; else
MOEBIUS_MATRIX_CONV=staged-128 timeout 120 node bench/bench_webgpu.mjs --dtype f16 --runs 3 --fixtures $MOEBIUS_FIXTURES/full --json $OUT/staged.json 2>&1 | F > $OUT/staged.log; sed -n '/^## f16/,/^## Targets/p' $OUT/staged.log | head -24; fi
