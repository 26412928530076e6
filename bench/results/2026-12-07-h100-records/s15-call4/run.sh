# Session 15, call 4: staged GEMM default (M >= 640, K <= 1280) vs direct; LN widths; record-only step 1; profile.
source scripts/device-env.sh
F() { grep --line-buffered -v 'warning\|\^\|^ *let\|^ *subgroup\|^ *left\|^ *&\|^$\|Compilation log\|^ *dst\|^ *[0-9]* warning' ; }
timeout 60 node bench/bench_webgpu.mjs --record-only --dtype f16 --runs 2 2>&1 | F | tail -3 | tee $OUT/record.log
timeout 150 node bench/bench_webgpu.mjs --dtype f16 --runs 3 --profile --fixtures $MOEBIUS_FIXTURES/full --json $OUT/new.json 2>&1 | F > $OUT/new.log; sed -n '/^## f16/,/^- vs the fixtures/p' $OUT/new.log
MOEBIUS_MATRIX_GEMM=direct timeout 90 node bench/bench_webgpu.mjs --dtype f16 --runs 3 --json $OUT/direct.json 2>&1 | F > $OUT/direct.log; sed -n '/^## f16/,/^- runs/p' $OUT/direct.log
timeout 90 node bench/bench_webgpu.mjs --dtype f16 --runs 3 --json $OUT/new2.json 2>&1 | F > $OUT/new2.log; sed -n '/^## f16/,/^- runs/p' $OUT/new2.log
