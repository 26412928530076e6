# Session 19, call 3: robustness off (Dawn toggle disable_robustness, for every WebGPU peer alike):
# the f16 kernel tests without Dawn's bounds clamping (an out-of-bounds access would now read garbage),
# then the peers in one run (ours f16 with the fixture check, PyTorch eager fp16/fp32, onnxruntime-web).
source scripts/device-env.sh
export MOEBIUS_DAWN_FEATURES=$MOEBIUS_DAWN_FEATURES,disable_robustness
F() { grep --line-buffered -v 'warning\|\^\|^ *let\|^ *subgroup\|^ *left\|^ *&\|^$\|Compilation log\|^ *dst\|^ *[0-9]* warning' ; }
R=/tmp/r; mkdir -p $R
pack() { (cd /tmp && tar -cJf $OUT/r.tar.xz r); }
trap pack EXIT
MOEBIUS_WEBGPU_F16=1 timeout 110 node tests/webgpu/test_kernels.mjs 2>&1 | F | grep -v '^ok' > $R/kernels_norobust.log
grep "passed\|FAIL" $R/kernels_norobust.log | head
START=$(date +%s); left() { echo $(( $1 - ($(date +%s) - START) )); }
P=/tmp/peers-src; mkdir -p $P/diffusers-0.38
tar -xJf .device/peers/moebius-390735d.tar.xz -C $P
tar -xJf .device/peers/diffusers-0.38-src.tar.xz -C $P/diffusers-0.38
tar -xJf .device/peers/ortweb.tar.xz -C .device/b
FX=$MOEBIUS_FIXTURES
UP="--upstream $P/Moebius --diffusers-src $P/diffusers-0.38/src"
nvidia-smi -L > $R/gpu.txt; python3 -c 'import torch; print(torch.__version__)' >> $R/gpu.txt 2>&1
timeout $(left 170) node bench/peers/ours.mjs --peers webgpu --model full --fixtures $FX --out $R --repeat 3 2>&1 | F | tee $R/ours.log | tail -5
for dt in fp16 fp32; do
  timeout $(left 250) python3 bench/peers/upstream.py --model full --device cuda --dtype $dt --repeat 3 $UP --json $R/pytorch_eager_$dt.json 2>&1 | tee $R/pytorch_$dt.log | tail -3
done
timeout $(left 300) python3 bench/peers/export_onnx.py --model full --out /tmp/peers/onnx-full $UP 2>&1 | tee $R/export.log | tail -3
timeout $(left 420) node bench/peers/ort.mjs --ep webgpu --model full --fixtures $FX --onnx /tmp/peers/onnx-full --repeat 3 --json $R/ort_web_webgpu.json 2>&1 | F | tee $R/ort.log | tail -3
echo "elapsed $(( $(date +%s) - START )) s"
source scripts/device-env.sh
R=/tmp/r; mkdir -p $R
P=/tmp/peers-src; mkdir -p $P/diffusers-0.38
[ -d $P/Moebius ] || tar -xJf .device/peers/moebius-390735d.tar.xz -C $P
[ -d $P/diffusers-0.38/src ] || tar -xJf .device/peers/diffusers-0.38-src.tar.xz -C $P/diffusers-0.38
UP="--upstream $P/Moebius --diffusers-src $P/diffusers-0.38/src"
timeout 280 python3 bench/peers/upstream.py --model full --device cuda --dtype fp16 --repeat 3 --compile $UP --json $OUT/pytorch_compile_fp16.json 2>&1 | tee $OUT/compile.log | tail -3
