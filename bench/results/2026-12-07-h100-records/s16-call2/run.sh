# Session 16, call 2: what read_write declarations cost. The same B1 build, same machine: a buffer per
# tensor (off), the arena with read_write only on
# the inputs bound to arena tensors (on, the default), the arena with every binding read_write (all-rw,
# call 1's code). Then the default with fixtures and timeline.
source scripts/device-env.sh
F() { grep --line-buffered -v 'warning\|\^\|^ *let\|^ *subgroup\|^ *left\|^ *&\|^$\|Compilation log\|^ *dst\|^ *[0-9]* warning' ; }
for m in off on all-rw; do
  MOEBIUS_ARENA=$m timeout 100 node bench/bench_webgpu.mjs --dtype f16 --runs 3 --json $OUT/$m.json 2>&1 | F > $OUT/$m.log
  echo "== $m"; grep "UNet CFG step (median\|whole inpaint\|^- runs\|peak during" $OUT/$m.log
done
timeout 150 node bench/bench_webgpu.mjs --dtype f16 --runs 5 --timeline --fixtures $MOEBIUS_FIXTURES/full --json $OUT/final.json 2>&1 | F > $OUT/final.log; sed -n '/^## f16/,/^batches of the encode/p' $OUT/final.log | head -32
timeout 60 node .device/b/dispatch_cost.mjs 2>&1 | F | tail -2
