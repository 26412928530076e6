#!/usr/bin/env bash
# run.sh: the whole peer benchmark on this machine, one command (bench/peers/README.md).
#
#   bench/peers/run.sh [--machine NAME] [--model full|tiny] [--threads N] [--repeat N] [--out DIR]
#                      [--onnx DIR] [--onnx-templates DIR] [--gpu auto|yes|no] [--peers LIST] [--report-dir DIR]
#
# Runs every peer this machine can run on the fixtures' 512×512 inpaint, one record per peer in the
# results folder (default /tmp/peers/results/<date>-<machine>-<model>), then bench/peers/report.mjs:
# the table on stdout and bench/results/<date>-<machine>.{md,json} (--report-dir to put them elsewhere).
#   CPU peers (every machine): ours_cpu (bench_cpu), ort_cpu (onnxruntime-node), and on a machine without
#     a GPU pytorch_eager_fp32 on the CPU (upstream.py, when python can import torch).
#   GPU peers (--gpu yes, or auto: nvidia-smi lists a GPU): ours_webgpu_f16/f32 (bench_webgpu.mjs on Dawn),
#     ort_web_webgpu (onnxruntime-web on Dawn), pytorch_eager_fp16/fp32 on CUDA (upstream.py).
# --onnx-templates DIR: where the ONNX files cannot be carried (device machines: 64 MiB), the templates of
# `onnx_weights.mjs strip` (a few MB): the ONNX files are remade from them into --onnx when missing there.
# --peers: a comma list of the peers above to run (default: all that apply); --threads: CPU threads
# for ours_cpu, ort_cpu and PyTorch on the CPU (default: all cores); --repeat: timed runs per peer (median).
# A peer that cannot run still gets a record saying why (the table shows 'n/a (reason)').
#
# Environment: MOEBIUS_FIXTURES (fixture root, default ../shared/fixtures), MOEBIUS_BENCH_CPU (bench_cpu
# binary; default build/release/bench_cpu, built there when missing), PYTHON (default python3),
# UPSTREAM_ARGS (extra upstream.py arguments, e.g. --upstream DIR --pysrc DIR), EXPORT_ARGS (extra
# export_onnx.py arguments; default: UPSTREAM_ARGS), MOEBIUS_DAWN_ARGS / MOEBIUS_DAWN_FEATURES / MOEBIUS_WASM (WebGPU peers).
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$repo"

machine="$(hostname -s 2>/dev/null || hostname)"
model=full
threads="$(nproc)"
repeat=3
out=""
onnx=""
templates=""
gpu=auto
peers=""
report_dir="$repo/bench/results"
while [ $# -gt 0 ]; do
    case "$1" in
        --machine) machine="$2"; shift 2 ;;
        --model) model="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
        --repeat) repeat="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --onnx) onnx="$2"; shift 2 ;;
        --onnx-templates) templates="$2"; shift 2 ;;
        --gpu) gpu="$2"; shift 2 ;;
        --peers) peers="$2"; shift 2 ;;
        --report-dir) report_dir="$2"; shift 2 ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument $1 (--help)" >&2; exit 2 ;;
    esac
done
date="$(date -u +%F)"
out="${out:-/tmp/peers/results/$date-$machine-$model}"
onnx="${onnx:-/tmp/peers/onnx-$model}"
fixtures="${MOEBIUS_FIXTURES:-$repo/../shared/fixtures}"
python="${PYTHON:-python3}"
mkdir -p "$out"
log="$out/run.log"

if [ "$gpu" = auto ]; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then gpu=yes; else gpu=no; fi
fi
if [ -z "$peers" ]; then
    peers="ours_cpu,ort_cpu"
    if [ "$gpu" = yes ]; then peers="ours_webgpu,ort_web_webgpu,pytorch_eager_fp16,pytorch_eager_fp32,$peers"
    else peers="$peers,pytorch_cpu_fp32"; fi
fi
want() { [[ ",$peers," == *",$1,"* ]]; }
say() { echo "== $*" | tee -a "$log"; }
# A record for a peer that could not run.
na() { node -e 'const [f, peer, why] = process.argv.slice(1); require("fs").writeFileSync(f, JSON.stringify({peer, error: why}, null, 1) + "\n")' "$out/$1.json" "$1" "$2"; }
have_torch() { "$python" -c 'import torch' >/dev/null 2>&1; }

say "peer benchmark: machine $machine, model $model, threads $threads, repeat $repeat, gpu $gpu, peers $peers -> $out"

# ---------------------------------------------------------------- ONNX export (for the ORT peers)
if { want ort_cpu || want ort_web_webgpu; } && [ ! -f "$onnx/unet.onnx" ]; then
    if [ -n "$templates" ] && [ -f "$templates/unet.template.onnx" ]; then
        say "ONNX files remade from $templates -> $onnx"
        node "$here/onnx_weights.mjs" fill --templates "$templates" --out "$onnx" 2>&1 | tee -a "$log"
    elif [ -f "$here/export_onnx.py" ] && have_torch; then
        say "ONNX export -> $onnx"
        # shellcheck disable=SC2086
        "$python" "$here/export_onnx.py" --model "$model" --fixtures "$fixtures" --out "$onnx" ${EXPORT_ARGS-${UPSTREAM_ARGS:-}} 2>&1 | tee -a "$log"
    else
        say "no ONNX export at $onnx and no torch to make one: the ORT peers will say so"
    fi
fi

# ---------------------------------------------------------------- CPU peers
if want ours_cpu; then
    bench_cpu="${MOEBIUS_BENCH_CPU:-$repo/build/release/bench_cpu}"
    # missing, or built before it had --fixtures (its usage line names the option): (re)build that target
    if [ ! -x "$bench_cpu" ] || ! "$bench_cpu" --usage 2>&1 | grep -q -- --fixtures; then
        say "building $bench_cpu"
        bdir="$(dirname "$bench_cpu")"
        { cmake -S "$repo" -B "$bdir" -DCMAKE_BUILD_TYPE=Release && cmake --build "$bdir" -j"$(nproc)" --target bench_cpu; } 2>&1 | tail -3 | tee -a "$log"
    fi
    say "ours_cpu"
    node "$here/ours.mjs" --peers cpu --model "$model" --fixtures "$fixtures" --out "$out" --threads "$threads" \
        --repeat "$repeat" --bench-cpu "$bench_cpu" 2>&1 | tee -a "$log"
fi
if want ort_cpu; then
    say "ort_cpu"
    node "$here/ort.mjs" --ep cpu --model "$model" --fixtures "$fixtures" --onnx "$onnx" --threads "$threads" \
        --repeat "$repeat" --json "$out/ort_cpu.json" 2>&1 | tee -a "$log"
fi
if want pytorch_cpu_fp32; then
    say "pytorch_eager_fp32 (CPU)"
    if [ -f "$here/upstream.py" ] && have_torch; then
        # shellcheck disable=SC2086
        "$python" "$here/upstream.py" --model "$model" --fixtures "$fixtures" --device cpu --dtype fp32 --threads "$threads" \
            --repeat "$repeat" --json "$out/pytorch_eager_fp32.json" ${UPSTREAM_ARGS:-} 2>&1 | tee -a "$log"
    else
        na pytorch_eager_fp32 "torch cannot be imported by $python on this machine"
    fi
fi

# ---------------------------------------------------------------- GPU peers
if want ours_webgpu; then
    say "ours_webgpu_f16 / ours_webgpu_f32"
    node "$here/ours.mjs" --peers webgpu --model "$model" --fixtures "$fixtures" --out "$out" --repeat "$repeat" 2>&1 | tee -a "$log"
fi
if want ort_web_webgpu; then
    say "ort_web_webgpu"
    node "$here/ort.mjs" --ep webgpu --model "$model" --fixtures "$fixtures" --onnx "$onnx" \
        --repeat "$repeat" --json "$out/ort_web_webgpu.json" 2>&1 | tee -a "$log"
fi
for dt in fp16 fp32; do
    want "pytorch_eager_$dt" || continue
    say "pytorch_eager_$dt (CUDA)"
    if [ -f "$here/upstream.py" ] && have_torch; then
        # shellcheck disable=SC2086
        "$python" "$here/upstream.py" --model "$model" --fixtures "$fixtures" --device cuda --dtype "$dt" \
            --repeat "$repeat" --json "$out/pytorch_eager_$dt.json" ${UPSTREAM_ARGS:-} 2>&1 | tee -a "$log"
    else
        na "pytorch_eager_$dt" "torch cannot be imported by $python on this machine"
    fi
done

# ---------------------------------------------------------------- report
kind=cpu
[ "$gpu" = yes ] && kind=gpu
say "report"
node "$here/report.mjs" --results "$out" --machine "$machine" --date "$date" --kind "$kind" --model "$model" \
    --fixtures "$fixtures" --out "$report_dir"
