#!/usr/bin/env bash
# The GPU figures in one call of a lent machine (on an H100 the rows compile in about a
# minute each and the whole run, with layer_forms, takes the call's 585 s or more: give the
# call 595 s; every row's JSON is written as soon as it is measured). The rows that decide the bf16
# MFU target come first, so that a call cut short still has them: the train step at 256^2
# in bf16 at BIG (with an XLA profile), at BIG with the norm+ReLU gradient of before
# (autodiff) and at twice BIG; then, if LAYER_GROUPS names any, alternative forms of
# layers (layer_forms.py; every group there has been measured on an H100); then bf16 at
# the smaller batches and float32 at all.
# (benchmarks/train_step.py --two_pass_norm adds the norm statistics before, for comparison.)
# Results land in $OUT: log.txt, step_*.json, traces.tgz (the optimized HLO and a 3-step
# XSpace of the profiled row, for TensorBoard/XProf), layer_forms.json if run.
#   OUT=/tmp/gpu bash benchmarks/gpu_256.sh
# To try the script on CPU:
#   SIZE=32 BATCHES=1,2 EXTRA="--ngf=8 --ndf=8 --steps=2 --warmup=1" OUT=... bash ...
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu_256}
SIZE=${SIZE:-256}
BATCHES=${BATCHES:-1,8,32}
LAYER_GROUPS=${LAYER_GROUPS:-}
LAYER_FORMS=${LAYER_FORMS:-}
EXTRA=${EXTRA:-}
BIG=${BATCHES##*,}
mkdir -p "$OUT/traces"
step() {  # step NAME ARGS...: one train_step.py run writing $OUT/step_NAME.json
  local name=$1; shift
  python3 benchmarks/train_step.py --sizes="$SIZE" --peak_tflops_bfloat16=989.4 \
    --peak_tflops_float32=494.7 --peak_source="H100/H200 SXM spec sheet, dense (float32: TF32)" \
    --out="$OUT/step_$name.json" "$@" $EXTRA
}
{
  nvidia-smi --query-gpu=name,clocks.max.sm,power.limit --format=csv 2>/dev/null
  step bf16_big --dtypes=bfloat16 --batch_sizes="$BIG" --trace_dir="$OUT/traces"
  tar czf "$OUT/traces.tgz" -C "$OUT" traces && rm -r "$OUT/traces"
  step bf16_autodiff --dtypes=bfloat16 --batch_sizes="$BIG" --autodiff_norm_relu
  step bf16_double --dtypes=bfloat16 --batch_sizes="$((2 * BIG))"
  if [ -n "$LAYER_GROUPS" ]; then
    python3 benchmarks/layer_forms.py --batch="$BIG" --size="$SIZE" --reps=10 \
      --groups="$LAYER_GROUPS" --forms="$LAYER_FORMS" --out="$OUT/layer_forms.json"
  fi
  step bf16 --dtypes=bfloat16 --batch_sizes="${BATCHES%,*}"
  step f32 --dtypes=float32 --batch_sizes="$BATCHES"
} 2>&1 | grep --line-buffered -v "cuda_timer.cc\|DeprecationWarning: builtin type\|op = dict(ev.stats)" \
  | tee "$OUT/log.txt"
