# Session 16, call 3: why a UNet step is 1.3 ms slower in the tensor arena (call 2: 22.2 vs 20.9 ms).
# rw-only: no arena, every binding read_write (is it the declarations?); the arena with tensors at
# 2 MiB offsets (is it their placement?); off: no arena (this machine's reference).
source scripts/device-env.sh
F() { grep --line-buffered -v 'warning\|\^\|^ *let\|^ *subgroup\|^ *left\|^ *&\|^$\|Compilation log\|^ *dst\|^ *[0-9]* warning' ; }
run() { timeout 75 node bench/bench_webgpu.mjs --dtype f16 --runs 2 --json $OUT/$1.json 2>&1 | F > $OUT/$1.log; echo "== $1"; grep "UNet CFG step (median\|pipelined (no\|peak during" $OUT/$1.log; }
MOEBIUS_ARENA=rw-only run rw-only
MOEBIUS_ARENA_ALIGN=2097152 run align2M
MOEBIUS_ARENA=off run off
