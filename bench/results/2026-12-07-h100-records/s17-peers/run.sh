# Session 17, call 4: peers in one run (ours f16/f32, PyTorch eager fp16/fp32, onnxruntime-web WebGPU),
# then the batch timeline, then torch.compile fp16 if time is left. Everything lands in $OUT/r.tar.xz.
source scripts/device-env.sh
START=$(date +%s); left() { echo $(( $1 - ($(date +%s) - START) )); }
P=/tmp/peers-src; mkdir -p $P/diffusers-0.38
tar -xJf .device/peers/moebius-390735d.tar.xz -C $P
tar -xJf .device/peers/diffusers-0.38-src.tar.xz -C $P/diffusers-0.38
tar -xJf .device/peers/ortweb.tar.xz -C .device/b
R=/tmp/r; mkdir -p $R
FX=$MOEBIUS_FIXTURES
UP="--upstream $P/Moebius --diffusers-src $P/diffusers-0.38/src"
F() { grep --line-buffered -v 'warning\|\^\|^ *let\|^ *subgroup\|^ *left\|^ *&\|^$\|Compilation log' ; }
pack() { (cd /tmp && tar -cJf $OUT/r.tar.xz r); }
trap pack EXIT
nvidia-smi -L > $R/gpu.txt; python3 -c 'import torch; print(torch.__version__)' >> $R/gpu.txt 2>&1
timeout $(left 200) node bench/peers/ours.mjs --peers webgpu --model full --fixtures $FX --out $R --repeat 3 2>&1 | F | tee $R/ours.log | tail -5
for dt in fp16 fp32; do
  timeout $(left 280) python3 bench/peers/upstream.py --model full --device cuda --dtype $dt --repeat 3 $UP --json $R/pytorch_eager_$dt.json 2>&1 | tee $R/pytorch_$dt.log | tail -3
done
timeout $(left 330) python3 bench/peers/export_onnx.py --model full --out /tmp/peers/onnx-full $UP 2>&1 | tee $R/export.log | tail -3
timeout $(left 430) node bench/peers/ort.mjs --ep webgpu --model full --fixtures $FX --onnx /tmp/peers/onnx-full --repeat 3 --json $R/ort_web_webgpu.json 2>&1 | F | tee $R/ort.log | tail -3
timeout $(left 490) node bench/bench_webgpu.mjs --dtype f16 --runs 1 --timeline 2>&1 | F > $R/timeline.log; tail -30 $R/timeline.log
[ $(left 580) -gt 170 ] && timeout $(left 580) python3 bench/peers/upstream.py --model full --device cuda --dtype fp16 --repeat 3 --compile $UP --json $R/pytorch_compile_fp16.json 2>&1 | tee $R/compile.log | tail -3
echo "elapsed $(( $(date +%s) - START )) s"
