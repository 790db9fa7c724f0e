"""Times the jitted CycleGAN train step: compile time, ms/step, images/s, TFLOP/s, MFU.

python benchmarks/train_step.py --sizes=64,128 --batch_sizes=1 --dtypes=float32 \
    --peak_tflops_float32=0.3 --peak_source="measured CPU matmul"

FLOPs are analytic (conv multiply-adds x 2, as `torch.utils.flop_counter` counts the
official model's convolutions): one image-iteration is 18 generator forwards (6 forwards,
backward = 2 forwards) plus 15.15 discriminator forwards, which reproduces the 116.7 /
468.8 / 1879.2 GFLOP the flop counter measured on the official model at 64 / 128 / 256
(docs/performance.md). XLA's own cost analysis counts transposed convs differently; it
is printed beside, for information only.
Peak memory is the device's peak since the process started (JAX cannot reset it), so
it belongs to a row only when rows grow in size, or with one row per process.
Needs only jax, flax, optax, orbax and numpy (no ml_collections, grain or TFDS).
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import numpy as np  # noqa: E402

import cyclegan_jax  # noqa: E402
from cyclegan_jax import host_memory  # noqa: E402
from cyclegan_jax.nn import norms  # noqa: E402
from cyclegan_jax.ops.conv import IMPLS  # noqa: E402

G_FORWARDS, D_FORWARDS = 18.0, 15.15


def generator_macs(size: int, ngf: int, n_blocks: int, nc: int = 3) -> float:
    """Multiply-adds of one ResnetGenerator forward on a size x size image."""
    p = size * size
    return p * (49 * nc * ngf + 9 * ngf * 2 * ngf / 4 + 9 * 2 * ngf * 4 * ngf / 16
                + 2 * n_blocks * 9 * (4 * ngf) ** 2 / 16 + 9 * 4 * ngf * 2 * ngf / 16
                + 9 * 2 * ngf * ngf / 4 + 49 * ngf * nc)


def discriminator_macs(size: int, ndf: int, n_layers: int, nc: int = 3) -> float:
    """Multiply-adds of one PatchDiscriminator forward (k4 convs, padding 1)."""
    macs, h, cin = 0.0, size, nc
    for n in range(n_layers + 2):
        cout = 1 if n == n_layers + 1 else ndf * min(2 ** n, 8)
        h = h // 2 if n < n_layers else h - 1
        macs += h * h * 16 * cin * cout
        cin = cout
    return macs


def iteration_flops(size: int, ngf: int, n_blocks: int, ndf: int, n_layers: int) -> float:
    """Analytic FLOPs of one image-iteration (2 x conv multiply-adds, as the flop counter)."""
    return 2 * (G_FORWARDS * generator_macs(size, ngf, n_blocks)
                + D_FORWARDS * discriminator_macs(size, ndf, n_layers))


def config_for(args, size: int, batch: int, dtype: str) -> SimpleNamespace:
    return SimpleNamespace(
        model="cycle_gan", ngf=args.ngf, ndf=args.ndf, netG=args.netG, netD="basic", n_layers_D=3,
        norm="instance", init_type="normal", init_gain=0.02, lr_policy="linear",
        lr_decay_iters=50, no_dropout=True, input_nc=3, output_nc=3, gan_mode="lsgan",
        lambda_A=10.0, lambda_B=10.0, lambda_identity=0.5, lambda_L1=100.0, pool_size=50,
        lr=2e-4, beta1=0.5, n_epochs=100, n_epochs_decay=100, epoch_count=1, steps_per_epoch=1000,
        batch_size=batch, crop_size=size, dtype=dtype, remat=args.remat, conv_impl=args.conv_impl)


def summarize_trace(xplane_path: str, steps: int, top: int = 25) -> list[tuple[str, float, int]]:
    """Per-step time of each XLA op in a profiler trace, largest first: (op, ms, count).

    Uses the device planes (GPU/TPU kernels) where there are any, else the host's
    XLA thunks (CPU). Kernels in CUDA graphs count under their fusion's name. Kernel
    time is summed, so concurrent kernels count twice.
    """
    data = jax.profiler.ProfileData.from_file(xplane_path)
    planes = list(data.planes)
    device = [p for p in planes if p.name.startswith("/device:")]
    total, count = collections.defaultdict(float), collections.Counter()
    for plane in device or planes:
        for line in plane.lines:
            for ev in line.events:
                op = dict(ev.stats).get("hlo_op")
                if device and (op is None or op.startswith("command_buffer")):
                    op = ev.name  # a kernel of a CUDA graph: its fusion's name
                if op is not None:  # host planes: only XLA's thunks carry an hlo_op
                    total[op] += ev.duration_ns / 1e6 / steps
                    count[op] += 1
    rows = sorted(((op, ms, count[op] // steps) for op, ms in total.items()), key=lambda r: -r[1])
    busy = sum(ms for _, ms, _ in rows)
    print(f"trace: {len(rows)} ops, {busy:.1f} ms of kernel time per step "
          f"({'device' if device else 'host thunks'}); top {top}:")
    for op, ms, n in rows[:top]:
        print(f"  {ms:8.2f} ms  {100 * ms / busy:5.1f} %  x{n:<4d} {op}")
    kinds = collections.defaultdict(float)
    for op, ms, _ in rows:
        kinds[re.sub(r"[._]\d+$", "", op)] += ms
    print("by kind of op:")
    for kind, ms in sorted(kinds.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {ms:8.2f} ms  {100 * ms / busy:5.1f} %  {kind}")
    return rows


def trace_steps(step, state, batch_arrays, steps: int, xplane_out: str):
    """Runs `steps` steps under the JAX profiler; copies the XSpace file to `xplane_out`."""
    with tempfile.TemporaryDirectory() as tmp:
        jax.profiler.start_trace(tmp)
        for _ in range(steps):
            state, metrics = step(state, batch_arrays)
        jax.block_until_ready(metrics)
        jax.profiler.stop_trace()
        found = sorted(glob.glob(os.path.join(tmp, "**", "*.xplane.pb"), recursive=True))
        shutil.copy(found[-1], xplane_out)
    summarize_trace(xplane_out, steps)
    return state


def step_inputs(args, size: int, batch: int, dtype: str) -> tuple:
    """A fresh train state (seed 0) and a random batch {"A", "B"} in [-1, 1] on the device."""
    state = cyclegan_jax.create_train_state(config_for(args, size, batch, dtype), 0)
    rng = np.random.default_rng(0)
    batch_arrays = {k: jax.device_put(rng.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32))
                    for k in "AB"}
    return state, batch_arrays


def bench_one(args, size: int, batch: int, dtype: str) -> dict:
    state, batch_arrays = step_inputs(args, size, batch, dtype)
    t0 = time.perf_counter()
    compiled = cyclegan_jax.train_step.lower(state, batch_arrays).compile()
    compile_s = time.perf_counter() - t0
    try:
        xla_flops = float(compiled.cost_analysis()["flops"])
    except Exception:  # noqa: BLE001  (not every backend reports it)
        xla_flops = float("nan")
    for _ in range(args.warmup):
        state, metrics = cyclegan_jax.train_step(state, batch_arrays)
    jax.block_until_ready(metrics)
    times = []
    for _ in range(args.steps):
        t = time.perf_counter()
        state, metrics = cyclegan_jax.train_step(state, batch_arrays)
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - t)
    if args.trace_dir:
        tag = f"{size}_b{batch}_{dtype}"
        os.makedirs(args.trace_dir, exist_ok=True)
        with open(os.path.join(args.trace_dir, f"hlo_{tag}.txt"), "w") as f:
            f.write(compiled.as_text())
        state = trace_steps(cyclegan_jax.train_step, state, batch_arrays, 3,
                            os.path.join(args.trace_dir, f"trace_{tag}.xplane.pb"))
    ms = statistics.median(times) * 1e3
    flops = iteration_flops(size, args.ngf, 9 if args.netG == "resnet_9blocks" else 6, args.ndf, 3)
    tflops = flops * batch / (ms / 1e3) / 1e12
    peak = getattr(args, f"peak_tflops_{dtype}")
    stats = jax.devices()[0].memory_stats() or {}
    return {
        "size": size, "batch": batch, "dtype": dtype, "remat": args.remat,
        "conv_impl": args.conv_impl, "norm_stats": "two-pass" if args.two_pass_norm else "library",
        "norm_relu_grad": "autodiff" if args.autodiff_norm_relu else "library",
        "compile_s": round(compile_s, 2), "ms_per_step": round(ms, 2),
        "ms_min": round(min(times) * 1e3, 2), "images_per_s": round(batch / (ms / 1e3), 2),
        "gflop_per_image": round(flops / 1e9, 1), "tflops": round(tflops, 3),
        "mfu": round(tflops / peak, 4) if peak else None,
        "xla_gflop_per_step": round(xla_flops / 1e9, 1),
        "process_peak_mem_gib": round(stats["peak_bytes_in_use"] / 2 ** 30, 2)
        if "peak_bytes_in_use" in stats else None,
    }


def parse_args(argv=None) -> argparse.Namespace:
    """The command line's options (`argv`; None: sys.argv), for `main` and the other
    benchmarks, which take the model options' defaults from here."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="64")
    p.add_argument("--batch_sizes", default="1")
    p.add_argument("--dtypes", default="float32")
    p.add_argument("--netG", default="resnet_9blocks")
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--ndf", type=int, default=64)
    p.add_argument("--remat", action="store_true")
    p.add_argument("--conv_impl", default="auto", choices=IMPLS)
    p.add_argument("--two_pass_norm", action="store_true",
                   help="instance-norm statistics in two passes for every dtype (the form "
                        "before bfloat16 took one pass; for comparison)")
    p.add_argument("--autodiff_norm_relu", action="store_true",
                   help="instance norm + ReLU differentiated by autodiff (the form before "
                        "nn.norms.instance_norm_relu; for comparison)")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--peak_tflops_float32", type=float, default=0.0,
                   help="peak TFLOP/s for float32 runs (0: no MFU)")
    p.add_argument("--peak_tflops_bfloat16", type=float, default=0.0)
    p.add_argument("--peak_source", default="", help="where the peaks come from")
    p.add_argument("--out", default="", help="write the results as JSON here")
    p.add_argument("--trace_dir", default="",
                   help="per row: write the optimized HLO and a 3-step profiler trace (XSpace, "
                        "for TensorBoard/XProf) here and print the most expensive ops")
    return p.parse_args(argv)


def main(argv=None) -> list[dict]:
    host_memory.keep_freed_host_memory()  # before the first JAX computation
    args = parse_args(argv)
    if args.two_pass_norm:
        norms.ONE_PASS_DTYPES = ()
    if args.autodiff_norm_relu:
        norms.instance_norm_relu = lambda x: jax.nn.relu(
            norms.InstanceNorm(dtype=x.dtype).apply({}, x))
    device = jax.devices()[0]
    print(f"device: {device.device_kind} ({jax.default_backend()}), jax {jax.__version__}; "
          f"peak source: {args.peak_source or 'none given'}")
    cols = ("size", "batch", "dtype", "remat", "conv_impl", "norm_stats", "norm_relu_grad",
            "compile_s", "ms_per_step", "images_per_s", "gflop_per_image", "tflops", "mfu",
            "xla_gflop_per_step", "process_peak_mem_gib")
    print(" | ".join(cols))
    rows = []
    for dtype in args.dtypes.split(","):
        for size in map(int, args.sizes.split(",")):
            for batch in map(int, args.batch_sizes.split(",")):
                row = bench_one(args, size, batch, dtype)
                rows.append(row)
                print(" | ".join(str(row[c]) for c in cols), flush=True)
                if args.out:  # after every row, so a run cut short keeps what it measured
                    with open(args.out, "w") as f:
                        json.dump({"device": device.device_kind, "backend": jax.default_backend(),
                                   "jax": jax.__version__, "peak_source": args.peak_source,
                                   "rows": rows}, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
