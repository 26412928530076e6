# Session 16, call 1: session 15's refactor (f16 kernel tests), the tensor arena (record-only, whole runs
# with timeline and fixtures) against the previous per-tensor buffers with the batched encode (B2 build,
# MOEBIUS_ARENA=off) on the same machine, and a per-op profile.
source scripts/device-env.sh
F() { grep --line-buffered -v 'warning\|\^\|^ *let\|^ *subgroup\|^ *left\|^ *&\|^$\|Compilation log\|^ *dst\|^ *[0-9]* warning' ; }
MOEBIUS_WEBGPU_F16=1 timeout 200 node tests/webgpu/test_kernels.mjs 2>&1 | F | grep -v '^ok' | tee $OUT/kernels.log | tail -25
timeout 60 node bench/bench_webgpu.mjs --record-only --dtype f16 --runs 3 2>&1 | F | tail -4 | tee $OUT/record.log
timeout 150 node bench/bench_webgpu.mjs --dtype f16 --runs 5 --timeline --fixtures $MOEBIUS_FIXTURES/full --json $OUT/arena.json 2>&1 | F > $OUT/arena.log; sed -n '/^## f16/,/^## Targets/p' $OUT/arena.log | head -45
MOEBIUS_ARENA=off MOEBIUS_WASM=$PWD/.device/b/wasm-b2/moebius.js timeout 120 node bench/bench_webgpu.mjs --dtype f16 --runs 5 --json $OUT/base.json 2>&1 | F > $OUT/base.log; sed -n '/^## f16/,/^- runs/p' $OUT/base.log
timeout 100 node bench/bench_webgpu.mjs --dtype f16 --runs 2 --profile --json $OUT/profile.json 2>&1 | F > $OUT/profile.log; sed -n "/^### GPU time per op/,/^## Targets/p" $OUT/profile.log | head -60
