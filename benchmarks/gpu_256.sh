#!/usr/bin/env bash
# The GPU figures in one call of a lent machine (about 8 minutes on an H200): which form
# of the costly layers is fastest (layer_forms.py), then the train step at 256^2 for
# batch 1, 8, 32 in bf16 and float32, with an XLA profile of each bf16 row. Results land
# in $OUT: log.txt, layer_forms.json, step_bfloat16.json, step_float32.json, traces.tgz
# (per bf16 row the optimized HLO and a 3-step XSpace, for TensorBoard/XProf; ~7 MB).
#   OUT=/tmp/gpu bash benchmarks/gpu_256.sh
# To try the script on CPU: SIZE=32 BATCHES=1,2 EXTRA="--ngf=8 --ndf=8 --steps=2" OUT=... bash ...
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu_256}
SIZE=${SIZE:-256}
BATCHES=${BATCHES:-1,8,32}
EXTRA=${EXTRA:-}
mkdir -p "$OUT/traces"
{
  nvidia-smi --query-gpu=name,clocks.max.sm,power.limit --format=csv 2>/dev/null
  python3 benchmarks/layer_forms.py --batch="${BATCHES##*,}" --size="$SIZE" --reps=20 \
    --out="$OUT/layer_forms.json"
  for dtype in bfloat16 float32; do
    trace=""
    [ $dtype = bfloat16 ] && trace=--trace_dir="$OUT/traces"
    python3 benchmarks/train_step.py --sizes="$SIZE" --batch_sizes="$BATCHES" --dtypes=$dtype \
      --peak_tflops_bfloat16=989.4 --peak_tflops_float32=494.7 \
      --peak_source="H100/H200 SXM spec sheet, dense (float32: TF32)" \
      --out="$OUT/step_$dtype.json" $trace $EXTRA
  done
} 2>&1 | grep --line-buffered -v "cuda_timer.cc\|DeprecationWarning: builtin type\|op = dict(ev.stats)" \
  | tee "$OUT/log.txt"
tar czf "$OUT/traces.tgz" -C "$OUT" traces && rm -r "$OUT/traces"
