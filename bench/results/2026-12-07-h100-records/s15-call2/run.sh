# Session 15, call 2: record-only CPU costs per stage; whole run (staged default) with profile, timeline, fixtures.
source scripts/device-env.sh
F() { grep --line-buffered -v 'warning\|\^\|^ *let\|^ *subgroup\|^ *left\|^ *&\|^$\|Compilation log\|^ *dst\|^ *[0-9]* warning' ; }
timeout 90 node bench/bench_webgpu.mjs --record-only --dtype f16 --runs 2 2>&1 | F | tee $OUT/record.log
timeout 200 node bench/bench_webgpu.mjs --dtype f16 --runs 3 --profile --timeline --fixtures $MOEBIUS_FIXTURES/full --json $OUT/staged.json 2>&1 | F > $OUT/staged.log; sed -n '/^## f16/,/^## Targets/p' $OUT/staged.log | head -60
