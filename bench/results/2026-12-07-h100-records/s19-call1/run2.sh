source scripts/device-env.sh
F() { grep --line-buffered -v 'warning\|\^\|^ *let\|^ *subgroup\|^ *left\|^ *&\|^$\|Compilation log\|^ *dst\|^ *[0-9]* warning' ; }
MOEBIUS_WASM=$PWD/.device/b/wasm-noprefix/moebius.js timeout 90 node bench/bench_webgpu.mjs --dtype f16 --runs 3 2>&1 | F > $OUT/noprefix.log
echo "== CFG rows without the shared prefix"; grep "UNet CFG step (median\|pipelined (no\|whole inpaint (API)" $OUT/noprefix.log
timeout 90 node bench/bench_webgpu.mjs --dtype f16 --runs 2 --profile 2>&1 | F > $OUT/profile.log
echo "== profile"; grep "UNet CFG step (mean\|VAE encode ×2: \|decode: " $OUT/profile.log
