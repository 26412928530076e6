# Session 17, call 1: which kernels lose speed when their inputs are declared read_write (the tensor
# arena's cost: UNet step 22.2 vs 20.8 ms). Kernel benchmark with read-only inputs against every binding
# read_write, then per-op profiles of whole runs with no arena (off) against every binding read_write (rw-only).
source scripts/device-env.sh
F() { grep --line-buffered -v 'warning\|\^\|^ *let\|^ *subgroup\|^ *left\|^ *&\|^$\|Compilation log\|^ *dst\|^ *[0-9]* warning' ; }
export MOEBIUS_BENCH_F32=0 MOEBIUS_BENCH_TILES=matrix-direct-32,matrix-staged-64x128,matrix-staged-128
for rw in inputs-read-only all; do
  MOEBIUS_BENCH_RW=$rw timeout 110 node tests/webgpu/bench_kernels.mjs 2>&1 | F > $OUT/kernels-$rw.log; echo "== kernels $rw: $(grep -c ' ms ' $OUT/kernels-$rw.log) cases"
done
for m in off rw-only; do
  MOEBIUS_ARENA=$m timeout 130 node bench/bench_webgpu.mjs --dtype f16 --runs 2 --profile --json $OUT/profile-$m.json 2>&1 | F > $OUT/profile-$m.log
  echo "== profile $m"; grep "UNet CFG step (median\|pipelined (no\|UNet CFG step (mean" $OUT/profile-$m.log
done
