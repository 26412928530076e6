# Session 17, call 2: the tensor arena in two spaces (inputs read-only where in the other space than the
# output): f16 kernel tests (arena cases), whole runs with timeline and fixture check, against no arena
# (off) on the same machine, and a per-op profile.
source scripts/device-env.sh
F() { grep --line-buffered -v 'warning\|\^\|^ *let\|^ *subgroup\|^ *left\|^ *&\|^$\|Compilation log\|^ *dst\|^ *[0-9]* warning' ; }
MOEBIUS_WEBGPU_F16=1 timeout 200 node tests/webgpu/test_kernels.mjs 2>&1 | F | grep -v '^ok' | tee $OUT/kernels.log | tail -6
timeout 150 node bench/bench_webgpu.mjs --dtype f16 --runs 5 --timeline --fixtures $MOEBIUS_FIXTURES/full --json $OUT/spaces.json 2>&1 | F > $OUT/spaces.log
echo "== spaces"; grep "UNet CFG step (median\|pipelined (no\|whole inpaint (API)\|peak during\|tensor arena\|max |diff\|latents\|decoded" $OUT/spaces.log | head -12
MOEBIUS_ARENA=off timeout 100 node bench/bench_webgpu.mjs --dtype f16 --runs 3 --json $OUT/off.json 2>&1 | F > $OUT/off.log
echo "== off"; grep "UNet CFG step (median\|pipelined (no\|whole inpaint (API)\|peak during" $OUT/off.log
timeout 100 node bench/bench_webgpu.mjs --dtype f16 --runs 2 --profile --json $OUT/profile.json 2>&1 | F > $OUT/profile.log
echo "== profile"; grep "UNet CFG step (mean\|VAE encode ×2: \|decode: " $OUT/profile.log
